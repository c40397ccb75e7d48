"""Every event the registry and gatherings publish lands in the projection, the same whatever the
order and batching it arrives in (events of one aggregate come on several topics), and no person
is kept."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest
from livskraft_contracts import (
    ALL_EVENTS,
    CloudEvent,
    ContactAssigned,
    IndicatorDefined,
    IndicatorReported,
    MunicipalityChanged,
    MunicipalityRegistered,
    ParticipantRegistered,
)

from services.reporting import domain, handlers, store
from services.reporting.app import SPEC
from services.runtime import db
from services.runtime.problems import Problem
from tests.reporting.events import network_story
from tests.reporting.indicator_events import indicator_story


@pytest.fixture
async def pool(new_database) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(await new_database("reporting"))
    await db.migrate(pool, SPEC.migrations)
    yield pool
    await pool.close()


async def _apply(pool: asyncpg.Pool, batches: list[list[CloudEvent]]) -> None:
    for batch in batches:
        async with pool.acquire() as conn, conn.transaction():
            await SPEC.consumes.apply(conn, batch)


async def _tables(pool: asyncpg.Pool) -> dict[str, list[tuple]]:
    async with pool.acquire() as conn:
        return {t: await store.table_rows(conn, t) for t in store.PROJECTION_TABLES}


async def _empty(pool: asyncpg.Pool) -> None:
    await pool.execute(f"TRUNCATE {', '.join(store.PROJECTION_TABLES)}")


def _history() -> list[CloudEvent]:
    steinkjer = {"kommunenummer": "5004", "name": "Steinkjer", "county": "50", "valid_from": date(2018, 1, 1)}
    return [
        CloudEvent.wrap(
            MunicipalityRegistered(
                **steinkjer, predecessors=[{"kommunenummer": "1702", "valid_on": "2017-12-31"}]
            ),
            sequence=1,
        ),
        CloudEvent.wrap(
            MunicipalityChanged(
                **steinkjer,
                valid_to=date(2020, 1, 1),
                predecessors=[{"kommunenummer": "1702", "valid_on": "2017-12-31"}],
            ),
            sequence=2,
        ),
    ]


def test_reporting_consumes_every_event_type_of_the_registry_and_gatherings():
    expected = {e for e in ALL_EVENTS if e.service in ("registry", "gatherings")}
    expected |= {IndicatorDefined, IndicatorReported}  # from the indicators service
    assert set(SPEC.consumes.event_types) == expected
    assert {e.event_name() for e in SPEC.produces} == {"StatisticsPublished"}


async def test_a_story_of_every_event_type_projects_whatever_the_order_and_batching(pool):
    events = (
        network_story("Alle hendelser")
        + network_story("Lukket", closed="completed")
        + _history()
        + indicator_story()
    )
    await _apply(pool, [events])
    in_order = await _tables(pool)
    assert all(in_order[t] for t in store.PROJECTION_TABLES), "every table gets rows"
    rng = random.Random(20100120)
    for _ in range(12):
        shuffled = rng.sample(events, len(events))
        cuts = sorted(rng.sample(range(1, len(events)), rng.randint(0, 8)))
        batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
        await _empty(pool)
        await _apply(pool, batches)
        assert await _tables(pool) == in_order


async def test_what_the_projection_says_of_the_story(pool):
    story = network_story("Fortellingen", 2012)
    await _apply(pool, [story[::-1]])  # the worst order: latest first
    network_id = story[0].data.network_id
    members = {
        r["kommunenummer"]: r
        for r in await pool.fetch("SELECT * FROM members WHERE network_id = $1", network_id)
    }
    assert {k: m["status"] for k, m in members.items()} == {
        "5001": "confirmed",
        "5006": "confirmed",
        "5035": "withdrawn",
    }
    invited = {
        e.data.municipality.kommunenummer: e for e in story if type(e.data).__name__ == "MunicipalityInvited"
    }
    assert members["5001"]["enrolled_at"] == invited["5001"].time  # the first event by sequence
    assert members["5001"]["first_sequence"] == invited["5001"].sequence
    history = await pool.fetch(
        "SELECT status, late_override FROM enrolment_history WHERE network_id = $1 AND kommunenummer = '5035'"
        " ORDER BY sequence",
        network_id,
    )
    assert [(h["status"], h["late_override"]) for h in history] == [
        ("invited", False),
        ("submitted", True),
        ("confirmed", False),
        ("withdrawn", False),
    ]
    assert await pool.fetchval("SELECT count(*) FROM decisions WHERE network_id = $1", network_id) == 3
    roles = await pool.fetch("SELECT role FROM contact_assignments WHERE network_id = $1", network_id)
    assert [r["role"] for r in roles] == ["main-contact"] * 3
    gatherings = {
        r["status"]: r for r in await pool.fetch("SELECT * FROM gatherings WHERE network_id = $1", network_id)
    }
    held, cancelled = gatherings["held"], gatherings["cancelled"]
    assert held["held_on"] == date(2012, 4, 11) and held["starts_on"] == date(2012, 4, 11)
    assert held["host_kommunenummer"] is None  # the Rescheduled plan (latest) names no host
    assert cancelled["starts_on"] == date(2012, 9, 20)  # the plan the cancellation carries
    attendance = await pool.fetch(
        "SELECT kommunenummer, role_category, count FROM attendance WHERE gathering_id = $1 ORDER BY 1, 2",
        held["gathering_id"],
    )
    assert [tuple(a) for a in attendance] == [
        ("5001", "politician", 2),
        ("5006", "management", 1),
        ("5006", "resource", 3),
    ]
    assert await pool.fetchval("SELECT title FROM cases_presented") == "Grønn industri"
    assert await pool.fetchval("SELECT count(*) FROM participants") == 2


async def test_no_person_is_kept(pool):
    story = network_story("Personvern")
    await _apply(pool, [story])
    person_ids = {
        str(e.data.person_id) for e in story if isinstance(e.data, ContactAssigned | ParticipantRegistered)
    }
    columns = await pool.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = ANY($1)",
        list(store.PROJECTION_TABLES),
    )
    assert not [c for c in columns if "person" in c["column_name"] or "email" in c["column_name"]]
    tables = await _tables(pool)
    assert not [row for rows in tables.values() for row in rows if person_ids & {str(v) for v in row}]


async def test_a_later_gathering_held_replaces_the_attendance_and_an_earlier_one_does_not(pool):
    story = network_story("Rettet oppmøte", 2013)
    held = next(e for e in story if type(e.data).__name__ == "GatheringHeld")
    corrected = CloudEvent.wrap(
        held.data.model_copy(update={"attendance": held.data.attendance[:1], "cases_presented": []}),
        sequence=held.sequence + 1,
    )
    await _apply(pool, [[corrected], [held]])
    rows = await pool.fetch("SELECT * FROM attendance WHERE gathering_id = $1", held.data.gathering_id)
    assert [(r["kommunenummer"], r["count"]) for r in rows] == [("5001", 2)]
    assert await pool.fetchval("SELECT count(*) FROM cases_presented") == 0


async def test_municipality_versions_keep_the_latest_facts_by_sequence(pool):
    registered, changed = _history()
    await _apply(pool, [[changed], [registered]])
    row = await pool.fetchrow("SELECT * FROM municipality_versions")
    assert (row["kommunenummer"], row["valid_to"], row["sequence"]) == ("5004", date(2020, 1, 1), 2)
    assert row["predecessors"] == [{"kommunenummer": "1702", "valid_on": "2017-12-31"}]


async def test_the_projection_tables_are_exactly_the_ones_the_rebuild_replaces(pool):
    tables = {
        r["tablename"]
        for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    not_projections = {
        "schema_migrations",
        "outbox",
        "inbox",
        "dead_letters",
        "idempotency_keys",
        "published_datasets",
    }
    assert tables - not_projections == set(store.PROJECTION_TABLES)


async def test_harmonising_without_the_code_history_is_refused_until_it_has_arrived(pool):
    definition = domain.definition("participating-municipalities")
    options = domain.Options(today=date(2026, 6, 1), harmonised_to=2020)
    with pytest.raises(Problem) as refused:
        await handlers.dataset(pool, definition, options, "http://test/statistics/x", datetime.now(UTC))
    assert refused.value.status == 409
    assert refused.value.errors == [{"field": "harmonised_to", "message": refused.value.errors[0]["message"]}]
    await _apply(pool, [_history()])
    document = await handlers.dataset(
        pool, definition, options, "http://test/statistics/x", datetime.now(UTC)
    )
    assert document["extension"]["livskraft"]["harmonised_to"] == 2020
