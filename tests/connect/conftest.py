"""A private Mosquitto per test session, for what the shared broker must not be changed for.

The shared broker at 127.0.0.1:1883 is anonymous; the auth tests need a password file and an ACL,
and the crash test a known queue limit, so this starts its own `mosquitto` on a free loopback port
with its own configuration and data directory, and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mixflow.connect.registry import Registry

GATEWAY_PASSWORD = "gateway-secret-1"


@dataclass(frozen=True)
class PrivateBroker:
    host: str
    port: int
    registry: Registry
    gateway_password: str
    tls_port: int
    ca_file: str


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed and MIXFLOW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("mosquitto is not installed")
    return found


@pytest.fixture(scope="session")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """Mosquitto with per-device passwords and ACL written by the registry (devices m1, m2, a1)."""
    binary = _mosquitto()
    folder = tmp_path_factory.mktemp("mosquitto")
    registry = Registry("auth")
    registry.register("m1", "machine", "m1-password")
    registry.register("m2", "machine", "m2-password")
    registry.register("a1", "agv", "a1-password")
    registry.write_mosquitto_passwords(folder / "passwd", GATEWAY_PASSWORD)
    registry.write_mosquitto_acl(folder / "acl")
    port, tls_port = _free_port(), _free_port()
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
    process = subprocess.Popen(
        [binary, "-c", str(folder / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"private mosquitto did not start: {error}", pytrace=False)
            time.sleep(0.05)
    try:
        yield PrivateBroker("127.0.0.1", port, registry, GATEWAY_PASSWORD, tls_port, str(folder / "ca.crt"))
    finally:
        process.terminate()
        process.wait(10)
