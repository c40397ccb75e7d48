"""A service's consumers: one FastStream batch subscriber on a `KafkaBroker`, over the inbox.

`subscribe(broker, inbox, ...)` declares, for the topics of the service's `ServiceSpec.consumes`, a
batch subscriber whose handler hands each batch to `Inbox.process` (inbox.py: the inbox, savepoints
and dead letters). `build_app` calls it for every service that consumes, so the subscription is
derived from the one declaration in the service's `app.py` and nothing else. It is not an
`@broker.subscriber` in each service module: the handler needs the pool and producer that only
exist in the lifespan, and tests run one service several times in a process (one broker each).

How FastStream 0.7.8 is set up here, and why (see its `kafka/parser.py`, `kafka/message.py`,
`middlewares/acknowledgement/`):
- `parser=` builds the message without touching the headers: FastStream's own parser decodes every
  header as UTF-8 and raises on a record that is not, before any handler runs. The parser must not
  raise: the ack middleware would fall back to the default parser, which raises on the same headers,
  so the batch would be neither acked nor nacked, and the next commit would pass over it.
- `decoder=` reads the records into CloudEvents (`inbox.read`); a record that cannot be read is a dead
  letter, never an exception. Records keep their original bytes and headers for the dead-letter topic,
  which goes through the runtime's aiokafka producer: `broker.publish` takes headers as text.
- `AckPolicy.NACK_ON_ERROR`: when the handler returns, the offsets are committed (after the inbox
  transaction); when it raises, every partition of the batch is sought back and read again. It has no
  delay, so the handler backs off before raising (0.1 s doubling to 30 s), and rewinds the partitions
  it still owns itself first: FastStream's nack stops at the first partition lost to a rebalance.
  A commit refused after a rebalance is logged by FastStream and harmless: the partition's new owner
  reads those records again and its inbox drops them.
- `consumer_only=True`: no second producer and no admin client; topics come from `deploy/`.
- FastStream's Prometheus middleware adds `faststream_received_*` (records, bytes, records in process,
  outcome, processing time, exceptions by type) beside our `livskraft_*` metrics, which it does not
  duplicate (events by type and outcome applied/duplicate/failed, dead letters, lag).

The liveness of the consume loop and the lag per partition are watched by `Subscription.watch`, which
the app runs as a task: it ends, and /healthz fails, when FastStream's loop has stopped for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.middlewares import AckPolicy
from faststream.security import BaseSecurity
from prometheus_client import REGISTRY

from . import metrics
from .faults import is_transient
from .inbox import Batch, Inbox
from .settings import Settings

log = logging.getLogger(__name__)

POLL_MS = 20
"""How long a poll waits for records; FastStream then sleeps as long again when there were none.
Short, so a consumer that has caught up is not late for the next record (aiokafka's background
fetches cost far more than these polls: an idle consumer spends the same CPU at 20 ms as at 1 s)."""
GRACEFUL_SHUTDOWN_S = 5.0
"""At shutdown, a batch being applied gets this long to commit before it is cancelled (rolled back)."""


def make_broker(settings: Settings, service: str) -> KafkaBroker:
    """A consumer-only broker with the service's connection and TLS options (Settings.kafka_options)."""
    options = settings.kafka_options()
    security = BaseSecurity(ssl_context=options["ssl_context"]) if "ssl_context" in options else None
    return KafkaBroker(
        options["bootstrap_servers"].split(","),
        security=security,
        client_id=f"livskraft-{service}",
        consumer_only=True,
        allow_auto_create_topics=False,
        apply_types=False,  # the handler takes the decoded batch as it is
        graceful_timeout=GRACEFUL_SHUTDOWN_S,
        middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service)],
        logger=logging.getLogger(f"{__name__}.faststream"),
        log_level=logging.DEBUG,  # "Received"/"Processed" per batch; failures log at ERROR
    )


class Subscription:
    """The subscriber declared for one inbox, with what it needs around FastStream's loop."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.subscriber: BatchSubscriber | None = None
        self._failures = 0

    async def parse(
        self, records: tuple[Any, ...], original: Callable[[Any], Awaitable[KafkaMessage]]
    ) -> KafkaMessage:
        """The batch as a FastStream message, headers untouched (they need not be UTF-8)."""
        first, last = records[0], records[-1]
        message_id = f"{first.topic}[{first.partition}]@{first.offset}-{last.offset}"
        return KafkaAckableMessage(
            raw_message=records,
            body=[r.value or b"" for r in records],
            message_id=message_id,
            correlation_id=message_id,
            consumer=self._consumer(),
        )

    async def decode(self, message: KafkaMessage) -> Batch:
        return self.inbox.read(message.raw_message)

    async def consume(self, batch: Batch) -> None:
        """Apply one batch through the inbox; on a failure, back off, rewind and raise (nack)."""
        try:
            await self.inbox.process(batch)
        except Exception as exc:
            self._failures += 1
            if is_transient(exc):
                log.warning("consumer %s: %r; will read the batch again", self.inbox.name, exc)
            else:
                log.exception("consumer %s: unexpected failure; will read the batch again", self.inbox.name)
            self._rewind(batch)
            await self._back_off()
            raise
        self._failures = 0

    def _consumer(self) -> Any:
        assert self.subscriber is not None and self.subscriber.consumer is not None
        return self.subscriber.consumer

    def _rewind(self, batch: Batch) -> None:
        """Seek each partition of the batch that this consumer still owns back to its first record."""
        consumer = self._consumer()
        first: dict[TopicPartition, int] = {}
        for r in batch.records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        owned = consumer.assignment()
        for tp, offset in first.items():
            if tp in owned:  # a partition taken away meanwhile is read from its commit by the new owner
                consumer.seek(tp, offset)

    async def _back_off(self) -> None:
        """Wait 0.1 s doubling to 30 s with each failure in a row (at shutdown, FastStream cancels
        the wait after GRACEFUL_SHUTDOWN_S; nothing was committed, so nothing is lost)."""
        await asyncio.sleep(min(0.1 * 2**self._failures, 30.0))

    async def watch(self, every_s: float = 1.0) -> None:
        """Run beside the broker: observe the lag per partition, and end (failing /healthz) when the
        subscriber's consume loop has stopped for good (seen twice in a row, as FastStream's
        supervisor restarts a loop that raised)."""
        stopped_before = False
        while True:
            await asyncio.sleep(every_s)
            subscriber = self.subscriber
            alive = (
                subscriber is not None and subscriber.running and any(not t.done() for t in subscriber.tasks)
            )
            if not alive and stopped_before:
                raise RuntimeError(f"the Kafka subscriber of {self.inbox.name} stopped")
            stopped_before = not alive
            if alive:
                await self._observe_lag()

    async def _observe_lag(self) -> None:
        consumer = self._consumer()
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            try:
                position = await consumer.position(tp)
            except Exception:  # the partition went in a rebalance meanwhile
                continue
            lag = max(end - position, 0)
            metrics.CONSUMER_LAG.labels(self.inbox.service, tp.topic, str(tp.partition)).set(lag)


def subscribe(
    broker: KafkaBroker,
    inbox: Inbox,
    *,
    batch_size: int = 500,
    fetch_max_wait_ms: int = 10,
) -> Subscription:
    """Declare the batch subscriber of `inbox`'s topics, in its consumer group, on `broker`."""
    subscription = Subscription(inbox)
    subscriber = broker.subscriber(
        *inbox.topics,
        batch=True,
        group_id=inbox.name,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_poll_records=batch_size,
        max_records=batch_size,
        batch_timeout_ms=POLL_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=subscription.parse,
        decoder=subscription.decode,
        include_in_schema=False,  # the service's own AsyncAPI document describes it (asyncapi.py)
    )
    subscriber(subscription.consume)
    subscription.subscriber = subscriber
    return subscription
