"""Apply events to the reporting projection. Called by the idempotent consumer, once per event,
inside the transaction that records the event in the inbox."""

from __future__ import annotations

import asyncpg
from livskraft_contracts import CloudEvent, DecisionRecorded, EnrolmentSubmitted, NetworkCreated

CONSUMES = (NetworkCreated, EnrolmentSubmitted, DecisionRecorded)


async def apply(conn: asyncpg.Connection, event: CloudEvent) -> None:
    data = event.data
    if isinstance(data, NetworkCreated):
        await conn.execute(
            """INSERT INTO networks (network_id, name, themes, county, region, period_start,
                                     period_end, enrolment_deadline, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            data.network_id, data.name, [str(t) for t in data.themes], data.county, data.region,
            data.period_start, data.period_end, data.enrolment_deadline, event.time,
        )
    elif isinstance(data, EnrolmentSubmitted):
        await conn.execute(
            """INSERT INTO members (network_id, kommunenummer, valid_on, status, enrolled_at)
               VALUES ($1, $2, $3, 'submitted', $4)
               ON CONFLICT (network_id, kommunenummer) DO UPDATE
               SET status = 'submitted', valid_on = EXCLUDED.valid_on""",
            data.network_id, data.municipality.kommunenummer, data.municipality.valid_on, event.time,
        )
    elif isinstance(data, DecisionRecorded):
        await conn.execute(
            """INSERT INTO decisions (decision_id, network_id, kommunenummer, valid_on, body,
                                      case_number, decision_date, final, event_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            data.decision_id, data.network_id, data.municipality.kommunenummer,
            data.municipality.valid_on, str(data.body), data.case_number, data.decision_date,
            data.final, event.id,
        )
