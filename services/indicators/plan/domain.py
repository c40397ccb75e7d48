"""The plan cycle's rules (pure: no I/O).

A plan belongs to one municipality in one network, and only an active member (submitted or
confirmed) of a network that is not closed has one to add to. Each step is a dated record of
something done, so its date is today at the latest; goals and measures are revised by new
revisions dated no earlier than the one before, so the history reads in order:

- status assessment (statusvurdering): dated, with a summary;
- goal (mål): a title, optionally a theme, an indicator and a target value in a target year
  (a target needs its indicator, and fits the indicator's bounds); withdrawn by a revision;
- measure (tiltak): a title, the party responsible (an office, not a person), a due date on or
  after the day it was planned, a status; a cancelled measure changes no more;
- evaluation ("virker tiltakene?"): a verdict on one measure, on or after the day it was planned;
- report: the results in the annual report (for a year already begun when reported), the economy
  plan or the master plan (for the year reported in, or later).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date

from livskraft_contracts import MeasureStatus, MunicipalityRef, PlanDocument, Theme

from ..domain import Indicator, Refused

ACTIVE = ("submitted", "confirmed")
PLANS = uuid.UUID("5b0f7a8e-6a59-5d0f-9c3e-1b7e2d3c4a5f")
"""Namespace of plan ids: a plan's id is uuid5(PLANS, "<network_id>/<kommunenummer>")."""


def plan_id(network_id: uuid.UUID, kommunenummer: str) -> uuid.UUID:
    return uuid.uuid5(PLANS, f"{network_id}/{kommunenummer}")


@dataclass(frozen=True)
class Membership:
    """What the registry's events said of a network and one municipality in it."""

    network_known: bool
    closed: bool
    status: str | None
    ref: MunicipalityRef | None


def owner(membership: Membership, kommunenummer: str) -> MunicipalityRef:
    """The municipality's reference, when it may add to its plan in the network."""
    if membership.closed:
        raise Refused("network_id", "the network is closed; its plans take no new steps", 409)
    if membership.status not in ACTIVE or membership.ref is None:
        raise Refused("kommunenummer", f"{kommunenummer} is not a member of the network", 409)
    return membership.ref


def on_or_before_today(day: date, field: str, today: date) -> None:
    if day > today:
        raise Refused(
            field, f"{day.isoformat()} is after today ({today.isoformat()}); a step is recorded once done"
        )


def not_before(day: date, earlier: date, field: str, what: str) -> None:
    if day < earlier:
        raise Refused(field, f"{day.isoformat()} is before {what} ({earlier.isoformat()})")


# -- Goals ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    title: str
    description: str | None
    theme: Theme | None
    indicator: str | None
    target_value: float | None
    target_year: int | None
    set_on: date
    withdrawn: bool = False
    revision: int = 0


def set_goal(goal: Goal, previous: Goal | None, indicator: Indicator | None, today: date) -> Goal | None:
    """The goal's next revision, or None when nothing changed."""
    on_or_before_today(goal.set_on, "set_on", today)
    if goal.indicator is not None and indicator is None:
        raise Refused("indicator", f"{goal.indicator!r} is not in the catalogue")
    if (
        indicator is not None
        and indicator.retired
        and (previous is None or previous.indicator != goal.indicator)
    ):
        raise Refused("indicator", f"{indicator.id} is retired")
    if (goal.target_value is None) != (goal.target_year is None):
        field = "target_year" if goal.target_year is None else "target_value"
        raise Refused(field, "a target is a value and a year; give both or neither")
    if goal.target_value is not None:
        if indicator is None:
            raise Refused("indicator", "a target value is a value of an indicator; name it")
        if indicator.minimum is not None and goal.target_value < indicator.minimum:
            raise Refused("target_value", f"is below the indicator's minimum {indicator.minimum:g}")
        if indicator.maximum is not None and goal.target_value > indicator.maximum:
            raise Refused("target_value", f"is above the indicator's maximum {indicator.maximum:g}")
    if goal.target_year is not None and goal.target_year < goal.set_on.year:
        raise Refused(
            "target_year", f"{goal.target_year} is before the year the goal is set ({goal.set_on.year})"
        )
    if previous is None:
        return replace(goal, revision=1)
    not_before(goal.set_on, previous.set_on, "set_on", "the goal's last revision")
    if replace(goal, set_on=previous.set_on, revision=previous.revision) == previous:
        return None
    return replace(goal, revision=previous.revision + 1)


# -- Measures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    goal_id: uuid.UUID | None
    title: str
    description: str | None
    responsible: str
    due_date: date
    status: MeasureStatus
    dated_on: date  # planned_on for revision 1, changed_on after
    note: str | None = None
    revision: int = 0
    planned_on: date | None = None


def plan_measure(measure: Measure, goal: Goal | None, today: date) -> Measure:
    """A measure put in the action programme: revision 1."""
    on_or_before_today(measure.dated_on, "planned_on", today)
    _goal_open(measure, goal)
    not_before(measure.due_date, measure.dated_on, "due_date", "the day it is planned")
    return replace(measure, revision=1, planned_on=measure.dated_on)


def change_measure(measure: Measure, previous: Measure, goal: Goal | None, today: date) -> Measure | None:
    """A measure's next revision, or None when nothing changed. A cancelled measure stays so."""
    on_or_before_today(measure.dated_on, "changed_on", today)
    if previous.status is MeasureStatus.CANCELLED:
        raise Refused("status", "the measure is cancelled and changes no more", 409)
    if measure.goal_id != previous.goal_id:
        _goal_open(measure, goal)
    not_before(measure.dated_on, previous.dated_on, "changed_on", "the measure's last change")
    assert previous.planned_on is not None
    not_before(measure.due_date, previous.planned_on, "due_date", "the day it was planned")
    same = replace(measure, dated_on=previous.dated_on, note=previous.note, revision=previous.revision)
    if replace(same, planned_on=previous.planned_on) == previous:
        return None
    return replace(measure, revision=previous.revision + 1, planned_on=previous.planned_on)


def _goal_open(measure: Measure, goal: Goal | None) -> None:
    if measure.goal_id is None:
        return
    if goal is None:
        raise Refused("goal_id", f"{measure.goal_id} is not a goal of this plan")
    if goal.withdrawn:
        raise Refused("goal_id", "the goal is withdrawn", 409)


def evaluate(evaluated_on: date, measure: Measure, today: date) -> None:
    """An evaluation of a measure: dated today at the latest, not before it was planned."""
    on_or_before_today(evaluated_on, "evaluated_on", today)
    assert measure.planned_on is not None
    not_before(evaluated_on, measure.planned_on, "evaluated_on", "the day the measure was planned")


# -- Reports ---------------------------------------------------------------------------------------


def report(document: PlanDocument, year: int, reported_on: date, today: date) -> None:
    """An annual report is for a year begun by the day it is reported; an economy plan or master
    plan for the year it is reported in or later."""
    on_or_before_today(reported_on, "reported_on", today)
    if document is PlanDocument.ANNUAL_REPORT and year > reported_on.year:
        raise Refused("year", f"an annual report for {year} cannot be made in {reported_on.year}")
    if document is not PlanDocument.ANNUAL_REPORT and year < reported_on.year:
        raise Refused("year", f"a {document.value} made in {reported_on.year} is for that year or later")
