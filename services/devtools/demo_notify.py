"""notify's part of `livskraft demo` (services/devtools/demo.py calls these in turn).

- Before the scenario: programme staff set the five municipalities' official mailboxes
  (postmottak), and the county governor's system subscribes to DecisionRecorded and GatheringHeld
  with a webhook endpoint this demo runs on loopback (development allows loopback endpoints).
- After step 2: the calendar moves to 1 February 2010, 14 days before the enrolment deadline, and
  notify reminds the municipality without a decision (Snåsa, 1736) by e-mail; the demo shows the
  message `livskraft dev` kept in `.livskraft/mail/`.
- At the end: what the agency's system received, every delivery's signature checked.
The addresses are invented and end in `.example`; no mail leaves the machine.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from livskraft_contracts import DecisionRecorded, GatheringHeld

from services.devtools.clock import ClockRefused
from services.devtools.webhook_receiver import WebhookReceiver
from services.notify.domain import scope_for, verify

MAILBOXES = {
    "1702": "postmottak@steinkjer.kommune.example",
    "1724": "postmottak@verran.kommune.example",
    "1736": "postmottak@snasa.kommune.example",
    "1729": "postmottak@inderoy.kommune.example",
    "1719": "postmottak@levanger.kommune.example",
}
AGENCY = "statsforvalteren-i-nord-trondelag"
REMINDER_DAY = date(2010, 2, 1)
Say = Callable[[str], None]


@dataclass
class Agency:
    """The county governor's system: its endpoint (this process), subscription and secret."""

    receiver: WebhookReceiver
    subscription_id: str = ""
    secret: str = ""

    def events(self, network_id: str) -> list[dict[str, Any]]:
        """The deliveries about the network whose signature checks (at the time each came)."""
        found = []
        for got in self.receiver.received:
            if verify(self.secret, got.headers, got.body, now=int(got.at)):
                body = got.json()
                if body.get("data", {}).get("network_id") == network_id:
                    found.append(body)
        return found


async def prepare(
    notify: httpx.AsyncClient, staff: str, subscriber: str, receiver: WebhookReceiver, say: Say
) -> Agency:
    """Mailboxes set, and the agency's subscription made and validated by its endpoint."""
    for kommune, address in MAILBOXES.items():
        answer = await notify.put(f"/mailboxes/{kommune}", json={"address": address}, headers=_bearer(staff))
        if answer.status_code != 200:
            raise RuntimeError(f"mailbox {kommune}: {answer.status_code} {answer.text}")
    agency = Agency(receiver)
    types = [DecisionRecorded.ce_type(), GatheringHeld.ce_type()]
    created = await notify.post(
        "/subscriptions",
        json={"url": receiver.url("/livskraft"), "event_types": types},
        headers=_bearer(subscriber),
    )
    if created.status_code != 201:
        raise RuntimeError(f"subscription: {created.status_code} {created.text}")
    agency.subscription_id, agency.secret = created.json()["id"], created.json()["secret"]
    await _until(
        lambda: _state(notify, agency.subscription_id, subscriber), "active", "the endpoint's validation"
    )
    say(
        "   notify: the five municipalities' mailboxes are set, and the county governor's system "
        f"subscribed to DecisionRecorded and GatheringHeld at {receiver.url('/livskraft')} (validated)"
    )
    return agency


async def remind(
    notify: httpx.AsyncClient,
    staff: str,
    network_id: str,
    without_decision: tuple[str, str],
    move_calendar: Callable[[date], Awaitable[None]],
    mail_folder: Path | None,
    say: Say,
) -> None:
    """The calendar moves to 14 days before the deadline; notify reminds the municipality that
    has no decision yet. Waits first until notify has seen the scenario's confirmations."""

    async def confirmations() -> int:
        answer = await notify.get(
            "/emails",
            params={"network_id": network_id, "kind": "enrolment-confirmed"},
            headers=_bearer(staff),
        )
        return len(answer.json()) if answer.status_code == 200 else 0

    await _until(confirmations, 4, "notify's view of the enrolments")
    try:
        await move_calendar(REMINDER_DAY)
    except ClockRefused:  # the calendar is past it already: the reminder due now goes out
        pass

    async def reminders() -> list[dict[str, Any]]:
        answer = await notify.get(
            "/emails", params={"network_id": network_id, "kind": "reminder"}, headers=_bearer(staff)
        )
        return [e for e in answer.json() if e["state"] == "sent"] if answer.status_code == 200 else []

    sent = await _until(reminders, None, "the reminder")
    kommune, name = without_decision
    reminded = ", ".join(e["kommunenummer"] for e in sent)
    mine = next((e for e in sent if e["kommunenummer"] == kommune), sent[0])
    subject, kept = _kept(mail_folder, mine["id"])
    where = f" (kept in {kept})" if kept else ""
    say(
        f"   Calendar moved to {REMINDER_DAY.isoformat()}, 14 days before the deadline: notify reminded "
        f"{name} ({reminded}) by e-mail: «{subject}»{where}"
    )
    kinds = await notify.get("/emails", params={"network_id": network_id}, headers=_bearer(staff))
    counts: dict[str, int] = {}
    for e in kinds.json():
        counts[e["kind"]] = counts.get(e["kind"], 0) + (e["state"] == "sent")
    say(
        "   notify's e-mails about the network so far: "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    )


async def show_agency(agency: Agency, network_id: str, decisions: int, gatherings: int, say: Say) -> None:
    """Step 5: what the agency's system received about the network, signatures checked."""

    async def received() -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for body in agency.events(network_id):
            counts[body["type"]] = counts.get(body["type"], 0) + 1
        return counts

    wanted = {DecisionRecorded.ce_type(): decisions, GatheringHeld.ce_type(): gatherings}
    counts = await _until(received, wanted, "the agency's deliveries")
    others = {
        got.event_type
        for got in agency.receiver.received
        if got.event_type not in (*wanted, "no.ks.livskraft.notify.SubscriptionValidation.v1")
    }
    say(
        f"5. The county governor's system received {counts[DecisionRecorded.ce_type()]} DecisionRecorded and "
        f"{counts[GatheringHeld.ce_type()]} GatheringHeld about the network, each signed by the Standard "
        f"Webhooks scheme and verified; other event types it received: {sorted(others) or 'none'}"
    )


def _kept(folder: Path | None, email_id: str) -> tuple[str, str]:
    """The subject of the kept message with this id (Message-ID), and its file."""
    for path in sorted(folder.glob("*.eml")) if folder and folder.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if email_id in str(message.get("Message-ID", "")):
            return str(message["Subject"]), str(path)
    return "Påminnelse", ""


async def _state(notify: httpx.AsyncClient, subscription_id: str, subscriber: str) -> str:
    answer = await notify.get(f"/subscriptions/{subscription_id}", headers=_bearer(subscriber))
    return str(answer.json().get("state")) if answer.status_code == 200 else ""


async def _until(check: Callable[[], Awaitable[Any]], wanted: Any, what: str, timeout_s: float = 60) -> Any:
    """`check()` once it gives `wanted` (or anything truthy, when `wanted` is None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if (value == wanted) if wanted is not None else value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"notify: {what} did not come within {timeout_s:.0f} s (last: {value!r})")
        await asyncio.sleep(0.2)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def subscriber_token(data: Path) -> str:
    from services.devtools.tokens import issue_dev_token

    scopes = [scope_for(t.ce_type()) for t in (DecisionRecorded, GatheringHeld)]
    return issue_dev_token(data, "subscriber", subject=AGENCY, scopes=scopes)
