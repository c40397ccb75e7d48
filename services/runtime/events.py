"""What a service says about events: which types it produces, and a handler per type it consumes.

Each service declares this once, in its `app.py`:

    SPEC = ServiceSpec(
        name="reporting",
        produces=(StatisticsPublished,),
        consumes=EventHandlers()
            .on(NetworkCreated, handlers.network_created)
            .on(DecisionRecorded, handlers.decision_recorded),
        ...
    )

From that one declaration come the topics the service subscribes to, its AsyncAPI document and
(in `deploy/`) its Kafka topics and ACLs. An event handler receives a run of consecutive events of
its one type, typed (`Sequence[CloudEvent[NetworkCreated]]`), inside the consumer's transaction:
the inbox row and the handler's effect commit together (see `services/runtime/consumer.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from itertools import groupby
from typing import Any, TypeVar

import asyncpg
from livskraft_contracts import CloudEvent, Event

E = TypeVar("E", bound=Event)

EventHandler = Callable[[asyncpg.Connection, Sequence[CloudEvent[E]]], Awaitable[None]]
"""Applies a run of events of one type, in order, in the caller's transaction (bulk writes welcome)."""


class EventHandlers:
    """The table of consumed event types and their handlers (eShop's `AddSubscription<E, H>`)."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], EventHandler[Any]] = {}

    def on(self, event_type: type[E], handler: EventHandler[E]) -> EventHandlers:
        """Apply `event_type` with `handler`. One handler per type: a second is a mistake."""
        if event_type in self._handlers:
            raise ValueError(f"{event_type.__name__} already has a handler")
        self._handlers[event_type] = handler
        return self

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        return tuple(self._handlers)

    @property
    def topics(self) -> list[str]:
        return sorted({t.topic() for t in self._handlers})

    def __bool__(self) -> bool:
        return bool(self._handlers)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Event]]) -> None:
        """Apply events in the order given; consecutive events of one type go to their handler
        together. An event of a type without a handler is a programming error (the consumer only
        reads the types in this table)."""
        for event_type, run in groupby(events, key=lambda e: type(e.data)):
            await self._handlers[event_type](conn, list(run))
