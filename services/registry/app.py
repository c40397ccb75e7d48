"""The registry service: municipalities, networks, enrolment, decisions, contacts."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from livskraft_contracts import (
    ContactAssigned,
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

from services.runtime.app import ServiceSpec, build_app
from services.runtime.settings import Settings

from . import api
from .municipalities import api as municipalities_api
from .municipalities import handlers as municipality_handlers

SPEC = ServiceSpec(
    name="registry",
    migrations=Path(__file__).parent / "migrations",
    produces=(
        MunicipalityRegistered,
        MunicipalityChanged,
        NetworkCreated,
        MunicipalityInvited,
        EnrolmentSubmitted,
        EnrolmentConfirmed,
        EnrolmentWithdrawn,
        DecisionRecorded,
        ContactAssigned,
        NetworkClosed,
    ),
    routers=[api.router, municipalities_api.router],
    on_start=municipality_handlers.import_bundled_if_empty,
    description="Where the programme's facts are made: networks, enrolment, political decisions.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="registry", http_port=8001))
