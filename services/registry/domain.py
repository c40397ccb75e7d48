"""The registry's rules: networks, enrolment and political decisions. No I/O here.

Each rule takes the current state and a command, and returns the events that record the change
(or raises `Refused` naming the field at fault). The store writes state and events together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from livskraft_contracts import (
    DecisionBody,
    DecisionRecorded,
    EnrolmentSubmitted,
    Event,
    MunicipalityRef,
    NetworkCreated,
    Theme,
)


class Refused(Exception):
    """A command the rules refuse. `status` 422: the input is wrong; 409: the state forbids it."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


class NetworkState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"  # open for enrolment
    ACTIVE = "active"
    CLOSED = "closed"


class EnrolmentStatus(StrEnum):
    INVITED = "invited"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


@dataclass
class Network:
    """A municipality network (kommunenettverk): 5-7 municipalities, two or more themes."""

    id: uuid.UUID
    name: str
    themes: list[Theme]
    county: str | None
    region: str | None
    period_start: date
    period_end: date
    enrolment_deadline: date
    target_size_min: int = 5
    target_size_max: int = 7
    state: NetworkState = NetworkState.OPEN
    sequence: int = 0


@dataclass
class Enrolment:
    """A municipality's enrolment (påmelding) in a network."""

    network_id: uuid.UUID
    municipality: MunicipalityRef
    status: EnrolmentStatus
    late_override: bool = False
    decision_ids: list[uuid.UUID] = field(default_factory=list)


def create_network(event: NetworkCreated) -> Network:
    """A network opens for enrolment when created. The event model holds the field rules."""
    return Network(
        id=event.network_id, name=event.name, themes=list(event.themes), county=event.county,
        region=event.region, period_start=event.period_start, period_end=event.period_end,
        enrolment_deadline=event.enrolment_deadline, target_size_min=event.target_size_min,
        target_size_max=event.target_size_max,
    )


def enrol(
    network: Network,
    current: Enrolment | None,
    municipality: MunicipalityRef,
    today: date,
    *,
    override: bool = False,
) -> list[Event]:
    """Submit an enrolment. After the deadline only programme staff may, and it is recorded."""
    if network.state is NetworkState.CLOSED:
        raise Refused("network_id", "the network is closed", 409)
    if current and current.status in (EnrolmentStatus.SUBMITTED, EnrolmentStatus.CONFIRMED):
        raise Refused("kommunenummer", "the municipality is already enrolled", 409)
    late = today > network.enrolment_deadline
    if late and not override:
        raise Refused(
            "kommunenummer",
            f"enrolment closed on {network.enrolment_deadline.isoformat()}; "
            "programme staff may enrol late with late_override",
            409,
        )
    return [EnrolmentSubmitted(
        network_id=network.id, municipality=municipality, late_override=late and override
    )]


@dataclass(frozen=True)
class Decision:
    """A political decision (politisk vedtak), as the municipality records it."""

    body: DecisionBody
    meeting_date: date
    case_number: str
    decision_date: date
    final: bool
    summary: str
    external_system: str | None = None
    external_key: str | None = None


def record_decision(
    network: Network, enrolment: Enrolment | None, decision: Decision, today: date
) -> list[Event]:
    """Record the decision to take part; it must be dated on or before the day it is recorded."""
    if enrolment is None or enrolment.status in (EnrolmentStatus.INVITED, EnrolmentStatus.WITHDRAWN):
        raise Refused("kommunenummer", "the municipality has no enrolment in this network", 409)
    if decision.decision_date > today:
        raise Refused("decision_date", f"is in the future (today is {today.isoformat()})")
    if decision.meeting_date > decision.decision_date:
        raise Refused("meeting_date", "is after the decision date")
    return [DecisionRecorded(
        network_id=network.id, municipality=enrolment.municipality, decision_id=uuid.uuid4(),
        body=decision.body, meeting_date=decision.meeting_date,
        case_number=decision.case_number, decision_date=decision.decision_date,
        final=decision.final, summary=decision.summary,
        external_system=decision.external_system, external_key=decision.external_key,
    )]
