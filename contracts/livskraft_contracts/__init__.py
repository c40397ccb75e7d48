"""Livskraft's event contracts: what other agencies' systems install to read our events.

Depends on pydantic only. `EVENT_TYPES` maps each CloudEvents `type` to its data model.
"""

from .common import DecisionBody, Fylkesnummer, Kommunenummer, MunicipalityRef, Theme
from .envelope import (
    DEAD_LETTER_TOPIC,
    CloudEvent,
    Event,
    UnreadableEvent,
    from_kafka,
    to_kafka,
)
from .registry import DecisionRecorded, EnrolmentSubmitted, NetworkCreated

ALL_EVENTS: tuple[type[Event], ...] = (NetworkCreated, EnrolmentSubmitted, DecisionRecorded)
EVENT_TYPES: dict[str, type[Event]] = {e.ce_type(): e for e in ALL_EVENTS}

__all__ = [
    "ALL_EVENTS",
    "DEAD_LETTER_TOPIC",
    "EVENT_TYPES",
    "CloudEvent",
    "DecisionBody",
    "DecisionRecorded",
    "EnrolmentSubmitted",
    "Event",
    "Fylkesnummer",
    "Kommunenummer",
    "MunicipalityRef",
    "NetworkCreated",
    "Theme",
    "UnreadableEvent",
    "from_kafka",
    "to_kafka",
]
