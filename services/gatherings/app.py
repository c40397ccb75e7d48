"""The gatherings service: network gatherings (nettverkssamlinger) planned, registered for, held,
and shown in calendars. It learns networks and members from the registry's events."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from livskraft_contracts import (
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    ParticipantRegistered,
)

from services.runtime import membership
from services.runtime.app import ServiceSpec, build_app
from services.runtime.events import EventHandlers
from services.runtime.settings import Settings

from . import api

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
    consumes=membership.track(EventHandlers()),
    routers=[api.router],
    description="Network gatherings: planning, agenda, registration, attendance, calendar feeds.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="gatherings", http_port=8002))
