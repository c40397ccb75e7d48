"""Calendar feeds, read back with the `icalendar` library as a calendar program would: the right
gatherings, Europe/Oslo times, a stable UID with SEQUENCE raised on each change, STATUS:CANCELLED,
the agenda in the description, and a secret address that is refused when wrong or revoked."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar

from tests.gatherings.conftest import PLAN, World
from tests.gatherings.test_planning import AGENDA, refused

OSLO = ZoneInfo("Europe/Oslo")


async def _feed(world: World, url: str) -> icalendar.Calendar:
    parts = urlsplit(url)
    answer = await world.gatherings.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(answer.content)


def _events(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["uid"]).split("@")[0]: e for e in calendar.walk("VEVENT")}


async def test_a_networks_feed_follows_its_gatherings(world: World):
    first = await world.scheduled()
    second = await world.scheduled(
        starts_on="2010-06-10", registration_deadline="2010-06-01", place="Levanger"
    )
    assert (
        await world.gatherings.put(f"/gatherings/{first}/agenda", json={"items": AGENDA}, headers=world.staff)
    ).status_code == 200
    issued = await world.gatherings.post(
        "/calendar/feeds", json={"network_id": world.network_id}, headers=world.staff
    )
    assert issued.status_code == 201, issued.text
    url = issued.json()["url"]
    assert url.startswith(f"http://test/calendar/networks/{world.network_id}.ics?secret=")

    calendar = await _feed(world, url)
    assert calendar["version"] == "2.0" and "Natur- og kulturbasert nyskaping" in str(
        calendar["x-wr-calname"]
    )
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Oslo"]
    events = _events(calendar)
    assert set(events) == {first, second}
    march = events[first]
    assert march.decoded("dtstart") == datetime(2010, 3, 10, 10, 0, tzinfo=OSLO)
    assert march.decoded("dtend") == datetime(2010, 3, 10, 16, 0, tzinfo=OSLO)
    assert march["dtstart"].params["TZID"] == "Europe/Oslo"
    assert events[second].decoded("dtstart").utcoffset().total_seconds() == 2 * 3600  # summer time
    assert (str(march["location"]), int(march["sequence"]), str(march["status"])) == (
        PLAN["place"],
        1,
        "CONFIRMED",
    )
    description = str(march["description"])
    assert "10:15-11:00 Kulturarv som grunnlag for reiseliv (case from 1702, theme kulturarv)" in description
    assert "NTNU, university" in description

    # Moved: the same UID, a higher SEQUENCE, the new time. Cancelled: STATUS:CANCELLED.
    moved = {**PLAN, "starts_on": "2010-03-17", "start_time": "12:00", "registration_deadline": "2010-03-10"}
    answer = await world.gatherings.post(
        f"/gatherings/{first}/reschedule", json={**moved, "reason": "Kollisjon"}, headers=world.staff
    )
    assert answer.status_code == 200, answer.text
    cancel = await world.gatherings.post(
        f"/gatherings/{second}/cancel", json={"reason": "Uvær"}, headers=world.staff
    )
    assert cancel.status_code == 200
    events = _events(await _feed(world, url))
    assert set(events) == {first, second}
    assert int(events[first]["sequence"]) == 2 > int(march["sequence"])
    assert events[first].decoded("dtstart") == datetime(2010, 3, 17, 12, 0, tzinfo=OSLO)
    assert (str(events[second]["status"]), int(events[second]["sequence"])) == ("CANCELLED", 1)
    assert "AVLYST: Uvær" in str(events[second]["description"])


async def test_a_municipalitys_feed_and_wrong_or_revoked_secrets(world: World):
    gathering_id = await world.scheduled()
    steinkjer = world.municipality("1702")
    retried = {**steinkjer, "Idempotency-Key": "feed-1702"}
    issued = await world.gatherings.post("/calendar/feeds", json={"kommunenummer": "1702"}, headers=retried)
    assert issued.status_code == 201, issued.text
    feed = issued.json()
    assert set(_events(await _feed(world, feed["url"]))) == {gathering_id}
    # Only its hash is kept: not the secret, nor an answer kept for a retry, which would hold it.
    hashed = (
        f"SELECT count(*) FROM feeds WHERE secret_sha256 = sha256(convert_to('{feed['secret']}', 'UTF8'))"
    )
    assert await world.count(hashed) == 1
    assert await world.count("SELECT count(*) FROM idempotency_keys") == 0

    path = "/calendar/municipalities/1702.ics"
    refused(await world.gatherings.get(f"{path}?secret=wrong"), 403, "secret")
    refused(
        await world.gatherings.get(f"/calendar/municipalities/1724.ics?secret={feed['secret']}"),
        403,
        "secret",
    )
    refused(
        await world.gatherings.get(f"/calendar/networks/{world.network_id}.ics?secret={feed['secret']}"),
        403,
        "secret",
    )
    refused(await world.gatherings.get(path), 422, "secret")

    mine = await world.gatherings.get("/calendar/feeds", headers=steinkjer)
    assert [f["feed_id"] for f in mine.json()] == [feed["feed_id"]] and "secret" not in mine.json()[0]
    revoked = await world.gatherings.delete(f"/calendar/feeds/{feed['feed_id']}", headers=steinkjer)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused(await world.gatherings.get(f"{path}?secret={feed['secret']}"), 403, "secret")
    # A member's contact may have its network's feed too; a municipality outside it may not.
    network_feed = {"network_id": world.network_id}
    assert (
        await world.gatherings.post("/calendar/feeds", json=network_feed, headers=steinkjer)
    ).status_code == 201
    both = {"network_id": world.network_id, "kommunenummer": "1702"}
    refused(await world.gatherings.post("/calendar/feeds", json=both, headers=steinkjer), 422, "network_id")
