"""The transactional outbox: events written with the state change, published by a relay.

A command calls `write(conn, events)` inside its own transaction. The relay then:
claims unpublished rows (`FOR UPDATE SKIP LOCKED`, so replicas share the work), sends them with
an idempotent `acks=all` producer, waits for every ack, marks them published, and commits.
A crash between send and commit leaves the rows unpublished, so they are sent again: delivery is
at least once, and consumers de-duplicate on the event id (docs/architecture.md, "The inbox").

Per-key order holds across replicas: a relay drops from its batch any key that has an earlier
unpublished row it could not claim (another replica holds it), and tries that key again later.
The relay wakes on `NOTIFY livskraft_outbox`, with a polling fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from livskraft_contracts import CloudEvent, Event, to_kafka

from . import metrics
from .unit_of_work import purge_idempotency_keys

log = logging.getLogger(__name__)
CHANNEL = "livskraft_outbox"


async def write(conn: asyncpg.Connection, events: Sequence[CloudEvent[Event]]) -> None:
    """Write events to the outbox in the caller's transaction, and wake the relay on commit."""
    rows = []
    for event in events:
        key, value, headers = to_kafka(event)
        rows.append(
            (
                event.id,
                type(event.data).__name__,
                key.decode(),
                event.type,
                event.topic,
                [text for k, v in headers for text in (k, v.decode())],
                value,
            )
        )
    await conn.executemany(
        """INSERT INTO outbox (id, aggregate_type, aggregate_id, type, topic, headers, payload)
           VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)""",
        rows,
    )
    await conn.execute(f"NOTIFY {CHANNEL}")


_CLAIM = """
    SELECT position, id, aggregate_id, topic, headers, payload, created_at
    FROM outbox WHERE published_at IS NULL
    ORDER BY position LIMIT $1
    FOR UPDATE SKIP LOCKED
"""
# For each key we claimed, the first unpublished row of it that we did not claim: another relay
# holds it. Our rows of that key from there on must wait, or the key's order would break.
_FIRST_GAPS = """
    SELECT aggregate_id, min(position) AS first_gap
    FROM outbox
    WHERE published_at IS NULL AND aggregate_id = ANY($1::text[]) AND NOT (position = ANY($2::bigint[]))
    GROUP BY aggregate_id
"""
DATABASE_DOWN = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # "cannot switch to state": the connection went away
)
"""What the relay meets while the database restarts: it waits and tries again, never dies."""
_MARK = "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE position = ANY($1)"
_FAILED = "UPDATE outbox SET attempts = attempts + 1 WHERE position = ANY($1)"


def failpoint(name: str) -> None:
    """Die here, as a killed process would, when LIVSKRAFT_FAILPOINTS names this point.

    Used by the tests that kill the relay between publishing and marking rows published.
    """
    if name in os.environ.get("LIVSKRAFT_FAILPOINTS", "").split(","):
        log.warning("failpoint %s: exiting", name)
        os._exit(86)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        database_url: str,
        producer: AIOKafkaProducer,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        publish_timeout_s: float = 30.0,
    ) -> None:
        self._pool, self._url, self._producer = pool, database_url, producer
        self._service = service
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._observed_at = 0.0
        self._purged_at = time.monotonic()
        self._publish_timeout_s = publish_timeout_s
        self._claimed: list[int] = []

    async def relay_once(self) -> int:
        """Publish one batch; return how many rows were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self._batch_size)
            if not rows:
                return 0
            rows = await self._in_key_order(conn, rows)
            self._claimed = [r["position"] for r in rows]
            futures = []
            for row in rows:
                flat = row["headers"]
                headers = [(flat[i], flat[i + 1].encode()) for i in range(0, len(flat), 2)]
                futures.append(
                    await self._producer.send(
                        row["topic"], row["payload"], key=row["aggregate_id"].encode(), headers=headers
                    )
                )
            # Every ack, or an exception and a rollback. The idempotent producer never gives up
            # by itself, so the relay does: its rows' locks must not be held through an outage.
            async with asyncio.timeout(self._publish_timeout_s):
                await asyncio.gather(*futures)
            failpoint("relay.after_publish")
            await conn.execute(_MARK, [r["position"] for r in rows])
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self._service, row["topic"]).inc()
        return len(rows)

    async def _in_key_order(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record]
    ) -> list[asyncpg.Record]:
        keys = list({r["aggregate_id"] for r in rows})
        gaps = {
            r["aggregate_id"]: r["first_gap"]
            for r in await conn.fetch(_FIRST_GAPS, keys, [r["position"] for r in rows])
        }
        return [r for r in rows if r["position"] < gaps.get(r["aggregate_id"], r["position"] + 1)]

    async def backlog(self) -> tuple[int, float]:
        """(unpublished rows, age in seconds of the oldest): for the metrics."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT count(*) AS n,
                          coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                   FROM outbox WHERE published_at IS NULL"""
            )
        return int(row["n"]), float(row["age"])

    async def run(self) -> None:
        """Publish until cancelled: drain on every NOTIFY, poll as a fallback, back off on errors."""
        listener = await self._listen()
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    published = await self.relay_once()
                    failures = 0
                except DATABASE_DOWN as exc:
                    published, failures = 0, failures + 1
                    log.warning("outbox relay: %r; retrying", exc)
                except Exception as exc:  # Kafka errors, time-outs: the batch rolled back; again
                    published, failures = 0, failures + 1
                    log.warning("outbox relay could not publish: %r; retrying", exc)
                    await self._count_failure()
                if listener is None or listener.is_closed():
                    listener = await self._listen()  # after a database restart
                if time.monotonic() - self._observed_at > 5:
                    await self._observe_backlog()
                if time.monotonic() - self._purged_at > 3600:
                    await self._purge()
                if published == self._batch_size:
                    continue  # more waiting, most likely
                delay = min(0.1 * 2**failures, 5.0) if failures else self._poll_interval_s
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                # that arrives as the wake-up does, and the relay would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            if listener is not None:
                await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        # A listener holds its own connection: a pooled one would be reset with UNLISTEN *.
        try:
            conn = await asyncpg.connect(self._url)
            await conn.add_listener(CHANNEL, lambda *_: self._wake.set())
            return conn
        except DATABASE_DOWN as exc:
            log.warning("outbox relay cannot LISTEN (%s); polling only", exc)
            return None

    async def _count_failure(self) -> None:
        """Note the failed attempt on the rows (`attempts` grows; operators alert on it)."""
        metrics.OUTBOX_PUBLISH_FAILURES.labels(self._service).inc()
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(_FAILED, self._claimed)
        except DATABASE_DOWN:
            pass

    async def _purge(self) -> None:
        """Hourly housekeeping: delete outbox rows published a day ago, and idempotency answers
        older than a day, so both tables stay small."""
        self._purged_at = time.monotonic()
        try:
            await purge_published(self._pool)
            await purge_idempotency_keys(self._pool)
        except DATABASE_DOWN as exc:
            log.warning("outbox purge failed: %s", exc)

    async def _observe_backlog(self) -> None:
        try:
            count, age = await self.backlog()
        except DATABASE_DOWN:
            return
        metrics.OUTBOX_BACKLOG.labels(self._service).set(count)
        metrics.OUTBOX_OLDEST_AGE.labels(self._service).set(age)
        self._observed_at = time.monotonic()


async def purge_published(pool: asyncpg.Pool, older_than_s: float = 86_400) -> int:
    """Delete rows published more than `older_than_s` ago; the table stays small."""
    async with pool.acquire() as conn:
        result = await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
            older_than_s,
        )
    return int(result.split()[-1])
