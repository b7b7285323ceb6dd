"""Plant time for the API: integer seconds from the plan's epoch inside, datetimes at the edge."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class PlantClock(Protocol):
    """Where "now" comes from: the wall clock, or the twin's simulated time when it runs."""

    @property
    def epoch(self) -> datetime:
        """The datetime of second 0."""
        ...

    def now_s(self) -> int:
        """Seconds since the epoch, now."""
        ...


class WallClock:
    """Real time, with the epoch at midnight UTC of the day the server started."""

    def __init__(self) -> None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self._epoch = today
        self._offset = today.timestamp()

    @property
    def epoch(self) -> datetime:
        return self._epoch

    def now_s(self) -> int:
        return int(time.time() - self._offset)


def to_datetime(clock: PlantClock, at_s: int) -> datetime:
    return clock.epoch + timedelta(seconds=at_s)


def to_seconds(clock: PlantClock, at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int((at - clock.epoch).total_seconds())
