"""`livskraft reporting rebuild`: the projection made again from the topics, from offset zero.

1. Under an advisory lock (one rebuild at a time), create a schema `rebuild_<n>` with empty
   copies of the projection's tables (store.PROJECTION_TABLES) and of the consumer's inbox and
   dead letters: the same columns, keys and constraint names.
2. Read every partition of every consumed topic from its first offset to its end as it was at the
   start, with librdkafka's consumer (partitions assigned: no group joined, nothing committed), in
   batches of thousands. Each batch is applied as the live consumer applies one
   (services/runtime/inbox.py), in one transaction: new events (by id) to the handlers, into the
   inbox; a batch whose handler fails is applied again event by event in savepoints, the failing
   event noted as a dead letter; unreadable records noted too. The writes go to the rebuild's
   schema (first on the connection's search_path), so the live tables, and the queries on them,
   are untouched meanwhile. Dead letters are not sent to the topic again: the live consumer sent
   them when it met them. Progress is said every few seconds: records done, rate, time left.
3. Lock the live inbox: the live consumer waits at its next batch. Read on until every event the
   live consumer applied is in the rebuild too (by the offsets its inbox rows carry); then, in
   that one transaction, the rebuilt tables and inbox take the live ones' places under the same
   names. The live consumer goes on from its own committed offsets; the swapped inbox makes
   whatever the rebuild read ahead of it a duplicate.

What makes it fast (bench/rebuild.py): a record is decoded straight from its bytes (`read`:
pydantic validates the JSON value against the event's model in one pass; only what that refuses
goes the long way, `from_kafka`, which also tolerates fields a newer producer added), in the
reading thread while the database applies the batch before; a batch is sorted into one run per
event type (the handlers give the same rows in any order across types), so one statement per
table; rows that are only ever added, and the inbox's, go in by COPY (the rebuild keeps the ids it
applied, as no one else writes its inbox); the collector is kept from rescanning the heap. With
`workers` > 1, processes share the partitions by partition number.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import logging
import multiprocessing
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import confluent_kafka
from livskraft_contracts import CloudEvent, Event, UnreadableEvent, from_kafka
from pydantic import ValidationError

from services.runtime import db
from services.runtime.events import EventHandlers
from services.runtime.faults import is_transient
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

    def offsets(self) -> dict[Partition, tuple[int, int]]:
        """Every partition of the topics, with its first offset and its end (the next offset) now."""
        metadata = self._consumer.list_topics(timeout=30)
        partitions = []
        for topic in self._topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise RuntimeError(f"topic {topic} does not exist")
            partitions += [confluent_kafka.TopicPartition(topic, p) for p in sorted(found.partitions)]
        # ListOffsets for every partition at once: -2 asks for the earliest offset, -1 the latest.
        lows = self._consumer.offsets_for_times(
            [confluent_kafka.TopicPartition(tp.topic, tp.partition, -2) for tp in partitions], timeout=30
        )
        highs = self._consumer.offsets_for_times(
            [confluent_kafka.TopicPartition(tp.topic, tp.partition, -1) for tp in partitions], timeout=30
        )
        return {
            (low.topic, low.partition): (int(low.offset), int(high.offset))
            for low, high in zip(lows, highs, strict=True)
        }

    def assign(self, firsts: dict[Partition, int]) -> None:
        """Read these partitions, each from its first offset."""
        self.positions.update(firsts)
        self._consumer.assign(
            [confluent_kafka.TopicPartition(t, p, first) for (t, p), first in firsts.items()]
        )

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


_ENVELOPE = tuple((f"ce_{name}", name) for name in CloudEvent.model_fields if name != "data")
"""The CloudEvent attributes a record's headers carry, as `from_kafka` takes them."""


def _read_fast(record: Any, types: dict[str, type[Event]]) -> CloudEvent[Event] | None:
    """The event, when the record is exactly what the contract describes; None for anything else
    (`from_kafka` then decides, with the reason). Where this succeeds, `from_kafka` gives an equal
    event: the envelope is built from the same attributes in the same way, and the data validates
    straight from its JSON without a field to prune (pydantic parses and validates in one pass)."""
    try:
        headers = {k: v.decode() for k, v in record.headers}
    except UnicodeDecodeError:
        return None
    model = types.get(headers.get("ce_type", ""))
    if (
        model is None
        or record.value is None
        or headers.get("ce_specversion") != "1.0"
        or "ce_data" in headers
        or any("\x00" in v for v in headers.values())
    ):
        return None
    try:
        data = model.model_validate_json(record.value)
        return CloudEvent(**{name: headers[h] for h, name in _ENVELOPE if h in headers}, data=data)
    except (ValidationError, ValueError):
        return None


Report = Callable[[int, int, int], None]
"""(records read, events applied, dead letters) of one batch."""


class Part:
    """Reads some partitions and applies them into the rebuild's schema: one per process."""

    def __init__(
        self,
        settings: Settings,
        handlers: EventHandlers,
        schema: str,
        firsts: dict[Partition, int],
        *,
        batch_size: int,
        report: Report,
    ) -> None:
        self.settings = settings
        self.handlers = handlers
        self.types = {t.ce_type(): t for t in handlers.event_types}
        self.schema = store.rebuild_schema(schema)
        self.consumer_name = settings.consumer_group
        self.firsts = dict(firsts)
        """The partitions this part reads, each from this offset."""
        self.batch_size = batch_size
        self.report = report
        self._seen: set[str] = set()
        """The ids of the events applied: the rebuild's inbox, kept here too so that each batch's
        inbox rows go in by COPY. An event's duplicates share its partition, so its part."""
        self._reader = Reader(settings, handlers.topics, f"{self.consumer_name}.rebuild")
        self._writer: asyncpg.Connection | None = None

    async def open(self) -> None:
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
        await asyncio.to_thread(self._reader.assign, self.firsts)

    async def close(self) -> None:
        await asyncio.to_thread(self._reader.close)
        if self._writer is not None:
            await self._writer.close()

    async def read_until(self, targets: dict[Partition, int]) -> None:
        """Apply every record before `targets` (the next offset, per partition). A thread reads
        and decodes the next batch while the database applies this one."""
        targets = {tp: offset for tp, offset in targets.items() if tp in self._reader.positions}
        batches: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=2)

        def poll_and_read() -> Batch:
            return read(self._reader.poll(self.batch_size, 0.02), self.types)

        async def fetch() -> None:
            while not self._reader.reached(targets):
                batch = await asyncio.to_thread(poll_and_read)
                if batch.events or batch.dead:
                    await batches.put(batch)
            await batches.put(None)

        fetching = asyncio.create_task(fetch())
        try:
            while (batch := await batches.get()) is not None:
                applied, dead = await self._apply(batch)
                self.report(len(batch.events) + len(batch.dead), applied, dead)
            await fetching
        finally:
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetching

    async def _apply(self, batch: Batch) -> tuple[int, int]:
        fresh: list[tuple[Any, CloudEvent[Event]]] = []
        ids: set[str] = set()
        for record, event in batch.events:
            if event.id not in self._seen and event.id not in ids:  # a duplicate is applied once
                ids.add(event.id)
                fresh.append((record, event))
        # One run per type, so one statement per table: the handlers give the same rows in any
        # order across types (the latest sequence wins), and the sort keeps each type's order.
        fresh.sort(key=lambda pair: pair[1].type)
        try:
            applied, dead = await self._apply_once(fresh, batch.dead, savepoints=False)
        except Exception as exc:
            if is_transient(exc):  # the database or broker, not the event: read it again
                raise
            log.info("rebuild: a handler failed; applying that batch one by one")
            applied, dead = await self._apply_once(fresh, batch.dead, savepoints=True)
        self._seen.update(event.id for _, event in applied)
        return len(applied), len(dead)

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
                    except Exception as exc:
                        if is_transient(exc):  # the database or broker, not the event: read it again
                            raise
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


class Rebuild:
    """One rebuild into a schema of its own; `run` does it all (see the module's docstring).

    `workers` > 1 spreads the partitions over as many processes, by partition number: topics with
    as many partitions each (as deployed) put all of an aggregate's events in one process, so
    the processes never write the same rows."""

    def __init__(
        self,
        settings: Settings,
        handlers: str = "services.reporting.app:HANDLERS",
        *,
        batch_size: int = 5000,
        workers: int = 1,
        say: Callable[[str], None] = print,
        every_s: float = 2.0,
    ) -> None:
        if not settings.database_url or not settings.kafka_bootstrap_servers:
            raise RuntimeError("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set")
        self.settings = settings
        self.handlers_name = handlers
        self.handlers = _handlers(handlers)
        self.consumer_name = settings.consumer_group
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.say = say
        self.every_s = every_s
        self.schema = f"rebuild_{time.time_ns() // 1000}"
        self.done = 0
        self.applied = 0
        self.dead = 0
        self.total = 0
        self.seconds = 0.0
        self._started = 0.0
        self._said = 0.0

    async def run(self) -> None:
        # A rebuild makes millions of short-lived objects and keeps few: the collector's full
        # passes over everything the process holds would cost more than the decoding itself.
        # The objects alive now are set aside (freeze) and young ones are collected less often.
        with _few_collections():
            await self._run()

    async def _run(self) -> None:
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
        self._started = time.monotonic()
        lister = Reader(self.settings, self.handlers.topics, f"{self.consumer_name}.rebuild")
        try:
            offsets = await asyncio.to_thread(lister.offsets)
            ends = {tp: high for tp, (_, high) in offsets.items()}
            self.total = sum(high - low for low, high in offsets.values())
            shares: list[dict[Partition, int]] = [{} for _ in range(self.workers)]
            for (topic, p), (low, _) in offsets.items():
                shares[p % self.workers][(topic, p)] = low
            shares = [share for share in shares if share]
            self.say(
                f"Rebuilding the reporting projection into {self.schema} from {len(ends)} partitions "
                f"of {len(self.handlers.topics)} topics: {self.total:,} records"
                + (f", in {len(shares)} processes." if len(shares) > 1 else ".")
            )
            async with self._parts(shares) as parts:
                await parts.read_until(ends)
                for statement in later_indexes:
                    await admin.execute(statement)
                async with admin.transaction():
                    await store.lock_live_inbox(admin)
                    live = await store.live_positions(admin, self.consumer_name)
                    # What the live consumer applied, and no further than the topics go now (an
                    # offset beyond their end could never be read: a topic made anew).
                    now = await asyncio.to_thread(lister.offsets)
                    targets = {tp: min(offset + 1, now.get(tp, (0, 0))[1]) for tp, offset in live.items()}
                    await parts.read_until(targets)
                    await store.swap_in(admin, self.schema, self.consumer_name)
        finally:
            await asyncio.to_thread(lister.close)
        self.seconds = time.monotonic() - self._started
        self.say(
            f"Done: {self.done:,} records in {self.seconds:.1f} s "
            f"({self.done / max(self.seconds, 1e-9):,.0f}/s), "
            f"{self.applied:,} events applied, {self.dead:,} dead letters; the rebuilt tables are live."
        )

    @contextlib.asynccontextmanager
    async def _parts(self, shares: list[dict[Partition, int]]) -> AsyncIterator[_Parts]:
        if len(shares) == 1:
            part = Part(
                self.settings,
                self.handlers,
                self.schema,
                shares[0],
                batch_size=self.batch_size,
                report=self._count,
            )
            await part.open()
            try:
                yield _InProcess(part)
            finally:
                await part.close()
            return
        processes = _Processes(self, shares)
        try:
            await processes.start()
            yield processes
        finally:
            await processes.stop()

    def _count(self, records: int, applied: int, dead: int) -> None:
        self.done += records
        self.applied += applied
        self.dead += dead
        now = time.monotonic()
        if now - self._said < self.every_s:
            return
        self._said = now
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:,.0f} s left" if rate > 0 else "time left unknown"
        self.say(f"  {self.done:,} / {self.total:,} records, {rate:,.0f}/s, {eta}")


class _Parts:
    async def read_until(self, targets: dict[Partition, int]) -> None:
        raise NotImplementedError


class _InProcess(_Parts):
    def __init__(self, part: Part) -> None:
        self.part = part

    async def read_until(self, targets: dict[Partition, int]) -> None:
        await self.part.read_until(targets)


class _Processes(_Parts):
    """Parts in processes of their own (spawned), told what to read by a queue each, and
    reporting on one queue for all of them: ("batch", records, applied, dead), ("ready",) or
    ("failed", why)."""

    def __init__(self, rebuild: Rebuild, shares: list[dict[Partition, int]]) -> None:
        self.rebuild = rebuild
        self.shares = shares
        context = multiprocessing.get_context("spawn")
        self.reports: Any = context.Queue()
        self.commands: list[Any] = [context.Queue() for _ in shares]
        self.processes = [
            context.Process(
                target=_part_process,
                args=(
                    rebuild.settings,
                    rebuild.handlers_name,
                    rebuild.schema,
                    share,
                    rebuild.batch_size,
                    commands,
                    self.reports,
                ),
                name=f"rebuild-part-{n}",
                daemon=True,
            )
            for n, (share, commands) in enumerate(zip(shares, self.commands, strict=True))
        ]

    async def start(self) -> None:
        for process in self.processes:
            process.start()
        await self._until_ready()  # each has connected and assigned its partitions

    async def read_until(self, targets: dict[Partition, int]) -> None:
        for commands in self.commands:
            commands.put(targets)
        await self._until_ready()

    async def _until_ready(self) -> None:
        waiting = len(self.processes)
        while waiting:
            report = await asyncio.to_thread(self._next_report)
            if report[0] == "batch":
                self.rebuild._count(*report[1:])
            elif report[0] == "ready":
                waiting -= 1
            else:
                raise RuntimeError(f"a rebuild process failed: {report[1]}")

    def _next_report(self) -> tuple[Any, ...]:
        while True:
            try:
                report: tuple[Any, ...] = self.reports.get(timeout=1)
                return report
            except queue.Empty:
                dead = [p for p in self.processes if not p.is_alive()]
                if dead:
                    return ("failed", f"{dead[0].name} exited with {dead[0].exitcode}")

    async def stop(self) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.kill()


def _part_process(
    settings: Settings,
    handlers: str,
    schema: str,
    share: dict[Partition, int],
    batch_size: int,
    commands: Any,
    reports: Any,
) -> None:
    """A rebuild process: open, then read up to each target it is given until told to stop."""

    async def serve() -> None:
        part = Part(
            settings,
            _handlers(handlers),
            schema,
            share,
            batch_size=batch_size,
            report=lambda records, applied, dead: reports.put(("batch", records, applied, dead)),
        )
        await part.open()
        try:
            reports.put(("ready",))
            while (targets := await asyncio.to_thread(commands.get)) is not None:
                await part.read_until(targets)
                reports.put(("ready",))
        finally:
            await part.close()

    try:
        with _few_collections():
            asyncio.run(serve())
    except BaseException as exc:
        reports.put(("failed", repr(exc)))
        raise


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _handlers(name: str) -> EventHandlers:
    """`module:attribute`, e.g. services.reporting.app:HANDLERS (a process imports it itself)."""
    module, _, attribute = name.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    if not isinstance(found, EventHandlers):
        raise TypeError(f"{name} is not an EventHandlers table")
    return found


def _key_text(key: bytes | None) -> str | None:
    return key.decode(errors="replace").replace("\x00", "\ufffd") if key is not None else None


async def rebuild(
    settings: Settings,
    handlers: str = "services.reporting.app:HANDLERS",
    *,
    batch_size: int = 5000,
    workers: int = 1,
    say: Callable[[str], None] = print,
    every_s: float = 2.0,
) -> Rebuild:
    """Rebuild the projection of the database and broker in `settings`; return what was done."""
    job = Rebuild(settings, handlers, batch_size=batch_size, workers=workers, say=say, every_s=every_s)
    await job.run()
    return job


def main(data_dir: str, batch_size: int, workers: int = 1) -> int:
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
    asyncio.run(rebuild(settings, batch_size=batch_size, workers=workers))
    return 0
