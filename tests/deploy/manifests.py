"""Reading deploy/k8s: the documents, lookups by kind and name, and Kafka's ACL rules.

`Acls` answers "may this KafkaUser do that?" the way Kafka's simple authorizer does (allow rules
only, as Strimzi writes them): a rule matches a resource by literal name, by prefix, or `*`;
`All` allows every operation; Read, Write, Delete and Alter imply Describe; AlterConfigs implies
DescribeConfigs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    @property
    def spec(self) -> Doc:
        return dict(self.doc.get("spec") or {})

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


def manifest_files() -> list[Path]:
    """Every YAML file in deploy/k8s except the kustomization itself."""
    return sorted(p for p in K8S.glob("*.y*ml") if p.name != KUSTOMIZATION.name)


@cache
def manifests() -> tuple[Manifest, ...]:
    found = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:  # a `---` after a leading comment gives an empty document
                found.append(Manifest(path.name, doc))
    return tuple(found)


def of_kind(kind: str) -> list[Manifest]:
    return [m for m in manifests() if m.kind == kind]


def one(kind: str, name: str) -> Manifest:
    matches = [m for m in of_kind(kind) if m.name == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def kustomization() -> Doc:
    return dict(yaml.safe_load(KUSTOMIZATION.read_text()))


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- Kafka ACLs ---------------------------------------------------------------------------------

_IMPLIED = {
    "Describe": {"Read", "Write", "Delete", "Alter", "Describe"},
    "DescribeConfigs": {"AlterConfigs", "DescribeConfigs"},
}


@dataclass(frozen=True)
class Acls:
    user: str
    rules: tuple[Doc, ...]

    @classmethod
    def of(cls, kafka_user: Manifest) -> Acls:
        authorization = kafka_user.spec.get("authorization") or {}
        return cls(kafka_user.name, tuple(authorization.get("acls") or ()))

    def allows(self, operation: str, resource_type: str, name: str = "kafka-cluster") -> bool:
        return any(
            self._grants(rule, operation) and _covers(rule["resource"], resource_type, name)
            for rule in self.rules
            if rule.get("type", "allow") == "allow"
        )

    def topics(self, operation: str, among: list[str]) -> set[str]:
        return {topic for topic in among if self.allows(operation, "topic", topic)}

    def rules_on(self, resource_type: str) -> Iterator[Doc]:
        return (rule for rule in self.rules if rule["resource"]["type"] == resource_type)

    @staticmethod
    def _grants(rule: Doc, operation: str) -> bool:
        granted = set(rule["operations"])
        return "All" in granted or bool(granted & _IMPLIED.get(operation, {operation}))


def _covers(resource: Doc, resource_type: str, name: str) -> bool:
    if resource["type"] != resource_type:
        return False
    if resource_type == "cluster":
        return True
    pattern = resource.get("name", "*")
    if resource.get("patternType", "literal") == "prefix":
        return name.startswith(pattern)
    return pattern in ("*", name)
