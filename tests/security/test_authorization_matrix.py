"""The authorization matrix: every operation of every service's OpenAPI document, asked by every
kind of caller, answers as the matrix says, and never grants more.

Callers: programme staff; the network's leader; a municipality acting for itself (1702, Steinkjer)
and one acting for another (1724, Verran, on Steinkjer's behalf; where an operation names no
municipality, simply another municipality); a reader; a subscriber (another agency's system,
granted one event type); and three that are not anyone: no token, an expired token, a token
signed by another key (another installation's development key).

The matrix below names, per operation (method and path as in the OpenAPI document), the callers
who may; everyone else is refused: 401 (a problem with `WWW-Authenticate: Bearer`) without a
valid token, 403 with one. "May" means the answer is not a refusal (it may still be a 404, 409 or
422 about the request itself); a refusal where the matrix allows is a failure too, so the matrix
stays true. The operations are read from each app's `openapi()`: a new operation fails the test
until it has its line here. The services run in this process (`start_service`) on the real
database and Kafka, with a network, members, a gathering, feeds and a subscription to act on.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from livskraft_contracts import NetworkCreated

from services.catalog import PORTS, app_factory
from services.devtools.tokens import issue_dev_token
from services.notify.domain import scope_for
from services.runtime.auth import DEV_ALGORITHM, dev_signing_key
from services.runtime.settings import Settings
from tests.conftest import eventually
from tests.e2e.test_backbone import DECISION, SEED_NETWORK
from tests.gatherings.conftest import PLAN
from tests.gatherings.test_registration_and_held import HELD
from tests.indicators.test_plan import ASSESSMENT, CHANGE, GOAL, MEASURE

# -- Who asks ---------------------------------------------------------------------------------------

STAFF, LEADER, OWN, OTHER, READER, SUBSCRIBER = "staff", "leader", "own", "other", "reader", "subscriber"
NO_TOKEN, EXPIRED, FOREIGN_KEY = "no token", "expired token", "token of another key"
AUTHENTICATED = (STAFF, LEADER, OWN, OTHER, READER, SUBSCRIBER)
CALLERS = (*AUTHENTICATED, NO_TOKEN, EXPIRED, FOREIGN_KEY)

KOMMUNE, ANOTHER = "1702", "1724"  # OWN is 1702 acting for 1702; OTHER is 1724 acting for 1702

# -- Who may: the matrix ------------------------------------------------------------------------------

Allowed = frozenset[str]
STAFF_ONLY: Allowed = frozenset({STAFF})
FOR_ITSELF: Allowed = frozenset({STAFF, OWN})
"""A municipality's own business: its contact, or staff (`ensure_can_act_for`)."""
PLANNERS: Allowed = frozenset({STAFF, LEADER})
"""The network's gatherings: staff and the network's leader (`can_plan_for`)."""
READERS: Allowed = frozenset({STAFF, LEADER, OWN, OTHER, READER})
"""Anyone with `livskraft:read`: every role but a subscriber, who reads only its events."""
SUBSCRIPTION_MANAGERS: Allowed = frozenset({STAFF, SUBSCRIBER})
"""A subscription: its subscriber (the world's subscription is this subscriber's), and staff."""
ANYONE: Allowed = frozenset(CALLERS)
"""Public: published statistics; calendar feeds, which the secret in their address protects."""

MATRIX: dict[str, dict[tuple[str, str], Allowed]] = {
    "registry": {
        ("POST", "/networks"): STAFF_ONLY,
        ("GET", "/networks"): READERS,
        ("POST", "/networks/{network_id}/open"): STAFF_ONLY,
        ("POST", "/networks/{network_id}/close"): STAFF_ONLY,
        ("GET", "/networks/{network_id}"): READERS,
        ("GET", "/networks/{network_id}/history"): READERS,
        ("GET", "/overview"): READERS,
        ("POST", "/networks/{network_id}/invitations"): STAFF_ONLY,
        ("POST", "/networks/{network_id}/enrolments"): FOR_ITSELF,
        ("POST", "/networks/{network_id}/enrolments/{kommunenummer}/withdraw"): FOR_ITSELF,
        ("POST", "/networks/{network_id}/enrolments/{kommunenummer}/decisions"): FOR_ITSELF,
        ("POST", "/networks/{network_id}/enrolments/{kommunenummer}/contacts"): FOR_ITSELF,
        ("GET", "/networks/{network_id}/enrolments/{kommunenummer}/contacts"): FOR_ITSELF,  # personal data
        ("GET", "/enrolments"): READERS,
        ("POST", "/municipalities/import"): STAFF_ONLY,
        ("GET", "/municipalities/{kommunenummer}"): READERS,
        ("GET", "/municipalities/{kommunenummer}/current"): READERS,
        ("GET", "/municipalities/{kommunenummer}/history"): READERS,
        ("GET", "/counties"): READERS,
        ("GET", "/counties/{fylkesnummer}/municipalities"): READERS,
    },
    "gatherings": {
        ("GET", "/networks/{network_id}"): READERS,
        ("GET", "/networks/{network_id}/gatherings"): READERS,
        ("POST", "/networks/{network_id}/gatherings"): PLANNERS,
        ("GET", "/gatherings/{gathering_id}"): READERS,
        ("POST", "/gatherings/{gathering_id}/reschedule"): PLANNERS,
        ("POST", "/gatherings/{gathering_id}/cancel"): PLANNERS,
        ("PUT", "/gatherings/{gathering_id}/agenda"): PLANNERS,
        ("POST", "/gatherings/{gathering_id}/registrations"): PLANNERS | FOR_ITSELF,
        # Names: the planners all, a member municipality its own (1724 sees its own, none of 1702's).
        ("GET", "/gatherings/{gathering_id}/participants"): PLANNERS | {OWN, OTHER},
        ("POST", "/gatherings/{gathering_id}/held"): PLANNERS,
        ("GET", "/municipalities/{kommunenummer}/gatherings"): READERS,
        ("GET", "/calendar/feeds"): READERS,  # each caller's own feeds; staff's all
        ("POST", "/calendar/feeds"): FOR_ITSELF,  # a feed of 1702's gatherings
        ("DELETE", "/calendar/feeds/{feed_id}"): FOR_ITSELF,  # a feed issued to 1702's contact
        ("GET", "/calendar/networks/{network_id}.ics"): ANYONE,
        ("GET", "/calendar/municipalities/{kommunenummer}.ics"): ANYONE,
    },
    "reporting": {
        ("GET", "/reports/networks"): READERS,
        ("GET", "/reports/networks/{network_id}"): READERS,
        ("GET", "/indicators/{indicator_id}/comparisons/{kommunenummer}"): READERS,
        ("GET", "/summary/{year}"): ANYONE,  # aggregates only
        ("GET", "/statistics"): ANYONE,
        ("GET", "/statistics/{dataset_id}"): ANYONE,
        ("GET", "/statistics/{dataset_id}/versions"): ANYONE,
        ("POST", "/statistics/{dataset_id}/versions"): STAFF_ONLY,
        ("GET", "/statistics/{dataset_id}/versions/{version}"): ANYONE,
    },
    "notify": {
        ("POST", "/subscriptions"): frozenset({SUBSCRIBER}),  # carries the grant of its token
        ("GET", "/subscriptions"): SUBSCRIPTION_MANAGERS,
        ("GET", "/subscriptions/{subscription_id}"): SUBSCRIPTION_MANAGERS,
        ("DELETE", "/subscriptions/{subscription_id}"): SUBSCRIPTION_MANAGERS,
        ("POST", "/subscriptions/{subscription_id}/enable"): SUBSCRIPTION_MANAGERS,
        ("POST", "/subscriptions/{subscription_id}/secret/rotate"): SUBSCRIPTION_MANAGERS,
        ("GET", "/subscriptions/{subscription_id}/deliveries"): SUBSCRIPTION_MANAGERS,
        ("GET", "/subscriptions/{subscription_id}/deliveries/{delivery_id}"): SUBSCRIPTION_MANAGERS,
        (
            "POST",
            "/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
        ): SUBSCRIPTION_MANAGERS,
        ("PUT", "/mailboxes/{kommunenummer}"): STAFF_ONLY,
        ("GET", "/mailboxes/{kommunenummer}"): STAFF_ONLY,
        ("GET", "/emails"): READERS,
    },
    "indicators": {
        ("GET", "/indicators"): READERS,
        ("POST", "/indicators"): STAFF_ONLY,
        ("GET", "/indicators/{indicator}"): READERS,
        ("PUT", "/indicators/{indicator}"): STAFF_ONLY,
        ("POST", "/municipalities/{kommunenummer}/values"): FOR_ITSELF,
        ("GET", "/municipalities/{kommunenummer}/values"): READERS,
        ("POST", "/municipalities/{kommunenummer}/values.csv"): FOR_ITSELF,
        ("GET", "/municipalities/{kommunenummer}/values/{indicator}/{year}"): READERS,
        ("GET", "/population/{kommunenummer}/{year}"): READERS,
        ("GET", "/networks/{network_id}/plans"): READERS,
        ("GET", "/networks/{network_id}/municipalities/{kommunenummer}/plan"): READERS,
        **{
            (method, f"/networks/{{network_id}}/municipalities/{{kommunenummer}}/plan{rest}"): FOR_ITSELF
            for method, rest in (
                ("POST", "/status-assessments"),
                ("POST", "/goals"),
                ("PUT", "/goals/{goal_id}"),
                ("POST", "/measures"),
                ("PUT", "/measures/{measure_id}"),
                ("POST", "/measures/{measure_id}/evaluations"),
                ("POST", "/reports"),
            )
        },
    },
}

LAST = (
    ("DELETE", "/subscriptions/{subscription_id}"),
    ("POST", "/networks/{network_id}/enrolments/{kommunenummer}/withdraw"),
    ("POST", "/gatherings/{gathering_id}/cancel"),
    ("POST", "/networks/{network_id}/close"),
)
"""Asked after the others, so that what they end does not change the others' answers."""


def operations(service: str) -> list[tuple[str, str]]:
    """(method, path) of every operation in the service's OpenAPI document."""
    settings = Settings(
        service=service, database_url="postgresql://unused/x", kafka_bootstrap_servers="unused:1"
    )
    document = app_factory(service)(settings).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


@pytest.mark.parametrize("service", list(PORTS))
def test_the_matrix_has_a_line_for_every_operation_and_none_for_operations_that_are_gone(service: str):
    documented = set(operations(service))
    assert documented - set(MATRIX[service]) == set(), "operations the matrix does not say who may use"
    assert set(MATRIX[service]) - documented == set(), "lines for operations the service no longer has"


# -- The world the callers act on ---------------------------------------------------------------------


@dataclass
class World:
    data_dir: Path
    foreign_dir: Path
    ids: dict[str, str] = field(default_factory=dict)
    """Path parameters: network_id, gathering_id, feed_id, subscription_id, ..."""
    secrets: dict[str, str] = field(default_factory=dict)

    def headers(self, caller: str) -> dict[str, str]:
        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        if caller == STAFF:
            return bearer(issue_dev_token(self.data_dir, "staff"))
        if caller == LEADER:
            led = self.ids.setdefault("network_id", str(uuid.uuid4()))
            return bearer(issue_dev_token(self.data_dir, "leader", networks=[led]))
        if caller == OWN:
            return bearer(issue_dev_token(self.data_dir, "municipality", kommune=KOMMUNE))
        if caller == OTHER:
            return bearer(issue_dev_token(self.data_dir, "municipality", kommune=ANOTHER))
        if caller == READER:
            return bearer(issue_dev_token(self.data_dir, "reader"))
        if caller == SUBSCRIBER:
            scopes = [scope_for(NetworkCreated.ce_type())]
            return bearer(
                issue_dev_token(self.data_dir, "subscriber", subject="agency-matrix", scopes=scopes)
            )
        if caller == EXPIRED:
            now = datetime.now(UTC)
            claims = {
                "iss": "livskraft-dev",
                "aud": "livskraft",
                "sub": "dev-staff",
                "role": "staff",
                "iat": now - timedelta(hours=2),
                "exp": now - timedelta(minutes=5),  # beyond the 30 s leeway
            }
            return bearer(jwt.encode(claims, dev_signing_key(self.data_dir), algorithm=DEV_ALGORITHM))
        if caller == FOREIGN_KEY:
            return bearer(issue_dev_token(self.foreign_dir, "staff"))
        assert caller == NO_TOKEN
        return {}


PARAMETERS = {
    "kommunenummer": KOMMUNE,
    "fylkesnummer": "17",
    "indicator": "nye-boliger-i-sentrum",
    "indicator_id": "nye-boliger-i-sentrum",
    "year": "2009",
    "dataset_id": "networks-per-theme",
    "version": "1",
}
QUERIES = {
    ("GET", "/enrolments"): {"kommunenummer": KOMMUNE},
    ("GET", "/indicators/{indicator_id}/comparisons/{kommunenummer}"): {"year": "2009"},
}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/networks"): SEED_NETWORK,
    ("POST", "/networks/{network_id}/close"): {"reason": "cancelled"},
    ("POST", "/networks/{network_id}/invitations"): {"kommunenummer": "1719"},
    ("POST", "/networks/{network_id}/enrolments"): {"kommunenummer": KOMMUNE},
    ("POST", "/networks/{network_id}/enrolments/{kommunenummer}/decisions"): DECISION,
    ("POST", "/networks/{network_id}/enrolments/{kommunenummer}/contacts"): {
        "role": "project-group",
        "name": "Ola Matrise",
        "email": "ola.matrise@example.org",
    },
    ("POST", "/municipalities/import"): {"source": "bundled"},
    ("POST", "/networks/{network_id}/gatherings"): PLAN,
    ("POST", "/gatherings/{gathering_id}/reschedule"): {
        **PLAN,
        "starts_on": "2010-03-11",
        "reason": "Ny dato",
    },
    ("POST", "/gatherings/{gathering_id}/cancel"): {"reason": "Avlyst"},
    ("PUT", "/gatherings/{gathering_id}/agenda"): {"items": []},
    ("POST", "/gatherings/{gathering_id}/registrations"): {
        "kommunenummer": KOMMUNE,
        "participants": [{"role_category": "politician", "count": 1}],
    },
    ("POST", "/gatherings/{gathering_id}/held"): HELD,
    ("POST", "/calendar/feeds"): {"kommunenummer": KOMMUNE},
    ("POST", "/statistics/{dataset_id}/versions"): {"period_start": "2006-01-01", "period_end": "2009-12-31"},
    ("POST", "/subscriptions"): {
        "url": "http://127.0.0.1:9/agency",
        "event_types": [NetworkCreated.ce_type()],
    },
    ("PUT", "/mailboxes/{kommunenummer}"): {"address": "postmottak@steinkjer.kommune.no"},
    ("POST", "/indicators"): {
        "id": "matrise-indikator",
        "name": "Matrise",
        "theme": "kulturarv",
        "unit": "antall",
        "decimals": 0,
    },
    ("PUT", "/indicators/{indicator}"): {
        "name": "Nye boliger i sentrum",
        "theme": "areal",
        "unit": "prosent",
    },
    ("POST", "/municipalities/{kommunenummer}/values"): {
        "indicator": "nye-boliger-i-sentrum",
        "year": 2009,
        "value": 41.5,
        "status": "preliminary",
    },
    ("POST", "/networks/{network_id}/municipalities/{kommunenummer}/plan/status-assessments"): ASSESSMENT,
    ("POST", "/networks/{network_id}/municipalities/{kommunenummer}/plan/goals"): GOAL,
    ("PUT", "/networks/{network_id}/municipalities/{kommunenummer}/plan/goals/{goal_id}"): GOAL,
    ("POST", "/networks/{network_id}/municipalities/{kommunenummer}/plan/measures"): MEASURE,
    ("PUT", "/networks/{network_id}/municipalities/{kommunenummer}/plan/measures/{measure_id}"): {
        **CHANGE,
        "status": "in-progress",
        "changed_on": "2010-05-01",
    },
    (
        "POST",
        "/networks/{network_id}/municipalities/{kommunenummer}/plan/measures/{measure_id}/evaluations",
    ): {
        "evaluated_on": "2010-06-01",
        "verdict": "working",
        "findings": "Gjennomført.",
    },
    ("POST", "/networks/{network_id}/municipalities/{kommunenummer}/plan/reports"): {
        "document": "annual-report",
        "year": 2010,
        "reported_on": "2010-06-01",
    },
}
CSV = ("POST", "/municipalities/{kommunenummer}/values.csv")


async def _ask(
    client: httpx.AsyncClient, world: World, operation: tuple[str, str], caller: str
) -> httpx.Response:
    method, template = operation
    values = {**PARAMETERS, **world.ids}
    path = template.format(**{name: values.get(name, str(uuid.uuid4())) for name in _names(template)})
    params = dict(QUERIES.get(operation, {}))
    if path.endswith(".ics"):
        params["secret"] = world.secrets["network" if "/networks/" in path else "municipality"]
    headers = world.headers(caller)
    if operation == CSV:
        content = b"indicator,year,value,status\nnye-boliger-i-sentrum,2009,41.5,preliminary\n"
        return await client.request(
            method, path, params=params, content=content, headers={**headers, "Content-Type": "text/csv"}
        )
    body = BODIES.get(operation)
    if body is None and method in ("POST", "PUT"):
        return await client.request(method, path, params=params, headers=headers)
    return await client.request(method, path, params=params, json=body, headers=headers)


def _names(template: str) -> list[str]:
    return [part.split("}")[0] for part in template.split("{")[1:]]


async def _check(service: str, client: httpx.AsyncClient, world: World) -> None:
    """Ask every operation as every caller: the refused first, then the allowed (whose commands
    may change what later answers see), and the operations that end something last."""
    granted_too_much, refused_wrongly = [], []
    ordered = sorted(MATRIX[service].items(), key=lambda item: item[0] in LAST)
    for operation, allowed in ordered:
        for caller in sorted(CALLERS, key=lambda c: (c in allowed, c == STAFF)):
            answer = await _ask(client, world, operation, caller)
            status = answer.status_code
            where = f"{caller:>20}  {operation[0]} {operation[1]}: {status} {answer.text[:160]}"
            assert status < 500, where
            if caller in allowed:
                if status in (401, 403):
                    refused_wrongly.append(where)
                continue
            expected = 403 if caller in AUTHENTICATED else 401
            if status != expected:
                granted_too_much.append(f"{where} (the matrix says {expected})")
            else:
                assert answer.headers["content-type"] == "application/problem+json", where
                if status == 401:
                    assert answer.headers["www-authenticate"].startswith("Bearer"), where
    assert granted_too_much == [], "answers that grant more than the matrix says:\n" + "\n".join(
        granted_too_much
    )
    assert refused_wrongly == [], "refusals of what the matrix allows:\n" + "\n".join(refused_wrongly)


# -- The services, each with what its operations act on -------------------------------------------

Start = Callable[..., Awaitable[httpx.AsyncClient]]
TODAY = date(2010, 1, 20)


@pytest.fixture
def world(data_dir: Path, tmp_path: Path) -> World:
    return World(data_dir, tmp_path / "another-installation")


async def _network(registry: httpx.AsyncClient, world: World) -> str:
    """The seed's network with 1702 and 1724 enrolled and confirmed (decision and main contact)."""
    staff = world.headers(STAFF)
    created = await registry.post("/networks", json=SEED_NETWORK, headers=staff)
    assert created.status_code == 201, created.text
    network = world.ids["network_id"] = str(created.json()["id"])
    for kommune in (KOMMUNE, ANOTHER):
        own = {"Authorization": f"Bearer {issue_dev_token(world.data_dir, 'municipality', kommune=kommune)}"}
        base = f"/networks/{network}/enrolments"
        contact = {"role": "main-contact", "name": f"Kontakt {kommune}", "email": f"k{kommune}@example.org"}
        for path, body in (
            (base, {"kommunenummer": kommune}),
            (f"{base}/{kommune}/contacts", contact),
            (f"{base}/{kommune}/decisions", DECISION),
        ):
            answer = await registry.post(path, json=body, headers=own)
            assert answer.status_code in (200, 201), answer.text
    return network


async def test_registry(start_service: Start, world: World):
    registry = await start_service("registry", today=TODAY)
    await _network(registry, world)
    await _check("registry", registry, world)


async def test_gatherings(start_service: Start, world: World):
    registry = await start_service("registry", today=TODAY)
    gatherings = await start_service("gatherings", today=TODAY)
    network = await _network(registry, world)
    staff = world.headers(STAFF)

    async def members_known() -> bool:
        answer = await gatherings.get(f"/networks/{network}", headers=staff)
        if answer.status_code != 200:  # not heard of yet
            return False
        confirmed = {m["kommunenummer"] for m in answer.json()["members"] if m["status"] == "confirmed"}
        return {KOMMUNE, ANOTHER} <= confirmed

    await eventually(members_known)
    scheduled = await gatherings.post(f"/networks/{network}/gatherings", json=PLAN, headers=staff)
    assert scheduled.status_code == 201, scheduled.text
    world.ids["gathering_id"] = str(scheduled.json()["gathering_id"])
    own = world.headers(OWN)
    for name, body, headers in (
        ("network", {"network_id": network}, staff),
        ("municipality", {"kommunenummer": KOMMUNE}, own),
        ("revoked", {"kommunenummer": KOMMUNE}, own),  # issued to 1702's contact, for DELETE
    ):
        issued = await gatherings.post("/calendar/feeds", json=body, headers=headers)
        assert issued.status_code == 201, issued.text
        world.secrets[name] = issued.json()["secret"]
        world.ids["feed_id"] = str(issued.json()["feed_id"])
    await _check("gatherings", gatherings, world)


async def test_reporting(start_service: Start, world: World):
    reporting = await start_service("reporting", today=TODAY)
    world.ids["network_id"] = str(uuid.uuid4())
    await _check("reporting", reporting, world)


async def test_notify(start_service: Start, world: World):
    notify = await start_service("notify", today=TODAY)
    created = await notify.post(
        "/subscriptions", json=BODIES[("POST", "/subscriptions")], headers=world.headers(SUBSCRIBER)
    )
    assert created.status_code == 201, created.text
    world.ids["subscription_id"] = str(created.json()["id"])
    await _check("notify", notify, world)


async def test_indicators(start_service: Start, world: World):
    registry = await start_service("registry", today=TODAY)
    indicators = await start_service("indicators", today=date(2010, 6, 15))
    await _network(registry, world)
    await _check("indicators", indicators, world)
