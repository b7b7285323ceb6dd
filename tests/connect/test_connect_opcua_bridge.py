"""The OPC UA bridge through the real broker to a real gateway: many servers in one process, outages,
Sign&Encrypt, commands, and a restarted bridge whose messages still count."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.opcua import UNREACHABLE, Backoff
from mixflow.connect.opcua_bridge import (
    BridgeOptions,
    OpcUaBridge,
    OpcUaServer,
    opcua_devices,
    read_bridge_config,
)
from mixflow.connect.opcua_machine import SimulatedMachine
from mixflow.connect.opcua_security import OpcUaSecurity, make_certificate
from mixflow.connect.registry import Registry
from mixflow.errors import InputFileError, ValidationError
from mixflow.model.port import Event, MachineDown, MachineUp, OperationDone, StartOperation

pytestmark = pytest.mark.services
FAST = BridgeOptions(
    heartbeat_s=0.3,
    publishing_interval_ms=20,
    watchdog_s=0.2,
    request_timeout_s=1.0,
    hold_s=1.0,
    backoff=Backoff(0.1, 0.4),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gateway(broker: Broker, plant: str, machines: list[str]) -> Gateway:
    registry = Registry(plant, heartbeat_timeout_ms=60_000)
    for machine in machines:
        registry.register(machine, "opcua", "password-1", b"0123456789ab")
    config = GatewayConfig(gateway_id="gw", session_expiry_s=5, tick_interval_s=0.1)
    return Gateway(broker, Ingest(registry), config)


class Heard:
    """The events a gateway hands to the scheduler, waited for one condition at a time."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.events: list[Event] = []

    async def until(self, wanted: Callable[[Event], bool], timeout_s: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if wanted(event):
                    self.events.remove(event)
                    return event
            left = deadline - time.monotonic()
            assert left > 0, f"not heard within {timeout_s} s; heard {self.events}"
            try:
                self.events.append(await asyncio.wait_for(self.gateway.events.get(), left))
            except TimeoutError:
                continue


def _done(machine: str, operation: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, OperationDone) and (e.machine_id, e.operation_id) == (machine, operation)


def _down(machine: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, MachineDown) and e.machine_id == machine


def _up(machine: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, MachineUp) and e.machine_id == machine


def test_one_bridge_serves_many_servers_through_outages_refusals_and_commands(
    mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    plant = f"o{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    certs = {}
    for name in ("machine", "bridge"):
        make_certificate(tmp_path / f"{name}.pem", tmp_path / f"{name}.key", f"urn:mixflow:{name}", name)
        certs[name] = OpcUaSecurity(
            "Basic256Sha256", "SignAndEncrypt", tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        )
    ports = {name: _free_port() for name in ("press-1", "press-2", "press-3")}
    endpoint = {name: f"opc.tcp://127.0.0.1:{port}/mixflow/" for name, port in ports.items()}
    servers = (
        OpcUaServer("press-1", endpoint["press-1"]),  # plain
        OpcUaServer("press-2", endpoint["press-2"], certs["bridge"]),  # Sign&Encrypt, trusted
        OpcUaServer("press-3", endpoint["press-3"]),  # Sign&Encrypt only, but the bridge asks None
    )
    gateway = _gateway(broker, plant, list(ports))
    figures: dict[str, float] = {}

    def machine(name: str, seed: int = 0) -> SimulatedMachine:
        if name == "press-1":
            return SimulatedMachine(name, ports[name], seed)
        trusted = (certs["bridge"].certificate,)
        return SimulatedMachine(name, ports[name], seed, security=certs["machine"], trusted=trusted)

    async def run() -> None:
        await gateway.start()
        heard = Heard(gateway)
        bridge = OpcUaBridge(broker, plant, servers, options=FAST)
        serving = None
        try:
            async with machine("press-1") as p1, machine("press-2") as p2, machine("press-3"):
                serving = asyncio.create_task(bridge.run())
                for adapter in (bridge.adapters["press-1"], bridge.adapters["press-2"]):
                    await asyncio.wait_for(adapter.ready.wait(), 10)
                down3 = await heard.until(_down("press-3"))
                assert "offers Basic256Sha256,SignAndEncrypt, the bridge asks None" in down3.reason  # type: ignore[attr-defined]
                await p1.run_cycle("op-1")
                await p2.run_cycle("op-2")  # through the encrypted channel
                await heard.until(_done("press-1", "op-1"))
                await heard.until(_done("press-2", "op-2"))
                # press-2's server goes away: its machine is down, press-1 keeps flowing
                await p2.__aexit__(None, None, None)
                stopped = time.monotonic()
                down = await heard.until(_down("press-2"))
                figures["down_heard_s"] = time.monotonic() - stopped
                assert down.reason == UNREACHABLE  # type: ignore[attr-defined]
                await p1.run_cycle("op-3")
                await heard.until(_done("press-1", "op-3"))
                # a command for the machine that is away is answered, rejected, with the reason
                [away] = await gateway.submit([StartOperation("op-4", "press-2")])
                [refused] = await gateway.submit([StartOperation("op-5", "press-3")])
                deadline = time.monotonic() + FAST.hold_s + 5
                while gateway.ingest.tracker.pending and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                rejected = {o.message.command_id: reason for o, reason in gateway.ingest.tracker.rejected}
                assert rejected[away.message.command_id] == UNREACHABLE
                assert "opcua link refused" in rejected[refused.message.command_id]
                # press-2 comes back: up again, and a command runs on the new session
                async with machine("press-2", seed=5):
                    restarted = time.monotonic()
                    await heard.until(_up("press-2"))
                    figures["up_heard_s"] = time.monotonic() - restarted
                    await gateway.submit([StartOperation("op-6", "press-2", duration_s=0)])
                    await heard.until(_done("press-2", "op-6"))
                    bridge.stop()  # before the servers go
                    await asyncio.wait_for(serving, 10)
        finally:
            bridge.stop()
            if serving is not None:
                await asyncio.wait_for(serving, 10)
            await gateway.stop()
        figures.update(
            {f"{m}_{k}": v for m, s in bridge.stats().items() for k, v in s.items() if k != "refused"}
        )

    asyncio.run(run())
    stats = gateway.stats()
    assert stats.get("rejected", 0) == 0 and stats.get("missing", 0) == 0 and stats.get("duplicates", 0) == 0
    assert figures["press-2_connects"] == 2 and figures["press-2_lost"] == 1
    assert figures["press-1_lost"] == 0 and figures["press-3_connects"] == 0
    assert figures["down_heard_s"] < 2.0, figures
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


async def _bridge_process(
    broker: Broker, plant: str, machine: SimulatedMachine
) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mixflow",
        "connect",
        "opcua-bridge",
        "--server",
        f"{machine.machine_id}={machine.endpoint}",
        "--broker",
        f"mqtt://{broker.host}:{broker.port}",
        "--plant-id",
        plant,
        "--heartbeat",
        "0.3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    started = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
    assert started["machines"] == [machine.machine_id]
    return process


def test_a_restarted_bridge_is_heard_as_a_new_run_not_as_duplicates(mqtt_broker: tuple[str, int]) -> None:
    plant = f"o{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    gateway = _gateway(broker, plant, ["press-1"])
    boots: list[int] = []

    async def run() -> None:
        await gateway.start()
        heard = Heard(gateway)
        try:
            async with SimulatedMachine("press-1", _free_port()) as press:
                for run_ in ("a", "b"):
                    process = await _bridge_process(broker, plant, press)
                    try:
                        await asyncio.sleep(1.0)  # connected and subscribed (the heartbeat says so)
                        await press.run_cycle(f"op-{run_}")
                        await heard.until(_done("press-1", f"op-{run_}"), 15)
                    finally:
                        process.send_signal(signal.SIGTERM)
                        _, err = await asyncio.wait_for(process.communicate(), 15)
                    assert process.returncode == 0, err.decode()
                    boots.append(gateway.ingest.last_seq["press-1"][0])
        finally:
            await gateway.stop()

    asyncio.run(run())
    assert boots[1] > boots[0]
    stats = gateway.stats()
    assert stats.get("reboots", 0) == 1 and stats.get("duplicates", 0) == 0 and stats.get("rejected", 0) == 0


def test_the_bridge_config_names_servers_security_and_where_secrets_live(tmp_path: Path) -> None:
    make_certificate(tmp_path / "bridge.pem", tmp_path / "bridge.key", "urn:b", "b")
    secret = tmp_path / "press-2.password"
    secret.write_text("opcua-pw-2\n")
    secret.chmod(0o600)
    config = tmp_path / "bridge.yaml"
    config.write_text(
        "plant: changsha\n"
        "broker: mqtt://10.1.0.2:1883\n"
        "certificate: bridge.pem\n"
        "private_key: bridge.key\n"
        "servers:\n"
        "  - {machine: press-1, endpoint: 'opc.tcp://10.1.4.21:4840/'}\n"
        "  - machine: press-2\n"
        "    endpoint: opc.tcp://10.1.4.22:4840/\n"
        "    security: Basic256Sha256,SignAndEncrypt\n"
        "    user: bridge\n"
        "    password_file: press-2.password\n"
    )
    read = read_bridge_config(config)
    assert (read.plant, read.broker) == ("changsha", "mqtt://10.1.0.2:1883")
    assert [s.machine_id for s in read.servers] == ["press-1", "press-2"]
    assert read.servers[0].security is None
    assert read.servers[1].security is not None and read.servers[1].security.mode == "SignAndEncrypt"
    assert read.servers[1].password == "opcua-pw-2" and "opcua-pw-2" not in repr(read)
    assert opcua_devices(read) == [("press-1", "opcua"), ("press-2", "opcua")]

    secret.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        read_bridge_config(config)
    config.write_text(config.read_text().replace("password_file: press-2.password", "password: in-clear"))
    with pytest.raises(ValidationError, match="no password in the config"):
        read_bridge_config(config)
    config.write_text(
        "plant: p\nservers:\n  - {machine: m, endpoint: 'opc.tcp://a:1/'}\n"
        "  - {machine: m, endpoint: 'opc.tcp://b:1/'}\n"
    )
    with pytest.raises(ValidationError, match="bridged twice"):
        read_bridge_config(config)
    config.write_text("plant: p\nservers:\n  - {machine: m, endpoint: 'http://a:1/'}\n")
    with pytest.raises(ValidationError, match="opc\\.tcp"):
        read_bridge_config(config)
    config.write_text("plant: p\nserver: []\n")
    with pytest.raises(InputFileError, match="list of servers"):
        read_bridge_config(config)
