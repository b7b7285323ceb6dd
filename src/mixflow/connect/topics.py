"""The MQTT topic tree of a mixflow plant.

    mixflow/{plant}/{shard}/{kind}/{device}/{channel}

- `plant`   the plant id (`changsha`), letters, digits, `-` and `_`.
- `shard`   `s00` ... `s15`: crc32 of the device id modulo `SHARDS`. Every message of one device lives
            in one shard, and each shard is one MQTT 5 shared-subscription group
            (`$share/mixflow-{plant}-{shard}/...`), so gateways split the load by shard while each
            device's messages stay in order on one gateway.
- `kind`    `machine`, `agv`, `line` (the line controller), `fleet` (the AGV fleet controller, which
            moves the whole fleet in one command and reports it in one event), `opcua` (machines
            bridged from OPC UA) or `receiving` (goods receiving, the plant's ERP side: it takes
            purchase orders and reports suppliers' dates and goods unloaded).
- `device`  the device id as in the plant (`cab_weld-017`, `agv-0042`).
- `channel` device to cloud: `telemetry` (measurements), `state` (heartbeat and status; an AGV may
            add `load`, the task whose part it carries), `event`
            (factory events: operation done, part delivered, ...), `ack` (command acknowledgements);
            cloud to device: `cmd` (commands with ids).

Gateway topics: `mixflow/{plant}/_dead/{reason}` (dead letters: the rejected message and why),
`mixflow/{plant}/_alarm` (alarm raised/cleared), and for a simulated plant (the twin played as
devices) `mixflow/{plant}/_sim/advance` (cloud: run to `until_s`) and `.../_sim/clock/{shard}` (plant:
got to `now_s`; every message of that shard before it is on the wire), which replace the wall clock.
The clock mark goes to every shard because each shard reaches the gateway on its own session: the
broker keeps one publisher's order within a session, not across sessions.
The broker ACL (see `connect.mosquitto`) lets a device write only its own uplink topics and read
only its own `cmd` topic.

Devices that speak a standard keep the standard's own topic tree and are registered only for their
broker account and ACL (`STANDARD_KINDS`): a Sparkplug B edge node (`sparkplug`, `spBv1.0/...`) and a
VDA 5050 vehicle (`vda5050`, `uagv/v2/...`). They have no topics here, so `parse` never takes them.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from mixflow.errors import ValidationError

ROOT = "mixflow"
SHARDS = 16
ALL_SHARDS = tuple(f"s{k:02d}" for k in range(SHARDS))
KINDS = ("machine", "agv", "line", "fleet", "opcua", "receiving")
STANDARD_KINDS = ("sparkplug", "vda5050")
UPLINK = ("telemetry", "state", "event", "ack")
DOWNLINK = ("cmd",)
CHANNELS = UPLINK + DOWNLINK
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def check_name(what: str, value: str) -> str:
    """Plant and device ids must be safe topic levels: no `/`, `+`, `#`, at most 64 characters."""
    if not _NAME.match(value):
        raise ValidationError(what, f"{value!r} is not a valid topic level (letters, digits, _ . : - only)")
    return value


def shard_of(device_id: str) -> str:
    """The shard a device's topics live in (stable across processes and runs)."""
    return f"s{zlib.crc32(device_id.encode()) % SHARDS:02d}"


def device_topic(plant: str, kind: str, device_id: str, channel: str) -> str:
    return f"{ROOT}/{plant}/{shard_of(device_id)}/{kind}/{device_id}/{channel}"


def shard_filters(plant: str, shard: str, group: bool = True) -> list[str]:
    """The gateway's subscriptions for one shard: every uplink channel, as a shared group if `group`."""
    prefix = f"$share/{ROOT}-{plant}-{shard}/" if group else ""
    return [f"{prefix}{ROOT}/{plant}/{shard}/+/+/{channel}" for channel in UPLINK]


def shards_for(index: int, count: int) -> list[str]:
    """The shards gateway `index` of `count` owns (round robin over the shard numbers)."""
    if not 0 <= index < count:
        raise ValidationError("--gateway-index", f"must lie in [0, {count}), got {index}")
    return [shard for k, shard in enumerate(ALL_SHARDS) if k % count == index]


def dead_letter_topic(plant: str, reason: str) -> str:
    return f"{ROOT}/{plant}/_dead/{reason}"


def advance_topic(plant: str) -> str:
    """Where the cloud tells a simulated plant to run on (lock step, instead of the wall clock)."""
    return f"{ROOT}/{plant}/_sim/advance"


def clock_topic(plant: str, shard: str) -> str:
    """Where a simulated plant marks, in `shard`'s stream, the clock it got to."""
    return f"{ROOT}/{plant}/_sim/clock/{shard}"


def clock_filter(plant: str, shard: str, group: bool = True) -> str:
    """The gateway's subscription to one shard's clock marks, in that shard's share group."""
    prefix = f"$share/{ROOT}-{plant}-{shard}/" if group else ""
    return prefix + clock_topic(plant, shard)


def alarm_topic(plant: str) -> str:
    return f"{ROOT}/{plant}/_alarm"


@dataclass(frozen=True)
class DeviceTopic:
    """A parsed device topic."""

    plant: str
    shard: str
    kind: str
    device_id: str
    channel: str


def parse(topic: str) -> DeviceTopic | None:
    """The parts of a device topic, or None when `topic` is not one (wrong depth, kind or shard)."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != ROOT:
        return None
    _, plant, shard, kind, device_id, channel = parts
    if kind not in KINDS or channel not in CHANNELS or shard != shard_of(device_id):
        return None
    return DeviceTopic(plant, shard, kind, device_id, channel)
