"""Each AGV's VDA 5050 state in the snapshot the plant and planner pages read: derived from the twin's
fleet model, and taken from the vehicles' own `state` messages where the fleet speaks VDA 5050."""

from __future__ import annotations

import asyncio
import json
import time
import typing

import numpy as np

from mixflow.api import Settings
from mixflow.api.agv_states import (
    AGV_FLAGS,
    BREAKDOWN,
    CHARGING,
    DRIVING,
    FATAL,
    MODE_STEP,
    OFFLINE,
    OPERATING_MODES,
    PAUSED,
    WARNING,
)
from mixflow.api.schemas import PlantState
from mixflow.api.twin_plant import TwinPlant
from mixflow.connect.broker import Broker
from mixflow.connect.vda5050.fleet_factory import VdaFleetFactory
from mixflow.connect.vda5050.master import VehicleId
from mixflow.connect.vda5050.models import MAP_ID, OperatingMode
from mixflow.connect.vda5050.orders import FloorMap
from mixflow.connect.vda5050.topics import vehicle_topics
from mixflow.connect.wire import WireClient
from mixflow.model import DAY_S
from mixflow.twin import agvs as twin_agvs
from tests.connect.test_vda5050_master import SCHEMAS, CheckedMaster, header, state

from .conftest import SECRET

AT = "2026-01-01T00:00:00Z"


def twin_plant() -> TwinPlant:
    return TwinPlant(Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05), warm_up_s=0)


def test_the_twin_s_agvs_drive_charge_and_break_down_in_vda_5050_terms() -> None:
    live = twin_plant()
    seen = {"driving": 0, "charging": 0, "broken": 0, "paused twin": 0}
    try:
        with live._lock:
            agvs = live.twin.agvs
            before = (agvs.x.copy(), agvs.y.copy())
            live.take_snapshot()
            # a minute at a time until the seeded twin has broken an AGV down (6 h in) and put one on a
            # charger (18 h in)
            t = 0
            while not (seen["charging"] and seen["broken"]):
                t += 60
                assert t < DAY_S, seen
                live._advance_to(t)
                snap = live.take_snapshot()
                codes = np.array(snap["agv_vda"])
                moved = (agvs.x != before[0]) | (agvs.y != before[1])
                broken, charging = agvs.state == twin_agvs.DOWN, agvs.state == twin_agvs.CHARGING
                flags = np.where(moved, DRIVING, 0) | np.where(charging, CHARGING, 0)
                expected = np.where(broken, FATAL, flags)
                assert codes.tolist() == expected.tolist(), t
                assert snap["agv_errors"] == [(int(k), [BREAKDOWN]) for k in np.flatnonzero(broken)]
                seen["driving"] += int(moved.any())
                seen["charging"] += int(charging.any())
                seen["broken"] += int(broken.any())
                before = (agvs.x.copy(), agvs.y.copy())
                if moved.any() and not seen["paused twin"]:  # the twin paused: nothing drives
                    live.set_speed(0)
                    assert not (np.array(live.take_snapshot()["agv_vda"]) & DRIVING).any()
                    live.set_speed(60)
                    seen["paused twin"] = 1
        sent = PlantState.model_validate({"at": AT, **snap})
    finally:
        live.close()
    assert all(seen.values()), seen
    assert len(sent.agv_vda) == len(live.plant.fleet.agv_ids) and sent.agv_vda_flags == list(AGV_FLAGS)
    assert sent.agv_operating_modes[0] == "AUTOMATIC" and max(sent.agv_vda) < MODE_STEP  # all AUTOMATIC


def test_a_vda_5050_vehicle_s_last_state_reaches_the_snapshot(mqtt_broker: tuple[str, int]) -> None:
    live = twin_plant()
    interface = f"t{time.monotonic_ns() % 10**10}"
    agv_ids = live.plant.fleet.agv_ids
    idents = [VehicleId(a, "acme", f"V{k}") for k, a in enumerate(agv_ids)]
    master = CheckedMaster(
        idents, FloorMap(MAP_ID, live.plant.floor.cell_m), interface=interface, validator=SCHEMAS
    )
    errors = [
        {"errorType": "batteryEmpty", "errorLevel": "FATAL", "errorDescription": "charge the vehicle"},
        {"errorType": "orderError", "errorLevel": "WARNING"},
    ]
    heard = {  # what two vehicles say; the others say nothing
        idents[0]: state(
            idents[0],
            (3, 4),
            paused=True,
            errors=errors,
            operatingMode="SEMIAUTOMATIC",
            batteryState={"batteryCharge": 37.0, "charging": True},
        ),
        idents[1]: state(idents[1], (5, 5), driving=True),
    }

    async def vehicles_report() -> None:
        client = WireClient(*mqtt_broker, f"{interface}-vehicles")
        await client.connect()
        for ident, body in heard.items():
            topics = vehicle_topics(ident.manufacturer, ident.serial_number, interface)
            online = {**header(ident), "connectionState": "ONLINE"}
            client.publish_nowait(topics("connection"), json.dumps(online).encode())
            client.publish_nowait(topics("state"), body)
        deadline = time.monotonic() + 10
        while master.counters["states"] < len(heard) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await client.disconnect()

    try:
        with VdaFleetFactory(live.twin, master, Broker(*mqtt_broker)) as fleet:
            live.factory.factory = fleet  # the twin's AGVs behind VDA 5050 vehicles on the broker
            asyncio.run(vehicles_report())
            with live._lock:
                snap = live.take_snapshot()
        sent = PlantState.model_validate({"at": AT, **snap})
    finally:
        live.close()
    assert master.counters["states"] == 2 and master.counters["invalid"] == 0
    first = sent.agv_vda[0]
    assert first & (PAUSED | CHARGING | FATAL | WARNING) == PAUSED | CHARGING | FATAL | WARNING
    assert not first & (DRIVING | OFFLINE)
    assert sent.agv_operating_modes[first // MODE_STEP] == "SEMIAUTOMATIC"
    assert sent.agv_errors == [(0, ["batteryEmpty", "orderError"])] and sent.agv_soc[0] == 0.37
    assert sent.agv_vda[1] == DRIVING and sent.agv_soc[1] == 0.8
    assert typing.get_args(OperatingMode) == OPERATING_MODES  # the web app's copy of the names
    assert set(sent.agv_vda[2:]) == {OFFLINE}  # never heard of: not ONLINE, and their charge the twin's
    assert sent.agv_soc[2:] == live.twin.agvs.soc.round(3).tolist()[2:]
