"""Events published by the gatherings service: network gatherings (nettverkssamlinger).

Every event keys on `gathering_id`, so one gathering's events stay in order.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from .common import MunicipalityRef, Part, Text, require_distinct, require_order
from .envelope import Event


class RoleCategory(StrEnum):
    """Who a participant is (slide 11): politicians, top management, department staff, resources."""

    POLITICIAN = "politician"  # politiker
    MANAGEMENT = "management"  # administrativ toppledelse
    DEPARTMENT = "department"  # fagetat
    RESOURCE = "resource"  # ressursmiljø: university, county, county governor


class GatheringEvent(Event):
    service: ClassVar[str] = "gatherings"
    key_field: ClassVar[str] = "gathering_id"

    gathering_id: UUID


class GatheringPlan(GatheringEvent):
    """When and where a gathering (samling) takes place, and which municipality hosts it."""

    network_id: UUID
    starts_on: date
    ends_on: date | None = Field(default=None, description="last day; null for a one-day gathering")
    place: Text
    host: MunicipalityRef | None = Field(default=None, description="vertskommune, if any")

    @model_validator(mode="after")
    def _dates(self) -> GatheringPlan:
        require_order(self.starts_on, self.ends_on, "ends_on is before starts_on")
        return self


class GatheringScheduled(GatheringPlan):
    """A gathering was planned."""


class GatheringRescheduled(GatheringPlan):
    """A gathering moved: carries the new date, place and host."""


class GatheringCancelled(GatheringPlan):
    """A planned gathering was cancelled: carries the plan it had."""


class ParticipantRegistered(GatheringEvent):
    """A municipality registered a participant (påmeldt deltaker); the person only by opaque id."""

    person_id: UUID = Field(description="opaque id; no name or contact details travel")
    municipality: MunicipalityRef
    role_category: RoleCategory


class Attendance(Part):
    """How many of one role category came from one municipality (oppmøte)."""

    municipality: MunicipalityRef
    role_category: RoleCategory
    count: int = Field(ge=0)


class CasePresented(Part):
    """A municipality presented its own case (kommunens eget case)."""

    municipality: MunicipalityRef
    title: Text


class GatheringHeld(GatheringEvent):
    """A gathering was held: attendance per municipality and role category, cases presented."""

    network_id: UUID
    held_on: date
    attendance: list[Attendance]
    cases_presented: list[CasePresented] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_count_per_cell(self) -> GatheringHeld:
        cells = ((a.municipality.kommunenummer, a.role_category) for a in self.attendance)
        require_distinct(cells, "attendance (municipality, role_category) pairs")
        return self
