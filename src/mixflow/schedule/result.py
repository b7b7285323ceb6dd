"""The one result every scheduling solver returns: a machine and a start per operation, plus scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mixflow.errors import ValidationError
from mixflow.schedule.data import OpRef, ProblemData


@dataclass(frozen=True)
class ScheduleResult:
    """A schedule (flat operation order of ProblemData) and how good it is.

    `machine`, `start` and `end` are indexed by flat operation index (`ProblemData.op_index`).
    `lower_bound` is a proven bound on the objective; `moved` lists the operations a repair changed.
    """

    machine: np.ndarray
    start: np.ndarray
    end: np.ndarray
    objective: int
    makespan: int
    weighted_tardiness: int
    lower_bound: int
    time_s: float
    solver: str
    moved: tuple[OpRef, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.machine)
        if len(self.start) != n or len(self.end) != n:
            raise ValidationError("ScheduleResult", "machine, start, end: one entry per operation")
        if self.lower_bound > self.objective:
            raise ValidationError("ScheduleResult.lower_bound", "lower bound exceeds the objective")

    @property
    def gap(self) -> float:
        """Relative distance to the lower bound (0.0 = proven optimal)."""
        return (self.objective - self.lower_bound) / max(self.objective, 1)

    def rows(self, data: ProblemData) -> list[dict[str, int]]:
        """The schedule as `{"job", "op", "machine", "start", "end"}` rows in file order."""
        rows = []
        for j, job in enumerate(data.jobs):
            for o in range(len(job.operations)):
                i = data.op_index(j, o)
                rows.append(
                    {
                        "job": j,
                        "op": o,
                        "machine": int(self.machine[i]),
                        "start": int(self.start[i]),
                        "end": int(self.end[i]),
                    }
                )
        return rows
