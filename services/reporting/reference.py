"""Reference data reporting ships with: the counties (fylker) through time.

No event names a county's name (a municipality event names only its county's number), so the
county dimension's labels come from `data/fylker.csv`: one row per county code and period,
`validFrom` inclusive and `validTo` exclusive (empty: still valid), as in SSB KLASS.

Source: derived from SSB KLASS 131 (Standard for kommuneinndeling): a county's code is the first
two digits of its municipalities' codes in each KLASS version, 1971-2024; names as SSB writes them
in short form (without the Sami and Kven parallel names that KLASS 104 carries). SSB publishes
KLASS under NLOD 2.0 / CC BY 4.0: credit Statistics Norway (SSB). Code 99 "Uoppgitt" is left out.
"""

from __future__ import annotations

import csv
import functools
from datetime import date
from pathlib import Path

from .domain import County

COUNTIES_FILE = Path(__file__).parent / "data" / "fylker.csv"


@functools.cache
def counties() -> tuple[County, ...]:
    with COUNTIES_FILE.open(encoding="utf-8", newline="") as f:
        return tuple(
            County(
                fylkesnummer=row["fylkesnummer"],
                name=row["name"],
                valid_from=date.fromisoformat(row["validFrom"]),
                valid_to=date.fromisoformat(row["validTo"]) if row["validTo"] else None,
            )
            for row in csv.DictReader(f)
        )
