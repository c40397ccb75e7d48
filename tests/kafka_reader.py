"""Read records back from Kafka in tests: every partition of a topic, from the beginning."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_records(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumerRecord]], bool],
    *,
    timeout: float = 20.0,
) -> list[ConsumerRecord]:
    """All records of `topic` seen until `until(records)` holds; fail at the deadline."""
    # earliest: the mock cluster drops a partition's oldest data past 5 MiB, and an offset that is
    # gone must restart from the oldest kept, not jump to the end.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while not until(records):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic}: condition not met within {timeout} s ({len(records)} records)"
                )
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode()
    return None
