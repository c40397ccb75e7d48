"""HTTP models every service answers with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livskraft_contracts import CloudEvent
from pydantic import BaseModel


class Accepted(BaseModel):
    """What a command changed: the events it wrote, by CloudEvents id and type."""

    event_ids: list[str]
    event_types: list[str]

    @classmethod
    def of(cls, envelopes: Sequence[CloudEvent[Any]]) -> Accepted:
        return cls(event_ids=[e.id for e in envelopes], event_types=[e.type for e in envelopes])
