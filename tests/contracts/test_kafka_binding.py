"""Every event travels as a CloudEvents 1.0 Kafka record in binary mode, and comes back the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from livskraft_contracts import (
    ALL_EVENTS,
    EVENT_TYPES,
    CloudEvent,
    Event,
    NetworkCreated,
    UnreadableEvent,
    from_kafka,
    to_kafka,
)
from livskraft_contracts.examples import EXAMPLES

EXAMPLE_EVENTS = [pytest.param(e, id=type(e).__name__) for e in EXAMPLES.values()]
TOPIC = re.compile(
    r"^livskraft\.(registry|gatherings|reporting|notify|indicators)\.[a-z]+(-[a-z]+)*\.v[0-9]+$"
)
TYPE = re.compile(
    r"^no\.ks\.livskraft\.(registry|gatherings|reporting|notify|indicators)\.[A-Z][A-Za-z]+\.v[0-9]+$"
)


def record(data: Event, **attrs: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return to_kafka(CloudEvent.wrap(data, sequence=3, **attrs))


@pytest.mark.parametrize("data", EXAMPLE_EVENTS)
def test_round_trip(data: Event) -> None:
    event = CloudEvent.wrap(data, sequence=3, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    key, value, headers = to_kafka(event)
    back = from_kafka(headers, value, EVENT_TYPES)
    assert back == event
    assert key == data.aggregate_id.encode()
    assert back.topic == type(data).topic()


@pytest.mark.parametrize("data", EXAMPLE_EVENTS)
def test_the_cloudevents_sdk_reads_our_records(data: Event) -> None:
    event = CloudEvent.wrap(data, sequence=1)
    key, value, headers = to_kafka(event)
    read = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))
    assert read.get_id() == event.id
    assert read.get_type() == data.ce_type()
    assert read.get_source() == "/livskraft/" + data.service
    assert read.get_specversion() == "1.0"
    assert read.get_time() == event.time
    assert read.get_dataschema() == data.dataschema()
    assert read.get_extension("partitionkey") == data.aggregate_id
    assert read.get_data() == data.model_dump(mode="json") == json.loads(value)


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.__name__)
def test_names_follow_the_conventions(model: type[Event]) -> None:
    assert model.ce_type().isascii() and model.topic().isascii()
    assert TYPE.match(model.ce_type()), model.ce_type()
    assert TOPIC.match(model.topic()), model.topic()
    assert model.ce_type() == f"no.ks.livskraft.{model.service}.{model.__name__}.v1"
    assert model.key_field in model.model_fields


def test_one_topic_per_type() -> None:
    topics = [m.topic() for m in ALL_EVENTS]
    assert len(set(topics)) == len(topics) == len(EVENT_TYPES) == 26


def test_the_catalogue_is_complete() -> None:
    """docs/domain.md's event catalogue, service by service: the names are the contract."""
    catalogue = {
        "registry": "MunicipalityRegistered MunicipalityChanged NetworkCreated MunicipalityInvited "
        "EnrolmentSubmitted EnrolmentConfirmed EnrolmentWithdrawn DecisionRecorded "
        "ContactAssigned NetworkClosed",
        "gatherings": "GatheringScheduled GatheringRescheduled GatheringCancelled "
        "ParticipantRegistered GatheringHeld",
        "reporting": "IndicatorReported StatisticsPublished",
        "notify": "NotificationDelivered NotificationFailed",
        "indicators": "IndicatorDefined StatusAssessed GoalSet MeasurePlanned MeasureUpdated "
        "MeasureEvaluated PlanReported",
    }
    expected = {(s, name) for s, names in catalogue.items() for name in names.split()}
    assert {(m.service, m.__name__) for m in ALL_EVENTS} == expected


# -- records we cannot read ------------------------------------------------------------------------


def test_unknown_type_is_unreadable() -> None:
    _, value, headers = record(EXAMPLES[NetworkCreated])
    headers = [(k, b"no.ks.livskraft.registry.Nope.v1" if k == "ce_type" else v) for k, v in headers]
    with pytest.raises(UnreadableEvent, match="unknown event type"):
        from_kafka(headers, value, EVENT_TYPES)


@pytest.mark.parametrize("value", [b"{not json", b"", None, b"\xff\xfe", b"[]"])
def test_a_value_that_is_not_the_event_is_unreadable(value: bytes | None) -> None:
    _, _, headers = record(EXAMPLES[NetworkCreated])
    with pytest.raises(UnreadableEvent, match="invalid"):
        from_kafka(headers, value, EVENT_TYPES)


def test_data_the_model_refuses_is_unreadable() -> None:
    _, value, headers = record(EXAMPLES[NetworkCreated])
    bad = json.dumps({**json.loads(value), "themes": ["kulturarv"]}).encode()
    with pytest.raises(UnreadableEvent, match="themes"):
        from_kafka(headers, bad, EVENT_TYPES)


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type", "ce_specversion"])
def test_missing_required_attribute_is_unreadable(missing: str) -> None:
    _, value, headers = record(EXAMPLES[NetworkCreated])
    headers = [(k, v) for k, v in headers if k != missing]
    with pytest.raises(UnreadableEvent, match=missing.removeprefix("ce_")):
        from_kafka(headers, value, EVENT_TYPES)


def test_non_utf8_header_is_unreadable() -> None:
    _, value, headers = record(EXAMPLES[NetworkCreated])
    headers = [(k, b"\xc3\x28" if k == "ce_source" else v) for k, v in headers]
    with pytest.raises(UnreadableEvent, match="UTF-8"):
        from_kafka(headers, value, EVENT_TYPES)


def test_other_specversion_is_unreadable() -> None:
    _, value, headers = record(EXAMPLES[NetworkCreated])
    headers = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in headers]
    with pytest.raises(UnreadableEvent, match="specversion"):
        from_kafka(headers, value, EVENT_TYPES)


def test_the_readme_lists_every_topic() -> None:
    readme = (Path(__file__).resolve().parents[2] / "contracts" / "README.md").read_text()
    listed = set(re.findall(r"`(livskraft\.[a-z.-]+\.v[0-9]+)`", readme))
    assert listed == {m.topic() for m in ALL_EVENTS}


def test_a_reader_ignores_fields_a_newer_producer_added_at_any_depth() -> None:
    """Tolerant reading: new optional fields are compatible; producers stay strict."""
    import json as _json

    from livskraft_contracts import EVENT_TYPES, CloudEvent, DecisionRecorded, from_kafka, to_kafka
    from livskraft_contracts.examples import EXAMPLES

    example = CloudEvent.wrap(EXAMPLES[DecisionRecorded], sequence=1)
    _, value, headers = to_kafka(example)
    newer = _json.loads(value)
    newer["agenda_item"] = "PS 4/10"
    newer["municipality"]["district"] = "Innherred"
    event = from_kafka(headers, _json.dumps(newer).encode(), EVENT_TYPES)
    assert event.data == example.data


def test_an_attribute_with_a_nul_character_is_unreadable() -> None:
    """It could never be stored in an inbox: refused at once, so it is dead-lettered, not retried."""
    import pytest as _pytest
    from livskraft_contracts import (
        EVENT_TYPES,
        CloudEvent,
        DecisionRecorded,
        UnreadableEvent,
        from_kafka,
        to_kafka,
    )
    from livskraft_contracts.examples import EXAMPLES

    _, value, headers = to_kafka(CloudEvent.wrap(EXAMPLES[DecisionRecorded], sequence=1))
    poisoned = [(k, b"id\x00" if k == "ce_id" else v) for k, v in headers]
    with _pytest.raises(UnreadableEvent, match="NUL"):
        from_kafka(poisoned, value, EVENT_TYPES)
