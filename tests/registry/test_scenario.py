"""The seed's scenario, steps 1-2 (docs/domain.md), through the public APIs, with the events read
back from Kafka: the same code `livskraft demo` runs."""

from __future__ import annotations

from livskraft_contracts import (
    ContactAssigned,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    MunicipalityInvited,
    NetworkCreated,
)

from services.devtools import demo
from tests.conftest import eventually
from tests.kafka_reader import header, read_records


async def test_seed_scenario_steps_1_and_2(start_service, token, bootstrap):
    registry = await start_service("registry", today=demo.SCENARIO_DAY)
    reporting = await start_service("reporting")
    said: list[str] = []
    outcome = await demo.play(registry, lambda role, kommune: token(role, kommune), said.append)
    network = outcome.network_id.encode()

    expected = {
        NetworkCreated: 1,
        MunicipalityInvited: 5,
        EnrolmentSubmitted: 5,
        ContactAssigned: 5,
        DecisionRecorded: 4,
        EnrolmentConfirmed: 4,
    }
    ours = []
    for event_type, count in expected.items():
        records = await read_records(
            bootstrap, event_type.topic(), until=lambda rs, c=count: sum(r.key == network for r in rs) >= c
        )
        mine = [r for r in records if r.key == network]
        assert len(mine) == count, event_type
        ours.extend(mine)

    # One network's events carry its sequence 1..N, each number once.
    assert sorted(int(header(r, "ce_sequence")) for r in ours) == list(range(1, 25))
    decided = sorted(r.value for r in ours if header(r, "ce_type") == DecisionRecorded.ce_type())
    assert all(b'"valid_on":"2010-01-20"' in value for value in decided)
    assert not any(b'"kommunenummer":"1736"' in value for value in decided)

    # Personal data never travels: no contact's name or e-mail in any record.
    for record in ours:
        raw = record.value + b"".join(v for _, v in record.headers)
        for name, email in demo.MAIN_CONTACTS.values():
            assert name.encode() not in raw and email.encode() not in raw

    assert {t: len(ids) for t, ids in outcome.events.items()} == {
        "MunicipalityInvited": 5,
        "EnrolmentSubmitted": 5,
        "ContactAssigned": 5,
        "DecisionRecorded": 4,
        "EnrolmentConfirmed": 4,
    }
    assert outcome.overview["statuses"] == {"confirmed": 4, "submitted": 1}
    assert outcome.overview["missing_decision"] == ["1736"]
    assert outcome.overview["missing_main_contact"] == []
    assert outcome.overview["days_to_deadline"] == 26
    assert outcome.overview["below_target"] is False
    assert said[0].startswith("1. KS created the network 'Natur- og kulturbasert nyskaping'")

    reader = {"Authorization": f"Bearer {token('reader')}"}

    async def reported():
        answer = await reporting.get(f"/reports/networks/{outcome.network_id}", headers=reader)
        if answer.status_code != 200:
            return None
        statuses = sorted(m["status"] for m in answer.json()["members"])
        return answer.json() if statuses == ["confirmed"] * 4 + ["submitted"] else None

    report = await eventually(reported)
    assert {m["kommunenummer"]: len(m["decisions"]) for m in report["members"]} == {
        "1702": 1,
        "1719": 1,
        "1724": 1,
        "1736": 0,
        "1729": 1,
    }
