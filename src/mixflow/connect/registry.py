"""The device registry: who may talk to the gateway, with which credential, and who is alive.

Each device has its own credential, stored only as a Mosquitto PBKDF2-SHA512 hash (`$7$` format), so
the registry can write the broker's password file and ACL itself: the broker then refuses wrong
passwords and keeps each device on its own topics. Liveness comes from any uplink message (a
heartbeat is a `state` message): a device is online from its first message and offline once nothing
arrived for `heartbeat_timeout_ms`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mixflow.connect.topics import KINDS, ROOT, check_name
from mixflow.errors import UnknownNameError, ValidationError
from mixflow.model import Plant
from mixflow.store.telemetry import DeviceRecord

PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's default for `$7$` hashes
GATEWAY_USER = "mixflow-gateway"


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


def derived_password(plant_secret: str, device_id: str) -> str:
    """A per-device password derived from the plant's provisioning secret (HMAC-SHA256, 32 hex digits)."""
    return hmac.new(plant_secret.encode(), device_id.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Device:
    """One registered device."""

    device_id: str
    kind: str
    password_hash: str

    def __post_init__(self) -> None:
        check_name("device_id", self.device_id)
        if self.kind not in KINDS:
            raise ValidationError(
                "kind", f"device {self.device_id!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
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

    def sweep(self, now_ms: int) -> list[str]:
        """Mark devices silent for longer than the heartbeat timeout offline; returns those that just went."""
        gone = [
            d for d in self.online if now_ms - self.last_seen_ms.get(d, now_ms) > self.heartbeat_timeout_ms
        ]
        for device_id in gone:
            self.online.discard(device_id)
        return sorted(gone)

    # -- broker configuration ------------------------------------------------------------------

    def write_mosquitto_passwords(self, path: Path, gateway_password: str) -> None:
        """The broker's password file: every device plus the gateway's own account."""
        lines = [f"{GATEWAY_USER}:{hash_password(gateway_password)}"]
        lines += [f"{d.device_id}:{d.password_hash}" for d in self._devices.values()]
        Path(path).write_text("\n".join(lines) + "\n")

    def write_mosquitto_acl(self, path: Path) -> None:
        """The broker's ACL: a device writes only its own uplink and reads only its own commands."""
        root = f"{ROOT}/{self.plant}"
        lines = [f"user {GATEWAY_USER}", f"topic readwrite {root}/#", ""]
        lines += [
            f"pattern write {root}/+/+/%u/{channel}" for channel in ("telemetry", "state", "event", "ack")
        ]
        lines.append(f"pattern read {root}/+/+/%u/cmd")
        Path(path).write_text("\n".join(lines) + "\n")

    # -- persistence -----------------------------------------------------------------------------

    def save(self, engine: Engine) -> None:
        with Session(engine) as session, session.begin():
            for device in self._devices.values():
                session.merge(
                    DeviceRecord(
                        device_id=device.device_id,
                        plant=self.plant,
                        kind=device.kind,
                        password_hash=device.password_hash,
                        last_seen_ms=self.last_seen_ms.get(device.device_id),
                        online=device.device_id in self.online,
                    )
                )

    @classmethod
    def load(cls, engine: Engine, plant: str, heartbeat_timeout_ms: int = 10_000) -> Registry:
        registry = cls(plant, heartbeat_timeout_ms)
        with Session(engine) as session:
            for row in session.scalars(select(DeviceRecord).where(DeviceRecord.plant == plant)):
                registry.add(Device(row.device_id, row.kind, row.password_hash))
                if row.last_seen_ms is not None:
                    registry.last_seen_ms[row.device_id] = row.last_seen_ms
        return registry


def plant_devices(plant: Plant) -> Iterable[tuple[str, str]]:
    """(device id, kind) of every machine and AGV of a plant, its lines' and AGV fleet controllers."""
    for machine in plant.machines:
        yield machine.id, "machine"
    for agv_id in plant.fleet.agv_ids:
        yield agv_id, "agv"
    for line in plant.lines:
        yield line.id, "line"
    yield "fleet", "fleet"  # the AGV fleet controller (commands.FLEET_ID)


def registry_for_plant(
    plant: Plant, plant_id: str, secret: str, heartbeat_timeout_ms: int = 10_000
) -> Registry:
    """A registry of every device of `plant`, each with a password derived from `secret`.

    One salt per registry keeps this fast for 2,760 devices; each hash still differs by password.
    """
    registry = Registry(plant_id, heartbeat_timeout_ms)
    salt = hashlib.sha256(f"{plant_id}:{secret}".encode()).digest()[:12]
    for device_id, kind in plant_devices(plant):
        registry.register(device_id, kind, derived_password(secret, device_id), salt)
    return registry
