"""The indicators service's SQL: the catalogue, reported values, what the registry's events say,
and the audit log. The plan cycle's SQL is in `plan/store.py`.

`write_events` is the one place this service's events leave: written to the outbox and the audit
log in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from livskraft_contracts import CloudEvent, IndicatorDefined, IndicatorStatus, MunicipalityRef

from services.runtime import outbox
from services.runtime.unit_of_work import Actor

from .domain import CodeVersion, NewRevision, Revision

CATALOGUE_LOCK = "livskraft-indicators-catalogue"

# -- Events and audit ------------------------------------------------------------------------------


async def write_events(
    conn: asyncpg.Connection,
    envelopes: Sequence[CloudEvent[Any]],
    actor: Actor,
    at: datetime,
    *,
    kommunenummer: str | None = None,
    network_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    reasons: Sequence[str | None] = (),
    actions: Sequence[str] = (),
) -> None:
    """The events to the outbox, and one audit row each (its action the event's name, unless
    `actions` says otherwise, e.g. IndicatorCorrected)."""
    await outbox.write(conn, envelopes)
    await conn.executemany(
        """INSERT INTO audit_log (at, actor, actor_role, action, kommunenummer, indicator, network_id,
                                  plan_id, event_id, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $10)""",
        [
            (
                at,
                actor.subject,
                actor.role,
                actions[i] if i < len(actions) else e.data.event_name(),
                kommunenummer,
                getattr(e.data, "indicator", None),
                network_id,
                plan_id,
                e.id,
                reasons[i] if i < len(reasons) else None,
            )
            for i, e in enumerate(envelopes)
        ],
    )


# -- The catalogue ---------------------------------------------------------------------------------

_ENTRY = """SELECT id AS indicator, revision, theme, label, unit, decimals, direction, source,
                   per_inhabitant, minimum, maximum, retired FROM indicators"""


def _entry(row: asyncpg.Record) -> IndicatorDefined:
    return IndicatorDefined.model_validate(dict(row))


async def lock_catalogue(conn: asyncpg.Connection) -> None:
    """One change to the catalogue at a time (and one seeding, when replicas start at once)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", CATALOGUE_LOCK)


async def catalogue_is_empty(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM indicators)")


async def indicator(conn: asyncpg.Connection, indicator_id: str) -> IndicatorDefined | None:
    row = await conn.fetchrow(_ENTRY + " WHERE id = $1", indicator_id)
    return _entry(row) if row else None


async def indicators(conn: asyncpg.Connection, ids: Sequence[str] | None = None) -> list[IndicatorDefined]:
    """The catalogue (or the entries named), by theme and id."""
    rows = await conn.fetch(
        _ENTRY + " WHERE $1::text[] IS NULL OR id = ANY($1::text[]) ORDER BY theme, id",
        None if ids is None else list(ids),
    )
    return [_entry(r) for r in rows]


async def save_indicator(
    conn: asyncpg.Connection, entry: IndicatorDefined, actor: Actor, at: datetime
) -> None:
    """Store a revision of an entry: the current row, and the revision kept."""
    e = entry
    await conn.execute(
        """INSERT INTO indicators (id, revision, theme, label, unit, decimals, direction, source,
                                   per_inhabitant, minimum, maximum, retired, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE
           SET revision = EXCLUDED.revision, theme = EXCLUDED.theme, label = EXCLUDED.label,
               unit = EXCLUDED.unit, decimals = EXCLUDED.decimals, direction = EXCLUDED.direction,
               source = EXCLUDED.source, per_inhabitant = EXCLUDED.per_inhabitant,
               minimum = EXCLUDED.minimum, maximum = EXCLUDED.maximum, retired = EXCLUDED.retired,
               updated_at = EXCLUDED.updated_at""",
        e.indicator,
        e.revision,
        str(e.theme),
        e.label,
        e.unit,
        e.decimals,
        str(e.direction),
        e.source,
        e.per_inhabitant,
        e.minimum,
        e.maximum,
        e.retired,
        at,
    )
    await conn.execute(
        """INSERT INTO indicator_revisions (id, revision, entry, changed_at, actor, actor_role)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        e.indicator,
        e.revision,
        e.model_dump(mode="json"),
        at,
        actor.subject,
        actor.role,
    )


async def indicator_revisions(conn: asyncpg.Connection, indicator_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT revision, entry, changed_at, actor, actor_role FROM indicator_revisions
           WHERE id = $1 ORDER BY revision""",
        indicator_id,
    )
    return [dict(r) for r in rows]


# -- What the registry's events say ----------------------------------------------------------------


async def municipality_versions(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(kommunenummer, valid_from, valid_to, name, county, sequence) each: the latest by the
    code's sequence wins (a MunicipalityChanged carries the whole new state)."""
    await conn.executemany(
        """INSERT INTO municipalities (kommunenummer, valid_from, valid_to, name, county, sequence)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (kommunenummer, valid_from) DO UPDATE
           SET valid_to = EXCLUDED.valid_to, name = EXCLUDED.name, county = EXCLUDED.county,
               sequence = EXCLUDED.sequence
           WHERE municipalities.sequence < EXCLUDED.sequence""",
        rows,
    )


async def code_versions(conn: asyncpg.Connection, kommunenummer: str) -> list[CodeVersion]:
    rows = await conn.fetch(
        "SELECT valid_from, valid_to FROM municipalities WHERE kommunenummer = $1 ORDER BY valid_from",
        kommunenummer,
    )
    return [CodeVersion(kommunenummer, r["valid_from"], r["valid_to"]) for r in rows]


async def knows_municipalities(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM municipalities)"))


async def network(conn: asyncpg.Connection, network_id: uuid.UUID) -> dict[str, Any] | None:
    """A network once its NetworkCreated has arrived, with every member and its status."""
    row = await conn.fetchrow("SELECT * FROM networks WHERE network_id = $1 AND name IS NOT NULL", network_id)
    if row is None:
        return None
    members = await conn.fetch(
        "SELECT kommunenummer, valid_on, status FROM members WHERE network_id = $1 ORDER BY kommunenummer",
        network_id,
    )
    return {**dict(row), "members": [dict(m) for m in members]}


# -- Reported values -------------------------------------------------------------------------------


async def lock_stream(conn: asyncpg.Connection, kommunenummer: str) -> int:
    """Lock a municipality's reports until the transaction ends; its event count so far."""
    await conn.execute(
        "INSERT INTO value_streams (kommunenummer) VALUES ($1) ON CONFLICT DO NOTHING", kommunenummer
    )
    sequence: int = await conn.fetchval(
        "SELECT sequence FROM value_streams WHERE kommunenummer = $1 FOR UPDATE", kommunenummer
    )
    return sequence


async def set_stream_sequence(conn: asyncpg.Connection, kommunenummer: str, sequence: int) -> None:
    await conn.execute(
        "UPDATE value_streams SET sequence = $2 WHERE kommunenummer = $1", kommunenummer, sequence
    )


async def latest_revisions(conn: asyncpg.Connection, kommunenummer: str) -> dict[tuple[str, int], Revision]:
    """{(indicator, year): its latest revision} for a municipality (its stream locked)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (indicator, year) indicator, year, revision, value, status, comment
           FROM indicator_values WHERE kommunenummer = $1
           ORDER BY indicator, year, revision DESC""",
        kommunenummer,
    )
    return {
        (r["indicator"], r["year"]): Revision(
            r["revision"], r["value"], IndicatorStatus(r["status"]), r["comment"]
        )
        for r in rows
    }


async def insert_values(
    conn: asyncpg.Connection,
    kommunenummer: str,
    rows: Sequence[tuple[str, int, MunicipalityRef, NewRevision, str | None, int | None, str]],
    actor: Actor,
    at: datetime,
) -> None:
    """(indicator, year, ref, new revision, comment, supersedes_revision, event id) each."""
    await conn.executemany(
        """INSERT INTO indicator_values (kommunenummer, indicator, year, revision, valid_on, value,
                   status, total, population, comment, supersedes_revision, correction, reported_at,
                   reported_by, reported_role, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::uuid)""",
        [
            (
                kommunenummer,
                indicator,
                year,
                new.revision,
                ref.valid_on,
                new.value,
                str(new.status),
                new.total,
                new.population,
                comment,
                supersedes,
                new.correction,
                at,
                actor.subject,
                actor.role,
                event_id,
            )
            for indicator, year, ref, new, comment, supersedes, event_id in rows
        ],
    )


_VALUE_COLUMNS = """indicator, year, revision, valid_on, value, status, total, population, comment,
                    supersedes_revision, correction, reported_at, reported_role, reported_by"""


async def values_of_record(
    conn: asyncpg.Connection, kommunenummer: str, indicator: str | None, year: int | None
) -> list[dict[str, Any]]:
    """A municipality's values of record (latest revisions), optionally of one indicator or year."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT ON (indicator, year) {_VALUE_COLUMNS} FROM indicator_values
            WHERE kommunenummer = $1 AND ($2::text IS NULL OR indicator = $2)
              AND ($3::integer IS NULL OR year = $3)
            ORDER BY indicator, year, revision DESC""",
        kommunenummer,
        indicator,
        year,
    )
    return [dict(r) for r in rows]


async def value_history(
    conn: asyncpg.Connection, kommunenummer: str, indicator: str, year: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {_VALUE_COLUMNS} FROM indicator_values
            WHERE kommunenummer = $1 AND indicator = $2 AND year = $3 ORDER BY revision""",
        kommunenummer,
        indicator,
        year,
    )
    return [dict(r) for r in rows]
