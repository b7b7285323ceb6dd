"""The andon for line-side material: a part not delivered by the time its truck reaches its station.

A late part stops the line at its station, but only once the truck is there; a missing frame stops
nothing: the truck waits at the line head and the pitches stay empty (the twin counts them). Either
way the supervisor wants to hear when the part is due, not when the line has stood for a while. The
scheduler hands every material task it posts to the watch, tells it of each delivery the factory
reports (the plant's word, not the fleet model's), and asks each cycle which deadlines passed with no
delivery reported.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass


@dataclass(frozen=True)
class MaterialOverdue:
    """A material task still not delivered at its deadline: which part, for which truck and station."""

    at_s: int
    task_id: str
    order_id: str
    part: str
    station: str
    deadline_s: int

    def text(self) -> str:
        return f"{self.part} for order {self.order_id} not at station {self.station} by {self.deadline_s} s"


class MaterialWatch:
    """Deadlines of the posted material tasks, soonest first; a task is looked at once, at its deadline,
    so the watch holds only tasks whose deadline is still ahead."""

    def __init__(self) -> None:
        self._due: list[tuple[int, str, str, str, str]] = []
        self._out: set[str] = set()

    def __len__(self) -> int:
        return len(self._due)

    def post(self, task_id: str, order_id: str, part: str, station: str, deadline_s: int) -> None:
        heapq.heappush(self._due, (deadline_s, task_id, order_id, part, station))
        self._out.add(task_id)

    def delivered(self, task_id: str) -> None:
        """The factory reported the part at its station (a report after the deadline changes nothing)."""
        self._out.discard(task_id)

    def overdue(self, now_s: int) -> list[MaterialOverdue]:
        """Tasks whose deadline is before `now_s` with no delivery reported, each once."""
        late = []
        while self._due and self._due[0][0] < now_s:
            deadline, task_id, order_id, part, station = heapq.heappop(self._due)
            if task_id in self._out:
                self._out.discard(task_id)
                late.append(MaterialOverdue(now_s, task_id, order_id, part, station, deadline))
        return late
