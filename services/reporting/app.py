"""The reporting service: projections of every event, indicators, comparisons, statistics."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.runtime.app import ServiceSpec, build_app
from services.runtime.settings import Settings

from . import api, projection

SPEC = ServiceSpec(
    name="reporting",
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router],
    consumes=projection.HANDLERS,
    description="Projections of the programme's events, and the statistics made from them.",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="reporting", http_port=8003))
