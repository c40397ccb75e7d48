"""kill -9 of notify, as a real process, in the middle of retries: after a restart every event is
delivered (with the webhook-id it had), and no delivery the subscriber had acknowledged is sent
again. The retry state lives in notify's database, not in the process."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
from livskraft_contracts import DecisionRecorded

from services.devtools.tokens import issue_dev_token
from services.devtools.webhook_receiver import WebhookReceiver
from services.notify.domain import scope_for
from tests.conftest import eventually
from tests.notify.test_webhooks import event
from tests.processes import ServiceProcess

RETRYING = {
    "LIVSKRAFT_WEBHOOK_RETRY_BASE_S": "0.5",
    "LIVSKRAFT_WEBHOOK_RETRY_FACTOR": "1.5",
    "LIVSKRAFT_WEBHOOK_RETRY_JITTER": "0",
    "LIVSKRAFT_WEBHOOK_POLL_INTERVAL_S": "0.2",
    "LIVSKRAFT_LOG_LEVEL": "WARNING",
}


async def test_kill_9_mid_retries_loses_nothing_and_resends_nothing_acknowledged(
    new_database, bootstrap: str, data_dir: Path, publish, kafka_at_start
):
    database = await new_database("notify")
    group = f"test.notify.{uuid.uuid4().hex[:8]}"
    kafka_at_start.place(group)
    env = {**RETRYING, "LIVSKRAFT_CONSUMER_GROUP_ID": group}

    def start() -> ServiceProcess:
        return ServiceProcess(
            "notify", database_url=database, bootstrap=bootstrap, data_dir=data_dir, extra_env=env
        )

    token = issue_dev_token(
        data_dir, "subscriber", subject="agency", scopes=[scope_for(DecisionRecorded.ce_type())]
    )
    agency = {"Authorization": f"Bearer {token}"}
    quick = [event(DecisionRecorded) for _ in range(5)]  # acknowledged at once
    slow = [event(DecisionRecorded) for _ in range(5)]  # 500, 500, 500, then acknowledged
    async with WebhookReceiver(script={e.id: [500, 500, 500] for e in slow}) as receiver:
        notify = await asyncio.to_thread(start)
        try:
            async with httpx.AsyncClient(base_url=notify.url) as client:
                created = await client.post(
                    "/subscriptions",
                    json={"url": receiver.url("/agency"), "event_types": [DecisionRecorded.ce_type()]},
                    headers=agency,
                )
                assert created.status_code == 201, created.text
                subscription = created.json()["id"]

                async def validated() -> bool:
                    answer = await client.get(f"/subscriptions/{subscription}", headers=agency)
                    return bool(answer.json()["state"] == "active")

                await eventually(validated)
            await publish([*quick, *slow])
            conn = await asyncpg.connect(database)
            try:
                # The quick ones are acknowledged and recorded; the slow ones have failed once and
                # wait for their retry: now the process dies, as with kill -9.
                await eventually(
                    lambda: conn.fetchval(
                        """SELECT count(*) FILTER (WHERE state = 'delivered') = 5
                                  AND count(*) FILTER (WHERE state = 'pending' AND attempts >= 1) = 5
                           FROM deliveries WHERE event_id = ANY($1::text[])""",
                        [e.id for e in (*quick, *slow)],
                    )
                )
                notify.process.kill()
                await asyncio.to_thread(notify.wait_exit)
                before = len(receiver.received)

                notify = await asyncio.to_thread(start)
                await eventually(
                    lambda: conn.fetchval(
                        """SELECT count(*) = 10 FROM deliveries
                           WHERE event_id = ANY($1::text[]) AND state = 'delivered'""",
                        [e.id for e in (*quick, *slow)],
                    )
                )
                attempts = dict(
                    await conn.fetch(
                        "SELECT event_id, attempts FROM deliveries WHERE event_id = ANY($1::text[])",
                        [e.id for e in slow],
                    )
                )
            finally:
                await conn.close()
        finally:
            notify.stop()

    mine = {e.id for e in (*quick, *slow)}
    got = [r for r in receiver.received if r.json().get("id") in mine]
    acknowledged = Counter(r.webhook_id for r in got if r.status == 200)
    assert len(acknowledged) == 10 and set(acknowledged.values()) == {1}  # each once, none again
    after_restart = {r.json()["id"] for r in receiver.received[before:] if r.json().get("id") in mine}
    assert after_restart and after_restart <= {e.id for e in slow}  # only the unacknowledged went out again
    for e in slow:  # the same webhook-id on every attempt, before and after the kill
        tries = [r for r in got if r.json()["id"] == e.id]
        assert [r.status for r in tries] == [500, 500, 500, 200]
        assert len({r.webhook_id for r in tries}) == 1
        assert 1 <= attempts[e.id] <= 4  # an attempt the kill cut short before its commit is not counted
