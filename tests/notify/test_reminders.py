"""Reminders 14 and 3 days before the enrolment deadline, to each municipality whose enrolment
still lacks a final decision or a main contact: with two replicas each is sent once, and a
replica started later sends none again. The calendar is notify's own (`app.state.clock`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import asyncpg
import httpx

from services.devtools.mail_catcher import MailCatcher
from services.notify import reminders
from services.runtime.clock import Clock
from tests.conftest import eventually
from tests.e2e.test_backbone import DECISION, SEED_NETWORK
from tests.notify.test_email import use_registry

DAY = date(2010, 1, 20)
ANNE = "anne.eksempel@snasa.kommune.example"  # Snåsa's main contact; no decision yet
VERRAN_MAILBOX = "postmottak@verran.kommune.example"  # Verran names nobody and decides nothing


async def network_with_three(registry: httpx.AsyncClient, token: Any, name: str) -> str:
    """Steinkjer complete, Snåsa without a decision, Verran without a decision or a contact."""
    staff = {"Authorization": f"Bearer {token('staff')}"}
    network = (await registry.post("/networks", json={**SEED_NETWORK, "name": name}, headers=staff)).json()[
        "id"
    ]
    for kommune, contact, decided in (
        ("1702", "kari@steinkjer.kommune.example", True),
        ("1736", ANNE, False),
    ):
        own = {"Authorization": f"Bearer {token('municipality', kommune=kommune)}"}
        base = f"/networks/{network}/enrolments"
        steps = [(base, {"kommunenummer": kommune})]
        steps.append(
            (f"{base}/{kommune}/contacts", {"role": "main-contact", "name": "Navn", "email": contact})
        )
        if decided:
            steps.append((f"{base}/{kommune}/decisions", DECISION))
        for path, body in steps:
            answer = await registry.post(path, json=body, headers=own)
            assert answer.status_code == 201, answer.text
    verran = {"Authorization": f"Bearer {token('municipality', kommune='1724')}"}
    answer = await registry.post(
        f"/networks/{network}/enrolments", json={"kommunenummer": "1724"}, headers=verran
    )
    assert answer.status_code == 201, answer.text
    return str(network)


def move(notify: httpx.AsyncClient, day: date) -> None:
    notify.app.state.clock = Clock(day)  # type: ignore[attr-defined]


async def reminded(conn: asyncpg.Connection, network: str) -> list[tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT kommunenummer, days FROM reminders WHERE network_id = $1 ORDER BY kommunenummer, days",
        uuid.UUID(network),
    )
    return [(r["kommunenummer"], r["days"]) for r in rows]


async def test_two_replicas_send_each_reminder_once_and_a_later_one_sends_none_again(
    start_service, start_notify, new_database, mail: MailCatcher, token
):
    registry = await start_service("registry", today=DAY)
    # Two replicas on one database. Each reads in a consumer group of its own (librdkafka's mock
    # cluster refuses a second member's SyncGroup here), so both apply every event: the unique keys
    # on deliveries, e-mails and reminders keep each effect once all the same.
    database = await new_database("notify")
    replicas = [await start_notify(today=DAY, database_url=database) for _ in range(2)]
    for replica in replicas:
        use_registry(replica, registry, token)
    staff = {"Authorization": f"Bearer {token('staff')}"}
    assert (
        await replicas[0].put("/mailboxes/1724", json={"address": VERRAN_MAILBOX}, headers=staff)
    ).is_success

    name = f"Nettverk {uuid.uuid4().hex[:8]}"  # other tests' networks reach this notify too
    network = await network_with_three(registry, token, name)
    conn = await asyncpg.connect(database)
    try:
        # notify knows who is enrolled and what they have: 1702 confirmed, 1736 and 1724 submitted.
        await eventually(
            lambda: conn.fetchval(
                """SELECT count(*) = 3 AND bool_and(status = CASE kommunenummer WHEN '1702' THEN 'confirmed'
                                                                ELSE 'submitted' END)
                   FROM members WHERE network_id = $1""",
                uuid.UUID(network),
            )
        )
        await eventually(
            lambda: conn.fetchval(
                "SELECT count(*) = 2 FROM main_contacts WHERE network_id = $1", uuid.UUID(network)
            )
        )
        # and the network's deadline: NetworkCreated comes on its own topic, maybe after the rest.
        await eventually(
            lambda: conn.fetchval(
                "SELECT enrolment_deadline IS NOT NULL FROM networks WHERE network_id = $1",
                uuid.UUID(network),
            )
        )
        # 20 January: 26 days to the deadline, nothing is due.
        pools = [r.app.state.pool for r in replicas]  # type: ignore[attr-defined]
        await asyncio.gather(*(reminders.queue_due(pool, DAY) for pool in pools))
        assert await reminded(conn, network) == []

        # 1 February, 14 days before: both replicas look at once, and each reminder is queued once.
        for replica in replicas:
            move(replica, date(2010, 2, 1))
        await asyncio.gather(*(reminders.queue_due(pool, date(2010, 2, 1)) for pool in pools))
        assert await reminded(conn, network) == [("1724", 14), ("1736", 14)]

        def ours(m: Any) -> bool:
            return name in m.message.get_body(preferencelist=("plain",)).get_content()

        async def reminder_mails() -> list[Any]:
            return [m for m in mail.messages if "Påminnelse" in str(m.message["Subject"]) and ours(m)]

        await eventually(lambda: _count(reminder_mails, 2))
        [anne] = [m for m in await reminder_mails() if ANNE in m.recipients]
        assert str(anne.message["Subject"]) == (
            "Påminnelse: politisk vedtak mangler \N{EN DASH} påmeldingsfristen er mandag 15. februar 2010"
        )
        assert "(om 14 dager)" in anne.message.get_body(preferencelist=("plain",)).get_content()
        [verran] = [m for m in await reminder_mails() if VERRAN_MAILBOX in m.recipients]
        assert "politisk vedtak og hovedkontaktperson mangler" in str(verran.message["Subject"])
        assert [m.recipients for m in await reminder_mails()] == [[ANNE], [VERRAN_MAILBOX]] or [
            m.recipients for m in await reminder_mails()
        ] == [[VERRAN_MAILBOX], [ANNE]]  # Steinkjer has both, and is not reminded

        # 12 February, 3 days before: the second reminder, once.
        for replica in replicas:
            move(replica, date(2010, 2, 12))
        await eventually(lambda: _count(reminder_mails, 4))
        assert await reminded(conn, network) == [("1724", 3), ("1724", 14), ("1736", 3), ("1736", 14)]
        anne_again = [m for m in await reminder_mails() if ANNE in m.recipients][1]
        assert "(om 3 dager)" in anne_again.message.get_body(preferencelist=("plain",)).get_content()

        # A replica started later (a restart) finds them all claimed.
        later = await start_notify(today=date(2010, 2, 12), database_url=database)
        await reminders.queue_due(later.app.state.pool, date(2010, 2, 12))  # type: ignore[attr-defined]
        # After the deadline nothing more is due.
        await reminders.queue_due(pools[0], date(2010, 2, 16))
        assert len(await reminder_mails()) == 4
        assert len(await reminded(conn, network)) == 4
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM emails WHERE kind = 'reminder' AND network_id = $1", uuid.UUID(network)
            )
            == 4
        )
    finally:
        await conn.close()


async def _count(mails: Any, n: int) -> bool:
    found = await mails()
    assert len(found) <= n, f"{len(found)} reminders, expected {n}"
    return len(found) == n
