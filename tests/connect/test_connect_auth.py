"""Per-device authentication and ACL on a private Mosquitto configured from the registry."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any as PrivateBroker  # the fixture type lives in conftest.py

import aiomqtt
import pytest

from mixflow.connect import topics
from mixflow.connect.broker import Broker, parse_broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.registry import GATEWAY_USER
from mixflow.connect.wire import MqttError, WireClient
from mixflow.model.port import StartOperation

pytestmark = pytest.mark.services


def test_devices_log_in_with_their_own_credentials_only(private_broker: PrivateBroker) -> None:
    host, port = private_broker.host, private_broker.port

    async def run() -> None:
        for username, password in (("m1", "wrong-password"), ("ghost", "m1-password"), (None, None)):
            client = WireClient(host, port, f"try-{username}", username=username, password=password)
            with pytest.raises(MqttError, match=r"not authorized|bad user name"):
                await client.connect()
        with pytest.raises(aiomqtt.MqttError):
            async with DeviceLink(Broker(host, port), "auth", "machine", "m2", password="m1-password"):
                pass
        async with DeviceLink(Broker(host, port), "auth", "machine", "m1", password="m1-password") as link:
            await link.heartbeat()

    asyncio.run(run())


def test_a_device_cannot_publish_on_another_devices_topic(private_broker: PrivateBroker) -> None:
    host, port = private_broker.host, private_broker.port
    gateway_broker = Broker(host, port, username=GATEWAY_USER, password=private_broker.gateway_password)

    async def run() -> dict[str, int]:
        gateway = Gateway(
            gateway_broker,
            Ingest(private_broker.registry),
            GatewayConfig(gateway_id="authgw", session_expiry_s=0),
        )
        await gateway.start()
        try:
            m2 = WireClient(host, port, "m2-client", username="m2", password="m2-password")
            await m2.connect()
            payload = encode({"v": 1, "t": 1, "seq": 1, "m": {"kw": 1.0}})
            refused = await m2.publish(
                topics.device_topic("auth", "machine", "m1", "telemetry"), payload, qos=1
            )
            with pytest.raises(MqttError, match="0x87"):
                await refused
            own = await m2.publish(topics.device_topic("auth", "machine", "m2", "telemetry"), payload, qos=1)
            await own
            # m2 may subscribe to m1's commands (Mosquitto grants it) but never receives them; m1 does
            heard: dict[str, list[str]] = {"m1": [], "m2": []}
            m1 = WireClient(
                host,
                port,
                "m1-client",
                username="m1",
                password="m1-password",
                on_messages=lambda batch: heard["m1"].extend(m.topic for m in batch),
            )
            await m1.connect()
            await m1.subscribe([topics.device_topic("auth", "machine", "m1", "cmd")], qos=1)
            m2.on_messages = lambda batch: heard["m2"].extend(m.topic for m in batch)
            await m2.subscribe([topics.device_topic("auth", "machine", "m1", "cmd")], qos=1)
            await gateway.submit([StartOperation("op-1", "m1")])
            for _ in range(100):
                if heard["m1"]:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert heard == {"m1": [topics.device_topic("auth", "machine", "m1", "cmd")], "m2": []}
            await m1.disconnect()
            await m2.disconnect()
            for _ in range(100):
                if gateway.ingest.counters["telemetry"]:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            return dict(gateway.ingest.counters)
        finally:
            await gateway.stop()

    counters = asyncio.run(run())
    assert counters["telemetry"] == 1  # only m2's own message arrived
    assert counters.get("rejected", 0) == 0


def test_tls_is_a_matter_of_configuration(private_broker: PrivateBroker) -> None:
    """mqtts:// with the plant's CA: the gateway and a device talk over TLS; an unknown CA is refused."""
    url = f"mqtts://{GATEWAY_USER}:{private_broker.gateway_password}@127.0.0.1:{private_broker.tls_port}"
    gateway_broker = parse_broker(url, ca_file=private_broker.ca_file)
    device_broker = parse_broker(
        f"mqtts://127.0.0.1:{private_broker.tls_port}", ca_file=private_broker.ca_file
    )

    async def run() -> int:
        gateway = Gateway(
            gateway_broker,
            Ingest(private_broker.registry),
            GatewayConfig(gateway_id="tlsgw", session_expiry_s=0),
        )
        await gateway.start()
        try:
            async with DeviceLink(device_broker, "auth", "machine", "m1", password="m1-password") as link:
                await link.telemetry({"kw": 3.0})
            for _ in range(100):
                if gateway.ingest.counters["telemetry"]:
                    break
                await asyncio.sleep(0.05)
            untrusted = WireClient(
                "127.0.0.1",
                private_broker.tls_port,
                "m2-tls",
                username="m2",
                password="m2-password",
                tls=ssl.create_default_context(),  # the system CAs do not know the plant's CA
            )
            with pytest.raises((MqttError, ssl.SSLError)):
                await untrusted.connect()
            return gateway.ingest.counters["telemetry"]
        finally:
            await gateway.stop()

    assert asyncio.run(run()) == 1
