"""Commands a machine can retry: the `Idempotency-Key` header (IETF httpapi draft; Stripe's
behaviour), through the registry's HTTP API on the real database (services/runtime/unit_of_work.py).

- the same key with the same request within 24 hours answers the first answer, byte for byte,
  with `Idempotent-Replayed: true`, and writes no second event;
- the same key with another request is a 422 problem naming the header;
- two requests with one key at once have one effect and one answer;
- a key older than 24 hours is new again; keys are per token subject; a refusal keeps no answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import asyncpg
import httpx
import pytest

from services.devtools import demo
from services.devtools.tokens import issue_dev_token
from tests.conftest import eventually

KEY = "Idempotency-Key"
NETWORK = demo.NETWORK


class Registry(NamedTuple):
    client: httpx.AsyncClient
    conn: asyncpg.Connection
    url: str


@pytest.fixture
async def registry(start_service, new_database) -> AsyncIterator[Registry]:
    database = await new_database("registry")
    client = await start_service("registry", database_url=database, today=demo.SCENARIO_DAY)
    conn = await asyncpg.connect(database)
    yield Registry(client, conn, database)
    await conn.close()


def auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    return {**headers, KEY: key} if key else headers


async def network_events(conn: asyncpg.Connection) -> int:
    """Events keyed by a network (a municipality's own events are keyed by its four digits)."""
    return await conn.fetchval("SELECT count(*) FROM outbox WHERE aggregate_id !~ '^[0-9]{4}$'")


async def test_a_replay_answers_the_first_answer_byte_for_byte_and_writes_nothing(registry, token):
    client, conn, _ = registry
    staff = auth(token("staff"), "create-nett-1")
    first = await client.post("/networks", json=NETWORK, headers=staff)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/networks", json=NETWORK, headers=staff)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert await conn.fetchval("SELECT count(*) FROM networks") == 1
    assert await network_events(conn) == 1

    # An answer with an id the handler made up (the contact's person id) is replayed as well.
    network_id = first.json()["id"]
    base = f"/networks/{network_id}/enrolments"
    steinkjer = token("municipality", kommune="1702")
    assert (
        await client.post(base, json={"kommunenummer": "1702"}, headers=auth(steinkjer))
    ).status_code == 201
    contact = {"role": "main-contact", "name": "Kari Nordmann", "email": "kari@example.org"}
    named = [
        await client.post(f"{base}/1702/contacts", json=contact, headers=auth(steinkjer, "kontakt-1"))
        for _ in range(3)
    ]
    assert [n.status_code for n in named] == [201] * 3
    assert named[1].content == named[2].content == named[0].content
    assert await conn.fetchval("SELECT count(*) FROM contacts") == 1
    assert await network_events(conn) == 3  # NetworkCreated, EnrolmentSubmitted, ContactAssigned


async def test_the_same_key_with_another_request_is_a_problem_naming_the_header(registry, token):
    client, conn, _ = registry
    staff = auth(token("staff"), "create-nett-2")
    first = await client.post("/networks", json=NETWORK, headers=staff)
    assert first.status_code == 201
    for method_path, body in (
        ("/networks", {**NETWORK, "name": "Et annet nettverk"}),
        (f"/networks/{first.json()['id']}/invitations", {"kommunenummer": "1724"}),
    ):
        clash = await client.post(method_path, json=body, headers=staff)
        assert clash.status_code == 422, clash.text
        assert clash.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in clash.json()["errors"]] == [KEY]
        assert KEY in clash.json()["detail"]
    assert await conn.fetchval("SELECT count(*) FROM networks") == 1
    assert await network_events(conn) == 1
    assert (await client.post("/networks", json=NETWORK, headers=staff)).content == first.content


async def test_two_requests_with_one_key_at_once_have_one_effect(registry, token):
    client, conn, url = registry
    staff = auth(token("staff"), "create-nett-3")
    # Hold the table so that no request can finish before all four have begun: they meet.
    holder = await asyncpg.connect(url)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE networks IN EXCLUSIVE MODE")
            pending = asyncio.gather(
                *(client.post("/networks", json=NETWORK, headers=staff) for _ in range(4))
            )
            # One waits for the table, three for the first to answer (the key's advisory lock).
            await eventually(
                lambda: conn.fetchval(
                    """SELECT count(*) = 4 FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'"""
                )
            )
    finally:
        await holder.close()
    answers = await pending
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.content for a in answers}) == 1
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true", "true", "true"]
    assert await conn.fetchval("SELECT count(*) FROM networks") == 1
    assert await network_events(conn) == 1
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 1


async def test_a_key_older_than_24_hours_is_a_new_key(registry, token):
    client, conn, _ = registry
    staff = auth(token("staff"), "create-nett-4")
    first = await client.post("/networks", json=NETWORK, headers=staff)
    await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes'")
    within = await client.post("/networks", json=NETWORK, headers=staff)
    assert within.content == first.content and within.headers["idempotent-replayed"] == "true"
    await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second'")
    after = await client.post("/networks", json=NETWORK, headers=staff)
    assert after.status_code == 201 and "idempotent-replayed" not in after.headers
    assert after.json()["id"] != first.json()["id"]
    assert await conn.fetchval("SELECT count(*) FROM networks") == 2
    assert await network_events(conn) == 2
    # The key now holds the new answer, for another 24 hours.
    replayed = await client.post("/networks", json=NETWORK, headers=staff)
    assert replayed.content == after.content and replayed.headers["idempotent-replayed"] == "true"


async def test_keys_belong_to_the_token_subject(registry, token, data_dir: Path):
    client, conn, _ = registry
    one = auth(issue_dev_token(data_dir, "staff", subject="saksbehandler-1"), "same-key")
    two = auth(issue_dev_token(data_dir, "staff", subject="saksbehandler-2"), "same-key")
    first = await client.post("/networks", json=NETWORK, headers=one)
    second = await client.post("/networks", json=NETWORK, headers=two)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers and second.json()["id"] != first.json()["id"]

    # Two municipalities, one key, each its own request: neither sees the other's.
    base = f"/networks/{first.json()['id']}/enrolments"
    for kommune in ("1702", "1724"):
        own = auth(token("municipality", kommune=kommune), "paamelding")
        enrolled = await client.post(base, json={"kommunenummer": kommune}, headers=own)
        assert enrolled.status_code == 201, enrolled.text
        assert "idempotent-replayed" not in enrolled.headers
    assert await network_events(conn) == 4


async def test_a_refused_command_keeps_no_answer_and_a_retry_is_decided_again(registry, token):
    client, conn, _ = registry
    staff = auth(token("staff"))
    draft = await client.post("/networks", json={**NETWORK, "draft": True}, headers=staff)
    enrol = f"/networks/{draft.json()['id']}/enrolments"
    steinkjer = auth(token("municipality", kommune="1702"), "paamelding-1702")
    refused = await client.post(enrol, json={"kommunenummer": "1702"}, headers=steinkjer)
    assert refused.status_code == 409
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    assert (await client.post(f"/networks/{draft.json()['id']}/open", headers=staff)).status_code == 200
    retried = await client.post(enrol, json={"kommunenummer": "1702"}, headers=steinkjer)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert (
        await client.post(enrol, json={"kommunenummer": "1702"}, headers=steinkjer)
    ).content == retried.content
    assert await network_events(conn) == 2  # NetworkCreated, EnrolmentSubmitted


async def test_a_malformed_key_is_a_problem_naming_the_header(registry, token):
    client, conn, _ = registry
    for bad in ("", "to ord", "x" * 256):
        answer = await client.post("/networks", json=NETWORK, headers=auth(token("staff"), None) | {KEY: bad})
        assert answer.status_code == 422, bad
        assert [e["field"] for e in answer.json()["errors"]] == [KEY]
    assert await conn.fetchval("SELECT count(*) FROM networks") == 0


async def test_the_openapi_document_declares_the_header_on_every_command(registry):
    client, _, _ = registry
    document = (await client.get("/openapi.json")).json()
    commands = {path: ops["post"] for path, ops in document["paths"].items() if "post" in ops}
    assert "/networks" in commands and len(commands) >= 8
    for path, operation in commands.items():
        [header] = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == KEY]
        assert header["required"] is False, path
        assert "24 hours" in header["description"], path
