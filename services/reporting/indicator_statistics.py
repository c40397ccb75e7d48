"""Each indicator as a JSON-stat dataset by municipality and year (pure: values in, a cube out).

Dataset ids are `indicator-<indicator>`; they join the collection at /statistics as the catalogue
(IndicatorDefined) names them. A cell is the value of record (the highest revision) under the
code in use that year, or, harmonised, combined under that year's codes as the comparisons do
(summed, or weighted by population). Status: `p` a preliminary value, `..` missing (reported so,
or not reported), `:` confidential, `.` the code was not in use that year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from . import comparisons
from .domain import TIME, CodeHistory, Options, Refused, _time, _years
from .jsonstat import CONFIDENTIAL, MISSING, NOT_APPLICABLE, PROVISIONAL, Cell, Cube, Dimension, Unit

PREFIX = "indicator-"
METRIC = "statistikkvariabel"


def dataset_id(indicator: str) -> str:
    return f"{PREFIX}{indicator}"


def indicator_of(dataset: str) -> str | None:
    """The indicator a dataset id names, or None when it is not an indicator dataset."""
    return dataset.removeprefix(PREFIX) if dataset.startswith(PREFIX) and len(dataset) > len(PREFIX) else None


@dataclass(frozen=True)
class Reported:
    """A value of record as the projection holds it, whatever its status."""

    kommunenummer: str
    year: int
    value: float | None
    status: str  # preliminary, final, missing, confidential


_SYMBOL = {"missing": MISSING, "confidential": CONFIDENTIAL}


def cube(
    indicator: comparisons.IndicatorFact,
    reported: Sequence[Reported],
    history: CodeHistory,
    options: Options,
    population: comparisons.Population,
) -> Cube:
    if options.harmonised_to is not None and not history:
        raise Refused("harmonised_to", "needs the municipalities' code history, and none has arrived", 409)
    years = _years((r.year for r in reported), options)
    by_year: dict[int, dict[str, Reported]] = {}
    for r in reported:
        by_year.setdefault(r.year, {})[r.kommunenummer] = r
    values: dict[Cell, int | float] = {}
    status: dict[Cell, str] = {}
    codes: set[str] = set()
    versions = history.versions()
    for y in years:
        of_year = by_year.get(y, {})
        if options.harmonised_to is None:
            for code, r in of_year.items():
                codes.add(code)
                cell = (code, indicator.indicator, str(y))
                if r.value is not None:
                    values[cell] = r.value
                    if r.status == comparisons.PRELIMINARY:
                        status[cell] = PROVISIONAL
                else:
                    status[cell] = _SYMBOL.get(r.status, MISSING)
            continue
        facts = {
            code: comparisons.ValueFact(code, y, r.value, r.status)
            for code, r in of_year.items()
            if r.value is not None
        }
        cells = comparisons.cells_of_year(
            y,
            facts,
            comparisons.codes_in_use(versions, date(y, 1, 1)) | set(of_year),
            history,
            indicator,
            population,
            options.harmonised_to,
        )
        for key, c in cells.items():
            codes.add(key)
            cell = (key, indicator.indicator, str(y))
            if c.value is not None:
                values[cell] = c.value
                if c.provisional:
                    status[cell] = PROVISIONAL
            else:
                status[cell] = MISSING
    ordered = sorted(codes)
    for code in ordered:
        for y in years:
            cell = (code, indicator.indicator, str(y))
            if cell in values or cell in status:
                continue
            day = options.day(y) if options.harmonised_to is not None else date(y, 1, 1)
            status[cell] = NOT_APPLICABLE if history.holds(code, day) is False else MISSING
    days = [options.day(y) for y in years]
    return Cube(
        label=f"{indicator.label}, etter kommune og år",
        dimensions=[
            Dimension("kommune", "kommune", [(c, history.name(c, days) or c) for c in ordered], role="geo"),
            Dimension(
                METRIC,
                "statistikkvariabel",
                [(indicator.indicator, indicator.label)],
                role="metric",
                units={indicator.indicator: Unit(indicator.unit, indicator.decimals)},
            ),
            _time(years),
        ],
        values=values,
        status=status,
        note=[
            f"Kilde for tallene: {indicator.source}, rapportert av kommunene. Siste revisjon gjelder.",
            "p: for indikatorer en foreløpig verdi kommunen har rapportert; '..': ikke rapportert "
            "eller rapportert som manglende; ':': holdt tilbake.",
            *(comparisons._notes(indicator, options.harmonised_to)[1:]),
        ],
        extension={
            "livskraft": {
                "dataset": dataset_id(indicator.indicator),
                "indicator": indicator.indicator,
                "theme": indicator.theme,
                "direction": indicator.direction,
                "harmonised_to": options.harmonised_to,
            }
        },
    )


__all__ = ["PREFIX", "TIME", "Reported", "cube", "dataset_id", "indicator_of"]
