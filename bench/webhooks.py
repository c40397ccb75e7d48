"""Webhook deliveries per second to a local receiver with 100 subscriptions, and the delay from an
event on Kafka to its delivery (median, 99th percentile), in one run.

    uv run python bench/webhooks.py [--subscriptions 100] [--rate 12] [--seconds 10] [--burst 100]

As deployed, each part is a process of its own: notify (`livskraft serve notify`, its defaults:
4 webhook workers, batches of 100), the receiver (services/devtools/webhook_receiver.py, one
loopback port, a path per subscription, answering 200), and this driver, which hosts librdkafka's
mock cluster and the embedded PostgreSQL and puts DecisionRecorded events on Kafka as the
registry's relay would, each of a network of its own (so no delivery waits for another).

1. Steady: `rate` events a second for `seconds`, each delivered to every subscription
   (12 events/s x 100 subscriptions = 1,200 deliveries/s). Delay = when the receiver got a delivery
   minus the event's `time` (set the moment it is put on Kafka); median and p99 over every delivery.
2. Burst: `burst` events at once (10,000 deliveries); deliveries/s = deliveries / (last received -
   first event put on Kafka). Every delivery is signed, logged in notify's database, and answered
   by a NotificationDelivered through notify's outbox.
The receiver counts each webhook-id once; a duplicate is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from livskraft_contracts import CloudEvent, DecisionRecorded, to_kafka
from livskraft_contracts.examples import EXAMPLES

from services.devtools.dev import wait_healthy, with_database
from services.devtools.embedded_kafka import MockKafkaCluster
from services.devtools.embedded_postgres import EmbeddedPostgres
from services.devtools.tokens import issue_dev_token
from services.devtools.webhook_receiver import Received, WebhookReceiver
from services.notify.domain import scope_for
from services.runtime.kafka import all_topics


def _receive(port_out: Any, stop: Any, results: Any) -> None:
    """The receiver process: answers 200, notes (webhook-id, event time, received at)."""
    seen: list[tuple[str, float, float]] = []

    def note(got: Received) -> None:
        stamp = json.loads(got.body).get("time")
        if stamp:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            seen.append((got.webhook_id, sent, got.at))

    async def run() -> None:
        async with WebhookReceiver(on_receive=note) as receiver:
            receiver.received = _Discard()  # keep only the notes, not every request
            port_out.send(receiver.port)
            while not stop.is_set():
                await asyncio.sleep(0.1)
                results.send(len(seen))
        results.send(seen)

    asyncio.run(run())


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        pass


def events(n: int) -> list[CloudEvent[Any]]:
    example = EXAMPLES[DecisionRecorded]
    return [
        CloudEvent.wrap(example.model_copy(update={"network_id": uuid.uuid4()}), sequence=1) for _ in range(n)
    ]


async def put(producer: AIOKafkaProducer, batch: list[CloudEvent[Any]]) -> None:
    """Put events on Kafka now (their `time` is set here, as a relay publishes them)."""
    futures = []
    for event in batch:
        fresh = event.model_copy(update={"time": datetime.now(UTC)})
        key, value, headers = to_kafka(fresh)
        futures.append(await producer.send(fresh.topic, value, key=key, headers=headers))
    await asyncio.gather(*futures)


async def main(subscriptions: int, rate: int, seconds: int, burst: int) -> None:
    cluster = MockKafkaCluster(brokers=3)
    cluster.create_topics(all_topics(), partitions=3)
    data = Path(tempfile.mkdtemp())
    postgres = EmbeddedPostgres(data / "pg", throwaway=True)
    spawn = multiprocessing.get_context("spawn")
    port_in, port_out = spawn.Pipe()
    results_in, results_out = spawn.Pipe()
    stop = spawn.Event()
    receiver = spawn.Process(target=_receive, args=(port_out, stop, results_out), daemon=True)
    notify: subprocess.Popen[bytes] | None = None
    try:
        server = postgres.url()
        admin = await asyncpg.connect(server)
        await admin.execute('CREATE DATABASE "bench_notify"')
        await admin.close()
        receiver.start()
        port = port_in.recv()
        notify_port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": with_database(server, "bench_notify"),
            "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
            "LIVSKRAFT_HTTP_PORT": str(notify_port),
            "LIVSKRAFT_DATA_DIR": str(data),
            "LIVSKRAFT_LOG_LEVEL": "WARNING",
            "LIVSKRAFT_RELAY_POLL_INTERVAL_S": "0.2",
        }
        command = [sys.executable, "-m", "services.cli", "serve", "notify"]
        notify = subprocess.Popen(command, env=env)  # noqa: ASYNC220 - started once, before measuring
        url = f"http://127.0.0.1:{notify_port}"
        if not await asyncio.to_thread(wait_healthy, url, 90):
            raise RuntimeError("notify did not start")
        token = issue_dev_token(
            data, "subscriber", subject="bench", scopes=[scope_for(DecisionRecorded.ce_type())]
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            for i in range(subscriptions):
                body = {"url": f"http://127.0.0.1:{port}/s/{i}", "event_types": [DecisionRecorded.ce_type()]}
                (await client.post("/subscriptions", json=body)).raise_for_status()
            while any(s["state"] != "active" for s in (await client.get("/subscriptions")).json()):  # noqa: ASYNC110
                await asyncio.sleep(0.2)

        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all", linger_ms=1)
        await producer.start()

        async def received(at_least: int, deadline_s: float) -> int:
            deadline = time.monotonic() + deadline_s
            count = 0
            while time.monotonic() < deadline:
                while results_in.poll():
                    count = results_in.recv()
                if count >= at_least:
                    return count
                await asyncio.sleep(0.05)
            raise RuntimeError(f"only {count} of {at_least} deliveries arrived")

        # 1. Steady rate.
        steady = events(rate * seconds)
        started = time.perf_counter()
        for second in range(seconds):
            for i in range(rate):
                await put(producer, [steady[second * rate + i]])
                target = started + second + (i + 1) / rate
                await asyncio.sleep(max(0.0, target - time.perf_counter()))
        expected = len(steady) * subscriptions
        await received(expected, 120)
        steady_s = time.perf_counter() - started

        # 2. A burst.
        burst_events = events(burst)
        burst_started = time.time()
        await put(producer, burst_events)
        await received(expected + burst * subscriptions, 300)
        await producer.stop()
        breakdown = await _breakdown(with_database(server, "bench_notify"), burst_started)
        stop.set()
        seen: list[tuple[str, float, float]] = []
        while not isinstance(seen, list) or not seen:
            message = await asyncio.to_thread(results_in.recv)
            if isinstance(message, list):
                seen = message
    finally:
        stop.set()
        if notify is not None:
            notify.terminate()
            notify.wait(30)
        receiver.join(10)
        cluster.close()
        postgres.close()

    ids = [w for w, _, _ in seen]
    duplicates = len(ids) - len(set(ids))
    steady_rows = seen[:expected]
    delays = sorted((got - sent) * 1000 for _, sent, got in steady_rows)
    last_burst = max(got for _, _, got in seen[expected:])
    burst_rate = burst * subscriptions / (last_burst - burst_started)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"subscriptions: {subscriptions}; each event delivered to all of them, signed, logged, answered")
    print(f"steady: {rate} events/s for {seconds} s = {rate * subscriptions:,} deliveries/s offered")
    print(
        f"  delivered {len(steady_rows):,} in {steady_s:.1f} s = "
        f"{len(steady_rows) / steady_s:8,.0f} deliveries/s"
    )
    print(
        f"  delay event on Kafka -> delivered: median {statistics.median(delays):6.1f} ms, p99 {p99:6.1f} ms"
    )
    print(
        f"burst: {burst} events = {burst * subscriptions:,} deliveries in {last_burst - burst_started:.1f} s"
    )
    print(f"  = {burst_rate:8,.0f} deliveries/s")
    print(f"duplicate webhook-ids received: {duplicates}")
    print(
        "medians over the run, from notify's rows: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in breakdown.items())
    )


async def _breakdown(url: str, since: float) -> dict[str, float]:
    """Where the time goes, from notify's own rows (medians, ms), for the steady phase and the
    burst apart: the event's time to its delivery rows (consumer and fan-out), those rows to the
    attempt's record (workers, HTTP, commit), and the HTTP request alone."""
    conn = await asyncpg.connect(url)
    try:
        found: dict[str, float] = {}
        for phase, burst in (("steady", False), ("burst", True)):
            row = await conn.fetchrow(
                """WITH d AS (
                       SELECT d.id, d.created_at,
                              (convert_from(m.body, 'UTF8')::json->>'time')::timestamptz AS sent
                       FROM deliveries d JOIN messages m USING (event_id))
                   SELECT percentile_cont(0.5)
                              WITHIN GROUP (ORDER BY extract(epoch FROM d.created_at - d.sent)) AS q,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.at - d.created_at))
                              AS s,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) AS h
                   FROM d JOIN delivery_attempts a ON a.delivery_id = d.id
                   WHERE (d.sent >= to_timestamp($1)) = $2""",
                since,
                burst,
            )
            found[f"{phase}: to delivery rows"] = row["q"] * 1000
            found[f"{phase}: to attempt recorded"] = row["s"] * 1000
            found[f"{phase}: HTTP request"] = row["h"]
        return found
    finally:
        await conn.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--rate", type=int, default=12, help="events per second in the steady phase")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100, help="events put on Kafka at once")
    args = parser.parse_args()
    asyncio.run(main(args.subscriptions, args.rate, args.seconds, args.burst))
