"""Every internal flow as AGV work: deliveries into the warehouse, raw material and work in progress to
the machines, and the stock the plan hands out.

The plan keeps two views of material. The ledger (`mixflow.promise.MaterialLedger`) plans: it nets
reservations against stock and purchase orders, raises orders by lot size and reorder point, and tells
which orders a late supplier endangers. This module hands out what is physically on the racks: a bought
part for a truck or a raw material for an operation is taken from free stock when it is there (the
ledger books it as consumed, so no second task is sent to the same piece), else it waits in line by
need time and is handed out when a delivery is put away. A request still waiting at its need time is a
stock-out: the supervisor hears of it and its order is flagged.

Where loads are picked up and dropped: a machine stands on a blocked cell, so AGVs serve it from its
access cell (the nearest free cell the fleet reaches); every bought item has a rack cell in the warehouse;
deliveries arrive at the supplier's dock.

A part worked on its AGV (`PlannedOp.on_agv`, an AGV-carried assembly station) rides: the leg that
brings it to such a step `rides` into the machine's dock (`Plant.agv_docks`; its AGV stays), and the
next leg goes on the same AGV (`same_agv_as`), up to the first step that is not worked on an AGV; a
part whose routing ends on one is left at its last station (the line call fetches it from the shop's
outbound, as every built part). A part's first step has no leg to ride on, so it is not worked on an
AGV. A part done in a dock whose machine is given another part's step leaves
the dock on its AGV (`vacate`) to wait for its own next step.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from mixflow.errors import ValidationError
from mixflow.model import MaterialTask, Plant
from mixflow.model.plant import Cell
from mixflow.model.port import GoodsReceived, PurchaseOrder
from mixflow.plan.shops import PlannedOp
from mixflow.promise import MaterialLedger

WIP_KG = 50.0
"""What a part between two machines weighs on an AGV (the line tasks' `KG_PER_PIECE`)."""
WIP_DEADLINE_S = 1800
"""How soon a load for a machine should be there (a machine waits while it is not)."""


@dataclass
class FlowCounters:
    """Stock-outs (requests still waiting at their need time), tasks posted per kind."""

    stockouts: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    short_items: set[str] = field(default_factory=set)


@dataclass(order=True)
class _Request:
    need_s: int
    seq: int
    order_id: str = field(compare=False)
    item: str = field(compare=False)
    qty: int = field(compare=False)
    what: str = field(compare=False)  # "part": a truck's bought part; else the raw task's id
    late: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Handed:
    """Stock handed out to a waiting request: a truck's bought part is ready, or a raw task may go."""

    order_id: str
    item: str
    task: MaterialTask | None


class MaterialFlow:
    """The plan's material tasks and the stock it hands out, over a `MaterialLedger`."""

    def __init__(
        self, plant: Plant, ledger: MaterialLedger, access: dict[str, Cell], rack_of: dict[str, Cell],
        max_kg: float
    ) -> None:
        self.ledger = ledger
        self.access = access  # the cell an AGV serves each machine from (`fleet.plant.access_cells`)
        self.docks = plant.agv_docks()
        self.racks_of = _racks_per_item(plant, rack_of)
        self._next_rack = dict.fromkeys(self.racks_of, 0)
        materials = plant.materials
        self._kg = {r.id: r.kg for r in materials.raw}
        self._max_kg = max_kg  # the most an AGV of the fleet carries: loads are split to fit
        self._dock = plant.floor.docks[0] if plant.floor.docks else None
        self._waiting: dict[str, list[_Request]] = {}
        self._seq = 0  # ties in the waiting line go first come, first served (an int: the plan is pickled)
        self._po_tasks: dict[str, int] = {}  # a delivery's put-away tasks still open
        self._po_qty: dict[str, int] = {}
        self._po_arrived: dict[str, int] = {}
        self.tasks: dict[str, MaterialTask] = {}  # open tasks of this module, by id
        self._carrier: dict[tuple[str, str], str] = {}  # (order, part) riding an AGV -> the leg it came on
        self._docked: dict[str, str] = {}  # machine -> the leg whose AGV stands in its dock with its part
        self.freed: list[str] = []  # legs whose part left its AGV without a leg more: the fleet frees it
        self.vacate: list[str] = []  # legs whose AGV must leave its dock for another part
        self._deadlines: list[tuple[int, str]] = []
        self.counters = FlowCounters()

    # -- stock handed out ----------------------------------------------------------------------------
    def take(self, order_id: str, item: str, qty: int, need_s: int, now_s: int, what: str = "part") -> bool:
        """Hand `qty` of `item` to a truck's part (`what` "part") or a raw task (`what` its id) now if
        the racks hold it free, else put the request in line by `need_s`; True when handed now."""
        waiting = self._waiting.get(item)
        if not waiting and self.ledger.on_hand(item) >= qty:
            self.ledger.consume(order_id, item, qty, now_s)
            return True
        self._seq += 1
        request = _Request(need_s, self._seq, order_id, item, qty, what)
        heapq.heappush(self._waiting.setdefault(item, []), request)
        return False

    def overdue(self, now_s: int) -> Iterator[_Request]:
        """Requests still waiting at their need time, each once: the stock-outs."""
        for item, waiting in self._waiting.items():
            for request in waiting:
                if not request.late and request.need_s <= now_s:
                    request.late = True
                    if item not in self.counters.short_items:
                        self.counters.short_items.add(item)
                        self.counters.stockouts += 1
                    yield request

    def _hand_out(self, item: str, now_s: int) -> list[Handed]:
        """Serve the waiting requests of `item`, earliest need first, while the racks hold enough."""
        waiting = self._waiting.get(item, [])
        handed = []
        while waiting and self.ledger.on_hand(item) >= waiting[0].qty:
            request = heapq.heappop(waiting)
            self.ledger.consume(request.order_id, item, request.qty, now_s)
            task = self.tasks.get(request.what) if request.what != "part" else None
            handed.append(Handed(request.order_id, item, task))
        if not waiting:
            self._waiting.pop(item, None)
            self.counters.short_items.discard(item)
        return handed

    # -- tasks ---------------------------------------------------------------------------------------
    def _task(self, task: MaterialTask) -> MaterialTask:
        self.tasks[task.id] = task
        heapq.heappush(self._deadlines, (task.deadline_s, task.id))
        counts = self.counters.tasks
        counts[task.kind] = counts.get(task.kind, 0) + 1
        return task

    def for_operation(self, op: PlannedOp, machine: str, came_from: tuple[str, str] | None,
                      now_s: int, resumed: bool = False) -> tuple[tuple[str, ...], list[MaterialTask]]:
        """The loads an operation starting on `machine` waits for: its part from the machine that ran the
        step before (`came_from`, that machine and operation; None for a first step), unless both
        machines are served from one cell, and each raw
        material its step consumes from the warehouse. Returns their ids and the tasks that may go now
        (a raw task whose stock is short goes when a delivery is put away). A load called again after a
        restart (`resumed`) does not ride: which AGV holds the part is not known, so its next step
        starts a ride of its own."""
        to = self.access[machine]
        ids: list[str] = []
        ready: list[MaterialTask] = []
        key = (op.order_id, op.part)
        carrier = self._carrier.pop(key, "")
        rides = op.on_agv and came_from is not None and machine in self.docks and not resumed
        in_dock = self._docked.get(machine)
        if in_dock is not None and in_dock != carrier:  # a part done here waits on its AGV elsewhere
            self.vacate.append(in_dock)
            del self._docked[machine]
        if came_from is not None:
            before = came_from[0]
            start = self.docks.get(before, self.access[before]) if carrier else self.access[before]
            if carrier and self._docked.get(before) == carrier:
                del self._docked[before]
            end = self.docks[machine] if rides else to
            if start != end:
                wip = self._task(MaterialTask(
                    f"{op.id}>wip", op.part, start, end, now_s, now_s + WIP_DEADLINE_S, WIP_KG,
                    op.order_id, kind="wip", after_op=came_from[1], rides=rides, same_agv_as=carrier,
                ))
                ids.append(wip.id)
                ready.append(wip)
                if rides:
                    self._carrier[key] = self._docked[machine] = wip.id
            elif carrier and rides:  # the same machine again: the part stays on its AGV in the dock
                self._carrier[key] = self._docked[machine] = carrier
            elif carrier:  # served from the same cell, not on an AGV: the AGV leaves it there
                self.freed.append(carrier)
        for item, qty in op.materials:
            rack = self._rack(item)
            kg = self._kg.get(item, 1.0) * qty
            loads = max(1, math.ceil(kg / self._max_kg)) if self._max_kg > 0 else 1
            per = math.ceil(qty / loads)
            left = qty
            for k in range(loads):
                n = min(per, left)
                left -= n
                if n <= 0:
                    break
                raw = self._task(MaterialTask(
                    f"{op.id}>raw/{item}/{k}", item, rack, to, now_s, now_s + WIP_DEADLINE_S,
                    self._kg.get(item, 1.0) * n, op.order_id, kind="raw", qty=n,
                ))
                ids.append(raw.id)
                if self.take(op.order_id, item, n, now_s, now_s, raw.id):
                    ready.append(raw)
        return tuple(ids), ready

    def built(self, op: PlannedOp, machine: str) -> None:
        """The part built on its AGV (`op` its last step, done on `machine`) leaves it there."""
        carrier = self._carrier.pop((op.order_id, op.part), "")
        if carrier:
            if self._docked.get(machine) == carrier:
                del self._docked[machine]
            self.freed.append(carrier)

    def carrier_of(self, op: PlannedOp) -> str:
        """The leg whose AGV holds `op`'s part ("" if it does not ride one)."""
        return self._carrier.get((op.order_id, op.part), "")

    def take_freed(self) -> tuple[list[str], list[str]]:
        """The legs whose AGV leaves its part (the fleet frees it) and those whose AGV leaves its dock
        with its part (the fleet parks it), since the last call."""
        freed, vacate, self.freed, self.vacate = self.freed, self.vacate, [], []
        return freed, vacate

    def late(self, now_s: int) -> list[MaterialTask]:
        """Tasks past their deadline with no delivery reported, each looked at again a deadline later:
        the caller gives the fleet model back those it let go (it took them for delivered while the
        plant's AGVs did not move, say while commands waited for the plan store)."""
        late = []
        while self._deadlines and self._deadlines[0][0] < now_s:
            _, task_id = heapq.heappop(self._deadlines)
            task = self.tasks.get(task_id)
            if task is not None:
                late.append(task)
                heapq.heappush(self._deadlines, (now_s + WIP_DEADLINE_S, task_id))
        return late

    def purchases(self) -> list[PurchaseOrder]:
        """The purchase orders the ledger raised since the last call, as commands to the plant."""
        out = []
        for po in self.ledger.take_raised():
            dock = po.dock or self._dock
            if dock is None:
                raise ValidationError("floor", "has no dock for suppliers' deliveries")
            out.append(PurchaseOrder(po.po_id, po.supplier, po.item, po.qty, po.due_s, dock))
        return out

    def received(self, e: GoodsReceived) -> list[MaterialTask]:
        """A delivery at the dock: the AGV loads that carry it to its rack."""
        kg = self._kg.get(e.item, WIP_KG)
        per = max(1, int(self._max_kg // kg)) if kg > 0 else e.qty
        tasks = []
        left, k = e.qty, 0
        while left > 0:
            n = min(per, left)
            tasks.append(self._task(MaterialTask(
                f"{e.po_id}>in/{k}", e.item, e.dock, self._rack(e.item), e.at_s, e.at_s + 4 * 3600, kg * n,
                kind="receipt", qty=n,
            )))
            left -= n
            k += 1
        self._po_tasks[e.po_id] = len(tasks)
        self._po_qty[e.po_id] = e.qty
        self._po_arrived[e.po_id] = e.at_s
        return tasks

    def delivered(self, task_id: str, now_s: int) -> list[Handed]:
        """A task of this module reached its dropoff; a put-away completes its delivery: the stock is
        booked and the requests waiting for it are served."""
        task = self.tasks.pop(task_id, None)
        if task is None or task.kind != "receipt":
            return []
        po_id = task_id.partition(">")[0]
        self._po_tasks[po_id] -= 1
        if self._po_tasks[po_id] > 0:
            return []
        del self._po_tasks[po_id]
        qty, arrived = self._po_qty.pop(po_id), self._po_arrived.pop(po_id)
        if self.ledger.knows(po_id):
            # on time or not is the supplier's: when its truck reached the dock, not when it was put away
            self.ledger.received(po_id, qty, arrived)
        else:  # ordered before the scheduler started again: the stock counts all the same
            self.ledger.put_away(task.part, qty, now_s)
        return self._hand_out(task.part, now_s)

    def inventory_value(self) -> float:
        return float(self.ledger.inventory_value())

    def _rack(self, item: str) -> Cell:
        """The next of the item's rack cells, in turn: a full-scale plant calls the same raw material
        hundreds of times a day, and AGVs queueing for one cell would jam the warehouse aisles."""
        racks = self.racks_of[item]
        k = self._next_rack[item]
        self._next_rack[item] = (k + 1) % len(racks)
        return racks[k]


def _racks_per_item(plant: Plant, first: dict[str, Cell]) -> dict[str, list[Cell]]:
    """Each bought item's rack cells: its own (`first`) and every rack cell the items share out in turn
    (the warehouse's racks dealt over the items, so each holds a share of the cells)."""
    items = sorted(i for s in plant.materials.suppliers for i in s.items if i in first)
    racks = [c for c in plant.floor.warehouse_cells if c not in set(first.values())]
    out = {item: [first[item]] for item in first}
    for k, cell in enumerate(racks):
        if items:
            out[items[k % len(items)]].append(cell)
    return out

