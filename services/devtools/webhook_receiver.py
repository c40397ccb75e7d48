"""A webhook receiver on loopback, for development, the tests, the demo and the benchmark.

It stands in for another agency's endpoint: it answers notify's deliveries (HTTP/1.1 with keep-
alive, on `asyncio.start_server`, no framework), keeps each request it got, and answers with the
status its script says for the path (200 when the script is empty). It checks nothing itself:
the tests verify what it kept with the `standardwebhooks` library, the demo with
`services.notify.domain.verify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REASONS = {200: "OK", 204: "No Content", 410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_type(self) -> str:
        return str(self.json().get("type", ""))


@dataclass
class WebhookReceiver:
    """`async with WebhookReceiver() as r:` listens on 127.0.0.1; `r.url("/agency")` is an endpoint."""

    host: str = "127.0.0.1"
    port: int = 0
    script: dict[str, list[int]] = field(default_factory=dict)
    """Per CloudEvents id (the body's `id`), or else per path, the statuses to answer in turn;
    once used up, 200."""
    on_receive: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):  # kept-alive connections end with the receiver
                writer.close()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=2)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def _answer(self, path: str, body: bytes) -> int:
        try:
            event_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            event_id = None
        statuses = self.script.get(event_id) if isinstance(event_id, str) else None
        if statuses is None:
            statuses = self.script.get(path)
        return statuses.pop(0) if statuses else 200

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                _method, path, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self._answer(path, body)
                got = Received(path, headers, body, time.time(), status)
                self.received.append(got)
                if self.on_receive is not None:
                    self.on_receive(got)
                reason = REASONS.get(status, "Status")
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._open.discard(writer)
            writer.close()
