"""OPC UA: the adapter against real asyncua servers, straight into the gateway's core (no broker).

The server goes away and comes back, insists on Sign&Encrypt, or asks for a user: the machine's events
still reach the gateway core, and what cannot work fails for that server with one line.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mixflow.connect import topics
from mixflow.connect.ingest import Ingest
from mixflow.connect.opcua import UNREACHABLE, Backoff, OpcUaAdapter, OpcUaRefused
from mixflow.connect.opcua_machine import SimulatedMachine
from mixflow.connect.opcua_security import OpcUaSecurity, make_certificate
from mixflow.connect.registry import Registry
from mixflow.errors import ValidationError
from mixflow.model.port import Event, MachineDown, OperationDone

FAST = {"heartbeat_s": 0.3, "watchdog_s": 0.2, "request_timeout_s": 1.0, "backoff": Backoff(0.1, 0.4)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ingest(*machines: str) -> Ingest:
    registry = Registry("p", heartbeat_timeout_ms=60_000)
    for machine in machines:
        registry.register(machine, "opcua", "password-1", b"0123456789ab")
    return Ingest(registry)


def _into(ingest: Ingest, machine: str) -> Callable[[str, bytes], object]:
    async def send(channel: str, payload: bytes) -> None:
        assert ingest.handle(topics.device_topic("p", "opcua", machine, channel), payload)

    return send


def _kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(type(e).__name__, getattr(e, "operation_id", getattr(e, "reason", ""))) for e in events]


async def _until(
    ingest: Ingest, seen: list[Event], wanted: Callable[[Event], bool], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(wanted(e) for e in seen):
        assert time.monotonic() < deadline, f"not within {timeout_s} s; got {_kinds(seen)}"
        await asyncio.sleep(0.02)
        seen += ingest.take_events()


def _done(operation: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, OperationDone) and e.operation_id == operation


def test_opcua_machine_events_reach_the_gateway_core() -> None:
    ingest = _ingest("press-1")

    async def run() -> None:
        async with SimulatedMachine("press-1", _free_port(), seed=3) as machine:
            adapter = OpcUaAdapter(
                machine.endpoint, "press-1", _into(ingest, "press-1"), publishing_interval_ms=20
            )
            bridge = asyncio.create_task(adapter.run())
            await asyncio.wait_for(adapter.ready.wait(), 20)
            await machine.run_cycle("op-1")
            await machine.fail("hydraulic pressure low")
            await asyncio.sleep(0.3)
            await machine.repair()
            await machine.run_cycle("op-2")
            await asyncio.sleep(0.3)
            adapter.stop()
            await asyncio.wait_for(bridge, 10)

    asyncio.run(run())
    events = ingest.take_events()
    assert _kinds(events) == [
        ("OperationStarted", "op-1"),
        ("OperationDone", "op-1"),
        ("MachineDown", "OutOfService: hydraulic pressure low"),
        ("MachineUp", ""),
        ("OperationStarted", "op-2"),
        ("OperationDone", "op-2"),
    ]
    assert all(e.machine_id == "press-1" for e in events)  # type: ignore[union-attr]
    powers = [value for device, metric, _, value in ingest.rows if metric == "kw"]
    assert len(powers) >= 4 and max(powers) >= 20.0
    assert ingest.counters["rejected"] == 0


def test_a_server_that_goes_away_is_reported_down_then_up_and_commands_follow_the_session() -> None:
    ingest = _ingest("press-1")
    port = _free_port()
    figures: dict[str, float] = {}

    async def run() -> None:
        seen: list[Event] = []
        # the bridge starts before its server: it waits, saying the machine is unreachable
        adapter = OpcUaAdapter(
            f"opc.tcp://127.0.0.1:{port}/mixflow/", "press-1", _into(ingest, "press-1"), **FAST
        )
        bridge = asyncio.create_task(adapter.run())
        await _until(ingest, seen, lambda e: isinstance(e, MachineDown), 3)
        async with SimulatedMachine("press-1", port, seed=1) as machine:
            await asyncio.wait_for(adapter.ready.wait(), 10)
            await machine.run_cycle("op-1")
            assert await adapter.start_operation("op-2", 0.1) == ""
            assert "BadInvalidState" in await adapter.start_operation("op-3", 0.1)  # busy with op-2
            await _until(ingest, seen, _done("op-2"), 5)
            rows_before = len(ingest.rows)
            stopped = time.monotonic()
        downs = sum(isinstance(e, MachineDown) for e in seen)
        await _until(ingest, seen, lambda e: sum(isinstance(e, MachineDown) for e in seen) > downs, 5)
        figures["down_heard_s"] = time.monotonic() - stopped
        assert await adapter.start_operation("op-4", 0.1) == UNREACHABLE
        async with SimulatedMachine("press-1", port, seed=2) as machine:
            restarted = time.monotonic()
            await asyncio.wait_for(adapter.ready.wait(), 10)
            figures["up_again_s"] = time.monotonic() - restarted
            assert await adapter.start_operation("op-5", 0.1) == ""
            await _until(ingest, seen, _done("op-5"), 5)
            assert len(ingest.rows) > rows_before  # the subscription is back: telemetry flows again
            adapter.stop()
            await asyncio.wait_for(bridge, 5)
        figures["connects"] = adapter.counters["connects"]
        figures["lost"] = adapter.counters["lost"]
        ingest.events = seen + ingest.events

    asyncio.run(run())
    events = ingest.take_events()
    assert _kinds(events) == [
        ("MachineDown", UNREACHABLE),
        ("MachineUp", ""),
        ("OperationStarted", "op-1"),
        ("OperationDone", "op-1"),
        ("OperationStarted", "op-2"),
        ("OperationDone", "op-2"),
        ("MachineDown", UNREACHABLE),
        ("MachineUp", ""),
        ("OperationStarted", "op-5"),
        ("OperationDone", "op-5"),
    ]
    assert figures["connects"] == 2 and figures["lost"] == 1
    assert figures["down_heard_s"] < 1.5, figures
    assert ingest.counters["rejected"] == 0 and ingest.counters["missing"] == 0
    assert ingest.counters["duplicates"] == 0


def _certificates(folder: Path) -> dict[str, OpcUaSecurity]:
    """A machine's, the bridge's and a stranger's certificates, each as Basic256Sha256 Sign&Encrypt."""
    made = {}
    for name in ("machine", "bridge", "stranger"):
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        make_certificate(cert, key, f"urn:mixflow:test:{name}", name)
        made[name] = OpcUaSecurity("Basic256Sha256", "SignAndEncrypt", cert, key)
    return made


def test_sign_and_encrypt_end_to_end_and_refusals_are_one_line(tmp_path: Path) -> None:
    security = _certificates(tmp_path)
    ingest = _ingest("press-1")
    outcomes: dict[str, str] = {}

    async def attempt(machine: SimulatedMachine, name: str, with_security: OpcUaSecurity | None) -> None:
        adapter = OpcUaAdapter(machine.endpoint, "press-1", _into(ingest, "press-1"), security=with_security)
        try:
            await asyncio.wait_for(adapter.run(), 10)
        except OpcUaRefused as refused:
            outcomes[name] = str(refused)

    async def run() -> None:
        trusted = (security["bridge"].certificate,)
        async with SimulatedMachine(
            "press-1", _free_port(), security=security["machine"], trusted=trusted
        ) as m:
            await attempt(m, "none", None)
            await attempt(m, "stranger", security["stranger"])
            adapter = OpcUaAdapter(
                m.endpoint, "press-1", _into(ingest, "press-1"), security=security["bridge"]
            )
            bridge = asyncio.create_task(adapter.run())
            await asyncio.wait_for(adapter.ready.wait(), 10)
            assert await adapter.start_operation("op-1", 0.05) == ""
            await asyncio.sleep(0.5)
            adapter.stop()
            await bridge

    asyncio.run(run())
    assert "offers Basic256Sha256,SignAndEncrypt, the bridge asks None" in outcomes["none"]
    assert "BadCertificateUntrusted" in outcomes["stranger"]
    assert all("\n" not in line for line in outcomes.values())
    events = _kinds(ingest.take_events())
    assert events[0] == ("MachineDown", f"opcua link refused: {outcomes['none']}")
    assert events[-3:] == [("MachineUp", ""), ("OperationStarted", "op-1"), ("OperationDone", "op-1")]


def test_a_server_that_asks_for_a_user_takes_only_the_right_password() -> None:
    ingest = _ingest("press-1")
    outcomes: dict[str, str] = {}

    async def run() -> None:
        async with SimulatedMachine("press-1", _free_port(), users={"bridge": "s3cret-pw"}) as machine:
            for password in ("wrong-pw", "s3cret-pw"):
                adapter = OpcUaAdapter(
                    machine.endpoint, "press-1", _into(ingest, "press-1"), user="bridge", password=password
                )
                bridge = asyncio.create_task(adapter.run())
                ready = asyncio.create_task(adapter.ready.wait())
                await asyncio.wait([bridge, ready], timeout=10, return_when=asyncio.FIRST_COMPLETED)
                outcomes[password] = "ready" if adapter.ready.is_set() else str(bridge.exception())
                adapter.stop()
                ready.cancel()
                await asyncio.gather(bridge, return_exceptions=True)

    asyncio.run(run())
    assert outcomes["s3cret-pw"] == "ready"
    assert "BadUserAccessDenied" in outcomes["wrong-pw"]


def test_backoff_doubles_to_its_ceiling_with_jitter() -> None:
    backoff = Backoff(0.5, 10.0, jitter=0.2)
    rng = random.Random(7)
    delays = [backoff.delay_s(attempt, rng) for attempt in range(8)]
    for attempt, delay in enumerate(delays):
        base = min(10.0, 0.5 * 2**attempt)
        assert 0.8 * base <= delay <= min(10.0, 1.2 * base)
    assert len({round(d, 6) for d in delays[5:]}) > 1  # jittered, not in lock step
    with pytest.raises(ValidationError):
        Backoff(2.0, 1.0)


def test_security_needs_its_files_and_a_private_key(tmp_path: Path) -> None:
    assert OpcUaSecurity.parse("None", None, None) is None
    with pytest.raises(ValidationError, match="--cert and --key"):
        OpcUaSecurity.parse("Basic256Sha256,SignAndEncrypt", None, None)
    with pytest.raises(ValidationError, match="policy"):
        OpcUaSecurity.parse("Basic128,SignAndEncrypt", tmp_path / "c", tmp_path / "k")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    make_certificate(cert, key, "urn:x", "x")
    assert key.stat().st_mode & 0o777 == 0o600
    security = OpcUaSecurity.parse("Basic256Sha256,SignAndEncrypt", cert, key)
    assert security is not None
    security.check()
    key.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        security.check()
