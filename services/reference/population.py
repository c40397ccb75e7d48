"""Population per municipality and year: SSB table 07459, as the project carries it.

The file is `services/reporting/data/population_ssb07459.csv` (its README there gives the source,
the licence and the gaps): the resident population on 1 January of each year 2005-2024, by the
municipality code valid that year. Reporting and indicators both read it through this loader, so
there is one reading of one file.

A year or code the file does not hold has no population (None), never zero: 2005-2016 lack the
municipalities that merged later (e.g. 1723 and 1729 until 2011).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

POPULATION_FILE = Path(__file__).resolve().parents[1] / "reporting" / "data" / "population_ssb07459.csv"
SOURCE = "Statistisk sentralbyrå (SSB), tabell 07459, NLOD 2.0"


@functools.cache
def population_table() -> dict[tuple[str, int], int]:
    """{(kommunenummer, year): persons on 1 January of the year}."""
    with POPULATION_FILE.open(encoding="utf-8", newline="") as f:
        return {(row["kommunenummer"], int(row["year"])): int(row["population"]) for row in csv.DictReader(f)}


def population(kommunenummer: str, year: int) -> int | None:
    """Persons living in the municipality (by the code valid that year) on 1 January of `year`."""
    return population_table().get((kommunenummer, year))


def years() -> tuple[int, int]:
    """The first and last year the file covers."""
    found = {year for _, year in population_table()}
    return min(found), max(found)
