"""The idempotent consumer's core: apply a batch in one transaction with the inbox, or dead-letter it.

For each batch of Kafka records (handed over by the FastStream subscriber in `consumer.py`):
1. `read` turns every record into a CloudEvent; a record that cannot be read is a dead letter.
2. `Inbox.process`, in one database transaction: record the event ids in the inbox
   (`ON CONFLICT DO NOTHING`), apply only the events that were new, and note the dead letters.
3. Send the dead letters to `livskraft.dead-letter.v1`, with the reason and the original bytes and
   headers.
4. The caller commits the offsets, after the transaction: a crash before that re-delivers the batch,
   and the inbox turns the second delivery into a no-op.

If applying one event raises, the batch is applied again event by event, each in a savepoint, and
the event that fails is dead-lettered alone (events fail independently); it leaves no inbox row, so
a replay of its dead letter applies it. A failure of the moment (`faults.is_transient`: the database or
the broker unreachable) is raised instead: the caller reads the batch again once they are back.

Nothing here knows how records arrive; `consumer.py` runs it as a FastStream batch subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from livskraft_contracts import DEAD_LETTER_TOPIC, CloudEvent, Event, UnreadableEvent, from_kafka

from . import metrics
from .events import EventHandlers
from .faults import is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Any  # aiokafka's ConsumerRecord
    reason: str

    @property
    def key_text(self) -> str | None:
        """The record key as text for the dead_letters table (PostgreSQL text holds no NUL)."""
        key: bytes | None = self.record.key
        return key.decode(errors="replace").replace("\x00", "\ufffd") if key is not None else None

    @property
    def reason_text(self) -> str:
        return self.reason.replace("\x00", "\\x00")


@dataclass(slots=True)
class Batch:
    """One poll's records, read: the events in offset order per partition, and the unreadable."""

    records: Sequence[Any]  # aiokafka's ConsumerRecord, as polled
    events: list[tuple[Any, CloudEvent[Event]]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def read(records: Sequence[ConsumerRecord], types: dict[str, type[Event]]) -> Batch:
    """Step 1. Never raises: a record that cannot become an event of `types` is a dead letter
    (an `UnreadableEvent` names why; anything else is a reader bug, also kept for replay)."""
    batch = Batch(records)
    for record in records:
        try:
            batch.events.append((record, from_kafka(record.headers, record.value, types)))
        except UnreadableEvent as exc:
            batch.dead.append(DeadLetter(record, str(exc)))
        except Exception as exc:
            batch.dead.append(DeadLetter(record, f"unreadable: {exc!r}"))
    return batch


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


class Inbox:
    """Applies the events in `handlers` exactly once per event id, for the consumer group `name`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        service: str,
        name: str,
        handlers: EventHandlers,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self.service = service
        self.name = name
        self._handlers = handlers
        self.types = {t.ce_type(): t for t in handlers.event_types}
        self.topics = handlers.topics

    def read(self, records: Sequence[ConsumerRecord]) -> Batch:
        return read(records, self.types)

    async def process(self, batch: Batch) -> None:
        """Steps 2-3 for one batch (offsets are the caller's). Raises only when nothing committed
        (a transient failure, or a dead letter the broker did not take): read the batch again."""
        started = time.perf_counter()
        dead = list(batch.dead)
        try:
            applied = await self._apply(batch.events, dead, savepoints=False)
        except Exception as exc:
            if is_transient(exc):  # the database or broker, not the event: read it again
                raise
            log.exception("consumer %s: a handler failed; applying one by one", self.name)
            dead = list(batch.dead)
            applied = await self._apply(batch.events, dead, savepoints=True)
        dead_records = {id(letter.record) for letter in dead}
        failed = {e.id for r, e in batch.events if id(r) in dead_records and e.id not in applied}
        await self._send_dead_letters(dead)
        metrics.HANDLER_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        counted: set[str] = set()
        for _, event in batch.events:
            first = event.id not in counted
            counted.add(event.id)
            outcome = "applied" if first and event.id in applied else "duplicate"
            if first and event.id in failed:
                outcome = "failed"
            metrics.EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()

    async def _apply(
        self,
        events: list[tuple[Any, CloudEvent[Event]]],
        dead: list[DeadLetter],
        *,
        savepoints: bool,
    ) -> set[str]:
        async with self._pool.acquire() as conn, conn.transaction():
            new = {
                r["event_id"]
                for r in await conn.fetch(
                    _INBOX,
                    self.name,
                    [e.id for _, e in events],
                    [e.type for _, e in events],
                    [r.topic for r, _ in events],
                    [r.partition for r, _ in events],
                    [r.offset for r, _ in events],
                )
            }
            fresh: list[tuple[Any, CloudEvent[Event]]] = []
            for record, event in events:
                if event.id in new:
                    new.discard(event.id)  # a duplicate within the batch is applied once
                    fresh.append((record, event))
            applied: set[str] = set()
            if not savepoints:
                await self._handlers.apply(conn, [event for _, event in fresh])
                applied = {event.id for _, event in fresh}
            else:
                for record, event in fresh:
                    try:
                        async with conn.transaction():
                            await self._handlers.apply(conn, [event])
                        applied.add(event.id)
                    except Exception as exc:
                        if is_transient(exc):  # the database or broker, not the event: read it again
                            raise
                        dead.append(DeadLetter(record, f"handler failed: {exc!r}"))
                        # Not applied, so not in the inbox: a replay of the dead letter applies it.
                        await conn.execute(
                            "DELETE FROM inbox WHERE consumer = $1 AND event_id = $2", self.name, event.id
                        )
            if dead:
                await conn.execute(
                    _DEAD,
                    self.name,
                    [d.record.topic for d in dead],
                    [d.record.partition for d in dead],
                    [d.record.offset for d in dead],
                    [d.key_text for d in dead],
                    [d.reason_text for d in dead],
                )
        return applied

    async def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        """The original value, key and headers (bytes as they came: they need not be UTF-8), and
        why. Through aiokafka's producer: FastStream's `publish` takes headers as text."""
        futures = []
        for letter in dead:
            r = letter.record
            headers = [
                *r.headers,
                ("dlq_reason", letter.reason.encode()),
                ("dlq_topic", r.topic.encode()),
                ("dlq_partition", str(r.partition).encode()),
                ("dlq_offset", str(r.offset).encode()),
                ("dlq_consumer", self.name.encode()),
            ]
            futures.append(await self._producer.send(DEAD_LETTER_TOPIC, r.value, key=r.key, headers=headers))
            metrics.DEAD_LETTERS.labels(self.service, r.topic).inc()
            log.warning("dead letter from %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
        await asyncio.gather(*futures)
