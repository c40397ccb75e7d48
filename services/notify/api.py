"""notify's HTTP API: parse, authorize, call a handler, answer.

Subscriptions belong to subscribers: machine clients of other agencies, with role `subscriber`
and a scope `livskraft:events:<CloudEvents type>` for each event type they may receive (see
`domain.SCOPE_PREFIX`). A subscriber registers, reads and manages its own subscriptions;
programme staff read and manage all of them but register none (a subscription carries the grant
of the token that made it). Mailboxes are set by staff; the e-mail log is read with `livskraft:read`.

Every operation that creates something links, in the OpenAPI document, to the operations that
use its id, so that stateful tools (schemathesis) and readers can follow them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from services.runtime.auth import SUBSCRIBER, Principal, require
from services.runtime.deps import Idempotency, Pool, Reader, Staff, StaffCommand, Today
from services.runtime.inputs import BIGINT_MAX
from services.runtime.problems import Problem
from services.runtime.unit_of_work import UnitOfWork

from . import handlers
from .schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryState,
    EmailOut,
    MailboxIn,
    MailboxOut,
    SecretRotated,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
)
from .webhooks import allow_loopback

router = APIRouter()

SubscriptionId = Annotated[uuid.UUID, Path(description="The subscription's id")]
DeliveryId = Annotated[uuid.UUID, Path(description="The delivery's id: its webhook-id")]
KommunePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="kommunenummer, 4 digits")]
Anyone = Annotated[Principal, Depends(require())]


def _only(*roles: str) -> Callable[[Principal], None]:
    def check(principal: Principal) -> None:
        if principal.role not in roles:
            raise Problem(403, "Forbidden", f"Only {' or '.join(roles)} tokens may do this")

    return check


_subscriber = _only(SUBSCRIBER)
_manager = _only(SUBSCRIBER, "staff")


def _command(check: Callable[[Principal], None]) -> Callable[..., Awaitable[UnitOfWork]]:
    """A command's unit of work (with its Idempotency-Key) for the roles `check` lets through."""

    async def unit_of_work(
        pool: Pool,
        clock: Today,
        principal: Anyone,
        idempotency: Idempotency,
    ) -> UnitOfWork:
        check(principal)
        return UnitOfWork(pool, clock, principal, idempotency)

    return unit_of_work


SubscriberCommand = Annotated[UnitOfWork, Depends(_command(_subscriber))]
ManagerCommand = Annotated[UnitOfWork, Depends(_command(_manager))]


def _manager_principal(principal: Anyone) -> Principal:
    _manager(principal)
    return principal


Manager = Annotated[Principal, Depends(_manager_principal)]


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


_ID = "$response.body#/id"
SUBSCRIPTION_LINKS = {
    "GetSubscription": _link("get_subscription", subscription_id=_ID),
    "ListDeliveries": _link("list_deliveries", subscription_id=_ID),
    "RotateSecret": _link("rotate_secret", subscription_id=_ID),
    "EnableSubscription": _link("enable_subscription", subscription_id=_ID),
    "DeleteSubscription": _link("delete_subscription", subscription_id=_ID),
}
_SAME = "$request.path.subscription_id"
DELIVERY_LINKS = {
    "GetDelivery": _link("get_delivery", subscription_id=_SAME, delivery_id="$response.body#/0/id"),
    "Redeliver": _link("redeliver", subscription_id=_SAME, delivery_id="$response.body#/0/id"),
}
MAILBOX_LINKS = {"GetMailbox": _link("get_mailbox", kommunenummer="$request.path.kommunenummer")}


# -- Subscriptions ----------------------------------------------------------------------------------


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    operation_id="create_subscription",
    tags=["subscriptions"],
    responses={201: {"links": SUBSCRIPTION_LINKS}},
)
async def create_subscription(
    body: SubscriptionIn, request: Request, uow: SubscriberCommand
) -> SubscriptionCreated:
    """Register an endpoint for event types your token grants. The answer holds the signing secret
    (`whsec_...`), shown this once. Deliveries start when the endpoint has answered the validation
    request (a signed POST of type `no.ks.livskraft.notify.SubscriptionValidation.v1`) with 2xx."""
    loopback = allow_loopback(request.app.state.settings)
    return await handlers.create_subscription(uow, body, allow_loopback=loopback)


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionOut],
    operation_id="list_subscriptions",
    tags=["subscriptions"],
)
async def list_subscriptions(pool: Pool, who: Manager) -> list[SubscriptionOut]:
    """Your subscriptions (programme staff: everyone's)."""
    return await handlers.list_subscriptions(pool, who)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    operation_id="get_subscription",
    tags=["subscriptions"],
)
async def get_subscription(subscription_id: SubscriptionId, pool: Pool, who: Manager) -> SubscriptionOut:
    return await handlers.get_subscription(pool, who, subscription_id)


@router.delete(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    operation_id="delete_subscription",
    tags=["subscriptions"],
)
async def delete_subscription(subscription_id: SubscriptionId, uow: ManagerCommand) -> SubscriptionOut:
    """Stop the deliveries; pending ones are cancelled, the delivery log stays."""
    return await handlers.delete_subscription(uow, subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/enable",
    response_model=SubscriptionOut,
    operation_id="enable_subscription",
    tags=["subscriptions"],
)
async def enable_subscription(subscription_id: SubscriptionId, uow: ManagerCommand) -> SubscriptionOut:
    """Validate a disabled subscription's endpoint again; deliveries resume when it answers 2xx."""
    return await handlers.enable_subscription(uow, subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/secret/rotate",
    response_model=SecretRotated,
    operation_id="rotate_secret",
    tags=["subscriptions"],
)
async def rotate_secret(
    subscription_id: SubscriptionId, request: Request, uow: ManagerCommand
) -> SecretRotated:
    """A new signing secret, shown this once. The previous one keeps signing too (a second
    `v1,` signature) until `previous_valid_until`, so the receiver can switch without a gap."""
    overlap = request.app.state.settings.webhook_secret_overlap_s
    return await handlers.rotate_secret(uow, subscription_id, overlap_s=overlap)


# -- The delivery log -------------------------------------------------------------------------------


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=list[DeliveryOut],
    operation_id="list_deliveries",
    tags=["deliveries"],
    responses={200: {"links": DELIVERY_LINKS}},
)
async def list_deliveries(
    subscription_id: SubscriptionId,
    pool: Pool,
    who: Manager,
    state: Annotated[DeliveryState | None, Query(description="only deliveries in this state")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="page back: positions below this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    """The subscription's deliveries, newest first: state, attempts, last status."""
    return await handlers.list_deliveries(pool, who, subscription_id, state, before, limit)


@router.get(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    operation_id="get_delivery",
    tags=["deliveries"],
)
async def get_delivery(
    subscription_id: SubscriptionId, delivery_id: DeliveryId, pool: Pool, who: Manager
) -> DeliveryDetail:
    """One delivery with every attempt: when, the status answered, how long it took."""
    return await handlers.get_delivery(pool, who, subscription_id, delivery_id)


@router.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    operation_id="redeliver",
    tags=["deliveries"],
)
async def redeliver(
    subscription_id: SubscriptionId, delivery_id: DeliveryId, uow: ManagerCommand
) -> DeliveryOut:
    """Send a delivered or failed event again, with the same webhook-id."""
    return await handlers.redeliver(uow, subscription_id, delivery_id)


# -- Mailboxes and the e-mail log -------------------------------------------------------------------


@router.put(
    "/mailboxes/{kommunenummer}",
    response_model=MailboxOut,
    operation_id="put_mailbox",
    tags=["e-mail"],
    responses={200: {"links": MAILBOX_LINKS}},
)
async def put_mailbox(kommunenummer: KommunePath, body: MailboxIn, uow: StaffCommand) -> MailboxOut:
    """Set a municipality's official address (postmottak): invitations go there, and other mail
    when the municipality has named no main contact."""
    return await handlers.put_mailbox(uow, kommunenummer, body)


@router.get(
    "/mailboxes/{kommunenummer}", response_model=MailboxOut, operation_id="get_mailbox", tags=["e-mail"]
)
async def get_mailbox(kommunenummer: KommunePath, pool: Pool, who: Staff) -> MailboxOut:
    return await handlers.get_mailbox(pool, kommunenummer)


@router.get("/emails", response_model=list[EmailOut], operation_id="list_emails", tags=["e-mail"])
async def list_emails(
    pool: Pool,
    who: Reader,
    network_id: Annotated[uuid.UUID | None, Query()] = None,
    kommunenummer: Annotated[str | None, Query(pattern=r"^[0-9]{4}$")] = None,
    kind: Annotated[
        Literal[
            "invitation",
            "enrolment-received",
            "enrolment-confirmed",
            "gathering-scheduled",
            "gathering-rescheduled",
            "gathering-cancelled",
            "reminder",
        ]
        | None,
        Query(),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EmailOut]:
    """E-mails queued and sent, newest first: kind, municipality, state, how many recipients;
    never the addresses."""
    return await handlers.list_emails(pool, network_id, kommunenummer, kind, limit)
