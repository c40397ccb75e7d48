"""The reporting service's queries over its projection."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path
from pydantic import BaseModel

from services.runtime.deps import Pool, Reader
from services.runtime.problems import Problem

router = APIRouter(tags=["reporting"])


class DecisionOut(BaseModel):
    decision_id: uuid.UUID
    body: str
    case_number: str
    decision_date: date
    final: bool


class MemberOut(BaseModel):
    kommunenummer: str
    valid_on: date
    status: str
    decisions: list[DecisionOut]


class NetworkReport(BaseModel):
    network_id: uuid.UUID
    name: str
    themes: list[str]
    county: str | None
    enrolment_deadline: date
    closed_reason: str | None = None
    members: list[MemberOut]


@router.get("/reports/networks", response_model=list[NetworkReport])
async def networks(pool: Pool, _: Reader) -> list[NetworkReport]:
    """Every network with its members and their decisions, as the events tell it."""
    async with pool.acquire() as conn:
        ids = [
            r["network_id"]
            for r in await conn.fetch(
                "SELECT network_id FROM networks WHERE name IS NOT NULL ORDER BY created_at"
            )
        ]
        return [await _report(conn, i) for i in ids]


@router.get("/reports/networks/{network_id}", response_model=NetworkReport)
async def network(network_id: Annotated[uuid.UUID, Path()], pool: Pool, _: Reader) -> NetworkReport:
    async with pool.acquire() as conn:
        if (
            await conn.fetchval(
                "SELECT 1 FROM networks WHERE network_id = $1 AND name IS NOT NULL", network_id
            )
            is None
        ):
            raise Problem(404, "Not Found", f"no network {network_id} in the projection")
        return await _report(conn, network_id)


async def _report(conn: asyncpg.Connection, network_id: uuid.UUID) -> NetworkReport:
    row = await conn.fetchrow("SELECT * FROM networks WHERE network_id = $1", network_id)
    members = await conn.fetch(
        "SELECT * FROM members WHERE network_id = $1 ORDER BY kommunenummer", network_id
    )
    decisions = await conn.fetch(
        "SELECT * FROM decisions WHERE network_id = $1 ORDER BY decision_date, case_number",
        network_id,
    )
    by_kommune: dict[str, list[DecisionOut]] = {}
    for d in decisions:
        by_kommune.setdefault(d["kommunenummer"], []).append(DecisionOut.model_validate(dict(d)))
    return NetworkReport(
        network_id=row["network_id"],
        name=row["name"],
        themes=row["themes"],
        county=row["county"],
        enrolment_deadline=row["enrolment_deadline"],
        closed_reason=row["closed_reason"],
        members=[
            MemberOut(
                kommunenummer=m["kommunenummer"],
                valid_on=m["valid_on"],
                status=m["status"],
                decisions=by_kommune.get(m["kommunenummer"], []),
            )
            for m in members
        ],
    )
