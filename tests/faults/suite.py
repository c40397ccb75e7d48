"""The fault suite's run, used by the test (CI's load) and `bench/fault_suite.py` (ten times it).

Every service runs as a real OS process on a PostgreSQL server and a mock Kafka cluster of their
own; a webhook receiver stands in for another agency. The load runs through four phases, each
with its faults happening at random moments while its flows are under way:
1. kill -9 of each service, then started again;
2. one broker of the mock cluster down for a few seconds (several times);
3. PostgreSQL restarted (`pg_ctl restart -m fast`) under the running services;
4. all three interleaved.
Then the system settles, and `checks.verify` counts what was lost, done twice, or wrongly answered.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from services.devtools.webhook_receiver import WebhookReceiver
from tests.faults.chaos import Chaos
from tests.faults.checks import Figures, settle, verify
from tests.faults.load import Load, Pace
from tests.faults.system import System


async def run_suite(
    logs: Path,
    *,
    flows_per_phase: int,
    workers: int,
    seed: int | None = None,
    say: Callable[[str], None] = print,
) -> Figures:
    rng = random.Random(seed)
    started = time.monotonic()
    async with WebhookReceiver() as receiver, System(logs) as system:
        say(f"system up in {time.monotonic() - started:.1f} s (logs in {logs})")
        chaos = Chaos(system, rng, progress=workers)
        urls = {service: system.url(service) for service in system.runs}
        async with Load(
            urls, system.data_dir, workers=workers, webhook_url=receiver.url("/agency"), seed=rng.random()
        ) as load:
            phases: list[tuple[str, Callable[[Pace], Awaitable[None]]]] = [
                ("kill -9 of each service", chaos.kills),
                ("a broker down for a few seconds", chaos.brokers),
                ("PostgreSQL restarted", chaos.postgres),
                ("all three interleaved", chaos.interleaved),
            ]
            for name, script in phases:
                began, commands, faults = time.time(), load.tally.total, len(chaos.log)
                await load.under(flows_per_phase, script)
                done = ", ".join(
                    f"{f.kind} {f.target} at +{f.started - began:.1f} s ({f.ended - f.started:.1f} s)"
                    for f in chaos.log[faults:]
                )
                say(
                    f"{name}: {load.tally.total - commands} commands in {time.time() - began:.1f} s; "
                    f"{len(chaos.log) - faults} faults: {done}"
                )
            settled = await settle(system, load)
            figures = await verify(system, load, chaos, receiver)
            figures.settled_in_s = settled
    return figures
