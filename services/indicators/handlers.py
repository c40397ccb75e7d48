"""The indicators service's handlers for the catalogue and for values: one per command and per
consumed event, and the queries. The plan cycle's are in `plan/handlers.py`.

A command handler owns its transaction through its unit of work: it checks who may (a refusal is
a 403 problem that changes nothing), locks what it changes, lets `domain` decide, then commits
state, events (outbox) and audit log with its answer. A refusal of the rules (`domain.Refused`)
rolls back and answers as a problem naming the field (`@command`).

Who may do what:
- the catalogue: programme staff change it (the route's StaffCommand); everyone with a token reads;
- values: a municipality's contact reports for its own municipality only (the token's `kommune`),
  programme staff for any; everyone with a token reads.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    IndicatorDefined,
    IndicatorReported,
    IndicatorStatus,
    MunicipalityChanged,
    MunicipalityRef,
    MunicipalityRegistered,
)

from services.reference import population as ssb
from services.runtime import tracing
from services.runtime.auth import Principal, ensure_can_act_for
from services.runtime.problems import Problem, field_error
from services.runtime.refusals import command, problem_of
from services.runtime.schemas import Accepted
from services.runtime.settings import Settings
from services.runtime.unit_of_work import Actor, UnitOfWork

from . import csvfile, domain, store
from .schemas import (
    IndicatorDetail,
    IndicatorFields,
    IndicatorIn,
    IndicatorOut,
    IndicatorRevisionOut,
    PopulationOut,
    UploadAccepted,
    ValueAccepted,
    ValueHistory,
    ValueIn,
    ValueOut,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

CATALOGUE_FILE = Path(__file__).parent / "data" / "catalogue.json"
SERVICE = Actor(subject="livskraft-indicators", role="system")
"""Who the audit log names for the catalogue the service loads itself when it starts."""
SOURCE = "/livskraft/indicators"
"""The CloudEvents source of every event this service writes, IndicatorReported's included."""


def wrap(events: Sequence[Any], first: int) -> list[CloudEvent[Any]]:
    return [
        CloudEvent.wrap(e, sequence=first + i, source=SOURCE, traceparent=tracing.current())
        for i, e in enumerate(events)
    ]


# -- The catalogue ---------------------------------------------------------------------------------


async def _define(
    conn: asyncpg.Connection, entry: IndicatorDefined, actor: Actor, at: datetime
) -> list[CloudEvent[Any]]:
    domain.check_bounds(entry)
    revised = domain.define(entry, await store.indicator(conn, entry.indicator))
    if revised is None:
        return []
    await store.save_indicator(conn, revised, actor, at)
    envelopes = wrap([revised], revised.revision)
    await store.write_events(conn, envelopes, actor, at)
    return envelopes


def _entry(indicator: str, body: IndicatorFields) -> IndicatorDefined:
    fields = body.model_dump(exclude={"indicator"})
    try:
        return IndicatorDefined(indicator=indicator, revision=1, **fields)
    except ValueError as exc:  # the contract's own rules (maximum below minimum)
        raise field_error("maximum", str(exc).splitlines()[-1]) from None


@command
async def add_indicator(uow: UnitOfWork, body: IndicatorIn) -> IndicatorOut:
    """A new indicator in the catalogue: IndicatorDefined, revision 1."""
    entry = _entry(body.indicator, body)
    async with uow:
        await store.lock_catalogue(uow.conn)
        domain.ensure_new(body.indicator, await store.indicator(uow.conn, body.indicator))
        await _define(uow.conn, entry, uow.actor, uow.now())
        return await uow.commit(IndicatorOut.model_validate(await _stored(uow.conn, body.indicator)))


@command
async def revise_indicator(uow: UnitOfWork, indicator: str, body: IndicatorFields) -> IndicatorOut:
    """A revision of an entry (the whole entry): IndicatorDefined with the next revision, or
    nothing when it is what is stored. Values already reported stand."""
    entry = _entry(indicator, body)
    async with uow:
        await store.lock_catalogue(uow.conn)
        if await store.indicator(uow.conn, indicator) is None:
            raise Problem(404, "Not Found", f"no indicator {indicator}")
        await _define(uow.conn, entry, uow.actor, uow.now())
        return await uow.commit(IndicatorOut.model_validate(await _stored(uow.conn, indicator)))


async def _stored(conn: asyncpg.Connection, indicator: str) -> dict[str, Any]:
    entry = await store.indicator(conn, indicator)
    assert entry is not None
    return entry.model_dump()


def load_catalogue_file(path: Path = CATALOGUE_FILE) -> list[IndicatorDefined]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [IndicatorDefined.model_validate({**e, "revision": 1}) for e in data["indicators"]]


async def load_catalogue_if_empty(pool: asyncpg.Pool, settings: Settings) -> None:
    """At start-up: an empty catalogue gets the bundled one (data/catalogue.json), with an
    IndicatorDefined each. Replicas starting at once wait on the catalogue lock; the second finds
    it filled and writes nothing."""
    entries = await asyncio.to_thread(load_catalogue_file)
    async with pool.acquire() as conn, conn.transaction():
        await store.lock_catalogue(conn)
        if not await store.catalogue_is_empty(conn):
            return
        at = await conn.fetchval("SELECT now()")
        for entry in entries:
            await _define(conn, entry, SERVICE, at)
    log.info("loaded the bundled indicator catalogue: %d indicators", len(entries))


async def catalogue(pool: asyncpg.Pool) -> list[IndicatorOut]:
    async with pool.acquire() as conn:
        return [IndicatorOut.model_validate(e.model_dump()) for e in await store.indicators(conn)]


async def indicator_detail(pool: asyncpg.Pool, principal: Principal, indicator: str) -> IndicatorDetail:
    async with pool.acquire() as conn:
        entry = await store.indicator(conn, indicator)
        if entry is None:
            raise Problem(404, "Not Found", f"no indicator {indicator}")
        revisions = await store.indicator_revisions(conn, indicator)
    return IndicatorDetail(
        **entry.model_dump(),
        revisions=[
            IndicatorRevisionOut(
                revision=r["revision"],
                entry=IndicatorOut.model_validate(r["entry"]),
                changed_at=r["changed_at"],
                actor_role=r["actor_role"],
                actor=r["actor"] if principal.is_staff else None,
            )
            for r in revisions
        ],
    )


# -- Reporting values ------------------------------------------------------------------------------


def _report(body: ValueIn) -> domain.Report:
    return domain.Report(
        indicator=body.indicator,
        year=body.year,
        status=IndicatorStatus(body.status),
        value=body.value,
        total=body.total,
        comment=body.comment or None,
        supersedes_revision=body.supersedes_revision,
    )


class _Reporter:
    """Decides the reports of one municipality in one transaction, its stream locked: what each
    adds, the events and the rows, and the problems of those refused (named by `where`)."""

    def __init__(self, conn: asyncpg.Connection, kommunenummer: str, today: date) -> None:
        self.conn, self.kommunenummer, self.today = conn, kommunenummer, today
        self.events: list[IndicatorReported] = []
        self.rows: list[tuple[str, int, MunicipalityRef, domain.NewRevision, str | None, int | None]] = []
        self.problems: list[dict[str, str]] = []
        self.unchanged = 0

    async def start(self) -> None:
        if not await store.knows_municipalities(self.conn):
            raise Problem(
                503, "Service Unavailable", "The municipality codes have not arrived from the registry yet"
            )
        self.sequence = await store.lock_stream(self.conn, self.kommunenummer)
        self.versions = await store.code_versions(self.conn, self.kommunenummer)
        self.latest = await store.latest_revisions(self.conn, self.kommunenummer)
        self.entries = {e.indicator: domain.Indicator.of(e) for e in await store.indicators(self.conn)}

    def add(
        self, report: domain.Report, where: Callable[[str], str] = lambda f: f
    ) -> domain.NewRevision | None:
        try:
            indicator = self.entries.get(report.indicator)
            if indicator is None:
                raise domain.Refused("indicator", f"{report.indicator!r} is not in the catalogue")
            ref = domain.code_in_year(self.versions, self.kommunenummer, report.year)
            key = (report.indicator, report.year)
            people = ssb.population(self.kommunenummer, report.year) if report.total is not None else None
            new = domain.report(report, indicator, self.latest.get(key), people, self.today)
        except domain.Refused as exc:
            self.problems.append(
                {"field": where(exc.field), "message": exc.message, "status": str(exc.status)}
            )
            return None
        if new is None:
            self.unchanged += 1
            return None
        self.latest[key] = domain.Revision(new.revision, new.value, new.status, report.comment)
        self.events.append(
            IndicatorReported(
                municipality=ref,
                indicator=report.indicator,
                year=report.year,
                value=new.value,
                status=new.status,
                revision=new.revision,
            )
        )
        self.rows.append(
            (report.indicator, report.year, ref, new, report.comment, report.supersedes_revision)
        )
        return new

    async def save(self, actor: Actor, at: datetime) -> list[CloudEvent[Any]]:
        envelopes = wrap(self.events, self.sequence + 1)
        await store.set_stream_sequence(self.conn, self.kommunenummer, self.sequence + len(envelopes))
        await store.insert_values(
            self.conn,
            self.kommunenummer,
            [(*row, e.id) for row, e in zip(self.rows, envelopes, strict=True)],
            actor,
            at,
        )
        corrections = [new.correction for _, _, _, new, _, _ in self.rows]
        await store.write_events(
            self.conn,
            envelopes,
            actor,
            at,
            kommunenummer=self.kommunenummer,
            reasons=[
                comment if c else None
                for (_, _, _, _, comment, _), c in zip(self.rows, corrections, strict=True)
            ],
            actions=["IndicatorCorrected" if c else "IndicatorReported" for c in corrections],
        )
        return envelopes


async def report_value(uow: UnitOfWork, kommunenummer: str, body: ValueIn) -> ValueAccepted:
    """A value for the municipality: IndicatorReported with its next revision; nothing when it
    repeats the value of record; refused when it would change a final value silently."""
    ensure_can_act_for(uow.principal, kommunenummer)
    report = _report(body)
    async with uow:
        reporter = _Reporter(uow.conn, kommunenummer, uow.today)
        await reporter.start()
        new = reporter.add(report)
        if reporter.problems:
            problem = reporter.problems[0]
            raise problem_of(domain.Refused(problem["field"], problem["message"], int(problem["status"])))
        envelopes = await reporter.save(uow.actor, uow.now())
        revision = new or reporter.latest[(report.indicator, report.year)]
        return await uow.commit(
            ValueAccepted(
                **Accepted.of(envelopes).model_dump(),
                kommunenummer=kommunenummer,
                indicator=report.indicator,
                year=report.year,
                revision=revision.revision,
                value=revision.value,
                status=str(revision.status),
                correction=new.correction if new else False,
            )
        )


async def upload_values(uow: UnitOfWork, kommunenummer: str, data: bytes) -> UploadAccepted:
    """A CSV file of values for the municipality: every row decided as one report would be, all
    or nothing. One bad row and nothing is saved; the problem names every bad row and field."""
    ensure_can_act_for(uow.principal, kommunenummer)
    rows, problems = csvfile.parse(data)
    if problems:
        raise _bad_file([{"field": p.field, "message": p.message} for p in problems])
    async with uow:
        reporter = _Reporter(uow.conn, kommunenummer, uow.today)
        await reporter.start()
        for row in rows:
            reporter.add(row.report, where=functools.partial(csvfile.field, row.line))
        if reporter.problems:
            raise _bad_file(reporter.problems)
        envelopes = await reporter.save(uow.actor, uow.now())
        return await uow.commit(
            UploadAccepted(
                **Accepted.of(envelopes).model_dump(),
                kommunenummer=kommunenummer,
                rows=len(rows),
                reported=len(envelopes),
                unchanged=reporter.unchanged,
                corrections=sum(1 for *_, new, _, _ in reporter.rows if new.correction),
            )
        )


def _bad_file(errors: list[dict[str, str]]) -> Problem:
    errors = [{"field": e["field"], "message": e["message"]} for e in errors]
    lines = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:20])
    more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
    return Problem(
        422,
        "Invalid file",
        f"{len(errors)} problem(s), nothing saved: {lines}{more}",
        errors=errors,
    )


def _value(row: dict[str, Any], principal: Principal) -> ValueOut:
    return ValueOut.model_validate({**row, "reported_by": row["reported_by"] if principal.is_staff else None})


async def values(
    pool: asyncpg.Pool, principal: Principal, kommunenummer: str, indicator: str | None, year: int | None
) -> list[ValueOut]:
    """A municipality's values of record (the latest revision of each)."""
    async with pool.acquire() as conn:
        rows = await store.values_of_record(conn, kommunenummer, indicator, year)
    return [_value(r, principal) for r in rows]


async def value_history(
    pool: asyncpg.Pool, principal: Principal, kommunenummer: str, indicator: str, year: int
) -> ValueHistory:
    """Every revision of one value, the first first."""
    async with pool.acquire() as conn:
        rows = await store.value_history(conn, kommunenummer, indicator, year)
    if not rows:
        raise Problem(404, "Not Found", f"{kommunenummer} has reported no {indicator} for {year}")
    return ValueHistory(
        kommunenummer=kommunenummer,
        indicator=indicator,
        year=year,
        revisions=[_value(r, principal) for r in rows],
    )


def population(kommunenummer: str, year: int) -> PopulationOut:
    return PopulationOut(
        kommunenummer=kommunenummer,
        year=year,
        population=ssb.population(kommunenummer, year),
        source=ssb.SOURCE,
    )


# -- The registry's events -------------------------------------------------------------------------

MunicipalityEvent = MunicipalityRegistered | MunicipalityChanged


async def _municipality(conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityEvent]]) -> None:
    await store.municipality_versions(
        conn,
        [
            (d.kommunenummer, d.valid_from, d.valid_to, d.name, d.county, e.sequence)
            for e in events
            for d in [e.data]
        ],
    )


async def municipality_registered(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityRegistered]]
) -> None:
    await _municipality(conn, events)


async def municipality_changed(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityChanged]]
) -> None:
    await _municipality(conn, events)
