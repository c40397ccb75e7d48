"""E-mail over SMTP to aiosmtpd on loopback, read back: recipients, subject, the bokmål text and
HTML, and a gathering's .ics parsed by `icalendar`. Addresses come from the real registry (in this
process) through notify's own credential; none is ever logged.

The gatherings service's events are put on Kafka directly, as its relay would."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

import html5lib
import httpx
import icalendar
from livskraft_contracts import (
    CloudEvent,
    GatheringCancelled,
    GatheringRescheduled,
    GatheringScheduled,
    MunicipalityRef,
    NotificationDelivered,
    NotificationFailed,
)

from services.devtools.mail_catcher import Caught, MailCatcher
from services.notify import rendering
from services.notify.contacts import RegistryContacts
from services.notify.domain import EmailKind
from tests.conftest import eventually
from tests.e2e.test_backbone import DECISION, SEED_NETWORK
from tests.kafka_reader import header, read_records

DAY = date(2010, 1, 20)
STEINKJER = "1702"
MAILBOX = "postmottak@steinkjer.kommune.example"
KARI = ("Kari Nordmann", "kari.nordmann@steinkjer.kommune.example")


def use_registry(notify: httpx.AsyncClient, registry: httpx.AsyncClient, token: Any) -> None:
    """notify asks this registry (in the test's process) for contacts, with a staff token."""
    transport = httpx.ASGITransport(app=registry.app)  # type: ignore[attr-defined]
    http = httpx.AsyncClient(transport=transport, base_url="http://registry")
    notify.app.state.contacts = RegistryContacts(http, lambda: token("staff"))  # type: ignore[attr-defined]


async def steinkjer_confirmed(registry: httpx.AsyncClient, token: Any) -> str:
    """A network with Steinkjer invited, enrolled, its main contact named and its decision recorded."""
    staff = {"Authorization": f"Bearer {token('staff')}"}
    own = {"Authorization": f"Bearer {token('municipality', kommune=STEINKJER)}"}
    created = await registry.post("/networks", json=SEED_NETWORK, headers=staff)
    assert created.status_code == 201, created.text
    network = str(created.json()["id"])
    for path, body, who in [
        ("/invitations", {"kommunenummer": STEINKJER}, staff),
        ("/enrolments", {"kommunenummer": STEINKJER}, own),
        (
            f"/enrolments/{STEINKJER}/contacts",
            {"role": "main-contact", "name": KARI[0], "email": KARI[1]},
            own,
        ),
        (f"/enrolments/{STEINKJER}/decisions", DECISION, own),
    ]:
        answer = await registry.post(f"/networks/{network}{path}", json=body, headers=who)
        assert answer.status_code == 201, (path, answer.text)
    return network


def mails(mail: MailCatcher, subject_part: str, to: str) -> Any:
    async def check() -> list[Caught]:
        return [m for m in mail.to(to) if subject_part in str(m.message["Subject"])]

    return check


def parts(caught: Caught) -> tuple[str, str, list[tuple[str, bytes]]]:
    """The plain text, the HTML, and the attachments (content type, bytes)."""
    message = caught.message
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    attachments = [(a.get_content_type(), a.get_payload(decode=True)) for a in message.iter_attachments()]
    return text.get_content(), page.get_content(), attachments


def plan(
    kind: type[GatheringScheduled], gathering: uuid.UUID, network: str, sequence: int, **when: Any
) -> Any:
    data = kind(
        gathering_id=gathering,
        network_id=uuid.UUID(network),
        place="Steinkjer kulturhus",
        host=MunicipalityRef(kommunenummer=STEINKJER, valid_on=DAY),
        **when,
    )
    return CloudEvent.wrap(data, sequence=sequence, source="/livskraft/gatherings")


async def test_contacts_get_bokmal_mail_and_a_gathering_comes_with_its_ics(
    start_service, start_notify, mail, token, publish, bootstrap, caplog
):
    caplog.set_level(logging.INFO)
    registry = await start_service("registry", today=DAY)
    notify = await start_notify(today=DAY)
    use_registry(notify, registry, token)
    staff = {"Authorization": f"Bearer {token('staff')}"}
    box = await notify.put(f"/mailboxes/{STEINKJER}", json={"address": MAILBOX}, headers=staff)
    assert box.status_code == 200, box.text

    network = await steinkjer_confirmed(registry, token)

    [invitation] = await eventually(mails(mail, "Invitasjon til kommunenettverket", MAILBOX))
    assert invitation.recipients == [MAILBOX]
    assert (
        str(invitation.message["Subject"])
        == "Invitasjon til kommunenettverket «Natur- og kulturbasert nyskaping»"
    )
    text, page, attachments = parts(invitation)
    assert text.startswith("Hei,") and "er invitert til å delta i kommunenettverket" in text
    assert "Med vennlig hilsen" in text and attachments == []
    assert html5lib.parse(page, namespaceHTMLElements=False).find("body") is not None
    assert "<strong>«Natur- og kulturbasert nyskaping»</strong>" in page

    [confirmed] = await eventually(mails(mail, "er bekreftet", KARI[1]))
    assert confirmed.recipients == [KARI[1]]  # the main contact, not the mailbox
    assert "Påmeldingen fra" in parts(confirmed)[0] and "er bekreftet" in parts(confirmed)[0]

    # The gatherings service plans, moves and cancels a gathering of the network.
    gathering = uuid.uuid4()
    await publish([plan(GatheringScheduled, gathering, network, 1, starts_on=date(2010, 4, 21))])
    [scheduled] = await eventually(mails(mail, "Nettverkssamling onsdag 21. april 2010", KARI[1]))
    text, page, attachments = parts(scheduled)
    assert "Hvor: Steinkjer kulturhus" in text and "Når:  onsdag 21. april 2010" in text
    [(kind, ics)] = attachments
    assert kind == "text/calendar"
    calendar = icalendar.Calendar.from_ical(ics)
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{gathering}@livskraft.ks.no"
    assert event.decoded("DTSTART") == date(2010, 4, 21) and event.decoded("DTEND") == date(2010, 4, 22)
    assert str(event["LOCATION"]) == "Steinkjer kulturhus" and int(event["SEQUENCE"]) == 1
    assert str(event["SUMMARY"]) == "Nettverkssamling: Natur- og kulturbasert nyskaping"

    await publish(
        [
            plan(
                GatheringRescheduled,
                gathering,
                network,
                2,
                starts_on=date(2010, 4, 28),
                ends_on=date(2010, 4, 29),
            )
        ]
    )
    [moved] = await eventually(mails(mail, "Endret nettverkssamling", KARI[1]))
    assert "onsdag 28. april 2010 til torsdag 29. april 2010" in str(moved.message["Subject"])
    [event] = icalendar.Calendar.from_ical(parts(moved)[2][0][1]).walk("VEVENT")
    assert str(event["UID"]) == f"{gathering}@livskraft.ks.no" and int(event["SEQUENCE"]) == 2
    assert event.decoded("DTEND") == date(2010, 4, 30)

    await publish([plan(GatheringCancelled, gathering, network, 3, starts_on=date(2010, 4, 28))])
    [cancelled] = await eventually(mails(mail, "Avlyst nettverkssamling", KARI[1]))
    calendar = icalendar.Calendar.from_ical(parts(cancelled)[2][0][1])
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 3

    # The e-mail log says what went where by kind and count, never by address.
    log = await notify.get("/emails", params={"network_id": network}, headers=staff)
    assert log.status_code == 200, log.text
    kinds = {e["kind"]: e for e in log.json()}
    assert {"invitation", "enrolment-confirmed", "gathering-scheduled", "gathering-cancelled"} <= set(kinds)
    assert kinds["invitation"]["recipients"] == 1 and "@" not in log.text
    sent = kinds["gathering-cancelled"]["id"]
    records = await read_records(
        bootstrap,
        NotificationDelivered.topic(),
        until=lambda rs: any(header(r, "ce_subject") == sent for r in rs),
    )
    assert b'"channel":"email"' in next(r.value for r in records if header(r, "ce_subject") == sent)

    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "sent to 1 recipient(s)" in ours  # (mail.log is the test's SMTP server, not notify)
    for secret in (MAILBOX, KARI[1], KARI[0], "whsec_"):
        assert secret not in ours


async def test_with_nobody_to_write_to_the_notification_fails(
    start_service, start_notify, mail, token, bootstrap
):
    registry = await start_service("registry", today=DAY)
    notify = await start_notify(today=DAY)
    use_registry(notify, registry, token)
    staff = {"Authorization": f"Bearer {token('staff')}"}
    created = await registry.post("/networks", json=SEED_NETWORK, headers=staff)
    network = created.json()["id"]
    invited = await registry.post(
        f"/networks/{network}/invitations", json={"kommunenummer": "1719"}, headers=staff
    )
    assert invited.status_code == 201, invited.text

    async def failed() -> list[dict[str, Any]]:
        answer = await notify.get(
            "/emails", params={"network_id": network, "kind": "invitation"}, headers=staff
        )
        return [e for e in answer.json() if e["state"] == "failed"]

    [email] = await eventually(failed)
    assert email["last_reason"] == "no-recipient" and email["kommunenummer"] == "1719"
    records = await read_records(
        bootstrap,
        NotificationFailed.topic(),
        until=lambda rs: any(header(r, "ce_subject") == email["id"] for r in rs),
    )
    value = next(r.value for r in records if header(r, "ce_subject") == email["id"])
    assert b'"reason":"no-recipient"' in value and b'"will_retry":false' in value
    assert mail.messages == [] or all("1719" not in str(m.message["Subject"]) for m in mail.messages)


async def test_an_email_that_cannot_be_written_fails_alone_and_the_next_one_goes_out(
    start_service, start_notify, mail, token, monkeypatch, caplog
):
    """A bug in one template (injected here: the invitation's writer raises) fails that e-mail at
    once; it does not hold up the enrolment e-mail behind it, and no address reaches the log."""
    real_render = rendering.render

    def broken_invitations(kind: EmailKind, *args: Any, **kwargs: Any) -> Any:
        if kind is EmailKind.INVITATION:
            raise ValueError(f"cannot write to {kwargs['recipients']}")
        return real_render(kind, *args, **kwargs)

    monkeypatch.setattr(rendering, "render", broken_invitations)
    registry = await start_service("registry", today=DAY)
    notify = await start_notify(today=DAY)
    use_registry(notify, registry, token)
    staff = {"Authorization": f"Bearer {token('staff')}"}
    box = await notify.put("/mailboxes/1702", json={"address": MAILBOX}, headers=staff)
    assert box.status_code == 200, box.text
    network = (await registry.post("/networks", json=SEED_NETWORK, headers=staff)).json()["id"]
    for path, body in (("invitations", {"kommunenummer": "1702"}), ("enrolments", {"kommunenummer": "1702"})):
        answer = await registry.post(f"/networks/{network}/{path}", json=body, headers=staff)
        assert answer.status_code == 201, answer.text

    async def emails() -> dict[str, dict[str, Any]] | None:
        answer = await notify.get("/emails", params={"network_id": network}, headers=staff)
        found = {e["kind"]: e for e in answer.json()}
        done = {"invitation", "enrolment-received"} <= set(found)
        return found if done and all(e["state"] != "pending" for e in found.values()) else None

    found = await eventually(emails)
    assert found["invitation"]["state"] == "failed" and found["invitation"]["last_reason"] == "rejected"
    assert found["enrolment-received"]["state"] == "sent"
    assert [m for m in mail.messages if "Invitasjon" in str(m.message["Subject"])] == []
    assert "cannot be written (ValueError)" in caplog.text
    assert MAILBOX not in caplog.text
