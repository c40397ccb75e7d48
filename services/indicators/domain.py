"""The indicators service's rules for the catalogue and for reported values (pure: no I/O).

A value is a fact of record a municipality reports for itself: one indicator, one year, by the
municipality code in use that year. It is preliminary or final. A correction is a new revision
and the history is kept. A preliminary value may be corrected freely; a final value only
explicitly: the report names the revision it supersedes and says why (`comment`), and it is
audited as a correction. Reporting the value of record again changes nothing.

The plan cycle's rules are in `plan/domain.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from livskraft_contracts import IndicatorDefined, IndicatorStatus, MunicipalityRef

from services.runtime.refusals import Refused as Refused  # domain.Refused: one definition for every service

REPORTABLE = (IndicatorStatus.PRELIMINARY, IndicatorStatus.FINAL)
"""What a municipality reports: a value, preliminary or final. Missing is the absence of one."""


# -- The catalogue --------------------------------------------------------------------------------


def define(entry: IndicatorDefined, current: IndicatorDefined | None) -> IndicatorDefined | None:
    """The next revision of an indicator, or None when `entry` says what is stored already.

    `entry` is the whole entry as asked for (its `revision` is ignored). A new indicator gets
    revision 1; a retired one may come back only by saying `retired: false`."""
    if current is None:
        return entry.model_copy(update={"revision": 1})
    if entry.model_copy(update={"revision": current.revision}) == current:
        return None
    return entry.model_copy(update={"revision": current.revision + 1})


def ensure_new(indicator: str, current: IndicatorDefined | None) -> None:
    if current is not None:
        raise Refused("indicator", f"{indicator} is in the catalogue already; revise it with PUT", 409)


def check_bounds(entry: IndicatorDefined) -> None:
    """A bound must fit the decimals the indicator is reported with."""
    for field in ("minimum", "maximum"):
        bound = getattr(entry, field)
        if bound is not None and not has_decimals(bound, entry.decimals):
            raise Refused(field, f"has more than {entry.decimals} decimals")


# -- Municipality codes through time ---------------------------------------------------------------


@dataclass(frozen=True)
class CodeVersion:
    """One period of a municipality code (KLASS 131): valid_from inclusive, valid_to exclusive."""

    kommunenummer: str
    valid_from: date
    valid_to: date | None


def code_in_year(versions: Sequence[CodeVersion], kommunenummer: str, year: int) -> MunicipalityRef:
    """The reference for `kommunenummer` in `year`: the code must have been in use in that year;
    `valid_on` is the first day of the year it was (1 January, or the day it came into use)."""
    if not versions:
        raise Refused("kommunenummer", f"{kommunenummer} is not a municipality code this service knows")
    first, last = date(year, 1, 1), date(year, 12, 31)
    for version in sorted(versions, key=lambda v: v.valid_from):
        ends = version.valid_to - timedelta(days=1) if version.valid_to else date.max
        if version.valid_from <= last and ends >= first:
            return MunicipalityRef(kommunenummer=kommunenummer, valid_on=max(first, version.valid_from))
    spans = ", ".join(_span(v) for v in sorted(versions, key=lambda v: v.valid_from))
    raise Refused(
        "year",
        f"municipality code {kommunenummer} was not in use in {year} (in use {spans}); a year is "
        "reported under the code in use that year",
    )


def _span(version: CodeVersion) -> str:
    end = f"{version.valid_to.year - 1}" if version.valid_to else ""
    return f"{version.valid_from.year}-{end}"


# -- Reporting a value -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    """What the rules need of a catalogue entry."""

    id: str
    decimals: int
    per_inhabitant: bool
    minimum: float | None
    maximum: float | None
    retired: bool

    @classmethod
    def of(cls, entry: IndicatorDefined) -> Indicator:
        return cls(
            entry.indicator, entry.decimals, entry.per_inhabitant, entry.minimum, entry.maximum, entry.retired
        )


@dataclass(frozen=True)
class Report:
    """A value as a municipality reports it: the value itself, or for an indicator per
    inhabitant, the total to divide by the population."""

    indicator: str
    year: int
    status: IndicatorStatus
    value: float | None = None
    total: float | None = None
    comment: str | None = None
    supersedes_revision: int | None = None


@dataclass(frozen=True)
class Revision:
    """A stored revision of a value."""

    revision: int
    value: float
    status: IndicatorStatus
    comment: str | None


@dataclass(frozen=True)
class NewRevision:
    """What a report adds: the next revision, the value to publish, and whether it corrects a
    final value (audited as such)."""

    revision: int
    value: float
    status: IndicatorStatus
    total: float | None
    population: int | None
    correction: bool


def has_decimals(value: float, decimals: int) -> bool:
    """Whether `value` is written with at most `decimals` decimals (as JSON or a CSV cell has it)."""
    return math.isclose(round(value, decimals), value, rel_tol=0, abs_tol=10 ** -(decimals + 6))


def check_year(year: int, today: date) -> None:
    if year > today.year:
        raise Refused("year", f"{year} has not begun; values are reported for this year or earlier")


def value_of(report: Report, indicator: Indicator, population: int | None) -> float:
    """The value to record: as reported, or the total per inhabitant rounded to the decimals."""
    if (report.value is None) == (report.total is None):
        field = "value" if report.value is None else "total"
        raise Refused(field, "give the value, or for an indicator per inhabitant the total; one of the two")
    if report.total is not None:
        if not indicator.per_inhabitant:
            raise Refused("total", f"{indicator.id} is not per inhabitant; report its value")
        if report.total < 0:
            raise Refused("total", "must not be negative")
        if not population:
            raise Refused(
                "total",
                f"no population for this municipality in {report.year} (SSB 07459 holds 2005-2024 "
                "by the codes of each year); report the value per inhabitant instead",
            )
        value = round(report.total / population, indicator.decimals)
    else:
        assert report.value is not None
        value = report.value
        if not has_decimals(value, indicator.decimals):
            raise Refused("value", f"has more than {indicator.decimals} decimals")
    if indicator.minimum is not None and value < indicator.minimum:
        raise Refused("value", f"{value:g} is below the indicator's minimum {indicator.minimum:g}")
    if indicator.maximum is not None and value > indicator.maximum:
        raise Refused("value", f"{value:g} is above the indicator's maximum {indicator.maximum:g}")
    return value


def report(
    report: Report,
    indicator: Indicator,
    latest: Revision | None,
    population: int | None,
    today: date,
) -> NewRevision | None:
    """The revision a report adds, or None when it repeats the value of record.

    Refused: a retired indicator; a year not yet begun; a value that breaks the indicator's
    bounds or decimals; a status other than preliminary or final; a final value changed without
    naming the revision it supersedes and why; a `supersedes_revision` that is not the latest."""
    if indicator.retired:
        raise Refused("indicator", f"{indicator.id} is retired and takes no new values", 409)
    if report.status not in REPORTABLE:
        raise Refused("status", "a reported value is preliminary or final")
    check_year(report.year, today)
    value = value_of(report, indicator, population)
    total = report.total
    if latest is None:
        if report.supersedes_revision is not None:
            raise Refused("supersedes_revision", "there is no earlier value to supersede")
        return NewRevision(1, value, report.status, total, population if total is not None else None, False)
    if report.supersedes_revision is not None and report.supersedes_revision != latest.revision:
        raise Refused(
            "supersedes_revision", f"revision {latest.revision} is the latest; correct that one", 409
        )
    if (value, report.status, report.comment) == (latest.value, latest.status, latest.comment):
        return None
    correction = latest.status is IndicatorStatus.FINAL
    if correction:
        if report.supersedes_revision is None:
            raise Refused(
                "supersedes_revision",
                f"the value for {report.year} is final (revision {latest.revision}); a correction "
                f"names the revision it supersedes (supersedes_revision: {latest.revision}) and says "
                "why in `comment`",
                409,
            )
        if not report.comment:
            raise Refused("comment", "a correction of a final value says why")
    return NewRevision(
        latest.revision + 1,
        value,
        report.status,
        total,
        population if total is not None else None,
        correction,
    )
