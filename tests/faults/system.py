"""The whole system on its embedded parts, every service a real OS process, for the fault suite and
the personal data sweep: a PostgreSQL server and a mock Kafka cluster of its own (restarted and
taken down here, so no other test's server or cluster is disturbed), the five services with their
output kept in one log file each, and a supervisor that restarts a service whose process ended or
whose /healthz says it is broken, as Kubernetes' liveness probe would.

    async with System(folder) as system:
        system.url("registry")
        await system.kill("reporting")        # kill -9, then started again on the same port
        await system.restart_postgres()       # pg_ctl restart -m fast under the running services
        system.broker_down(2); ...; system.broker_up(2)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
from pgserver._commands import pg_ctl
from pgserver.utils import PostmasterInfo

from services.catalog import PORTS
from services.devtools.dev import with_database
from services.devtools.embedded_kafka import MockKafkaCluster
from services.devtools.embedded_postgres import EmbeddedPostgres
from services.devtools.mail_catcher import MailCatcher
from services.runtime.kafka import all_topics
from tests.processes import free_port

SERVICES = tuple(PORTS)
START_S = 120.0
"""How long a (re)started service may take to answer /healthz on a loaded two-core machine."""


class RestartablePostgres:
    """The embedded PostgreSQL in a folder of its own outside pytest's (whose permissions another
    pytest run may reset, locking out the server's user), with a fast restart."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="livskraft-faults-"))
        self._embedded = EmbeddedPostgres(self.folder / "pgdata", throwaway=True)
        self.restarts = 0

    def url(self, database: str = "postgres") -> str:
        return self._embedded.url(database)

    def restart(self) -> float:
        """`pg_ctl restart -m fast`: every connection is cut, the server is back within a moment.
        Returns how long it took, in seconds."""
        server = self._embedded._server
        started = time.monotonic()
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(server.log), "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=60,
        )
        server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)  # the new postmaster
        self.restarts += 1
        return time.monotonic() - started

    def close(self) -> None:
        self._embedded.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class ServiceRun:
    """One service's process, started again on the same port after each kill."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", self.name],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1

    async def healthy(self, timeout: float = START_S) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.name} exited ({self.process.returncode}); see {self.log_path}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} did not answer /healthz within {timeout} s; see {self.log_path}")

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class System:
    """Every service as a process on a PostgreSQL server and a mock Kafka cluster of its own."""

    def __init__(
        self,
        logs: Path,
        *,
        today: str = "2010-01-20",
        services: tuple[str, ...] = SERVICES,
        env: dict[str, str] | None = None,
        supervise: bool = True,
    ) -> None:
        self.logs = logs
        self.today = today
        self.services = services
        self.extra_env = env or {}
        self.supervise = supervise
        self.data_dir = logs / "data"
        self.postgres: RestartablePostgres | None = None
        self.cluster: MockKafkaCluster | None = None
        self.mail: MailCatcher | None = None
        self.runs: dict[str, ServiceRun] = {}
        self.kills: Counter[str] = Counter()
        self.restarts_by_supervisor: Counter[str] = Counter()
        self.broker_outages = 0
        self._supervisor: asyncio.Task[None] | None = None

    # -- Start and stop ---------------------------------------------------------------------------

    async def __aenter__(self) -> System:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = await asyncio.to_thread(RestartablePostgres)
        self.cluster = MockKafkaCluster(brokers=3)
        self.cluster.create_topics(all_topics(), partitions=3)
        self.mail = MailCatcher().__enter__()
        conn = await asyncpg.connect(self.postgres.url())
        try:
            for service in self.services:
                await conn.execute(f'CREATE DATABASE "livskraft_{service}"')
        finally:
            await conn.close()
        ports = {service: free_port() for service in self.services}
        for service in self.services:
            run = ServiceRun(service, ports[service], self._env(service, ports), self.logs / f"{service}.log")
            self.runs[service] = run
            run.spawn()
        try:
            await asyncio.gather(*(run.healthy() for run in self.runs.values()))
        except BaseException:
            await self.__aexit__()
            raise
        if self.supervise:
            self._supervisor = asyncio.create_task(self._supervise())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await asyncio.gather(*(asyncio.to_thread(run.stop) for run in self.runs.values()))
        if self.mail is not None:
            self.mail.__exit__()
        if self.cluster is not None:
            self.cluster.close()
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.close)

    def _env(self, service: str, ports: dict[str, int]) -> dict[str, str]:
        assert self.postgres is not None and self.cluster is not None and self.mail is not None
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LIVSKRAFT_")},
            "DATABASE_URL": with_database(self.postgres.url(), f"livskraft_{service}"),
            "KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap_servers,
            "LIVSKRAFT_SERVICE": service,
            "LIVSKRAFT_HTTP_PORT": str(ports[service]),
            "LIVSKRAFT_DATA_DIR": str(self.data_dir),
            "LIVSKRAFT_TODAY": self.today,
            "LIVSKRAFT_RELAY_POLL_INTERVAL_S": "0.2",
            "LIVSKRAFT_SMTP_PORT": str(self.mail.port),
            "LIVSKRAFT_WEBHOOK_RETRY_BASE_S": "0.5",
            "LIVSKRAFT_WEBHOOK_RETRY_FACTOR": "2",
            "LIVSKRAFT_WEBHOOK_RETRY_MAX_S": "2",
            "LIVSKRAFT_WEBHOOK_POLL_INTERVAL_S": "0.2",
            "LIVSKRAFT_WEBHOOK_TIMEOUT_S": "10",
            "LIVSKRAFT_REMINDER_INTERVAL_S": "5",
            **self.extra_env,
        }
        if "registry" in ports:
            env["LIVSKRAFT_REGISTRY_URL"] = f"http://127.0.0.1:{ports['registry']}"
        env.pop("KAFKA_SECURITY_PROTOCOL", None)
        return env

    # -- Where things are -------------------------------------------------------------------------

    def url(self, service: str) -> str:
        return self.runs[service].url

    def database_url(self, service: str) -> str:
        assert self.postgres is not None
        return with_database(self.postgres.url(), f"livskraft_{service}")

    @property
    def bootstrap(self) -> str:
        assert self.cluster is not None
        return self.cluster.bootstrap_servers

    def log_text(self, service: str) -> str:
        return self.runs[service].log_path.read_text(errors="replace")

    # -- Faults -----------------------------------------------------------------------------------

    async def kill(self, service: str) -> None:
        """kill -9, and started again at once on the same port; returns when it is healthy."""
        run = self.runs[service]
        async with run.lock:
            run.kill9()
            self.kills[service] += 1
            run.spawn()
            await run.healthy()

    async def restart_postgres(self) -> float:
        assert self.postgres is not None
        return await asyncio.to_thread(self.postgres.restart)

    def broker_down(self, broker: int) -> None:
        assert self.cluster is not None
        self.cluster.set_broker_down(broker)
        self.broker_outages += 1

    def broker_up(self, broker: int) -> None:
        assert self.cluster is not None
        self.cluster.set_broker_up(broker)

    async def _supervise(self) -> None:
        await asyncio.gather(*(self._watch(run) for run in self.runs.values()))

    async def _watch(self, run: ServiceRun) -> None:
        """Restart the service when its process ended, or its /healthz says it is broken."""
        async with httpx.AsyncClient(timeout=3) as client:
            while True:
                await asyncio.sleep(1.0)
                if run.lock.locked():
                    continue  # being restarted
                broken = run.process is not None and run.process.poll() is not None
                if not broken:
                    with contextlib.suppress(httpx.HTTPError, ValueError):
                        answer = await client.get(f"{run.url}/healthz")
                        body: Any = answer.json()
                        broken = answer.status_code == 503 and body.get("status") == "broken"
                if broken:
                    async with run.lock:
                        run.kill9()
                        self.restarts_by_supervisor[run.name] += 1
                        run.spawn()
                        await run.healthy()
