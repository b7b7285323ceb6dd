"""The feeder-shop scheduling problem: a flexible job shop with setups, calendars and due dates.

A job is a chain of operations (its routing); each operation runs on exactly one of its eligible
machines, with a duration that depends on the machine. Extra precedences may link operations of
different jobs (a sub-assembly feeding a mounting step). Machines carry downtime windows (calendar
breaks, maintenance, breakdowns) during which no operation may run, and a setup matrix between
operation families (colour, tooling): if an operation of family b directly follows one of family a on
the machine, at least `setup_times[a][b]` seconds must separate them. The objective is the makespan or
the weighted tardiness against each job's due date (the line slot that consumes the part).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mixflow.errors import ValidationError


class Objective(StrEnum):
    """What a schedule is scored by: the last end, or the sum of weight x lateness past due dates."""

    MAKESPAN = "makespan"
    WEIGHTED_TARDINESS = "weighted_tardiness"


@dataclass(frozen=True)
class Mode:
    """One way to run an operation: on `machine` (index into ProblemData.machines) for `duration` s."""

    machine: int
    duration: int

    def __post_init__(self) -> None:
        if self.machine < 0:
            raise ValidationError("Mode.machine", f"machine index must be >= 0, got {self.machine}")
        if self.duration < 0:
            raise ValidationError("Mode.duration", f"duration must be >= 0, got {self.duration}")


@dataclass(frozen=True)
class Operation:
    """One step of a job's routing: its eligible machines with durations and its setup family."""

    modes: tuple[Mode, ...]
    family: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if not self.modes:
            raise ValidationError(f"Operation {self.name!r}.modes", "an operation needs an eligible machine")
        machines = [mode.machine for mode in self.modes]
        if len(set(machines)) != len(machines):
            raise ValidationError(f"Operation {self.name!r}.modes", "a machine is listed twice")
        if self.family < 0:
            raise ValidationError(f"Operation {self.name!r}.family", f"must be >= 0, not {self.family}")


@dataclass(frozen=True)
class Job:
    """A part to make: operations in routing order, release time, due date (None: no due) and weight."""

    operations: tuple[Operation, ...]
    release: int = 0
    due: int | None = None
    weight: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if not self.operations:
            raise ValidationError(f"Job {self.name!r}.operations", "a job needs at least one operation")
        if self.release < 0:
            raise ValidationError(f"Job {self.name!r}.release", f"release must be >= 0, got {self.release}")
        if self.due is not None and self.due < 0:
            raise ValidationError(f"Job {self.name!r}.due", f"due must be >= 0, got {self.due}")
        if self.weight < 0:
            raise ValidationError(f"Job {self.name!r}.weight", f"weight must be >= 0, got {self.weight}")


@dataclass(frozen=True)
class Machine:
    """A machine: downtime windows [start, end) where nothing runs, and a family x family setup matrix."""

    name: str = ""
    downtime: tuple[tuple[int, int], ...] = ()
    setup_times: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        for start, end in self.downtime:
            if not 0 <= start < end:
                raise ValidationError(f"Machine {self.name!r}.downtime", f"window ({start}, {end}) is empty")
        if self.setup_times is not None:
            size = len(self.setup_times)
            for row in self.setup_times:
                if len(row) != size:
                    raise ValidationError(f"Machine {self.name!r}.setup_times", "matrix must be square")
                if any(value < 0 for value in row):
                    raise ValidationError(f"Machine {self.name!r}.setup_times", "setups must be >= 0")

    def setup(self, before: int, after: int) -> int:
        """Seconds needed between an operation of family `before` and a following one of `after`."""
        if self.setup_times is None:
            return 0
        return self.setup_times[before][after]


OpRef = tuple[int, int]
"""An operation named by (job index, operation index within the job)."""


@dataclass(frozen=True)
class ProblemData:
    """One validated scheduling problem; every solver, the checker and the readers share it."""

    machines: tuple[Machine, ...]
    jobs: tuple[Job, ...]
    precedences: tuple[tuple[OpRef, OpRef], ...] = ()
    objective: Objective = Objective.MAKESPAN
    name: str = ""
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.machines:
            raise ValidationError("ProblemData.machines", "at least one machine is needed")
        n_machines = len(self.machines)
        offsets = [0]
        for j, job in enumerate(self.jobs):
            for o, op in enumerate(job.operations):
                for mode in op.modes:
                    if mode.machine >= n_machines:
                        raise ValidationError(
                            f"ProblemData.jobs[{j}].operations[{o}]",
                            f"machine {mode.machine} does not exist ({n_machines} machines)",
                        )
                    setups = self.machines[mode.machine].setup_times
                    if setups is not None and op.family >= len(setups):
                        raise ValidationError(
                            f"ProblemData.jobs[{j}].operations[{o}].family",
                            f"family {op.family} is outside machine {mode.machine}'s setup matrix",
                        )
            offsets.append(offsets[-1] + len(job.operations))
        object.__setattr__(self, "_offsets", tuple(offsets))
        for before, after in self.precedences:
            for j, o in (before, after):
                if not (0 <= j < len(self.jobs) and 0 <= o < len(self.jobs[j].operations)):
                    raise ValidationError("ProblemData.precedences", f"operation ({j}, {o}) does not exist")
        if self.precedences:
            self._check_acyclic()

    @property
    def num_operations(self) -> int:
        """Operations over all jobs."""
        return self._offsets[-1]

    def op_index(self, job: int, op: int) -> int:
        """Flat index of operation `op` of `job` (jobs in order, operations in routing order)."""
        return self._offsets[job] + op

    def job_offsets(self) -> tuple[int, ...]:
        """Flat index of each job's first operation, plus the total at the end."""
        return self._offsets

    def _check_acyclic(self) -> None:
        n = self.num_operations
        succs: list[list[int]] = [[] for _ in range(n)]
        indeg = [0] * n
        for j, job in enumerate(self.jobs):
            for o in range(1, len(job.operations)):
                succs[self.op_index(j, o - 1)].append(self.op_index(j, o))
                indeg[self.op_index(j, o)] += 1
        for before, after in self.precedences:
            succs[self.op_index(*before)].append(self.op_index(*after))
            indeg[self.op_index(*after)] += 1
        stack = [i for i in range(n) if indeg[i] == 0]
        seen = 0
        while stack:
            i = stack.pop()
            seen += 1
            for k in succs[i]:
                indeg[k] -= 1
                if indeg[k] == 0:
                    stack.append(k)
        if seen != n:
            raise ValidationError("ProblemData.precedences", "precedences form a cycle")
