"""Reminders before a network's enrolment deadline, driven by the service's calendar.

Every `reminder_interval_s`, and at once when the calendar turns to another day (in development
`POST /dev/clock` moves it), notify looks for enrolments that still lack a final political decision
or a main contact in networks whose deadline is 14 or 3 days away (`domain.due_reminder`). Each
reminder is claimed as a row keyed by (network, kommunenummer, days) in the transaction that queues
its e-mail: with two replicas, or after a restart, it is queued once, and the e-mail worker sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import date, timedelta

import asyncpg
from prometheus_client import Gauge
from starlette.datastructures import State

from services.runtime.settings import Settings

from . import domain, store

log = logging.getLogger(__name__)
OVERDUE = Gauge(
    "livskraft_notify_reminders_overdue",
    "Reminders due before today whose e-mail has not been sent (municipalities may miss the deadline)",
)


async def queue_due(pool: asyncpg.Pool, today: date) -> int:
    """Queue the reminders due `today` that were not queued before; return how many."""
    emails = []
    async with pool.acquire() as conn, conn.transaction():
        for row in await store.reminder_candidates(conn, today, max(domain.REMINDER_DAYS)):
            if not domain.needs_reminder(row["has_final_decision"], row["has_main_contact"]):
                continue
            deadline = row["enrolment_deadline"]
            days = domain.due_reminder(deadline, today)
            if days is None:
                continue
            network, kommune, email_id = row["network_id"], row["kommunenummer"], uuid.uuid4()
            due_on = deadline - timedelta(days=days)
            if not await store.claim_reminder(conn, network, kommune, days, email_id, due_on):
                continue
            emails.append(
                store.EmailRow(
                    id=email_id,
                    kind=domain.EmailKind.REMINDER.value,
                    network_id=network,
                    kommunenummer=kommune,
                    audience=domain.AUDIENCE[domain.EmailKind.REMINDER].value,
                    data={
                        "days": days,
                        "deadline": deadline.isoformat(),
                        "missing_decision": not row["has_final_decision"],
                        "missing_main_contact": not row["has_main_contact"],
                        "valid_on": row["valid_on"].isoformat(),
                    },
                    event_id=f"reminder:{network}:{kommune}:{days}",
                )
            )
        await store.queue_emails(conn, emails)
    for email in emails:
        log.info(
            "reminder (%s days) queued for %s in network %s",
            email.data["days"],
            email.kommunenummer,
            email.network_id,
        )
    return len(emails)


async def reminder_calendar(state: State, settings: Settings) -> None:
    """Look for due reminders on every new day of the calendar and every `reminder_interval_s`."""
    pool: asyncpg.Pool = state.pool
    checked_day: date | None = None
    checked_at = 0.0
    while True:
        today = state.clock.today()
        if today != checked_day or time.monotonic() - checked_at >= settings.reminder_interval_s:
            try:
                await queue_due(pool, today)
                async with pool.acquire() as conn:
                    OVERDUE.set(await store.overdue_reminders(conn, today))
                checked_day, checked_at = today, time.monotonic()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("reminders: %r; trying again", exc)
            except Exception:
                log.exception("reminders: unexpected failure; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(min(1.0, settings.reminder_interval_s))
