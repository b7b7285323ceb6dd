"""CP-SAT models of the flexible job shop: the whole problem, or a neighbourhood of an incumbent.

Each operation gets a start and an end; with several eligible machines it gets one optional interval
per machine and exactly one of them is present. Machines are no-overlap constraints over those
intervals plus fixed intervals for downtime; machines with setups also get a circuit over their
operations whose arcs carry the family-to-family setup. The same builder serves three uses:

- the full model (`solve_full`): every operation free, optionally hinted with a heuristic schedule;
- a *chained* neighbourhood (LNS on small and medium problems): every operation is a variable but the
  ones outside the neighbourhood keep their machine and their order on it;
- a *local* neighbourhood (LNS at plant scale): only the free operations are variables; the others are
  constants that bound them through precedences and occupy their machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from ortools.sat.python import cp_model

from mixflow.schedule._arrays import FlatProblem

CIRCUIT_LIMIT = 160
"""Above this many candidate operations on one setup machine, setups are modelled conservatively
(every operation's interval grows by the machine's largest setup) instead of by an exact circuit."""


@dataclass(frozen=True)
class Incumbent:
    """A feasible schedule the models are hinted with and neighbourhoods are cut from."""

    machine: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass(frozen=True)
class Solved:
    """What a CP-SAT solve gave back: a schedule for the modelled operations, or nothing."""

    ops: np.ndarray
    machine: np.ndarray
    start: np.ndarray
    objective: int
    bound: int
    optimal: bool

    def overlay(self, machine: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copies of an incumbent's `machine` and `start` with the solved operations' values written
        over them (a neighbourhood's solve covers only some operations)."""
        machine, start = machine.copy(), start.copy()
        machine[self.ops], start[self.ops] = self.machine, self.start
        return machine, start


def _horizon(flat: FlatProblem) -> int:
    max_duration = np.maximum.reduceat(flat.mode_duration, flat.mode_ptr[:-1]) if flat.n_ops else [0]
    last_down = int(flat.down_end.max()) if len(flat.down_end) else 0
    return int(np.sum(max_duration)) + int(flat.release.max(initial=0)) + last_down + 1


class _Builder:
    """Adds the variables and constraints of the modelled operations to one CpModel."""

    def __init__(self, flat: FlatProblem, horizon: int) -> None:
        self.flat = flat
        self.model = cp_model.CpModel()
        self.horizon = horizon
        self.start: dict[int, cp_model.IntVar] = {}
        self.end: dict[int, cp_model.IntVar] = {}
        self.presence: dict[tuple[int, int], cp_model.IntVar | bool] = {}
        self.on_machine: dict[int, list[tuple[int, cp_model.IntervalVar, cp_model.IntVar | bool, int]]] = {}
        # objective helpers (variable, operations it covers, due date or None) so hints can be complete
        self.objective_terms: list[tuple[cp_model.IntVar, list[int], int | None]] = []
        # (operations as circuit nodes 1.., arcs) per setup circuit, to hint the incumbent's sequence
        self.circuits: list[tuple[int, list[int], list[tuple[int, int, cp_model.LiteralT]]]] = []

    def add_operation(self, i: int, lo: int, hi_end: int, modes: Sequence[int]) -> None:
        """Variables of operation i restricted to the mode positions `modes`, inside [lo, hi_end]."""
        flat, model = self.flat, self.model
        durations = [int(flat.mode_duration[k]) for k in modes]
        shortest = min(durations)
        hi_end = max(hi_end, lo + shortest)
        s = model.new_int_var(lo, hi_end - shortest, f"s{i}")
        e = model.new_int_var(lo + shortest, hi_end, f"e{i}")
        self.start[i], self.end[i] = s, e
        if len(modes) == 1:
            m = int(flat.mode_machine[modes[0]])
            interval = model.new_interval_var(s, durations[0], e, f"x{i}")
            self.presence[i, m] = True
            self.on_machine.setdefault(m, []).append((i, interval, True, durations[0]))
            return
        literals = []
        for k, d in zip(modes, durations, strict=True):
            m = int(flat.mode_machine[k])
            lit = model.new_bool_var(f"p{i}_{m}")
            interval = model.new_optional_interval_var(s, d, e, lit, f"x{i}_{m}")
            self.presence[i, m] = lit
            self.on_machine.setdefault(m, []).append((i, interval, lit, d))
            literals.append(lit)
        model.add_exactly_one(literals)

    def add_machines(self) -> None:
        """No-overlap per machine (with downtime), and setup circuits where families differ."""
        flat, model = self.flat, self.model
        for m, rows in self.on_machine.items():
            busy = []
            for k in range(flat.down_ptr[m], flat.down_ptr[m + 1]):
                if flat.down_start[k] < self.horizon:
                    busy.append((int(flat.down_start[k]), int(flat.down_end[k])))
            fixed = [model.new_fixed_size_interval_var(s, e - s, f"busy{m}_{s}") for s, e in busy if e > s]
            setups = flat.has_setups(m) and len({int(flat.family[i]) for i, *_ in rows}) > 1
            if setups and len(rows) > CIRCUIT_LIMIT:
                grow = int(flat.setup[flat.machine_setup[m]].max())
                padded = []
                for i, _, lit, d in rows:
                    pad_end = model.new_int_var(0, self.horizon + grow, f"pad{i}_{m}")
                    model.add(pad_end == self.end[i] + grow)
                    if lit is True:
                        padded.append(model.new_interval_var(self.start[i], d + grow, pad_end, f"g{i}_{m}"))
                    else:
                        padded.append(model.new_optional_interval_var(
                            self.start[i], d + grow, pad_end, lit, f"g{i}_{m}"))
                model.add_no_overlap(padded + fixed)
                continue
            model.add_no_overlap([interval for _, interval, _, _ in rows] + fixed)
            if setups and len(rows) > 1:
                self._add_circuit(m, rows)

    def _add_circuit(
        self, m: int, rows: list[tuple[int, cp_model.IntervalVar, cp_model.IntVar | bool, int]]
    ) -> None:
        flat, model = self.flat, self.model
        arcs: list[tuple[int, int, cp_model.LiteralT]] = []
        for a, (i, _, lit_i, _) in enumerate(rows, start=1):
            arcs.append((0, a, model.new_bool_var("")))
            arcs.append((a, 0, model.new_bool_var("")))
            if not isinstance(lit_i, bool):
                arcs.append((a, a, ~lit_i))
            for b, (k, _, _, _) in enumerate(rows, start=1):
                if a == b:
                    continue
                arc = model.new_bool_var("")
                arcs.append((a, b, arc))
                gap = flat.setup_between(m, i, k)
                model.add(self.start[k] >= self.end[i] + gap).only_enforce_if(arc)
        arcs.append((0, 0, model.new_bool_var("")))
        model.add_circuit(arcs)
        self.circuits.append((m, [i for i, *_ in rows], arcs))


def _status_ok(status: object) -> bool:
    return status in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def _solver(time_limit: float, seed: int, workers: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(time_limit, 0.01)
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = max(workers, 1)
    return solver


def _objective(builder: _Builder, sinks: Sequence[int], compaction: bool) -> None:
    """Makespan or weighted tardiness over the modelled sinks; `compaction` also pulls every end left."""
    flat, model = builder.flat, builder.model
    if flat.makespan_objective:
        makespan = model.new_int_var(0, builder.horizon, "makespan")
        model.add_max_equality(makespan, [builder.end[i] for i in sinks])
        builder.objective_terms.append((makespan, list(sinks), None))
        primary: cp_model.LinearExpr = makespan
    else:
        terms = []
        for j in {int(flat.op_job[i]) for i in builder.end}:
            last = int(flat.job_last[j])
            if last in builder.end and flat.job_due[j] >= 0:
                late = model.new_int_var(0, builder.horizon, f"late{j}")
                model.add(late >= builder.end[last] - int(flat.job_due[j]))
                builder.objective_terms.append((late, [last], int(flat.job_due[j])))
                terms.append(int(flat.job_weight[j]) * late)
        primary = cp_model.LinearExpr.sum(terms)
    if compaction:
        weight = max(len(builder.end), 1)
        model.minimize(weight * primary + cp_model.LinearExpr.sum(list(builder.end.values())))
    else:
        model.minimize(primary)


def _hint(builder: _Builder, incumbent: Incumbent) -> None:
    for i, s in builder.start.items():
        builder.model.add_hint(s, int(incumbent.start[i]))
        builder.model.add_hint(builder.end[i], int(incumbent.end[i]))
    for var, ops, due in builder.objective_terms:
        last = max(int(incumbent.end[i]) for i in ops)
        builder.model.add_hint(var, last if due is None else max(last - due, 0))
    for m, nodes, arcs in builder.circuits:
        here = [a for a, i in enumerate(nodes, start=1) if int(incumbent.machine[i]) == m]
        here.sort(key=lambda a: (int(incumbent.start[nodes[a - 1]]), int(incumbent.end[nodes[a - 1]])))
        used = {(0, here[0]), (here[-1], 0)} if here else {(0, 0)}
        used.update(pairwise(here))
        used.update((a, a) for a in range(1, len(nodes) + 1) if a not in here)
        for tail, head, lit in arcs:
            if isinstance(lit, cp_model.IntVar):
                builder.model.add_hint(lit, (tail, head) in used)
    for (i, m), lit in builder.presence.items():
        if not isinstance(lit, bool):
            builder.model.add_hint(lit, int(incumbent.machine[i]) == m)


def _result(builder: _Builder, solver: cp_model.CpSolver, status: object) -> Solved | None:
    if not _status_ok(status):
        return None
    ops = np.fromiter(builder.start, dtype=np.int64)
    start = np.asarray([solver.value(builder.start[i]) for i in ops], dtype=np.int64)
    machine = np.empty(len(ops), dtype=np.int64)
    for row, i in enumerate(ops):
        for k in builder.flat.modes(int(i)):
            m = int(builder.flat.mode_machine[k])
            lit = builder.presence.get((int(i), m))
            if lit is True or (lit is not None and solver.boolean_value(lit)):
                machine[row] = m
                break
    return Solved(ops, machine, start, int(solver.objective_value), int(solver.best_objective_bound),
                  status == cp_model.OPTIMAL)


def solve_full(
    flat: FlatProblem, time_limit: float, seed: int, workers: int, incumbent: Incumbent | None = None
) -> Solved | None:
    """The whole problem in one model (plain CP-SAT when `incumbent` is None, else hinted with it)."""
    horizon = _horizon(flat)
    if incumbent is not None and flat.makespan_objective:
        horizon = min(horizon, int(incumbent.end.max()))
    builder = _Builder(flat, horizon)
    _add_all(builder, np.ones(flat.n_ops, dtype=bool), incumbent, horizon)
    builder.add_machines()
    _objective(builder, _sinks(flat), compaction=False)
    if incumbent is not None:
        _hint(builder, incumbent)
    solver = _solver(time_limit, seed, workers)
    return _result(builder, solver, solver.solve(builder.model))


def _sinks(flat: FlatProblem) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.diff(flat.succ_ptr) == 0)]


def _add_all(builder: _Builder, free: np.ndarray, incumbent: Incumbent | None, horizon: int) -> None:
    """Every operation as a variable; non-free ones keep their incumbent machine and machine order."""
    flat, model = builder.flat, builder.model
    tail = flat.tail
    for i in range(flat.n_ops):
        modes = list(flat.modes(i))
        if not free[i] and incumbent is not None:
            modes = [k for k in modes if flat.mode_machine[k] == incumbent.machine[i]]
        hi = horizon - int(tail[i]) + int(min(flat.mode_duration[k] for k in modes))
        builder.add_operation(i, int(flat.release[i]), max(hi, int(flat.release[i])), modes)
    for i in range(flat.n_ops):
        for k in range(flat.pred_ptr[i], flat.pred_ptr[i + 1]):
            model.add(builder.start[i] >= builder.end[int(flat.pred_idx[k])])
    if incumbent is None or free.all():
        return
    kept = np.flatnonzero(~free)
    order = kept[np.lexsort((incumbent.start[kept], incumbent.machine[kept]))]
    for a, b in pairwise(order):
        if incumbent.machine[a] == incumbent.machine[b]:
            model.add(builder.start[int(b)] >= builder.end[int(a)])


def solve_chained(
    flat: FlatProblem, incumbent: Incumbent, free: np.ndarray, time_limit: float, seed: int, workers: int
) -> Solved | None:
    """Re-optimise the `free` operations inside the whole model; the rest keep machine and order."""
    current = int(incumbent.end.max()) if flat.makespan_objective else None
    horizon = current if current is not None else _horizon(flat)
    builder = _Builder(flat, horizon)
    _add_all(builder, free, incumbent, horizon)
    builder.add_machines()
    _objective(builder, _sinks(flat), compaction=False)
    _hint(builder, incumbent)
    solver = _solver(time_limit, seed, workers)
    return _result(builder, solver, solver.solve(builder.model))


def solve_local(
    flat: FlatProblem, incumbent: Incumbent, free_ops: np.ndarray, time_limit: float, seed: int, workers: int
) -> Solved | None:
    """Re-optimise only `free_ops` with every other operation held where it is (plant-scale LNS).

    Free operations stay between their constant predecessors and successors and fit around the
    constant operations on their machines, so the incumbent itself is a solution; the objective keeps
    the free part of the score no worse and pulls the free operations as early as possible.
    """
    builder_free = np.zeros(flat.n_ops, dtype=bool)
    builder_free[free_ops] = True
    lo = np.empty(len(free_ops), dtype=np.int64)
    hi = np.empty(len(free_ops), dtype=np.int64)
    makespan = int(incumbent.end.max())
    for row, i in enumerate(free_ops):
        bound_lo = int(flat.release[i])
        for k in range(flat.pred_ptr[i], flat.pred_ptr[i + 1]):
            p = int(flat.pred_idx[k])
            if not builder_free[p]:
                bound_lo = max(bound_lo, int(incumbent.end[p]))
        bound_hi = makespan
        for k in range(flat.succ_ptr[i], flat.succ_ptr[i + 1]):
            q = int(flat.succ_idx[k])
            if not builder_free[q]:
                bound_hi = min(bound_hi, int(incumbent.start[q]))
        lo[row], hi[row] = bound_lo, bound_hi
    window_lo, window_hi = int(lo.min()), int(hi.max())
    builder = _Builder(flat, window_hi + int(flat.setup.max()) + 1)
    machines: set[int] = set()
    for row, i in enumerate(free_ops):
        modes = list(flat.modes(int(i)))
        builder.add_operation(int(i), int(lo[row]), int(hi[row]), modes)
        machines.update(int(flat.mode_machine[k]) for k in modes)
    for i in free_ops:
        for k in range(flat.pred_ptr[i], flat.pred_ptr[i + 1]):
            p = int(flat.pred_idx[k])
            if builder_free[p]:
                builder.model.add(builder.start[int(i)] >= builder.end[p])
    # constant operations that could sit next to a free one on a machine it may use: modelled with
    # fixed times, so no-overlap and setup circuits treat them exactly
    reach = int(flat.setup.max())
    others = np.flatnonzero(~builder_free & np.isin(incumbent.machine, list(machines)))
    near = (incumbent.end[others] >= window_lo - reach) & (incumbent.start[others] <= window_hi + reach)
    others = others[near]
    for i in others:
        mode = [k for k in flat.modes(int(i)) if flat.mode_machine[k] == incumbent.machine[i]]
        builder.add_operation(int(i), int(incumbent.start[i]), int(incumbent.end[i]), mode)
    builder.add_machines()
    _objective(builder, [int(i) for i in free_ops], compaction=True)
    _hint(builder, incumbent)
    solver = _solver(time_limit, seed, workers)
    return _result(builder, solver, solver.solve(builder.model))
