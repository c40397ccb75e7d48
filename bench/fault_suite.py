"""The fault suite at ten times CI's load, with its figures.

    uv run python -m bench.fault_suite [--scale 10] [--workers 8] [--seed 1]

The same run as tests/faults/test_fault_suite.py (tests/faults/suite.py): every service as a real
OS process on a PostgreSQL server and a librdkafka mock cluster of their own, a steady load of
commands across the services (networks, invitations, enrolments, contacts and decisions through
the registry; indicator values; gatherings scheduled and registrations; webhook subscriptions at
notify), each with an Idempotency-Key and retried with it after a 503 or a lost connection; four
phases: kill -9 of each service (again and again while the phase's flows run), one broker down
for a few seconds, PostgreSQL restarted, all three interleaved. Afterwards every command answered
2xx must be in reporting exactly once, every webhook acknowledged once per webhook-id (unless a
fault came between), every outbox drained, no inbox holding an event twice, every other answer a
4xx or a 503 problem, no 500. Prints the figures; exits 1 if anything was lost, doubled or a 500.

`--scale 10` is ten times CI's flows per phase (CI: 6 flows a phase, about 20 commands each),
so the faults also come about ten times as often: each kind waits for a few flows to finish
after the one before.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/fault_suite.py", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="times CI's load (default 10)")
    parser.add_argument("--workers", type=int, default=8, help="clients sending flows side by side")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.faults.suite import run_suite
    from tests.faults.test_fault_suite import FLOWS_PER_PHASE

    logs = Path(tempfile.mkdtemp(prefix="livskraft-fault-suite-"))
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {line}", flush=True)

    flows = FLOWS_PER_PHASE * args.scale
    say(f"fault suite at {args.scale}x CI's load: {flows} flows a phase, {args.workers} workers")
    figures = asyncio.run(
        run_suite(logs, flows_per_phase=flows, workers=args.workers, seed=args.seed, say=say)
    )
    say(figures.report(f"figures at {args.scale}x CI's load"))
    failures = figures.failures()
    for failure in failures:
        say(f"FAILED: {failure}")
    return 1 if failures or figures.answered["5xx"] else 0


if __name__ == "__main__":
    sys.exit(main())
