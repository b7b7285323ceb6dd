"""Connect without loss (issue 27): every fault, devices at QoS 1, what the broker acknowledged against
what PostgreSQL holds. Each run: 200 machines at 1 Hz + 60 AGVs at 5 Hz (500 msg/s, a tenth of the
plant), 3 s steady, the fault held 2 s (a thousand messages published meanwhile), 6 s after it; then
the gateway gets up to 20 s to store the rest.
`benchmarks/faults.py` runs the same at the plant's rate and a 10-minute gateway outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import TEST, FaultReport, Phases, run_fault

pytestmark = pytest.mark.services
PHASES = Phases(warmup_s=3.0, hold_s=2.0, after_s=6.0, drain_s=20.0, stall_s=6.0)
RECOVERY_S = 10.0


def _run(fault: str, server_url: str, tmp_path: Path) -> FaultReport:
    return run_fault(fault, TEST, PHASES, tmp_path / fault, server_url)


def _no_loss(report: FaultReport) -> None:
    row = report.as_row()
    assert report.acked > 0.8 * TEST.offered_per_s * (PHASES.warmup_s + PHASES.after_s), row
    assert report.lost == 0, f"{report.lost} acknowledged messages neither stored nor quarantined: {row}"
    assert report.duplicates == 0, f"{report.duplicates} duplicate rows stored: {row}"
    assert report.recovery_s is not None, f"the gateway never stored at the offered rate again: {row}"
    assert report.recovery_s <= RECOVERY_S, f"back to full rate only after {report.recovery_s} s: {row}"


def test_broker_restart_loses_nothing(fault_servers: str, tmp_path: Path) -> None:
    """The broker stops (SIGTERM, saving its sessions) and comes back on the same port: the gateway
    reconnects, re-subscribes and resumes its persistent sessions."""
    _no_loss(_run("broker_restart", fault_servers, tmp_path))


def test_gateway_kill_loses_nothing(fault_servers: str, tmp_path: Path) -> None:
    """kill -9 mid-stream, restarted with the same --gateway-id: the broker kept its queue, the new
    process stores what the dead one had not acknowledged, and nothing twice."""
    _no_loss(_run("gateway_kill", fault_servers, tmp_path))


def test_device_reboot_is_not_taken_for_duplicates(fault_servers: str, tmp_path: Path) -> None:
    """A quarter of the devices restart their agent: seq starts again at 1 with a higher boot."""
    _no_loss(_run("device_reboot", fault_servers, tmp_path))


def test_poison_message_is_quarantined_and_the_rest_stored(fault_servers: str, tmp_path: Path) -> None:
    """One message passes validation but PostgreSQL refuses it (NUL in a metric name): it goes to
    `connect_dead_letter` with reason `store`, every other message of its batch is stored."""
    report = _run("poison_message", fault_servers, tmp_path)
    _no_loss(report)
    assert report.dead_letters.get("store") == 1, report.as_row()
    assert report.quarantined == 1, report.as_row()


def test_database_outage_is_buffered_not_dropped(fault_servers: str, tmp_path: Path) -> None:
    """PostgreSQL unreachable for 2 s (open connections reset, new ones refused): the gateway holds
    back acknowledgements, so the broker keeps the messages, and stores them when it is back."""
    _no_loss(_run("database_outage", fault_servers, tmp_path))
