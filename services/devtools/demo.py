"""The seed's scenario (docs/domain.md), played through the public HTTP APIs.

`play(...)` is used by `livskraft demo` against a running `livskraft dev` and by the end-to-end
test against services in the test process: the same steps, the same checks.

1. KS creates the network "Natur- og kulturbasert nyskaping" in Nord-Trøndelag, themes kulturarv
   and produksjon-forbruk, enrolment deadline 15 February 2010.
2. Five municipalities are invited; four enrol, each recording a political decision and a main
   contact; one enrols, names its contact, but has no decision by the deadline.
notify's part (services/devtools/demo_notify.py): before step 1 the county governor's system
subscribes to DecisionRecorded and GatheringHeld (a webhook endpoint this demo runs on loopback);
after step 2 the calendar moves to 14 days before the deadline and the municipality without a
decision is reminded by e-mail; at the end, what the agency received, signatures checked.
The seed does not name the five municipalities of the NAKU pilot; these five Nord-Trøndelag
municipalities (codes valid in 2010) stand in for them. The people are invented.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from services.devtools import demo_notify
from services.devtools.webhook_receiver import WebhookReceiver

SCENARIO_DAY = date(2010, 1, 20)
NETWORK = {
    "name": "Natur- og kulturbasert nyskaping",
    "themes": ["kulturarv", "produksjon-forbruk"],
    "county": "17",
    "region": "Nord-Trøndelag",
    "period_start": "2010-01-01",
    "period_end": "2010-12-31",
    "enrolment_deadline": "2010-02-15",
}
MUNICIPALITIES = {
    "1702": "Steinkjer",
    "1724": "Verran",
    "1736": "Snåase - Snåsa",
    "1729": "Inderøy",
    "1719": "Levanger",
}
WITHOUT_DECISION = "1736"
MAIN_CONTACTS = {
    "1702": ("Kari Nordmann", "kari.nordmann@example.org"),
    "1724": ("Ola Nordmann", "ola.nordmann@example.org"),
    "1736": ("Anne Eksempel", "anne.eksempel@example.org"),
    "1729": ("Per Eksempel", "per.eksempel@example.org"),
    "1719": ("Lise Prøve", "lise.prove@example.org"),
}

Tokens = Callable[[str, str | None], str]


@dataclass
class Outcome:
    """What the scenario did: the network, and the ids of the events it caused, by event type."""

    network_id: str = ""
    events: dict[str, list[str]] = field(default_factory=dict)
    overview: dict[str, Any] = field(default_factory=dict)

    def add(self, step: str, answer: httpx.Response) -> None:
        if answer.status_code >= 300:
            raise RuntimeError(f"{step}: {answer.status_code} {answer.text}")
        accepted = answer.json()
        for event_id, event_type in zip(accepted["event_ids"], accepted["event_types"], strict=True):
            self.events.setdefault(event_type.split(".")[-2], []).append(event_id)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def play(registry: httpx.AsyncClient, tokens: Tokens, say: Callable[[str], None] = print) -> Outcome:
    outcome = Outcome()
    staff = _bearer(tokens("staff", None))
    created = await registry.post("/networks", json=NETWORK, headers=staff)
    if created.status_code != 201:
        raise RuntimeError(f"create network: {created.status_code} {created.text}")
    outcome.network_id = network = created.json()["id"]
    say(
        f"1. KS created the network '{NETWORK['name']}' ({network}), deadline {NETWORK['enrolment_deadline']}"
    )

    for kommune in MUNICIPALITIES:
        outcome.add(
            "invite",
            await registry.post(
                f"/networks/{network}/invitations", json={"kommunenummer": kommune}, headers=staff
            ),
        )
    say(f"2. Invited {len(MUNICIPALITIES)} municipalities: {', '.join(MUNICIPALITIES.values())}")

    for kommune, name in MUNICIPALITIES.items():
        own = _bearer(tokens("municipality", kommune))
        base = f"/networks/{network}/enrolments"
        outcome.add("enrol", await registry.post(base, json={"kommunenummer": kommune}, headers=own))
        person, email = MAIN_CONTACTS[kommune]
        outcome.add(
            "contact",
            await registry.post(
                f"{base}/{kommune}/contacts",
                json={"role": "main-contact", "name": person, "email": email},
                headers=own,
            ),
        )
        if kommune == WITHOUT_DECISION:
            say(f"   {name} ({kommune}) enrolled and named its main contact, but has no decision yet")
            continue
        outcome.add(
            "decision",
            await registry.post(
                f"{base}/{kommune}/decisions",
                json={
                    "body": "kommunestyre",
                    "meeting_date": "2010-01-14",
                    "case_number": f"2010/{kommune[2:]}",
                    "decision_date": "2010-01-14",
                    "final": True,
                    "summary": f"{name} kommune deltar i nettverket for natur- og kulturbasert nyskaping.",
                },
                headers=own,
            ),
        )
        say(f"   {name} ({kommune}) enrolled, recorded its decision and main contact: confirmed")

    overview = await registry.get("/overview", headers=staff)
    outcome.overview = next(n for n in overview.json() if n["id"] == network)
    o = outcome.overview
    say(
        f"   Coordinator's view: {o['statuses']}, {o['days_to_deadline']} days to the deadline, "
        f"missing a decision: {o['missing_decision']}"
    )
    return outcome


# -- Step 3: gatherings (services/gatherings) -----------------------------------------------------

GATHERINGS: dict[str, dict[str, Any]] = {
    "spring": {
        "starts_on": "2010-04-21",
        "start_time": "10:00",
        "end_time": "16:00",
        "place": "Steinkjer rådhus",
        "host": "1702",
        "capacity": 40,
        "registration_deadline": "2010-04-07",
    },
    "autumn": {
        "starts_on": "2010-09-15",
        "start_time": "10:00",
        "end_time": "15:30",
        "place": "Levanger, Staup gård",
        "host": "1719",
        "capacity": 40,
        "registration_deadline": "2010-09-01",
    },
}
AUTUMN_MOVED: dict[str, Any] = {
    **GATHERINGS["autumn"],
    "starts_on": "2010-09-22",
    "registration_deadline": "2010-09-08",
    "reason": "Kollisjon med kommunestyremøtet i Levanger",
}
AGENDAS: dict[str, list[dict[str, Any]]] = {
    "spring": [
        {"kind": "session", "starts_at": "10:00", "ends_at": "10:30", "title": "Velkommen ved vertskommunen"},
        {
            "kind": "case",
            "starts_at": "10:30",
            "ends_at": "11:15",
            "title": "Kulturarv som grunnlag for reiseliv",
            "kommunenummer": "1702",
            "theme": "kulturarv",
        },
        {
            "kind": "talk",
            "starts_at": "11:15",
            "ends_at": "12:00",
            "title": "Natur- og kulturbasert næringsutvikling",
            "resource": {"name": "NTNU", "kind": "university"},
        },
        {
            "kind": "case",
            "starts_at": "13:00",
            "ends_at": "13:45",
            "title": "Lokalmat og grønt reiseliv",
            "kommunenummer": "1729",
            "theme": "produksjon-forbruk",
        },
        {"kind": "session", "starts_at": "14:00", "ends_at": "16:00", "title": "Erfaringsdeling"},
    ],
    "autumn": [
        {"kind": "session", "starts_at": "10:00", "ends_at": "10:30", "title": "Velkommen"},
        {
            "kind": "case",
            "starts_at": "10:30",
            "ends_at": "11:15",
            "title": "Stiftelsen av et kulturlandskapsråd",
            "kommunenummer": "1719",
            "theme": "kulturarv",
        },
        {
            "kind": "talk",
            "starts_at": "11:15",
            "ends_at": "12:00",
            "title": "Statlige virkemidler for kulturlandskap",
            "resource": {"name": "Fylkesmannen i Nord-Trøndelag", "kind": "county-governor"},
        },
        {
            "kind": "case",
            "starts_at": "13:00",
            "ends_at": "13:45",
            "title": "Fra gårdsbutikk til matklynge",
            "kommunenummer": "1724",
            "theme": "produksjon-forbruk",
        },
        {"kind": "session", "starts_at": "14:00", "ends_at": "15:30", "title": "Erfaringsdeling"},
    ],
}
PARTICIPANTS = {  # per municipality: politicians, top management, department staff
    "1702": {"politician": 2, "management": 1, "department": 2},
    "1724": {"politician": 1, "management": 1, "department": 1},
    "1729": {"politician": 2, "management": 1, "department": 1},
    "1719": {"politician": 1, "management": 1, "department": 2},
}
PARTICIPANT_NAMES = {"1702": ["Kari Nordmann"], "1719": ["Lise Prøve"]}  # invented; kept in gatherings only
ABSENT = {"spring": ("1724", "department"), "autumn": ("1729", "politician")}  # one who did not come


@dataclass
class GatheringsOutcome:
    """What step 3 did: the gatherings by name, the events it caused by type, the feed's address."""

    gatherings: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[str]] = field(default_factory=dict)
    feed_url: str = ""

    def add(self, step: str, answer: httpx.Response) -> dict[str, Any]:
        if answer.status_code >= 300:
            raise RuntimeError(f"{step}: {answer.status_code} {answer.text}")
        accepted: dict[str, Any] = answer.json()
        for event_id, event_type in zip(accepted["event_ids"], accepted["event_types"], strict=True):
            self.events.setdefault(event_type.split(".")[-2], []).append(event_id)
        return accepted


async def play_gatherings(
    gatherings: httpx.AsyncClient,
    network_id: str,
    tokens: Tokens,
    leader_token: Callable[[str], str],
    move_calendar: Callable[[date], Awaitable[None]],
    say: Callable[[str], None] = print,
) -> GatheringsOutcome:
    """Step 3: the network's leader schedules two gatherings and moves one; the members register
    their participants; the calendar moves on to each gathering's day, and each is recorded held
    with its attendance by role category."""
    outcome = GatheringsOutcome()
    leader = _bearer(leader_token(network_id))
    staff = _bearer(tokens("staff", None))
    members = {k for k in MUNICIPALITIES if k != WITHOUT_DECISION}
    deadline = time.monotonic() + 30
    while True:  # the registry's events reach the gatherings service over Kafka
        known = await gatherings.get(f"/networks/{network_id}", headers=staff)
        if known.status_code == 200 and members <= {
            m["kommunenummer"] for m in known.json()["members"] if m["status"] == "confirmed"
        }:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"gatherings did not learn the network's members: {known.text}")
        await asyncio.sleep(0.2)
    for name, plan in GATHERINGS.items():
        accepted = outcome.add(
            f"schedule {name}",
            await gatherings.post(f"/networks/{network_id}/gatherings", json=plan, headers=leader),
        )
        outcome.gatherings[name] = gathering = accepted["gathering_id"]
        answer = await gatherings.put(
            f"/gatherings/{gathering}/agenda", json={"items": AGENDAS[name]}, headers=leader
        )
        if answer.status_code != 200:
            raise RuntimeError(f"agenda {name}: {answer.status_code} {answer.text}")
        step = "3." if name == "spring" else "  "
        say(
            f"{step} The network's leader scheduled a gathering on {plan['starts_on']} in {plan['place']}, "
            "with its agenda"
        )
    autumn = outcome.gatherings["autumn"]
    outcome.add(
        "reschedule",
        await gatherings.post(f"/gatherings/{autumn}/reschedule", json=AUTUMN_MOVED, headers=leader),
    )
    say(f"   ... and moved the autumn one to {AUTUMN_MOVED['starts_on']}: {AUTUMN_MOVED['reason']}")

    for name, gathering in outcome.gatherings.items():
        for kommune, counts in PARTICIPANTS.items():
            names = iter(PARTICIPANT_NAMES.get(kommune, []))
            lines = [
                {"role_category": role, "count": count, "names": [n] if (n := next(names, None)) else []}
                for role, count in counts.items()
            ]
            outcome.add(
                f"register {kommune} for {name}",
                await gatherings.post(
                    f"/gatherings/{gathering}/registrations",
                    json={"kommunenummer": kommune, "participants": lines},
                    headers=_bearer(tokens("municipality", kommune)),
                ),
            )
        resource = {
            "kommunenummer": GATHERINGS[name]["host"],
            "participants": [{"role_category": "resource", "count": 1}],
        }
        outcome.add(
            f"register the resource for {name}",
            await gatherings.post(f"/gatherings/{gathering}/registrations", json=resource, headers=leader),
        )
    registered = len(outcome.events["ParticipantRegistered"])
    say(f"   The members registered {registered} participants by role category (names stay in gatherings)")

    issued = await gatherings.post("/calendar/feeds", json={"network_id": network_id}, headers=staff)
    if issued.status_code != 201:
        raise RuntimeError(f"feed: {issued.status_code} {issued.text}")
    outcome.feed_url = issued.json()["url"]
    say(f"   The network's calendar (iCalendar, for any calendar program): {outcome.feed_url}")

    for name, gathering in outcome.gatherings.items():
        day = date.fromisoformat(
            AUTUMN_MOVED["starts_on"] if name == "autumn" else GATHERINGS[name]["starts_on"]
        )
        await move_calendar(day)
        attendance: list[dict[str, Any]] = [
            {
                "kommunenummer": kommune,
                "role_category": role,
                "count": count - ((kommune, role) == ABSENT[name]),
            }
            for kommune, counts in PARTICIPANTS.items()
            for role, count in counts.items()
        ]
        attendance.append(
            {"kommunenummer": GATHERINGS[name]["host"], "role_category": "resource", "count": 1}
        )
        cases = [
            {"kommunenummer": i["kommunenummer"], "title": i["title"]}
            for i in AGENDAS[name]
            if i["kind"] == "case"
        ]
        held = {
            "attendance": attendance,
            "cases_presented": cases,
            "experience_sharing": {
                "notes": "Kommunene delte erfaringer fra arbeidet med egne case.",
                "good_examples": [{"title": cases[0]["title"], "kommunenummer": cases[0]["kommunenummer"]}],
            },
        }
        outcome.add(
            f"held {name}", await gatherings.post(f"/gatherings/{gathering}/held", json=held, headers=leader)
        )
        came = sum(a["count"] for a in attendance)
        say(
            f"   Calendar moved to {day.isoformat()}: the gathering was held, {came} attended, "
            f"{len(cases)} cases presented"
        )
    return outcome


def _calendars(urls: dict[str, str], staff: str) -> Callable[[date], Awaitable[None]]:
    """Moves every running service's calendar (`livskraft dev` runs them in development)."""
    from services.devtools.clock import move_all

    async def move(day: date) -> None:
        clients = {name: httpx.AsyncClient(base_url=url, timeout=10) for name, url in urls.items()}
        try:
            await move_all(clients, day, staff)
        finally:
            for client in clients.values():
                await client.aclose()

    return move


def _calendar_today(info: dict[str, Any], data: Path) -> date | None:
    """The running registry's today: the calendar may have moved on since `livskraft dev` started."""
    from services.devtools.tokens import issue_dev_token

    try:
        answer = httpx.get(
            f"{info['services']['registry']}/dev/clock",
            headers=_bearer(issue_dev_token(data, "reader")),
            timeout=5,
        )
    except httpx.HTTPError:
        return None
    return date.fromisoformat(answer.json()["today"]) if answer.status_code == 200 else None


def run_demo(data_dir: str) -> int:
    """`livskraft demo`: play the scenario against the system `livskraft dev` started."""
    from services.devtools.tokens import issue_dev_token

    data = Path(data_dir)
    info_file = data / "dev.json"
    if not info_file.exists():
        print(f"No running system: {info_file} is missing. Start `livskraft dev --today 2010-01-20` first.")
        return 1
    info = json.loads(info_file.read_text())
    started = date.fromisoformat(info["today"]) if info.get("today") else date.today()
    today = _calendar_today(info, data) or started
    if not date(2010, 1, 1) <= today <= date(2010, 2, 15):
        print(
            f"The system's calendar says {today}; the seed's scenario happens before the enrolment "
            "deadline of 15 February 2010.\nRestart it with `livskraft dev --today 2010-01-20`."
        )
        return 1

    def tokens(role: str, kommune: str | None) -> str:
        return issue_dev_token(data, role, kommune=kommune)

    async def main() -> int:
        urls = info["services"]
        async with (
            httpx.AsyncClient(base_url=urls["registry"], timeout=120) as registry,
            httpx.AsyncClient(base_url=urls["reporting"], timeout=30) as reporting,
            httpx.AsyncClient(base_url=urls["notify"], timeout=30) as notify,
            WebhookReceiver() as endpoint,  # the county governor's system, on loopback
        ):
            await _municipalities(registry, _bearer(tokens("staff", None)))
            staff = tokens("staff", None)
            agency = await demo_notify.prepare(
                notify, staff, demo_notify.subscriber_token(data), endpoint, print
            )
            outcome = await play(registry, tokens)
            written = sum(len(v) for v in outcome.events.values()) + 1
            print(f"   The registry wrote {written} events through its outbox to Kafka.")
            mail = info.get("mail") or {}
            folder = Path(mail["kept_in"]) if isinstance(mail, dict) and mail.get("kept_in") else None
            without = (WITHOUT_DECISION, MUNICIPALITIES[WITHOUT_DECISION])
            await demo_notify.remind(
                notify, staff, outcome.network_id, without, _calendars(urls, staff), folder, print
            )
            async with httpx.AsyncClient(base_url=urls["gatherings"], timeout=30) as gatherings:
                await play_gatherings(
                    gatherings,
                    outcome.network_id,
                    tokens,
                    lambda network: issue_dev_token(data, "leader", networks=[network]),
                    _calendars(urls, tokens("staff", None)),
                )
            report = await _wait_for_report(
                reporting, outcome, _bearer(tokens("reader", None)), held=len(GATHERINGS)
            )
            await _show_reporting(reporting, report, urls["reporting"])
            if "indicators" in urls:
                async with httpx.AsyncClient(base_url=urls["indicators"], timeout=30) as indicators:
                    await play_indicators(indicators, reporting, tokens)
            decided = len(outcome.events["DecisionRecorded"])
            await demo_notify.show_agency(agency, outcome.network_id, decided, len(GATHERINGS), print)
        return 0

    return asyncio.run(main())


INDICATOR = "klimagassutslipp-per-innbygger"
INDICATOR_VALUES = {  # tonnes CO2-equivalents per inhabitant: 2009 final, 2010 provisional
    "1702": (6.12, 5.84),
    "1724": (9.41, 9.02),
    "1736": (12.30, 11.75),
    "1729": (7.24, 6.93),
    "1719": (5.51, 5.60),
}


async def play_indicators(
    indicators: httpx.AsyncClient,
    reporting: httpx.AsyncClient,
    tokens: Tokens,
    say: Callable[[str], None] = print,
    compare: str = "1702",
) -> dict[str, Any]:
    """Step 5: each municipality reports its greenhouse gas emissions per inhabitant for 2009
    (final) and 2010 (preliminary) through the indicators service (IndicatorReported); reporting
    compares Steinkjer's 2010 value with its own 2009, its network, its county and the country."""
    years = (SCENARIO_DAY.year - 1, SCENARIO_DAY.year)
    deadline = time.monotonic() + 60
    for kommune, values in INDICATOR_VALUES.items():
        own = _bearer(tokens("municipality", kommune))
        for year, value, status in zip(years, values, ("final", "preliminary"), strict=True):
            body = {"indicator": INDICATOR, "year": year, "status": status, "value": value}
            while True:
                answer = await indicators.post(f"/municipalities/{kommune}/values", json=body, headers=own)
                if answer.status_code != 503 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)  # the municipality codes are still on their way from the registry
            if answer.status_code != 200 and answer.status_code != 201:
                raise RuntimeError(f"report {kommune} {year}: {answer.status_code} {answer.text}")
    say(
        f"5. {len(INDICATOR_VALUES)} municipalities reported greenhouse gas emissions per inhabitant "
        f"({INDICATOR}) for {years[0]} (final) and {years[1]} (preliminary): IndicatorReported"
    )
    reader = _bearer(tokens("reader", None))
    path = f"/indicators/{INDICATOR}/comparisons/{compare}?year={years[1]}"
    comparison: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = await reporting.get(path, headers=reader)
        if answer.status_code == 200:
            comparison = answer.json()
            country = next(g for g in comparison["groups"] if g["kind"] == "country")
            if country["count"] >= len(INDICATOR_VALUES) and len(comparison["own_years"]) >= 2:
                break
        await asyncio.sleep(0.3)
    else:
        say("   Reporting did not show the values within 60 s.")
        return comparison
    unit = comparison["indicator"]["unit"]
    value = comparison["value"]
    say(
        f"   {comparison['name']} ({comparison['kommunenummer']}) {years[1]}: {value['value']} {unit}"
        f"{' (preliminary)' if value['provisional'] else ''}; own years: "
        + ", ".join(f"{o['year']} {o['value']}" for o in comparison["own_years"])
    )
    for g in comparison["groups"]:
        where = g["standing"]
        if g["median"] is None:
            say(f"   {g['label']}: no values yet")
            continue
        say(
            f"   {g['label']}: {g['count']} of {g['members']} with a value, median {g['median']:.2f}, "
            f"quartiles {g['q1']:.2f} and {g['q3']:.2f}"
            + (f"; rank {where['rank']} of {where['of']} (lower is better): {where['text']}" if where else "")
        )
    say(
        f"   Fetch it: {reporting.base_url}{path.lstrip('/')} (reader token); the dataset, public: "
        f"{reporting.base_url}statistics/indicator-{INDICATOR}"
    )
    return comparison


async def _municipalities(registry: httpx.AsyncClient, staff: dict[str, str]) -> None:
    """Step 0: the registry knows the municipalities through time, from the SSB KLASS data it
    carries (imported when it started on an empty database); importing it again changes nothing."""
    answer = await registry.post("/municipalities/import", json={"source": "bundled"}, headers=staff)
    if answer.status_code != 200:
        print(f"0. Municipalities not imported ({answer.json().get('detail')}).")
        return
    counts = answer.json()
    known = counts["registered"] + counts["changed"] + counts["unchanged"]
    print(
        f"0. The registry knows {known} municipality versions from SSB KLASS (bundled, 2006-2024); "
        f"importing them again: {counts['registered']} new, {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged"
    )
    chain: list[str] = []
    ref: dict[str, str] | None = {"kommunenummer": "1702", "valid_on": "2010-01-20"}
    while ref and len(chain) < 5:
        version = (
            await registry.get(f"/municipalities/{ref['kommunenummer']}?on={ref['valid_on']}", headers=staff)
        ).json()
        chain.append(f"{version['kommunenummer']} from {version['valid_from']}")
        ref = version["successors"][0] if version["successors"] else None
    print(f"   Steinkjer through time: {' -> '.join(chain)}")


async def _wait_for_report(
    reporting: httpx.AsyncClient, outcome: Outcome, headers: dict[str, str], held: int = 0
) -> dict[str, Any]:
    """The reporting projection, once it shows every decision the scenario recorded and the
    gatherings held."""
    deadline = time.monotonic() + 30
    report: dict[str, Any] = {"members": [], "gatherings": []}
    while time.monotonic() < deadline:
        answer = await reporting.get(f"/reports/networks/{outcome.network_id}", headers=headers)
        if answer.status_code == 200:
            report = answer.json()
            decided = sum(len(m["decisions"]) for m in report["members"])
            done = sum(g["status"] == "held" and bool(g["attendance"]) for g in report["gatherings"])
            if decided == len(outcome.events["DecisionRecorded"]) and done >= held:
                return report
        await asyncio.sleep(0.2)
    print("Reporting did not catch up within 30 s.", file=sys.stderr)
    return report


ROLE_NAMES = {
    "politician": "politicians",
    "management": "top management",
    "department": "department staff",
    "resource": "resource",
}


async def _show_reporting(reporting: httpx.AsyncClient, report: dict[str, Any], base: str) -> None:
    """Step 4: the network, members, decisions, gatherings and attendance as reporting has them
    from the events, and the national networks-per-theme table as JSON-stat, with where to fetch it."""
    print(f"4. Reporting, from the events on Kafka ({base}/reports/networks/{report.get('network_id', '')}):")
    if report.get("name"):
        print(
            f"   {report['name']}: {', '.join(report['themes'])}; "
            f"{report['period_start']} to {report['period_end']}, county {report['county']}"
        )
    for member in report["members"]:
        decisions = ", ".join(d["case_number"] for d in member["decisions"]) or "no decision"
        bodies = ", ".join(f"{d['body']} {d['decision_date']}" for d in member["decisions"])
        contacts = ", ".join(f"{role} {n}" for role, n in member.get("contacts", {}).items()) or "none"
        print(
            f"   {member['kommunenummer']} {MUNICIPALITIES.get(member['kommunenummer'], '')}: "
            f"{member['status']}, {decisions}{f' ({bodies})' if bodies else ''}; contacts by role: {contacts}"
        )
    for g in report.get("gatherings", []):
        by_role = g["attendance_by_role"]
        came = ", ".join(f"{by_role[role]} {name}" for role, name in ROLE_NAMES.items() if role in by_role)
        print(
            f"   Gathering in {g['place']}, {g['status']} {g['held_on'] or g['starts_on']}: "
            f"{came or 'no attendance yet'}; {len(g['cases_presented'])} cases presented"
        )
    answer = await reporting.get("/statistics/networks-per-theme")
    if answer.status_code != 200:
        print(f"   The national statistics did not answer: {answer.status_code}")
        return
    document = answer.json()
    year = str(SCENARIO_DAY.year)
    themes = document["dimension"]["tema"]["category"]
    years = document["dimension"]["tid"]["category"]["index"]
    if year in years:
        status = document.get("status", {})
        print(f"   National statistics (JSON-stat 2.0 {document['class']}), networks per theme in {year}:")
        for t, theme in enumerate(themes["index"]):
            position = t * len(years) + years.index(year)  # tema x statistikkvariabel (1) x tid
            mark = " (provisional)" if status.get(str(position)) == "p" else ""
            print(f"     {document['value'][position]:>3}  {themes['label'][theme]}{mark}")
    print(
        f"   Fetch it, no token needed: {base}/statistics (a JSON-stat collection of every dataset), "
        f"{base}/statistics/networks-per-theme (JSON-stat 2.0; ?format=csv or Accept: text/csv for CSV)"
    )
