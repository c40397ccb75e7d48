"""One real path: an HTTP command in the registry becomes a record on Kafka that the official
CloudEvents SDK reads, and the reporting service applies it exactly once."""

from __future__ import annotations

import importlib
from datetime import date

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from livskraft_contracts import DecisionRecorded, NetworkCreated

from services.runtime import asyncapi
from tests.conftest import eventually
from tests.kafka_reader import header, read_records

SEED_NETWORK = {
    "name": "Natur- og kulturbasert nyskaping",
    "themes": ["kulturarv", "produksjon-forbruk"],
    "county": "17",
    "period_start": "2010-01-01",
    "period_end": "2010-12-31",
    "enrolment_deadline": "2010-02-15",
}
DECISION = {
    "body": "kommunestyre",
    "meeting_date": "2010-01-14",
    "case_number": "2010/4",
    "decision_date": "2010-01-14",
    "final": True,
    "summary": "Steinkjer deltar i nettverket.",
}


async def test_command_becomes_event_that_reporting_applies(start_service, token, bootstrap):
    registry = await start_service("registry", today=date(2010, 1, 20))
    reporting = await start_service("reporting")
    staff = {"Authorization": f"Bearer {token('staff')}"}
    steinkjer = {"Authorization": f"Bearer {token('municipality', kommune='1702')}"}

    created = await registry.post("/networks", json=SEED_NETWORK, headers=staff)
    assert created.status_code == 201, created.text
    network_id = created.json()["id"]
    enrolled = await registry.post(
        f"/networks/{network_id}/enrolments", json={"kommunenummer": "1702"}, headers=steinkjer
    )
    assert enrolled.status_code == 201, enrolled.text
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    decided = await registry.post(
        f"/networks/{network_id}/enrolments/1702/decisions",
        json=DECISION,
        headers={**steinkjer, "traceparent": traceparent},
    )
    assert decided.status_code == 201, decided.text
    decision_event_id = decided.json()["event_ids"][0]

    # The record is on the decision topic, keyed by the network, and the official SDK reads it.
    records = await read_records(
        bootstrap,
        DecisionRecorded.topic(),
        until=lambda rs: any(header(r, "ce_id") == decision_event_id for r in rs),
    )
    record = next(r for r in records if header(r, "ce_id") == decision_event_id)
    assert record.key == network_id.encode()
    assert header(record, "ce_traceparent") == traceparent  # the caller's trace travels on
    event = from_binary_event(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value))
    assert event.get_type() == "no.ks.livskraft.registry.DecisionRecorded.v1"
    assert event.get_id() == decision_event_id
    assert event.get_source() == "/livskraft/registry"
    data = event.get_data()
    assert data["municipality"] == {"kommunenummer": "1702", "valid_on": "2010-01-20"}
    assert data["case_number"] == "2010/4"

    async def reported():
        answer = await reporting.get(f"/reports/networks/{network_id}", headers=staff)
        return (
            answer.json()
            if answer.status_code == 200
            and answer.json()["members"]
            and answer.json()["members"][0]["decisions"]
            else None
        )

    report = await eventually(reported)
    assert report["name"] == SEED_NETWORK["name"]
    assert report["themes"] == ["kulturarv", "produksjon-forbruk"]
    [member] = report["members"]
    assert member["kommunenummer"] == "1702" and member["status"] == "submitted"
    assert [d["case_number"] for d in member["decisions"]] == ["2010/4"]
    network_records = await read_records(
        bootstrap, NetworkCreated.topic(), until=lambda rs: any(r.key == network_id.encode() for r in rs)
    )
    assert sum(r.key == network_id.encode() for r in network_records) == 1


async def test_each_service_serves_the_asyncapi_document_of_its_declaration(start_service):
    """`/asyncapi.json` is the document built from the service's spec: what it holds and that the
    official parser accepts it is tested in tests/runtime/test_asyncapi.py."""
    for service in ("registry", "reporting"):
        spec = importlib.import_module(f"services.{service}.app").SPEC
        client = await start_service(service)
        served = (await client.get("/asyncapi.json")).json()
        built = asyncapi.document(spec.name, spec.produces, spec.consumes.event_types, spec.description)
        assert served == built, service
        assert served["asyncapi"] == "3.0.0"
        if service == "registry":
            assert served["operations"]["sendDecisionRecorded"]["action"] == "send"
        else:
            assert served["operations"]["receiveDecisionRecorded"]["action"] == "receive"
