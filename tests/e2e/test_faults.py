"""Never lose an event, never apply one twice: kill the relay, take brokers down."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import httpx
from livskraft_contracts import NetworkCreated
from prometheus_client import REGISTRY

from tests.conftest import eventually
from tests.e2e.test_backbone import SEED_NETWORK
from tests.kafka_reader import header, read_records
from tests.processes import ServiceProcess


async def test_relay_killed_after_publishing_publishes_again_and_reporting_counts_once(
    start_service, new_database, bootstrap, data_dir, token
):
    registry_db = await new_database("registry")
    staff = {"Authorization": f"Bearer {token('staff')}"}
    # A first start imports the bundled municipalities and publishes their events, so that the
    # doomed relay below has the network's event alone to publish.
    first_start = ServiceProcess("registry", database_url=registry_db, bootstrap=bootstrap, data_dir=data_dir)
    try:
        conn = await asyncpg.connect(registry_db)
        try:
            await eventually(
                lambda: conn.fetchval(
                    "SELECT count(*) > 0 AND bool_and(published_at IS NOT NULL) FROM outbox"
                )
            )
        finally:
            await conn.close()
    finally:
        first_start.stop()
    doomed = ServiceProcess(
        "registry",
        database_url=registry_db,
        bootstrap=bootstrap,
        data_dir=data_dir,
        extra_env={"LIVSKRAFT_FAILPOINTS": "relay.after_publish", "LIVSKRAFT_TODAY": "2010-01-20"},
    )
    try:
        async with httpx.AsyncClient(base_url=doomed.url) as client:
            created = await client.post("/networks", json=SEED_NETWORK, headers=staff)
        assert created.status_code == 201, created.text
        network_id = created.json()["id"]
        # The relay sends the event, then the process dies before marking the row published.
        assert await asyncio.to_thread(doomed.wait_exit) == 86
    finally:
        doomed.stop()

    conn = await asyncpg.connect(registry_db)
    try:
        row = await conn.fetchrow(
            "SELECT id, published_at FROM outbox WHERE topic = $1", NetworkCreated.topic()
        )
        assert row["published_at"] is None
        event_id = str(row["id"])
        first = await read_records(
            bootstrap,
            NetworkCreated.topic(),
            until=lambda rs: any(header(r, "ce_id") == event_id for r in rs),
        )
        assert sum(header(r, "ce_id") == event_id for r in first) == 1

        # Restarted, the registry's relay publishes the same event again.
        await start_service("registry", database_url=registry_db)
        await eventually(
            lambda: conn.fetchval("SELECT published_at IS NOT NULL FROM outbox WHERE id = $1", row["id"])
        )
    finally:
        await conn.close()
    records = await read_records(
        bootstrap,
        NetworkCreated.topic(),
        until=lambda rs: sum(header(r, "ce_id") == event_id for r in rs) == 2,
    )
    assert sum(header(r, "ce_id") == event_id for r in records) == 2

    duplicates_before = _duplicates_seen()
    reporting_db = await new_database("reporting")
    await start_service("reporting", database_url=reporting_db)
    reporting = await asyncpg.connect(reporting_db)
    try:
        # Both copies are consumed: the inbox saw the event id once, the second was a no-op.
        await eventually(lambda: reporting.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", event_id))
        await eventually(lambda: asyncio.sleep(0, _duplicates_seen() > duplicates_before))
        assert (
            await reporting.fetchval("SELECT count(*) FROM networks WHERE network_id = $1::uuid", network_id)
            == 1
        )
        assert await reporting.fetchval("SELECT count(*) FROM dead_letters WHERE key = $1", network_id) == 0
    finally:
        await reporting.close()


def _duplicates_seen() -> float:
    """How many events the reporting consumers in this process skipped as already applied."""
    return (
        REGISTRY.get_sample_value(
            "livskraft_events_consumed_total",
            {"service": "reporting", "type": NetworkCreated.ce_type(), "outcome": "duplicate"},
        )
        or 0.0
    )


async def test_broker_down_during_a_stream_of_commands_loses_nothing_and_applies_once(
    start_service, token, mock_cluster, new_database
):
    registry = await start_service("registry", today=date(2010, 1, 20))
    reporting_db = await new_database("reporting")
    await start_service("reporting", database_url=reporting_db)
    staff = {"Authorization": f"Bearer {token('staff')}"}
    created: list[str] = []

    async def create(i: int) -> None:
        answer = await registry.post(
            "/networks", json={**SEED_NETWORK, "name": f"Nettverk {i}"}, headers=staff
        )
        assert answer.status_code == 201, answer.text
        created.append(answer.json()["id"])

    for i in range(20):
        await create(i)
    mock_cluster.set_broker_down(1)
    try:
        for i in range(20, 40):
            await create(i)
            await asyncio.sleep(0.1)  # a stream over a few seconds while the broker is away
    finally:
        mock_cluster.set_broker_up(1)
    for i in range(40, 60):
        await create(i)

    conn = await asyncpg.connect(reporting_db)
    try:

        async def all_applied() -> bool:
            return (
                await conn.fetchval(
                    "SELECT count(*) FROM networks WHERE network_id = ANY($1::uuid[])", created
                )
                == 60
            )

        await eventually(all_applied, timeout=60)
        # Each applied once: a second application would break the projection's primary key
        # and show up as a dead letter.
        assert len(set(created)) == 60
        assert await conn.fetchval("SELECT count(*) FROM dead_letters WHERE key = ANY($1)", created) == 0
    finally:
        await conn.close()
