"""After the load and its faults: wait for the system to settle, then look for anything lost, done
twice or answered wrongly, and count it.

- Lost: an event of a command answered 2xx that reporting never applied (its inbox, by event id);
  an indicator value answered 2xx whose IndicatorReported is not on Kafka; a subscription
  answered 201 that notify does not have; a webhook delivery never acknowledged.
- Duplicated: an event id twice in any service's inbox; a command done twice (the registry's
  events for the load's networks, the gatherings' and the indicators' outboxes, hold exactly the
  events the answers named; one gathering per network, one network per name); a webhook-id
  acknowledged twice with no fault in between (a kill of notify or a database restart between
  the receiver's answer and notify's commit sends it again, as at-least-once delivery must).
- Answers: no 500 (nor any 5xx but 503), every 503 a problem with Retry-After, every command
  answered in the end; every outbox drained; the services' logs hold no "Exception in ASGI
  application" and no "unexpected error".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from livskraft_contracts import IndicatorReported, NetworkCreated

from services.devtools.webhook_receiver import WebhookReceiver
from services.notify.app import SPEC as NOTIFY
from tests.faults.chaos import Chaos
from tests.faults.load import Load
from tests.faults.system import System
from tests.kafka_reader import header

SETTLE_S = 180.0


@dataclass
class Figures:
    commands: int = 0
    attempts: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    """Final answers: 2xx, 4xx, 5xx."""
    unavailable_503: int = 0
    connection_errors: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    restarts_by_supervisor: Counter[str] = field(default_factory=Counter)
    broker_outages: int = 0
    postgres_restarts: int = 0
    events: int = 0
    lost: dict[str, list[str]] = field(default_factory=dict)
    duplicated: dict[str, list[str]] = field(default_factory=dict)
    webhooks_acknowledged: int = 0
    webhooks_again_after_a_fault: int = 0
    outbox_undrained: dict[str, int] = field(default_factory=dict)
    logged: Counter[str] = field(default_factory=Counter)
    bad_answers: list[str] = field(default_factory=list)
    settled_in_s: float = 0.0

    @property
    def lost_count(self) -> int:
        return sum(len(v) for v in self.lost.values())

    @property
    def duplicated_count(self) -> int:
        return sum(len(v) for v in self.duplicated.values())

    def failures(self) -> list[str]:
        found = []
        for what, items in (*self.lost.items(), *self.duplicated.items()):
            if items:
                found.append(f"{what}: {len(items)}, e.g. {items[:3]}")
        found += [f"outbox of {s} not drained: {n} rows" for s, n in self.outbox_undrained.items() if n]
        found += self.bad_answers[:10]
        for what in ("Exception in ASGI application", "unexpected error answering"):
            if self.logged[what]:
                found.append(f"logged {self.logged[what]} times: {what!r}")
        return found

    def report(self, title: str) -> str:
        kills = ", ".join(f"{s} {n}" for s, n in sorted(self.kills.items())) or "none"
        supervised = sum(self.restarts_by_supervisor.values())
        lines = [
            f"== {title}",
            f"commands {self.commands} (attempts {self.attempts}): "
            f"{self.answered['2xx']} 2xx, {self.answered['4xx']} 4xx, {self.answered['5xx']} 5xx; "
            f"503s {self.unavailable_503}, connection errors {self.connection_errors} (retried, same key)",
            f"kills {sum(self.kills.values())} ({kills}), restarts by liveness {supervised}, "
            f"broker outages {self.broker_outages}, PostgreSQL restarts {self.postgres_restarts}",
            f"faults logged: {self.logged['transient fault answering']} transient (503) warnings, "
            f"{self.logged['unexpected error answering']} unexpected errors, "
            f"{self.logged['Exception in ASGI application']} 'Exception in ASGI application'",
            f"events answered {self.events}; lost {self.lost_count}; duplicated {self.duplicated_count}; "
            f"webhooks acknowledged {self.webhooks_acknowledged} "
            f"(again after a fault: {self.webhooks_again_after_a_fault}); "
            f"settled in {self.settled_in_s:.1f} s",
        ]
        return "\n".join(lines)


def _errors(log: str) -> list[str]:
    """The services' 500s (and what the server logged of them), each with its exception."""
    found = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", "")) if isinstance(entry, dict) else ""
        if message.startswith(("unexpected error answering", "Exception in ASGI application")):
            exception = str(entry.get("exception", "")).strip().splitlines()
            found.append(f"{message} {exception[-1] if exception else ''}")
    return found


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record of `topic`, from the beginning to its end now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


class Databases:
    """A connection to each service's database, for the checks."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.conns: dict[str, asyncpg.Connection] = {}

    async def __aenter__(self) -> Databases:
        for service in self.system.runs:
            self.conns[service] = await asyncpg.connect(self.system.database_url(service))
        return self

    async def __aexit__(self, *_: object) -> None:
        for conn in self.conns.values():
            await conn.close()

    def __getitem__(self, service: str) -> asyncpg.Connection:
        return self.conns[service]


async def _expected_by_reporting(db: Databases, load: Load) -> set[str]:
    created = await db["registry"].fetch(
        "SELECT id::text FROM outbox WHERE type = $1 AND aggregate_id = ANY($2::text[])",
        NetworkCreated.ce_type(),
        load.answered.networks,
    )
    ids = {r["id"] for r in created}
    return ids | load.answered.events.get("registry", set()) | load.answered.events.get("gatherings", set())


async def _expected_by_notify(db: Databases, reporting_expects: set[str]) -> set[str]:
    """Of the events reporting must apply, those notify subscribes to: until notify has consumed
    them, it may still record webhook deliveries."""
    types = [t.ce_type() for t in NOTIFY.consumes.event_types]
    found: set[str] = set()
    for service in ("registry", "gatherings"):
        rows = await db[service].fetch(
            "SELECT id::text FROM outbox WHERE id::text = ANY($1::text[]) AND type = ANY($2::text[])",
            list(reporting_expects),
            types,
        )
        found |= {r["id"] for r in rows}
    return found


async def settle(system: System, load: Load, timeout: float = SETTLE_S) -> float:
    """Wait until reporting has applied every event answered, notify has consumed every one it
    subscribes to and has no delivery, validation or e-mail pending, and every outbox is drained.
    Returns how long it took."""
    started = time.monotonic()
    await asyncio.gather(*(run.healthy() for run in system.runs.values()))
    async with Databases(system) as db:
        expected = await _expected_by_reporting(db, load)
        for_notify = await _expected_by_notify(db, expected)

        async def settled() -> bool:
            # Work that makes events first, the outboxes last: a delivery or an e-mail finished
            # between the two looks would otherwise leave its event in an outbox unseen.
            applied = await db["reporting"].fetchval(
                "SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY($1::text[])", list(expected)
            )
            if applied < len(expected):
                return False
            consumed = await db["notify"].fetchval(
                "SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY($1::text[])",
                list(for_notify),
            )
            if consumed < len(for_notify):
                return False
            pending = await db["notify"].fetchval(
                """SELECT (SELECT count(*) FROM deliveries WHERE state = 'pending')
                        + (SELECT count(*) FROM subscriptions WHERE state = 'pending')
                        + (SELECT count(*) FROM emails WHERE state = 'pending')"""
            )
            if pending:
                return False
            for service in system.runs:
                if await db[service].fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                    return False
            return True

        while time.monotonic() - started < timeout:
            try:
                if await settled():
                    return time.monotonic() - started
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
            await asyncio.sleep(0.5)
    raise AssertionError(
        f"the system did not settle within {timeout} s: an outbox not drained, events answered but not "
        "applied by reporting or not consumed by notify, or webhooks or e-mails still pending"
    )


async def verify(system: System, load: Load, chaos: Chaos, receiver: WebhookReceiver) -> Figures:
    figures = Figures()
    tally = load.tally
    figures.commands = tally.total
    figures.attempts = sum(tally.attempts.values())
    for status, n in tally.final.items():
        figures.answered[f"{status // 100}xx"] += n
    figures.unavailable_503 = tally.attempts[503]
    figures.connection_errors = tally.connection_errors
    figures.kills = Counter(system.kills)
    figures.restarts_by_supervisor = Counter(system.restarts_by_supervisor)
    figures.broker_outages = chaos.count("broker")
    figures.postgres_restarts = chaos.count("postgres")
    figures.bad_answers = [
        *(f"5xx: {e}" for e in tally.server_errors),
        *(f"503 without a problem or Retry-After: {e}" for e in tally.malformed_503),
        *(f"never answered: {e}" for e in tally.gave_up),
    ]
    for service in system.runs:
        text = system.log_text(service)
        for what in (
            "transient fault answering",
            "unexpected error answering",
            "Exception in ASGI application",
        ):
            figures.logged[what] += text.count(what)
        figures.bad_answers += [f"{service} logged: {line}" for line in _errors(text)]

    async with Databases(system) as db:
        expected = await _expected_by_reporting(db, load)
        figures.events = len(expected) + len(load.answered.events.get("indicators", set()))
        applied = {
            r["event_id"]
            for r in await db["reporting"].fetch(
                "SELECT event_id FROM inbox WHERE event_id = ANY($1::text[])", list(expected)
            )
        }
        figures.lost["events reporting never applied"] = sorted(expected - applied)

        for service in system.runs:
            figures.outbox_undrained[service] = await db[service].fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            twice = await db[service].fetch(
                "SELECT event_id FROM inbox GROUP BY event_id HAVING count(*) > 1 LIMIT 10"
            )
            figures.duplicated[f"event ids twice in {service}'s inbox"] = [r["event_id"] for r in twice]

        # Every command done once: exactly the events the answers named, one network per name.
        registry_events = {
            r["id"]
            for r in await db["registry"].fetch(
                "SELECT id::text FROM outbox WHERE aggregate_id = ANY($1::text[])", load.answered.networks
            )
        }
        answered_registry = expected - load.answered.events.get("gatherings", set())
        figures.duplicated["registry events no answer named"] = sorted(registry_events - answered_registry)
        figures.lost["registry events answered but not written"] = sorted(answered_registry - registry_events)
        networks = await db["registry"].fetchval(
            "SELECT count(*) FROM networks WHERE name LIKE $1", f"{load.network_name_prefix}%"
        )
        figures.duplicated["networks created twice"] = ["network"] * max(
            0, networks - len(load.answered.networks)
        )
        gatherings_events = {r["id"] for r in await db["gatherings"].fetch("SELECT id::text FROM outbox")}
        answered_gatherings = load.answered.events.get("gatherings", set())
        figures.duplicated["gatherings events no answer named"] = sorted(
            gatherings_events - answered_gatherings
        )
        twice = await db["gatherings"].fetch(
            "SELECT network_id::text FROM gatherings GROUP BY network_id HAVING count(*) > 1"
        )
        figures.duplicated["gatherings scheduled twice"] = [r["network_id"] for r in twice]
        participants = await db["gatherings"].fetchval("SELECT count(*) FROM participants")
        figures.duplicated["participants registered twice"] = ["participant"] * max(
            0, participants - load.answered.participants
        )
        reported = {
            r["id"]
            for r in await db["indicators"].fetch(
                "SELECT id::text FROM outbox WHERE type = $1", IndicatorReported.ce_type()
            )
        }
        answered_values = load.answered.events.get("indicators", set())
        figures.duplicated["indicator values no answer named"] = sorted(reported - answered_values)
        subscriptions = {r["id"] for r in await db["notify"].fetch("SELECT id::text FROM subscriptions")}
        figures.lost["subscriptions answered but missing"] = sorted(
            set(load.answered.subscriptions) - subscriptions
        )
        figures.duplicated["subscriptions no answer named"] = sorted(
            subscriptions - set(load.answered.subscriptions)
        )

        deliveries = await db["notify"].fetch("SELECT id::text, state FROM deliveries")
        validations = await db["notify"].fetch("SELECT id::text, state FROM subscriptions")

    on_kafka = {header(r, "ce_id") for r in await read_topic(system.bootstrap, IndicatorReported.topic())}
    figures.lost["indicator values not on Kafka"] = sorted(answered_values - on_kafka)

    _webhooks(figures, chaos, receiver, deliveries, validations)
    return figures


def _webhooks(
    figures: Figures,
    chaos: Chaos,
    receiver: WebhookReceiver,
    deliveries: list[Any],
    subscriptions: list[Any],
) -> None:
    acknowledged: dict[str, list[float]] = {}
    for got in receiver.received:
        if 200 <= got.status < 300:
            acknowledged.setdefault(got.webhook_id, []).append(got.at)
    figures.webhooks_acknowledged = sum(len(v) for v in acknowledged.values())
    excusing = [f for f in chaos.log if (f.kind, f.target) in (("kill", "notify"), ("postgres", "server"))]
    unexcused = []
    for webhook_id, times in acknowledged.items():
        if len(times) < 2:
            continue
        first, last = min(times), max(times)
        if any(first - 2 <= f.started <= last for f in excusing):
            figures.webhooks_again_after_a_fault += len(times) - 1
        else:
            unexcused.append(webhook_id)
    figures.duplicated["webhooks acknowledged twice with no fault between"] = unexcused
    figures.lost["webhook deliveries not delivered"] = [
        f"{d['id']} {d['state']}" for d in deliveries if d["state"] != "delivered"
    ]
    figures.lost["webhook deliveries recorded but never acknowledged"] = [
        d["id"] for d in deliveries if d["state"] == "delivered" and d["id"] not in acknowledged
    ]
    figures.lost["subscriptions never validated"] = [s["id"] for s in subscriptions if s["state"] != "active"]
