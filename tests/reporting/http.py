"""Serve an app started by `start_service` over real HTTP, for clients that fetch by URL (pyjstat
reads a JSON-stat collection by following each item's href with `requests`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from tests.processes import free_port


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The app at http://127.0.0.1:<port> (its lifespan is already running: not run again)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
        assert time.monotonic() < deadline, "the HTTP server did not start within 30 s"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
