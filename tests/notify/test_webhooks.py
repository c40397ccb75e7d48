"""Webhooks by the Standard Webhooks specification, to a subscriber's server on loopback: signed
deliveries the `standardwebhooks` library verifies, validation first, retries with the same
webhook-id, 410 disabling, the retry window, secret rotation, redelivery, order per aggregate,
and only the event types the token granted.

Events are put on Kafka directly, as the registry's and the gatherings' relays would. The mock
cluster serves the whole test session, so a receiver may also get events other tests put
there a moment ago: the assertions look at this test's own events."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import httpx
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from livskraft_contracts import (
    ALL_EVENTS,
    CloudEvent,
    DecisionRecorded,
    EnrolmentConfirmed,
    Event,
    GatheringHeld,
    NotificationDelivered,
    NotificationFailed,
    from_kafka,
)
from livskraft_contracts.examples import EXAMPLES
from standardwebhooks.webhooks import Webhook

from services.devtools.webhook_receiver import Received, WebhookReceiver
from services.notify import store, webhooks
from services.notify.domain import SUBSCRIBABLE, VALIDATION_TYPE
from services.runtime.settings import Settings
from tests.conftest import eventually
from tests.kafka_reader import header, read_records


def event(kind: type[Event], sequence: int = 1, **changes: Any) -> CloudEvent[Any]:
    """A fresh event of `kind` (the catalogue's example with new ids), as its service would wrap it."""
    example = EXAMPLES[kind]
    ids = {
        name: uuid.uuid4() for name in ("network_id", "gathering_id") if name in type(example).model_fields
    }
    return CloudEvent.wrap(example.model_copy(update={**ids, **changes}), sequence=sequence)


async def subscribe(
    notify: httpx.AsyncClient, headers: dict[str, str], url: str, *types: type[Event]
) -> dict[str, Any]:
    answer = await notify.post(
        "/subscriptions", json={"url": url, "event_types": [t.ce_type() for t in types]}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    assert created["secret"].startswith("whsec_") and created["state"] == "pending"
    return created


async def active(notify: httpx.AsyncClient, headers: dict[str, str], subscription: dict[str, Any]) -> None:
    async def validated() -> bool:
        answer = await notify.get(f"/subscriptions/{subscription['id']}", headers=headers)
        return bool(answer.json()["state"] == "active")

    await eventually(validated)


def verified(secret: str, got: Received) -> Any:
    """The body, if the `standardwebhooks` library accepts the delivery's signature."""
    return Webhook(secret).verify(got.body, got.headers)


def of(receiver: WebhookReceiver, events: Sequence[CloudEvent[Any]]) -> Callable[[], list[Received]]:
    """What the receiver got of these events, in the order it got them."""
    ids = {e.id for e in events}
    return lambda: [r for r in receiver.received if r.json().get("id") in ids]


def once(
    got: Callable[[], list[Received]], ready: Callable[[list[Received]], bool]
) -> Callable[[], Awaitable[list[Received] | None]]:
    """For `eventually`: what `got` gives, once `ready` holds for it."""

    async def check() -> list[Received] | None:
        value = got()
        return value if ready(value) else None

    return check


async def database(notify: httpx.AsyncClient) -> asyncpg.Connection:
    return await asyncpg.connect(notify.app.state.settings.database_url)  # type: ignore[attr-defined]


async def test_a_subscriber_granted_two_types_gets_those_signed_and_nothing_else(
    start_notify, subscriber, publish, bootstrap
):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded, GatheringHeld)
    async with WebhookReceiver() as receiver:
        subscription = await subscribe(
            notify, agency, receiver.url("/agency"), DecisionRecorded, GatheringHeld
        )
        await active(notify, agency, subscription)
        validation = receiver.at("/agency")[0]
        assert verified(subscription["secret"], validation)["type"] == VALIDATION_TYPE
        assert verified(subscription["secret"], validation)["data"]["subscription_id"] == subscription["id"]

        every = [event(t) for t in ALL_EVENTS if t.ce_type() in SUBSCRIBABLE]
        await publish(every)
        conn = await database(notify)
        try:  # every type flowed through notify, and none of its deliveries is still due
            await eventually(
                lambda: conn.fetchval(
                    "SELECT count(*) = $2 FROM inbox WHERE event_id = ANY($1::text[])",
                    [e.id for e in every],
                    len(every),
                )
            )
            await eventually(
                lambda: conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM deliveries WHERE state = 'pending')")
            )
        finally:
            await conn.close()

        got = of(receiver, every)()
        assert sorted(r.event_type for r in got) == sorted(
            [DecisionRecorded.ce_type(), GatheringHeld.ce_type()]
        )
        assert {r.event_type for r in receiver.at("/agency")} <= {
            DecisionRecorded.ce_type(),
            GatheringHeld.ce_type(),
            VALIDATION_TYPE,
        }
        for delivery in got:
            body = verified(subscription["secret"], delivery)
            sent = next(e for e in every if e.id == body["id"])
            # The body is the CloudEvent in structured mode, as the official SDK reads it.
            read = from_http_event(HTTPMessage(headers=delivery.headers, body=delivery.body))
            assert read.get_type() == sent.type and read.get_id() == sent.id
            assert read.get_data() == sent.data.model_dump(mode="json")
            assert delivery.headers["content-type"] == "application/cloudevents+json"
            assert abs(int(delivery.headers["webhook-timestamp"]) - delivery.at) < 5

    ids = {r.webhook_id for r in got}
    records = await read_records(
        bootstrap,
        NotificationDelivered.topic(),
        until=lambda rs: ids <= {header(r, "ce_subject") for r in rs},
    )
    delivered = [r for r in records if header(r, "ce_subject") in ids]
    events = [
        from_kafka(r.headers, r.value, {NotificationDelivered.ce_type(): NotificationDelivered})
        for r in delivered
    ]
    assert {e.data.event_id for e in events} == {r.json()["id"] for r in got}
    assert all(e.data.channel == "webhook" and e.data.attempt == 1 for e in events)


async def test_refused_subscriptions_name_the_field(start_notify, subscriber, token):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded)
    url = "https://mottak.example.no/livskraft"

    async def post(headers: dict[str, str], **body: Any) -> httpx.Response:
        return await notify.post("/subscriptions", json={"url": url, **body}, headers=headers)

    not_granted = await post(agency, event_types=[GatheringHeld.ce_type()])
    assert not_granted.status_code == 403
    assert not_granted.json()["errors"][0]["field"] == "event_types"
    unknown = await post(agency, event_types=["no.ks.livskraft.registry.Nothing.v1"])
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "event_types"
    own_outcomes = await post(agency, event_types=[NotificationDelivered.ce_type()])
    assert own_outcomes.status_code == 422
    for bad in (
        "ftp://mottak.example.no/",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest",
        "http://mottak.example.no/",
    ):
        answer = await notify.post(
            "/subscriptions", json={"url": bad, "event_types": [DecisionRecorded.ce_type()]}, headers=agency
        )
        assert answer.status_code == 422, bad
        assert answer.json()["errors"][0]["field"] == "url"
    for role in ("staff", "reader"):
        answer = await post(
            {"Authorization": f"Bearer {token(role)}"}, event_types=[DecisionRecorded.ce_type()]
        )
        assert answer.status_code == 403
    # Development allows loopback, over plain http too.
    ok = await post(agency, event_types=[DecisionRecorded.ce_type()], url="http://127.0.0.1:9/hook")
    assert ok.status_code == 201, ok.text
    # Another subscriber does not see it; staff does.
    other = subscriber(DecisionRecorded)
    assert (await notify.get(f"/subscriptions/{ok.json()['id']}", headers=other)).status_code == 404
    staff = {"Authorization": f"Bearer {token('staff')}"}
    assert (await notify.get(f"/subscriptions/{ok.json()['id']}", headers=staff)).status_code == 200
    # Paging back: positions are bigints, so the largest one is the last number taken (found by
    # the fuzzer: a larger one was a 500 from the driver).
    deliveries = f"/subscriptions/{ok.json()['id']}/deliveries"
    largest = await notify.get(deliveries, params={"before": 2**63 - 1}, headers=agency)
    assert largest.status_code == 200 and largest.json() == []
    too_large = await notify.get(deliveries, params={"before": 2**63}, headers=agency)
    assert too_large.status_code == 422 and too_large.json()["errors"][0]["field"] == "before"
    assert ok.json()["id"] not in [
        s["id"] for s in (await notify.get("/subscriptions", headers=other)).json()
    ]


async def test_a_500_three_times_is_delivered_on_the_fourth_try_with_the_same_webhook_id(
    start_notify, subscriber, publish, bootstrap
):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded)
    decided = event(DecisionRecorded)
    async with WebhookReceiver(script={decided.id: [500, 500, 500]}) as receiver:
        subscription = await subscribe(notify, agency, receiver.url("/flaky"), DecisionRecorded)
        await active(notify, agency, subscription)
        await publish([decided])
        attempts = await eventually(
            once(of(receiver, [decided]), lambda rs: any(r.status == 200 for r in rs))
        )
    assert [r.status for r in attempts] == [500, 500, 500, 200]
    assert len({r.webhook_id for r in attempts}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in attempts]
    assert stamps == sorted(stamps)  # each attempt's own time, signed anew
    for attempt in attempts:
        verified(subscription["secret"], attempt)

    delivery_id = attempts[0].webhook_id

    async def logged() -> dict[str, Any] | None:  # the 200 is committed a moment after it came
        log = await notify.get(
            f"/subscriptions/{subscription['id']}/deliveries/{delivery_id}", headers=agency
        )
        assert log.status_code == 200, log.text
        return log.json() if log.json()["state"] == "delivered" else None

    delivery = await eventually(logged)
    assert delivery["attempts"] == 4
    assert [(a["status_code"], a["verdict"]) for a in delivery["attempts_log"]] == [
        (500, "retry"),
        (500, "retry"),
        (500, "retry"),
        (200, "delivered"),
    ]
    records = await read_records(
        bootstrap,
        NotificationDelivered.topic(),
        until=lambda rs: any(header(r, "ce_subject") == delivery_id for r in rs),
    )
    mine = [r for r in records if header(r, "ce_subject") == delivery_id]
    assert len(mine) == 1 and b'"attempt":4' in mine[0].value


async def test_a_410_disables_the_subscription_and_fails_what_was_pending(
    start_notify, subscriber, publish, bootstrap
):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded)
    first = event(DecisionRecorded)
    async with WebhookReceiver(script={first.id: [410]}) as receiver:
        subscription = await subscribe(notify, agency, receiver.url("/gone"), DecisionRecorded)
        await active(notify, agency, subscription)
        await publish([first])
        await eventually(once(of(receiver, [first]), bool))

        async def disabled() -> dict[str, Any] | None:
            answer = (await notify.get(f"/subscriptions/{subscription['id']}", headers=agency)).json()
            return answer if answer["state"] == "disabled" else None

        state = await eventually(disabled)
        assert "410" in state["state_reason"]
        later = event(DecisionRecorded)
        await publish([later])
        conn = await database(notify)
        try:
            await eventually(
                lambda: conn.fetchval("SELECT count(*) = 1 FROM inbox WHERE event_id = $1", later.id)
            )
        finally:
            await conn.close()
        assert of(receiver, [later])() == []  # a disabled subscription gets nothing more

    failed_id = of(receiver, [first])()[0].webhook_id
    records = await read_records(
        bootstrap,
        NotificationFailed.topic(),
        until=lambda rs: any(header(r, "ce_subject") == failed_id for r in rs),
    )
    failed = next(r for r in records if header(r, "ce_subject") == failed_id)
    data = from_kafka(failed.headers, failed.value, {NotificationFailed.ce_type(): NotificationFailed}).data
    assert (data.reason, data.status_code, data.will_retry) == ("rejected", 410, False)

    # Enabled again, it is validated again before anything is delivered.
    async with WebhookReceiver(port=receiver.port) as again:
        enabled = await notify.post(f"/subscriptions/{subscription['id']}/enable", headers=agency)
        assert enabled.status_code == 200 and enabled.json()["state"] == "pending"
        await active(notify, agency, subscription)
        assert again.at("/gone")[0].event_type == VALIDATION_TYPE


async def test_after_the_retry_window_the_delivery_fails_with_notification_failed(
    start_notify, subscriber, publish, bootstrap
):
    notify = await start_notify(webhook_retry_window_s=0.6)
    agency = subscriber(DecisionRecorded)
    decided = event(DecisionRecorded)
    async with WebhookReceiver(script={decided.id: [503] * 100}) as receiver:
        subscription = await subscribe(notify, agency, receiver.url("/down"), DecisionRecorded)
        await active(notify, agency, subscription)
        await publish([decided])

        async def failed() -> list[dict[str, Any]]:
            answer = await notify.get(
                f"/subscriptions/{subscription['id']}/deliveries", params={"state": "failed"}, headers=agency
            )
            return [d for d in answer.json() if d["event_id"] == decided.id]

        [delivery] = await eventually(failed)
    tries = of(receiver, [decided])()
    assert 3 <= len(tries) == delivery["attempts"] and {r.status for r in tries} == {503}
    records = await read_records(
        bootstrap,
        NotificationFailed.topic(),
        until=lambda rs: any(header(r, "ce_subject") == delivery["id"] for r in rs),
    )
    failure = next(r for r in records if header(r, "ce_subject") == delivery["id"])
    data = from_kafka(failure.headers, failure.value, {NotificationFailed.ce_type(): NotificationFailed}).data
    assert (data.reason, data.status_code, data.will_retry, data.attempt) == (
        "rejected",
        503,
        False,
        len(tries),
    )


async def test_a_rotated_secret_signs_beside_the_new_one_and_redelivery_keeps_the_webhook_id(
    start_notify, subscriber, publish
):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded)
    async with WebhookReceiver() as receiver:
        subscription = await subscribe(notify, agency, receiver.url("/rotating"), DecisionRecorded)
        await active(notify, agency, subscription)
        rotated = await notify.post(f"/subscriptions/{subscription['id']}/secret/rotate", headers=agency)
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != subscription["secret"] and rotated.json()["previous_valid_until"]

        decided = event(DecisionRecorded)
        await publish([decided])
        [delivery] = await eventually(once(of(receiver, [decided]), bool))
        assert len(delivery.headers["webhook-signature"].split()) == 2
        verified(new_secret, delivery)
        verified(subscription["secret"], delivery)  # the receiver may switch at its own pace

        again = await notify.post(
            f"/subscriptions/{subscription['id']}/deliveries/{delivery.webhook_id}/redeliver", headers=agency
        )
        assert again.status_code == 200, again.text
        twice = await eventually(once(of(receiver, [decided]), lambda rs: len(rs) == 2))
        assert twice[1].webhook_id == delivery.webhook_id and twice[1].body == delivery.body
        refused = await notify.post(
            f"/subscriptions/{subscription['id']}/deliveries/{uuid.uuid4()}/redeliver", headers=agency
        )
        assert refused.status_code == 404


async def test_one_aggregates_events_arrive_in_order_while_others_flow(start_notify, subscriber, publish):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded, EnrolmentConfirmed)
    network = uuid.uuid4()
    decided = event(DecisionRecorded, 1, network_id=network)
    confirmed = event(EnrolmentConfirmed, 2, network_id=network)
    elsewhere = event(DecisionRecorded, 1)
    async with WebhookReceiver(script={decided.id: [500, 500]}) as receiver:
        url = receiver.url("/ordered")
        subscription = await subscribe(notify, agency, url, DecisionRecorded, EnrolmentConfirmed)
        await active(notify, agency, subscription)
        await publish([decided, confirmed, elsewhere])
        mine = of(receiver, [decided, confirmed, elsewhere])
        await eventually(once(mine, lambda rs: len([r for r in rs if r.status == 200]) == 3))
    order = [(r.json()["id"], r.status) for r in mine()]
    first_success = order.index((decided.id, 200))
    assert order.index((confirmed.id, 200)) > first_success  # the later event waited for the earlier
    assert order.index((elsewhere.id, 200)) < first_success  # another network's did not


async def test_an_endpoint_resolving_to_an_inside_address_is_refused_when_connecting():
    settings = Settings(service="notify", allow_loopback_webhooks=False)
    async with WebhookReceiver() as receiver, webhooks.client(settings) as http:
        result, _ = await webhooks.post(http, receiver.url("/x"), "msg", b"{}", ["whsec_" + "A" * 32], 2.0)
    assert result.forbidden_address and result.status is None and result.failure == "unreachable"
    assert receiver.received == []


async def test_the_delivery_log_forgets_what_finished_long_ago(start_notify, subscriber, publish):
    notify = await start_notify()
    agency = subscriber(DecisionRecorded)
    async with WebhookReceiver() as receiver:
        subscription = await subscribe(notify, agency, receiver.url("/old"), DecisionRecorded)
        await active(notify, agency, subscription)
        old, recent = event(DecisionRecorded), event(DecisionRecorded)
        await publish([old, recent])
        await eventually(once(of(receiver, [old, recent]), lambda rs: len(rs) == 2))
    conn = await database(notify)
    try:
        await eventually(
            lambda: conn.fetchval(
                """SELECT count(*) = 2 FROM deliveries
                   WHERE event_id = ANY($1::text[]) AND state = 'delivered'""",
                [old.id, recent.id],
            )
        )
        await conn.execute(
            "UPDATE deliveries SET finished_at = now() - interval '31 days' WHERE event_id = $1", old.id
        )
        assert await store.purge(conn, 30) == 1  # the old body; the recent delivery keeps its own
        left = await conn.fetch(
            "SELECT event_id FROM deliveries WHERE event_id = ANY($1::text[])", [old.id, recent.id]
        )
        assert [r["event_id"] for r in left] == [recent.id]
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE event_id = $1", recent.id) == 1
    finally:
        await conn.close()
