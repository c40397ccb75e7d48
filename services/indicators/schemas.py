"""The indicators service's HTTP models for the catalogue, values and population. The plan
cycle's are in `plan/schemas.py`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from livskraft_contracts import IndicatorDirection, Theme
from pydantic import BaseModel, Field, StringConstraints

from services.runtime.inputs import Body, Line
from services.runtime.schemas import Accepted

IndicatorCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
Year = Annotated[int, Field(ge=1900, le=2100)]


class IndicatorFields(Body):
    """An indicator's entry in the catalogue, all of it."""

    theme: Theme
    label: Line = Field(description="in bokmål")
    unit: Line = Field(description="in bokmål, e.g. 'kWh per m² oppvarmet areal'")
    decimals: int = Field(ge=0, le=6)
    direction: IndicatorDirection
    source: Line
    per_inhabitant: bool = Field(
        default=False, description="values per inhabitant (1 January, SSB 07459); a total may be reported"
    )
    minimum: Number | None = None
    maximum: Number | None = None
    retired: bool = Field(default=False, description="a retired indicator takes no new values")


class IndicatorIn(IndicatorFields):
    """A new indicator."""

    indicator: IndicatorCode


class IndicatorOut(BaseModel):
    indicator: str
    revision: int
    theme: Theme
    label: str
    unit: str
    decimals: int
    direction: IndicatorDirection
    source: str
    per_inhabitant: bool
    minimum: float | None
    maximum: float | None
    retired: bool


class IndicatorRevisionOut(BaseModel):
    revision: int
    entry: IndicatorOut
    changed_at: datetime
    actor_role: str
    actor: str | None = Field(description="the token's subject; shown to programme staff only")


class IndicatorDetail(IndicatorOut):
    revisions: list[IndicatorRevisionOut]


class ValueIn(Body):
    """A value for one indicator and year. Give `value`, or for an indicator per inhabitant the
    `total`, which is divided by the population on 1 January of the year. To correct a final
    value, name the revision it supersedes and say why in `comment`."""

    indicator: IndicatorCode
    year: Year
    status: Literal["preliminary", "final"]
    value: Number | None = None
    total: Number | None = None
    comment: Comment | None = None
    supersedes_revision: int | None = Field(default=None, ge=1, le=1_000_000)


class ValueAccepted(Accepted):
    """What a report changed: its event, the revision it made (null when it repeated the value of
    record) and the value recorded."""

    kommunenummer: str
    indicator: str
    year: int
    revision: int
    value: float
    status: str
    correction: bool


class UploadAccepted(Accepted):
    """What a file changed: one event per value that is new or corrected."""

    kommunenummer: str
    rows: int
    reported: int
    unchanged: int
    corrections: int


class ValueOut(BaseModel):
    indicator: str
    year: int
    revision: int
    valid_on: date = Field(description="the municipality code's date: the code in use that year")
    value: float
    status: str
    total: float | None
    population: int | None
    comment: str | None
    supersedes_revision: int | None
    correction: bool
    reported_at: datetime
    reported_role: str
    reported_by: str | None = Field(description="the token's subject; shown to programme staff only")


class ValueHistory(BaseModel):
    kommunenummer: str
    indicator: str
    year: int
    revisions: list[ValueOut]


class PopulationOut(BaseModel):
    kommunenummer: str
    year: int
    population: int | None = Field(description="persons on 1 January; null where SSB 07459 has none")
    source: str
