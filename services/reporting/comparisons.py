"""Comparisons of one municipality's indicator value (pure: values in, a comparison out).

"Sammenligning med andre og seg selv over tid": a municipality's value for an indicator and year
beside its own earlier years, its network's members, its county and the whole country, with the
median and quartiles of each group and where it stands in it.

Codes: SSB's rule. Each year's values are under the code in use that year (1702 Steinkjer until
2017, 5004 in 2018-2019, 5006 from 2020), and a county is the first two digits of that code. Asked
harmonised to a year, every year is shown under that year's codes, followed through the registry's
code history (`domain.CodeHistory`); where several codes became one (Steinkjer and Verran into
5006 in 2020), their values are combined: summed for counts and amounts, and for shares,
intensities and values per inhabitant averaged weighted by the population on 1 January of the year
(SSB 07459). A combined value needs every part's value and population; without them it is missing.

Quartiles are Excel's QUARTILE.INC (linear interpolation between closest ranks, Hyndman and Fan's
type 7, `statistics.quantiles(method="inclusive")`): for 10, 20, 30, 40 the median is 25 and the
quartiles 17.5 and 32.5. A group of one value has that value as median and both quartiles.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from .domain import CodeHistory, Version

Direction = Literal["higher-is-better", "lower-is-better", "neither"]
PRELIMINARY = "preliminary"


@dataclass(frozen=True)
class IndicatorFact:
    """An indicator as the catalogue's latest IndicatorDefined describes it."""

    indicator: str
    theme: str
    label: str
    unit: str
    decimals: int
    direction: Direction
    source: str
    per_inhabitant: bool

    @property
    def additive(self) -> bool:
        """Whether parts add up to a whole (counts, km, dekar), rather than averaging (shares,
        intensities such as kWh per m², values per inhabitant)."""
        return not self.per_inhabitant and self.unit != "prosent" and " per " not in f" {self.unit} "


@dataclass(frozen=True)
class ValueFact:
    """A value of record: the latest revision a municipality reported, by the code in use."""

    kommunenummer: str
    year: int
    value: float
    status: str  # preliminary, final


@dataclass(frozen=True)
class Cell:
    """A value under one geo code in one year: as reported, or combined from several codes."""

    kommunenummer: str
    year: int
    value: float | None
    provisional: bool
    parts: tuple[str, ...] = ()
    """The codes combined into it, when harmonised and more than its own."""


@dataclass(frozen=True)
class Standing:
    rank: int
    """1 for the best value (the highest where no direction is better); ties share a rank."""
    of: int
    quartile: int
    """1 for the lowest quarter of the values, 4 for the highest."""
    text: str
    """Where it stands, in bokmål."""


@dataclass(frozen=True)
class Group:
    """Values of a group of municipalities in one year, and where the municipality stands."""

    kind: Literal["network", "county", "country"]
    id: str
    label: str
    cells: tuple[Cell, ...]
    members: int
    """How many codes are in the group, with or without a value."""
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    weighted_mean: float | None = None
    """The mean weighted by population (1 January), where every value has its population."""
    standing: Standing | None = None

    @property
    def count(self) -> int:
        return sum(1 for c in self.cells if c.value is not None)


@dataclass(frozen=True)
class Comparison:
    indicator: IndicatorFact
    kommunenummer: str
    """The municipality's code in the year (or in the harmonisation year)."""
    name: str
    year: int
    harmonised_to: int | None
    value: Cell | None
    own_years: tuple[Cell, ...]
    groups: tuple[Group, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


Population = Callable[[str, int], int | None]


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile), QUARTILE.INC."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, median, q3


def standing(value: float, values: Sequence[float], direction: Direction) -> Standing:
    """Where `value` stands among `values` (which hold it)."""
    better = sum(1 for v in values if (v < value if direction == "lower-is-better" else v > value))
    q1, median, q3 = quartiles(values)
    quartile = 1 if value < q1 else 2 if value < median else 3 if value < q3 else 4
    if len(values) == 1:
        quartile = 4 if direction != "lower-is-better" else 1
    return Standing(better + 1, len(values), quartile, _text(value, q1, median, q3, direction, len(values)))


def _text(value: float, q1: float, median: float, q3: float, direction: Direction, n: int) -> str:
    if n == 1:
        return "eneste verdi i gruppen"
    if direction == "neither":
        if value == median:
            return "på medianen"
        return "over medianen" if value > median else "under medianen"
    good_high = direction == "higher-is-better"
    best = value >= q3 if good_high else value <= q1
    worst = value <= q1 if good_high else value >= q3
    if best and value != median:
        return "blant den beste fjerdedelen"
    if worst and value != median:
        return "blant den svakeste fjerdedelen"
    if value == median:
        return "på medianen"
    return "bedre enn medianen" if (value > median) == good_high else "svakere enn medianen"


def group(
    kind: Literal["network", "county", "country"],
    id: str,
    label: str,
    cells: Iterable[Cell],
    members: int,
    target: Cell | None,
    indicator: IndicatorFact,
    population: Population,
) -> Group:
    cells = tuple(sorted(cells, key=lambda c: c.kommunenummer))
    values = [c.value for c in cells if c.value is not None]
    if not values:
        return Group(kind, id, label, cells, members)
    q1, median, q3 = quartiles(values)
    valued = [(c.value, population(c.kommunenummer, c.year)) for c in cells if c.value is not None]
    weighted: float | None = None
    weights = [w for _, w in valued if w]
    if len(weights) == len(valued) and sum(weights) > 0:
        weighted = sum(v * (w or 0) for v, w in valued) / sum(weights)
    where = None
    if (
        target is not None
        and target.value is not None
        and any(c.kommunenummer == target.kommunenummer for c in cells)
    ):
        where = standing(target.value, values, indicator.direction)
    return Group(kind, id, label, cells, members, median, q1, q3, min(values), max(values), weighted, where)


# -- Cells: each year's values under the codes asked for --------------------------------------------


def codes_in_use(versions: Iterable[Version], day: date) -> set[str]:
    return {v.kommunenummer for v in versions if v.holds_on(day)}


def cells_of_year(
    year: int,
    values: Mapping[str, ValueFact],
    in_use: set[str],
    history: CodeHistory,
    indicator: IndicatorFact,
    population: Population,
    harmonised_to: int | None,
) -> dict[str, Cell]:
    """{code: cell} for one year: the values as reported under the codes in use that year, or
    combined under the codes of `harmonised_to`."""
    if harmonised_to is None:
        return {code: Cell(code, year, v.value, v.status == PRELIMINARY) for code, v in values.items()}
    day, target_day = date(year, 1, 1), date(harmonised_to, 1, 1)
    parts: dict[str, list[str]] = defaultdict(list)
    for code in sorted(in_use | set(values)):
        parts[history.code_on(code, day, target_day)].append(code)
    cells: dict[str, Cell] = {}
    for key, codes in parts.items():
        reported = [values[c] for c in codes if c in values]
        if not reported:
            continue
        combined = combine(codes, values, year, indicator, population)
        provisional = any(v.status == PRELIMINARY for v in reported)
        cells[key] = Cell(key, year, combined, provisional, tuple(codes) if codes != [key] else ())
    return cells


def combine(
    codes: Sequence[str],
    values: Mapping[str, ValueFact],
    year: int,
    indicator: IndicatorFact,
    population: Population,
) -> float | None:
    """The parts' values as one: summed, or averaged weighted by population; None when a part
    lacks its value (or, to weigh, its population)."""
    if any(c not in values for c in codes):
        return None
    if len(codes) == 1:
        return values[codes[0]].value
    if indicator.additive:
        return round(sum(values[c].value for c in codes), indicator.decimals)
    weights = [population(c, year) for c in codes]
    if not all(weights):
        return None
    total = sum(w or 0 for w in weights)
    mean = sum(values[c].value * (w or 0) for c, w in zip(codes, weights, strict=True)) / total
    return round(mean, indicator.decimals)


# -- The comparison ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    network_id: str
    name: str
    members: tuple[tuple[str, date], ...]
    """(kommunenummer, valid_on) of each active member."""


def compare(
    indicator: IndicatorFact,
    kommunenummer: str,
    year: int,
    values: Sequence[ValueFact],
    versions: Sequence[Version],
    networks: Sequence[Network],
    county_names: Callable[[str, int], str],
    population: Population,
    harmonised_to: int | None = None,
) -> Comparison:
    """The comparison for `kommunenummer` as it was in `year` (a code in use another year is
    followed through the history to the one in use that year)."""
    history = CodeHistory(versions)
    day = date(year, 1, 1)
    key_day = date(harmonised_to or year, 1, 1)
    by_year: dict[int, dict[str, ValueFact]] = defaultdict(dict)
    for v in values:
        by_year[v.year][v.kommunenummer] = v
    own_code = history.code_on(kommunenummer, _any_day(versions, kommunenummer, day), day)
    key = history.code_on(own_code, day, key_day)

    def cells(y: int) -> dict[str, Cell]:
        return cells_of_year(
            y,
            by_year.get(y, {}),
            codes_in_use(versions, date(y, 1, 1)),
            history,
            indicator,
            population,
            harmonised_to,
        )

    this_year = cells(year)
    target = this_year.get(key)
    own: list[Cell] = []
    for y in sorted(y for y in by_year if y <= year):
        code_then = key if harmonised_to is not None else history.code_on(own_code, day, date(y, 1, 1))
        found = cells(y).get(code_then)
        if found is not None:
            own.append(found)
    groups: list[Group] = []
    for network in networks:
        member_keys = {history.code_on(code, valid_on, key_day) for code, valid_on in network.members}
        if key not in member_keys:
            continue
        groups.append(
            group(
                "network",
                network.network_id,
                network.name,
                [this_year[k] for k in member_keys if k in this_year],
                len(member_keys),
                target,
                indicator,
                population,
            )
        )
    in_use_then = {history.code_on(c, day, key_day) for c in codes_in_use(versions, day)} | set(this_year)
    county = key[:2]
    groups.append(
        group(
            "county",
            county,
            county_names(county, harmonised_to or year),
            [c for k, c in this_year.items() if k[:2] == county],
            sum(1 for k in in_use_then if k[:2] == county),
            target,
            indicator,
            population,
        )
    )
    groups.append(
        group(
            "country", "0", "Hele landet", this_year.values(), len(in_use_then), target, indicator, population
        )
    )
    return Comparison(
        indicator=indicator,
        kommunenummer=key,
        name=history.name(key, [key_day]) or key,
        year=year,
        harmonised_to=harmonised_to,
        value=target,
        own_years=tuple(own),
        groups=tuple(groups),
        notes=tuple(_notes(indicator, harmonised_to)),
    )


def _any_day(versions: Sequence[Version], kommunenummer: str, day: date) -> date:
    """A day `kommunenummer` was in use: `day` itself if it was, else the nearest such day."""
    own = [v for v in versions if v.kommunenummer == kommunenummer]
    if not own or any(v.holds_on(day) for v in own):
        return day
    ended = [v.valid_to for v in own if v.valid_to is not None and v.valid_to <= day]
    if ended:
        return max(ended) - timedelta(days=1)
    return min(v.valid_from for v in own)


def _notes(indicator: IndicatorFact, harmonised_to: int | None) -> list[str]:
    notes = [
        "Median og kvartiler er beregnet som i Excel (KVARTIL.INK): lineær interpolasjon mellom "
        "nærmeste rangeringer.",
    ]
    if harmonised_to is None:
        notes.append("Hvert år vises under kommunenummeret som gjaldt det året (SSBs regel).")
    else:
        how = "summert" if indicator.additive else "veid med folketallet 1. januar (SSB tabell 07459)"
        notes.append(
            f"Alle år vises under kommunenumrene som gjaldt i {harmonised_to}. Kommuner som er slått "
            f"sammen, er {how}; mangler én av dem verdi, mangler den samlede verdien."
        )
    return notes
