"""The twin executes commands and reports events; it decides nothing."""

from __future__ import annotations

import numpy as np
import pytest

from mixflow.model import DAY_S
from mixflow.model.port import (
    LineStopped,
    MachineDown,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    PostTask,
    ReleaseToLine,
    StartOperation,
)
from mixflow.model.work import MaterialTask
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.twin import Scenario, Storm, Twin
from mixflow.twin.line import LineState


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    plant = build_plant(0.05, 0)
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, 1, 0)
    return plant, catalogue, orders


def _drain(twin: Twin, until: int) -> list:  # type: ignore[type-arg]
    events = []
    while twin.now_s < until:
        events += twin.poll(until)
    return events


def test_orders_arrive_at_their_time(small) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = small
    twin = Twin(plant, catalogue, orders, Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0), 0)
    events = _drain(twin, DAY_S)
    placed = [e for e in events if isinstance(e, OrderPlaced)]
    assert [e.order.id for e in placed] == [o.id for o in orders]
    assert all(e.at_s == e.order.placed_s for e in placed)


def test_an_operation_runs_in_working_time(small) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, _orders = small
    twin = Twin(plant, catalogue, [], Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0, process_noise=0), 0)
    machine = plant.machines[0].id
    twin.submit([StartOperation("op-1", machine, 0, duration_s=600, order_id="X", part="cab", final=True)])
    events = _drain(twin, DAY_S)
    started = next(e for e in events if isinstance(e, OperationStarted))
    done = next(e for e in events if isinstance(e, OperationDone))
    assert started.at_s == 6 * 3600  # the shift starts at 06:00
    assert done.at_s == 6 * 3600 + 600


def test_a_storm_takes_machines_down_and_work_waits_for_the_repair(small) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, _ = small
    shop = plant.shop("cab")
    storm = Storm("cab", 1.0, 7 * 3600, 3600)
    scenario = Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0, process_noise=0, storms=(storm,))
    twin = Twin(plant, catalogue, [], scenario, 0)
    machine = shop.groups[0].machines[0].id
    twin.submit([StartOperation("op-1", machine, 0, duration_s=7200, order_id="X", part="cab")])
    events = _drain(twin, DAY_S)
    downs = [e for e in events if isinstance(e, MachineDown)]
    assert len(downs) == shop.machine_count
    done = next(e for e in events if isinstance(e, OperationDone))
    assert done.at_s == 6 * 3600 + 7200 + 3600


def _first_line(twin: Twin) -> LineState:
    return twin.lines[twin.plant.lines[0].id]


def _released_with_part_missing(small, station_index: int, part: str):  # type: ignore[no-untyped-def]
    """A truck released to the line with one `part` called for station `station_index` that never
    comes; returns the twin, the order, the station and what happened in the day after."""
    plant, catalogue, orders = small
    order = orders[0]
    twin = Twin(plant, catalogue, [order], Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0), 0)
    _drain(twin, order.placed_s)
    station = plant.lines[0].stations[station_index]
    task = MaterialTask("T1", part, plant.shop(part).outbound_cell, station.drop_cell, 0, DAY_S, 10.0,
                        order.id, str(station_index))
    twin.submit([PostTask(task), ReleaseToLine(order.id, 0)])
    return twin, order, station, _drain(twin, order.placed_s + DAY_S)


def test_the_line_stops_for_a_missing_part(small) -> None:  # type: ignore[no-untyped-def]
    _, order, station, events = _released_with_part_missing(small, 1, "axle")
    stops = [e for e in events if isinstance(e, LineStopped)]
    assert stops and stops[0].order_id == order.id and "missing part" in stops[0].cause
    assert stops[0].station_id == station.id


def test_a_truck_waits_at_the_line_head_for_its_frame(small) -> None:  # type: ignore[no-untyped-def]
    """Without the parts of the first station the truck stays in the queue and the line runs empty
    pitches instead of stopping."""
    twin, order, _, events = _released_with_part_missing(small, 0, "frame")
    assert not [e for e in events if isinstance(e, LineStopped)]
    assert list(_first_line(twin).queue) == [order.id] and all(o is None for o in _first_line(twin).at)
    assert _first_line(twin).held_for_parts == _first_line(twin).empty_slots > 0


def test_a_spacer_leaves_empty_pitches_before_a_truck(small) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = small
    first, second = orders[0], orders[1]
    twin = Twin(plant, catalogue, [first, second], Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0), 0)
    start = max(first.placed_s, second.placed_s)
    _drain(twin, start)
    twin.submit([ReleaseToLine(first.id, 0), ReleaseToLine(second.id, 1, spacing=1)])
    while _first_line(twin).indexes < 3:
        twin.poll(twin.now_s + 60)
    assert _first_line(twin).at[:3] == [second.id, None, first.id]
    assert _first_line(twin).spaced == 1 and _first_line(twin).held_for_parts == 0


def test_a_spacer_counts_the_takts_an_idle_line_stood_still(small) -> None:  # type: ignore[no-untyped-def]
    plant = small[0]
    takt = plant.lines[0].takt_s
    for pause, entered in ((takt, None), (3 * takt, "B")):
        line = LineState(plant.lines[0], lambda order: np.zeros(len(plant.lines[0].stations), dtype=np.int64))
        line.queue.append("A")
        line.index(0)
        line.queue.append("B")
        line.spacing["B"] = 1
        line.index(pause)
        assert line.at[0] == entered and line.spaced == (entered is None)


def test_an_order_placed_live_arrives(small) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = small
    twin = Twin(plant, catalogue, [], Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0), 0)
    twin.place_order(orders[0])
    twin.place_order(orders[0])  # twice is once
    placed = [e for e in _drain(twin, DAY_S) if isinstance(e, OrderPlaced)]
    assert [e.order.id for e in placed] == [orders[0].id]
