"""The device side of the topic tree, on aiomqtt: what a machine's or AGV's MQTT agent does.

A `DeviceLink` logs in as its device (its own credential), publishes telemetry, heartbeats and
events with a running `seq`, receives its commands and acknowledges them. The twin's virtual devices,
the OPC UA bridge and the tests all speak through it, so they exercise exactly what a real device
agent must do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import now_ms
from mixflow.connect.payloads import CommandMessage, PayloadError, decode, encode


class DeviceLink:
    """One device's MQTT session (use `async with`)."""

    def __init__(
        self,
        broker: Broker,
        plant: str,
        kind: str,
        device_id: str,
        password: str | None = None,
        binary: bool = False,
    ) -> None:
        self.plant, self.kind, self.device_id = plant, kind, topics.check_name("device_id", device_id)
        self.binary = binary
        self.seq = 0
        self._client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=device_id if password is not None else broker.username,
            password=password if password is not None else broker.password,
            identifier=f"{plant}-{device_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=broker.ssl_context(),
        )

    async def __aenter__(self) -> DeviceLink:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(None, None, None)

    def topic(self, channel: str) -> str:
        return topics.device_topic(self.plant, self.kind, self.device_id, channel)

    async def _send(self, channel: str, fields: dict[str, Any], t_ms: int | None, qos: int = 1) -> None:
        self.seq += 1
        payload = {"v": 1, "t": now_ms() if t_ms is None else t_ms, "seq": self.seq, **fields}
        await self._client.publish(self.topic(channel), encode(payload, self.binary), qos=qos)

    async def telemetry(self, metrics: dict[str, float], t_ms: int | None = None) -> None:
        await self._send("telemetry", {"m": metrics}, t_ms)

    async def heartbeat(
        self, down: bool = False, reason: str = "", t_ms: int | None = None, load: str | None = None
    ) -> None:
        """Say the device is up or down; an AGV may add the task whose part it carries ("" none)."""
        fields: dict[str, Any] = {"status": "down" if down else "up"}
        if reason:
            fields["reason"] = reason
        if load is not None:
            fields["load"] = load
        await self._send("state", fields, t_ms)

    async def event(self, type_: str, t_ms: int | None = None, **fields: Any) -> None:
        await self._send("event", {"type": type_, **fields}, t_ms)

    async def publish_raw(self, channel: str, payload: bytes) -> None:
        """Publish bytes as they are (for tests of the gateway's defences)."""
        await self._client.publish(self.topic(channel), payload, qos=1)

    async def commands(self) -> AsyncIterator[CommandMessage]:
        """Subscribe to this device's commands and yield each valid one (invalid ones are skipped)."""
        await self._client.subscribe(self.topic("cmd"), qos=1)
        async for message in self._client.messages:
            try:
                yield CommandMessage.parse(decode(bytes(message.payload)))
            except PayloadError:
                continue

    async def ack(self, command: CommandMessage, status: str = "done", reason: str = "") -> None:
        payload = {"v": 1, "t": now_ms(), "id": command.command_id, "status": status}
        if reason:
            payload["reason"] = reason
        await self._client.publish(self.topic("ack"), encode(payload, self.binary), qos=1)
