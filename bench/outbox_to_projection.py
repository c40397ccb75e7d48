"""Events per second from the outbox to the reporting projection, against raw aiokafka.

    uv run python bench/outbox_to_projection.py [--events 20000]

Both run in one process against the same librdkafka mock cluster (3 brokers) and, for the
pipeline, the embedded PostgreSQL:
- baseline: raw aiokafka, idempotent acks=all producer sending N records pipelined, then a
  consumer group reading all N (getmany, one commit per batch); rate = N / total time;
- pipeline: N NetworkCreated events already in the registry's outbox; the outbox relay
  publishes them and the reporting consumer (the FastStream batch subscriber of
  services/runtime/consumer.py) applies them (inbox + projection, one transaction per batch,
  offsets committed after); rate = N / time until the projection holds all N.
  As deployed, the relay (registry) and the consumer (reporting) are two processes.
Record values are ~260 bytes (the run prints it); N=20,000 on 6 partitions stays under the
mock's 5 MiB per partition.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from livskraft_contracts import CloudEvent, NetworkCreated, to_kafka

from services.devtools.dev import with_database
from services.devtools.embedded_kafka import MockKafkaCluster
from services.devtools.embedded_postgres import EmbeddedPostgres
from services.registry.app import SPEC as REGISTRY
from services.reporting.app import SPEC as REPORTING
from services.runtime import consumer, db, outbox
from services.runtime.inbox import Inbox
from services.runtime.kafka import all_topics, make_producer
from services.runtime.settings import Settings

PARTITIONS = 6


def sample_events(n: int) -> list[CloudEvent]:
    return [
        CloudEvent.wrap(
            NetworkCreated(
                network_id=uuid.uuid4(),
                name=f"Nettverk {i}",
                themes=["klima-energi", "areal"],
                county="50",
                period_start=date(2026, 1, 1),
                period_end=date(2026, 12, 31),
                enrolment_deadline=date(2026, 2, 15),
            ),
            sequence=1,
        )
        for i in range(n)
    ]


async def raw_aiokafka(bootstrap: str, events: list[CloudEvent]) -> float:
    topic = "bench.raw.v1"
    records = [to_kafka(e) for e in events]
    producer = make_producer(bootstrap)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    await producer.start()
    await consumer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, value, key=key, headers=headers) for key, value, headers in records]
    await asyncio.gather(*futures)
    seen = 0
    while seen < len(records):
        batch = await consumer.getmany(timeout_ms=1000, max_records=500)
        seen += sum(len(part) for part in batch.values())
        await consumer.commit()
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await producer.stop()
    return len(records) / elapsed


async def _prepare(server_url: str, events: list[CloudEvent]) -> tuple[str, str]:
    registry_url, reporting_url = (
        with_database(server_url, name) for name in ("bench_registry", "bench_reporting")
    )
    admin = await asyncpg.connect(server_url)
    for name in ("bench_registry", "bench_reporting"):
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    for url, spec in ((registry_url, REGISTRY), (reporting_url, REPORTING)):
        pool = await db.create_pool(url)
        await db.migrate(pool, spec.migrations)
        if spec is REGISTRY:
            async with pool.acquire() as conn, conn.transaction():
                for start in range(0, len(events), 1000):
                    await outbox.write(conn, events[start : start + 1000])
        await pool.close()
    return registry_url, reporting_url


def _consume(bootstrap: str, reporting_url: str, ready: Any) -> None:
    """The reporting side, in its own process as in production; runs until terminated."""

    async def run() -> None:
        pool = await db.create_pool(reporting_url)
        producer = make_producer(bootstrap)
        await producer.start()
        handlers = REPORTING.consumes
        inbox = Inbox(pool, producer, service="reporting", name="bench-reporting", handlers=handlers)
        settings = Settings(service="reporting", kafka_bootstrap_servers=bootstrap)
        broker = consumer.make_broker(settings, "reporting")
        consumer.subscribe(broker, inbox)
        await broker.start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(run())


async def pipeline(bootstrap: str, server_url: str, events: list[CloudEvent]) -> tuple[float, float]:
    registry_url, reporting_url = await _prepare(server_url, events)
    ready = multiprocessing.get_context("spawn").Event()
    reporting = multiprocessing.get_context("spawn").Process(
        target=_consume, args=(bootstrap, reporting_url, ready), daemon=True
    )
    reporting.start()
    pool = await db.create_pool(registry_url)
    producer = make_producer(bootstrap)
    await producer.start()
    relay = outbox.OutboxRelay(pool, registry_url, producer, service="registry", batch_size=1000)
    await asyncio.to_thread(ready.wait, 60)
    watcher = await asyncpg.connect(reporting_url)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    published_at = None
    while (await watcher.fetchval("SELECT count(*) FROM networks")) < len(events):
        if not reporting.is_alive():
            raise RuntimeError(f"the reporting process died (exit code {reporting.exitcode})")
        if published_at is None and (await relay.backlog())[0] == 0:
            published_at = time.perf_counter() - started
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    reporting.terminate()
    await watcher.close()
    await producer.stop()
    await pool.close()
    return len(events) / elapsed, len(events) / (published_at or elapsed)


async def main(n: int) -> None:
    cluster = MockKafkaCluster(brokers=3)
    cluster.create_topics([*all_topics(), "bench.raw.v1"], partitions=PARTITIONS)
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg", throwaway=True)
    try:
        events = sample_events(n)
        raw = await raw_aiokafka(cluster.bootstrap_servers, events)
        pipe, relay_only = await pipeline(cluster.bootstrap_servers, postgres.url(), events)
    finally:
        cluster.close()
        postgres.close()
    print(f"events: {n}, partitions: {PARTITIONS}, record value: ~{len(to_kafka(events[0])[1])} B")
    print(f"raw aiokafka produce-then-consume : {raw:10,.0f} events/s")
    print(f"outbox relay drain, same run       : {relay_only:10,.0f} events/s")
    print(f"outbox -> Kafka -> projection     : {pipe:10,.0f} events/s")
    print(f"pipeline / raw                    : {pipe / raw:10.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().events))
