"""Municipalities (kommuner) and counties (fylker) through time: the SQL.

Plain SQL on an asyncpg connection (tables in ../migrations/001_municipalities.sql and
003_municipality_events.sql). The imports write what KLASS says (see klass.py), as domain.py
plans it, and are idempotent: the same data again changes nothing and reports no changes. What
they report as registered or changed is what events.py turns into MunicipalityRegistered /
MunicipalityChanged, written here to the outbox and the audit log in the same transaction.
Every query answers "as of a day": a bare kommunenummer means nothing without one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Generic

import asyncpg
from livskraft_contracts import CloudEvent
from livskraft_contracts.registry import MunicipalityFacts

from services.runtime import outbox
from services.runtime.unit_of_work import Actor

from .. import store as registry_store
from .domain import ImportedVersion, ImportPlan, ImportResult, StoredVersion, V, plan_import
from .klass import CountyVersion, Kommuneinndeling, MunicipalityVersion, Succession

_KOMMUNENUMMER = re.compile(r"[0-9]{4}")
_FYLKESNUMMER = re.compile(r"[0-9]{2}")


# --- The tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table(Generic[V]):
    lock: str
    select_all: str
    insert: str
    update: str
    to_row: Callable[[V], tuple[Any, ...]]
    from_row: Callable[[asyncpg.Record], V]


def _municipality_row(v: MunicipalityVersion) -> tuple[Any, ...]:
    return (
        v.kommunenummer,
        v.name,
        v.organisasjonsnummer,
        v.valid_from,
        v.valid_to,
        v.valid_from_known,
        list(v.predecessors),
        list(v.successors),
    )


def _municipality(r: asyncpg.Record) -> MunicipalityVersion:
    return MunicipalityVersion(
        kommunenummer=r["kommunenummer"],
        name=r["name"],
        organisasjonsnummer=r["organisasjonsnummer"],
        valid_from=r["valid_from"],
        valid_to=r["valid_to"],
        predecessors=tuple(r["predecessors"]),
        successors=tuple(r["successors"]),
        valid_from_known=r["valid_from_known"],
    )


def _county_row(v: CountyVersion) -> tuple[Any, ...]:
    return (
        v.fylkesnummer,
        v.name,
        v.valid_from,
        v.valid_to,
        v.valid_from_known,
        list(v.predecessors),
        list(v.successors),
    )


def _county(r: asyncpg.Record) -> CountyVersion:
    return CountyVersion(
        fylkesnummer=r["fylkesnummer"],
        name=r["name"],
        valid_from=r["valid_from"],
        valid_to=r["valid_to"],
        predecessors=tuple(r["predecessors"]),
        successors=tuple(r["successors"]),
        valid_from_known=r["valid_from_known"],
    )


_MUNICIPALITY_COLUMNS = """kommunenummer, name, organisasjonsnummer, valid_from, valid_to,
    valid_from_known, predecessors, successors"""
_COUNTY_COLUMNS = """fylkesnummer, name, valid_from, valid_to, valid_from_known, predecessors,
    successors"""

MUNICIPALITIES = _Table[MunicipalityVersion](
    lock="LOCK TABLE municipality_versions, municipality_successions IN SHARE ROW EXCLUSIVE MODE",
    select_all=f"SELECT id, {_MUNICIPALITY_COLUMNS} FROM municipality_versions",
    insert=f"""INSERT INTO municipality_versions (id, {_MUNICIPALITY_COLUMNS})
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
    update="""UPDATE municipality_versions
                 SET kommunenummer = $2, name = $3, organisasjonsnummer = $4, valid_from = $5,
                     valid_to = $6, valid_from_known = $7, predecessors = $8, successors = $9,
                     updated_at = now()
               WHERE id = $1""",
    to_row=_municipality_row,
    from_row=_municipality,
)

COUNTIES = _Table[CountyVersion](
    lock="LOCK TABLE county_versions IN SHARE ROW EXCLUSIVE MODE",
    select_all=f"SELECT id, {_COUNTY_COLUMNS} FROM county_versions",
    insert=f"""INSERT INTO county_versions (id, {_COUNTY_COLUMNS})
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
    update="""UPDATE county_versions
                 SET fylkesnummer = $2, name = $3, valid_from = $4, valid_to = $5,
                     valid_from_known = $6, predecessors = $7, successors = $8, updated_at = now()
               WHERE id = $1""",
    to_row=_county_row,
    from_row=_county,
)


# --- Imports ---------------------------------------------------------------------------------


async def import_versions(
    conn: asyncpg.Connection, versions: Iterable[MunicipalityVersion], changes: Iterable[Succession]
) -> ImportResult[MunicipalityVersion]:
    """Import municipality versions (kommuneversjoner) and the links between them
    (kommuneendringer), in one transaction (a savepoint inside the caller's). Idempotent."""
    async with conn.transaction():
        result = await _import(conn, MUNICIPALITIES, versions)
        links = await _write_successions(conn, changes)
    return replace(result, links_written=links)


async def import_counties(
    conn: asyncpg.Connection, counties: Iterable[CountyVersion]
) -> ImportResult[CountyVersion]:
    """Import county versions (fylkesversjoner). Idempotent."""
    async with conn.transaction():
        return await _import(conn, COUNTIES, counties)


async def import_kommuneinndeling(
    conn: asyncpg.Connection, data: Kommuneinndeling
) -> tuple[ImportResult[MunicipalityVersion], ImportResult[CountyVersion]]:
    """Import everything KLASS gave (kommuneinndeling and fylkesinndeling) in one transaction."""
    async with conn.transaction():
        municipalities = await import_versions(conn, data.municipalities, data.successions)
        counties = await import_counties(conn, data.counties)
    return municipalities, counties


async def _import(conn: asyncpg.Connection, table: _Table[V], incoming: Iterable[V]) -> ImportResult[V]:
    await conn.execute(table.lock)  # one import at a time; readers go on
    stored = [StoredVersion(r["id"], table.from_row(r)) for r in await conn.fetch(table.select_all)]
    plan: ImportPlan[V] = plan_import(stored, incoming)
    updates = [_row(u, table) for u in plan.updates]
    inserts = [_row(i, table) for i in plan.inserts]
    if updates:
        await conn.executemany(table.update, updates)
    if inserts:
        await conn.executemany(table.insert, inserts)
    return ImportResult(tuple(plan.inserts), tuple(plan.updates), plan.unchanged)


def _row(imported: ImportedVersion[V], table: _Table[V]) -> tuple[Any, ...]:
    return (imported.id, *table.to_row(imported.version))


async def _write_successions(conn: asyncpg.Connection, links: Iterable[Succession]) -> int:
    """Upsert the links; return how many were new or different."""
    rows = list({(s.old_code, s.new_code, s.occurred): s for s in links}.values())
    if not rows:
        return 0
    written = await conn.fetch(
        """INSERT INTO municipality_successions
                  (old_kommunenummer, old_valid_from, new_kommunenummer, occurred, kind)
           SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::date[], $5::text[])
           ON CONFLICT (old_kommunenummer, new_kommunenummer, occurred) DO UPDATE
              SET old_valid_from = EXCLUDED.old_valid_from, kind = EXCLUDED.kind
            WHERE (municipality_successions.old_valid_from, municipality_successions.kind)
                  IS DISTINCT FROM (EXCLUDED.old_valid_from, EXCLUDED.kind)
           RETURNING 1""",
        [s.old_code for s in rows],
        [s.old_valid_from for s in rows],
        [s.new_code for s in rows],
        [s.occurred for s in rows],
        [str(s.kind) for s in rows],
    )
    return len(written)


IMPORT_LOCK = "livskraft.registry.municipality-import"


async def lock_imports(conn: asyncpg.Connection) -> None:
    """One import at a time, across replicas, until the transaction ends (an advisory lock:
    readers go on). Taken before looking at what is stored, so a second importer sees what the
    first one wrote."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", IMPORT_LOCK)


async def holds_municipalities(conn: asyncpg.Connection) -> bool:
    """Whether any municipality version is stored (an import has run)."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM municipality_versions)"))


# --- The import's events: numbered per kommunenummer, to the outbox and the audit log -----------


async def reserve_sequences(conn: asyncpg.Connection, counts: Mapping[str, int]) -> dict[str, int]:
    """Take `counts[k]` numbers from each kommunenummer's sequence; return the first of each.
    The row stays locked until the transaction ends, so numbers are never given out twice."""
    if not counts:
        return {}
    codes = sorted(counts)  # one lock order for every caller
    rows = await conn.fetch(
        """INSERT INTO municipality_sequences (kommunenummer, sequence)
           SELECT * FROM unnest($1::text[], $2::bigint[])
           ON CONFLICT (kommunenummer) DO UPDATE
              SET sequence = municipality_sequences.sequence + EXCLUDED.sequence
           RETURNING kommunenummer, sequence""",
        codes,
        [counts[c] for c in codes],
    )
    return {r["kommunenummer"]: r["sequence"] - counts[r["kommunenummer"]] + 1 for r in rows}


async def write_events(
    conn: asyncpg.Connection, envelopes: Sequence[CloudEvent[MunicipalityFacts]], actor: Actor
) -> None:
    """The events to the outbox and each to the audit log (no network; keyed by the
    kommunenummer), in the caller's transaction."""
    await outbox.write(conn, envelopes)
    await registry_store.audit_events(conn, actor, envelopes)


# --- Queries ---------------------------------------------------------------------------------

_VALID_ON = "valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)"


async def municipality_on(
    conn: asyncpg.Connection, kommunenummer: str, day: date
) -> MunicipalityVersion | None:
    """The municipality (kommune) with this number on this day, or None: none had it then."""
    row = await conn.fetchrow(
        f"""SELECT * FROM municipality_versions WHERE kommunenummer = $1 AND {_VALID_ON}""",
        _checked_kommunenummer(kommunenummer),
        day,
    )
    return _municipality(row) if row else None


async def municipalities_on(conn: asyncpg.Connection, day: date) -> list[MunicipalityVersion]:
    """Every municipality (kommuneinndeling) on a day, by kommunenummer."""
    rows = await conn.fetch(
        """SELECT * FROM municipality_versions
            WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)
            ORDER BY kommunenummer""",
        day,
    )
    return [_municipality(r) for r in rows]


async def municipalities_in_county(
    conn: asyncpg.Connection, fylkesnummer: str, day: date
) -> list[MunicipalityVersion]:
    """The municipalities in a county (fylke) on a day, by kommunenummer."""
    rows = await conn.fetch(
        f"""SELECT * FROM municipality_versions WHERE fylkesnummer = $1 AND {_VALID_ON}
            ORDER BY kommunenummer""",
        _checked_fylkesnummer(fylkesnummer),
        day,
    )
    return [_municipality(r) for r in rows]


async def municipality_history(conn: asyncpg.Connection, kommunenummer: str) -> list[MunicipalityVersion]:
    """Every version that has had this number, oldest first (a code may be reused)."""
    rows = await conn.fetch(
        "SELECT * FROM municipality_versions WHERE kommunenummer = $1 ORDER BY valid_from",
        _checked_kommunenummer(kommunenummer),
    )
    return [_municipality(r) for r in rows]


async def county_on(conn: asyncpg.Connection, fylkesnummer: str, day: date) -> CountyVersion | None:
    """The county (fylke) with this number on this day, or None."""
    row = await conn.fetchrow(
        f"SELECT * FROM county_versions WHERE fylkesnummer = $1 AND {_VALID_ON}",
        _checked_fylkesnummer(fylkesnummer),
        day,
    )
    return _county(row) if row else None


async def counties_on(conn: asyncpg.Connection, day: date) -> list[CountyVersion]:
    """Every county (fylkesinndeling) on a day, by fylkesnummer."""
    rows = await conn.fetch(
        """SELECT * FROM county_versions
            WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)
            ORDER BY fylkesnummer""",
        day,
    )
    return [_county(r) for r in rows]


async def municipalities_per_county(conn: asyncpg.Connection, day: date) -> dict[str, int]:
    """How many municipalities each county (fylkesnummer) had on a day."""
    rows = await conn.fetch(
        """SELECT fylkesnummer, count(*) AS municipalities FROM municipality_versions
            WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)
            GROUP BY fylkesnummer""",
        day,
    )
    return {r["fylkesnummer"]: r["municipalities"] for r in rows}


async def current_code(conn: asyncpg.Connection, kommunenummer: str, on_date: date, today: date) -> list[str]:
    """The kommunenummer(s) the municipality with this number on `on_date` had become by `today`,
    following its successors (1702 in 2010 -> 5006 in 2024; a split gives several). Empty when
    no municipality had the number on `on_date`, or when what it became is not known."""
    if today < on_date:
        raise ValueError(f"today ({today}) is before on_date ({on_date})")
    rows = await conn.fetch(
        f"""WITH RECURSIVE chain AS (
                SELECT kommunenummer, valid_from, valid_to FROM municipality_versions
                 WHERE kommunenummer = $1 AND {_VALID_ON}
                UNION
                SELECT n.kommunenummer, n.valid_from, n.valid_to
                  FROM chain c
                  JOIN municipality_successions s
                    ON s.old_kommunenummer = c.kommunenummer AND s.occurred = c.valid_to
                  JOIN municipality_versions n
                    ON n.kommunenummer = s.new_kommunenummer AND n.valid_from = s.occurred
                 WHERE c.valid_to <= $3
            )
            SELECT DISTINCT kommunenummer FROM chain
             WHERE valid_from <= $3 AND (valid_to IS NULL OR valid_to > $3)
             ORDER BY kommunenummer""",
        _checked_kommunenummer(kommunenummer),
        on_date,
        today,
    )
    return [r["kommunenummer"] for r in rows]


def _checked_kommunenummer(kommunenummer: str) -> str:
    if not isinstance(kommunenummer, str) or not _KOMMUNENUMMER.fullmatch(kommunenummer):
        raise ValueError(f"a kommunenummer is four digits as a string: {kommunenummer!r}")
    return kommunenummer


def _checked_fylkesnummer(fylkesnummer: str) -> str:
    if not isinstance(fylkesnummer, str) or not _FYLKESNUMMER.fullmatch(fylkesnummer):
        raise ValueError(f"a fylkesnummer is two digits as a string: {fylkesnummer!r}")
    return fylkesnummer
