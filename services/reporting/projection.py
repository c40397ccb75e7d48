"""Apply events to the reporting projection.

The idempotent consumer calls `apply` with a batch of new events, in order, inside the
transaction that records them in the inbox. Consecutive events of one type are written with one
pipelined `executemany`, which keeps the order between types and makes a rebuild from offset
zero fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    Event,
    MunicipalityInvited,
    NetworkClosed,
    NetworkCreated,
)

from services.runtime.events import EventHandler, EventHandlers

Row = tuple[Any, ...]

# Events about one network come on several topics, in no set order: the latest by sequence wins.
_MEMBER_STATUS = """
    INSERT INTO members (network_id, kommunenummer, valid_on, status, enrolled_at, sequence)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (network_id, kommunenummer) DO UPDATE
    SET status = EXCLUDED.status, valid_on = EXCLUDED.valid_on, sequence = EXCLUDED.sequence
    WHERE members.sequence < EXCLUDED.sequence
"""
_STATUS = {
    MunicipalityInvited: "invited",
    EnrolmentSubmitted: "submitted",
    EnrolmentConfirmed: "confirmed",
    EnrolmentWithdrawn: "withdrawn",
}


def _member_row(e: CloudEvent) -> Row:
    ref = e.data.municipality  # type: ignore[attr-defined]
    return (e.data.network_id, ref.kommunenummer, ref.valid_on, _STATUS[type(e.data)], e.time, e.sequence)  # type: ignore[attr-defined]


_WRITES: dict[type[Event], tuple[str, Callable[[CloudEvent], Row]]] = {
    NetworkCreated: (
        """INSERT INTO networks (network_id, name, themes, county, region, period_start,
                                 period_end, enrolment_deadline, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (network_id) DO UPDATE  -- its NetworkClosed came first
           SET name = EXCLUDED.name, themes = EXCLUDED.themes, county = EXCLUDED.county,
               region = EXCLUDED.region, period_start = EXCLUDED.period_start,
               period_end = EXCLUDED.period_end, enrolment_deadline = EXCLUDED.enrolment_deadline,
               created_at = EXCLUDED.created_at""",
        lambda e: (
            e.data.network_id,
            e.data.name,
            [str(t) for t in e.data.themes],
            e.data.county,
            e.data.region,
            e.data.period_start,
            e.data.period_end,
            e.data.enrolment_deadline,
            e.time,
        ),
    ),
    **{
        event_type: (_MEMBER_STATUS, _member_row)
        for event_type in (MunicipalityInvited, EnrolmentSubmitted, EnrolmentConfirmed, EnrolmentWithdrawn)
    },
    NetworkClosed: (
        """INSERT INTO networks (network_id, closed_reason) VALUES ($1, $2)
           ON CONFLICT (network_id) DO UPDATE SET closed_reason = EXCLUDED.closed_reason""",
        lambda e: (e.data.network_id, str(e.data.reason)),
    ),
    DecisionRecorded: (
        """INSERT INTO decisions (decision_id, network_id, kommunenummer, valid_on, body,
                                  case_number, decision_date, final, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        lambda e: (
            e.data.decision_id,
            e.data.network_id,
            e.data.municipality.kommunenummer,
            e.data.municipality.valid_on,
            str(e.data.body),
            e.data.case_number,
            e.data.decision_date,
            e.data.final,
            e.id,
        ),
    ),
}


def _writer(sql: str, row: Callable[[CloudEvent[Any]], Row]) -> EventHandler[Any]:
    async def write(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        await conn.executemany(sql, [row(e) for e in events])

    return write


HANDLERS = EventHandlers()
for _type, (_sql, _row) in _WRITES.items():
    HANDLERS.on(_type, _writer(_sql, _row))
