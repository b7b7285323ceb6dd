"""The same sequencing problem as an OR-Tools CP-SAT model: exact for small instances, a proof of
optimality where it closes, and the baseline the local search is measured against.

Variables: y[k, c] = 1 when position k of day D holds a vehicle of class c (identical options and
colour). Ratio windows are differences of per-rule prefix sums; colour changes are booleans bounded
below by every colour that starts at k; the paint batch limit caps every run of limit + 1 positions.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from mixflow.sequence.data import ProblemData
from mixflow.sequence.local_search import _result
from mixflow.sequence.result import SequenceResult


def _classes(data: ProblemData) -> tuple[np.ndarray, list[list[int]]]:
    """Class id per day-D vehicle, and the vehicles of each class in input order."""
    signature = np.column_stack([data.options.astype(np.int64), data.colours])
    _, class_of = np.unique(signature, axis=0, return_inverse=True)
    class_of = np.asarray(class_of, dtype=np.int64).reshape(-1)
    members: list[list[int]] = [[] for _ in range(int(class_of.max()) + 1)]
    for vehicle, c in enumerate(class_of):
        members[int(c)].append(vehicle)
    return class_of, members


def solve_cpsat(
    data: ProblemData,
    time_limit_s: float = 10.0,
    seed: int = 0,
    workers: int = 1,
    hint: list[int] | None = None,
) -> SequenceResult | None:
    """Solve with CP-SAT within `time_limit_s` (model building included); None if no sequence was found.

    `hint` (vehicle indices in line order) seeds the search; by default the instance's own order (the
    ROADEF files carry Renault's initial sequence), without which one CP-SAT worker often finds no
    first sequence at all on 100+ vehicles.
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    n, t = data.num_vehicles, data.tail_length
    class_of, members = _classes(data)
    k_classes = len(members)
    class_options = np.array([data.options[m[0]] for m in members], dtype=bool).reshape(k_classes, -1)
    class_colour = [int(data.colours[m[0]]) for m in members]
    model = cp_model.CpModel()
    # every variable gets the value it takes under the hint order: a complete hint is a first solution
    hinted = [int(class_of[v]) for v in (range(n) if hint is None else hint)]
    line_options = np.vstack([data.tail_options, class_options[hinted]]).astype(np.int64)
    line_prefix = np.vstack([np.zeros((1, data.num_rules), np.int64), np.cumsum(line_options, axis=0)])
    line_colour = [int(c) for c in data.tail_colours] + [class_colour[c] for c in hinted]
    y = [[model.new_bool_var(f"y{k}_{c}") for c in range(k_classes)] for k in range(n)]
    for k in range(n):
        for c in range(k_classes):
            model.add_hint(y[k][c], hinted[k] == c)
    for k in range(n):
        model.add_exactly_one(y[k])
    for c in range(k_classes):
        model.add(sum(y[k][c] for k in range(n)) == len(members[c]))

    weights = data.weights()
    terms: list[tuple[int, Any]] = []
    size = t + n
    for r, rule in enumerate(data.rules):
        with_option = [c for c in range(k_classes) if class_options[c, r]]
        tail_flags = [int(x) for x in data.tail_options[:, r]]
        prefix: list[Any] = [0]  # tail positions are constants, day-D ones variables
        for pos in range(size):
            if pos < t:
                prefix.append(prefix[-1] + tail_flags[pos])
            else:
                running = model.new_int_var(0, pos + 1, f"s{r}_{pos}")
                model.add(running == prefix[-1] + sum(y[pos - t][c] for c in with_option))
                model.add_hint(running, int(line_prefix[pos + 1, r]))
                prefix.append(running)
        first = max(0, t - rule.q + 1)
        last = size - 1 if data.window_rule == "roadef" else size - rule.q
        weight = weights[rule.priority]
        for start in range(first, last + 1):
            end = min(start + rule.q, size)
            count = prefix[end] - prefix[start]
            hinted_count = int(line_prefix[end, r] - line_prefix[start, r])
            if data.window_rule == "roadef":
                if end - start <= rule.p:
                    continue
                excess = model.new_int_var(0, end - start - rule.p, f"v{r}_{start}")
                model.add(excess >= count - rule.p)
                model.add_hint(excess, max(0, hinted_count - rule.p))
                terms.append((weight, excess))
            else:
                violated = model.new_bool_var(f"b{r}_{start}")
                model.add(count <= rule.p + (rule.q - rule.p) * violated)
                model.add_hint(violated, hinted_count > rule.p)
                terms.append((weight, violated))

    colours = sorted(set(class_colour))
    if len(colours) > 1 or (t > 0 and int(data.tail_colours[-1]) not in colours):
        painted: dict[int, list[cp_model.IntVar]] = {}
        for colour in colours:
            painted[colour] = []
            for k in range(n):
                flag = model.new_bool_var(f"paint{colour}_{k}")
                model.add(flag == sum(y[k][c] for c in range(k_classes) if class_colour[c] == colour))
                model.add_hint(flag, line_colour[t + k] == colour)
                painted[colour].append(flag)
        for k in range(n):
            if k == 0 and t == 0:
                continue
            change = model.new_bool_var(f"change{k}")
            model.add_hint(change, line_colour[t + k] != line_colour[t + k - 1])
            for colour in colours:
                before = painted[colour][k - 1] if k > 0 else int(int(data.tail_colours[-1]) == colour)
                model.add(change >= painted[colour][k] - before)
            terms.append((weights["colour_changes"], change))
        limit = data.paint_batch_limit
        if limit is not None and limit < n:
            for colour in colours:
                for start in range(n - limit):
                    model.add(sum(painted[colour][start : start + limit + 1]) <= limit)

    model.minimize(sum(w * v for w, v in terms if w))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s - (time.perf_counter() - started))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    if n * k_classes > 10_000:
        # full presolve of a large day eats the whole limit before the hinted sequence is reported
        solver.parameters.max_presolve_iterations = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    queues = [list(reversed(m)) for m in members]
    order = []
    for k in range(n):
        c = next(c for c in range(k_classes) if solver.boolean_value(y[k][c]))
        order.append(queues[c].pop())
    return _result(
        "cpsat",
        data,
        tuple(order),
        time.perf_counter() - started,
        0,
        status == cp_model.OPTIMAL,
        time.process_time() - cpu_started,
    )
