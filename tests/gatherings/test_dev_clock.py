"""The calendar moves forward in development only (`POST /dev/clock`), never back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.devtools.clock import ClockRefused, move_all, today_of
from services.runtime.clock import Clock, ClockError
from tests.gatherings.conftest import bearer
from tests.gatherings.test_planning import refused


def test_the_clock_moves_forward_and_keeps_the_time_of_day():
    clock = Clock(date(2010, 1, 20))
    before = clock.now()
    assert clock.move_to(date(2010, 3, 10)) is True
    assert clock.today() == date(2010, 3, 10)
    assert abs((clock.now() - before) - timedelta(days=49)) < timedelta(seconds=5)
    assert clock.move_to(date(2010, 3, 10)) is False  # today again: nothing moves
    with pytest.raises(ClockError, match="only moves forward"):
        clock.move_to(date(2010, 3, 9))
    with pytest.raises(ClockError):
        clock.move_to(date(9999, 12, 31))
    real = Clock()
    assert real.move_to(datetime.now(UTC).date() + timedelta(days=1)) is True


async def test_every_service_moves_its_calendar_on_request(start_service, token):
    registry = await start_service("registry", today=date(2010, 1, 20))
    gatherings = await start_service("gatherings", today=date(2010, 1, 20))
    staff = token("staff")
    assert await today_of(gatherings, staff) == date(2010, 1, 20)
    moved = await move_all({"registry": registry, "gatherings": gatherings}, date(2010, 9, 1), staff)
    assert moved == {"registry": date(2010, 9, 1), "gatherings": date(2010, 9, 1)}
    assert await today_of(registry, staff) == date(2010, 9, 1)

    with pytest.raises(ClockRefused, match="409"):
        await move_all({"gatherings": gatherings}, date(2010, 8, 31), staff)
    refused(
        await gatherings.post("/dev/clock", json={"today": "2010-08-31"}, headers=bearer(staff)), 409, "today"
    )
    refused(
        await gatherings.post("/dev/clock", json={"today": "1. september"}, headers=bearer(staff)),
        422,
        "today",
    )
    assert (await gatherings.post("/dev/clock", json={"today": "2010-09-02"})).status_code == 401
    reader = bearer(token("reader"))
    assert (
        await gatherings.post("/dev/clock", json={"today": "2010-09-02"}, headers=reader)
    ).status_code == 403
    assert "/dev/clock" not in (await gatherings.get("/openapi.json")).json()["paths"]

    # Outside development the calendar stays where it is.
    app = gatherings.app  # type: ignore[attr-defined]
    app.state.settings = app.state.settings.model_copy(update={"environment": "production"})
    answer = await gatherings.post("/dev/clock", json={"today": "2010-09-02"}, headers=bearer(staff))
    assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json"
    assert await today_of(gatherings, staff) == date(2010, 9, 1)
