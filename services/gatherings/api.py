"""The gatherings service's HTTP API: thin routes that parse, authorize by scope, and call a
handler (services/gatherings/handlers.py), which decides who may act on what.

The operation that schedules a gathering declares OpenAPI `links` to every operation that takes
its id, so that a client (and schemathesis' stateful fuzzing) can follow from one to the others.
Calendar feeds are read without a bearer token, which calendar programs cannot send: the feed's
secret in the address opens it (`POST /calendar/feeds` issues one).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from services.runtime.deps import Pool, Reader, Today, Writer, WriterCommand
from services.runtime.schemas import Accepted
from services.runtime.unit_of_work import UnitOfWork

from . import handlers
from .schemas import (
    AgendaAccepted,
    AgendaIn,
    CancelIn,
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
)

router = APIRouter()

NetworkId = Annotated[uuid.UUID, Path(description="The network's id (from the registry)")]
GatheringId = Annotated[uuid.UUID, Path(description="The gathering's id")]
FeedId = Annotated[uuid.UUID, Path(description="The feed's id")]
KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]
Secret = Annotated[
    str,
    Query(min_length=1, max_length=200, description="the feed's secret, from `POST /calendar/feeds`"),
]


class ICalendar(Response):
    media_type = "text/calendar"


_CALENDAR_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An iCalendar feed (RFC 5545)",
        "content": {"text/calendar": {"schema": {"type": "string"}}},
    }
}

_BY_ID = {"gathering_id": "$response.body#/gathering_id"}
SCHEDULED_LINKS = {
    name: {"operationId": operation, "parameters": _BY_ID, "description": description}
    for name, operation, description in [
        ("GetGathering", "get_gathering", "The gathering just scheduled"),
        ("RescheduleGathering", "reschedule_gathering", "Move it"),
        ("CancelGathering", "cancel_gathering", "Cancel it"),
        ("SetAgenda", "set_agenda", "Give it an agenda"),
        ("RegisterParticipants", "register_participants", "Register participants for it"),
        ("ListParticipants", "list_participants", "Who is registered for it"),
        ("RecordHeld", "record_held", "Record it held"),
    ]
} | {
    "NetworkGatherings": {
        "operationId": "network_gatherings",
        "parameters": {"network_id": "$response.body#/network_id"},
        "description": "The network's gatherings",
    },
    "IssueNetworkFeed": {
        "operationId": "issue_feed",
        "requestBody": {"network_id": "$response.body#/network_id"},
        "description": "A calendar feed for the network",
    },
}
GATHERING_LINKS = {
    "HostGatherings": {
        "operationId": "municipality_gatherings",
        "parameters": {"kommunenummer": "$response.body#/host"},
        "description": "The host municipality's gatherings",
    },
    "IssueHostFeed": {
        "operationId": "issue_feed",
        "requestBody": {"kommunenummer": "$response.body#/host"},
        "description": "A calendar feed for the host municipality",
    },
}
NETWORK_LINKS = {
    "MemberGatherings": {
        "operationId": "municipality_gatherings",
        "parameters": {"kommunenummer": "$response.body#/members/0/kommunenummer"},
        "description": "The first member's gatherings",
    },
    "ScheduleGathering": {
        "operationId": "schedule_gathering",
        "parameters": {"network_id": "$response.body#/id"},
        "description": "Schedule a gathering for the network",
    },
}
ISSUED_LINKS = {
    "NetworkCalendar": {
        "operationId": "network_calendar",
        "parameters": {"network_id": "$response.body#/network_id", "secret": "$response.body#/secret"},
        "description": "The network's calendar, when the feed is a network's",
    },
    "MunicipalityCalendar": {
        "operationId": "municipality_calendar",
        "parameters": {"kommunenummer": "$response.body#/kommunenummer", "secret": "$response.body#/secret"},
        "description": "The municipality's calendar, when the feed is a municipality's",
    },
    "FeedMunicipalityGatherings": {
        "operationId": "municipality_gatherings",
        "parameters": {"kommunenummer": "$response.body#/kommunenummer"},
        "description": "The gatherings in the municipality's feed, when the feed is a municipality's",
    },
    "RevokeFeed": {
        "operationId": "revoke_feed",
        "parameters": {"feed_id": "$response.body#/feed_id"},
        "description": "Revoke the feed",
    },
}


# -- Networks, as this service knows them ---------------------------------------------------------


@router.get(
    "/networks/{network_id}",
    response_model=NetworkOut,
    operation_id="get_network",
    tags=["networks"],
    responses={200: {"links": NETWORK_LINKS}},
)
async def get_network(network_id: NetworkId, pool: Pool, who: Reader) -> NetworkOut:
    """A network and its members, as the registry's events have told this service."""
    return await handlers.network(pool, network_id)


@router.get(
    "/networks/{network_id}/gatherings",
    response_model=NetworkGatherings,
    operation_id="network_gatherings",
    tags=["gatherings"],
)
async def network_gatherings(
    network_id: NetworkId, pool: Pool, clock: Today, who: Reader
) -> NetworkGatherings:
    """A network's gatherings, planned and past."""
    return await handlers.network_gatherings(pool, network_id, clock.today())


@router.post(
    "/networks/{network_id}/gatherings",
    status_code=201,
    response_model=GatheringAccepted,
    operation_id="schedule_gathering",
    tags=["gatherings"],
    responses={201: {"links": SCHEDULED_LINKS}},
)
async def schedule_gathering(network_id: NetworkId, body: PlanIn, uow: WriterCommand) -> GatheringAccepted:
    """Schedule a gathering (nettverkssamling): programme staff, or the network's leader.
    Times are local to Europe/Oslo; the host is a member; the network is not closed."""
    return await handlers.schedule(uow, network_id, body)


# -- A gathering ----------------------------------------------------------------------------------


@router.get(
    "/gatherings/{gathering_id}",
    response_model=GatheringOut,
    operation_id="get_gathering",
    tags=["gatherings"],
    responses={200: {"links": GATHERING_LINKS}},
)
async def get_gathering(gathering_id: GatheringId, pool: Pool, who: Reader) -> GatheringOut:
    """A gathering with its agenda, registrations per municipality and role category,
    attendance, cases presented, experience sharing and its changes."""
    return await handlers.gathering(pool, gathering_id)


@router.post(
    "/gatherings/{gathering_id}/reschedule",
    response_model=Accepted,
    operation_id="reschedule_gathering",
    tags=["gatherings"],
)
async def reschedule_gathering(gathering_id: GatheringId, body: RescheduleIn, uow: WriterCommand) -> Accepted:
    """Move a planned gathering (the whole new plan, and why)."""
    return await handlers.reschedule(uow, gathering_id, body)


@router.post(
    "/gatherings/{gathering_id}/cancel",
    response_model=Accepted,
    operation_id="cancel_gathering",
    tags=["gatherings"],
)
async def cancel_gathering(gathering_id: GatheringId, body: CancelIn, uow: WriterCommand) -> Accepted:
    """Cancel a planned gathering, with a reason."""
    return await handlers.cancel(uow, gathering_id, body.reason)


@router.put(
    "/gatherings/{gathering_id}/agenda",
    response_model=AgendaAccepted,
    operation_id="set_agenda",
    tags=["gatherings"],
)
async def set_agenda(gathering_id: GatheringId, body: AgendaIn, uow: WriterCommand) -> AgendaAccepted:
    """Set the agenda: items in order with times; the members' own cases, talks by invited
    resource environments, and other sessions."""
    return await handlers.set_agenda(uow, gathering_id, body)


@router.post(
    "/gatherings/{gathering_id}/registrations",
    status_code=201,
    response_model=RegistrationAccepted,
    operation_id="register_participants",
    tags=["registration"],
)
async def register_participants(
    gathering_id: GatheringId, body: RegistrationIn, uow: WriterCommand
) -> RegistrationAccepted:
    """Register a member municipality's participants by role category, as counts with optional
    names, within the capacity and by the registration deadline."""
    return await handlers.register(uow, gathering_id, body)


@router.get(
    "/gatherings/{gathering_id}/participants",
    response_model=list[ParticipantOut],
    operation_id="list_participants",
    tags=["registration"],
)
async def list_participants(gathering_id: GatheringId, pool: Pool, who: Reader) -> list[ParticipantOut]:
    """Registered participants with their names: a municipality sees its own, the planners all."""
    return await handlers.participants(pool, who, gathering_id)


@router.post(
    "/gatherings/{gathering_id}/held",
    response_model=Accepted,
    operation_id="record_held",
    tags=["gatherings"],
)
async def record_held(gathering_id: GatheringId, body: HeldIn, uow: WriterCommand) -> Accepted:
    """Record the gathering held (on or after its day, once): attendance per municipality and role
    category, cases presented, experience sharing. GatheringHeld carries no names."""
    return await handlers.record_held(uow, gathering_id, body)


@router.get(
    "/municipalities/{kommunenummer}/gatherings",
    response_model=list[GatheringSummary],
    operation_id="municipality_gatherings",
    tags=["gatherings"],
)
async def municipality_gatherings(
    kommunenummer: KommunePath, pool: Pool, who: Reader
) -> list[GatheringSummary]:
    """A municipality's gatherings: its networks', those it hosts, those it registered for."""
    return await handlers.municipality_gatherings(pool, kommunenummer)


# -- Calendar feeds -------------------------------------------------------------------------------


@router.post(
    "/calendar/feeds",
    status_code=201,
    response_model=FeedIssued,
    operation_id="issue_feed",
    tags=["calendar"],
    responses={201: {"links": ISSUED_LINKS}},
)
async def issue_feed(body: FeedIn, request: Request, pool: Pool, clock: Today, who: Writer) -> FeedIssued:
    """Issue a calendar feed's secret address, for a network or a municipality. Not idempotent
    (no `Idempotency-Key`): a kept answer would keep the secret, of which only a hash is stored;
    a retry issues another feed, and the one not used can be revoked."""
    uow = UnitOfWork(pool, clock, who)

    def url(network_id: uuid.UUID | None, kommunenummer: str | None, secret: str) -> str:
        if network_id is not None:
            base = request.url_for("network_calendar", network_id=str(network_id))
        else:
            base = request.url_for("municipality_calendar", kommunenummer=str(kommunenummer))
        return f"{base}?secret={quote(secret)}"

    return await handlers.issue_feed(uow, body, url)


@router.get("/calendar/feeds", response_model=list[FeedOut], operation_id="list_feeds", tags=["calendar"])
async def list_feeds(pool: Pool, who: Reader) -> list[FeedOut]:
    """The feeds issued to the caller (every feed, for staff); never their secrets."""
    return await handlers.feeds(pool, who)


@router.delete(
    "/calendar/feeds/{feed_id}", response_model=FeedOut, operation_id="revoke_feed", tags=["calendar"]
)
async def revoke_feed(feed_id: FeedId, uow: WriterCommand) -> FeedOut:
    """Revoke a feed: its address is refused from now on."""
    return await handlers.revoke_feed(uow, feed_id)


@router.get(
    "/calendar/networks/{network_id}.ics",
    response_class=ICalendar,
    operation_id="network_calendar",
    name="network_calendar",
    tags=["calendar"],
    responses=_CALENDAR_ANSWER,
)
async def network_calendar(network_id: NetworkId, secret: Secret, pool: Pool) -> ICalendar:
    """A network's gatherings as an iCalendar feed; the secret opens it."""
    return ICalendar(await handlers.network_calendar(pool, network_id, secret))


@router.get(
    "/calendar/municipalities/{kommunenummer}.ics",
    response_class=ICalendar,
    operation_id="municipality_calendar",
    name="municipality_calendar",
    tags=["calendar"],
    responses=_CALENDAR_ANSWER,
)
async def municipality_calendar(kommunenummer: KommunePath, secret: Secret, pool: Pool) -> ICalendar:
    """A municipality's gatherings as an iCalendar feed; the secret opens it."""
    return ICalendar(await handlers.municipality_calendar(pool, kommunenummer, secret))
