"""Moving a running service's calendar forward, in development only: `POST /dev/clock`.

`livskraft demo` plays the seed's year (January to the autumn of 2010) in minutes: it moves every
service's calendar forward with `POST /dev/clock {"today": "2010-09-01"}` (a staff token), so that
gatherings are held on their day and reminders fall due on theirs. Each service process keeps its
own calendar, so the demo asks each service in turn (`services.devtools.clock.move_all`).

Refused (403) when `Settings.environment` is `production`; refused (409) for a day before today,
as the calendar only moves forward. `GET /dev/clock` tells the calendar's today and now. Neither
operation is in the OpenAPI document: they are tools of development, not part of a service's API.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from .clock import ClockError
from .deps import Reader, Staff, Today
from .inputs import Body, IsoDate
from .problems import Problem, field_error

router = APIRouter(prefix="/dev", tags=["development"], include_in_schema=False)


class ClockIn(Body):
    today: IsoDate


class ClockOut(BaseModel):
    today: date
    now: datetime
    moved: bool = False


@router.get("/clock", response_model=ClockOut)
async def read_clock(clock: Today, who: Reader) -> ClockOut:
    """The service's calendar: today and now."""
    return ClockOut(today=clock.today(), now=clock.now())


@router.post("/clock", response_model=ClockOut)
async def move_clock(body: ClockIn, request: Request, clock: Today, who: Staff) -> ClockOut:
    """Move the calendar forward to `today` (development only; staff)."""
    if request.app.state.settings.environment != "development":
        raise Problem(403, "Forbidden", "The calendar moves only in development")
    try:
        moved = clock.move_to(body.today)
    except ClockError as exc:
        raise field_error("today", str(exc), status=409) from None
    return ClockOut(today=clock.today(), now=clock.now(), moved=moved)
