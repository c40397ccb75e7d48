"""The AsyncAPI 3.0 document of a service: the topics it publishes and consumes, with schemas.

Served at `/asyncapi.json`, for engineers in other agencies who subscribe to our events. Built
from the contracts (every event of the service's name is published; `ServiceSpec.consumes` are
received), so it cannot drift from what the code does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livskraft_contracts import Event

_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes, Kafka binary content mode",
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
        "content-type": {"const": "application/json"},
    },
}


def _channel(event: type[Event]) -> dict[str, Any]:
    name = event.event_name()
    return {
        "address": event.topic(),
        "messages": {
            name: {
                "name": name,
                "title": event.ce_type(),
                "summary": (event.__doc__ or "").strip().splitlines()[0] if event.__doc__ else name,
                "contentType": "application/json",
                "headers": _HEADERS,
                "payload": event.model_json_schema(),
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the {event.key_field}"}}},
            }
        },
    }


def document(
    service: str,
    produces: Sequence[type[Event]],
    consumes: Sequence[type[Event]],
    description: str = "",
) -> dict[str, Any]:
    published = list(produces)
    channels = {e.event_name(): _channel(e) for e in [*published, *consumes]}
    operations = {
        f"{action}{e.event_name()}": {
            "action": action,
            "channel": {"$ref": f"#/channels/{e.event_name()}"},
            "messages": [{"$ref": f"#/channels/{e.event_name()}/messages/{e.event_name()}"}],
        }
        for action, events in (("send", published), ("receive", consumes))
        for e in events
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"Livskraft {service}", "version": "1.0.0", "description": description},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }
