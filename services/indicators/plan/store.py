"""The plan cycle's SQL: plans (the aggregate), and every dated step as a row never changed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from livskraft_contracts import MeasureStatus, MunicipalityRef, Theme

from services.runtime.membership import ACTIVE

from .domain import Goal, Measure, Membership


async def membership(conn: asyncpg.Connection, network_id: uuid.UUID, kommunenummer: str) -> Membership:
    row = await conn.fetchrow(
        """SELECT n.name IS NOT NULL AS known, n.closed_reason IS NOT NULL AS closed, m.status, m.valid_on
           FROM networks n LEFT JOIN members m
                ON m.network_id = n.network_id AND m.kommunenummer = $2
           WHERE n.network_id = $1""",
        network_id,
        kommunenummer,
    )
    if row is None:
        return Membership(False, False, None, None)
    ref = MunicipalityRef(kommunenummer=kommunenummer, valid_on=row["valid_on"]) if row["valid_on"] else None
    return Membership(bool(row["known"]), bool(row["closed"]), row["status"], ref)


async def lock_plan(
    conn: asyncpg.Connection, plan_id: uuid.UUID, network_id: uuid.UUID, ref: MunicipalityRef, at: datetime
) -> int:
    """Make the plan if it is new, lock it until the transaction ends; its event count so far."""
    await conn.execute(
        """INSERT INTO plans (plan_id, network_id, kommunenummer, valid_on, created_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        plan_id,
        network_id,
        ref.kommunenummer,
        ref.valid_on,
        at,
    )
    sequence: int = await conn.fetchval("SELECT sequence FROM plans WHERE plan_id = $1 FOR UPDATE", plan_id)
    return sequence


async def set_sequence(conn: asyncpg.Connection, plan_id: uuid.UUID, sequence: int) -> None:
    await conn.execute("UPDATE plans SET sequence = $2 WHERE plan_id = $1", plan_id, sequence)


async def insert_assessment(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    assessment_id: uuid.UUID,
    assessed_on: Any,
    summary: str,
    at: datetime,
    event_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO status_assessments (assessment_id, plan_id, assessed_on, summary, recorded_at,
                                           event_id)
           VALUES ($1, $2, $3, $4, $5, $6::uuid)""",
        assessment_id,
        plan_id,
        assessed_on,
        summary,
        at,
        event_id,
    )


# -- Goals ----------------------------------------------------------------------------------------


def _goal(row: asyncpg.Record) -> Goal:
    return Goal(
        title=row["title"],
        description=row["description"],
        theme=Theme(row["theme"]) if row["theme"] else None,
        indicator=row["indicator"],
        target_value=row["target_value"],
        target_year=row["target_year"],
        set_on=row["set_on"],
        withdrawn=row["withdrawn"],
        revision=row["revision"],
    )


async def goal(conn: asyncpg.Connection, plan_id: uuid.UUID, goal_id: uuid.UUID) -> Goal | None:
    row = await conn.fetchrow(
        """SELECT * FROM goal_revisions WHERE plan_id = $1 AND goal_id = $2
           ORDER BY revision DESC LIMIT 1""",
        plan_id,
        goal_id,
    )
    return _goal(row) if row else None


async def insert_goal(
    conn: asyncpg.Connection, plan_id: uuid.UUID, goal_id: uuid.UUID, g: Goal, at: datetime, event_id: str
) -> None:
    await conn.execute(
        """INSERT INTO goal_revisions (goal_id, revision, plan_id, title, description, theme, indicator,
                                       target_value, target_year, set_on, withdrawn, recorded_at, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::uuid)""",
        goal_id,
        g.revision,
        plan_id,
        g.title,
        g.description,
        str(g.theme) if g.theme else None,
        g.indicator,
        g.target_value,
        g.target_year,
        g.set_on,
        g.withdrawn,
        at,
        event_id,
    )


# -- Measures --------------------------------------------------------------------------------------


def _measure(row: asyncpg.Record, planned_on: Any) -> Measure:
    return Measure(
        goal_id=row["goal_id"],
        title=row["title"],
        description=row["description"],
        responsible=row["responsible"],
        due_date=row["due_date"],
        status=MeasureStatus(row["status"]),
        dated_on=row["dated_on"],
        note=row["note"],
        revision=row["revision"],
        planned_on=planned_on,
    )


async def measure(conn: asyncpg.Connection, plan_id: uuid.UUID, measure_id: uuid.UUID) -> Measure | None:
    rows = await conn.fetch(
        "SELECT * FROM measure_revisions WHERE plan_id = $1 AND measure_id = $2 ORDER BY revision",
        plan_id,
        measure_id,
    )
    return _measure(rows[-1], rows[0]["dated_on"]) if rows else None


async def insert_measure(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    measure_id: uuid.UUID,
    m: Measure,
    at: datetime,
    event_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO measure_revisions (measure_id, revision, plan_id, goal_id, title, description,
                                          responsible, due_date, status, dated_on, note, recorded_at,
                                          event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::uuid)""",
        measure_id,
        m.revision,
        plan_id,
        m.goal_id,
        m.title,
        m.description,
        m.responsible,
        m.due_date,
        str(m.status),
        m.dated_on,
        m.note,
        at,
        event_id,
    )


async def insert_evaluation(conn: asyncpg.Connection, row: tuple[Any, ...]) -> None:
    """(evaluation_id, measure_id, plan_id, evaluated_on, verdict, findings, recorded_at, event_id)"""
    await conn.execute(
        """INSERT INTO evaluations (evaluation_id, measure_id, plan_id, evaluated_on, verdict, findings,
                                    recorded_at, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::uuid)""",
        *row,
    )


async def insert_report(conn: asyncpg.Connection, row: tuple[Any, ...]) -> None:
    """(report_id, plan_id, document, year, reported_on, reference, recorded_at, event_id)"""
    await conn.execute(
        """INSERT INTO plan_reports (report_id, plan_id, document, year, reported_on, reference,
                                     recorded_at, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::uuid)""",
        *row,
    )


# -- Reading a plan --------------------------------------------------------------------------------


async def plan_view(conn: asyncpg.Connection, plan_id: uuid.UUID) -> dict[str, Any] | None:
    """A plan with every step and every revision, each list in date order."""
    plan = await conn.fetchrow("SELECT * FROM plans WHERE plan_id = $1", plan_id)
    if plan is None:
        return None

    async def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await conn.fetch(sql, plan_id)]

    return {
        **dict(plan),
        "status_assessments": await rows(
            "SELECT * FROM status_assessments WHERE plan_id = $1 ORDER BY assessed_on, recorded_at"
        ),
        "goals": await rows("SELECT * FROM goal_revisions WHERE plan_id = $1 ORDER BY goal_id, revision"),
        "measures": await rows(
            "SELECT * FROM measure_revisions WHERE plan_id = $1 ORDER BY measure_id, revision"
        ),
        "evaluations": await rows(
            "SELECT * FROM evaluations WHERE plan_id = $1 ORDER BY evaluated_on, recorded_at"
        ),
        "reports": await rows(
            "SELECT * FROM plan_reports WHERE plan_id = $1 ORDER BY reported_on, recorded_at"
        ),
    }


async def network_overview(conn: asyncpg.Connection, network_id: uuid.UUID) -> list[dict[str, Any]]:
    """Per active member: its plan's counts (latest revisions only)."""
    rows = await conn.fetch(
        """SELECT m.kommunenummer, p.plan_id,
                  (SELECT max(assessed_on) FROM status_assessments s WHERE s.plan_id = p.plan_id)
                      AS last_assessed_on,
                  (SELECT count(*) FROM (SELECT DISTINCT ON (goal_id) withdrawn FROM goal_revisions g
                                         WHERE g.plan_id = p.plan_id ORDER BY goal_id, revision DESC) x
                   WHERE NOT withdrawn) AS goals,
                  (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb) FROM
                      (SELECT status, count(*) AS n FROM
                          (SELECT DISTINCT ON (measure_id) status FROM measure_revisions r
                           WHERE r.plan_id = p.plan_id ORDER BY measure_id, revision DESC) y
                       GROUP BY status) z) AS measures,
                  (SELECT count(*) FROM evaluations e WHERE e.plan_id = p.plan_id) AS evaluations
           FROM members m LEFT JOIN plans p
                ON p.network_id = m.network_id AND p.kommunenummer = m.kommunenummer
           WHERE m.network_id = $1 AND m.status = ANY($2::text[])
           ORDER BY m.kommunenummer""",
        network_id,
        list(ACTIVE),
    )
    return [dict(r) for r in rows]
