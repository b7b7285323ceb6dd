"""The plant at scale 0.25 through VDA 5050 + Sparkplug B on the real Mosquitto keeps its KPIs.

`mixflow demo --mqtt` runs this path: machines and the line as devices (`connect devices`; breakdowns
and repairs as a Sparkplug B edge node, the gateway its primary host), the 180 AGVs as VDA 5050
vehicles of two makers (`connect vda-vehicles --lockstep`) behind master control, the scheduler on the
far side of the broker. A whole plant day takes minutes (`benchmarks/vda_plant_day.py` measures it);
this test runs the day's first plant hours, which fit the suite's budget.
"""

from __future__ import annotations

import pytest

from mixflow.cli.connect import compare_over_mqtt
from mixflow.connect.broker import Broker
from mixflow.twin import Scenario

pytestmark = pytest.mark.services

PLANT_HOURS = 3
"""The most of the day that fits 30 s on the shared 2-core box: ~1,000 plant clock steps of ~10 ms
through the broker, after ~15 s of starting three processes that each build the plant."""


def test_the_first_plant_hours_at_scale_a_quarter_through_vda5050_keep_the_in_process_kpis(
    mqtt_broker: tuple[str, int],
) -> None:
    """Every planned step driven by a vehicle that reported reaching it before the plant moved on: one
    vehicle lagging its plan by a step would move a pickup, a delivery and the KPIs after it."""
    result = compare_over_mqtt(
        Broker(*mqtt_broker), Scenario(scale=0.25, days=1), seed=0, until_s=PLANT_HOURS * 3600
    )
    vda = result["vda5050"]
    assert result["same_kpis"], result["differing"]
    assert vda["vehicles"] == 180 and vda["factsheets"] >= 180
    assert vda["order_updates"] > 1000 and vda["advances"] > 900
    assert (vda["lost"], vda["rejected_orders"], vda["invalid"]) == (0, 0, 0)
    assert (vda["unsettled_steps"], vda["unanswered_advances"]) == (0, 0)
    assert result["gateway"]["rejected"] == 0
    sparkplug = result["sparkplug"]
    assert sparkplug["births"] == 1 + 510 and sparkplug["messages"] > sparkplug["births"]  # and states
    assert sparkplug["rebirths_requested"] == 0


def test_a_factsheet_that_contradicts_the_planners_agv_type_is_reported() -> None:
    """The planner gives each AGV its type from the plant; a vehicle whose factsheet carries less than
    that type (it would refuse picks it is assigned) is named, one that matches is not."""
    from dataclasses import replace

    from mixflow.connect.vda5050.factsheets import vehicle_types
    from mixflow.connect.vda5050.fleet_factory import off_the_fleet_model
    from mixflow.connect.vda5050.master import MasterControl, VehicleId
    from mixflow.connect.vda5050.models import MAP_ID
    from mixflow.connect.vda5050.orders import FloorMap
    from mixflow.connect.vda5050.topics import topic
    from mixflow.connect.vda5050.vehicle import Vehicle
    from mixflow.model import AgvSpec, Fleet

    spec = AgvSpec(speed_m_s=1.5, payload_kg=500.0, battery_kwh=20.0, charge_kw=10.0, drain_kwh_per_m=0.01)
    fleet = Fleet(spec, ("agv-1", "agv-2"), ((0, 0), (1, 0)))
    right, _ = vehicle_types(spec)
    light, _ = vehicle_types(replace(spec, payload_kg=300.0))
    master = MasterControl(
        [VehicleId(agv, right.manufacturer, agv) for agv in fleet.agv_ids], FloorMap(MAP_ID, 1.5)
    )
    for agv, kind in zip(fleet.agv_ids, (right, light), strict=True):
        sheet = Vehicle(kind, agv, 0.0, 0.0, "n0_0").factsheet().to_json()
        master.receive(topic(kind.manufacturer, agv, "factsheet"), sheet, 0)
    found = off_the_fleet_model(master, fleet)
    assert len(found) == 1 and found[0].startswith("AGV agv-2") and "300 kg" in found[0], found


def test_the_twins_machines_say_breakdowns_and_repairs_as_sparkplug_device_data() -> None:
    """Births wait for the primary host's STATE online and carry each machine's state; a breakdown and
    its repair are DDATA of `Machine/State` at the event's plant time; an operation is not Sparkplug's."""
    from mixflow.connect.sparkplug import codec
    from mixflow.connect.sparkplug.machines import DOWN, STATE_METRIC, UP, MachineStates
    from mixflow.model.port import MachineDown, MachineUp, OperationDone

    edge = MachineStates("p1", "p1", ["m1", "m2"])
    assert edge.event(MachineDown(5, "m2", "breakdown")) == []  # not born yet: the birth will say it
    assert edge.receive(edge.host_state_topic, codec.state_payload(False, 1), 0) == []
    births = edge.receive(edge.host_state_topic, codec.state_payload(True, 1), 7_000)
    said = {codec.parse_topic(t).device: codec.decode(p) for t, p in births}
    assert [codec.parse_topic(t).message_type for t, _ in births] == ["NBIRTH", "DBIRTH", "DBIRTH"]
    assert [m.string_value for m in said["m1"].metrics] == [UP] and said["m2"].metrics[0].name == STATE_METRIC
    assert said["m2"].metrics[0].string_value == DOWN
    (up,) = edge.event(MachineUp(60, "m2")) or []
    data = codec.decode(up[1])
    assert codec.parse_topic(up[0]).message_type == "DDATA" and data.metrics[0].string_value == UP
    assert data.timestamp == 60_000 and data.seq == 3  # NBIRTH 0, DBIRTHs 1 and 2
    assert edge.event(OperationDone(61, "m1", "op-1")) is None
