"""Reporting's rules, pure (no I/O): how events fold into rows, how codes move through reforms,
and how the national statistics count.

- Folding: events of one aggregate come on several topics in no set order, so a row is set by
  the event with the highest sequence (`latest`), and "first" facts by the lowest (`earliest`).
- Code history: a municipality is named by (kommunenummer, valid_on). `CodeHistory.code_on` finds
  the code that held on another day through the versions' predecessors (SSB KLASS, carried by
  MunicipalityRegistered/Changed): forward through mergers and renumberings, backward through
  predecessors.
- Statistics: each dataset is a `Cube` built from plain facts. Geo dimensions use the code valid on
  1 January of each year (SSB's rule), or every year one year's codes when harmonised.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from livskraft_contracts import (
    CloudEvent,
    DecisionBody,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    Event,
    MunicipalityInvited,
    RoleCategory,
    Theme,
)

from services.runtime.refusals import Refused as Refused  # domain.Refused: one definition for every service

from .jsonstat import NOT_APPLICABLE, PROVISIONAL, Cell, Cube, Dimension, Unit

E = TypeVar("E", bound=Event)


# -- Folding events into rows ----------------------------------------------------------------------


def latest(events: Iterable[CloudEvent[E]], key: Callable[[CloudEvent[E]], Hashable]) -> list[CloudEvent[E]]:
    """Per key, the event with the highest sequence (one bulk statement may touch a row once)."""
    chosen: dict[Hashable, CloudEvent[E]] = {}
    for event in events:
        k = key(event)
        if k not in chosen or chosen[k].sequence < event.sequence:
            chosen[k] = event
    return list(chosen.values())


def value_rank(event: CloudEvent[Any]) -> tuple[int, int]:
    """How an IndicatorReported ranks among reports of one value: by revision (0 without one),
    then by sequence."""
    return (getattr(event.data, "revision", None) or 0, event.sequence)


def earliest(
    events: Iterable[CloudEvent[E]], key: Callable[[CloudEvent[E]], Hashable]
) -> dict[Hashable, CloudEvent[E]]:
    """Per key, the event with the lowest sequence."""
    chosen: dict[Hashable, CloudEvent[E]] = {}
    for event in events:
        k = key(event)
        if k not in chosen or chosen[k].sequence > event.sequence:
            chosen[k] = event
    return chosen


MEMBER_STATUS: dict[type[Event], str] = {
    MunicipalityInvited: "invited",
    EnrolmentSubmitted: "submitted",
    EnrolmentConfirmed: "confirmed",
    EnrolmentWithdrawn: "withdrawn",
}
PARTICIPATING = frozenset({"submitted", "confirmed"})
"""A member takes part when enrolled (påmeldt) or confirmed (godkjent): by its latest status."""
NEVER_RAN = "cancelled"
"""A network closed for this reason never ran: it counts in no year."""


# -- Municipalities through time --------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    kommunenummer: str
    valid_on: date


@dataclass(frozen=True)
class Version:
    """A municipality in one period of its code: [valid_from, valid_to)."""

    kommunenummer: str
    name: str
    county: str
    valid_from: date
    valid_to: date | None
    predecessors: tuple[Ref, ...] = ()

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class County:
    fylkesnummer: str
    name: str
    valid_from: date
    valid_to: date | None

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


class CodeHistory:
    """The versions of every municipality code, and the way from one to the next."""

    def __init__(self, versions: Iterable[Version]) -> None:
        self._by_code: dict[str, list[Version]] = defaultdict(list)
        for v in versions:
            self._by_code[v.kommunenummer].append(v)
        for vs in self._by_code.values():
            vs.sort(key=lambda v: v.valid_from)
        self._successors: dict[Version, list[Version]] = defaultdict(list)
        for vs in self._by_code.values():
            for v in vs:
                for p in v.predecessors:
                    before = self.version(p.kommunenummer, p.valid_on)
                    if before is not None and before != v:
                        self._successors[before].append(v)

    def __bool__(self) -> bool:
        return bool(self._by_code)

    def versions(self) -> list[Version]:
        """Every version of every code."""
        return [v for vs in self._by_code.values() for v in vs]

    def version(self, kommunenummer: str, day: date) -> Version | None:
        versions = self._by_code.get(kommunenummer, [])
        i = bisect.bisect_right([v.valid_from for v in versions], day) - 1
        return versions[i] if i >= 0 and versions[i].holds_on(day) else None

    def resolve(self, kommunenummer: str, valid_on: date, day: date) -> Version | None:
        """The version that `kommunenummer` (as valid on `valid_on`) became, or came from, by `day`.
        Merged municipalities lead to the one they merged into; a split one to the successor with
        its name, else the lowest code; going back, a merged one to the predecessor with its name,
        else the lowest code. None: the code is unknown to the history."""
        v = self.version(kommunenummer, valid_on)
        seen: set[Version] = set()
        while v is not None and not v.holds_on(day) and v not in seen:
            seen.add(v)
            if v.valid_to is not None and day >= v.valid_to:
                following = self._successors.get(v, [])
            else:
                following = [
                    p for p in (self.version(r.kommunenummer, r.valid_on) for r in v.predecessors) if p
                ]
            if not following:
                return v
            v = _pick(following, v.name)
        return v

    def code_on(self, kommunenummer: str, valid_on: date, day: date) -> str:
        """The code held on `day`; the code as given when the history does not know it."""
        v = self.resolve(kommunenummer, valid_on, day)
        return v.kommunenummer if v is not None else kommunenummer

    def holds(self, kommunenummer: str, day: date) -> bool | None:
        """Whether the code was in use on `day`; None when the history does not know the code."""
        if kommunenummer not in self._by_code:
            return None
        return self.version(kommunenummer, day) is not None

    def name(self, kommunenummer: str, days: Sequence[date]) -> str | None:
        """The code's name on the latest of `days` it was in use, else its latest name."""
        for day in sorted(days, reverse=True):
            v = self.version(kommunenummer, day)
            if v is not None:
                return v.name
        versions = self._by_code.get(kommunenummer)
        return versions[-1].name if versions else None


def _pick(versions: list[Version], name: str) -> Version:
    same = [v for v in versions if v.name == name]
    return min(same or versions, key=lambda v: (v.kommunenummer, v.valid_from))


def county_name(counties: Sequence[County], fylkesnummer: str, days: Sequence[date]) -> str:
    for day in sorted(days, reverse=True):
        for c in counties:
            if c.fylkesnummer == fylkesnummer and c.holds_on(day):
                return c.name
    names = [c.name for c in counties if c.fylkesnummer == fylkesnummer]
    return names[-1] if names else f"Fylke {fylkesnummer}"


# -- Facts the statistics count ---------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkFact:
    network_id: UUID
    name: str
    themes: tuple[str, ...]
    period_start: date
    period_end: date
    closed_reason: str | None = None

    @property
    def ran(self) -> bool:
        return self.closed_reason != NEVER_RAN

    def years(self) -> range:
        """The years its period touches: it counts in each."""
        return range(self.period_start.year, self.period_end.year + 1)


@dataclass(frozen=True)
class MemberFact:
    network_id: UUID
    kommunenummer: str
    valid_on: date
    status: str


@dataclass(frozen=True)
class DecisionFact:
    body: str
    decision_date: date
    final: bool


@dataclass(frozen=True)
class GatheringFact:
    network_id: UUID
    status: str
    held_on: date | None
    attendance: tuple[tuple[str, int], ...] = ()
    """(role_category, count) summed over the municipalities that came."""

    @property
    def held(self) -> bool:
        return self.status == "held" and self.held_on is not None


@dataclass(frozen=True)
class Facts:
    networks: Sequence[NetworkFact] = ()
    members: Sequence[MemberFact] = ()
    decisions: Sequence[DecisionFact] = ()
    gatherings: Sequence[GatheringFact] = ()
    history: CodeHistory = field(default_factory=lambda: CodeHistory(()))
    counties: Sequence[County] = ()


@dataclass(frozen=True)
class Options:
    """What a request or a publication asks of a dataset."""

    today: date
    first_year: int | None = None
    last_year: int | None = None
    harmonised_to: int | None = None

    def day(self, year: int) -> date:
        """The day whose codes count for `year`: 1 January of it, or of the harmonisation year."""
        return date(self.harmonised_to or year, 1, 1)


FIRST_YEAR, LAST_YEAR = 1900, 2100


def options(
    today: date, first_year: int | None, last_year: int | None, harmonised_to: int | None, *, geo: bool
) -> Options:
    """Options checked against the rules, or Refused naming the field."""
    for name, year in (("from_year", first_year), ("to_year", last_year), ("harmonised_to", harmonised_to)):
        if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
            raise Refused(name, f"must be a year from {FIRST_YEAR} to {LAST_YEAR}")
    if first_year is not None and last_year is not None and last_year < first_year:
        raise Refused("to_year", "is before from_year")
    if harmonised_to is not None and not geo:
        raise Refused("harmonised_to", "applies only to a dataset with a geo dimension")
    return Options(today=today, first_year=first_year, last_year=last_year, harmonised_to=harmonised_to)


# -- The datasets -------------------------------------------------------------------------------------

THEME_LABELS: dict[str, str] = {
    Theme.KLIMA_ENERGI: "Klima og energi",
    Theme.AREAL: "Viktige arealpolitiske hensyn",
    Theme.FOLKEHELSE_FRILUFTSLIV: "Friluftsliv, folkehelse og livskvalitet",
    Theme.PRODUKSJON_FORBRUK: "Framtidsrettet produksjon og forbruk, miljøbasert næringsutvikling",
    Theme.INTERNASJONALT: "Internasjonalt samarbeid",
    Theme.KULTURARV: "Kulturarven som grunnlag for nærings- og samfunnsutvikling",
}
BODY_LABELS: dict[str, str] = {
    DecisionBody.KOMMUNESTYRE: "Kommunestyret",
    DecisionBody.FORMANNSKAP: "Formannskapet",
    DecisionBody.UTVALG: "Utvalg",
}
ROLE_LABELS: dict[str, str] = {
    RoleCategory.POLITICIAN: "Politikere",
    RoleCategory.MANAGEMENT: "Administrativ toppledelse",
    RoleCategory.DEPARTMENT: "Fagetat",
    RoleCategory.RESOURCE: "Ressursmiljø",
}
METRIC = "statistikkvariabel"
TIME = "tid"


def _time(years: Sequence[int]) -> Dimension:
    return Dimension(TIME, "år", [(str(y), str(y)) for y in years], role="time")


def _metric(units: Sequence[tuple[str, str, Unit]]) -> Dimension:
    return Dimension(
        METRIC,
        "statistikkvariabel",
        [(c, label) for c, label, _ in units],
        role="metric",
        units={c: unit for c, _, unit in units},
    )


def _years(active: Iterable[int], options: Options) -> list[int]:
    """The years shown: the requested span; where a bound is not asked, the data's; else this year."""
    found = set(active)
    first = options.first_year if options.first_year is not None else min(found, default=options.today.year)
    last = options.last_year if options.last_year is not None else max(found, default=options.today.year)
    if last < first:  # one bound asked, the data all beyond it
        first, last = (last, last) if options.first_year is None else (first, first)
    return list(range(first, last + 1))


def _provisional(
    cube_values: dict[Cell, int | float], status: dict[Cell, str], year_axis: int, options: Options
) -> None:
    """Mark the values of a year not yet over as provisional."""
    for cell in cube_values:
        if int(cell[year_axis]) >= options.today.year:
            status.setdefault(cell, PROVISIONAL)


def _codes_note(options: Options, facts: Facts) -> list[str]:
    if options.harmonised_to is not None:
        notes = [
            "Harmonisert: alle år vises med kommune- og fylkesinndelingen per 1. januar "
            f"{options.harmonised_to}, fulgt gjennom registerets kodehistorikk (SSB KLASS 131). "
            "Kommuner som senere ble slått sammen, telles én gang, under den nye kommunen. "
            "En kommune som ble delt, telles under etterfølgeren som bærer navnet, ellers under den "
            "med lavest kommunenummer. Bakover i tid telles en sammenslått kommune under forgjengeren "
            "med samme navn."
        ]
    else:
        notes = [
            "Kommunenumre og fylker er de som gjaldt 1. januar hvert år (SSBs regel): en kommune som har "
            "skiftet nummer, står under det nummeret den hadde det året."
        ]
    if not facts.history:
        notes.append(
            "Registeret har ikke sendt kodehistorikk (MunicipalityRegistered/Changed): kommunenumrene "
            "står slik hendelsene oppga dem."
        )
    return notes


def _codes_extension(dataset_id: str, options: Options) -> dict[str, Any]:
    return {
        "livskraft": {
            "dataset": dataset_id,
            "codes": "harmonised" if options.harmonised_to is not None else "valid-each-year",
            **({"harmonised_to": options.harmonised_to} if options.harmonised_to is not None else {}),
        }
    }


def networks_per_theme(facts: Facts, options: Options) -> Cube:
    running = [n for n in facts.networks if n.ran]
    years = _years((y for n in running for y in n.years()), options)
    values: dict[Cell, int | float] = {}
    for theme in THEME_LABELS:
        for y in years:
            values[(theme, "nettverk", str(y))] = sum(
                1 for n in running if theme in n.themes and y in n.years()
            )
    status: dict[Cell, str] = {}
    _provisional(values, status, 2, options)
    return Cube(
        label="Kommunenettverk, etter temaområde og år",
        dimensions=[
            Dimension("tema", "temaområde", list(THEME_LABELS.items())),
            _metric([("nettverk", "Kommunenettverk", Unit("nettverk"))]),
            _time(years),
        ],
        values=values,
        status=status,
        note=[
            "Et nettverk telles under hvert av sine temaområder (minst to), så summen over temaområdene er "
            "større enn antall nettverk.",
            "Et nettverk telles hvert år perioden dets varer; et nettverk som ble avlyst (lukket som "
            "'cancelled'), telles ikke.",
        ],
        extension={"livskraft": {"dataset": "networks-per-theme"}},
    )


def _participation(facts: Facts, options: Options) -> dict[int, dict[str, set[UUID]]]:
    """Per year, per code held that year (or in the harmonisation year): the networks it took part in."""
    networks = {n.network_id: n for n in facts.networks if n.ran}
    taking_part: dict[int, dict[str, set[UUID]]] = defaultdict(lambda: defaultdict(set))
    for m in facts.members:
        network = networks.get(m.network_id)
        if network is None or m.status not in PARTICIPATING:
            continue
        for y in network.years():
            code = facts.history.code_on(m.kommunenummer, m.valid_on, options.day(y))
            taking_part[y][code].add(m.network_id)
    return taking_part


def participating_municipalities(facts: Facts, options: Options) -> Cube:
    taking_part = _participation(facts, options)
    years = _years(taking_part, options)
    days = [options.day(y) for y in years]
    counties = sorted(
        {c.fylkesnummer for c in facts.counties if any(c.holds_on(d) for d in days)}
        | {code[:2] for y in years for code in taking_part.get(y, {})}
    )
    values: dict[Cell, int | float] = {}
    status: dict[Cell, str] = {}
    for county in counties:
        known = [c for c in facts.counties if c.fylkesnummer == county]
        for y in years:
            cell = (county, "kommuner", str(y))
            count = sum(1 for code in taking_part.get(y, {}) if code[:2] == county)
            if count or not known or any(c.holds_on(options.day(y)) for c in known):
                values[cell] = count
            else:
                status[cell] = NOT_APPLICABLE
    _provisional(values, status, 2, options)
    return Cube(
        label="Kommuner som deltar i kommunenettverk, etter fylke og år",
        dimensions=[
            Dimension(
                "fylke", "fylke", [(c, county_name(facts.counties, c, days)) for c in counties], role="geo"
            ),
            _metric([("kommuner", "Deltakende kommuner", Unit("kommuner"))]),
            _time(years),
        ],
        values=values,
        status=status,
        note=[
            "En kommune deltar et år når den er påmeldt eller godkjent (siste kjente status) i et nettverk "
            "som er i gang det året. Hver kommune telles én gang per år, hvor mange nettverk den enn er "
            "med i.",
            *_codes_note(options, facts),
        ],
        extension=_codes_extension("participating-municipalities", options),
    )


def networks_per_municipality(facts: Facts, options: Options) -> Cube:
    taking_part = _participation(facts, options)
    years = _years(taking_part, options)
    days = [options.day(y) for y in years]
    codes = sorted({code for y in years for code in taking_part.get(y, {})})
    values: dict[Cell, int | float] = {}
    status: dict[Cell, str] = {}
    for code in codes:
        for y in years:
            cell = (code, "nettverk", str(y))
            count = len(taking_part.get(y, {}).get(code, ()))
            if count or facts.history.holds(code, options.day(y)) is not False:
                values[cell] = count
            else:
                status[cell] = NOT_APPLICABLE
    _provisional(values, status, 2, options)
    return Cube(
        label="Kommunenettverk kommunene deltar i, etter kommune og år",
        dimensions=[
            Dimension(
                "kommune", "kommune", [(c, facts.history.name(c, days) or c) for c in codes], role="geo"
            ),
            _metric([("nettverk", "Kommunenettverk kommunen deltar i", Unit("nettverk"))]),
            _time(years),
        ],
        values=values,
        status=status,
        note=[
            "Antall nettverk i gang det året der kommunen er påmeldt eller godkjent (siste kjente status). "
            "Et nettverk telles én gang per kommune, også når to medlemmer senere ble én kommune.",
            *_codes_note(options, facts),
        ],
        extension=_codes_extension("networks-per-municipality", options),
    )


def decisions_per_body(facts: Facts, options: Options) -> Cube:
    years = _years((d.decision_date.year for d in facts.decisions), options)
    values: dict[Cell, int | float] = {}
    for body in BODY_LABELS:
        for y in years:
            of_year = [d for d in facts.decisions if d.body == body and d.decision_date.year == y]
            values[(body, "vedtak", str(y))] = len(of_year)
            values[(body, "endelige-vedtak", str(y))] = sum(1 for d in of_year if d.final)
    status: dict[Cell, str] = {}
    _provisional(values, status, 2, options)
    return Cube(
        label="Politiske vedtak om å delta i kommunenettverk, etter organ og år",
        dimensions=[
            Dimension("organ", "politisk organ", list(BODY_LABELS.items())),
            _metric(
                [
                    ("vedtak", "Vedtak", Unit("vedtak")),
                    ("endelige-vedtak", "Endelige vedtak", Unit("vedtak")),
                ]
            ),
            _time(years),
        ],
        values=values,
        status=status,
        note=["Året er vedtaksdatoens år. Hvert registrerte vedtak telles, endelig eller ikke."],
        extension={"livskraft": {"dataset": "decisions-per-body"}},
    )


GATHERING_METRICS: list[tuple[str, str, Unit]] = [
    ("samlinger", "Samlinger holdt", Unit("samlinger")),
    *((f"oppmote-{role}", f"Oppmøte: {label}", Unit("deltakere")) for role, label in ROLE_LABELS.items()),
]


def gatherings_and_attendance(facts: Facts, options: Options) -> Cube:
    held = [g for g in facts.gatherings if g.held]
    names = {n.network_id: n for n in facts.networks}
    shown = sorted(
        {n.network_id for n in facts.networks if n.ran} | {g.network_id for g in held},
        key=lambda i: (names[i].name if i in names else "", str(i)),
    )
    years = _years(
        [
            *(y for i in shown if i in names for y in names[i].years()),
            *(g.held_on.year for g in held if g.held_on),
        ],
        options,
    )
    values: dict[Cell, int | float] = {}
    status: dict[Cell, str] = {}
    for network_id in shown:
        network = names.get(network_id)
        for y in years:
            of_year = [g for g in held if g.network_id == network_id and g.held_on and g.held_on.year == y]
            running = network is None or y in network.years()
            for metric, _, _ in GATHERING_METRICS:
                cell = (str(network_id), metric, str(y))
                if not of_year and not running:
                    status[cell] = NOT_APPLICABLE
                elif metric == "samlinger":
                    values[cell] = len(of_year)
                else:
                    role = metric.removeprefix("oppmote-")
                    values[cell] = sum(n for g in of_year for r, n in g.attendance if r == role)
    _provisional(values, status, 2, options)
    return Cube(
        label="Nettverkssamlinger og oppmøte etter rollekategori, etter kommunenettverk og år",
        dimensions=[
            Dimension(
                "nettverk",
                "kommunenettverk",
                [(str(i), names[i].name if i in names else str(i)) for i in shown],
            ),
            _metric(GATHERING_METRICS),
            _time(years),
        ],
        values=values,
        status=status,
        note=[
            "Samlinger som er holdt, etter året de ble holdt. Oppmøtet er antall deltakere i hver "
            "rollekategori, summert over kommunene, slik samlingen ble meldt holdt.",
        ],
        extension={"livskraft": {"dataset": "gatherings-and-attendance"}},
    )


@dataclass(frozen=True)
class DatasetDefinition:
    id: str
    label: str
    build: Callable[[Facts, Options], Cube]
    geo: bool = False
    needs: frozenset[str] = frozenset()
    """Which facts the dataset counts: networks, members, decisions, gatherings, history."""


DATASETS: dict[str, DatasetDefinition] = {
    d.id: d
    for d in (
        DatasetDefinition(
            "networks-per-theme",
            "Kommunenettverk, etter temaområde og år",
            networks_per_theme,
            needs=frozenset({"networks"}),
        ),
        DatasetDefinition(
            "participating-municipalities",
            "Kommuner som deltar i kommunenettverk, etter fylke og år",
            participating_municipalities,
            geo=True,
            needs=frozenset({"networks", "members", "history"}),
        ),
        DatasetDefinition(
            "networks-per-municipality",
            "Kommunenettverk kommunene deltar i, etter kommune og år",
            networks_per_municipality,
            geo=True,
            needs=frozenset({"networks", "members", "history"}),
        ),
        DatasetDefinition(
            "decisions-per-body",
            "Politiske vedtak om å delta i kommunenettverk, etter organ og år",
            decisions_per_body,
            needs=frozenset({"decisions"}),
        ),
        DatasetDefinition(
            "gatherings-and-attendance",
            "Nettverkssamlinger og oppmøte etter rollekategori, etter kommunenettverk og år",
            gatherings_and_attendance,
            needs=frozenset({"networks", "gatherings"}),
        ),
    )
}


def definition(dataset_id: str) -> DatasetDefinition:
    found = DATASETS.get(dataset_id)
    if found is None:
        raise Refused("dataset_id", f"no dataset {dataset_id!r}; one of {', '.join(DATASETS)}", 404)
    return found


def next_version(published: int) -> int:
    """A publication is the dataset's next version: 1 for the first."""
    return published + 1


def period_options(
    today: date, period_start: date, period_end: date, harmonised_to: int | None, *, geo: bool
) -> Options:
    """A publication covers the years its period touches."""
    for name, day in (("period_start", period_start), ("period_end", period_end)):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise Refused(name, f"must be in a year from {FIRST_YEAR} to {LAST_YEAR}")
    if period_end < period_start:
        raise Refused("period_end", "is before period_start")
    return options(today, period_start.year, period_end.year, harmonised_to, geo=geo)
