"""Tabu search that also moves critical operations to other eligible machines (flexible shops), run
inside a small memetic population.

One tabu walk from one schedule settles in a basin within a second on Brandimarte's instances and
restarts from its best with a few random moves return there. So the search keeps a few schedules,
crosses two of them and improves the child by a short tabu walk, which replaces one of them; this
is the hybrid of a genetic algorithm and tabu search of Li & Gao (2016), "An effective hybrid genetic
algorithm and tabu search for flexible job shop scheduling problem", with their two crossovers:
uniform on the machine assignment, and precedence-preserving order crossover (POX) on the operation
order (the operations of a random half of the jobs keep their places in one parent, the others follow
the order of the other parent). The population replaces the restarts of the single walk. A child takes
the place of the member closest to it in machine assignment among those no better than it, which
keeps several basins alive. Replacing the worst member, four schedules and walks of 300 steps did best
(10 s, this search alone: mk06 57 in 2 of 12 runs, 6 of 72 in an earlier session); with this rule ten
schedules and walks of 75 to 150 steps reach it in 36 of 96 (seven or fourteen schedules: 3 and 6 of
18; twenty: 0 of 12; tabu tenures 2-7 or 10-25 instead of 5-15: 3 of 18 each), and mk07 139 in 9 of
12 against 3 of 12. Replacing by a score of makespan and distance to the nearest member (the goodness
of Lü & Hao) did worse (5 of 36). Measured later on another machine (10 s, 40 seeds, 57 in 7 runs
with these crossovers): half the children made by path relinking instead (from one parent, moving
to the other's machine the operation whose move gives the shortest schedule among 8 sampled, the best
point between a quarter and three quarters of the way), 3 runs; the machine crossover taking three
quarters from one parent, 7 runs. Most children end above the population's best (mk06, 10 s, 6 runs,
about 1,000 children each: at 58 in 2% to 30%, the rest at 59-65), but walking further the children
that end at the best or one above it (400 more steps without improvement) gave 6 runs, and those at
the best (1,000 more) 7: the time those walks take comes out of other children.

With a second worker, a second thread works beside the population. It first gives the whole CP-SAT model,
hinted with the start, a moment (`PROOF_SHARE`): small shops whose optimum CP-SAT proves at once (mk01,
mk04) then end in under half a second instead of searching out the limit, since no heuristic can tell it
holds an optimum unless a simple bound shows it (mk03); with one worker that moment comes before the
search. On a pure flexible job shop (chains, no setups, releases or downtime) the second thread then
walks from members of the population with the exact `_flexjobshop` kernel (all critical operations, every
insertion valued from heads and tails); the better of its best and the population's is the result. That
walk leaves the plateaus the memetic search ends on (mk07: of ten walks from a schedule of 140, two
reached 139 within 5,000 steps, three within 40,000; of three `_flextabu` walks of 30,000 steps, none),
but as the children's walk it did worse (10 s, 4 seeds: mk06 mean 61.75, mk07 141.75): the population
needs `_flextabu`'s noisier ranking. Walking always from the best, mk07 reached 139 in 3 of 12 runs at
10 s; walking from a random member of the population each time, in 10 of 12 (seeds 0-11): the walks from
the one best schedule kept returning to its plateau. Where the walks have not beaten the population by a
fifth of the time (mk06, Dauzere-Peres 01a, 04a, 07a, 10a), or the shop is not a pure one, the thread
runs a memetic search of its own instead. mk06 reaches 57 in about 4 of 10 runs of one population at
10 s, and its late hits are rare (of 20 runs of 40 s, 8 by 9.5 s, 10 by 20 s, 14 by 40 s): a second,
independent population is the better use of the core (10 s, 2 workers, seeds 300-329: 57 in 15 of 30 runs
with a second population from the start, 10 of 30 with walks throughout, 13 of 30 with walks that give
way; Dauzere-Peres 01a-12a, seeds 0-1, mean gap 1.97%, 1.48% and 1.42%; with walks that give way mk05 and
mk07 at best known in 10 of 10 runs).

Where this search was weakest, Brandimarte mk06 (optimum 57), before that replacement rule: its schedules of
58 have 108-122 of 150 operations critical; with their machine assignment fixed CP-SAT proves 58 optimal at
once, and with 20-45% of the assignment set free (random operations, or those of some jobs, machines or a
time window; sequences all free) none of 236 such neighbourhoods held a 57 (60% proved empty within 1 s, the
rest unsettled). So 57 lies far from 58 in the assignment, beyond single critical moves. The memetic search
alone (10 s, 1 thread) reached 57 in 6 of 72 runs, only in runs at 58 within 1.5 s; restarting a stagnant
population from a load-balanced assignment (global selection, Zhang et al. 2011), in 8 of 72; the whole
solve still ended at 58 (8 of 8 seeds), so that was left out. Plain CP-SAT on makespan <= 57 found nothing
in 20 minutes (16 workers, 300 s, makespan <= 60: no schedule at all; set-times branching, 60 s: none).
Given 45-60 s the memetic search alone reached 57 in 3 of 12 runs (at 28-33 s). The crux is the busiest
machine's set of operations: in a 57 found so, that machine is loaded 57 (busy from 0 to the end); with its
set fixed and everything else free CP-SAT finds 57 in 0.1 s, with the set of the same run's 58 (5 operations
apart) nothing in 30 s, and allowed up to 6 changes to that set, nothing in 20 s; checking each child's
busiest-machine set that way (0.2 s each) found no 57 in 8 runs of 30 s. Repairing each child's
assignment before its walk so that no machine is loaded beyond the parents' better makespan minus one
(moving operations off the most loaded machine to the eligible one where the duration grows least)
changed nothing: 25 of 80 runs at 57 against 25 (this search alone, 10 s, seeds 0-79).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from mixflow.schedule import _flexjobshop, _flextabu
from mixflow.schedule._arrays import FlatProblem
from mixflow.schedule.cpsat import Incumbent, solve_full

FLEX_LIMIT = 1500
"""Largest flexible problem (operations) the machine-reassigning tabu search runs on: it scores every
candidate move exactly, O(operations) each."""
POPULATION = 10
"""Schedules kept; the first is the tabu walk from the incumbent, the others walks from mutants of it."""
WALK = 100
"""A child's tabu walk stops this many iterations after its last improvement."""
CHUNK = 200
"""Tabu iterations per kernel call, between looks at the clock."""
MUTATION = 0.1
"""Share of operations a mutant moves to a random eligible machine."""
SIDE_PATIENCE = 3000
"""A walk of the second thread (pure flexible job shops) stops this many steps after its last
improvement and the next starts from a random member of the population: on mk07 from a schedule of 140,
budgets of 20,000 steps in walks of 1,000 or 3,000 reached 139 in 3 of 10 runs, one walk of 20,000
steps in 1 of 10."""
LEAD_CHECK = 0.2
"""Share of the time by which the second worker's exact walks must have beaten the memetic search's
best to go on; otherwise it runs a memetic search of its own (see `_SecondWorker`)."""
PROOF_SHARE = 0.05
"""Share of the time (at most `PROOF_LIMIT` seconds) first given to the whole CP-SAT model, hinted with
the start schedule, one CP-SAT worker: where that proves the optimum (Brandimarte mk01 in 0.05 s, mk04
in 0.2 s, this machine) the solve ends there instead of searching out its limit. With two workers the
second worker runs it, out of the exact walks' time before the lead check, so the second population
of mk06 starts when it did; with one, it runs before the search."""
PROOF_LIMIT = 1.0
"""Most seconds of that first CP-SAT run."""
SIDE_CHUNK = 500
"""Steps per call of the pure flexible job-shop kernel, between looks at the clock."""
TENURE_MIN = 5
"""Fewest steps a move stays tabu (both kernels)."""
TENURE_SPAN = 10
"""Random extra steps a move stays tabu (both kernels)."""


def pure_flexible_job_shop(flat: FlatProblem) -> bool:
    """Whether the problem is a classic flexible job shop: precedences forming chains, no releases,
    setups or downtime. Then heads and tails give exact longest paths and the faster `_flexjobshop`
    search applies."""
    return bool(
        (np.diff(flat.pred_ptr) <= 1).all() and (np.diff(flat.succ_ptr) <= 1).all()
        and not flat.release.any() and (flat.machine_setup < 0).all() and flat.down_ptr[-1] == 0
    )


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

    def __init__(self, flat: FlatProblem, seed: int | list[int]) -> None:
        self.flat = flat
        n = flat.n_ops
        self.dmat = np.full((n, flat.n_machines), -1, dtype=np.int64)
        rows = np.repeat(np.arange(n), np.diff(flat.mode_ptr))
        self.dmat[rows, flat.mode_machine] = flat.mode_duration
        self.rng = np.random.default_rng(seed)
        self.pure = pure_flexible_job_shop(flat)
        self.job_pred = np.full(n, -1, dtype=np.int64)
        self.job_succ = np.full(n, -1, dtype=np.int64)
        if self.pure:  # one predecessor and successor at most: the chains `_flexjobshop` takes
            self.job_pred[np.diff(flat.pred_ptr) == 1] = flat.pred_idx
            self.job_succ[np.diff(flat.succ_ptr) == 1] = flat.succ_idx

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
                self.rng.integers(0, 1 << 30, 4099), TENURE_MIN, TENURE_SPAN, best, stale,
            )
        if best >= member.makespan:
            return member
        return self.member(best_seq, best_count, best_machine)

    def exact_walk(
        self, member: _Member, patience: int, deadline: float, lower_bound: int, rng: np.random.Generator,
        stop: threading.Event | None = None,
    ) -> _Member:
        """The best schedule of a `_flexjobshop` tabu walk (pure flexible job shops) from `member` that
        stops `patience` steps after its last improvement, at `deadline`, at `lower_bound` or once
        `stop` is set. It uses only `rng` and releases the GIL, so it can run beside the memetic search."""
        flat, n = self.flat, self.flat.n_ops
        seq, count, machine = member.seq.copy(), member.count.copy(), member.machine.copy()
        best_seq, best_count, best_machine = seq.copy(), count.copy(), machine.copy()
        tabu_machine = np.zeros((n, flat.n_machines), dtype=np.int64)
        tabu_op = np.zeros(n, dtype=np.int64)
        state = np.array([0, 0, member.makespan], dtype=np.int64)
        while state[1] < patience and state[2] > lower_bound and time.perf_counter() < deadline and not (
            stop is not None and stop.is_set()
        ):
            _flexjobshop.search(
                seq, count, machine, self.dmat, flat.mode_ptr, flat.mode_machine, self.job_pred,
                self.job_succ, best_seq, best_count, best_machine, tabu_machine, tabu_op, state, SIDE_CHUNK,
                patience, TENURE_MIN, TENURE_SPAN, lower_bound, rng,
            )
        if state[2] >= member.makespan:
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


class _SecondWorker:
    """The second worker's thread. It first runs the whole CP-SAT model hinted with the start schedule
    for a moment (`PROOF_SHARE`): its schedule is offered, its bound raises the lower bound, and once the
    best schedule of either thread meets that bound, `done` is set and both searches stop. Then, on a
    pure flexible job shop, it runs tabu walks of the exact
    kernel, one after another, each from a random member of the memetic search's population as last
    offered (from the start schedule until there is one). If by `LEAD_CHECK` of the time no walk has
    beaten every schedule the memetic search offered, or the shop is not a pure one, it runs a memetic
    search of its own, with its own random stream: on Brandimarte's mk06 the walks mostly fall behind
    and an independent population is a second chance of reaching the optimum; on Dauzere-Peres'
    instances and mk05/mk07 the walks lead within a second and keep finding the best schedules. Judging
    the lead only at that time (an early win over a population still descending not counting) let
    the walks go on less often on mk06 (57 in 10 of 20 runs against 9 of 20) but worsened Dauzere-Peres
    01a-12a (seed 0, mean gap 1.58% against 1.42%).
    The walks' finds do not enter the main population: injected there, they pulled it together and
    Dauzere-Peres 01a ended worse on each of 5 seeds. `offer` is the exchange between the two threads."""

    def __init__(self, shop: _Shop, start: _Member, deadline: float, lower_bound: int, seed: int) -> None:
        self.shop, self.start, self.deadline = shop, start, deadline
        now = time.perf_counter()
        self.check = now + LEAD_CHECK * (deadline - now)
        self.best = start
        self.bound = lower_bound
        self.done = threading.Event()
        self.seed = seed
        self.led = False
        self.population: list[_Member] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rng = np.random.default_rng([seed, 1])
        self.own = _Shop(shop.flat, [seed, 2])
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def offer(self, member: _Member, population: list[_Member] | None = None) -> _Member:
        """Take a thread's best if it is better, and a copy of the main population (walks start from
        its members); return the best of both threads."""
        with self.lock:
            if member.makespan < self.best.makespan:
                self.best = member
            if population is not None:
                self.population = list(population)
            if self.best.makespan <= self.bound:
                self.done.set()
            return self.best

    def prove(self) -> None:
        """A moment of CP-SAT (`cpsat_moment`): offer its schedule and raise the bound by its own."""
        moment = cpsat_moment(self.shop, self.start, self.deadline, self.seed)
        if moment is None:
            return
        found, bound = moment
        with self.lock:
            self.bound = max(self.bound, bound)
        self.offer(found)

    def run(self) -> None:
        """A moment of CP-SAT (`prove`); then walk from members of the population while the walks lead,
        then, or at once where walks do not apply, a memetic search of its own; until the deadline, a
        best schedule at the bound (`done`) or `stop`."""
        self.prove()
        if self.done.is_set():
            return
        walking = self.shop.pure
        while walking and time.perf_counter() < self.deadline and not self.stop.is_set():
            if not self.led and time.perf_counter() >= self.check:
                walking = False
                break
            with self.lock:
                start = self.best
                if self.population:
                    start = self.population[self.rng.integers(len(self.population))]
            if self.done.is_set():
                return
            until = self.deadline if self.led else self.check
            new = self.shop.exact_walk(start, SIDE_PATIENCE, until, self.bound, self.rng, self.stop)
            with self.lock:
                self.led = self.led or new.makespan < self.best.makespan
            self.offer(new)
        if not walking:
            memetic(self.own, self.start, self.deadline, self.bound, lambda best, _: self.offer(best),
                    self.stop)


def cpsat_moment(shop: _Shop, start: _Member, deadline: float, seed: int) -> tuple[_Member, int] | None:
    """The whole CP-SAT model hinted with `start`, one CP-SAT worker, for `PROOF_SHARE` of the time left
    (at most `PROOF_LIMIT` s): its schedule and its bound, or None if it had no time."""
    budget = min(PROOF_SHARE * (deadline - time.perf_counter()), PROOF_LIMIT)
    if budget <= 0:
        return None
    solved = solve_full(shop.flat, budget, seed, 1, Incumbent(start.machine, start.start, start.end))
    if solved is None:
        return None
    machine, begin = solved.overlay(start.machine, start.start)
    return shop.rows(machine, shop.order_key(begin)), solved.bound


def memetic(
    shop: _Shop, first: _Member, deadline: float, lower_bound: int,
    exchange: Callable[[_Member, list[_Member]], _Member] | None = None, stop: threading.Event | None = None,
) -> _Member:
    """The memetic search from `first`: a population of tabu walks from mutants of it, then children
    of two members, each replacing the member `_replaced` names. `exchange` is called with the best
    and the population before each child and returns the best of both workers' searches."""
    best = first
    population = [first]
    while time.perf_counter() < deadline and best.makespan > lower_bound and not (
        stop is not None and stop.is_set()
    ):
        if exchange is not None:
            best = exchange(best, population)
        if len(population) < POPULATION:
            new = shop.walk(shop.mutant(first, MUTATION), WALK, deadline)
        else:
            a, b = shop.rng.choice(len(population), 2, replace=False)
            new = shop.walk(shop.child(population[a], population[b]), WALK, deadline)
            replaced = _replaced(population, new)
            if replaced < 0:
                continue
            population.pop(replaced)
        population.append(new)
        if new.makespan < best.makespan:
            best = new
    return best


def _replaced(population: list[_Member], new: _Member) -> int:
    """The member `new` takes the place of: of those no better than it, the one whose machine assignment
    is closest to its own; -1 if every member is better, or one equals it. Replacing the worst instead
    let a few basins fill the population (the figures are in the module's docstring)."""
    closest, distance = -1, len(new.machine) + 1
    for k, member in enumerate(population):
        if member.makespan == new.makespan and np.array_equal(member.machine, new.machine):
            return -1
        if member.makespan >= new.makespan:
            apart = int(np.count_nonzero(member.machine != new.machine))
            if apart < distance or (apart == distance and member.makespan > population[closest].makespan):
                closest, distance = k, apart
    return closest


def improve_assignment(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, lower_bound: int = 0,
    workers: int = 1,
) -> tuple[Incumbent, int]:
    """Shorten the makespan of `incumbent` within `time_limit` seconds by a memetic search whose
    children are improved by a tabu walk that moves critical operations within their machine sequence
    or to another eligible machine, or trades two of them between machines (flexible shops), after a
    moment of hinted CP-SAT that may prove the optimum and end it there. With two workers that moment
    and the search run side by side in a second thread, followed by exact walks from members of the
    population where they lead, else a memetic search of its own. Returns the schedule and the lower
    bound, raised where CP-SAT proved more."""
    n = flat.n_ops
    if n == 0 or n > FLEX_LIMIT or not flat.makespan_objective:
        return incumbent, lower_bound
    deadline = time.perf_counter() + time_limit
    shop = _Shop(flat, seed)
    first = shop.walk(shop.rows(incumbent.machine, shop.order_key(incumbent.start)), WALK, deadline)
    second = _SecondWorker(shop, first, deadline, lower_bound, seed) if workers >= 2 else None
    if second is None:  # one thread: the moment of CP-SAT first, then the search unless it proved
        best, bound = first, lower_bound
        moment = cpsat_moment(shop, first, deadline, seed)
        if moment is not None:
            best, bound = min(first, moment[0], key=attrgetter("makespan")), max(lower_bound, moment[1])
        if best.makespan > bound:
            best = min(best, memetic(shop, first, deadline, bound), key=attrgetter("makespan"))
    else:
        best = memetic(shop, first, deadline, lower_bound, second.offer, second.done)
        second.stop.set()
        second.thread.join()
        best, bound = second.offer(best), second.bound
    if best.makespan > int(incumbent.end.max()):
        return incumbent, bound
    return Incumbent(best.machine, best.start, best.end), bound
