"""Guidance derived from the floor and the task stream, chosen per floor at load (never set by hand).

Two ingredients, both after the League of Robot Runners 2023 winners:

* Traffic-flow edge costs (after Chen et al., "Traffic Flow Optimisation for Lifelong MAPF", AAAI
  2024): route a sample of the stream's trips (each robot's goal to its next goal) along cheapest
  paths, count the robots crossing every directed edge, and make a move cost more the more traffic
  comes the other way on the same edge; repeat a few rounds. Opposing streams drift apart into
  one-way lanes that follow the floor's own corridors and the stream's own flows.
* Per-floor choice by simulation (the spirit of Zhang et al.'s guidance graph optimisation, "Guidance
  Graph Optimization for Lifelong MAPF", IJCAI 2024, with a small candidate set instead of a learnt
  graph): plain PIBT, the traffic-flow costs and a generic crisscross of soft lanes each run a short
  lifelong simulation on the floor, from the real starts, with the real goal stream; the best wins,
  and a guided candidate must beat plain PIBT by a margin, so guidance is never chosen where it
  does not pay.

The choice costs a warm-up at load (reported apart from the step times); after it every step is a
plain PIBT step over precomputed costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet._kernels import dial_queue, dial_to_goal, route_flow
from mixflow.fleet.distances import DEFAULT_MAX_BYTES, DistanceTable
from mixflow.fleet.grid import Grid
from mixflow.fleet.lifelong import Delays, LifelongResult, RoundRobinStream, run_lifelong
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


def candidates(grid: Grid, starts: np.ndarray, stream: RoundRobinStream, seed: int = 0) -> list[Guidance]:
    """Plain PIBT, traffic-flow costs of this floor and stream, and the generic crisscross lanes."""
    trips = max(64, min(512, 4_000_000 // max(1, grid.n_cells)))
    origins, destinations = stream_trips(starts, stream, trips, seed)
    flow_options = PlannerOptions(flow_weight=FLOW_WEIGHT, lane_cost=0)
    traffic = traffic_move_cost(grid, origins, destinations, seed=seed)
    lanes = PlannerOptions(flow_weight=FLOW_WEIGHT, lane_cost=8)
    return [
        PLAIN,
        Guidance("traffic", flow_options, traffic),
        Guidance(
            "lanes", replace(flow_options, lane_cost=lanes.lane_cost), lane_move_cost(grid, lanes.lane_cost)
        ),
    ]


@dataclass(frozen=True)
class GuidedRun:
    """A lifelong run with guidance chosen at load: the run, the choice and the warm-up it took."""

    result: LifelongResult
    guidance: str
    trial_throughput: dict[str, float]
    warmup_s: float


def choose_guidance(
    grid: Grid,
    starts: np.ndarray,
    stream: RoundRobinStream,
    trial_steps: int = 200,
    seed: int = 0,
) -> tuple[Guidance, DistanceTable, dict[str, float]]:
    """Run each candidate for `trial_steps` from the real starts on the real stream; return the
    winner, its (warm) distance table and every candidate's trial throughput."""
    best, best_table, best_rate = PLAIN, None, -1.0
    trial: dict[str, float] = {}
    plain_rate = 0.0
    n = len(starts)
    for guide in candidates(grid, starts, stream, seed):
        table = guide.distances(grid, n)
        run = run_lifelong(grid, starts, stream, trial_steps, guide.options, seed=seed, distances=table)
        rate = run.throughput
        trial[guide.name] = round(rate, 4)
        if guide is PLAIN:
            plain_rate = rate
            best, best_table, best_rate = guide, table, rate
        elif rate > best_rate and rate >= MARGIN * plain_rate:
            best, best_table, best_rate = guide, table, rate
    assert best_table is not None
    best_table.release_all()
    return best, best_table, trial


def run_guided(
    grid: Grid,
    starts: np.ndarray,
    stream: RoundRobinStream,
    steps: int,
    seed: int = 0,
    delays: Delays | None = None,
    trial_steps: int = 200,
) -> GuidedRun:
    """Choose the guidance for this floor and stream (the warm-up), then run `steps` lifelong steps."""
    began = time.perf_counter()
    trial_steps = min(trial_steps, max(steps, 20))  # a trial longer than the run would be waste
    guide, table, trial = choose_guidance(grid, starts, stream, trial_steps, seed)
    chosen_s = time.perf_counter() - began
    result = run_lifelong(
        grid, starts, stream, steps, guide.options, seed=seed, delays=delays, distances=table
    )
    return GuidedRun(result, guide.name, trial, chosen_s + result.warmup_s)


def describe(run: GuidedRun) -> dict[str, Any]:
    """The choice in a run's JSON."""
    return {"guidance": run.guidance, "trial_throughput": run.trial_throughput}
