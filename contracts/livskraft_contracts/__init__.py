"""Livskraft's event contracts: what other agencies' systems install to read our events.

Depends on pydantic only. `ALL_EVENTS` lists the catalogue in order; `EVENT_TYPES` maps each
CloudEvents `type` to its data model, ready for `from_kafka(headers, value, EVENT_TYPES)`.
"""

from .common import (
    DecisionBody,
    Fylkesnummer,
    Kommunenummer,
    MunicipalityRef,
    Organisasjonsnummer,
    Theme,
)
from .envelope import (
    DEAD_LETTER_TOPIC,
    CloudEvent,
    Event,
    UnreadableEvent,
    from_kafka,
    to_kafka,
)
from .gatherings import (
    Attendance,
    CasePresented,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    ParticipantRegistered,
    RoleCategory,
)
from .notify import FailureReason, NotificationChannel, NotificationDelivered, NotificationFailed
from .registry import (
    ClosureReason,
    ContactAssigned,
    ContactRole,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    MunicipalityChanged,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
)
from .reporting import IndicatorReported, IndicatorStatus, StatisticsPublished

ALL_EVENTS: tuple[type[Event], ...] = (
    MunicipalityRegistered,
    MunicipalityChanged,
    NetworkCreated,
    MunicipalityInvited,
    EnrolmentSubmitted,
    EnrolmentConfirmed,
    EnrolmentWithdrawn,
    DecisionRecorded,
    ContactAssigned,
    NetworkClosed,
    GatheringScheduled,
    GatheringRescheduled,
    GatheringCancelled,
    ParticipantRegistered,
    GatheringHeld,
    IndicatorReported,
    StatisticsPublished,
    NotificationDelivered,
    NotificationFailed,
)
EVENT_TYPES: dict[str, type[Event]] = {e.ce_type(): e for e in ALL_EVENTS}

__all__ = [
    "ALL_EVENTS",
    "DEAD_LETTER_TOPIC",
    "EVENT_TYPES",
    "Attendance",
    "CasePresented",
    "ClosureReason",
    "CloudEvent",
    "ContactAssigned",
    "ContactRole",
    "DecisionBody",
    "DecisionRecorded",
    "EnrolmentConfirmed",
    "EnrolmentSubmitted",
    "EnrolmentWithdrawn",
    "Event",
    "FailureReason",
    "Fylkesnummer",
    "GatheringCancelled",
    "GatheringHeld",
    "GatheringRescheduled",
    "GatheringScheduled",
    "IndicatorReported",
    "IndicatorStatus",
    "Kommunenummer",
    "MunicipalityChanged",
    "MunicipalityInvited",
    "MunicipalityRef",
    "MunicipalityRegistered",
    "NetworkClosed",
    "NetworkCreated",
    "NotificationChannel",
    "NotificationDelivered",
    "NotificationFailed",
    "Organisasjonsnummer",
    "ParticipantRegistered",
    "RoleCategory",
    "StatisticsPublished",
    "Theme",
    "UnreadableEvent",
    "from_kafka",
    "to_kafka",
]
