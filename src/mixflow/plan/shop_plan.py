"""The feeder shops' plan from the real solver: the coming horizon's part jobs, solved and repaired.

At each re-plan point the scheduler hands over the orders whose parts are still to be built, in line
order with their slots. `plant_day` (from `mixflow.schedule.plant`) turns them into the shop problem
(jobs due at their line slots, cells, setups, shift calendars); what the floor already did is cut
away (finished and running operations), a machine that is busy or down is closed until it is free,
and `mixflow.schedule.solve` schedules the rest. The result is each machine's operation order, which
the dispatcher follows. On a breakdown `mixflow.schedule.repair` moves only the operations the down
machine was to run (and pushes later what must wait); `ShopPlan.machine_down` returns what moved.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mixflow.model import DAY_S, Catalogue, Order, Plant
from mixflow.schedule import Job, ProblemData, ScheduleResult, solve
from mixflow.schedule._arrays import flat_of
from mixflow.schedule.bounds import lower_bound
from mixflow.schedule.dispatch import best_dispatch
from mixflow.schedule.lns import retime
from mixflow.schedule.plant import LineSlot, plant_day
from mixflow.schedule.repair import Breakdown, repair
from mixflow.schedule.solve import result_of


@dataclass
class ShopPlan:
    """A solved shop problem and each machine's operation order (scheduler operation ids)."""

    data: ProblemData
    result: ScheduleResult
    op_ids: tuple[str, ...]
    machine_ids: tuple[str, ...]
    by_machine: dict[str, list[str]]

    def machine_of(self, op_id: str) -> str | None:
        """The machine the plan gives an operation, or None when the plan does not hold it."""
        for machine, ops in self.by_machine.items():
            if op_id in ops:
                return machine
        return None

    def machine_down(self, machine_id: str, now_s: int, until_s: int, frozen_s: int) -> list[str]:
        """Repair the plan for `machine_id` down over [now_s, until_s); the ids of the moved operations
        (machine or start changed). The machine orders are rebuilt only where something moved."""
        if machine_id not in self.machine_ids:
            return []
        m = self.machine_ids.index(machine_id)
        repaired = repair(self.data, self.result, Breakdown(m, now_s, max(until_s, now_s + 1)), frozen_s)
        offsets = self.data.job_offsets()
        moved_idx = [offsets[j] + o for j, o in repaired.moved]
        touched = {int(self.result.machine[i]) for i in moved_idx}
        touched |= {int(repaired.machine[i]) for i in moved_idx}
        self.result = repaired
        for t in touched:
            self.by_machine[self.machine_ids[t]] = _order_on(t, repaired, self.op_ids)
        return [self.op_ids[i] for i in moved_idx]


def _order_on(m: int, result: ScheduleResult, op_ids: Sequence[str]) -> list[str]:
    on = np.flatnonzero(result.machine == m)
    on = on[np.argsort(result.start[on], kind="stable")]
    return [op_ids[i] for i in on.tolist()]


DUE_LEAD_S = DAY_S
"""The plan asks for parts this much before `plant_day`'s due (slot less margin), released at once: the
line takes a truck as soon as its parts are built, so early parts shorten the order-to-delivery time,
and a tardiness objective with slack would leave the machines idle just in time."""

DISPATCH_RESTARTS = 8
"""Dispatch passes (one plain, the rest with noisy priorities) of the "dispatch" plan: a count, not a
time budget, so a run stays deterministic for its seed on a loaded machine."""


def _solve(data: ProblemData, method: str, time_limit_s: float, seed: int) -> ScheduleResult:
    """`mixflow.schedule.solve`'s dispatch path bounded by passes ("dispatch"), or `solve` itself within
    `time_limit_s` (any other method; time-bounded, so not reproducible to the operation)."""
    if method != "dispatch":
        return solve(data, time_limit=time_limit_s, seed=seed, workers=1, method=method)
    started = time.perf_counter()
    flat = flat_of(data)
    machine, start, _ = best_dispatch(flat, float("inf"), seed, max_restarts=DISPATCH_RESTARTS)
    return result_of(flat, retime(flat, machine, start), lower_bound(flat), started, "dispatch")


def plan_shops(
    plant: Plant,
    catalogue: Catalogue,
    orders: Sequence[tuple[Order, int]],
    chains: Mapping[tuple[str, str], Sequence[str]],
    first_open: Mapping[tuple[str, str], int],
    closed_until: Mapping[str, int],
    now_s: int,
    method: str,
    time_limit_s: float,
    seed: int,
) -> ShopPlan | None:
    """Schedule the open operations of `orders` (each with its line slot, in line order) from `now_s`.

    `chains[(order, part)]` are the scheduler's operation ids of a part job in routing order and
    `first_open[(order, part)]` the first of them not yet started; `closed_until[machine]` closes a
    busy or down machine until then. Returns None when nothing is left to schedule. Raises the
    schedule package's errors when the problem cannot be built or solved (the caller falls back).
    """
    slots = [LineSlot(order, max(slot_s, now_s)) for order, slot_s in orders]
    if not slots:
        return None
    day = plant_day(plant, catalogue, slots, release_s=now_s, seed=seed)
    jobs: list[Job] = []
    op_ids: list[str] = []
    new_index: dict[int, tuple[int, int]] = {}  # old job index -> (new index, ops cut away)
    for j, (job, part_job) in enumerate(zip(day.data.jobs, day.jobs, strict=True)):
        key = (part_job.order_id, part_job.part)
        chain = chains.get(key)
        if chain is None or len(chain) != len(job.operations):
            continue
        cut = first_open.get(key, len(chain))
        if cut >= len(chain):
            continue
        new_index[j] = (len(jobs), cut)
        due = max(now_s, (job.due or now_s) - DUE_LEAD_S)
        jobs.append(replace(job, operations=job.operations[cut:], release=now_s, due=due))
        op_ids.extend(chain[cut:])
    if not jobs:
        return None
    precedences = []
    for (bj, bo), (aj, ao) in day.data.precedences:
        if bj in new_index and aj in new_index and new_index[aj][1] == 0:
            precedences.append(((new_index[bj][0], bo - new_index[bj][1]), (new_index[aj][0], ao)))
    machines = list(day.data.machines)
    for k, machine_id in enumerate(day.machine_ids):
        until = closed_until.get(machine_id, 0)
        if until > now_s:
            machines[k] = replace(
                machines[k], downtime=tuple(sorted((*machines[k].downtime, (now_s, until))))
            )
    data = replace(day.data, machines=tuple(machines), jobs=tuple(jobs), precedences=tuple(precedences))
    result = _solve(data, method, time_limit_s, seed)
    by_machine = {}
    for m in sorted(set(result.machine.tolist())):
        by_machine[day.machine_ids[m]] = _order_on(m, result, op_ids)
    return ShopPlan(data, result, tuple(op_ids), day.machine_ids, by_machine)
