"""Events published by the indicators service: the plan cycle (plansyklus) of a municipality in a
network (slide 8).

status assessment -> goals -> action programme of measures (tiltak) -> carrying them out ->
evaluation ("virker tiltakene?") -> reporting in the annual report, economy plan or master plan.

Each event keys on `plan_id`: one plan per network and municipality, so one plan's events stay in
order, and `sequence` numbers them across the types. Texts that may name people (summaries,
findings, the party responsible for a measure) stay in the indicators service; the events carry
titles, dates, statuses and verdicts only.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from .common import MunicipalityRef, Text, Theme, require_order
from .indicators import IndicatorsEvent
from .reporting import Code


class PlanEvent(IndicatorsEvent):
    key_field: ClassVar[str] = "plan_id"

    plan_id: UUID = Field(description="the plan of one municipality in one network")
    network_id: UUID
    municipality: MunicipalityRef


class StatusAssessed(PlanEvent):
    """A status assessment (statusvurdering) was made: where the municipality stands."""

    assessment_id: UUID
    assessed_on: date


class GoalSet(PlanEvent):
    """A goal (mål, a priority) was set or revised: the whole goal."""

    goal_id: UUID
    revision: int = Field(ge=1, description="1 when set, then +1 per revision")
    title: Text
    theme: Theme | None = None
    indicator: Code | None = Field(default=None, description="an indicator that measures the goal")
    target_value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    target_year: int | None = Field(default=None, ge=1900, le=2100)
    set_on: date
    withdrawn: bool = False


class MeasureStatus(StrEnum):
    """Where a measure (tiltak) stands."""

    PLANNED = "planned"  # planlagt
    IN_PROGRESS = "in-progress"  # pågår
    COMPLETED = "completed"  # gjennomført
    POSTPONED = "postponed"  # utsatt
    CANCELLED = "cancelled"  # avlyst


class MeasureFacts(PlanEvent):
    """A measure in the action programme (handlingsprogram), the whole of it."""

    measure_id: UUID
    revision: int = Field(ge=1, description="1 when planned, then +1 per change")
    goal_id: UUID | None = None
    title: Text
    due_date: date
    status: MeasureStatus


class MeasurePlanned(MeasureFacts):
    """A measure was put in the action programme."""

    planned_on: date

    @model_validator(mode="after")
    def _due(self) -> MeasurePlanned:
        require_order(self.planned_on, self.due_date, "due_date is before planned_on")
        return self


class MeasureUpdated(MeasureFacts):
    """A measure's status, due date, title or goal changed: the whole new state."""

    changed_on: date


class MeasureVerdict(StrEnum):
    """The answer to "virker tiltakene?" for one measure."""

    WORKING = "working"  # virker
    PARTLY_WORKING = "partly-working"  # virker delvis
    NOT_WORKING = "not-working"  # virker ikke
    TOO_EARLY = "too-early"  # for tidlig å si


class MeasureEvaluated(PlanEvent):
    """A measure was evaluated (evaluering)."""

    measure_id: UUID
    evaluation_id: UUID
    evaluated_on: date
    verdict: MeasureVerdict


class PlanDocument(StrEnum):
    """Where a municipality reports its results."""

    ANNUAL_REPORT = "annual-report"  # årsmelding
    ECONOMY_PLAN = "economy-plan"  # økonomiplan
    MASTER_PLAN = "master-plan"  # kommuneplan


class PlanReported(PlanEvent):
    """The plan's results were reported in the annual report or the economy plan, or taken into
    the master plan, for a year."""

    report_id: UUID
    document: PlanDocument
    year: int = Field(ge=1900, le=2100)
    reported_on: date
