"""The registry's HTTP API: commands that write events through the outbox, and queries."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Path, Request
from livskraft_contracts import DecisionBody, Fylkesnummer, Kommunenummer, MunicipalityRef, Theme
from livskraft_contracts import NetworkCreated as NetworkCreatedEvent
from pydantic import BaseModel, ConfigDict, Field

from services.runtime.auth import ADMIN, READ, WRITE, Principal, ensure_can_act_for, require
from services.runtime.clock import Clock
from services.runtime.problems import Problem, field_error

from . import domain, store

router = APIRouter(tags=["networks"])

NetworkId = Annotated[uuid.UUID, Path(description="The network's id")]
KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkIn(Body):
    name: str = Field(min_length=1, max_length=200)
    themes: list[Theme] = Field(min_length=2, max_length=6, description="two or more, distinct")
    county: Fylkesnummer | None = None
    region: str | None = Field(default=None, max_length=200)
    period_start: date
    period_end: date
    enrolment_deadline: date
    target_size_min: int = Field(default=5, ge=1, le=50)
    target_size_max: int = Field(default=7, ge=1, le=50)


class EnrolmentIn(Body):
    kommunenummer: Kommunenummer
    late_override: bool = Field(default=False, description="programme staff only: enrol after the deadline")


class ExternalReference(Body):
    system: str = Field(min_length=1, max_length=100)
    key: str = Field(min_length=1, max_length=200)


class DecisionIn(Body):
    body: DecisionBody
    meeting_date: date
    case_number: str = Field(pattern=r"^[0-9]{4}/[0-9]{1,6}$", description="year/sequence, e.g. 2010/17")
    decision_date: date
    final: bool
    summary: str = Field(max_length=2000)
    external_reference: ExternalReference | None = None


class Member(BaseModel):
    kommunenummer: str
    valid_on: date
    status: str
    late_override: bool
    decisions: int


class NetworkOut(BaseModel):
    id: uuid.UUID
    name: str
    themes: list[str]
    county: str | None
    region: str | None
    period_start: date
    period_end: date
    enrolment_deadline: date
    target_size_min: int
    target_size_max: int
    state: str
    sequence: int
    members: list[Member] = []


class Accepted(BaseModel):
    """What a command changed: the events it wrote, by CloudEvents id and type."""

    event_ids: list[str]
    event_types: list[str]


class AuditEntry(BaseModel):
    at: datetime
    actor: str
    actor_role: str
    action: str
    kommunenummer: str | None
    event_id: uuid.UUID


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def _clock(request: Request) -> Clock:
    return request.app.state.clock


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Today = Annotated[Clock, Depends(_clock)]


def _actor(p: Principal) -> store.Actor:
    return store.Actor(subject=p.subject, role=p.role)


def _refused(exc: domain.Refused) -> Problem:
    problem = field_error(exc.field, exc.message, exc.status)
    problem.title = "Refused" if exc.status == 409 else problem.title
    return problem


@router.post("/networks", status_code=201, response_model=NetworkOut)
async def create_network(
    body: NetworkIn, pool: Pool, who: Annotated[Principal, Depends(require(ADMIN))]
) -> NetworkOut:
    """Create a network (kommunenettverk); it opens for enrolment at once. Programme staff only."""
    if len(set(body.themes)) != len(body.themes):
        raise field_error("themes", "themes must be distinct")
    if body.period_end < body.period_start:
        raise field_error("period_end", "is before period_start")
    if body.target_size_max < body.target_size_min:
        raise field_error("target_size_max", "is below target_size_min")
    event = NetworkCreatedEvent(network_id=uuid.uuid4(), **body.model_dump())
    network = domain.create_network(event)
    async with pool.acquire() as conn, conn.transaction():
        await store.insert_network(conn, network)
        await store.commit_events(conn, network, [event], _actor(who))
        view = await store.network_view(conn, network.id)
    return NetworkOut.model_validate(view)


@router.get("/networks", response_model=list[NetworkOut])
async def list_networks(pool: Pool, _: Annotated[Principal, Depends(require(READ))]) -> list[NetworkOut]:
    async with pool.acquire() as conn:
        return [NetworkOut.model_validate(n) for n in await store.list_networks(conn)]


@router.get("/networks/{network_id}", response_model=NetworkOut)
async def get_network(
    network_id: NetworkId, pool: Pool, _: Annotated[Principal, Depends(require(READ))]
) -> NetworkOut:
    async with pool.acquire() as conn:
        view = await store.network_view(conn, network_id)
    if view is None:
        raise Problem(404, "Not Found", f"no network {network_id}")
    return NetworkOut.model_validate(view)


@router.post("/networks/{network_id}/enrolments", status_code=201, response_model=Accepted)
async def enrol(
    network_id: NetworkId, body: EnrolmentIn, pool: Pool, clock: Today,
    who: Annotated[Principal, Depends(require(WRITE))],
) -> Accepted:
    """A municipality enrols (påmelding) in a network, for itself; staff for any municipality."""
    ensure_can_act_for(who, body.kommunenummer)
    if body.late_override and not who.is_staff:
        raise Problem(403, "Forbidden", "late_override: only programme staff may enrol late")
    today = clock.today()
    async with pool.acquire() as conn, conn.transaction():
        network = await _network(conn, network_id)
        current = await store.get_enrolment(conn, network_id, body.kommunenummer)
        ref = MunicipalityRef(kommunenummer=body.kommunenummer, valid_on=today)
        try:
            events = domain.enrol(network, current, ref, today, override=body.late_override)
        except domain.Refused as exc:
            raise _refused(exc) from None
        late = any(getattr(e, "late_override", False) for e in events)
        await store.save_enrolment(conn, domain.Enrolment(
            network_id, ref, domain.EnrolmentStatus.SUBMITTED, late_override=late
        ))
        return _accepted(await store.commit_events(conn, network, events, _actor(who)))


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/decisions",
    status_code=201, response_model=Accepted,
)
async def record_decision(
    network_id: NetworkId, kommunenummer: KommunePath, body: DecisionIn, pool: Pool, clock: Today,
    who: Annotated[Principal, Depends(require(WRITE))],
) -> Accepted:
    """Record the municipality's political decision (politisk vedtak) to take part."""
    ensure_can_act_for(who, kommunenummer)
    ref = body.external_reference
    decision = domain.Decision(
        body=body.body, meeting_date=body.meeting_date, case_number=body.case_number,
        decision_date=body.decision_date, final=body.final, summary=body.summary,
        external_system=ref.system if ref else None, external_key=ref.key if ref else None,
    )
    async with pool.acquire() as conn, conn.transaction():
        network = await _network(conn, network_id)
        enrolment = await store.get_enrolment(conn, network_id, kommunenummer)
        try:
            events = domain.record_decision(network, enrolment, decision, clock.today())
        except domain.Refused as exc:
            raise _refused(exc) from None
        for event in events:
            await store.insert_decision(conn, event)  # type: ignore[arg-type]
        return _accepted(await store.commit_events(conn, network, events, _actor(who)))


@router.get("/networks/{network_id}/history", response_model=list[AuditEntry])
async def history(
    network_id: NetworkId, pool: Pool, _: Annotated[Principal, Depends(require(READ))]
) -> list[AuditEntry]:
    """Who did what, when: every event the network's commands produced."""
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM networks WHERE id = $1", network_id) is None:
            raise Problem(404, "Not Found", f"no network {network_id}")
        return [AuditEntry.model_validate(r) for r in await store.audit_history(conn, network_id)]


async def _network(conn: asyncpg.Connection, network_id: uuid.UUID) -> domain.Network:
    network = await store.lock_network(conn, network_id)
    if network is None:
        raise Problem(404, "Not Found", f"no network {network_id}")
    return network


def _accepted(envelopes: list) -> Accepted:  # type: ignore[type-arg]
    return Accepted(event_ids=[e.id for e in envelopes], event_types=[e.type for e in envelopes])
