"""SIGTERM, as Kubernetes sends it, to real service processes under load: each stops taking
requests and records, finishes what it had started, commits, and exits in time; after a restart
nothing that was answered 2xx is missing and nothing is applied, or even published, twice.

The registry takes a continuous stream of commands (four clients at once); reporting consumes
what it publishes. Reporting is stopped first, mid-stream, and started again; then the registry,
while Kafka answers slowly (every broker 300 ms away), so that its relay is in the middle of
publishing a batch when the signal comes.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import asyncpg
import httpx
from livskraft_contracts import NetworkCreated

from services.devtools.embedded_kafka import MockKafkaCluster
from tests.conftest import eventually
from tests.e2e.test_backbone import SEED_NETWORK
from tests.kafka_reader import header, read_records
from tests.processes import ServiceProcess

GRACE_S = 35.0
"""The pods' terminationGracePeriodSeconds (40) less their preStop pause (5)."""
WORKERS = 4


class Load:
    """Clients that create networks without a pause, at whichever registry is current."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answered: list[str] = []  # network ids answered 201
        self.refused = 0  # connection refused or dropped: the command was not taken
        self.started = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(WORKERS)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            url = self.url
            try:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    while not self._stop.is_set() and url == self.url:
                        self.started += 1
                        body = {**SEED_NETWORK, "name": f"Nettverk {worker}-{n}-{self.started}"}
                        answer = await client.post("/networks", json=body, headers=self.headers)
                        assert answer.status_code == 201, answer.text  # never a 5xx while stopping
                        self.answered.append(answer.json()["id"])
            except httpx.TransportError:
                self.refused += 1
                await asyncio.sleep(0.05)

    async def until(self, more: int, timeout: float = 60) -> None:
        """Wait until `more` further commands have been answered."""
        target = len(self.answered) + more
        await eventually(lambda: asyncio.sleep(0, len(self.answered) >= target), timeout=timeout)


@contextmanager
def slow_brokers(cluster: MockKafkaCluster, rtt_ms: int) -> Iterator[None]:
    lib = cluster._lib
    lib.rd_kafka_mock_broker_set_rtt.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int]
    try:
        for broker in range(1, cluster.brokers + 1):
            lib.rd_kafka_mock_broker_set_rtt(cluster._mc, broker, rtt_ms)
        yield
    finally:
        for broker in range(1, cluster.brokers + 1):
            lib.rd_kafka_mock_broker_set_rtt(cluster._mc, broker, 0)


async def terminate(process: ServiceProcess) -> float:
    """SIGTERM; the process must exit within the grace period. Returns how long it took.

    After its graceful shutdown uvicorn raises the signal it caught again, with the default
    handler, so the exit status says "ended by SIGTERM" as it would for any program."""
    started = time.monotonic()
    process.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(process.wait_exit, GRACE_S)
    took = time.monotonic() - started
    assert code in (0, -signal.SIGTERM), f"exit code {code} after SIGTERM"
    return took


def scrape(url: str, metric: str, label: str) -> float:
    """The sum of a metric's samples on /metrics that carry `label` (`name="value"`)."""
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(metric + "{") and label in line
    )


async def test_sigterm_under_load_loses_nothing_and_applies_nothing_twice(
    new_database, bootstrap: str, data_dir: Path, token, mock_cluster: MockKafkaCluster, kafka_at_start
) -> None:
    registry_db, reporting_db = await new_database("registry"), await new_database("reporting")
    quiet = {"LIVSKRAFT_LOG_LEVEL": "WARNING"}
    registry_env = {**quiet, "LIVSKRAFT_TODAY": "2010-01-20"}
    group = f"test.reporting.{uuid.uuid4().hex[:8]}"
    kafka_at_start.place(group)
    reporting_env = {**quiet, "LIVSKRAFT_CONSUMER_GROUP_ID": group}

    def start(service: str, database: str, env: dict[str, str]) -> ServiceProcess:
        return ServiceProcess(
            service, database_url=database, bootstrap=bootstrap, data_dir=data_dir, extra_env=env
        )

    registry = await asyncio.to_thread(start, "registry", registry_db, registry_env)
    reporting = await asyncio.to_thread(start, "reporting", reporting_db, reporting_env)
    stops: dict[str, float] = {}
    try:
        async with Load(registry.url, token("staff")) as load:
            await load.until(40)
            # Reporting, mid-stream: it stops reading, finishes its batch and commits.
            stops["reporting"] = await terminate(reporting)
            await load.until(40)
            reporting = await asyncio.to_thread(start, "reporting", reporting_db, reporting_env)
            await load.until(40)
            # The registry, mid-stream, while each batch of its relay waits 300 ms for Kafka.
            with slow_brokers(mock_cluster, 300):
                await load.until(20)
                stops["registry"] = await terminate(registry)
            answered_before = len(load.answered)
            registry = await asyncio.to_thread(start, "registry", registry_db, registry_env)
            load.url = registry.url
            await load.until(40)
        assert answered_before >= 140 and load.refused >= 1, (answered_before, load.refused)
        answered = load.answered

        conn = await asyncpg.connect(registry_db)
        try:
            rows = await conn.fetch(
                "SELECT id::text, aggregate_id FROM outbox WHERE topic = $1", NetworkCreated.topic()
            )
            await eventually(
                lambda: conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"),
                timeout=60,
            )
        finally:
            await conn.close()
        # Nothing lost on the producer's side: every command answered 201 has its event.
        event_of = {row["aggregate_id"]: row["id"] for row in rows}
        assert set(answered) <= event_of.keys()
        ours = {event_of[n] for n in answered}
        # Published exactly once: the stopping relay finished its batch and marked it published.
        records = await read_records(
            bootstrap,
            NetworkCreated.topic(),
            until=lambda rs: ours <= {header(r, "ce_id") for r in rs},
            timeout=60,
        )
        copies = [header(r, "ce_id") for r in records if header(r, "ce_id") in ours]
        assert len(copies) == len(ours), f"{len(copies) - len(ours)} events published twice"

        conn = await asyncpg.connect(reporting_db)
        try:

            async def all_applied() -> bool:
                found = await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", list(ours))
                return bool(found == len(ours))

            await eventually(all_applied, timeout=90)
            networks = await conn.fetchval(
                "SELECT count(*) FROM networks WHERE network_id = ANY($1::uuid[])", answered
            )
            # Only ours: the topics are the session's, and other tests plant poison records in them.
            dead = await conn.fetchval(
                "SELECT count(*) FROM dead_letters WHERE key = ANY($1::text[])", answered
            )
        finally:
            await conn.close()
        assert networks == len(answered) == len(set(answered))
        assert dead == 0
        # Applied once: the stopped consumer had committed what it applied, so its successor read
        # nothing a second time (the inbox would have skipped it, as a duplicate).
        applied = scrape(reporting.url, "livskraft_events_consumed_total", 'outcome="applied"')
        duplicates = scrape(reporting.url, "livskraft_events_consumed_total", 'outcome="duplicate"')
        assert applied > 0 and duplicates == 0, (applied, duplicates)
    finally:
        for process in (registry, reporting):
            with suppress(Exception):
                process.stop()
    assert all(took < GRACE_S for took in stops.values()), stops
    print(f"stopped within {stops} s; {len(answered)} commands answered, {load.refused} refused")
