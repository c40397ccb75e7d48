"""Networks and their members, as a service that is not the registry learns them from its events.

Gatherings and indicators need the same small picture of the registry's networks (name, themes,
period, closed or not) and of each member's enrolment status, and keep it the same way: in tables
`networks` and `members` that their own first migration creates (columns below), written by the
handlers here. Events of one network travel on several topics in no set order, so a member's row
keeps the status of the event with the highest sequence, and a NetworkClosed that comes before its
NetworkCreated is kept.

    networks (network_id uuid PRIMARY KEY, name text, themes text[], period_start date,
              period_end date, closed_reason text)
    members  (network_id uuid, kommunenummer text, valid_on date, status text, sequence bigint,
              PRIMARY KEY (network_id, kommunenummer))

`track(EventHandlers())` registers the six handlers in a service's table. Reporting and notify keep
richer pictures of their own (history, decisions, contacts) and have their own handlers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    MunicipalityInvited,
    NetworkClosed,
    NetworkCreated,
)

from .events import EventHandlers

MemberEvent = MunicipalityInvited | EnrolmentSubmitted | EnrolmentConfirmed | EnrolmentWithdrawn
ACTIVE = ("submitted", "confirmed")
"""The statuses of a municipality that takes part."""


async def network_created(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkCreated]]) -> None:
    await conn.executemany(
        """INSERT INTO networks (network_id, name, themes, period_start, period_end)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (network_id) DO UPDATE  -- its NetworkClosed came first
           SET name = EXCLUDED.name, themes = EXCLUDED.themes,
               period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end""",
        [
            (
                e.data.network_id,
                e.data.name,
                [str(t) for t in e.data.themes],
                e.data.period_start,
                e.data.period_end,
            )
            for e in events
        ],
    )


async def network_closed(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkClosed]]) -> None:
    await conn.executemany(
        """INSERT INTO networks (network_id, closed_reason) VALUES ($1, $2)
           ON CONFLICT (network_id) DO UPDATE SET closed_reason = EXCLUDED.closed_reason""",
        [(e.data.network_id, str(e.data.reason)) for e in events],
    )


async def _statuses(conn: asyncpg.Connection, events: Sequence[CloudEvent[MemberEvent]], status: str) -> None:
    """The latest status by sequence wins, whatever order the topics deliver in."""
    await conn.executemany(
        """INSERT INTO members (network_id, kommunenummer, valid_on, status, sequence)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (network_id, kommunenummer) DO UPDATE
           SET valid_on = EXCLUDED.valid_on, status = EXCLUDED.status, sequence = EXCLUDED.sequence
           WHERE members.sequence < EXCLUDED.sequence""",
        status_rows(events, status),
    )


def status_rows(
    events: Sequence[CloudEvent[MemberEvent]], status: str
) -> list[tuple[uuid.UUID, str, date, str, int]]:
    """(network_id, kommunenummer, valid_on, status, sequence) of each of these membership events:
    the row a status table takes, here and in notify's own picture."""
    return [
        (
            e.data.network_id,
            e.data.municipality.kommunenummer,
            e.data.municipality.valid_on,
            status,
            e.sequence,
        )
        for e in events
    ]


async def municipality_invited(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityInvited]]
) -> None:
    await _statuses(conn, events, "invited")


async def enrolment_submitted(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentSubmitted]]
) -> None:
    await _statuses(conn, events, "submitted")


async def enrolment_confirmed(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentConfirmed]]
) -> None:
    await _statuses(conn, events, "confirmed")


async def enrolment_withdrawn(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentWithdrawn]]
) -> None:
    await _statuses(conn, events, "withdrawn")


def track(handlers: EventHandlers) -> EventHandlers:
    """Add the network and member handlers to a service's table."""
    return (
        handlers.on(NetworkCreated, network_created)
        .on(MunicipalityInvited, municipality_invited)
        .on(EnrolmentSubmitted, enrolment_submitted)
        .on(EnrolmentConfirmed, enrolment_confirmed)
        .on(EnrolmentWithdrawn, enrolment_withdrawn)
        .on(NetworkClosed, network_closed)
    )
