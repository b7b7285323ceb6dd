"""The twin's material: what lies in the warehouse, what suppliers' trucks bring, what waits at machines.

The twin is the plant, so this is the physical truth the plan only believes: pieces on the racks
(taken by an AGV at pickup, put there by an AGV that carries a delivery in from the dock), purchase
orders on their way (each arrives at its due date plus the supplier's lateness, drawn from its
reliability, plus any delay the scenario scripts; a scripted delay is announced by the supplier when
the order is placed, as a real supplier confirms a later date), loads at machines (work in progress
and raw material an operation waits for), and how long machines waited for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mixflow.model import Plant
from mixflow.model.port import PurchaseOrder
from mixflow.model.work import MaterialTask
from mixflow.twin.scenario import Scenario


@dataclass
class StockCounters:
    """What the twin's material did: deliveries, how late, stock-outs met at racks, machine waiting."""

    receipts: int = 0
    late_receipts: int = 0
    stockouts: int = 0
    not_ready_at_pickup: int = 0  # an AGV stood at a pickup whose load was not there yet
    material_wait_s: dict[str, int] = field(default_factory=dict)
    tasks_by_kind: dict[str, int] = field(default_factory=dict)
    task_waits_s: list[int] = field(default_factory=list)  # from a task's posting to its pickup
    consumed_value: float = 0.0  # what the racks gave out, at unit cost
    value_by_day: list[float] = field(default_factory=list)  # inventory value at the start of each day


class TwinStock:
    """Warehouse stock per item, purchase orders in transit, and loads delivered at machines."""

    def __init__(
        self, plant: Plant, scenario: Scenario, rng: np.random.Generator, unit_cost: dict[str, float]
    ) -> None:
        materials = plant.materials
        self.unit_cost = unit_cost
        self.modelled = materials.modelled
        self._makes = plant.makes
        self._rng = rng
        self._delays = {d.item: d for d in scenario.supplier_delays}
        self.on_hand: dict[str, int] = {}
        for supplier in materials.suppliers:
            for item in supplier.items:
                self.on_hand[item] = materials.policy(item).on_hand
        self._supplier = {s.id: s for s in materials.suppliers}
        self.in_transit: dict[str, PurchaseOrder] = {}
        self.arrives_s: dict[str, int] = {}  # when each order in transit reaches its dock
        self.confirmed_s: dict[str, int] = {}  # the date its supplier confirmed
        self._placed_s: dict[str, int] = {}
        self.at_machines: set[str] = set()
        self.done_ops: set[str] = set()
        self._out_reported: set[str] = set()
        self.counters = StockCounters()

    def arrival(self, po: PurchaseOrder, now_s: int) -> tuple[int, int]:
        """When `po` reaches its dock, and the date its supplier confirms (the due date unless the
        scenario scripts a delay for the item; random lateness is not announced)."""
        self.in_transit[po.po_id] = po
        supplier = self._supplier.get(po.supplier)
        late = 0
        if supplier is not None and supplier.p_late > 0 and self._rng.random() < supplier.p_late:
            late = int(self._rng.exponential(max(1, supplier.mean_late_s)))
        delay = self._delays.get(po.item)
        announced = delay.delay_s if delay is not None and now_s >= delay.from_s else 0
        due = max(now_s, po.due_s) + announced
        self.arrives_s[po.po_id] = due + late
        self.confirmed_s[po.po_id] = due
        self._placed_s[po.po_id] = now_s
        return due + late, due

    def announce(self, item: str, delay_s: int, at_s: int) -> list[tuple[str, int, int]]:
        """The supplier of `item` announces at `at_s` every order of it still on its way `delay_s` late
        (those placed since were confirmed late already): (po id, new arrival, new confirmed date)."""
        moved = []
        for po_id, po in self.in_transit.items():
            if po.item == item and self._placed_s[po_id] < at_s:
                self.arrives_s[po_id] += delay_s
                self.confirmed_s[po_id] += delay_s
                moved.append((po_id, self.arrives_s[po_id], self.confirmed_s[po_id]))
        return moved

    def received(self, po_id: str, at_s: int) -> PurchaseOrder | None:
        """The truck of `po_id` is at its dock (None: an arrival the supplier has since moved later)."""
        if self.arrives_s.get(po_id) != at_s:
            return None
        po = self.in_transit.pop(po_id)
        del self.arrives_s[po_id], self.confirmed_s[po_id], self._placed_s[po_id]
        self.counters.receipts += 1
        if at_s > po.due_s:
            self.counters.late_receipts += 1
        return po

    def ready(self, task: MaterialTask, bought_ready_s: int | None, t: int) -> bool:
        """Whether an AGV at `task`'s pickup can load it now; takes the pieces off the rack when it can.

        A line part made in-house is ready when its last operation is done (`bought_ready_s`, the
        twin's readiness record, carries that); a bought line part and a raw material come off the
        warehouse racks (a plant that does not model materials has bottomless racks: ready after the
        catalogue lead time); work in progress once its operation is done; a delivery at once."""
        kind = task.kind
        if kind == "receipt":
            return True
        if kind == "wip":
            return self._there(task.after_op in self.done_ops)
        if kind == "line" and (not self.modelled or self._makes(task.part)):
            return self._there(bought_ready_s is not None and bought_ready_s <= t)
        have = self.on_hand.get(task.part, 0)
        if have < task.qty:
            if task.id not in self._out_reported:
                self._out_reported.add(task.id)
                self.counters.stockouts += 1
            return False
        self.on_hand[task.part] = have - task.qty
        self.counters.consumed_value += task.qty * self.unit_cost.get(task.part, 0.0)
        self._out_reported.discard(task.id)
        return True

    def _there(self, ready: bool) -> bool:
        if not ready:
            self.counters.not_ready_at_pickup += 1
        return ready

    def stocked_out(self, task_id: str) -> bool:
        """Whether an AGV stood at an empty rack for this task (reported once, as a StockOut event)."""
        return task_id in self._out_reported

    def picked(self, task: MaterialTask, t: int) -> None:
        self.counters.task_waits_s.append(t - task.release_s)
        if task.kind == "wip":
            self.done_ops.discard(task.after_op)

    def unpicked(self, task: MaterialTask) -> None:
        """An AGV failed with the load: it is taken back where it came from (as the line's parts are), so
        the AGV the plan sends instead finds it there."""
        if task.kind == "wip":
            self.done_ops.add(task.after_op)
        elif task.kind == "raw" or (task.kind == "line" and self.modelled and not self._makes(task.part)):
            self.on_hand[task.part] = self.on_hand.get(task.part, 0) + task.qty
            self.counters.consumed_value -= task.qty * self.unit_cost.get(task.part, 0.0)

    def dropped(self, task: MaterialTask) -> None:
        """A load reached its dropoff: a delivery goes on the racks, a load for a machine waits there."""
        counts = self.counters.tasks_by_kind
        counts[task.kind] = counts.get(task.kind, 0) + 1
        if task.kind == "receipt":
            self.on_hand[task.part] = self.on_hand.get(task.part, 0) + task.qty
        elif task.kind in ("wip", "raw"):
            self.at_machines.add(task.id)

    def has_all(self, task_ids: tuple[str, ...]) -> bool:
        return all(t in self.at_machines for t in task_ids)

    def used(self, task_ids: tuple[str, ...]) -> None:
        """The operation started: the loads it waited for are consumed."""
        for task_id in task_ids:
            self.at_machines.discard(task_id)

    def waited(self, group: str, seconds: int) -> None:
        if seconds > 0:
            wait = self.counters.material_wait_s
            wait[group] = wait.get(group, 0) + seconds

    def inventory_value(self) -> float:
        """What the warehouse holds, at unit cost."""
        return sum(q * self.unit_cost.get(item, 0.0) for item, q in self.on_hand.items())

    def day_passed(self, day: int) -> None:
        """Note the inventory value at the start of each day up to `day`."""
        while len(self.counters.value_by_day) <= day:
            self.counters.value_by_day.append(self.inventory_value())
