"""The registry's rules: networks, enrolment, political decisions and contacts. No I/O here.

Each rule takes the current state and a command and returns the events that record the change,
or raises `Refused` naming the field at fault. The handlers write state and events together.

A network is a draft (private to programme staff, no events) until it is opened; opening it
publishes NetworkCreated. It is open for enrolment until its deadline, active after it, and
closed when staff close it. An enrolment (påmelding) goes invited -> submitted -> confirmed, and
is confirmed only once the municipality has a final political decision and a main contact.

A network's shape (two or more distinct themes, the period in order, the deadline within it, the
target sizes in order) is the contract's rule (`NetworkCreated`): `draft_network` holds a new
network to it, so a draft is always one that can be published.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from livskraft_contracts import (
    ClosureReason,
    ContactAssigned,
    ContactRole,
    DecisionBody,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    Event,
    MunicipalityInvited,
    MunicipalityRef,
    NetworkClosed,
    NetworkCreated,
    Theme,
)
from pydantic import ValidationError

from services.runtime.refusals import Refused as Refused  # domain.Refused: one definition for every service


class NetworkState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"  # open for enrolment, until the deadline
    ACTIVE = "active"  # past the deadline
    CLOSED = "closed"


class EnrolmentStatus(StrEnum):
    INVITED = "invited"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


MEMBER_STATUSES = frozenset({EnrolmentStatus.SUBMITTED, EnrolmentStatus.CONFIRMED})
"""The statuses that count as a member of the network."""


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
    published: bool = False  # NetworkCreated has gone out
    closed: bool = False
    sequence: int = 0

    def state(self, today: date) -> NetworkState:
        if self.closed:
            return NetworkState.CLOSED
        if not self.published:
            return NetworkState.DRAFT
        return NetworkState.OPEN if today <= self.enrolment_deadline else NetworkState.ACTIVE

    def below_target(self, members_active: int) -> bool:
        return members_active < self.target_size_min

    def created_event(self) -> NetworkCreated:
        return NetworkCreated(
            network_id=self.id,
            name=self.name,
            themes=self.themes,
            county=self.county,
            region=self.region,
            period_start=self.period_start,
            period_end=self.period_end,
            enrolment_deadline=self.enrolment_deadline,
            target_size_min=self.target_size_min,
            target_size_max=self.target_size_max,
        )


@dataclass
class Enrolment:
    """A municipality's enrolment (påmelding) in a network, and what it has in place."""

    network_id: uuid.UUID
    municipality: MunicipalityRef
    status: EnrolmentStatus
    late_override: bool = False
    has_final_decision: bool = False
    roles: set[ContactRole] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return self.status in MEMBER_STATUSES


def draft_network(
    network_id: uuid.UUID,
    *,
    name: str,
    themes: list[Theme],
    county: str | None,
    region: str | None,
    period_start: date,
    period_end: date,
    enrolment_deadline: date,
    target_size_min: int,
    target_size_max: int,
) -> Network:
    """A new network, private to programme staff until it is opened. Refused, naming the field,
    unless it is a network the contract (`NetworkCreated`) accepts."""
    network = Network(
        id=network_id,
        name=name,
        themes=themes,
        county=county,
        region=region,
        period_start=period_start,
        period_end=period_end,
        enrolment_deadline=enrolment_deadline,
        target_size_min=target_size_min,
        target_size_max=target_size_max,
    )
    try:
        network.created_event()
    except ValidationError as exc:
        raise _refusal(exc) from None
    return network


def _refusal(exc: ValidationError) -> Refused:
    """The contract's first objection, naming its field. A network-level check has no location;
    its message begins with the field it is about ("period_end is before period_start")."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["loc"]:
        return Refused(".".join(str(part) for part in error["loc"]), message)
    first, _, rest = message.partition(" ")
    if first in NetworkCreated.model_fields and rest:
        return Refused(first, rest)
    return Refused("body", message)


def open_network(network: Network, today: date) -> list[Event]:
    """Publish a draft: it opens for enrolment (NetworkCreated)."""
    if network.published:
        raise Refused("network_id", "the network is already open", 409)
    if network.enrolment_deadline < today:
        raise Refused("enrolment_deadline", f"has passed (today is {today.isoformat()})", 409)
    return [network.created_event()]


def close_network(network: Network, reason: ClosureReason) -> list[Event]:
    if network.closed:
        raise Refused("network_id", "the network is already closed", 409)
    if not network.published:
        raise Refused("network_id", "a draft is not closed; it was never published", 409)
    return [NetworkClosed(network_id=network.id, reason=reason)]


def _require_running(network: Network, today: date) -> None:
    state = network.state(today)
    if state is NetworkState.CLOSED:
        raise Refused("network_id", "the network is closed", 409)
    if state is NetworkState.DRAFT:
        raise Refused("network_id", "the network is a draft: open it first", 409)


def invite(
    network: Network, current: Enrolment | None, municipality: MunicipalityRef, today: date
) -> list[Event]:
    _require_running(network, today)
    if current and current.status is not EnrolmentStatus.WITHDRAWN:
        raise Refused("kommunenummer", f"the municipality is already {current.status}", 409)
    return [MunicipalityInvited(network_id=network.id, municipality=municipality)]


def enrol(
    network: Network,
    current: Enrolment | None,
    municipality: MunicipalityRef,
    today: date,
    *,
    override: bool = False,
) -> list[Event]:
    """Submit an enrolment. After the deadline only programme staff may, and it is recorded."""
    _require_running(network, today)
    if current and current.active:
        raise Refused("kommunenummer", "the municipality is already enrolled", 409)
    late = today > network.enrolment_deadline
    if late and not override:
        raise Refused(
            "kommunenummer",
            f"enrolment closed on {network.enrolment_deadline.isoformat()}; "
            "programme staff may enrol late with late_override",
            409,
        )
    return [EnrolmentSubmitted(network_id=network.id, municipality=municipality, late_override=late)]


def withdraw(network: Network, current: Enrolment | None) -> list[Event]:
    """Leave the network; the enrolment, its decisions and contacts stay in the history."""
    if network.closed:
        raise Refused("network_id", "the network is closed", 409)
    if current is None or not current.active:
        raise Refused("kommunenummer", "the municipality has no enrolment to withdraw", 409)
    return [EnrolmentWithdrawn(network_id=network.id, municipality=current.municipality)]


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
    _require_running(network, today)
    if enrolment is None or not enrolment.active:
        raise Refused("kommunenummer", "the municipality has no enrolment in this network", 409)
    if decision.decision_date > today:
        raise Refused("decision_date", f"is in the future (today is {today.isoformat()})")
    if decision.meeting_date > decision.decision_date:
        raise Refused("meeting_date", "is after the decision date")
    recorded = DecisionRecorded(
        network_id=network.id,
        municipality=enrolment.municipality,
        decision_id=uuid.uuid4(),
        body=decision.body,
        meeting_date=decision.meeting_date,
        case_number=decision.case_number,
        decision_date=decision.decision_date,
        final=decision.final,
        summary=decision.summary,
        external_system=decision.external_system,
        external_key=decision.external_key,
    )
    enrolment.has_final_decision = enrolment.has_final_decision or decision.final
    return [recorded, *_confirm_if_complete(network, enrolment)]


def assign_contact(
    network: Network, enrolment: Enrolment | None, person_id: uuid.UUID, role: ContactRole, today: date
) -> list[Event]:
    """Name a person to a role (main contact, steering group, project group). The event carries
    the person's opaque id only."""
    _require_running(network, today)
    if enrolment is None or not enrolment.active:
        raise Refused("kommunenummer", "the municipality has no enrolment in this network", 409)
    assigned = ContactAssigned(
        network_id=network.id, municipality=enrolment.municipality, person_id=person_id, role=role
    )
    enrolment.roles.add(role)
    return [assigned, *_confirm_if_complete(network, enrolment)]


def _confirm_if_complete(network: Network, enrolment: Enrolment) -> list[Event]:
    complete = enrolment.has_final_decision and ContactRole.MAIN_CONTACT in enrolment.roles
    if enrolment.status is EnrolmentStatus.SUBMITTED and complete:
        enrolment.status = EnrolmentStatus.CONFIRMED
        return [EnrolmentConfirmed(network_id=network.id, municipality=enrolment.municipality)]
    return []


@dataclass(frozen=True)
class MemberStanding:
    """A municipality's place in a network, as the coordinator sees it."""

    kommunenummer: str
    valid_on: date
    status: EnrolmentStatus
    late_override: bool
    decisions: int
    has_final_decision: bool
    has_main_contact: bool


@dataclass(frozen=True)
class Overview:
    """What a coordinator needs to see of one network on a day."""

    state: NetworkState
    days_to_deadline: int
    members_active: int
    below_target: bool
    statuses: dict[str, int]
    missing_decision: list[str]
    missing_main_contact: list[str]


def overview(network: Network, members: Sequence[MemberStanding], today: date) -> Overview:
    """Enrolment states, which members lack a final decision or a main contact, the days left to
    the deadline (negative after it), and whether the network is below its target size."""
    active = [m for m in members if m.status in MEMBER_STATUSES]
    return Overview(
        state=network.state(today),
        days_to_deadline=(network.enrolment_deadline - today).days,
        members_active=len(active),
        below_target=network.below_target(len(active)),
        statuses=dict(Counter(str(m.status) for m in members)),
        missing_decision=[m.kommunenummer for m in active if not m.has_final_decision],
        missing_main_contact=[m.kommunenummer for m in active if not m.has_main_contact],
    )


STATUS_AFTER: dict[type[Event], EnrolmentStatus] = {
    MunicipalityInvited: EnrolmentStatus.INVITED,
    EnrolmentSubmitted: EnrolmentStatus.SUBMITTED,
    EnrolmentConfirmed: EnrolmentStatus.CONFIRMED,
    EnrolmentWithdrawn: EnrolmentStatus.WITHDRAWN,
}
"""The enrolment status each event leaves behind."""
