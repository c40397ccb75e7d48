"""Events published by the registry service."""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from .common import DecisionBody, Fylkesnummer, MunicipalityRef, Theme
from .envelope import Event


class RegistryEvent(Event):
    service: ClassVar[str] = "registry"


class NetworkCreated(RegistryEvent):
    """A network (kommunenettverk) was created."""

    key_field: ClassVar[str] = "network_id"

    network_id: UUID
    name: str = Field(min_length=1, max_length=200)
    themes: list[Theme] = Field(min_length=2)
    county: Fylkesnummer | None = None
    region: str | None = Field(default=None, max_length=200)
    period_start: date
    period_end: date
    enrolment_deadline: date
    target_size_min: int = Field(default=5, ge=1)
    target_size_max: int = Field(default=7, ge=1)

    @field_validator("themes")
    @classmethod
    def _distinct(cls, themes: list[Theme]) -> list[Theme]:
        if len(set(themes)) != len(themes):
            raise ValueError("themes must be distinct")
        return themes

    @model_validator(mode="after")
    def _dates_and_sizes(self) -> NetworkCreated:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.target_size_max < self.target_size_min:
            raise ValueError("target_size_max is below target_size_min")
        return self


class EnrolmentSubmitted(RegistryEvent):
    """A municipality applied to join a network (påmelding)."""

    key_field: ClassVar[str] = "network_id"

    network_id: UUID
    municipality: MunicipalityRef
    status: str = "submitted"
    late_override: bool = False


class DecisionRecorded(RegistryEvent):
    """A municipality's political decision (politisk vedtak) to take part was recorded."""

    key_field: ClassVar[str] = "network_id"

    network_id: UUID
    municipality: MunicipalityRef
    decision_id: UUID
    body: DecisionBody
    meeting_date: date
    case_number: str = Field(pattern=r"^[0-9]{4}/[0-9]{1,6}$", description="year/sequence, e.g. 2010/17")
    decision_date: date
    final: bool
    summary: str = Field(max_length=2000)
    external_system: str | None = Field(default=None, max_length=100)
    external_key: str | None = Field(default=None, max_length=200)
