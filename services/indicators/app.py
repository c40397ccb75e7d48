"""The indicators service: the indicator catalogue, the values municipalities report for
themselves, and each municipality's plan cycle in its networks. Facts of record, kept with their
history; reporting projects them for comparisons and statistics (docs/indicators.md).

It learns municipality codes through time, networks and members from the registry's events."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from livskraft_contracts import (
    GoalSet,
    IndicatorDefined,
    IndicatorReported,
    MeasureEvaluated,
    MeasurePlanned,
    MeasureUpdated,
    MunicipalityChanged,
    MunicipalityRegistered,
    PlanReported,
    StatusAssessed,
)

from services.runtime import membership
from services.runtime.app import ServiceSpec, build_app
from services.runtime.events import EventHandlers
from services.runtime.settings import Settings

from . import api, handlers
from .plan import api as plan_api

SPEC = ServiceSpec(
    name="indicators",
    migrations=Path(__file__).parent / "migrations",
    produces=(
        IndicatorDefined,
        IndicatorReported,
        StatusAssessed,
        GoalSet,
        MeasurePlanned,
        MeasureUpdated,
        MeasureEvaluated,
        PlanReported,
    ),
    consumes=membership.track(
        EventHandlers()
        .on(MunicipalityRegistered, handlers.municipality_registered)
        .on(MunicipalityChanged, handlers.municipality_changed)
    ),
    routers=[api.router, plan_api.router],
    on_start=handlers.load_catalogue_if_empty,
    description="Indicators and the plan cycle: the catalogue, values reported by municipalities "
    "(IndicatorReported), status, goals, measures and their evaluation.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="indicators", http_port=8005))
