"""The service's calendar. Real by default; in demos and tests it may start on another day.

`LIVSKRAFT_TODAY=2010-01-20` makes the service's today that day at start-up, advancing in real
time from there: the seed's scenario (enrolment deadline 15 February 2010) can be played out
against a running system. Rules about dates (deadlines, "not in the future") read this clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


class Clock:
    def __init__(self, start_day: date | None = None) -> None:
        now = datetime.now(UTC)
        self._offset = datetime.combine(start_day, now.timetz()) - now if start_day else timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def today(self) -> date:
        return self.now().date()
