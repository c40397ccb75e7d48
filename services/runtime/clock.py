"""The service's calendar. Real by default; in demos and tests it may start on another day.

`LIVSKRAFT_TODAY=2010-01-20` makes the service's today that day at start-up, advancing in real
time from there: the seed's scenario (enrolment deadline 15 February 2010) can be played out
against a running system. Rules about dates (deadlines, "not in the future") read this clock.

In development the calendar can also be moved forward while the service runs (`move_to`, offered
as `POST /dev/clock` by `services.runtime.dev_clock`), so that a demo can play a year in minutes.
It only ever moves forward: what was once "today" never becomes the future again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

LAST_DAY = date(2999, 12, 31)
"""The latest day the calendar may be moved to; far enough, and far from datetime's limits."""


class ClockError(ValueError):
    """A move the calendar refuses: backwards, or beyond LAST_DAY."""


class Clock:
    def __init__(self, start_day: date | None = None) -> None:
        now = datetime.now(UTC)
        self._offset = datetime.combine(start_day, now.timetz()) - now if start_day else timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def today(self) -> date:
        return self.now().date()

    def move_to(self, day: date) -> bool:
        """Make `day` today, at the same time of day; True if the calendar moved.

        Raises ClockError for a day before today (the calendar only moves forward) or after
        LAST_DAY. Today itself is accepted and changes nothing, so a move can be repeated."""
        now = self.now()
        if day < now.date():
            raise ClockError(
                f"{day.isoformat()} is before today ({now.date().isoformat()}); "
                "the calendar only moves forward"
            )
        if day > LAST_DAY:
            raise ClockError(f"is after {LAST_DAY.isoformat()}")
        if day == now.date():
            return False
        self._offset += datetime.combine(day, now.timetz()) - now
        return True
