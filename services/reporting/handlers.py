"""Reporting's handlers: one per consumed event type, the statistics queries, and publishing.

Event handlers get a run of consecutive events of their type inside the consumer's transaction
(services/runtime/events.py) and write it with one bulk statement per table (store.py), after
folding it to one event per row: the latest by the aggregate's sequence wins, in a run as across
runs, so the rows do not depend on the order events arrive in across topics.

`publish` is a command (programme staff): it freezes a dataset for a period as the next version,
at a URL of its own, and announces it with StatisticsPublished through the outbox, in one
transaction.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    ContactAssigned,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    IndicatorDefined,
    IndicatorReported,
    MunicipalityChanged,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
    ParticipantRegistered,
    StatisticsPublished,
)

from services.reference.population import population
from services.runtime import outbox, tracing
from services.runtime.problems import Problem, field_error
from services.runtime.refusals import problem_of
from services.runtime.unit_of_work import UnitOfWork

from . import comparisons, domain, indicator_statistics, jsonstat, reference, store, summary
from .schemas import (
    AttendanceOut,
    ComparisonOut,
    DecisionOut,
    GatheringOut,
    MemberOut,
    NetworkReport,
    Published,
    PublishedOut,
    PublishIn,
)

SOURCE = "KS, programmet Livskraftige kommuner (Livskraft): hendelser fra registeret og samlingene"


# -- Networks ---------------------------------------------------------------------------------------


async def network_created(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkCreated]]) -> None:
    await store.networks_created(
        conn,
        [
            (
                e.data.network_id,
                e.data.name,
                ",".join(e.data.themes),
                e.data.county,
                e.data.region,
                e.data.period_start,
                e.data.period_end,
                e.data.enrolment_deadline,
                e.data.target_size_min,
                e.data.target_size_max,
                e.time,
                e.sequence,
            )
            for e in domain.latest(events, lambda e: e.data.network_id)
        ],
    )


async def network_closed(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkClosed]]) -> None:
    await store.networks_closed(
        conn,
        [
            (e.data.network_id, str(e.data.reason), e.time, e.sequence)
            for e in domain.latest(events, lambda e: e.data.network_id)
        ],
    )


# -- Enrolment: a member's status is its latest event's -------------------------------------------------

MemberEvent = MunicipalityInvited | EnrolmentSubmitted | EnrolmentConfirmed | EnrolmentWithdrawn


async def _enrolment(conn: asyncpg.Connection, events: Sequence[CloudEvent[MemberEvent]]) -> None:
    def member(e: CloudEvent[MemberEvent]) -> tuple[Any, str]:
        return e.data.network_id, e.data.municipality.kommunenummer

    first = domain.earliest(events, member)
    rows = []
    for e in domain.latest(events, member):
        f = first[member(e)]
        ref = e.data.municipality
        status = domain.MEMBER_STATUS[type(e.data)]
        rows.append(
            (
                e.data.network_id,
                ref.kommunenummer,
                ref.valid_on,
                status,
                e.sequence,
                e.time,
                f.sequence,
                f.time,
            )
        )
    await store.member_states(conn, rows)
    await store.enrolment_history(
        conn,
        [
            (
                e.data.network_id,
                e.sequence,
                e.data.municipality.kommunenummer,
                e.data.municipality.valid_on,
                domain.MEMBER_STATUS[type(e.data)],
                isinstance(e.data, EnrolmentSubmitted) and e.data.late_override,
                e.time,
            )
            for e in events
        ],
    )


async def municipality_invited(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityInvited]]
) -> None:
    await _enrolment(conn, events)


async def enrolment_submitted(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentSubmitted]]
) -> None:
    await _enrolment(conn, events)


async def enrolment_confirmed(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentConfirmed]]
) -> None:
    await _enrolment(conn, events)


async def enrolment_withdrawn(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentWithdrawn]]
) -> None:
    await _enrolment(conn, events)


async def decision_recorded(conn: asyncpg.Connection, events: Sequence[CloudEvent[DecisionRecorded]]) -> None:
    await store.decisions(
        conn,
        [
            (
                e.data.decision_id,
                e.data.network_id,
                e.data.municipality.kommunenummer,
                e.data.municipality.valid_on,
                str(e.data.body),
                e.data.case_number,
                e.data.decision_date,
                e.data.final,
                e.id,
                e.data.meeting_date,
                e.sequence,
                e.time,
            )
            for e in events
        ],
    )


async def contact_assigned(conn: asyncpg.Connection, events: Sequence[CloudEvent[ContactAssigned]]) -> None:
    """The role a municipality filled; the person's id is dropped here, never stored."""
    await store.contact_assignments(
        conn,
        [
            (
                e.data.network_id,
                e.sequence,
                e.data.municipality.kommunenummer,
                e.data.municipality.valid_on,
                str(e.data.role),
                e.time,
            )
            for e in events
        ],
    )


# -- Municipalities through time ----------------------------------------------------------------------

MunicipalityEvent = MunicipalityRegistered | MunicipalityChanged


async def _municipality(conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityEvent]]) -> None:
    await store.municipality_versions(
        conn,
        [
            (
                e.data.kommunenummer,
                e.data.valid_from,
                e.data.valid_to,
                e.data.name,
                e.data.county,
                e.data.organisation_number,
                json.dumps([p.model_dump(mode="json") for p in e.data.predecessors]),
                e.sequence,
                e.time,
            )
            for e in domain.latest(events, lambda e: (e.data.kommunenummer, e.data.valid_from))
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


# -- Gatherings ----------------------------------------------------------------------------------------

PlanEvent = GatheringScheduled | GatheringRescheduled | GatheringCancelled


async def _plan(conn: asyncpg.Connection, events: Sequence[CloudEvent[PlanEvent]], status: str) -> None:
    await store.gathering_plans(
        conn,
        [
            (
                e.data.gathering_id,
                e.data.network_id,
                e.data.starts_on,
                e.data.ends_on,
                e.data.place,
                e.data.host.kommunenummer if e.data.host else None,
                e.data.host.valid_on if e.data.host else None,
                e.sequence,
                status,
                e.time,
            )
            for e in domain.latest(events, lambda e: e.data.gathering_id)
        ],
    )


async def gathering_scheduled(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[GatheringScheduled]]
) -> None:
    await _plan(conn, events, "scheduled")


async def gathering_rescheduled(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[GatheringRescheduled]]
) -> None:
    await _plan(conn, events, "scheduled")


async def gathering_cancelled(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[GatheringCancelled]]
) -> None:
    await _plan(conn, events, "cancelled")


async def gathering_held(conn: asyncpg.Connection, events: Sequence[CloudEvent[GatheringHeld]]) -> None:
    """The day it was held, and its attendance and cases as its latest GatheringHeld says."""
    latest = domain.latest(events, lambda e: e.data.gathering_id)
    newest = await store.gatherings_held(
        conn, [(e.data.gathering_id, e.data.network_id, e.data.held_on, e.sequence, e.time) for e in latest]
    )
    replacing = [e for e in latest if e.data.gathering_id in newest]
    await store.replace_attendance(
        conn,
        [e.data.gathering_id for e in replacing],
        [
            (
                e.data.gathering_id,
                a.municipality.kommunenummer,
                a.municipality.valid_on,
                str(a.role_category),
                a.count,
            )
            for e in replacing
            for a in e.data.attendance
        ],
        [
            (e.data.gathering_id, position, c.municipality.kommunenummer, c.municipality.valid_on, c.title)
            for e in replacing
            for position, c in enumerate(e.data.cases_presented)
        ],
    )


async def participant_registered(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[ParticipantRegistered]]
) -> None:
    """The municipality and role category of a participant; the person's id is not kept."""
    await store.participants(
        conn,
        [
            (
                e.data.gathering_id,
                e.sequence,
                e.data.municipality.kommunenummer,
                e.data.municipality.valid_on,
                str(e.data.role_category),
                e.time,
            )
            for e in events
        ],
    )


# -- Indicators -----------------------------------------------------------------------------------------


async def indicator_defined(conn: asyncpg.Connection, events: Sequence[CloudEvent[IndicatorDefined]]) -> None:
    """The catalogue entry as its highest revision says."""
    chosen: dict[str, CloudEvent[IndicatorDefined]] = {}
    for e in events:
        k = e.data.indicator
        if k not in chosen or (chosen[k].data.revision, chosen[k].sequence) < (e.data.revision, e.sequence):
            chosen[k] = e
    await store.indicators_defined(
        conn,
        [
            (
                d.indicator,
                d.revision,
                str(d.theme),
                d.label,
                d.unit,
                d.decimals,
                str(d.direction),
                d.source,
                d.per_inhabitant,
                d.minimum,
                d.maximum,
                d.retired,
                e.sequence,
                e.time,
            )
            for e in chosen.values()
            for d in (e.data,)
        ],
    )


async def indicator_reported(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[IndicatorReported]]
) -> None:
    """The value of record per municipality, indicator and year: the highest revision (events
    without one rank by sequence, below any with one)."""
    chosen: dict[tuple[str, str, int], CloudEvent[IndicatorReported]] = {}
    for e in events:
        k = (e.data.municipality.kommunenummer, e.data.indicator, e.data.year)
        if k not in chosen or domain.value_rank(chosen[k]) < domain.value_rank(e):
            chosen[k] = e
    await store.indicator_values(
        conn,
        [
            (
                k[0],
                k[1],
                k[2],
                e.data.municipality.valid_on,
                e.data.value,
                str(e.data.status),
                e.data.revision or 0,
                e.sequence,
                e.time,
            )
            for k, e in chosen.items()
        ],
    )


def indicator_fact(row: asyncpg.Record) -> comparisons.IndicatorFact:
    return comparisons.IndicatorFact(
        indicator=row["indicator"],
        theme=row["theme"],
        label=row["label"],
        unit=row["unit"],
        decimals=row["decimals"],
        direction=row["direction"],
        source=row["source"],
        per_inhabitant=row["per_inhabitant"],
    )


def value_facts(rows: Sequence[asyncpg.Record]) -> list[comparisons.ValueFact]:
    """The values of record that have a value (missing and confidential ones have none)."""
    return [
        comparisons.ValueFact(r["kommunenummer"], r["year"], r["value"], r["status"])
        for r in rows
        if r["value"] is not None
    ]


async def comparison(
    pool: asyncpg.Pool, indicator_id: str, kommunenummer: str, year: int, harmonised_to: int | None
) -> ComparisonOut:
    """One municipality's value beside its own earlier years, its networks' members, its county
    and the country (median, quartiles, where it stands), by the codes valid each year."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        entry = await store.indicator(conn, indicator_id)
        if entry is None:
            raise Problem(404, "Not Found", f"no indicator {indicator_id!r} in the catalogue")
        values = value_facts(await store.values_of(conn, indicator_id))
        facts = await store.facts(conn, ["history"], ())
        networks = await store.networks_of_members(conn, year)
    if harmonised_to is not None and not facts.history:
        raise field_error(
            "harmonised_to",
            "needs the municipalities' code history (MunicipalityRegistered/Changed), and none has arrived",
            409,
        )
    versions = facts.history.versions()
    counties = reference.counties()
    found = comparisons.compare(
        indicator_fact(entry),
        kommunenummer,
        year,
        values,
        versions,
        [
            comparisons.Network(
                str(n["network_id"]), n["name"], tuple(zip(n["codes"], n["valid_on"], strict=True))
            )
            for n in networks
        ],
        lambda county, y: domain.county_name(counties, county, [date(y, 1, 1)]),
        population,
        harmonised_to,
    )
    return ComparisonOut.model_validate(found)


async def year_summary(pool: asyncpg.Pool, year: int, today: date) -> str:
    """The year's summary page (HTML, bokmål): the programme's figures and the indicators
    against the year before."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        facts = await store.facts(
            conn, ["networks", "members", "decisions", "gatherings", "history"], reference.counties()
        )
        catalogue = await store.indicator_catalogue(conn, with_values=True)
        found = [
            summary.indicator_year(
                indicator_fact(r), value_facts(await store.values_of(conn, r["indicator"])), year
            )
            for r in catalogue
        ]
        indicators = [i for i in found if i.count or i.count_before]  # reported in the year or the one before
    return summary.render(summary.figures(facts, year, today, indicators))


# -- Statistics (public queries) ---------------------------------------------------------------------------


def dataset_options(
    dataset_id: str, today: date, first_year: int | None, last_year: int | None, harmonised_to: int | None
) -> tuple[domain.DatasetDefinition, domain.Options]:
    try:
        definition = domain.definition(dataset_id)
        return definition, domain.options(today, first_year, last_year, harmonised_to, geo=definition.geo)
    except domain.Refused as exc:
        raise problem_of(exc) from None


async def _build(
    conn: asyncpg.Connection,
    definition: domain.DatasetDefinition,
    options: domain.Options,
    href: str,
    now: datetime,
) -> dict[str, Any]:
    facts = await store.facts(conn, definition.needs, reference.counties())
    updated = await store.updated(conn, definition.needs) or now
    if options.harmonised_to is not None and not facts.history:
        raise field_error(
            "harmonised_to",
            "needs the municipalities' code history (MunicipalityRegistered/Changed), and none has arrived",
            409,
        )
    cube = definition.build(facts, options)
    return jsonstat.dataset(cube, href=href, source=SOURCE, updated=updated, csv_href=_with_csv(href))


def _with_csv(href: str) -> str:
    return f"{href}{'&' if '?' in href else '?'}format=csv"


async def dataset(
    pool: asyncpg.Pool,
    definition: domain.DatasetDefinition,
    options: domain.Options,
    href: str,
    now: datetime,
) -> dict[str, Any]:
    """The dataset as the projection holds it now, in one consistent snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await _build(conn, definition, options, href, now)


async def statistics_collection(pool: asyncpg.Pool, base: str, now: datetime) -> dict[str, Any]:
    """Every dataset, linked by href (JSON-stat 2.0 collection): the programme's, then one per
    indicator in the catalogue that has values (an empty cube is no table to read)."""
    async with pool.acquire() as conn:
        catalogue = await store.indicator_catalogue(conn, with_values=True)
    return jsonstat.collection(
        "Livskraftige kommuner: nasjonal statistikk",
        f"{base}statistics",
        now,
        [
            *(
                {"class": "dataset", "href": f"{base}statistics/{d.id}", "label": d.label}
                for d in domain.DATASETS.values()
            ),
            *(
                {
                    "class": "dataset",
                    "href": f"{base}statistics/{indicator_statistics.dataset_id(r['indicator'])}",
                    "label": f"{r['label']}, etter kommune og år",
                }
                for r in catalogue
            ),
        ],
    )


async def statistic(
    pool: asyncpg.Pool,
    dataset_id: str,
    today: date,
    first_year: int | None,
    last_year: int | None,
    harmonised_to: int | None,
    href: str,
    now: datetime,
) -> dict[str, Any]:
    """A dataset now: one of the programme's, or an indicator's by municipality and year."""
    indicator_id = indicator_statistics.indicator_of(dataset_id)
    if indicator_id is None:
        definition, options = dataset_options(dataset_id, today, first_year, last_year, harmonised_to)
        return await dataset(pool, definition, options, href, now)
    try:
        options = domain.options(today, first_year, last_year, harmonised_to, geo=True)
    except domain.Refused as exc:
        raise problem_of(exc) from None
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        entry = await store.indicator(conn, indicator_id)
        if entry is None:
            raise Problem(404, "Not Found", f"no dataset {dataset_id!r}: no indicator {indicator_id!r}")
        rows = await store.values_of(conn, indicator_id)
        facts = await store.facts(conn, ["history"], ())
    try:
        cube = indicator_statistics.cube(
            indicator_fact(entry),
            [
                indicator_statistics.Reported(r["kommunenummer"], r["year"], r["value"], r["status"])
                for r in rows
            ],
            facts.history,
            options,
            population,
        )
    except domain.Refused as exc:
        raise problem_of(exc) from None
    updated = max([entry["defined_at"], *(r["reported_at"] for r in rows)])
    return jsonstat.dataset(
        cube, href=href, source=f"{SOURCE}; {entry['source']}", updated=updated, csv_href=_with_csv(href)
    )


async def published_document(pool: asyncpg.Pool, dataset_id: str, version: int) -> str:
    """A published version, byte for byte as it was frozen."""
    async with pool.acquire() as conn:
        row = await store.published(conn, dataset_id, version)
    if row is None:
        raise Problem(404, "Not Found", f"no version {version} of dataset {dataset_id!r} has been published")
    return row["document"]  # type: ignore[no-any-return]


async def versions_collection(
    pool: asyncpg.Pool, dataset_id: str, base: str, now: datetime
) -> dict[str, Any]:
    try:
        definition = domain.definition(dataset_id)
    except domain.Refused as exc:
        raise problem_of(exc) from None
    async with pool.acquire() as conn:
        rows = await store.published_versions(conn, dataset_id)
    return jsonstat.collection(
        f"{definition.label}: publiserte versjoner",
        f"{base}statistics/{dataset_id}/versions",
        max((r["published_at"] for r in rows), default=now),
        [
            {
                "class": "dataset",
                "href": r["href"],
                "label": f"{definition.label}, versjon {r['version']} "
                f"({r['period_start'].isoformat()} til {r['period_end'].isoformat()})",
            }
            for r in rows
        ],
    )


# -- Publishing (a command of programme staff) -------------------------------------------------------------


async def publish(uow: UnitOfWork, dataset_id: str, body: PublishIn, base: str) -> PublishedOut:
    """Freeze the dataset for the period as its next version, at a URL of its own for good, and
    announce it with StatisticsPublished."""
    try:
        definition = domain.definition(dataset_id)
        options = domain.period_options(
            uow.today, body.period_start, body.period_end, body.harmonised_to, geo=definition.geo
        )
    except domain.Refused as exc:
        raise problem_of(exc) from None
    async with uow:
        version = domain.next_version(await store.lock_dataset(uow.conn, dataset_id))
        href = f"{base}statistics/{dataset_id}/versions/{version}"
        now = uow.now().astimezone(UTC)
        document = await _build(uow.conn, definition, options, href, now)
        document.setdefault("extension", {}).setdefault("livskraft", {}).update(
            {
                "version": version,
                "period": {"start": body.period_start.isoformat(), "end": body.period_end.isoformat()},
                "published": now.isoformat().replace("+00:00", "Z"),
            }
        )
        event = CloudEvent.wrap(
            StatisticsPublished(
                dataset_id=dataset_id,
                dataset_version=version,
                period_start=body.period_start,
                period_end=body.period_end,
                link=href,
            ),
            sequence=version,
            traceparent=tracing.current(),
        )
        await store.insert_published(
            uow.conn,
            dataset_id=dataset_id,
            version=version,
            period_start=body.period_start,
            period_end=body.period_end,
            harmonised_to=body.harmonised_to,
            href=href,
            document=jsonstat.dumps(document),
            published_at=now,
            published_by=uow.actor.subject,
            event_id=event.id,
        )
        await outbox.write(uow.conn, [event])
        return await uow.commit(
            PublishedOut(
                event_ids=[event.id],
                event_types=[event.type],
                published=Published(
                    dataset_id=dataset_id,
                    version=version,
                    period_start=body.period_start,
                    period_end=body.period_end,
                    harmonised_to=body.harmonised_to,
                    href=href,
                ),
            )
        )


# -- Reports (reader queries) -------------------------------------------------------------------------------


async def network_reports(pool: asyncpg.Pool) -> list[NetworkReport]:
    """Every network with its members, decisions, contacts by role, gatherings and attendance."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        reports = [await store.report(conn, i) for i in await store.report_network_ids(conn)]
    return [_report(r) for r in reports if r is not None]


async def network_report(pool: asyncpg.Pool, network_id: uuid.UUID) -> NetworkReport:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        found = await store.report(conn, network_id)
    if found is None:
        raise Problem(404, "Not Found", f"no network {network_id} in the projection")
    return _report(found)


def _report(found: dict[str, Any]) -> NetworkReport:
    n = found["network"]
    decisions: dict[str, list[DecisionOut]] = defaultdict(list)
    for d in found["decisions"]:
        decisions[d["kommunenummer"]].append(DecisionOut.model_validate(dict(d)))
    contacts: dict[str, dict[str, int]] = defaultdict(dict)
    for c in found["contacts"]:
        contacts[c["kommunenummer"]][c["role"]] = c["count"]
    attendance: dict[Any, list[AttendanceOut]] = defaultdict(list)
    for a in found["attendance"]:
        attendance[a["gathering_id"]].append(AttendanceOut.model_validate(dict(a)))
    registered: dict[Any, dict[str, int]] = defaultdict(dict)
    for p in found["participants"]:
        registered[p["gathering_id"]][p["role_category"]] = p["count"]
    cases: dict[Any, list[str]] = defaultdict(list)
    for c in found["cases"]:
        cases[c["gathering_id"]].append(f"{c['kommunenummer']}: {c['title']}")
    gatherings = []
    for g in found["gatherings"]:
        by_role: dict[str, int] = defaultdict(int)
        for a in attendance[g["gathering_id"]]:
            by_role[a.role_category] += a.count
        gatherings.append(
            GatheringOut(
                gathering_id=g["gathering_id"],
                status=g["status"],
                starts_on=g["starts_on"],
                ends_on=g["ends_on"],
                place=g["place"],
                host=g["host_kommunenummer"],
                held_on=g["held_on"],
                registered=registered[g["gathering_id"]],
                attendance=attendance[g["gathering_id"]],
                attendance_by_role=dict(by_role),
                cases_presented=cases[g["gathering_id"]],
            )
        )
    return NetworkReport(
        network_id=n["network_id"],
        name=n["name"],
        themes=n["themes"],
        county=n["county"],
        period_start=n["period_start"],
        period_end=n["period_end"],
        enrolment_deadline=n["enrolment_deadline"],
        closed_reason=n["closed_reason"],
        members=[
            MemberOut(
                kommunenummer=m["kommunenummer"],
                valid_on=m["valid_on"],
                status=m["status"],
                decisions=decisions[m["kommunenummer"]],
                contacts=contacts[m["kommunenummer"]],
            )
            for m in found["members"]
        ],
        gatherings=gatherings,
    )
