"""The plan cycle's HTTP API: a municipality's plan in a network, step by step. Thin routes that
parse, authorize by scope and call a handler (plan/handlers.py), which decides for whom."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from services.runtime.deps import Pool, Reader, WriterCommand

from . import handlers
from .schemas import (
    AssessmentIn,
    EvaluationIn,
    GoalIn,
    MeasureChangeIn,
    MeasureIn,
    PlanOut,
    PlanReportIn,
    PlanSummary,
    StepAccepted,
)

router = APIRouter(tags=["plan cycle"])

NetworkId = Annotated[uuid.UUID, Path(description="The network's id (from the registry)")]
Kommune = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]
GoalId = Annotated[uuid.UUID, Path(description="The goal's id")]
MeasureId = Annotated[uuid.UUID, Path(description="The measure's id")]
PLAN = "/networks/{network_id}/municipalities/{kommunenummer}/plan"


@router.get("/networks/{network_id}/plans", response_model=list[PlanSummary], operation_id="network_plans")
async def network_plans(network_id: NetworkId, pool: Pool, who: Reader) -> list[PlanSummary]:
    """Each active member's plan in the network, counted: goals, measures by status, evaluations."""
    return await handlers.network_plans(pool, network_id)


@router.get(PLAN, response_model=PlanOut, operation_id="get_plan")
async def get_plan(network_id: NetworkId, kommunenummer: Kommune, pool: Pool, who: Reader) -> PlanOut:
    """The municipality's plan in the network: status assessments, goals, measures with their
    evaluations, and reports, each with its history."""
    return await handlers.plan(pool, network_id, kommunenummer)


@router.post(
    PLAN + "/status-assessments", status_code=201, response_model=StepAccepted, operation_id="assess_status"
)
async def assess_status(
    network_id: NetworkId, kommunenummer: Kommune, body: AssessmentIn, uow: WriterCommand
) -> StepAccepted:
    """Record a status assessment (statusvurdering): StatusAssessed."""
    return await handlers.assess_status(uow, network_id, kommunenummer, body)


@router.post(PLAN + "/goals", status_code=201, response_model=StepAccepted, operation_id="set_goal")
async def set_goal(
    network_id: NetworkId, kommunenummer: Kommune, body: GoalIn, uow: WriterCommand
) -> StepAccepted:
    """Set a goal (mål): GoalSet, revision 1."""
    return await handlers.set_goal(uow, network_id, kommunenummer, body)


@router.put(PLAN + "/goals/{goal_id}", response_model=StepAccepted, operation_id="revise_goal")
async def revise_goal(
    network_id: NetworkId, kommunenummer: Kommune, goal_id: GoalId, body: GoalIn, uow: WriterCommand
) -> StepAccepted:
    """Revise a goal, all of it (or withdraw it): GoalSet with the next revision."""
    return await handlers.set_goal(uow, network_id, kommunenummer, body, goal_id)


@router.post(PLAN + "/measures", status_code=201, response_model=StepAccepted, operation_id="plan_measure")
async def plan_measure(
    network_id: NetworkId, kommunenummer: Kommune, body: MeasureIn, uow: WriterCommand
) -> StepAccepted:
    """Put a measure (tiltak) in the action programme, with its responsible party and due date:
    MeasurePlanned."""
    return await handlers.plan_measure(uow, network_id, kommunenummer, body)


@router.put(PLAN + "/measures/{measure_id}", response_model=StepAccepted, operation_id="change_measure")
async def change_measure(
    network_id: NetworkId,
    kommunenummer: Kommune,
    measure_id: MeasureId,
    body: MeasureChangeIn,
    uow: WriterCommand,
) -> StepAccepted:
    """Change a measure (its status as it is carried out, its due date, ...): MeasureUpdated."""
    return await handlers.change_measure(uow, network_id, kommunenummer, measure_id, body)


@router.post(
    PLAN + "/measures/{measure_id}/evaluations",
    status_code=201,
    response_model=StepAccepted,
    operation_id="evaluate_measure",
)
async def evaluate_measure(
    network_id: NetworkId,
    kommunenummer: Kommune,
    measure_id: MeasureId,
    body: EvaluationIn,
    uow: WriterCommand,
) -> StepAccepted:
    """Evaluate a measure ("virker tiltaket?"): MeasureEvaluated."""
    return await handlers.evaluate(uow, network_id, kommunenummer, measure_id, body)


@router.post(PLAN + "/reports", status_code=201, response_model=StepAccepted, operation_id="report_plan")
async def report_plan(
    network_id: NetworkId, kommunenummer: Kommune, body: PlanReportIn, uow: WriterCommand
) -> StepAccepted:
    """Record the plan's results reported in the annual report, the economy plan or the master
    plan: PlanReported."""
    return await handlers.report(uow, network_id, kommunenummer, body)
