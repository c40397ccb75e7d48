"""Reporting's tests read whole topics (statistics count every network there is; a rebuild
replays everything from offset zero), so they get a mock Kafka cluster of their own: what other
tests publish does not change the counts here. Against a real broker (KAFKA_BOOTSTRAP_SERVERS)
they share it. Helpers to make and send events are in tests/reporting/events.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.devtools.embedded_kafka import MockKafkaCluster
from services.runtime.kafka import all_topics


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[MockKafkaCluster | None]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield None
        return
    cluster = MockKafkaCluster(brokers=3)
    cluster.create_topics(all_topics(), partitions=3)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def bootstrap(kafka_cluster: MockKafkaCluster | None) -> str:
    return kafka_cluster.bootstrap_servers if kafka_cluster else os.environ["KAFKA_BOOTSTRAP_SERVERS"]
