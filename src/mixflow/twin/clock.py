"""Working-time arithmetic on a shift calendar: when does work of a given length end."""

from __future__ import annotations

from mixflow.model import DAY_S, Calendar


def working_end(calendar: Calendar, start_s: int, work_s: int) -> int:
    """The second at which `work_s` seconds of work started at `start_s` end, pausing outside shifts."""
    t = calendar.next_working(start_s)
    left = work_s
    while True:
        day, tod = divmod(t, DAY_S)
        end = next(e for s, e in calendar.shifts if s <= tod < e)
        room = end - tod
        if left <= room:
            return t + left
        left -= room
        t = calendar.next_working(day * DAY_S + end)


def working_between(calendar: Calendar, a_s: int, b_s: int) -> int:
    """Working seconds in [a_s, b_s)."""
    if b_s <= a_s:
        return 0
    total = 0
    day = a_s // DAY_S
    while day * DAY_S < b_s:
        base = day * DAY_S
        for s, e in calendar.shifts:
            lo, hi = max(a_s, base + s), min(b_s, base + e)
            if hi > lo:
                total += hi - lo
        day += 1
    return total
