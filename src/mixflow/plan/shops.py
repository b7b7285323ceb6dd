"""Feeder-shop dispatch: each free machine starts the next ready operation of its planned order.

The plan (`mixflow.plan.shop_plan`, from the schedule solver) gives every machine an operation
order; a free machine starts the first operation of its order that is ready. Where the plan holds
nothing ready for it (an order placed since the last plan, or no plan at all because the solver
failed) the pull rule decides: operations wait in one queue per set of eligible machine groups (a
routing step may name several), ordered by the line slot of their truck (earliest due first) and,
among equal slots, by the order they became ready; a free machine takes the first of the heads of
every queue its group is eligible for. A machine that is down or busy takes nothing.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from mixflow.model import Plant
from mixflow.model.port import StartOperation

QueueKey = str | tuple[str, ...]
"""A ready queue: one machine group's id, or the tuple of the groups a routing step names."""


@dataclass(frozen=True)
class PlannedOp:
    """One operation of a part of an order, as the scheduler plans it: done on a machine of any of
    `groups` (default: `group`, the first), with setup key `setup_keys[k]` on a machine of
    `groups[k]` (default: `setup_key` on all), consuming `materials` (raw-material id, quantity);
    `on_agv`: the part is worked on the AGV that brought it (see `RoutingStep.on_agv`)."""

    id: str
    order_id: str
    part: str
    group: str
    duration_s: int
    setup_key: str
    final: bool
    groups: tuple[str, ...] = ()
    setup_keys: tuple[str, ...] = ()
    materials: tuple[tuple[str, int], ...] = ()
    on_agv: bool = False

    def __post_init__(self) -> None:
        if not self.groups:
            object.__setattr__(self, "groups", (self.group,))
        if not self.setup_keys:
            object.__setattr__(self, "setup_keys", (self.setup_key,) * len(self.groups))

    @property
    def queue_key(self) -> QueueKey:
        """The ready queue it waits in: its group's, or its set of eligible groups'."""
        return self.groups[0] if len(self.groups) == 1 else self.groups

    def setup_key_on(self, group: str) -> str:
        """The setup key on a machine of `group`."""
        return self.setup_keys[self.groups.index(group)] if group in self.groups else self.setup_key


class ShopDispatch:
    """Machine states as the scheduler believes them, and the ready queues (one per set of eligible
    groups; `queues_of[group]` are the sets a machine of `group` takes from)."""

    def __init__(self, plant: Plant) -> None:
        self.group_of: dict[str, str] = {}
        self.shop_of_group: dict[str, str] = {}
        self.idle: dict[str, list[str]] = {}
        self.machines_in_shop: dict[str, int] = {}
        for shop in plant.shops:
            self.machines_in_shop[shop.id] = shop.machine_count
            for g in shop.groups:
                self.shop_of_group[g.id] = shop.id
                self.idle[g.id] = [m.id for m in reversed(g.machines)]
                for m in g.machines:
                    self.group_of[m.id] = g.id
        self.group_for_operation = {g.operation: g.id for g in plant.machine_groups}
        # a group's own queue under its id, a set of several eligible groups' under the tuple of them
        self.queues: dict[QueueKey, list[tuple[int, int, PlannedOp]]] = {g: [] for g in self.idle}
        self.queues_of: dict[str, list[QueueKey]] = {g: [g] for g in self.idle}
        self.down: set[str] = set()
        self.busy: dict[str, PlannedOp] = {}
        self.queued_work_s: dict[str, float] = {s: 0.0 for s in self.machines_in_shop}
        self._seq = 0
        self._dirty: set[str] = set()
        self.planned: dict[str, list[str]] = {}
        self.started: set[str] = set()
        self._entry: dict[str, tuple[int, int, PlannedOp]] = {}
        self.from_plan = 0
        self.by_pull = 0

    def replace_plan(self, by_machine: dict[str, list[str]]) -> None:
        """Drop every machine's planned order and follow `by_machine` (empty: the pull rule alone).
        Only the started operations a plan names or a machine still runs need remembering, so the
        rest are forgotten here: a plant that runs for months does not keep every operation it ever
        started."""
        keep = {op for ops in by_machine.values() for op in ops} | {op.id for op in self.busy.values()}
        self.started &= keep
        self.planned.clear()
        self.follow(by_machine)

    def follow(self, by_machine: dict[str, list[str]]) -> None:
        """Take each machine's planned operation order (replacing the orders of those machines)."""
        for machine, ops in by_machine.items():
            self.planned[machine] = [o for o in ops if o not in self.started]
            self._dirty.add(self.group_of[machine])

    def add(self, op: PlannedOp, priority: int) -> None:
        self._seq += 1
        entry = (priority, self._seq, op)
        key = op.queue_key
        queue = self.queues.get(key)
        if queue is None:  # a new set of eligible groups: each of its groups' machines looks at it
            queue = self.queues[key] = []
            for g in op.groups:
                self.queues_of[g].append(key)
        heapq.heappush(queue, entry)
        self._entry[op.id] = entry
        self.queued_work_s[self.shop_of_group[op.group]] += op.duration_s
        self._dirty.update(op.groups)

    def reprioritise(self, order_id: str, priority: int) -> None:
        """Give the queued operations of `order_id` a new rank (a rush order jumps its queues)."""
        for op_id, entry in [(o, e) for o, e in self._entry.items() if e[2].order_id == order_id]:
            op = entry[2]
            queue = self.queues[op.queue_key]
            queue.remove(entry)
            heapq.heapify(queue)
            del self._entry[op_id]
            self.queued_work_s[self.shop_of_group[op.group]] -= op.duration_s
            self.add(op, priority)

    def dispatch(self, now_s: int) -> list[StartOperation]:
        """Start ready operations on free machines of the groups that changed: first each free machine's
        next planned operation, then the pull rule for the machines the plan leaves without work."""
        commands = []
        dirty = sorted(self._dirty)  # sorted: set order varies with the hash seed
        for group in dirty:
            queues, idle = [self.queues[q] for q in self.queues_of[group]], self.idle[group]
            if not idle or not any(queues):
                continue
            left = []
            for machine in reversed(idle):
                op = self._planned_next(machine) if any(queues) else None
                if op is None:
                    left.append(machine)
                else:
                    self.from_plan += 1
                    commands.append(self._start(machine, op, now_s))
            # the pull rule; an operation an earlier eligible group has a free machine for is left to it
            idle[:] = left[::-1]
            mine = [self.queues[q] for q in self.queues_of[group] if self._first_free(q, group)]
            self._pull(left, mine, commands, now_s)
            idle[:] = left[::-1]
        for group in dirty:  # then a free machine of a later eligible group takes what is left
            idle = self.idle[group]
            if idle and len(self.queues_of[group]) > 1:
                left = idle[::-1]
                self._pull(left, [self.queues[q] for q in self.queues_of[group]], commands, now_s)
                idle[:] = left[::-1]
        self._dirty.clear()
        return commands

    def _first_free(self, key: QueueKey, group: str) -> bool:
        """Whether no group eligible before `group` for the operations of queue `key` has a free
        machine (a step's first group is its first choice)."""
        if isinstance(key, str):
            return True
        return not any(self.idle[g] for g in key[: key.index(group)])

    def _pull(
        self,
        left: list[str],
        queues: list[list[tuple[int, int, PlannedOp]]],
        commands: list[StartOperation],
        now_s: int,
    ) -> None:
        """The pull rule: the free machines `left`, in turn, start the best head of `queues` (earliest
        line slot, then first ready); the machines that start something leave `left`."""
        while left:
            heads = [q for q in queues if q]
            if not heads:
                return
            self.by_pull += 1
            queue = min(heads, key=lambda q: q[0][:2])
            commands.append(self._start(left.pop(0), heapq.heappop(queue)[2], now_s))

    def _start(self, machine: str, op: PlannedOp, now_s: int) -> StartOperation:
        del self._entry[op.id]
        self.started.add(op.id)
        self.queued_work_s[self.shop_of_group[op.group]] -= op.duration_s
        self.busy[machine] = op
        key = op.setup_key_on(self.group_of[machine])
        return StartOperation(op.id, machine, now_s, op.duration_s, key, op.order_id, op.part, op.final)

    def _planned_next(self, machine: str) -> PlannedOp | None:
        """The first ready operation of the machine's planned order (taken out of its queue)."""
        plan = self.planned.get(machine)
        if not plan:
            return None
        while plan and plan[0] in self.started:
            plan.pop(0)
        group = self.group_of[machine]
        for k, op_id in enumerate(plan[:50]):
            entry = self._entry.get(op_id)
            if entry is not None and group in entry[2].groups:
                del plan[k]
                queue = self.queues[entry[2].queue_key]
                if queue[0] is entry:
                    heapq.heappop(queue)
                else:
                    queue.remove(entry)
                    heapq.heapify(queue)
                return entry[2]
        return None

    def resume_running(self, machine: str, op: PlannedOp) -> None:
        """After a restart: `machine` still runs `op` (started before, not reported done)."""
        idle = self.idle[self.group_of[machine]]
        if machine in idle:
            idle.remove(machine)
        self.busy[machine] = op
        self.started.add(op.id)

    def finished(self, machine: str) -> PlannedOp | None:
        op = self.busy.pop(machine, None)
        if machine not in self.down:
            self._free(machine)
        return op

    def machine_down(self, machine: str) -> PlannedOp | None:
        """Mark a machine down; returns the operation caught on it, if any."""
        self.down.add(machine)
        group = self.group_of[machine]
        if machine in self.idle[group]:
            self.idle[group].remove(machine)
        return self.busy.get(machine)

    def machine_up(self, machine: str) -> None:
        self.down.discard(machine)
        if machine not in self.busy:
            self._free(machine)

    def _free(self, machine: str) -> None:
        group = self.group_of[machine]
        idle = self.idle[group]
        if machine not in idle:  # a machine reported up that was never seen down (after a restart)
            idle.append(machine)
        self._dirty.add(group)

    def backlog_per_machine_s(self) -> dict[str, float]:
        """Queued work per machine of each shop (what a new part waits for, roughly)."""
        return {s: w / max(1, self.machines_in_shop[s]) for s, w in self.queued_work_s.items()}
