"""Tabu search that also moves critical operations to other eligible machines (flexible shops), run
inside a small memetic population.

One tabu walk from one schedule settles in a basin within a second on Brandimarte's instances and
restarts from its best with a few random moves return there. So the search keeps a few schedules,
crosses two of them and improves the child by a short tabu walk, replacing the worst schedule; this
is the hybrid of a genetic algorithm and tabu search of Li & Gao (2016), "An effective hybrid genetic
algorithm and tabu search for flexible job shop scheduling problem", with their two crossovers:
uniform on the machine assignment, and precedence-preserving order crossover (POX) on the operation
order (the operations of a random half of the jobs keep their places in one parent, the others follow
the order of the other parent). The population replaces the restarts of the single walk: on mk06
and mk07 four schedules and walks of 300 steps did better than 8 or 12 schedules and walks of 600 to
1500 steps (5 s, 8 seeds).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from mixflow.schedule import _flextabu
from mixflow.schedule._arrays import FlatProblem
from mixflow.schedule.cpsat import Incumbent

FLEX_LIMIT = 1500
"""Largest flexible problem (operations) the machine-reassigning tabu search runs on: it scores every
candidate move exactly, O(operations) each."""
POPULATION = 4
"""Schedules kept; the first is the tabu walk from the incumbent, the others walks from mutants of it."""
WALK = 300
"""A child's tabu walk stops this many iterations after its last improvement."""
CHUNK = 200
"""Tabu iterations per kernel call, between looks at the clock."""
MUTATION = 0.1
"""Share of operations a mutant moves to a random eligible machine."""


@dataclass
class _Member:
    """A schedule of the population: machine rows, machine per operation, starts and makespan."""

    seq: np.ndarray
    count: np.ndarray
    machine: np.ndarray
    start: np.ndarray
    end: np.ndarray
    makespan: int


class _Shop:
    """The problem arrays the kernels take, and the steps of the memetic search on them."""

    def __init__(self, flat: FlatProblem, seed: int) -> None:
        self.flat = flat
        n = flat.n_ops
        self.dmat = np.full((n, flat.n_machines), -1, dtype=np.int64)
        rows = np.repeat(np.arange(n), np.diff(flat.mode_ptr))
        self.dmat[rows, flat.mode_machine] = flat.mode_duration
        self.rng = np.random.default_rng(seed)

    def member(self, seq: np.ndarray, count: np.ndarray, machine: np.ndarray) -> _Member:
        """The semi-active schedule of the machine rows."""
        flat, n = self.flat, self.flat.n_ops
        pos = np.full(n, -1, dtype=np.int64)
        for m in range(flat.n_machines):
            pos[seq[m, : count[m]]] = np.arange(count[m])
        start = np.zeros(n, dtype=np.int64)
        end = np.zeros(n, dtype=np.int64)
        makespan = _flextabu.evaluate(
            seq, count, pos, machine, self.dmat, flat.pred_ptr, flat.pred_idx, flat.succ_ptr, flat.succ_idx,
            flat.family, flat.setup, flat.machine_setup, flat.down_ptr, flat.down_start, flat.down_end,
            flat.release, start, end, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
        )
        return _Member(seq, count, machine, start, end, int(makespan))

    def rows(self, machine: np.ndarray, key: np.ndarray) -> _Member:
        """Machine rows that follow `key` (smaller first) as far as the precedences allow: the
        operations in a topological order that takes the smallest key among the ready ones, so the
        rows and the precedences can never form a cycle."""
        flat, n = self.flat, self.flat.n_ops
        indeg = np.diff(flat.pred_ptr).copy()
        ready = [(int(key[i]), i) for i in range(n) if indeg[i] == 0]
        heapq.heapify(ready)
        order = np.empty(n, dtype=np.int64)
        for t in range(n):
            _, i = heapq.heappop(ready)
            order[t] = i
            for k in range(flat.succ_ptr[i], flat.succ_ptr[i + 1]):
                q = int(flat.succ_idx[k])
                indeg[q] -= 1
                if indeg[q] == 0:
                    heapq.heappush(ready, (int(key[q]), q))
        on = machine[order]
        count = np.bincount(machine, minlength=flat.n_machines).astype(np.int64)
        seq = np.full((flat.n_machines, n), -1, dtype=np.int64)
        for m in range(flat.n_machines):
            seq[m, : count[m]] = order[on == m]
        return self.member(seq, count, machine.astype(np.int64))

    def order_key(self, start: np.ndarray) -> np.ndarray:
        """Each operation's place in a schedule with these starts."""
        order = np.lexsort((self.flat.topo_rank, start))
        key = np.empty(len(order), dtype=np.int64)
        key[order] = np.arange(len(order))
        return key

    def walk(self, member: _Member, iterations: int, deadline: float) -> _Member:
        """The best schedule of a tabu walk from `member` that stops `iterations` steps after its last
        improvement (or at `deadline`): a child that keeps improving is followed further."""
        flat, n = self.flat, self.flat.n_ops
        seq, count, machine = member.seq.copy(), member.count.copy(), member.machine.copy()
        best_seq, best_count, best_machine = seq.copy(), count.copy(), machine.copy()
        tabu_machine = np.zeros((n, flat.n_machines), dtype=np.int64)
        tabu_op = np.zeros(n, dtype=np.int64)
        best, iteration, stale = member.makespan, 0, 0
        while stale < iterations and time.perf_counter() < deadline:
            best, iteration, stale = _flextabu.search(
                seq, count, machine, self.dmat, flat.mode_ptr, flat.mode_machine, flat.pred_ptr,
                flat.pred_idx, flat.succ_ptr, flat.succ_idx, flat.family, flat.setup, flat.machine_setup,
                flat.down_ptr, flat.down_start, flat.down_end, flat.release, best_seq, best_count,
                best_machine, tabu_machine, tabu_op, iteration, min(iterations - stale, CHUNK),
                self.rng.integers(0, 1 << 30, 4099), 5, 10, best, stale,
            )
        if best >= member.makespan:
            return member
        return self.member(best_seq, best_count, best_machine)

    def mutant(self, member: _Member, share: float) -> _Member:
        """`member` with a random `share` of its operations on a random eligible machine."""
        flat = self.flat
        machine = member.machine.copy()
        for i in np.flatnonzero(self.rng.random(flat.n_ops) < share):
            machine[i] = flat.mode_machine[self.rng.integers(flat.mode_ptr[i], flat.mode_ptr[i + 1])]
        return self.rows(machine, self.order_key(member.start))

    def child(self, first: _Member, second: _Member) -> _Member:
        """Uniform crossover of the machines, POX of the order, then a light mutation."""
        flat = self.flat
        machine = np.where(self.rng.random(flat.n_ops) < 0.5, first.machine, second.machine)
        kept = (self.rng.random(flat.n_jobs) < 0.5)[flat.op_job]
        key_first, key_second = self.order_key(first.start), self.order_key(second.start)
        places = np.sort(key_first[kept])
        key = np.empty(flat.n_ops, dtype=np.int64)
        key[kept] = key_first[kept]
        others = np.flatnonzero(~kept)
        free = np.setdiff1d(np.arange(flat.n_ops), places, assume_unique=True)
        key[others[np.argsort(key_second[others])]] = free
        child = self.rows(machine, key)
        return self.mutant(child, MUTATION / 4) if self.rng.random() < 0.5 else child


def improve_assignment(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, lower_bound: int = 0
) -> Incumbent:
    """Shorten the makespan of `incumbent` within `time_limit` seconds by a memetic search whose
    children are improved by a tabu walk that moves critical operations within their machine sequence
    or to another eligible machine (flexible shops)."""
    n = flat.n_ops
    if n == 0 or n > FLEX_LIMIT or not flat.makespan_objective:
        return incumbent
    deadline = time.perf_counter() + time_limit
    shop = _Shop(flat, seed)
    first = shop.walk(shop.rows(incumbent.machine, shop.order_key(incumbent.start)), WALK, deadline)
    best = first
    population = [first]
    while time.perf_counter() < deadline and best.makespan > lower_bound:
        if len(population) < POPULATION:
            new = shop.walk(shop.mutant(first, MUTATION), WALK, deadline)
        else:
            a, b = shop.rng.choice(len(population), 2, replace=False)
            new = shop.walk(shop.child(population[a], population[b]), WALK, deadline)
            worst = max(range(len(population)), key=lambda k: population[k].makespan)
            if new.makespan > population[worst].makespan or any(
                new.makespan == p.makespan and np.array_equal(new.machine, p.machine) for p in population
            ):
                continue
            population.pop(worst)
        population.append(new)
        if new.makespan < best.makespan:
            best = new
    if best.makespan > int(incumbent.end.max()):
        return incumbent
    return Incumbent(best.machine, best.start, best.end)
