"""What the gateway tests look at from outside: a registry of plain machines, the sequence numbers
stored per device, an HTTP GET of the metrics endpoint."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable

from sqlalchemy import Engine, text

from mixflow.connect.registry import Registry


def machine_registry(plant: str, devices: Iterable[str]) -> Registry:
    """`devices` as machines of `plant`, silent for an hour before anyone calls them offline."""
    registry = Registry(plant, heartbeat_timeout_ms=3_600_000)
    for device_id in devices:
        registry.register(device_id, "machine", f"{device_id}-password", b"0123456789ab")
    return registry


def stored_seqs(engine: Engine) -> dict[str, list[int]]:
    """Per device, the sequence numbers stored (as the value of metric `seq`), repeats included, in the
    order they were stored."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT device_id, value FROM telemetry_sample WHERE metric = 'seq' ORDER BY id")
        )
        out: dict[str, list[int]] = {}
        for device_id, value in rows:
            out.setdefault(device_id, []).append(int(value))
        return out


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body, an error status included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
