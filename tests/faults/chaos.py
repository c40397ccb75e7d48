"""The faults of each phase, at random moments while the load runs, each noted with its time (a
webhook sent twice is only excused by a fault between the two deliveries).

- kills: each service gets kill -9 once, at a random moment, and is started again at once;
- brokers: one broker of the mock cluster down for a few seconds, then up again;
- postgres: the PostgreSQL server restarted (`pg_ctl restart -m fast`) under the services;
- interleaved: all three at once, each at its own random moments.
Each comes again once some flows have got on, while the phase's flows are under way (the
benchmark's longer load sees more of them).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

from tests.faults.load import Pace
from tests.faults.system import System

BROKER_DOWN_S = 3.0


@dataclass(frozen=True)
class Fault:
    kind: str  # kill, broker, postgres
    target: str
    started: float  # time.time()
    ended: float


@dataclass
class Chaos:
    system: System
    rng: random.Random = field(default_factory=random.Random)
    progress: int = 4
    """Flows that must finish between two faults of one kind (the load's workers, say)."""
    log: list[Fault] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.log)

    async def _noted(self, kind: str, target: str, act: Awaitable[object]) -> None:
        started = time.time()
        await act
        self.log.append(Fault(kind, target, started, time.time()))

    # -- One fault --------------------------------------------------------------------------------

    async def kill(self, service: str) -> None:
        await self._noted("kill", service, self.system.kill(service))

    async def broker_outage(self, broker: int, seconds: float = BROKER_DOWN_S) -> None:
        async def outage() -> None:
            self.system.broker_down(broker)
            try:
                await asyncio.sleep(seconds)
            finally:
                self.system.broker_up(broker)

        await self._noted("broker", str(broker), outage())

    async def postgres_restart(self) -> None:
        await self._noted("postgres", "server", self.system.restart_postgres())

    # -- Phases -----------------------------------------------------------------------------------

    async def kills(self, pace: Pace) -> None:
        """Every service killed once, each at a random moment of the next few seconds; again after
        some flows have got on, while the phase's flows are under way."""
        while True:
            await asyncio.gather(
                *(self._later(self.rng.uniform(0.5, 4), self.kill(s)) for s in self.system.runs)
            )
            await pace.after(2 * self.progress)  # a round of kills costs the load more
            if not pace.busy():
                return

    async def brokers(self, pace: Pace) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 2))
            await self.broker_outage(self.rng.randint(1, 3))
            await pace.after(self.progress)
            if not pace.busy():
                return

    async def postgres(self, pace: Pace) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 2))
            await self.postgres_restart()
            await pace.after(self.progress)
            if not pace.busy():
                return

    async def interleaved(self, pace: Pace) -> None:
        """Kills of random services, broker outages and PostgreSQL restarts, each on its own
        random schedule, overlapping."""

        async def killing() -> None:
            while True:
                await asyncio.sleep(self.rng.uniform(0.5, 3))
                await self.kill(self.rng.choice(list(self.system.runs)))
                await pace.after(2 * self.progress)
                if not pace.busy():
                    return

        await asyncio.gather(killing(), self.brokers(pace), self.postgres(pace))

    @staticmethod
    async def _later(delay: float, act: Awaitable[None]) -> None:
        await asyncio.sleep(delay)
        await act
