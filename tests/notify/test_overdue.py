"""The operators' alert on overdue reminders reads `store.overdue_reminders` (the gauge
livskraft_notify_reminders_overdue): a reminder due before today whose e-mail has not gone out."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from services.notify import store
from services.runtime import db

MIGRATIONS = Path(store.__file__).parent / "migrations"


async def test_a_reminder_is_overdue_from_the_day_after_it_was_due_until_its_e_mail_is_sent(new_database):
    pool = await db.create_pool(await new_database("notify"))
    try:
        await db.migrate(pool, MIGRATIONS)
        async with pool.acquire() as conn:
            email = uuid.uuid4()
            await conn.execute(
                """INSERT INTO emails (id, kind, kommunenummer, audience, data, event_id)
                   VALUES ($1, 'reminder', '1736', 'main-contact', '{}'::jsonb, 'reminder:x')""",
                email,
            )
            claimed = await store.claim_reminder(conn, uuid.uuid4(), "1736", 14, email, date(2010, 2, 1))
            assert claimed
            assert await store.overdue_reminders(conn, date(2010, 2, 1)) == 0  # due today: not late yet
            assert await store.overdue_reminders(conn, date(2010, 2, 2)) == 1
            await conn.execute("UPDATE emails SET state = 'sent' WHERE id = $1", email)
            assert await store.overdue_reminders(conn, date(2010, 2, 2)) == 0
    finally:
        await pool.close()
