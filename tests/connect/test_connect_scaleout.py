"""Two gateways share the shards through MQTT 5 shared subscriptions; each device stays on one, in order."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.registry import Registry
from mixflow.connect.wire import WireClient
from mixflow.store.db import connect

pytestmark = pytest.mark.services
DEVICES, MESSAGES = 40, 25


def test_two_gateways_split_the_load_and_keep_per_device_order(
    mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    registry = Registry(plant)
    devices = [f"m{i:03d}" for i in range(DEVICES)]
    for device_id in devices:
        registry.register(device_id, "machine", "password-x", b"0123456789ab")

    engines = [connect(f"sqlite:///{tmp_path / f'g{i}.db'}")[0] for i in range(2)]

    async def run() -> list[Gateway]:
        gateways = [
            Gateway(
                Broker(*mqtt_broker),
                Ingest(registry),
                GatewayConfig(gateway_id=f"g{i}", index=i, count=2, session_expiry_s=0),
                engines[i],
            )
            for i in range(2)
        ]
        for gateway in gateways:
            await gateway.start()
        client = WireClient(*mqtt_broker, f"{plant}-devices")
        await client.connect()
        last = None
        for seq in range(1, MESSAGES + 1):
            for device_id in devices:
                payload = encode({"v": 1, "t": seq, "seq": seq, "m": {"n": seq}}, True)
                last = await client.publish(
                    topics.device_topic(plant, "machine", device_id, "telemetry"), payload
                )
        assert last is not None
        await last
        for _ in range(200):
            if sum(g.ingest.counters["telemetry"] for g in gateways) >= DEVICES * MESSAGES:
                break
            await asyncio.sleep(0.05)
        await client.disconnect()
        for gateway in gateways:
            await gateway.stop()
        return gateways

    gateways = asyncio.run(run())
    owner: dict[str, int] = {}
    for index, gateway in enumerate(gateways):
        order: dict[str, list[float]] = {}
        with engines[index].connect() as connection:
            rows = connection.execute(text("SELECT device_id, value FROM telemetry_sample ORDER BY id"))
            for device_id, value in rows:  # in the order the gateway stored them
                order.setdefault(device_id, []).append(value)
        for device_id, values in order.items():
            assert device_id not in owner, f"{device_id} reached both gateways"
            owner[device_id] = index
            assert values == [float(n) for n in range(1, MESSAGES + 1)], f"{device_id} out of order"
        assert gateway.ingest.counters["rejected"] == 0
    assert sorted(owner) == devices
    assert set(owner.values()) == {0, 1}
    for device_id, index in owner.items():
        assert topics.shard_of(device_id) in topics.shards_for(index, 2)
