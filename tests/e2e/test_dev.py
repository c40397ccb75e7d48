"""`livskraft dev` on its embedded defaults, `livskraft demo` against it, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

from tests.processes import free_port


def _get(url: str) -> int:
    with urlopen(url, timeout=5) as answer:
        return answer.status


def test_dev_runs_every_service_the_demo_plays_the_scenario_and_ctrl_c_stops_all(tmp_path: Path):
    data_dir = tmp_path / ".livskraft"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    ports = {name: free_port() for name in ("registry", "gatherings", "reporting", "notify", "indicators")}
    port_args = [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
    dev = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "dev",
            "--today",
            "2010-01-20",
            "--data-dir",
            str(data_dir),
            *port_args,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (data_dir / "dev.json").exists():
            assert dev.poll() is None, "livskraft dev exited early"
            assert time.monotonic() < deadline, "no dev.json within 120 s"
            time.sleep(0.2)
        info = json.loads((data_dir / "dev.json").read_text())
        assert info["services"] == {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        assert info["kafka"] == "librdkafka mock cluster (in memory)"
        assert len(info["kafka_bootstrap_servers"].split(",")) == 3
        for url in info["services"].values():
            assert _get(f"{url}/healthz") == 200
            assert _get(f"{url}/readyz") == 200

        demo = subprocess.run(
            [sys.executable, "-m", "services.cli", "demo", "--data-dir", str(data_dir)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        # The registry imported its bundled KLASS data when it started; the demo shows it.
        assert "0. The registry knows 870 municipality versions from SSB KLASS (bundled" in demo.stdout
        assert "importing them again: 0 new, 0 changed, 870 unchanged" in demo.stdout
        assert "1702 from 1971-01-01 -> 5004 from 2018-01-01 -> 5006 from 2020-01-01" in demo.stdout
        assert "1702 Steinkjer: confirmed, 2010/02" in demo.stdout
        assert "1736 Snåase - Snåsa: submitted, no decision" in demo.stdout
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            code = dev.wait(timeout=60)
        finally:
            dev.kill()
    assert code == 0
    assert "livskraft dev: stopped" in dev.stdout.read()
    assert not (data_dir / "dev.json").exists()
    assert (data_dir / "pgdata" / "PG_VERSION").exists()  # kept for the next run
