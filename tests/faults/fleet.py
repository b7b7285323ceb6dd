"""Devices as an outside client: one paho-mqtt process publishing QoS 1 telemetry for many device ids.

Run as a script by the fault harness (`harness.Fleet`), never imported by the gateway's code. It
publishes each device's telemetry on schedule (`{"v":1,"t":ms,"seq":n,"boot":b,"m":{"boot_seq":v}}`
with v = boot * 1,000,000 + seq, so every stored row tells which message it was) and counts which
(device, boot, seq) the broker acknowledged with a PUBACK. The client keeps its session (fixed client
id, clean_session False) and reconnects by itself, so a broker restart loses nothing it had not
acknowledged yet: paho re-sends in-flight messages and sends those queued while disconnected.

Control on stdin, one JSON object a line: `{"op": "reboot", "devices": [...]}` (boot + 1, seq again
from 1), `{"op": "poison", "device": id}` (that device's next message also carries a metric whose
name PostgreSQL refuses: NUL), `{"op": "stop", "wait_s": s}` (stop publishing, wait up to s seconds
for outstanding PUBACKs, print the result, exit). On stdout: `{"ready": true}`, then a progress line
every half second (`at` is `time.monotonic()`, comparable across processes), then `{"result": ...}`.

    python tests/faults/fleet.py --port P --plant PL --devices machine:m00000-m00199:1 ...
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import defaultdict, deque
from typing import Any

import paho.mqtt.client as mqtt

from mixflow.connect.topics import device_topic

SEQ_SPAN = 1_000_000  # boot_seq = boot * SEQ_SPAN + seq: a device sends fewer than a million per boot
TICK_S = 0.02
MAX_OUTSTANDING = 50_000  # below paho's 65,535 message ids, so an id is never reused while in flight
POISON_METRIC = "poison\u0000metric"


def boot_seq(boot: int, seq: int) -> int:
    return boot * SEQ_SPAN + seq


def ranges(values: list[int]) -> list[list[int]]:
    """Sorted integers as [first, last] runs (the acked seqs of a device are mostly one run)."""
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return runs


class Device:
    __slots__ = ("boot", "device_id", "kind", "poison", "seq", "topic")

    def __init__(self, plant: str, kind: str, device_id: str) -> None:
        self.kind, self.device_id = kind, device_id
        self.topic = device_topic(plant, kind, device_id, "telemetry")
        self.boot, self.seq, self.poison = 0, 0, False


class Fleet:
    def __init__(self, args: argparse.Namespace) -> None:
        self.devices: dict[str, Device] = {}
        # schedule: period in ticks -> phase -> devices publishing at that phase
        self.schedule: dict[int, dict[int, list[Device]]] = {}
        for spec in args.devices:
            kind, span, hz = spec.split(":")
            first, last = span.split("-")
            prefix = first.rstrip("0123456789")
            width = len(first) - len(prefix)
            period = max(1, round(1 / (float(hz) * TICK_S)))
            phases = self.schedule.setdefault(period, defaultdict(list))
            for k, number in enumerate(range(int(first[len(prefix) :]), int(last[len(prefix) :]) + 1)):
                device = Device(args.plant, kind, f"{prefix}{number:0{width}d}")
                self.devices[device.device_id] = device
                phases[k % period].append(device)
        self.nominal_per_s = sum(
            len(group) / (period * TICK_S)
            for period, phases in self.schedule.items()
            for group in phases.values()
        )
        self.in_flight: dict[int, tuple[str, int, int]] = {}
        self.acked_mids: deque[int] = deque()
        self.acked: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.published = 0
        self.acked_count = 0
        self.poisoned: list[tuple[str, int, int]] = []
        self.stop_wait_s = 0.0
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=args.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect(args.host, args.port, keepalive=5)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        # network thread: only hand the id over; the main thread, which recorded it, resolves it
        self.acked_mids.append(mid)

    def resolve(self) -> None:
        while self.acked_mids:
            key = self.in_flight.pop(self.acked_mids.popleft(), None)
            if key is not None:
                device_id, boot, seq = key
                self.acked[device_id][boot].append(seq)
                self.acked_count += 1

    def publish(self, device: Device) -> None:
        device.seq += 1
        metrics: dict[str, float] = {"boot_seq": boot_seq(device.boot, device.seq)}
        if device.poison:
            device.poison = False
            metrics[POISON_METRIC] = 1.0
            self.poisoned.append((device.device_id, device.boot, device.seq))
        t_ms = time.time_ns() // 1_000_000
        payload = {"v": 1, "t": t_ms, "seq": device.seq, "boot": device.boot, "m": metrics}
        info = self.client.publish(device.topic, json.dumps(payload, separators=(",", ":")), qos=1)
        self.in_flight[info.mid] = (device.device_id, device.boot, device.seq)
        self.published += 1

    def command(self, line: str) -> bool:
        """Apply one control line; False on stop."""
        order = json.loads(line)
        if order["op"] == "reboot":
            for device_id in order["devices"]:
                if device_id in self.devices:
                    device = self.devices[device_id]
                    device.boot, device.seq = device.boot + 1, 0
        elif order["op"] == "poison":
            if order["device"] in self.devices:
                self.devices[order["device"]].poison = True
        elif order["op"] == "stop":
            self.stop_wait_s = float(order.get("wait_s", 10.0))
            return False
        return True

    def progress(self) -> None:
        line = {
            "at": time.monotonic(),
            "published": self.published,
            "acked": self.acked_count,
            "connected": self.connected.is_set(),
        }
        print(json.dumps(line), flush=True)

    def run(self) -> None:
        orders: deque[str] = deque()

        def read_orders() -> None:
            for line in sys.stdin:
                orders.append(line)
            orders.append('{"op": "stop", "wait_s": 0}')

        self.client.loop_start()
        if not self.connected.wait(10):
            print(json.dumps({"error": "no CONNACK within 10 s"}), flush=True)
            sys.exit(1)
        threading.Thread(target=read_orders, daemon=True).start()
        print(json.dumps({"ready": True, "nominal_per_s": self.nominal_per_s}), flush=True)
        started = time.monotonic()
        tick = 0
        next_progress = started
        running = True
        while running:
            while orders and running:
                running = self.command(orders.popleft())
            due = int((time.monotonic() - started) / TICK_S)
            while running and tick <= due and len(self.in_flight) < MAX_OUTSTANDING:
                for period, phases in self.schedule.items():
                    for device in phases.get(tick % period, ()):
                        self.publish(device)
                tick += 1
            self.resolve()
            now = time.monotonic()
            if now >= next_progress:
                self.progress()
                next_progress = now + 0.5
            blocked = len(self.in_flight) >= MAX_OUTSTANDING
            time.sleep(max(0.005 if blocked else 0.0, started + tick * TICK_S - time.monotonic()))
        deadline = time.monotonic() + self.stop_wait_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
            self.resolve()
        self.progress()
        result = {
            "published": self.published,
            "acked": self.acked_count,
            "unacked": len(self.in_flight),
            "poisoned": self.poisoned,
            "devices": {
                device_id: {str(boot): ranges(seqs) for boot, seqs in boots.items()}
                for device_id, boots in self.acked.items()
            },
        }
        print(json.dumps({"result": result}), flush=True)
        self.client.disconnect()
        self.client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument(
        "--devices", action="append", required=True, help="kind:first-last:hz, e.g. machine:m00000-m00199:1"
    )
    Fleet(parser.parse_args()).run()


if __name__ == "__main__":
    main()
