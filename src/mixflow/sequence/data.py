"""Problem data of mixed-model line sequencing: vehicles with options and paint colour, ratio rules p/q,
a paint batch limit, the frozen tail of the previous day and the ranked criteria of the objective.

The definitions follow the ROADEF 2005 (Renault) challenge; CSPLib prob001 is the special case with one
ranked criterion, no colours, no tail and violations counted per violated full window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mixflow.errors import ValidationError

CRITERIA = ("high", "low", "colour_changes")
"""The ranked criteria: high-priority ratio violations, low-priority violations, paint colour changes."""

Priority = Literal["high", "low"]
WindowRule = Literal["roadef", "csplib"]


@dataclass(frozen=True)
class RatioRule:
    """At most `p` of every `q` consecutive vehicles may carry option `name` (a station's capacity)."""

    name: str
    p: int
    q: int
    priority: Priority = "high"

    def __post_init__(self) -> None:
        where = f"ratio rule {self.name!r}"
        if not self.name:
            raise ValidationError("ratio rule", "name must not be empty")
        if self.p < 0:
            raise ValidationError(where, f"p must be >= 0, got {self.p}")
        if self.q < 1:
            raise ValidationError(where, f"q must be >= 1, got {self.q}")
        if self.q < self.p:
            raise ValidationError(where, f"q must be >= p, got p={self.p} q={self.q}")
        if self.priority not in ("high", "low"):
            raise ValidationError(where, f"priority must be 'high' or 'low', got {self.priority!r}")


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ProblemData:
    """One sequencing instance: day-D vehicles to order, the D-1 tail that precedes them, and the rules.

    `vehicle_ids` need not be unique (CSPLib lists class ids with multiplicity); a sequence is any
    permutation of this multiset. `options[i, r]` says whether vehicle i carries the option of
    `rules[r]`. `window_rule` is "roadef" (violations per window = max(0, count - p) over every window
    holding a day-D vehicle, straddling the tail and shortened at the end) or "csplib" (the number of
    violated full windows). `objective_order` ranks the criteria; the weights are 1000^(k-1-rank).
    `latest_slot[i]` (optional) is the last day-D position (0-based) vehicle i may take: a due date
    or a rush order's promise, kept as a hard rule. `work_s[i, w]` and `takt_s` (optional) give each
    vehicle's work content at each station, for the workload-overload figure of our own plant;
    `station_window_s[w]` is how long a vehicle stays in reach of station w's operator. The paint
    batch limit applies to runs within day D (the tail's colour only counts for the first change).
    """

    vehicle_ids: tuple[str, ...]
    options: np.ndarray
    colours: np.ndarray
    rules: tuple[RatioRule, ...]
    paint_batch_limit: int | None = None
    tail_options: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    tail_colours: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    objective_order: tuple[str, ...] = CRITERIA
    window_rule: WindowRule = "roadef"
    name: str = "instance"
    work_s: np.ndarray | None = None
    takt_s: int | None = None
    station_window_s: np.ndarray | None = None
    latest_slot: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.vehicle_ids)
        m = len(self.rules)
        options = np.asarray(self.options, dtype=bool)
        if options.size == 0 and n * m == 0:
            options = options.reshape(n, m)
        if options.shape != (n, m):
            raise ValidationError(
                "options", f"shape must be (vehicles, rules) = ({n}, {m}), got {options.shape}"
            )
        colours = np.asarray(self.colours, dtype=np.int64)
        if colours.shape != (n,):
            raise ValidationError("colours", f"must hold one colour per vehicle ({n}), got {colours.shape}")
        tail_colours = np.asarray(self.tail_colours, dtype=np.int64).reshape(-1)
        t = tail_colours.shape[0]
        tail_options = np.asarray(self.tail_options, dtype=bool)
        if tail_options.size == 0:
            tail_options = np.zeros((t, m), dtype=bool)
        if tail_options.shape != (t, m):
            raise ValidationError(
                "tail_options", f"shape must be (tail vehicles, rules) = ({t}, {m}), got {tail_options.shape}"
            )
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValidationError("rules", "rule names must be unique")
        if self.paint_batch_limit is not None and self.paint_batch_limit < 1:
            raise ValidationError("paint_batch_limit", f"must be >= 1, got {self.paint_batch_limit}")
        if not self.objective_order or any(c not in CRITERIA for c in self.objective_order):
            raise ValidationError(
                "objective_order", f"must rank some of {CRITERIA}, got {self.objective_order}"
            )
        if len(set(self.objective_order)) != len(self.objective_order):
            raise ValidationError("objective_order", "must not repeat a criterion")
        if self.window_rule not in ("roadef", "csplib"):
            raise ValidationError("window_rule", f"must be 'roadef' or 'csplib', got {self.window_rule!r}")
        if n == 0:
            raise ValidationError("vehicle_ids", "there must be at least one vehicle to sequence")
        object.__setattr__(self, "vehicle_ids", tuple(str(v) for v in self.vehicle_ids))
        object.__setattr__(self, "options", _frozen(options))
        object.__setattr__(self, "colours", _frozen(colours))
        object.__setattr__(self, "tail_options", _frozen(tail_options))
        object.__setattr__(self, "tail_colours", _frozen(tail_colours))
        self._check_workload(n)
        self._check_latest_slots(n)

    def _check_latest_slots(self, n: int) -> None:
        if self.latest_slot is None:
            return
        latest = np.asarray(self.latest_slot, dtype=np.int64)
        if latest.shape != (n,):
            raise ValidationError("latest_slot", f"needs one position per vehicle ({n}), not {latest.shape}")
        if (latest < 0).any():
            raise ValidationError("latest_slot", "positions must be >= 0")
        # earliest-due-first is feasible iff the k-th smallest latest slot is at least k
        if (np.sort(latest) < np.arange(n)).any():
            raise ValidationError("latest_slot", "more vehicles are due early than there are early positions")
        object.__setattr__(self, "latest_slot", _frozen(np.minimum(latest, n - 1)))

    def _check_workload(self, n: int) -> None:
        if self.work_s is None:
            return
        work = np.asarray(self.work_s, dtype=np.int64)
        if work.ndim != 2 or work.shape[0] != n:
            raise ValidationError("work_s", f"must be (vehicles={n}, stations), got {work.shape}")
        if (work < 0).any():
            raise ValidationError("work_s", "work content must be >= 0 seconds")
        if self.takt_s is None or self.takt_s <= 0:
            raise ValidationError("takt_s", "must be > 0 seconds when work_s is given")
        window = (
            np.full(work.shape[1], self.takt_s, dtype=np.int64)
            if self.station_window_s is None
            else np.asarray(self.station_window_s, dtype=np.int64)
        )
        if window.shape != (work.shape[1],) or (window < self.takt_s).any():
            raise ValidationError("station_window_s", "must hold one window >= takt_s per station")
        object.__setattr__(self, "work_s", _frozen(work))
        object.__setattr__(self, "station_window_s", _frozen(window))

    @property
    def num_vehicles(self) -> int:
        """Day-D vehicles to sequence."""
        return len(self.vehicle_ids)

    @property
    def num_rules(self) -> int:
        return len(self.rules)

    @property
    def tail_length(self) -> int:
        """Vehicles of day D-1 that precede day D on the line (frozen)."""
        return int(self.tail_colours.shape[0])

    def weights(self) -> dict[str, int]:
        """Weight of each criterion: 10^6, 10^3, 1 by rank for three ranks; unranked criteria weigh 0."""
        k = len(self.objective_order)
        ranked = {c: 1000 ** (k - 1 - i) for i, c in enumerate(self.objective_order)}
        return {c: ranked.get(c, 0) for c in CRITERIA}
