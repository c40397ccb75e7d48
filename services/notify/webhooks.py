"""Webhook delivery: the workers that send due deliveries and validation requests.

Each worker loop claims a batch of due deliveries in a transaction (`FOR UPDATE SKIP LOCKED`, so
replicas and loops share the work and never send one delivery at once), sends them concurrently,
and writes back in the same transaction what each attempt came to: the delivery log, the next
attempt (backoff with jitter, kept in the database, so it survives a restart), and notify's own
NotificationDelivered / NotificationFailed through the outbox. A process killed mid-batch leaves
the batch's rows as they were: they are sent again with the same `webhook-id`, which receivers
de-duplicate on (Standard Webhooks). Only an acknowledgement that was not yet committed can be
seen twice; one that was committed never is.

Timing uses the wall clock, not the service's calendar: a demo that moves the calendar forward a
month must not expire every retry, and `webhook-timestamp` is checked by receivers against theirs.

Requests go through `http_client.DeliveryClient`, which resolves the endpoint's host itself and
connects only to a public address (or loopback, where allowed): a host name re-pointed at an
inside address (DNS rebinding) is refused at the moment it would be used. Redirects are not
followed, no proxy is used, and at most 64 KiB of an answer is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import typing
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from livskraft_contracts import FailureReason
from prometheus_client import Counter, Histogram
from starlette.datastructures import State

from services.runtime.settings import Settings

from . import domain, store
from .http_client import DeliveryClient, ForbiddenAddress

log = logging.getLogger(__name__)
USER_AGENT = "Livskraft-Webhooks/1.0"
LOG_DAYS = 30
"""Finished deliveries, their attempts and bodies are kept this long (the delivery log), then purged."""

ATTEMPTS = Counter(
    "livskraft_notify_webhook_attempts_total", "Webhook delivery attempts by what came of them", ["verdict"]
)
SECONDS = Histogram(
    "livskraft_notify_webhook_seconds",
    "Time from a webhook request to its answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)


def allow_loopback(settings: Settings) -> bool:
    """Loopback endpoints (and plain http to them): development only, unless set otherwise."""
    if settings.allow_loopback_webhooks is None:
        return settings.environment == "development"
    return settings.allow_loopback_webhooks


def policy(settings: Settings) -> domain.RetryPolicy:
    return domain.RetryPolicy(
        base_s=settings.webhook_retry_base_s,
        factor=settings.webhook_retry_factor,
        max_s=settings.webhook_retry_max_s,
        jitter=settings.webhook_retry_jitter,
        window_s=settings.webhook_retry_window_s,
    )


# -- The HTTP client --------------------------------------------------------------------------------


def client(settings: Settings) -> DeliveryClient:
    return DeliveryClient(allow_loopback=allow_loopback(settings), user_agent=USER_AGENT)


async def post(
    http: DeliveryClient, url: str, webhook_id: str, body: bytes, secrets: Sequence[str], timeout_s: float
) -> tuple[domain.AttemptResult, int]:
    """One signed attempt: what came of it, and how long it took (ms)."""
    headers = domain.webhook_headers(secrets, webhook_id, int(time.time()), body)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            answer = await http.post(url, body, headers)
        result = domain.AttemptResult(
            status=answer.status, retry_after_s=domain.retry_after(answer.headers.get("retry-after"))
        )
    except TimeoutError:
        result = domain.AttemptResult(failure=FailureReason.TIMEOUT)
    except ForbiddenAddress:
        result = domain.AttemptResult(failure=FailureReason.UNREACHABLE, forbidden_address=True)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        result = domain.AttemptResult(failure=FailureReason.UNREACHABLE)  # refused, reset, TLS, not HTTP
    except Exception as exc:  # whatever else the endpoint made of it: its fault, not a stuck worker
        log.warning("webhook %s: cannot send to the endpoint: %s", webhook_id, type(exc).__name__)
        result = domain.AttemptResult(failure=FailureReason.UNREACHABLE)
    return result, int((time.perf_counter() - started) * 1000)


# -- One batch --------------------------------------------------------------------------------------


async def deliver_due(
    pool: asyncpg.Pool, http: DeliveryClient, settings: Settings, rules: domain.RetryPolicy
) -> int:
    """Send one batch of due deliveries and record what came of each; return the batch's size."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.claim_deliveries(conn, settings.webhook_batch_size, settings.webhook_order_wait_s)
        if not rows:
            return 0
        await store.give_up_gaps(conn, [(r["chain"], r["sequence"]) for r in rows if r["gap"]])
        secrets = await store.secrets_of(conn, [r["subscription_id"] for r in rows])
        started = datetime.now(UTC)
        results = await asyncio.gather(
            *(
                post(
                    http,
                    r["url"],
                    str(r["id"]),
                    r["body"],
                    secrets.get(r["subscription_id"], []),
                    settings.webhook_timeout_s,
                )
                for r in rows
            )
        )
        now = datetime.now(UTC)
        outcomes, gone = [], set()
        for row, (result, duration_ms) in zip(rows, results, strict=True):
            attempt = row["attempts"] + 1
            first = row["window_start"] or started
            judged = domain.judge(result, attempt, now, first, rules, random.random())
            if judged.verdict is domain.Verdict.DISABLED:
                gone.add(row["subscription_id"])
            if result.forbidden_address:
                log.warning(
                    "delivery %s: the endpoint of subscription %s resolved to a forbidden address",
                    row["id"],
                    row["subscription_id"],
                )
            ATTEMPTS.labels(judged.verdict.value).inc()
            SECONDS.observe(duration_ms / 1000)
            outcomes.append(
                store.Outcome(
                    delivery_id=row["id"],
                    attempt=attempt,
                    state=_STATE[judged.verdict],
                    next_attempt_at=judged.next_attempt_at,
                    window_start=first,
                    status=result.status,
                    reason=judged.reason.value if judged.reason else None,
                    verdict=judged.verdict.value,
                    duration_ms=duration_ms,
                )
            )
        finished = await store.record_outcomes(conn, outcomes)
        events = store.outcome_events(finished, "webhook")
        for subscription_id in gone:
            events += await _disable(conn, subscription_id, "the endpoint answered 410 Gone", 410)
        await store.emit(conn, events)
    return len(rows)


_STATE = {
    domain.Verdict.DELIVERED: "delivered",
    domain.Verdict.RETRY: "pending",
    domain.Verdict.FAILED: "failed",
    domain.Verdict.DISABLED: "failed",
}


async def _disable(
    conn: asyncpg.Connection, subscription_id: uuid.UUID, reason: str, status: int | None
) -> list[tuple[typing.Any, int]]:
    """Disable a subscription; its pending deliveries fail, each with a NotificationFailed."""
    await store.set_state(conn, subscription_id, "disabled", reason)
    log.warning("subscription %s disabled: %s", subscription_id, reason)
    failed = await store.fail_pending(conn, subscription_id, status, FailureReason.REJECTED.value)
    return store.outcome_events(failed, "webhook")


async def validate_due(
    pool: asyncpg.Pool, http: DeliveryClient, settings: Settings, rules: domain.RetryPolicy
) -> int:
    """Send the validation request to endpoints waiting for it: 2xx makes the subscription
    active; 410, or no 2xx within the retry window, disables it."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.claim_validations(conn, 20)
        if not rows:
            return 0
        secrets = await store.secrets_of(conn, [r["id"] for r in rows])
        started = datetime.now(UTC)

        async def attempt(row: asyncpg.Record) -> tuple[domain.AttemptResult, int]:
            body = domain.validation_body(str(uuid.uuid4()), str(row["id"]), row["event_types"], started)
            webhook_id = f"validation_{row['id'].hex}"
            return await post(
                http, row["url"], webhook_id, body, secrets.get(row["id"], []), settings.webhook_timeout_s
            )

        results = await asyncio.gather(*(attempt(r) for r in rows))
        now, events = datetime.now(UTC), []
        for row, (result, _) in zip(rows, results, strict=True):
            tries, first = row["validation_attempts"] + 1, row["validation_started"] or started
            judged = domain.judge(result, tries, now, first, rules, random.random())
            if judged.verdict is domain.Verdict.DELIVERED:
                await store.set_state(conn, row["id"], "active", None)
                log.info("subscription %s validated", row["id"])
            elif judged.verdict is domain.Verdict.RETRY:
                assert judged.next_attempt_at is not None
                await store.validation_failed_attempt(conn, row["id"], tries, first, judged.next_attempt_at)
            else:
                why = (
                    "the endpoint answered 410 Gone"
                    if result.status == 410
                    else "validation not answered 2xx"
                )
                events += await _disable(conn, row["id"], why, result.status)
        await store.emit(conn, events)
    return len(rows)


# -- The background task ----------------------------------------------------------------------------


async def webhook_workers(state: State, settings: Settings) -> None:
    """notify's webhook workers: `webhook_workers` loops sharing one HTTP client, woken by
    NOTIFY when work is queued, else at the next due attempt or the poll interval."""
    assert settings.database_url
    pool: asyncpg.Pool = state.pool
    wake = asyncio.Event()
    rules = policy(settings)
    if allow_loopback(settings):
        log.warning("development: webhook endpoints on loopback (and plain http to them) are allowed")
    async with client(settings) as http, Listener(settings.database_url, wake):

        async def loop(number: int) -> None:
            failures, purged = 0, time.monotonic()
            while True:
                wake.clear()
                try:
                    if number == 0 and time.monotonic() - purged > 3600:
                        purged = time.monotonic()
                        async with pool.acquire() as conn:
                            await store.purge(conn, LOG_DAYS)
                    validated = await validate_due(pool, http, settings, rules) if number == 0 else 0
                    sent = await deliver_due(pool, http, settings, rules)
                    failures = 0
                    if sent or validated:
                        continue  # more may have come due meanwhile (a chain's next event)
                    delay = await _until_due(pool, settings.webhook_poll_interval_s)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    failures += 1
                    log.warning("webhook worker: %r; trying again", exc)
                    delay = min(0.1 * 2**failures, 10.0)
                except Exception:
                    failures += 1
                    log.exception("webhook worker: unexpected failure; trying again")
                    delay = min(0.1 * 2**failures, 10.0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()

        await asyncio.gather(*(loop(n) for n in range(max(settings.webhook_workers, 1))))


async def _until_due(pool: asyncpg.Pool, poll_s: float) -> float:
    """Seconds until the next attempt falls due, at most `poll_s`. (What is due now and was not
    claimed is held by another worker, or waits for the event before it: whoever finishes that
    claims on.)"""
    async with pool.acquire() as conn:
        due = await store.next_due(conn)
    if due is None:
        return poll_s
    return max(0.0, min(poll_s, (due - datetime.now(UTC)).total_seconds()))


class Listener:
    """LISTEN on notify's wake-up channel with a connection of its own (a pooled one would be
    reset with UNLISTEN *); without it the workers poll."""

    def __init__(self, url: str, wake: asyncio.Event) -> None:
        self._url, self._wake = url, wake
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> Listener:
        try:
            self._conn = await asyncpg.connect(self._url)
            await self._conn.add_listener(store.WAKE, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("notify cannot LISTEN (%s); polling only", exc)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
