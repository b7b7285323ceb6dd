"""The gateway as Sparkplug B host for an edge node built with an outside library (mqtt-spb-wrapper 2.1.2,
over Eclipse Tahu's Python core), not our own encoder: births with aliases, data, a seq gap answered by
a rebirth the library understands, a `State` metric taking the machine down, and its NDEATH.

The library pins paho-mqtt 1.6.1 and protobuf 3.20.3, which cannot live beside mixflow's (ortools holds
protobuf at 6.33), so it is not a dev extra: it gets its own virtual environment in .mixflow-cache/
(created on first use with pip, about 5 s) and runs as a separate process
(tests/connect/spb_wrapper_device.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.registry import Registry
from mixflow.connect.sparkplug import codec
from mixflow.model.port import MachineDown
from mixflow.store.db import connect
from mixflow.store.telemetry import dead_letters

pytestmark = pytest.mark.services
WRAPPER = "mqtt-spb-wrapper==2.1.2"
DEVICE_SCRIPT = Path(__file__).with_name("spb_wrapper_device.py")
VENV = Path(__file__).resolve().parents[2] / ".mixflow-cache" / "spb-wrapper-venv"
MESSAGES = 40


@pytest.fixture(scope="module")
def wrapper_python() -> str:
    """The Python of a virtual environment holding the outside library (made once, then reused)."""
    python = VENV / "bin" / "python"
    marker = VENV / "installed.txt"
    if not (marker.exists() and marker.read_text() == WRAPPER):
        try:
            venv = [sys.executable, "-m", "venv", "--clear", str(VENV)]
            for command in (venv, [str(python), "-m", "pip", "install", "-q", WRAPPER]):
                subprocess.run(command, check=True, capture_output=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            message = f"cannot install {WRAPPER} into {VENV}: {getattr(error, 'stderr', b'')!r}"
            if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        marker.write_text(WRAPPER)
    return str(python)


def test_an_outside_edge_node_library_through_the_gateway(
    mqtt_broker: tuple[str, int], postgres_url: str, wrapper_python: str
) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    device = f"{plant}-mill"
    registry = Registry(plant, heartbeat_timeout_ms=60_000)
    registry.register(device, "machine", "password-1", b"0123456789ab")
    engine, _ = connect(postgres_url)

    def samples() -> int:
        with engine.connect() as connection:
            query = text("select count(*) from telemetry_sample where device_id = :d")
            return int(connection.execute(query, {"d": device}).scalar_one())

    async def run() -> tuple[list[dict[str, object]], list[MachineDown], dict[str, int]]:
        config = GatewayConfig(gateway_id="spb", session_expiry_s=5, sparkplug_group=plant)
        gateway = Gateway(Broker(*mqtt_broker), Ingest(registry), config, engine)
        await gateway.start()
        try:
            process = await asyncio.create_subprocess_exec(
                wrapper_python,
                str(DEVICE_SCRIPT),
                *map(str, mqtt_broker),
                plant,
                "edge-w",
                device,
                str(MESSAGES),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            async with asyncio.timeout(40):
                out, err = await process.communicate()
            assert process.returncode == 0, err.decode()[-2000:]
            steps = [json.loads(line) for line in out.decode().splitlines()]
            # its DBIRTH twice (3 metrics), 2 per data message, the jump refused, the final State
            async with asyncio.timeout(10):
                while samples() != 3 + 2 * MESSAGES + 3 + 1:
                    await asyncio.sleep(0.05)
                assert gateway.sparkplug is not None
                while gateway.sparkplug.sessions["edge-w"].born:  # until its NDEATH is in
                    await asyncio.sleep(0.05)
            downs: list[MachineDown] = []
            async with asyncio.timeout(5):
                while not downs:
                    event = await gateway.events.get()
                    if isinstance(event, MachineDown):
                        downs.append(event)
            return steps, downs, dict(gateway.stats())
        finally:
            await gateway.stop()

    steps, downs, stats = asyncio.run(run())
    rebirth = next(step for step in steps if step["step"] == "rebirth")
    assert rebirth["answered"] is True and "Node Control/Rebirth" in str(rebirth["command"])
    assert isinstance(rebirth["seconds"], float) and rebirth["seconds"] < 1.0  # from the jump to the request
    assert [(d.machine_id, d.reason) for d in downs] == [(device, "DATA/State = false")]
    letters = [(d.reason, d.topic) for d in dead_letters(engine, plant)]
    assert letters == [("sequence", codec.topic(plant, "DDATA", "edge-w", device))]
    assert stats["sparkplug_rebirths_requested"] == 1 and stats["sparkplug_births"] == 4
    with engine.connect() as connection:
        query = text("select max(value) from telemetry_sample where device_id = :d and metric = 'DATA/parts'")
        # the value of the refused message came back with the rebirth, which carries every current value
        assert connection.execute(query, {"d": device}).scalar_one() == MESSAGES
