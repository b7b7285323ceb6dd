"""Guidance derived from the floor and the task stream, chosen per floor at load (never set by hand).

Two ingredients, both after the League of Robot Runners 2023 winners:

* Traffic-flow edge costs (after Chen et al., "Traffic Flow Optimisation for Lifelong MAPF", AAAI
  2024): route a sample of the stream's trips (each robot's goal to its next goal) along cheapest
  paths, count the robots crossing every directed edge, and make a move cost more the more traffic
  comes the other way on the same edge; repeat a few rounds. Opposing streams drift apart into
  one-way lanes that follow the floor's own corridors and the stream's own flows.
* Per-floor choice by simulation (the spirit of Zhang et al.'s guidance graph optimisation, "Guidance
  Graph Optimization for Lifelong MAPF", IJCAI 2024, with a small candidate set instead of a learnt
  graph): plain PIBT, plain PIBT that unsticks locked robots (PlannerOptions.unstick), and the
  traffic-flow costs and a generic crisscross of soft lanes (both unsticking) each run a short
  lifelong simulation on the floor, from the real starts, with the real goal stream; the best rate
  in the second half of the trial wins, and a challenger must beat plain PIBT by a margin, so
  guidance is never chosen where it does not pay. Where plain PIBT is already near the free-flow
  bound (`lifelong.free_flow_throughput`), the challengers are not even tried.

The choice costs a warm-up at load (reported apart from the step times); after it every step is a
plain PIBT step over precomputed costs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet._kernels import dial_queue, dial_to_goal, route_flow
from mixflow.fleet.distances import DEFAULT_MAX_BYTES, DistanceTable
from mixflow.fleet.grid import Grid
from mixflow.fleet.lifelong import (
    Delays,
    LifelongResult,
    RoundRobinStream,
    free_flow_throughput,
    run_lifelong,
)
from mixflow.fleet.planner import LANE_UNIT, PLAIN_PIBT, PlannerOptions, lane_move_cost

FLOW_WEIGHT = 0.05
"""Weight of the online contraflow cost (PlannerOptions.flow_weight) of the guided candidates."""

MARGIN = 1.03
"""A guided candidate must reach this multiple of plain PIBT's throughput in the trial to be chosen."""


@dataclass(frozen=True, eq=False)
class Guidance:
    """A planner setting: PIBT options and the move costs its distance fields use (None: 1 per move)."""

    name: str
    options: PlannerOptions
    move_cost: np.ndarray | None = field(default=None, repr=False)

    def distances(self, grid: Grid, n_agents: int, max_bytes: int = DEFAULT_MAX_BYTES) -> DistanceTable:
        """An empty distance table under this guidance's move costs."""
        if self.move_cost is None:
            return DistanceTable(grid, max_bytes, min_rows=n_agents)
        return DistanceTable(grid, max_bytes, min_rows=n_agents, move_cost=self.move_cost, unit=LANE_UNIT)


PLAIN = Guidance("plain", PLAIN_PIBT)


def stream_trips(
    starts: np.ndarray, stream: RoundRobinStream, count: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A sample of `count` trips (origin, destination) of the stream: first goals from the starts,
    then each goal to the same robot's next goal."""
    cells = np.asarray(stream.cells, dtype=np.int64)
    n = len(starts)
    origins = np.concatenate([np.asarray(starts, dtype=np.int64), cells])
    firsts = cells[np.arange(n) % len(cells)]
    nexts = cells[(np.arange(len(cells)) + stream.team) % len(cells)]
    destinations = np.concatenate([firsts, nexts])
    keep = origins != destinations
    origins, destinations = origins[keep], destinations[keep]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(origins), size=min(count, len(origins)), replace=False)
    return origins[pick].astype(np.int32), destinations[pick].astype(np.int32)


def traffic_move_cost(
    grid: Grid,
    origins: np.ndarray,
    destinations: np.ndarray,
    rounds: int = 4,
    max_extra: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Move costs (quarter moves, LANE_UNIT per plain move) from the contraflow of routed trips.

    Each round routes every trip on its cheapest path under the current costs and sets the cost of a
    move u -> v to LANE_UNIT + max_extra * (flow v -> u) / (flow u -> v + flow v -> u + prior), the
    prior (mean flow of a used edge) keeping lightly used edges nearly free; costs are averaged with
    the previous round's so the lanes settle instead of flipping.
    """
    if len(origins) != len(destinations):
        raise ValidationError("traffic_move_cost", "needs one destination per origin")
    if rounds < 1 or max_extra < 0:
        raise ValidationError("traffic_move_cost", "rounds must be >= 1 and max_extra >= 0")
    n = grid.n_cells
    nbr = grid.neighbors
    cost = np.full((n, 4), LANE_UNIT, dtype=np.int32)
    extra = np.zeros((n, 4))
    closed = np.zeros(n, dtype=np.bool_)
    dist = np.empty(n, dtype=np.int32)
    queue = dial_queue(np.full((n, 4), LANE_UNIT + max_extra, dtype=np.int32))
    rng = np.random.default_rng(seed)
    order = np.argsort(destinations, kind="stable")
    dests, firsts = np.unique(destinations[order], return_index=True)
    bounds = [*firsts.tolist(), len(order)]
    for _ in range(rounds):
        flow = np.zeros((n, 4))
        noise = rng.random((n, 4))
        for k, goal in enumerate(dests.tolist()):
            dial_to_goal(grid.predecessors, cost, goal, closed, dist, queue)
            route_flow(nbr, cost, dist, origins[order[bounds[k] : bounds[k + 1]]], noise, flow)
        contra = np.zeros_like(flow)
        for d in range(4):
            there = nbr[:, d]
            ok = there >= 0
            contra[ok, d] = flow[there[ok], (d + 2) % 4]
        used = flow[flow > 0]
        prior = float(used.mean()) if used.size else 1.0
        share = contra / (flow + contra + prior)
        extra = 0.5 * (extra + max_extra * share)
        cost = (LANE_UNIT + np.rint(extra)).astype(np.int32)
    return cost


UNSTICK = 4
"""Steps a robot may wait away from its goal before its priority drops (PlannerOptions.unstick) in
every candidate but plain PIBT: without it PIBT locks on floors with dead ends (room-64-0.15-3 with
600 robots: 0 goals a step after 700 steps; with it 10 a step throughout), and on floors without
lock-ups it changes nothing (warehouse-10-20-10-2-1, 700 robots, lanes: 7.68 and 7.68)."""

PLAIN_UNSTICK = Guidance("plain_unstick", replace(PLAIN_PIBT, unstick=UNSTICK))

TRIAL_ROBOT_STEPS = 100_000
"""Trial length in robot-steps (between MIN_TRIAL and MAX_TRIAL steps): a small fleet gets a long
trial, cheap, in which a lock-up that builds slowly still shows; a large one the short trial it
always had (its steps are the costly ones)."""
MIN_TRIAL, MAX_TRIAL = 200, 500


def trial_length(n_agents: int) -> int:
    """Steps of each candidate's trial for a fleet of `n_agents`."""
    return max(MIN_TRIAL, min(MAX_TRIAL, TRIAL_ROBOT_STEPS // max(1, n_agents)))


def traffic_guidance(grid: Grid, starts: np.ndarray, stream: RoundRobinStream, seed: int = 0) -> Guidance:
    """Traffic-flow move costs of this floor and stream, with the online contraflow cost."""
    trips = max(64, min(512, 4_000_000 // max(1, grid.n_cells)))
    origins, destinations = stream_trips(starts, stream, trips, seed)
    flow_options = PlannerOptions(flow_weight=FLOW_WEIGHT, lane_cost=0, unstick=UNSTICK)
    return Guidance("traffic", flow_options, traffic_move_cost(grid, origins, destinations, seed=seed))


def lanes_guidance(grid: Grid) -> Guidance:
    """The generic crisscross of soft one-way lanes, with the online contraflow cost."""
    lanes = PlannerOptions(flow_weight=FLOW_WEIGHT, lane_cost=8, unstick=UNSTICK)
    return Guidance("lanes", lanes, lane_move_cost(grid, lanes.lane_cost))


@dataclass(frozen=True)
class GuidedRun:
    """A lifelong run with guidance chosen at load: the run, the choice and the warm-up it took."""

    result: LifelongResult
    guidance: str
    trial_throughput: dict[str, float]
    warmup_s: float
    warmup_cpu_s: float = 0.0
    """The warm-up in CPU time of this thread, which a busy machine does not inflate."""


def steady_rate(run: LifelongResult) -> float:
    """Goals a step in the second half of a run: a candidate whose robots lock up as the run goes on
    (PIBT without swap on floors of dead ends) scores what it keeps, not its good start."""
    half = run.steps // 2
    late = sum(1 for _, _, t in run.reached if t > half)
    return late / max(1, run.steps - half)


def choose_guidance(
    grid: Grid,
    starts: np.ndarray,
    stream: RoundRobinStream,
    trial_steps: int | None = None,
    seed: int = 0,
) -> tuple[Guidance, DistanceTable, dict[str, float]]:
    """Run each candidate for `trial_steps` (default: `trial_length`) from the real starts on the real
    stream and keep the best steady rate; return the winner, its (warm) distance table and every
    candidate's trial score.

    Plain PIBT runs first; if it already reaches 1/MARGIN of the free-flow bound (every robot alone
    on the floor), no candidate could beat it by the margin, and the others are not tried (on large
    open floors they are the bulk of the warm-up).
    """
    n = len(starts)
    steps = trial_length(n) if trial_steps is None else trial_steps
    plain_table = PLAIN.distances(grid, n)
    trial: dict[str, float] = {}
    run = _trial(grid, starts, stream, steps, PLAIN, plain_table, seed)
    bound = free_flow_throughput(grid, starts, stream, steps)
    trial["plain"] = round(steady_rate(run), 4)
    trial["free_flow"] = round(bound, 4)
    best, best_table, best_rate = PLAIN, plain_table, steady_rate(run)
    if run.throughput * MARGIN > bound:
        return best, best_table, trial
    need = MARGIN * best_rate
    for guide in _challengers(grid, starts, stream, seed):
        table = plain_table if guide.move_cost is None else guide.distances(grid, n)
        rate = steady_rate(_trial(grid, starts, stream, steps, guide, table, seed))
        trial[guide.name] = round(rate, 4)
        if rate > best_rate and rate >= need:
            best, best_table, best_rate = guide, table, rate
    return best, best_table, trial


def _challengers(grid: Grid, starts: np.ndarray, stream: RoundRobinStream, seed: int) -> Iterator[Guidance]:
    """The candidates against plain PIBT, each made only when its turn comes (traffic costs take time)."""
    yield PLAIN_UNSTICK
    yield traffic_guidance(grid, starts, stream, seed)
    yield lanes_guidance(grid)


def _trial(
    grid: Grid,
    starts: np.ndarray,
    stream: RoundRobinStream,
    steps: int,
    guide: Guidance,
    table: DistanceTable,
    seed: int,
) -> LifelongResult:
    """One candidate's trial run; its planner's pins on the table are dropped after (the fields stay)."""
    run = run_lifelong(grid, starts, stream, steps, guide.options, seed=seed, distances=table)
    table.release_all()
    return run


def run_guided(
    grid: Grid,
    starts: np.ndarray,
    stream: RoundRobinStream,
    steps: int,
    seed: int = 0,
    delays: Delays | None = None,
    trial_steps: int | None = None,
) -> GuidedRun:
    """Choose the guidance for this floor and stream (the warm-up), then run `steps` lifelong steps."""
    began, began_cpu = time.perf_counter(), time.thread_time()
    trial_steps = trial_length(len(starts)) if trial_steps is None else trial_steps
    trial_steps = min(trial_steps, max(steps, 20))  # a trial longer than the run would be waste
    guide, table, trial = choose_guidance(grid, starts, stream, trial_steps, seed)
    chosen_s, chosen_cpu_s = time.perf_counter() - began, time.thread_time() - began_cpu
    result = run_lifelong(
        grid, starts, stream, steps, guide.options, seed=seed, delays=delays, distances=table
    )
    # the run's own load (its first goals' fields) is counted in wall time only
    return GuidedRun(result, guide.name, trial, chosen_s + result.warmup_s, chosen_cpu_s)


def describe(run: GuidedRun) -> dict[str, Any]:
    """The choice in a run's JSON."""
    return {"guidance": run.guidance, "trial_throughput": run.trial_throughput}
