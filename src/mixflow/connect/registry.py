"""The device registry: who may talk to the gateway, with which credential, and who is alive.

Each device has its own random password (drawn by `issue_credentials`, handed out once), stored only
as a Mosquitto PBKDF2-SHA512 hash (`$7$` format, a random salt each), so the registry can feed the
broker's password file and ACL (`connect.mosquitto`): the broker then refuses wrong passwords and keeps
each device on its own topics. No password derives from another, so one leaked device or file of
hashes gives away nothing else. On the broker a device logs in as `{plant}.{device_id}` and a plant's
gateway as `mixflow-gateway.{plant}`: several plants share one broker without sharing a user name.
Liveness comes from any uplink message (a heartbeat is a `state` message): a device is online from
its first message and offline once nothing arrived for `heartbeat_timeout_ms`.

A Sparkplug B edge node or a VDA 5050 vehicle (`topics.STANDARD_KINDS`) is registered for its account
only: its id `{group}.{edge_node}` or `{manufacturer}.{serial}` holds the two topic levels its ACL is
cut to (`standard_device_id`), since the id and the kind are all the registry keeps of a device.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mixflow.connect.topics import KINDS, STANDARD_KINDS, check_name
from mixflow.errors import UnknownNameError, ValidationError
from mixflow.model import Plant
from mixflow.store.telemetry import DeviceRecord

PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's default for `$7$` hashes
GATEWAY_USER = "mixflow-gateway"
PASSWORD_BYTES = 24  # 32 URL-safe characters, 192 random bits
SPARKPLUG_KIND, VDA5050_KIND = STANDARD_KINDS
_LEVELS = {
    SPARKPLUG_KIND: ("Sparkplug group", "Sparkplug edge node"),
    VDA5050_KIND: ("VDA 5050 manufacturer", "VDA 5050 serialNumber"),
}


def broker_username(plant: str, device_id: str) -> str:
    """A device's user name on the broker: unique across the plants that share it."""
    if "." in plant or plant == GATEWAY_USER:
        raise ValidationError("plant", f"{plant!r}: a plant on a broker has no '.' and is not {GATEWAY_USER}")
    if ":" in device_id:
        raise ValidationError("device_id", f"{device_id!r}: a broker user name cannot hold ':'")
    return f"{check_name('plant', plant)}.{check_name('device_id', device_id)}"


def gateway_username(plant: str) -> str:
    """The account of a plant's gateways: its plant's topic tree and nothing else."""
    broker_username(plant, "gateway")  # the same checks on the plant id
    return f"{GATEWAY_USER}.{plant}"


def standard_device_id(kind: str, scope: str, name: str) -> str:
    """The registry id of a Sparkplug edge node (`scope` its group) or a VDA 5050 vehicle (`scope` its
    manufacturer): `{scope}.{name}`; `scope` holds no '.', so `standard_levels` splits it back exactly."""
    scope_what, name_what = _LEVELS[kind]
    check_name(name_what, name)
    if "." in check_name(scope_what, scope):
        raise ValidationError(scope_what, f"{scope!r}: no '.' allowed (it ends the {scope_what} in the id)")
    return check_name(f"{kind} device id", f"{scope}.{name}")


def standard_levels(device_id: str) -> tuple[str, str]:
    """(group, edge node) or (manufacturer, serial number) of a standard device's id."""
    scope, _, name = device_id.partition(".")
    return scope, name


def new_password() -> str:
    """A fresh random password (never derived from anything)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A Mosquitto-compatible `$7$` hash (PBKDF2-HMAC-SHA512, 12-byte salt)."""
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """True when `password` matches a `$7$` hash (constant-time comparison)."""
    try:
        _, scheme, iterations, salt, digest = hashed.split("$")
        if scheme != "7":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, actual)


@dataclass(frozen=True)
class Device:
    """One registered device."""

    device_id: str
    kind: str
    password_hash: str

    def __post_init__(self) -> None:
        check_name("device_id", self.device_id)
        if self.kind not in KINDS + STANDARD_KINDS:
            raise ValidationError(
                "kind",
                f"device {self.device_id!r}: kind must be one of {KINDS + STANDARD_KINDS}, got {self.kind!r}",
            )
        if self.kind in STANDARD_KINDS and not all(standard_levels(self.device_id)):
            shape = " '.' ".join(_LEVELS[self.kind])
            raise ValidationError("device_id", f"{self.device_id!r}: a {self.kind} id is `{shape}`")
        if not self.password_hash.startswith("$7$"):
            raise ValidationError("password_hash", f"device {self.device_id!r}: not a `$7$` PBKDF2 hash")


class Registry:
    """The devices of one plant and their liveness."""

    def __init__(self, plant: str, heartbeat_timeout_ms: int = 10_000) -> None:
        self.plant = check_name("plant", plant)
        if heartbeat_timeout_ms <= 0:
            raise ValidationError("heartbeat_timeout_ms", f"must be positive, got {heartbeat_timeout_ms}")
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self._devices: dict[str, Device] = {}
        self.last_seen_ms: dict[str, int] = {}
        self.online: set[str] = set()

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[Device]:
        return iter(self._devices.values())

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def add(self, device: Device) -> None:
        self._devices[device.device_id] = device

    def register(self, device_id: str, kind: str, password: str, salt: bytes | None = None) -> Device:
        """Register a device with its own password (stored hashed)."""
        if len(password) < 8:
            raise ValidationError("password", f"device {device_id!r}: at least 8 characters")
        device = Device(device_id, kind, hash_password(password, salt))
        self.add(device)
        return device

    def issue(self, device_id: str, kind: str) -> str:
        """Register a device with a fresh random password; returns it (the registry keeps the hash)."""
        password = new_password()
        self.register(device_id, kind, password)
        return password

    def get(self, device_id: str) -> Device:
        try:
            return self._devices[device_id]
        except KeyError:
            raise UnknownNameError("device", device_id, list(self._devices)) from None

    def kind_of(self, device_id: str) -> str | None:
        device = self._devices.get(device_id)
        return None if device is None else device.kind

    def verify(self, device_id: str, password: str) -> bool:
        device = self._devices.get(device_id)
        return device is not None and check_password(password, device.password_hash)

    def seen(self, device_id: str, t_ms: int) -> bool:
        """Record a message from the device; True when this brings it online."""
        if t_ms > self.last_seen_ms.get(device_id, -1):
            self.last_seen_ms[device_id] = t_ms
        if device_id in self.online:
            return False
        self.online.add(device_id)
        return True

    def excuse(self, now_ms: int) -> None:
        """Restart every online device's silence at `now_ms`: the gateway could not hear anyone."""
        for device_id in self.online:
            self.last_seen_ms[device_id] = max(self.last_seen_ms.get(device_id, now_ms), now_ms)

    def sweep(self, now_ms: int) -> list[str]:
        """Mark devices silent for longer than the heartbeat timeout offline; returns those that just went."""
        gone = [
            d for d in self.online if now_ms - self.last_seen_ms.get(d, now_ms) > self.heartbeat_timeout_ms
        ]
        for device_id in gone:
            self.online.discard(device_id)
        return sorted(gone)

    # -- persistence -----------------------------------------------------------------------------

    def save(self, engine: Engine) -> None:
        """Insert or update this plant's devices (one query for the known ones, then one flush:
        a merge per device would cost a round trip each, 2,760 at plant scale)."""
        with Session(engine) as session, session.begin():
            query = select(DeviceRecord).where(DeviceRecord.plant == self.plant)
            stored = {row.device_id: row for row in session.scalars(query)}
            for device in self._devices.values():
                row = stored.get(device.device_id)
                if row is None:
                    row = DeviceRecord(device_id=device.device_id, plant=self.plant)
                    session.add(row)
                row.kind = device.kind
                row.password_hash = device.password_hash
                row.last_seen_ms = self.last_seen_ms.get(device.device_id)
                row.online = device.device_id in self.online

    @classmethod
    def load(cls, engine: Engine, plant: str, heartbeat_timeout_ms: int = 10_000) -> Registry:
        registry = cls(plant, heartbeat_timeout_ms)
        with Session(engine) as session:
            for row in session.scalars(select(DeviceRecord).where(DeviceRecord.plant == plant)):
                registry.add(Device(row.device_id, row.kind, row.password_hash))
                if row.last_seen_ms is not None:
                    registry.last_seen_ms[row.device_id] = row.last_seen_ms
        return registry

    def refresh(self, engine: Engine) -> list[str]:
        """Take up this plant's devices registered in the store since we loaded (a running gateway
        calls it, so a newly provisioned device needs no restart); returns the new ids. Liveness and
        devices only we know are kept."""
        with Session(engine) as session:
            query = select(DeviceRecord.device_id, DeviceRecord.kind, DeviceRecord.password_hash).where(
                DeviceRecord.plant == self.plant
            )
            rows = session.execute(query).all()
        new = [device_id for device_id, _, _ in rows if device_id not in self._devices]
        for device_id, kind, password_hash in rows:
            self.add(Device(device_id, kind, password_hash))
        return sorted(new)


def plant_devices(plant: Plant) -> Iterable[tuple[str, str]]:
    """(device id, kind) of every machine and AGV of a plant, its lines' and AGV fleet controllers, and
    its goods receiving where the plant buys from suppliers it describes (else nothing is ever ordered)."""
    for machine in plant.machines:
        yield machine.id, "machine"
    for agv_id in plant.fleet.agv_ids:
        yield agv_id, "agv"
    for line in plant.lines:
        yield line.id, "line"
    yield "fleet", "fleet"  # the AGV fleet controller (commands.FLEET_ID)
    if plant.materials.modelled:
        yield "receiving", "receiving"  # goods receiving (commands.RECEIVING_ID)


def issue_credentials(
    registry: Registry, devices: Iterable[tuple[str, str]], rotate: bool = False
) -> dict[str, str]:
    """Register `devices` (id, kind); a new device, or with `rotate` every one, gets a new random
    password. Returns the passwords issued (device id -> password): the only time they exist in clear.
    A known device keeps its credential (and takes the kind given)."""
    issued: dict[str, str] = {}
    for device_id, kind in devices:
        if device_id not in registry or rotate:
            issued[device_id] = registry.issue(device_id, kind)
        elif registry.get(device_id).kind != kind:
            registry.add(Device(device_id, kind, registry.get(device_id).password_hash))
    return issued
