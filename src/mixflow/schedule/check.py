"""An independent schedule checker: validates every rule straight from ProblemData and rescores.

It shares no code with the solvers (not the flat arrays, not the kernels), so a solver bug cannot hide
behind the same bug in the check. Rules: each operation on an eligible machine for exactly that
machine's duration, not before its job's release, after all its predecessors (routing and extra
precedences), no two operations overlapping on a machine and consecutive ones separated by the setup,
and no operation overlapping a downtime window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from mixflow.schedule.data import Objective, ProblemData


@dataclass(frozen=True)
class CheckReport:
    """Violations found (empty: feasible) and the objective recomputed from scratch."""

    violations: tuple[str, ...]
    objective: int
    makespan: int
    weighted_tardiness: int

    @property
    def feasible(self) -> bool:
        """True when no rule is broken."""
        return not self.violations


def check(
    data: ProblemData, machine: Sequence[int], start: Sequence[int], end: Sequence[int], limit: int = 20
) -> CheckReport:
    """Check a schedule given per flat operation (machine, start, end); report up to `limit` violations."""
    problems: list[str] = []
    ops = [(j, o, op) for j, job in enumerate(data.jobs) for o, op in enumerate(job.operations)]
    if not len(machine) == len(start) == len(end) == len(ops):
        return CheckReport((f"schedule has {len(machine)} rows, problem has {len(ops)} operations",), 0, 0, 0)
    by_machine: dict[int, list[tuple[int, int, int]]] = {}
    for i, (j, o, op) in enumerate(ops):
        m, s, e = int(machine[i]), int(start[i]), int(end[i])
        durations = {mode.machine: mode.duration for mode in op.modes}
        if m not in durations:
            problems.append(f"job {j} op {o}: machine {m} is not eligible")
        elif e - s != durations[m]:
            problems.append(f"job {j} op {o}: runs {e - s} s on machine {m}, needs {durations[m]} s")
        if s < data.jobs[j].release:
            problems.append(f"job {j} op {o}: starts {s} before release {data.jobs[j].release}")
        if o > 0 and s < int(end[i - 1]):
            problems.append(f"job {j} op {o}: starts {s} before op {o - 1} ends {int(end[i - 1])}")
        if 0 <= m < len(data.machines):
            by_machine.setdefault(m, []).append((s, e, i))
            for ds, de in data.machines[m].downtime:
                if s < de and ds < e:
                    problems.append(
                        f"job {j} op {o}: [{s}, {e}) overlaps downtime [{ds}, {de}) of machine {m}"
                    )
    for before, after in data.precedences:
        a, b = data.op_index(*before), data.op_index(*after)
        if int(start[b]) < int(end[a]):
            problems.append(f"op {after} starts {int(start[b])} before its predecessor {before} ends")
    for m, rows in by_machine.items():
        rows.sort()
        for (_, e1, i1), (s2, _, i2) in pairwise(rows):
            gap = data.machines[m].setup(ops[i1][2].family, ops[i2][2].family)
            if s2 < e1 + gap:
                problems.append(
                    f"machine {m}: job {ops[i2][0]} op {ops[i2][1]} starts {s2} before "
                    f"job {ops[i1][0]} op {ops[i1][1]} ends {e1} plus setup {gap}"
                )
    makespan = max((int(e) for e in end), default=0)
    tardiness = 0
    for j, job in enumerate(data.jobs):
        if job.due is not None:
            done = int(end[data.op_index(j, len(job.operations) - 1)])
            tardiness += job.weight * max(0, done - job.due)
    objective = makespan if data.objective is Objective.MAKESPAN else tardiness
    return CheckReport(tuple(problems[:limit]), objective, makespan, tardiness)
