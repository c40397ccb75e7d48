"""The municipality side's handlers: the import command, the start-up import, and the queries.

The import reads its source first (the bundle, a folder, or the live KLASS API: sources.py), with
no database connection held while KLASS answers, then imports in one transaction of its own: it
takes the import lock, plans against what is stored (domain.py), writes the versions and links,
and writes MunicipalityRegistered / MunicipalityChanged to the outbox and the audit log
(store.py, events.py). Idempotent by content (the same data again changes nothing and writes no
event) and by request (an `Idempotency-Key` replays the first answer: the unit of work).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from livskraft_contracts import CloudEvent
from livskraft_contracts.registry import MunicipalityFacts
from pydantic import ValidationError

from services.runtime.problems import Problem, field_error
from services.runtime.settings import Settings
from services.runtime.unit_of_work import Actor, UnitOfWork

from . import events, sources, store
from .domain import ImportResult
from .klass import CountyVersion, KlassDataError, Kommuneinndeling, MunicipalityVersion
from .schemas import Counts, CountyOut, CurrentOut, ImportIn, ImportOut, MunicipalityOut, Source

log = logging.getLogger(__name__)

REGISTRY = Actor(subject="livskraft-registry", role="system")
"""Who the audit log names for the import the registry does itself when it starts."""


@dataclass(frozen=True)
class ImportOutcome:
    """What an import stored, and the events it wrote."""

    municipalities: ImportResult[MunicipalityVersion]
    counties: ImportResult[CountyVersion]
    events: list[CloudEvent[MunicipalityFacts]]

    def answer(self, source: Source) -> ImportOut:
        m, c = self.municipalities, self.counties
        return ImportOut(
            source=source,
            registered=len(m.registered),
            changed=len(m.changed),
            unchanged=m.unchanged,
            events=len(self.events),
            event_types=dict(Counter(e.data.event_name() for e in self.events)),
            links=m.links_written,
            counties=Counts(registered=len(c.registered), changed=len(c.changed), unchanged=c.unchanged),
        )


async def import_and_publish(conn: asyncpg.Connection, data: Kommuneinndeling, actor: Actor) -> ImportOutcome:
    """Import a kommuneinndeling and write its events, in the caller's transaction, one import
    at a time. Idempotent: a second import of the same data writes nothing."""
    await store.lock_imports(conn)
    municipalities, counties = await store.import_kommuneinndeling(conn, data)
    facts = events.import_events(municipalities)
    first = await store.reserve_sequences(conn, Counter(e.kommunenummer for e in facts))
    envelopes = events.numbered(facts, first)
    if envelopes:
        await store.write_events(conn, envelopes, actor)
    return ImportOutcome(municipalities, counties, envelopes)


# --- Commands -------------------------------------------------------------------------------------


async def import_municipalities(uow: UnitOfWork, body: ImportIn, klass_api_url: str) -> ImportOut:
    """Import the kommuneinndeling (KLASS 131) and fylkesinndeling (104) from the source asked
    for; programme staff only (the route's unit of work)."""
    data = await read_source(body, klass_api_url)
    try:
        async with uow:
            outcome = await import_and_publish(uow.conn, data, uow.actor)
            return await uow.commit(outcome.answer(body.source))
    except asyncpg.ExclusionViolationError as exc:  # checked at commit
        raise Problem(
            409, "Conflict", f"the data clashes with the stored versions, nothing imported: {exc}"
        ) from None
    except ValidationError as exc:  # a version that cannot become an event (e.g. a bad orgnr)
        raise _bad_data(body.source, f"a version cannot become an event: {exc.errors()[0]['msg']}") from None


async def import_bundled_if_empty(pool: asyncpg.Pool, settings: Settings) -> None:
    """At start-up: if no municipality is stored, import the bundled data (with its events).
    Replicas starting at once wait for each other on the import lock; the ones that come second
    find the tables filled and write nothing."""
    async with pool.acquire() as conn:
        if await store.holds_municipalities(conn):
            return
    started = time.perf_counter()
    data = await asyncio.to_thread(sources.load_bundled)
    async with pool.acquire() as conn, conn.transaction():
        await store.lock_imports(conn)
        if await store.holds_municipalities(conn):
            return
        outcome = await import_and_publish(conn, data, REGISTRY)
    log.info(
        "imported the bundled municipalities: %d versions, %d counties, %d events in %.2f s",
        len(outcome.municipalities.registered),
        len(outcome.counties.registered),
        len(outcome.events),
        time.perf_counter() - started,
    )


# --- Reading a source -----------------------------------------------------------------------------


async def read_source(body: ImportIn, klass_api_url: str) -> Kommuneinndeling:
    """The kommuneinndeling from the source the request names; a problem naming the field when
    it cannot be read."""
    if body.source != "folder" and body.folder is not None:
        raise field_error("folder", "is only for source 'folder'")
    if body.source == "bundled":
        return await asyncio.to_thread(sources.load_bundled)
    if body.source == "folder":
        if body.folder is None:
            raise field_error("folder", "is required when source is 'folder'")
        return await _from_folder(body.folder)
    return await _from_klass(klass_api_url)


async def _from_folder(folder: str) -> Kommuneinndeling:
    path = Path(folder)
    if not await asyncio.to_thread(path.is_dir):
        raise field_error("folder", f"no such folder on the server: {folder}")
    try:
        return await asyncio.to_thread(sources.load_folder, path)
    except FileNotFoundError as exc:
        raise field_error("folder", f"a file is missing: {Path(exc.filename or '').name}") from None
    except (KlassDataError, ValueError, KeyError, TypeError, OSError) as exc:
        raise field_error("folder", f"not readable as saved KLASS responses: {_reason(exc)}") from None


async def _from_klass(base_url: str) -> Kommuneinndeling:
    try:
        return await sources.fetch_kommuneinndeling(base_url)
    except httpx.HTTPStatusError as exc:
        raise _bad_gateway(
            base_url, f"it answered {exc.response.status_code} for {exc.request.url}"
        ) from None
    except httpx.TimeoutException:
        raise _bad_gateway(base_url, "it did not answer in time") from None
    except httpx.HTTPError as exc:
        raise _bad_gateway(base_url, f"cannot connect ({_reason(exc)})") from None
    except (KlassDataError, ValueError, KeyError, TypeError) as exc:
        raise _bad_gateway(base_url, f"its answer could not be read: {_reason(exc)}") from None


def _bad_gateway(base_url: str, why: str) -> Problem:
    return Problem(
        502,
        "Bad Gateway",
        f"SSB KLASS at {base_url} could not be read: {why}; nothing imported",
        errors=[{"field": "source", "message": f"SSB KLASS could not be read: {why}"}],
    )


def _bad_data(source: Source, why: str) -> Problem:
    if source == "folder":
        return field_error("folder", why)
    return Problem(
        502 if source == "klass" else 500,
        "Bad Gateway" if source == "klass" else "Internal Server Error",
        f"the {source} KLASS data was refused, nothing imported: {why}",
        errors=[{"field": "source", "message": why}],
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- Queries --------------------------------------------------------------------------------------


async def municipality(pool: asyncpg.Pool, kommunenummer: str, day: date) -> MunicipalityOut:
    """The municipality that had this number on the day."""
    async with pool.acquire() as conn:
        version = await store.municipality_on(conn, kommunenummer, day)
    if version is None:
        raise _no_municipality(kommunenummer, day)
    return MunicipalityOut.of(version)


async def current(pool: asyncpg.Pool, kommunenummer: str, day: date, today: date) -> CurrentOut:
    """The number(s) the municipality with this number on `day` has `today`."""
    if day > today:
        raise field_error("on", f"is after today ({today}): the future is not known")
    async with pool.acquire() as conn:
        then = await store.municipality_on(conn, kommunenummer, day)
        if then is None:
            raise _no_municipality(kommunenummer, day)
        codes = await store.current_code(conn, kommunenummer, day, today)
        now = [await store.municipality_on(conn, code, today) for code in codes]
    return CurrentOut(
        kommunenummer=kommunenummer,
        on=day,
        today=today,
        municipality=MunicipalityOut.of(then),
        current=codes,
        versions=[MunicipalityOut.of(v) for v in now if v is not None],
    )


async def history(pool: asyncpg.Pool, kommunenummer: str) -> list[MunicipalityOut]:
    """Every version that has had this number, oldest first."""
    async with pool.acquire() as conn:
        versions = await store.municipality_history(conn, kommunenummer)
    if not versions:
        raise Problem(404, "Not Found", f"no municipality has had the number {kommunenummer}")
    return [MunicipalityOut.of(v) for v in versions]


async def counties(pool: asyncpg.Pool, day: date) -> list[CountyOut]:
    """Every county on the day, with how many municipalities it had then."""
    async with pool.acquire() as conn:
        on_day = await store.counties_on(conn, day)
        per_county = await store.municipalities_per_county(conn, day)
    return [CountyOut.of(c, per_county.get(c.fylkesnummer, 0)) for c in on_day]


async def county_municipalities(pool: asyncpg.Pool, fylkesnummer: str, day: date) -> list[MunicipalityOut]:
    """Every municipality in the county on the day, by kommunenummer."""
    async with pool.acquire() as conn:
        county = await store.county_on(conn, fylkesnummer, day)
        versions = await store.municipalities_in_county(conn, fylkesnummer, day)
    if county is None and not versions:
        raise Problem(404, "Not Found", f"no county had the number {fylkesnummer} on {day}")
    return [MunicipalityOut.of(v) for v in versions]


def _no_municipality(kommunenummer: str, day: date) -> Problem:
    return Problem(404, "Not Found", f"no municipality had the number {kommunenummer} on {day}")
