"""What the notify tests share: notify with a fast retry schedule, a subscriber's token, an SMTP
server that keeps mail, and events put on Kafka as another service's relay would."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from livskraft_contracts import CloudEvent, Event, to_kafka

from services.devtools.mail_catcher import MailCatcher
from services.devtools.tokens import issue_dev_token
from services.notify.app import create_app
from services.notify.domain import scope_for
from services.runtime.settings import Settings

FAST = {
    "webhook_retry_base_s": 0.05,
    "webhook_retry_factor": 2.0,
    "webhook_retry_max_s": 1.0,
    "webhook_retry_jitter": 0.0,
    "webhook_timeout_s": 2.0,
    "webhook_poll_interval_s": 0.2,
    "reminder_interval_s": 0.2,
}
"""Retries 50 ms, 100 ms, 200 ms ... apart, so that a test sees four attempts in well under a second."""


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
async def start_notify(
    new_database: Callable[[str], Awaitable[str]],
    service_settings: Callable[..., Settings],
    mail: MailCatcher,
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """notify in this process (as `start_service` runs a service), with the fast schedule and the
    test's SMTP server. Replicas: the same `database_url` and `consumer_group_id`."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            database_url: str | None = None, consumer_group_id: str | None = None, **overrides: Any
        ) -> httpx.AsyncClient:
            url = database_url or await new_database("notify")
            settings = service_settings(
                "notify", url, consumer_group_id, **{**FAST, "smtp_port": mail.port, **overrides}
            )
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify")
            client.app = app  # type: ignore[attr-defined]
            await stack.enter_async_context(client)
            return client

        yield start


@pytest.fixture
def subscriber(data_dir: Path) -> Callable[..., dict[str, str]]:
    """`subscriber(DecisionRecorded, GatheringHeld)`: headers with a subscriber's token granting those."""

    def headers(*types: type[Event], subject: str | None = None) -> dict[str, str]:
        token = issue_dev_token(
            data_dir,
            "subscriber",
            subject=subject or f"agency-{uuid.uuid4().hex[:6]}",
            scopes=[scope_for(t.ce_type()) for t in types],
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
async def publish(bootstrap: str) -> AsyncIterator[Callable[[Sequence[CloudEvent[Any]]], Awaitable[None]]]:
    """Put events on their topics, as the producing service's relay would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()

    async def send(events: Sequence[CloudEvent[Any]]) -> None:
        for event in events:
            key, value, headers = to_kafka(event)
            await producer.send_and_wait(event.topic, value, key=key, headers=headers)

    yield send
    await producer.stop()
