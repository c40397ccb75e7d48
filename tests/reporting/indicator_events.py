"""Indicator events for reporting's tests: a catalogue entry and reported values, with the
Steinkjer merger (1702 until 2017, 5004 in 2018-2019) and the municipalities' code history."""

from __future__ import annotations

from datetime import date
from typing import Any

from livskraft_contracts import (
    CloudEvent,
    IndicatorDefined,
    IndicatorReported,
    MunicipalityChanged,
    MunicipalityRegistered,
)

INDICATOR = "klimagass-per-innbygger"


def defined(revision: int = 1, sequence: int = 1, **changes: Any) -> CloudEvent[IndicatorDefined]:
    fields: dict[str, Any] = {
        "indicator": INDICATOR,
        "revision": revision,
        "theme": "klima-energi",
        "label": "Klimagassutslipp per innbygger",
        "unit": "tonn CO2-ekvivalenter per innbygger",
        "decimals": 1,
        "direction": "lower-is-better",
        "source": "Miljødirektoratet",
        "per_inhabitant": True,
    }
    return CloudEvent.wrap(IndicatorDefined(**(fields | changes)), sequence=sequence)


def reported(
    kommunenummer: str,
    year: int,
    value: float | None,
    *,
    status: str = "final",
    revision: int | None = 1,
    sequence: int = 1,
    indicator: str = INDICATOR,
) -> CloudEvent[IndicatorReported]:
    return CloudEvent.wrap(
        IndicatorReported(
            municipality={"kommunenummer": kommunenummer, "valid_on": date(year, 6, 1)},
            indicator=indicator,
            year=year,
            value=value,
            status=status,
            revision=revision,
        ),
        sequence=sequence,
    )


def version(
    code: str, name: str, start: int, end: int | None, *before: tuple[str, int], sequence: int = 1
) -> CloudEvent[Any]:
    """A municipality's code [1 January `start`, 1 January `end`), with its predecessors
    (code, the year they were last valid in)."""
    kind = MunicipalityChanged if end is not None else MunicipalityRegistered
    return CloudEvent.wrap(
        kind(
            kommunenummer=code,
            name=name,
            county=code[:2],
            valid_from=date(start, 1, 1),
            valid_to=date(end, 1, 1) if end is not None else None,
            predecessors=[{"kommunenummer": c, "valid_on": date(y, 12, 31)} for c, y in before],
        ),
        sequence=sequence,
    )


def indicator_story() -> list[CloudEvent[Any]]:
    """Both indicator types: a catalogue entry revised, a value corrected."""
    return [
        defined(1, sequence=1),
        defined(2, sequence=2, label="Klimagassutslipp per innbygger (tonn)"),
        reported("5001", 2019, 6.5, status="preliminary", revision=1, sequence=1),
        reported("5001", 2019, 6.4, revision=2, sequence=2),
        reported("5004", 2019, 7.0, sequence=1),
    ]
