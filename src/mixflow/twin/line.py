"""The final-assembly line in the twin: trucks index one station per takt while parts and work allow.

Each station's worker starts a truck when it arrives (or when done with the one before) and may run
`drift_s` into the next takt window; beyond that the line waits (an overload stop). The truck at the
head of the queue goes onto the line only with the parts called for the first station delivered (the
frame it is built on) and after the empty pitches (spacing) its release asked for since the truck
before it; until then the first pitch stays empty and the line keeps moving. A truck moving on to a
later station must find the parts called for it delivered, and the last station checks the whole bill
of materials; otherwise the line stops (a missing-part stop) until they arrive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mixflow.model import AssemblyLine


@dataclass(frozen=True)
class Stop:
    """One line stop: from `start_s` to `end_s`, at `station`, for `cause` (`overload` or `missing part`)."""

    start_s: int
    end_s: int
    station: str
    order_id: str
    cause: str


class LineState:
    """Trucks at stations, the released queue, parts delivered line-side and the stop log."""

    def __init__(self, line: AssemblyLine, station_work: Callable[[str], np.ndarray]) -> None:
        self.line = line
        self.station_work = station_work
        n = len(line.stations)
        self.at: list[str | None] = [None] * n
        self.finish_s = np.zeros(n, dtype=np.int64)
        self.worker_free_s = np.zeros(n, dtype=np.int64)
        self.queue: deque[str] = deque()
        self.spacing: dict[str, int] = {}
        self.pitches_since_entry = 0
        self.called: dict[tuple[str, int], set[str]] = {}
        self.delivered_tasks: set[str] = set()
        self.delivered_parts: dict[str, set[str]] = {}
        self.bom: dict[str, set[str]] = {}
        self.drift_s = line.drift_s
        self.stops: list[Stop] = []
        self.open_stop: tuple[int, str, str, str] | None = None
        self.indexes = 0
        self.empty_slots = 0
        self.held_for_parts = 0
        self.spaced = 0
        self.last_index_s = 0

    @property
    def empty(self) -> bool:
        return not self.queue and all(o is None for o in self.at)

    def _missing(self, order_id: str, station: int) -> str | None:
        """A part called for `station` that has not arrived yet, or None."""
        for task in sorted(self.called.get((order_id, station), ())):
            if task not in self.delivered_tasks:
                return task
        return None

    def blocker(self, now_s: int) -> tuple[int, str, str] | None:
        """Why the line cannot index at `now_s`: (station index, order, cause), or None."""
        n = len(self.at)
        for i in range(n):
            order = self.at[i]
            if order is not None and self.finish_s[i] - self.drift_s > now_s:
                return i, order, "overload"
        last = self.at[n - 1]
        if last is not None:
            missing = self.bom.get(last, set()) - self.delivered_parts.get(last, set())
            if missing:
                return n - 1, last, f"missing part {sorted(missing)[0]}"
        for i in range(n - 1, 0, -1):
            order = self.at[i - 1]
            if order is not None and (task := self._missing(order, i)) is not None:
                return i, order, f"missing part ({task})"
        return None

    def index(self, now_s: int) -> str | None:
        """Move every truck one station on, taking the queue's head in if its spacing has passed and its
        first-station parts are there; returns the order that left the line, if any."""
        n = len(self.at)
        off = self.at[n - 1]
        self.at[1:] = self.at[: n - 1]
        if self.indexes:  # takts without an index (an idle or stopped line) let the workers catch up too
            self.pitches_since_entry += max(0, (now_s - self.last_index_s) // self.line.takt_s - 1)
        head = self.queue[0] if self.queue else None
        spaced = head is not None and self.pitches_since_entry < self.spacing.get(head, 0)
        held = head is not None and not spaced and self._missing(head, 0) is not None
        self.at[0] = self.queue.popleft() if head is not None and not spaced and not held else None
        if self.at[0] is None:
            self.empty_slots += 1
            self.spaced += spaced
            self.held_for_parts += held
            self.pitches_since_entry += 1
        else:
            self.spacing.pop(self.at[0], None)
            self.pitches_since_entry = 0
        self.indexes += 1
        self.last_index_s = now_s
        for i, order in enumerate(self.at):
            if order is None:
                continue
            work = int(self.station_work(order)[i])
            start = max(now_s, int(self.worker_free_s[i]))
            self.finish_s[i] = start + work
            self.worker_free_s[i] = start + work
        return off

    def close_stop(self, now_s: int) -> None:
        if self.open_stop is not None:
            start, station, order, cause = self.open_stop
            self.stops.append(Stop(start, now_s, station, order, cause))
            self.open_stop = None
