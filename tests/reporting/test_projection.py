"""The reporting projection applies a network's events by their sequence, not by arrival:
with one topic per event type, a network's events come in no set order across topics."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    MunicipalityInvited,
    NetworkClosed,
    NetworkCreated,
)

from services.reporting.app import SPEC
from services.runtime import db

STEINKJER = {"kommunenummer": "1702", "valid_on": "2010-01-20"}


async def _projection(new_database) -> asyncpg.Pool:
    pool = await db.create_pool(await new_database("reporting"))
    await db.migrate(pool, SPEC.migrations)
    return pool


async def test_the_latest_event_by_sequence_decides_whatever_the_arrival_order(new_database):
    pool = await _projection(new_database)
    network = uuid.uuid4()
    created = CloudEvent.wrap(
        NetworkCreated(
            network_id=network,
            name="N",
            themes=["areal", "kulturarv"],
            period_start=date(2010, 1, 1),
            period_end=date(2010, 12, 31),
            enrolment_deadline=date(2010, 2, 15),
        ),
        sequence=1,
    )
    invited = CloudEvent.wrap(MunicipalityInvited(network_id=network, municipality=STEINKJER), sequence=2)
    submitted = CloudEvent.wrap(EnrolmentSubmitted(network_id=network, municipality=STEINKJER), sequence=3)
    withdrawn = CloudEvent.wrap(EnrolmentWithdrawn(network_id=network, municipality=STEINKJER), sequence=4)
    closed = CloudEvent.wrap(NetworkClosed(network_id=network, reason="too-few-members"), sequence=5)
    try:
        async with pool.acquire() as conn, conn.transaction():
            # The worst order: everything late first, in separate batches.
            for batch in ([closed], [withdrawn], [submitted, invited], [created]):
                await SPEC.consumes.apply(conn, batch)
            row = await conn.fetchrow("SELECT * FROM networks WHERE network_id = $1", network)
            member = await conn.fetchrow(
                "SELECT status, sequence FROM members WHERE network_id = $1", network
            )
    finally:
        await pool.close()
    assert (row["name"], row["closed_reason"]) == ("N", "too-few-members")
    assert (member["status"], member["sequence"]) == ("withdrawn", 4)
