"""The APIs fuzzed with schemathesis from their own OpenAPI documents: no 5xx, and every 4xx a
problem-details body (RFC 9457: application/problem+json, `status` equal to the HTTP status, a
`title`; a 422 names each field at fault in `errors`).

Each service runs as its own OS process (as `livskraft dev` runs it), on a fresh database and the
session's Kafka, and is fuzzed over real HTTP: schemathesis loads `/openapi.json` from it and
generates requests for every operation, sent with a real bearer token so that authentication
does not hide the handlers:

- schemathesis' coverage phase (boundaries, missing and wrong-typed values, undeclared methods),
  as programme staff;
- hypothesis-generated valid (positive) and invalid (negative) requests, as programme staff and
  again as Steinkjer's contact (municipality 1702); a quarter of the generated JSON bodies get a
  NUL or a lone surrogate put into one of their strings, which JSON and the document allow;
- once per operation, the valid request without a token, with a forged one (401), and for
  commands with a reader's token (403).

Before fuzzing, the registry gets municipalities from the SSB KLASS responses it carries, a
network with Steinkjer enrolled (decision and main contact recorded) and a
draft; about half the generated requests name those in their path, so the handlers' deeper
branches are reached, not only their 404s. SSB KLASS itself is an address where nothing listens:
the import's 502 is the one 5xx allowed.

Failures are collected over the whole run and reported at the end, one per operation and kind,
each with a request that shows it (curl) and the answer. `LIVSKRAFT_FUZZ_EXAMPLES` sets the
generated examples per operation and generation mode (default 30, which keeps the whole suite near
8 minutes on 2 cores; 60 found a bigint overflow that 15 had not; set it higher for a deeper run).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from services.registry.municipalities.sources import BUNDLED
from tests.conftest import eventually
from tests.e2e.test_backbone import DECISION, SEED_NETWORK
from tests.processes import ServiceProcess, free_port

EXAMPLES = int(os.environ.get("LIVSKRAFT_FUZZ_EXAMPLES", "30"))
TODAY = "2010-01-20"
KOMMUNE = "1702"  # Steinkjer in 2010: enrolled in the seeded network; the municipality token's own
FYLKE = "17"  # Nord-Trøndelag
PROBLEM_JSON = "application/problem+json"
ALLOWED_5XX = {
    # SSB KLASS is an address where nothing listens: "Bad Gateway" is the right answer there.
    "POST /municipalities/import": {502},
}
ODD_CHARACTERS = ("\x00", "\ud800")
"""Put into a generated JSON string now and then: valid JSON and valid for the document, and a
classic way to break a database (PostgreSQL text cannot hold NUL) or an encoder."""


def klass_dir() -> Path:
    """The KLASS responses bundled with the registry (which imports them when it starts)."""
    return BUNDLED


# -- Checks -----------------------------------------------------------------------------------------


def server_errors(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """schemathesis' `not_a_server_error`, but for the 5xx an operation is meant to answer here."""
    if response.status_code in ALLOWED_5XX.get(case.operation.label, ()):
        return
    not_a_server_error(ctx, response, case)


def problem_details(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx (and the 5xx allowed) is an RFC 9457 problem; a 422 names the fields at fault."""
    status = response.status_code
    if not (400 <= status < 500 or status in ALLOWED_5XX.get(case.operation.label, ())):
        return  # any other 5xx already fails `server_errors`
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"{status} answered with content-type {content_type!r}, not {PROBLEM_JSON}"
    )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{status} problem body is not JSON: {exc}") from None
    assert isinstance(body, dict), f"{status} problem body is not an object: {body!r}"
    assert isinstance(body.get("title"), str) and body["title"], f"{status} problem has no title: {body!r}"
    assert type(body.get("status")) is int and body["status"] == status, (
        f"{status} problem's status is {body.get('status')!r}"
    )
    if status == 422:
        errors = body.get("errors")
        assert isinstance(errors, list) and errors, f"422 problem has no errors: {body!r}"
        for error in errors:
            assert isinstance(error, dict) and isinstance(error.get("field"), str) and error["field"], (
                f"422 problem error without a field: {error!r}"
            )


def success_conforms(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A 2xx answer has the content type and the body its OpenAPI document declares.

    Only for 2xx: the document keeps FastAPI's default 422 (HTTPValidationError, application/json)
    and declares no other error, while the service answers every error with a problem (checked
    by `problem_details`), so schemathesis' conformance checks would fail every refusal."""
    if 200 <= response.status_code < 300:
        content_type_conformance(ctx, response, case)
        response_schema_conformance(ctx, response, case)


CHECKS = [server_errors, problem_details, success_conforms]
"""What the test asserts. `status_code_conformance` is left out, as the document declares no
401/403/404/409; the statuses each operation answered without declaring them are printed."""

ADVISORY_CHECKS = [negative_data_rejection]
"""Printed, not asserted: a request the document says is invalid was not refused (e.g. a lax
parser accepting more than the document promises). Worth knowing; not what this test is for."""


# -- Generation -------------------------------------------------------------------------------------


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))


@st.composite
def with_odd_characters(draw: st.DrawFn, cases: st.SearchStrategy[schemathesis.Case]) -> schemathesis.Case:
    """The generated cases; in about a quarter of those with a JSON body, one of its strings gets
    a NUL or a lone surrogate at a generated place."""
    case = draw(cases)
    paths = sorted(_string_paths(case.body), key=str) if isinstance(case.body, (dict, list)) else []
    if paths and draw(st.integers(0, 3)) == 0:
        *parents, last = draw(st.sampled_from(paths))
        container = case.body
        for key in parents:
            container = container[key]
        text = container[last]
        at = draw(st.integers(0, len(text)))
        container[last] = text[:at] + draw(st.sampled_from(ODD_CHARACTERS)) + text[at:]
    return case


# -- The fuzzer -------------------------------------------------------------------------------------


@dataclass
class Findings:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    undeclared: dict[str, set[int]] = field(default_factory=dict)
    """Per operation, the statuses it answered that its OpenAPI document does not declare."""
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    """(operation, what failed) -> the first request that showed it, and the answer."""
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    """The same for the advisory checks."""

    def seen(self, operation: schemathesis.APIOperation, status: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        declared = operation.definition.raw.get("responses", {})
        if not {str(status), f"{str(status)[0]}XX", "default"} & set(declared):
            self.undeclared.setdefault(operation.label, set()).add(status)

    def record(self, operation: str, what: str, example: str, *, advisory: bool = False) -> None:
        (self.notes if advisory else self.failures).setdefault((operation, what), example)

    def report(self, advisory: bool = False) -> str:
        found = self.notes if advisory else self.failures
        kind = "advisory notes" if advisory else "failures"
        lines = [f"{len(found)} distinct {kind} in {self.requests} requests:"]
        for (operation, what), example in sorted(found.items()):
            lines.append(f"\n--- {operation}: {what}\n{example}")
        return "\n".join(lines)


def _failure_titles(exc: BaseException) -> list[str]:
    """One line per failed check: its title and the first line of its message."""
    titles = []
    for failure in getattr(exc, "exceptions", None) or [exc]:
        title = getattr(failure, "title", None) or type(failure).__name__
        message = (getattr(failure, "message", None) or str(failure)).strip().splitlines()
        titles.append(f"{title}: {message[0] if message else ''}"[:300])
    return titles


def _example(case: schemathesis.Case, response: schemathesis.Response | None, headers: dict[str, str]) -> str:
    curl = case.as_curl_command(headers=headers)  # it shows the token as [Filtered]
    if response is None:
        return curl
    body = response.content[:600].decode("utf-8", "replace")
    content_type = (response.headers.get("content-type") or [""])[0]
    return f"{curl}\n  -> {response.status_code} {content_type} {body}"


Probes = Callable[[schemathesis.APIOperation], list[tuple[int, dict[str, str]]]]


@dataclass
class Fuzzer:
    """Sends generated cases to one running service; what fails goes to `findings`."""

    base_url: str
    findings: Findings
    examples: int = EXAMPLES
    session: requests.Session = field(default_factory=requests.Session)

    def run(
        self,
        schema: schemathesis.BaseSchema,
        headers: dict[str, str],
        *,
        seeded: list[dict[str, str]] | None = None,
        refused: Probes | None = None,
        coverage: bool = False,
    ) -> None:
        """Fuzz every operation of `schema` with `headers`.

        `seeded`: path parameters naming objects that exist (a network id, a kommunenummer...);
        about half the generated requests to an operation with such parameters name them.
        `refused(operation)`: other credentials, each with the status the operation must refuse
        them with, each tried once with a valid request. `coverage`: schemathesis' coverage
        phase first."""
        operations = [result.ok() for result in schema.get_all_operations()]
        # Commands that end things (close, withdraw) last: the seeded objects stay usable longest.
        operations.sort(key=lambda op: op.path.endswith(("/close", "/withdraw")))
        for operation in operations:
            if coverage:
                for case in schema.iter_coverage_cases(
                    operation,
                    generation_modes=list(GenerationMode),
                    generation_config=schema.config.generation_for(operation=operation),
                ):
                    self.send(case, headers)
            names = {p.name for p in operation.path_parameters}
            fixed = [{n: v for n, v in values.items() if n in names} for values in seeded or []]
            fixed = [values for values in fixed if values]
            invalidatable = bool(operation.body) or any(True for _ in operation.iter_parameters())
            for mode in GenerationMode:
                if mode.is_negative and not invalidatable:
                    continue  # nothing to make invalid: no parameters, no body
                strategy = operation.as_strategy(generation_mode=mode)
                if fixed:
                    strategy = st.one_of(
                        strategy,
                        st.one_of(
                            *[
                                operation.as_strategy(generation_mode=mode, path_parameters=values)
                                for values in fixed
                            ]
                        ),
                    )
                probes = refused(operation) if refused and mode.is_positive else []
                self._generated(with_odd_characters(strategy), headers, probes)

    def _generated(
        self,
        strategy: st.SearchStrategy[schemathesis.Case],
        headers: dict[str, str],
        probes: list[tuple[int, dict[str, str]]],
    ) -> None:
        @settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: each failure is kept as found
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            self.send(case, headers)
            if probes:  # with the first cases, once each: who may not, may not
                status, credentials = probes.pop()
                self.send(case, credentials, expect=status)

        run()

    def send(self, case: schemathesis.Case, credentials: dict[str, str], expect: int | None = None) -> None:
        label = case.operation.label
        self.findings.requests += 1
        try:
            response = self._call(case, credentials)
        except requests.RequestException as exc:
            self.findings.record(label, f"no answer: {type(exc).__name__}", _example(case, None, credentials))
            return
        self.findings.seen(case.operation, response.status_code)
        for checks, advisory in ((CHECKS, False), (ADVISORY_CHECKS, True)):
            try:
                case.validate_response(response, checks=checks, headers=credentials)
                if expect is not None and not advisory:
                    assert response.status_code == expect, f"expected {expect}, got {response.status_code}"
            except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
                example = _example(case, response, credentials)
                for title in _failure_titles(exc):
                    what = f"{title} [{response.status_code}]"
                    self.findings.record(label, what, example, advisory=advisory)

    def _call(self, case: schemathesis.Case, credentials: dict[str, str]) -> schemathesis.Response:
        try:
            return case.call(base_url=self.base_url, session=self.session, headers=credentials, timeout=30)
        except requests.ConnectionError:
            # The server may close a kept-alive connection after an error: once more, on a new one.
            self.session = requests.Session()
            return case.call(base_url=self.base_url, session=self.session, headers=credentials, timeout=30)


# -- The services -----------------------------------------------------------------------------------


def load_schema(base_url: str) -> schemathesis.BaseSchema:
    """The service's own OpenAPI document. Schemathesis is told not to generate the bearer
    token (the security scheme): every request carries a real one, or none on purpose."""
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).raise_for_status().json()
    config = schemathesis.Config.from_dict(
        {
            "generation": {"with-security-parameters": False},
            # Reproductions hide the token only, not body fields that merely look secret ("key").
            "output": {
                "sanitization": {
                    "keys-to-sanitize": ["authorization"],
                    "sensitive-markers": ["authorization"],
                }
            },
        }
    )
    return schemathesis.openapi.from_dict(document, config=config)


async def seed_registry(base_url: str, staff: dict[str, str]) -> list[dict[str, str]]:
    """A network open for enrolment, with Steinkjer invited, enrolled, its decision and its main
    contact recorded; and a draft. Path parameters that name them."""
    async with httpx.AsyncClient(base_url=base_url, headers=staff, timeout=30) as client:
        created = await client.post("/networks", json=SEED_NETWORK)
        assert created.status_code == 201, created.text
        network_id = created.json()["id"]
        draft = await client.post("/networks", json={**SEED_NETWORK, "name": "Utkast", "draft": True})
        assert draft.status_code == 201, draft.text
        for path, body in [
            ("/invitations", {"kommunenummer": KOMMUNE}),
            ("/enrolments", {"kommunenummer": KOMMUNE}),
            (f"/enrolments/{KOMMUNE}/decisions", DECISION),
            (
                f"/enrolments/{KOMMUNE}/contacts",
                {"role": "main-contact", "name": "Kari Nordmann", "email": "kari@steinkjer.kommune.no"},
            ),
        ]:
            answer = await client.post(f"/networks/{network_id}{path}", json=body)
            assert answer.status_code == 201, (path, answer.status_code, answer.text)
    places = {"kommunenummer": KOMMUNE, "fylkesnummer": FYLKE}
    return [{"network_id": network_id, **places}, {"network_id": draft.json()["id"], **places}]


async def import_municipalities(base_url: str, staff: dict[str, str]) -> bool:
    """The kommuneinndeling from the saved KLASS responses, when they and the operation are there."""
    if not (klass_dir() / "changetables.json").exists():
        return False
    async with httpx.AsyncClient(base_url=base_url, headers=staff, timeout=120) as client:
        answer = await client.post(
            "/municipalities/import", json={"source": "folder", "folder": str(klass_dir())}
        )
    if answer.status_code in (404, 405):  # no such operation (yet)
        return False
    assert answer.status_code == 200, answer.text
    return True


@pytest.fixture
def services(new_database, bootstrap, data_dir):
    started: list[ServiceProcess] = []
    nowhere = f"http://127.0.0.1:{free_port()}"  # where SSB KLASS is, for this test: nothing listens

    async def start(service: str) -> ServiceProcess:
        database = await new_database(service)
        process = await asyncio.to_thread(
            ServiceProcess,
            service,
            database_url=database,
            bootstrap=bootstrap,
            data_dir=data_dir,
            extra_env={
                "LIVSKRAFT_TODAY": TODAY,
                "LIVSKRAFT_LOG_LEVEL": "WARNING",
                "LIVSKRAFT_KLASS_API_URL": nowhere,
            },
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def test_the_apis_answer_fuzzed_requests_without_5xx_and_with_problem_details(services, token):
    started = time.monotonic()
    staff = {"Authorization": f"Bearer {token('staff')}"}
    steinkjer = {"Authorization": f"Bearer {token('municipality', kommune=KOMMUNE)}"}
    reader = {"Authorization": f"Bearer {token('reader')}"}
    registry, reporting, indicators = await asyncio.gather(
        services("registry"), services("reporting"), services("indicators")
    )
    registry_schema, reporting_schema = load_schema(registry.url), load_schema(reporting.url)
    indicators_schema = load_schema(indicators.url)
    imported = await import_municipalities(registry.url, staff)

    def refused(operation: schemathesis.APIOperation) -> list[tuple[int, dict[str, str]]]:
        """No token, or a forged one: 401 wherever a token is asked for. A reader changes nothing:
        403. A public operation (no `security` in its OpenAPI entry, e.g. /statistics) refuses no one."""
        if not operation.definition.raw.get("security"):
            return []
        probes = [(401, {}), (401, {"Authorization": "Bearer not.a.token"})]
        if operation.method.upper() != "GET":
            probes.append((403, reader))
        return probes

    findings = Findings()
    # Each pass has its own seeded objects: the one before may have closed or withdrawn them.
    for who, probes in ((staff, refused), (steinkjer, None)):
        seeded = await seed_registry(registry.url, staff)
        await asyncio.to_thread(
            Fuzzer(registry.url, findings).run,
            registry_schema,
            who,
            seeded=seeded,
            refused=probes,
            coverage=who is staff,
        )

    network_id = seeded[0]["network_id"]
    async with httpx.AsyncClient(base_url=reporting.url, headers=staff, timeout=30) as client:

        async def projected() -> bool:
            answer = await client.get(f"/reports/networks/{network_id}")
            return answer.status_code == 200 and bool(answer.json()["members"])

        await eventually(projected)
    await asyncio.to_thread(
        Fuzzer(reporting.url, findings).run,
        reporting_schema,
        staff,
        seeded=seeded,
        refused=refused,
        coverage=True,
    )

    in_catalogue = [{**s, "indicator": "klimagassutslipp-per-innbygger"} for s in seeded]
    for who, probes in ((staff, refused), (steinkjer, None)):
        await asyncio.to_thread(
            Fuzzer(indicators.url, findings).run,
            indicators_schema,
            who,
            seeded=in_catalogue,
            refused=probes,
            coverage=who is staff,
        )

    elapsed = time.monotonic() - started
    print(
        f"\nfuzzed with {findings.requests} requests in {elapsed:.1f} s "
        f"(municipalities imported: {imported}); statuses {dict(sorted(findings.by_status.items()))}"
    )
    for label, statuses in sorted(findings.undeclared.items()):
        print(f"  {label} answered {sorted(statuses)}, undeclared in its OpenAPI document")
    if findings.notes:
        print(findings.report(advisory=True))
    assert not findings.failures, findings.report()
