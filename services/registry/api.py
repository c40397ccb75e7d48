"""The registry's HTTP API for networks and enrolment: parse, authorize, call a handler, answer.

Commands take a unit of work (`StaffCommand`, `WriterCommand`: the caller, and the request's
`Idempotency-Key`) and run in `handlers.py`; whether a municipality's contact acts for its own
municipality is checked here, before. The rules are in `domain.py`, the SQL in `store.py`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.runtime.auth import ensure_can_act_for
from services.runtime.deps import Pool, Reader, StaffCommand, Today, WriterCommand
from services.runtime.problems import Problem
from services.runtime.schemas import Accepted

from . import handlers
from .schemas import (
    AuditEntry,
    CloseIn,
    ContactAccepted,
    ContactIn,
    ContactOut,
    DecisionIn,
    EnrolmentHistory,
    EnrolmentIn,
    KommuneIn,
    NetworkIn,
    NetworkOut,
    NetworkOverview,
)

router = APIRouter()

NetworkId = Annotated[uuid.UUID, Path(description="The network's id")]
KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]


# -- Networks -------------------------------------------------------------------------------------


@router.post("/networks", status_code=201, response_model=NetworkOut, tags=["networks"])
async def create_network(body: NetworkIn, uow: StaffCommand) -> NetworkOut:
    """Create a network (kommunenettverk). It opens for enrolment at once unless `draft`."""
    return await handlers.create_network(uow, body)


@router.post("/networks/{network_id}/open", response_model=Accepted, tags=["networks"])
async def open_network(network_id: NetworkId, uow: StaffCommand) -> Accepted:
    """Open a draft for enrolment: NetworkCreated goes out."""
    return await handlers.open_network(uow, network_id)


@router.post("/networks/{network_id}/close", response_model=Accepted, tags=["networks"])
async def close_network(network_id: NetworkId, body: CloseIn, uow: StaffCommand) -> Accepted:
    return await handlers.close_network(uow, network_id, body.reason)


@router.get("/networks", response_model=list[NetworkOut], tags=["networks"])
async def list_networks(
    pool: Pool,
    clock: Today,
    who: Reader,
    below_target: Annotated[bool | None, Query(description="only networks below their target size")] = None,
) -> list[NetworkOut]:
    """Every network with its members; drafts only for programme staff."""
    return await handlers.list_networks(pool, who, clock.today(), below_target)


@router.get("/networks/{network_id}", response_model=NetworkOut, tags=["networks"])
async def get_network(network_id: NetworkId, pool: Pool, clock: Today, who: Reader) -> NetworkOut:
    return await handlers.get_network(pool, who, network_id, clock.today())


@router.get("/networks/{network_id}/history", response_model=list[AuditEntry], tags=["networks"])
async def history(network_id: NetworkId, pool: Pool, who: Reader) -> list[AuditEntry]:
    """Who did what, when: every change to the network and its enrolments. The actor (a token's
    subject) is shown to programme staff only; drafts' history too."""
    return await handlers.history(pool, who, network_id)


@router.get("/overview", response_model=list[NetworkOverview], tags=["coordinator"])
async def overview(pool: Pool, clock: Today, who: Reader) -> list[NetworkOverview]:
    """Each published network: enrolment states, who lacks a decision or a main contact, days to
    the deadline, and whether it is below its target size."""
    return await handlers.overview(pool, clock.today())


# -- Enrolment ------------------------------------------------------------------------------------


@router.post(
    "/networks/{network_id}/invitations", status_code=201, response_model=Accepted, tags=["enrolment"]
)
async def invite(network_id: NetworkId, body: KommuneIn, uow: StaffCommand) -> Accepted:
    """Invite a municipality to the network (programme staff)."""
    return await handlers.invite(uow, network_id, body.kommunenummer)


@router.post(
    "/networks/{network_id}/enrolments", status_code=201, response_model=Accepted, tags=["enrolment"]
)
async def enrol(network_id: NetworkId, body: EnrolmentIn, uow: WriterCommand) -> Accepted:
    """A municipality enrols (påmelding), for itself; staff for any, and late with `late_override`."""
    ensure_can_act_for(uow.principal, body.kommunenummer)
    if body.late_override and not uow.principal.is_staff:
        raise Problem(403, "Forbidden", "late_override: only programme staff may enrol late")
    return await handlers.enrol(uow, network_id, body.kommunenummer, late_override=body.late_override)


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/withdraw", response_model=Accepted, tags=["enrolment"]
)
async def withdraw(network_id: NetworkId, kommunenummer: KommunePath, uow: WriterCommand) -> Accepted:
    """Withdraw from the network; the history stays."""
    ensure_can_act_for(uow.principal, kommunenummer)
    return await handlers.withdraw(uow, network_id, kommunenummer)


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/decisions",
    status_code=201,
    response_model=Accepted,
    tags=["enrolment"],
)
async def record_decision(
    network_id: NetworkId, kommunenummer: KommunePath, body: DecisionIn, uow: WriterCommand
) -> Accepted:
    """Record the municipality's political decision (politisk vedtak) to take part."""
    ensure_can_act_for(uow.principal, kommunenummer)
    return await handlers.record_decision(uow, network_id, kommunenummer, body)


@router.post(
    "/networks/{network_id}/enrolments/{kommunenummer}/contacts",
    status_code=201,
    response_model=ContactAccepted,
    tags=["enrolment"],
)
async def assign_contact(
    network_id: NetworkId, kommunenummer: KommunePath, body: ContactIn, uow: WriterCommand
) -> ContactAccepted:
    """Name the main contact or a member of the steering or project group. The person's details
    stay here; the event carries an opaque person id."""
    ensure_can_act_for(uow.principal, kommunenummer)
    return await handlers.assign_contact(uow, network_id, kommunenummer, body)


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
    return await handlers.contacts(pool, network_id, kommunenummer)


@router.get("/enrolments", response_model=list[EnrolmentHistory], tags=["enrolment"])
async def enrolments(
    kommunenummer: Annotated[str, Query(pattern=r"^[0-9]{4}$")], pool: Pool, who: Reader
) -> list[EnrolmentHistory]:
    """A municipality's networks over time, withdrawn ones included."""
    return await handlers.enrolments(pool, kommunenummer)
