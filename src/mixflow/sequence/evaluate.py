"""An evaluator that recomputes every criterion of a sequence from the definitions, independently of
the solvers (plain Python loops, no incremental state), so tests can check the solvers against it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.sequence.data import CRITERIA, ProblemData


@dataclass(frozen=True)
class Evaluation:
    """The criteria of one day-D sequence.

    `criteria` holds high/low ratio violations and colour changes as the instance's window rule defines
    them; `violated_windows` counts full windows of q holding more than p (the CSPLib figure);
    `longest_paint_run` and `paint_breaches` (runs longer than the paint batch limit) check the hard
    paint rule; `overload_s` is the station work overload in seconds (0 without work content);
    `late_vehicles` counts vehicles past their latest allowed position.
    """

    criteria: dict[str, int]
    objective: int
    violated_windows: int
    rule_violations: dict[str, int]
    longest_paint_run: int
    paint_breaches: int
    overload_s: int
    late_vehicles: int = 0

    @property
    def feasible(self) -> bool:
        """True when no paint run is longer than the paint batch limit and no vehicle is past its slot."""
        return self.paint_breaches == 0 and self.late_vehicles == 0


def order_from_ids(data: ProblemData, sequence: Sequence[str]) -> list[int]:
    """Turn a sequence of vehicle ids into vehicle indices, consuming the id multiset in order.

    Raises UnknownNameError for an id that is not in the instance and ValidationError when the
    sequence is not a permutation of the instance's vehicles (an id too often, or one missing).
    """
    pools: dict[str, list[int]] = defaultdict(list)
    for index in reversed(range(data.num_vehicles)):
        pools[data.vehicle_ids[index]].append(index)
    order: list[int] = []
    for position, ident in enumerate(sequence, start=1):
        ident = str(ident)
        if ident not in pools:
            raise UnknownNameError("vehicle", ident, list(set(data.vehicle_ids))[:20])
        if not pools[ident]:
            raise ValidationError(f"sequence position {position}", f"vehicle {ident!r} appears too often")
        order.append(pools[ident].pop())
    if len(order) != data.num_vehicles:
        missing = [ident for ident, left in pools.items() if left][:5]
        raise ValidationError(
            "sequence",
            f"holds {len(order)} vehicles, the instance has {data.num_vehicles} (missing e.g. {missing})",
        )
    return order


def evaluate(data: ProblemData, order: Sequence[int]) -> Evaluation:
    """Recompute all criteria of `order` (day-D vehicle indices in line order) from the definitions."""
    if sorted(int(v) for v in order) != list(range(data.num_vehicles)):
        raise ValidationError("order", f"must be a permutation of 0..{data.num_vehicles - 1}")
    tail = data.tail_length
    line_options = np.vstack([data.tail_options, data.options[np.asarray(order, dtype=np.int64)]])
    line_colours = [int(c) for c in data.tail_colours] + [int(data.colours[v]) for v in order]
    total = len(line_colours)

    criteria = dict.fromkeys(CRITERIA, 0)
    rule_violations: dict[str, int] = {}
    violated_windows = 0
    for r, rule in enumerate(data.rules):
        prefix = np.concatenate([[0], np.cumsum(line_options[:, r], dtype=np.int64)])
        first = max(0, tail - rule.q + 1)
        last_full = total - rule.q
        last = total - 1 if data.window_rule == "roadef" else last_full
        excess = 0
        windows_over = 0
        for start in range(first, last + 1):
            count = int(prefix[min(start + rule.q, total)] - prefix[start])
            if data.window_rule == "roadef":
                excess += max(0, count - rule.p)
            elif count > rule.p:
                excess += 1
        for start in range(first, last_full + 1):
            if prefix[start + rule.q] - prefix[start] > rule.p:
                windows_over += 1
        rule_violations[rule.name] = excess
        criteria[rule.priority] += excess
        violated_windows += windows_over

    changes = 0
    for position in range(max(tail, 1), total):
        if line_colours[position] != line_colours[position - 1]:
            changes += 1
    criteria["colour_changes"] = changes

    longest, breaches, run = 0, 0, 0
    for position in range(tail, total):
        run = run + 1 if position > tail and line_colours[position] == line_colours[position - 1] else 1
        longest = max(longest, run)
        if data.paint_batch_limit is not None and run == data.paint_batch_limit + 1:
            breaches += 1

    weights = data.weights()
    objective = sum(weights[c] * criteria[c] for c in CRITERIA)
    return Evaluation(
        criteria=criteria,
        objective=objective,
        violated_windows=violated_windows,
        rule_violations=rule_violations,
        longest_paint_run=longest,
        paint_breaches=breaches,
        overload_s=station_overload_s(data, order),
        late_vehicles=late_vehicles(data, order),
    )


def late_vehicles(data: ProblemData, order: Sequence[int]) -> int:
    """Vehicles placed after their latest allowed day-D position (0 without due positions)."""
    if data.latest_slot is None:
        return 0
    return sum(1 for position, vehicle in enumerate(order) if position > data.latest_slot[vehicle])


def station_overload_s(data: ProblemData, order: Sequence[int]) -> int:
    """Seconds of work the operators cannot finish inside their station window (0 without work content).

    Classic mixed-model model: an operator starts a vehicle where the previous one left them; if the
    work ends beyond the station window, the rest is overload (a utility worker or a line stop), and
    the operator walks back one takt for the next vehicle, never before the station's start.
    """
    if data.work_s is None or data.takt_s is None or data.station_window_s is None:
        return 0
    overload = 0
    for station in range(data.work_s.shape[1]):
        window = int(data.station_window_s[station])
        start = 0
        for vehicle in order:
            finish = start + int(data.work_s[vehicle, station])
            late = max(0, finish - window)
            overload += late
            start = max(0, finish - late - data.takt_s)
    return overload
