"""Shared fixtures: the real embedded parts, started once per test session.

Kafka: librdkafka's mock cluster (3 brokers over TCP), or a real broker when
KAFKA_BOOTSTRAP_SERVERS is set. PostgreSQL: a throwaway pgserver instance, or the server in
DATABASE_URL. Every test that needs a database gets a fresh one, so tests never share state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import confluent_kafka
import httpx
import pytest

from services.catalog import app_factory
from services.devtools.dev import with_database
from services.devtools.embedded_kafka import MockKafkaCluster
from services.devtools.embedded_postgres import EmbeddedPostgres
from services.devtools.tokens import issue_dev_token
from services.runtime.kafka import all_topics
from services.runtime.settings import Settings


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[MockKafkaCluster | None]:
    """The mock cluster, or None when the tests run against a real broker."""
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


@pytest.fixture
def mock_cluster(kafka_cluster: MockKafkaCluster | None) -> MockKafkaCluster:
    """For fault-injection tests, which need the mock's broker controls."""
    if kafka_cluster is None:
        pytest.skip("fault injection needs librdkafka's mock cluster (unset KAFKA_BOOTSTRAP_SERVERS)")
    return kafka_cluster


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", throwaway=True)
    yield server.url()
    server.close()


@pytest.fixture
async def new_database(pg_server: str) -> Callable[[str], Awaitable[str]]:
    """Create a fresh database and return its URL: `url = await new_database("registry")`."""

    async def create(label: str) -> str:
        name = f"{label}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(pg_server)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return with_database(pg_server, name)

    return create


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "livskraft"


@pytest.fixture
def token(data_dir: Path) -> Callable[..., str]:
    """`token("staff")`, `token("municipality", kommune="1702")`: development bearer tokens."""

    def issue(role: str, kommune: str | None = None) -> str:
        return issue_dev_token(data_dir, role, kommune=kommune)

    return issue


class KafkaAtTestStart:
    """Where every topic ended when the test began, and the consumer groups placed there.

    A consumer group with no committed offsets reads its topics from the beginning, as a service
    deployed on a new cluster must. In one test session the topics hold every earlier test's events
    too (each registry start alone publishes 870 municipality versions), so a service started late in
    the session would first work through tens of thousands of events that belong to other tests.
    Committing the test's starting offsets for each new group before its service starts gives every
    test the cluster it would have on its own: its services read all of the test's events, and only
    those. The service runs unchanged; this is an ordinary OffsetCommit, as `kafka-consumer-groups
    --reset-offsets --to-datetime` makes."""

    def __init__(self, bootstrap: str) -> None:
        self._config = {"bootstrap.servers": bootstrap, "enable.auto.commit": False}
        self._placed: set[str] = set()
        reader = confluent_kafka.Consumer({**self._config, "group.id": "test.start"})
        try:
            metadata = reader.list_topics(timeout=30)
            partitions = [
                confluent_kafka.TopicPartition(topic, p, -1)  # -1: the end of the partition now
                for topic in all_topics()
                for p in sorted(metadata.topics[topic].partitions)
            ]
            self.ends = reader.offsets_for_times(partitions, timeout=30)
        finally:
            reader.close()

    def place(self, group_id: str) -> None:
        """Start `group_id` at the test's beginning (once; a restarted service keeps its offsets)."""
        if group_id in self._placed:
            return
        group = confluent_kafka.Consumer({**self._config, "group.id": group_id})
        try:
            group.commit(offsets=self.ends, asynchronous=False)
        finally:
            group.close()
        self._placed.add(group_id)


@pytest.fixture
def kafka_at_start(bootstrap: str) -> KafkaAtTestStart:
    return KafkaAtTestStart(bootstrap)


@pytest.fixture
def service_settings(
    bootstrap: str, data_dir: Path, kafka_at_start: KafkaAtTestStart
) -> Callable[..., Settings]:
    """`service_settings("registry", url, **overrides)`: a service's settings for this test, its
    consumer group (new unless `consumer_group_id` is given) starting where the test began, or at
    the beginning of every topic with `from_the_beginning=True`."""

    def make(
        service: str,
        database_url: str,
        consumer_group_id: str | None = None,
        from_the_beginning: bool = False,
        **overrides: Any,
    ) -> Settings:
        group = consumer_group_id or f"test.{service}.{uuid.uuid4().hex[:8]}"
        if not from_the_beginning:
            kafka_at_start.place(group)
        return Settings(
            service=service,
            database_url=database_url,
            kafka_bootstrap_servers=bootstrap,
            data_dir=data_dir,
            relay_poll_interval_s=0.2,
            consumer_group_id=group,
            **overrides,
        )

    return make


@pytest.fixture
async def start_service(
    new_database: Callable[[str], Awaitable[str]], service_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """Run a service in this process, lifespan and all, against the real database and Kafka.

    `client = await start_service("registry", today=date(2010, 1, 20))`: an httpx client that
    talks to it. Its database is fresh unless `database_url` is given.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(service: str, database_url: str | None = None, **overrides: Any) -> httpx.AsyncClient:
            url = database_url or await new_database(service)
            app = app_factory(service)(service_settings(service, url, **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
            client.app = app  # type: ignore[attr-defined]
            await stack.enter_async_context(client)
            return client

        yield start


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, every: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy, or fail at the deadline.

    The deadline is generous on purpose: a service started in a test joins a new consumer group and
    reads the session's topics from the beginning, and on a busy machine that catch-up can take tens
    of seconds. A check that holds returns at once, whatever the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"not true within {timeout} s; last value: {last!r}")
