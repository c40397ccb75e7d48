"""Planning a gathering: schedule, reschedule, cancel, agenda. Each rule with its boundaries, the
network and its members made in a running registry and heard of over Kafka."""

from __future__ import annotations

from datetime import date

from livskraft_contracts import GatheringCancelled, GatheringRescheduled, GatheringScheduled

from tests.gatherings.conftest import PLAN, TODAY, World
from tests.kafka_reader import header, read_records


def refused(answer, status: int, field: str) -> None:
    """A problem naming `field`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in answer.json().get("errors", [])], answer.json()


async def test_a_gathering_is_scheduled_in_oslo_time_and_goes_out_as_an_event(world: World, bootstrap):
    answer = await world.schedule()
    assert answer.status_code == 201, answer.text
    accepted = answer.json()
    assert accepted["event_types"] == [GatheringScheduled.ce_type()]
    gathering = await world.gathering(accepted["gathering_id"])
    assert gathering["starts_at"] == "2010-03-10T10:00:00+01:00"  # winter time
    assert gathering["ends_at"] == "2010-03-10T16:00:00+01:00"
    assert (gathering["status"], gathering["host"], gathering["revision"]) == ("planned", "1702", 0)

    summer = await world.gathering(
        await world.scheduled(starts_on="2010-06-10", registration_deadline="2010-06-01")
    )
    assert summer["starts_at"] == "2010-06-10T10:00:00+02:00"  # summer time

    records = await read_records(
        bootstrap,
        GatheringScheduled.topic(),
        until=lambda rs: any(header(r, "ce_id") == accepted["event_ids"][0] for r in rs),
    )
    [record] = [r for r in records if header(r, "ce_id") == accepted["event_ids"][0]]
    assert record.key == accepted["gathering_id"].encode()
    assert header(record, "ce_sequence") == "1"
    data = GatheringScheduled.model_validate_json(record.value)
    assert (str(data.network_id), data.starts_on, data.place) == (
        world.network_id,
        date(2010, 3, 10),
        PLAN["place"],
    )
    assert (data.host.kommunenummer, data.host.valid_on) == ("1702", TODAY)  # as the registry enrolled it


async def test_a_plan_is_refused_naming_the_field_at_fault(world: World):
    before = await world.state()
    cases = [
        ({"starts_on": "2010-01-19", "registration_deadline": "2010-01-19"}, 422, "starts_on"),  # yesterday
        (
            {"starts_on": "2011-01-05", "registration_deadline": "2010-12-01"},
            422,
            "starts_on",
        ),  # after the period
        ({"end_time": "09:00"}, 422, "end_time"),
        ({"end_time": "10:00"}, 422, "end_time"),  # not after the start
        ({"ends_on": "2010-03-09"}, 422, "ends_on"),
        ({"ends_on": "2010-03-30"}, 422, "ends_on"),  # longer than 14 days
        ({"registration_deadline": "2010-03-11"}, 422, "registration_deadline"),  # after it starts
        ({"registration_deadline": "2010-01-19"}, 422, "registration_deadline"),  # in the past
        ({"host": "1736"}, 422, "host"),  # not a member
        ({"capacity": 0}, 422, "capacity"),
        ({"start_time": "10.00"}, 422, "start_time"),
        ({"start_time": "10:00+01:00"}, 422, "start_time"),  # the zone is Europe/Oslo, always
        ({"place": "   "}, 422, "place"),
        # Summer time begins at 02:00 on 28 March 2010: 02:30 does not exist in Oslo that night.
        ({"starts_on": "2010-03-28", "start_time": "02:30", "end_time": "05:00"}, 422, "start_time"),
    ]
    for changes, status, field in cases:
        refused(await world.schedule(**changes), status, field)
    answer = await world.gatherings.post(
        "/networks/6a1f7a4e-2d3b-4c5d-8e9f-0a1b2c3d4e5f/gatherings", json=PLAN, headers=world.staff
    )
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
    assert await world.state() == before

    # Boundaries: a gathering today, with registration closing today, is fine.
    today = TODAY.isoformat()
    answer = await world.schedule(
        starts_on=today, registration_deadline=today, start_time="18:00", end_time="21:00"
    )
    assert answer.status_code == 201, answer.text
    answer = await world.schedule(starts_on="2010-03-10", ends_on="2010-03-24")  # 14 days exactly
    assert answer.status_code == 201, answer.text


async def test_a_host_must_be_a_member_now_and_a_closed_network_plans_nothing(world: World):
    gathering_id = await world.scheduled()
    await world.registry_command("/invitations", {"kommunenummer": "1736"})
    await world.until_members({"1736": "invited"})
    refused(await world.schedule(host="1736"), 422, "host")  # invited is not a member

    await world.registry_command("/enrolments/1719/withdraw")
    await world.until_members({"1719": "withdrawn"})
    refused(await world.schedule(host="1719"), 422, "host")
    refused(await world.register(gathering_id, "1719", politician=1), 409, "kommunenummer")

    await world.close_network()
    refused(await world.schedule(), 409, "network_id")
    moved = {**PLAN, "starts_on": "2010-03-11", "registration_deadline": "2010-03-02", "reason": "Kollisjon"}
    refused(
        await world.gatherings.post(
            f"/gatherings/{gathering_id}/reschedule", json=moved, headers=world.staff
        ),
        409,
        "network_id",
    )
    refused(await world.register(gathering_id, "1702", politician=1), 409, "network_id")
    # What is planned can still be called off.
    answer = await world.gatherings.post(
        f"/gatherings/{gathering_id}/cancel", json={"reason": "Nettverket er avsluttet"}, headers=world.staff
    )
    assert answer.status_code == 200, answer.text


async def test_reschedule_moves_a_gathering_and_raises_its_revision(world: World, bootstrap):
    gathering_id = await world.scheduled()
    moved = {
        **PLAN,
        "starts_on": "2010-03-17",
        "start_time": "09:30",
        "place": "Verran kulturhus",
        "host": "1724",
        "registration_deadline": "2010-03-10",
        "reason": "Kollisjon med kommunestyremøte",
    }
    path = f"/gatherings/{gathering_id}/reschedule"
    answer = await world.gatherings.post(path, json=moved, headers=world.staff)
    assert answer.status_code == 200, answer.text
    assert answer.json()["event_types"] == [GatheringRescheduled.ce_type()]
    gathering = await world.gathering(gathering_id)
    assert (gathering["starts_at"], gathering["place"], gathering["host"]) == (
        "2010-03-17T09:30:00+01:00",
        "Verran kulturhus",
        "1724",
    )
    assert gathering["revision"] == 1
    assert [(c["action"], c["reason"]) for c in gathering["changes"]] == [
        ("GatheringScheduled", None),
        ("GatheringRescheduled", "Kollisjon med kommunestyremøte"),
    ]
    records = await read_records(
        bootstrap,
        GatheringRescheduled.topic(),
        until=lambda rs: any(r.key == gathering_id.encode() for r in rs),
    )
    [record] = [r for r in records if r.key == gathering_id.encode()]
    assert header(record, "ce_sequence") == "2"
    assert GatheringRescheduled.model_validate_json(record.value).host.kommunenummer == "1724"

    refused(await world.gatherings.post(path, json=moved, headers=world.staff), 409, "starts_on")  # unchanged
    refused(
        await world.gatherings.post(path, json={**moved, "reason": ""}, headers=world.staff), 422, "reason"
    )
    assert (await world.register(gathering_id, "1702", politician=3)).status_code == 201
    refused(
        await world.gatherings.post(path, json={**moved, "capacity": 2}, headers=world.staff), 409, "capacity"
    )
    assert (
        await world.gatherings.post(path, json={**moved, "capacity": 3}, headers=world.staff)
    ).status_code == 200


async def test_cancel_needs_a_reason_and_happens_once(world: World, bootstrap):
    gathering_id = await world.scheduled()
    path = f"/gatherings/{gathering_id}/cancel"
    refused(await world.gatherings.post(path, json={}, headers=world.staff), 422, "reason")
    answer = await world.gatherings.post(path, json={"reason": "For få påmeldte"}, headers=world.staff)
    assert answer.status_code == 200, answer.text
    assert answer.json()["event_types"] == [GatheringCancelled.ce_type()]
    gathering = await world.gathering(gathering_id)
    assert (gathering["status"], gathering["cancel_reason"], gathering["revision"]) == (
        "cancelled",
        "For få påmeldte",
        1,
    )
    before = await world.state()
    refused(
        await world.gatherings.post(path, json={"reason": "Igjen"}, headers=world.staff), 409, "gathering_id"
    )
    moved = {**PLAN, "starts_on": "2010-03-11", "reason": "Ny dato"}
    refused(
        await world.gatherings.post(
            f"/gatherings/{gathering_id}/reschedule", json=moved, headers=world.staff
        ),
        409,
        "gathering_id",
    )
    refused(await world.register(gathering_id, "1702", politician=1), 409, "gathering_id")
    assert await world.state() == before
    records = await read_records(
        bootstrap,
        GatheringCancelled.topic(),
        until=lambda rs: any(r.key == gathering_id.encode() for r in rs),
    )
    cancelled = GatheringCancelled.model_validate_json(
        next(r for r in records if r.key == gathering_id.encode()).value
    )
    assert cancelled.starts_on == date(2010, 3, 10)  # the plan it had


AGENDA = [
    {"kind": "session", "starts_at": "10:00", "ends_at": "10:15", "title": "Velkommen"},
    {
        "kind": "case",
        "starts_at": "10:15",
        "ends_at": "11:00",
        "title": "Kulturarv som grunnlag for reiseliv",
        "kommunenummer": "1702",
        "theme": "kulturarv",
        "summary": "Steinkjers eget case.",
    },
    {
        "kind": "talk",
        "starts_at": "11:00",
        "ends_at": "11:45",
        "title": "Lokal matproduksjon",
        "resource": {"name": "NTNU", "kind": "university"},
    },
    {"kind": "session", "starts_at": "14:00", "title": "Erfaringsdeling"},
]


async def test_an_agenda_has_items_in_order_with_cases_of_members_on_the_networks_themes(world: World):
    gathering_id = await world.scheduled()
    path = f"/gatherings/{gathering_id}/agenda"
    answer = await world.gatherings.put(path, json={"items": AGENDA}, headers=world.staff)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"event_ids": [], "event_types": [], "revision": 1}
    gathering = await world.gathering(gathering_id)
    assert [i["title"] for i in gathering["agenda"]] == [i["title"] for i in AGENDA]
    assert gathering["agenda"][2]["resource_name"] == "NTNU"

    before = await world.state()
    swapped = [AGENDA[1], AGENDA[0]]
    refused(
        await world.gatherings.put(path, json={"items": swapped}, headers=world.staff),
        422,
        "items.1.starts_at",
    )
    late = [{**AGENDA[0], "starts_at": "16:30", "ends_at": None}]
    refused(
        await world.gatherings.put(path, json={"items": late}, headers=world.staff), 422, "items.0.starts_at"
    )
    outsider = [{**AGENDA[1], "kommunenummer": "1736"}]
    refused(
        await world.gatherings.put(path, json={"items": outsider}, headers=world.staff),
        422,
        "items.0.kommunenummer",
    )
    off_theme = [{**AGENDA[1], "theme": "klima-energi"}]
    refused(
        await world.gatherings.put(path, json={"items": off_theme}, headers=world.staff), 422, "items.0.theme"
    )
    wrong_day = [{**AGENDA[0], "day": "2010-03-11"}]
    refused(
        await world.gatherings.put(path, json={"items": wrong_day}, headers=world.staff), 422, "items.0.day"
    )
    unknown = [{"kind": "party", "starts_at": "10:00", "title": "?"}]
    refused(await world.gatherings.put(path, json={"items": unknown}, headers=world.staff), 422, "items.0")
    assert await world.state() == before

    # Boundary: an item may start when the gathering starts and end when it ends.
    whole_day = [{**AGENDA[0], "starts_at": "10:00", "ends_at": "16:00"}]
    assert (
        await world.gatherings.put(path, json={"items": whole_day}, headers=world.staff)
    ).status_code == 200
    assert (await world.gathering(gathering_id))["revision"] == 2


async def test_a_retried_schedule_with_its_idempotency_key_plans_one_gathering(world: World):
    headers = {**world.staff, "Idempotency-Key": "samling-2010-03"}
    first = await world.schedule(headers=headers)
    again = await world.schedule(headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json() == again.json()
    assert await world.count("SELECT count(*) FROM gatherings") == 1
