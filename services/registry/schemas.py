"""The registry's HTTP models: what its network and enrolment commands take and its queries answer.

A command that writes events answers `Accepted` (services/runtime/schemas.py). The rules a request
must meet beyond its shape live in `domain.py` and the contracts, not here.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from livskraft_contracts import ClosureReason, ContactRole, DecisionBody, Fylkesnummer, Kommunenummer, Theme
from pydantic import BaseModel, Field

from services.runtime.inputs import Body, IsoDate, Line
from services.runtime.schemas import Accepted

# -- Requests -------------------------------------------------------------------------------------


class NetworkIn(Body):
    name: Line
    themes: list[Theme] = Field(min_length=2, max_length=6, description="two or more, distinct")
    county: Fylkesnummer | None = None
    region: Line | None = None
    period_start: IsoDate
    period_end: IsoDate
    enrolment_deadline: IsoDate = Field(description="påmeldingsfrist, within the period")
    target_size_min: int = Field(default=5, ge=1, le=50)
    target_size_max: int = Field(default=7, ge=1, le=50, description="at least target_size_min")
    draft: bool = Field(default=False, description="keep it private to staff until opened")


class KommuneIn(Body):
    kommunenummer: Kommunenummer


class EnrolmentIn(KommuneIn):
    late_override: bool = Field(default=False, description="programme staff only: enrol after the deadline")


class CloseIn(Body):
    reason: ClosureReason


class ExternalReference(Body):
    system: str = Field(min_length=1, max_length=100)
    key: str = Field(min_length=1, max_length=200)


class DecisionIn(Body):
    body: DecisionBody
    meeting_date: IsoDate
    case_number: str = Field(pattern=r"^[0-9]{4}/[0-9]{1,6}$", description="year/sequence, e.g. 2010/17")
    decision_date: IsoDate
    final: bool
    summary: str = Field(max_length=2000)
    external_reference: ExternalReference | None = None


class ContactIn(Body):
    """A person named for the municipality's work: personal data, kept in the registry only."""

    role: ContactRole
    name: Line
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{5,20}$")


# -- Answers --------------------------------------------------------------------------------------


class Member(BaseModel):
    kommunenummer: str
    valid_on: date
    status: str
    late_override: bool
    decisions: int
    has_final_decision: bool
    has_main_contact: bool


class NetworkOut(BaseModel):
    id: uuid.UUID
    name: str
    themes: list[str]
    county: str | None
    region: str | None
    period_start: date
    period_end: date
    enrolment_deadline: date
    target_size_min: int
    target_size_max: int
    state: str
    sequence: int
    members_active: int
    members: list[Member] = []


class NetworkOverview(BaseModel):
    """What a coordinator needs to see of one network."""

    id: uuid.UUID
    name: str
    state: str
    enrolment_deadline: date
    days_to_deadline: int
    members_active: int
    below_target: bool
    statuses: dict[str, int]
    missing_decision: list[str]
    missing_main_contact: list[str]


class ContactAccepted(Accepted):
    person_id: uuid.UUID


class ContactOut(BaseModel):
    person_id: uuid.UUID
    role: str
    name: str
    email: str
    phone: str | None
    assigned_at: datetime


class EnrolmentHistory(BaseModel):
    network_id: uuid.UUID
    name: str
    period_start: date
    period_end: date
    status: str
    valid_on: date
    late_override: bool
    updated_at: datetime


class AuditEntry(BaseModel):
    at: datetime
    actor: str | None = Field(description="the token's subject; shown to programme staff only")
    actor_role: str
    action: str
    kommunenummer: str | None
    event_id: uuid.UUID | None


__all__ = [
    "Accepted",
    "AuditEntry",
    "CloseIn",
    "ContactAccepted",
    "ContactIn",
    "ContactOut",
    "DecisionIn",
    "EnrolmentHistory",
    "EnrolmentIn",
    "ExternalReference",
    "KommuneIn",
    "Member",
    "NetworkIn",
    "NetworkOut",
    "NetworkOverview",
]
