"""`mixflow connect provision`: random credentials at plant scale, files 0600 whatever the umask, a
broker configuration a real Mosquitto accepts, and plants that share a database and a broker."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any as PrivateBroker  # the fixture type lives in conftest.py

import pytest
from sqlalchemy import delete

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.provision import ProvisionFiles, provision
from mixflow.connect.registry import Registry, broker_username
from mixflow.connect.wire import MqttError, WireClient
from mixflow.reference import build_plant
from mixflow.store.db import connect
from mixflow.store.telemetry import DeviceRecord

pytestmark = pytest.mark.services


def _mixflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, under umask 000 (the files must come out 0600 anyway)."""
    return subprocess.run(
        [sys.executable, "-m", "mixflow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        umask=0,
        env={**os.environ, **(env or {})},
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def plant_id(postgres_url: str) -> Iterator[str]:
    """A fresh plant id in the real PostgreSQL database, its devices removed afterwards."""
    plant = f"p{uuid.uuid4().hex[:10]}"
    yield plant
    engine, _ = connect(postgres_url)
    with engine.begin() as rows:
        rows.execute(delete(DeviceRecord).where(DeviceRecord.plant == plant))


def test_provision_at_plant_scale_issues_random_credentials_once(
    postgres_url: str, plant_id: str, tmp_path: Path
) -> None:
    files = ["--passwd-file", "passwd", "--acl-file", "acl", "--credentials", "creds.json"]
    files = [str(tmp_path / f) if not f.startswith("--") else f for f in files]
    argv = ["connect", "provision", "--scale", "1.0", "--plant-id", plant_id, "--db", postgres_url, *files]
    first = _mixflow(*argv, "--json")
    assert first.returncode == 0, first.stderr
    facts = json.loads(first.stdout)
    assert facts["devices"] == facts["new_credentials"] == 2040 + 720 + 2 + 1  # + goods receiving
    assert facts["seconds"] < 5  # measured 0.6 s on PostgreSQL: 2,763 PBKDF2 hashes, each its own salt
    for name in ("passwd", "acl", "creds.json"):
        assert _mode(tmp_path / name) == 0o600, name
    issued = json.loads((tmp_path / "creds.json").read_text())
    assert len(issued["devices"]) == 2763 and issued["gateway"]["username"] == f"mixflow-gateway.{plant_id}"
    passwords = {device: entry["password"] for device, entry in issued["devices"].items()}
    assert len(set(passwords.values())) == len(passwords)
    engine, _ = connect(postgres_url)
    registry = Registry.load(engine, plant_id)
    device = next(iter(passwords))
    assert registry.verify(device, passwords[device])
    assert issued["devices"][device]["username"] == broker_username(plant_id, device)
    assert not any(p in first.stdout + first.stderr for p in list(passwords.values())[:50])
    assert issued["gateway"]["password"] not in (tmp_path / "passwd").read_text()

    again = _mixflow(*argv, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["new_credentials"] == 0  # everyone keeps their password
    assert json.loads((tmp_path / "creds.json").read_text()) == issued
    assert Registry.load(engine, plant_id).verify(device, passwords[device])

    rotated = _mixflow(*argv, "--rotate", "--json")
    assert json.loads(rotated.stdout)["new_credentials"] == 2763
    assert not Registry.load(engine, plant_id).verify(device, passwords[device])


def test_the_written_broker_conf_runs_a_real_mosquitto_with_tls(
    private_broker: PrivateBroker, tmp_path: Path, mosquitto: Callable[[Path, int], object]
) -> None:
    """provision --broker-conf with the plant's TLS files: mosquitto -c accepts it; a device logs in
    with its credential over TLS and on the loopback port; anonymous and wrong passwords are refused."""
    port, tls_port = _free_port(), _free_port()
    ca, folder = private_broker.ca_file, private_broker.folder
    result = _mixflow(
        *("connect", "provision", "--scale", "0.05", "--plant-id", "conf", "--db"),
        f"sqlite:///{tmp_path / 'r.db'}",
        *("--passwd-file", str(tmp_path / "passwd"), "--acl-file", str(tmp_path / "acl")),
        *("--credentials", str(tmp_path / "creds.json"), "--broker-conf", str(tmp_path / "mosquitto.conf")),
        *("--port", str(port), "--tls-port", str(tls_port), "--tls-ca", ca),
        *("--tls-cert", str(folder / "server.crt"), "--tls-key", str(folder / "server.key")),
    )
    assert result.returncode == 0, result.stderr
    assert "persistence true" in result.stdout and "max_queued_messages" in result.stdout
    assert f"tls on 0.0.0.0:{tls_port}" in result.stdout
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert _mode(tmp_path / "mosquitto.conf") == 0o600
    for line in ("allow_anonymous false", "persistence true", "max_queued_bytes 0", f"listener {tls_port}"):
        assert line in conf.splitlines()
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if not line.startswith("#"))
    assert int(settings["max_queued_messages"]) >= 10_000
    if os.geteuid() == 0:  # as root mosquitto would become user `mosquitto`, who cannot read tmp dirs
        (tmp_path / "mosquitto.conf").write_text(conf + "user root\n")
    mosquitto(tmp_path / "mosquitto.conf", port)
    issued = json.loads((tmp_path / "creds.json").read_text())["devices"]
    machine = build_plant(0.05, 0).machines[0].id
    password = issued[machine]["password"]

    async def run() -> None:
        tls = Broker("127.0.0.1", tls_port, tls=True, ca_file=ca)
        async with DeviceLink(tls, "conf", "machine", machine, password=password) as link:
            await link.telemetry({"kw": 1.0})
        async with DeviceLink(Broker("127.0.0.1", port), "conf", "machine", machine, password=password):
            pass
        for username, secret in ((None, None), (broker_username("conf", machine), "wrong-password")):
            with pytest.raises(MqttError, match=r"not authorized|bad user name"):
                await WireClient("127.0.0.1", port, "probe", username=username, password=secret).connect()

    asyncio.run(run())


def test_a_second_plant_in_the_same_database_and_broker_files_leaves_the_first_working(
    private_broker: PrivateBroker,
) -> None:
    """Plant `other` (with its own m1) merges into plant `auth`'s database and broker files; after the
    broker reloads them both plants' m1 log in with their own passwords, neither can use the other's
    topics, and plant auth's gateway cannot read plant other's tree."""
    folder = private_broker.folder
    engine, _ = connect(f"sqlite:///{folder / 'registry.db'}")
    files = ProvisionFiles(folder / "passwd", folder / "acl", folder / "other-credentials.json")
    facts = provision(engine, "other", [("m1", "machine"), ("b7", "agv")], files)
    assert facts["passwd_file"]["other_users_kept"] == 5  # auth's gateway, m1, m2, a1 and the admin
    private_broker.reload()
    other = json.loads((folder / "other-credentials.json").read_text())["devices"]
    assert Registry.load(engine, "auth").verify("m1", private_broker.passwords["m1"])
    assert {d.device_id for d in Registry.load(engine, "other")} == {"m1", "b7"}
    host, port = private_broker.host, private_broker.port
    payload = b'{"v": 1, "t": 1, "seq": 1, "m": {"kw": 1.0}}'

    async def run() -> list[str]:
        heard: list[str] = []
        gateway = WireClient(
            host,
            port,
            "auth-gw",
            username=private_broker.gateway_user,
            password=private_broker.gateway_password,
            on_messages=lambda batch: heard.extend(m.topic for m in batch),
        )
        await gateway.connect()
        await gateway.subscribe(["mixflow/auth/+/+/+/telemetry", "mixflow/other/#"])  # Mosquitto grants both
        auth_m1 = WireClient(
            host, port, "auth-m1", username="auth.m1", password=private_broker.passwords["m1"]
        )
        other_m1 = WireClient(host, port, "other-m1", username="other.m1", password=other["m1"]["password"])
        await auth_m1.connect()
        await other_m1.connect()
        await (await auth_m1.publish(topics.device_topic("auth", "machine", "m1", "telemetry"), payload))
        await (await other_m1.publish(topics.device_topic("other", "machine", "m1", "telemetry"), payload))
        for client, plant in ((auth_m1, "other"), (other_m1, "auth")):
            refused = await client.publish(topics.device_topic(plant, "machine", "m1", "telemetry"), payload)
            with pytest.raises(MqttError, match="0x87"):
                await refused
        await asyncio.sleep(0.3)
        for client in (auth_m1, other_m1, gateway):
            await client.disconnect()
        return heard

    # plant auth's gateway hears its own m1 only, never plant other's
    assert asyncio.run(run()) == [topics.device_topic("auth", "machine", "m1", "telemetry")]


def test_provision_registers_the_machines_of_an_opcua_bridge_config_as_bridged(tmp_path: Path) -> None:
    """A machine an OPC UA bridge serves is registered as kind `opcua` (its bridge logs in for it and
    the gateway sends its commands where the bridge listens); a config for another plant or naming a
    machine the plant does not have is refused, naming the file."""
    plant = build_plant(scale=0.1, seed=0)
    machine = plant.machines[0].id
    db = f"sqlite:///{tmp_path / 'p.db'}"
    config = tmp_path / "bridge.yaml"
    config.write_text(f"plant: px\nservers:\n  - {{machine: {machine}, endpoint: 'opc.tcp://10.1.4.21:4840/'}}\n")
    files = ["--passwd-file", str(tmp_path / "passwd"), "--acl-file", str(tmp_path / "acl")]
    files += ["--credentials", str(tmp_path / "c.json")]
    argv = ["connect", "provision", "--scale", "0.1", "--db", db, *files]
    done = _mixflow(*argv, "--plant-id", "px", "--opcua-config", str(config))
    assert done.returncode == 0, done.stderr
    assert "1 machines bridged from OPC UA" in done.stdout
    engine, _ = connect(db)
    registry = Registry.load(engine, "px")
    assert registry.kind_of(machine) == "opcua" and registry.kind_of(plant.machines[1].id) == "machine"
    issued = json.loads((tmp_path / "c.json").read_text())["devices"]
    assert issued[machine]["kind"] == "opcua"

    wrong_plant = _mixflow(*argv, "--plant-id", "py", "--opcua-config", str(config))
    assert wrong_plant.returncode == 2
    assert f"{config}: bridges plant 'px', not --plant-id 'py'" in wrong_plant.stderr
    config.write_text("plant: px\nservers:\n  - {machine: no-such-press, endpoint: 'opc.tcp://h:4840/'}\n")
    stranger = _mixflow(*argv, "--plant-id", "px", "--opcua-config", str(config))
    assert stranger.returncode == 2 and "no-such-press" in stranger.stderr
    assert "Traceback" not in stranger.stderr
