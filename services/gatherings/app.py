"""The gatherings service. Its first slice is not built yet: it starts, migrates and answers probes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.runtime.app import ServiceSpec, build_app
from services.runtime.settings import Settings

SPEC = ServiceSpec(name="gatherings", migrations=Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="gatherings"))
