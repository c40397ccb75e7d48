"""JSON Schemas (draft 2020-12) for every event, and the backward-compatibility check.

    uv run python -m livskraft_contracts.schemas            # regenerate contracts/schemas/
    uv run python -m livskraft_contracts.schemas --check    # exit 1 if the files are stale
    uv run python -m livskraft_contracts.schemas --publish 0.2.0   # freeze a published version

A schema is compatible when every event valid under the old one is still valid under the new one:
a consumer on the new model must read every old event. `breaking_changes` lists what breaks that.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import ALL_EVENTS
from .envelope import Event

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
PUBLISHED_DIR = SCHEMA_DIR / "published"
INDEX = "index.json"
REGENERATE = "uv run python -m livskraft_contracts.schemas"

Schema = dict[str, Any]


# -- generation ------------------------------------------------------------------------------------


def event_schema(model: type[Event]) -> Schema:
    """The model's JSON Schema with `$schema` and `$id` (the event's `dataschema` URL)."""
    return {"$schema": SCHEMA_DIALECT, "$id": model.dataschema(), **model.model_json_schema()}


def schema_file(model: type[Event]) -> str:
    return f"{model.ce_type()}.json"


def index() -> dict[str, Any]:
    """type -> topic, schema file and the field that keys the record."""
    return {
        "events": {
            m.ce_type(): {"topic": m.topic(), "schema": schema_file(m), "key": m.key_field}
            for m in ALL_EVENTS
        }
    }


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """{file name: text} of everything that belongs in contracts/schemas/ (not published/)."""
    files = {schema_file(m): _dump(event_schema(m)) for m in ALL_EVENTS}
    files[INDEX] = _dump(index())
    return files


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of files in `directory` that differ from, lack or should not be in the expected set."""
    expected = expected_files()
    present = {p.name for p in directory.glob("*.json")}
    wrong = [n for n, text in expected.items() if n not in present or _read(directory / n) != text]
    return sorted(wrong + sorted(present - expected.keys()))


def write(directory: Path = SCHEMA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for old in directory.glob("*.json"):
        if old.name not in expected:
            old.unlink()
    for name, text in expected.items():
        (directory / name).write_text(text, encoding="utf-8")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- published versions ----------------------------------------------------------------------------


def latest_published(published: Path = PUBLISHED_DIR) -> Path | None:
    """The newest `v<major>.<minor>.<patch>` folder under `published`, if any."""
    versions = [p for p in published.glob("v*") if p.is_dir()]
    return max(versions, key=_version, default=None)


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in folder.name.removeprefix("v").split("."))


def load(directory: Path) -> dict[str, Any]:
    return {p.name: json.loads(_read(p)) for p in sorted(directory.glob("*.json"))}


def compatibility_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Compare two schema sets ({file name: document}): lost topics, moved topics, breaks."""
    problems: list[str] = []
    old_events = old.get(INDEX, {}).get("events", {})
    new_events = new.get(INDEX, {}).get("events", {})
    for ce_type, entry in old_events.items():
        if ce_type not in new_events:
            problems.append(f"{ce_type}: event type removed")
        elif new_events[ce_type]["topic"] != entry["topic"]:
            problems.append(f"{ce_type}: topic moved to {new_events[ce_type]['topic']}")
    for name, schema in old.items():
        if name == INDEX:
            continue
        if name not in new:
            problems.append(f"{name}: schema removed")
            continue
        problems += [f"{name}: {p}" for p in breaking_changes(schema, new[name])]
    return problems


# -- compatibility ---------------------------------------------------------------------------------

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf")


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """What breaks between two versions of an event: an event valid under `old` that `new` would
    refuse (new required properties, removed properties, narrowed types, removed enum values,
    tightened bounds), and an enum value added, which readers of `old` would refuse. New optional
    properties are compatible: readers ignore what they do not know (see envelope.from_kafka).
    Empty when compatible."""
    problems: list[str] = []
    _compare(old, new, "$", old, new, problems)
    return problems


def _compare(old: Schema, new: Schema, at: str, old_root: Schema, new_root: Schema, out: list[str]) -> None:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    old_branches, new_branches = _branches(old), _branches(new)
    if len(old_branches) == 1 and len(new_branches) == 1:
        _compare_one(old, new, at, old_root, new_root, out)
        return
    for branch in old_branches:  # every old alternative must still fit some new alternative
        if not any(_fits(branch, b, old_root, new_root) for b in new_branches):
            out.append(f"{at}: no longer accepts {_describe(_resolve(branch, old_root))}")


def _fits(old: Schema, new: Schema, old_root: Schema, new_root: Schema) -> bool:
    found: list[str] = []
    _compare(old, new, "", old_root, new_root, found)
    return not found


def _compare_one(
    old: Schema, new: Schema, at: str, old_root: Schema, new_root: Schema, out: list[str]
) -> None:
    _compare_types(old, new, at, out)
    _compare_values(old, new, at, out)
    _compare_bounds(old, new, at, out)
    if "properties" in old or "properties" in new:
        _compare_objects(old, new, at, old_root, new_root, out)
    if "items" in new:
        _compare(old.get("items", {}), new["items"], f"{at}[]", old_root, new_root, out)


def _compare_types(old: Schema, new: Schema, at: str, out: list[str]) -> None:
    old_types, new_types = _types(old), _types(new)
    if new_types is None:
        return
    if old_types is None:
        if _values(old) is None:
            out.append(f"{at}: now requires type {sorted(new_types)}")
        return
    lost = old_types - new_types - ({"integer"} if "number" in new_types else set())
    if lost:
        out.append(f"{at}: type narrowed from {sorted(old_types)} to {sorted(new_types)}")


def _compare_values(old: Schema, new: Schema, at: str, out: list[str]) -> None:
    old_values, new_values = _values(old), _values(new)
    if new_values is None:
        return
    if old_values is None:
        out.append(f"{at}: now restricted to {new_values}")
        return
    out += [f"{at}: enum value {v!r} removed" for v in old_values if v not in new_values]
    # Readers on the old version refuse a value they do not know: a new one needs a new major.
    out += [
        f"{at}: enum value {v!r} added (old readers refuse it)" for v in new_values if v not in old_values
    ]


def _compare_bounds(old: Schema, new: Schema, at: str, out: list[str]) -> None:
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            out.append(f"{at}: {key} tightened from {old.get(key)} to {new[key]}")
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            out.append(f"{at}: {key} tightened from {old.get(key)} to {new[key]}")
    for key in _EXACT:
        if key in new and new[key] != old.get(key):
            out.append(f"{at}: {key} changed from {old.get(key)!r} to {new[key]!r}")
    if new.get("uniqueItems") and not old.get("uniqueItems"):
        out.append(f"{at}: items must now be unique")


def _compare_objects(
    old: Schema, new: Schema, at: str, old_root: Schema, new_root: Schema, out: list[str]
) -> None:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            out.append(f"{at}.{name}: property removed")
        else:
            _compare(old_prop, new_props[name], f"{at}.{name}", old_root, new_root, out)
    old_required = set(old.get("required", []))
    for name in sorted(set(new.get("required", [])) - old_required):
        what = "became required" if name in old_props else "new required property"
        out.append(f"{at}.{name}: {what}")
    if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
        out.append(f"{at}: now refuses additional properties")


def _resolve(schema: Schema, root: Schema) -> Schema:
    """Follow a local `$ref` (`#/$defs/Name`), keeping any sibling keywords."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    rest = {k: v for k, v in schema.items() if k != "$ref"}
    return {**_resolve(target, root), **rest}


def _branches(schema: Schema) -> list[Schema]:
    return schema.get("anyOf") or schema.get("oneOf") or [schema]


def _types(schema: Schema) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return set(kind) if isinstance(kind, list) else {kind}


def _values(schema: Schema) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _describe(schema: Schema) -> str:
    return schema.get("title") or str(schema.get("type") or _values(schema) or schema)


# -- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livskraft_contracts.schemas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help="where to write the schemas")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    parser.add_argument("--publish", metavar="VERSION", help="also copy them to published/v<VERSION>")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.out)
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        if stale:
            print(f"regenerate with: {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    write(args.out)
    print(f"wrote {len(ALL_EVENTS)} event schemas and {INDEX} to {args.out}")
    if args.publish:
        target = args.out / "published" / f"v{args.publish}"
        if target.exists():
            parser.error(f"{target} exists: a published version never changes")
        write(target)
        print(f"published as {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
