"""Sparkplug B benchmark: metrics decoded and stored through the real Mosquitto and PostgreSQL, against
mixflow's own JSON telemetry as the named baseline, and the rebirth latency after a seq gap.

1. `decode_only`: the host (`SparkplugHost.handle`: protobuf, session, aliases, rows) and the baseline
   (`Ingest.handle` on JSON telemetry of the same metrics) fed in-process: CPU cost per metric, no I/O.
2. `ladder`: offered rates in metrics/s, each for `--seconds`, through one gateway (the Sparkplug host on
   its first link) into the store. Sparkplug: 10 edge nodes x 10 devices, DDATA of `--metrics` metrics by
   alias; baseline: the same devices and metrics as mixflow JSON telemetry on their device topics. Both
   are published at QoS 0 from pre-built packets (Sparkplug data is QoS 0 by the spec; the baseline is
   too, so both cross the same path), paced every 10 ms. Per run: metrics offered and stored, seq gaps
   seen by the gateway, stored metrics/s (from the first publish to the last commit). Target: Sparkplug
   >= 20,000 metrics/s stored with no gap.
3. `rebirth`: an edge node on its own connection answers every NCMD rebirth at once; `--rebirths` times
   a DDATA jumps the seq; measured from publishing it to the NCMD arriving at the node and to the host
   having the new NBIRTH and DBIRTH (p50, max). Target: < 1 s.

Timings are wall-clock on whatever machine runs this (a shared 2-core box when committed); the gateway and
the publisher share this process, Mosquitto and PostgreSQL run beside it. Prints one JSON.

    python benchmarks/sparkplug.py [--json] [--db postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--broker mqtt://127.0.0.1:1883] [--rates 20000,40000,80000,160000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from mixflow.connect import topics
from mixflow.connect.broker import Broker, parse_broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.registry import Registry
from mixflow.connect.sparkplug import EdgeNode, SparkplugHost, codec
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb
from mixflow.connect.wire import Received, WireClient, publish_packet
from mixflow.store.db import connect

NODES, DEVICES_PER_NODE = 10, 10
TICK_S = 0.01


def registry_for(plant: str) -> tuple[Registry, dict[str, list[str]]]:
    """A plant whose machines are the Sparkplug devices: edge node -> its device ids."""
    registry = Registry(plant, heartbeat_timeout_ms=600_000)
    nodes = {f"edge-{n}": [f"{plant}-m{n}{d}" for d in range(DEVICES_PER_NODE)] for n in range(NODES)}
    for devices in nodes.values():
        for device_id in devices:
            registry.register(device_id, "machine", "password-1", b"0123456789ab")
    return registry, nodes


def metric_names(count: int) -> list[str]:
    return [f"Motor/Axis{k}/kW" for k in range(count)]


class SparkplugLoad:
    """Edge nodes' births and DDATA, built ahead of time, in each node's seq order."""

    def __init__(self, plant: str, nodes: dict[str, list[str]], names: list[str]) -> None:
        self.names = names
        self.edges = {node: EdgeNode(plant, node) for node in nodes}
        self.nodes = nodes
        self.births: list[tuple[str, bytes]] = []
        for node, edge in self.edges.items():
            self.births.append(edge.birth({}))
            birth = {name: (pb.Double, 0.0) for name in names}
            self.births += [edge.device_birth(device, birth) for device in nodes[node]]

    def messages(self, count: int) -> list[tuple[str, bytes]]:
        """`count` DDATA, the nodes in turn (each built is sent: a message built and not sent is a gap)."""
        nodes = list(self.edges)
        out = []
        for k in range(count):
            node = nodes[k % NODES]
            device = self.nodes[node][k // NODES % DEVICES_PER_NODE]
            values = {name: float(k + j) for j, name in enumerate(self.names)}
            out.append(self.edges[node].data(values, device))
        return out


def json_messages(
    plant: str, nodes: dict[str, list[str]], names: list[str], count: int
) -> list[tuple[str, bytes]]:
    """The baseline: the same devices and metrics as mixflow telemetry (JSON); each call is a new run
    of the devices (`boot`), so its seq starts again without counting as duplicates."""
    devices = [device for group in nodes.values() for device in group]
    seqs = dict.fromkeys(devices, 0)
    out = []
    t_ms = boot = time.time_ns() // 1_000_000
    for k in range(count):
        device = devices[k % len(devices)]
        seqs[device] += 1
        payload = {"v": 1, "t": t_ms, "boot": boot, "seq": seqs[device], "m": {n: float(k) for n in names}}
        out.append((topics.device_topic(plant, "machine", device, "telemetry"), encode(payload)))
    return out


def decode_only(metrics: int, messages: int) -> dict[str, Any]:
    """CPU per metric of the Sparkplug host and of the JSON ingest, in-process."""
    plant = f"b{uuid.uuid4().hex[:8]}"
    registry, nodes = registry_for(plant)
    names = metric_names(metrics)
    load = SparkplugLoad(plant, nodes, names)
    host = SparkplugHost(Ingest(registry), plant, "bench")
    for topic, payload in load.births:
        host.handle(topic, payload, 0)
    data = load.messages(messages)
    began = time.process_time()
    for topic, payload in data:
        host.handle(topic, payload, 0)
    spb_s = time.process_time() - began
    assert not host.ingest.dead, host.ingest.dead[:3]
    ingest = Ingest(registry)
    baseline = json_messages(plant, nodes, names, messages)
    began = time.process_time()
    for topic, payload in baseline:
        ingest.handle(topic, payload)
    json_s = time.process_time() - began
    assert not ingest.dead, ingest.dead[:3]
    total = metrics * messages
    return {
        "metrics_per_message": metrics,
        "messages": messages,
        "sparkplug_metrics_per_cpu_s": round(total / spb_s),
        "json_baseline_metrics_per_cpu_s": round(total / json_s),
    }


async def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def publish_paced(client: WireClient, packets: list[bytes], rate_msgs: float) -> float:
    """Write pre-built QoS 0 packets at `rate_msgs` per second; returns the start time."""
    began = time.perf_counter()
    sent = 0
    per_tick = max(1, round(rate_msgs * TICK_S))
    while sent < len(packets):
        client.write_raw(b"".join(packets[sent : sent + per_tick]))
        sent += per_tick
        delay = began + sent / rate_msgs - time.perf_counter()
        await asyncio.sleep(max(0.0, delay))
    return began


async def ladder_run(
    gateway: Gateway,
    client: WireClient,
    messages: list[tuple[str, bytes]],
    metrics: int,
    rate: int,
    path: str,
) -> dict[str, Any]:
    """One offered rate: publish, wait until the store has every row (or nothing moves for 3 s)."""
    rows_before, gaps_before = gateway.stored_rows, gateway.counters["gaps"]
    rejected_before = gateway.counters["rejected"]
    packets = [publish_packet(topic, payload, 0) for topic, payload in messages]
    began = await publish_paced(client, packets, rate / metrics)
    expected = len(messages) * metrics
    last, last_change = -1, time.perf_counter()
    while gateway.stored_rows - rows_before < expected and time.perf_counter() - last_change < 3.0:
        await asyncio.sleep(0.005)
        if gateway.stored_rows != last:
            last, last_change = gateway.stored_rows, time.perf_counter()
    stored = gateway.stored_rows - rows_before
    elapsed = last_change - began
    return {
        "path": path,
        "offered_metrics_per_s": rate,
        "metrics_offered": expected,
        "metrics_stored": stored,
        "gaps": gateway.counters["gaps"] - gaps_before,
        "rejected": gateway.counters["rejected"] - rejected_before,
        "stored_metrics_per_s": round(stored / elapsed) if elapsed > 0 else None,
    }


async def rebirths(
    broker: Broker, gateway: Gateway, plant: str, devices: list[str], times: int
) -> dict[str, Any]:
    """Seq jumps answered by rebirths: time to the NCMD at the node and to the host's new births."""
    assert gateway.sparkplug is not None
    sessions = gateway.sparkplug.sessions
    node = EdgeNode(plant, "edge-rebirth")
    device = devices[0]
    arrived: list[float] = []
    client: WireClient

    def on_command(batch: list[Received]) -> None:
        arrived.append(time.perf_counter())
        for topic, payload in node.rebirth():
            client.publish_nowait(topic, payload)

    client = WireClient(broker.host, broker.port, f"{plant}-edge-rebirth", on_messages=on_command)
    await client.connect()
    await client.subscribe([codec.topic(plant, "NCMD", "edge-rebirth")], qos=0)
    for topic, payload in (node.birth({}), node.device_birth(device, {"kW": (pb.Double, 1.0)})):
        client.publish_nowait(topic, payload)
    await _until(lambda: "edge-rebirth" in sessions and device in sessions["edge-rebirth"].devices, 5.0)
    to_command, to_births = [], []
    for _ in range(times):
        node.data({"kW": 2.0}, device)  # lost
        session = sessions["edge-rebirth"]
        sent = time.perf_counter()
        client.publish_nowait(*node.data({"kW": 3.0}, device))

        def reborn(old: Any = session) -> bool:
            now = sessions["edge-rebirth"]
            return now is not old and not now.stale and device in now.devices

        if not await _until(reborn, 5.0):
            raise SystemExit("error: no rebirth within 5 s")
        to_births.append(time.perf_counter() - sent)
        to_command.append(arrived[-1] - sent)
        await asyncio.sleep(0.05)
    await client.disconnect()
    return {
        "rebirths": times,
        "to_ncmd_ms_p50": round(statistics.median(to_command) * 1000, 2),
        "to_new_births_ms_p50": round(statistics.median(to_births) * 1000, 2),
        "to_new_births_ms_max": round(max(to_births) * 1000, 2),
        "target_met": max(to_births) < 1.0,
    }


async def through_the_gateway(args: argparse.Namespace, engine: Engine) -> dict[str, Any]:
    broker = parse_broker(args.broker)
    plant = f"b{uuid.uuid4().hex[:8]}"
    registry, nodes = registry_for(plant)
    names = metric_names(args.metrics)
    config = GatewayConfig(gateway_id="bench", session_expiry_s=0, sparkplug_group=plant)
    gateway = Gateway(broker, Ingest(registry), config, engine)
    await gateway.start()
    client = WireClient(broker.host, broker.port, f"{plant}-load", keepalive_s=60)
    await client.connect()
    report: dict[str, Any] = {"plant": plant}
    try:
        load = SparkplugLoad(plant, nodes, names)
        for topic, payload in load.births:
            client.publish_nowait(topic, payload)
        birth_rows = NODES * DEVICES_PER_NODE * args.metrics
        await _until(lambda: gateway.stored_rows >= birth_rows, 10.0)
        ladder = []
        for rate in (int(r) for r in args.rates.split(",")):
            count = int(rate / args.metrics * args.seconds)
            for path, messages in (
                ("sparkplug", load.messages(count)),
                ("json_baseline", json_messages(plant, nodes, names, count)),
            ):
                ladder.append(await ladder_run(gateway, client, messages, args.metrics, rate, path))
        report["ladder"] = ladder
        complete = [run for run in ladder if run["metrics_stored"] == run["metrics_offered"]]
        clean = [run for run in complete if run["path"] == "sparkplug" and run["gaps"] == 0]
        best = max((run["stored_metrics_per_s"] for run in clean), default=0)
        report["sparkplug_max_clean_stored_metrics_per_s"] = best
        report["sparkplug_target_met"] = best >= 20_000
        report["rebirth"] = await rebirths(broker, gateway, plant, nodes["edge-0"], args.rebirths)
    finally:
        await client.disconnect()
        await gateway.stop()
        with engine.begin() as connection:  # the benchmark's rows only
            query = text("delete from telemetry_sample where device_id like :p")
            connection.execute(query, {"p": f"{plant}-%"})
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the only output there is)")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rates", default="20000,40000,80000,160000", help="offered metrics/s of the ladder")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--metrics", type=int, default=10, help="metrics per DDATA / telemetry message")
    parser.add_argument("--rebirths", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine, _ = connect(args.db)
    started = time.time()
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}}
    report["decode_only"] = decode_only(args.metrics, 20_000)
    report.update(asyncio.run(through_the_gateway(args, engine)))
    report["load_average_at_end"] = os.getloadavg()
    report["wall_s"] = round(time.time() - started, 1)
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
