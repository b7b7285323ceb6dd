"""Per-device random credentials and per-user ACL lines on a private Mosquitto configured by
provisioning, and TLS with the plant's CA."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any as PrivateBroker  # the fixture type lives in conftest.py

import aiomqtt
import pytest
from sqlalchemy import text

from mixflow.api.settings import Settings
from mixflow.connect import topics
from mixflow.connect.broker import PASSWORD_ENV, Broker, BrokerRefusedError, broker_errors, parse_broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.wire import MqttError, WireClient
from mixflow.model.port import StartOperation
from mixflow.store.db import connect

pytestmark = pytest.mark.services


async def _until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


def test_devices_log_in_with_their_own_random_credentials_only(private_broker: PrivateBroker) -> None:
    host, port, passwords = private_broker.host, private_broker.port, private_broker.passwords
    assert len({*passwords.values()}) == 3 and all(len(p) >= 32 for p in passwords.values())
    attempts = [
        (private_broker.username("m1"), "wrong-password"),
        (private_broker.username("m1"), passwords["m2"]),  # another device's password
        ("m1", passwords["m1"]),  # the bare device id is no user: names are unique across plants
        ("ghost", passwords["m1"]),
        (None, None),  # anonymous
    ]

    async def run() -> None:
        for username, password in attempts:
            client = WireClient(host, port, f"try-{username}", username=username, password=password)
            with pytest.raises(MqttError, match=r"not authorized|bad user name"):
                await client.connect()
        with pytest.raises(aiomqtt.MqttError):
            async with DeviceLink(Broker(host, port), "auth", "machine", "m2", password=passwords["m1"]):
                pass
        async with DeviceLink(Broker(host, port), "auth", "machine", "m1", password=passwords["m1"]) as link:
            await link.heartbeat()

    asyncio.run(run())


def test_a_refused_login_is_one_clear_line_from_either_client(private_broker: PrivateBroker) -> None:
    broker = Broker(private_broker.host, private_broker.port, username="auth.m1", password="not-it")
    # Mosquitto answers a wrong password with "not authorized" (0x87) to MQTT 5 clients
    where = rf"broker 127\.0\.0\.1:{private_broker.port}"
    expected = rf"{where} refused the connection: (not authorized|bad user name or password)"

    async def wire() -> None:
        await WireClient(broker.host, broker.port, "c1", username="auth.m1", password="not-it").connect()

    async def device() -> None:
        async with DeviceLink(broker, "auth", "machine", "m1", password="not-it"):
            pass

    for attempt in (wire, device):
        with pytest.raises(BrokerRefusedError) as refused, broker_errors(broker):
            asyncio.run(attempt())
        assert re.fullmatch(expected, str(refused.value)), str(refused.value)


def test_a_device_on_another_devices_topic_is_refused_and_nothing_else_is_hurt(
    private_broker: PrivateBroker,
) -> None:
    """m2 publishing as m1 gets PUBACK 0x87 and nothing of it arrives; m2's own messages before and
    after, and m1's, all arrive; m2 may subscribe to m1's commands but never receives them."""
    host, port, passwords = private_broker.host, private_broker.port, private_broker.passwords
    gateway_broker = Broker(
        host, port, username=private_broker.gateway_user, password=private_broker.gateway_password
    )
    payload = encode({"v": 1, "t": 1, "seq": 1, "m": {"kw": 1.0}})

    async def run() -> dict[str, int]:
        gateway = Gateway(
            gateway_broker,
            Ingest(private_broker.registry),
            GatewayConfig(gateway_id="authgw", session_expiry_s=0),
        )
        await gateway.start()
        try:
            heard: dict[str, list[str]] = {"m1": [], "m2": []}
            m2 = WireClient(
                host,
                port,
                "m2-client",
                username=private_broker.username("m2"),
                password=passwords["m2"],
                on_messages=lambda batch: heard["m2"].extend(m.topic for m in batch),
            )
            m1 = WireClient(
                host,
                port,
                "m1-client",
                username=private_broker.username("m1"),
                password=passwords["m1"],
                on_messages=lambda batch: heard["m1"].extend(m.topic for m in batch),
            )
            await m1.connect()
            await m2.connect()
            m2_topic = topics.device_topic("auth", "machine", "m2", "telemetry")
            await (await m2.publish(m2_topic, payload, qos=1))
            refused = await m2.publish(topics.device_topic("auth", "machine", "m1", "telemetry"), payload)
            with pytest.raises(MqttError, match="0x87"):
                await refused
            refused = await m2.publish(topics.device_topic("auth", "machine", "m1", "cmd"), payload)
            with pytest.raises(MqttError, match="0x87"):
                await refused  # nor may it command another device
            await (await m2.publish(m2_topic, encode({"v": 1, "t": 2, "seq": 2, "m": {"kw": 2.0}}), qos=1))
            m1_topic = topics.device_topic("auth", "machine", "m1", "telemetry")
            await (await m1.publish(m1_topic, encode({"v": 1, "t": 3, "seq": 1, "m": {"kw": 3.0}}), qos=1))
            await m1.subscribe([topics.device_topic("auth", "machine", "m1", "cmd")], qos=1)
            await m2.subscribe([topics.device_topic("auth", "machine", "m1", "cmd")], qos=1)
            await gateway.submit([StartOperation("op-1", "m1")])
            await _until(lambda: heard["m1"] and gateway.ingest.counters["telemetry"] >= 3)
            await asyncio.sleep(0.2)
            assert heard == {"m1": [topics.device_topic("auth", "machine", "m1", "cmd")], "m2": []}
            assert m2.connected and m1.connected
            await m1.disconnect()
            await m2.disconnect()
            return dict(gateway.ingest.counters)
        finally:
            await gateway.stop()

    counters = asyncio.run(run())
    assert counters["telemetry"] == 3  # m2's two and m1's one; the impostor's never arrived
    assert counters.get("rejected", 0) == 0


def test_gateway_and_device_over_tls_store_telemetry(
    private_broker: PrivateBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mqtts:// with the plant's CA: the gateway (its broker as `serve --mqtt mqtts://user@host
    --mqtt-ca FILE` builds it, the password from the environment) and a device with its random
    credential talk over TLS, and the device's telemetry is stored."""
    port = private_broker.tls_port
    monkeypatch.setenv(PASSWORD_ENV, private_broker.gateway_password)
    served = Settings(
        secret_key="tls-test-secret-key",
        mqtt_url=f"mqtts://{private_broker.gateway_user}@127.0.0.1:{port}",
        mqtt_ca_file=private_broker.ca_file,
        twin=False,
    )
    gateway_broker = served.broker()
    assert gateway_broker.tls and gateway_broker.password == private_broker.gateway_password
    device_broker = parse_broker(f"mqtts://127.0.0.1:{port}", ca_file=private_broker.ca_file)
    engine, _ = connect(f"sqlite:///{tmp_path / 'tls.db'}")

    async def run() -> None:
        gateway = Gateway(
            gateway_broker,
            Ingest(private_broker.registry),
            GatewayConfig(gateway_id="tlsgw", session_expiry_s=0),
            engine,
        )
        await gateway.start()
        try:
            password = private_broker.passwords["a1"]
            async with DeviceLink(device_broker, "auth", "agv", "a1", password=password) as link:
                await link.telemetry({"soc": 0.75})
            await _until(lambda: gateway.stored_messages >= 1)
        finally:
            await gateway.stop()

    asyncio.run(run())
    with engine.connect() as rows:
        stored = rows.execute(text("SELECT device_id, metric, value FROM telemetry_sample")).all()
    assert [(d, m, float(v)) for d, m, v in stored] == [("a1", "soc", 0.75)]


def test_a_client_trusting_another_ca_is_refused_clearly(
    private_broker: PrivateBroker, untrusted_ca: str
) -> None:
    broker = parse_broker(f"mqtts://127.0.0.1:{private_broker.tls_port}", ca_file=untrusted_ca)

    async def wire() -> None:
        await WireClient(broker.host, broker.port, "m2-tls", tls=broker.ssl_context()).connect()

    async def device() -> None:
        password = private_broker.passwords["m2"]
        async with DeviceLink(broker, "auth", "machine", "m2", password=password):
            pass

    for attempt in (wire, device):
        with pytest.raises(BrokerRefusedError) as refused, broker_errors(broker):
            asyncio.run(attempt())
        assert "TLS handshake failed" in str(refused.value) and "--tls-ca" in str(refused.value)
        assert "\n" not in str(refused.value)


def _mixflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mixflow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_demo_and_bench_log_in_to_a_password_broker_and_bench_runs_over_tls(
    private_broker: PrivateBroker,
) -> None:
    """The admin account (password from the environment) runs `connect demo` (the devices process gets
    the password through its environment, not argv) and `connect bench` over mqtts:// with the CA."""
    env = {PASSWORD_ENV: private_broker.admin_password}
    demo = _mixflow(
        *("connect", "demo", "--broker", f"mqtt://mixflow-admin@127.0.0.1:{private_broker.port}"),
        *("--hours", "0.5", "--json"),
        env=env,
    )
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["same_kpis"]
    tls = f"mqtts://mixflow-admin@127.0.0.1:{private_broker.tls_port}"
    bench = _mixflow(
        *("connect", "bench", "--broker", tls, "--tls-ca", private_broker.ca_file),
        *("--devices", "200", "--seconds", "2", "--json"),
        env=env,
    )
    assert bench.returncode == 0, bench.stderr
    result = json.loads(bench.stdout)
    assert result["sent"] == result["stored"] == 400 and result["lost"] == 0
    assert private_broker.admin_password not in demo.stderr + bench.stderr
