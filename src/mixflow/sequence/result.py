"""The one result type every sequencing solver returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SequenceResult:
    """A day-D line order and its criteria, as recomputed by the independent evaluator.

    `order` holds vehicle indices, `sequence` the matching vehicle ids; `violations` is the number of
    violated full windows for CSPLib instances and high + low ratio violations for ROADEF-style ones.
    `feasible` is False when the paint batch limit or a latest slot is broken; `optimal` when a solver
    proved it. `time_s` is wall-clock time, `cpu_s` the CPU time of this process meanwhile (on a
    shared machine the latter says what the search itself cost).
    """

    solver: str
    order: tuple[int, ...]
    sequence: tuple[str, ...]
    criteria: dict[str, int]
    objective: int
    violations: int
    feasible: bool
    optimal: bool
    time_s: float
    iterations: int = 0
    cpu_s: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The CLI contract: objective, criteria, violations, sequence, time_s."""
        return {
            "objective": self.objective,
            "criteria": dict(self.criteria),
            "violations": self.violations,
            "sequence": list(self.sequence),
            "time_s": round(self.time_s, 4),
        }
