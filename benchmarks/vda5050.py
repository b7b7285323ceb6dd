"""VDA 5050 benchmark: the fleet planner driving N simulated vehicles through the local Mosquitto.

The reference plant at scale 1.0 (720 AGVs; `--vehicles N` keeps the first N), a task for every AGV
and more (warehouse rack or shop outbound cell to a line station's drop cell). Two runs of `--steps`
planner steps on the same tasks and seed:

  in_process  the baseline: the fleet planner (`FleetManager.step`) moving its model, no I/O, as the
              scheduler runs it on the twin
  vda5050     the same planner behind the VDA 5050 master control (`VdaLink`): every step's committed
              cells go out as order updates, the vehicles (`VehicleSimulator`, in a child process: one
              MQTT connection each, state at 1 Hz and on every event, visualization at 5 Hz) drive them,
              and the next step starts once every moving vehicle reported its decision point (or after
              `--settle-s`); each order carries `--horizon` cells of the way on to the goal as its
              unreleased horizon (0: none): down the floor's own distance field to the task's pickup
              or drop, as master control finds it on its own in a plant (`--ahead floor`, the
              default), or down the planner's (`--ahead planner`)

Figures: messages lost (sent by one side and never received by the other: states at the master,
visualizations at a display process, as 6.13 means them; also as the vehicles' headerId gaps; orders
sent by the master against received by the vehicles; orders the vehicles rejected); latency from a
vehicle's state at its decision point to its next order update p50/p95/p99 (target p99 < 250 ms;
it includes waiting for the slowest vehicle of the step); the turnaround from the last vehicle's
report to every order of the next step out (the master's own share); the size of the order messages
(bytes, what the horizon adds); the planner's step time in both runs (target: unchanged) and the wall
time per step. Timings are wall-clock on whatever machine runs
this (a shared 2-core box when committed). Prints one JSON.

    python benchmarks/vda5050.py [--json] [--vehicles N] [--steps S] [--pipelined] [--horizon H]
                                 [--ahead floor|planner]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

from mixflow.connect.broker import Broker
from mixflow.connect.vda5050.factsheets import vehicle_types
from mixflow.connect.vda5050.fleet_link import VdaLink
from mixflow.connect.vda5050.horizon import HORIZON_CELLS, Ahead, FloorWays, planner_ahead
from mixflow.connect.vda5050.master import MasterControl, VehicleId
from mixflow.connect.vda5050.models import MAP_ID
from mixflow.connect.vda5050.orders import FloorMap, node_id
from mixflow.connect.vda5050.topics import RETAINED, VehicleTopics, fleet_filter, vehicle_topics
from mixflow.connect.wire import Received, WireClient
from mixflow.fleet import FleetManager, FleetTask
from mixflow.fleet.plant import fleet_for_plant
from mixflow.model import MaterialTask, Plant
from mixflow.model.port import AgvDown, AgvStates, AgvUp, AssignTask, MoveAgvs, PartDelivered, PostTask
from mixflow.reference import build_plant

INTERFACE = "uagvbench"


def plant_of(vehicles: int) -> Plant:
    plant = build_plant(1.0, 0)
    if vehicles < len(plant.fleet.agv_ids):
        plant = replace(plant, fleet=plant.fleet.with_agvs(vehicles, plant.fleet.homes))
    return plant


def fleet_vehicles(plant: Plant) -> list[tuple[str, str, str, tuple[int, int]]]:
    """(agv id, manufacturer, serial number, home) per AGV: the two makers alternate."""
    makers = [t.manufacturer for t in vehicle_types(plant.fleet.spec)]
    return [
        (agv, makers[k % 2], f"S{k:04d}", home)
        for k, (agv, home) in enumerate(zip(plant.fleet.agv_ids, plant.fleet.homes, strict=True))
    ]


def tasks_of(plant: Plant, count: int, seed: int = 0) -> list[MaterialTask]:
    rng = np.random.default_rng(seed)
    sources = list(plant.floor.warehouse_cells) + [s.outbound_cell for s in plant.shops]
    drops = [st.drop_cell for line in plant.lines for st in line.stations]
    return [
        MaterialTask(
            f"t{k}",
            "kit",
            sources[int(rng.integers(len(sources)))],
            drops[int(rng.integers(len(drops)))],
            0,
            10**6,
            100.0,
        )
        for k in range(count)
    ]


def new_fleet(plant: Plant, tasks: list[MaterialTask]) -> FleetManager:
    fleet = fleet_for_plant(plant, seed=0)
    for task in tasks:
        grid = fleet.grid
        fleet.post(FleetTask(task.id, grid.cell(*task.pickup), grid.cell(*task.dropoff), 0, 10**6, 100.0))
    return fleet


def commands_of(
    fleet: FleetManager, told: list[str | None], agv_ids: tuple[str, ...], now: int, nxt: np.ndarray
) -> list[Any]:
    """The port commands of one fleet step, as `Scheduler._fleet_step` sends them."""
    commands: list[Any] = []
    for robot, task in enumerate(fleet.task_of):
        if task != told[robot]:
            told[robot] = task
            commands.append(AssignTask(agv_ids[robot], task or ""))
    w = fleet.grid.width
    return [MoveAgvs(now, agv_ids, nxt % w, nxt // w), *commands]


def ms_stats(values: list[float], prefix: str) -> dict[str, float]:
    if not values:
        return {}
    a = np.array(values)
    return {
        f"{prefix}_p50": round(float(np.percentile(a, 50)), 2),
        f"{prefix}_p95": round(float(np.percentile(a, 95)), 2),
        f"{prefix}_p99": round(float(np.percentile(a, 99)), 2),
        f"{prefix}_max": round(float(a.max()), 2),
    }


def in_process(plant: Plant, tasks: list[MaterialTask], steps: int) -> dict[str, Any]:
    fleet = new_fleet(plant, tasks)
    told: list[str | None] = [None] * fleet.n_robots
    agv_ids = plant.fleet.agv_ids
    ms, cpu, moves = [], [], 0
    for now in range(steps):
        began, began_cpu = time.perf_counter(), time.thread_time()
        before = fleet.positions.copy()
        nxt = fleet.step()
        ms.append((time.perf_counter() - began) * 1000)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        moves += int((nxt != before).sum())
        commands_of(fleet, told, agv_ids, now, nxt)
    return {
        "steps": steps,
        "moves": moves,
        "delivered": fleet.delivered,
        **ms_stats(ms, "step_ms"),
        **ms_stats(cpu, "step_cpu_ms"),
    }


def ahead_of(plant: Plant, fleet: FleetManager, horizon: int, ways: str) -> Ahead | None:
    """The horizon's hook: the floor's ways (what a plant runs) or the planner's; None for no horizon."""
    if horizon <= 0:
        return None
    if ways == "floor":
        return FloorWays(plant.floor, horizon)
    return planner_ahead(fleet.planner, plant.fleet.agv_ids, horizon)


def without_broker(
    plant: Plant, tasks: list[MaterialTask], steps: int, horizon: int, ways: str
) -> dict[str, Any]:
    """The master's own share, no broker, in CPU time (what a busy box does not inflate much): the
    planner's steps go through `MasterControl.submit` into order messages, vehicles of our own
    (`vehicle.Vehicle`, no I/O) take them and drive the second, and each reports one state back to
    `MasterControl.receive`. Medians over the steps after the first (which opens every order)."""
    from mixflow.connect.vda5050.vehicle import Vehicle

    fleet = new_fleet(plant, tasks)
    told: list[str | None] = [None] * fleet.n_robots
    agv_ids = plant.fleet.agv_ids
    named = fleet_vehicles(plant)
    master = MasterControl(
        [VehicleId(a, m, s) for a, m, s, _ in named],
        FloorMap(MAP_ID, plant.floor.cell_m),
        ahead=ahead_of(plant, fleet, horizon, ways),
    )
    kinds = {t.manufacturer: t for t in vehicle_types(plant.fleet.spec, pick_s=0.0, drop_s=0.0)}
    cell_m = plant.floor.cell_m
    vehicles = {a: Vehicle(kinds[m], s, x * cell_m, y * cell_m, node_id((x, y))) for a, m, s, (x, y) in named}
    state_topics = {a: vehicle_topics(m, s)("state") for a, m, s, _ in named}
    for agv, vehicle in vehicles.items():
        master.receive(state_topics[agv], vehicle.state().to_json(), 0)
    master.submit([PostTask(t) for t in tasks], 0)
    cpu: dict[str, list[float]] = {
        "master_submit_ms": [],  # the step's commands into order messages, encoded
        "master_receive_us_per_state": [],
        "vehicle_order_us": [],  # what one of our simulated vehicles takes to check and accept one
    }
    order_bytes: list[int] = []
    for now in range(1, steps + 1):
        nxt = fleet.step()
        commands = commands_of(fleet, told, agv_ids, now, nxt)
        began = time.process_time()
        sent = [(m, m.payload()) for m in master.submit(commands, now)]
        cpu["master_submit_ms"].append(1000 * (time.process_time() - began))
        order_bytes.extend(len(body) for m, body in sent if m.subtopic == "order")
        began = time.process_time()
        for m, body in sent:
            if m.subtopic == "order":
                vehicles[m.agv_id].receive_order(body)
            else:
                vehicles[m.agv_id].receive_instant_actions(body)
        cpu["vehicle_order_us"].append(1e6 * (time.process_time() - began) / max(1, len(sent)))
        for _ in range(5):
            for vehicle in vehicles.values():
                vehicle.advance(0.2)
        states = [(state_topics[a], v.state().to_json()) for a, v in vehicles.items()]
        began = time.process_time()
        for topic, body in states:
            master.receive(topic, body, now)
        cpu["master_receive_us_per_state"].append(1e6 * (time.process_time() - began) / len(states))
        master.take_events(now)
    return {
        "steps": steps,
        "horizon_cells": horizon,
        "horizon_from": ways if horizon > 0 else "",
        "orders_per_step": round(len(order_bytes) / steps, 1),
        "order_bytes_mean": round(float(np.mean(order_bytes)), 1) if order_bytes else 0.0,
        **{f"{k}_p50": round(float(np.median(v[1:])), 2) for k, v in cpu.items()},
        "rejected": master.counters["rejected_orders"],
        "invalid": master.counters["invalid"],
    }


async def through_vda(
    plant: Plant,
    tasks: list[MaterialTask],
    steps: int,
    broker: Broker,
    settle_s: float,
    pipelined: bool,
    horizon: int,
    ways: str,
) -> dict[str, Any]:
    fleet = new_fleet(plant, tasks)
    told: list[str | None] = [None] * fleet.n_robots
    agv_ids = plant.fleet.agv_ids
    idents = [VehicleId(a, m, s) for a, m, s, _ in fleet_vehicles(plant)]
    ahead = ahead_of(plant, fleet, horizon, ways)
    master = MasterControl(idents, FloorMap(MAP_ID, plant.floor.cell_m), interface=INTERFACE, ahead=ahead)
    clock = [0]
    link = VdaLink(master, broker, lambda: clock[0], client_id="vda5050-bench-master")
    await link.start()
    display = subprocess.Popen(
        [sys.executable, __file__, "--count-visualization", "--broker-port", str(broker.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert display.stdout is not None and display.stdin is not None
    await asyncio.get_running_loop().run_in_executor(None, display.stdout.readline)  # "ready"
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-vehicles", str(len(agv_ids)), "--broker-port", str(broker.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    began = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)  # "ready"
    connect_s = time.perf_counter() - began
    deadline = time.perf_counter() + 30
    while sum(1 for v in master.vehicles.values() if v.cell is not None) < len(agv_ids):
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.1)
    index = {a: i for i, a in enumerate(agv_ids)}
    link.submit([PostTask(t) for t in tasks], 0)
    ms: list[float] = []
    walls: list[float] = []
    turnaround: list[float] = []  # last vehicle in -> every order of the next step out
    cpu: list[float] = []  # the planner's own CPU time: what contention for the cores does not inflate
    order_bytes: list[float] = []
    counts = {"unsettled": 0, "moves": 0, "delivered": 0}

    def plan(now: int) -> list[Any]:
        """Take in what the vehicles reported, step the planner, and return the step's commands."""
        for event in link.take_events():
            if isinstance(event, AgvStates):
                robots = [index[a] for a in event.agv_ids]
                fleet.soc_kwh[robots] = event.soc * fleet.battery_kwh[robots]
            elif isinstance(event, AgvDown | AgvUp):
                fleet.set_broken(index[event.agv_id], isinstance(event, AgvDown))
            elif isinstance(event, PartDelivered):
                counts["delivered"] += 1
        began, began_cpu = time.perf_counter(), time.thread_time()
        before = fleet.positions.copy()
        nxt = fleet.step()
        ms.append((time.perf_counter() - began) * 1000)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        counts["moves"] += int((nxt != before).sum())
        return commands_of(fleet, told, agv_ids, now, nxt)

    planned: list[Any] | None = None
    cpu_began = time.process_time()
    for now in range(1, steps + 1):
        wall = time.perf_counter()
        clock[0] = now
        sent = link.submit(planned if planned is not None else plan(now), now)
        turnaround.append((time.perf_counter() - wall) * 1000)
        planned = plan(now + 1) if pipelined and now < steps else None  # while the vehicles drive
        if not await link.settled(settle_s):
            counts["unsettled"] += 1
        walls.append(time.perf_counter() - wall)
        order_bytes.extend(len(m.payload()) for m in sent if m.subtopic == "order")
    master_cpu_s = time.process_time() - cpu_began  # the master, its link and the planner
    await asyncio.sleep(1.5)  # the last states and visualizations in
    child.stdin.write("stop\n")
    child.stdin.flush()
    sim = json.loads(await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline))
    child.wait(60)
    display.stdin.write("stop\n")
    display.stdin.flush()
    shown = json.loads(await asyncio.get_running_loop().run_in_executor(None, display.stdout.readline))
    display.wait(30)
    await link.stop()
    await clear_retained(broker, [vehicle_topics(i.manufacturer, i.serial_number, INTERFACE) for i in idents])
    sent_orders = master.counters["orders"] + master.counters["updates"]
    lost = master.lost()
    return {
        "steps": steps,
        "moves": counts["moves"],
        "vehicles_connected_s": round(connect_s, 1),
        "messages": {
            "states_received": master.counters["states"],
            "visualizations_received_by_display": shown["received"],
            "orders_sent": sent_orders,
            "orders_received_by_vehicles": sim["received"].get("order", 0),
            "sent_by_vehicles": sim["sent"],
        },
        "lost": {  # sent by one side, never received by the other
            "state": sim["sent"].get("state", 0) - master.counters["states"] - master.counters["invalid"],
            "visualization": sim["sent"].get("visualization", 0) - shown["received"],
            "order": sent_orders - sim["received"].get("order", 0),
            "state_header_gaps": lost.get("state", 0),
            "visualization_header_gaps": shown["header_gaps"],
        },
        "orders_rejected": sim["orders"].get("rejected", 0),
        "invalid": master.counters["invalid"],
        "delivered_parts": counts["delivered"],
        "steps_not_settled": counts["unsettled"],
        "pipelined": pipelined,
        "horizon_cells": horizon,
        "horizon_from": ways if horizon > 0 else "",
        "bad_horizons": master.counters["bad_horizons"],
        "order_bytes_mean": round(float(np.mean(order_bytes)), 1) if order_bytes else 0.0,
        **ms_stats(order_bytes, "order_bytes"),
        **ms_stats(link.latencies_ms, "state_to_order_ms"),
        **ms_stats(turnaround, "turnaround_ms"),
        **ms_stats(ms, "step_ms"),
        **ms_stats(cpu, "step_cpu_ms"),
        **ms_stats([w * 1000 for w in walls], "wall_per_step_ms"),
        "simulator_tick_lag_p99_ms": sim["tick_lag_p99_ms"],
        "cpu_ms_per_step": {  # what the two processes cost: a loaded box stretches wall times, not these
            "master_and_planner": round(1000 * master_cpu_s / steps, 1),
            "vehicles": round(1000 * sim["cpu_s"] / sim["wall_s"] * float(np.mean(walls)), 1),
        },
    }


async def clear_retained(broker: Broker, vehicles: list[VehicleTopics]) -> None:
    """Leave no retained connection or factsheet behind for the next run."""
    client = WireClient(broker.host, broker.port, "vda5050-bench-cleaner")
    await client.connect()
    for topics in vehicles:
        for subtopic in RETAINED:
            client.publish_nowait(topics(subtopic), b"", retain=True)  # type: ignore[arg-type]
    await client.disconnect()


async def count_visualization(port: int) -> None:
    """The display child: counts every vehicle's visualization messages and their headerId gaps until
    "stop" on stdin (a display, not the master control, is what 6.13 sends them to)."""
    heard: dict[str, list[int]] = {}

    def take(batch: list[Received]) -> None:
        for message in batch:
            header = json.loads(message.payload).get("headerId")
            seen = heard.setdefault(message.topic, [header, header, 0])
            seen[0], seen[1], seen[2] = min(seen[0], header), max(seen[1], header), seen[2] + 1

    client = WireClient("127.0.0.1", port, "vda5050-bench-display", on_messages=take)
    await client.connect()
    await client.subscribe([fleet_filter("visualization", INTERFACE)], qos=0)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await client.disconnect()
    received = sum(n for _, _, n in heard.values())
    gaps = sum(last - first + 1 - n for first, last, n in heard.values())
    print(json.dumps({"received": received, "header_gaps": gaps}), flush=True)


async def serve_vehicles(count: int, port: int) -> None:
    """The child: `count` vehicles at the plant's homes until "stop" on stdin, then their counters."""
    from mixflow.connect.vda5050.simulator import VehicleSimulator
    from mixflow.connect.vda5050.vehicle import Vehicle

    plant = plant_of(count)
    kinds = {t.manufacturer: t for t in vehicle_types(plant.fleet.spec, pick_s=0.0, drop_s=0.0)}
    cell_m = plant.floor.cell_m
    vehicles = [
        Vehicle(kinds[m], s, x * cell_m, y * cell_m, node_id((x, y)))
        for _, m, s, (x, y) in fleet_vehicles(plant)
    ]
    sim = VehicleSimulator(Broker("127.0.0.1", port), vehicles, interface=INTERFACE)
    async with sim:
        print("ready", flush=True)
        began, began_cpu = time.perf_counter(), time.process_time()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        wall_s, cpu_s = time.perf_counter() - began, time.process_time() - began_cpu
    print(json.dumps({**sim.counters.as_dict(), "cpu_s": cpu_s, "wall_s": wall_s}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=720)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--settle-s", type=float, default=2.0)
    parser.add_argument(
        "--pipelined",
        action="store_true",
        help="plan step t+1 while the vehicles drive step t (their events then count a step later)",
    )
    parser.add_argument(
        "--horizon", type=int, default=HORIZON_CELLS, help="cells of horizon per order (0: base only)"
    )
    parser.add_argument(
        "--ahead",
        choices=("floor", "planner"),
        default="floor",
        help="the horizon's way: the floor's distance field to the task's goal (what a plant runs) "
        "or the planner's",
    )
    parser.add_argument(
        "--no-broker",
        action="store_true",
        help="only the master's own CPU share per step, vehicles in-process without MQTT",
    )
    parser.add_argument("--broker-port", type=int, default=1883)
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    parser.add_argument("--serve-vehicles", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count-visualization", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a warning per vehicle would drown the figures
    if args.count_visualization:
        asyncio.run(count_visualization(args.broker_port))
        return
    if args.serve_vehicles:
        asyncio.run(serve_vehicles(args.serve_vehicles, args.broker_port))
        return
    plant = plant_of(args.vehicles)
    tasks = tasks_of(plant, 2 * len(plant.fleet.agv_ids))
    if args.no_broker:
        alone = {
            f"horizon_{h}": without_broker(plant, tasks, args.steps, h, args.ahead)
            for h in sorted({0, args.horizon})
        }
        result = {"vehicles": len(plant.fleet.agv_ids), "no_broker": alone}
        print(json.dumps(result, indent=None if args.json else 2))
        return
    result = {
        "vehicles": len(plant.fleet.agv_ids),
        "in_process": in_process(plant, tasks, args.steps),
        "vda5050": asyncio.run(
            through_vda(
                plant,
                tasks,
                args.steps,
                Broker("127.0.0.1", args.broker_port),
                args.settle_s,
                args.pipelined,
                args.horizon,
                args.ahead,
            )
        ),
    }
    base, vda = result["in_process"], result["vda5050"]
    result["targets"] = {
        "no_message_lost": not any(vda["lost"].values()) and vda["orders_rejected"] == 0,
        "state_to_order_p99_below_250_ms": vda.get("state_to_order_ms_p99", 1e9) < 250,
        "step_p95_ratio_vda_to_in_process": round(vda["step_ms_p95"] / max(base["step_ms_p95"], 1e-9), 2),
        "step_cpu_p95_ratio_vda_to_in_process": round(
            vda["step_cpu_ms_p95"] / max(base["step_cpu_ms_p95"], 1e-9), 2
        ),
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
