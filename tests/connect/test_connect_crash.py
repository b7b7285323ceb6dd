"""Kill -9 the gateway mid-stream: with QoS 1 and a persistent session nothing the broker acknowledged
to the device is lost; the restarted gateway stores what the dead one had not acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any as PrivateBroker  # the fixture type lives in conftest.py

import pytest
from sqlalchemy import text

from mixflow.connect import topics
from mixflow.connect.payloads import encode
from mixflow.connect.wire import WireClient
from mixflow.store.db import connect

pytestmark = pytest.mark.services
MESSAGES = 3000


def _start_gateway(broker: PrivateBroker, db_url: str) -> subprocess.Popen[str]:
    url = f"mqtt://{broker.gateway_user}@{broker.host}:{broker.port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mixflow",
            "connect",
            "gateway",
            "--broker",
            url,
            "--plant-id",
            "auth",
            "--db",
            db_url,
            "--gateway-id",
            "crashgw",
            "--session-expiry",
            "300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MIXFLOW_BROKER_PASSWORD": broker.gateway_password},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert '"started": true' in line, process.stderr.read() if process.stderr else line
    return process


def _stored(db_url: str) -> set[int]:
    engine, _ = connect(db_url, upgrade=False)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT DISTINCT value FROM telemetry_sample WHERE device_id = 'm1'"))
        return {int(value) for (value,) in rows}


def test_killing_the_gateway_loses_nothing_acknowledged(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    engine, _ = connect(db_url)
    private_broker.registry.save(engine)
    gateway = _start_gateway(private_broker, db_url)
    topic = topics.device_topic("auth", "machine", "m1", "telemetry")
    acked: set[int] = set()

    async def device() -> None:
        client = WireClient(
            private_broker.host,
            private_broker.port,
            "m1-crash",
            username=private_broker.username("m1"),
            password=private_broker.passwords["m1"],
        )
        await client.connect()
        pending = []
        for seq in range(1, MESSAGES + 1):
            done = await client.publish(
                topic, encode({"v": 1, "t": 1_000 + seq, "seq": seq, "m": {"n": seq}}, True)
            )
            done.add_done_callback(lambda f, seq=seq: acked.add(seq) if f.exception() is None else None)
            pending.append(done)
            if seq % 20 == 0:
                await asyncio.sleep(0.01)
            if seq == MESSAGES // 3:
                os.kill(gateway.pid, signal.SIGKILL)  # mid-stream, no flush, no DISCONNECT
        await asyncio.wait(pending, timeout=10)
        await client.disconnect()

    asyncio.run(device())
    gateway.wait(10)
    assert gateway.returncode == -signal.SIGKILL
    stored_by_the_killed_one = _stored(db_url)
    assert len(acked) == MESSAGES and 0 < len(stored_by_the_killed_one) < MESSAGES
    restarted = _start_gateway(private_broker, db_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not acked <= _stored(db_url):
            time.sleep(0.2)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(15)
    assert acked - _stored(db_url) == set()
    assert restarted.returncode == 0
