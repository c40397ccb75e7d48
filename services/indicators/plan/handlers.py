"""The plan cycle's handlers: one per step, and the queries.

Every step is a command of a municipality's contact for its own municipality (or of programme
staff) in a network it is an active member of. The handler checks who may, locks the plan (made
on its first step), lets `domain` decide, and commits the step's row, its event and the audit
log with its answer, in one transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from livskraft_contracts import (
    GoalSet,
    MeasureEvaluated,
    MeasurePlanned,
    MeasureUpdated,
    MunicipalityRef,
    PlanReported,
    StatusAssessed,
)

from services.runtime.auth import ensure_can_act_for
from services.runtime.problems import Problem
from services.runtime.refusals import command
from services.runtime.unit_of_work import UnitOfWork

from .. import store as indicator_store
from ..domain import Indicator
from ..handlers import wrap
from . import domain, store
from .schemas import (
    AssessmentIn,
    AssessmentOut,
    EvaluationIn,
    EvaluationOut,
    GoalIn,
    GoalOut,
    GoalRevisionOut,
    MeasureChangeIn,
    MeasureIn,
    MeasureOut,
    MeasureRevisionOut,
    PlanOut,
    PlanReportIn,
    PlanReportOut,
    PlanSummary,
    StepAccepted,
)


@dataclass(frozen=True)
class _Plan:
    id: uuid.UUID
    network_id: uuid.UUID
    owner: MunicipalityRef
    sequence: int

    def parts(self) -> dict[str, Any]:
        return {"plan_id": self.id, "network_id": self.network_id, "municipality": self.owner}


async def _open(uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str) -> _Plan:
    """The plan, locked, once the caller may act for the municipality and it is an active member
    of the network (the registry's events say so)."""
    membership = await store.membership(uow.conn, network_id, kommunenummer)
    if not membership.network_known:
        raise Problem(404, "Not Found", f"no network {network_id} (not yet, or not at all)")
    owner = domain.owner(membership, kommunenummer)
    plan_id = domain.plan_id(network_id, kommunenummer)
    sequence = await store.lock_plan(uow.conn, plan_id, network_id, owner, uow.now())
    return _Plan(plan_id, network_id, owner, sequence)


async def _publish(uow: UnitOfWork, plan: _Plan, event: Any) -> str:
    """Write the step's event (the plan's next in sequence) and its audit row; its id."""
    [envelope] = wrap([event], plan.sequence + 1)
    await store.set_sequence(uow.conn, plan.id, plan.sequence + 1)
    await indicator_store.write_events(
        uow.conn,
        [envelope],
        uow.actor,
        uow.now(),
        kommunenummer=plan.owner.kommunenummer,
        network_id=plan.network_id,
        plan_id=plan.id,
    )
    return envelope.id


def _accepted(
    plan: _Plan, step_id: uuid.UUID, event_ids: Sequence[str], event: type[Any], revision: int | None = None
) -> StepAccepted:
    return StepAccepted(
        event_ids=list(event_ids),
        event_types=[event.ce_type()] if event_ids else [],
        plan_id=plan.id,
        id=step_id,
        revision=revision,
    )


@command
async def assess_status(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, body: AssessmentIn
) -> StepAccepted:
    """A status assessment: StatusAssessed."""
    ensure_can_act_for(uow.principal, kommunenummer)
    domain.on_or_before_today(body.assessed_on, "assessed_on", uow.today)
    async with uow:
        plan = await _open(uow, network_id, kommunenummer)
        assessment_id = uuid.uuid4()
        event_id = await _publish(
            uow,
            plan,
            StatusAssessed(**plan.parts(), assessment_id=assessment_id, assessed_on=body.assessed_on),
        )
        await store.insert_assessment(
            uow.conn, plan.id, assessment_id, body.assessed_on, body.summary, uow.now(), event_id
        )
        return await uow.commit(_accepted(plan, assessment_id, [event_id], StatusAssessed))


async def _indicator(conn: asyncpg.Connection, indicator: str | None) -> Indicator | None:
    if indicator is None:
        return None
    entry = await indicator_store.indicator(conn, indicator)
    return Indicator.of(entry) if entry else None


def _goal(body: GoalIn) -> domain.Goal:
    return domain.Goal(
        title=body.title,
        description=body.description,
        theme=body.theme,
        indicator=body.indicator,
        target_value=body.target_value,
        target_year=body.target_year,
        set_on=body.set_on,
        withdrawn=body.withdrawn,
    )


@command
async def set_goal(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, body: GoalIn, goal_id: uuid.UUID | None = None
) -> StepAccepted:
    """A new goal (goal_id None) or a goal's revision: GoalSet, or nothing when unchanged."""
    ensure_can_act_for(uow.principal, kommunenummer)
    async with uow:
        plan = await _open(uow, network_id, kommunenummer)
        previous = None
        if goal_id is not None:
            previous = await store.goal(uow.conn, plan.id, goal_id)
            if previous is None:
                raise Problem(404, "Not Found", f"no goal {goal_id} in this plan")
        goal_id = goal_id or uuid.uuid4()
        goal = domain.set_goal(_goal(body), previous, await _indicator(uow.conn, body.indicator), uow.today)
        if goal is None:
            assert previous is not None
            return await uow.commit(_accepted(plan, goal_id, [], GoalSet, previous.revision))
        event = GoalSet(
            **plan.parts(),
            goal_id=goal_id,
            revision=goal.revision,
            title=goal.title,
            theme=goal.theme,
            indicator=goal.indicator,
            target_value=goal.target_value,
            target_year=goal.target_year,
            set_on=goal.set_on,
            withdrawn=goal.withdrawn,
        )
        event_id = await _publish(uow, plan, event)
        await store.insert_goal(uow.conn, plan.id, goal_id, goal, uow.now(), event_id)
        return await uow.commit(_accepted(plan, goal_id, [event_id], GoalSet, goal.revision))


def _measure_event(plan: _Plan, measure_id: uuid.UUID, m: domain.Measure) -> MeasurePlanned | MeasureUpdated:
    facts = {
        **plan.parts(),
        "measure_id": measure_id,
        "revision": m.revision,
        "goal_id": m.goal_id,
        "title": m.title,
        "due_date": m.due_date,
        "status": m.status,
    }
    if m.revision == 1:
        return MeasurePlanned(**facts, planned_on=m.dated_on)
    return MeasureUpdated(**facts, changed_on=m.dated_on)


async def _goal_of(uow: UnitOfWork, plan: _Plan, goal_id: uuid.UUID | None) -> domain.Goal | None:
    return await store.goal(uow.conn, plan.id, goal_id) if goal_id else None


@command
async def plan_measure(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, body: MeasureIn
) -> StepAccepted:
    """A measure in the action programme: MeasurePlanned."""
    ensure_can_act_for(uow.principal, kommunenummer)
    async with uow:
        plan = await _open(uow, network_id, kommunenummer)
        asked = domain.Measure(
            body.goal_id,
            body.title,
            body.description,
            body.responsible,
            body.due_date,
            body.status,
            body.planned_on,
        )
        measure = domain.plan_measure(asked, await _goal_of(uow, plan, body.goal_id), uow.today)
        measure_id = uuid.uuid4()
        event_id = await _publish(uow, plan, _measure_event(plan, measure_id, measure))
        await store.insert_measure(uow.conn, plan.id, measure_id, measure, uow.now(), event_id)
        return await uow.commit(_accepted(plan, measure_id, [event_id], MeasurePlanned, 1))


@command
async def change_measure(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, measure_id: uuid.UUID, body: MeasureChangeIn
) -> StepAccepted:
    """A measure's new state (status, due date, ...): MeasureUpdated, or nothing when unchanged."""
    ensure_can_act_for(uow.principal, kommunenummer)
    async with uow:
        plan = await _open(uow, network_id, kommunenummer)
        previous = await store.measure(uow.conn, plan.id, measure_id)
        if previous is None:
            raise Problem(404, "Not Found", f"no measure {measure_id} in this plan")
        asked = domain.Measure(
            body.goal_id,
            body.title,
            body.description,
            body.responsible,
            body.due_date,
            body.status,
            body.changed_on,
            body.note,
        )
        measure = domain.change_measure(asked, previous, await _goal_of(uow, plan, body.goal_id), uow.today)
        if measure is None:
            return await uow.commit(_accepted(plan, measure_id, [], MeasureUpdated, previous.revision))
        event_id = await _publish(uow, plan, _measure_event(plan, measure_id, measure))
        await store.insert_measure(uow.conn, plan.id, measure_id, measure, uow.now(), event_id)
        return await uow.commit(_accepted(plan, measure_id, [event_id], MeasureUpdated, measure.revision))


@command
async def evaluate(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, measure_id: uuid.UUID, body: EvaluationIn
) -> StepAccepted:
    """An evaluation of a measure ("virker tiltaket?"): MeasureEvaluated."""
    ensure_can_act_for(uow.principal, kommunenummer)
    async with uow:
        plan = await _open(uow, network_id, kommunenummer)
        measure = await store.measure(uow.conn, plan.id, measure_id)
        if measure is None:
            raise Problem(404, "Not Found", f"no measure {measure_id} in this plan")
        domain.evaluate(body.evaluated_on, measure, uow.today)
        evaluation_id = uuid.uuid4()
        event = MeasureEvaluated(
            **plan.parts(),
            measure_id=measure_id,
            evaluation_id=evaluation_id,
            evaluated_on=body.evaluated_on,
            verdict=body.verdict,
        )
        event_id = await _publish(uow, plan, event)
        await store.insert_evaluation(
            uow.conn,
            (
                evaluation_id,
                measure_id,
                plan.id,
                body.evaluated_on,
                str(body.verdict),
                body.findings,
                uow.now(),
                event_id,
            ),
        )
        return await uow.commit(_accepted(plan, evaluation_id, [event_id], MeasureEvaluated))


@command
async def report(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, body: PlanReportIn
) -> StepAccepted:
    """The plan's results reported in a document: PlanReported."""
    ensure_can_act_for(uow.principal, kommunenummer)
    domain.report(body.document, body.year, body.reported_on, uow.today)
    async with uow:
        plan = await _open(uow, network_id, kommunenummer)
        report_id = uuid.uuid4()
        event = PlanReported(
            **plan.parts(),
            report_id=report_id,
            document=body.document,
            year=body.year,
            reported_on=body.reported_on,
        )
        event_id = await _publish(uow, plan, event)
        await store.insert_report(
            uow.conn,
            (
                report_id,
                plan.id,
                str(body.document),
                body.year,
                body.reported_on,
                body.reference,
                uow.now(),
                event_id,
            ),
        )
        return await uow.commit(_accepted(plan, report_id, [event_id], PlanReported))


# -- Queries ---------------------------------------------------------------------------------------


def _history(rows: list[dict[str, Any]], key: str) -> dict[uuid.UUID, list[dict[str, Any]]]:
    grouped: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


async def plan(pool: asyncpg.Pool, network_id: uuid.UUID, kommunenummer: str) -> PlanOut:
    """A municipality's plan in a network, every step with its history."""
    async with pool.acquire() as conn:
        view = await store.plan_view(conn, domain.plan_id(network_id, kommunenummer))
    if view is None:
        raise Problem(404, "Not Found", f"{kommunenummer} has no plan in network {network_id} yet")
    evaluations = _history(view["evaluations"], "measure_id")
    goals = [
        GoalOut(
            **{**revisions[-1], "goal_id": goal_id},
            revisions=[GoalRevisionOut.model_validate(r) for r in revisions],
        )
        for goal_id, revisions in _history(view["goals"], "goal_id").items()
    ]
    measures = [
        MeasureOut(
            **{**revisions[-1], "measure_id": measure_id, "planned_on": revisions[0]["dated_on"]},
            revisions=[MeasureRevisionOut.model_validate(r) for r in revisions],
            evaluations=[EvaluationOut.model_validate(e) for e in evaluations.get(measure_id, [])],
        )
        for measure_id, revisions in _history(view["measures"], "measure_id").items()
    ]
    return PlanOut(
        plan_id=view["plan_id"],
        network_id=view["network_id"],
        kommunenummer=view["kommunenummer"],
        status_assessments=[AssessmentOut.model_validate(a) for a in view["status_assessments"]],
        goals=sorted(goals, key=lambda g: (g.revisions[0].set_on, g.revisions[0].recorded_at)),
        measures=sorted(measures, key=lambda m: (m.planned_on, m.revisions[0].recorded_at)),
        reports=[PlanReportOut.model_validate(r) for r in view["reports"]],
    )


async def network_plans(pool: asyncpg.Pool, network_id: uuid.UUID) -> list[PlanSummary]:
    """Each active member's plan in the network, counted."""
    async with pool.acquire() as conn:
        if await indicator_store.network(conn, network_id) is None:
            raise Problem(404, "Not Found", f"no network {network_id} (not yet, or not at all)")
        rows = await store.network_overview(conn, network_id)
    return [PlanSummary.model_validate(r) for r in rows]
