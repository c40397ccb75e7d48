"""Kafka clients with the settings the defaults get wrong (docs/architecture.md, "Kafka settings")."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from livskraft_contracts import ALL_EVENTS, DEAD_LETTER_TOPIC


def make_producer(bootstrap_servers: str, **connection: Any) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas (aiokafka defaults to acks=1).
    `connection` takes TLS options (Settings.kafka_options)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **connection,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        request_timeout_ms=10_000,
    )


def all_topics() -> list[str]:
    """Every topic the system uses: one per event type, and the dead-letter topic."""
    return sorted({e.topic() for e in ALL_EVENTS} | {DEAD_LETTER_TOPIC})
