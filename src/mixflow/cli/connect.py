"""`mixflow connect ...`: the industrial-internet gateway, its benchmark and the OPC UA bridge."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import typer

from mixflow.cli.options import JSON, SCALE, SEED, check_scale
from mixflow.connect import topics
from mixflow.connect.bench import BenchSpec, run_bench
from mixflow.connect.broker import parse_broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.registry import Registry, registry_for_plant
from mixflow.errors import ValidationError
from mixflow.reference import build_plant
from mixflow.store.db import connect as connect_store

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


PLANT_ID = typer.Option("changsha", "--plant", help="Plant id: the second level of the topic tree.")
DB = typer.Option("sqlite:///mixflow.db", "--db", help="Store URL (sqlite:///file.db or postgresql://...).")


@app.command()
def provision(
    scale: float = SCALE,
    seed: int = SEED,
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
    registry = registry_for_plant(build_plant(check_scale(scale), seed), plant_id, secret)
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
    registry = Registry.load(engine, topics.check_name("--plant", plant_id))
    if not len(registry):
        raise ValidationError(
            "--plant", f"no devices registered for plant {plant_id!r} in {db} (run provision)"
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
