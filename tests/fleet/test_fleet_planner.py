from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.lifelong import Delays, RoundRobinStream, run_lifelong
from mixflow.fleet.planner import PLAIN_PIBT, PIBTPlanner, PlannerOptions
from mixflow.fleet.validate import validate_plan


def _fleet(grid: Grid, n: int, seed: int = 0) -> tuple[np.ndarray, RoundRobinStream]:
    rng = np.random.default_rng(seed)
    free = grid.free_cells
    starts = rng.choice(free, n, replace=False).astype(np.int32)
    goals = rng.choice(free, 400).astype(np.int32)
    return starts, RoundRobinStream(goals, n)


@pytest.mark.parametrize("options", [PlannerOptions(), PLAIN_PIBT, PlannerOptions(swap=True)])
def test_lifelong_is_collision_free_and_everyone_progresses(warehouse: Grid, options: PlannerOptions) -> None:
    starts, stream = _fleet(warehouse, 30)
    result = run_lifelong(warehouse, starts, stream, 300, options, seed=1)
    check = validate_plan(warehouse, result.paths)
    assert check.ok, check.first_problem
    assert result.goals_per_agent.min() >= 1
    assert result.throughput > 0.3


def test_round_robin_goals_are_reached_in_order(warehouse: Grid) -> None:
    starts, stream = _fleet(warehouse, 10)
    result = run_lifelong(warehouse, starts, stream, 200, seed=3)
    for agent in range(10):
        mine = [cell for a, cell, _ in result.reached if a == agent]
        assert mine == [stream.goal(agent, k) for k in range(len(mine))]


def test_random_delays_never_collide(warehouse: Grid) -> None:
    starts, stream = _fleet(warehouse, 40)
    result = run_lifelong(warehouse, starts, stream, 300, seed=2, delays=Delays(0.05, 5))
    assert result.delayed_robot_steps > 0
    assert validate_plan(warehouse, result.paths).ok
    assert result.goals_per_agent.min() >= 1


def test_held_and_broken_robots_stay_put(warehouse: Grid) -> None:
    starts, stream = _fleet(warehouse, 20)
    planner = PIBTPlanner(warehouse, starts, np.array([stream.goal(i, 0) for i in range(20)]))
    planner.set_broken(0, True)
    held = np.zeros(20, dtype=bool)
    held[1] = True
    trail = [planner.positions.copy()]
    for _ in range(30):
        trail.append(planner.step(held))
    trail_arr = np.array(trail)
    assert (trail_arr[:, 0] == starts[0]).all() and (trail_arr[:, 1] == starts[1]).all()
    assert validate_plan(warehouse, trail_arr).ok


def test_corridor_pass_needs_the_side_pocket() -> None:
    grid = grid_from_rows(["@@.@@", "....."])
    planner = PIBTPlanner(grid, np.array([5, 9]), np.array([9, 5]), PlannerOptions(swap=True))
    trail = [planner.positions.copy()]
    for _ in range(20):
        trail.append(planner.step())
    assert validate_plan(grid, np.array(trail)).ok


@pytest.mark.parametrize(
    ("starts", "goals", "message"),
    [
        ([6], [0], "agent 0.*blocked"),
        ([0, 0], [1, 2], "agent 1.*like agent 0"),
        ([0], [6], "agent 0: goal"),
        ([0], [4], "agent 0: goal .* unreachable"),
    ],
)
def test_bad_agents_are_named(starts: list[int], goals: list[int], message: str) -> None:
    grid = grid_from_rows(["...@.", ".@@@."])  # cells 4 and 9 are cut off from the rest
    with pytest.raises(ValidationError, match=message):
        PIBTPlanner(grid, np.array(starts), np.array(goals))


def test_more_agents_than_cells() -> None:
    grid = grid_from_rows(["..", "@."])
    with pytest.raises(ValidationError, match="4 agents but only 3 free cells"):
        PIBTPlanner(grid, np.array([0, 1, 3, 2]), np.array([0, 1, 3, 2]))


def test_lazy_traffic_flow_matches_decaying_the_whole_grid_every_step(warehouse: Grid) -> None:
    """The planner decays a flow entry only when it is read; read at any step it must be the value an
    update of every cell every step gives, bit for bit (or both negligible)."""
    from mixflow.fleet._kernels import FLOW_NEGLIGIBLE, _decayed

    starts, stream = _fleet(warehouse, 30)
    options = PlannerOptions(flow_decay=0.6)  # fast: entries left alone turn negligible
    planner = PIBTPlanner(warehouse, starts, np.array([stream.goal(i, 0) for i in range(30)]), options)
    eager = np.zeros_like(planner._flow)
    nbr = warehouse.neighbors
    for t in range(400):
        before = planner.positions.copy()
        nxt = planner.step()
        eager *= options.flow_decay
        for v, u in zip(before.tolist(), nxt.tolist(), strict=True):
            if v != u:
                eager[v, nbr[v].tolist().index(u)] += 1.0
        for i in np.flatnonzero(nxt == planner.goals):
            planner.set_goal(int(i), stream.goal(int(i), t + 1))
    now, zero = planner._flow_time, planner._flow_zero_after  # read every entry now, as PIBT would
    lazy = np.array(
        [[_decayed(planner._flow, planner._flow_stamp, v, d, now, 0.6, zero) for d in range(4)]
         for v in range(warehouse.n_cells)]
    )
    small = eager < FLOW_NEGLIGIBLE
    assert (eager >= 1.0).sum() > 20  # robots move
    assert (small & (eager > 0)).any()  # and some flows have faded out since
    assert np.array_equal(lazy[~small], eager[~small])
    assert (lazy[small] == 0.0).all()


def _dead_end_lock(options: PlannerOptions) -> PIBTPlanner:
    """Robot 0 in a one-cell dead end must leave through robot 1's cell; robot 1, ahead in priority,
    waits to enter the dead end (its goal). Neither can pass the other without one backing off."""
    grid = grid_from_rows([".....", "@@.@@"], name="dead-end")
    dead_end, mouth, far = grid.cell(2, 1), grid.cell(2, 0), grid.cell(4, 0)
    starts = np.array([dead_end, mouth], dtype=np.int32)
    planner = PIBTPlanner(grid, starts, np.array([far, dead_end], dtype=np.int32), options, seed=0)
    planner.priorities[:] = [0.0, 10.0]
    return planner


def test_textbook_pibt_locks_at_a_dead_end() -> None:
    planner = _dead_end_lock(PLAIN_PIBT)
    start = planner.positions.copy()
    for _ in range(30):
        planner.step()
    assert np.array_equal(planner.positions, start)  # for ever: priorities keep their order


def test_unstick_lets_the_waiting_robot_give_way() -> None:
    planner = _dead_end_lock(PlannerOptions(flow_weight=0.0, lane_cost=0, unstick=3))
    trail = [planner.positions.copy()]
    for _ in range(30):
        trail.append(planner.step())
    grid = planner.grid
    assert planner.positions.tolist() == [grid.cell(4, 0), grid.cell(2, 1)]  # both on their goals
    assert validate_plan(grid, np.array(trail)).ok


def test_unstick_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match="unstick"):
        PlannerOptions(unstick=-1)


def test_a_held_robot_is_not_taken_for_a_locked_one(warehouse: Grid) -> None:
    starts, stream = _fleet(warehouse, 3)
    goals = np.array([stream.goal(i, 0) for i in range(3)], dtype=np.int32)
    planner = PIBTPlanner(warehouse, starts, goals, PlannerOptions(unstick=2), seed=0)
    held = np.array([True, False, False])
    for _ in range(6):
        planner.step(held)
    assert planner.priorities[0] >= 6.0  # still rising: it waited because it was told to
