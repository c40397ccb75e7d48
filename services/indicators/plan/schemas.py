"""The plan cycle's HTTP models: what each step takes, and the plan as it is read back."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from livskraft_contracts import MeasureStatus, MeasureVerdict, PlanDocument, Theme
from pydantic import BaseModel, Field, StringConstraints

from services.runtime.inputs import Body, IsoDate, Line
from services.runtime.schemas import Accepted

from ..schemas import IndicatorCode, Number, Year

LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class AssessmentIn(Body):
    """A status assessment (statusvurdering): where the municipality stands, and when."""

    assessed_on: IsoDate
    summary: LongText


class GoalIn(Body):
    """A goal (mål), all of it: set anew, or revised (PUT) with the day of the revision."""

    title: Line
    description: LongText | None = None
    theme: Theme | None = None
    indicator: IndicatorCode | None = None
    target_value: Number | None = None
    target_year: Year | None = None
    set_on: IsoDate
    withdrawn: bool = False


class MeasureIn(Body):
    """A measure (tiltak) in the action programme. `responsible` is the office or body that
    carries it out (e.g. "Teknisk etat"), not a person."""

    title: Line
    description: LongText | None = None
    goal_id: uuid.UUID | None = None
    responsible: Line
    due_date: IsoDate
    status: MeasureStatus = MeasureStatus.PLANNED
    planned_on: IsoDate


class MeasureChangeIn(Body):
    """A measure, all of it, as it is from `changed_on`, with an optional note on why."""

    title: Line
    description: LongText | None = None
    goal_id: uuid.UUID | None = None
    responsible: Line
    due_date: IsoDate
    status: MeasureStatus
    changed_on: IsoDate
    note: Note | None = None


class EvaluationIn(Body):
    """An evaluation of one measure: does it work (virker tiltaket?), and what was found."""

    evaluated_on: IsoDate
    verdict: MeasureVerdict
    findings: LongText


class PlanReportIn(Body):
    """The plan's results reported in the annual report or economy plan, or in the master plan."""

    document: PlanDocument
    year: Year
    reported_on: IsoDate
    reference: Line | None = Field(default=None, description="where in the document, e.g. a case number")


class StepAccepted(Accepted):
    """What a step changed, and the ids to find it by."""

    plan_id: uuid.UUID
    id: uuid.UUID = Field(description="the assessment, goal, measure, evaluation or report")
    revision: int | None = Field(default=None, description="the goal's or measure's revision now")


class AssessmentOut(BaseModel):
    assessment_id: uuid.UUID
    assessed_on: date
    summary: str
    recorded_at: datetime


class GoalRevisionOut(BaseModel):
    revision: int
    title: str
    description: str | None
    theme: Theme | None
    indicator: str | None
    target_value: float | None
    target_year: int | None
    set_on: date
    withdrawn: bool
    recorded_at: datetime


class GoalOut(GoalRevisionOut):
    goal_id: uuid.UUID
    revisions: list[GoalRevisionOut] = Field(description="every revision, the first first")


class EvaluationOut(BaseModel):
    evaluation_id: uuid.UUID
    evaluated_on: date
    verdict: MeasureVerdict
    findings: str
    recorded_at: datetime


class MeasureRevisionOut(BaseModel):
    revision: int
    goal_id: uuid.UUID | None
    title: str
    description: str | None
    responsible: str
    due_date: date
    status: MeasureStatus
    dated_on: date = Field(description="the day it was planned (revision 1) or changed")
    note: str | None
    recorded_at: datetime


class MeasureOut(MeasureRevisionOut):
    measure_id: uuid.UUID
    planned_on: date
    revisions: list[MeasureRevisionOut]
    evaluations: list[EvaluationOut]


class PlanReportOut(BaseModel):
    report_id: uuid.UUID
    document: PlanDocument
    year: int
    reported_on: date
    reference: str | None
    recorded_at: datetime


class PlanOut(BaseModel):
    """A municipality's plan in a network: each step of the cycle with its history."""

    plan_id: uuid.UUID
    network_id: uuid.UUID
    kommunenummer: str
    status_assessments: list[AssessmentOut]
    goals: list[GoalOut]
    measures: list[MeasureOut]
    reports: list[PlanReportOut]


class PlanSummary(BaseModel):
    """One member's plan in a network, counted."""

    kommunenummer: str
    plan_id: uuid.UUID | None
    last_assessed_on: date | None
    goals: int = Field(description="goals not withdrawn")
    measures: dict[str, int] = Field(description="measures by status")
    evaluations: int
