"""The outbox relay and the migrations, against the real database and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from livskraft_contracts import CloudEvent, NetworkClosed

from services.devtools.embedded_kafka import ERR_NOT_LEADER_OR_FOLLOWER, PRODUCE
from services.registry.app import SPEC as REGISTRY
from services.runtime import db, outbox
from services.runtime.kafka import make_producer
from tests.conftest import eventually
from tests.kafka_reader import header, read_records


@contextlib.asynccontextmanager
async def another_relay_holding(
    url: str, position_sql: str, *args: object
) -> AsyncIterator[asyncpg.Connection]:
    """Another replica's uncommitted claim on the outbox row at `position_sql`, held in the block
    and released at its end, as when that replica dies."""
    conn = await asyncpg.connect(url)
    claim = conn.transaction()
    await claim.start()
    try:
        await conn.execute(f"SELECT 1 FROM outbox WHERE position = ({position_sql}) FOR UPDATE", *args)
        yield conn
    finally:
        await claim.rollback()
        await conn.close()


def closing(network_id: uuid.UUID, sequence: int) -> CloudEvent:
    return CloudEvent.wrap(NetworkClosed(network_id=network_id, reason="completed"), sequence=sequence)


@pytest.fixture
async def registry_db(new_database):
    """(url, pool) of a fresh registry database, migrated."""
    url = await new_database("registry")
    pool = await db.create_pool(url)
    await db.migrate(pool, REGISTRY.migrations)
    yield url, pool
    await pool.close()


@pytest.fixture
async def producer(bootstrap):
    producer = make_producer(bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


async def test_migrations_apply_once_when_replicas_start_together(new_database):
    url = await new_database("registry")
    pools = [await db.create_pool(url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(db.migrate(p, REGISTRY.migrations) for p in pools))
        assert sorted(len(a) for a in applied)[:2] == [0, 0]  # one replica applied them all
        assert max(len(a) for a in applied) == len(db.migration_files(REGISTRY.migrations))
        assert await db.migrate(pools[0], REGISTRY.migrations) == []
    finally:
        for pool in pools:
            await pool.close()


async def test_a_relay_skips_a_key_whose_earlier_event_another_relay_holds(registry_db, producer, bootstrap):
    url, pool = registry_db
    held, free = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.write(conn, [closing(held, 1), closing(free, 1), closing(held, 2)])
    relay = outbox.OutboxRelay(pool, url, producer, service="test")
    first_of_held = "SELECT min(position) FROM outbox WHERE aggregate_id = $1"
    async with another_relay_holding(url, first_of_held, str(held)) as other:
        assert await relay.relay_once() == 1  # only the free key; not the held key's second event
        published = await other.fetch("SELECT aggregate_id FROM outbox WHERE published_at IS NOT NULL")
        assert [r["aggregate_id"] for r in published] == [str(free)]
    assert await relay.relay_once() == 2  # that replica died; its claim is released
    records = await read_records(
        bootstrap, NetworkClosed.topic(), until=lambda rs: sum(r.key == str(held).encode() for r in rs) == 2
    )
    assert [header(r, "ce_sequence") for r in records if r.key == str(held).encode()] == ["1", "2"]


async def test_the_relay_rides_out_produce_errors_without_loss(
    registry_db, producer, bootstrap, mock_cluster
):
    url, pool = registry_db
    network = uuid.uuid4()
    events = [closing(network, i) for i in range(1, 21)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.write(conn, events)
    mock_cluster.push_request_errors(PRODUCE, [ERR_NOT_LEADER_OR_FOLLOWER] * 3)
    relay = outbox.OutboxRelay(pool, url, producer, service="test", poll_interval_s=0.1)
    task = asyncio.create_task(relay.run())
    try:
        records = await read_records(
            bootstrap,
            NetworkClosed.topic(),
            until=lambda rs: {header(r, "ce_id") for r in rs} >= {e.id for e in events},
        )
        mine = [r for r in records if r.key == str(network).encode()]
        sequences = [int(header(r, "ce_sequence")) for r in mine]
        assert sorted(set(sequences)) == list(range(1, 21))
        assert sequences == sorted(sequences)  # in order per key, duplicates (if any) next to each other
        # The relay marks rows published after Kafka acknowledges them, so a reader can see the
        # records first: wait for the marks rather than expect them at once.
        async with pool.acquire() as conn:
            await eventually(
                lambda: conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL")
            )
    finally:
        mock_cluster.clear_request_errors(PRODUCE)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_relay_stops_a_key_at_the_first_event_another_relay_holds(registry_db, producer, bootstrap):
    """K1, K2, K3 of one key; another relay holds K2: this relay may publish K1, not K3."""
    url, pool = registry_db
    key = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.write(conn, [closing(key, 1), closing(key, 2), closing(key, 3)])
    relay = outbox.OutboxRelay(pool, url, producer, service="test")
    async with another_relay_holding(url, "SELECT min(position) + 1 FROM outbox") as other:
        assert await relay.relay_once() == 1
        assert await other.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 2
    assert await relay.relay_once() == 2
    records = await read_records(
        bootstrap, NetworkClosed.topic(), until=lambda rs: sum(r.key == str(key).encode() for r in rs) == 3
    )
    assert [header(r, "ce_sequence") for r in records if r.key == str(key).encode()] == ["1", "2", "3"]


async def test_with_every_broker_down_the_relay_gives_up_counts_the_attempt_and_publishes_later(
    registry_db, producer, bootstrap, mock_cluster
):
    url, pool = registry_db
    key = uuid.uuid4()
    events = [closing(key, i) for i in range(1, 6)]
    relay = outbox.OutboxRelay(pool, url, producer, service="test", poll_interval_s=0.1, publish_timeout_s=1)
    mock_cluster.set_broker_down(-1)
    task = asyncio.create_task(relay.run())
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, events)
        async with pool.acquire() as conn:
            await eventually(lambda: conn.fetchval("SELECT min(attempts) > 0 FROM outbox"))
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 0
        mock_cluster.set_broker_up(-1)
        async with pool.acquire() as conn:
            await eventually(
                lambda: conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"),
                timeout=60,
            )
    finally:
        mock_cluster.set_broker_up(-1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    records = await read_records(
        bootstrap,
        NetworkClosed.topic(),
        until=lambda rs: {header(r, "ce_id") for r in rs} >= {e.id for e in events},
        timeout=60,
    )
    sequences = [int(header(r, "ce_sequence")) for r in records if r.key == str(key).encode()]
    assert sorted(set(sequences)) == [1, 2, 3, 4, 5]  # none lost; copies are the inbox's to drop


async def test_the_relay_stops_when_cancelled_as_it_is_woken(registry_db, producer):
    """The race that hung shutdown on Python 3.11's wait_for: a NOTIFY and the cancellation at once."""
    url, pool = registry_db
    relay = outbox.OutboxRelay(pool, url, producer, service="test", poll_interval_s=30)
    for _ in range(20):
        task = asyncio.create_task(relay.run())
        await asyncio.sleep(0.05)  # let it reach its wait for a wake-up
        relay._wake.set()  # what a NOTIFY does
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the relay did not stop when cancelled"
