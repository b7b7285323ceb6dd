"""A line's slot book: slot k is the k-th takt of the line's working calendar, taken or free.

Days off (`Calendar.days_off`) have no slots: slot numbers run over the worked days only.
"""

from __future__ import annotations

import numpy as np

from mixflow.model import DAY_S, AssemblyLine


class SlotBook:
    """Which takt slots of one line are promised to which order."""

    def __init__(self, line: AssemblyLine) -> None:
        self.line = line
        starts: list[int] = []
        for s, e in line.calendar.shifts:
            starts += list(range(s, e - line.takt_s + 1, line.takt_s))
        self._day_offsets = np.array(starts, dtype=np.int64)
        self.per_day = len(starts)
        self._worked = [d for d in range(7) if d not in line.calendar.days_off]
        self._taken = np.zeros(0, dtype=np.bool_)
        self.order_at: dict[int, str] = {}
        self.slot_of: dict[str, int] = {}

    def _day_of(self, worked_day: int) -> int:
        """The calendar day (from the epoch) of the `worked_day`-th worked day."""
        week, k = divmod(worked_day, len(self._worked))
        return week * 7 + self._worked[k]

    def _worked_before(self, day: int) -> int:
        """How many worked days come before calendar day `day`."""
        week, within = divmod(day, 7)
        return week * len(self._worked) + sum(1 for d in self._worked if d < within)

    def time_of(self, slot: int) -> int:
        """When slot `slot` enters the line."""
        day, k = divmod(slot, self.per_day)
        return int(self._day_of(day) * DAY_S + self._day_offsets[k])

    def first_at_or_after(self, t: int) -> int:
        """The first slot (taken or not) that starts at or after `t`."""
        day, tod = divmod(max(0, t), DAY_S)
        if not self.line.calendar.works_on(day):
            return self._worked_before(day) * self.per_day  # the next worked day's first slot
        k = int(np.searchsorted(self._day_offsets, tod, side="left"))
        return self._worked_before(day) * self.per_day + k

    def first_free(self, from_slot: int) -> int:
        """The first free slot at or after `from_slot`."""
        if from_slot >= len(self._taken):
            return from_slot
        free = np.flatnonzero(~self._taken[from_slot:])
        return from_slot + int(free[0]) if len(free) else len(self._taken)

    def take(self, slot: int, order_id: str) -> None:
        if slot >= len(self._taken):
            grown = np.zeros(max(slot + 1, 2 * len(self._taken), 256), dtype=np.bool_)
            grown[: len(self._taken)] = self._taken
            self._taken = grown
        if self._taken[slot]:
            raise ValueError(f"slot {slot} is already promised to {self.order_at[slot]}")
        self._taken[slot] = True
        self.order_at[slot] = order_id
        self.slot_of[order_id] = slot

    def release(self, order_id: str) -> None:
        slot = self.slot_of.pop(order_id, None)
        if slot is not None:
            self._taken[slot] = False
            del self.order_at[slot]
