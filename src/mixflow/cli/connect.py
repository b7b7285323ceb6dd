"""`mixflow connect ...`: the industrial-internet gateway, its benchmark, and the twin behind the broker.

The twin-as-devices wiring needs the twin and the scheduler together, so it lives here in the CLI
layer (`mixflow.connect` itself never imports `twin` or `plan`). No option holds a secret: a broker
password comes from MIXFLOW_BROKER_PASSWORD or `--password-file` (mode 0600), see `connect.broker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from mixflow.connect.broker import PASSWORD_ENV, Broker, broker_errors, parse_broker
from mixflow.connect.commands import CommandTracker
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.mosquitto import BrokerConf
from mixflow.connect.opcua_names import KIND as OPCUA_KIND
from mixflow.connect.opcua_names import PASSWORD_ENV as OPCUA_PASSWORD_ENV
from mixflow.connect.provision import ProvisionFiles
from mixflow.connect.provision import provision as provision_plant
from mixflow.connect.registry import (
    SPARKPLUG_KIND,
    VDA5050_KIND,
    Registry,
    issue_credentials,
    plant_devices,
    standard_device_id,
)
from mixflow.errors import InputFileError, MixflowError, ValidationError
from mixflow.model import Plant
from mixflow.store.db import connect as connect_store
from mixflow.store.db import shown_url

if TYPE_CHECKING:  # the twin, the plan and OPC UA load in the commands that run them (a gateway needs none)
    from mixflow.model.port import Factory
    from mixflow.plan import Scheduler
    from mixflow.twin import Scenario


app = typer.Typer(
    help="Machines and AGVs over MQTT and OPC UA: gateway, devices, benchmark.", no_args_is_help=True
)

BROKER = typer.Option(
    "mqtt://127.0.0.1:1883",
    "--broker",
    help=f"mqtt://[user@]host[:port] or mqtts://...; the password from ${PASSWORD_ENV} or --password-file.",
)
PASSWORD_FILE = typer.Option(
    None, "--password-file", help="File (mode 0600) holding the broker password on its first line."
)
TLS_CA = typer.Option(None, "--tls-ca", help="CA file the broker's certificate must chain to (mqtts://).")
TLS_CERT = typer.Option(None, "--tls-cert", help="Client certificate for mqtts:// (with --tls-key).")
TLS_KEY = typer.Option(None, "--tls-key", help="Client key for mqtts://.")


def _tls_args(broker: Broker) -> list[str]:
    """The TLS options that name `broker`'s files to another process (no secret among them)."""
    args: list[str] = []
    for option, value in (("--tls-ca", broker.ca_file), ("--tls-cert", broker.cert_file)):
        if value:
            args += [option, value]
    if broker.key_file:
        args += ["--tls-key", broker.key_file]
    return args


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
    password_file: str | None = PASSWORD_FILE,
    ca_file: str | None = TLS_CA,
    cert_file: str | None = TLS_CERT,
    key_file: str | None = TLS_KEY,
    as_json: bool = JSON,
) -> None:
    """Devices -> broker -> gateway -> validation -> storage, end to end; prints counts, rate, latency."""
    from mixflow.connect.bench import BenchSpec, run_bench

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
    the_broker = parse_broker(broker, ca_file, cert_file, key_file, password_file)
    with broker_errors(the_broker):
        asyncio.run(_try_login(the_broker, f"bench-probe-{uuid.uuid4().hex[:8]}"))
        result = run_bench(the_broker, spec)
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>16}: {value}")


PLANT_ID = typer.Option("changsha", "--plant-id", help="Plant id: the second level of the topic tree.")
DB = typer.Option("sqlite:///mixflow.db", "--db", envvar="MIXFLOW_DB",
                  help="Store URL (sqlite:///file.db or postgresql://...; or $MIXFLOW_DB, to keep a password "
                  "off the command line).")


@app.command()
def provision(
    scale: float = SCALE,
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    plant_id: str = PLANT_ID,
    db: str = DB,
    passwd_file: Path = typer.Option(..., "--passwd-file", help="Mosquitto password file (merged, 0600)."),
    acl_file: Path = typer.Option(..., "--acl-file", help="Mosquitto ACL file (merged, 0600)."),
    credentials: Path = typer.Option(
        ..., "--credentials", help="JSON file (0600) the new passwords go to, once: hand out, then delete."
    ),
    rotate: bool = typer.Option(False, "--rotate", help="Issue every device a new password."),
    broker_conf: Path | None = typer.Option(
        None, "--broker-conf", help="Write a mosquitto.conf with the settings the gateway's guarantees need."
    ),
    persistence_dir: Path | None = typer.Option(
        None, "--persistence-dir", help="The broker's data folder (default: mosquitto-data beside the conf)."
    ),
    port: int = typer.Option(1883, "--port", help="The broker's plain listener (loopback only with TLS)."),
    tls_port: int = typer.Option(8883, "--tls-port", help="The broker's TLS listener."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA file of the broker's TLS listener."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="The broker's certificate."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The broker's private key."),
    opcua_config: list[Path] = typer.Option(
        [], "--opcua-config", help="An OPC UA bridge's config: its machines are registered as bridged."
    ),
    sparkplug_nodes: list[str] = typer.Option(
        [], "--sparkplug-node", help="A Sparkplug B edge node of --sparkplug-group (repeatable)."
    ),
    sparkplug_group: str = typer.Option(
        "", "--sparkplug-group", help="The edge nodes' group (default: the plant id, as for the gateway)."
    ),
    vda_vehicle: list[str] = typer.Option(
        [], "--vda-vehicle", help="A VDA 5050 vehicle as MANUFACTURER/SERIAL (repeatable)."
    ),
    vda_fleet: bool = typer.Option(
        False,
        "--vda-fleet",
        help="The plant's AGVs as VDA 5050 vehicles (named as in `connect vda-vehicles`).",
    ),
    as_json: bool = JSON,
) -> None:
    """Register every device of the plant with its own random password; write the broker's password
    file, ACL and (--broker-conf) configuration. The gateway's password is $MIXFLOW_GATEWAY_PASSWORD,
    else kept from the password file, else new (in --credentials). A machine named in an
    --opcua-config is registered as bridged from OPC UA (kind `opcua`): its bridge reads its password
    from the credentials file and the gateway sends its commands on its `opcua` topic. Sparkplug B edge
    nodes and VDA 5050 vehicles get an account on their standard's topics, and the gateway the topics
    it needs as their primary host and master control."""
    began = time.perf_counter()
    the_plant, _ = resolve_plant(plant, catalogue, scale, seed, 1.0)
    devices = dict(plant_devices(the_plant))
    for path in opcua_config:
        devices |= bridged_machines(path, plant_id, the_plant)
    standard = standard_devices(
        the_plant, sparkplug_group or plant_id, sparkplug_nodes, vda_vehicle, vda_fleet
    )
    taken = sorted(set(standard) & set(devices))
    if taken:
        raise ValidationError("--sparkplug-node/--vda-vehicle", f"{taken[0]!r} is a plant device already")
    devices |= standard
    conf = None
    if broker_conf is not None:
        data = persistence_dir or broker_conf.parent / "mosquitto-data"
        conf = BrokerConf(broker_conf, passwd_file, acl_file, data, port, tls_port, tls_ca, tls_cert, tls_key)
    elif any(option is not None for option in (persistence_dir, tls_ca, tls_cert, tls_key)):
        raise ValidationError("--broker-conf", "--persistence-dir and --tls-* go into a broker conf")
    engine, _ = connect_store(db)
    files = ProvisionFiles(passwd_file, acl_file, credentials, conf)
    facts = provision_plant(
        engine, topics.check_name("--plant-id", plant_id), devices.items(), files, rotate
    )
    facts["opcua_machines"] = sum(kind == OPCUA_KIND for kind in devices.values())
    facts["sparkplug_nodes"] = sum(kind == SPARKPLUG_KIND for kind in standard.values())
    facts["vda_vehicles"] = sum(kind == VDA5050_KIND for kind in standard.values())
    facts["seconds"] = round(time.perf_counter() - began, 2)
    print(json.dumps(facts) if as_json else _provision_report(facts))


def standard_devices(
    plant: Plant, group: str, edge_nodes: list[str], vehicles: list[str], fleet: bool
) -> dict[str, str]:
    """The accounts (registry id -> kind) of the devices that speak a standard: each edge node of
    `group`, each MANUFACTURER/SERIAL vehicle, and with `fleet` the plant's AGVs as vehicles."""
    from mixflow.connect.vda5050.simulator import plant_vehicles

    found = {standard_device_id(SPARKPLUG_KIND, group, node): SPARKPLUG_KIND for node in edge_nodes}
    named = [] if not fleet else [(v.manufacturer, v.serial_number) for v in plant_vehicles(plant)]
    for value in vehicles:
        manufacturer, slash, serial = value.partition("/")
        if not slash:
            raise ValidationError("--vda-vehicle", f"{value!r} is not MANUFACTURER/SERIAL")
        named.append((manufacturer, serial))
    return found | {standard_device_id(VDA5050_KIND, m, s): VDA5050_KIND for m, s in named}


def bridged_machines(path: Path, plant_id: str, plant: Plant) -> dict[str, str]:
    """The machines an OPC UA bridge config names, as (id -> kind `opcua`); each must be a machine of
    the plant (the scheduler plans on it) and the config must be for this plant."""
    from mixflow.connect.opcua_bridge import opcua_devices, read_bridge_config

    config = read_bridge_config(path)
    if config.plant != plant_id:
        raise InputFileError(str(path), f"bridges plant {config.plant!r}, not --plant-id {plant_id!r}")
    known = {machine.id for machine in plant.machines}
    bridged = dict(opcua_devices(config))
    strangers = sorted(set(bridged) - known)
    if strangers:
        named = ", ".join(strangers[:10])
        raise InputFileError(str(path), f"bridges machines the plant does not have: {named}")
    return bridged


def _provision_report(facts: dict[str, Any]) -> str:
    """What provisioning did, for a person: counts, files and modes, the broker settings written."""
    passwd, acl, creds = facts["passwd_file"], facts["acl_file"], facts["credentials_file"]
    lines = [
        f"registered {facts['devices']} devices of plant {facts['plant']}: {facts['new_credentials']} new "
        f"credentials, {facts['kept_credentials']} kept (--rotate renews them); gateway account "
        f"{facts['gateway_user']} ({facts['gateway_password']})"
        + (f"; {facts['opcua_machines']} machines bridged from OPC UA" if facts["opcua_machines"] else ""),
        f"wrote {passwd['file']} (0600): {passwd['users']} users, "
        f"{passwd['other_users_kept']} of other plants kept",
        f"wrote {acl['file']} (0600): each device writes its own uplink topics and reads its own commands; "
        f"the gateway reads and writes mixflow/{facts['plant']}/# only"
        + (
            f", and the uplinks and commands of {facts['sparkplug_nodes']} Sparkplug B edge nodes and "
            f"{facts['vda_vehicles']} VDA 5050 vehicles"
            if facts["sparkplug_nodes"] or facts["vda_vehicles"]
            else ""
        ),
        f"credentials in {creds['file']} (0600): {creds['passwords']} passwords; hand them to the "
        "installers, then delete the file",
    ]
    conf = facts.get("broker_conf")
    if conf is not None:
        listeners = ", ".join(f"{kind} on {where}" for kind, where in conf["listeners"].items())
        lines.append(
            f"wrote {conf['file']} (0600): persistence true in {conf['persistence_location']} "
            f"(autosave every {conf['autosave_interval']} s), max_queued_messages "
            f"{conf['max_queued_messages']} per session (a 10-minute gateway outage at "
            f"{conf['plant_msgs_per_s']:g} msg/s, busiest of 16 shard sessions "
            f"{conf['busiest_shard_msgs_per_s']:g} msg/s, x1.5), max_queued_bytes 0, max_inflight_messages "
            f"{conf['max_inflight_messages']}, anonymous refused; listeners: {listeners}"
        )
    lines.append(f"done in {facts['seconds']} s; reload the broker (SIGHUP) to apply the passwords and ACL")
    return "\n".join(lines)


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
    ca_file: str | None = TLS_CA,
    cert_file: str | None = TLS_CERT,
    key_file: str | None = TLS_KEY,
    password_file: str | None = PASSWORD_FILE,
    metrics_port: int = typer.Option(
        9464, "--metrics-port", help="Serve /metrics (Prometheus) and /health on this port (0: off)."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address for /metrics and /health (0.0.0.0: every interface)."
    ),
    shared: bool = typer.Option(
        False,
        "--shared",
        help="Subscribe as MQTT 5 shared groups so a stand-by with the same --index can take over"
        " (Mosquitto 2.0 forgets shared subscriptions when it restarts: what devices send before we"
        " subscribe again is lost).",
    ),
    sparkplug_group: str = typer.Option(
        "",
        "--sparkplug-group",
        help="Also be the Sparkplug B primary host of this group (by convention the plant id): its"
        " machines' births, data and deaths become telemetry and machine up/down (gateway --index 0).",
    ),
) -> None:
    """Run a gateway for the devices registered in --db until interrupted; prints its counters as JSON.

    It reconnects to the broker by itself, keeps batches the store cannot take (pausing its reads when
    too many wait) and takes up devices registered while it runs."""
    engine, _ = connect_store(db)
    registry = Registry.load(engine, topics.check_name("--plant-id", plant_id))
    if not len(registry):
        raise ValidationError(
            "--plant-id", f"no devices registered for plant {plant_id!r} in {shown_url(db)} (run provision)"
        )
    config = GatewayConfig(
        gateway_id=gateway_id,
        index=index,
        count=count,
        session_expiry_s=session_expiry_s,
        keep_raw_s=keep_raw_s,
        rollup_bucket_s=bucket_s,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        shared=shared,
        sparkplug_group=sparkplug_group,
    )
    the_broker = parse_broker(broker, ca_file, cert_file, key_file, password_file)
    service = Gateway(the_broker, Ingest(registry), config, engine)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await service.start()
        print(json.dumps({"gateway": gateway_id, "started": True}), flush=True)
        await stop.wait()
        await service.stop()

    with broker_errors(the_broker):
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
    password_file: str | None = PASSWORD_FILE,
    ca_file: str | None = TLS_CA,
    cert_file: str | None = TLS_CERT,
    key_file: str | None = TLS_KEY,
    sparkplug_group: str = typer.Option(
        "",
        "--sparkplug-group",
        help="Say the machines' breakdowns and repairs as a Sparkplug B edge node of this group (the "
        "gateway its primary host); default: mixflow's own machine messages.",
    ),
) -> None:
    """Play the twin as the plant's devices over the broker (in lock step with the cloud) until stopped."""
    check_sources(plant, catalogue, scale, seed, 1.0)
    plant_path, catalogue_path = source_paths(plant, catalogue)
    from mixflow.twin import Scenario

    scenario = Scenario(scale=scale, days=days, plant_file=plant_path, catalogue_file=catalogue_path)
    the_broker = parse_broker(broker, ca_file, cert_file, key_file, password_file)
    with broker_errors(the_broker):
        counters = serve_devices(the_broker, scenario, seed, plant_id, sparkplug_group)
    print(json.dumps(counters), flush=True)


DEMO_SCALE = 0.05
FLEETS = ("vda5050", "mixflow")
"""How the fleet goes through the broker: VDA 5050 vehicles of two makers behind master control (what a
plant buys), or mixflow's own fleet device (the whole fleet as one device with custom move commands)."""
FLEET = typer.Option(
    "vda5050",
    "--fleet",
    help="The fleet through the broker: vda5050 (VDA 5050 vehicles of two makers in lock step behind "
    "master control) or mixflow (the fleet as one device of mixflow's own).",
)


@app.command()
def demo(
    broker: str = BROKER,
    scale: float = typer.Option(
        DEMO_SCALE, "--scale", help="Reference plant size (1.0 = 2,040 machines, 720 AGVs)."
    ),
    days: int = typer.Option(1, "--days", help="Days of order arrivals."),
    hours: float = typer.Option(4.0, "--hours", help="Plant hours to run both ways."),
    fleet: str = FLEET,
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    password_file: str | None = PASSWORD_FILE,
    ca_file: str | None = TLS_CA,
    cert_file: str | None = TLS_CERT,
    key_file: str | None = TLS_KEY,
    as_json: bool = JSON,
) -> None:
    """Run the scheduler on the twin in-process and through the broker (twin as devices, the fleet as
    VDA 5050 vehicles unless --fleet mixflow); compare KPIs.

    Both sides log in with the --broker user, who needs the whole `mixflow/demo*` tree, the `demo*/#`
    tree for the VDA 5050 fleet (the run's interface name is its plant id) and `spBv1.0/demo*/#` with
    the host's `spBv1.0/STATE/#` for the machines' Sparkplug B."""
    if hours <= 0:
        raise ValidationError("--hours", f"must be positive, got {hours:g}")
    check_sources(plant, catalogue, scale, seed, DEMO_SCALE)
    plant_path, catalogue_path = source_paths(plant, catalogue)
    from mixflow.twin import Scenario

    scenario = Scenario(scale=scale, days=days, plant_file=plant_path, catalogue_file=catalogue_path)
    the_broker = parse_broker(broker, ca_file, cert_file, key_file, password_file)
    with broker_errors(the_broker):
        result = compare_over_mqtt(the_broker, scenario, seed, int(hours * 3600), fleet)
    if as_json:
        print(json.dumps(result, default=str))
        return
    print(f"same KPIs: {result['same_kpis']} (differing: {result['differing']})")
    print(f"in-process {result['in_process_s']} s, over MQTT {result['over_mqtt_s']} s")
    print(f"gateway: {result['gateway']}")
    if "vda5050" in result:
        print(f"VDA 5050: {result['vda5050']}")
    if result["sparkplug"] is not None:
        print(f"Sparkplug B: {result['sparkplug']}")


# -- the twin behind the broker ----------------------------------------------------------------

LOCKSTEP_HEARTBEAT_MS = 10**15  # simulated devices have no wall-clock heartbeat
# scheduler KPIs that measure our own computer, not the plant
MACHINE_DEPENDENT = ("decision", "wall", "cpu")


def serve_devices(
    broker: Broker, scenario: Scenario, seed: int, plant_id: str, sparkplug_group: str = ""
) -> dict[str, int]:
    """Play the twin as the plant's devices until SIGINT/SIGTERM; returns the edge's counters. With a
    `sparkplug_group`, machines' breakdowns and repairs go as a Sparkplug B edge node of that group."""
    from mixflow.connect.sim import FactoryDevices
    from mixflow.connect.sparkplug.machines import MachineStates
    from mixflow.twin import Twin, prepare

    plant, catalogue, orders = prepare(scenario, seed)
    twin = Twin(plant, catalogue, orders, scenario, seed)
    machines = (
        MachineStates(
            plant_id, topics.check_name("--sparkplug-group", sparkplug_group), [m.id for m in plant.machines]
        )
        if sparkplug_group
        else None
    )
    edge = FactoryDevices(twin, broker, plant_id, plant.lines[0].id, sparkplug=machines)

    async def serve() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(edge.run(ready))
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, task.cancel)
        started = asyncio.create_task(ready.wait())
        await asyncio.wait((task, started), return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():  # the edge failed to connect (or was stopped) before it was ready
            started.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        print('{"devices": "ready"}', flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(serve())
    if machines is not None:
        return {**edge.counters, "sparkplug_states": machines.events_sent}
    return edge.counters


def _scheduler(plant: Plant, scenario: Scenario, seed: int, catalogue: Any) -> Scheduler:
    from mixflow.plan import PlanOptions, Scheduler

    options = PlanOptions()
    return Scheduler(plant, catalogue, None, options, seed=seed)


Progress = Callable[[str, int], object]
"""Told which run ("in-process" or "through the broker") reached which plant second, about once a
simulated minute."""


def _drive(
    scheduler: Scheduler, factory: Factory, until_s: int, progress: Progress | None = None, run: str = ""
) -> None:
    if progress is None:
        scheduler.run(factory, until_s)
    else:
        scheduler.run(factory, until_s, lambda now_s: progress(run, now_s) is not False)


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


async def _try_login(broker: Broker, client_id: str) -> None:
    """Log in and out once: a broker that refuses us says so here, before any process is started."""
    client = broker.client(client_id)
    await client.connect(timeout_s=5.0)
    await client.disconnect()


def compare_over_mqtt(
    broker: Broker,
    scenario: Scenario,
    seed: int,
    until_s: int,
    fleet: str = "vda5050",
    progress: Progress | None = None,
    sparkplug: bool = True,
) -> dict[str, Any]:
    """Run the scheduler on the twin in-process, then on the twin played as devices through the broker,
    to `until_s`; returns both KPI sets, whether they agree, and the traffic it took. With the
    `vda5050` fleet the AGVs are VDA 5050 vehicles in lock step with the plant's clock (a
    `connect vda-vehicles --lockstep` process) driven by master control; machines and the line stay
    devices of the `connect devices` process, which keeps deciding pickups and deliveries. With
    `sparkplug` the machines' breakdowns and repairs go as Sparkplug B (that process an edge node of
    group = plant id, the gateway its primary host); their operations stay mixflow's own messages."""
    from mixflow.twin import Twin, prepare

    if fleet not in FLEETS:
        raise ValidationError("--fleet", f"must be one of {', '.join(FLEETS)}, got {fleet!r}")
    plant, catalogue, orders = prepare(scenario, seed)
    began = time.perf_counter()
    local = _scheduler(plant, scenario, seed, catalogue)
    twin = Twin(plant, catalogue, orders, scenario, seed)
    _drive(local, twin, until_s, progress, "in-process")
    local_kpis = plant_kpis(local, plant, scenario, twin.now_s)
    local_s = time.perf_counter() - began

    plant_id = f"demo{uuid.uuid4().hex[:8]}"
    asyncio.run(_try_login(broker, f"{plant_id}-probe"))
    common = [*_tls_args(broker), *_source_args(scenario), "--seed", str(seed)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", PASSWORD_ENV: broker.password or ""}
    children: list[subprocess.Popen[str]] = []
    vda: dict[str, Any] = {}
    try:
        children.append(
            _child(
                ["connect", "devices", "--broker", broker.url(), *common, "--days", str(scenario.days),
                 "--plant-id", plant_id, *(["--sparkplug-group", plant_id] if sparkplug else [])],
                env,
            )
        )
        if fleet == "vda5050":
            children.append(
                _child(
                    ["connect", "vda-vehicles", "--broker", broker.url(), *common, "--lockstep",
                     "--interface", plant_id],
                    env,
                )
            )
        for child, what in zip(children, ("devices", "VDA 5050 vehicles"), strict=False):
            _ready(child, what)  # started side by side: each builds the plant first
        registry = Registry(plant_id, LOCKSTEP_HEARTBEAT_MS)
        issue_credentials(registry, plant_devices(plant))  # the edge logs in once for all of them
        config = GatewayConfig(
            gateway_id="demo",
            lockstep=True,
            line_id=plant.lines[0].id,
            session_expiry_s=0,
            sparkplug_group=plant_id if sparkplug else "",
        )
        began = time.perf_counter()
        remote = _scheduler(plant, scenario, seed, catalogue)
        tracker = CommandTracker(ack_timeout_ms=600_000, max_resends=0)
        with MqttFactory(broker, registry, epoch_ms=0, config=config, tracker=tracker) as factory:
            if fleet == "vda5050":
                vda = _drive_vda(remote, factory, broker, plant, plant_id, until_s, progress)
            else:
                _drive(remote, factory, until_s, progress, "through the broker")
            remote_kpis = plant_kpis(remote, plant, scenario, factory.now_s)
            stats = {**factory.stats(), "round_trips": factory.gateway.clock_n}
        remote_s = time.perf_counter() - began
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(30)
        if fleet == "vda5050":
            asyncio.run(_forget_vehicles(broker, plant_id, plant))
    differing = sorted(k for k in local_kpis if local_kpis[k] != remote_kpis.get(k))
    return {
        "until_s": until_s,
        "fleet": fleet,
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
        "sparkplug": {
            "messages": stats.get("sparkplug", 0),
            "births": stats.get("sparkplug_births", 0),
            "rebirths_requested": stats.get("sparkplug_rebirths_requested", 0),
        }
        if sparkplug
        else None,
        **({"vda5050": vda} if vda else {}),
    }


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `mixflow ARGS`."""
    return subprocess.Popen(
        [sys.executable, "-m", "mixflow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _ready(child: subprocess.Popen[str], what: str) -> None:
    """Wait for the child's "ready" line; a child that fails says why in one line."""
    assert child.stdout is not None
    if "ready" not in child.stdout.readline():
        told = (child.stderr.read() if child.stderr else "").strip().splitlines()
        why = told[-1].removeprefix("mixflow: error: ") if told else f"exit code {child.wait(5)}"
        raise MixflowError(f"the {what} did not start: {why}")


VDA_SETTLE_S = 30.0
"""How long a lock-step step waits for the vehicles before it counts as unsettled and the plant runs
on: long, because a vehicle's step takes a few milliseconds and only a stalled box takes seconds."""


def _drive_vda(
    scheduler: Scheduler,
    factory: MqttFactory,
    broker: Broker,
    plant: Plant,
    interface: str,
    until_s: int,
    progress: Progress | None,
) -> dict[str, Any]:
    """The scheduler drives `factory` with its fleet behind VDA 5050 master control; what went over
    the wire and whether the vehicles kept to the plan."""
    from mixflow.connect.vda5050.fleet_factory import VdaFleetFactory, off_the_fleet_model, plant_fleet_ids
    from mixflow.connect.vda5050.horizon import FloorWays
    from mixflow.connect.vda5050.master import MasterControl
    from mixflow.connect.vda5050.models import MAP_ID
    from mixflow.connect.vda5050.orders import FloorMap

    floor = FloorMap(MAP_ID, plant.floor.cell_m)
    master = MasterControl(plant_fleet_ids(plant), floor, interface=interface, ahead=FloorWays(plant.floor))
    with VdaFleetFactory(factory, master, broker, settle_s=VDA_SETTLE_S, lockstep=True) as vda:
        _drive(scheduler, vda, until_s, progress, "through the broker")
        return {
            "vehicles": len(master.vehicles),
            "factsheets": master.counters["factsheets"],
            "off_the_fleet_model": off_the_fleet_model(master, plant.fleet),
            "orders": master.counters["orders"],
            "order_updates": master.counters["updates"],
            "instant_actions": master.counters["instant_actions"],
            "states": master.counters["states"],
            "rejected_orders": master.counters["rejected_orders"],
            "invalid": master.counters["invalid"],
            "lost": sum(master.lost().values()),
            "skipped_moves": master.counters["skipped_moves"],
            "vehicles_down": vda.vehicles_down,
            "advances": vda.link.advances,
            "unsettled_steps": vda.unsettled_steps,
            "unanswered_advances": vda.unanswered_advances,
            "clock_slips_s": vda.clock_slips_s,
        }


async def _forget_vehicles(broker: Broker, interface: str, plant: Plant) -> None:
    """Clear the retained `connection` and `factsheet` a throwaway run's vehicles leave on the broker."""
    from mixflow.connect.vda5050.fleet_factory import plant_fleet_ids
    from mixflow.connect.vda5050.topics import Subtopic, topic

    retained: tuple[Subtopic, ...] = ("connection", "factsheet")

    client = broker.client(f"{interface}-cleaner")
    await client.connect()
    for ident in plant_fleet_ids(plant):
        for sub in retained:
            client.publish_nowait(topic(ident.manufacturer, ident.serial_number, sub, interface), b"", True)
    await client.disconnect()


# -- OPC UA ------------------------------------------------------------------------------------------


@app.command("opcua-machine")
def opcua_machine(
    machine_id: str = typer.Option("press-1", "--machine", help="Machine id (the OPC UA object's name)."),
    port: int = typer.Option(4840, "--port", help="OPC UA TCP port on 127.0.0.1."),
    cycle_s: float = typer.Option(5.0, "--cycle", help="Seconds per simulated operation."),
    commanded: bool = typer.Option(
        False, "--commanded", help="Work only the operations started through StartOperation."
    ),
    security: str | None = typer.Option(
        None, "--security", help="Offer only this Policy,Mode (e.g. Basic256Sha256,SignAndEncrypt)."
    ),
    cert: Path | None = typer.Option(
        None, "--cert", help="Server certificate (generated, self-signed, with --key if neither exists)."
    ),
    key: Path | None = typer.Option(None, "--key", help="Server private key (mode 0600)."),
    trust: list[Path] = typer.Option(
        [], "--trust", help="A client certificate to accept (repeatable; none: any client certificate)."
    ),
    user: str | None = typer.Option(
        None, "--user", help=f"Require this OPC UA user, its password from ${OPCUA_PASSWORD_ENV}."
    ),
    seed: int = SEED,
) -> None:
    """Serve a simulated machine over OPC UA until stopped: one operation per cycle and a fault every
    tenth, or (--commanded) the operations a bridge starts."""
    from mixflow.connect.opcua_machine import SimulatedMachine
    from mixflow.connect.opcua_machine import work as work_cycles
    from mixflow.connect.opcua_security import OpcUaSecurity, ensure_certificate

    if security is not None and cert is not None and key is not None:
        generated = ensure_certificate(cert, key, f"urn:mixflow:machine:{machine_id}", machine_id)
    else:
        generated = False
    secured = OpcUaSecurity.parse(security, cert, key)
    if secured is not None:
        secured.check()
    users = None
    if user is not None:
        password = os.environ.get(OPCUA_PASSWORD_ENV)
        if not password:
            raise ValidationError("--user", f"set the OPC UA password in {OPCUA_PASSWORD_ENV}")
        users = {user: password}

    async def serve() -> None:
        machine = SimulatedMachine(machine_id, port, seed, security=secured, trusted=(*trust,), users=users)
        async with machine:
            facts = {
                "endpoint": machine.endpoint,
                "machine": machine_id,
                "security": secured.label if secured else "None",
                **({"certificate": str(cert), "generated": generated} if secured else {}),
            }
            print(json.dumps(facts), flush=True)
            if commanded:
                await asyncio.Event().wait()  # the bridge's StartOperation calls drive it
            else:
                await work_cycles(machine, cycle_s)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


@app.command("opcua-bridge")
def opcua_bridge(
    config: Path | None = typer.Option(
        None, "--config", help="YAML/JSON: plant, broker, credentials, servers (see connect.opcua_bridge)."
    ),
    server: list[str] = typer.Option(
        [], "--server", help="machine_id=opc.tcp://host:port/path (repeatable; besides --config's)."
    ),
    broker: str | None = typer.Option(None, "--broker", help="mqtt[s]://host[:port] (default: --config's)."),
    plant_id: str | None = typer.Option(None, "--plant-id", help="Plant id (default: --config's)."),
    credentials: Path | None = typer.Option(
        None, "--credentials", help="Provisioning credentials file (0600): the machines' MQTT passwords."
    ),
    security: str | None = typer.Option(
        None, "--security", help="Policy,Mode for the --server machines, e.g. Basic256Sha256,SignAndEncrypt."
    ),
    cert: Path | None = typer.Option(
        None, "--cert", help="The bridge's OPC UA certificate (generated with --key if neither exists)."
    ),
    key: Path | None = typer.Option(None, "--key", help="The bridge's private key (mode 0600)."),
    user: str | None = typer.Option(
        None, "--user", help=f"OPC UA user of the --server machines, its password from ${OPCUA_PASSWORD_ENV}."
    ),
    heartbeat_s: float = typer.Option(5.0, "--heartbeat", help="Seconds between state messages."),
    watchdog_s: float = typer.Option(1.0, "--watchdog", help="Seconds between checks that a server answers."),
    session_timeout_s: float = typer.Option(
        30.0, "--session-timeout", help="Seconds a server keeps a silent session."
    ),
    ca_file: str | None = TLS_CA,
    cert_file: str | None = TLS_CERT,
    key_file: str | None = TLS_KEY,
) -> None:
    """Bridge OPC UA machines into the topic tree (kind `opcua`), each server on its own reconnecting
    link, until stopped; prints each machine's counters as JSON at the end."""
    from mixflow.connect.opcua_bridge import BridgeOptions, OpcUaBridge, bridge_config, machine_passwords
    from mixflow.connect.opcua_security import OpcUaSecurity, ensure_certificate

    if security is not None and cert is not None and key is not None:
        ensure_certificate(cert, key, "urn:mixflow:opcua-bridge", "mixflow opcua bridge")
    secured = OpcUaSecurity.parse(security, cert, key)
    settings = bridge_config(config, server, plant_id, broker, credentials, secured, user)
    passwords = {}
    if settings.credentials is not None:
        passwords = machine_passwords(settings.credentials, settings.plant)
    the_broker = parse_broker(settings.broker, ca_file, cert_file, key_file)
    options = BridgeOptions(
        heartbeat_s=heartbeat_s, watchdog_s=watchdog_s, session_timeout_s=session_timeout_s
    )
    bridge = OpcUaBridge(the_broker, settings.plant, settings.servers, passwords, options)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, bridge.stop)
        machines = [s.machine_id for s in settings.servers]
        print(json.dumps({"bridge": settings.plant, "machines": machines, "boot": bridge.boot}), flush=True)
        await bridge.run()

    asyncio.run(serve())
    print(json.dumps(bridge.stats()), flush=True)


LOCKSTEP_STATE_S = 30.0
"""Plant seconds between a lock-step vehicle's periodic states (the spec's longest interval): every
event (an order, a node passed, an action done) sends one at once anyway, and a state a plant second
from 180 vehicles would be most of a plant day's traffic without telling master control anything."""


@app.command("vda-vehicles")
def vda_vehicles(
    broker: str = BROKER,
    count: int | None = typer.Option(None, "--count", help="Run the first N AGVs (default: all)."),
    seconds: float = typer.Option(0.0, "--seconds", help="Stop after this many seconds (0: until Ctrl-C)."),
    interface: str = typer.Option(
        "uagv", "--interface", help="VDA 5050 interfaceName, the first topic level."
    ),
    time_scale: float = typer.Option(1.0, "--time-scale", help="Simulated seconds per wall-clock second."),
    lockstep: bool = typer.Option(
        False,
        "--lockstep",
        help="Drive only as far as a simulated plant's clock moves (`{interface}/_sim/advance`), with "
        "instant pick and drop as the twin has them; state on events and every 30 plant seconds.",
    ),
    scale: float = SCALE,
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    password_file: str | None = PASSWORD_FILE,
    ca_file: str | None = TLS_CA,
    cert_file: str | None = TLS_CERT,
    key_file: str | None = TLS_KEY,
) -> None:
    """The plant's AGVs as VDA 5050 vehicles of two makers (one MQTT connection and last will each):
    they drive the orders master control sends; prints what went over the wire as JSON at the end."""
    from mixflow.connect.vda5050.simulator import VehicleSimulator, plant_vehicles, run_vehicles

    if time_scale <= 0 or seconds < 0:
        raise ValidationError("--time-scale/--seconds", "must be positive (--seconds 0: until stopped)")
    the_plant, _ = resolve_plant(plant, catalogue, scale, seed, 1.0)
    the_broker = parse_broker(broker, ca_file, cert_file, key_file, password_file)
    if lockstep:
        vehicles = plant_vehicles(the_plant, count, pick_s=0.0, drop_s=0.0)
        simulator = VehicleSimulator(
            the_broker,
            vehicles,
            interface=interface,
            state_interval_s=LOCKSTEP_STATE_S,
            visualization_interval_s=0.0,
            lockstep=True,
        )
    else:
        vehicles = plant_vehicles(the_plant, count)
        simulator = VehicleSimulator(the_broker, vehicles, interface=interface, time_scale=time_scale)
    with broker_errors(the_broker):
        counters = asyncio.run(run_vehicles(simulator, seconds or None, ready=lockstep))
    print(json.dumps({"vehicles": len(vehicles), **counters}), flush=True)
