"""The services, their default ports, and how to build each one's app."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fastapi import FastAPI

from services.runtime.settings import Settings

PORTS = {"registry": 8001, "gatherings": 8002, "reporting": 8003, "notify": 8004, "indicators": 8005}


def app_factory(service: str) -> Callable[[Settings], FastAPI]:
    if service not in PORTS:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(PORTS)}")
    module = importlib.import_module(f"services.{service}.app")
    return module.create_app  # type: ignore[no-any-return]
