from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mixflow.connect.registry import (
    GATEWAY_USER,
    Device,
    Registry,
    check_password,
    derived_password,
    hash_password,
    registry_for_plant,
)
from mixflow.errors import UnknownNameError, ValidationError
from mixflow.reference import build_plant
from mixflow.store.db import connect


def test_hash_verifies_and_rejects_wrong_passwords() -> None:
    hashed = hash_password("s3cret-pass")
    assert hashed.startswith("$7$101$")
    assert check_password("s3cret-pass", hashed)
    assert not check_password("s3cret-pasS", hashed)
    assert not check_password("s3cret-pass", "garbage")


def test_hash_format_is_mosquittos(tmp_path: Path) -> None:
    if shutil.which("mosquitto_passwd") is None:
        if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto_passwd is not installed and MIXFLOW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("mosquitto_passwd is not installed")
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "dev1", "pw-from-mosquitto"], check=True)
    _, hashed = passwd.read_text().strip().split(":", 1)
    assert check_password("pw-from-mosquitto", hashed)
    assert not check_password("other", hashed)


def test_liveness_follows_the_heartbeat_timeout() -> None:
    registry = Registry("p", heartbeat_timeout_ms=1_000)
    registry.register("m1", "machine", "password-1")
    assert registry.seen("m1", 10_000) is True
    assert registry.seen("m1", 10_500) is False
    assert registry.sweep(11_400) == []
    assert registry.sweep(11_600) == ["m1"]
    assert "m1" not in registry.online
    assert registry.seen("m1", 11_700) is True


def test_registry_rejects_bad_devices_and_names_unknown_ones() -> None:
    registry = Registry("p")
    with pytest.raises(ValidationError, match="kind"):
        registry.register("m1", "robot", "password-1")
    with pytest.raises(ValidationError, match="topic level"):
        registry.register("m/1", "machine", "password-1")
    with pytest.raises(ValidationError, match="8 characters"):
        registry.register("m1", "machine", "short")
    with pytest.raises(UnknownNameError, match="m9"):
        registry.get("m9")
    with pytest.raises(ValidationError, match="PBKDF2"):
        Device("m1", "machine", "plaintext")


def test_plant_registry_covers_every_machine_and_agv_and_writes_broker_files(tmp_path: Path) -> None:
    plant = build_plant(0.05, 0)
    registry = registry_for_plant(plant, "changsha", "provisioning-secret")
    assert len(registry) == len(plant.machines) + len(plant.fleet.agv_ids) + 2
    machine = plant.machines[0].id
    assert registry.verify(machine, derived_password("provisioning-secret", machine))
    assert not registry.verify(machine, derived_password("other-secret", machine))
    registry.write_mosquitto_passwords(tmp_path / "passwd", "gateway-pw")
    registry.write_mosquitto_acl(tmp_path / "acl")
    lines = (tmp_path / "passwd").read_text().splitlines()
    assert lines[0].startswith(GATEWAY_USER + ":$7$") and len(lines) == len(registry) + 1
    acl = (tmp_path / "acl").read_text()
    assert "pattern write mixflow/changsha/+/+/%u/telemetry" in acl
    assert "pattern read mixflow/changsha/+/+/%u/cmd" in acl


def test_registry_persists_in_the_store(tmp_path: Path) -> None:
    engine, _ = connect(f"sqlite:///{tmp_path / 'r.db'}")
    registry = Registry("p")
    registry.register("m1", "machine", "password-1")
    registry.register("a1", "agv", "password-2")
    registry.seen("a1", 1234)
    registry.save(engine)
    loaded = Registry.load(engine, "p")
    assert {d.device_id: d.kind for d in loaded} == {"m1": "machine", "a1": "agv"}
    assert loaded.verify("m1", "password-1")
    assert loaded.last_seen_ms == {"a1": 1234}
    assert len(Registry.load(engine, "other")) == 0
