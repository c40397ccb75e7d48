"""notify's API fuzzed by schemathesis from its own OpenAPI document, as a real process: no 5xx,
every 4xx a problem naming the field (the checks of tests/fuzz/test_api_fuzz.py).

Two passes:
- stateful: schemathesis' state machine follows the OpenAPI `links` from creating a subscription
  to reading it, its deliveries, rotating its secret, enabling and deleting it, and from a mailbox
  set to the mailbox read; run as a subscriber granted every event type, and as programme staff;
- every operation on its own (coverage phase, then valid and invalid requests), as programme
  staff and as a subscriber, each also tried once without a token and with a forged one.
The endpoints the fuzzer registers are mostly names that do not resolve: notify's validation
requests to them fail quickly, and nothing on this machine is called but loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Flaky
from schemathesis.core.failures import FailureGroup

from services.devtools.tokens import issue_dev_token
from services.notify.domain import SUBSCRIBABLE, scope_for
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

SUBSCRIBER_LINKED = {
    "POST /subscriptions",
    "GET /subscriptions/{subscription_id}",
    "GET /subscriptions/{subscription_id}/deliveries",
    "POST /subscriptions/{subscription_id}/secret/rotate",
    "DELETE /subscriptions/{subscription_id}",
}
"""Where the links from a new subscription must lead the state machine, with a 2xx answer. (The
link from setting a mailbox to reading it starts from an operation with a path parameter, which the
state machine does not start from; the per-operation pass covers both.)"""


def run_stateful(
    schema: schemathesis.BaseSchema,
    base_url: str,
    headers: dict[str, str],
    findings: Findings,
    seen: Counter[tuple[str, int]],
    linked: set[str],
    *,
    suites: int = 6,
) -> None:
    """Play the state machine built from the document's links, suite after suite, until the
    linked operations were reached. A suite hypothesis finds flaky (the service's answers differ
    from its last run: a subscription the run before made already exists...) ends, and the next
    begins, as in schemathesis' own runner. Failures go to `findings`, never raised mid-scenario."""
    session = requests.Session()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": base_url, "headers": headers, "session": session, "timeout": 30}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            seen[(case.operation.label, response.status_code)] += 1
            findings.requests += 1
            findings.seen(case.operation, response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
                for title in _failure_titles(exc):
                    what = f"stateful: {title} [{response.status_code}]"
                    findings.record(case.operation.label, what, _example(case, response, headers))

    for suite in range(suites):
        try:
            hypothesis.seed(suite)(Machine).run(
                settings=hypothesis.settings(
                    max_examples=max(EXAMPLES, 20),
                    stateful_step_count=8,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except Flaky:
            pass
        if linked <= {label for label, status in seen if 200 <= status < 300}:
            return


@pytest.fixture
def notify_process(new_database, bootstrap, data_dir):
    started: list[ServiceProcess] = []

    async def start() -> ServiceProcess:
        process = await asyncio.to_thread(
            ServiceProcess,
            "notify",
            database_url=await new_database("notify"),
            bootstrap=bootstrap,
            data_dir=data_dir,
            extra_env={
                "LIVSKRAFT_TODAY": "2010-01-20",
                "LIVSKRAFT_LOG_LEVEL": "ERROR",
                "LIVSKRAFT_WEBHOOK_TIMEOUT_S": "1",
                "LIVSKRAFT_WEBHOOK_RETRY_BASE_S": "30",
                "LIVSKRAFT_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
                "LIVSKRAFT_SMTP_PORT": str(free_port()),
            },
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def test_notify_answers_fuzzed_and_stateful_requests_without_5xx(notify_process, data_dir, token):
    started = time.monotonic()
    notify = await notify_process()
    schema = load_schema(notify.url)
    granted = [scope_for(t) for t in sorted(SUBSCRIBABLE)]
    agency = {
        "Authorization": f"Bearer {issue_dev_token(data_dir, 'subscriber', subject='fuzz', scopes=granted)}"
    }
    staff = {"Authorization": f"Bearer {token('staff')}"}
    reader = {"Authorization": f"Bearer {token('reader')}"}

    seen: Counter[tuple[str, int]] = Counter()
    findings = Findings()
    await asyncio.to_thread(run_stateful, schema, notify.url, agency, findings, seen, SUBSCRIBER_LINKED)
    reached = {label for (label, status) in seen if 200 <= status < 300}
    missing = sorted(SUBSCRIBER_LINKED - reached)
    assert not missing, f"the state machine never reached {missing} with success: {sorted(seen.items())}"

    # Every operation on its own, with ids that exist in about half the requests.
    async with httpx.AsyncClient(base_url=notify.url, timeout=30) as client:
        made = await client.post(
            "/subscriptions",
            json={"url": "https://mottak.example.no/hook", "event_types": [sorted(SUBSCRIBABLE)[0]]},
            headers=agency,
        )
        assert made.status_code == 201, made.text
        boxed = await client.put(
            "/mailboxes/1702", json={"address": "postmottak@steinkjer.example"}, headers=staff
        )
        assert boxed.status_code == 200, boxed.text
    seeded = [{"subscription_id": made.json()["id"], "kommunenummer": "1702"}]

    def refused(operation: schemathesis.APIOperation) -> list[tuple[int, dict[str, str]]]:
        probes = [(401, {}), (401, {"Authorization": "Bearer not.a.token"})]
        if operation.method.upper() != "GET":
            probes.append((403, reader))
        return probes

    before = dict(findings.by_status)
    fuzz = Fuzzer(notify.url, findings)
    await asyncio.to_thread(fuzz.run, schema, staff, seeded=seeded, refused=refused, coverage=True)
    await asyncio.to_thread(Fuzzer(notify.url, findings).run, schema, agency, seeded=seeded)
    assert sum(findings.by_status.get(s, 0) - before.get(s, 0) for s in (200, 201)) > 0
    print(
        f"\nnotify: {sum(seen.values())} stateful calls, {findings.requests} fuzzed requests in "
        f"{time.monotonic() - started:.1f} s; statuses {dict(sorted(findings.by_status.items()))}"
    )
    assert not findings.failures, findings.report()
