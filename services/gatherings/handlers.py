"""The gatherings service's handlers: one per command and one per consumed event, and the queries.

A command handler owns its transaction through its unit of work: it loads through `store`, checks
who may (a refusal is a 401/403 problem that changes nothing), lets `domain` decide, then commits
state, events (outbox) and audit log with its answer in one transaction. A refusal of the rules
(`domain.Refused`) rolls back and answers as a problem naming the field (`@command`).

An event handler applies a run of the registry's events inside the consumer's transaction, with
the inbox row: this service learns which networks and members exist only this way.

Who may do what:
- planning (schedule, reschedule, cancel, agenda, held), and registering resource environments:
  programme staff for every network, a network leader for the networks its token names;
- registering participants: a municipality's contact for its own municipality (politicians, top
  management, department staff), and the planners;
- names of participants: the municipality for its own, and the planners;
- calendar feeds: issued to a contact (its municipality's feed, its networks' feeds), to a leader
  (its networks' feeds) or to staff; revoked by whoever it was issued to, or by staff.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any, ParamSpec, TypeVar

import asyncpg

from services.runtime.auth import Principal, ensure_can_act_for
from services.runtime.problems import Problem, field_error
from services.runtime.refusals import command
from services.runtime.schemas import Accepted
from services.runtime.unit_of_work import UnitOfWork

from . import domain, ical, store
from .schemas import (
    AgendaAccepted,
    AgendaIn,
    CaseItemIn,
    FeedIn,
    FeedIssued,
    FeedOut,
    GatheringAccepted,
    GatheringOut,
    GatheringSummary,
    HeldIn,
    NetworkGatherings,
    NetworkOut,
    ParticipantOut,
    PlanIn,
    RegistrationAccepted,
    RegistrationIn,
    RescheduleIn,
    TalkItemIn,
)

P = ParamSpec("P")
R = TypeVar("R")

FeedUrl = Callable[[uuid.UUID | None, str | None, str], str]
"""(network_id, kommunenummer, secret) -> the feed's secret address."""


def _forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)


def _ensure_can_plan(principal: Principal, network_id: uuid.UUID) -> None:
    if not principal.can_plan_for(network_id):
        raise _forbidden(f"Only programme staff and the network's leader plan the gatherings of {network_id}")


async def _network(conn: asyncpg.Connection, network_id: uuid.UUID) -> domain.Network:
    network = await store.network(conn, network_id)
    if network is None:
        raise Problem(404, "Not Found", f"no network {network_id} (not yet, or not at all)")
    return network


async def _locked(uow: UnitOfWork, gathering_id: uuid.UUID) -> domain.Gathering:
    gathering = await store.lock_gathering(uow.conn, gathering_id)
    if gathering is None:
        raise Problem(404, "Not Found", f"no gathering {gathering_id}")
    return gathering


def _plan(body: PlanIn) -> domain.Plan:
    return domain.Plan(
        starts_on=body.starts_on,
        start_time=body.start_time,
        ends_on=body.ends_on,
        end_time=body.end_time,
        place=body.place,
        host=body.host,
        capacity=body.capacity,
        registration_deadline=body.registration_deadline,
    )


# -- Planning -------------------------------------------------------------------------------------


@command
async def schedule(uow: UnitOfWork, network_id: uuid.UUID, body: PlanIn) -> GatheringAccepted:
    """Plan a gathering: GatheringScheduled."""
    _ensure_can_plan(uow.principal, network_id)
    async with uow:
        network = await _network(uow.conn, network_id)
        gathering, events = domain.schedule(network, uuid.uuid4(), _plan(body), uow.today)
        envelopes = await store.commit_events(uow.conn, gathering, events, uow.actor, uow.now())
        await store.save_gathering(uow.conn, gathering, uow.now())
        accepted = Accepted.of(envelopes)
        return await uow.commit(
            GatheringAccepted(**accepted.model_dump(), gathering_id=gathering.id, network_id=network_id)
        )


@command
async def reschedule(uow: UnitOfWork, gathering_id: uuid.UUID, body: RescheduleIn) -> Accepted:
    """Move a gathering: GatheringRescheduled, with the new date, place and host."""
    async with uow:
        gathering = await _locked(uow, gathering_id)
        _ensure_can_plan(uow.principal, gathering.network_id)
        network = await _network(uow.conn, gathering.network_id)
        events = domain.reschedule(network, gathering, _plan(body), uow.today)
        envelopes = await store.commit_events(uow.conn, gathering, events, uow.actor, uow.now(), body.reason)
        await store.save_gathering(uow.conn, gathering, uow.now())
        return await uow.commit(Accepted.of(envelopes))


@command
async def cancel(uow: UnitOfWork, gathering_id: uuid.UUID, reason: str) -> Accepted:
    """Cancel a gathering: GatheringCancelled."""
    async with uow:
        gathering = await _locked(uow, gathering_id)
        _ensure_can_plan(uow.principal, gathering.network_id)
        events = domain.cancel(gathering, reason)
        envelopes = await store.commit_events(uow.conn, gathering, events, uow.actor, uow.now(), reason)
        await store.save_gathering(uow.conn, gathering, uow.now())
        return await uow.commit(Accepted.of(envelopes))


def _agenda_item(item: Any, first_day: date) -> domain.AgendaItem:
    common = {
        "day": item.day or first_day,
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "title": item.title,
        "summary": item.summary or None,
    }
    if isinstance(item, CaseItemIn):
        return domain.AgendaItem(
            kind=domain.ItemKind.CASE, kommunenummer=item.kommunenummer, theme=item.theme, **common
        )
    if isinstance(item, TalkItemIn):
        return domain.AgendaItem(
            kind=domain.ItemKind.TALK,
            resource_name=item.resource.name,
            resource_kind=item.resource.kind,
            **common,
        )
    return domain.AgendaItem(kind=domain.ItemKind.SESSION, **common)


@command
async def set_agenda(uow: UnitOfWork, gathering_id: uuid.UUID, body: AgendaIn) -> AgendaAccepted:
    """Give a gathering its agenda (the whole of it). No event carries an agenda: it is recorded
    here and in the audit log, and calendars see it with a raised SEQUENCE."""
    async with uow:
        gathering = await _locked(uow, gathering_id)
        _ensure_can_plan(uow.principal, gathering.network_id)
        network = await _network(uow.conn, gathering.network_id)
        items = [_agenda_item(item, gathering.plan.starts_on) for item in body.items]
        domain.set_agenda(network, gathering, items)
        await store.replace_agenda(uow.conn, gathering.id, items)
        await store.save_gathering(uow.conn, gathering, uow.now())
        await store.audit(
            uow.conn, uow.actor, "AgendaSet", uow.now(), gathering_id=gathering.id, network_id=network.id
        )
        return await uow.commit(AgendaAccepted(event_ids=[], event_types=[], revision=gathering.revision))


# -- Registration ---------------------------------------------------------------------------------


@command
async def register(uow: UnitOfWork, gathering_id: uuid.UUID, body: RegistrationIn) -> RegistrationAccepted:
    """Register a municipality's participants: one ParticipantRegistered per person, by opaque
    id. Names, when given, stay in this service's database."""
    async with uow:
        gathering = await _locked(uow, gathering_id)
        planner = uow.principal.can_plan_for(gathering.network_id)
        if not planner:
            ensure_can_act_for(uow.principal, body.kommunenummer)
        network = await _network(uow.conn, gathering.network_id)
        lines = [domain.Registration(p.role_category, p.count, tuple(p.names)) for p in body.participants]
        people = domain.register(network, gathering, body.kommunenummer, lines, uow.today, planner=planner)
        municipality = network.members[body.kommunenummer]
        events = domain.participant_events(gathering, municipality, people)
        envelopes = await store.commit_events(uow.conn, gathering, events, uow.actor, uow.now())
        await store.insert_participants(
            uow.conn,
            gathering.id,
            municipality,
            [(person_id, line.role_category, name) for person_id, line, name in people],
            uow.now(),
        )
        await store.save_gathering(uow.conn, gathering, uow.now())
        accepted = Accepted.of(envelopes)
        return await uow.commit(
            RegistrationAccepted(
                **accepted.model_dump(), person_ids=[person_id for person_id, _, _ in people]
            )
        )


# -- Held -----------------------------------------------------------------------------------------


@command
async def record_held(uow: UnitOfWork, gathering_id: uuid.UUID, body: HeldIn) -> Accepted:
    """Record a gathering held: attendance, cases presented, experience sharing. GatheringHeld
    carries the attendance per municipality and role category and the cases; no names, no notes."""
    async with uow:
        gathering = await _locked(uow, gathering_id)
        _ensure_can_plan(uow.principal, gathering.network_id)
        network = await _network(uow.conn, gathering.network_id)
        counts = [domain.Count(a.kommunenummer, a.role_category, a.count) for a in body.attendance]
        cases = [domain.Case(c.kommunenummer, c.title) for c in body.cases_presented]
        events = domain.hold(network, gathering, counts, cases, uow.today)
        envelopes = await store.commit_events(uow.conn, gathering, events, uow.actor, uow.now())
        sharing = body.experience_sharing
        await store.save_held(
            uow.conn,
            gathering,
            counts,
            cases,
            sharing.notes,
            [example.model_dump() for example in sharing.good_examples],
            {**network.members, **gathering.registered_refs},
        )
        await store.save_gathering(uow.conn, gathering, uow.now())
        return await uow.commit(Accepted.of(envelopes))


# -- Calendar feeds -------------------------------------------------------------------------------


@command
async def issue_feed(uow: UnitOfWork, body: FeedIn, url: FeedUrl) -> FeedIssued:
    """A secret address for a network's or a municipality's calendar. The secret is shown here
    once; only its SHA-256 is kept."""
    if (body.network_id is None) == (body.kommunenummer is None):
        raise field_error("network_id", "give network_id or kommunenummer, one of the two")
    principal = uow.principal
    async with uow:
        if body.network_id is not None:
            await _network(uow.conn, body.network_id)
            if not principal.can_plan_for(body.network_id):
                member = principal.kommune is not None and store.is_active(
                    await store.member_status(uow.conn, body.network_id, principal.kommune)
                )
                if principal.role != "municipality" or not member:
                    raise _forbidden(f"Not a member or planner of network {body.network_id}")
        else:
            assert body.kommunenummer is not None
            ensure_can_act_for(principal, body.kommunenummer)
        feed_id, secret = uuid.uuid4(), secrets.token_urlsafe(32)
        await store.insert_feed(
            uow.conn, feed_id, secret, body.network_id, body.kommunenummer, uow.actor, uow.now()
        )
        await store.audit(uow.conn, uow.actor, "FeedIssued", uow.now(), network_id=body.network_id)
        return await uow.commit(
            FeedIssued(
                feed_id=feed_id,
                network_id=body.network_id,
                kommunenummer=body.kommunenummer,
                secret=secret,
                url=url(body.network_id, body.kommunenummer, secret),
            )
        )


async def revoke_feed(uow: UnitOfWork, feed_id: uuid.UUID) -> FeedOut:
    """Revoke a feed's secret: its address answers 403 from now on. Revoking twice is no error."""
    async with uow:
        feed = await store.lock_feed(uow.conn, feed_id)
        if feed is None:
            raise Problem(404, "Not Found", f"no feed {feed_id}")
        if not (uow.principal.is_staff or feed["issued_to"] == uow.principal.subject):
            raise _forbidden("Only whoever the feed was issued to, or programme staff, may revoke it")
        if feed["revoked_at"] is None:
            await store.revoke_feed(uow.conn, feed_id, uow.now())
            await store.audit(uow.conn, uow.actor, "FeedRevoked", uow.now(), network_id=feed["network_id"])
            feed = await store.lock_feed(uow.conn, feed_id)
            assert feed is not None
        return await uow.commit(FeedOut.model_validate({**feed, "feed_id": feed["id"]}))


async def feeds(pool: asyncpg.Pool, principal: Principal) -> list[FeedOut]:
    """The feeds issued to the caller; every feed for staff. Never a secret."""
    async with pool.acquire() as conn:
        rows = await store.feeds(conn, None if principal.is_staff else principal.subject)
    return [FeedOut.model_validate(r) for r in rows]


def _wrong_secret() -> Problem:
    return Problem(
        403,
        "Forbidden",
        "secret: not this feed's secret, or revoked",
        errors=[{"field": "secret", "message": "not this feed's secret, or revoked"}],
    )


async def network_calendar(pool: asyncpg.Pool, network_id: uuid.UUID, secret: str) -> bytes:
    async with pool.acquire() as conn:
        if not await store.feed_opens(conn, secret, network_id=network_id):
            raise _wrong_secret()
        view = await store.network_view(conn, network_id)
        rows = await store.gatherings_of_network(conn, network_id)
        agendas = await store.agendas(conn, [r["id"] for r in rows])
    name = f"Nettverkssamlinger: {view['name']}" if view else "Nettverkssamlinger"
    return ical.feed(name, rows, agendas)


async def municipality_calendar(pool: asyncpg.Pool, kommunenummer: str, secret: str) -> bytes:
    async with pool.acquire() as conn:
        if not await store.feed_opens(conn, secret, kommunenummer=kommunenummer):
            raise _wrong_secret()
        rows = await store.gatherings_of_municipality(conn, kommunenummer)
        agendas = await store.agendas(conn, [r["id"] for r in rows])
    return ical.feed(f"Nettverkssamlinger for kommune {kommunenummer}", rows, agendas)


# -- Queries --------------------------------------------------------------------------------------


def _summary(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "starts_at": domain.local(row["starts_on"], row["start_time"]),
        "ends_at": domain.local(row["ends_on"] or row["starts_on"], row["end_time"]),
    }


def _summaries(rows: Iterable[Mapping[str, Any]]) -> list[GatheringSummary]:
    return [GatheringSummary.model_validate(_summary(r)) for r in rows]


async def network(pool: asyncpg.Pool, network_id: uuid.UUID) -> NetworkOut:
    async with pool.acquire() as conn:
        view = await store.network_view(conn, network_id)
    if view is None:
        raise Problem(404, "Not Found", f"no network {network_id} (not yet, or not at all)")
    return NetworkOut.model_validate(view)


async def network_gatherings(pool: asyncpg.Pool, network_id: uuid.UUID, today: date) -> NetworkGatherings:
    """A network's gatherings, planned and past."""
    async with pool.acquire() as conn:
        if await store.network_view(conn, network_id) is None:
            raise Problem(404, "Not Found", f"no network {network_id} (not yet, or not at all)")
        rows = await store.gatherings_of_network(conn, network_id)
    past = [r for r in rows if domain.is_past(r["status"], r["starts_on"], r["ends_on"], today)]
    planned = [r for r in rows if r not in past]
    return NetworkGatherings(network_id=network_id, planned=_summaries(planned), past=_summaries(past))


async def gathering(pool: asyncpg.Pool, gathering_id: uuid.UUID) -> GatheringOut:
    """A gathering with its agenda, registrations per municipality and role, attendance, cases
    presented, experience sharing and the history of its changes."""
    async with pool.acquire() as conn:
        view = await store.gathering_view(conn, gathering_id)
    if view is None:
        raise Problem(404, "Not Found", f"no gathering {gathering_id}")
    return GatheringOut.model_validate(_summary(view))


async def participants(
    pool: asyncpg.Pool, principal: Principal, gathering_id: uuid.UUID
) -> list[ParticipantOut]:
    """Who is registered, with names: all of them for the planners, a municipality's own for its
    contact; refused to anyone else."""
    async with pool.acquire() as conn:
        network_id = await store.gathering_network(conn, gathering_id)
        if network_id is None:
            raise Problem(404, "Not Found", f"no gathering {gathering_id}")
        if principal.can_plan_for(network_id):
            rows = await store.participants(conn, gathering_id, None)
        elif principal.role == "municipality" and principal.kommune:
            rows = await store.participants(conn, gathering_id, principal.kommune)
        else:
            raise _forbidden("Names of participants are for their municipality and the planners only")
    return [ParticipantOut.model_validate(r) for r in rows]


async def municipality_gatherings(pool: asyncpg.Pool, kommunenummer: str) -> list[GatheringSummary]:
    """The gatherings of the municipality's networks, those it hosts and those it registered for."""
    async with pool.acquire() as conn:
        return _summaries(await store.gatherings_of_municipality(conn, kommunenummer))


# -- The registry's events ------------------------------------------------------------------------
