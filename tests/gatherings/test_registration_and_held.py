"""Registering participants (counts, optional names, capacity, deadline) and recording a gathering
held (not before its day, not twice, not when cancelled), with GatheringHeld read back from Kafka
by the official CloudEvents SDK: attendance per municipality and role category, and no name."""

from __future__ import annotations

import json
from datetime import date

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from livskraft_contracts import GatheringHeld, ParticipantRegistered

from tests.gatherings.conftest import World
from tests.gatherings.test_planning import refused
from tests.kafka_reader import header, read_records

NAMES = ["Kari Ordfører", "Ola Rådmann"]


async def test_a_municipality_registers_its_own_participants_with_optional_names(world: World, bootstrap):
    gathering_id = await world.scheduled()
    answer = await world.gatherings.post(
        f"/gatherings/{gathering_id}/registrations",
        json={
            "kommunenummer": "1702",
            "participants": [
                {"role_category": "politician", "count": 2, "names": NAMES[:1]},
                {"role_category": "management", "count": 1, "names": NAMES[1:]},
            ],
        },
        headers=world.municipality("1702"),
    )
    assert answer.status_code == 201, answer.text
    accepted = answer.json()
    assert accepted["event_types"] == [ParticipantRegistered.ce_type()] * 3
    assert len(set(accepted["person_ids"])) == 3
    assert (await world.register(gathering_id, "1724", department=2)).status_code == 201

    gathering = await world.gathering(gathering_id)
    assert gathering["registered"] == 5
    assert gathering["registrations"] == [
        {"kommunenummer": "1702", "role_category": "management", "count": 1},
        {"kommunenummer": "1702", "role_category": "politician", "count": 2},
        {"kommunenummer": "1724", "role_category": "department", "count": 2},
    ]

    # Names: the municipality sees its own, the planners all, another municipality none of them.
    path = f"/gatherings/{gathering_id}/participants"
    own = (await world.gatherings.get(path, headers=world.municipality("1702"))).json()
    assert sorted(p["name"] for p in own if p["name"]) == sorted(NAMES) and len(own) == 3
    assert len((await world.gatherings.get(path, headers=world.staff)).json()) == 5
    assert len((await world.gatherings.get(path, headers=world.leader())).json()) == 5
    other = (await world.gatherings.get(path, headers=world.municipality("1724"))).json()
    assert {p["kommunenummer"] for p in other} == {"1724"}
    reader = await world.gatherings.get(path, headers={"Authorization": f"Bearer {world.issue('reader')}"})
    assert reader.status_code == 403

    # The events carry an opaque person id, the municipality and the category: never a name.
    records = await read_records(
        bootstrap,
        ParticipantRegistered.topic(),
        until=lambda rs: sum(r.key == gathering_id.encode() for r in rs) >= 5,
    )
    ours = [r for r in records if r.key == gathering_id.encode()]
    assert sorted(int(header(r, "ce_sequence")) for r in ours) == [2, 3, 4, 5, 6]
    for record in ours:
        raw = record.value + b"".join(v for _, v in record.headers)
        assert not any(name.encode() in raw for name in NAMES)
        assert set(json.loads(record.value)) == {"gathering_id", "person_id", "municipality", "role_category"}


async def test_who_registers_what(world: World):
    gathering_id = await world.scheduled()
    before = await world.state()
    # Another municipality's participants, a resource by a municipality, a non-member, a reader.
    assert (
        await world.register(gathering_id, "1702", world.municipality("1724"), politician=1)
    ).status_code == 403
    answer = await world.register(gathering_id, "1702", resource=1)
    assert answer.status_code == 403 and "participants.0.role_category" in answer.json()["detail"]
    refused(await world.register(gathering_id, "1736", world.staff, politician=1), 409, "kommunenummer")
    reader = {"Authorization": f"Bearer {world.issue('reader')}"}
    assert (await world.register(gathering_id, "1702", reader, politician=1)).status_code == 403
    other_leader = world.leader("0b9f4c52-7d0e-4f4e-9d7a-2b6f1c3e8a10")
    assert (await world.register(gathering_id, "1702", other_leader, politician=1)).status_code == 403
    twice = [{"role_category": "politician", "count": 1}, {"role_category": "politician", "count": 1}]
    answer = await world.gatherings.post(
        f"/gatherings/{gathering_id}/registrations",
        json={"kommunenummer": "1702", "participants": twice},
        headers=world.municipality("1702"),
    )
    refused(answer, 422, "participants.1.role_category")
    too_many_names = [{"role_category": "politician", "count": 1, "names": NAMES}]
    answer = await world.gatherings.post(
        f"/gatherings/{gathering_id}/registrations",
        json={"kommunenummer": "1702", "participants": too_many_names},
        headers=world.municipality("1702"),
    )
    assert answer.status_code == 422, answer.text
    assert await world.state() == before

    # The planners register resource environments (under the member that invites them).
    assert (await world.register(gathering_id, "1702", world.staff, resource=2)).status_code == 201
    assert (await world.register(gathering_id, "1702", world.leader(), resource=1)).status_code == 201


async def test_capacity_is_enforced_to_the_last_place(world: World):
    gathering_id = await world.scheduled(capacity=5)
    assert (await world.register(gathering_id, "1702", politician=2, management=1)).status_code == 201
    before = await world.state()
    answer = await world.register(gathering_id, "1724", department=3)
    refused(answer, 409, "participants")
    assert "2 of 5 places left" in answer.json()["detail"]
    assert await world.state() == before
    assert (await world.register(gathering_id, "1724", department=2)).status_code == 201  # the last two
    refused(await world.register(gathering_id, "1719", politician=1), 409, "participants")


async def test_registration_closes_after_its_deadline_day(world: World):
    gathering_id = await world.scheduled()  # registration deadline 1 March 2010
    await world.move_clock(date(2010, 3, 1))
    assert (await world.register(gathering_id, "1702", politician=1)).status_code == 201  # the day itself
    await world.move_clock(date(2010, 3, 2))
    before = await world.state()
    answer = await world.register(gathering_id, "1702", politician=1)
    refused(answer, 409, "registration_deadline")
    assert "closed on 2010-03-01" in answer.json()["detail"]
    assert await world.state() == before


HELD = {
    "attendance": [
        {"kommunenummer": "1702", "role_category": "politician", "count": 2},
        {"kommunenummer": "1702", "role_category": "management", "count": 1},
        {"kommunenummer": "1724", "role_category": "department", "count": 3},
        {"kommunenummer": "1702", "role_category": "resource", "count": 1},
    ],
    "cases_presented": [{"kommunenummer": "1702", "title": "Kulturarv som grunnlag for reiseliv"}],
    "experience_sharing": {
        "notes": "Kari Ordfører fortalte om arbeidet med kulturminneplanen.",
        "good_examples": [{"title": "Kulturminneplan", "text": "Vedtatt 2009.", "kommunenummer": "1702"}],
    },
}


async def test_held_not_before_its_day_then_once_with_attendance_and_no_names(world: World, bootstrap):
    gathering_id = await world.scheduled()  # 10 March 2010
    assert (await world.register(gathering_id, "1702", politician=2)).status_code == 201
    path = f"/gatherings/{gathering_id}/held"
    await world.move_clock(date(2010, 3, 9))
    before = await world.state()
    answer = await world.gatherings.post(path, json=HELD, headers=world.staff)
    refused(answer, 409, "starts_on")
    assert await world.state() == before

    await world.move_clock(date(2010, 3, 10))  # the day itself
    answer = await world.gatherings.post(path, json=HELD, headers=world.leader())
    assert answer.status_code == 200, answer.text
    [event_id] = answer.json()["event_ids"]
    gathering = await world.gathering(gathering_id)
    assert gathering["status"] == "held" and gathering["revision"] == 1
    assert len(gathering["attendance"]) == 4
    assert gathering["cases_presented"] == HELD["cases_presented"]
    assert gathering["experience_sharing"]["good_examples"][0]["title"] == "Kulturminneplan"
    past = (
        await world.gatherings.get(f"/networks/{world.network_id}/gatherings", headers=world.staff)
    ).json()
    assert [g["id"] for g in past["past"]] == [gathering_id] and past["planned"] == []

    before = await world.state()
    refused(
        await world.gatherings.post(path, json=HELD, headers=world.staff), 409, "gathering_id"
    )  # not twice
    refused(
        await world.gatherings.post(
            f"/gatherings/{gathering_id}/cancel", json={"reason": "?"}, headers=world.staff
        ),
        409,
        "gathering_id",
    )
    assert await world.state() == before

    records = await read_records(
        bootstrap, GatheringHeld.topic(), until=lambda rs: any(header(r, "ce_id") == event_id for r in rs)
    )
    record = next(r for r in records if header(r, "ce_id") == event_id)
    event = from_binary_event(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value))
    assert event.get_type() == "no.ks.livskraft.gatherings.GatheringHeld.v1"
    assert event.get_source() == "/livskraft/gatherings"
    assert event.get_subject() == gathering_id
    data = event.get_data()
    assert data["network_id"] == world.network_id and data["held_on"] == "2010-03-10"
    cells = {(a["municipality"]["kommunenummer"], a["role_category"]): a["count"] for a in data["attendance"]}
    assert cells == {
        ("1702", "politician"): 2,
        ("1702", "management"): 1,
        ("1724", "department"): 3,
        ("1702", "resource"): 1,
    }
    assert data["attendance"][0]["municipality"]["valid_on"] == "2010-01-20"
    assert data["cases_presented"] == [
        {
            "municipality": {"kommunenummer": "1702", "valid_on": "2010-01-20"},
            "title": HELD["cases_presented"][0]["title"],
        }
    ]
    raw = record.value + b"".join(v for _, v in record.headers)
    assert b"Kari" not in raw and b"notes" not in raw and b"Kulturminneplan" not in raw


async def test_held_refuses_a_cancelled_gathering_and_strangers_in_the_attendance(world: World):
    gathering_id = await world.scheduled(starts_on="2010-01-20", registration_deadline="2010-01-20")  # today
    path = f"/gatherings/{gathering_id}/held"
    before = await world.state()
    stranger = {"attendance": [{"kommunenummer": "1736", "role_category": "politician", "count": 1}]}
    refused(
        await world.gatherings.post(path, json=stranger, headers=world.staff),
        422,
        "attendance.0.kommunenummer",
    )
    twice = {"attendance": [HELD["attendance"][0], HELD["attendance"][0]]}
    refused(
        await world.gatherings.post(path, json=twice, headers=world.staff), 422, "attendance.1.role_category"
    )
    case = {
        "attendance": HELD["attendance"][:1],
        "cases_presented": [{"kommunenummer": "1736", "title": "?"}],
    }
    refused(
        await world.gatherings.post(path, json=case, headers=world.staff),
        422,
        "cases_presented.0.kommunenummer",
    )
    refused(
        await world.gatherings.post(path, json={"attendance": []}, headers=world.staff), 422, "attendance"
    )
    assert await world.state() == before

    cancelled = await world.gatherings.post(
        f"/gatherings/{gathering_id}/cancel", json={"reason": "Uvær"}, headers=world.staff
    )
    assert cancelled.status_code == 200
    refused(await world.gatherings.post(path, json=HELD, headers=world.staff), 409, "gathering_id")
