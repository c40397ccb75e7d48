"""`livskraft deploy render`: the committed manifests are what the declarations make, and a change
to a declaration changes them, and nothing by hand.

The generator's input is each service's `SPEC` (what it produces and consumes), the catalogue's
services, and deploy/subscribers.yaml; the tests here change copies of those and read what comes out.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import ClassVar
from uuid import UUID

import pytest
import yaml
from livskraft_contracts import DEAD_LETTER_TOPIC, DecisionRecorded, Event, GatheringHeld

from services.catalog import PORTS
from services.devtools import deploy
from services.devtools.deploy import (
    K8S,
    DeclarationError,
    EventType,
    Service,
    Subscriber,
    declarations,
    read_subscribers,
    render,
    stale,
)
from tests.deploy.manifests import Acls


class BudgetApproved(Event):
    """An event type that does not exist yet: the registry will produce it, reporting consume it."""

    service: ClassVar[str] = "registry"
    key_field: ClassVar[str] = "network_id"
    network_id: UUID


NEW = EventType.of(BudgetApproved)


def docs(files: dict[str, str], path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(files[path]) if d]


def user(files: dict[str, str], name: str) -> Acls:
    (found,) = [d for d in docs(files, "base/generated/kafka-users.yaml") if d["metadata"]["name"] == name]
    return Acls.of(found)


def with_event(services: list[Service], producer: str, consumers: set[str]) -> list[Service]:
    changed = []
    for s in services:
        if s.name == producer:
            s = dataclasses.replace(s, produces=(*s.produces, NEW))
        if s.name in consumers:
            s = dataclasses.replace(s, consumes=(*s.consumes, NEW))
        changed.append(s)
    return changed


# --- The committed files ----------------------------------------------------------------------------


def test_the_committed_manifests_are_what_the_declarations_render() -> None:
    behind = stale(K8S, render(declarations(), read_subscribers()))
    assert not behind, f"stale in deploy/k8s: {behind}; run `uv run livskraft deploy render` and commit"


def test_the_command_checks_without_writing(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def test_every_service_in_the_catalogue_is_declared() -> None:
    assert [s.name for s in declarations()] == list(PORTS)


def test_a_stale_edited_or_left_over_file_is_found(tmp_path: Path) -> None:
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root)
    files = render(declarations(), read_subscribers())
    assert stale(root, files) == []
    (root / "base/generated/kafka-topics.yaml").write_text("# edited by hand\n")
    (root / "base/generated/old-service.yaml").write_text("kind: Deployment\n")
    (root / "base/generated/keda.yaml").unlink()
    assert stale(root, files) == [
        "base/generated/kafka-topics.yaml",
        "base/generated/keda.yaml",
        "base/generated/old-service.yaml",
    ]
    assert deploy.main(["--root", str(root)]) == 0  # writes back, removes the left-over
    assert stale(root, files) == []


# --- A new event type ---------------------------------------------------------------------------------


def test_a_new_event_type_gets_its_topic_and_acls_and_nothing_else_changes(tmp_path: Path) -> None:
    services = declarations()
    subscribers = read_subscribers()
    before = render(services, subscribers)
    after = render(with_event(services, "registry", {"reporting"}), subscribers)

    changed = sorted(p for p in after if after[p] != before.get(p))
    assert changed == ["base/generated/kafka-topics.yaml", "base/generated/kafka-users.yaml"]

    (topic,) = [
        d for d in docs(after, "base/generated/kafka-topics.yaml") if d["metadata"]["name"] == NEW.topic
    ]
    assert topic["metadata"]["labels"] == {"strimzi.io/cluster": "livskraft"}
    assert topic["spec"]["replicas"] == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2
    assert NEW.topic == "livskraft.registry.budget-approved.v1"

    registry, reporting = user(after, "livskraft-registry"), user(after, "livskraft-reporting")
    assert registry.allows("Write", "topic", NEW.topic) and not registry.allows("Read", "topic", NEW.topic)
    assert reporting.allows("Read", "topic", NEW.topic) and not reporting.allows("Write", "topic", NEW.topic)
    for other in {s.name for s in services} - {"registry", "reporting"}:
        acls = user(after, f"livskraft-{other}")
        assert not acls.allows("Describe", "topic", NEW.topic), f"{other} must not see the new topic"
    assert user(after, "keda-lag-reader").allows("Describe", "topic", NEW.topic)
    for subscriber in subscribers:  # granted by literal names: a new type is not granted by itself
        assert not user(after, subscriber.kafka_user).allows("Describe", "topic", NEW.topic)

    # Written to a copy of deploy/k8s, the same two files change on disk.
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root)
    assert deploy.write(root, after) == changed


def test_a_subscriber_may_be_granted_the_new_event_type() -> None:
    services = with_event(declarations(), "registry", set())
    agency = Subscriber("agency", (NEW.ce_type,))
    acls = user(render(services, [agency]), "subscriber-agency")
    assert acls.topics("Read", [NEW.topic, DecisionRecorded.topic()]) == {NEW.topic}


def test_a_consumer_of_its_first_event_gets_the_dead_letter_topic_its_group_and_a_scaler() -> None:
    services = [dataclasses.replace(s, consumes=()) if s.name == "gatherings" else s for s in declarations()]
    before = render(services, [])
    assert "ScaledObject" not in before["base/generated/gatherings.yaml"]
    after = render(with_event(services, "registry", {"gatherings"}), [])
    gatherings = user(after, "livskraft-gatherings")
    assert gatherings.allows("Read", "topic", NEW.topic)
    assert gatherings.allows("Write", "topic", DEAD_LETTER_TOPIC)
    assert gatherings.allows("Read", "group", "livskraft.gatherings")
    kinds = [d["kind"] for d in docs(after, "base/generated/gatherings.yaml")]
    assert "ScaledObject" in kinds
    (deployment,) = [d for d in docs(after, "base/generated/gatherings.yaml") if d["kind"] == "Deployment"]
    assert "replicas" not in deployment["spec"], "KEDA owns a consumer's replica count"


def test_a_new_service_gets_its_workload_database_and_budget() -> None:
    services = [
        *declarations(),
        Service("budgets", (NEW,), (EventType.of(GatheringHeld),), "livskraft.budgets"),
    ]
    files = render(services, [])
    assert "budgets.yaml" in docs(files, "base/generated/kustomization.yaml")[0]["resources"]
    kinds = sorted(d["kind"] for d in docs(files, "base/generated/budgets.yaml"))
    assert kinds == ["Deployment", "NetworkPolicy", "ScaledObject", "Service", "ServiceAccount"]
    databases = {d["metadata"]["name"] for d in docs(files, "base/generated/databases.yaml")}
    assert {"budgets-db", "budgets-db-nightly"} <= databases
    budgets = {d["metadata"]["name"] for d in docs(files, "overlays/prod/generated/disruption-budgets.yaml")}
    assert "budgets" in budgets
    assert user(files, "livskraft-budgets").topics("Write", [NEW.topic]) == {NEW.topic}


# --- Declarations that contradict each other ---------------------------------------------------------


def test_two_producers_of_one_topic_are_refused() -> None:
    services = with_event(with_event(declarations(), "registry", set()), "gatherings", set())
    with pytest.raises(DeclarationError, match="more than one producer"):
        render(services, [])


def test_a_subscriber_of_an_event_type_nobody_produces_is_refused() -> None:
    with pytest.raises(DeclarationError, match=r"no\.ks\.livskraft\.registry\.BudgetApproved\.v1"):
        render(declarations(), [Subscriber("agency", (NEW.ce_type,))])


def test_the_subscribers_file_is_read(tmp_path: Path) -> None:
    (example,) = read_subscribers()
    assert example.kafka_user == "subscriber-example-agency"
    assert set(example.event_types) == {DecisionRecorded.ce_type(), GatheringHeld.ce_type()}
    path = tmp_path / "subscribers.yaml"
    path.write_text(
        "subscribers:\n  - name: statsbygg\n    consumer_byte_rate: 2048\n"
        f"    event_types: [{DecisionRecorded.ce_type()}]\n"
    )
    (statsbygg,) = read_subscribers(path)
    assert statsbygg == Subscriber("statsbygg", (DecisionRecorded.ce_type(),), 2048)
