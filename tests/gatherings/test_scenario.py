"""The seed's scenario, step 3 (docs/domain.md): two gatherings scheduled, one of them moved,
participants registered, both held with attendance by role category; the same code `livskraft
demo` runs, with the registry's events reaching the gatherings service over Kafka."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import icalendar
from livskraft_contracts import GatheringHeld

from services.devtools import demo
from services.devtools.clock import move_all
from services.devtools.tokens import issue_dev_token
from tests.kafka_reader import read_records


async def test_seed_scenario_step_3(start_service, token, bootstrap, data_dir):
    registry = await start_service("registry", today=demo.SCENARIO_DAY)
    gatherings = await start_service("gatherings", today=demo.SCENARIO_DAY)
    said: list[str] = []
    network = await demo.play(registry, lambda role, kommune: token(role, kommune), said.append)

    async def move_calendar(day: date) -> None:
        await move_all({"registry": registry, "gatherings": gatherings}, day, token("staff"))

    outcome = await demo.play_gatherings(
        gatherings,
        network.network_id,
        lambda role, kommune: token(role, kommune),
        lambda network_id: issue_dev_token(data_dir, "leader", networks=[network_id]),
        move_calendar,
        said.append,
    )
    per_gathering = sum(sum(counts.values()) for counts in demo.PARTICIPANTS.values()) + 1  # and a resource
    assert {t: len(ids) for t, ids in outcome.events.items()} == {
        "GatheringScheduled": 2,
        "GatheringRescheduled": 1,
        "ParticipantRegistered": 2 * per_gathering,
        "GatheringHeld": 2,
    }
    staff = {"Authorization": f"Bearer {token('staff')}"}
    listed = (await gatherings.get(f"/networks/{network.network_id}/gatherings", headers=staff)).json()
    assert listed["planned"] == []
    assert [(g["starts_on"], g["status"], g["registered"]) for g in listed["past"]] == [
        ("2010-04-21", "held", per_gathering),
        ("2010-09-22", "held", per_gathering),  # moved from 15 September
    ]

    # Both GatheringHeld on Kafka: attendance per municipality and role category, no names.
    held_ids = set(outcome.events["GatheringHeld"])
    records = await read_records(
        bootstrap,
        GatheringHeld.topic(),
        until=lambda rs: held_ids <= {dict(r.headers)["ce_id"].decode() for r in rs},
    )
    held = [
        GatheringHeld.model_validate_json(r.value)
        for r in records
        if dict(r.headers)["ce_id"].decode() in held_ids
    ]
    assert sorted(h.held_on for h in held) == [date(2010, 4, 21), date(2010, 9, 22)]
    for event in held:
        cells = {(a.municipality.kommunenummer, str(a.role_category)): a.count for a in event.attendance}
        assert cells[("1702", "politician")] == 2
        assert sum(cells.values()) == per_gathering - 1  # one did not come
        assert len(event.cases_presented) == 2
    for record in records:
        for names in demo.PARTICIPANT_NAMES.values():
            assert not any(name.encode() in record.value for name in names)

    # The network's calendar: both gatherings, the moved one with a higher SEQUENCE.
    feed = urlsplit(outcome.feed_url)
    calendar = icalendar.Calendar.from_ical((await gatherings.get(f"{feed.path}?{feed.query}")).content)
    sequences = {str(e["dtstart"].dt.date()): int(e["sequence"]) for e in calendar.walk("VEVENT")}
    assert sequences == {"2010-04-21": 2, "2010-09-22": 3}  # agenda, held; and agenda, moved, held
    assert any("moved the autumn one to 2010-09-22" in line for line in said)
    assert any(outcome.feed_url in line for line in said)
