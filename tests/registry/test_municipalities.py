"""The municipality store on a real PostgreSQL (pgserver): import KLASS's kommuneinndeling,
re-import it, and ask what held on a day."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from services.devtools.embedded_postgres import EmbeddedPostgres
from services.registry.municipalities.handlers import REGISTRY, import_bundled_if_empty
from services.registry.municipalities.klass import (
    Kommuneinndeling,
    MunicipalityVersion,
    Succession,
    SuccessionKind,
    parse_responses,
)
from services.registry.municipalities.sources import BUNDLED, load_bundled, read_folder
from services.registry.municipalities.store import (
    counties_on,
    county_on,
    current_code,
    import_counties,
    import_kommuneinndeling,
    import_versions,
    municipalities_in_county,
    municipalities_on,
    municipalities_per_county,
    municipality_history,
    municipality_on,
)
from services.runtime.db import create_pool, migrate
from services.runtime.settings import Settings

REGISTRY_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "registry" / "migrations"


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- Fixtures: one embedded server for this module, a migrated database per need --------------


@pytest.fixture(scope="module")
def klass_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("klass") / "pg", throwaway=True)
    yield server
    server.close()


@pytest.fixture(scope="module")
def klass_new_db(klass_pg: EmbeddedPostgres) -> Callable[[str], Awaitable[asyncpg.Pool]]:
    """`pool = await klass_new_db("label")`: a fresh database with every migration applied."""

    async def create(label: str) -> asyncpg.Pool:
        url = klass_pg.create_database(f"{label}_{uuid.uuid4().hex[:8]}")
        pool = await create_pool(url, max_size=4)
        await migrate(pool, REGISTRY_MIGRATIONS)
        return pool

    return create


@pytest.fixture(scope="module")
def kommuneinndeling() -> Kommuneinndeling:
    return load_bundled()


@pytest.fixture(scope="module")
async def klass_db(
    klass_new_db: Callable[[str], Awaitable[asyncpg.Pool]], kommuneinndeling: Kommuneinndeling
) -> AsyncIterator[tuple[asyncpg.Pool, tuple]]:
    """A database holding the bundled kommuneinndeling, and what importing it reported."""
    pool = await klass_new_db("klass")
    async with pool.acquire() as conn:
        reported = await import_kommuneinndeling(conn, kommuneinndeling)
    yield pool, reported
    await pool.close()


@pytest.fixture
async def conn(klass_db: tuple[asyncpg.Pool, tuple]) -> AsyncIterator[asyncpg.Connection]:
    async with klass_db[0].acquire() as connection:
        yield connection


@pytest.fixture
async def fresh_conn(
    klass_new_db: Callable[[str], Awaitable[asyncpg.Pool]],
) -> AsyncIterator[asyncpg.Connection]:
    """An empty, migrated database, for tests that write."""
    pool = await klass_new_db("klass_fresh")
    async with pool.acquire() as connection:
        yield connection
    await pool.close()


async def table_contents(conn: asyncpg.Connection) -> list[list[asyncpg.Record]]:
    return [
        await conn.fetch("SELECT * FROM municipality_versions ORDER BY kommunenummer, valid_from"),
        await conn.fetch("SELECT * FROM municipality_successions ORDER BY 1, 3, 4"),
        await conn.fetch("SELECT * FROM county_versions ORDER BY fylkesnummer, valid_from"),
    ]


# --- Import ----------------------------------------------------------------------------------


async def test_the_first_import_registers_every_version(
    klass_db: tuple[asyncpg.Pool, tuple], kommuneinndeling: Kommuneinndeling
) -> None:
    municipalities, counties = klass_db[1]
    assert len(municipalities.registered) == len(kommuneinndeling.municipalities) == 870
    assert municipalities.changed == () and municipalities.unchanged == 0
    assert municipalities.links_written == len(kommuneinndeling.successions)
    assert {r.version for r in municipalities.registered} == set(kommuneinndeling.municipalities)
    assert len(counties.registered) == 33


async def test_a_reimport_changes_nothing(
    conn: asyncpg.Connection, kommuneinndeling: Kommuneinndeling
) -> None:
    before = await table_contents(conn)
    municipalities, counties = await import_kommuneinndeling(conn, kommuneinndeling)
    assert municipalities.changes == 0 and counties.changes == 0
    assert municipalities.unchanged == 870 and counties.unchanged == 33
    assert await table_contents(conn) == before


# --- Queries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "municipalities", "counties"),
    [
        ("2006-01-01", 431, 19),
        ("2010-06-15", 430, 19),
        ("2018-01-01", 422, 18),
        ("2020-01-01", 356, 11),
        ("2024-01-01", 357, 15),
    ],
)
async def test_counts_per_year(
    conn: asyncpg.Connection, day: str, municipalities: int, counties: int
) -> None:
    assert len(await municipalities_on(conn, d(day))) == municipalities
    assert len(await counties_on(conn, d(day))) == counties


async def test_steinkjer_through_time(conn: asyncpg.Connection) -> None:
    in_2010 = await municipality_on(conn, "1702", d("2010-02-15"))
    assert in_2010 is not None
    assert (in_2010.name, in_2010.fylkesnummer, in_2010.successors) == ("Steinkjer", "17", ("5004",))
    assert in_2010.organisasjonsnummer is None

    in_2019 = await municipality_on(conn, "5004", d("2019-06-01"))
    assert in_2019 is not None and in_2019.fylkesnummer == "50"

    in_2024 = await municipality_on(conn, "5006", d("2024-06-01"))
    assert in_2024 is not None
    assert (in_2024.valid_from, in_2024.valid_to) == (d("2020-01-01"), None)
    assert in_2024.predecessors == ("5004", "5039")
    assert in_2024.organisasjonsnummer == "840029212"


@pytest.mark.parametrize(
    ("kommunenummer", "day"),
    [
        ("1702", "2018-01-01"),
        ("5004", "2017-12-31"),
        ("5004", "2020-01-01"),
        ("5006", "2019-12-31"),
        ("0000", "2010-01-01"),
        ("1580", "2023-12-31"),
    ],
)
async def test_no_municipality_outside_its_period(
    conn: asyncpg.Connection, kommunenummer: str, day: str
) -> None:
    assert await municipality_on(conn, kommunenummer, d(day)) is None


async def test_haram_came_back_with_a_new_code(conn: asyncpg.Connection) -> None:
    """Haram was 1534 until it merged into Ålesund (1507) in 2020, and left again in 2024 as
    1580. (No code in 2006-2024 came back after a gap; each code here has one history.)"""
    (old,) = await municipality_history(conn, "1534")
    (new,) = await municipality_history(conn, "1580")
    assert (old.name, old.valid_to, old.successors) == ("Haram", d("2020-01-01"), ("1507",))
    assert (new.name, new.valid_from, new.predecessors) == ("Haram", d("2024-01-01"), ("1507",))
    assert await current_code(conn, "1534", d("2019-01-01"), d("2024-01-01")) == ["1508", "1580"]


@pytest.mark.parametrize(
    ("kommunenummer", "on_date", "today", "codes"),
    [
        ("1702", "2010-01-01", "2024-01-01", ["5006"]),
        ("1702", "2010-01-01", "2019-01-01", ["5004"]),
        ("1702", "2010-01-01", "2017-12-31", ["1702"]),
        ("1724", "2010-01-01", "2024-01-01", ["5006"]),  # Verran
        ("1504", "2019-01-01", "2024-01-01", ["1508", "1580"]),  # Ålesund, merged then split
        ("5001", "2019-01-01", "2024-01-01", ["5001"]),  # Trondheim: merger and rename kept the code
        ("1702", "2020-01-01", "2024-01-01", []),  # no 1702 in 2020
    ],
)
async def test_current_code(
    conn: asyncpg.Connection, kommunenummer: str, on_date: str, today: str, codes: list[str]
) -> None:
    assert await current_code(conn, kommunenummer, d(on_date), d(today)) == codes


async def test_current_code_looks_forward_only(conn: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="before"):
        await current_code(conn, "5006", d("2024-01-01"), d("2010-01-01"))


async def test_county_lookup(conn: asyncpg.Connection) -> None:
    nord = await county_on(conn, "17", d("2017-12-31"))
    assert nord is not None and (nord.name, nord.successors) == ("Nord-Trøndelag", ("50",))
    assert await county_on(conn, "17", d("2018-01-01")) is None
    trondelag = await county_on(conn, "50", d("2018-01-01"))
    assert trondelag is not None and trondelag.predecessors == ("16", "17")

    nord_2010 = await municipalities_in_county(conn, "17", d("2010-01-01"))
    assert len(nord_2010) == 24 and "1702" in {m.kommunenummer for m in nord_2010}
    assert len(await municipalities_in_county(conn, "17", d("2017-01-01"))) == 23
    assert len(await municipalities_in_county(conn, "17", d("2018-01-01"))) == 0
    trondelag_2024 = await municipalities_in_county(conn, "50", d("2024-01-01"))
    assert len(trondelag_2024) == 38 and "5006" in {m.kommunenummer for m in trondelag_2024}


@pytest.mark.parametrize("bad", ["702", "17020", "17O2", 1702])
async def test_a_kommunenummer_is_four_digits_as_text(conn: asyncpg.Connection, bad: object) -> None:
    with pytest.raises(ValueError, match="four digits"):
        await municipality_on(conn, bad, d("2010-01-01"))  # type: ignore[arg-type]


# --- Later imports ---------------------------------------------------------------------------


async def test_next_years_data_ends_the_open_version(
    fresh_conn: asyncpg.Connection, kommuneinndeling: Kommuneinndeling
) -> None:
    """A made-up 2026: Steinkjer renamed. The open version ends (changed), a new one begins."""
    await import_kommuneinndeling(fresh_conn, kommuneinndeling)
    old = next(m for m in kommuneinndeling.municipalities if m.kommunenummer == "5006")
    ended = replace(old, valid_to=d("2026-01-01"), successors=("5006",))
    renamed = MunicipalityVersion(
        "5006",
        "Steinkjer - Stientje",
        d("2026-01-01"),
        None,
        old.organisasjonsnummer,
        predecessors=("5006",),
    )
    link = Succession("5006", old.valid_from, "5006", d("2026-01-01"), SuccessionKind.RENAME)
    versions = [m for m in kommuneinndeling.municipalities if m != old] + [ended, renamed]

    result = await import_versions(fresh_conn, versions, [*kommuneinndeling.successions, link])

    assert [(c.previous, c.version) for c in result.changed] == [(old, ended)]
    assert [r.version for r in result.registered] == [renamed]
    assert result.links_written == 1 and result.unchanged == 869
    assert await current_code(fresh_conn, "1702", d("2010-01-01"), d("2026-06-01")) == ["5006"]
    now = await municipality_on(fresh_conn, "5006", d("2026-06-01"))
    assert now is not None and now.name == "Steinkjer - Stientje"


async def test_data_from_a_shorter_history_changes_nothing(
    fresh_conn: asyncpg.Connection, kommuneinndeling: Kommuneinndeling
) -> None:
    """Without the change table's start, 387 codes start 'at least' in 2006 instead of 1971;
    the same versions, known less well: the store keeps what it knew."""
    await import_kommuneinndeling(fresh_conn, kommuneinndeling)
    shallow = parse_responses(read_folder(BUNDLED), history_from=None)
    result = await import_versions(fresh_conn, shallow.municipalities, kommuneinndeling.successions)
    assert result.changes == 0
    steinkjer = await municipality_on(fresh_conn, "1702", d("2000-01-01"))
    assert steinkjer is not None and steinkjer.valid_from == d("1971-01-01")


async def test_data_from_a_longer_history_moves_unknown_starts(
    fresh_conn: asyncpg.Connection, kommuneinndeling: Kommuneinndeling
) -> None:
    shallow = parse_responses(read_folder(BUNDLED), history_from=None)
    first = await import_versions(fresh_conn, shallow.municipalities, shallow.successions)
    ids = {r.version.kommunenummer: r.id for r in first.registered if not r.version.valid_from_known}

    result = await import_versions(fresh_conn, kommuneinndeling.municipalities, kommuneinndeling.successions)

    assert result.registered == ()
    assert len(result.changed) == 387
    assert all(c.previous is not None and c.previous.valid_from == d("2006-01-01") for c in result.changed)
    assert {c.version.kommunenummer: c.id for c in result.changed} == ids  # the same versions
    assert (await import_versions(fresh_conn, kommuneinndeling.municipalities, [])).changes == 0


async def test_data_without_organisation_numbers_keeps_them(
    fresh_conn: asyncpg.Connection, kommuneinndeling: Kommuneinndeling
) -> None:
    await import_kommuneinndeling(fresh_conn, kommuneinndeling)
    without = [replace(m, organisasjonsnummer=None) for m in kommuneinndeling.municipalities]
    assert (await import_versions(fresh_conn, without, kommuneinndeling.successions)).changes == 0
    steinkjer = await municipality_on(fresh_conn, "5006", d("2024-01-01"))
    assert steinkjer is not None and steinkjer.organisasjonsnummer == "840029212"


async def test_two_versions_of_a_code_on_one_day_are_refused(
    fresh_conn: asyncpg.Connection, kommuneinndeling: Kommuneinndeling
) -> None:
    await import_counties(fresh_conn, kommuneinndeling.counties)
    steinkjer = MunicipalityVersion("5006", "Steinkjer", d("2020-01-01"), None)
    await import_versions(fresh_conn, [steinkjer], [])
    overlapping = MunicipalityVersion("5006", "Steinkjer", d("2022-01-01"), None)
    with pytest.raises(asyncpg.ExclusionViolationError, match="overlap"):
        await import_versions(fresh_conn, [steinkjer, overlapping], [])
    assert len(await municipality_history(fresh_conn, "5006")) == 1


async def test_municipalities_per_county(conn: asyncpg.Connection) -> None:
    in_2010 = await municipalities_per_county(conn, d("2010-01-01"))
    assert (in_2010["17"], len(in_2010), sum(in_2010.values())) == (24, 19, 430)
    assert "50" not in in_2010
    in_2024 = await municipalities_per_county(conn, d("2024-01-01"))
    assert (in_2024["50"], sum(in_2024.values())) == (38, 357)


# --- The start-up import: the registry knows the municipalities without anyone asking --------------


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("municipality_versions", "county_versions", "outbox", "audit_log")
        }


async def test_an_empty_registry_imports_the_bundle_at_start_with_its_events(
    klass_new_db: Callable[[str], Awaitable[asyncpg.Pool]],
) -> None:
    pool = await klass_new_db("klass_start")
    try:
        await import_bundled_if_empty(pool, Settings())
        assert await _counts(pool) == {
            "municipality_versions": 870,
            "county_versions": 33,
            "outbox": 870,
            "audit_log": 870,
        }
        async with pool.acquire() as conn:
            actors = await conn.fetch("SELECT DISTINCT actor, actor_role, action, network_id FROM audit_log")
            assert [tuple(r) for r in actors] == [
                (REGISTRY.subject, REGISTRY.role, "MunicipalityRegistered", None)
            ]
            steinkjer = await municipality_on(conn, "1702", d("2010-01-20"))
            assert steinkjer is not None and steinkjer.successors == ("5004",)

        await import_bundled_if_empty(pool, Settings())  # the next start: nothing more
        assert (await _counts(pool))["outbox"] == 870
    finally:
        await pool.close()


async def test_replicas_starting_at_once_import_once(
    klass_new_db: Callable[[str], Awaitable[asyncpg.Pool]],
) -> None:
    pool = await klass_new_db("klass_replicas")
    try:
        await asyncio.gather(*(import_bundled_if_empty(pool, Settings()) for _ in range(3)))
        counts = await _counts(pool)
        assert (counts["municipality_versions"], counts["outbox"]) == (870, 870)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT sum(sequence) FROM municipality_sequences") == 870
    finally:
        await pool.close()


async def test_a_registry_that_knows_municipalities_imports_nothing_at_start(
    klass_new_db: Callable[[str], Awaitable[asyncpg.Pool]], kommuneinndeling: Kommuneinndeling
) -> None:
    """Only empty tables are filled at start-up; a newer bundle comes in by POST /municipalities/import."""
    pool = await klass_new_db("klass_known")
    try:
        async with pool.acquire() as conn:
            await import_versions(conn, kommuneinndeling.municipalities[:1], [])
        await import_bundled_if_empty(pool, Settings())
        assert (await _counts(pool))["municipality_versions"] == 1
    finally:
        await pool.close()
