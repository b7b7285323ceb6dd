"""Working time on a shift calendar, as the planner reckons it (the twin keeps its own clock)."""

from __future__ import annotations

from mixflow.model import DAY_S, Calendar


def working_end(calendar: Calendar, start_s: int, work_s: int) -> int:
    """When `work_s` seconds of work started at `start_s` end, pausing outside the shifts."""
    t = calendar.next_working(start_s)
    left = work_s
    while True:
        day, tod = divmod(t, DAY_S)
        end = next(e for s, e in calendar.shifts if s <= tod < e)
        if left <= end - tod:
            return t + left
        left -= end - tod
        t = calendar.next_working(day * DAY_S + end)


def working_between(calendar: Calendar, a_s: int, b_s: int) -> int:
    """Working seconds in [a_s, b_s)."""
    total = 0
    day = a_s // DAY_S
    while day * DAY_S < b_s:
        base = day * DAY_S
        for s, e in calendar.shifts:
            total += max(0, min(b_s, base + e) - max(a_s, base + s))
        day += 1
    return total
