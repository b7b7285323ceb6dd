"""Shared fixtures: the real PostgreSQL and MQTT servers, required in CI, skipped with a reason elsewhere.

`MIXFLOW_REQUIRE_SERVICES=1` (set by `.ci/run`) turns a missing server from a skip into a failure,
so CI can never pass by silently skipping the database and broker paths.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("MIXFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MQTT_HOST = os.environ.get("MIXFLOW_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("MIXFLOW_TEST_MQTT_PORT", "1883"))
SHARED_BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _require(name: str, host: str, port: int) -> None:
    if not _reachable(host, port):
        _missing(f"{name} is not reachable at {host}:{port}")


def _missing(message: str) -> None:
    if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and MIXFLOW_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message} (install or start it to run this test)")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL test database."""
    _require("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """Host and port of the real MQTT broker (Mosquitto)."""
    _require("MQTT broker", MQTT_HOST, MQTT_PORT)
    return MQTT_HOST, MQTT_PORT


@pytest.fixture(scope="session")
def mosquitto_installed() -> None:
    """Tests that start a private Mosquitto (to restart it, or with settings of their own) need the
    binary as much as the shared broker: required in CI."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        _missing("mosquitto is not installed")


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """The read-only public instances; tests that read them skip where the folder is absent."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"public benchmark folder {SHARED_BENCHMARKS} not present")
    return SHARED_BENCHMARKS
