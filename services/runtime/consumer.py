"""The idempotent consumer: read a batch, apply it in one transaction with the inbox, then commit.

For each batch from Kafka:
1. Read every record into a CloudEvent; a record that cannot be read is a dead letter.
2. In one database transaction: record the event ids in the inbox (`ON CONFLICT DO NOTHING`), apply
   only the events that were new, and note the dead letters.
3. Send the dead letters to `livskraft.dead-letter.v1`, with the reason and the original bytes.
4. Commit the offsets, after the transaction: a crash before this re-delivers the batch, and the
   inbox turns the second delivery into a no-op.

If applying one event raises, the batch is applied again event by event, each in a savepoint, and
the event that fails is dead-lettered alone (events fail independently). If the database or the
broker is unreachable, nothing is committed: the batch is read again once they are back.

We run this loop on aiokafka directly rather than as a FastStream subscriber: FastStream's parser
decodes every header as UTF-8 and its ack policies either commit on error (losing the event) or
retry forever (blocking the partition), and neither lets a poison record reach the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from livskraft_contracts import DEAD_LETTER_TOPIC, CloudEvent, Event, UnreadableEvent, from_kafka

from . import metrics

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, list[CloudEvent]], Awaitable[None]]
"""Applies events, in order, in the caller's transaction. Given a batch, so it can write in bulk."""

TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, query canceled
    asyncpg.exceptions.TransactionRollbackError,  # deadlock, serialization failure
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    KafkaError,
)
"""Failures of the moment, not of the event: the batch is read again, never dead-lettered."""


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord
    reason: str

    @property
    def key_text(self) -> str | None:
        """The record key as text for the dead_letters table (PostgreSQL text holds no NUL)."""
        key = self.record.key
        return key.decode(errors="replace").replace("\x00", "\ufffd") if key is not None else None

    @property
    def reason_text(self) -> str:
        return self.reason.replace("\x00", "\\x00")


_INBOX = """
    INSERT INTO inbox (consumer, event_id, event_type, topic, partition, "offset")
    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[])
    ON CONFLICT DO NOTHING
    RETURNING event_id
"""
_DEAD = """
    INSERT INTO dead_letters (consumer, topic, partition, "offset", key, reason)
    SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[])
    ON CONFLICT DO NOTHING
"""


class EventConsumer:
    """Applies events of the given types through `handle`, exactly once per event id."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap_servers: str,
        service: str,
        group_id: str,
        event_types: Iterable[type[Event]],
        handle: Handler,
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        fetch_max_wait_ms: int = 10,
        connection: dict[str, Any] | None = None,
    ) -> None:
        self._pool = pool
        self._service = service
        self._name = group_id
        self._types = {t.ce_type(): t for t in event_types}
        self._handle = handle
        self._producer = producer
        self._batch_size = batch_size
        self.topics = sorted({t.topic() for t in self._types.values()})
        self._kafka = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_poll_records=batch_size,
            **(connection or {}),
        )

    async def start(self) -> None:
        await self._kafka.start()

    async def stop(self) -> None:
        await self._kafka.stop()

    async def run(self) -> None:
        """Consume until cancelled. Nothing else ends it: a batch that fails is read again, after
        a pause that grows with each failure (the lag metric shows a consumer that is stuck)."""
        failures = 0
        while True:
            records: list[ConsumerRecord] = []
            try:
                batch = await self._kafka.getmany(timeout_ms=1000, max_records=self._batch_size)
                records = [r for partition in batch.values() for r in partition]
                if records:
                    await self.process(records)
                    await self._commit(records)
                    await self._observe_lag()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if isinstance(exc, TRANSIENT):
                    log.warning("consumer %s: %r; will read the batch again", self._name, exc)
                else:
                    log.exception("consumer %s: unexpected failure; will read the batch again", self._name)
                self._rewind(records)
                await asyncio.sleep(min(0.1 * 2**failures, 30.0))

    async def _commit(self, records: list[ConsumerRecord]) -> None:
        """Commit past these records, on the partitions this consumer still owns."""
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        owned = self._kafka.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
        try:
            if offsets:
                await self._kafka.commit(offsets)
        except CommitFailedError as exc:  # partitions moved: the new owner's inbox dedups
            log.info("consumer %s: commit after rebalance failed: %s", self._name, exc)

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Steps 1-3 for one batch (offsets are the caller's)."""
        started = time.perf_counter()
        events: list[tuple[ConsumerRecord, CloudEvent]] = []
        dead: list[DeadLetter] = []
        for record in records:
            try:
                events.append((record, from_kafka(record.headers, record.value, self._types)))
            except UnreadableEvent as exc:
                dead.append(DeadLetter(record, str(exc)))
        try:
            applied = await self._apply(events, dead, savepoints=False)
        except TRANSIENT:
            raise
        except Exception:
            log.exception("consumer %s: a handler failed; applying one by one", self._name)
            applied = await self._apply(events, dead, savepoints=True)
        dead_records = {id(letter.record) for letter in dead}
        failed = {e.id for r, e in events if id(r) in dead_records and e.id not in applied}
        await self._send_dead_letters(dead)
        metrics.HANDLER_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        counted: set[str] = set()
        for _, event in events:
            first = event.id not in counted
            counted.add(event.id)
            outcome = "applied" if first and event.id in applied else "duplicate"
            if first and event.id in failed:
                outcome = "failed"
            metrics.EVENTS_CONSUMED.labels(self._service, event.type, outcome).inc()

    async def _apply(
        self,
        events: list[tuple[ConsumerRecord, CloudEvent]],
        dead: list[DeadLetter],
        *,
        savepoints: bool,
    ) -> set[str]:
        async with self._pool.acquire() as conn, conn.transaction():
            new = {
                r["event_id"]
                for r in await conn.fetch(
                    _INBOX,
                    self._name,
                    [e.id for _, e in events],
                    [e.type for _, e in events],
                    [r.topic for r, _ in events],
                    [r.partition for r, _ in events],
                    [r.offset for r, _ in events],
                )
            }
            fresh: list[tuple[ConsumerRecord, CloudEvent]] = []
            for record, event in events:
                if event.id in new:
                    new.discard(event.id)  # a duplicate within the batch is applied once
                    fresh.append((record, event))
            if not savepoints:
                await self._handle(conn, [event for _, event in fresh])
                applied = {event.id for _, event in fresh}
            else:
                applied = set()
                for record, event in fresh:
                    try:
                        async with conn.transaction():
                            await self._handle(conn, [event])
                        applied.add(event.id)
                    except TRANSIENT:
                        raise
                    except Exception as exc:
                        dead.append(DeadLetter(record, f"handler failed: {exc!r}"))
                        # Not applied, so not in the inbox: a replay of the dead letter applies it.
                        await conn.execute(
                            "DELETE FROM inbox WHERE consumer = $1 AND event_id = $2", self._name, event.id
                        )
            await conn.execute(
                _DEAD,
                self._name,
                [d.record.topic for d in dead],
                [d.record.partition for d in dead],
                [d.record.offset for d in dead],
                [d.key_text for d in dead],
                [d.reason_text for d in dead],
            )
        return applied

    async def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        futures = []
        for letter in dead:
            r = letter.record
            headers = [
                *r.headers,
                ("dlq_reason", letter.reason.encode()),
                ("dlq_topic", r.topic.encode()),
                ("dlq_partition", str(r.partition).encode()),
                ("dlq_offset", str(r.offset).encode()),
                ("dlq_consumer", self._name.encode()),
            ]
            futures.append(await self._producer.send(DEAD_LETTER_TOPIC, r.value, key=r.key, headers=headers))
            metrics.DEAD_LETTERS.labels(self._service, r.topic).inc()
            log.warning("dead letter from %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
        await asyncio.gather(*futures)

    def _rewind(self, records: list[ConsumerRecord]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        owned = self._kafka.assignment()
        for tp, offset in first.items():
            if tp in owned:  # a partition taken away meanwhile is read from its commit by the new owner
                self._kafka.seek(tp, offset)

    async def _observe_lag(self) -> None:
        for tp in self._kafka.assignment():
            end = self._kafka.highwater(tp)
            if end is not None:
                lag = max(end - await self._kafka.position(tp), 0)
                metrics.CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(lag)
