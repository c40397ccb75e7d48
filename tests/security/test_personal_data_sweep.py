"""Personal data sweep: after the whole seed scenario, played against every service running as a
real process, no contact's or participant's name, e-mail address or phone number is in any Kafka
record (every topic, the dead-letter topic too: key, value and headers), in any line the services
wrote to stdout or stderr, in any metric (GET /metrics: names, labels and values), nor in any
webhook another agency received.

The scenario is `livskraft demo`'s (services/devtools/demo.py), with its people replaced by
distinctive invented ones, so that any trace of them is found: steps 1-2 in the registry (each
municipality's main contact, and a project-group member with a phone number), step 3 in gatherings
(participants registered by name), and around it what the other services do with it: notify
validates and delivers webhooks of every event type and e-mails the municipalities (looking the
addresses up in the registry), indicators hears of the network and takes a value, reporting
projects everything and answers the network's report.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest
from livskraft_contracts import DEAD_LETTER_TOPIC

from services.devtools import demo
from services.devtools.clock import move_all
from services.devtools.tokens import issue_dev_token
from services.devtools.webhook_receiver import WebhookReceiver
from services.notify.domain import scope_for
from services.runtime.kafka import all_topics
from tests.conftest import eventually
from tests.faults.checks import read_topic
from tests.faults.system import System

CONTACTS = {
    kommune: (f"Zqxkontakt{kommune} Personvernsen", f"zqx.kontakt.{kommune}@sveip.example.org")
    for kommune in demo.MUNICIPALITIES
}
PROJECT_GROUP = {
    kommune: (
        f"Zqxprosjekt{kommune} Hemmeligsen",
        f"zqx.prosjekt.{kommune}@sveip.example.org",
        f"+47 93{kommune}58",
    )
    for kommune in demo.MUNICIPALITIES
}
PARTICIPANTS = {kommune: [f"Zqxdeltaker{kommune} Skjultesen"] for kommune in demo.PARTICIPANTS}


def personal_data() -> list[str]:
    """Every name, address and phone number of the scenario, and the distinctive parts of each
    (a surname, an address' local part, the phone's digits without spaces)."""
    found: set[str] = set()
    for name, email in CONTACTS.values():
        found |= {name, email, *name.split(), email.split("@")[0]}
    for name, email, phone in PROJECT_GROUP.values():
        found |= {name, email, *name.split(), email.split("@")[0], phone, phone.replace(" ", "")}
    for names in PARTICIPANTS.values():
        for name in names:
            found |= {name, *name.split()}
    return sorted(found)


def traces(haystack: str, where: str) -> list[str]:
    """`where: needle` for each piece of personal data found in `haystack` (any case)."""
    text = haystack.lower()
    return [f"{where}: {needle}" for needle in personal_data() if needle.lower() in text]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _play(system: System, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed scenario against the running processes, with the distinctive people."""
    monkeypatch.setattr(demo, "MAIN_CONTACTS", CONTACTS)
    monkeypatch.setattr(demo, "PARTICIPANT_NAMES", PARTICIPANTS)
    data = system.data_dir

    def tokens(role: str, kommune: str | None) -> str:
        return issue_dev_token(data, role, kommune=kommune)

    staff = _bearer(tokens("staff", None))
    clients = {s: httpx.AsyncClient(base_url=system.url(s), timeout=60) for s in system.runs}
    try:
        notify, registry = clients["notify"], clients["registry"]
        for kommune in demo.MUNICIPALITIES:  # organisations' mailboxes: invitations go there
            answer = await notify.put(
                f"/mailboxes/{kommune}", json={"address": f"postmottak@k{kommune}.example.no"}, headers=staff
            )
            assert answer.status_code == 200, answer.text
        agency = _bearer(
            issue_dev_token(
                data, "subscriber", subject="agency-sweep", scopes=[scope_for(t) for t in _types()]
            )
        )
        subscribed = await notify.post(
            "/subscriptions", json={"url": receiver.url("/agency"), "event_types": _types()}, headers=agency
        )
        assert subscribed.status_code == 201, subscribed.text
        subscription = subscribed.json()["id"]

        async def validated() -> bool:
            answer = await notify.get(f"/subscriptions/{subscription}", headers=agency)
            return bool(answer.json()["state"] == "active")

        await eventually(validated, timeout=60)

        outcome = await demo.play(registry, tokens, say=lambda _: None)
        for kommune, (name, email, phone) in PROJECT_GROUP.items():
            answer = await registry.post(
                f"/networks/{outcome.network_id}/enrolments/{kommune}/contacts",
                json={"role": "project-group", "name": name, "email": email, "phone": phone},
                headers=_bearer(tokens("municipality", kommune)),
            )
            assert answer.status_code == 201, answer.text
            listed = await registry.get(
                f"/networks/{outcome.network_id}/enrolments/{kommune}/contacts",
                headers=_bearer(tokens("municipality", kommune)),
            )
            assert phone in listed.text  # the registry keeps it, and answers it to its municipality

        async def move_calendar(day: date) -> None:
            await move_all(clients, day, tokens("staff", None))

        await demo.play_gatherings(
            clients["gatherings"],
            outcome.network_id,
            tokens,
            lambda network: issue_dev_token(data, "leader", networks=[network]),
            move_calendar,
            say=lambda _: None,
        )
        value = {"indicator": "nye-boliger-i-sentrum", "year": 2009, "value": 41.5, "status": "final"}
        reported = await clients["indicators"].post(
            "/municipalities/1702/values", json=value, headers=_bearer(tokens("municipality", "1702"))
        )
        assert reported.status_code in (200, 503), reported.text  # 503 until it has the codes

        reader = _bearer(tokens("reader", None))
        report = await demo._wait_for_report(clients["reporting"], outcome, reader, held=len(demo.GATHERINGS))
        assert sum(g["status"] == "held" for g in report["gatherings"]) == len(demo.GATHERINGS)

        async def emails_done() -> bool:
            answer = await notify.get("/emails", headers=staff)
            states = {e["state"] for e in answer.json()}
            return bool(answer.json()) and states <= {"sent", "failed"}

        await eventually(emails_done, timeout=60)

        async def delivered() -> bool:
            answer = await notify.get(f"/subscriptions/{subscription}/deliveries", headers=agency)
            return bool(answer.json()) and all(d["state"] == "delivered" for d in answer.json())

        await eventually(delivered, timeout=60)
        assert system.mail is not None
        assert system.mail.messages, "notify sent no e-mail: the sweep would miss what it does with addresses"
    finally:
        for client in clients.values():
            await client.aclose()


def _types() -> list[str]:
    from services.notify.schemas import EVENT_TYPES

    return list(EVENT_TYPES)


@pytest.mark.timeout(600)
async def test_no_personal_data_in_kafka_logs_metrics_or_webhooks_after_the_seed_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    found: list[str] = []
    async with WebhookReceiver() as receiver:
        async with System(tmp_path / "logs", supervise=False) as system:
            await _play(system, receiver, monkeypatch)
            records = 0
            for topic in sorted({*all_topics(), DEAD_LETTER_TOPIC}):
                for record in await read_topic(system.bootstrap, topic):
                    records += 1
                    raw = b"".join([record.key or b"", record.value or b"", *(v for _, v in record.headers)])
                    found += traces(raw.decode(errors="replace"), f"Kafka {topic} offset {record.offset}")
            assert records > 900  # the municipalities, the scenario's events, notify's

            async with httpx.AsyncClient(timeout=30) as client:
                for service in system.runs:
                    metrics = await client.get(f"{system.url(service)}/metrics")
                    assert metrics.status_code == 200
                    found += traces(metrics.text, f"metrics of {service}")
            logs = {service: system.log_text(service) for service in system.runs}
        # After the services stopped: what they wrote on the way out too.
        for service, text in logs.items():
            found += traces(system.log_text(service), f"log of {service}")
            assert "Application startup complete" in text
        assert "sent to 1 recipient(s)" in logs["notify"]  # the logs hold what notify did with addresses
        for got in receiver.received:
            found += traces(got.body.decode(errors="replace"), f"webhook {got.webhook_id}")
        assert receiver.received

    # The sweep can see: the same people are where they belong (the registry's answers above,
    # the e-mails notify sent to the contacts it looked up).
    assert system.mail is not None
    recipients = {r for caught in system.mail.messages for r in caught.recipients}
    assert recipients & {email for _, email in CONTACTS.values()}, "no e-mail reached a contact"
    assert found == [], "personal data found:\n" + "\n".join(found[:50])
