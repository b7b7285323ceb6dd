"""Material tasks on the grid and their assignment to free AGVs by true grid distance.

`assign` solves the min-cost assignment (Hungarian, scipy's linear_sum_assignment) of robots to
tasks; `assign_greedy` is the nearest-free-robot rule it is compared with. On the same robots, tasks
and costs the optimal assignment's total is never above the greedy one's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mixflow.errors import ValidationError

FORBIDDEN = 1.0e9
"""Cost of a pairing that may not be made (unreachable, or not enough battery)."""


@dataclass(frozen=True)
class FleetTask:
    """Carry `payload_kg` from cell `pickup` to cell `dropoff`, released and due at steps.

    A part worked on its AGV: `holds` keeps the robot with the part at the dropoff (held, taking no
    other errand) and `follows` names the task whose robot holds the part and must carry this one.
    """

    id: str
    pickup: int
    dropoff: int
    release: int = 0
    deadline: int = 1 << 40
    payload_kg: float = 0.0
    holds: bool = False
    follows: str = ""

    def __post_init__(self) -> None:
        if self.pickup < 0 or self.dropoff < 0:
            raise ValidationError(f"task {self.id}", "pickup and dropoff must be cell indices >= 0")
        if self.pickup == self.dropoff:
            raise ValidationError(f"task {self.id}", "pickup and dropoff are the same cell")
        if self.deadline < self.release:
            raise ValidationError(f"task {self.id}", "deadline lies before release")
        if self.payload_kg < 0:
            raise ValidationError(f"task {self.id}", "payload_kg must be >= 0")


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Min-total-cost pairs (robot row, task column), at most one task per robot and robot per task.

    Pairs whose cost is FORBIDDEN are dropped from the answer.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < FORBIDDEN]


def assign_greedy(cost: np.ndarray) -> list[tuple[int, int]]:
    """Nearest free robot per task, tasks in column order (the usual dispatch rule, the baseline)."""
    cost = np.asarray(cost, dtype=np.float64)
    taken = np.zeros(cost.shape[0], dtype=bool)
    pairs = []
    for task in range(cost.shape[1]):
        column = np.where(taken, np.inf, cost[:, task])
        if column.size == 0:
            break
        robot = int(np.argmin(column))
        if column[robot] >= FORBIDDEN:
            continue
        taken[robot] = True
        pairs.append((robot, task))
    return pairs


def total_cost(cost: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    """Sum of the costs of the chosen pairs."""
    return float(sum(cost[r, c] for r, c in pairs))
