"""notify's handlers: one per command on subscriptions and mailboxes, each owning its transaction
(services/runtime/unit_of_work.py), the queries the API answers, and one per consumed event type.

Every consumed event is offered to the webhook subscriptions (`fan_out`): a delivery per live
subscription that asked for its type and registered before it happened (give or take a minute,
so that a notify reading the topics from the start does not flood a new subscriber with history).
The registry's events also keep notify's small projection current (networks, members, decisions,
main contacts, municipality names) and queue the e-mails they call for. E-mail is only queued for
events of the last day: a replay of old events writes to nobody.

Who may give a command is settled by the route; whose subscription it is, here.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    ContactAssigned,
    ContactRole,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    MunicipalityChanged,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
)
from livskraft_contracts.gatherings import GatheringPlan

from services.runtime import membership
from services.runtime.auth import Principal
from services.runtime.problems import Problem
from services.runtime.refusals import command
from services.runtime.unit_of_work import UnitOfWork

from . import domain, store
from .schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    EmailOut,
    MailboxIn,
    MailboxOut,
    SecretRotated,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
)

P = ParamSpec("P")
R = TypeVar("R")


def _not_found(what: str, key: object) -> Problem:
    return Problem(404, "Not Found", f"no {what} {key}")


def _visible(principal: Principal, row: asyncpg.Record | None, subscription_id: uuid.UUID) -> asyncpg.Record:
    """The subscription, if the caller may see it: its owner and programme staff. To anyone else
    it does not exist (404), so ids cannot be probed."""
    if row is None or not (principal.is_staff or row["owner"] == principal.subject):
        raise _not_found("subscription", subscription_id)
    return row


# -- Subscriptions ----------------------------------------------------------------------------------


@command
async def create_subscription(
    uow: UnitOfWork, body: SubscriptionIn, *, allow_loopback: bool
) -> SubscriptionCreated:
    """Register an endpoint for event types the token grants; the secret is in this answer only."""
    event_types = domain.check_event_types(body.event_types, uow.principal.scopes)
    url = domain.check_endpoint(body.url, allow_loopback=allow_loopback)
    secret = domain.new_secret(secrets.token_bytes(32))
    async with uow:
        subscription_id = uuid.uuid4()
        await store.insert_subscription(
            uow.conn, subscription_id, uow.principal.subject, url, event_types, body.description, secret
        )
        row = await store.get_subscription(uow.conn, subscription_id)
        return await uow.commit(SubscriptionCreated.model_validate({**dict(row or {}), "secret": secret}))


@command
async def delete_subscription(uow: UnitOfWork, subscription_id: uuid.UUID) -> SubscriptionOut:
    """No more deliveries; pending ones are cancelled. The log stays."""
    async with uow:
        row = _visible(
            uow.principal, await store.get_subscription(uow.conn, subscription_id, lock=True), subscription_id
        )
        if row["state"] == "deleted":
            raise domain.Refused("subscription_id", "the subscription is deleted already", 409)
        await store.set_state(uow.conn, subscription_id, "deleted", f"deleted by {uow.principal.role}")
        await store.cancel_pending(uow.conn, subscription_id)
        return await uow.commit(await _subscription(uow.conn, subscription_id))


@command
async def enable_subscription(uow: UnitOfWork, subscription_id: uuid.UUID) -> SubscriptionOut:
    """A disabled subscription is validated again, and deliveries resume once it answers 2xx."""
    async with uow:
        row = _visible(
            uow.principal, await store.get_subscription(uow.conn, subscription_id, lock=True), subscription_id
        )
        if row["state"] != "disabled":
            raise domain.Refused("subscription_id", f"the subscription is {row['state']}, not disabled", 409)
        await store.set_state(uow.conn, subscription_id, "pending", "validating again")
        return await uow.commit(await _subscription(uow.conn, subscription_id))


@command
async def rotate_secret(uow: UnitOfWork, subscription_id: uuid.UUID, *, overlap_s: float) -> SecretRotated:
    """A new signing secret; the previous one signs too for `overlap_s` more."""
    secret = domain.new_secret(secrets.token_bytes(32))
    async with uow:
        row = _visible(
            uow.principal, await store.get_subscription(uow.conn, subscription_id, lock=True), subscription_id
        )
        if row["state"] == "deleted":
            raise domain.Refused("subscription_id", "the subscription is deleted", 409)
        until = await store.rotate_secret(uow.conn, subscription_id, secret, overlap_s)
        return await uow.commit(SecretRotated(secret=secret, previous_valid_until=until))


@command
async def redeliver(uow: UnitOfWork, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    """Send a delivered or failed event again, with the same webhook-id and a new retry window."""
    async with uow:
        row = _visible(
            uow.principal, await store.get_subscription(uow.conn, subscription_id, lock=True), subscription_id
        )
        if row["state"] not in ("active", "pending"):
            raise domain.Refused(
                "subscription_id", f"the subscription is {row['state']}: enable it first", 409
            )
        delivery = await store.get_delivery(uow.conn, subscription_id, delivery_id, lock=True)
        if delivery is None:
            raise _not_found("delivery", delivery_id)
        if delivery["state"] not in ("delivered", "failed"):
            raise domain.Refused("delivery_id", f"the delivery is {delivery['state']}", 409)
        await store.redeliver(uow.conn, delivery_id)
        again = await store.get_delivery(uow.conn, subscription_id, delivery_id)
        return await uow.commit(DeliveryOut.model_validate(dict(again or {})))


async def _subscription(conn: asyncpg.Connection, subscription_id: uuid.UUID) -> SubscriptionOut:
    row = await store.get_subscription(conn, subscription_id)
    return SubscriptionOut.model_validate(dict(row or {}))


async def list_subscriptions(pool: asyncpg.Pool, principal: Principal) -> list[SubscriptionOut]:
    async with pool.acquire() as conn:
        rows = await store.list_subscriptions(conn, None if principal.is_staff else principal.subject)
    return [SubscriptionOut.model_validate(dict(r)) for r in rows]


async def get_subscription(
    pool: asyncpg.Pool, principal: Principal, subscription_id: uuid.UUID
) -> SubscriptionOut:
    async with pool.acquire() as conn:
        row = _visible(principal, await store.get_subscription(conn, subscription_id), subscription_id)
    return SubscriptionOut.model_validate(dict(row))


async def list_deliveries(
    pool: asyncpg.Pool,
    principal: Principal,
    subscription_id: uuid.UUID,
    state: str | None,
    before: int | None,
    limit: int,
) -> list[DeliveryOut]:
    async with pool.acquire() as conn:
        _visible(principal, await store.get_subscription(conn, subscription_id), subscription_id)
        rows = await store.list_deliveries(conn, subscription_id, state, before, limit)
    return [DeliveryOut.model_validate(dict(r)) for r in rows]


async def get_delivery(
    pool: asyncpg.Pool, principal: Principal, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryDetail:
    async with pool.acquire() as conn:
        _visible(principal, await store.get_subscription(conn, subscription_id), subscription_id)
        row = await store.get_delivery(conn, subscription_id, delivery_id)
        if row is None:
            raise _not_found("delivery", delivery_id)
        attempts = [AttemptOut.model_validate(dict(a)) for a in await store.attempts_of(conn, delivery_id)]
    return DeliveryDetail.model_validate({**dict(row), "attempts_log": attempts})


# -- Mailboxes and the e-mail log -------------------------------------------------------------------


async def put_mailbox(uow: UnitOfWork, kommunenummer: str, body: MailboxIn) -> MailboxOut:
    async with uow:
        row = await store.put_mailbox(uow.conn, kommunenummer, body.address, uow.principal.subject)
        return await uow.commit(MailboxOut.model_validate(dict(row)))


async def get_mailbox(pool: asyncpg.Pool, kommunenummer: str) -> MailboxOut:
    async with pool.acquire() as conn:
        row = await store.mailbox(conn, kommunenummer)
    if row is None:
        raise _not_found("mailbox for", kommunenummer)
    return MailboxOut.model_validate(dict(row))


async def list_emails(
    pool: asyncpg.Pool, network_id: uuid.UUID | None, kommunenummer: str | None, kind: str | None, limit: int
) -> list[EmailOut]:
    async with pool.acquire() as conn:
        rows = await store.list_emails(conn, network_id, kommunenummer, kind, limit)
    return [EmailOut.model_validate(dict(r)) for r in rows]


# -- Consumed events --------------------------------------------------------------------------------


async def fan_out(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
    """A delivery of each event to every live subscription that asked for its type; and every
    event, wanted or not, counts towards its aggregate's order (`store.see`)."""
    await store.see(conn, [(domain.chain(e), e.sequence) for e in events])
    wanted = await store.wanted_types(conn)
    await store.fan_out(
        conn,
        [
            store.Message(
                e.id, e.type, e.partitionkey, domain.chain(e), e.sequence, e.time, domain.structured(e)
            )
            for e in events
            if e.type in wanted
        ],
    )


def _recent(event: CloudEvent[Any]) -> bool:
    return domain.worth_mailing(event.time, datetime.now(UTC))


def _email(
    kind: domain.EmailKind, e: CloudEvent[Any], kommunenummer: str, data: dict[str, Any]
) -> store.EmailRow:
    return store.EmailRow(
        kind=kind.value,
        network_id=e.data.network_id,
        kommunenummer=kommunenummer,
        audience=domain.AUDIENCE[kind].value,
        data=data,
        event_id=e.id,
    )


async def _statuses(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]], status: str) -> None:
    await store.member_statuses(conn, membership.status_rows(events, status))


async def _enrolment_emails(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]], kind: domain.EmailKind
) -> None:
    await store.queue_emails(
        conn,
        [
            _email(
                kind,
                e,
                e.data.municipality.kommunenummer,
                {"valid_on": e.data.municipality.valid_on.isoformat()},
            )
            for e in events
            if _recent(e)
        ],
    )


async def network_created(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkCreated]]) -> None:
    await fan_out(conn, events)
    await store.upsert_networks(
        conn, [(e.data.network_id, e.data.name, e.data.enrolment_deadline) for e in events]
    )


async def network_closed(conn: asyncpg.Connection, events: Sequence[CloudEvent[NetworkClosed]]) -> None:
    await fan_out(conn, events)
    await store.close_networks(conn, [e.data.network_id for e in events])


async def municipality_invited(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[MunicipalityInvited]]
) -> None:
    await fan_out(conn, events)
    await _statuses(conn, events, "invited")
    await _enrolment_emails(conn, events, domain.EmailKind.INVITATION)


async def enrolment_submitted(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentSubmitted]]
) -> None:
    await fan_out(conn, events)
    await _statuses(conn, events, "submitted")
    await _enrolment_emails(conn, events, domain.EmailKind.ENROLMENT_RECEIVED)


async def enrolment_confirmed(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentConfirmed]]
) -> None:
    await fan_out(conn, events)
    await _statuses(conn, events, "confirmed")
    await _enrolment_emails(conn, events, domain.EmailKind.ENROLMENT_CONFIRMED)


async def enrolment_withdrawn(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[EnrolmentWithdrawn]]
) -> None:
    await fan_out(conn, events)
    await _statuses(conn, events, "withdrawn")


async def decision_recorded(conn: asyncpg.Connection, events: Sequence[CloudEvent[DecisionRecorded]]) -> None:
    await fan_out(conn, events)
    await store.add_decisions(
        conn,
        [(e.data.network_id, e.data.municipality.kommunenummer, e.sequence, e.data.final) for e in events],
    )


async def contact_assigned(conn: asyncpg.Connection, events: Sequence[CloudEvent[ContactAssigned]]) -> None:
    await fan_out(conn, events)
    await store.add_main_contacts(
        conn,
        [
            (e.data.network_id, e.data.municipality.kommunenummer, e.sequence)
            for e in events
            if e.data.role is ContactRole.MAIN_CONTACT
        ],
    )


async def municipality_facts(
    conn: asyncpg.Connection,
    events: Sequence[CloudEvent[MunicipalityRegistered] | CloudEvent[MunicipalityChanged]],
) -> None:
    await fan_out(conn, events)
    await store.municipality_names(
        conn, [(e.data.kommunenummer, e.data.valid_from, e.data.valid_to, e.data.name) for e in events]
    )


def gathering_mail(
    kind: domain.EmailKind,
) -> Callable[[asyncpg.Connection, Sequence[CloudEvent[Any]]], Awaitable[None]]:
    """The handler of a gathering's plan being made, moved or cancelled: an e-mail with the .ics to
    each municipality enrolled in the network."""

    async def handle(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        await fan_out(conn, events)
        emails = []
        for e in events:
            plan: GatheringPlan = e.data
            if not _recent(e):
                continue
            data = {
                "gathering_id": str(plan.gathering_id),
                "starts_on": plan.starts_on.isoformat(),
                "ends_on": plan.ends_on.isoformat() if plan.ends_on else None,
                "place": plan.place,
                "host": plan.host.kommunenummer if plan.host else None,
                "valid_on": plan.starts_on.isoformat(),
                "sequence": e.sequence,
            }
            for kommune in await store.active_members(conn, plan.network_id):
                emails.append(_email(kind, e, kommune, data))
        await store.queue_emails(conn, emails)

    handle.__name__ = kind.value.replace("-", "_")
    return handle


gathering_scheduled = gathering_mail(domain.EmailKind.GATHERING_SCHEDULED)
gathering_rescheduled = gathering_mail(domain.EmailKind.GATHERING_RESCHEDULED)
gathering_cancelled = gathering_mail(domain.EmailKind.GATHERING_CANCELLED)
