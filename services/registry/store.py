"""The registry's SQL: load and save networks, enrolments and decisions, and commit their events.

`commit_events` is the one place a command's events leave: numbered in the network's sequence,
written to the outbox and the audit log in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from livskraft_contracts import CloudEvent, DecisionRecorded, Event, MunicipalityRef, Theme

from services.runtime import outbox

from .domain import Enrolment, EnrolmentStatus, Network, NetworkState


@dataclass(frozen=True)
class Actor:
    """Who issued a command, for the audit log: the token's subject and role, never a name."""

    subject: str
    role: str


async def insert_network(conn: asyncpg.Connection, n: Network) -> None:
    await conn.execute(
        """INSERT INTO networks (id, name, themes, county, region, period_start, period_end,
                                 enrolment_deadline, target_size_min, target_size_max, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        n.id, n.name, [str(t) for t in n.themes], n.county, n.region, n.period_start,
        n.period_end, n.enrolment_deadline, n.target_size_min, n.target_size_max, str(n.state),
    )


async def lock_network(conn: asyncpg.Connection, network_id: uuid.UUID) -> Network | None:
    """Load a network and hold its row until the transaction ends: one command at a time."""
    row = await conn.fetchrow("SELECT * FROM networks WHERE id = $1 FOR UPDATE", network_id)
    if row is None:
        return None
    return Network(
        id=row["id"], name=row["name"], themes=[Theme(t) for t in row["themes"]],
        county=row["county"], region=row["region"], period_start=row["period_start"],
        period_end=row["period_end"], enrolment_deadline=row["enrolment_deadline"],
        target_size_min=row["target_size_min"], target_size_max=row["target_size_max"],
        state=NetworkState(row["state"]), sequence=row["sequence"],
    )


async def get_enrolment(
    conn: asyncpg.Connection, network_id: uuid.UUID, kommunenummer: str
) -> Enrolment | None:
    row = await conn.fetchrow(
        "SELECT * FROM enrolments WHERE network_id = $1 AND kommunenummer = $2",
        network_id, kommunenummer,
    )
    if row is None:
        return None
    return Enrolment(
        network_id=row["network_id"],
        municipality=MunicipalityRef(kommunenummer=row["kommunenummer"], valid_on=row["valid_on"]),
        status=EnrolmentStatus(row["status"]), late_override=row["late_override"],
    )


async def save_enrolment(conn: asyncpg.Connection, e: Enrolment) -> None:
    await conn.execute(
        """INSERT INTO enrolments (network_id, kommunenummer, valid_on, status, late_override)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (network_id, kommunenummer) DO UPDATE
           SET valid_on = EXCLUDED.valid_on, status = EXCLUDED.status,
               late_override = EXCLUDED.late_override, updated_at = now()""",
        e.network_id, e.municipality.kommunenummer, e.municipality.valid_on, str(e.status),
        e.late_override,
    )


async def insert_decision(conn: asyncpg.Connection, d: DecisionRecorded) -> None:
    await conn.execute(
        """INSERT INTO decisions (id, network_id, kommunenummer, body, meeting_date, case_number,
                                  decision_date, final, summary, external_system, external_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        d.decision_id, d.network_id, d.municipality.kommunenummer, str(d.body), d.meeting_date,
        d.case_number, d.decision_date, d.final, d.summary, d.external_system, d.external_key,
    )


async def commit_events(
    conn: asyncpg.Connection, network: Network, events: list[Event], actor: Actor
) -> list[CloudEvent]:
    """Number the events in the network's sequence; write them to the outbox and the audit log."""
    envelopes = [
        CloudEvent.wrap(event, sequence=network.sequence + i) for i, event in enumerate(events, 1)
    ]
    network.sequence += len(events)
    await conn.execute("UPDATE networks SET sequence = $2 WHERE id = $1", network.id, network.sequence)
    await outbox.write(conn, envelopes)
    await conn.executemany(
        """INSERT INTO audit_log (actor, actor_role, action, network_id, kommunenummer, event_id)
           VALUES ($1, $2, $3, $4, $5, $6::uuid)""",
        [
            (actor.subject, actor.role, e.data.event_name(), network.id,
             _kommunenummer(e.data), e.id)
            for e in envelopes
        ],
    )
    return envelopes


def _kommunenummer(event: Event) -> str | None:
    municipality = getattr(event, "municipality", None)
    return municipality.kommunenummer if municipality else None


async def network_view(conn: asyncpg.Connection, network_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM networks WHERE id = $1", network_id)
    if row is None:
        return None
    members = await conn.fetch(
        """SELECT e.kommunenummer, e.valid_on, e.status, e.late_override,
                  count(d.id) AS decisions
           FROM enrolments e LEFT JOIN decisions d USING (network_id, kommunenummer)
           WHERE e.network_id = $1 GROUP BY e.network_id, e.kommunenummer ORDER BY e.kommunenummer""",
        network_id,
    )
    view = dict(row)
    view["members"] = [dict(m) for m in members]
    return view


async def list_networks(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM networks ORDER BY created_at, id")]


async def audit_history(conn: asyncpg.Connection, network_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT at, actor, actor_role, action, kommunenummer, event_id FROM audit_log "
        "WHERE network_id = $1 ORDER BY id",
        network_id,
    )
    return [dict(r) for r in rows]
