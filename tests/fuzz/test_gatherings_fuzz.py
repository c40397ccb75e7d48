"""The gatherings API fuzzed with schemathesis from its own OpenAPI document, as
tests/fuzz/test_api_fuzz.py fuzzes the registry and reporting: no 5xx, and every 4xx a problem
(a 422 naming each field at fault in `errors`).

The registry and the gatherings service run as their own OS processes on fresh databases and the
session's Kafka; the registry makes a network with Steinkjer and Verran enrolled, and the
gatherings service hears of them over Kafka before the fuzzing starts. Then:

- stateful: schemathesis' state machine follows the OpenAPI `links` the document declares, from
  the operation that schedules a gathering (`schedule_gathering`) to every operation that takes
  its id, and from the one that issues a calendar feed to the feeds themselves and their
  revocation. Three of four generated schedules are given a plan that can be accepted (a member
  as host, days in the network's period), and half the feeds are asked for the seeded network or
  a member, so that the links have gatherings and feeds to follow; the test
  asserts that every operation of the document was reached, and that the links were followed to
  a 2xx;
- per operation: hypothesis-generated valid and invalid requests, the coverage phase, with the
  seeded ids in about half the paths, as programme staff (with 401/403 probes) and as Steinkjer's
  contact, as test_api_fuzz.py's `Fuzzer` does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import date, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Flaky
from schemathesis.core.failures import FailureGroup

from tests.conftest import eventually
from tests.e2e.test_backbone import SEED_NETWORK
from tests.fuzz.test_api_fuzz import (
    CHECKS,
    EXAMPLES,
    Findings,
    Fuzzer,
    _example,
    _failure_titles,
    load_schema,
)
from tests.processes import ServiceProcess, free_port

TODAY = date(2010, 1, 20)
MEMBERS = ("1702", "1724")  # Steinkjer, Verran
SCHEDULE = "POST /networks/{network_id}/gatherings"
ISSUE_FEED = "POST /calendar/feeds"
STATEFUL_EXAMPLES = max(EXAMPLES, 10)
"""Scenarios per suite the state machine plays (each up to 10 steps)."""


@pytest.fixture
def processes(new_database, bootstrap, data_dir):
    started: list[ServiceProcess] = []
    nowhere = f"http://127.0.0.1:{free_port()}"

    async def start(service: str) -> ServiceProcess:
        database = await new_database(service)
        process = await asyncio.to_thread(
            ServiceProcess,
            service,
            database_url=database,
            bootstrap=bootstrap,
            data_dir=data_dir,
            extra_env={
                "LIVSKRAFT_TODAY": TODAY.isoformat(),
                "LIVSKRAFT_LOG_LEVEL": "WARNING",
                "LIVSKRAFT_KLASS_API_URL": nowhere,
            },
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def _seed(registry: str, gatherings: str, staff: dict[str, str]) -> dict[str, str]:
    """A network with two members, known to the gatherings service; a gathering and a feed."""
    async with (
        httpx.AsyncClient(base_url=registry, headers=staff, timeout=30) as reg,
        httpx.AsyncClient(base_url=gatherings, headers=staff, timeout=30) as gat,
    ):
        created = await reg.post("/networks", json=SEED_NETWORK)
        assert created.status_code == 201, created.text
        network_id = created.json()["id"]
        for kommune in MEMBERS:
            enrolled = await reg.post(f"/networks/{network_id}/enrolments", json={"kommunenummer": kommune})
            assert enrolled.status_code == 201, enrolled.text

        async def known() -> bool:
            answer = await gat.get(f"/networks/{network_id}")
            return answer.status_code == 200 and len(answer.json()["members"]) == len(MEMBERS)

        await eventually(known)
        plan = _valid_plan({}, random.Random(0))
        gathering = await gat.post(f"/networks/{network_id}/gatherings", json=plan)
        assert gathering.status_code == 201, gathering.text
        feed = await gat.post("/calendar/feeds", json={"network_id": network_id})
        assert feed.status_code == 201, feed.text
    return {
        "network_id": network_id,
        "gathering_id": gathering.json()["gathering_id"],
        "feed_id": feed.json()["feed_id"],
        "kommunenummer": MEMBERS[0],
    }


def _valid_plan(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A plan the rules accept, keeping what was generated where it may stand (place, capacity)."""
    day = TODAY + timedelta(days=rng.choice((0, rng.randrange(1, 300))))  # some today: held at once
    deadline = max(TODAY, day - timedelta(days=rng.randrange(0, 14)))
    place = body.get("place")
    return {
        "starts_on": day.isoformat(),
        "start_time": f"{rng.randrange(7, 12):02d}:{rng.choice((0, 15, 30)):02d}",
        "end_time": f"{rng.randrange(13, 20):02d}:00",
        "place": place if isinstance(place, str) and place.strip() and "\x00" not in place else "Steinkjer",
        "host": rng.choice(MEMBERS),
        "capacity": body["capacity"]
        if isinstance(body.get("capacity"), int) and body["capacity"] > 0
        else 30,
        "registration_deadline": deadline.isoformat(),
    }


FOLLOWED = (
    "GET /gatherings/{gathering_id}",
    "POST /gatherings/{gathering_id}/cancel",
    "GET /calendar/networks/{network_id}.ics",
)
"""Operations only a link gives an id that exists: the state machine runs until each answered 2xx."""


def run_stateful(
    schema: schemathesis.BaseSchema,
    base_url: str,
    headers: dict[str, str],
    network_id: str,
    findings: Findings,
    *,
    suites: int = 12,
) -> dict[str, Counter[int]]:
    """Play the state machine built from the document's links, suite after suite (as schemathesis'
    own runner does) until every operation was reached; the statuses each operation answered.

    Its scenarios depend on the service's answers, which hypothesis cannot replay exactly: a suite
    that hypothesis finds flaky for that reason ends, and the next one begins (schemathesis'
    runner does the same). Failures are collected in `findings`, never raised mid-scenario."""
    reached: dict[str, Counter[int]] = {}
    labels = {result.ok().label for result in schema.get_all_operations()}
    session = requests.Session()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            if not isinstance(case.body, dict):
                return
            rng = random.Random(repr(sorted(case.body.items(), key=str)))  # the same case, the same change
            if case.operation.label == SCHEDULE and rng.random() < 0.75:
                case.path_parameters = {**(case.path_parameters or {}), "network_id": network_id}
                case.body = _valid_plan(case.body, rng)
            elif case.operation.label == ISSUE_FEED and rng.random() < 0.5:
                case.body = rng.choice([{"network_id": network_id}, {"kommunenummer": rng.choice(MEMBERS)}])

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": base_url, "headers": headers, "session": session, "timeout": 30}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kw: Any,
        ) -> None:
            label = case.operation.label
            reached.setdefault(label, Counter())[response.status_code] += 1
            findings.requests += 1
            findings.seen(case.operation, response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
                for title in _failure_titles(exc):
                    what = f"stateful: {title} [{response.status_code}]"
                    findings.record(label, what, _example(case, response, headers))

    for suite in range(suites):
        try:
            hypothesis.seed(suite)(Machine).run(
                settings=hypothesis.settings(
                    max_examples=STATEFUL_EXAMPLES,
                    stateful_step_count=10,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except Flaky:
            pass  # the service answered otherwise than before: on with the next suite
        answered = all(any(200 <= c < 300 for c in reached.get(label, ())) for label in FOLLOWED)
        if labels <= set(reached) and answered:
            break
    return reached


async def test_the_gatherings_api_answers_fuzzed_requests_and_its_links_reach_every_operation(
    processes, token
):
    started = time.monotonic()
    staff = {"Authorization": f"Bearer {token('staff')}"}
    steinkjer = {"Authorization": f"Bearer {token('municipality', kommune=MEMBERS[0])}"}
    reader = {"Authorization": f"Bearer {token('reader')}"}
    registry, gatherings = await asyncio.gather(processes("registry"), processes("gatherings"))
    seeded = await _seed(registry.url, gatherings.url, staff)
    schema = load_schema(gatherings.url)
    findings = Findings()

    reached = await asyncio.to_thread(
        run_stateful, schema, gatherings.url, staff, seeded["network_id"], findings
    )
    for label, statuses in sorted(reached.items()):
        print(f"  stateful {label}: {dict(sorted(statuses.items()))}")
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels <= set(reached), f"never reached by the state machine: {sorted(labels - set(reached))}"
    assert any(200 <= s < 300 for s in reached[SCHEDULE]), reached[SCHEDULE]
    for label in FOLLOWED:  # only a link gives these an id that exists
        assert any(200 <= s < 300 for s in reached[label]), (label, reached[label])

    def refused(operation: schemathesis.APIOperation) -> list[tuple[int, dict[str, str]]]:
        if operation.path.startswith("/calendar/") and operation.path.endswith(".ics"):
            return []  # no bearer token at all: the feed's secret opens it
        probes = [(401, {}), (401, {"Authorization": "Bearer not.a.token"})]
        if operation.method.upper() != "GET":
            probes.append((403, reader))
        return probes

    stateful_s = time.monotonic() - started
    for who, probes, examples in (
        (staff, refused, max(EXAMPLES // 2, 5)),
        (steinkjer, None, max(EXAMPLES // 6, 3)),
    ):
        await asyncio.to_thread(
            Fuzzer(gatherings.url, findings, examples).run,
            schema,
            who,
            seeded=[seeded],
            refused=probes,
            coverage=who is staff,
        )

    elapsed = time.monotonic() - started
    print(
        f"\nfuzzed gatherings with {findings.requests} requests in {elapsed:.1f} s "
        f"(the state machine's {sum(sum(c.values()) for c in reached.values())} in {stateful_s:.1f} s); "
        f"statuses {dict(sorted(findings.by_status.items()))}"
    )
    for label, statuses in sorted(findings.undeclared.items()):
        print(f"  {label} answered {sorted(statuses)}, undeclared in its OpenAPI document")
    assert not findings.failures, findings.report()
