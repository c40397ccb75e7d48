"""Reading deploy/k8s as kustomize builds it: the documents of each overlay, lookups by kind and
name, and Kafka's ACL rules.

`Acls` answers "may this KafkaUser do that?" the way Kafka's standard authorizer does (allow rules
only, as Strimzi writes them): a rule matches a resource by literal name, by prefix, or `*`;
`All` allows every operation; Read, Write, Delete and Alter imply Describe; AlterConfigs implies
DescribeConfigs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from services.devtools.deploy import K8S, ROOT
from tests.deploy import kustomize

OVERLAYS = ("dev", "prod")
BUILDS = ("base", *OVERLAYS)
Doc = dict[str, Any]

__all__ = ["BUILDS", "K8S", "OVERLAYS", "ROOT", "Acls", "Manifest", "build", "matches", "of_kind", "one"]


@dataclass(frozen=True)
class Manifest:
    build: str
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
        return f"{self.build}: {self.kind}/{self.name}"


def folder(name: str) -> Any:
    return K8S / "base" if name == "base" else K8S / "overlays" / name


@cache
def build(name: str) -> tuple[Manifest, ...]:
    """What `kustomize build` makes of deploy/k8s/base or deploy/k8s/overlays/<name>."""
    return tuple(Manifest(name, doc) for doc in kustomize.build(folder(name)))


def of_kind(kind: str, in_build: str = "prod") -> list[Manifest]:
    return [m for m in build(in_build) if m.kind == kind]


def one(kind: str, name: str, in_build: str = "prod") -> Manifest:
    found = [m for m in of_kind(kind, in_build) if m.name == name]
    assert len(found) == 1, f"expected one {kind}/{name} in {in_build}, found {len(found)}"
    return found[0]


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
    def of(cls, kafka_user: Manifest | Doc) -> Acls:
        doc = kafka_user.doc if isinstance(kafka_user, Manifest) else kafka_user
        authorization = doc["spec"].get("authorization") or {}
        return cls(doc["metadata"]["name"], tuple(authorization.get("acls") or ()))

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
