"""`livskraft dev`: the whole system on one machine, on its embedded defaults.

This process hosts the embedded parts: PostgreSQL from the pgserver wheel (data kept in
`.livskraft/pgdata` between runs) and librdkafka's mock Kafka cluster (3 brokers, in memory).
Each service runs as its own process with its own database, as in production. Where
DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS is set, that server is used instead.
Ctrl-C (or SIGTERM) stops the services, then the cluster and the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

from services.devtools.embedded_kafka import MockKafkaCluster
from services.devtools.embedded_postgres import EmbeddedPostgres
from services.devtools.mail_catcher import MailCatcher
from services.runtime.kafka import all_topics


def with_database(server_url: str, database: str) -> str:
    """The same server's URL, naming another database."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


def database_url_for(server_url: str, service: str) -> str:
    """The URL of the service's own database `livskraft_<service>` on the given server."""
    return with_database(server_url, f"livskraft_{service}")


def _create_databases(server_url: str, services: list[str]) -> None:
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            for service in services:
                name = f"livskraft_{service}"
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


def wait_healthy(url: str, deadline_s: float = 60) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return True
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def run_dev(*, ports: dict[str, int], today: str | None, data_dir: str) -> int:
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    postgres = cluster = None
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        postgres = EmbeddedPostgres(data / "pgdata")
        server_url = postgres.url()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        cluster = MockKafkaCluster(brokers=3)
        cluster.create_topics(all_topics(), partitions=3)
        bootstrap = cluster.bootstrap_servers
    _create_databases(server_url, list(ports))
    # notify's e-mail: an SMTP server on loopback that keeps every mail, unless one is configured
    mail = None if os.environ.get("LIVSKRAFT_SMTP_HOST") else MailCatcher(folder=data / "mail")
    if mail:
        mail.start()

    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for service, port in ports.items():
            env = {
                **os.environ,
                "DATABASE_URL": database_url_for(server_url, service),
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "LIVSKRAFT_SERVICE": service,
                "LIVSKRAFT_HTTP_PORT": str(port),
                "LIVSKRAFT_DATA_DIR": str(data),
            }
            if today:
                env["LIVSKRAFT_TODAY"] = today
            if mail:
                env |= {"LIVSKRAFT_SMTP_HOST": mail.host, "LIVSKRAFT_SMTP_PORT": str(mail.port)}
            if "registry" in ports:  # where notify looks up contact addresses
                env["LIVSKRAFT_REGISTRY_URL"] = f"http://127.0.0.1:{ports['registry']}"
            children[service] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", service], env=env
            )
        urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
        for service, url in urls.items():
            if not wait_healthy(url):
                print(f"livskraft dev: {service} did not start at {url}", file=sys.stderr)
                return 1
        info = {
            "services": urls,
            "kafka_bootstrap_servers": bootstrap,
            "kafka": "librdkafka mock cluster (in memory)" if cluster else "external",
            "database": "embedded PostgreSQL" if postgres else "external",
            "database_urls": {s: database_url_for(server_url, s) for s in ports},
            "today": today,
            "mail": {"smtp": f"{mail.host}:{mail.port}", "kept_in": str(data / "mail")} if mail else None,
            "pid": os.getpid(),
        }
        # Written whole, then renamed: whoever waits for dev.json never reads half of it.
        partial = data / "dev.json.partial"
        partial.write_text(json.dumps(info, indent=2))
        partial.replace(data / "dev.json")
        print("\nLivskraft is running on its embedded defaults:")
        for service, url in urls.items():
            print(f"  {service:<11} {url}   (OpenAPI: {url}/docs, metrics: {url}/metrics)")
        print(f"  kafka       {bootstrap}")
        print(f"  postgresql  {server_url}")
        if mail:
            print(f"  mail        smtp://{mail.host}:{mail.port}; each message kept in {data / 'mail'}/*.eml")
        print("  webhooks    development: notify takes endpoints on loopback (http://127.0.0.1:...) too")
        print(
            f"Written to {data / 'dev.json'}. Next: `livskraft demo`. Ctrl-C stops everything.\n", flush=True
        )
        while not stopping:
            for service, child in children.items():
                if child.poll() is not None:
                    print(f"livskraft dev: {service} exited ({child.returncode}); stopping", file=sys.stderr)
                    return 1
            time.sleep(0.3)
        return 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        (data / "dev.json").unlink(missing_ok=True)
        if mail:
            mail.close()
        if cluster:
            cluster.close()
        if postgres:
            postgres.close()
        print("livskraft dev: stopped", flush=True)
