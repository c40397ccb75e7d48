"""A running registry and a running gatherings service, the registry's events reaching the
gatherings service over Kafka: the network and its members are made through the registry's HTTP
API, never inserted by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.devtools import demo
from services.devtools.tokens import issue_dev_token
from tests.conftest import eventually

TODAY = demo.SCENARIO_DAY  # 2010-01-20, before the enrolment deadline of 15 February 2010
MEMBERS = ("1702", "1724", "1719")  # Steinkjer, Verran, Levanger
PLAN = {
    "starts_on": "2010-03-10",
    "start_time": "10:00",
    "end_time": "16:00",
    "place": "Steinkjer rådhus",
    "host": "1702",
    "capacity": 10,
    "registration_deadline": "2010-03-01",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    registry: httpx.AsyncClient
    gatherings: httpx.AsyncClient
    database: str
    network_id: str
    data_dir: Path
    issue: Callable[..., str]
    created: list[str] = field(default_factory=list)

    @property
    def staff(self) -> dict[str, str]:
        return bearer(self.issue("staff"))

    def municipality(self, kommune: str) -> dict[str, str]:
        return bearer(self.issue("municipality", kommune=kommune))

    def leader(self, *networks: str) -> dict[str, str]:
        return bearer(issue_dev_token(self.data_dir, "leader", networks=networks or [self.network_id]))

    async def schedule(self, headers: dict[str, str] | None = None, **changes: Any) -> httpx.Response:
        return await self.gatherings.post(
            f"/networks/{self.network_id}/gatherings", json={**PLAN, **changes}, headers=headers or self.staff
        )

    async def scheduled(self, **changes: Any) -> str:
        answer = await self.schedule(**changes)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["gathering_id"])

    async def gathering(self, gathering_id: str) -> dict[str, Any]:
        answer = await self.gatherings.get(f"/gatherings/{gathering_id}", headers=self.staff)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    async def register(
        self, gathering_id: str, kommune: str, headers: dict[str, str] | None = None, **counts: int
    ) -> httpx.Response:
        lines = [{"role_category": role, "count": count} for role, count in counts.items()]
        return await self.gatherings.post(
            f"/gatherings/{gathering_id}/registrations",
            json={"kommunenummer": kommune, "participants": lines},
            headers=headers or self.municipality(kommune),
        )

    async def move_clock(self, day: date) -> None:
        for service in (self.registry, self.gatherings):
            answer = await service.post("/dev/clock", json={"today": day.isoformat()}, headers=self.staff)
            assert answer.status_code == 200, answer.text

    async def members(self) -> dict[str, str]:
        answer = await self.gatherings.get(f"/networks/{self.network_id}", headers=self.staff)
        if answer.status_code != 200:
            return {}
        return {m["kommunenummer"]: m["status"] for m in answer.json()["members"]}

    async def registry_command(self, path: str, body: dict[str, Any] | None = None) -> None:
        answer = await self.registry.post(f"/networks/{self.network_id}{path}", json=body, headers=self.staff)
        assert answer.status_code in (200, 201), answer.text

    async def until_members(self, expected: dict[str, str]) -> None:
        """Wait until the gatherings service has heard of these statuses from the registry."""

        async def heard() -> bool:
            members = await self.members()
            return all(members.get(k) == v for k, v in expected.items())

        await eventually(heard)

    async def close_network(self) -> None:
        await self.registry_command("/close", {"reason": "cancelled"})

        async def closed() -> bool:
            answer = await self.gatherings.get(f"/networks/{self.network_id}", headers=self.staff)
            return answer.json()["closed_reason"] == "cancelled"

        await eventually(closed)

    async def count(self, sql: str) -> int:
        conn = await asyncpg.connect(self.database)
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    async def state(self) -> tuple[int, ...]:
        """What a refused command must leave as it was."""
        return (
            await self.count("SELECT count(*) FROM outbox"),
            await self.count("SELECT count(*) FROM gatherings"),
            await self.count("SELECT coalesce(sum(revision), 0) FROM gatherings"),
            await self.count("SELECT count(*) FROM participants"),
            await self.count("SELECT count(*) FROM agenda_items"),
            await self.count("SELECT count(*) FROM feeds WHERE revoked_at IS NULL"),
            await self.count("SELECT count(*) FROM audit_log"),
        )


@pytest.fixture
async def world(start_service, new_database, token, data_dir) -> World:
    """The seed's network open in the registry with Steinkjer, Verran and Levanger enrolled, and a
    gatherings service that has heard of them; both calendars on 20 January 2010."""
    registry = await start_service("registry", today=TODAY)
    database = await new_database("gatherings")
    gatherings = await start_service("gatherings", database_url=database, today=TODAY)
    staff = bearer(token("staff"))
    created = await registry.post("/networks", json=demo.NETWORK, headers=staff)
    assert created.status_code == 201, created.text
    network_id = created.json()["id"]
    world = World(registry, gatherings, database, network_id, data_dir, token)
    for kommune in MEMBERS:
        await world.registry_command("/enrolments", {"kommunenummer": kommune})
    await world.until_members(dict.fromkeys(MEMBERS, "submitted"))
    return world
