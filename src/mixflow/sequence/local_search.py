"""Anytime local search for line sequencing, after Estellon, Gardi and Nouioua (ROADEF 2005 winners):
a greedy start, then many cheap random swaps, insertions and segment reversals, each evaluated on the
windows it touches only, accepted when not worse under the lexicographic (weighted) objective and when
every paint run stays within the batch limit.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mixflow.sequence import _kernels
from mixflow.sequence.data import ProblemData
from mixflow.sequence.evaluate import evaluate
from mixflow.sequence.result import SequenceResult

_CHUNK_S = 0.02
"""Seconds of search between two looks at the clock (the kernels cannot read it)."""


class _Arrays:
    """The instance as flat numpy arrays for the kernels: vehicles 0..n-1 are day D, n..n+t-1 the tail."""

    def __init__(self, data: ProblemData) -> None:
        n, t, m = data.num_vehicles, data.tail_length, data.num_rules
        self.n, self.t = n, t
        self.opt = np.ascontiguousarray(np.vstack([data.options, data.tail_options]).astype(np.int64))
        raw_colours = np.concatenate([data.colours, data.tail_colours])
        _, dense = np.unique(raw_colours, return_inverse=True)
        self.col = dense.astype(np.int64)
        self.num_colours = int(self.col.max()) + 1
        signature = np.column_stack([data.options.astype(np.int64), self.col[:n]])
        _, day_class = np.unique(signature, axis=0, return_inverse=True)
        day_class = np.asarray(day_class, dtype=np.int64).reshape(-1)
        self.cls = np.concatenate([day_class, -1 - np.arange(t, dtype=np.int64)])
        self.num_classes = int(day_class.max()) + 1
        members = np.argsort(day_class, kind="stable").astype(np.int64)
        self.class_members = members
        self.class_start = np.concatenate(
            [[0], np.cumsum(np.bincount(day_class, minlength=self.num_classes))]
        )
        self.p = np.array([rule.p for rule in data.rules], dtype=np.int64)
        self.q = np.array([rule.q for rule in data.rules], dtype=np.int64)
        self.prio = np.array([0 if rule.priority == "high" else 1 for rule in data.rules], dtype=np.int64)
        size = n + t
        self.ws = np.maximum(0, t - self.q + 1).astype(np.int64)
        if data.window_rule == "roadef":
            self.we = np.full(m, size - 1, dtype=np.int64)
            self.mode = 0
        else:
            self.we = (size - self.q).astype(np.int64)
            self.mode = 1
        weights = data.weights()
        self.weights = np.array([weights["high"], weights["low"], weights["colour_changes"]], dtype=np.int64)
        self.limit = int(data.paint_batch_limit or 0)
        self.tail_line = np.arange(n, n + t, dtype=np.int64)
        self.max_q = int(self.q.max()) if m else 1
        self.deadline = np.full(size, size, dtype=np.int64)
        if data.latest_slot is not None:
            self.deadline[:n] = t + data.latest_slot

    def colour_change_bound(self) -> int:
        """A lower bound on colour changes: every colour needs ceil(count / limit) runs."""
        day = self.col[: self.n]
        counts = np.bincount(day, minlength=self.num_colours)
        runs = sum((math.ceil(int(c) / self.limit) if self.limit else 1) for c in counts if c > 0)
        joins_tail = self.t > 0 and counts[self.col[self.n + self.t - 1]] > 0
        return max(0, runs - 1) if self.t == 0 or joins_tail else runs


def greedy_order(data: ProblemData) -> list[int]:
    """The greedy start alone: least added cost per position, hardest vehicles first on ties."""
    arrays = _Arrays(data)
    line, _ = _greedy_line(arrays)
    return [int(v) for v in line[arrays.t :]]


def _greedy_line(arrays: _Arrays) -> tuple[np.ndarray, bool]:
    line, feasible = _kernels.greedy(
        arrays.opt,
        arrays.col,
        arrays.class_members,
        arrays.class_start,
        arrays.p,
        arrays.q,
        arrays.prio,
        arrays.ws,
        arrays.we,
        arrays.mode,
        arrays.t,
        arrays.tail_line,
        arrays.limit,
        arrays.weights,
        arrays.num_colours,
    )
    return line, bool(feasible)


def _due_first(line: np.ndarray, arrays: _Arrays) -> np.ndarray:
    """Move vehicles with a binding latest slot to the front, earliest due first (feasible by the
    data's check); the search then lets them drift back as far as their slots allow."""
    t = arrays.t
    day = line[t:]
    binding = arrays.deadline[day] < arrays.t + arrays.n - 1
    due = day[binding][np.argsort(arrays.deadline[day[binding]], kind="stable")]
    return np.concatenate([line[:t], due, day[~binding]])


def solve(
    data: ProblemData,
    time_limit_s: float = 10.0,
    seed: int = 0,
    max_iterations: int | None = None,
    initial_order: list[int] | None = None,
    temperature: float = 0.1,
    focus: int = 8,
) -> SequenceResult:
    """Sequence the day's vehicles within `time_limit_s` (and at most `max_iterations` moves).

    Deterministic for a seed when bounded by `max_iterations`; under a time limit the search stops at
    the first chunk boundary past the limit. `initial_order` (vehicle indices) replaces the greedy start.
    `temperature` (in units of the lowest-ranked criterion) lets a few worse moves through; `focus`
    draws a move's first vehicle from over-full high-priority windows (0 = uniformly).
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    arrays = _Arrays(data)
    t = arrays.t
    if initial_order is None:
        line, _ = _greedy_line(arrays)
        if data.latest_slot is not None:
            line = _due_first(line, arrays)
    else:
        line = np.concatenate([arrays.tail_line, np.asarray(initial_order, dtype=np.int64)])
    cnt = _kernels.full_counts(line, arrays.opt, arrays.q, arrays.ws, arrays.we)
    totals = _kernels.totals_of(
        line, cnt, arrays.col, arrays.p, arrays.prio, arrays.ws, arrays.we, arrays.mode, t
    )
    best_line = line.copy()
    best_totals = totals.copy()
    rng = np.array([np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(seed * 2654435761 + 1)], dtype=np.uint64)
    target = int(arrays.weights[2]) * arrays.colour_change_bound() if arrays.weights[2] else 0
    max_distance = max(8, min(2 * arrays.max_q, 64))
    budget = max_iterations if max_iterations is not None else 2**62
    done = 0
    chunk = 2000
    while done < budget:
        value = int(arrays.weights @ best_totals)
        if value <= target:
            break
        elapsed = time.perf_counter() - started
        if elapsed >= time_limit_s:
            break
        step = min(chunk, budget - done)
        tick = time.perf_counter()
        _kernels.local_search(
            line,
            arrays.opt,
            arrays.col,
            arrays.cls,
            cnt,
            arrays.p,
            arrays.q,
            arrays.prio,
            arrays.ws,
            arrays.we,
            arrays.mode,
            t,
            arrays.limit,
            arrays.weights,
            totals,
            best_line,
            best_totals,
            rng,
            step,
            max_distance,
            600,
            200,
            target,
            arrays.deadline,
            data.latest_slot is not None,
            temperature,
            focus,
        )
        done += step
        spent = time.perf_counter() - tick
        if max_iterations is None:
            room = max(time_limit_s - (time.perf_counter() - started), 0.0)
            per_move = max(spent / step, 1e-9)
            chunk = int(max(200, min(min(_CHUNK_S, room) / per_move, 4 * chunk)))
    order = tuple(int(v) for v in best_line[t:])
    return _result(
        "local_search",
        data,
        order,
        time.perf_counter() - started,
        done,
        False,
        time.process_time() - cpu_started,
    )


def _result(
    solver: str,
    data: ProblemData,
    order: tuple[int, ...],
    time_s: float,
    iterations: int,
    optimal: bool,
    cpu_s: float,
) -> SequenceResult:
    """Score an order with the independent evaluator and package it."""
    evaluation = evaluate(data, order)
    violations = (
        evaluation.violated_windows
        if data.window_rule == "csplib"
        else evaluation.criteria["high"] + evaluation.criteria["low"]
    )
    return SequenceResult(
        solver=solver,
        order=order,
        sequence=tuple(data.vehicle_ids[v] for v in order),
        criteria=evaluation.criteria,
        objective=evaluation.objective,
        violations=violations,
        feasible=evaluation.feasible,
        optimal=optimal,
        time_s=time_s,
        iterations=iterations,
        cpu_s=cpu_s,
    )
