"""`mixflow connect ...`: the industrial-internet gateway, its benchmark and the OPC UA bridge."""

from __future__ import annotations

import json

import typer

from mixflow.cli.options import JSON
from mixflow.connect.bench import BenchSpec, run_bench
from mixflow.connect.broker import parse_broker

app = typer.Typer(
    help="Machines and AGVs over MQTT and OPC UA: gateway, devices, benchmark.", no_args_is_help=True
)

BROKER = typer.Option("mqtt://127.0.0.1:1883", "--broker", help="mqtt://[user:pw@]host[:port] or mqtts://...")


@app.command()
def bench(
    broker: str = BROKER,
    devices: int = typer.Option(2000, "--devices", help="Virtual machines publishing telemetry."),
    rate: float = typer.Option(1.0, "--rate", help="Messages per second per device."),
    seconds: float = typer.Option(10.0, "--seconds", help="How long the devices publish."),
    gateways: int = typer.Option(1, "--gateways", help="Gateway processes sharing the shards."),
    publishers: int = typer.Option(1, "--publishers", help="Load-generator processes."),
    json_payloads: bool = typer.Option(False, "--json-payloads", help="JSON instead of MessagePack."),
    db: str | None = typer.Option(None, "--db", help="Storage URL (default: a temporary SQLite file)."),
    as_json: bool = JSON,
) -> None:
    """Devices -> broker -> gateway -> validation -> storage, end to end; prints counts, rate, latency."""
    spec = BenchSpec(
        devices, rate, seconds, gateways=gateways, publishers=publishers, binary=not json_payloads, db_url=db
    )
    result = run_bench(parse_broker(broker), spec)
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>16}: {value}")
