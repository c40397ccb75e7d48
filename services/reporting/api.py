"""Reporting's HTTP API: network reports (a reader's token), national statistics (public, as SSB's
are: aggregated, with no personal data), and publishing a dataset (programme staff).

Statistics answer JSON-stat 2.0, or CSV when asked by `Accept: text/csv` or `?format=csv`.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.runtime.deps import Pool, Reader, StaffCommand, Today

from . import handlers, jsonstat
from .schemas import ComparisonOut, NetworkReport, PublishedOut, PublishIn

router = APIRouter()

DatasetId = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length=80,
        description="e.g. networks-per-theme, or indicator-<indicator>",
    ),
]
IndicatorId = Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="csv, or json (JSON-stat 2.0); else by the Accept header"),
]
Year = Annotated[int | None, Query(ge=1900, le=2100)]
CSV = "text/csv; charset=utf-8; header=present"
JSON = "application/json"
_STATISTIC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON-stat 2.0 (application/json), or CSV (text/csv)",
        "content": {JSON: {}, "text/csv": {"schema": {"type": "string"}}},
    }
}


_JSON_ONLY: dict[int | str, dict[str, Any]] = {200: {"content": {JSON: {}}}}


def _base(request: Request) -> str:
    return str(request.base_url)


def _answer(document: str, fmt: str | None, accept: str | None) -> Response:
    if fmt == "csv" or (fmt is None and accept is not None and "text/csv" in accept):
        return Response(jsonstat.to_csv(json.loads(document)), media_type=CSV)
    return Response(document, media_type=JSON)


# -- Reports ---------------------------------------------------------------------------------------------


@router.get("/reports/networks", response_model=list[NetworkReport], tags=["reports"])
async def networks(pool: Pool, _: Reader) -> list[NetworkReport]:
    """Every network with its members, decisions, contacts by role, gatherings and attendance."""
    return await handlers.network_reports(pool)


@router.get("/reports/networks/{network_id}", response_model=NetworkReport, tags=["reports"])
async def network(network_id: Annotated[uuid.UUID, Path()], pool: Pool, _: Reader) -> NetworkReport:
    return await handlers.network_report(pool, network_id)


# -- Indicators -------------------------------------------------------------------------------------------


@router.get(
    "/indicators/{indicator_id}/comparisons/{kommunenummer}",
    response_model=ComparisonOut,
    tags=["indicators"],
)
async def comparison(
    indicator_id: IndicatorId,
    kommunenummer: Annotated[str, Path(pattern=r"^[0-9]{4}$")],
    pool: Pool,
    _: Reader,
    year: Annotated[int, Query(ge=1900, le=2100)],
    harmonised_to: Annotated[
        int | None,
        Query(ge=1900, le=2100, description="every year by the codes valid on 1 January of this year"),
    ] = None,
) -> ComparisonOut:
    """A municipality's value for the year beside its own earlier years, its networks' members,
    its county and the whole country (median, quartiles as Excel QUARTILE.INC, and where it
    stands), each year under the code valid that year unless harmonised."""
    return await handlers.comparison(pool, indicator_id, kommunenummer, year, harmonised_to)


@router.get(
    "/summary/{year}",
    response_class=HTMLResponse,
    tags=["statistics"],
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
async def year_summary(
    year: Annotated[int, Path(ge=1900, le=2100)], pool: Pool, clock: Today
) -> HTMLResponse:
    """The year's figures as a printable page in bokmål, with charts drawn on the server (SVG),
    readable without JavaScript: for the consultation arrangement. Public (aggregates only)."""
    return HTMLResponse(await handlers.year_summary(pool, year, clock.today()))


# -- Statistics -------------------------------------------------------------------------------------------


@router.get("/statistics", tags=["statistics"], responses=_JSON_ONLY)
async def statistics(request: Request, pool: Pool, clock: Today) -> Response:
    """Every dataset, linked by href: a JSON-stat 2.0 collection. Public."""
    document = await handlers.statistics_collection(pool, _base(request), clock.now())
    return Response(jsonstat.dumps(document), media_type=JSON)


@router.get("/statistics/{dataset_id}", tags=["statistics"], responses=_STATISTIC)
async def statistic(
    dataset_id: DatasetId,
    request: Request,
    pool: Pool,
    clock: Today,
    from_year: Year = None,
    to_year: Year = None,
    harmonised_to: Annotated[
        int | None,
        Query(ge=1900, le=2100, description="every year by the codes valid on 1 January of this year"),
    ] = None,
    format: Format = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """A dataset as the events tell it now (`indicator-<id>`: an indicator by municipality and
    year). Public."""
    href = str(request.url.remove_query_params("format"))
    document = await handlers.statistic(
        pool, dataset_id, clock.today(), from_year, to_year, harmonised_to, href, clock.now()
    )
    return _answer(jsonstat.dumps(document), format, accept)


@router.get("/statistics/{dataset_id}/versions", tags=["statistics"], responses=_JSON_ONLY)
async def versions(dataset_id: DatasetId, request: Request, pool: Pool, clock: Today) -> Response:
    """The published versions of a dataset: a JSON-stat 2.0 collection. Public."""
    document = await handlers.versions_collection(pool, dataset_id, _base(request), clock.now())
    return Response(jsonstat.dumps(document), media_type=JSON)


@router.get("/statistics/{dataset_id}/versions/{version}", tags=["statistics"], responses=_STATISTIC)
async def version(
    dataset_id: DatasetId,
    version: Annotated[int, Path(ge=1, le=2_000_000_000)],
    pool: Pool,
    format: Format = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """A published version, frozen: the same bytes for as long as it is kept. Public."""
    return _answer(await handlers.published_document(pool, dataset_id, version), format, accept)


@router.post(
    "/statistics/{dataset_id}/versions", status_code=201, response_model=PublishedOut, tags=["statistics"]
)
async def publish(
    dataset_id: DatasetId, body: PublishIn, request: Request, uow: StaffCommand
) -> PublishedOut:
    """Publish the dataset for a period as its next version (programme staff): frozen, at a URL of
    its own, announced with StatisticsPublished."""
    return await handlers.publish(uow, dataset_id, body, _base(request))
