"""Run a service as its own OS process, as `livskraft dev` does, so tests can kill it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from services.devtools.dev import wait_healthy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    def __init__(
        self,
        service: str,
        *,
        database_url: str,
        bootstrap: str,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LIVSKRAFT_SERVICE": service,
            "LIVSKRAFT_HTTP_PORT": str(self.port),
            "LIVSKRAFT_DATA_DIR": str(data_dir),
            "LIVSKRAFT_RELAY_POLL_INTERVAL_S": "0.2",
            **(extra_env or {}),
        }
        self.process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", service], env=env)
        if not wait_healthy(self.url, deadline_s=60):
            self.process.kill()
            raise AssertionError(f"{service} did not start")

    def wait_exit(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
