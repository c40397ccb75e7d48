"""Rebuild rate of the reporting projection, beside raw aiokafka consumption of the same topics.

    uv run python bench/rebuild.py [--events 100000 1000000]

For each size N, on a fresh librdkafka mock cluster (3 brokers) and a fresh reporting database in
the embedded PostgreSQL, in one process:
- N records of every type reporting consumes are produced to their topics, as the registry's and
  gatherings' relays would: networks of ~45 events each (created, invitations, enrolments,
  decisions, contacts by role, a withdrawal, closed) with three gatherings of ~18 events each
  (scheduled, rescheduled, participants, held with attendance), and municipality versions;
- raw: a plain aiokafka consumer reads every partition from offset zero with `getmany` (5000
  records a call) until it has all N: rate = N / that time. Nothing is decoded;
- rebuild: `services.reporting.rebuild.Rebuild` from offset zero into a fresh schema, the batches
  applied in transactions with the inbox, the swap at the end: rate = N / its time, from
  connecting to the swap's commit (what an operator waits for).
The mock keeps at most 5 MiB per partition and silently drops older data, so each topic gets as
many partitions as keep it under 3 MiB each; the rebuild checks it read all N.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from livskraft_contracts import (
    CloudEvent,
    ContactAssigned,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    Event,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
    ParticipantRegistered,
    to_kafka,
)

from services.devtools.dev import with_database
from services.devtools.embedded_kafka import MockKafkaCluster
from services.devtools.embedded_postgres import EmbeddedPostgres
from services.reporting.app import SPEC
from services.reporting.rebuild import Rebuild
from services.runtime import db
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings

PARTITION_BYTES = 3 * 1024 * 1024
"""Under the mock's 5 MiB per partition, with room for batch overhead."""
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


def _story() -> tuple[list[Record], list[str]]:
    """One network's records, and the ids in them to replace in each copy."""
    ids: list[str] = []

    def new() -> uuid.UUID:
        value = uuid.uuid4()
        ids.append(str(value))
        return value

    network = new()
    municipalities = ["5001", "5006", "5035", "5038", "5053", "5054"]
    day = "2019-02-01"
    events: list[Event] = [
        NetworkCreated(
            network_id=network,
            name="Benkemerke",
            themes=["klima-energi", "areal"],
            county="50",
            period_start=date(2019, 1, 1),
            period_end=date(2020, 12, 31),
            enrolment_deadline=date(2019, 2, 15),
        )
    ]
    for k in municipalities:
        ref = {"kommunenummer": k, "valid_on": day}
        events += [
            MunicipalityInvited(network_id=network, municipality=ref),
            EnrolmentSubmitted(network_id=network, municipality=ref),
            DecisionRecorded(
                network_id=network,
                municipality=ref,
                decision_id=new(),
                body="kommunestyre",
                meeting_date=date(2019, 1, 30),
                case_number="2019/12",
                decision_date=date(2019, 1, 31),
                final=True,
                summary="Kommunen deltar i nettverket.",
            ),
            *(
                ContactAssigned(network_id=network, municipality=ref, person_id=new(), role=role)
                for role in ("main-contact", "steering-group", "project-group")
            ),
            EnrolmentConfirmed(network_id=network, municipality=ref),
        ]
    events += [
        EnrolmentWithdrawn(network_id=network, municipality={"kommunenummer": "5054", "valid_on": day}),
        NetworkClosed(network_id=network, reason="completed"),
    ]
    envelopes = [CloudEvent.wrap(e, sequence=i, id=str(new())) for i, e in enumerate(events, start=1)]
    for g in range(3):
        gathering = new()
        plan = {
            "gathering_id": gathering,
            "network_id": network,
            "starts_on": date(2019, 3 + g, 10),
            "place": "Steinkjer",
        }
        steps: list[Event] = [
            GatheringScheduled(**plan),
            GatheringRescheduled(**{**plan, "place": "Stiklestad"}),
        ]
        steps += [
            ParticipantRegistered(
                gathering_id=gathering,
                person_id=new(),
                municipality={"kommunenummer": municipalities[p % 6], "valid_on": day},
                role_category=("politician", "management", "department", "resource")[p % 4],
            )
            for p in range(15)
        ]
        steps.append(
            GatheringHeld(
                gathering_id=gathering,
                network_id=network,
                held_on=date(2019, 3 + g, 10),
                attendance=[
                    {"municipality": {"kommunenummer": k, "valid_on": day}, "role_category": role, "count": 2}
                    for k in municipalities
                    for role in ("politician", "management", "department")
                ],
                cases_presented=[
                    {"municipality": {"kommunenummer": "5006", "valid_on": day}, "title": "Grønn mat"}
                ],
            )
        )
        envelopes += [CloudEvent.wrap(e, sequence=i, id=str(new())) for i, e in enumerate(steps, start=1)]
    return [(e.topic, *to_kafka(e)) for e in envelopes], ids


def _municipalities(n: int) -> list[Record]:
    records = []
    for i in range(n):
        code = f"{1000 + i % 9000:04d}"
        event = MunicipalityRegistered(
            kommunenummer=code,
            name=f"Kommune {code}",
            county=code[:2],
            valid_from=date(2006 + i // 9000, 1, 1),
        )
        records.append((event.topic(), *to_kafka(CloudEvent.wrap(event, sequence=1 + i // 9000))))
    return records


def records(n: int) -> list[Record]:
    """n records: copies of one network's story with fresh ids, and 1% municipality versions."""
    template, ids = _story()
    present = [
        [i for i in ids if i.encode() in value or any(i.encode() in v for _, v in headers)]
        for _, _, value, headers in template
    ]
    out = _municipalities(n // 100)
    while len(out) < n:
        fresh = {i: str(uuid.uuid4()).encode() for i in ids}
        for (topic, key, value, headers), names in zip(template, present, strict=True):
            if len(out) == n:
                break
            for name in names:
                old = name.encode()
                key, value = key.replace(old, fresh[name]), value.replace(old, fresh[name])
                headers = [(k, v.replace(old, fresh[name])) for k, v in headers]
            out.append((topic, key, value, headers))
    return out


def partitions_needed(batch: list[Record]) -> dict[str, int]:
    """As many partitions for every topic (as deployed: an aggregate's events then share a
    partition number across topics), enough for the largest to stay under 3 MiB each."""
    size: Counter[str] = Counter()
    for topic, key, value, headers in batch:
        size[topic] += len(key) + len(value) + sum(len(k) + len(v) + 2 for k, v in headers) + 24
    count = max(3, *(math.ceil(size[topic] / PARTITION_BYTES) for topic in SPEC.consumes.topics))
    return dict.fromkeys(SPEC.consumes.topics, count)


async def produce(bootstrap: str, batch: list[Record]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = []
        for topic, key, value, headers in batch:
            futures.append(await producer.send(topic, value, key=key, headers=headers))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_getmany(bootstrap: str, topics: dict[str, int], n: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        started = time.perf_counter()
        tps = [TopicPartition(t, p) for t, count in topics.items() for p in range(count)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(part) for part in batch.values())
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def run_rebuild(bootstrap: str, server_url: str, n: int, workers: int) -> tuple[float, Rebuild]:
    name = f"bench_rebuild_{n}_{workers}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(server_url, name)
    pool = await db.create_pool(url)
    await db.migrate(pool, SPEC.migrations)
    await pool.close()
    settings = Settings(service="reporting", database_url=url, kafka_bootstrap_servers=bootstrap)
    job = Rebuild(settings, workers=workers, say=lambda line: print(f"    {line}", flush=True), every_s=5.0)
    started = time.perf_counter()
    await job.run()
    elapsed = time.perf_counter() - started
    if job.done != n:
        raise RuntimeError(f"the rebuild read {job.done} records of {n}: did the mock drop some?")
    conn = await asyncpg.connect(url)
    counts = {
        t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("networks", "attendance", "inbox")
    }
    await conn.close()
    print(f"    rows after the swap: {counts}", flush=True)
    return n / elapsed, job


async def one_size(n: int, postgres: EmbeddedPostgres, workers: list[int]) -> list[dict[str, Any]]:
    batch = records(n)
    topics = partitions_needed(batch)
    cluster = MockKafkaCluster(brokers=3)
    try:
        for topic, count in topics.items():
            cluster.create_topics([topic], partitions=count)
        started = time.perf_counter()
        await produce(cluster.bootstrap_servers, batch)
        produced = time.perf_counter() - started
        del batch
        print(
            f"  N={n:,}: produced in {produced:.1f} s to {sum(topics.values())} partitions "
            f"(load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        raw = await raw_getmany(cluster.bootstrap_servers, topics, n)
        print(f"  raw aiokafka getmany: {raw:,.0f} records/s", flush=True)
        results = []
        for w in workers:
            rate, _ = await run_rebuild(cluster.bootstrap_servers, postgres.url(), n, w)
            print(f"  rebuild, {w} process(es): {rate:,.0f} events/s", flush=True)
            results.append(
                {"n": n, "workers": w, "raw": raw, "rebuild": rate, "partitions": sum(topics.values())}
            )
        return results
    finally:
        cluster.close()


async def main(sizes: list[int], workers: list[int]) -> None:
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg", throwaway=True)
    try:
        results = [r for n in sizes for r in await one_size(n, postgres, workers)]
    finally:
        postgres.close()
    print()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    heading = ("events", "partitions", "processes", "raw getmany/s", "rebuild/s", "rebuild/raw", "s/1M")
    print("{:>10} {:>10} {:>9} {:>14} {:>10} {:>11} {:>7}".format(*heading))
    for r in results:
        print(
            f"{r['n']:>10,} {r['partitions']:>10} {r['workers']:>9} {r['raw']:>14,.0f} "
            f"{r['rebuild']:>10,.0f} {r['rebuild'] / r['raw']:>11.1%} {1_000_000 / r['rebuild']:>7.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="rebuild processes to try")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.workers))
