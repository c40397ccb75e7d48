"""Municipalities (kommuner) and counties (fylker) through time: the store and its queries.

Plain SQL on an asyncpg connection (tables in migrations/001_municipalities.sql). The imports
write what KLASS says (see klass.py) and are idempotent: the same data again changes nothing and
reports no changes. What they report as registered or changed is what the caller announces as
MunicipalityRegistered / MunicipalityChanged. Every query answers "as of a day": a bare
kommunenummer means nothing without one.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Generic, TypeVar

import asyncpg

from .klass import CountyVersion, Kommuneinndeling, MunicipalityVersion, Succession

V = TypeVar("V", MunicipalityVersion, CountyVersion)

_KOMMUNENUMMER = re.compile(r"[0-9]{4}")
_FYLKESNUMMER = re.compile(r"[0-9]{2}")


# --- What an import reports ------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedVersion(Generic[V]):
    """A version an import wrote: new (`previous` None) or changed (`previous` as it was)."""

    id: uuid.UUID
    version: V
    previous: V | None = None


@dataclass(frozen=True)
class ImportResult(Generic[V]):
    """What an import (innlesing) changed. `changes` 0: the store already held all of it."""

    registered: tuple[ImportedVersion[V], ...]
    changed: tuple[ImportedVersion[V], ...]
    unchanged: int
    links_written: int = 0

    @property
    def changes(self) -> int:
        return len(self.registered) + len(self.changed) + self.links_written


# --- Planning an import (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class StoredVersion(Generic[V]):
    id: uuid.UUID
    version: V


@dataclass(frozen=True)
class ImportPlan(Generic[V]):
    inserts: list[ImportedVersion[V]]
    updates: list[ImportedVersion[V]]
    unchanged: int


def plan_import(stored: Iterable[StoredVersion[V]], incoming: Iterable[V]) -> ImportPlan[V]:
    """Which incoming versions are new, which change a stored one, and how many are as stored.

    A version is the stored one with its code and valid_from. Where either start is unknown (the
    code existed before the data began), the stored version it overlaps is the same one: data
    that reaches further back may move a start earlier, and data that reaches less far does not
    move it later or forget its predecessors. Nor does data without organisation numbers forget
    the stored ones.
    """
    by_code: dict[str, list[StoredVersion[V]]] = defaultdict(list)
    for s in stored:
        by_code[s.version.code].append(s)
    inserts: list[ImportedVersion[V]] = []
    updates: list[ImportedVersion[V]] = []
    unchanged = 0
    taken: set[uuid.UUID] = set()
    for version in {(v.code, v.valid_from): v for v in incoming}.values():
        match = _same_version(by_code[version.code], version, taken)
        if match is None:
            inserts.append(ImportedVersion(uuid.uuid4(), version))
            continue
        taken.add(match.id)
        merged = _reconcile(match.version, version)
        if merged == match.version:
            unchanged += 1
        else:
            updates.append(ImportedVersion(match.id, merged, previous=match.version))
    return ImportPlan(inserts, updates, unchanged)


def _same_version(
    candidates: Sequence[StoredVersion[V]], version: V, taken: set[uuid.UUID]
) -> StoredVersion[V] | None:
    free = [s for s in candidates if s.id not in taken]
    exact = [s for s in free if s.version.valid_from == version.valid_from]
    if exact:
        return exact[0]
    return next(
        (
            s
            for s in free
            if _overlap(s.version, version) and not (s.version.valid_from_known and version.valid_from_known)
        ),
        None,
    )


def _overlap(a: V, b: V) -> bool:
    return (a.valid_to is None or b.valid_from < a.valid_to) and (
        b.valid_to is None or a.valid_from < b.valid_to
    )


def _reconcile(stored: V, incoming: V) -> V:
    """The incoming version, less what it does not know and the stored one does."""
    version = _keep_known_start(stored, incoming)
    if isinstance(stored, MunicipalityVersion) and isinstance(version, MunicipalityVersion):
        if version.organisasjonsnummer is None:
            return replace(version, organisasjonsnummer=stored.organisasjonsnummer)
    return version


def _keep_known_start(stored: V, incoming: V) -> V:
    if incoming.valid_from_known or stored.valid_from > incoming.valid_from:
        return incoming
    return replace(
        incoming,
        valid_from=stored.valid_from,
        valid_from_known=stored.valid_from_known,
        predecessors=stored.predecessors,
    )


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
    plan = plan_import(stored, incoming)
    if plan.updates:
        await conn.executemany(table.update, [(u.id, *table.to_row(u.version)) for u in plan.updates])
    if plan.inserts:
        await conn.executemany(table.insert, [(i.id, *table.to_row(i.version)) for i in plan.inserts])
    return ImportResult(tuple(plan.inserts), tuple(plan.updates), plan.unchanged)


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
