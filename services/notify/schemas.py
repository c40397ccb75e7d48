"""notify's HTTP models: subscriptions, their delivery log, mailboxes and the e-mail log.

What an endpoint URL must be, and which event types a token may subscribe to, are rules of
`domain.py`, not of these models.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from livskraft_contracts import Kommunenummer
from pydantic import BaseModel, Field, JsonValue

from services.runtime.inputs import Body

from .domain import SUBSCRIBABLE

DeliveryState = Literal["pending", "delivered", "failed", "cancelled"]
EVENT_TYPES: list[JsonValue] = [*sorted(SUBSCRIBABLE)]
SubscriptionState = Literal["pending", "active", "disabled", "deleted"]


class SubscriptionIn(Body):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="The endpoint: https, on a public address. In development also http to loopback.",
        examples=["https://mottak.example.no/livskraft"],
        json_schema_extra={"format": "uri"},
    )
    event_types: list[str] = Field(
        min_length=1,
        max_length=50,
        description="CloudEvents types, e.g. no.ks.livskraft.registry.DecisionRecorded.v1; each must be "
        "granted by the token's scope livskraft:events:<type>",
        json_schema_extra={"items": {"type": "string", "enum": EVENT_TYPES}},
    )
    description: str | None = Field(default=None, max_length=500)


class MailboxIn(Body):
    address: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=254,
        description="The municipality's official address (postmottak), not a person's",
    )


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    state: SubscriptionState = Field(
        description="pending: waiting for the validation request to be answered 2xx; active; disabled "
        "(410 Gone, validation failed, or by hand); deleted"
    )
    state_reason: str | None
    created_at: datetime
    validated_at: datetime | None
    secret_since: datetime | None = Field(description="when the current signing secret was made")


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="The signing secret (whsec_...). Shown this once: keep it.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret (whsec_...), shown this once")
    previous_valid_until: datetime | None = Field(
        description="Until then deliveries are signed with both the new and the previous secret"
    )


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="The webhook-id of every attempt, and the notification_id")
    position: int
    event_id: str
    event_type: str
    aggregate_key: str
    sequence: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_reason: str | None
    delivered_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    verdict: str
    reason: str | None
    duration_ms: int


class DeliveryDetail(DeliveryOut):
    attempts_log: list[AttemptOut]


class MailboxOut(BaseModel):
    kommunenummer: Kommunenummer
    address: str
    updated_at: datetime


class EmailOut(BaseModel):
    """An e-mail and what came of it; never the addresses it went to."""

    id: uuid.UUID
    kind: str
    network_id: uuid.UUID | None
    kommunenummer: str
    event_id: str
    state: Literal["pending", "sent", "failed"]
    attempts: int
    recipients: int | None = Field(description="how many addresses it went to")
    last_status: int | None
    last_reason: str | None
    reminder_days: int | None
    sent_at: datetime | None
    created_at: datetime
