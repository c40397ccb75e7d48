"""Calendar feeds in iCalendar (RFC 5545), made with the `icalendar` library. No I/O here.

One VEVENT per gathering: its UID is the gathering's id and never changes, SEQUENCE is the
gathering's revision (raised on every change a calendar shows), STATUS is CANCELLED once it is
cancelled, DTSTART and DTEND carry TZID=Europe/Oslo (with its VTIMEZONE), and DESCRIPTION holds
the agenda. DTSTAMP and LAST-MODIFIED are the last change, so a calendar program that polls the
feed sees what moved. No person is named: cases by municipality, talks by institution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date
from typing import Any

from icalendar import Calendar
from icalendar import Event as VEvent

from .domain import OSLO, local

PRODID = "-//KS//Livskraft nettverkssamlinger//NO"
UID_DOMAIN = "livskraft.ks.no"


def uid(gathering_id: object) -> str:
    return f"{gathering_id}@{UID_DOMAIN}"


def _agenda_line(item: Mapping[str, Any]) -> str:
    when = item["starts_at"].strftime("%H:%M")
    if item["ends_at"]:
        when += "-" + item["ends_at"].strftime("%H:%M")
    if item["kind"] == "case":
        line = f"{when} {item['title']} (case from {item['kommunenummer']}, theme {item['theme']})"
    elif item["kind"] == "talk":
        line = f"{when} {item['title']} ({item['resource_name']}, {item['resource_kind']})"
    else:
        line = f"{when} {item['title']}"
    if item["summary"]:
        line += f": {item['summary']}"
    return line


def description(gathering: Mapping[str, Any], agenda: Sequence[Mapping[str, Any]]) -> str:
    lines = [f"Nettverkssamling i {gathering['network_name']}. Vertskommune {gathering['host']}."]
    if gathering["status"] == "cancelled":
        lines.insert(0, f"AVLYST: {gathering['cancel_reason']}")
    if agenda:
        lines.append("")
        lines.append("Program:")
        day: date | None = None
        for item in agenda:
            if gathering["ends_on"] and item["day"] != day:
                day = item["day"]
                lines.append(day.isoformat())
            lines.append(_agenda_line(item))
    return "\n".join(lines)


def feed(
    name: str,
    gatherings: Sequence[Mapping[str, Any]],
    agendas: Mapping[Any, Sequence[Mapping[str, Any]]],
) -> bytes:
    """The feed `name` (X-WR-CALNAME) of these gatherings (rows as `store` gives them)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", OSLO.key)
    for g in gatherings:
        event = VEvent()
        event.add("uid", uid(g["id"]))
        event.add("sequence", g["revision"])
        event.add("dtstamp", g["updated_at"].astimezone(UTC))
        event.add("created", g["created_at"].astimezone(UTC))
        event.add("last-modified", g["updated_at"].astimezone(UTC))
        event.add("dtstart", local(g["starts_on"], g["start_time"]))
        event.add("dtend", local(g["ends_on"] or g["starts_on"], g["end_time"]))
        event.add("summary", f"Nettverkssamling: {g['network_name']}")
        event.add("location", g["place"])
        event.add("description", description(g, agendas.get(g["id"], ())))
        event.add("status", "CANCELLED" if g["status"] == "cancelled" else "CONFIRMED")
        calendar.add_component(event)
    if gatherings:
        first = min(g["starts_on"] for g in gatherings)
        last = max(g["ends_on"] or g["starts_on"] for g in gatherings)
        calendar.add_missing_timezones(
            first_date=date(first.year, 1, 1), last_date=date(min(last.year + 1, 9999), 1, 1)
        )
    return calendar.to_ical()  # type: ignore[no-any-return]
