"""The fault suite at CI's load: every service as a real process under a steady load of commands,
through kill -9 of each service, a broker down, PostgreSQL restarted, and all three interleaved.
Nothing answered 2xx is lost, nothing is done or applied twice, every other answer is a 4xx or a
503 problem, never a 500. The figures are printed (`tests/faults/suite.py`; ten times the load:
`bench/fault_suite.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.suite import run_suite

FLOWS_PER_PHASE = 6
"""A network's life each: about 20 commands across the registry, indicators, gatherings, notify."""
WORKERS = 4


@pytest.mark.timeout(900)  # about two minutes on two free cores; more on a busy machine
async def test_nothing_lost_nothing_twice_no_500_through_kills_broker_outages_and_database_restarts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    def say(line: str) -> None:
        with capsys.disabled():
            print(f"\n[fault suite] {line}", end="")

    figures = await run_suite(tmp_path / "logs", flows_per_phase=FLOWS_PER_PHASE, workers=WORKERS, say=say)
    say(figures.report("figures") + "\n")

    assert figures.failures() == []
    assert figures.answered["5xx"] == 0
    assert figures.answered["2xx"] > 0.9 * figures.commands
    assert set(figures.kills) == {"registry", "gatherings", "reporting", "notify", "indicators"}
    assert figures.broker_outages >= 2 and figures.postgres_restarts >= 2
    assert figures.webhooks_acknowledged > 0
