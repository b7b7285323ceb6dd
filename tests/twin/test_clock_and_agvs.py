"""Working-time arithmetic and the twin's own collision check on AGV moves."""

from __future__ import annotations

import numpy as np
import pytest

from mixflow.model import DAY_S, AgvSpec, Calendar, Fleet, FloorGrid
from mixflow.twin.agvs import AgvFloor

SHIFTS = Calendar(((6 * 3600, 14 * 3600), (14 * 3600, 22 * 3600)))


def test_work_pauses_over_night() -> None:
    start = 21 * 3600
    end = SHIFTS.working_end(start, 2 * 3600)
    assert end == DAY_S + 7 * 3600
    assert SHIFTS.working_between(start, end) == 2 * 3600


def test_work_started_at_night_waits_for_the_shift() -> None:
    assert SHIFTS.working_end(2 * 3600, 60) == 6 * 3600 + 60


def _floor(agvs: list[tuple[int, int]]) -> AgvFloor:
    blocked = np.zeros((4, 6), dtype=bool)
    blocked[0, 5] = True
    floor = FloorGrid(6, 4, blocked, np.full((4, 6), 15, dtype=np.uint8), 1.0, (), ((0, 3),), tuple(agvs))
    spec = AgvSpec(1.0, 100, 10.0, 10.0, 0.01)
    return AgvFloor(floor, Fleet(spec, tuple(f"A{i}" for i in range(len(agvs))), tuple(agvs)))


def test_vertex_and_swap_collisions_are_counted() -> None:
    agvs = _floor([(0, 0), (2, 0), (0, 1), (1, 1)])
    ids = agvs.ids
    # A0 and A1 both move onto (1, 0); A2 and A3 swap cells
    agvs.move(ids, np.array([1, 1, 1, 0]), np.array([0, 0, 1, 1]))
    assert agvs.counters.collisions == 4


def test_legal_moves_pass_and_drain_the_battery() -> None:
    agvs = _floor([(0, 0), (2, 0)])
    moved = agvs.move(agvs.ids, np.array([1, 3]), np.array([0, 0]))
    assert sorted(moved.tolist()) == [0, 1]
    assert agvs.counters.collisions == 0
    assert agvs.soc[0] == pytest.approx(1 - 0.01 / 10.0)
    # following into a cell the other AGV leaves in the same step is allowed
    agvs.move(agvs.ids, np.array([2, 4]), np.array([0, 0]))
    assert agvs.counters.collisions == 0


def test_jumps_and_walls_are_refused() -> None:
    agvs = _floor([(0, 0), (4, 0)])
    agvs.move(agvs.ids, np.array([2, 5]), np.array([0, 0]))
    assert agvs.counters.refused_moves == 2
    assert agvs.at(0) == (0, 0) and agvs.at(1) == (4, 0)
