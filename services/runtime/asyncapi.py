"""The AsyncAPI 3.0 document of a service: the topics it publishes and consumes, with schemas.

Served at `/asyncapi.json`, for engineers in other agencies who subscribe to our events. Built
from the service's one declaration (`ServiceSpec.produces` are sent, `ServiceSpec.consumes` are
received) and from the contracts' models, so it cannot drift from what the code does. A service
that consumes also sends what it cannot read or apply to the dead-letter topic, so that
topic is in its document too.

The document is self-contained, so the official parser (`@asyncapi/parser` 3.x, checked by
`tests/runtime/test_asyncapi.py`) and the tools built on it open it: the types pydantic puts
under a payload's own `$defs` move to `components/schemas`, and every `$ref` points there.

Why our own builder and not FastStream's AsyncAPI generator: in FastStream 0.7.8 the AsyncAPI
message object (`faststream/specification/asyncapi/v2_6_0/schema/message.py`, reused as is by
v3_0_0) has no `headers` and no `bindings` (a TODO in its source), and its Kafka bindings have
channel and operation bindings only. Our events are CloudEvents in Kafka binary mode: the
`ce_*` headers and the record key (the aggregate id) are half of the contract, so a document
without them would not tell a subscriber how to read a record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livskraft_contracts import DEAD_LETTER_TOPIC, Event
from livskraft_contracts.examples import EXAMPLES

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
"""The Kafka bindings version that goes with AsyncAPI 3.0 (asyncapi/bindings, kafka/README.md)."""

DEAD_LETTER = "DeadLetter"
HEADERS = "CloudEventsHeaders"
DEAD_LETTER_HEADERS = "DeadLetterHeaders"

Schema = dict[str, Any]

_CLOUDEVENTS_HEADERS: Schema = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes, Kafka protocol binding, binary content mode",
    "required": [
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_partitionkey",
        "ce_sequence",
    ],
    "properties": {
        "ce_id": {"type": "string", "description": "the event's id: de-duplicate on it"},
        "ce_source": {"type": "string"},
        "ce_type": {"type": "string"},
        "ce_specversion": {"const": "1.0"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string"},
        "ce_dataschema": {"type": "string", "format": "uri"},
        "ce_partitionkey": {"type": "string", "description": "the aggregate id, also the record key"},
        "ce_sequence": {"type": "string", "description": "the event's place in its aggregate's history"},
        "ce_traceparent": {"type": "string", "description": "W3C Trace Context of the command"},
        "content-type": {"const": "application/json"},
    },
}

_DEAD_LETTER_HEADERS: Schema = {
    "type": "object",
    "description": (
        "The original record's headers as they were (any bytes, usually the ce_* attributes), "
        "and where the record came from and why it could not be applied"
    ),
    "required": ["dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_consumer"],
    "properties": {
        "dlq_reason": {"type": "string", "description": "why the record could not be read or applied"},
        "dlq_topic": {"type": "string", "description": "the topic the record was read from"},
        "dlq_partition": {"type": "string", "description": "its partition (decimal)"},
        "dlq_offset": {"type": "string", "description": "its offset (decimal)"},
        "dlq_consumer": {"type": "string", "description": "the consumer that gave up on it"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _kafka_key(description: str) -> dict[str, Any]:
    """The message's Kafka binding (bindings/kafka 0.5.0): the record key is a string."""
    key = {"type": "string", "description": description}
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _relocate_refs(node: Any) -> Any:
    """`#/$defs/X` (pydantic's local definitions) -> `#/components/schemas/X`, at every depth."""
    if isinstance(node, dict):
        return {
            k: _ref(v.removeprefix("#/$defs/"))["$ref"]
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
            else _relocate_refs(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_relocate_refs(v) for v in node]
    return node


def payload_schema(event: type[Event], components: dict[str, Schema]) -> Schema:
    """The event's JSON Schema with its `$defs` moved into `components` (referred to by name).

    Two models may not give one name to different schemas: that is refused, not papered over."""
    schema = event.model_json_schema()
    for name, definition in schema.pop("$defs", {}).items():
        relocated = _relocate_refs(definition)
        if components.setdefault(name, relocated) != relocated:
            raise ValueError(f"two different schemas are both named {name!r} (in {event.event_name()})")
    return _relocate_refs(schema)  # type: ignore[no-any-return]


def _message(event: type[Event], components: dict[str, Schema]) -> dict[str, Any]:
    name = event.event_name()
    doc = (event.__doc__ or "").strip()
    message: dict[str, Any] = {
        "name": name,
        "title": event.ce_type(),
        "summary": doc.splitlines()[0] if doc else name,
        "contentType": "application/json",
        "headers": _ref(HEADERS),
        "payload": payload_schema(event, components),
        "bindings": _kafka_key(f"the {event.key_field}: one aggregate's events share a partition, in order"),
    }
    example = EXAMPLES.get(event)
    if example is not None:
        message["examples"] = [{"name": f"{name}-example", "payload": example.model_dump(mode="json")}]
    return message


def _channel(event: type[Event], components: dict[str, Schema]) -> dict[str, Any]:
    return {
        "address": event.topic(),
        "description": f"Every {event.ce_type()} event, one topic for the type",
        "messages": {event.event_name(): _message(event, components)},
    }


def _dead_letter_channel() -> dict[str, Any]:
    return {
        "address": DEAD_LETTER_TOPIC,
        "description": "Records a consumer could not read or apply, with the reason; replayed by an operator",
        "messages": {
            DEAD_LETTER: {
                "name": DEAD_LETTER,
                "title": "a record that could not be applied",
                "summary": "The original record's key, value and headers, with dlq_* headers added",
                "contentType": "application/octet-stream",
                "headers": _ref(DEAD_LETTER_HEADERS),
                "payload": {"description": "the original record's value, byte for byte (usually event JSON)"},
                "bindings": _kafka_key("the original record's key"),
            }
        },
    }


def _operation(action: str, channel: str, message: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
    }


def document(
    service: str,
    produces: Sequence[type[Event]],
    consumes: Sequence[type[Event]],
    description: str = "",
) -> dict[str, Any]:
    """The service's AsyncAPI 3.0 document: it sends `produces` and receives `consumes`."""
    schemas: dict[str, Schema] = {}
    channels = {e.event_name(): _channel(e, schemas) for e in [*produces, *consumes]}
    operations = {
        f"{action}{e.event_name()}": _operation(action, e.event_name(), e.event_name())
        for action, events in (("send", produces), ("receive", consumes))
        for e in events
    }
    schemas[HEADERS] = _CLOUDEVENTS_HEADERS
    if consumes:
        channels[DEAD_LETTER] = _dead_letter_channel()
        operations[f"send{DEAD_LETTER}"] = _operation("send", DEAD_LETTER, DEAD_LETTER)
        schemas[DEAD_LETTER_HEADERS] = _DEAD_LETTER_HEADERS
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"Livskraft {service}", "version": "1.0.0", "description": description},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
