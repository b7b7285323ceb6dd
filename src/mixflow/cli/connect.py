"""`mixflow connect ...`: the industrial-internet gateway, its benchmark, and the twin behind the broker.

The twin-as-devices wiring needs the twin and the scheduler together, so it lives here in the CLI
layer (`mixflow.connect` itself never imports `twin` or `plan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import typer

from mixflow.cli.options import (
    CATALOGUE,
    JSON,
    PLANT,
    SCALE,
    SEED,
    check_sources,
    resolve_plant,
    source_paths,
)
from mixflow.connect import topics
from mixflow.connect.bench import BenchSpec, run_bench
from mixflow.connect.broker import Broker, parse_broker
from mixflow.connect.commands import CommandTracker
from mixflow.connect.device import DeviceLink
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.opcua import OpcUaAdapter
from mixflow.connect.opcua_machine import SimulatedMachine
from mixflow.connect.registry import Registry, registry_for_plant
from mixflow.connect.sim import FactoryDevices
from mixflow.errors import MixflowError, ValidationError
from mixflow.model import Plant
from mixflow.model.port import Factory
from mixflow.plan import PlanOptions, Scheduler
from mixflow.store.db import connect as connect_store
from mixflow.twin import Scenario, Twin, prepare

app = typer.Typer(
    help="Machines and AGVs over MQTT and OPC UA: gateway, devices, benchmark.", no_args_is_help=True
)

BROKER = typer.Option("mqtt://127.0.0.1:1883", "--broker", help="mqtt://[user:pw@]host[:port] or mqtts://...")


@app.command()
def bench(
    broker: str = BROKER,
    devices: int = typer.Option(2000, "--devices", help="Virtual machines publishing telemetry."),
    rate: float = typer.Option(1.0, "--rate", help="Messages per second per device."),
    agvs: int = typer.Option(0, "--agvs", help="Virtual AGVs publishing position and battery."),
    agv_rate: float = typer.Option(5.0, "--agv-rate", help="Messages per second per AGV."),
    seconds: float = typer.Option(10.0, "--seconds", help="How long the devices publish."),
    gateways: int = typer.Option(1, "--gateways", help="Gateway processes sharing the shards."),
    publishers: int = typer.Option(1, "--publishers", help="Load-generator processes."),
    json_payloads: bool = typer.Option(False, "--json-payloads", help="JSON instead of MessagePack."),
    db: str | None = typer.Option(None, "--db", help="Storage URL (default: a temporary SQLite file)."),
    baseline: bool = typer.Option(
        False, "--baseline", help="Ingest with aiomqtt's iterator (for comparison)."
    ),
    as_json: bool = JSON,
) -> None:
    """Devices -> broker -> gateway -> validation -> storage, end to end; prints counts, rate, latency."""
    spec = BenchSpec(
        devices,
        rate,
        seconds,
        agvs=agvs,
        agv_rate_hz=agv_rate,
        gateways=gateways,
        publishers=publishers,
        binary=not json_payloads,
        db_url=db,
        baseline=baseline,
    )
    result = run_bench(parse_broker(broker), spec)
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>16}: {value}")


PLANT_ID = typer.Option("changsha", "--plant-id", help="Plant id: the second level of the topic tree.")
DB = typer.Option("sqlite:///mixflow.db", "--db", help="Store URL (sqlite:///file.db or postgresql://...).")


@app.command()
def provision(
    scale: float = SCALE,
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    plant_id: str = PLANT_ID,
    secret: str = typer.Option(..., "--secret", help="Provisioning secret; device passwords derive from it."),
    gateway_password: str = typer.Option(
        ..., "--gateway-password", help="Password of the gateway's account."
    ),
    db: str = DB,
    passwd_file: Path = typer.Option(..., "--passwd-file", help="Mosquitto password file to write."),
    acl_file: Path = typer.Option(..., "--acl-file", help="Mosquitto ACL file to write."),
    as_json: bool = JSON,
) -> None:
    """Register every machine, AGV and the line of the plant; write the broker's password file and ACL."""
    the_plant, _ = resolve_plant(plant, catalogue, scale, seed, 1.0)
    registry = registry_for_plant(the_plant, plant_id, secret)
    engine, _ = connect_store(db)
    registry.save(engine)
    registry.write_mosquitto_passwords(passwd_file, gateway_password)
    registry.write_mosquitto_acl(acl_file)
    facts = {
        "plant": plant_id,
        "devices": len(registry),
        "passwd_file": str(passwd_file),
        "acl_file": str(acl_file),
    }
    print(json.dumps(facts) if as_json else f"registered {len(registry)} devices of {plant_id}")


@app.command()
def gateway(
    broker: str = BROKER,
    plant_id: str = PLANT_ID,
    db: str = DB,
    gateway_id: str = typer.Option("gw0", "--gateway-id", help="Unique per process; names the MQTT session."),
    index: int = typer.Option(
        0, "--index", help="This gateway's index among --count (owns shards index mod count)."
    ),
    count: int = typer.Option(1, "--count", help="How many gateways share the shards."),
    session_expiry_s: int = typer.Option(
        3600, "--session-expiry", help="How long the broker keeps our session."
    ),
    keep_raw_s: int = typer.Option(
        0, "--keep-raw", help="Downsample samples older than this many seconds (0: never)."
    ),
    bucket_s: int = typer.Option(60, "--rollup-bucket", help="Rollup bucket width in seconds."),
    ca_file: str | None = typer.Option(None, "--tls-ca", help="CA file for mqtts://."),
    cert_file: str | None = typer.Option(None, "--tls-cert", help="Client certificate for mqtts://."),
    key_file: str | None = typer.Option(None, "--tls-key", help="Client key for mqtts://."),
) -> None:
    """Run a gateway for the devices registered in --db until interrupted; prints its counters as JSON."""
    engine, _ = connect_store(db)
    registry = Registry.load(engine, topics.check_name("--plant-id", plant_id))
    if not len(registry):
        raise ValidationError(
            "--plant-id", f"no devices registered for plant {plant_id!r} in {db} (run provision)"
        )
    config = GatewayConfig(
        gateway_id=gateway_id,
        index=index,
        count=count,
        session_expiry_s=session_expiry_s,
        keep_raw_s=keep_raw_s,
        rollup_bucket_s=bucket_s,
    )
    service = Gateway(parse_broker(broker, ca_file, cert_file, key_file), Ingest(registry), config, engine)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await service.start()
        print(json.dumps({"gateway": gateway_id, "started": True}), flush=True)
        await stop.wait()
        await service.stop()

    asyncio.run(serve())
    print(json.dumps(service.stats()), flush=True)


@app.command()
def devices(
    broker: str = BROKER,
    scale: float = SCALE,
    days: int = typer.Option(2, "--days", help="Days of order arrivals, as in `mixflow demo`."),
    seed: int = SEED,
    plant_id: str = PLANT_ID,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
) -> None:
    """Play the twin as the plant's devices over the broker (in lock step with the cloud) until stopped."""
    check_sources(plant, catalogue, scale, seed, 1.0)
    plant_path, catalogue_path = source_paths(plant, catalogue)
    scenario = Scenario(scale=scale, days=days, plant_file=plant_path, catalogue_file=catalogue_path)
    counters = serve_devices(parse_broker(broker), scenario, seed, plant_id)
    print(json.dumps(counters), flush=True)


DEMO_SCALE = 0.05


@app.command()
def demo(
    broker: str = BROKER,
    scale: float = typer.Option(
        DEMO_SCALE, "--scale", help="Reference plant size (1.0 = 2,040 machines, 720 AGVs)."
    ),
    days: int = typer.Option(1, "--days", help="Days of order arrivals."),
    hours: float = typer.Option(4.0, "--hours", help="Plant hours to run both ways."),
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    as_json: bool = JSON,
) -> None:
    """Run the scheduler on the twin in-process and through the broker (twin as devices); compare KPIs."""
    if hours <= 0:
        raise ValidationError("--hours", f"must be positive, got {hours:g}")
    check_sources(plant, catalogue, scale, seed, DEMO_SCALE)
    plant_path, catalogue_path = source_paths(plant, catalogue)
    scenario = Scenario(scale=scale, days=days, plant_file=plant_path, catalogue_file=catalogue_path)
    result = compare_over_mqtt(parse_broker(broker), scenario, seed, int(hours * 3600))
    if as_json:
        print(json.dumps(result, default=str))
        return
    print(f"same KPIs: {result['same_kpis']} (differing: {result['differing']})")
    print(f"in-process {result['in_process_s']} s, over MQTT {result['over_mqtt_s']} s")
    print(f"gateway: {result['gateway']}")


# -- the twin behind the broker ----------------------------------------------------------------

LOCKSTEP_HEARTBEAT_MS = 10**15  # simulated devices have no wall-clock heartbeat
# scheduler KPIs that measure our own computer, not the plant
MACHINE_DEPENDENT = ("decision", "wall", "cpu")


def serve_devices(broker: Broker, scenario: Scenario, seed: int, plant_id: str) -> dict[str, int]:
    """Play the twin as the plant's devices until SIGINT/SIGTERM; returns the edge's counters."""
    plant, catalogue, orders = prepare(scenario, seed)
    twin = Twin(plant, catalogue, orders, scenario, seed)
    edge = FactoryDevices(twin, broker, plant_id, plant.lines[0].id)

    async def serve() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(edge.run(ready))
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, task.cancel)
        await ready.wait()
        print('{"devices": "ready"}', flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(serve())
    return edge.counters


def _scheduler(plant: Plant, scenario: Scenario, seed: int, catalogue: Any) -> Scheduler:
    options = PlanOptions()
    return Scheduler(plant, catalogue, None, options, seed=seed)


def _drive(scheduler: Scheduler, factory: Factory, until_s: int) -> None:
    scheduler.run(factory, until_s)


def plant_kpis(scheduler: Scheduler, plant: Plant, scenario: Scenario, now_s: int) -> dict[str, Any]:
    kpis = scheduler.kpis.summary(plant, scenario.days, max(1, now_s))
    return {k: v for k, v in kpis.items() if not any(word in k for word in MACHINE_DEPENDENT)}


def _source_args(scenario: Scenario) -> list[str]:
    """The command-line options that name the scenario's plant and catalogue to another process."""
    if scenario.plant_file is not None:
        args = ["--plant", scenario.plant_file]
    else:
        args = ["--scale", str(scenario.scale)]
    if scenario.catalogue_file is not None:
        args += ["--catalogue", scenario.catalogue_file]
    return args


def compare_over_mqtt(broker: Broker, scenario: Scenario, seed: int, until_s: int) -> dict[str, Any]:
    """Run the scheduler on the twin in-process, then on the twin played as devices through the broker,
    to `until_s`; returns both KPI sets, whether they agree, and the traffic it took."""
    plant, catalogue, orders = prepare(scenario, seed)
    began = time.perf_counter()
    local = _scheduler(plant, scenario, seed, catalogue)
    twin = Twin(plant, catalogue, orders, scenario, seed)
    _drive(local, twin, until_s)
    local_kpis = plant_kpis(local, plant, scenario, twin.now_s)
    local_s = time.perf_counter() - began

    plant_id = f"demo{uuid.uuid4().hex[:8]}"
    url = f"mqtt://{broker.host}:{broker.port}"
    command = [
        sys.executable,
        "-m",
        "mixflow",
        "connect",
        "devices",
        "--broker",
        url,
        *_source_args(scenario),
        "--days",
        str(scenario.days),
        "--seed",
        str(seed),
        "--plant-id",
        plant_id,
    ]
    devices = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert devices.stdout is not None
        if "ready" not in devices.stdout.readline():
            raise MixflowError(f"devices did not start: {devices.stderr.read() if devices.stderr else ''}")
        registry = registry_for_plant(plant, plant_id, uuid.uuid4().hex, LOCKSTEP_HEARTBEAT_MS)
        config = GatewayConfig(
            gateway_id="demo", lockstep=True, line_id=plant.lines[0].id, session_expiry_s=0
        )
        began = time.perf_counter()
        remote = _scheduler(plant, scenario, seed, catalogue)
        tracker = CommandTracker(ack_timeout_ms=600_000, max_resends=0)
        with MqttFactory(broker, registry, epoch_ms=0, config=config, tracker=tracker) as factory:
            _drive(remote, factory, until_s)
            remote_kpis = plant_kpis(remote, plant, scenario, factory.now_s)
            stats = {**factory.stats(), "round_trips": factory.gateway.clock_n}
        remote_s = time.perf_counter() - began
    finally:
        devices.send_signal(signal.SIGTERM)
        devices.wait(30)
    differing = sorted(k for k in local_kpis if local_kpis[k] != remote_kpis.get(k))
    return {
        "until_s": until_s,
        "same_kpis": not differing,
        "differing": differing,
        "in_process": local_kpis,
        "over_mqtt": remote_kpis,
        "in_process_s": round(local_s, 2),
        "over_mqtt_s": round(remote_s, 2),
        "gateway": {
            k: stats.get(k, 0)
            for k in ("round_trips", "received", "event", "state", "acks", "rejected", "duplicates")
        },
    }


# -- OPC UA ------------------------------------------------------------------------------------------


@app.command("opcua-machine")
def opcua_machine(
    machine_id: str = typer.Option("press-1", "--machine", help="Machine id (the OPC UA object's name)."),
    port: int = typer.Option(4840, "--port", help="OPC UA TCP port on 127.0.0.1."),
    cycle_s: float = typer.Option(5.0, "--cycle", help="Seconds per simulated operation."),
    seed: int = SEED,
) -> None:
    """Serve a simulated machine over OPC UA: one operation per cycle, a fault every tenth, until stopped."""

    async def serve() -> None:
        async with SimulatedMachine(machine_id, port, seed) as machine:
            print(json.dumps({"endpoint": machine.endpoint, "machine": machine_id}), flush=True)
            for n in itertools.count(1):
                await machine.run_cycle(f"{machine_id}-op{n}", steps=5, step_s=cycle_s / 5)
                if n % 10 == 0:
                    await machine.fail("simulated fault")
                    await asyncio.sleep(cycle_s)
                    await machine.repair()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


@app.command("opcua-bridge")
def opcua_bridge(
    endpoint: str = typer.Option(..., "--endpoint", help="opc.tcp://host:port/path of the machine's server."),
    machine_id: str = typer.Option(..., "--machine", help="Machine id: the OPC UA object and the device id."),
    broker: str = BROKER,
    plant_id: str = PLANT_ID,
    password: str | None = typer.Option(
        None, "--password", help="The device's MQTT password (if the broker asks)."
    ),
) -> None:
    """Bridge one OPC UA machine into the topic tree (kind `opcua`), until stopped."""

    async def serve() -> None:
        async with DeviceLink(parse_broker(broker), plant_id, "opcua", machine_id, password) as link:
            adapter = OpcUaAdapter(endpoint, machine_id, link.publish_raw)
            await adapter.run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
