"""The registry's SQL: networks, enrolments, decisions, contacts, the events they produce and the
audit log.

`commit_events` is the one place a command's events leave: numbered in the network's sequence,
applied to the tables, written to the outbox and the audit log, all in the caller's transaction.
`audit` and `audit_events` are the one place the audit log is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    ContactRole,
    DecisionRecorded,
    EnrolmentSubmitted,
    Event,
    MunicipalityRef,
    NetworkClosed,
    NetworkCreated,
    Theme,
)
from livskraft_contracts.registry import NetworkEvent

from services.runtime import outbox, tracing
from services.runtime.unit_of_work import Actor

from .domain import STATUS_AFTER, Enrolment, EnrolmentStatus, MemberStanding, Network


async def insert_network(conn: asyncpg.Connection, n: Network) -> None:
    await conn.execute(
        """INSERT INTO networks (id, name, themes, county, region, period_start, period_end,
                                 enrolment_deadline, target_size_min, target_size_max)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        n.id,
        n.name,
        [str(t) for t in n.themes],
        n.county,
        n.region,
        n.period_start,
        n.period_end,
        n.enrolment_deadline,
        n.target_size_min,
        n.target_size_max,
    )


def network_from_row(row: Mapping[str, Any]) -> Network:
    """The domain's Network from a `networks` row (or a view that has its columns)."""
    return Network(
        id=row["id"],
        name=row["name"],
        themes=[Theme(t) for t in row["themes"]],
        county=row["county"],
        region=row["region"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        enrolment_deadline=row["enrolment_deadline"],
        target_size_min=row["target_size_min"],
        target_size_max=row["target_size_max"],
        published=row["published"],
        closed=row["closed_reason"] is not None,
        sequence=row["sequence"],
    )


async def lock_network(conn: asyncpg.Connection, network_id: uuid.UUID) -> Network | None:
    """Load a network and hold its row until the transaction ends: one command at a time."""
    row = await conn.fetchrow("SELECT * FROM networks WHERE id = $1 FOR UPDATE", network_id)
    if row is None:
        return None
    return network_from_row(row)


async def get_enrolment(
    conn: asyncpg.Connection, network_id: uuid.UUID, kommunenummer: str
) -> Enrolment | None:
    row = await conn.fetchrow(
        """SELECT e.*,
                  EXISTS (SELECT 1 FROM decisions d WHERE d.network_id = e.network_id
                          AND d.kommunenummer = e.kommunenummer AND d.final
                          AND d.recorded_at >= e.submitted_at) AS has_final_decision,
                  ARRAY(SELECT DISTINCT c.role FROM contacts c WHERE c.network_id = e.network_id
                        AND c.kommunenummer = e.kommunenummer) AS roles
           FROM enrolments e WHERE e.network_id = $1 AND e.kommunenummer = $2""",
        network_id,
        kommunenummer,
    )
    if row is None:
        return None
    return Enrolment(
        network_id=row["network_id"],
        municipality=MunicipalityRef(kommunenummer=row["kommunenummer"], valid_on=row["valid_on"]),
        status=EnrolmentStatus(row["status"]),
        late_override=row["late_override"],
        has_final_decision=row["has_final_decision"],
        roles={ContactRole(r) for r in row["roles"]},
    )


async def insert_contact(
    conn: asyncpg.Connection,
    person_id: uuid.UUID,
    network_id: uuid.UUID,
    kommunenummer: str,
    role: ContactRole,
    name: str,
    email: str,
    phone: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO contacts (person_id, network_id, kommunenummer, role, name, email, phone)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        person_id,
        network_id,
        kommunenummer,
        str(role),
        name,
        email,
        phone,
    )


async def contacts(
    conn: asyncpg.Connection, network_id: uuid.UUID, kommunenummer: str
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT person_id, role, name, email, phone, assigned_at FROM contacts
           WHERE network_id = $1 AND kommunenummer = $2 ORDER BY assigned_at""",
        network_id,
        kommunenummer,
    )
    return [dict(r) for r in rows]


# -- Events: applied to the tables, numbered, written to the outbox and the audit log ---------


async def _apply(conn: asyncpg.Connection, event: Event) -> None:
    match event:
        case NetworkCreated():
            await conn.execute("UPDATE networks SET published = true WHERE id = $1", event.network_id)
        case NetworkClosed():
            await conn.execute(
                "UPDATE networks SET closed_reason = $2 WHERE id = $1", event.network_id, str(event.reason)
            )
        case DecisionRecorded():
            await conn.execute(
                """INSERT INTO decisions (id, network_id, kommunenummer, body, meeting_date, case_number,
                                          decision_date, final, summary, external_system, external_key)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                event.decision_id,
                event.network_id,
                event.municipality.kommunenummer,
                str(event.body),
                event.meeting_date,
                event.case_number,
                event.decision_date,
                event.final,
                event.summary,
                event.external_system,
                event.external_key,
            )
    status = STATUS_AFTER.get(type(event))
    ref = _municipality(event)
    if status is not None and ref is not None and isinstance(event, NetworkEvent):
        await conn.execute(
            """INSERT INTO enrolments
                   (network_id, kommunenummer, valid_on, status, late_override, submitted_at)
               VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'submitted' THEN now() END)
               ON CONFLICT (network_id, kommunenummer) DO UPDATE
               SET valid_on = EXCLUDED.valid_on, status = EXCLUDED.status,
                   late_override = enrolments.late_override OR EXCLUDED.late_override,
                   submitted_at = coalesce(EXCLUDED.submitted_at, enrolments.submitted_at),
                   updated_at = now()""",
            event.network_id,
            ref.kommunenummer,
            ref.valid_on,
            str(status),
            isinstance(event, EnrolmentSubmitted) and event.late_override,
        )


async def commit_events(
    conn: asyncpg.Connection, network: Network, events: Sequence[Event], actor: Actor
) -> list[CloudEvent[Event]]:
    """Apply the events to the tables, number them in the network's sequence, and write them to
    the outbox and the audit log."""
    envelopes: list[CloudEvent[Event]] = [
        CloudEvent.wrap(event, sequence=network.sequence + i, traceparent=tracing.current())
        for i, event in enumerate(events, 1)
    ]
    for event in events:
        await _apply(conn, event)
    network.sequence += len(events)
    await conn.execute("UPDATE networks SET sequence = $2 WHERE id = $1", network.id, network.sequence)
    await outbox.write(conn, envelopes)
    await audit_events(conn, actor, envelopes, network.id)
    return envelopes


_AUDIT = """INSERT INTO audit_log (actor, actor_role, action, network_id, kommunenummer, event_id)
            VALUES ($1, $2, $3, $4, $5, $6::uuid)"""


async def audit_events(
    conn: asyncpg.Connection,
    actor: Actor,
    envelopes: Sequence[CloudEvent[Any]],
    network_id: uuid.UUID | None = None,
) -> None:
    """An audit row per event written: who (subject and role, never a name), what, for which
    network (None for a municipality's own events) and municipality."""
    await conn.executemany(
        _AUDIT,
        [
            (actor.subject, actor.role, e.data.event_name(), network_id, _kommunenummer(e.data), e.id)
            for e in envelopes
        ],
    )


async def audit(conn: asyncpg.Connection, actor: Actor, action: str, network_id: uuid.UUID) -> None:
    """An audit row for a change that publishes no event (a draft)."""
    await conn.execute(_AUDIT, actor.subject, actor.role, action, network_id, None, None)


def _municipality(event: Event) -> MunicipalityRef | None:
    municipality = getattr(event, "municipality", None)
    return municipality if isinstance(municipality, MunicipalityRef) else None


def _kommunenummer(event: Event) -> str | None:
    ref = _municipality(event)
    if ref is not None:
        return ref.kommunenummer
    kommunenummer: object = getattr(event, "kommunenummer", None)  # a municipality's own events
    return kommunenummer if isinstance(kommunenummer, str) else None


# -- Queries -------------------------------------------------------------------------------------


async def network(conn: asyncpg.Connection, network_id: uuid.UUID) -> Network | None:
    """A network as it stands, without locking it (for queries)."""
    row = await conn.fetchrow("SELECT * FROM networks WHERE id = $1", network_id)
    return network_from_row(row) if row else None


async def members(conn: asyncpg.Connection, network_id: uuid.UUID) -> list[MemberStanding]:
    """Each enrolled or invited municipality, with what it has in place."""
    rows = await conn.fetch(
        """SELECT e.kommunenummer, e.valid_on, e.status, e.late_override,
                  (SELECT count(*) FROM decisions d WHERE d.network_id = e.network_id
                     AND d.kommunenummer = e.kommunenummer) AS decisions,
                  EXISTS (SELECT 1 FROM decisions d WHERE d.network_id = e.network_id
                     AND d.kommunenummer = e.kommunenummer AND d.final
                          AND d.recorded_at >= e.submitted_at) AS has_final_decision,
                  EXISTS (SELECT 1 FROM contacts c WHERE c.network_id = e.network_id
                     AND c.kommunenummer = e.kommunenummer AND c.role = 'main-contact') AS has_main_contact
           FROM enrolments e WHERE e.network_id = $1 ORDER BY e.kommunenummer""",
        network_id,
    )
    return [MemberStanding(**{**dict(r), "status": EnrolmentStatus(r["status"])}) for r in rows]


async def networks(conn: asyncpg.Connection) -> list[Network]:
    rows = await conn.fetch("SELECT * FROM networks ORDER BY created_at, id")
    return [network_from_row(r) for r in rows]


async def enrolments_of(conn: asyncpg.Connection, kommunenummer: str) -> list[dict[str, Any]]:
    """A municipality's networks over time, withdrawn ones too."""
    rows = await conn.fetch(
        """SELECT n.id AS network_id, n.name, n.period_start, n.period_end, e.status, e.valid_on,
                  e.late_override, e.updated_at
           FROM enrolments e JOIN networks n ON n.id = e.network_id
           WHERE e.kommunenummer = $1 ORDER BY n.period_start, n.name""",
        kommunenummer,
    )
    return [dict(r) for r in rows]


async def audit_history(conn: asyncpg.Connection, network_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT at, actor, actor_role, action, kommunenummer, event_id
           FROM audit_log WHERE network_id = $1 ORDER BY id""",
        network_id,
    )
    return [dict(r) for r in rows]
