from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mixflow.connect.registry import (
    Device,
    Registry,
    broker_username,
    check_password,
    gateway_username,
    hash_password,
    issue_credentials,
    plant_devices,
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


def test_every_device_of_a_plant_gets_its_own_random_password() -> None:
    plant = build_plant(0.05, 0)
    registry = Registry("changsha")
    issued = issue_credentials(registry, plant_devices(plant))
    receiving = 1 if plant.materials.modelled else 0  # goods receiving, in a plant that buys
    assert len(registry) == len(issued) == len(plant.machines) + len(plant.fleet.agv_ids) + 2 + receiving
    assert len(set(issued.values())) == len(issued)  # nothing shared, nothing derived
    salts = {device.password_hash.split("$")[3] for device in registry}
    assert len(salts) == len(registry)  # a random salt each
    machine, other = plant.machines[0].id, plant.machines[1].id
    assert registry.verify(machine, issued[machine]) and not registry.verify(machine, issued[other])


def test_provisioning_again_keeps_credentials_unless_rotated() -> None:
    registry = Registry("p")
    first = issue_credentials(registry, [("m1", "machine"), ("m2", "machine")])
    again = issue_credentials(registry, [("m1", "machine"), ("m2", "machine"), ("a1", "agv")])
    assert list(again) == ["a1"]  # only the new device gets a password
    assert registry.verify("m1", first["m1"]) and registry.verify("m2", first["m2"])
    rotated = issue_credentials(registry, [("m1", "machine"), ("m2", "machine"), ("a1", "agv")], rotate=True)
    assert set(rotated) == {"m1", "m2", "a1"}
    assert not registry.verify("m1", first["m1"]) and registry.verify("m1", rotated["m1"])


def test_broker_user_names_are_unique_across_plants() -> None:
    assert broker_username("changsha", "m1") == "changsha.m1"
    assert broker_username("hefei", "m1") != broker_username("changsha", "m1")
    assert gateway_username("changsha") == "mixflow-gateway.changsha"
    with pytest.raises(ValidationError, match=r"no '\.'"):
        broker_username("a.b", "c")  # else a.b.c would be plant a's device b.c as well
    with pytest.raises(ValidationError, match="':'"):
        broker_username("p", "ns:m1")  # ':' ends a user name in the password file
    with pytest.raises(ValidationError, match="topic level"):
        broker_username("p", "m/1")


def test_two_plants_in_one_database_keep_their_own_devices(tmp_path: Path) -> None:
    engine, _ = connect(f"sqlite:///{tmp_path / 'r.db'}")
    one, two = Registry("one"), Registry("two")
    first = issue_credentials(one, [("m1", "machine"), ("a1", "agv")])
    second = issue_credentials(two, [("m1", "agv")])
    one.save(engine)
    two.save(engine)
    loaded_one, loaded_two = Registry.load(engine, "one"), Registry.load(engine, "two")
    assert {d.device_id: d.kind for d in loaded_one} == {"m1": "machine", "a1": "agv"}
    assert {d.device_id: d.kind for d in loaded_two} == {"m1": "agv"}
    assert loaded_one.verify("m1", first["m1"]) and not loaded_one.verify("m1", second["m1"])
    assert loaded_two.verify("m1", second["m1"])


def test_registry_persists_in_the_store(tmp_path: Path) -> None:
    engine, _ = connect(f"sqlite:///{tmp_path / 'r.db'}")
    registry = Registry("p")
    registry.register("m1", "machine", "password-1")
    registry.register("a1", "agv", "password-2")
    registry.seen("a1", 1234)
    registry.save(engine)
    registry.seen("a1", 5678)  # saving again updates the rows it wrote
    registry.save(engine)
    loaded = Registry.load(engine, "p")
    assert {d.device_id: d.kind for d in loaded} == {"m1": "machine", "a1": "agv"}
    assert loaded.verify("m1", "password-1")
    assert loaded.last_seen_ms == {"a1": 5678}
    assert len(Registry.load(engine, "other")) == 0
