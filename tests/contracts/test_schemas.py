"""The committed JSON Schemas are current, valid, and backward compatible with the last release."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import jsonschema  # schemathesis depends on it
import pytest
from livskraft_contracts import ALL_EVENTS, EVENT_TYPES, MunicipalityRef
from livskraft_contracts.examples import EXAMPLES
from livskraft_contracts.schemas import (
    REGENERATE,
    SCHEMA_DIR,
    breaking_changes,
    compatibility_problems,
    event_schema,
    expected_files,
    latest_published,
    load,
    main,
    schema_file,
    stale_files,
)
from pydantic import BaseModel


def test_committed_schemas_are_current() -> None:
    stale = stale_files(SCHEMA_DIR)
    assert not stale, f"contracts/schemas is stale ({', '.join(stale)}); run: {REGENERATE}"


def test_one_schema_per_event_and_an_index() -> None:
    files = expected_files()
    assert len(files) == len(ALL_EVENTS) + 1
    events = json.loads(files["index.json"])["events"]
    assert set(events) == set(EVENT_TYPES)
    for model in ALL_EVENTS:
        entry = events[model.ce_type()]
        assert entry == {"topic": model.topic(), "schema": schema_file(model), "key": model.key_field}
        schema = json.loads(files[entry["schema"]])
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == model.dataschema()
        assert schema["$id"].endswith("/" + entry["schema"])


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.__name__)
def test_examples_validate_against_the_schema(model: type) -> None:
    """What a consumer without Python sees: the schema accepts our data and refuses extras."""
    validator = jsonschema.Draft202012Validator(
        event_schema(model), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.check_schema(validator.schema)
    data = EXAMPLES[model].model_dump(mode="json")
    validator.validate(data)
    assert not validator.is_valid({**data, "surprise": 1})


def test_current_schemas_are_compatible_with_the_last_published() -> None:
    published = latest_published()
    assert published is not None, "contracts/schemas/published/ holds no version"
    current = {name: json.loads(text) for name, text in expected_files().items()}
    problems = compatibility_problems(load(published), current)
    assert not problems, f"breaking changes against {published.name}:\n" + "\n".join(problems)


# -- breaking_changes, one rule at a time ----------------------------------------------------------

OLD: dict[str, Any] = {
    "$defs": {"Theme": {"enum": ["areal", "kulturarv"], "type": "string"}},
    "additionalProperties": False,
    "properties": {
        "network_id": {"format": "uuid", "type": "string"},
        "theme": {"$ref": "#/$defs/Theme"},
        "note": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
        "size": {"minimum": 1, "type": "integer"},
    },
    "required": ["network_id", "theme"],
    "type": "object",
}


def changed(edit: Any) -> dict[str, Any]:
    new = copy.deepcopy(OLD)
    edit(new)
    return new


def test_identical_schemas_are_compatible() -> None:
    assert breaking_changes(OLD, copy.deepcopy(OLD)) == []


def test_an_added_required_field_breaks() -> None:
    def add(s: dict[str, Any]) -> None:
        s["properties"]["county"] = {"type": "string"}
        s["required"].append("county")

    assert breaking_changes(OLD, changed(add)) == ["$.county: new required property"]


def test_an_added_optional_field_is_compatible() -> None:
    new = changed(lambda s: s["properties"].update(county={"type": "string"}))
    assert breaking_changes(OLD, new) == []


def test_a_removed_enum_value_breaks() -> None:
    new = changed(lambda s: s["$defs"]["Theme"].update(enum=["areal"]))
    assert breaking_changes(OLD, new) == ["$.theme: enum value 'kulturarv' removed"]


def test_an_added_enum_value_breaks_old_readers() -> None:
    new = changed(lambda s: s["$defs"]["Theme"]["enum"].append("klima-energi"))
    assert breaking_changes(OLD, new) == ["$.theme: enum value 'klima-energi' added (old readers refuse it)"]


def test_a_removed_property_breaks() -> None:
    new = changed(lambda s: s["properties"].pop("size"))
    assert breaking_changes(OLD, new) == ["$.size: property removed"]


def test_an_optional_field_becoming_required_breaks() -> None:
    new = changed(lambda s: s["required"].append("size"))
    assert breaking_changes(OLD, new) == ["$.size: became required"]


def test_narrowed_types_and_bounds_break() -> None:
    assert breaking_changes(OLD, changed(lambda s: s["properties"].update(note={"type": "string"})))
    tighter = changed(lambda s: s["properties"]["size"].update(minimum=5))
    assert breaking_changes(OLD, tighter) == ["$.size: minimum tightened from 1 to 5"]
    retyped = changed(lambda s: s["properties"]["network_id"].update(type="integer"))
    assert breaking_changes(OLD, retyped)[0].startswith("$.network_id: type narrowed")


def test_widened_types_and_bounds_are_compatible() -> None:
    def widen(s: dict[str, Any]) -> None:
        s["properties"]["size"] = {"minimum": 0, "type": "number"}
        s["properties"]["note"]["anyOf"][0]["maxLength"] = 500
        s["properties"]["network_id"] = {"anyOf": [{"format": "uuid", "type": "string"}, {"type": "null"}]}

    assert breaking_changes(OLD, changed(widen)) == []


def test_a_removed_event_type_or_moved_topic_breaks() -> None:
    old = {name: json.loads(text) for name, text in expected_files().items()}
    new = copy.deepcopy(old)
    gone = schema_file(ALL_EVENTS[0])
    del new[gone]
    del new["index.json"]["events"][ALL_EVENTS[0].ce_type()]
    moved = ALL_EVENTS[1].ce_type()
    new["index.json"]["events"][moved]["topic"] = "livskraft.elsewhere.v1"
    assert compatibility_problems(old, new) == [
        f"{ALL_EVENTS[0].ce_type()}: event type removed",
        f"{moved}: topic moved to livskraft.elsewhere.v1",
        f"{gone}: schema removed",
    ]


def test_breaking_changes_reads_pydantic_output() -> None:
    class Before(BaseModel):
        municipality: MunicipalityRef
        role: Literal["politician", "resource"]
        note: str | None = None

    class After(BaseModel):
        municipality: MunicipalityRef
        role: Literal["politician"]
        note: str | None = None
        year: int

    assert breaking_changes(Before.model_json_schema(), After.model_json_schema()) == [
        "$.role: enum value 'resource' removed",
        "$.year: new required property",
    ]


def test_stale_files_are_found_and_the_check_fails(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert stale_files(tmp_path) == []
    (tmp_path / "index.json").write_text("{}\n")
    (tmp_path / "old.json").write_text("{}\n")
    assert stale_files(tmp_path) == ["index.json", "old.json"]
    assert main(["--check", "--out", str(tmp_path)]) == 1
