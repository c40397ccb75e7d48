"""W3C trace context: each HTTP request gets a `traceparent` (the caller's, or a new one), the
events its command writes carry it as `ce_traceparent`, and every log line names the trace id."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def begin(incoming: str | None) -> str:
    """The request's traceparent: the caller's if it is well formed, else a new trace."""
    value = incoming if incoming and _TRACEPARENT.fullmatch(incoming) else new_traceparent()
    _current.set(value)
    return value


def current() -> str | None:
    return _current.get()


def trace_id() -> str | None:
    value = _current.get()
    return value.split("-")[1] if value else None
