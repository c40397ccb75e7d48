"""E-mails from the templates in `templates/`: bokmål, plain text and HTML, and for a gathering an
iCalendar (.ics) invitation built with `icalendar`.

`templates/<name>.txt` starts with the subject line (`Emne: ...`), then a blank line, then the
text; `templates/<name>.html` is the HTML part. Both use `$name` placeholders (string.Template);
values are HTML-escaped in the HTML part. `domain.template_for` chooses the name.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any

import icalendar

from .domain import EmailKind, template_for

TEMPLATES = Path(__file__).parent / "templates"
MONTHS = ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
          "november", "desember")  # fmt: skip
WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
DOMAIN = "livskraft.ks.no"


def long_date(day: date) -> str:
    """`mandag 15. februar 2010`."""
    return f"{WEEKDAYS[day.weekday()]} {day.day}. {MONTHS[day.month - 1]} {day.year}"


@cache
def _template(name: str) -> tuple[str, string.Template, string.Template]:
    subject_line, _, text = (TEMPLATES / f"{name}.txt").read_text(encoding="utf-8").partition("\n\n")
    if not subject_line.startswith("Emne: "):
        raise ValueError(f"templates/{name}.txt must start with 'Emne: '")
    page = (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")
    return subject_line.removeprefix("Emne: "), string.Template(text), string.Template(page)


def one_line(text: str) -> str:
    """A header's text on one line: a network's name may hold a line break or another control
    character, which a header must not (and an e-mail that cannot be written would block the queue)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def values(data: Mapping[str, Any], network: str | None, municipality: str, today: date) -> dict[str, str]:
    """What the templates may say: names, dates in words, the gathering's plan."""
    out = {"network": network or "nettverket", "kommune": municipality}
    if deadline := data.get("deadline"):
        day = date.fromisoformat(deadline)
        out["deadline"] = long_date(day)
        left = (day - today).days
        out["left"] = "i dag" if left <= 0 else "i morgen" if left == 1 else f"om {left} dager"
    if starts := data.get("starts_on"):
        first = date.fromisoformat(starts)
        last = date.fromisoformat(data["ends_on"]) if data.get("ends_on") else first
        out["when"] = long_date(first) if last == first else f"{long_date(first)} til {long_date(last)}"
        out["place"] = str(data.get("place", ""))
        out["host"] = str(data.get("host_name") or "")
        out["host_line"] = f"Vertskommune: {out['host']}" if out["host"] else "Vertskommune: ikke fastsatt"
    return out


def render(
    kind: EmailKind,
    data: Mapping[str, Any],
    *,
    network: str | None,
    municipality: str,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    now: datetime,
    today: date,
) -> EmailMessage:
    """The whole message: headers, text, HTML and (for a gathering) the .ics attachment."""
    subject, text, page = _template(template_for(kind, data))
    fill = values(data, network, municipality, today)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = one_line(string.Template(subject).substitute(fill))
    message["Message-ID"] = f"<{message_id}@{DOMAIN}>"
    message["Date"] = format_datetime(now)
    message["Content-Language"] = "nb"
    message.set_content(text.substitute(fill))
    message.add_alternative(page.substitute({k: html.escape(v) for k, v in fill.items()}), subtype="html")
    if kind in (
        EmailKind.GATHERING_SCHEDULED,
        EmailKind.GATHERING_RESCHEDULED,
        EmailKind.GATHERING_CANCELLED,
    ):
        method = "CANCEL" if kind is EmailKind.GATHERING_CANCELLED else "REQUEST"
        message.add_attachment(
            calendar(kind, data, fill, now),
            maintype="text",
            subtype="calendar",
            filename="nettverkssamling.ics",
            params={"method": method},
        )
    return message


def calendar(kind: EmailKind, data: Mapping[str, Any], fill: Mapping[str, str], now: datetime) -> bytes:
    """An iCalendar (RFC 5545) object with the gathering as one all-day VEVENT. Its UID stays the
    same for the gathering; SEQUENCE is the gathering's event sequence, so a calendar program
    replaces the earlier version; a cancellation says METHOD:CANCEL and STATUS:CANCELLED."""
    cancelled = kind is EmailKind.GATHERING_CANCELLED
    first = date.fromisoformat(data["starts_on"])
    last = date.fromisoformat(data["ends_on"]) if data.get("ends_on") else first
    cal = icalendar.Calendar()
    cal.add("prodid", "-//KS//Livskraftige kommuner//NB")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
    event = icalendar.Event()
    event.add("uid", f"{data['gathering_id']}@{DOMAIN}")
    event.add("sequence", int(data.get("sequence", 0)))
    event.add("dtstamp", now)
    event.add("dtstart", first)
    event.add("dtend", last + timedelta(days=1))  # exclusive: the day after the last
    event.add("summary", f"Nettverkssamling: {fill['network']}")
    event.add("location", fill.get("place", ""))
    event.add("description", f"Nettverkssamling i {fill['network']}. {fill.get('host_line', '')}".strip())
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return bytes(cal.to_ical())
