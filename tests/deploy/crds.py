"""Validate custom resources against the operators' own CRD schemas (deploy/crd-schemas/, SOURCES.md), in
strict mode, offline.

A CRD's `openAPIV3Schema` is JSON Schema with Kubernetes extensions. As the API server does, an
object schema with `properties` refuses fields it does not list (the API server prunes them
silently; here they fail, so a misspelt field is found), unless it says
`x-kubernetes-preserve-unknown-fields: true`; `nullable: true` admits null. `metadata` is checked
for the keys a manifest may set.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "deploy" / "crd-schemas"
METADATA_KEYS = {"name", "namespace", "labels", "annotations"}


@cache
def _kinds() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict schema of that version."""
    found = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        crd = json.loads(path.read_text())
        for version, schema in crd["versions"].items():
            found[(f"{crd['group']}/{version}", crd["kind"])] = strict(schema)
    return found


def known(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _kinds()


def strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items() if key != "properties"}
    if "properties" in schema:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if schema.get("nullable") and "type" in schema:
        out["type"] = [schema["type"], "null"]
    return out


def errors(doc: dict[str, Any]) -> list[str]:
    """What is wrong with `doc` by its CRD's schema; [] when it is valid."""
    schema = _kinds().get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if schema is None:
        return [f"no CRD schema for {doc.get('apiVersion')} {doc.get('kind')} in {SCHEMAS}"]
    found = []
    unknown = set(doc.get("metadata", {})) - METADATA_KEYS
    if unknown:
        found.append(f"metadata: unexpected {sorted(unknown)}")
    for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
        found.append(f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}")
    return found
