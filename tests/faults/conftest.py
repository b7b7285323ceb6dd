"""The fault-injection suite's servers: the real PostgreSQL (its scratch schemas) and a private
Mosquitto per run, so a missing server fails under MIXFLOW_REQUIRE_SERVICES=1 and skips elsewhere.

The harness is shared with `benchmarks/faults.py`, which imports it as `tests.faults.harness`; the
project root goes on `sys.path` here so that works under `pytest` as under `python -m pytest`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



@pytest.fixture(scope="session")
def fault_servers(postgres_url: str, mosquitto_installed: None) -> str:
    """The PostgreSQL server URL runs make their scratch schemas on, once mosquitto is known to exist."""
    return postgres_url
