"""The gatherings service: network gatherings (nettverkssamlinger) planned, registered for, held,
and shown in calendars. It learns networks and members from the registry's events."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from livskraft_contracts import (
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    MunicipalityInvited,
    NetworkClosed,
    NetworkCreated,
    ParticipantRegistered,
)

from services.runtime.app import ServiceSpec, build_app
from services.runtime.events import EventHandlers
from services.runtime.settings import Settings

from . import api, handlers

SPEC = ServiceSpec(
    name="gatherings",
    migrations=Path(__file__).parent / "migrations",
    produces=(
        GatheringScheduled,
        GatheringRescheduled,
        GatheringCancelled,
        ParticipantRegistered,
        GatheringHeld,
    ),
    consumes=EventHandlers()
    .on(NetworkCreated, handlers.network_created)
    .on(MunicipalityInvited, handlers.municipality_invited)
    .on(EnrolmentSubmitted, handlers.enrolment_submitted)
    .on(EnrolmentConfirmed, handlers.enrolment_confirmed)
    .on(EnrolmentWithdrawn, handlers.enrolment_withdrawn)
    .on(NetworkClosed, handlers.network_closed),
    routers=[api.router],
    description="Network gatherings: planning, agenda, registration, attendance, calendar feeds.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="gatherings", http_port=8002))
