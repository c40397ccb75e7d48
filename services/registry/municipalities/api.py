"""The registry's municipality API: import SSB KLASS (kommuneinndeling), ask what held on a day.

A kommunenummer is never a timeless key: every query names a day (`on`, the service's today
unless given), and answers with dated versions, valid in [valid_from, valid_to). The routes parse,
authorize and call a handler (handlers.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.runtime.deps import Pool, Reader, StaffCommand, Today
from services.runtime.inputs import IsoDate

from . import handlers, sources
from .schemas import CountyOut, CurrentOut, ImportIn, ImportOut, MunicipalityOut

router = APIRouter(tags=["municipalities"])

KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]
FylkePath = Annotated[str, Path(pattern=r"^[0-9]{2}$", description="fylkesnummer, 2 digits")]
OnDay = Annotated[
    IsoDate | None, Query(description="the day asked about (YYYY-MM-DD); the service's today if left out")
]


def klass_api_url(request: Request) -> str:
    """The live KLASS API's base URL: the setting `klass_api_url`, else SSB's own."""
    return request.app.state.settings.klass_api_url or sources.KLASS_API


@router.post("/municipalities/import", response_model=ImportOut)
async def import_municipalities(
    request: Request, uow: StaffCommand, body: ImportIn | None = None
) -> ImportOut:
    """Import the kommuneinndeling (KLASS 131) and fylkesinndeling (104), by default from the
    data bundled with the registry; write MunicipalityRegistered for each new version and
    MunicipalityChanged for each changed one. Idempotent: importing the same data again changes
    nothing and writes no events. Programme staff only."""
    return await handlers.import_municipalities(uow, body or ImportIn(), klass_api_url(request))


@router.get("/municipalities/{kommunenummer}", response_model=MunicipalityOut)
async def get_municipality(
    kommunenummer: KommunePath, pool: Pool, clock: Today, _: Reader, on: OnDay = None
) -> MunicipalityOut:
    """The municipality that had this number on the day `on`."""
    return await handlers.municipality(pool, kommunenummer, on or clock.today())


@router.get("/municipalities/{kommunenummer}/current", response_model=CurrentOut)
async def get_current(
    kommunenummer: KommunePath, pool: Pool, clock: Today, _: Reader, on: OnDay = None
) -> CurrentOut:
    """The number(s) the municipality with this number on `on` has today (1702 Steinkjer on
    2010-01-01: 5006), following mergers, renumberings and splits."""
    today = clock.today()
    return await handlers.current(pool, kommunenummer, on or today, today)


@router.get("/municipalities/{kommunenummer}/history", response_model=list[MunicipalityOut])
async def get_history(kommunenummer: KommunePath, pool: Pool, _: Reader) -> list[MunicipalityOut]:
    """Every version that has had this number, oldest first, with predecessors and successors."""
    return await handlers.history(pool, kommunenummer)


@router.get("/counties", response_model=list[CountyOut])
async def list_counties(pool: Pool, clock: Today, _: Reader, on: OnDay = None) -> list[CountyOut]:
    """Every county (fylke) on the day, with how many municipalities it had then."""
    return await handlers.counties(pool, on or clock.today())


@router.get("/counties/{fylkesnummer}/municipalities", response_model=list[MunicipalityOut])
async def list_county_municipalities(
    fylkesnummer: FylkePath, pool: Pool, clock: Today, _: Reader, on: OnDay = None
) -> list[MunicipalityOut]:
    """Every municipality in the county on the day, by kommunenummer."""
    return await handlers.county_municipalities(pool, fylkesnummer, on or clock.today())
