"""A lean MQTT 5 client on asyncio for the gateway's high-volume paths.

aiomqtt (over paho) reads one packet per socket-readiness event with three `recv` calls each, which
tops out near 3,000 msg/s on this 2-core machine; the plant needs 5,600 and the target is 30,000. This
client parses every PUBLISH in each chunk the kernel hands over and delivers them as one batch, and it
lets the gateway send QoS 1 PUBACKs only after a batch is stored, so nothing acknowledged is lost.
It speaks exactly the subset the gateway and the load generator use: CONNECT (clean start, session
expiry, receive maximum, user name and password), SUBSCRIBE, PUBLISH and PUBACK at QoS 0 and 1,
PINGREQ and DISCONNECT, over TCP or TLS. A client can `connect` again after its connection is lost (the
gateway does, with a persistent session), and its owner can stop reading (`pause_reading`) so that the
broker keeps what the owner cannot store yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from mixflow.errors import MixflowError

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
RECEIVE_MAXIMUM = 65535
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class MqttError(MixflowError):
    """The broker refused us or the connection broke; names the broker and the reason code."""


CONNACK_REASONS = {
    0x80: "unspecified error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x8A: "banned",
}


def varint(n: int) -> bytes:
    """MQTT variable byte integer."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + varint(len(body)) + body


class Will(NamedTuple):
    """The message the broker publishes for us when our connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def connect_packet(
    client_id: str,
    *,
    clean_start: bool,
    keepalive_s: int,
    session_expiry_s: int,
    username: str | None = None,
    password: str | None = None,
    will: Will | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    props = b"\x11" + struct.pack("!I", session_expiry_s) + b"\x21" + struct.pack("!H", RECEIVE_MAXIMUM)
    body = b"\x00\x04MQTT\x05" + bytes((flags,)) + struct.pack("!H", keepalive_s) + varint(len(props)) + props
    body += _text(client_id)
    if will is not None:  # no will properties, then topic and payload
        body += b"\x00" + _text(will.topic) + _text(will.payload)
    if username is not None:
        body += _text(username)
    if password is not None:
        body += _text(password)
    return packet(CONNECT << 4, body)


def publish_packet(
    topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, retain: bool = False
) -> bytes:
    """A PUBLISH packet; build it once and write it many times when the topic and payload repeat."""
    body = _text(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    body += b"\x00" + payload
    return packet((PUBLISH << 4) | (qos << 1) | int(retain), body)


def subscribe_packet(packet_id: int, filters: Sequence[str], qos: int) -> bytes:
    body = struct.pack("!H", packet_id) + b"\x00"
    for topic_filter in filters:
        body += _text(topic_filter) + bytes((qos,))
    return packet(SUBSCRIBE << 4 | 0x02, body)


def pubacks(packet_ids: Sequence[int]) -> bytes:
    """PUBACKs for many packet ids in one buffer (reason code omitted = success)."""
    return b"".join(b"\x40\x02" + struct.pack("!H", pid) for pid in packet_ids)


class Received(NamedTuple):
    """One PUBLISH as it came off the wire; `packet_id` is 0 for QoS 0 (a tuple: cheap to build)."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int


class _Protocol(asyncio.Protocol):
    def __init__(self, client: WireClient) -> None:
        self.client = client
        self.buffer = bytearray()
        self.sock: socket.socket | None = None
        client._protocol = self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = transport  # type: ignore[assignment]
        self.sock = transport.get_extra_info("socket")

    def _quickack(self) -> None:
        # Mosquitto leaves Nagle on by default; with our delayed ACKs a small reply can then wait
        # 40 ms. Acknowledging at once (Linux TCP_QUICKACK, which the kernel resets) avoids that.
        if QUICKACK is not None and self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client._protocol is self:  # not an attempt the client has already given up on
            self.client._lost(exc)

    def data_received(self, data: bytes) -> None:
        self._quickack()
        buf = self.buffer
        buf += data
        size = len(buf)
        i = 0
        batch: list[Received] = []
        client = self.client
        client._silent_pings = 0
        while i + 2 <= size:
            first = buf[i]
            j = i + 1
            length = 0
            shift = 0
            while True:
                if j >= size:
                    length = -1
                    break
                byte = buf[j]
                j += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            if length < 0 or j + length > size:
                break
            kind = first >> 4
            if kind == PUBLISH:
                qos = (first >> 1) & 0x03
                tlen = (buf[j] << 8) | buf[j + 1]
                k = j + 2 + tlen
                topic = buf[j + 2 : k].decode("utf-8", "replace")
                pid = 0
                if qos:
                    pid = (buf[k] << 8) | buf[k + 1]
                    k += 2
                plen = 0
                shift = 0
                while True:
                    byte = buf[k]
                    k += 1
                    plen |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                batch.append(Received(topic, bytes(buf[k + plen : j + length]), qos, pid))
            else:
                client._control(kind, bytes(buf[j : j + length]))
            i = j + length
        if i:
            del buf[:i]
        if batch:
            client.on_messages(batch)
            if client.auto_ack:
                client.ack([m.packet_id for m in batch if m.qos])


class WireClient:
    """One MQTT 5 connection; incoming PUBLISHes go to `on_messages` in batches, in arrival order.

    With `auto_ack=False` the owner calls `ack(packet_ids)` once the messages are safe (stored), so a
    crash before that makes the broker redeliver them to the persistent session. Packet ids belong to one
    connection: `generation` counts connections, so an owner can tell that ids it holds are stale.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        on_messages: Callable[[list[Received]], None] | None = None,
        username: str | None = None,
        password: str | None = None,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        keepalive_s: int = 30,
        auto_ack: bool = True,
        tls: ssl.SSLContext | None = None,
        will: Will | None = None,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.will = will
        self.on_messages = on_messages or (lambda batch: None)
        self.username, self.password = username, password
        self.clean_start, self.session_expiry_s, self.keepalive_s = clean_start, session_expiry_s, keepalive_s
        self.auto_ack = auto_ack
        self.tls = tls
        self.session_present = False
        self.send_quota = RECEIVE_MAXIMUM
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[bytes] | None = None
        self._subacks: dict[int, asyncio.Future[bytes]] = {}
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._window: asyncio.Semaphore | None = None
        self._counted: set[int] = set()
        self._room = asyncio.Event()
        self.acked = 0
        self._next_id = 0
        self._pinger: asyncio.Task[None] | None = None
        self._protocol: _Protocol | None = None
        self._paused = False
        self._silent_pings = 0  # keep-alive periods without a byte from the broker
        self.generation = 0
        self.closed: asyncio.Future[Exception | None] | None = None

    @property
    def address(self) -> str:
        """`host:port` of the broker: what logs and errors show (never the credentials)."""
        return f"{self.host}:{self.port}"

    async def connect(self, timeout_s: float = 10.0) -> None:
        """Open the connection (again, after a loss: a persistent session then resumes)."""
        loop = asyncio.get_running_loop()
        self.generation += 1
        self._connack = loop.create_future()
        self.closed = loop.create_future()
        self._silent_pings = 0
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), self.host, self.port, ssl=self.tls), timeout_s
            )
        except (OSError, TimeoutError) as error:
            raise MqttError(f"mqtt://{self.address}: cannot connect ({error or 'timed out'})") from error
        assert self._transport is not None
        self._transport.write(
            connect_packet(
                self.client_id,
                clean_start=self.clean_start,
                keepalive_s=self.keepalive_s,
                session_expiry_s=self.session_expiry_s,
                username=self.username,
                password=self.password,
                will=self.will,
            )
        )
        try:
            body = await asyncio.wait_for(self._connack, timeout_s)
        except TimeoutError:
            self._transport.abort()
            raise MqttError(f"mqtt://{self.address}: no CONNACK within {timeout_s:g} s") from None
        self.session_present = bool(body[0] & 1)
        reason = body[1] if len(body) > 1 else 0
        if reason >= 0x80:
            self._transport.close()
            why = CONNACK_REASONS.get(reason, f"reason code 0x{reason:02x}")
            raise MqttError(
                f"mqtt://{self.host}:{self.port}: connection refused for {self.client_id!r}: {why}"
            )
        self.send_quota = _property_u16(body, 0x21) or RECEIVE_MAXIMUM
        self._window = asyncio.Semaphore(self.send_quota)
        self._pinger = loop.create_task(self._ping())
        if self._paused:  # reconnected while the owner cannot take more: the broker keeps it
            self._transport.pause_reading()

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def subscribe(self, filters: Sequence[str], qos: int = 1, timeout_s: float = 10.0) -> list[int]:
        """Subscribe and return the granted QoS per filter; a refused filter raises MqttError."""
        pid = self._packet_id()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._subacks[pid] = future
        self._write(subscribe_packet(pid, filters, qos))
        if self._paused and self._transport is not None:
            self._transport.resume_reading()  # only until the SUBACK is in
        try:
            body = await asyncio.wait_for(future, timeout_s)
        finally:
            if self._paused and self._transport is not None and not self._transport.is_closing():
                self._transport.pause_reading()
        plen, k = _read_varint(body, 2)
        codes = list(body[k + plen :])
        refused = [f for f, code in zip(filters, codes, strict=False) if code >= 0x80]
        if refused:
            raise MqttError(f"mqtt://{self.host}:{self.port}: subscription refused for {refused}")
        return codes

    def publish_nowait(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Fire-and-forget QoS 0 publish."""
        self._write(publish_packet(topic, payload, 0, 0, retain))

    def write_raw(self, data: bytes) -> None:
        """Write pre-built QoS 0 packets (the load generator's fast path)."""
        self._write(data)

    async def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        """Publish; for QoS 1 the returned future completes when the broker's PUBACK arrives."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if qos == 0:
            self._write(publish_packet(topic, payload, 0, 0, retain))
            done.set_result(None)
            return done
        assert self._window is not None
        await self._window.acquire()
        pid = self._packet_id()
        self._inflight[pid] = done
        self._write(publish_packet(topic, payload, 1, pid, retain))
        return done

    async def publish_counted(self, topic: str, payload: bytes) -> None:
        """QoS 1 publish without a future per message: `acked` counts the broker's PUBACKs.

        Waits while the broker's receive maximum of messages is in flight.
        """
        while len(self._counted) >= self.send_quota:
            self._room.clear()
            await self._room.wait()
        pid = self._packet_id()
        while pid in self._counted or pid in self._inflight:
            pid = self._packet_id()
        self._counted.add(pid)
        self._write(publish_packet(topic, payload, 1, pid))

    async def drain(self, timeout_s: float) -> None:
        """Wait until every counted publish is acknowledged (or the timeout passes)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._counted and self.connected and asyncio.get_running_loop().time() < deadline:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), 0.1)

    def pause_reading(self) -> None:
        """Stop reading from the socket (this and later connections) until `resume_reading`: the
        broker then holds further messages in its queue for our session."""
        self._paused = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    @property
    def paused(self) -> bool:
        return self._paused

    def ack(self, packet_ids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages (in the order they were received)."""
        if packet_ids and self._transport is not None and not self._transport.is_closing():
            self._transport.write(pubacks(packet_ids))

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise MqttError(f"mqtt://{self.host}:{self.port}: not connected")
        self._transport.write(data)

    def _control(self, kind: int, body: bytes) -> None:
        if kind == CONNACK and self._connack is not None and not self._connack.done():
            self._connack.set_result(body)
        elif kind == SUBACK:
            future = self._subacks.pop(struct.unpack_from("!H", body)[0], None)
            if future is not None and not future.done():
                future.set_result(body)
        elif kind == PUBACK:
            pid = struct.unpack_from("!H", body)[0]
            if pid in self._counted:
                self._counted.discard(pid)
                if len(body) < 3 or body[2] < 0x80:
                    self.acked += 1
                self._room.set()
                return
            done = self._inflight.pop(pid, None)
            if done is not None:
                if self._window is not None:
                    self._window.release()
                if not done.done():
                    reason = body[2] if len(body) > 2 else 0
                    if reason >= 0x80:
                        done.set_exception(MqttError(f"publish refused: reason code 0x{reason:02x}"))
                    else:
                        done.set_result(None)
        elif kind == DISCONNECT:
            reason = body[0] if body else 0
            if self._transport is not None:
                self._transport.close()
            if self.closed is not None and not self.closed.done():
                self.closed.set_result(MqttError(f"broker disconnected us: reason code 0x{reason:02x}"))

    def _lost(self, exc: Exception | None) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(MqttError(f"mqtt://{self.host}:{self.port}: connection closed"))
        waiting: list[asyncio.Future[bytes] | asyncio.Future[None]] = [
            *self._subacks.values(),
            *self._inflight.values(),
        ]
        for future in waiting:
            if not future.done():
                future.set_exception(MqttError("connection lost"))
        if self._window is not None:
            for _ in self._inflight:
                self._window.release()
        self._subacks.clear()
        self._inflight.clear()
        self._counted.clear()  # their PUBACKs died with the connection; owners re-send what matters
        self._room.set()
        if self._pinger is not None:
            self._pinger.cancel()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(exc)

    async def _ping(self) -> None:
        """PINGREQ every half keep-alive; a broker silent for 1.5 keep-alives is gone (a cut cable
        closes no socket), so drop the connection and let the owner reconnect."""
        while True:
            await asyncio.sleep(self.keepalive_s / 2)
            if self._paused:  # not reading: the broker's answers wait in the socket
                self._silent_pings = 0
            elif self._silent_pings >= 3 and self._transport is not None:
                self._transport.abort()
                return
            self._silent_pings += 1
            with contextlib.suppress(MqttError):
                self._write(bytes((PINGREQ << 4, 0)))

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def disconnect(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if self.connected:
            assert self._transport is not None
            self._transport.write(bytes((DISCONNECT << 4, 0)))
            self._transport.close()
        if self.closed is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.closed), 2.0)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would."""
        if self._transport is not None:
            self._transport.abort()


def _read_varint(data: bytes, start: int) -> tuple[int, int]:
    value = 0
    shift = 0
    k = start
    while True:
        byte = data[k]
        k += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, k


def _property_u16(connack: bytes, ident: int) -> int | None:
    """A two-byte property of a CONNACK (receive maximum, topic alias maximum), if present."""
    if len(connack) < 3:
        return None
    plen, k = _read_varint(connack, 2)
    end = k + plen
    sizes = {0x11: 4, 0x21: 2, 0x22: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1, 0x13: 2}
    while k < end:
        prop = connack[k]
        k += 1
        if prop == ident:
            return int(struct.unpack_from("!H", connack, k)[0])
        if prop in sizes:
            k += sizes[prop]
        elif prop == 0x26:  # user property: two strings
            for _ in range(2):
                k += 2 + struct.unpack_from("!H", connack, k)[0]
        else:  # strings / binary
            k += 2 + struct.unpack_from("!H", connack, k)[0]
    return None
