"""Refresh the CRD schemas in this folder from the operators' released CustomResourceDefinitions.

    python deploy/crd-schemas/extract.py path/to/*.yaml

Each argument is a CRD manifest as an operator ships it (SOURCES.md names the releases and files).
For every served version the `openAPIV3Schema` is kept, without its `description` texts (they are
most of the bytes and validate nothing), as `<plural>.<group>.json`. Nothing here runs in the tests:
they read the JSON files only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


def without_descriptions(schema: Any, in_properties: bool = False) -> Any:
    """The schema without `description` keywords; a property that is *named* description stays."""
    if isinstance(schema, dict):
        return {
            key: without_descriptions(value, in_properties=key == "properties" and not in_properties)
            for key, value in schema.items()
            if in_properties or key != "description"
        }
    if isinstance(schema, list):
        return [without_descriptions(item) for item in schema]
    return schema


def extract(crd: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = crd["spec"]
    versions = {
        v["name"]: without_descriptions(v["schema"]["openAPIV3Schema"])
        for v in spec["versions"]
        if v["served"]
    }
    name = f"{spec['names']['plural']}.{spec['group']}"
    return name, {"group": spec["group"], "kind": spec["names"]["kind"], "versions": versions}


def main(paths: list[str]) -> int:
    for path in paths:
        for crd in yaml.safe_load_all(Path(path).read_text()):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                name, kept = extract(crd)
                target = HERE / f"{name}.json"
                target.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
                print(f"{path} -> {target.name} ({', '.join(kept['versions'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
