"""The twin's material is physical: a machine waits for the loads its operation needs, racks run empty,
suppliers' trucks come to the docks (late when the scenario says so, and they say so)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from mixflow.fleet.plant import access_cells
from mixflow.model import DAY_S, Plant
from mixflow.model.port import (
    AssignTask,
    DeliveryConfirmed,
    GoodsReceived,
    MoveAgvs,
    OperationDone,
    OperationStarted,
    PartDelivered,
    PostTask,
    PurchaseOrder,
    StartOperation,
    StockOut,
)
from mixflow.model.work import MaterialTask
from mixflow.reference import build_plant, reference_catalogue
from mixflow.twin import Scenario, SupplierDelay, Twin

QUIET = {"mtbf_factor": 0.0, "agv_mtbf_h": 0.0, "process_noise": 0.0}


@pytest.fixture(scope="module")
def plant() -> Plant:
    return build_plant(0.05, 0)


def _twin(plant: Plant, **scenario: object) -> Twin:
    return Twin(plant, reference_catalogue(), [], Scenario(scale=0.05, **{**QUIET, **scenario}), 0)  # type: ignore[arg-type]


def _path(plant: Plant, start: tuple[int, int], goal: tuple[int, int]) -> list[tuple[int, int]]:
    """Cells from `start` (excluded) to `goal` over free cells (the twin checks walls and adjacency)."""
    free = ~plant.floor.blocked
    before: dict[tuple[int, int], tuple[int, int]] = {start: start}
    queue = deque([start])
    while queue:
        x, y = queue.popleft()
        if (x, y) == goal:
            break
        for nxt in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            inside = 0 <= nxt[0] < plant.floor.width and 0 <= nxt[1] < plant.floor.height
            if inside and free[nxt[1], nxt[0]] and nxt not in before:
                before[nxt] = (x, y)
                queue.append(nxt)
    path = [goal]
    while path[-1] != start:
        path.append(before[path[-1]])
    return path[::-1][1:]


def _drive(twin: Twin, agv: str, cells: list[tuple[int, int]]) -> list[object]:
    """Move one AGV along `cells`, a cell a second, and return what the twin reported meanwhile."""
    events: list[object] = []
    for x, y in cells:
        twin.submit([MoveAgvs(twin.now_s, (agv,), np.array([x]), np.array([y]))])
        events += twin.poll(twin.now_s + 1)
    return events


def _carry(twin: Twin, plant: Plant, task: MaterialTask) -> list[object]:
    agv = plant.fleet.agv_ids[0]
    twin.submit([PostTask(task), AssignTask(agv, task.id)])
    here = twin.agvs.at(twin.agvs.index[agv])
    events = _drive(twin, agv, _path(plant, here, task.pickup))
    return events + _drive(twin, agv, _path(plant, task.pickup, task.dropoff))


def test_an_operation_waits_at_its_machine_until_its_part_is_brought(plant: Plant) -> None:
    twin = _twin(plant)
    group = plant.shop("cab").groups[0]
    first, second = group.machines[0], group.machines[1]
    access = access_cells(plant)
    twin.submit([StartOperation("X/cab/1", first.id, 0, 600, "", "X", "cab")])
    events = twin.poll(7 * 3600)
    while not any(isinstance(e, OperationDone) for e in events):
        events = twin.poll(twin.now_s + 600)
    now = twin.now_s
    wip = MaterialTask(
        "X/cab/2>wip", "cab", access[first.id], access[second.id], now, now + 3600, 50.0, "X",
        kind="wip", after_op="X/cab/1",
    )
    twin.submit([StartOperation("X/cab/2", second.id, 0, 600, "", "X", "cab", waits_for=(wip.id,))])
    idle = twin.poll(twin.now_s + 3600)
    assert not any(isinstance(e, OperationStarted) for e in idle), "it started without its part"
    brought = _carry(twin, plant, wip)
    delivered = next(e for e in brought if isinstance(e, PartDelivered))
    started = next(e for e in brought + twin.poll(twin.now_s + 1) if isinstance(e, OperationStarted))
    assert started.operation_id == "X/cab/2" and started.at_s == delivered.at_s
    assert twin.stock.counters.material_wait_s[group.id] >= 3600


def test_a_rack_gives_what_it_holds_and_a_delivery_fills_it(plant: Plant) -> None:
    twin = _twin(plant)
    assert twin.stock.modelled, "the reference plant models its materials"
    item = next(i for i, q in twin.stock.on_hand.items() if q > 0)
    twin.stock.on_hand[item] = 1
    dock = plant.floor.docks[0]
    rack = plant.floor.warehouse_cells[0]
    take = MaterialTask("T1", item, rack, dock, 0, DAY_S, 10.0, "X", kind="raw", qty=2)
    events = _carry(twin, plant, take)
    assert [e.item for e in events if isinstance(e, StockOut)] == [item]
    assert not any(isinstance(e, PartDelivered) for e in events)
    assert twin.stock.on_hand[item] == 1  # nothing taken: two were asked for


def test_a_late_supplier_says_so_when_ordered_and_comes_late(plant: Plant) -> None:
    twin = _twin(plant, supplier_delays=(SupplierDelay("tyre", 2 * DAY_S),))
    assert plant.floor.docks, "the reference plant has docks for its suppliers"
    dock = plant.floor.docks[0]
    twin.submit([
        PurchaseOrder("PO-1", "sup-tyre", "tyre", 40, 3600, dock),
        PurchaseOrder("PO-2", "sup-kit", "kit", 5, 3600, dock),
    ])
    events = twin.poll(1)
    events += twin.poll(1)
    confirmed = [e for e in events if isinstance(e, DeliveryConfirmed)]
    assert [(e.po_id, e.due_s) for e in confirmed] == [("PO-1", 3600 + 2 * DAY_S)]
    arrived: list[GoodsReceived] = []
    while twin.now_s < 4 * DAY_S:
        arrived += [e for e in twin.poll(4 * DAY_S) if isinstance(e, GoodsReceived)]
    assert {e.po_id: e.at_s >= (3600 + 2 * DAY_S if e.po_id == "PO-1" else 3600) for e in arrived} == {
        "PO-1": True,
        "PO-2": True,
    }
    assert all(e.dock == dock for e in arrived)


def test_a_tasks_wait_splits_into_no_agv_assigned_and_the_agv_on_its_way(plant: Plant) -> None:
    twin = _twin(plant)
    item = next(iter(twin.stock.on_hand))
    dock, rack = plant.floor.docks[0], plant.floor.warehouse_cells[0]
    task = MaterialTask("PO-9>in/0", item, dock, rack, 0, DAY_S, 10.0, kind="receipt", qty=1)
    twin.submit([PostTask(task)])
    twin.poll(600)  # no AGV for it yet
    agv = plant.fleet.agv_ids[0]
    twin.submit([AssignTask(agv, task.id)])
    drive = _path(plant, twin.agvs.at(0), dock)
    _drive(twin, agv, drive)
    assert twin.agvs.loaded[0]
    counters = twin.agvs.counters
    assert counters.wait_unassigned_s == 600
    assert counters.wait_agv_on_its_way_s == len(drive)
    assert counters.wait_unassigned_s + counters.wait_agv_on_its_way_s == twin.stock.counters.task_waits_s[-1]
