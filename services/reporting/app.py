"""The reporting service: projections of every event the registry, gatherings and indicators
publish, network reports, indicator comparisons, the yearly summary and the national statistics
(JSON-stat 2.0) made from them; rebuildable from the topics (`livskraft reporting rebuild`,
services/reporting/rebuild.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from livskraft_contracts import (
    ContactAssigned,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    IndicatorDefined,
    IndicatorReported,
    MunicipalityChanged,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
    ParticipantRegistered,
    StatisticsPublished,
)

from services.runtime.app import ServiceSpec, build_app
from services.runtime.events import EventHandlers
from services.runtime.settings import Settings

from . import api, handlers

HANDLERS = (
    EventHandlers()
    .on(MunicipalityRegistered, handlers.municipality_registered)
    .on(MunicipalityChanged, handlers.municipality_changed)
    .on(NetworkCreated, handlers.network_created)
    .on(MunicipalityInvited, handlers.municipality_invited)
    .on(EnrolmentSubmitted, handlers.enrolment_submitted)
    .on(EnrolmentConfirmed, handlers.enrolment_confirmed)
    .on(EnrolmentWithdrawn, handlers.enrolment_withdrawn)
    .on(DecisionRecorded, handlers.decision_recorded)
    .on(ContactAssigned, handlers.contact_assigned)
    .on(NetworkClosed, handlers.network_closed)
    .on(GatheringScheduled, handlers.gathering_scheduled)
    .on(GatheringRescheduled, handlers.gathering_rescheduled)
    .on(GatheringCancelled, handlers.gathering_cancelled)
    .on(ParticipantRegistered, handlers.participant_registered)
    .on(GatheringHeld, handlers.gathering_held)
    .on(IndicatorDefined, handlers.indicator_defined)
    .on(IndicatorReported, handlers.indicator_reported)
)

SPEC = ServiceSpec(
    name="reporting",
    migrations=Path(__file__).parent / "migrations",
    produces=(StatisticsPublished,),
    consumes=HANDLERS,
    routers=[api.router],
    description="Projections of the programme's events, and the national statistics made from them.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="reporting", http_port=8003))
