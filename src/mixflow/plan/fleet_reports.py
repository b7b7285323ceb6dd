"""The scheduler's fleet model kept true to the AGVs' own reports.

The scheduler plans every AGV step in its fleet model (`mixflow.fleet.FleetManager`) and the plant's
AGVs report where they stand (`AgvStates`). Two moments need the reports:

- after a restart the model knows the tasks (read back from the store) but not where the AGVs are or
  what they carry: the AGVs stand still until every one has reported its cell, load and whether it is
  down, then the model is seated on them (`FleetManager.reseat`). An AGV that stays silent for
  `SEAT_GRACE_S` would hold the whole fleet: the others are seated then, the silent one counts as down
  on the cell the model had it on before the restart (stored with the plan) until it reports;
- while running, an AGV that did not make a move the model planned (refused, blocked) is found in its
  next report away from every cell the model had it on since shortly before the report (reports lag):
  the model puts it where it stands, with the part it says it carries (`FleetManager.relocate`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet.manager import FleetManager
from mixflow.model.port import AgvStates

_log = logging.getLogger(__name__)

SEAT_GRACE_S = 300
"""After a restart, how long the fleet waits for every AGV's first report before it is seated without
the silent ones."""
REPORT_LAG_S = 10
"""How far an AGV's report may lag the fleet model: a cell the model had it on within this is no news."""
TRAIL_STEPS = 64
"""Fleet steps whose cells are kept to compare late reports with (a step a second or less)."""


@dataclass(frozen=True)
class Notice:
    """Something about the scheduler itself a supervisor must see: what, where, and since when."""

    at_s: int
    kind: str
    source: str
    text: str


class FleetReports:
    """Seats the fleet model on the AGVs' first reports after a restart and keeps it on them after."""

    def __init__(
        self,
        fleet: FleetManager,
        agv_ids: tuple[str, ...],
        notify: Callable[[Notice], None],
        repost: Callable[[str], None],
    ) -> None:
        self.fleet = fleet
        self.agv_ids = agv_ids
        self.index = {a: i for i, a in enumerate(agv_ids)}
        self.notify = notify
        self.repost = repost
        self.unseen: set[str] = set()
        self.relocated = 0
        self._cells = np.zeros(len(agv_ids), dtype=np.int64)
        self._loads = [""] * len(agv_ids)
        self._down = np.zeros(len(agv_ids), dtype=np.bool_)
        self._seat_by_s: int | None = None
        self._blind: set[int] = set()
        self._last = fleet.positions.copy()
        self._trail: deque[tuple[int, np.ndarray]] = deque(maxlen=TRAIL_STEPS)

    @property
    def waiting(self) -> bool:
        """Whether the model waits for AGVs to report before it may move any."""
        return bool(self.unseen)

    def wait_for_all(self, last_cells: np.ndarray | None = None) -> None:
        """After a restart: nothing moves until every AGV has reported (or the grace is over);
        `last_cells`, where the model had the AGVs before the restart, is the guess for silent ones."""
        self.unseen = set(self.agv_ids)
        self._seat_by_s = None
        if last_cells is not None and len(last_cells) == len(self.agv_ids):
            self._last = np.asarray(last_cells, dtype=np.int64)

    def stepped(self, now: int, cells: np.ndarray) -> None:
        """The model moved the fleet to `cells` at `now`."""
        self._trail.append((now, cells))

    def tick(self, now: int) -> None:
        """While waiting: say so, and seat the fleet without the silent AGVs once the grace is over."""
        if not self.unseen:
            return
        if self._seat_by_s is None:
            self._seat_by_s = now + SEAT_GRACE_S
            self._tell_waiting(now)
        elif now >= self._seat_by_s:
            self._seat_without_silent(now)

    def on_states(self, e: AgvStates, idx: np.ndarray) -> None:
        if self.unseen:
            self._note(e, idx)
            if not self.unseen:
                self._seat()
            return
        self._follow(e, idx)

    def on_down(self, robot: int) -> bool:
        """An AGV reported down; True if taken here (the model is not seated yet)."""
        if self.unseen:
            self._down[robot] = True
            return True
        return False

    def on_up(self, robot: int) -> bool:
        """An AGV reported up again; True if taken here (the model is not seated yet)."""
        if self.unseen:
            self._down[robot] = False
            return True
        return False

    # -- seating ---------------------------------------------------------------------------------------
    def _note(self, e: AgvStates, idx: np.ndarray) -> None:
        self._cells[idx] = e.y * self.fleet.grid.width + e.x
        if e.down:
            self._down[idx] = e.down
        for k, agv in enumerate(e.agv_ids):
            self._loads[idx[k]] = e.load[k] if e.load else ""
            self.unseen.discard(agv)

    def _seat(self) -> None:
        try:
            lost = self.fleet.reseat(self._cells, tuple(self._loads))
        except ValidationError as error:  # two AGVs reported on one cell, or one inside a wall
            _log.error("the AGVs' reports do not fit the floor (%s); waiting for the next report", error)
            self.wait_for_all()
            return
        for robot in np.flatnonzero(self._down).tolist():  # down: an obstacle where it stands
            self.fleet.set_broken(robot, True)
        for robot in lost:
            _log.warning("AGV %s carries %s, a part of no open task: it stands until repaired",
                         self.agv_ids[robot], self._loads[robot])
        _log.warning("the fleet is taken up where it stands: %d AGVs carrying parts",
                     sum(1 for load in self._loads if load))

    def _seat_without_silent(self, now: int) -> None:
        """Seat the fleet; each silent AGV as down on the cell the model had it on before the restart (AGVs
        move only when told, so most likely where it stands), or the nearest cell no reported AGV stands
        on. Its first report puts it right (`_follow`)."""
        silent = sorted(self.index[a] for a in self.unseen)
        taken = {int(self._cells[r]) for r in range(len(self.agv_ids)) if self.agv_ids[r] not in self.unseen}
        for robot in silent:
            cell = self._free_near(int(self._last[robot]), taken)
            taken.add(cell)
            self._cells[robot] = cell
            self._loads[robot] = ""
            self._down[robot] = True
        self._blind.update(silent)
        self.unseen.clear()
        names = ", ".join(self.agv_ids[r] for r in silent[:5])
        text = f"{len(silent)} AGVs never reported ({names}): the fleet moves without them"
        _log.warning("%s", text)
        self.notify(Notice(now, "fleet seated", "fleet", text))
        self._seat()

    def _free_near(self, cell: int, taken: set[int]) -> int:
        """`cell`, or the nearest free cell of the floor not in `taken` (breadth first)."""
        grid = self.fleet.grid
        seen, queue = {cell}, deque([cell])
        while queue:
            c = queue.popleft()
            if grid.is_free(c) and c not in taken:
                return c
            for n in grid.neighbors[c].tolist():
                if n >= 0 and n not in seen:
                    seen.add(n)
                    queue.append(n)
        raise ValidationError("fleet", "no free cell left on the floor for the AGVs that did not report")

    def _tell_waiting(self, now: int) -> None:
        unseen = sorted(self.unseen)
        text = f"{len(unseen)} AGVs have not reported where they stand ({', '.join(unseen[:5])})"
        _log.warning("the fleet waits: %s", text)
        self.notify(Notice(now, "fleet waiting", "fleet", text))

    # -- following -------------------------------------------------------------------------------------
    def _follow(self, e: AgvStates, idx: np.ndarray) -> None:
        cells = e.y * self.fleet.grid.width + e.x
        off = cells != self.fleet.positions[idx]
        for at_s, past in self._trail:
            if at_s >= e.at_s - REPORT_LAG_S:
                off &= cells != past[idx]
        for k in np.flatnonzero(off).tolist():
            robot, cell = int(idx[k]), int(cells[k])
            if not self.fleet.grid.is_free(cell) or (self.fleet.positions == cell).any():
                continue  # another robot of the model is there: the next report settles it
            _log.warning("AGV %s reported at %s, not where planned: the fleet model follows it",
                         self.agv_ids[robot], self.fleet.grid.xy(cell))
            load = e.load[k] if e.load else None
            if load and load not in self.fleet.tasks:  # the model took it for delivered: it is not
                self.repost(load)
            self.fleet.relocate(robot, cell, load)
            self.relocated += 1
        reported = {int(r): k for k, r in enumerate(idx.tolist())}
        for robot in self._blind.intersection(reported):  # silent at the seating, reporting now
            k = reported[robot]
            if self.fleet.positions[robot] != cells[k]:
                continue  # not put where it stands yet (another robot of the model is there)
            self._blind.discard(robot)
            if not (e.down and e.down[k]):
                self.fleet.set_broken(robot, False)
