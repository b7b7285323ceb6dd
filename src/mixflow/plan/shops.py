"""Feeder-shop dispatch: a pull rule that starts the most urgent ready operation on a free machine.

Operations wait in one queue per machine group, ordered by the line slot of their truck (earliest
due first) and, among equal slots, by the order they became ready. A machine that is down or busy
takes nothing; when a machine breaks, its group's queue simply flows to the others (the repair).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from mixflow.model import Plant
from mixflow.model.port import StartOperation


@dataclass(frozen=True)
class PlannedOp:
    """One operation of a part of an order, as the scheduler plans it."""

    id: str
    order_id: str
    part: str
    group: str
    duration_s: int
    setup_key: str
    final: bool


class ShopDispatch:
    """Machine states as the scheduler believes them, and each group's ready queue."""

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
        self.queues: dict[str, list[tuple[int, int, PlannedOp]]] = {g: [] for g in self.idle}
        self.down: set[str] = set()
        self.busy: dict[str, PlannedOp] = {}
        self.queued_work_s: dict[str, float] = {s: 0.0 for s in self.machines_in_shop}
        self._seq = 0
        self._dirty: set[str] = set()

    def add(self, op: PlannedOp, priority: int) -> None:
        self._seq += 1
        heapq.heappush(self.queues[op.group], (priority, self._seq, op))
        self.queued_work_s[self.shop_of_group[op.group]] += op.duration_s
        self._dirty.add(op.group)

    def dispatch(self, now_s: int) -> list[StartOperation]:
        """Start ready operations on free machines of the groups that changed."""
        commands = []
        for group in sorted(self._dirty):  # sorted: set order varies with the hash seed
            queue, idle = self.queues[group], self.idle[group]
            while queue and idle:
                machine = idle.pop()
                _, _, op = heapq.heappop(queue)
                self.queued_work_s[self.shop_of_group[group]] -= op.duration_s
                self.busy[machine] = op
                commands.append(
                    StartOperation(
                        op.id, machine, now_s, op.duration_s, op.setup_key, op.order_id, op.part, op.final
                    )
                )
        self._dirty.clear()
        return commands

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
        self.idle[group].append(machine)
        self._dirty.add(group)

    def backlog_per_machine_s(self) -> dict[str, float]:
        """Queued work per machine of each shop (what a new part waits for, roughly)."""
        return {s: w / max(1, self.machines_in_shop[s]) for s, w in self.queued_work_s.items()}
