"""Events published by the notify service: the outcome of each notification (varsel)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from .envelope import Event


class NotificationChannel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class FailureReason(StrEnum):
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # DNS, connection refused, TLS
    REJECTED = "rejected"  # the receiver answered with an error status
    NO_RECIPIENT = "no-recipient"  # nobody to send to


class NotifyEvent(Event):
    service: ClassVar[str] = "notify"
    key_field: ClassVar[str] = "notification_id"

    notification_id: UUID
    channel: NotificationChannel
    event_id: str = Field(
        min_length=1, max_length=200, description="CloudEvents id of the event notified about"
    )
    attempt: int = Field(default=1, ge=1)


class NotificationDelivered(NotifyEvent):
    """The receiver accepted the notification."""


class NotificationFailed(NotifyEvent):
    """An attempt failed. No recipient address or error text travels, only a reason code."""

    reason: FailureReason
    status_code: int | None = Field(default=None, ge=100, le=599, description="HTTP or SMTP code")
    will_retry: bool
