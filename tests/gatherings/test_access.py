"""Who may do what: every refusal is a 401 or 403 problem and changes nothing.

Programme staff plan every network's gatherings; a network leader (role `leader`) plans those of
the networks its token names in the `networks` claim; a municipality's contact registers its own
participants and reads its own names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.devtools.tokens import token_main
from services.runtime.auth import DEV_ALGORITHM, DevKeyVerifier, dev_signing_key
from services.runtime.settings import Settings
from tests.gatherings.conftest import PLAN, World, bearer
from tests.gatherings.test_registration_and_held import HELD

OTHER_NETWORK = "0b9f4c52-7d0e-4f4e-9d7a-2b6f1c3e8a10"


def _requests(world: World, gathering_id: str, feed_id: str) -> dict[str, tuple[str, str, dict | None]]:
    base = f"/gatherings/{gathering_id}"
    moved = {**PLAN, "starts_on": "2010-03-11", "registration_deadline": "2010-03-02", "reason": "Ny dato"}
    return {
        "schedule": ("POST", f"/networks/{world.network_id}/gatherings", PLAN),
        "reschedule": ("POST", f"{base}/reschedule", moved),
        "cancel": ("POST", f"{base}/cancel", {"reason": "Avlyst"}),
        "agenda": ("PUT", f"{base}/agenda", {"items": []}),
        "held": ("POST", f"{base}/held", HELD),
        "register 1702": (
            "POST",
            f"{base}/registrations",
            {"kommunenummer": "1702", "participants": [{"role_category": "politician", "count": 1}]},
        ),
        "names": ("GET", f"{base}/participants", None),
        "network feed": ("POST", "/calendar/feeds", {"network_id": world.network_id}),
        "1702's feed": ("POST", "/calendar/feeds", {"kommunenummer": "1702"}),
        "revoke staff's feed": ("DELETE", f"/calendar/feeds/{feed_id}", None),
        "read": ("GET", base, None),
    }


PLANNING = ("schedule", "reschedule", "cancel", "agenda", "held")
REFUSALS = [
    *[("none", name, 401) for name in (*PLANNING, "register 1702", "names", "network feed", "read")],
    *[("garbage", name, 401) for name in ("schedule", "read")],
    ("leader without networks", "schedule", 401),
    *[
        ("reader", name, 403)
        for name in (*PLANNING, "register 1702", "names", "network feed", "revoke staff's feed")
    ],
    *[("municipality:1702", name, 403) for name in PLANNING],
    *[
        ("leader of another network", name, 403)
        for name in (*PLANNING, "register 1702", "names", "network feed")
    ],
    ("leader of another network", "1702's feed", 403),
    ("municipality:1724", "register 1702", 403),
    ("municipality:1724", "1702's feed", 403),
    ("municipality:1724", "revoke staff's feed", 403),
    ("municipality:1736", "network feed", 403),  # not a member of the network
]


def _headers(world: World, who: str) -> dict[str, str]:
    if who == "none":
        return {}
    if who == "garbage":
        return {"Authorization": "Bearer not.a.token"}
    if who == "reader":
        return bearer(world.issue("reader"))
    if who == "leader of another network":
        return world.leader(OTHER_NETWORK)
    if who == "leader without networks":
        now = datetime.now(UTC)
        claims = {
            "iss": "livskraft-dev",
            "aud": "livskraft",
            "sub": "dev-leader",
            "exp": now + timedelta(minutes=5),
        }
        return bearer(
            jwt.encode({**claims, "role": "leader"}, dev_signing_key(world.data_dir), DEV_ALGORITHM)
        )
    _, kommune = who.split(":")
    return world.municipality(kommune)


WHO = sorted({who for who, _, _ in REFUSALS})


@pytest.mark.parametrize("who", WHO)
async def test_refusals_are_problems_and_change_nothing(world: World, who: str):
    gathering_id = await world.scheduled()
    feed = await world.gatherings.post("/calendar/feeds", json={"kommunenummer": "1702"}, headers=world.staff)
    assert feed.status_code == 201, feed.text
    requests = _requests(world, gathering_id, feed.json()["feed_id"])
    before = await world.state()
    for request_name, status in [(name, status) for w, name, status in REFUSALS if w == who]:
        method, path, body = requests[request_name]
        answer = await world.gatherings.request(method, path, json=body, headers=_headers(world, who))
        assert answer.status_code == status, (request_name, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == status and answer.json()["title"]
        if status == 401:
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert await world.state() == before, request_name


async def test_a_leader_plans_the_networks_it_leads(world: World):
    leader = world.leader(world.network_id, OTHER_NETWORK)
    answer = await world.schedule(headers=leader)
    assert answer.status_code == 201, answer.text
    gathering_id = answer.json()["gathering_id"]
    agenda = {"items": [{"kind": "session", "starts_at": "10:00", "title": "Velkommen"}]}
    assert (
        await world.gatherings.put(f"/gatherings/{gathering_id}/agenda", json=agenda, headers=leader)
    ).status_code == 200
    feed = await world.gatherings.post(
        "/calendar/feeds", json={"network_id": world.network_id}, headers=leader
    )
    assert feed.status_code == 201, feed.text
    assert (
        await world.gatherings.delete(f"/calendar/feeds/{feed.json()['feed_id']}", headers=leader)
    ).status_code == 200
    audit = await world.count(
        "SELECT count(*) FROM audit_log WHERE actor = 'dev-leader' AND actor_role = 'leader'"
    )
    assert audit == 4  # scheduled, agenda, feed issued, feed revoked: by the token's subject, never a name


async def test_unknown_ids_are_404_problems(world: World):
    unknown = str(uuid.uuid4())
    for method, path in [
        ("GET", f"/gatherings/{unknown}"),
        ("GET", f"/gatherings/{unknown}/participants"),
        ("POST", f"/gatherings/{unknown}/cancel"),
        ("GET", f"/networks/{unknown}"),
        ("GET", f"/networks/{unknown}/gatherings"),
        ("DELETE", f"/calendar/feeds/{unknown}"),
    ]:
        body = {"reason": "x"} if path.endswith("/cancel") else None
        answer = await world.gatherings.request(method, path, json=body, headers=world.staff)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_livskraft_token_issues_a_leader_for_its_networks(tmp_path, capsys):
    settings = Settings(data_dir=tmp_path, jwt_jwks_url=None)
    assert (
        token_main(
            ["--role", "leader", "--network", OTHER_NETWORK, "--network", str(uuid.UUID(int=1))], settings
        )
        == 0
    )
    token = capsys.readouterr().out.strip().splitlines()[-1]
    verifier = DevKeyVerifier(tmp_path, settings.jwt_issuer, settings.jwt_audience)
    leader = verifier.verify(token)
    assert leader.role == "leader" and leader.networks == {uuid.UUID(OTHER_NETWORK), uuid.UUID(int=1)}
    assert leader.can_plan_for(uuid.UUID(OTHER_NETWORK)) and not leader.can_plan_for(uuid.uuid4())
    assert not leader.can_act_for("1702")  # a leader plans; it does not act for a municipality
    assert token_main(["--role", "leader"], settings) == 2  # which networks?
    assert token_main(["--role", "leader", "--network", "Natur"], settings) == 2
    assert token_main(["--role", "staff", "--network", OTHER_NETWORK], settings) == 2
