import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.model import AgvSpec, Calendar, FloorGrid, Job, MaterialTask, Operation, Order, OrderStatus
from mixflow.model.plant import ALL_EXITS


def test_calendar_next_working_second() -> None:
    cal = Calendar(((6 * 3600, 14 * 3600), (14 * 3600, 22 * 3600)))
    assert cal.working_s_per_day == 16 * 3600
    assert cal.next_working(0) == 6 * 3600
    assert cal.next_working(7 * 3600) == 7 * 3600
    assert cal.next_working(23 * 3600) == 86_400 + 6 * 3600
    assert not cal.is_working(23 * 3600)
    with pytest.raises(ValidationError, match="shift"):
        Calendar(((10, 5),))


def test_floor_rejects_blocked_special_cells() -> None:
    blocked = np.zeros((4, 5), dtype=bool)
    blocked[1, 2] = True
    exits = np.full((4, 5), ALL_EXITS, dtype=np.uint8)
    FloorGrid(5, 4, blocked, exits, 1.0, warehouse_cells=((0, 0),), chargers=((4, 3),), parking=((1, 1),))
    with pytest.raises(ValidationError, match=r"charger \(2, 1\)"):
        FloorGrid(5, 4, blocked, exits, 1.0, warehouse_cells=(), chargers=((2, 1),), parking=())
    with pytest.raises(ValidationError, match="4x5"):
        FloorGrid(5, 4, blocked[:3], exits, 1.0, (), (), ())


def test_agv_spec_validates() -> None:
    with pytest.raises(ValidationError, match="battery_kwh"):
        AgvSpec(speed_m_s=1, payload_kg=1, battery_kwh=0, charge_kw=1, drain_kwh_per_m=0.1)


def test_order_history_moves_forward_only() -> None:
    order = Order("O1", "C1", {"family": "dump"}, placed_s=100, requested_s=500)
    assert order.status is OrderStatus.PLACED
    promised = order.promised(400, at_s=120)
    assert promised.status is OrderStatus.PROMISED and promised.promised_s == 400
    assert promised.reached(OrderStatus.PLACED) == 100
    with pytest.raises(ValidationError, match="precedes"):
        promised.advanced(OrderStatus.SEQUENCED, at_s=110)
    with pytest.raises(ValidationError, match="requested date"):
        Order("O2", "C1", {"a": "b"}, placed_s=100, requested_s=50)


def test_work_validation() -> None:
    op = Operation("op1", "j1", "cab_weld", 30)
    assert Job("j1", "O1", "cab", "cab", (op, op), release_s=0, due_s=100).work_s == 60
    with pytest.raises(ValidationError, match="duration_s"):
        Operation("op2", "j1", "cab_weld", 0)
    with pytest.raises(ValidationError, match="same cell"):
        MaterialTask("t1", "cab", (1, 1), (1, 1), 0, 10, 100.0)


def test_merged_stations_do_the_base_work_of_every_position() -> None:
    from mixflow.reference import build_plant

    full, half = build_plant(1.0), build_plant(0.5)
    assert full.lines[0].station_work({}).tolist() == [170] * 60
    assert half.lines[0].station_work({}).tolist() == [340] * 30
    work = half.lines[0].station_work({14: 150, 15: 90})  # positions 13-14 -> station 7, 15-16 -> station 8
    assert (work[6], work[7]) == (340 + 150, 340 + 90)
    # the work-to-takt ratio is the same at every scale
    assert (
        full.lines[0].station_work({}).sum() / full.lines[0].takt_s
        == half.lines[0].station_work({}).sum() / (half.lines[0].takt_s) * 2
    )
