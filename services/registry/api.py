"""The registry's HTTP API: commands that write events through the outbox, and queries.

Every command on a network runs the same way (`_command`): lock the network row, let the domain
decide, then commit state, events, outbox and audit log in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Query
from livskraft_contracts import (
    ClosureReason,
    CloudEvent,
    ContactRole,
    DecisionBody,
    Event,
    Fylkesnummer,
    Kommunenummer,
    MunicipalityRef,
    Theme,
)
from pydantic import BaseModel, Field

from services.runtime.auth import Principal, ensure_can_act_for
from services.runtime.deps import Pool, Reader, Staff, Today, Writer
from services.runtime.inputs import Body, IsoDate
from services.runtime.problems import Problem, field_error

from . import domain, municipalities, store

router = APIRouter()

NetworkId = Annotated[uuid.UUID, Path(description="The network's id")]
KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]


class NetworkIn(Body):
    name: str = Field(min_length=1, max_length=200)
    themes: list[Theme] = Field(min_length=2, max_length=6, description="two or more, distinct")
    county: Fylkesnummer | None = None
    region: str | None = Field(default=None, max_length=200)
    period_start: IsoDate
    period_end: IsoDate
    enrolment_deadline: IsoDate
    target_size_min: int = Field(default=5, ge=1, le=50)
    target_size_max: int = Field(default=7, ge=1, le=50)
    draft: bool = Field(default=False, description="keep it private to staff until opened")


class KommuneIn(Body):
    kommunenummer: Kommunenummer


class EnrolmentIn(KommuneIn):
    late_override: bool = Field(default=False, description="programme staff only: enrol after the deadline")


class CloseIn(Body):
    reason: ClosureReason


class ExternalReference(Body):
    system: str = Field(min_length=1, max_length=100)
    key: str = Field(min_length=1, max_length=200)


class DecisionIn(Body):
    body: DecisionBody
    meeting_date: IsoDate
    case_number: str = Field(pattern=r"^[0-9]{4}/[0-9]{1,6}$", description="year/sequence, e.g. 2010/17")
    decision_date: IsoDate
    final: bool
    summary: str = Field(max_length=2000)
    external_reference: ExternalReference | None = None


class ContactIn(Body):
    """A person named for the municipality's work: personal data, kept in the registry only."""

    role: ContactRole
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{5,20}$")


class Member(BaseModel):
    kommunenummer: str
    valid_on: date
    status: str
    late_override: bool
    decisions: int
    has_final_decision: bool
    has_main_contact: bool


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
    members_active: int
    members: list[Member] = []


class NetworkOverview(BaseModel):
    """What a coordinator needs to see of one network."""

    id: uuid.UUID
    name: str
    state: str
    enrolment_deadline: date
    days_to_deadline: int
    members_active: int
    below_target: bool
    statuses: dict[str, int]
    missing_decision: list[str]
    missing_main_contact: list[str]


class Accepted(BaseModel):
    """What a command changed: the events it wrote, by CloudEvents id and type."""

    event_ids: list[str]
    event_types: list[str]


class ContactAccepted(Accepted):
    person_id: uuid.UUID


class ContactOut(BaseModel):
    person_id: uuid.UUID
    role: str
    name: str
    email: str
    phone: str | None
    assigned_at: datetime


class EnrolmentHistory(BaseModel):
    network_id: uuid.UUID
    name: str
    period_start: date
    period_end: date
    status: str
    valid_on: date
    late_override: bool
    updated_at: datetime


class AuditEntry(BaseModel):
    at: datetime
    actor: str | None = Field(description="the token's subject; shown to programme staff only")
    actor_role: str
    action: str
    kommunenummer: str | None
    event_id: uuid.UUID | None


Decide = Callable[[asyncpg.Connection, domain.Network], Awaitable[list[Event]]]


async def _command(
    pool: asyncpg.Pool, network_id: uuid.UUID, who: Principal, decide: Decide
) -> list[CloudEvent]:
    async with pool.acquire() as conn, conn.transaction():
        network = await store.lock_network(conn, network_id)
        if network is None:
            raise Problem(404, "Not Found", f"no network {network_id}")
        events = await _deciding(decide(conn, network))
        return await store.commit_events(conn, network, events, store.Actor(who.subject, who.role))


async def _deciding(decision: Awaitable[list[Event]]) -> list[Event]:
    try:
        return await decision
    except domain.Refused as exc:
        raise _refused(exc) from None


def _decided(decide: Callable[[], list[Event]]) -> list[Event]:
    try:
        return decide()
    except domain.Refused as exc:
        raise _refused(exc) from None


def _refused(exc: domain.Refused) -> Problem:
    problem = field_error(exc.field, exc.message, exc.status)
    problem.title = "Refused" if exc.status == 409 else problem.title
    return problem


def _accepted(envelopes: list[CloudEvent]) -> Accepted:
    return Accepted(event_ids=[e.id for e in envelopes], event_types=[e.type for e in envelopes])


async def _municipality(conn: asyncpg.Connection, kommunenummer: str, day: date) -> MunicipalityRef:
    """The code as of `day`. Once municipalities are imported from KLASS, it must exist that day."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM municipality_versions)"):
        if await municipalities.municipality_on(conn, kommunenummer, day) is None:
            raise field_error("kommunenummer", f"{kommunenummer} is not a municipality on {day.isoformat()}")
    return MunicipalityRef(kommunenummer=kommunenummer, valid_on=day)


def _network_out(view: dict, today: date) -> NetworkOut:  # type: ignore[type-arg]
    network = store.network_from_row(view)
    return NetworkOut.model_validate({**view, "state": network.state(today)})


# -- Networks -------------------------------------------------------------------------------------


@router.post("/networks", status_code=201, response_model=NetworkOut, tags=["networks"])
async def create_network(body: NetworkIn, pool: Pool, clock: Today, who: Staff) -> NetworkOut:
    """Create a network (kommunenettverk). It opens for enrolment at once unless `draft`."""
    if len(set(body.themes)) != len(body.themes):
        raise field_error("themes", "themes must be distinct")
    if body.period_end < body.period_start:
        raise field_error("period_end", "is before period_start")
    if body.enrolment_deadline > body.period_end:
        raise field_error("enrolment_deadline", "is after period_end")
    if body.target_size_max < body.target_size_min:
        raise field_error("target_size_max", "is below target_size_min")
    network = domain.Network(id=uuid.uuid4(), **body.model_dump(exclude={"draft"}))
    actor = store.Actor(who.subject, who.role)
    async with pool.acquire() as conn, conn.transaction():
        await store.insert_network(conn, network)
        await store.audit(conn, actor, "NetworkDrafted", network.id)
        if not body.draft:
            events = _decided(lambda: domain.open_network(network, clock.today()))
            await store.commit_events(conn, network, events, actor)
    return await get_network(network.id, pool, clock, who)


@router.post("/networks/{network_id}/open", response_model=Accepted, tags=["networks"])
async def open_network(network_id: NetworkId, pool: Pool, clock: Today, who: Staff) -> Accepted:
    """Open a draft for enrolment: NetworkCreated goes out."""

    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        return domain.open_network(network, clock.today())

    return _accepted(await _command(pool, network_id, who, decide))


@router.post("/networks/{network_id}/close", response_model=Accepted, tags=["networks"])
async def close_network(network_id: NetworkId, body: CloseIn, pool: Pool, who: Staff) -> Accepted:
    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        return domain.close_network(network, body.reason)

    return _accepted(await _command(pool, network_id, who, decide))


@router.get("/networks", response_model=list[NetworkOut], tags=["networks"])
async def list_networks(
    pool: Pool,
    clock: Today,
    who: Reader,
    below_target: Annotated[bool | None, Query(description="only networks below their target size")] = None,
) -> list[NetworkOut]:
    """Every network with its members; drafts only for programme staff."""
    async with pool.acquire() as conn:
        views = await store.list_networks(conn)
    today = clock.today()
    out = [_network_out(v, today) for v in views if v["published"] or who.is_staff]
    if below_target is not None:
        out = [n for n in out if (n.members_active < n.target_size_min) == below_target]
    return out


@router.get("/networks/{network_id}", response_model=NetworkOut, tags=["networks"])
async def get_network(network_id: NetworkId, pool: Pool, clock: Today, who: Reader) -> NetworkOut:
    async with pool.acquire() as conn:
        view = await store.network_view(conn, network_id)
    if view is None or not (view["published"] or who.is_staff):
        raise Problem(404, "Not Found", f"no network {network_id}")
    return _network_out(view, clock.today())


@router.get("/networks/{network_id}/history", response_model=list[AuditEntry], tags=["networks"])
async def history(network_id: NetworkId, pool: Pool, who: Reader) -> list[AuditEntry]:
    """Who did what, when: every change to the network and its enrolments. The actor (a token's
    subject) is shown to programme staff only; drafts' history too."""
    async with pool.acquire() as conn:
        published = await conn.fetchval("SELECT published FROM networks WHERE id = $1", network_id)
        if published is None or not (published or who.is_staff):
            raise Problem(404, "Not Found", f"no network {network_id}")
        entries = [AuditEntry.model_validate(r) for r in await store.audit_history(conn, network_id)]
    if not who.is_staff:
        entries = [e.model_copy(update={"actor": None}) for e in entries]
    return entries


@router.get("/overview", response_model=list[NetworkOverview], tags=["coordinator"])
async def overview(pool: Pool, clock: Today, who: Reader) -> list[NetworkOverview]:
    """Each published network: enrolment states, who lacks a decision or a main contact, days to
    the deadline, and whether it is below its target size."""
    today = clock.today()
    async with pool.acquire() as conn:
        views = [v for v in await store.list_networks(conn) if v["published"]]
    result = []
    for view in views:
        network = _network_out(view, today)
        active = [m for m in network.members if m.status in ("submitted", "confirmed")]
        statuses: dict[str, int] = {}
        for m in network.members:
            statuses[m.status] = statuses.get(m.status, 0) + 1
        result.append(
            NetworkOverview(
                id=network.id,
                name=network.name,
                state=network.state,
                enrolment_deadline=network.enrolment_deadline,
                days_to_deadline=store.days_to(network.enrolment_deadline, today),
                members_active=len(active),
                below_target=len(active) < network.target_size_min,
                statuses=statuses,
                missing_decision=[m.kommunenummer for m in active if not m.has_final_decision],
                missing_main_contact=[m.kommunenummer for m in active if not m.has_main_contact],
            )
        )
    return result


# -- Enrolment ------------------------------------------------------------------------------------


@router.post(
    "/networks/{network_id}/invitations", status_code=201, response_model=Accepted, tags=["enrolment"]
)
async def invite(network_id: NetworkId, body: KommuneIn, pool: Pool, clock: Today, who: Staff) -> Accepted:
    """Invite a municipality to the network (programme staff)."""

    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        ref = await _municipality(conn, body.kommunenummer, clock.today())
        current = await store.get_enrolment(conn, network_id, body.kommunenummer)
        return domain.invite(network, current, ref, clock.today())

    return _accepted(await _command(pool, network_id, who, decide))


@router.post(
    "/networks/{network_id}/enrolments", status_code=201, response_model=Accepted, tags=["enrolment"]
)
async def enrol(network_id: NetworkId, body: EnrolmentIn, pool: Pool, clock: Today, who: Writer) -> Accepted:
    """A municipality enrols (påmelding), for itself; staff for any, and late with `late_override`."""
    ensure_can_act_for(who, body.kommunenummer)
    if body.late_override and not who.is_staff:
        raise Problem(403, "Forbidden", "late_override: only programme staff may enrol late")

    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        ref = await _municipality(conn, body.kommunenummer, clock.today())
        current = await store.get_enrolment(conn, network_id, body.kommunenummer)
        return domain.enrol(network, current, ref, clock.today(), override=body.late_override)

    return _accepted(await _command(pool, network_id, who, decide))


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/withdraw", response_model=Accepted, tags=["enrolment"]
)
async def withdraw(network_id: NetworkId, kommunenummer: KommunePath, pool: Pool, who: Writer) -> Accepted:
    """Withdraw from the network; the history stays."""
    ensure_can_act_for(who, kommunenummer)

    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        return domain.withdraw(network, await store.get_enrolment(conn, network_id, kommunenummer))

    return _accepted(await _command(pool, network_id, who, decide))


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/decisions",
    status_code=201,
    response_model=Accepted,
    tags=["enrolment"],
)
async def record_decision(
    network_id: NetworkId, kommunenummer: KommunePath, body: DecisionIn, pool: Pool, clock: Today, who: Writer
) -> Accepted:
    """Record the municipality's political decision (politisk vedtak) to take part."""
    ensure_can_act_for(who, kommunenummer)
    ref = body.external_reference
    decision = domain.Decision(
        body=body.body,
        meeting_date=body.meeting_date,
        case_number=body.case_number,
        decision_date=body.decision_date,
        final=body.final,
        summary=body.summary,
        external_system=ref.system if ref else None,
        external_key=ref.key if ref else None,
    )

    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        enrolment = await store.get_enrolment(conn, network_id, kommunenummer)
        return domain.record_decision(network, enrolment, decision, clock.today())

    return _accepted(await _command(pool, network_id, who, decide))


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/contacts",
    status_code=201,
    response_model=ContactAccepted,
    tags=["enrolment"],
)
async def assign_contact(
    network_id: NetworkId, kommunenummer: KommunePath, body: ContactIn, pool: Pool, clock: Today, who: Writer
) -> ContactAccepted:
    """Name the main contact or a member of the steering or project group. The person's details
    stay here; the event carries an opaque person id."""
    ensure_can_act_for(who, kommunenummer)
    person_id = uuid.uuid4()

    async def decide(conn: asyncpg.Connection, network: domain.Network) -> list[Event]:
        enrolment = await store.get_enrolment(conn, network_id, kommunenummer)
        events = domain.assign_contact(network, enrolment, person_id, body.role, clock.today())
        await store.insert_contact(
            conn, person_id, network_id, kommunenummer, body.role, body.name, body.email, body.phone
        )
        return events

    accepted = _accepted(await _command(pool, network_id, who, decide))
    return ContactAccepted(**accepted.model_dump(), person_id=person_id)


@router.get(
    "/networks/{network_id}/enrolments/{kommunenummer}/contacts",
    response_model=list[ContactOut],
    tags=["enrolment"],
)
async def list_contacts(
    network_id: NetworkId, kommunenummer: KommunePath, pool: Pool, who: Reader
) -> list[ContactOut]:
    """The municipality's named people: for the municipality itself and programme staff only."""
    ensure_can_act_for(who, kommunenummer)
    async with pool.acquire() as conn:
        return [ContactOut.model_validate(c) for c in await store.contacts(conn, network_id, kommunenummer)]


@router.get("/enrolments", response_model=list[EnrolmentHistory], tags=["enrolment"])
async def enrolments(
    kommunenummer: Annotated[str, Query(pattern=r"^[0-9]{4}$")], pool: Pool, who: Reader
) -> list[EnrolmentHistory]:
    """A municipality's networks over time, withdrawn ones included."""
    async with pool.acquire() as conn:
        return [EnrolmentHistory.model_validate(r) for r in await store.enrolments_of(conn, kommunenummer)]
