"""Events published by the registry service: municipalities, networks, enrolment and decisions.

Events about a network key on `network_id`; events about a municipality itself key on its
`kommunenummer`. Every other mention of a municipality is a `MunicipalityRef` (code + date).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from .common import (
    DecisionBody,
    Fylkesnummer,
    Kommunenummer,
    MunicipalityRef,
    Organisasjonsnummer,
    Text,
    Theme,
    require_distinct,
    require_order,
)
from .envelope import Event


class RegistryEvent(Event):
    service: ClassVar[str] = "registry"


# -- municipalities (kommuner) ---------------------------------------------------------------------


class MunicipalityFacts(RegistryEvent):
    """A municipality (kommune) as SSB KLASS 131 lists it for one period of its code.

    `valid_from` is inclusive and `valid_to` exclusive, as in KLASS. A `MunicipalityRef` points
    here when its `valid_on` falls in [valid_from, valid_to).
    """

    key_field: ClassVar[str] = "kommunenummer"

    kommunenummer: Kommunenummer
    name: Text = Field(description="the municipality's name, e.g. 'Snåase - Snåsa'")
    county: Fylkesnummer = Field(description="fylkesnummer: the first two digits of the code")
    organisation_number: Organisasjonsnummer | None = None
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive; null while in use")
    predecessors: list[MunicipalityRef] = Field(
        default_factory=list, description="the codes this one replaced, each on a date it was valid"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MunicipalityFacts:
        if self.kommunenummer[:2] != self.county:
            raise ValueError(f"kommunenummer {self.kommunenummer} is not in county {self.county}")
        require_order(self.valid_from, self.valid_to, "valid_to must be after valid_from", strict=True)
        require_distinct(self.predecessors, "predecessors")
        if any(p.valid_on >= self.valid_from for p in self.predecessors):
            raise ValueError("a predecessor must be valid on a date before valid_from")
        return self

    @property
    def ref(self) -> MunicipalityRef:
        return MunicipalityRef(kommunenummer=self.kommunenummer, valid_on=self.valid_from)


class MunicipalityRegistered(MunicipalityFacts):
    """A municipality code came into use, or was first loaded from SSB KLASS 131."""


class MunicipalityChanged(MunicipalityFacts):
    """A municipality's facts changed (name, valid_to, ...). Carries the whole new state."""


# -- networks (kommunenettverk) --------------------------------------------------------------------


class NetworkEvent(RegistryEvent):
    key_field: ClassVar[str] = "network_id"

    network_id: UUID


class NetworkCreated(NetworkEvent):
    """A network (kommunenettverk) was created."""

    name: str = Field(min_length=1, max_length=200)
    themes: list[Theme] = Field(min_length=2)
    county: Fylkesnummer | None = None
    region: str | None = Field(default=None, max_length=200)
    period_start: date
    period_end: date
    enrolment_deadline: date = Field(description="påmeldingsfrist, on or before period_end")
    target_size_min: int = Field(default=5, ge=1)
    target_size_max: int = Field(default=7, ge=1)

    @field_validator("themes")
    @classmethod
    def _distinct(cls, themes: list[Theme]) -> list[Theme]:
        require_distinct(themes, "themes")
        return themes

    @model_validator(mode="after")
    def _dates_and_sizes(self) -> NetworkCreated:
        require_order(self.period_start, self.period_end, "period_end is before period_start")
        require_order(self.enrolment_deadline, self.period_end, "enrolment_deadline is after period_end")
        if self.target_size_max < self.target_size_min:
            raise ValueError("target_size_max is below target_size_min")
        return self


class MunicipalityInvited(NetworkEvent):
    """A municipality was invited (invitert) to join the network."""

    municipality: MunicipalityRef


class EnrolmentSubmitted(NetworkEvent):
    """A municipality applied to join a network (påmelding)."""

    municipality: MunicipalityRef
    status: Literal["submitted"] = "submitted"
    late_override: bool = False


class EnrolmentConfirmed(NetworkEvent):
    """Programme staff confirmed the enrolment (godkjent påmelding)."""

    municipality: MunicipalityRef
    status: Literal["confirmed"] = "confirmed"


class EnrolmentWithdrawn(NetworkEvent):
    """The municipality left the network or withdrew its application (trukket)."""

    municipality: MunicipalityRef
    status: Literal["withdrawn"] = "withdrawn"


class DecisionRecorded(NetworkEvent):
    """A municipality's political decision (politisk vedtak) to take part was recorded."""

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

    @model_validator(mode="after")
    def _dates(self) -> DecisionRecorded:
        require_order(self.meeting_date, self.decision_date, "meeting_date is after decision_date")
        return self


class ContactRole(StrEnum):
    """The roles a municipality names people to for its network work."""

    MAIN_CONTACT = "main-contact"  # hovedkontaktperson
    STEERING_GROUP = "steering-group"  # styringsgruppe
    PROJECT_GROUP = "project-group"  # prosjektgruppe


class ContactAssigned(NetworkEvent):
    """A person was given a role for a municipality in the network.

    The person travels only as an opaque id: names, e-mail and phone stay in the registry.
    """

    municipality: MunicipalityRef
    person_id: UUID = Field(description="opaque id; resolve it only through the registry API")
    role: ContactRole


class ClosureReason(StrEnum):
    COMPLETED = "completed"  # the period is over
    TOO_FEW_MEMBERS = "too-few-members"
    CANCELLED = "cancelled"


class NetworkClosed(NetworkEvent):
    """The network was closed (avsluttet)."""

    reason: ClosureReason
