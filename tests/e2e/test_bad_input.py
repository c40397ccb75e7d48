"""Bad input gets a clear error, and nothing is lost: 4xx problem details naming the field;
unreadable records go to the dead-letter topic and the consumer goes on."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from livskraft_contracts import DEAD_LETTER_TOPIC, CloudEvent, DecisionRecorded, NetworkCreated, to_kafka

from tests.conftest import eventually
from tests.e2e.test_backbone import SEED_NETWORK
from tests.kafka_reader import header, read_records


def network_created(name: str, network_id: uuid.UUID | str) -> CloudEvent:
    """A well-formed NetworkCreated, to follow the bad records on their topic."""
    return CloudEvent.wrap(
        NetworkCreated(
            network_id=network_id,
            name=name,
            themes=["areal", "kulturarv"],
            period_start=date(2010, 1, 1),
            period_end=date(2010, 12, 31),
            enrolment_deadline=date(2010, 2, 15),
        ),
        sequence=1,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"themes": ["kulturarv"]}, "themes"),
        ({"themes": ["kulturarv", "golf"]}, "themes.1"),
        ({"themes": ["kulturarv", "kulturarv"]}, "themes"),
        ({"county": "5"}, "county"),
        ({"enrolment_deadline": "15.02.2010"}, "enrolment_deadline"),
        ({"period_end": "2009-12-31"}, "period_end"),
        ({"name": ""}, "name"),
        ({"surprise": 1}, "surprise"),
        ({"name": "Nett\x00verk"}, "name"),  # PostgreSQL cannot store NUL: a 422, not a 500
        ({"region": "Nord-\x00Trøndelag"}, "region"),
        ({"enrolment_deadline": 0}, "enrolment_deadline"),  # not a Unix timestamp
        ({"period_start": "1262304000"}, "period_start"),
    ],
)
async def test_invalid_command_is_refused_naming_the_field_and_changes_nothing(
    start_service, token, new_database, change, field
):
    database = await new_database("registry")
    registry = await start_service("registry", database_url=database)
    conn = await asyncpg.connect(database)
    try:  # the events the registry wrote at start-up (its bundled municipalities)
        outbox_before = await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()
    answer = await registry.post(
        "/networks", json={**SEED_NETWORK, **change}, headers={"Authorization": f"Bearer {token('staff')}"}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    assert field in problem["detail"]
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM networks") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox_before
    finally:
        await conn.close()


async def test_a_body_that_is_not_json_is_refused_naming_the_body(start_service, token):
    registry = await start_service("registry")
    answer = await registry.post(
        "/networks",
        content=b'{"name": ',
        headers={"Authorization": f"Bearer {token('staff')}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body"


async def test_the_openapi_document_declares_the_problem_answers(start_service):
    registry = await start_service("registry")
    document = (await registry.get("/openapi.json")).json()
    create = document["paths"]["/networks"]["post"]["responses"]
    for status in ("401", "403", "409", "422"):
        assert "application/problem+json" in create[status]["content"], status
    assert set(document["components"]["schemas"]["ProblemDetails"]["required"]) >= {"title", "status"}


async def test_unreadable_records_go_to_the_dead_letter_topic_and_the_consumer_goes_on(
    start_service, bootstrap, new_database
):
    database = await new_database("reporting")
    await start_service("reporting", database_url=database)
    good = network_created("Etter søpla", "0d6f3f7e-8d7b-4f4e-9d51-9a6d3c1b2a10")
    key, value, headers = to_kafka(good)
    bad_json = b"\xff\xfe{not json"
    unknown_type = [
        (k, b"no.ks.livskraft.registry.NetworkRenamed.v1" if k == "ce_type" else v) for k, v in headers
    ]
    bad_header = [(k, b"\xc3\x28" if k == "ce_source" else v) for k, v in headers]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        topic = NetworkCreated.topic()
        # Same key: one partition, so the good record comes after the bad ones.
        bad_json_headers = [(k, b"bad-json-1" if k == "ce_id" else v) for k, v in headers]
        await producer.send_and_wait(topic, bad_json, key=key, headers=bad_json_headers)
        await producer.send_and_wait(topic, value, key=key, headers=unknown_type)
        await producer.send_and_wait(topic, value, key=key, headers=bad_header)
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    conn = await asyncpg.connect(database)
    try:
        await eventually(
            lambda: conn.fetchval("SELECT 1 FROM networks WHERE network_id = $1", good.data.network_id)
        )
        reasons = [
            r["reason"]
            for r in await conn.fetch(
                'SELECT reason FROM dead_letters WHERE key = $1 ORDER BY "offset"', key.decode()
            )
        ]
    finally:
        await conn.close()
    assert len(reasons) == 3
    assert "invalid no.ks.livskraft.registry.NetworkCreated.v1" in reasons[0]
    assert "unknown event type 'no.ks.livskraft.registry.NetworkRenamed.v1'" in reasons[1]
    assert "not UTF-8" in reasons[2]

    dead = await read_records(
        bootstrap,
        DEAD_LETTER_TOPIC,
        until=lambda rs: sum(r.key == key for r in rs) >= 3,
    )
    ours = [r for r in dead if r.key == key]
    assert [r.value for r in ours] == [bad_json, value, value]  # the original bytes
    assert [header(r, "dlq_topic") for r in ours] == [NetworkCreated.topic()] * 3
    assert "unknown event type" in header(ours[1], "dlq_reason")


async def test_a_handler_failing_on_one_event_dead_letters_it_alone_and_leaves_it_replayable(
    start_service, bootstrap, new_database
):
    database = await new_database("reporting")
    await start_service("reporting", database_url=database)
    network_id = uuid.uuid4()

    def decision(decision_id: uuid.UUID, case: str) -> CloudEvent:
        return CloudEvent.wrap(
            DecisionRecorded(
                network_id=network_id,
                municipality={"kommunenummer": "1702", "valid_on": "2010-01-20"},
                decision_id=decision_id,
                body="kommunestyre",
                meeting_date=date(2010, 1, 14),
                case_number=case,
                decision_date=date(2010, 1, 14),
                final=True,
                summary="Deltar.",
            ),
            sequence=1,
        )

    same = uuid.uuid4()
    first, clash, other = decision(same, "2010/1"), decision(same, "2010/2"), decision(uuid.uuid4(), "2010/3")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in (first, clash, other):  # one key, one partition: in this order
            key, value, headers = to_kafka(event)
            await producer.send_and_wait(DecisionRecorded.topic(), value, key=key, headers=headers)
    finally:
        await producer.stop()

    conn = await asyncpg.connect(database)
    try:
        await eventually(
            lambda: conn.fetchval("SELECT count(*) = 2 FROM decisions WHERE network_id = $1", network_id)
        )
        await eventually(
            lambda: conn.fetchval("SELECT count(*) = 1 FROM dead_letters WHERE key = $1", str(network_id))
        )
        reason = await conn.fetchval("SELECT reason FROM dead_letters WHERE key = $1", str(network_id))
        inboxed = {
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM inbox WHERE event_id = ANY($1)", [first.id, clash.id, other.id]
            )
        }
    finally:
        await conn.close()
    assert reason.startswith("handler failed: UniqueViolationError")
    assert inboxed == {first.id, other.id}  # the failed one can be replayed once mended


async def test_a_poison_record_with_a_nul_in_its_key_is_dead_lettered_and_the_consumer_goes_on(
    start_service, bootstrap, new_database
):
    database = await new_database("reporting")
    await start_service("reporting", database_url=database)
    good = network_created("Etter nullbyten", uuid.uuid4())
    key, value, headers = to_kafka(good)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        poison_key = b"nett\x00verk-" + uuid.uuid4().hex.encode()
        await producer.send_and_wait(NetworkCreated.topic(), b"\x00", key=poison_key, headers=headers)
        await producer.send_and_wait(NetworkCreated.topic(), value, key=key, headers=headers)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database)
    try:
        await eventually(
            lambda: conn.fetchval("SELECT 1 FROM networks WHERE network_id = $1", good.data.network_id)
        )
        stored_key = poison_key.decode().replace("\x00", "\ufffd")
        await eventually(lambda: conn.fetchval("SELECT 1 FROM dead_letters WHERE key = $1", stored_key))
    finally:
        await conn.close()
