"""E-mail delivery: the worker that sends queued e-mails over SMTP (aiosmtplib).

An e-mail row says what to write (its kind and template values) and to whom by role (its
audience); the addresses are looked up when it is sent (the municipality's mailbox here, its main
contacts in the registry: `contacts.py`) and are never stored or logged. A batch is claimed with
`FOR UPDATE SKIP LOCKED` and each e-mail's outcome is committed with its NotificationDelivered or
NotificationFailed. An SMTP 5xx answer is final; a 4xx answer, no answer, or a registry that cannot
answer just now is tried again on the webhooks' backoff schedule, within the same window. An e-mail
that cannot be written (a bug in a template or its data) fails at once, reason `rejected` with no
status, so that it never holds up the e-mails behind it.
`Message-ID` is the e-mail's id, the same on every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
import asyncpg
from livskraft_contracts import FailureReason
from prometheus_client import Counter
from starlette.datastructures import State

from services.runtime.clock import Clock
from services.runtime.settings import Settings

from . import contacts, domain, rendering, store
from .webhooks import Listener, policy

log = logging.getLogger(__name__)
BATCH = 20
NAME_WAIT_S = 120.0
"""How long an e-mail waits for its network's name (NetworkCreated travels on another topic, and a
consumer catching up may reach it late): a letter a minute late beats one that says "nettverket"."""

EMAILS = Counter("livskraft_notify_emails_total", "E-mail attempts by kind and outcome", ["kind", "outcome"])


class Smtp:
    """One SMTP connection per batch, opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, message: Any) -> None:
        if self._client is None:
            s = self._settings
            client = aiosmtplib.SMTP(
                hostname=s.smtp_host,
                port=s.smtp_port,
                timeout=s.smtp_timeout_s,
                start_tls=s.smtp_starttls,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            )
            await client.connect()
            self._client = client
        try:
            await self._client.send_message(message)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError):
            self._client = None
            raise

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.quit()
            self._client = None


async def _display_name(conn: asyncpg.Connection, kommunenummer: str, on: str | None) -> str:
    day = datetime.fromisoformat(on).date() if on else datetime.now(UTC).date()
    name = await store.municipality_name(conn, kommunenummer, day)
    return f"{name} kommune" if name else f"kommune {kommunenummer}"


async def send_due(pool: asyncpg.Pool, registry: contacts.Contacts, settings: Settings, clock: Clock) -> int:
    """Send one batch of due e-mails; return the batch's size."""
    rules = policy(settings)
    smtp = Smtp(settings)
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.claim_emails(conn, BATCH)
        events = []
        try:
            for row in rows:
                finished = await _send_one(conn, row, registry, smtp, settings, rules, clock)
                outcome = "retry" if finished is None else str(finished["state"])
                EMAILS.labels(row["kind"], outcome).inc()
                if finished is not None:
                    events += store.outcome_events([finished], "email")
        finally:
            await smtp.close()
        await store.emit(conn, events)
    return len(rows)


async def _send_one(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    registry: contacts.Contacts,
    smtp: Smtp,
    settings: Settings,
    rules: domain.RetryPolicy,
    clock: Clock,
) -> asyncpg.Record | None:
    now = datetime.now(UTC)
    attempt, first = row["attempts"] + 1, row["window_start"] or now
    kind, audience = domain.EmailKind(row["kind"]), domain.Audience(row["audience"])
    kommune = row["kommunenummer"]
    status: int | None = None
    if row["network_id"] is not None and row["network_name"] is None and row["age_s"] < NAME_WAIT_S:
        # The network's NetworkCreated (another topic) has not reached notify yet: the e-mail
        # waits a moment for the name rather than going out with "nettverket".
        await store.email_postponed(conn, row["id"], 0.5)
        return None
    try:
        main = []
        if audience is not domain.Audience.MAILBOX and row["network_id"] is not None:
            main = await registry.main_contacts(row["network_id"], kommune)
        box = await store.mailbox(conn, kommune)
        to = domain.recipients(audience, box["address"] if box else None, main)
        if not to:
            log.warning("e-mail %s (%s) for %s: nobody to send it to", row["id"], kind, kommune)
            return await store.email_finished(
                conn, row["id"], "failed", attempt, first, None, FailureReason.NO_RECIPIENT.value, 0
            )
        data = dict(row["data"])
        if data.get("host"):
            data["host_name"] = await _display_name(conn, data["host"], data.get("valid_on"))
        municipality = await _display_name(conn, kommune, data.get("valid_on"))
        try:
            message = rendering.render(
                kind,
                data,
                network=row["network_name"],
                municipality=municipality,
                sender=settings.smtp_sender,
                recipients=to,
                message_id=str(row["id"]),
                now=now,
                today=clock.today(),
            )
        except Exception as exc:  # a bug in a template or its data, whatever it is
            # Writing it again will fail again: it fails now, alone, instead of holding up every
            # e-mail queued behind it. Only the exception's type is logged: its text may quote the
            # recipients' addresses.
            log.error(
                "e-mail %s (%s) for %s cannot be written (%s); it fails",
                row["id"],
                kind,
                kommune,
                type(exc).__name__,
            )
            return await store.email_finished(
                conn, row["id"], "failed", attempt, first, None, FailureReason.REJECTED.value, None
            )
        await smtp.send(message)
    except contacts.ContactsUnavailable as exc:
        reason, why = FailureReason.UNREACHABLE, str(exc)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        status, reason, why = (max(codes) if codes else 550), FailureReason.REJECTED, "recipients refused"
    except aiosmtplib.SMTPResponseException as exc:
        status, reason, why = exc.code, domain.smtp_verdict(exc.code), f"SMTP {exc.code}"
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        reason, why = FailureReason.UNREACHABLE, type(exc).__name__
    else:
        log.info("e-mail %s (%s) for %s sent to %d recipient(s)", row["id"], kind, kommune, len(to))
        return await store.email_finished(conn, row["id"], "sent", attempt, first, None, None, len(to))
    next_at = (
        None if domain.smtp_permanent(status) else rules.next_attempt(attempt, now, first, random.random())
    )
    if next_at is None:
        log.warning("e-mail %s (%s) for %s failed: %s", row["id"], kind, kommune, why)
        return await store.email_finished(
            conn, row["id"], "failed", attempt, first, status, reason.value, None
        )
    log.info("e-mail %s (%s) for %s: %s; trying again", row["id"], kind, kommune, why)
    await store.email_retry(conn, row["id"], attempt, first, next_at, status, reason.value)
    return None


async def email_worker(state: State, settings: Settings) -> None:
    """notify's e-mail worker: woken by NOTIFY when e-mail is queued, else at the next due one."""
    assert settings.database_url
    pool: asyncpg.Pool = state.pool
    if getattr(state, "contacts", None) is None:
        state.contacts = contacts.from_settings(settings)
    wake, failures = asyncio.Event(), 0
    async with Listener(settings.database_url, wake):
        while True:
            wake.clear()
            try:
                sent = await send_due(pool, state.contacts, settings, state.clock)
                failures = 0
                if sent:
                    continue
                async with pool.acquire() as conn:
                    due = await store.next_email_due(conn)
                poll = settings.webhook_poll_interval_s
                delay = (
                    poll if due is None else max(0.0, min(poll, (due - datetime.now(UTC)).total_seconds()))
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                failures += 1
                log.warning("e-mail worker: %r; trying again", exc)
                delay = min(0.1 * 2**failures, 10.0)
            except Exception:
                failures += 1
                log.exception("e-mail worker: unexpected failure; trying again")
                delay = min(0.1 * 2**failures, 10.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
