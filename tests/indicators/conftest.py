"""A running registry and a running indicators service, the registry's events reaching the
indicators service over Kafka: municipality codes through time, the network and its members are
made by the registry (its bundled KLASS data, its HTTP API), never inserted by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.devtools import demo
from services.devtools.tokens import issue_dev_token
from tests.conftest import eventually

TODAY = date(2010, 6, 15)  # the network's year, after the enrolment deadline
MEMBERS = ("1702", "1724", "1719")  # Steinkjer, Verran, Levanger


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(answer: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """A problem naming `field`; its body."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert field in [e["field"] for e in body.get("errors", [])], body
    return body


@dataclass
class World:
    registry: httpx.AsyncClient
    indicators: httpx.AsyncClient
    database: str
    network_id: str
    issue: Callable[..., str]
    data_dir: Path

    @property
    def staff(self) -> dict[str, str]:
        return bearer(self.issue("staff"))

    def municipality(self, kommune: str) -> dict[str, str]:
        return bearer(self.issue("municipality", kommune=kommune))

    def bearer_for(self, role: str) -> dict[str, str]:
        """A reader's token, or the network leader's (it leads this network)."""
        if role == "leader":
            return bearer(issue_dev_token(self.data_dir, "leader", networks=[self.network_id]))
        return bearer(self.issue(role))

    async def report(
        self, kommune: str, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        return await self.indicators.post(
            f"/municipalities/{kommune}/values", json=body, headers=headers or self.municipality(kommune)
        )

    async def upload(
        self, kommune: str, text: str | bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        content = text.encode() if isinstance(text, str) else text
        return await self.indicators.post(
            f"/municipalities/{kommune}/values.csv",
            content=content,
            headers={"Content-Type": "text/csv", **(headers or self.municipality(kommune))},
        )

    async def values(self, kommune: str, **query: Any) -> list[dict[str, Any]]:
        answer = await self.indicators.get(
            f"/municipalities/{kommune}/values", params=query, headers=self.staff
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    async def history(self, kommune: str, indicator: str, year: int) -> list[dict[str, Any]]:
        answer = await self.indicators.get(
            f"/municipalities/{kommune}/values/{indicator}/{year}", headers=self.staff
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["revisions"]  # type: ignore[no-any-return]

    async def move_clock(self, day: date) -> None:
        answer = await self.indicators.post("/dev/clock", json={"today": day.isoformat()}, headers=self.staff)
        assert answer.status_code == 200, answer.text

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
            await self.count("SELECT count(*) FROM indicator_values"),
            await self.count("SELECT count(*) FROM audit_log"),
            await self.count("SELECT coalesce(sum(sequence), 0) FROM value_streams"),
            await self.count("SELECT count(*) FROM indicator_revisions"),
            await self.count("SELECT coalesce(sum(sequence), 0) FROM plans"),
        )

    async def registry_command(self, path: str, body: dict[str, Any] | None = None) -> None:
        answer = await self.registry.post(f"/networks/{self.network_id}{path}", json=body, headers=self.staff)
        assert answer.status_code in (200, 201), answer.text

    async def members(self) -> dict[str, str]:
        conn = await asyncpg.connect(self.database)
        try:
            rows = await conn.fetch(
                "SELECT kommunenummer, status FROM members WHERE network_id = $1::uuid", self.network_id
            )
        finally:
            await conn.close()
        return {r["kommunenummer"]: r["status"] for r in rows}

    async def until_members(self, expected: dict[str, str]) -> None:
        """Wait until the indicators service has heard of these statuses from the registry."""

        async def heard() -> bool:
            members = await self.members()
            return all(members.get(k) == v for k, v in expected.items())

        await eventually(heard)


@pytest.fixture
async def world(start_service, new_database, token, data_dir) -> World:
    """The seed's network in the registry with Steinkjer, Verran and Levanger enrolled; an
    indicators service that has heard of them and of every municipality code from 1971 to 2024
    (the registry's bundled KLASS data); its calendar on 15 June 2010."""
    registry = await start_service("registry", today=demo.SCENARIO_DAY)
    database = await new_database("indicators")
    indicators = await start_service("indicators", database_url=database, today=TODAY)
    staff = bearer(token("staff"))
    created = await registry.post("/networks", json=demo.NETWORK, headers=staff)
    assert created.status_code == 201, created.text
    world = World(registry, indicators, database, created.json()["id"], token, data_dir)
    for kommune in MEMBERS:
        await world.registry_command("/enrolments", {"kommunenummer": kommune})
    await world.until_members(dict.fromkeys(MEMBERS, "submitted"))

    async def network_known() -> bool:  # NetworkCreated comes on its own topic, maybe after the members
        return (
            await world.count(
                f"SELECT count(*) FROM networks WHERE network_id = '{world.network_id}' AND name IS NOT NULL"
            )
            == 1
        )

    await eventually(network_known)

    async def codes_known() -> bool:
        sql = (
            "SELECT count(DISTINCT kommunenummer) FROM municipalities WHERE kommunenummer IN ('1702', '5006')"
        )
        return await world.count(sql) == 2

    await eventually(codes_known)
    return world
