"""The notify service: signed webhooks to other agencies' systems, e-mail to municipalities'
contacts, and reminders before enrolment deadlines (docs/notify.md).

It consumes every event type but its own (each may be subscribed to; the registry's and the
gatherings' also drive e-mail), produces NotificationDelivered and NotificationFailed, and runs
three background tasks: the webhook workers, the e-mail worker and the reminder calendar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from livskraft_contracts import (
    ContactAssigned,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    GatheringCancelled,
    GatheringRescheduled,
    GatheringScheduled,
    MunicipalityChanged,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
    NotificationDelivered,
    NotificationFailed,
)

from services.runtime.app import ServiceSpec, build_app
from services.runtime.events import EventHandler, EventHandlers
from services.runtime.settings import Settings

from . import api, domain, handlers, mailer, reminders, webhooks

HANDLERS: dict[type[Any], EventHandler[Any]] = {
    MunicipalityRegistered: handlers.municipality_facts,
    MunicipalityChanged: handlers.municipality_facts,
    NetworkCreated: handlers.network_created,
    MunicipalityInvited: handlers.municipality_invited,
    EnrolmentSubmitted: handlers.enrolment_submitted,
    EnrolmentConfirmed: handlers.enrolment_confirmed,
    EnrolmentWithdrawn: handlers.enrolment_withdrawn,
    DecisionRecorded: handlers.decision_recorded,
    ContactAssigned: handlers.contact_assigned,
    NetworkClosed: handlers.network_closed,
    GatheringScheduled: handlers.gathering_scheduled,
    GatheringRescheduled: handlers.gathering_rescheduled,
    GatheringCancelled: handlers.gathering_cancelled,
}
"""The events notify does more with than offer to subscribers; every other type is only offered."""


def _consumes() -> EventHandlers:
    table = EventHandlers()
    for event_type in domain.SUBSCRIBABLE.values():
        table.on(event_type, HANDLERS.get(event_type, handlers.fan_out))
    return table


SPEC = ServiceSpec(
    name="notify",
    migrations=Path(__file__).parent / "migrations",
    produces=(NotificationDelivered, NotificationFailed),
    consumes=_consumes(),
    routers=[api.router],
    background=(webhooks.webhook_workers, mailer.email_worker, reminders.reminder_calendar),
    description="Signed webhooks (Standard Webhooks) to other agencies' systems, e-mail to the "
    "municipalities' contacts, and reminders before enrolment deadlines.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings(service="notify", http_port=8004)
    if settings.environment == "production" and settings.allow_loopback_webhooks:
        raise RuntimeError("LIVSKRAFT_ALLOW_LOOPBACK_WEBHOOKS is refused in production (SSRF)")
    if settings.environment == "production" and settings.registry_token_file is None:
        raise RuntimeError("LIVSKRAFT_REGISTRY_TOKEN_FILE must be set in production: notify's registry token")
    return build_app(SPEC, settings)
