"""The FastStream subscriber around the inbox: what the end-to-end tests do not reach.

The consumer FastStream builds has the service's Kafka settings (group, batch, fetch wait, earliest,
manual commits, TLS). A failure of the moment (the database gone) makes FastStream nack the batch
after our back-off: it is read again and applied once, never dead-lettered. A consume loop that stops
fails /healthz. These run on the real mock cluster and PostgreSQL (FastStream's in-memory
TestKafkaBroker has no offsets to rewind and no consumer to stop, so it could show neither).
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from livskraft_contracts import CloudEvent, NetworkCreated, to_kafka
from prometheus_client import REGISTRY

from services.runtime import consumer, db
from services.runtime.app import ServiceSpec, build_app
from services.runtime.events import EventHandlers
from services.runtime.inbox import Inbox
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings
from tests.conftest import eventually
from tests.runtime.test_settings import _self_signed


def _network_created() -> CloudEvent[NetworkCreated]:
    return CloudEvent.wrap(
        NetworkCreated(
            network_id=uuid.uuid4(),
            name="Nettverk som må vente",
            themes=["areal", "kulturarv"],
            period_start=date(2010, 1, 1),
            period_end=date(2010, 12, 31),
            enrolment_deadline=date(2010, 2, 15),
        ),
        sequence=1,
    )


def _exceptions_seen(service: str, exception_type: str) -> float:
    """From FastStream's Prometheus middleware: batches whose handler raised this exception."""
    return (
        REGISTRY.get_sample_value(
            "faststream_received_processed_messages_exceptions_total",
            {
                "app_name": service,
                "broker": "kafka",
                "handler": NetworkCreated.topic(),
                "exception_type": exception_type,
            },
        )
        or 0.0
    )


async def _ignore(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkCreated]]) -> None:
    return None


async def test_the_subscriber_reads_with_the_services_kafka_settings(tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    settings = Settings(
        service="reporting",
        kafka_bootstrap_servers="kafka-0:9093,kafka-1:9093",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cert,
        kafka_ssl_certfile=cert,
        kafka_ssl_keyfile=key,
        consumer_batch_size=250,
        consumer_fetch_max_wait_ms=10,
    )
    handlers = EventHandlers().on(NetworkCreated, _ignore)
    inbox = Inbox(None, None, service="reporting", name=settings.consumer_group, handlers=handlers)
    broker = consumer.make_broker(settings, "reporting")
    subscriber = consumer.subscribe(
        broker, inbox, batch_size=settings.consumer_batch_size, fetch_max_wait_ms=10
    ).subscriber
    assert subscriber is not None
    await broker.connect()  # consumer-only: makes the consumer factory, opens nothing
    # The consumer as FastStream's subscriber makes it when it starts (LogicSubscriber.start).
    kafka = subscriber.builder(
        group_id=subscriber.group_id, client_id=subscriber.client_id, **subscriber._connection_args
    )
    try:
        assert subscriber.topic_names == [NetworkCreated.topic()]
        assert subscriber.max_records == 250
        assert kafka._group_id == "livskraft.reporting"
        assert kafka._max_poll_records == 250
        assert kafka._fetch_max_wait_ms == 10
        assert kafka._auto_offset_reset == "earliest"
        assert kafka._enable_auto_commit is False  # offsets are committed after the transaction
        assert kafka._client._bootstrap_servers == ["kafka-0:9093", "kafka-1:9093"]
        assert kafka._client._security_protocol == "SSL"
        assert kafka._client._ssl_context.verify_mode == ssl.CERT_REQUIRED
    finally:
        await kafka.stop()
        await broker.stop()


async def test_a_failure_of_the_moment_reads_the_batch_again_and_applies_it_once(
    new_database, bootstrap, service_settings
):
    service = f"probe-{uuid.uuid4().hex[:6]}"
    url = await new_database("consumer")
    settings = service_settings(service, url)
    pool = await db.create_pool(url)
    await db.migrate(pool)
    await pool.execute("CREATE TABLE applied (event_id text PRIMARY KEY)")  # a second apply would fail
    event = _network_created()
    seen: list[list[str]] = []

    async def apply(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkCreated]]) -> None:
        seen.append([e.id for e in events])
        if sum(event.id in ids for ids in seen) <= 2 and event.id in seen[-1]:
            raise ConnectionResetError("the database went away")
        await conn.executemany("INSERT INTO applied VALUES ($1)", [(e.id,) for e in events])

    producer = make_producer(bootstrap)
    await producer.start()
    inbox = Inbox(
        pool,
        producer,
        service=service,
        name=settings.consumer_group,
        handlers=EventHandlers().on(NetworkCreated, apply),
    )
    broker = consumer.make_broker(settings, service)
    consumer.subscribe(broker, inbox)
    await broker.start()
    try:
        key, value, headers = to_kafka(event)
        await producer.send_and_wait(NetworkCreated.topic(), value, key=key, headers=headers)
        await eventually(lambda: pool.fetchval("SELECT 1 FROM applied WHERE event_id = $1", event.id))
        inboxed = await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id)
        dead = await pool.fetchval("SELECT count(*) FROM dead_letters WHERE key = $1", key.decode())
    finally:
        await broker.stop()
        await producer.stop()
        await pool.close()
    assert sum(event.id in ids for ids in seen) == 3  # failed twice, read again each time, then applied
    assert inboxed == 1
    assert dead == 0  # a failure of the moment is never the event's fault
    assert _exceptions_seen(service, "ConnectionResetError") == 2


async def test_healthz_fails_when_the_consume_loop_stops(new_database, service_settings, tmp_path: Path):
    service = f"probe-{uuid.uuid4().hex[:6]}"
    (tmp_path / "migrations").mkdir()
    spec = ServiceSpec(
        name=service,
        migrations=tmp_path / "migrations",
        consumes=EventHandlers().on(NetworkCreated, _ignore),
    )
    app = build_app(spec, service_settings(service, await new_database("consumer")))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        await app.state.consumer.subscriber.consumer.stop()  # FastStream's loop ends on ConsumerStoppedError

        async def broken() -> bool:
            return (await client.get("/healthz")).status_code == 503

        await eventually(broken, timeout=10)
        reason = (await client.get("/healthz")).json()["reason"]
    assert f"{service}-consumer stopped" in reason
    assert "subscriber" in reason
