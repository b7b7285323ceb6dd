"""The plan checker: every step a legal move, no two robots on one cell, no two robots swapping cells.

Used by the tests and the CLI on every plan the planners produce, so a planner bug shows up as a
count, not as a crash on the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet.grid import Grid


@dataclass(frozen=True)
class PlanCheck:
    """Counts of what is wrong with a plan; all zero means the plan is executable."""

    vertex_conflicts: int
    edge_conflicts: int
    illegal_moves: int
    first_problem: str = ""

    @property
    def ok(self) -> bool:
        return self.vertex_conflicts == 0 and self.edge_conflicts == 0 and self.illegal_moves == 0


def validate_plan(grid: Grid, paths: np.ndarray) -> PlanCheck:
    """Check `paths[t, agent]` (cell indices, shape steps+1 x agents).

    A vertex conflict is a pair of agents on one cell at one time; an edge conflict is a pair that
    trade cells in one step; an illegal move leaves a blocked cell, jumps, or breaks a one-way lane.
    """
    paths = np.asarray(paths)
    if paths.ndim != 2:
        raise ValidationError("paths", f"must be a (steps+1, agents) array, got shape {paths.shape}")
    if paths.size == 0:
        return PlanCheck(0, 0, 0)
    if paths.min() < 0 or paths.max() >= grid.n_cells:
        raise ValidationError("paths", "holds a cell index outside the grid")
    vertex = edge = illegal = 0
    problem = ""
    blocked = grid.blocked.ravel()
    n_agents = paths.shape[1]
    occupant = np.full(grid.n_cells, -1, dtype=np.int64)
    agents = np.arange(n_agents)
    for t in range(paths.shape[0]):
        here = paths[t]
        on_wall = int(blocked[here].sum())
        counts = np.bincount(here, minlength=grid.n_cells)
        clash = int((counts[counts > 1] - 1).sum())
        if (on_wall or clash) and not problem:
            problem = f"step {t}: {clash} agents share a cell, {on_wall} on a blocked cell"
        vertex += clash
        illegal += on_wall
        if t == 0:
            continue
        before = paths[t - 1]
        moved = before != here
        legal = (grid.neighbors[before] == here[:, None]).any(axis=1) | ~moved
        bad = int((~legal).sum())
        if bad and not problem:
            agent = int(np.flatnonzero(~legal)[0])
            src, dst = grid.xy(int(before[agent])), grid.xy(int(here[agent]))
            problem = f"step {t}: agent {agent} jumps from {src} to {dst}"
        illegal += bad
        occupant[before] = agents
        other = occupant[here]
        swap = moved & (other >= 0) & (other != agents) & (paths[t, np.maximum(other, 0)] == before)
        n_swap = int(swap.sum()) // 2
        if n_swap and not problem:
            agent = int(np.flatnonzero(swap)[0])
            problem = f"step {t}: agents {agent} and {int(other[agent])} swap cells"
        edge += n_swap
        occupant[before] = -1
    return PlanCheck(vertex, edge, illegal, problem)
