"""The registry's network side: one handler per command, each owning its transaction, and the
queries the API answers.

A command handler loads through `store`, lets `domain` decide, and commits the state, the events
(outbox) and the audit log with `store.commit_events`, then its answer with `uow.commit`, all in
one transaction (services/runtime/unit_of_work.py, which also keeps the answer for the request's
`Idempotency-Key`). A refusal of the rules (`domain.Refused`) rolls the transaction back and
answers as a problem naming the field (`@command`). Who may give a command is settled before a
handler runs, by the route (services/registry/api.py).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import ParamSpec, TypeVar

import asyncpg
from livskraft_contracts import ClosureReason, MunicipalityRef

from services.runtime.auth import Principal
from services.runtime.problems import Problem
from services.runtime.refusals import command
from services.runtime.schemas import Accepted
from services.runtime.unit_of_work import UnitOfWork

from . import domain, store
from .municipalities import store as municipalities
from .schemas import (
    AuditEntry,
    ContactAccepted,
    ContactIn,
    ContactOut,
    DecisionIn,
    EnrolmentHistory,
    Member,
    NetworkIn,
    NetworkOut,
    NetworkOverview,
)

P = ParamSpec("P")
R = TypeVar("R")


# -- Commands -------------------------------------------------------------------------------------


@command
async def create_network(uow: UnitOfWork, body: NetworkIn) -> NetworkOut:
    """Create a network: a draft, opened for enrolment at once unless `body.draft`."""
    async with uow:
        network = domain.draft_network(uuid.uuid4(), **body.model_dump(exclude={"draft"}))
        await store.insert_network(uow.conn, network)
        await store.audit(uow.conn, uow.actor, "NetworkDrafted", network.id)
        if not body.draft:
            await store.commit_events(uow.conn, network, domain.open_network(network, uow.today), uow.actor)
        return await uow.commit(await _network_answer(uow.conn, uow.principal, network.id, uow.today))


@command
async def open_network(uow: UnitOfWork, network_id: uuid.UUID) -> Accepted:
    async with uow:
        network = await _locked(uow, network_id)
        events = domain.open_network(network, uow.today)
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        return await uow.commit(Accepted.of(envelopes))


@command
async def close_network(uow: UnitOfWork, network_id: uuid.UUID, reason: ClosureReason) -> Accepted:
    async with uow:
        network = await _locked(uow, network_id)
        events = domain.close_network(network, reason)
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        return await uow.commit(Accepted.of(envelopes))


@command
async def invite(uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str) -> Accepted:
    async with uow:
        network = await _locked(uow, network_id)
        municipality = await _municipality(uow.conn, kommunenummer, uow.today)
        current = await store.get_enrolment(uow.conn, network_id, kommunenummer)
        events = domain.invite(network, current, municipality, uow.today)
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        return await uow.commit(Accepted.of(envelopes))


@command
async def enrol(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, *, late_override: bool = False
) -> Accepted:
    async with uow:
        network = await _locked(uow, network_id)
        municipality = await _municipality(uow.conn, kommunenummer, uow.today)
        current = await store.get_enrolment(uow.conn, network_id, kommunenummer)
        events = domain.enrol(network, current, municipality, uow.today, override=late_override)
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        return await uow.commit(Accepted.of(envelopes))


@command
async def withdraw(uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str) -> Accepted:
    async with uow:
        network = await _locked(uow, network_id)
        current = await store.get_enrolment(uow.conn, network_id, kommunenummer)
        events = domain.withdraw(network, current)
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        return await uow.commit(Accepted.of(envelopes))


@command
async def record_decision(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, body: DecisionIn
) -> Accepted:
    async with uow:
        network = await _locked(uow, network_id)
        enrolment = await store.get_enrolment(uow.conn, network_id, kommunenummer)
        events = domain.record_decision(network, enrolment, _decision(body), uow.today)
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        return await uow.commit(Accepted.of(envelopes))


@command
async def assign_contact(
    uow: UnitOfWork, network_id: uuid.UUID, kommunenummer: str, contact: ContactIn
) -> ContactAccepted:
    """Name a person to a role. The person's details stay in the registry; the event carries an
    opaque person id."""
    person_id = uuid.uuid4()
    async with uow:
        network = await _locked(uow, network_id)
        enrolment = await store.get_enrolment(uow.conn, network_id, kommunenummer)
        events = domain.assign_contact(network, enrolment, person_id, contact.role, uow.today)
        await store.insert_contact(
            uow.conn,
            person_id,
            network_id,
            kommunenummer,
            contact.role,
            contact.name,
            contact.email,
            contact.phone,
        )
        envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
        accepted = Accepted.of(envelopes)
        return await uow.commit(ContactAccepted(**accepted.model_dump(), person_id=person_id))


async def _locked(uow: UnitOfWork, network_id: uuid.UUID) -> domain.Network:
    """The network, its row held until the transaction ends: one command at a time per network."""
    network = await store.lock_network(uow.conn, network_id)
    if network is None:
        raise Problem(404, "Not Found", f"no network {network_id}")
    return network


async def _municipality(conn: asyncpg.Connection, kommunenummer: str, day: date) -> MunicipalityRef:
    """The municipality with this number on `day`, refused if there was none. The registry holds
    KLASS's municipalities from its first start (the bundled data; a re-import brings reforms)."""
    if await municipalities.municipality_on(conn, kommunenummer, day) is None:
        message = f"{kommunenummer} is not a municipality on {day.isoformat()}"
        raise domain.Refused("kommunenummer", message)
    return MunicipalityRef(kommunenummer=kommunenummer, valid_on=day)


def _decision(body: DecisionIn) -> domain.Decision:
    reference = body.external_reference
    return domain.Decision(
        body=body.body,
        meeting_date=body.meeting_date,
        case_number=body.case_number,
        decision_date=body.decision_date,
        final=body.final,
        summary=body.summary,
        external_system=reference.system if reference else None,
        external_key=reference.key if reference else None,
    )


# -- Queries: no transaction, no rules beyond who may see what --------------------------------------


@dataclass(frozen=True)
class _View:
    network: domain.Network
    members: list[domain.MemberStanding]
    overview: domain.Overview


async def _view(conn: asyncpg.Connection, network: domain.Network, today: date) -> _View:
    members = await store.members(conn, network.id)
    return _View(network, members, domain.overview(network, members, today))


def _visible(network: domain.Network, who: Principal) -> bool:
    """Drafts are programme staff's alone."""
    return network.published or who.is_staff


async def _visible_network(conn: asyncpg.Connection, network_id: uuid.UUID, who: Principal) -> domain.Network:
    network = await store.network(conn, network_id)
    if network is None or not _visible(network, who):
        raise Problem(404, "Not Found", f"no network {network_id}")
    return network


def _network_out(view: _View) -> NetworkOut:
    n = view.network
    return NetworkOut(
        id=n.id,
        name=n.name,
        themes=[str(t) for t in n.themes],
        county=n.county,
        region=n.region,
        period_start=n.period_start,
        period_end=n.period_end,
        enrolment_deadline=n.enrolment_deadline,
        target_size_min=n.target_size_min,
        target_size_max=n.target_size_max,
        state=str(view.overview.state),
        sequence=n.sequence,
        members_active=view.overview.members_active,
        members=[Member(**{**asdict(m), "status": str(m.status)}) for m in view.members],
    )


def _overview_out(view: _View) -> NetworkOverview:
    o = view.overview
    return NetworkOverview(
        id=view.network.id,
        name=view.network.name,
        state=str(o.state),
        enrolment_deadline=view.network.enrolment_deadline,
        days_to_deadline=o.days_to_deadline,
        members_active=o.members_active,
        below_target=o.below_target,
        statuses=o.statuses,
        missing_decision=o.missing_decision,
        missing_main_contact=o.missing_main_contact,
    )


async def get_network(pool: asyncpg.Pool, who: Principal, network_id: uuid.UUID, today: date) -> NetworkOut:
    async with pool.acquire() as conn:
        return await _network_answer(conn, who, network_id, today)


async def _network_answer(
    conn: asyncpg.Connection, who: Principal, network_id: uuid.UUID, today: date
) -> NetworkOut:
    network = await _visible_network(conn, network_id, who)
    return _network_out(await _view(conn, network, today))


async def list_networks(
    pool: asyncpg.Pool, who: Principal, today: date, below_target: bool | None = None
) -> list[NetworkOut]:
    """Every network the caller may see; only those below (or not below) target, if asked."""
    async with pool.acquire() as conn:
        views = [await _view(conn, n, today) for n in await store.networks(conn) if _visible(n, who)]
    if below_target is not None:
        views = [v for v in views if v.overview.below_target == below_target]
    return [_network_out(v) for v in views]


async def overview(pool: asyncpg.Pool, today: date) -> list[NetworkOverview]:
    """Each published network, as a coordinator sees it."""
    async with pool.acquire() as conn:
        views = [await _view(conn, n, today) for n in await store.networks(conn) if n.published]
    return [_overview_out(v) for v in views]


async def history(pool: asyncpg.Pool, who: Principal, network_id: uuid.UUID) -> list[AuditEntry]:
    """The network's audit log. The actor (a token's subject) is shown to programme staff only."""
    async with pool.acquire() as conn:
        await _visible_network(conn, network_id, who)
        entries = [AuditEntry.model_validate(r) for r in await store.audit_history(conn, network_id)]
    return entries if who.is_staff else [e.model_copy(update={"actor": None}) for e in entries]


async def contacts(pool: asyncpg.Pool, network_id: uuid.UUID, kommunenummer: str) -> list[ContactOut]:
    async with pool.acquire() as conn:
        return [ContactOut.model_validate(c) for c in await store.contacts(conn, network_id, kommunenummer)]


async def enrolments(pool: asyncpg.Pool, kommunenummer: str) -> list[EnrolmentHistory]:
    async with pool.acquire() as conn:
        return [EnrolmentHistory.model_validate(r) for r in await store.enrolments_of(conn, kommunenummer)]
