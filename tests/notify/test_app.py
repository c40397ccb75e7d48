"""notify's wiring: its background tasks run beside the relay and consumer, and one that dies
fails /healthz (so the pod is restarted), as a dead relay does."""

from __future__ import annotations

import dataclasses

import httpx
from starlette.datastructures import State

from services.notify.app import SPEC
from services.runtime.app import build_app
from services.runtime.settings import Settings
from tests.conftest import eventually


async def test_a_background_task_that_dies_fails_healthz(new_database, service_settings) -> None:
    async def broken_worker(state: State, settings: Settings) -> None:
        raise RuntimeError("the worker's loop ended")

    spec = dataclasses.replace(SPEC, background=(*SPEC.background, broken_worker))
    app = build_app(spec, service_settings("notify", await new_database("notify")))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notify"
        ) as client:

            async def broken() -> dict[str, str] | None:
                answer = await client.get("/healthz")
                return answer.json() if answer.status_code == 503 else None

            body = await eventually(broken)
            assert "notify-broken_worker stopped" in body["reason"]
            names = [t.__name__ for t in SPEC.background]
            assert names == ["webhook_workers", "email_worker", "reminder_calendar"]  # named in /healthz
