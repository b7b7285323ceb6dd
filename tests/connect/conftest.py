"""A private Mosquitto per test session, for what the shared broker must not be changed for.

The shared broker at 127.0.0.1:1883 is anonymous; the auth tests need a password file and an ACL,
and the crash test a known queue limit, so this starts its own `mosquitto` on a free loopback port
with its own configuration and data directory, and stops it afterwards. Plant `auth` (machines m1
and m2, AGV a1) is provisioned as an operator would (`connect.provision`: random passwords, hashed
in the registry, files 0600); an extra `mixflow-admin` account may use every topic, for the commands
that log in once for a whole simulated plant (`connect demo`, `connect bench`): a demo's plant id is
random and names its VDA 5050 interface and Sparkplug B group, which a Mosquitto ACL cannot match by
prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mixflow.connect.credentials import write_private
from mixflow.connect.provision import ProvisionFiles, provision
from mixflow.connect.registry import Registry, broker_username, hash_password, new_password
from mixflow.store.db import connect

PLANT = "auth"
DEVICES = (("m1", "machine"), ("m2", "machine"), ("a1", "agv"))
ADMIN_USER = "mixflow-admin"


@dataclass(frozen=True)
class PrivateBroker:
    host: str
    port: int
    registry: Registry
    gateway_user: str
    gateway_password: str
    tls_port: int
    ca_file: str
    folder: Path
    pid: int
    passwords: dict[str, str] = field(repr=False)  # device id -> its random password
    admin_password: str = field(repr=False, default="")

    def username(self, device_id: str) -> str:
        return broker_username(PLANT, device_id)

    def reload(self) -> None:
        """Make the broker read its password file and ACL again (after a provisioning)."""
        os.kill(self.pid, 1)  # SIGHUP
        time.sleep(0.3)


def _provision(folder: Path) -> tuple[Registry, dict[str, str], str, str]:
    """Plant `auth` provisioned into the broker's files; returns its registry, the device passwords,
    the gateway's user and password."""
    engine, _ = connect(f"sqlite:///{folder / 'registry.db'}")
    files = ProvisionFiles(folder / "passwd", folder / "acl", folder / "credentials.json")
    facts = provision(engine, PLANT, DEVICES, files)
    issued = json.loads((folder / "credentials.json").read_text())
    passwords = {device: entry["password"] for device, entry in issued["devices"].items()}
    return Registry.load(engine, PLANT), passwords, facts["gateway_user"], issued["gateway"]["password"]


def _add_admin(folder: Path) -> str:
    """An account for the whole tree (not something provisioning writes: a test operator's)."""
    password = new_password()
    users = (folder / "passwd").read_text()
    write_private(folder / "passwd", f"{users}{ADMIN_USER}:{hash_password(password)}\n")
    acl = (folder / "acl").read_text()
    write_private(folder / "acl", f"user {ADMIN_USER}\ntopic readwrite #\n\n{acl}")
    return password


def _certificates(folder: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    if shutil.which("openssl") is None:
        if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail("openssl is not installed and MIXFLOW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mixflow-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    )


@pytest.fixture(scope="session")
def untrusted_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA file of another CA than the one that signed the private broker's certificate."""
    folder = tmp_path_factory.mktemp("other-ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other-ca",
         "-keyout", "ca.key", "-out", "ca.crt"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return str(folder / "ca.crt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed and MIXFLOW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("mosquitto is not installed")
    return found


def start_mosquitto(conf: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `mosquitto -c conf` (its log beside the conf) and wait until it listens on `port`."""
    with open(conf.with_suffix(".log"), "wb") as log:  # a file: a full pipe would stall the broker
        process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                told = conf.with_suffix(".log").read_text(errors="replace")
                pytest.fail(f"mosquitto -c {conf} did not start: {told}", pytrace=False)
            time.sleep(0.05)


@pytest.fixture
def mosquitto() -> Iterator[object]:
    """Start brokers from configuration files (`mosquitto(conf, port)`); all stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(conf: Path, port: int) -> subprocess.Popen[bytes]:
        started.append(start_mosquitto(conf, port))
        return started[-1]

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """Mosquitto with per-device passwords and ACL written by provisioning (devices m1, m2, a1)."""
    mosquitto_binary()
    folder = tmp_path_factory.mktemp("mosquitto")
    registry, passwords, gateway_user, gateway_password = _provision(folder)
    admin_password = _add_admin(folder)
    port, tls_port = free_port(), free_port()
    _certificates(folder)
    (folder / "data").mkdir()
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {folder / 'passwd'}\n"
        f"acl_file {folder / 'acl'}\n"
        "persistence true\n"
        f"persistence_location {folder / 'data'}/\n"
        "max_queued_messages 100000\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {folder / 'ca.crt'}\ncertfile {folder / 'server.crt'}\nkeyfile {folder / 'server.key'}\n"
        "log_dest stderr\n" + (f"user {os.environ.get('USER', 'root')}\n" if os.geteuid() == 0 else "")
        # started as root, mosquitto would drop to user `mosquitto`, who cannot read pytest's tmp dirs
    )
    process = start_mosquitto(folder / "mosquitto.conf", port)
    try:
        yield PrivateBroker(
            "127.0.0.1",
            port,
            registry,
            gateway_user,
            gateway_password,
            tls_port,
            str(folder / "ca.crt"),
            folder,
            process.pid,
            passwords,
            admin_password,
        )
    finally:
        process.terminate()
        process.wait(10)
