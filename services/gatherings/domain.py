"""The gatherings' rules: planning, agenda, registration and the record of a gathering held.
No I/O here.

A gathering (nettverkssamling) belongs to one network. It is planned (scheduled, perhaps moved),
then either held or cancelled. Each rule takes the current state and a command and returns the
events that record the change (updating the state it was given), or raises `Refused` naming the
field at fault: 422 when the input is wrong, 409 when the state forbids the command.

What the service knows of networks and their members it learns from the registry's events; a
member is a municipality whose enrolment is submitted or confirmed. A closed network's gatherings
can no longer be scheduled, moved, given an agenda or registered for; one already planned can
still be cancelled, or recorded as held once its day has come.

Times are local to Europe/Oslo, as people plan them ("10:00 in Steinkjer"). A local time that
does not exist (the hour skipped when summer time begins) is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from livskraft_contracts import (
    Attendance,
    CasePresented,
    Event,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    MunicipalityRef,
    ParticipantRegistered,
    RoleCategory,
    Theme,
)

from services.runtime.refusals import Refused as Refused  # domain.Refused: one definition for every service

OSLO = ZoneInfo("Europe/Oslo")
LONGEST = timedelta(days=14)
"""A gathering lasts at most this long (most last a day, some two or three)."""
MUNICIPALITY_CATEGORIES = frozenset(
    {RoleCategory.POLITICIAN, RoleCategory.MANAGEMENT, RoleCategory.DEPARTMENT}
)
"""What a municipality's contact registers; resources (RoleCategory.RESOURCE) are the planners'."""


class Status(StrEnum):
    PLANNED = "planned"
    CANCELLED = "cancelled"
    HELD = "held"


@dataclass
class Network:
    """A network as the registry's events describe it, with its members now."""

    id: uuid.UUID
    name: str
    themes: list[Theme]
    period_start: date
    period_end: date
    closed: bool = False
    members: dict[str, MunicipalityRef] = field(default_factory=dict)
    """Active members (enrolment submitted or confirmed), by kommunenummer."""


def local(day: date, at: time) -> datetime:
    """`day` at `at` in Europe/Oslo. Refused if that local time does not exist."""
    moment = datetime.combine(day, at, tzinfo=OSLO)
    if moment.astimezone(UTC).astimezone(OSLO).replace(tzinfo=None) != moment.replace(tzinfo=None):
        raise ValueError(f"{at.isoformat('minutes')} does not exist in Europe/Oslo on {day.isoformat()}")
    return moment


@dataclass(frozen=True)
class Plan:
    """When and where: days, local start and end times, place, host, capacity, and the last day
    participants may be registered."""

    starts_on: date
    start_time: time
    ends_on: date | None
    end_time: time
    place: str
    host: str
    capacity: int
    registration_deadline: date

    @property
    def last_day(self) -> date:
        return self.ends_on or self.starts_on

    @property
    def starts_at(self) -> datetime:
        return local(self.starts_on, self.start_time)

    @property
    def ends_at(self) -> datetime:
        return local(self.last_day, self.end_time)


@dataclass
class Gathering:
    id: uuid.UUID
    network_id: uuid.UUID
    plan: Plan
    host: MunicipalityRef
    status: Status = Status.PLANNED
    revision: int = 0
    """Raised on every change a calendar shows (iCalendar SEQUENCE)."""
    sequence: int = 0
    """The number of events about this gathering so far (CloudEvents `sequence`)."""
    cancel_reason: str | None = None
    registered: dict[tuple[str, RoleCategory], int] = field(default_factory=dict)
    """Participants registered, per municipality and role category."""
    registered_refs: dict[str, MunicipalityRef] = field(default_factory=dict)

    @property
    def registered_total(self) -> int:
        return sum(self.registered.values())

    def plan_event(self, kind: type[GatheringScheduled | GatheringRescheduled | GatheringCancelled]) -> Event:
        return kind(
            gathering_id=self.id,
            network_id=self.network_id,
            starts_on=self.plan.starts_on,
            ends_on=self.plan.ends_on,
            place=self.plan.place,
            host=self.host,
        )


def is_past(status: str, starts_on: date, ends_on: date | None, today: date) -> bool:
    """A gathering is past once held, or once its last day is before today."""
    return status == Status.HELD or (ends_on or starts_on) < today


# -- Planning -------------------------------------------------------------------------------------


def _require_open(network: Network) -> None:
    if network.closed:
        raise Refused("network_id", "the network is closed", 409)


def _require_planned(gathering: Gathering) -> None:
    if gathering.status is not Status.PLANNED:
        raise Refused("gathering_id", f"the gathering is {gathering.status}", 409)


def _check_plan(network: Network, plan: Plan, today: date, *, deadline_may_be_past: bool) -> MunicipalityRef:
    """The rules every plan meets; the host's reference as the registry knows it."""
    if plan.starts_on < today:
        raise Refused("starts_on", f"is in the past (today is {today.isoformat()})")
    if not network.period_start <= plan.starts_on <= network.period_end:
        raise Refused(
            "starts_on",
            f"is outside the network's period {network.period_start.isoformat()} to "
            f"{network.period_end.isoformat()}",
        )
    if plan.ends_on is not None:
        if plan.ends_on < plan.starts_on:
            raise Refused("ends_on", "is before starts_on")
        if plan.ends_on > network.period_end:
            raise Refused("ends_on", f"is after the network's period ends ({network.period_end.isoformat()})")
        if plan.ends_on - plan.starts_on > LONGEST:
            raise Refused("ends_on", f"a gathering lasts at most {LONGEST.days} days")
    try:
        starts_at = plan.starts_at
    except ValueError as exc:
        raise Refused("start_time", str(exc)) from None
    try:
        ends_at = plan.ends_at
    except ValueError as exc:
        raise Refused("end_time", str(exc)) from None
    if ends_at <= starts_at:
        raise Refused("end_time", "is not after the start")
    if plan.registration_deadline > plan.starts_on:
        raise Refused("registration_deadline", "is after the gathering starts")
    if plan.registration_deadline < today and not deadline_may_be_past:
        raise Refused("registration_deadline", f"is in the past (today is {today.isoformat()})")
    host = network.members.get(plan.host)
    if host is None:
        raise Refused("host", f"{plan.host} is not a member of the network")
    return host


def schedule(
    network: Network, gathering_id: uuid.UUID, plan: Plan, today: date
) -> tuple[Gathering, list[Event]]:
    """Plan a gathering for a network that is not closed, hosted by one of its members."""
    _require_open(network)
    host = _check_plan(network, plan, today, deadline_may_be_past=False)
    gathering = Gathering(id=gathering_id, network_id=network.id, plan=plan, host=host)
    return gathering, [gathering.plan_event(GatheringScheduled)]


def reschedule(network: Network, gathering: Gathering, plan: Plan, today: date) -> list[Event]:
    """Move a planned gathering: new days, times, place, host, capacity or deadline. A deadline
    that has passed may stay as it was; a new one may not be in the past."""
    _require_planned(gathering)
    _require_open(network)
    unchanged_deadline = plan.registration_deadline == gathering.plan.registration_deadline
    host = _check_plan(network, plan, today, deadline_may_be_past=unchanged_deadline)
    if plan == gathering.plan:
        raise Refused("starts_on", "the plan is unchanged: nothing to reschedule", 409)
    if plan.capacity < gathering.registered_total:
        raise Refused("capacity", f"{gathering.registered_total} participants are registered already", 409)
    gathering.plan, gathering.host = plan, host
    gathering.revision += 1
    return [gathering.plan_event(GatheringRescheduled)]


def cancel(gathering: Gathering, reason: str) -> list[Event]:
    """Cancel a planned gathering; the event carries the plan it had."""
    _require_planned(gathering)
    gathering.status, gathering.cancel_reason = Status.CANCELLED, reason
    gathering.revision += 1
    return [gathering.plan_event(GatheringCancelled)]


# -- Agenda ---------------------------------------------------------------------------------------


class ItemKind(StrEnum):
    CASE = "case"  # a member municipality's own case (kommunens eget case)
    TALK = "talk"  # a talk by an invited resource environment (ressursmiljø)
    SESSION = "session"  # anything else: welcome, experience sharing, lunch


@dataclass(frozen=True)
class AgendaItem:
    kind: ItemKind
    day: date
    starts_at: time
    ends_at: time | None
    title: str
    kommunenummer: str | None = None  # a case's municipality
    theme: Theme | None = None  # a case's theme, one of the network's
    summary: str | None = None
    resource_name: str | None = None  # a talk's resource environment: a name and a kind,
    resource_kind: str | None = None  # never a person


def set_agenda(network: Network, gathering: Gathering, items: Sequence[AgendaItem]) -> None:
    """Give a planned gathering its agenda: items in order, within the gathering's time, each
    case from a member on one of the network's themes. The agenda is the service's own record (no
    event carries it); calendars see it, with a raised SEQUENCE."""
    _require_planned(gathering)
    _require_open(network)
    plan = gathering.plan
    start, end = plan.starts_at, plan.ends_at
    previous: datetime | None = None
    for i, item in enumerate(items):
        where = f"items.{i}"
        if not plan.starts_on <= item.day <= plan.last_day:
            raise Refused(f"{where}.day", "is not a day of the gathering")
        try:
            begins = local(item.day, item.starts_at)
            ends = local(item.day, item.ends_at) if item.ends_at else begins
        except ValueError as exc:
            raise Refused(f"{where}.starts_at", str(exc)) from None
        if not start <= begins <= end:
            raise Refused(f"{where}.starts_at", "is outside the gathering's time")
        if ends < begins:
            raise Refused(f"{where}.ends_at", "is before starts_at")
        if ends > end:
            raise Refused(f"{where}.ends_at", "is after the gathering ends")
        if previous is not None and begins < previous:
            raise Refused(f"{where}.starts_at", "is before the item above: give the items in order")
        previous = begins
        if item.kind is ItemKind.CASE:
            if item.kommunenummer not in network.members:
                raise Refused(
                    f"{where}.kommunenummer", f"{item.kommunenummer} is not a member of the network"
                )
            if item.theme not in network.themes:
                raise Refused(f"{where}.theme", "is not one of the network's themes")
    gathering.revision += 1


# -- Registration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """Some participants of one role category from one municipality; names are optional."""

    role_category: RoleCategory
    count: int
    names: tuple[str, ...] = ()


def register(
    network: Network,
    gathering: Gathering,
    kommunenummer: str,
    lines: Sequence[Registration],
    today: date,
    *,
    planner: bool,
) -> list[tuple[uuid.UUID, Registration, str | None]]:
    """Register a member municipality's participants, within the capacity and on or before the
    registration deadline, one line per role category; resource environments only by the planners
    (`planner`). Returns one (person id, line, name or None) per participant; the
    ParticipantRegistered events come from `participant_events`."""
    seen: set[RoleCategory] = set()
    for i, line in enumerate(lines):
        field = f"participants.{i}.role_category"
        if not planner and line.role_category not in MUNICIPALITY_CATEGORIES:
            raise Refused(field, "resource environments are registered by the planners", 403)
        if line.role_category in seen:
            raise Refused(field, "occurs twice; give one line per category")
        seen.add(line.role_category)
    _require_planned(gathering)
    _require_open(network)
    if today > gathering.plan.registration_deadline:
        raise Refused(
            "registration_deadline",
            f"registration closed on {gathering.plan.registration_deadline.isoformat()}",
            409,
        )
    municipality = network.members.get(kommunenummer)
    if municipality is None:
        raise Refused("kommunenummer", f"{kommunenummer} is not a member of the network", 409)
    wanted = sum(line.count for line in lines)
    left = gathering.plan.capacity - gathering.registered_total
    if wanted > left:
        raise Refused(
            "participants", f"{wanted} asked for, {left} of {gathering.plan.capacity} places left", 409
        )
    people: list[tuple[uuid.UUID, Registration, str | None]] = []
    for line in lines:
        names: list[str | None] = [*line.names, *([None] * (line.count - len(line.names)))]
        people.extend((uuid.uuid4(), line, name) for name in names)
        key = (kommunenummer, line.role_category)
        gathering.registered[key] = gathering.registered.get(key, 0) + line.count
    gathering.registered_refs.setdefault(kommunenummer, municipality)
    return people


def participant_events(
    gathering: Gathering,
    municipality: MunicipalityRef,
    people: Sequence[tuple[uuid.UUID, Registration, str | None]],
) -> list[Event]:
    """One ParticipantRegistered per person, by opaque id: no name travels."""
    return [
        ParticipantRegistered(
            gathering_id=gathering.id,
            person_id=person_id,
            municipality=municipality,
            role_category=line.role_category,
        )
        for person_id, line, _ in people
    ]


# -- Held -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    kommunenummer: str
    role_category: RoleCategory
    count: int


@dataclass(frozen=True)
class Case:
    kommunenummer: str
    title: str


def hold(
    network: Network, gathering: Gathering, attendance: Sequence[Count], cases: Sequence[Case], today: date
) -> list[Event]:
    """Record that a planned gathering was held: not before its day, not twice, not when
    cancelled. GatheringHeld carries attendance per municipality and role category, and the cases
    presented; no names. Who came may be any member, or a municipality that registered people."""
    if gathering.status is Status.HELD:
        raise Refused("gathering_id", "the gathering is already recorded as held", 409)
    if gathering.status is Status.CANCELLED:
        raise Refused("gathering_id", "the gathering was cancelled", 409)
    if today < gathering.plan.starts_on:
        raise Refused(
            "starts_on",
            f"the gathering is on {gathering.plan.starts_on.isoformat()}; it cannot be held before "
            f"(today is {today.isoformat()})",
            409,
        )
    known = {**network.members, **gathering.registered_refs}
    seen: set[tuple[str, RoleCategory]] = set()
    counts = []
    for i, row in enumerate(attendance):
        ref = known.get(row.kommunenummer)
        if ref is None:
            raise Refused(
                f"attendance.{i}.kommunenummer",
                f"{row.kommunenummer} is neither a member nor registered for the gathering",
            )
        if (row.kommunenummer, row.role_category) in seen:
            raise Refused(f"attendance.{i}.role_category", "is counted twice for this municipality")
        seen.add((row.kommunenummer, row.role_category))
        counts.append(Attendance(municipality=ref, role_category=row.role_category, count=row.count))
    presented = []
    for i, case in enumerate(cases):
        ref = known.get(case.kommunenummer)
        if ref is None:
            raise Refused(
                f"cases_presented.{i}.kommunenummer",
                f"{case.kommunenummer} is neither a member nor registered for the gathering",
            )
        presented.append(CasePresented(municipality=ref, title=case.title))
    gathering.status = Status.HELD
    gathering.revision += 1
    return [
        GatheringHeld(
            gathering_id=gathering.id,
            network_id=gathering.network_id,
            held_on=gathering.plan.starts_on,
            attendance=counts,
            cases_presented=presented,
        )
    ]
