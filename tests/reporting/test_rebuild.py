"""`livskraft reporting rebuild`: the projection made again from offset zero equals, row by row,
what live consumption built, with events of every type, duplicates and dead letters among them;
queries answer from the old tables meanwhile; events that arrive during a rebuild are neither lost
nor applied twice; the live consumer carries on after the swap."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from livskraft_contracts import (
    ALL_EVENTS,
    CloudEvent,
    DecisionRecorded,
    MunicipalityChanged,
    MunicipalityRegistered,
    NetworkCreated,
    to_kafka,
)

from services.reporting import rebuild, store
from services.reporting.app import HANDLERS, SPEC
from services.runtime import inbox
from tests.conftest import eventually
from tests.reporting.events import caught_up, network_story, produce, send_raw
from tests.reporting.indicator_events import indicator_story


async def snapshot(url: str, consumer: str) -> dict[str, Any]:
    """Every projection table's rows, and the consumer's inbox, in a set order."""
    conn = await asyncpg.connect(url)
    try:
        tables: dict[str, Any] = {t: await store.table_rows(conn, t) for t in store.PROJECTION_TABLES}
        tables["inbox"] = sorted(
            tuple(r)
            for r in await conn.fetch(
                'SELECT event_id, event_type, topic, partition, "offset" FROM inbox WHERE consumer = $1',
                consumer,
            )
        )
        return tables
    finally:
        await conn.close()


def history() -> list[CloudEvent]:
    verran = {"kommunenummer": "5039", "name": "Verran", "county": "50", "valid_from": date(2018, 1, 1)}
    before = [{"kommunenummer": "1724", "valid_on": "2017-12-31"}]
    return [
        CloudEvent.wrap(MunicipalityRegistered(**verran, predecessors=before), sequence=901),
        CloudEvent.wrap(
            MunicipalityChanged(**verran, valid_to=date(2020, 1, 1), predecessors=before), sequence=902
        ),
    ]


async def poison(bootstrap: str) -> list[CloudEvent]:
    """A record that cannot be read, an event no handler can store (a NUL in a name), and a
    decision recorded twice under one id: dead letters, each for its own reason."""
    good = network_story("Etter giften", 2011)[0]
    key, _, headers = to_kafka(good)
    await send_raw(
        bootstrap,
        NetworkCreated.topic(),
        b"\xff{not json",
        key,
        [(k, b"rebuild-bad-json") if k == "ce_id" else (k, v) for k, v in headers],
    )
    nul = CloudEvent.wrap(
        good.data.model_copy(update={"network_id": uuid.uuid4(), "name": "Null\x00byte"}), sequence=1
    )
    decision = next(e for e in network_story("Vedtak", 2011) if isinstance(e.data, DecisionRecorded))
    clash = CloudEvent.wrap(
        decision.data.model_copy(update={"case_number": "2011/99"}), sequence=decision.sequence + 50
    )
    await produce(bootstrap, [good, nul, decision, clash])
    return [good, nul, decision, clash]


def events_of_every_type() -> list[CloudEvent]:
    events = [
        *network_story("Gjenoppbygd", 2011),
        *network_story("Avsluttet", 2011, closed="completed"),
        *network_story("Avlyst", 2012, closed="cancelled"),
        *history(),
        *indicator_story(),
    ]
    consumed = {type(e.data) for e in events}
    assert consumed == set(SPEC.consumes.event_types), "the story covers every consumed type"
    return events


async def test_a_rebuild_gives_exactly_the_tables_live_consumption_built(start_service, bootstrap, token):
    # A rebuild reads every topic from its first record kept, so the live consumer it is compared
    # with must have done the same: it reads the session's earlier events too.
    reporting = await start_service("reporting", from_the_beginning=True)
    settings = reporting.app.state.settings
    events = events_of_every_type()
    await produce(bootstrap, events[:40])
    await produce(bootstrap, events[40:], twice=True)  # duplicates: a relay that sent them again
    await poison(bootstrap)
    await caught_up(bootstrap, settings.consumer_group, SPEC.consumes.topics)
    conn = await asyncpg.connect(settings.database_url)
    reasons = [r["reason"] for r in await conn.fetch("SELECT reason FROM dead_letters ORDER BY reason")]
    await conn.close()
    assert any(
        r.startswith("handler failed: CharacterNotInRepertoireError") or "0x00" in r for r in reasons
    ), reasons
    assert any(r.startswith("handler failed: UniqueViolationError") for r in reasons), reasons
    assert any("invalid no.ks.livskraft.registry.NetworkCreated.v1" in r for r in reasons), reasons
    live = await snapshot(settings.database_url, settings.consumer_group)
    assert all(live[t] for t in store.PROJECTION_TABLES)

    reader = {"Authorization": f"Bearer {token('reader')}"}
    network = events[0].data.network_id
    before = (await reporting.get(f"/reports/networks/{network}", headers=reader)).json()
    said: list[str] = []
    job = asyncio.create_task(rebuild.rebuild(settings, batch_size=100, say=said.append, every_s=0))
    answers, mid_way = [], False
    while not job.done():  # queries keep answering, from the old tables, while it runs
        answers.append((await reporting.get(f"/reports/networks/{network}", headers=reader)).json())
        mid_way = mid_way or bool(
            await asyncpg_fetch(
                settings.database_url, "SELECT 1 FROM pg_namespace WHERE nspname ~ '^rebuild_'"
            )
        )
        await asyncio.sleep(0.01)
    done = await job
    assert answers and all(a == before for a in answers)
    assert mid_way
    assert said[0].startswith("Rebuilding the reporting projection into rebuild_")
    assert any(" records, " in line and "/s, " in line and " s left" in line for line in said[1:-1]), said
    assert said[-1].startswith("Done: ")
    assert done.dead >= 3 and done.applied == len(live["inbox"])

    rebuilt = await snapshot(settings.database_url, settings.consumer_group)
    for table in live:
        assert rebuilt[table] == live[table], table
    assert not await asyncpg_fetch(
        settings.database_url, "SELECT 1 FROM pg_namespace WHERE nspname ~ '^rebuild_'"
    )
    indexes = await asyncpg_fetch(
        settings.database_url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
    )
    assert {"decisions_network", "gatherings_network", "contact_assignments_member", "networks_pkey"} <= {
        r["indexname"] for r in indexes
    }

    # The live consumer goes on, into the tables swapped in.
    after = network_story("Etter gjenoppbyggingen", 2012)
    await produce(bootstrap, after)
    await caught_up(bootstrap, settings.consumer_group, SPEC.consumes.topics)
    answer = await eventually(
        lambda: _ok(reporting.get(f"/reports/networks/{after[0].data.network_id}", headers=reader))
    )
    assert [m["status"] for m in answer["members"]] == ["confirmed", "confirmed", "withdrawn"]


async def _ok(request: Any) -> Any:
    answer = await request
    return answer.json() if answer.status_code == 200 else None


async def asyncpg_fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_events_that_arrive_during_a_rebuild_are_neither_lost_nor_applied_twice(
    start_service, bootstrap
):
    reporting = await start_service("reporting", from_the_beginning=True)
    settings = reporting.app.state.settings
    await produce(bootstrap, network_story("Før", 2012))
    await caught_up(bootstrap, settings.consumer_group, SPEC.consumes.topics)
    arriving = [network_story(f"Underveis {i}", 2012) for i in range(6)]

    async def keep_producing() -> None:
        for story in arriving:
            await produce(bootstrap, story)
            await asyncio.sleep(0.05)

    producing = asyncio.create_task(keep_producing())
    await rebuild.rebuild(settings, batch_size=100, say=lambda _: None)
    await producing
    await caught_up(bootstrap, settings.consumer_group, SPEC.consumes.topics)
    first = await snapshot(settings.database_url, settings.consumer_group)
    names = {row[1] for row in first["networks"]}
    assert {f"Underveis {i}" for i in range(6)} <= names

    await rebuild.rebuild(settings, say=lambda _: None)  # a quiet one: the reference
    assert await snapshot(settings.database_url, settings.consumer_group) == first
    said: list[str] = []
    await rebuild.rebuild(settings, workers=2, say=said.append)  # partitions split between two processes
    assert said[0].endswith(", in 2 processes.")
    assert await snapshot(settings.database_url, settings.consumer_group) == first


async def test_one_rebuild_at_a_time_and_leftovers_are_cleared(start_service):
    reporting = await start_service("reporting")
    settings = reporting.app.state.settings
    holder = await asyncpg.connect(settings.database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", store.REBUILD_LOCK)
        with pytest.raises(RuntimeError, match="another rebuild"):
            await rebuild.rebuild(settings, say=lambda _: None)
        await holder.execute("SELECT pg_advisory_unlock($1)", store.REBUILD_LOCK)
        await holder.execute("CREATE SCHEMA rebuild_1; CREATE TABLE rebuild_1.networks (x int)")
    finally:
        await holder.close()
    said: list[str] = []
    await rebuild.rebuild(settings, say=said.append)
    assert said[0] == "Dropping rebuild_1, left by a rebuild that did not finish."
    assert not await asyncpg_fetch(
        settings.database_url, "SELECT 1 FROM pg_namespace WHERE nspname ~ '^rebuild_'"
    )


async def test_the_command_line_runs_a_rebuild_and_says_how_far_it_is(new_database, bootstrap, tmp_path):
    url = await new_database("reporting")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LIVSKRAFT_CONSUMER_GROUP_ID": f"test.cli.{uuid.uuid4().hex[:8]}",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "reporting", "rebuild", "--batch-size", "500"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Rebuilding the reporting projection into rebuild_")
    assert lines[-1].startswith("Done: ") and "the rebuilt tables are live" in lines[-1]
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM networks") > 0
    finally:
        await conn.close()

    missing = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "reporting", "rebuild", "--data-dir", str(tmp_path)],
        env=missing,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "livskraft dev" in refused.stdout


# -- Reading records fast, exactly as the live consumer reads them -----------------------------------


def _records() -> list[rebuild.Record]:
    every = [*events_of_every_type()]
    records = []
    for offset, event in enumerate(every):
        key, value, headers = to_kafka(event)
        records.append(rebuild.Record(event.topic, 0, offset, key, value, headers))
    key, value, headers = to_kafka(every[0])
    newer = value[:-1] + b',"added_later":{"x":1}}'  # a field a newer producer added: pruned
    variants = [
        (value, headers),
        (newer, headers),
        (value, [(k, b"007") if k == "ce_sequence" else (k, v) for k, v in headers]),
        (value, [(k, b"0") if k == "ce_sequence" else (k, v) for k, v in headers]),
        (value, [*headers, ("ce_unknown", b"x"), ("x-binary", b"\xff\xfe")]),
        (value, [*headers, ("ce_data", b"x")]),
        (value, [(k, b"nul\x00") if k == "ce_source" else (k, v) for k, v in headers]),
        (value, [(k, b"\xc3\x28") if k == "ce_subject" else (k, v) for k, v in headers]),
        (value, [(k, b"0.3") if k == "ce_specversion" else (k, v) for k, v in headers]),
        (value, [(k, b"no.ks.livskraft.registry.Nope.v1") if k == "ce_type" else (k, v) for k, v in headers]),
        (value, [(k, v) for k, v in headers if k != "ce_partitionkey"]),
        (value, [(k, b"") if k == "ce_id" else (k, v) for k, v in headers]),
        (value, [(k, b"yesterday") if k == "ce_time" else (k, v) for k, v in headers]),
        (b"{not json", headers),
        (None, headers),
        (value.replace(b'"name":"', b'"name":"\\ud800'), headers),
        (value.replace(b'"themes":[', b'"themes":["golf",'), headers),
    ]
    for n, (v, h) in enumerate(variants):
        records.append(rebuild.Record(NetworkCreated.topic(), 1, n, key, v, h))
    return records


def test_reading_fast_gives_what_the_live_consumer_reads():
    types = {t.ce_type(): t for t in HANDLERS.event_types}
    records = _records()
    fast, live = rebuild.read(records, types), inbox.read(records, types)
    assert [(r.offset, r.partition, e) for r, e in fast.events] == [
        (r.offset, r.partition, e) for r, e in live.events
    ]
    assert [(d.record.offset, d.record.partition, d.reason) for d in fast.dead] == [
        (d.record.offset, d.record.partition, d.reason) for d in live.dead
    ]
    assert len(fast.events) > len(ALL_EVENTS) // 2 and len(fast.dead) >= 8
