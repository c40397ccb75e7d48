"""Who may do what: every refusal is a 401 or 403 problem-details answer and changes nothing."""

from __future__ import annotations

import asyncpg
import pytest

from services.devtools import demo

NETWORK = demo.NETWORK
DECISION = {
    "body": "kommunestyre",
    "meeting_date": "2010-01-14",
    "case_number": "2010/4",
    "decision_date": "2010-01-14",
    "final": True,
    "summary": "Deltar.",
}
CONTACT = {"role": "main-contact", "name": "Kari Nordmann", "email": "kari@example.org"}


@pytest.fixture
async def registry(start_service, new_database, token):
    """A registry with the seed's network open and Steinkjer enrolled; returns (client, db url, id)."""
    database = await new_database("registry")
    client = await start_service("registry", database_url=database, today=demo.SCENARIO_DAY)
    staff = {"Authorization": f"Bearer {token('staff')}"}
    network_id = (await client.post("/networks", json=NETWORK, headers=staff)).json()["id"]
    enrolled = await client.post(
        f"/networks/{network_id}/enrolments", json={"kommunenummer": "1702"}, headers=staff
    )
    assert enrolled.status_code == 201
    return client, database, network_id


async def _outbox_size(database: str) -> int:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()


def _requests(network_id: str) -> dict[str, tuple[str, str, dict | None]]:
    base = f"/networks/{network_id}"
    return {
        "create network": ("POST", "/networks", NETWORK),
        "invite": ("POST", f"{base}/invitations", {"kommunenummer": "1724"}),
        "close": ("POST", f"{base}/close", {"reason": "cancelled"}),
        "enrol other": ("POST", f"{base}/enrolments", {"kommunenummer": "1724"}),
        "late override": ("POST", f"{base}/enrolments", {"kommunenummer": "1702", "late_override": True}),
        "decide for other": ("POST", f"{base}/enrolments/1702/decisions", DECISION),
        "contact for other": ("POST", f"{base}/enrolments/1702/contacts", CONTACT),
        "withdraw other": ("POST", f"{base}/enrolments/1702/withdraw", None),
        "read other's contacts": ("GET", f"{base}/enrolments/1702/contacts", None),
    }


# (who, request name, expected status): verdal (1721) acting on Steinkjer's (1702) affairs, a reader
# writing, a municipality doing staff work.
REFUSALS = [
    ("none", "create network", 401),
    ("none", "read other's contacts", 401),
    ("garbage", "invite", 401),
    ("reader", "create network", 403),
    ("reader", "enrol other", 403),
    ("reader", "read other's contacts", 403),
    ("municipality:1721", "create network", 403),
    ("municipality:1721", "invite", 403),
    ("municipality:1721", "close", 403),
    ("municipality:1721", "enrol other", 403),
    ("municipality:1702", "late override", 403),
    ("municipality:1721", "decide for other", 403),
    ("municipality:1721", "contact for other", 403),
    ("municipality:1721", "withdraw other", 403),
    ("municipality:1721", "read other's contacts", 403),
]


@pytest.mark.parametrize(("who", "request_name", "status"), REFUSALS)
async def test_refusal_is_a_problem_and_changes_nothing(registry, token, who, request_name, status):
    client, database, network_id = registry
    method, path, body = _requests(network_id)[request_name]
    headers = {}
    if who == "garbage":
        headers = {"Authorization": "Bearer not-a-token"}
    elif who.startswith("municipality:"):
        headers = {"Authorization": f"Bearer {token('municipality', kommune=who.split(':')[1])}"}
    elif who != "none":
        headers = {"Authorization": f"Bearer {token(who)}"}
    before = await _outbox_size(database)
    answer = await client.request(method, path, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status and answer.json()["title"]
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert await _outbox_size(database) == before


async def test_a_municipality_acts_for_itself_and_reads_its_own_contacts(registry, token):
    client, _, network_id = registry
    own = {"Authorization": f"Bearer {token('municipality', kommune='1702')}"}
    base = f"/networks/{network_id}/enrolments/1702"
    assert (await client.post(f"{base}/decisions", json=DECISION, headers=own)).status_code == 201
    assert (await client.post(f"{base}/contacts", json=CONTACT, headers=own)).status_code == 201
    contacts = await client.get(f"{base}/contacts", headers=own)
    assert [c["email"] for c in contacts.json()] == ["kari@example.org"]
    network = (await client.get(f"/networks/{network_id}", headers=own)).json()
    assert network["members"][0]["status"] == "confirmed"


async def test_drafts_are_visible_to_staff_only(registry, token):
    client, _, _ = registry
    staff = {"Authorization": f"Bearer {token('staff')}"}
    reader = {"Authorization": f"Bearer {token('reader')}"}
    draft = (await client.post("/networks", json={**NETWORK, "draft": True}, headers=staff)).json()
    assert draft["state"] == "draft"
    assert (await client.get(f"/networks/{draft['id']}", headers=reader)).status_code == 404
    assert draft["id"] not in [n["id"] for n in (await client.get("/networks", headers=reader)).json()]
    assert (await client.get(f"/networks/{draft['id']}/history", headers=reader)).status_code == 404
    assert (await client.post(f"/networks/{draft['id']}/open", headers=staff)).status_code == 200
    assert (await client.get(f"/networks/{draft['id']}", headers=reader)).json()["state"] == "open"


async def test_late_enrolment_is_refused_unless_staff_override_and_the_override_is_recorded(
    registry, start_service, token
):
    _, database, network_id = registry
    # The same registry database, served by an instance whose calendar is past the deadline.
    march = await start_service("registry", database_url=database, today=demo.SCENARIO_DAY.replace(month=3))
    verran = {"Authorization": f"Bearer {token('municipality', kommune='1724')}"}
    staff = {"Authorization": f"Bearer {token('staff')}"}
    path = f"/networks/{network_id}/enrolments"
    refused = await march.post(path, json={"kommunenummer": "1724"}, headers=verran)
    assert refused.status_code == 409
    [error] = refused.json()["errors"]
    assert error["field"] == "kommunenummer" and "enrolment closed on 2010-02-15" in error["message"]
    assert "2010-02-15" in refused.json()["detail"]
    late = await march.post(path, json={"kommunenummer": "1724", "late_override": True}, headers=staff)
    assert late.status_code == 201, late.text
    members = (await march.get(f"/networks/{network_id}", headers=staff)).json()["members"]
    assert {m["kommunenummer"]: m["late_override"] for m in members} == {"1702": False, "1724": True}
    history = (await march.get(f"/networks/{network_id}/history", headers=staff)).json()
    assert [(h["action"], h["kommunenummer"], h["actor_role"]) for h in history][-1] == (
        "EnrolmentSubmitted",
        "1724",
        "staff",
    )
    refused_open = await march.post("/networks", json=NETWORK, headers=staff)
    assert refused_open.status_code == 409  # a network past its deadline cannot open
    assert refused_open.json()["errors"][0]["field"] == "enrolment_deadline"


@pytest.mark.parametrize("name", ["Natur\nog kultur", "Natur\rBcc: x@example.org", "Natur\tkultur", "\x7f"])
async def test_a_name_is_one_line_a_control_character_is_refused_naming_the_field(registry, token, name):
    client, database, _ = registry
    staff = {"Authorization": f"Bearer {token('staff')}"}
    before = await _outbox_size(database)
    refused = await client.post("/networks", json={**NETWORK, "name": name}, headers=staff)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["name"]
    assert await _outbox_size(database) == before
    spaced = await client.post("/networks", json={**NETWORK, "name": "  Natur og kultur  "}, headers=staff)
    assert spaced.status_code == 201, spaced.text
    assert (await client.get(f"/networks/{spaced.json()['id']}", headers=staff)).json()[
        "name"
    ] == "Natur og kultur"
