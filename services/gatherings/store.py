"""The gatherings service's SQL: the networks it learnt of, gatherings and their records, feeds.

`commit_events` is the one place a command's events leave: numbered in the gathering's sequence,
written to the outbox and the audit log, in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from livskraft_contracts import CloudEvent, Event, MunicipalityRef, RoleCategory, Theme

from services.runtime import outbox, tracing
from services.runtime.membership import ACTIVE
from services.runtime.unit_of_work import Actor

from .domain import AgendaItem, Case, Count, Gathering, Network, Plan, Status

# -- What the registry's events say ---------------------------------------------------------------


async def network(conn: asyncpg.Connection, network_id: uuid.UUID) -> Network | None:
    """A network once its NetworkCreated has arrived, with its active members."""
    row = await conn.fetchrow("SELECT * FROM networks WHERE network_id = $1 AND name IS NOT NULL", network_id)
    if row is None:
        return None
    members = await conn.fetch(
        "SELECT kommunenummer, valid_on FROM members WHERE network_id = $1 AND status = ANY($2::text[])",
        network_id,
        list(ACTIVE),
    )
    return Network(
        id=row["network_id"],
        name=row["name"],
        themes=[Theme(t) for t in row["themes"]],
        period_start=row["period_start"],
        period_end=row["period_end"],
        closed=row["closed_reason"] is not None,
        members={
            m["kommunenummer"]: MunicipalityRef(kommunenummer=m["kommunenummer"], valid_on=m["valid_on"])
            for m in members
        },
    )


async def network_view(conn: asyncpg.Connection, network_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM networks WHERE network_id = $1 AND name IS NOT NULL", network_id)
    if row is None:
        return None
    members = await conn.fetch(
        """SELECT kommunenummer, valid_on, status FROM members WHERE network_id = $1
           ORDER BY kommunenummer""",
        network_id,
    )
    return {**dict(row), "id": row["network_id"], "members": [dict(m) for m in members]}


# -- Gatherings -----------------------------------------------------------------------------------


def _gathering(row: asyncpg.Record, registered: Iterable[asyncpg.Record] = ()) -> Gathering:
    gathering = Gathering(
        id=row["id"],
        network_id=row["network_id"],
        plan=Plan(
            starts_on=row["starts_on"],
            start_time=row["start_time"],
            ends_on=row["ends_on"],
            end_time=row["end_time"],
            place=row["place"],
            host=row["host"],
            capacity=row["capacity"],
            registration_deadline=row["registration_deadline"],
        ),
        host=MunicipalityRef(kommunenummer=row["host"], valid_on=row["host_valid_on"]),
        status=Status(row["status"]),
        revision=row["revision"],
        sequence=row["sequence"],
        cancel_reason=row["cancel_reason"],
    )
    for r in registered:
        gathering.registered[(r["kommunenummer"], RoleCategory(r["role_category"]))] = r["count"]
        gathering.registered_refs[r["kommunenummer"]] = MunicipalityRef(
            kommunenummer=r["kommunenummer"], valid_on=r["valid_on"]
        )
    return gathering


_REGISTERED = """
    SELECT kommunenummer, role_category, min(valid_on) AS valid_on, count(*) AS count
    FROM participants WHERE gathering_id = $1 GROUP BY kommunenummer, role_category
"""


async def lock_gathering(conn: asyncpg.Connection, gathering_id: uuid.UUID) -> Gathering | None:
    """Load a gathering and hold its row until the transaction ends: one command at a time."""
    row = await conn.fetchrow("SELECT * FROM gatherings WHERE id = $1 FOR UPDATE", gathering_id)
    if row is None:
        return None
    return _gathering(row, await conn.fetch(_REGISTERED, gathering_id))


async def save_gathering(conn: asyncpg.Connection, g: Gathering, at: datetime) -> None:
    """Insert or update the gathering's row as the domain left it."""
    p = g.plan
    await conn.execute(
        """INSERT INTO gatherings (id, network_id, starts_on, start_time, ends_on, end_time, place,
                                   host, host_valid_on, capacity, registration_deadline, status,
                                   cancel_reason, revision, sequence, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)
           ON CONFLICT (id) DO UPDATE
           SET starts_on = EXCLUDED.starts_on, start_time = EXCLUDED.start_time,
               ends_on = EXCLUDED.ends_on, end_time = EXCLUDED.end_time, place = EXCLUDED.place,
               host = EXCLUDED.host, host_valid_on = EXCLUDED.host_valid_on,
               capacity = EXCLUDED.capacity, registration_deadline = EXCLUDED.registration_deadline,
               status = EXCLUDED.status, cancel_reason = EXCLUDED.cancel_reason,
               revision = EXCLUDED.revision, sequence = EXCLUDED.sequence,
               updated_at = EXCLUDED.updated_at""",
        g.id,
        g.network_id,
        p.starts_on,
        p.start_time,
        p.ends_on,
        p.end_time,
        p.place,
        p.host,
        g.host.valid_on,
        p.capacity,
        p.registration_deadline,
        str(g.status),
        g.cancel_reason,
        g.revision,
        g.sequence,
        at,
    )


async def replace_agenda(
    conn: asyncpg.Connection, gathering_id: uuid.UUID, items: Sequence[AgendaItem]
) -> None:
    await conn.execute("DELETE FROM agenda_items WHERE gathering_id = $1", gathering_id)
    await conn.executemany(
        """INSERT INTO agenda_items (gathering_id, position, kind, day, starts_at, ends_at, title,
                                     kommunenummer, theme, summary, resource_name, resource_kind)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        [
            (
                gathering_id,
                i,
                str(item.kind),
                item.day,
                item.starts_at,
                item.ends_at,
                item.title,
                item.kommunenummer,
                str(item.theme) if item.theme else None,
                item.summary,
                item.resource_name,
                item.resource_kind,
            )
            for i, item in enumerate(items)
        ],
    )


async def insert_participants(
    conn: asyncpg.Connection,
    gathering_id: uuid.UUID,
    municipality: MunicipalityRef,
    people: Sequence[tuple[uuid.UUID, RoleCategory, str | None]],
    at: datetime,
) -> None:
    await conn.executemany(
        """INSERT INTO participants (person_id, gathering_id, kommunenummer, valid_on, role_category,
                                     name, registered_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (person_id, gathering_id, municipality.kommunenummer, municipality.valid_on, str(role), name, at)
            for person_id, role, name in people
        ],
    )


async def save_held(
    conn: asyncpg.Connection,
    gathering: Gathering,
    attendance: Sequence[Count],
    cases: Sequence[Case],
    notes: str,
    good_examples: list[dict[str, Any]],
    refs: dict[str, MunicipalityRef],
) -> None:
    await conn.executemany(
        """INSERT INTO attendance (gathering_id, kommunenummer, valid_on, role_category, count)
           VALUES ($1, $2, $3, $4, $5)""",
        [
            (gathering.id, a.kommunenummer, refs[a.kommunenummer].valid_on, str(a.role_category), a.count)
            for a in attendance
        ],
    )
    await conn.executemany(
        "INSERT INTO cases_presented (gathering_id, position, kommunenummer, title) VALUES ($1, $2, $3, $4)",
        [(gathering.id, i, c.kommunenummer, c.title) for i, c in enumerate(cases)],
    )
    await conn.execute(
        "INSERT INTO experience_sharing (gathering_id, notes, good_examples) VALUES ($1, $2, $3)",
        gathering.id,
        notes,
        good_examples,
    )


# -- Events: numbered, written to the outbox and the audit log ------------------------------------


async def commit_events(
    conn: asyncpg.Connection,
    gathering: Gathering,
    events: Sequence[Event],
    actor: Actor,
    at: datetime,
    reason: str | None = None,
) -> list[CloudEvent[Any]]:
    """Number the events in the gathering's sequence and write them to the outbox and the audit
    log. The caller saves the gathering (its `sequence` is raised here)."""
    envelopes = [
        CloudEvent.wrap(event, sequence=gathering.sequence + i, traceparent=tracing.current())
        for i, event in enumerate(events, 1)
    ]
    gathering.sequence += len(events)
    await outbox.write(conn, envelopes)
    await conn.executemany(
        """INSERT INTO audit_log (at, actor, actor_role, action, gathering_id, network_id, event_id, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7::uuid, $8)""",
        [
            (
                at,
                actor.subject,
                actor.role,
                e.data.event_name(),
                gathering.id,
                gathering.network_id,
                e.id,
                reason,
            )
            for e in envelopes
        ],
    )
    return envelopes


async def audit(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    at: datetime,
    *,
    gathering_id: uuid.UUID | None = None,
    network_id: uuid.UUID | None = None,
) -> None:
    """An audit row for a change that publishes no event (an agenda, a feed)."""
    await conn.execute(
        """INSERT INTO audit_log (at, actor, actor_role, action, gathering_id, network_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        at,
        actor.subject,
        actor.role,
        action,
        gathering_id,
        network_id,
    )


# -- Calendar feeds -------------------------------------------------------------------------------


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def insert_feed(
    conn: asyncpg.Connection,
    feed_id: uuid.UUID,
    secret: str,
    network_id: uuid.UUID | None,
    kommunenummer: str | None,
    actor: Actor,
    at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO feeds (id, secret_sha256, network_id, kommunenummer, issued_to, issued_role, issued_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        feed_id,
        secret_hash(secret),
        network_id,
        kommunenummer,
        actor.subject,
        actor.role,
        at,
    )


async def lock_feed(conn: asyncpg.Connection, feed_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM feeds WHERE id = $1 FOR UPDATE", feed_id)
    return dict(row) if row else None


async def revoke_feed(conn: asyncpg.Connection, feed_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE feeds SET revoked_at = $2 WHERE id = $1", feed_id, at)


async def feeds(conn: asyncpg.Connection, issued_to: str | None) -> list[dict[str, Any]]:
    """The feeds issued to a subject, or every feed (None)."""
    rows = await conn.fetch(
        """SELECT id AS feed_id, network_id, kommunenummer, issued_to, issued_role, issued_at, revoked_at
           FROM feeds WHERE $1::text IS NULL OR issued_to = $1 ORDER BY issued_at, id""",
        issued_to,
    )
    return [dict(r) for r in rows]


async def feed_opens(
    conn: asyncpg.Connection,
    secret: str,
    *,
    network_id: uuid.UUID | None = None,
    kommunenummer: str | None = None,
) -> bool:
    """Whether `secret` is a feed's, for this network or municipality, and not revoked."""
    found = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM feeds WHERE secret_sha256 = $1 AND revoked_at IS NULL
                          AND network_id IS NOT DISTINCT FROM $2
                          AND kommunenummer IS NOT DISTINCT FROM $3)""",
        secret_hash(secret),
        network_id,
        kommunenummer,
    )
    return bool(found)


# -- Queries --------------------------------------------------------------------------------------

_SUMMARY = """
    SELECT g.*, n.name AS network_name,
           (SELECT count(*) FROM participants p WHERE p.gathering_id = g.id) AS registered
    FROM gatherings g JOIN networks n ON n.network_id = g.network_id
"""


async def gatherings_of_network(conn: asyncpg.Connection, network_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        _SUMMARY + " WHERE g.network_id = $1 ORDER BY g.starts_on, g.start_time, g.id", network_id
    )
    return [dict(r) for r in rows]


async def gatherings_of_municipality(conn: asyncpg.Connection, kommunenummer: str) -> list[dict[str, Any]]:
    """The gatherings of the networks the municipality is a member of, those it hosts, and those it
    registered participants for."""
    rows = await conn.fetch(
        _SUMMARY
        + """ WHERE g.network_id IN (SELECT network_id FROM members
                                     WHERE kommunenummer = $1 AND status = ANY($2::text[]))
                 OR g.host = $1
                 OR EXISTS (SELECT 1 FROM participants p WHERE p.gathering_id = g.id AND p.kommunenummer = $1)
              ORDER BY g.starts_on, g.start_time, g.id""",
        kommunenummer,
        list(ACTIVE),
    )
    return [dict(r) for r in rows]


async def gathering_view(conn: asyncpg.Connection, gathering_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(_SUMMARY + " WHERE g.id = $1", gathering_id)
    if row is None:
        return None
    view = dict(row)
    view["agenda"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM agenda_items WHERE gathering_id = $1 ORDER BY position", gathering_id
        )
    ]
    view["registrations"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT kommunenummer, role_category, count(*) AS count FROM participants
               WHERE gathering_id = $1 GROUP BY kommunenummer, role_category
               ORDER BY kommunenummer, role_category""",
            gathering_id,
        )
    ]
    view["attendance"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT kommunenummer, role_category, count FROM attendance WHERE gathering_id = $1
               ORDER BY kommunenummer, role_category""",
            gathering_id,
        )
    ]
    view["cases_presented"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT kommunenummer, title FROM cases_presented WHERE gathering_id = $1 ORDER BY position",
            gathering_id,
        )
    ]
    sharing = await conn.fetchrow(
        "SELECT notes, good_examples FROM experience_sharing WHERE gathering_id = $1", gathering_id
    )
    view["experience_sharing"] = dict(sharing) if sharing else None
    view["changes"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT at, action, reason FROM audit_log WHERE gathering_id = $1 ORDER BY id""", gathering_id
        )
    ]
    return view


async def agendas(
    conn: asyncpg.Connection, gathering_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    rows = await conn.fetch(
        "SELECT * FROM agenda_items WHERE gathering_id = ANY($1::uuid[]) ORDER BY gathering_id, position",
        list(gathering_ids),
    )
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for r in rows:
        found.setdefault(r["gathering_id"], []).append(dict(r))
    return found


async def participants(
    conn: asyncpg.Connection, gathering_id: uuid.UUID, kommunenummer: str | None
) -> list[dict[str, Any]]:
    """Who is registered, with names: for one municipality, or all (None)."""
    rows = await conn.fetch(
        """SELECT person_id, kommunenummer, role_category, name, registered_at FROM participants
           WHERE gathering_id = $1 AND ($2::text IS NULL OR kommunenummer = $2)
           ORDER BY kommunenummer, role_category, registered_at, person_id""",
        gathering_id,
        kommunenummer,
    )
    return [dict(r) for r in rows]


async def gathering_network(conn: asyncpg.Connection, gathering_id: uuid.UUID) -> uuid.UUID | None:
    return await conn.fetchval("SELECT network_id FROM gatherings WHERE id = $1", gathering_id)  # type: ignore[no-any-return]


def is_active(status: str | None) -> bool:
    return status in ACTIVE


async def member_status(conn: asyncpg.Connection, network_id: uuid.UUID, kommunenummer: str) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT status FROM members WHERE network_id = $1 AND kommunenummer = $2", network_id, kommunenummer
    )
