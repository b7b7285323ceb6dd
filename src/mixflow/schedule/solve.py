"""The one entry point: `solve(data, time_limit, seed) -> ScheduleResult`.

Methods share input and output so benchmarks compare them one to one:

- `"auto"` (default): dispatch restarts for a start; for makespan, tabu search on the machine
  sequences (job shops: N7 with an elite pool and path relinking, one walk per worker, where the shop
  is a classic one; N5 with exact evaluation where it has setups, releases or downtime), or for small
  flexible shops a memetic search whose children are improved by a tabu search that also moves
  critical operations to other eligible machines, after a moment of the whole CP-SAT model hinted,
  which ends the solve where it proves the optimum (with a second worker that moment runs in a second
  thread, which then runs exactly valued tabu walks where they beat the memetic search early, else a
  second population); then the whole CP-SAT model hinted (small problems) or CP-SAT LNS; for tardiness,
  LNS directly;
- `"dispatch"`: the constructive heuristic alone (what scales to any size in milliseconds);
- `"cpsat"`: plain CP-SAT on the whole model, no hint (the baseline);
- `"cpsat-hinted"`: the whole model hinted with the dispatch schedule.
"""

from __future__ import annotations

import time

import numpy as np

from mixflow.errors import InfeasibleError, ValidationError
from mixflow.schedule._arrays import FlatProblem, flat_of, score
from mixflow.schedule.bounds import lower_bound
from mixflow.schedule.cpsat import Incumbent, Solved, solve_full
from mixflow.schedule.data import ProblemData
from mixflow.schedule.dispatch import best_dispatch, durations_of
from mixflow.schedule.flextabu import improve_assignment
from mixflow.schedule.lns import improve, retime
from mixflow.schedule.result import ScheduleResult
from mixflow.schedule.tabu import TABU_LIMIT, improve_sequences

METHODS = ("auto", "dispatch", "cpsat", "cpsat-hinted")
FULL_MODEL_LIMIT = 300
"""Up to this many operations, `auto` ends with the whole CP-SAT model hinted (and gets its bound)."""
TABU_SHARE = 0.8
"""Share of the time a job shop (one machine per operation) gives the sequence tabu search; the whole
model hinted with its result gets the rest (on ta01-ta05 the tabu gains more per second than CP-SAT)."""
ASSIGNMENT_SHARE = 0.95
"""Share of the time left which the memetic tabu search of a small flexible problem gets; the hinted
whole model polishes its result in the rest. A hinted whole model first (15% of the time, then 70% of
the rest to the search) settled mk01-mk04 early but left the search less: 10 s, 2 workers, mk06 reached
57 in 5 of 30 runs with 5% first and in 15 of 40 with none; Dauzere-Peres 01a-12a mean gap 1.63% and
1.45% (seed 0)."""


def result_of(
    flat: FlatProblem, incumbent: Incumbent, bound: int, started: float, solver: str,
    moved: tuple[tuple[int, int], ...] = (),
) -> ScheduleResult:
    """Score an incumbent and wrap it as the public result."""
    objective, makespan, tardiness = score(flat, incumbent.end)
    return ScheduleResult(
        machine=incumbent.machine, start=incumbent.start, end=incumbent.end, objective=objective,
        makespan=makespan, weighted_tardiness=tardiness, lower_bound=min(bound, objective),
        time_s=time.perf_counter() - started, solver=solver, moved=moved,
    )


def _from_solved(flat: FlatProblem, incumbent: Incumbent, solved: Solved) -> Incumbent:
    machine, start = solved.overlay(incumbent.machine, incumbent.start)
    return Incumbent(machine, start, start + durations_of(flat, machine))


def _polish(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, workers: int, bound: int
) -> tuple[Incumbent, int]:
    """The whole model hinted with `incumbent`: the better schedule and the raised lower bound."""
    solved = solve_full(flat, time_limit, seed, workers, incumbent)
    if solved is not None and solved.objective <= score(flat, incumbent.end)[0]:
        return _from_solved(flat, incumbent, solved), max(bound, solved.bound)
    return incumbent, bound


def _dispatch_budget(flat: FlatProblem, time_limit: float, flexible: bool) -> float:
    """Time for dispatch restarts: a tenth of the limit up to 2 s; on a small flexible makespan problem a
    fiftieth, since the memetic search replaces its start at once and gains more from the time (when set,
    with an earlier search, 10 s, 2 workers: mk06 57 in 2 of 22 runs, before in none of 12; mk07 139 in 12
    of 22, before in 6 of 12; the noise is large)."""
    if flat.n_ops > 5000:
        return 0.0
    small_flexible = flexible and flat.makespan_objective and flat.n_ops <= FULL_MODEL_LIMIT
    return min((0.02 if small_flexible else 0.1) * time_limit, 2.0)


def solve(
    data: ProblemData, time_limit: float = 10.0, seed: int = 0, workers: int = 2, method: str = "auto"
) -> ScheduleResult:
    """Schedule `data` within about `time_limit` seconds using `workers` CP-SAT workers."""
    if method not in METHODS:
        raise ValidationError("solve.method", f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if time_limit <= 0:
        raise ValidationError("solve.time_limit", f"time limit must be > 0, got {time_limit}")
    started = time.perf_counter()
    flat = flat_of(data)
    bound = lower_bound(flat)
    if method == "cpsat":
        solved = solve_full(flat, time_limit, seed, workers)
        if solved is None:
            name = data.name or "the problem"
            raise InfeasibleError(f"CP-SAT found no schedule for {name} in {time_limit}s")
        empty = np.zeros(flat.n_ops, dtype=np.int64)
        incumbent = _from_solved(flat, Incumbent(empty, empty, empty), solved)
        return result_of(flat, incumbent, max(bound, solved.bound), started, "cpsat")
    flexible = bool((np.diff(flat.mode_ptr) > 1).any())
    machine, start, _ = best_dispatch(flat, _dispatch_budget(flat, time_limit, flexible), seed)
    incumbent = retime(flat, machine, start)
    if method == "dispatch":
        return result_of(flat, incumbent, bound, started, "dispatch")
    left = time_limit - (time.perf_counter() - started)
    if method == "cpsat-hinted":
        solved = solve_full(flat, max(left, 0.1), seed, workers, incumbent)
        if solved is not None and solved.objective <= score(flat, incumbent.end)[0]:
            incumbent = _from_solved(flat, incumbent, solved)
            bound = max(bound, solved.bound)
        return result_of(flat, incumbent, bound, started, "cpsat-hinted")
    if flat.makespan_objective and flat.n_ops <= TABU_LIMIT:
        small = flat.n_ops <= FULL_MODEL_LIMIT
        if not flexible:  # tabu search keeps machines: it pays only when there is no choice of machine
            incumbent = improve_sequences(flat, incumbent, left * (TABU_SHARE if small else 0.6), seed, bound,
                                          workers)
        elif small:  # tabu search moves critical operations between machines; CP-SAT polishes its result
            incumbent, bound = improve_assignment(flat, incumbent, left * ASSIGNMENT_SHARE, seed, bound,
                                                  workers)
        left = time_limit - (time.perf_counter() - started)
        if small and score(flat, incumbent.end)[0] > bound:
            incumbent, bound = _polish(flat, incumbent, max(left, 0.1), seed, workers, bound)
        if small:
            return result_of(flat, incumbent, bound, started, "dispatch+tabu+cpsat")
    incumbent, _ = improve(flat, incumbent, left, seed, workers, bound)
    return result_of(flat, incumbent, bound, started, "dispatch+tabu+lns")
