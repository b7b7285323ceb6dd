"""Replay sold configurations as click streams: every click must be offered, and no click a dead end.

Each history row is clicked in a random (seeded) order of its variables. A click is *accepted* when
its value was among the valid values just before it; a *dead end* is a propagation after which the
choices still look consistent but some variable has no valid value left or nothing can be counted
(an exact configurator never produces one). The click latency is the wall time of `propagate`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np

from mixflow.configure.engine import Engine
from mixflow.configure.formats import History
from mixflow.errors import ValidationError


@dataclass(frozen=True)
class ReplayResult:
    """Outcome of a replay: every click's wall latency and the CPU time of its thread, in milliseconds.

    On a shared machine the wall tail is mostly time spent waiting for a core; the CPU time shows
    the work itself.
    """

    rows: int
    accepted: int
    dead_ends: int
    click_ms: np.ndarray
    click_cpu_ms: np.ndarray
    rejected_lines: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        clicks = self.click_ms if len(self.click_ms) else np.zeros(1)
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "dead_ends": self.dead_ends,
            "click_ms_p50": round(float(np.percentile(clicks, 50)), 4),
            "click_ms_p99": round(float(np.percentile(clicks, 99)), 4),
        }


def replay(engine: Engine, history: History, seed: int = 0, limit: int | None = None) -> ReplayResult:
    """Click every row (or the first `limit`) of `history` through `engine.propagate`."""
    if limit is not None and limit < 0:
        raise ValidationError("limit", "must be >= 0")
    rng = random.Random(seed)
    rows = history.rows if limit is None else history.rows[:limit]
    start = engine.propagate({})
    latencies: list[float] = []
    cpu_times: list[float] = []
    accepted = 0
    dead_ends = 0
    rejected: list[int] = []
    clock = time.perf_counter
    cpu_clock = time.thread_time
    for line, row in zip(history.lines, rows, strict=False):
        order = list(history.variables)
        rng.shuffle(order)
        state = start
        choices: dict[str, str] = {}
        ok = True
        for var in order:
            if row[var] not in state.valid[var]:
                ok = False
                break
            choices[var] = row[var]
            c0 = cpu_clock()
            t0 = clock()
            state = engine.propagate(choices)
            latencies.append((clock() - t0) * 1000.0)
            cpu_times.append((cpu_clock() - c0) * 1000.0)
            if state.count == 0 or any(not codes for codes in state.valid.values()):
                dead_ends += 1
                ok = False
                break
        if ok:
            accepted += 1
        else:
            rejected.append(line)
    return ReplayResult(
        len(rows), accepted, dead_ends, np.array(latencies), np.array(cpu_times), tuple(rejected)
    )
