"""The indicators service's HTTP API for the catalogue, values and population: thin routes that
parse, authorize by scope, and call a handler (handlers.py), which decides for whom."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.runtime.deps import Pool, Reader, StaffCommand, WriterCommand

from . import csvfile, handlers
from .schemas import (
    IndicatorCode,
    IndicatorDetail,
    IndicatorFields,
    IndicatorIn,
    IndicatorOut,
    PopulationOut,
    UploadAccepted,
    ValueAccepted,
    ValueHistory,
    ValueIn,
    ValueOut,
)

router = APIRouter()

KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]
IndicatorPath = Annotated[
    IndicatorCode, Path(description="the indicator's id, e.g. klimagassutslipp-per-innbygger")
]
YearPath = Annotated[int, Path(ge=1900, le=2100)]

_CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": csvfile.__doc__,
        "content": {"text/csv": {"schema": {"type": "string", "maxLength": csvfile.MAX_BYTES}}},
    }
}


# -- The catalogue ---------------------------------------------------------------------------------


@router.get(
    "/indicators", response_model=list[IndicatorOut], operation_id="list_indicators", tags=["catalogue"]
)
async def list_indicators(pool: Pool, who: Reader) -> list[IndicatorOut]:
    """The indicator catalogue, by theme: id, label and unit in bokmål, decimals, direction, source."""
    return await handlers.catalogue(pool)


@router.get(
    "/indicators/{indicator}",
    response_model=IndicatorDetail,
    operation_id="get_indicator",
    tags=["catalogue"],
)
async def get_indicator(indicator: IndicatorPath, pool: Pool, who: Reader) -> IndicatorDetail:
    """An indicator with every revision of its entry."""
    return await handlers.indicator_detail(pool, who, indicator)


@router.post(
    "/indicators",
    status_code=201,
    response_model=IndicatorOut,
    operation_id="add_indicator",
    tags=["catalogue"],
)
async def add_indicator(body: IndicatorIn, uow: StaffCommand) -> IndicatorOut:
    """Add an indicator to the catalogue (programme staff): IndicatorDefined."""
    return await handlers.add_indicator(uow, body)


@router.put(
    "/indicators/{indicator}",
    response_model=IndicatorOut,
    operation_id="revise_indicator",
    tags=["catalogue"],
)
async def revise_indicator(
    indicator: IndicatorPath, body: IndicatorFields, uow: StaffCommand
) -> IndicatorOut:
    """Revise an indicator's entry, all of it (programme staff): IndicatorDefined with the next
    revision; `retired: true` retires it. Values already reported stand."""
    return await handlers.revise_indicator(uow, indicator, body)


# -- Values ----------------------------------------------------------------------------------------


@router.post(
    "/municipalities/{kommunenummer}/values",
    response_model=ValueAccepted,
    operation_id="report_value",
    tags=["values"],
)
async def report_value(kommunenummer: KommunePath, body: ValueIn, uow: WriterCommand) -> ValueAccepted:
    """Report a value for the municipality (its own contact, or programme staff):
    IndicatorReported with the next revision. A final value is corrected only by naming the
    revision it supersedes, with a comment saying why."""
    return await handlers.report_value(uow, kommunenummer, body)


@router.post(
    "/municipalities/{kommunenummer}/values.csv",
    response_model=UploadAccepted,
    operation_id="upload_values",
    tags=["values"],
    openapi_extra=_CSV_BODY,
)
async def upload_values(kommunenummer: KommunePath, request: Request, uow: WriterCommand) -> UploadAccepted:
    """Report many values for the municipality from a CSV file, all or nothing: a file with a
    bad row saves nothing, and the problem names every bad row and field."""
    return await handlers.upload_values(uow, kommunenummer, await request.body())


@router.get(
    "/municipalities/{kommunenummer}/values",
    response_model=list[ValueOut],
    operation_id="list_values",
    tags=["values"],
)
async def list_values(
    kommunenummer: KommunePath,
    pool: Pool,
    who: Reader,
    indicator: Annotated[IndicatorCode | None, Query()] = None,
    year: Annotated[int | None, Query(ge=1900, le=2100)] = None,
) -> list[ValueOut]:
    """The municipality's values of record (the latest revision of each)."""
    return await handlers.values(pool, who, kommunenummer, indicator, year)


@router.get(
    "/municipalities/{kommunenummer}/values/{indicator}/{year}",
    response_model=ValueHistory,
    operation_id="value_history",
    tags=["values"],
)
async def value_history(
    kommunenummer: KommunePath, indicator: IndicatorPath, year: YearPath, pool: Pool, who: Reader
) -> ValueHistory:
    """Every revision of one value, corrections and comments included."""
    return await handlers.value_history(pool, who, kommunenummer, indicator, year)


@router.get(
    "/population/{kommunenummer}/{year}",
    response_model=PopulationOut,
    operation_id="population",
    tags=["values"],
)
async def population(kommunenummer: KommunePath, year: YearPath, who: Reader) -> PopulationOut:
    """The municipality's population on 1 January of the year (SSB 07459), by the code in use
    that year: what a value per inhabitant is divided by."""
    return handlers.population(kommunenummer, year)
