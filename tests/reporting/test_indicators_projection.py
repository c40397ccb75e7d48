"""Reporting keeps the indicator catalogue and the values of record: per municipality, indicator
and year the highest revision wins, whatever order the events arrive in."""

from __future__ import annotations

import asyncpg

from services.reporting.app import SPEC
from services.runtime import db
from tests.reporting.indicator_events import INDICATOR, defined, indicator_story, reported


async def _projection(new_database) -> asyncpg.Pool:
    pool = await db.create_pool(await new_database("reporting"))
    await db.migrate(pool, SPEC.migrations)
    return pool


async def test_the_highest_revision_wins_whatever_the_arrival_order(new_database):
    pool = await _projection(new_database)
    first = reported("1702", 2016, 8.0, status="preliminary", revision=1, sequence=1)
    correction = reported("1702", 2016, 7.5, revision=2, sequence=2)
    other = reported("1702", 2017, 7.0, revision=1, sequence=3)
    try:
        async with pool.acquire() as conn, conn.transaction():
            for batch in ([correction], [first, other], [defined(2, sequence=2)], [defined(1, sequence=1)]):
                await SPEC.consumes.apply(conn, batch)
            # One batch holding both revisions: the same answer.
            await SPEC.consumes.apply(
                conn,
                [
                    reported("5001", 2019, 1.0, revision=2, sequence=2),
                    reported("5001", 2019, 2.0, revision=1, sequence=1),
                ],
            )
            rows = await conn.fetch(
                "SELECT kommunenummer, year, value, status, revision FROM indicator_values "
                "ORDER BY kommunenummer, year"
            )
            entry = await conn.fetchrow(
                "SELECT revision, label, decimals FROM indicators WHERE indicator = $1", INDICATOR
            )
    finally:
        await pool.close()
    assert [tuple(r) for r in rows] == [
        ("1702", 2016, 7.5, "final", 2),
        ("1702", 2017, 7.0, "final", 1),
        ("5001", 2019, 1.0, "final", 2),
    ]
    assert tuple(entry) == (2, "Klimagassutslipp per innbygger", 1)


async def test_a_value_without_revision_ranks_by_sequence_and_below_a_revised_one(new_database):
    pool = await _projection(new_database)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await SPEC.consumes.apply(conn, [reported("5001", 2019, 3.0, revision=None, sequence=5)])
            await SPEC.consumes.apply(conn, [reported("5001", 2019, 2.0, revision=None, sequence=4)])
            kept = await conn.fetchval("SELECT value FROM indicator_values")
            await SPEC.consumes.apply(conn, [reported("5001", 2019, 1.0, revision=1, sequence=1)])
            revised = await conn.fetchval("SELECT value FROM indicator_values")
            await SPEC.consumes.apply(
                conn, [reported("5001", 2019, None, status="missing", revision=2, sequence=2)]
            )
            missing = await conn.fetchrow("SELECT value, status FROM indicator_values")
    finally:
        await pool.close()
    assert (kept, revised, tuple(missing)) == (3.0, 1.0, (None, "missing"))


def test_the_story_has_both_types():
    assert {type(e.data).__name__ for e in indicator_story()} == {"IndicatorDefined", "IndicatorReported"}
