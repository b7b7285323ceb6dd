"""The device side of the topic tree, on aiomqtt: what a machine's or AGV's MQTT agent does.

A `DeviceLink` logs in as its device (its own credential), publishes telemetry, heartbeats and
events with a running `seq` under its `boot` (the start time of this run: a restarted agent counts
from 1 again in a new run, which the gateway tells from a repeat), receives its commands and
acknowledges them. Commands are exactly-once on the device side: the session is persistent (a stable
client id, no clean start, a session expiry), so commands sent while the device was away wait for it
at the broker, and the ids of the latest `HANDLED_KEPT` commands are remembered, so a command the
gateway sends again (its ack got lost, or it came twice) is answered with the earlier ack and not
executed again. The twin's virtual devices, the OPC UA bridge and the tests all speak through it, so
they exercise exactly what a real device agent must do.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import now_ms
from mixflow.connect.payloads import CommandMessage, PayloadError, decode, encode
from mixflow.connect.registry import broker_username
from mixflow.errors import ValidationError

HANDLED_KEPT = 10_000
"""Latest command ids a device remembers with their acks: far more than can be in flight at once."""


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
        boot: int | None = None,
        session_expiry_s: int = 3600,
    ) -> None:
        self.plant, self.kind, self.device_id = plant, kind, topics.check_name("device_id", device_id)
        self.binary = binary
        self.boot = now_ms() if boot is None else boot
        if type(self.boot) is not int or self.boot < 0:
            raise ValidationError("boot", f"must be a non-negative integer, got {self.boot!r}")
        self.seq = 0
        # command id -> (status, reason) of its ack; None while the command is being executed
        self.handled: OrderedDict[str, tuple[str, str] | None] = OrderedDict()
        self.repeats = 0  # commands received again and not executed again
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = session_expiry_s
        self._client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker_username(plant, device_id) if password is not None else broker.username,
            password=password if password is not None else broker.password,
            identifier=f"{plant}-{device_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=connect,
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
        t = now_ms() if t_ms is None else t_ms
        payload = {"v": 1, "t": t, "boot": self.boot, "seq": self.seq, **fields}
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

    async def subscribe(self) -> None:
        """Subscribe to this device's commands; the broker keeps the subscription in the session, so
        from now on commands sent while the device is away wait for it."""
        await self._client.subscribe(self.topic("cmd"), qos=1)

    async def commands(self) -> AsyncIterator[CommandMessage]:
        """Subscribe and yield each new valid command (invalid ones are skipped); a command seen
        before is not yielded again but answered with its earlier ack, if it has one yet."""
        await self.subscribe()
        async for message in self._client.messages:
            try:
                command = CommandMessage.parse(decode(bytes(message.payload)))
            except PayloadError:
                continue
            command_id = command.command_id
            if command_id in self.handled:
                self.repeats += 1
                earlier = self.handled[command_id]
                if earlier is not None:
                    await self._ack(command_id, *earlier)
                continue
            self._remember(command_id, None)
            yield command

    def _remember(self, command_id: str, answer: tuple[str, str] | None) -> None:
        self.handled[command_id] = answer
        self.handled.move_to_end(command_id)
        if len(self.handled) > HANDLED_KEPT:
            self.handled.popitem(last=False)

    async def ack(self, command: CommandMessage, status: str = "done", reason: str = "") -> None:
        """Answer a command; the answer is kept and given again if the command comes again."""
        self._remember(command.command_id, (status, reason))
        await self._ack(command.command_id, status, reason)

    async def _ack(self, command_id: str, status: str, reason: str) -> None:
        payload = {"v": 1, "t": now_ms(), "boot": self.boot, "id": command_id, "status": status}
        if reason:
            payload["reason"] = reason
        await self._client.publish(self.topic("ack"), encode(payload, self.binary), qos=1)
