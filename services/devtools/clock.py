"""Moving the calendar of every running service forward, in development.

`livskraft dev --today 2010-01-20` starts every service on that day; `move_all` (used by
`livskraft demo`, and by `clock_main` for a command line) then moves each one's calendar forward
with `POST /dev/clock` (services/runtime/dev_clock.py), so that the seed's year can be played in
minutes: gatherings held on their day, reminders due on theirs. The services refuse it outside
development, and refuse a day before their today: the calendar only moves forward.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import httpx


class ClockRefused(RuntimeError):
    """A service refused to move its calendar."""


async def move_all(services: Mapping[str, httpx.AsyncClient], day: date, staff_token: str) -> dict[str, date]:
    """Move each service's calendar to `day`; their today afterwards, by service."""
    headers = {"Authorization": f"Bearer {staff_token}"}
    moved: dict[str, date] = {}
    for name, client in services.items():
        answer = await client.post("/dev/clock", json={"today": day.isoformat()}, headers=headers)
        if answer.status_code != 200:
            detail = answer.json().get("detail") if answer.content else ""
            raise ClockRefused(
                f"{name} did not move its calendar to {day.isoformat()}: {answer.status_code} {detail}"
            )
        moved[name] = date.fromisoformat(answer.json()["today"])
    return moved


async def today_of(client: httpx.AsyncClient, token: str) -> date | None:
    """A running service's today, or None if it cannot tell."""
    answer = await client.get("/dev/clock", headers={"Authorization": f"Bearer {token}"})
    return date.fromisoformat(answer.json()["today"]) if answer.status_code == 200 else None


def clock_main(argv: list[str], data_dir: str = ".livskraft") -> int:
    """`livskraft clock 2010-09-01`: move every service `livskraft dev` runs to that day."""
    from services.devtools.tokens import issue_dev_token

    if argv in (["-h"], ["--help"]):
        print("usage: livskraft clock YYYY-MM-DD\n\nMove every service `livskraft dev` runs to that day.")
        return 0
    if len(argv) != 1:
        print("usage: livskraft clock YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        day = date.fromisoformat(argv[0])
    except ValueError:
        print(f"livskraft clock: {argv[0]!r} is not a date written YYYY-MM-DD", file=sys.stderr)
        return 2
    info_file = Path(data_dir) / "dev.json"
    if not info_file.exists():
        print(f"No running system: {info_file} is missing. Start `livskraft dev` first.", file=sys.stderr)
        return 1
    urls: dict[str, str] = json.loads(info_file.read_text())["services"]
    token = issue_dev_token(data_dir, "staff")

    async def main() -> dict[str, date]:
        clients = {name: httpx.AsyncClient(base_url=url, timeout=10) for name, url in urls.items()}
        try:
            return await move_all(clients, day, token)
        finally:
            for client in clients.values():
                await client.aclose()

    try:
        moved = asyncio.run(main())
    except ClockRefused as exc:
        print(f"livskraft clock: {exc}", file=sys.stderr)
        return 1
    print(", ".join(f"{name}: {today.isoformat()}" for name, today in moved.items()))
    return 0
