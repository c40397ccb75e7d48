"""The gatherings service's HTTP models: what its commands take and its queries answer.

Times of day are local to Europe/Oslo, written HH:MM (or HH:MM:SS), without an offset. The rules
a request must meet beyond its shape live in `domain.py`.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from livskraft_contracts import Kommunenummer, RoleCategory, Theme
from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    PlainSerializer,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)

from services.runtime.inputs import Body, IsoDate, Line
from services.runtime.schemas import Accepted

_ISO_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?")


def _iso_time(value: Any) -> Any:
    if isinstance(value, time) or (isinstance(value, str) and _ISO_TIME.fullmatch(value)):
        return value
    raise ValueError("must be a time of day written HH:MM, local to Europe/Oslo")


IsoTime = Annotated[
    time,
    BeforeValidator(_iso_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{_ISO_TIME.pattern}$",
            "description": "a time of day in Europe/Oslo, HH:MM",
            "examples": ["10:00"],
        },
        mode="validation",
    ),
]
LocalTime = Annotated[
    time,
    PlainSerializer(lambda t: t.isoformat("minutes"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
            "description": "a time of day in Europe/Oslo, HH:MM",
        }
    ),
]
"""A time of day in answers: local to Europe/Oslo, written HH:MM (not an RFC 3339 time, which
would need an offset that changes with summer time)."""
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=2000)]


# -- Requests -------------------------------------------------------------------------------------


class PlanIn(Body):
    starts_on: IsoDate = Field(description="the (first) day, within the network's period, not in the past")
    start_time: IsoTime
    ends_on: IsoDate | None = Field(default=None, description="the last day of a gathering of several days")
    end_time: IsoTime = Field(description="on the last day")
    place: Line
    host: Kommunenummer = Field(description="the host municipality (vertskommune), a member of the network")
    capacity: int = Field(ge=1, le=10_000, description="how many participants may be registered")
    registration_deadline: IsoDate = Field(description="the last day to register; on or before starts_on")


class RescheduleIn(PlanIn):
    """The whole new plan, and why it moved."""

    reason: Reason


class CancelIn(Body):
    reason: Reason


class ResourceIn(Body):
    """A resource environment (ressursmiljø): an institution by name and kind, never a person."""

    name: Line
    kind: Literal["university", "county", "county-governor", "research-institute", "other"]


class _ItemIn(Body):
    day: IsoDate | None = Field(
        default=None, description="for a gathering of several days; default the first"
    )
    starts_at: IsoTime
    ends_at: IsoTime | None = None
    title: Line


class CaseItemIn(_ItemIn):
    """A member municipality presents its own case (kommunens eget case)."""

    kind: Literal["case"]
    kommunenummer: Kommunenummer
    theme: Theme = Field(description="one of the network's themes")
    summary: LongText = ""


class TalkItemIn(_ItemIn):
    """A talk by an invited resource environment."""

    kind: Literal["talk"]
    resource: ResourceIn
    summary: LongText = ""


class SessionItemIn(_ItemIn):
    """Anything else: welcome, experience sharing, lunch, a visit."""

    kind: Literal["session"]
    summary: LongText = ""


def _kind(value: Any) -> Any:
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


AgendaItemIn = Annotated[
    Annotated[CaseItemIn, Tag("case")]
    | Annotated[TalkItemIn, Tag("talk")]
    | Annotated[SessionItemIn, Tag("session")],
    Discriminator(_kind, custom_error_type="kind", custom_error_message="kind must be case, talk or session"),
]


class AgendaIn(Body):
    items: list[AgendaItemIn] = Field(max_length=60, description="in order of time")


class ParticipantsIn(Body):
    role_category: RoleCategory = Field(description="resource: by the planners only")
    count: int = Field(ge=1, le=500)
    names: list[Line] = Field(
        default=[], max_length=500, description="optional; personal data, kept in this service only"
    )

    @model_validator(mode="after")
    def _names_fit(self) -> ParticipantsIn:
        if len(self.names) > self.count:
            raise ValueError("names: more names than count")
        return self


class RegistrationIn(Body):
    kommunenummer: Kommunenummer = Field(description="a member municipality; a contact registers its own")
    participants: list[ParticipantsIn] = Field(
        min_length=1, max_length=4, description="one per role category"
    )


class AttendanceIn(Body):
    kommunenummer: Kommunenummer
    role_category: RoleCategory
    count: int = Field(ge=0, le=10_000)


class CaseIn(Body):
    kommunenummer: Kommunenummer
    title: Line


class GoodExampleIn(Body):
    title: Line
    text: LongText = ""
    kommunenummer: Kommunenummer | None = None


class ExperienceIn(Body):
    """Experience sharing (erfaringsdeling): notes and good examples; kept here, never on a topic."""

    notes: Annotated[str, StringConstraints(max_length=10_000)] = ""
    good_examples: list[GoodExampleIn] = Field(default=[], max_length=50)


class HeldIn(Body):
    attendance: list[AttendanceIn] = Field(
        min_length=1, max_length=500, description="per municipality and role category, counts only"
    )
    cases_presented: list[CaseIn] = Field(default=[], max_length=100)
    experience_sharing: ExperienceIn = Field(default_factory=ExperienceIn)


class FeedIn(Body):
    """A calendar feed for one network's gatherings, or for one municipality's: give one of the two."""

    network_id: uuid.UUID | None = None
    kommunenummer: Kommunenummer | None = None


# -- Answers --------------------------------------------------------------------------------------


class GatheringAccepted(Accepted):
    gathering_id: uuid.UUID
    network_id: uuid.UUID


class RegistrationAccepted(Accepted):
    person_ids: list[uuid.UUID] = Field(description="the participants' opaque ids, in the order registered")


class AgendaAccepted(Accepted):
    revision: int


class MemberOut(BaseModel):
    kommunenummer: str
    valid_on: date
    status: str


class NetworkOut(BaseModel):
    """A network as this service knows it from the registry's events."""

    id: uuid.UUID
    name: str
    themes: list[str]
    period_start: date
    period_end: date
    closed_reason: str | None
    members: list[MemberOut]


class GatheringSummary(BaseModel):
    id: uuid.UUID
    network_id: uuid.UUID
    network_name: str
    starts_on: date
    start_time: LocalTime
    ends_on: date | None
    end_time: LocalTime
    starts_at: datetime = Field(description="with the Europe/Oslo offset of that day")
    ends_at: datetime
    place: str
    host: str
    capacity: int
    registration_deadline: date
    status: str
    cancel_reason: str | None
    registered: int
    revision: int = Field(description="raised on every change a calendar shows (iCalendar SEQUENCE)")


class NetworkGatherings(BaseModel):
    network_id: uuid.UUID
    planned: list[GatheringSummary]
    past: list[GatheringSummary]


class AgendaItemOut(BaseModel):
    kind: str
    day: date
    starts_at: LocalTime
    ends_at: LocalTime | None
    title: str
    kommunenummer: str | None
    theme: str | None
    summary: str | None
    resource_name: str | None
    resource_kind: str | None


class CountOut(BaseModel):
    kommunenummer: str
    role_category: str
    count: int


class CaseOut(BaseModel):
    kommunenummer: str
    title: str


class ExperienceOut(BaseModel):
    notes: str
    good_examples: list[dict[str, Any]]


class ChangeOut(BaseModel):
    at: datetime
    action: str
    reason: str | None


class GatheringOut(GatheringSummary):
    agenda: list[AgendaItemOut]
    registrations: list[CountOut] = Field(description="participants registered, per municipality and role")
    attendance: list[CountOut]
    cases_presented: list[CaseOut]
    experience_sharing: ExperienceOut | None
    changes: list[ChangeOut]


class ParticipantOut(BaseModel):
    person_id: uuid.UUID
    kommunenummer: str
    role_category: str
    name: str | None
    registered_at: datetime


class FeedIssued(BaseModel):
    feed_id: uuid.UUID
    network_id: uuid.UUID | None
    kommunenummer: str | None
    secret: str = Field(description="shown once; only its hash is kept")
    url: str = Field(description="the feed's secret address, for a calendar program")


class FeedOut(BaseModel):
    feed_id: uuid.UUID
    network_id: uuid.UUID | None
    kommunenummer: str | None
    issued_to: str
    issued_role: str
    issued_at: datetime
    revoked_at: datetime | None
