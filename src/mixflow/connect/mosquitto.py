"""The broker's files, written from the registry: password file, ACL and `mosquitto.conf`.

One broker may serve several plants, so the password file and the ACL are merged, not overwritten:
a plant's users (`{plant}.*` and `mixflow-gateway.{plant}`) and its ACL section are replaced, every
other line is kept. The ACL lists each user's topics explicitly (no `pattern` lines keyed on the user
name): a device writes its four uplink topics and reads its command topic, a plant's gateway reads and
writes its plant's tree only. All three files are written 0600 (see `credentials.write_private`).

Devices that speak a standard get the standard's topics, each its own only. A Sparkplug B edge node E
of group G writes its births, data and deaths (`spBv1.0/G/N*/E`, `spBv1.0/G/D*/E/+`: NDEATH is its
will) and reads its commands and the plant host's STATE (Sparkplug 3.0 `spBv1.0/STATE/{host}`); a
VDA 5050 vehicle writes `uagv/v2/M/S/{state,visualization,connection,factsheet}` (`connection` is its
will) and reads its `order` and `instantActions`. The gateway, which is the primary host and the
master control, reads those uplinks and writes those commands for its plant's groups and vehicles
only, and writes its own STATE. Mosquitto grants any subscription and filters what it delivers by
these lines, so the gateway's wildcard subscriptions (`uagv/v2/+/+/state`) take only its vehicles.

The configuration holds what the delivery guarantees need from the broker: persistent sessions that
outlive a broker restart, and queues deep enough that a gateway may be away for ten minutes at plant
rate without the broker dropping a message it has acknowledged to a device.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixflow.connect.credentials import write_private
from mixflow.connect.registry import (
    SPARKPLUG_KIND,
    VDA5050_KIND,
    Device,
    Registry,
    broker_username,
    gateway_username,
    standard_levels,
)
from mixflow.connect.sparkplug.codec import plant_host_id, state_topic
from mixflow.connect.sparkplug.codec import topic as sparkplug_topic
from mixflow.connect.topics import ROOT, STANDARD_KINDS, UPLINK, device_topic, shard_of
from mixflow.connect.vda5050.topics import FROM_VEHICLE, TO_VEHICLE, vehicle_topics
from mixflow.errors import InputFileError, ValidationError

OUTAGE_S = 600  # the gateway outage the queues must ride out
HEADROOM = 1.5  # over the busiest shard's exact need: bursts, resends, a slower restart
RATE_HZ = {"machine": 1.0, "agv": 5.0}  # the plant's telemetry rates; controllers count as 1 Hz
AUTOSAVE_S = 30  # how often the broker writes its in-memory state (sessions, queues) to disk
MAX_INFLIGHT = 1000  # MQTT 3.1.1 clients; MQTT 5 clients (the gateway) announce their own maximum


def _owner(user: str, plant: str) -> bool:
    return user.startswith(f"{plant}.") or user == gateway_username(plant)


def read_passwd(path: Path) -> dict[str, str]:
    """user -> `$7$` hash of an existing password file (empty when there is none yet)."""
    if not path.exists():
        return {}
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        if not colon:
            raise InputFileError(str(path), "not a Mosquitto password file line (user:hash)", number)
        users[user] = hashed
    return users


def merge_passwd(path: Path, registry: Registry, gateway_hash: str) -> dict[str, int]:
    """Write the plant's users (devices and gateway) into the password file, keeping other plants'."""
    plant = registry.plant
    kept = {user: hashed for user, hashed in read_passwd(path).items() if not _owner(user, plant)}
    ours = {gateway_username(plant): gateway_hash}
    ours.update((broker_username(plant, d.device_id), d.password_hash) for d in registry)
    write_private(path, "".join(f"{user}:{hashed}\n" for user, hashed in {**kept, **ours}.items()))
    return {"users": len(ours), "other_users_kept": len(kept)}


def _section_marks(plant: str) -> tuple[str, str]:
    return f"# >>> mixflow plant {plant}", f"# <<< mixflow plant {plant}"


NODE_UP = ("NBIRTH", "NDATA", "NDEATH")
DEVICE_UP = ("DBIRTH", "DDATA", "DDEATH")


def _sparkplug_topics(group: str, edge_node: str) -> tuple[list[str], list[str]]:
    """(uplink, command) topics of edge node `edge_node` (`+`: every node) of `group`."""
    up = [sparkplug_topic(group, kind, edge_node) for kind in NODE_UP]
    up += [sparkplug_topic(group, kind, edge_node, "+") for kind in DEVICE_UP]
    return up, [sparkplug_topic(group, "NCMD", edge_node), sparkplug_topic(group, "DCMD", edge_node, "+")]


def _vda_topics(device_id: str) -> tuple[list[str], list[str]]:
    """(uplink, command) topics of the VDA 5050 vehicle registered as `device_id`."""
    topic = vehicle_topics(*standard_levels(device_id))
    return [topic(name) for name in FROM_VEHICLE], [topic(name) for name in TO_VEHICLE]


def _device_lines(plant: str, device: Device) -> list[str]:
    """What one device may write (its uplinks, its will among them) and read (its commands)."""
    if device.kind == SPARKPLUG_KIND:
        up, down = _sparkplug_topics(*standard_levels(device.device_id))
        down.append(state_topic(plant_host_id(plant)))
    elif device.kind == VDA5050_KIND:
        up, down = _vda_topics(device.device_id)
    else:
        up = [device_topic(plant, device.kind, device.device_id, channel) for channel in UPLINK]
        down = [device_topic(plant, device.kind, device.device_id, "cmd")]
    return [f"topic write {t}" for t in up] + [f"topic read {t}" for t in down]


def _gateway_lines(registry: Registry) -> list[str]:
    """The gateway's plant tree, and for its edge nodes' groups and its vehicles the uplinks it reads
    and the commands it sends (as primary host it also keeps its STATE, its will)."""
    plant = registry.plant
    lines = [f"topic readwrite {ROOT}/{plant}/#"]
    standard = [d for d in registry if d.kind in STANDARD_KINDS]
    groups = sorted({standard_levels(d.device_id)[0] for d in standard if d.kind == SPARKPLUG_KIND})
    if groups:
        lines.append(f"topic readwrite {state_topic(plant_host_id(plant))}")
    for group in groups:
        up, down = _sparkplug_topics(group, "+")
        lines += [f"topic read {t}" for t in up] + [f"topic write {t}" for t in down]
    # Mosquitto tries a user's lines in order for every message it checks: one read line per vehicle,
    # all before the writes, keeps a state's scan short (benchmarks/broker_acl.py, 720 vehicles: 16 us
    # of broker CPU a state, 78 us with six lines a vehicle, 49 us an order, 7 us for wildcards)
    vehicles = [vehicle_topics(*standard_levels(d.device_id)) for d in standard if d.kind == VDA5050_KIND]
    lines += [f"topic read {vehicle('state').rpartition('/')[0]}/+" for vehicle in vehicles]
    lines += [f"topic write {vehicle(name)}" for vehicle in vehicles for name in TO_VEHICLE]
    return lines


def acl_section(registry: Registry) -> list[str]:
    """The plant's ACL lines: its gateway's topics, then each device's own."""
    plant = registry.plant
    begin, end = _section_marks(plant)
    lines = [begin, f"user {gateway_username(plant)}", *_gateway_lines(registry), ""]
    for device in registry:
        lines += [f"user {broker_username(plant, device.device_id)}", *_device_lines(plant, device), ""]
    lines.append(end)
    return lines


def merge_acl(path: Path, registry: Registry) -> dict[str, int]:
    """Replace the plant's section of the ACL file, keeping every other line."""
    begin, end = _section_marks(registry.plant)
    kept: list[str] = []
    inside = False
    for line in path.read_text().splitlines() if path.exists() else []:
        if line == begin:
            inside = True
        elif line == end:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    section = acl_section(registry)
    write_private(path, "\n".join([*kept, *([""] if kept else []), *section]) + "\n")
    users = sum(1 for line in kept if line.startswith("user "))
    return {"users": len(registry) + 1, "other_users_kept": users}


def queue_limit(devices: Iterable[tuple[str, str]]) -> dict[str, float]:
    """`max_queued_messages` for one shard session: the busiest shard's messages over the outage.

    Each shard is one persistent gateway session (see `topics`), so its queue holds that shard's
    share of the plant rate; the shards differ by a few percent (crc32 of the ids), hence the max.
    """
    per_shard: dict[str, float] = {}
    for device_id, kind in devices:
        if kind in STANDARD_KINDS:
            continue  # on its standard's tree, not in a shard session's queue
        shard = shard_of(device_id)
        per_shard[shard] = per_shard.get(shard, 0.0) + RATE_HZ.get(kind, 1.0)
    plant_rate = sum(per_shard.values())
    busiest = max(per_shard.values(), default=0.0)
    limit = math.ceil(busiest * OUTAGE_S * HEADROOM / 10_000) * 10_000
    return {"plant_msgs_per_s": plant_rate, "busiest_shard_msgs_per_s": busiest, "max_queued_messages": limit}


@dataclass(frozen=True)
class BrokerConf:
    """Where the broker listens and keeps its state; TLS when all three TLS files are given."""

    path: Path
    passwd_file: Path
    acl_file: Path
    persistence_dir: Path
    port: int = 1883
    tls_port: int = 8883
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        given = [f for f in (self.tls_ca, self.tls_cert, self.tls_key) if f is not None]
        if given and len(given) != 3:
            raise ValidationError("--tls-ca", "a TLS listener needs --tls-ca, --tls-cert and --tls-key")
        for file in given:
            if not file.is_file():
                raise InputFileError(str(file), "no such file (TLS listener)")
        for port in (self.port, self.tls_port):
            if not 0 < port < 65536:
                raise ValidationError("--port", f"{port} is not a TCP port")

    @property
    def tls(self) -> bool:
        return self.tls_ca is not None


def write_conf(conf: BrokerConf, devices: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Write `mosquitto.conf`; returns the settings written, for the command to report."""
    queues = queue_limit(devices)
    persistence = conf.persistence_dir.resolve()
    persistence.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "allow_anonymous": False,
        "password_file": str(conf.passwd_file.resolve()),
        "acl_file": str(conf.acl_file.resolve()),
        "persistence": True,
        "persistence_location": f"{persistence}/",
        "autosave_interval": AUTOSAVE_S,
        "max_queued_messages": queues["max_queued_messages"],
        "max_queued_bytes": 0,
        "max_inflight_messages": MAX_INFLIGHT,
        "set_tcp_nodelay": True,
    }
    lines = [
        "# written by `mixflow connect provision`: what the gateway's delivery guarantees need",
        f"# queues: a {OUTAGE_S // 60}-minute gateway outage at {queues['plant_msgs_per_s']:g} msg/s, "
        f"busiest shard session {queues['busiest_shard_msgs_per_s']:g} msg/s, x{HEADROOM} headroom",
        "per_listener_settings false",
        *(f"{key} {str(v).lower() if isinstance(v, bool) else v}" for key, v in settings.items()),
    ]
    if conf.tls:
        # the plain port stays on loopback for local tools; the plant's network speaks TLS only
        lines += [f"listener {conf.port} 127.0.0.1", f"listener {conf.tls_port}"]
        assert conf.tls_ca is not None and conf.tls_cert is not None and conf.tls_key is not None
        tls_files = {"cafile": conf.tls_ca, "certfile": conf.tls_cert, "keyfile": conf.tls_key}
        lines += [f"{key} {file.resolve()}" for key, file in tls_files.items()]
        lines.append("tls_version tlsv1.2")
        listeners = {"plain": f"127.0.0.1:{conf.port}", "tls": f"0.0.0.0:{conf.tls_port}"}
    else:
        lines.append(f"listener {conf.port}")
        listeners = {"plain": f"0.0.0.0:{conf.port}"}
    write_private(conf.path, "\n".join(lines) + "\n")
    return {"file": str(conf.path), **settings, "listeners": listeners, **queues}
