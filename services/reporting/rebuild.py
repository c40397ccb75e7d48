"""`livskraft reporting rebuild`: the projection made again from the topics, from offset zero.

1. Under an advisory lock (one rebuild at a time), create a schema `rebuild_<n>` with empty
   copies of the projection's tables (store.PROJECTION_TABLES) and of the consumer's inbox and
   dead letters: same columns, keys and constraint names.
2. Read every partition of every consumed topic from its beginning, with a consumer of its own
   (assigned partitions, no group, nothing committed), in batches of thousands. Each batch is
   applied as the live consumer applies one (services/runtime/inbox.py): event ids into the
   inbox, new events to the handlers, a handler failure retried event by event in savepoints and
   the failing event noted as a dead letter, unreadable records noted too. The writes go to the
   rebuild's schema (first on the connection's search_path), so the live tables, and the queries
   on them, are untouched meanwhile. Dead letters are not sent to the topic again: the live
   consumer sent them when it met them.
3. At the end offsets taken at the start, lock the live inbox: the live consumer waits at its next
   batch. Read on until every event the live consumer applied is in the rebuild too (by the
   offsets its inbox rows carry); then, in that one transaction, the rebuilt tables and inbox take
   the live ones' places under the same names. The live consumer goes on from its own committed
   offsets; the swapped inbox makes whatever the rebuild read ahead of it a duplicate.

Reading is fast because a record is decoded straight from its bytes (`read`): pydantic validates
the JSON value against the event's model in one step, and only what that refuses goes the long
way (`from_kafka`, which also tolerates fields a newer producer added), so every record ends as
the live consumer's would, event or dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import confluent_kafka
from livskraft_contracts import CloudEvent, Event, UnreadableEvent, from_kafka
from pydantic import TypeAdapter, ValidationError

from services.runtime import db
from services.runtime.events import EventHandlers
from services.runtime.inbox import TRANSIENT
from services.runtime.settings import Settings

from . import store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Any  # ConsumerRecord
    reason: str


@dataclass(slots=True)
class Batch:
    events: list[tuple[Any, CloudEvent[Event]]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


class Record:
    """What the rebuild reads of a Kafka record (the same names as aiokafka's ConsumerRecord)."""

    __slots__ = ("headers", "key", "offset", "partition", "topic", "value")

    def __init__(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, headers: Any
    ) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        self.key, self.value, self.headers = key, value, headers or []


Partition = tuple[str, int]


class Reader:
    """Every partition of the topics from its beginning, through librdkafka's consumer (C: it
    reads records several times faster than a pure-Python client). Partitions are assigned, so
    no group is joined and nothing is committed. Blocking calls: run them in a thread."""

    def __init__(self, settings: Settings, topics: Sequence[str], name: str) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": name,  # required by the client; never joined (assign) nor committed to
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 50,
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
        }
        if settings.kafka_security_protocol == "SSL":
            config["security.protocol"] = "SSL"
            for option, path in (
                ("ssl.ca.location", settings.kafka_ssl_cafile),
                ("ssl.certificate.location", settings.kafka_ssl_certfile),
                ("ssl.key.location", settings.kafka_ssl_keyfile),
            ):
                if path is not None:
                    config[option] = str(path)
        self._consumer = confluent_kafka.Consumer(config)
        self._topics = list(topics)
        self.positions: dict[Partition, int] = {}
        """The next offset to read, per partition."""

    def open(self) -> tuple[int, dict[Partition, int]]:
        """Assign every partition from its beginning; return how many records there are now,
        and the end offset of each partition."""
        metadata = self._consumer.list_topics(timeout=30)
        partitions: list[Partition] = []
        for topic in self._topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise RuntimeError(f"topic {topic} does not exist")
            partitions += [(topic, p) for p in sorted(found.partitions)]
        total, ends = 0, {}
        for topic, p in partitions:
            low, high = self._consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(topic, p), timeout=30
            )
            self.positions[(topic, p)] = low
            ends[(topic, p)] = high
            total += high - low
        self._consumer.assign(
            [confluent_kafka.TopicPartition(t, p, confluent_kafka.OFFSET_BEGINNING) for t, p in partitions]
        )
        return total, ends

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        records = []
        messages: list[Any] = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        for m in messages:
            error = m.error()
            if error is None:
                records.append(Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.headers()))
                self.positions[(m.topic(), m.partition())] = m.offset() + 1
            elif error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                tp = (m.topic(), m.partition())
                self.positions[tp] = max(self.positions.get(tp, 0), m.offset())
            else:
                raise confluent_kafka.KafkaException(error)
        return records

    def reached(self, targets: dict[Partition, int]) -> bool:
        return all(self.positions[tp] >= offset for tp, offset in targets.items() if tp in self.positions)

    def close(self) -> None:
        self._consumer.close()


def read(records: Sequence[Any], types: dict[str, type[Event]]) -> Batch:
    """Records into events, as `from_kafka` reads them; what it cannot read is a dead letter."""
    batch = Batch()
    for record in records:
        event = _read_fast(record, types)
        if event is None:
            try:
                event = from_kafka(record.headers, record.value, types)
            except UnreadableEvent as exc:
                batch.dead.append(DeadLetter(record, str(exc)))
                continue
            except Exception as exc:
                batch.dead.append(DeadLetter(record, f"unreadable: {exc!r}"))
                continue
        batch.events.append((record, event))
    return batch


_TIME = TypeAdapter(datetime)
"""How CloudEvent reads its `time`."""
_OPTIONAL = (("ce_subject", "subject"), ("ce_dataschema", "dataschema"), ("ce_traceparent", "traceparent"))


def _read_fast(record: Any, types: dict[str, type[Event]]) -> CloudEvent[Event] | None:
    """The event, when the record is exactly what the contract describes; None for anything else
    (`from_kafka` then decides, with the reason). Where this succeeds, `from_kafka` gives an equal
    event: it checks the same attributes (here only in their plain forms: a sequence in canonical
    decimal, no NUL in any header, no header named like the envelope's data) and parses `time`
    as CloudEvent does, and the data validates without pruning any field."""
    try:
        headers = {k: v.decode() for k, v in record.headers}
    except UnicodeDecodeError:
        return None
    get = headers.get
    event_id, source, type_, sequence = get("ce_id"), get("ce_source"), get("ce_type"), get("ce_sequence")
    partitionkey, at = get("ce_partitionkey"), get("ce_time")
    if not (event_id and source and type_ and sequence and at) or partitionkey is None:
        return None
    if get("ce_specversion") != "1.0" or "ce_data" in headers or any("\x00" in v for v in headers.values()):
        return None
    if not (sequence.isascii() and sequence.isdigit() and sequence[0] != "0"):
        return None
    model = types.get(type_)
    if model is None or record.value is None:
        return None
    try:
        data = model.model_validate_json(record.value)
        fields: dict[str, Any] = {
            "id": event_id,
            "source": source,
            "type": type_,
            "specversion": "1.0",
            "time": _TIME.validate_python(at),
            "partitionkey": partitionkey,
            "sequence": int(sequence),
        }
    except (ValidationError, ValueError):
        return None
    for header, name in _OPTIONAL:
        value = get(header)
        if value is not None:
            fields[name] = value
    return CloudEvent.model_construct(**fields, data=data)


class Rebuild:
    """One rebuild into `schema`; `run` does it all (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        handlers: EventHandlers,
        *,
        batch_size: int = 5000,
        say: Callable[[str], None] = print,
        every_s: float = 2.0,
    ) -> None:
        if not settings.database_url or not settings.kafka_bootstrap_servers:
            raise RuntimeError("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set")
        self.settings = settings
        self.handlers = handlers
        self.types = {t.ce_type(): t for t in handlers.event_types}
        self.consumer_name = settings.consumer_group
        self.batch_size = batch_size
        self.say = say
        self.every_s = every_s
        self.schema = f"rebuild_{time.time_ns() // 1000}"
        self.done = 0
        self.applied = 0
        self.dead = 0
        self.total = 0
        self.seconds = 0.0
        self._seen: set[str] = set()
        """The ids of the events applied: the rebuild's inbox, kept here too so that each batch's
        inbox rows go in by COPY (no one else writes the rebuild's inbox)."""
        self._writer: asyncpg.Connection | None = None
        self._started = 0.0
        self._said = 0.0

    # -- the whole rebuild -------------------------------------------------------------------------

    async def run(self) -> None:
        url = self.settings.database_url
        assert url is not None
        pool = await db.create_pool(url, min_size=1, max_size=2)
        try:
            await db.migrate(pool, Path(__file__).parent / "migrations")
        finally:
            await pool.close()
        admin = await asyncpg.connect(url)
        try:
            if not await admin.fetchval("SELECT pg_try_advisory_lock($1)", store.REBUILD_LOCK):
                raise RuntimeError("another rebuild of this database is running")
            for leftover in await store.leftover_rebuild_schemas(admin):
                self.say(f"Dropping {leftover}, left by a rebuild that did not finish.")
                await store.drop_schema(admin, leftover)
            later_indexes = await store.create_rebuild_schema(admin, self.schema)
            try:
                await self._rebuild(admin, later_indexes)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.shield(store.drop_schema(admin, self.schema))
                raise
        finally:
            await admin.close()

    async def _rebuild(self, admin: asyncpg.Connection, later_indexes: list[str]) -> None:
        # Not waiting for each batch's commit to reach the disk: a crash loses the rebuild, never
        # the live tables, and the swap commits on another connection, durably.
        self._writer = await asyncpg.connect(
            self.settings.database_url,
            server_settings={"search_path": f"{self.schema}, public", "synchronous_commit": "off"},
        )
        for name in ("json", "jsonb"):
            await self._writer.set_type_codec(
                name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )
        reader = Reader(self.settings, self.handlers.topics, f"{self.consumer_name}.rebuild")
        try:
            self._started = time.monotonic()
            self.total, ends = await asyncio.to_thread(reader.open)
            self.say(
                f"Rebuilding the reporting projection into {self.schema} from {len(ends)} partitions "
                f"of {len(self.handlers.topics)} topics: {self.total:,} records."
            )
            await self._read_until(reader, ends)
            for statement in later_indexes:
                await self._writer.execute(statement)
            async with admin.transaction():
                await store.lock_live_inbox(admin)
                live = await store.live_positions(admin, self.consumer_name)
                await self._read_until(reader, {tp: offset + 1 for tp, offset in live.items()})
                await store.swap_in(admin, self.schema, self.consumer_name)
            self.seconds = time.monotonic() - self._started
            self.say(
                f"Done: {self.done:,} records in {self.seconds:.1f} s "
                f"({self.done / max(self.seconds, 1e-9):,.0f}/s), "
                f"{self.applied:,} events applied, {self.dead:,} dead letters; the rebuilt tables are live."
            )
        finally:
            await asyncio.to_thread(reader.close)
            await self._writer.close()

    # -- reading and applying, two at a time -------------------------------------------------------

    async def _read_until(self, reader: Reader, targets: dict[Partition, int]) -> None:
        """Apply every record before `targets` (the next offset, per partition). Reading and
        decoding the next batch overlaps with the database applying this one."""
        batches: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=2)

        async def fetch() -> None:
            while not reader.reached(targets):
                records = await asyncio.to_thread(reader.poll, self.batch_size, 0.2)
                if records:
                    await batches.put(read(records, self.types))
            await batches.put(None)

        fetching = asyncio.create_task(fetch())
        try:
            while (batch := await batches.get()) is not None:
                await self._apply(batch)
                self.done += len(batch.events) + len(batch.dead)
                self._progress()
            await fetching
        finally:
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetching

    async def _apply(self, batch: Batch) -> None:
        fresh: list[tuple[Any, CloudEvent[Event]]] = []
        ids: set[str] = set()
        for record, event in batch.events:
            if event.id not in self._seen and event.id not in ids:  # a duplicate is applied once
                ids.add(event.id)
                fresh.append((record, event))
        try:
            applied, dead = await self._apply_once(fresh, batch.dead, savepoints=False)
        except TRANSIENT:
            raise
        except Exception:
            log.info("rebuild: a handler failed; applying that batch one by one")
            applied, dead = await self._apply_once(fresh, batch.dead, savepoints=True)
        self._seen.update(event.id for _, event in applied)
        self.applied += len(applied)
        self.dead += len(dead)

    async def _apply_once(
        self, fresh: list[tuple[Any, CloudEvent[Event]]], unreadable: list[DeadLetter], *, savepoints: bool
    ) -> tuple[list[tuple[Any, CloudEvent[Event]]], list[DeadLetter]]:
        """As the live consumer applies a batch (services/runtime/inbox.py), into the rebuild: the
        new events to the handlers and into the inbox; an event whose handler fails, alone (in a
        savepoint), to the dead letters instead."""
        conn = self._writer
        assert conn is not None
        dead = list(unreadable)
        async with conn.transaction():
            if not savepoints:
                await self.handlers.apply(conn, [event for _, event in fresh])
                applied = fresh
            else:
                applied = []
                for record, event in fresh:
                    try:
                        async with conn.transaction():
                            await self.handlers.apply(conn, [event])
                        applied.append((record, event))
                    except TRANSIENT:
                        raise
                    except Exception as exc:
                        dead.append(DeadLetter(record, f"handler failed: {exc!r}"))
            await conn.copy_records_to_table(
                "inbox",
                schema_name=self.schema,
                columns=["consumer", "event_id", "event_type", "topic", "partition", "offset"],
                records=[
                    (self.consumer_name, e.id, e.type, r.topic, r.partition, r.offset) for r, e in applied
                ],
            )
            if dead:
                await conn.execute(
                    store.DEAD,
                    self.consumer_name,
                    [d.record.topic for d in dead],
                    [d.record.partition for d in dead],
                    [d.record.offset for d in dead],
                    [_key_text(d.record.key) for d in dead],
                    [d.reason.replace("\x00", "\\x00") for d in dead],
                )
        return applied, dead

    def _progress(self) -> None:
        now = time.monotonic()
        if now - self._said < self.every_s:
            return
        self._said = now
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:,.0f} s left" if rate > 0 else "time left unknown"
        self.say(f"  {self.done:,} / {self.total:,} records, {rate:,.0f}/s, {eta}")


def _key_text(key: bytes | None) -> str | None:
    return key.decode(errors="replace").replace("\x00", "\ufffd") if key is not None else None


async def rebuild(
    settings: Settings,
    handlers: EventHandlers | None = None,
    *,
    batch_size: int = 5000,
    say: Callable[[str], None] = print,
    every_s: float = 2.0,
) -> Rebuild:
    """Rebuild the projection of the database and broker in `settings`; return what was done."""
    if handlers is None:
        from .app import HANDLERS

        handlers = HANDLERS
    job = Rebuild(settings, handlers, batch_size=batch_size, say=say, every_s=every_s)
    await job.run()
    return job


def main(data_dir: str, batch_size: int) -> int:
    """`livskraft reporting rebuild`: with DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS, or, in
    development, the database and broker a running `livskraft dev` wrote to its dev.json."""
    settings = Settings(service="reporting")
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        info_file = Path(data_dir) / "dev.json"
        if not info_file.exists():
            print(
                "Set DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (reporting's database and the brokers), "
                f"or start `livskraft dev` first ({info_file} is missing)."
            )
            return 1
        info = json.loads(info_file.read_text())
        settings = settings.model_copy(
            update={
                "database_url": settings.database_url or info["database_urls"]["reporting"],
                "kafka_bootstrap_servers": settings.kafka_bootstrap_servers
                or info["kafka_bootstrap_servers"],
            }
        )
    asyncio.run(rebuild(settings, batch_size=batch_size))
    return 0
