"""The seed's scenario (DOMAIN.md) for notify: the municipality without a decision (1736, Snåsa)
gets its reminder before the deadline of 15 February 2010, and a subscribing agency receives
DecisionRecorded and GatheringHeld, verified with `standardwebhooks`, and nothing else.

The registry runs in this process and is driven by the same `demo.play` as `livskraft demo`.
GatheringHeld is put on Kafka as the gatherings service's relay would."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from livskraft_contracts import (
    Attendance,
    CloudEvent,
    DecisionRecorded,
    GatheringHeld,
    MunicipalityRef,
    RoleCategory,
)
from standardwebhooks.webhooks import Webhook

from services.devtools import demo
from services.devtools.webhook_receiver import Received, WebhookReceiver
from services.notify.domain import VALIDATION_TYPE
from services.runtime.clock import Clock
from tests.conftest import eventually
from tests.notify.test_email import use_registry
from tests.notify.test_webhooks import active, subscribe


async def test_snasa_is_reminded_before_the_deadline_and_the_agency_gets_decisions_and_gatherings(
    start_service, start_notify, mail, token, subscriber, publish
):
    registry = await start_service("registry", today=demo.SCENARIO_DAY)
    notify = await start_notify(today=demo.SCENARIO_DAY)
    use_registry(notify, registry, token)
    agency = subscriber(DecisionRecorded, GatheringHeld, subject="statsforvalteren-i-nord-trondelag")
    async with WebhookReceiver() as receiver:
        subscription = await subscribe(
            notify, agency, receiver.url("/livskraft"), DecisionRecorded, GatheringHeld
        )
        await active(notify, agency, subscription)
        outcome = await demo.play(registry, lambda role, kommune: token(role, kommune), lambda _: None)
        network = outcome.network_id

        def ours() -> list[Received]:
            return [r for r in receiver.received if r.json().get("data", {}).get("network_id") == network]

        async def decisions() -> list[Received] | None:
            got = [r for r in ours() if r.event_type == DecisionRecorded.ce_type()]
            return got if len(got) == 4 else None

        decided = await eventually(decisions)
        kommuner = sorted(
            Webhook(subscription["secret"]).verify(r.body, r.headers)["data"]["municipality"]["kommunenummer"]
            for r in decided
        )
        assert kommuner == ["1702", "1719", "1724", "1729"]  # not 1736: it has no decision

        # Step 3: the network's gathering is held (the gatherings service's event).
        held = GatheringHeld(
            gathering_id=uuid.uuid4(),
            network_id=uuid.UUID(network),
            held_on=date(2010, 4, 21),
            attendance=[
                Attendance(
                    municipality=MunicipalityRef(kommunenummer="1702", valid_on=date(2010, 4, 21)),
                    role_category=RoleCategory.POLITICIAN,
                    count=2,
                )
            ],
        )
        await publish([CloudEvent.wrap(held, sequence=1, source="/livskraft/gatherings")])

        async def gathering() -> list[Received]:
            return [r for r in ours() if r.event_type == GatheringHeld.ce_type()]

        [got] = await eventually(gathering)
        assert (
            Webhook(subscription["secret"]).verify(got.body, got.headers)["data"]["held_on"] == "2010-04-21"
        )
        allowed = {DecisionRecorded.ce_type(), GatheringHeld.ce_type(), VALIDATION_TYPE}
        assert {r.event_type for r in receiver.received} <= allowed  # nothing it was not granted

    # Before the deadline: 1 February, 14 days before it, Snåsa's main contact is reminded.
    notify.app.state.clock = Clock(date(2010, 2, 1))  # type: ignore[attr-defined]
    anne = demo.MAIN_CONTACTS[demo.WITHOUT_DECISION][1]

    async def reminder() -> list[Any]:
        return [m for m in mail.to(anne) if str(m.message["Subject"]).startswith("Påminnelse")]

    [mail_to_anne] = await eventually(reminder)
    assert "politisk vedtak mangler" in str(mail_to_anne.message["Subject"])
    text = mail_to_anne.message.get_body(preferencelist=("plain",)).get_content()
    assert "Natur- og kulturbasert nyskaping" in text and "mandag 15. februar 2010 (om 14 dager)" in text
    staff = {"Authorization": f"Bearer {token('staff')}"}

    async def logged() -> list[tuple[str, int, str]]:
        query = {"network_id": network, "kind": "reminder"}
        sent = (await notify.get("/emails", params=query, headers=staff)).json()
        return [(e["kommunenummer"], e["reminder_days"], e["state"]) for e in sent if e["state"] == "sent"]

    assert await eventually(logged) == [("1736", 14, "sent")]
