"""The AGVs on the floor as arrays: positions, battery, load; moves checked for collisions by the twin.

The twin trusts no planner: every step it checks that each AGV moves at most one cell, onto a free
cell, that no two AGVs end on one cell and that no two swap cells. An illegal move is refused (the
AGV stays) and counted. Only AGVs that move cost work; idle and charging AGVs are never touched.

A fleet may mix AGV types: battery, drain per cell, loaded factor, low-charge mark, charging power
and payload are arrays with one entry per AGV, from its type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numba import njit

from mixflow.model import Fleet, FloorGrid
from mixflow.model.plant import Cell

IDLE, LOADED, CHARGING, DOWN = 0, 1, 2, 3


@njit(cache=True)
def _apply_moves(
    idx: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    ax: np.ndarray,
    ay: np.ndarray,
    state: np.ndarray,
    blocked: np.ndarray,
    width: int,
    height: int,
    occupant: np.ndarray,
    target_of: np.ndarray,
    count: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, int, int]:
    """Check and apply one step in one pass (the array version ran some thirty operations a step):
    AGV `idx[k]` goes to (`x[k]`, `y[k]`) if that is one cell away, on the floor, free and the AGV is
    not down; else it stays and counts as refused. A clash is a mover whose target is held by an AGV
    that stays or that moves onto the mover's cell (a swap), or that another mover claims too. Returns
    the number of AGVs asked to move, those moved and their target cells, refused moves and clashes."""
    n = idx.shape[0]
    moved = np.empty(n, dtype=np.int64)
    target = np.empty(n, dtype=np.int64)
    source = np.empty(n, dtype=np.int64)
    moving = refused = m = 0
    for k in range(n):
        i = idx[k]
        nx, ny, ox, oy = x[k], y[k], ax[i], ay[i]
        if nx == ox and ny == oy:
            continue
        moving += 1
        on_floor = 0 <= nx < width and 0 <= ny < height
        if abs(nx - ox) + abs(ny - oy) != 1 or not on_floor or state[i] == DOWN or blocked[ny * width + nx]:
            refused += 1
            continue
        moved[m], target[m], source[m] = i, ny * width + nx, oy * width + ox
        m += 1
    for k in range(m):
        target_of[moved[k]] = target[k]
    clashes = 0
    for k in range(m):
        held = occupant[target[k]]
        if held >= 0 and (target_of[held] < 0 or target_of[held] == source[k]):
            clashes += 1
        count[target[k]] += 1
    if m > 1:
        for k in range(m):
            if count[target[k]] > 1:
                clashes += 1
    for k in range(m):
        count[target[k]] = 0
        target_of[moved[k]] = -1
        occupant[source[k]] = -1
    for k in range(m):
        i = moved[k]
        occupant[target[k]] = i
        ax[i], ay[i] = target[k] % width, target[k] // width
    return moving, moved[:m], target[:m], refused, clashes


@dataclass
class AgvCounters:
    """What the fleet did: moves empty and loaded, refused moves, collisions, energy, pickups refused
    because the part weighs more than the AGV carries, and why tasks waited until picked up: seconds
    with no AGV assigned yet, then seconds while the AGV assigned first was on its way."""

    moves_empty: int = 0
    moves_loaded: int = 0
    refused_moves: int = 0
    collisions: int = 0
    overloads: int = 0
    drive_kwh: float = 0.0
    charge_kwh: float = 0.0
    steps: int = 0
    wait_unassigned_s: int = 0
    wait_agv_on_its_way_s: int = 0


class AgvFloor:
    """Positions (x, y), state of charge and state of every AGV; `heat[y, x]` counts AGV visits.
    `docks` are machine cells an AGV drives into (parts worked on their AGV, `Plant.agv_docks`)."""

    def __init__(self, floor: FloorGrid, fleet: Fleet, docks: Iterable[Cell] = ()) -> None:
        self.floor = floor
        self.spec = fleet.spec  # the first type; per-AGV values are the arrays below
        self.ids = fleet.agv_ids
        self.index = {agv: i for i, agv in enumerate(self.ids)}
        n = len(self.ids)
        self.type_of = np.array(fleet.type_of, dtype=np.int64).reshape(n)

        def per_agv(name: str) -> np.ndarray:
            return np.array([getattr(t, name) for t in fleet.types], dtype=np.float64)[self.type_of]

        self.battery_kwh = per_agv("battery_kwh")
        self.kwh_per_cell = per_agv("drain_kwh_per_m") * floor.cell_m
        self.loaded_factor = per_agv("loaded_drain_factor")
        self.low_soc = per_agv("low_soc")
        self.charge_kw = per_agv("charge_kw")
        self.payload_kg = per_agv("payload_kg")
        self.x = np.array([c[0] for c in fleet.homes], dtype=np.int32)
        self.y = np.array([c[1] for c in fleet.homes], dtype=np.int32)
        self.soc = np.ones(n)
        self.state = np.full(n, IDLE, dtype=np.int8)
        self.loaded = np.zeros(n, dtype=np.bool_)
        self.low_reported = np.zeros(n, dtype=np.bool_)
        self.heat = np.zeros((floor.height, floor.width), dtype=np.int32)
        self.counters = AgvCounters()
        self._occupant = np.full(floor.height * floor.width, -1, dtype=np.int64)
        self._occupant[self.y * floor.width + self.x] = np.arange(n, dtype=np.int32)
        self._blocked = floor.blocked.ravel().copy()
        for x, y in docks:  # a machine where parts are worked on their AGV: the AGV drives in
            self._blocked[y * floor.width + x] = False
        self._ids_cache: tuple[tuple[str, ...], np.ndarray] | None = None
        self._target_of = np.full(n, -1, dtype=np.int64)
        self._count = np.zeros(floor.height * floor.width, dtype=np.int64)  # scratch: movers per cell
        self._heat_flat = self.heat.reshape(-1)

    def indices(self, agv_ids: tuple[str, ...]) -> np.ndarray:
        """Array indices of `agv_ids` (cached for the tuple a planner sends every step)."""
        cache = self._ids_cache
        if cache is not None and cache[0] is agv_ids:
            return cache[1]
        idx = np.array([self.index[a] for a in agv_ids], dtype=np.int64)
        self._ids_cache = (agv_ids, idx)
        return idx

    def move(self, agv_ids: tuple[str, ...], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Apply one step; returns the indices of the AGVs that moved (refused moves excluded)."""
        moving, idx, target, refused, clashes = _apply_moves(
            self.indices(agv_ids), np.asarray(x), np.asarray(y), self.x, self.y, self.state, self._blocked,
            self.floor.width, self.floor.height, self._occupant, self._target_of, self._count,
        )
        if not moving:
            return idx
        self.counters.steps += 1
        self.counters.refused_moves += refused
        if clashes:
            self.counters.collisions += clashes
        loaded = self.loaded[idx]
        n_loaded = int(loaded.sum())
        self.counters.moves_loaded += n_loaded
        self.counters.moves_empty += len(idx) - n_loaded
        per_cell = self.kwh_per_cell[idx]
        drain = per_cell * np.where(loaded, self.loaded_factor[idx], 1.0) if n_loaded else per_cell
        self.soc[idx] -= drain / self.battery_kwh[idx]
        self.counters.drive_kwh += float(drain.sum())
        np.add.at(self._heat_flat, target, 1)
        return idx

    def at(self, agv: int) -> tuple[int, int]:
        return int(self.x[agv]), int(self.y[agv])

    def charge_power_kw(self, agv: int, charger_kw: float) -> float:
        """What AGV `agv` charges at on a charger of `charger_kw` (0: the AGV's own power)."""
        own = float(self.charge_kw[agv])
        return min(own, charger_kw) if charger_kw > 0 else own
