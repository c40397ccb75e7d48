"""The registry's municipality API: import SSB KLASS (kommuneinndeling), ask what held on a day.

A kommunenummer is never a timeless key: every query names a day (`on`, the service's today
unless given), and answers with dated versions, valid in [valid_from, valid_to).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Literal

import asyncpg
import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from livskraft_contracts import MunicipalityRef
from pydantic import BaseModel, Field, ValidationError

from services.runtime.auth import ADMIN, Principal, require
from services.runtime.deps import Pool, Reader, Today
from services.runtime.inputs import Body, IsoDate
from services.runtime.problems import Problem, field_error

from . import klass, municipalities
from .klass import CountyVersion, Kommuneinndeling, MunicipalityVersion
from .municipality_events import import_and_publish
from .store import Actor

router = APIRouter(tags=["municipalities"])

KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]
FylkePath = Annotated[str, Path(pattern=r"^[0-9]{2}$", description="fylkesnummer, 2 digits")]
OnDay = Annotated[
    IsoDate | None, Query(description="the day asked about (YYYY-MM-DD); the service's today if left out")
]


# --- Bodies and answers ----------------------------------------------------------------------


class ImportIn(Body):
    """Where the KLASS data comes from: a folder of saved API responses on the server
    (shared/data/municipalities's layout), or the live SSB KLASS API."""

    source: Literal["folder", "klass"]
    folder: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="the folder on the server (source 'folder' only)",
    )


class Counts(BaseModel):
    registered: int
    changed: int
    unchanged: int


class ImportOut(BaseModel):
    """What the import changed. `registered`/`changed`/`unchanged` count municipality versions;
    `events` the MunicipalityRegistered and MunicipalityChanged events written."""

    source: str
    registered: int
    changed: int
    unchanged: int
    events: int
    event_types: dict[str, int]
    links: int = Field(description="links between versions (kommuneendringer) new or changed")
    counties: Counts


class MunicipalityOut(BaseModel):
    """One dated version of a municipality (kommune). `valid_from_known` false: the code existed
    already when the data starts, so at least since valid_from. Predecessors are named with the
    day before valid_from, successors with valid_to: the days they were valid."""

    kommunenummer: str
    name: str
    county: str
    organisation_number: str | None
    valid_from: date
    valid_to: date | None
    valid_from_known: bool
    predecessors: list[MunicipalityRef]
    successors: list[MunicipalityRef]


class CurrentOut(BaseModel):
    """What the municipality with this number on `on` had become by `today`: one code, several
    after a split, none when what it became is not known."""

    kommunenummer: str
    on: date
    today: date
    municipality: MunicipalityOut
    current: list[str]
    versions: list[MunicipalityOut]


class CountyOut(BaseModel):
    fylkesnummer: str
    name: str
    valid_from: date
    valid_to: date | None
    valid_from_known: bool
    predecessors: list[str]
    successors: list[str]
    municipalities: int = Field(description="how many municipalities it had on the day asked about")


def municipality_out(v: MunicipalityVersion) -> MunicipalityOut:
    before = v.valid_from - timedelta(days=1)
    return MunicipalityOut(
        kommunenummer=v.kommunenummer,
        name=v.name,
        county=v.fylkesnummer,
        organisation_number=v.organisasjonsnummer,
        valid_from=v.valid_from,
        valid_to=v.valid_to,
        valid_from_known=v.valid_from_known,
        predecessors=[MunicipalityRef(kommunenummer=c, valid_on=before) for c in v.predecessors],
        successors=[
            MunicipalityRef(kommunenummer=c, valid_on=v.valid_to)
            for c in v.successors
            if v.valid_to is not None
        ],
    )


def county_out(c: CountyVersion, municipalities_then: int) -> CountyOut:
    return CountyOut(
        fylkesnummer=c.fylkesnummer,
        name=c.name,
        valid_from=c.valid_from,
        valid_to=c.valid_to,
        valid_from_known=c.valid_from_known,
        predecessors=list(c.predecessors),
        successors=list(c.successors),
        municipalities=municipalities_then,
    )


# --- Dependencies ----------------------------------------------------------------------------


Admin = Annotated[Principal, Depends(require(ADMIN))]


def klass_api_url(request: Request) -> str:
    """The live KLASS API's base URL: `app.state.klass_api_url`, else the setting
    `klass_api_url` where Settings has one, else SSB's own."""
    return (
        getattr(request.app.state, "klass_api_url", None)
        or getattr(request.app.state.settings, "klass_api_url", None)
        or klass.KLASS_API
    )


# --- The import ------------------------------------------------------------------------------


@router.post("/municipalities/import", response_model=ImportOut)
async def import_municipalities(body: ImportIn, request: Request, pool: Pool, who: Admin) -> ImportOut:
    """Import the kommuneinndeling (KLASS 131) and fylkesinndeling (104); write
    MunicipalityRegistered for each new version and MunicipalityChanged for each changed one.
    Idempotent: importing the same data again changes nothing and writes no events.
    Programme staff only."""
    if body.source == "folder":
        if body.folder is None:
            raise field_error("folder", "is required when source is 'folder'")
        data = await _from_folder(body.folder)
    else:
        if body.folder is not None:
            raise field_error("folder", "is only for source 'folder'")
        data = await _from_klass(klass_api_url(request))
    try:
        async with pool.acquire() as conn:
            outcome = await import_and_publish(conn, data, Actor(subject=who.subject, role=who.role))
    except asyncpg.ExclusionViolationError as exc:
        raise Problem(
            409, "Conflict", f"the data clashes with the stored versions, nothing imported: {exc}"
        ) from None
    except ValidationError as exc:  # a version that cannot become an event (e.g. a bad orgnr)
        raise _bad_data(body, f"a version cannot become an event: {exc.errors()[0]['msg']}") from None
    m, c = outcome.municipalities, outcome.counties
    return ImportOut(
        source=body.source,
        registered=len(m.registered),
        changed=len(m.changed),
        unchanged=m.unchanged,
        events=len(outcome.events),
        event_types=dict(Counter(e.data.event_name() for e in outcome.events)),
        links=m.links_written,
        counties=Counts(registered=len(c.registered), changed=len(c.changed), unchanged=c.unchanged),
    )


async def _from_folder(folder: str) -> Kommuneinndeling:
    path = FilePath(folder)
    if not await asyncio.to_thread(path.is_dir):
        raise field_error("folder", f"no such folder on the server: {folder}")
    try:
        return await asyncio.to_thread(klass.load_folder, path)
    except FileNotFoundError as exc:
        raise field_error("folder", f"a file is missing: {FilePath(exc.filename or '').name}") from None
    except (klass.KlassDataError, ValueError, KeyError, TypeError, OSError) as exc:
        raise field_error("folder", f"not readable as saved KLASS responses: {_reason(exc)}") from None


async def _from_klass(base_url: str) -> Kommuneinndeling:
    try:
        return await klass.fetch_kommuneinndeling(base_url=base_url)
    except httpx.HTTPStatusError as exc:
        raise _bad_gateway(
            base_url, f"it answered {exc.response.status_code} for {exc.request.url}"
        ) from None
    except httpx.TimeoutException:
        raise _bad_gateway(base_url, "it did not answer in time") from None
    except httpx.HTTPError as exc:
        raise _bad_gateway(base_url, f"cannot connect ({_reason(exc)})") from None
    except (klass.KlassDataError, ValueError, KeyError, TypeError) as exc:
        raise _bad_gateway(base_url, f"its answer could not be read: {_reason(exc)}") from None


def _bad_gateway(base_url: str, why: str) -> Problem:
    return Problem(
        502,
        "Bad Gateway",
        f"SSB KLASS at {base_url} could not be read: {why}; nothing imported",
        errors=[{"field": "source", "message": f"SSB KLASS could not be read: {why}"}],
    )


def _bad_data(body: ImportIn, why: str) -> Problem:
    if body.source == "folder":
        return field_error("folder", why)
    return Problem(
        502,
        "Bad Gateway",
        f"SSB KLASS data refused, nothing imported: {why}",
        errors=[{"field": "source", "message": why}],
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- Queries ---------------------------------------------------------------------------------


@router.get("/municipalities/{kommunenummer}", response_model=MunicipalityOut)
async def get_municipality(
    kommunenummer: KommunePath, pool: Pool, clock: Today, _: Reader, on: OnDay = None
) -> MunicipalityOut:
    """The municipality that had this number on the day `on`."""
    day = on or clock.today()
    async with pool.acquire() as conn:
        version = await municipalities.municipality_on(conn, kommunenummer, day)
    if version is None:
        raise _no_municipality(kommunenummer, day)
    return municipality_out(version)


@router.get("/municipalities/{kommunenummer}/current", response_model=CurrentOut)
async def get_current(
    kommunenummer: KommunePath, pool: Pool, clock: Today, _: Reader, on: OnDay = None
) -> CurrentOut:
    """The number(s) the municipality with this number on `on` has today (1702 Steinkjer on
    2010-01-01: 5006), following mergers, renumberings and splits."""
    today = clock.today()
    day = on or today
    if day > today:
        raise field_error("on", f"is after today ({today}): the future is not known")
    async with pool.acquire() as conn:
        then = await municipalities.municipality_on(conn, kommunenummer, day)
        if then is None:
            raise _no_municipality(kommunenummer, day)
        codes = await municipalities.current_code(conn, kommunenummer, day, today)
        now = [await municipalities.municipality_on(conn, code, today) for code in codes]
    return CurrentOut(
        kommunenummer=kommunenummer,
        on=day,
        today=today,
        municipality=municipality_out(then),
        current=codes,
        versions=[municipality_out(v) for v in now if v is not None],
    )


@router.get("/municipalities/{kommunenummer}/history", response_model=list[MunicipalityOut])
async def get_history(kommunenummer: KommunePath, pool: Pool, _: Reader) -> list[MunicipalityOut]:
    """Every version that has had this number, oldest first, with predecessors and successors."""
    async with pool.acquire() as conn:
        versions = await municipalities.municipality_history(conn, kommunenummer)
    if not versions:
        raise Problem(404, "Not Found", f"no municipality has had the number {kommunenummer}")
    return [municipality_out(v) for v in versions]


@router.get("/counties", response_model=list[CountyOut])
async def list_counties(pool: Pool, clock: Today, _: Reader, on: OnDay = None) -> list[CountyOut]:
    """Every county (fylke) on the day, with how many municipalities it had then."""
    day = on or clock.today()
    async with pool.acquire() as conn:
        counties = await municipalities.counties_on(conn, day)
        per_county = Counter(m.fylkesnummer for m in await municipalities.municipalities_on(conn, day))
    return [county_out(c, per_county[c.fylkesnummer]) for c in counties]


@router.get("/counties/{fylkesnummer}/municipalities", response_model=list[MunicipalityOut])
async def list_county_municipalities(
    fylkesnummer: FylkePath, pool: Pool, clock: Today, _: Reader, on: OnDay = None
) -> list[MunicipalityOut]:
    """Every municipality in the county on the day, by kommunenummer."""
    day = on or clock.today()
    async with pool.acquire() as conn:
        county = await municipalities.county_on(conn, fylkesnummer, day)
        versions = await municipalities.municipalities_in_county(conn, fylkesnummer, day)
    if county is None and not versions:
        raise Problem(404, "Not Found", f"no county had the number {fylkesnummer} on {day}")
    return [municipality_out(v) for v in versions]


def _no_municipality(kommunenummer: str, day: date) -> Problem:
    return Problem(404, "Not Found", f"no municipality had the number {kommunenummer} on {day}")
