"""No event carries personal data: names of persons, e-mail, phone, address, birth numbers.

The guard walks every event's JSON Schema (its own properties and those of every nested part) and
fails on a property name that looks personal. Names of networks and municipalities are not
personal; they are allowed by name below, one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from livskraft_contracts import ALL_EVENTS, MunicipalityRef
from pydantic import BaseModel

PERSONAL = re.compile(
    r"name|e[-_]?mail|epost|phone|telefon|mobil|address|adresse|f[oø]dsel|birth|personnummer|ssn",
    re.IGNORECASE,
)

ALLOWED = {
    ("NetworkCreated", "name"),  # the network's name
    ("MunicipalityRegistered", "name"),  # the municipality's name
    ("MunicipalityChanged", "name"),
}
"""(model title, property): properties that match PERSONAL but hold no personal data."""


def properties(schema: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(model title, property name) for the schema and every definition in its `$defs`."""
    for part in [schema, *schema.get("$defs", {}).values()]:
        for name in part.get("properties", {}):
            yield part.get("title", "?"), name


def personal_properties(model: type[BaseModel]) -> list[tuple[str, str]]:
    return [
        (title, name)
        for title, name in properties(model.model_json_schema())
        if PERSONAL.search(name) and (title, name) not in ALLOWED
    ]


def test_no_event_has_a_personal_property() -> None:
    found = {m.__name__: personal_properties(m) for m in ALL_EVENTS}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_allow_list_is_still_needed() -> None:
    """An allowed pair that no longer exists should leave the list, so the list stays honest."""
    present = {pair for m in ALL_EVENTS for pair in properties(m.model_json_schema())}
    assert ALLOWED <= present


class _Contact(BaseModel):
    full_name: str
    mobile: str


class _Leaky(BaseModel):
    municipality: MunicipalityRef
    contact: _Contact
    e_mail: str
    name: str


def test_the_guard_catches_personal_properties_also_nested() -> None:
    assert sorted(personal_properties(_Leaky)) == [
        ("_Contact", "full_name"),
        ("_Contact", "mobile"),
        ("_Leaky", "e_mail"),
        ("_Leaky", "name"),
    ]


def test_persons_travel_only_as_opaque_ids() -> None:
    found = []
    for model in ALL_EVENTS:
        for name, prop in model.model_json_schema()["properties"].items():
            if "person" in name:
                found.append(model.__name__)
                assert (name, prop["type"], prop["format"]) == ("person_id", "string", "uuid")
    assert found == ["ContactAssigned", "ParticipantRegistered"]
