"""Reporting's HTTP models: the network reports, and publishing a dataset."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field

from services.runtime.inputs import Body, IsoDate
from services.runtime.schemas import Accepted


class DecisionOut(BaseModel):
    decision_id: uuid.UUID
    body: str
    case_number: str
    meeting_date: date | None = None
    decision_date: date
    final: bool


class MemberOut(BaseModel):
    kommunenummer: str
    valid_on: date
    status: str
    decisions: list[DecisionOut]
    contacts: dict[str, int] = Field(default_factory=dict, description="people named per role; never who")


class AttendanceOut(BaseModel):
    kommunenummer: str
    role_category: str
    count: int


class GatheringOut(BaseModel):
    gathering_id: uuid.UUID
    status: str = Field(description="scheduled, cancelled or held")
    starts_on: date | None
    ends_on: date | None
    place: str | None
    host: str | None = Field(description="the host municipality's kommunenummer")
    held_on: date | None
    registered: dict[str, int] = Field(default_factory=dict, description="participants per role category")
    attendance: list[AttendanceOut] = []
    attendance_by_role: dict[str, int] = Field(default_factory=dict, description="summed over municipalities")
    cases_presented: list[str] = Field(default_factory=list, description="'kommunenummer: title'")


class NetworkReport(BaseModel):
    network_id: uuid.UUID
    name: str
    themes: list[str]
    county: str | None
    period_start: date | None = None
    period_end: date | None = None
    enrolment_deadline: date | None
    closed_reason: str | None = None
    members: list[MemberOut]
    gatherings: list[GatheringOut] = []


class PublishIn(Body):
    """Which period of the dataset to freeze, and optionally one year's codes for every year."""

    period_start: IsoDate
    period_end: IsoDate
    harmonised_to: int | None = Field(
        default=None,
        ge=1900,
        le=2100,
        description="show every year by the municipality and county codes valid on 1 January of this "
        "year (geo datasets only)",
    )


class Published(BaseModel):
    dataset_id: str
    version: int
    period_start: date
    period_end: date
    harmonised_to: int | None
    href: str = Field(description="where this version stays, frozen, for good")


class PublishedOut(Accepted):
    published: Published


# -- Comparisons of an indicator ---------------------------------------------------------------------------


class _FromAttributes(BaseModel):
    model_config = {"from_attributes": True}


class IndicatorOut(_FromAttributes):
    indicator: str
    theme: str
    label: str
    unit: str
    decimals: int
    direction: str
    source: str
    per_inhabitant: bool


class CellOut(_FromAttributes):
    kommunenummer: str = Field(description="the code in use that year, or in the harmonisation year")
    year: int
    value: float | None
    provisional: bool
    parts: list[str] = Field(default_factory=list, description="codes combined into this one, harmonised")


class StandingOut(_FromAttributes):
    rank: int = Field(description="1 for the best value; ties share a rank")
    of: int
    quartile: int = Field(description="1 for the lowest quarter of the values, 4 for the highest")
    text: str


class GroupOut(_FromAttributes):
    kind: str = Field(description="network, county or country")
    id: str
    label: str
    members: int = Field(description="codes in the group, with or without a value")
    count: int = Field(description="codes with a value")
    median: float | None = None
    q1: float | None = Field(default=None, description="first quartile (Excel QUARTILE.INC)")
    q3: float | None = Field(default=None, description="third quartile (Excel QUARTILE.INC)")
    minimum: float | None = None
    maximum: float | None = None
    weighted_mean: float | None = None
    standing: StandingOut | None = None
    cells: list[CellOut]


class ComparisonOut(_FromAttributes):
    indicator: IndicatorOut
    kommunenummer: str
    name: str
    year: int
    harmonised_to: int | None
    value: CellOut | None
    own_years: list[CellOut]
    groups: list[GroupOut]
    notes: list[str]
