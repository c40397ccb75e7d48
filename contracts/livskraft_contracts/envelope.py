"""The CloudEvents 1.0 envelope and its Kafka binary content mode.

A record's value is the event data as JSON; the envelope's attributes travel as `ce_*` headers
(CloudEvents Kafka protocol binding, binary mode). The record key is the aggregate id, which is
also the `partitionkey` extension, and `sequence` is the event's place in its aggregate's history.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "no.ks.livskraft"
TOPIC_PREFIX = "livskraft"
DEAD_LETTER_TOPIC = "livskraft.dead-letter.v1"
SCHEMA_BASE = "https://schemas.livskraft.ks.no/events"


class UnreadableEvent(ValueError):
    """A record that cannot become an event: bad bytes, missing attributes, unknown type, bad data."""


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Event(BaseModel):
    """Base of every event's data. Subclasses name their service and the field that keys them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: ClassVar[str]
    version: ClassVar[int] = 1
    key_field: ClassVar[str]

    @classmethod
    def event_name(cls) -> str:
        return cls.__name__

    @classmethod
    def ce_type(cls) -> str:
        """`no.ks.livskraft.<service>.<EventName>.v<major>`."""
        return f"{TYPE_PREFIX}.{cls.service}.{cls.event_name()}.v{cls.version}"

    @classmethod
    def topic(cls) -> str:
        """`livskraft.<service>.<event-name>.v<major>`: one topic per type, for per-topic ACLs."""
        return f"{TOPIC_PREFIX}.{cls.service}.{_kebab(cls.event_name())}.v{cls.version}"

    @classmethod
    def dataschema(cls) -> str:
        return f"{SCHEMA_BASE}/{cls.ce_type()}.json"

    @property
    def aggregate_id(self) -> str:
        value = getattr(self, self.key_field)
        return str(getattr(value, "kommunenummer", value))


E = TypeVar("E", bound=Event, covariant=True)
"""The event type a CloudEvent carries: `CloudEvent[NetworkCreated]` has `data: NetworkCreated`.
Covariant, as the envelope is immutable: a `CloudEvent[NetworkCreated]` is a `CloudEvent[Event]`."""
D = TypeVar("D", bound=Event)


class CloudEvent(BaseModel, Generic[E]):
    """An event with its CloudEvents attributes, typed by the event it carries.

    `CloudEvent[NetworkCreated]` is for type checkers and handler signatures; at run time an
    unparametrised CloudEvent holds the concrete model in `data` (validated by `from_kafka`).
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str
    specversion: str = SPECVERSION
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    dataschema: str | None = None
    partitionkey: str
    sequence: int = Field(ge=1)
    traceparent: str | None = None
    data: E

    @classmethod
    def wrap(cls, data: D, *, sequence: int, source: str | None = None, **attrs: Any) -> CloudEvent[D]:
        return CloudEvent(
            source=source or f"/livskraft/{data.service}",
            type=data.ce_type(),
            subject=data.aggregate_id,
            dataschema=data.dataschema(),
            partitionkey=data.aggregate_id,
            sequence=sequence,
            data=data,
            **attrs,
        )

    @property
    def topic(self) -> str:
        return self.data.topic()


# -- Kafka binary content mode --------------------------------------------------------------------

_REQUIRED = ("id", "source", "type", "specversion")


def to_kafka(event: CloudEvent[Event]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) for a Kafka record in binary content mode."""
    headers = [
        ("ce_id", event.id),
        ("ce_source", event.source),
        ("ce_type", event.type),
        ("ce_specversion", event.specversion),
        ("ce_time", event.time.isoformat().replace("+00:00", "Z")),
        ("ce_partitionkey", event.partitionkey),
        ("ce_sequence", str(event.sequence)),
        ("content-type", CONTENT_TYPE),
    ]
    for name in ("subject", "dataschema", "traceparent"):
        value = getattr(event, name)
        if value is not None:
            headers.append((f"ce_{name}", value))
    value = event.data.model_dump_json().encode()
    return event.partitionkey.encode(), value, [(k, v.encode()) for k, v in headers]


def from_kafka(
    headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
    value: bytes | None,
    registry: dict[str, type[Event]],
) -> CloudEvent[Event]:
    """Read a binary-mode record back into a CloudEvent; raise UnreadableEvent with the reason."""
    try:
        attrs = {k[3:]: v.decode() for k, v in headers if k.startswith("ce_")}
    except UnicodeDecodeError as exc:
        raise UnreadableEvent(f"a ce_ header is not UTF-8: {exc}") from exc
    if any("\x00" in v for v in attrs.values()):
        raise UnreadableEvent("a ce_ header holds a NUL character")
    missing = [name for name in _REQUIRED if name not in attrs]
    if missing:
        raise UnreadableEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if attrs["specversion"] != SPECVERSION:
        raise UnreadableEvent(f"unsupported specversion {attrs['specversion']!r}")
    model = registry.get(attrs["type"])
    if model is None:
        raise UnreadableEvent(f"unknown event type {attrs['type']!r}")
    try:
        data = model.model_validate(known_fields(model, json.loads(value or b"")))
        return CloudEvent(**{k: v for k, v in attrs.items() if k in CloudEvent.model_fields}, data=data)
    except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableEvent(f"invalid {attrs['type']}: {_short(exc)}") from exc


def known_fields(model: type[Event], data: Any) -> Any:
    """The data without the fields `model` does not know, at every depth: a reader tolerates
    what a newer producer added (new optional fields are compatible changes). The models stay
    strict for producers, so nothing unplanned, personal data least of all, is ever written."""
    schema = _schema(model)
    return _prune(data, schema, schema.get("$defs", {}))


@functools.cache
def _schema(model: type[Event]) -> dict[str, Any]:
    return model.model_json_schema()


def _prune(data: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _prune(data, defs[schema["$ref"].split("/")[-1]], defs)
    for choice in schema.get("anyOf", []):
        if (choice.get("type") == "object" or "$ref" in choice) and isinstance(data, dict):
            return _prune(data, choice, defs)
    if isinstance(data, dict) and "properties" in schema:
        properties = schema["properties"]
        return {k: _prune(v, properties[k], defs) for k, v in data.items() if k in properties}
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"], defs) for item in data]
    return data


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'data'}: {err['msg']}" for err in exc.errors()
        )
    return str(exc)
