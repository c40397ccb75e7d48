"""A steady load of commands across the services, sent as a careful client sends them: an
`Idempotency-Key` on every command, and after a 503 or a lost connection the same request again,
with the same key, until it is answered otherwise.

One flow is the life of a network: the registry creates it and invites three municipalities,
which enrol, name their main contacts and record their decisions (and so are confirmed); each of
them reports an indicator value; once the gatherings service has heard of the members (over
Kafka), a gathering is scheduled and each member registers a participant; every few flows another
agency subscribes to a webhook at notify. Workers run flows side by side, while the faults of a
phase happen, until the phase's flows are done and its faults are over.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from livskraft_contracts import NetworkCreated

from services.devtools.tokens import issue_dev_token
from services.notify.domain import scope_for

MUNICIPALITIES = ("1702", "1724", "1736", "1729", "1719")
INDICATOR = "nye-boliger-i-sentrum"  # a share in per cent, one decimal
NETWORK = {
    "themes": ["kulturarv", "produksjon-forbruk"],
    "county": "17",
    "period_start": "2010-01-01",
    "period_end": "2010-12-31",
    "enrolment_deadline": "2010-02-15",
}
DECISION = {
    "body": "kommunestyre",
    "meeting_date": "2010-01-14",
    "case_number": "2010/17",
    "decision_date": "2010-01-14",
    "final": True,
    "summary": "Kommunen deltar i nettverket.",
}
PLAN = {
    "starts_on": "2010-04-21",
    "start_time": "10:00",
    "end_time": "16:00",
    "place": "Rådhuset",
    "capacity": 40,
    "registration_deadline": "2010-04-07",
}
COMMAND_DEADLINE_S = 180.0
"""How long a client keeps retrying one command (a service restarting on a busy machine)."""
SUBSCRIBED = NetworkCreated.ce_type()


@dataclass
class Tally:
    """Every answer the load got."""

    commands: Counter[str] = field(default_factory=Counter)
    """Commands sent, per operation (each counted once however often it was retried)."""
    final: Counter[int] = field(default_factory=Counter)
    """Each command's last answer, by status."""
    attempts: Counter[int] = field(default_factory=Counter)
    """Every answer, retries included, by status."""
    connection_errors: int = 0
    """Requests that got no answer (a service killed or restarting): sent again."""
    malformed_503: list[str] = field(default_factory=list)
    """503s without a problem body or Retry-After."""
    server_errors: list[str] = field(default_factory=list)
    """500 and every 5xx but 503: bugs."""
    refused: list[str] = field(default_factory=list)
    """Commands finally answered 4xx: what and why."""
    gave_up: list[str] = field(default_factory=list)
    """Commands never answered within COMMAND_DEADLINE_S."""

    @property
    def total(self) -> int:
        return sum(self.commands.values())


@dataclass
class Answered:
    """What the services answered 2xx, to be found again afterwards."""

    networks: list[str] = field(default_factory=list)
    events: dict[str, set[str]] = field(default_factory=dict)
    """Per producing service, the ids of the events its 2xx answers named."""
    decisions: int = 0
    gatherings: list[str] = field(default_factory=list)
    participants: int = 0
    subscriptions: list[str] = field(default_factory=list)
    values: int = 0


class Load:
    def __init__(
        self,
        urls: dict[str, str],
        data_dir: Path,
        *,
        workers: int,
        webhook_url: str,
        subscription_every: int = 4,
        max_subscriptions: int = 10,
        seed: int | None = None,
    ) -> None:
        self.urls = urls
        self.workers = workers
        self.webhook_url = webhook_url
        self.subscription_every = subscription_every
        self.max_subscriptions = max_subscriptions
        self.run_id = uuid.uuid4().hex[:8]
        self.random = random.Random(seed)
        self.tally = Tally()
        self.answered = Answered()
        self.started = 0
        self.finished = 0
        self.progressed = asyncio.Condition()
        ttl = 24 * 60
        self.staff = _bearer(issue_dev_token(data_dir, "staff", ttl_minutes=ttl))
        self.municipality = {
            k: _bearer(issue_dev_token(data_dir, "municipality", kommune=k, ttl_minutes=ttl))
            for k in MUNICIPALITIES
        }
        self.subscriber = _bearer(
            issue_dev_token(
                data_dir,
                "subscriber",
                subject="agency-faults",
                scopes=[scope_for(SUBSCRIBED)],
                ttl_minutes=ttl,
            )
        )
        self._http: dict[str, httpx.AsyncClient] = {}

    async def __aenter__(self) -> Load:
        limits = httpx.Limits(max_connections=self.workers * 2, max_keepalive_connections=self.workers)
        self._http = {
            service: httpx.AsyncClient(base_url=url, timeout=60, limits=limits)
            for service, url in self.urls.items()
        }
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in self._http.values():
            await client.aclose()

    @property
    def network_name_prefix(self) -> str:
        return f"Feiltoleranse {self.run_id} "

    # -- Phases -----------------------------------------------------------------------------------

    async def under(self, flows: int, faults: Callable[[Pace], Awaitable[None]]) -> None:
        """Run at least `flows` flows while `faults(pace)` happens, and on until both are done."""
        target = self.started + flows
        pace = Pace(self, self.finished + flows)
        chaos = asyncio.create_task(faults(pace))

        async def worker() -> None:
            while self.started < target or not chaos.done():
                n = self.started
                self.started += 1
                await self.flow(n)
                async with self.progressed:
                    self.finished += 1
                    self.progressed.notify_all()

        await asyncio.gather(*(worker() for _ in range(self.workers)))
        await chaos

    # -- One network's life -----------------------------------------------------------------------

    async def flow(self, n: int) -> None:
        body = {**NETWORK, "name": f"{self.network_name_prefix}{n}"}
        created = await self.command("registry", "create network", "POST", "/networks", body, self.staff)
        if not _ok(created):
            return
        assert created is not None
        network = str(created.json()["id"])
        self.answered.networks.append(network)
        members = self.random.sample(MUNICIPALITIES, 3)
        for k in members:
            own = self.municipality[k]
            base = f"/networks/{network}/enrolments"
            await self.command(
                "registry",
                "invite",
                "POST",
                f"/networks/{network}/invitations",
                {"kommunenummer": k},
                self.staff,
            )
            await self.command("registry", "enrol", "POST", base, {"kommunenummer": k}, own)
            contact = {"role": "main-contact", "name": f"Kontakt {k}", "email": f"postmottak-{k}@example.org"}
            await self.command("registry", "assign contact", "POST", f"{base}/{k}/contacts", contact, own)
            decided = await self.command(
                "registry", "decision", "POST", f"{base}/{k}/decisions", DECISION, own
            )
            self.answered.decisions += _ok(decided)
        for k in members:
            value = {"indicator": INDICATOR, "year": 2009, "status": "preliminary"}
            value["value"] = round(self.random.uniform(0, 100), 1)
            path = f"/municipalities/{k}/values"
            reported = await self.command(
                "indicators", "report value", "POST", path, value, self.municipality[k]
            )
            self.answered.values += _ok(reported)
        if n % self.subscription_every == 0 and len(self.answered.subscriptions) < self.max_subscriptions:
            subscription = {"url": self.webhook_url, "event_types": [SUBSCRIBED], "description": f"flow {n}"}
            made = await self.command(
                "notify", "subscribe", "POST", "/subscriptions", subscription, self.subscriber
            )
            if _ok(made):
                assert made is not None
                self.answered.subscriptions.append(str(made.json()["id"]))
        if not await self._gatherings_knows(network, members):
            return
        plan = {**PLAN, "host": members[0]}
        path = f"/networks/{network}/gatherings"
        scheduled = await self.command("gatherings", "schedule gathering", "POST", path, plan, self.staff)
        if not _ok(scheduled):
            return
        assert scheduled is not None
        gathering = str(scheduled.json()["gathering_id"])
        self.answered.gatherings.append(gathering)
        for k in members:
            registration = {"kommunenummer": k, "participants": [{"role_category": "politician", "count": 1}]}
            path = f"/gatherings/{gathering}/registrations"
            registered = await self.command(
                "gatherings", "register", "POST", path, registration, self.municipality[k]
            )
            self.answered.participants += _ok(registered)

    async def _gatherings_knows(self, network: str, members: list[str]) -> bool:
        """Wait until the gatherings service has the network's members confirmed (from Kafka)."""
        deadline = time.monotonic() + COMMAND_DEADLINE_S
        while time.monotonic() < deadline:
            answer = await self._send("gatherings", "GET", f"/networks/{network}", None, self.staff, "know")
            if answer is not None and answer.status_code == 200:
                confirmed = {
                    m["kommunenummer"] for m in answer.json()["members"] if m["status"] == "confirmed"
                }
                if set(members) <= confirmed:
                    return True
            await asyncio.sleep(0.2)
        self.tally.gave_up.append(f"gatherings never heard of network {network}'s members")
        return False

    # -- Sending ----------------------------------------------------------------------------------

    async def command(
        self, service: str, operation: str, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> httpx.Response | None:
        """Send a command with a key of its own, again after a 503 or no answer, with the same key."""
        self.tally.commands[operation] += 1
        keyed = {**headers, "Idempotency-Key": f"{self.run_id}-{uuid.uuid4()}"}
        answer = await self._send(service, method, path, body, keyed, operation, retry=True)
        if answer is None:
            self.tally.gave_up.append(f"{operation} {path}")
            return None
        self.tally.final[answer.status_code] += 1
        if 200 <= answer.status_code < 300:
            ids = answer.json().get("event_ids", []) if answer.content else []
            self.answered.events.setdefault(service, set()).update(ids)
        elif 400 <= answer.status_code < 500:
            self.tally.refused.append(f"{operation} {path}: {answer.status_code} {answer.text[:300]}")
        return answer

    async def _send(
        self,
        service: str,
        method: str,
        path: str,
        body: Any,
        headers: dict[str, str],
        operation: str,
        *,
        retry: bool = False,
    ) -> httpx.Response | None:
        deadline = time.monotonic() + COMMAND_DEADLINE_S
        pause = 0.05
        while True:
            try:
                answer = await self._http[service].request(method, path, json=body, headers=headers)
            except httpx.TransportError:
                self.tally.connection_errors += 1
                if not retry:
                    return None
            else:
                self.tally.attempts[answer.status_code] += 1
                if answer.status_code != 503:
                    if answer.status_code >= 500:
                        self.tally.server_errors.append(
                            f"{operation} {path}: {answer.status_code} {answer.text}"
                        )
                    return answer
                self._check_unavailable(answer, operation, path)
                if not retry:
                    return answer
                pause = max(pause, min(float(answer.headers.get("retry-after", "1")), 1.0) / 2)
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(pause * self.random.uniform(0.5, 1.5))
            pause = min(pause * 2, 1.0)

    def _check_unavailable(self, answer: httpx.Response, operation: str, path: str) -> None:
        problem = answer.headers.get("content-type", "").startswith("application/problem+json")
        if not problem or "retry-after" not in answer.headers:
            self.tally.malformed_503.append(f"{operation} {path}: {dict(answer.headers)} {answer.text[:200]}")


@dataclass
class Pace:
    """How far a phase's flows are, for its faults: a fault waits for some flows to finish after
    the one before, so that the load gets on between faults however slow the machine is."""

    load: Load
    target: int

    def busy(self) -> bool:
        """Whether the phase's flows are still under way."""
        return self.load.finished < self.target

    async def after(self, flows: int) -> None:
        """Wait until `flows` more flows have finished, or the phase's flows have."""
        goal = self.load.finished + flows
        async with self.load.progressed:
            await self.load.progressed.wait_for(lambda: self.load.finished >= goal or not self.busy())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ok(answer: httpx.Response | None) -> bool:
    return answer is not None and 200 <= answer.status_code < 300
