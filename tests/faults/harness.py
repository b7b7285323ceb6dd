"""Fault injection against the real Mosquitto and PostgreSQL, measured from outside the gateway.

One run of one fault: a private Mosquitto (own port and data dir, persistent, a large per-session
queue), a fresh PostgreSQL schema with the devices registered, `mixflow connect gateway` as a real
process, devices as outside paho-mqtt processes (`fleet.py`) publishing QoS 1 telemetry on schedule,
and the gateway's database behind a TCP proxy that can be cut. After a warm-up the fault is injected,
then the devices publish on, stop, and the harness waits for the gateway to store what is left.

The truth is what the broker acknowledged to each device (PUBACKs, counted by the devices) against what
is in `telemetry_sample` (each message stores one row, metric `boot_seq`, value boot * 10^6 + seq):
lost = acknowledged but neither stored nor quarantined in `connect_dead_letter` with reason `store`;
duplicates = rows beyond one per (device, boot, seq); recovery_s = from the fault's end until the
gateway stores at the offered rate again (a 2 s window at 90% of it, from `telemetry_sample`'s ids).

Used by `tests/faults/` (a few hundred devices, seconds per phase) and `benchmarks/faults.py` (the
plant's 2,040 machines at 1 Hz + 720 AGVs at 5 Hz, minutes per phase).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg

from mixflow.connect.registry import Registry
from mixflow.store.db import connect, normalise_url, scratch_database

FLEET_SCRIPT = Path(__file__).with_name("fleet.py")
SEQ_SPAN = 1_000_000  # as fleet.SEQ_SPAN
METRIC = "boot_seq"
RATE_WINDOW_S = 2.0
RATE_FRACTION = 0.9
FAULTS = ("broker_restart", "gateway_kill", "device_reboot", "poison_message", "database_outage")


class HarnessError(RuntimeError):
    """The rig itself failed (a server did not start): not a finding about the gateway."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    return found or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# -- the plant's traffic -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Which devices publish how often: machines `m00000`... and AGVs `a0000`...; `publishers` paho
    processes share them (each one client session)."""

    machines: int
    agvs: int
    machine_hz: float = 1.0
    agv_hz: float = 5.0
    publishers: int = 1

    @property
    def offered_per_s(self) -> float:
        return self.machines * self.machine_hz + self.agvs * self.agv_hz

    def devices(self) -> list[tuple[str, str]]:
        """(device id, kind) of every device."""
        return [(f"m{k:05d}", "machine") for k in range(self.machines)] + [
            (f"a{k:04d}", "agv") for k in range(self.agvs)
        ]

    def scaled(self, scale: float) -> Profile:
        """The same rates per device with `scale` times as many devices."""
        return Profile(
            max(1, round(self.machines * scale)),
            max(1, round(self.agvs * scale)),
            self.machine_hz,
            self.agv_hz,
            self.publishers,
        )


PLANT = Profile(2040, 720, 1.0, 5.0, publishers=2)  # 5,640 msg/s
TEST = Profile(200, 60, 1.0, 5.0, publishers=1)  # 500 msg/s


@dataclass(frozen=True)
class Phases:
    """Seconds of each phase of a run: steady traffic, the fault held, traffic after it, and how long
    to wait, once the devices stopped, for the gateway to store the rest (it ends sooner when all is
    stored, or after `stall_s` without a new row)."""

    warmup_s: float = 3.0
    hold_s: float = 4.0
    after_s: float = 6.0
    drain_s: float = 20.0
    stall_s: float = 6.0


# -- the servers -------------------------------------------------------------------------------------


class Mosquitto:
    """A private broker on its own port and data dir, which can be stopped (SIGTERM: it saves its
    sessions and queues) and started again on the same port and data."""

    def __init__(self, folder: Path, max_queued_messages: int = 10_000_000, autosave_interval_s: int = 2):
        binary = mosquitto_binary()
        if binary is None:
            raise HarnessError("mosquitto is not installed")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.max_queued_messages = max_queued_messages
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder / 'data'}/\n"
            f"autosave_interval {autosave_interval_s}\n"
            f"max_queued_messages {max_queued_messages}\n"
            "log_dest stderr\n" + (f"user {os.environ.get('USER', 'root')}\n" if os.geteuid() == 0 else "")
            # as root, mosquitto would drop to user `mosquitto`, who cannot write our data dir
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        self.starts += 1
        with (self.folder / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while not reachable("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"mosquitto did not start: {_tail(self.folder / 'mosquitto.log')}")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 120.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class DatabaseProxy:
    """A TCP proxy in front of PostgreSQL (asyncio in a thread). `cut()` closes the listening socket
    and resets every open connection, as a database outage or a network partition would;
    `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="db-proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.restore()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def url(self, db_url: str) -> str:
        """`db_url` (on the real server) pointed at this proxy instead."""
        parts = urlsplit(db_url)
        user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))


def register_devices(db_url: str, plant: str, devices: list[tuple[str, str]]) -> None:
    """Register the devices of `plant` in the gateway's database. Through the Registry API rather than
    `mixflow connect provision`, whose options are changing; on the anonymous private broker the
    credentials are never used, so each device gets a random one."""
    engine, _ = connect(db_url)
    registry = Registry(plant)
    for device_id, kind in devices:
        registry.register(device_id, kind, secrets.token_urlsafe(24))
    registry.save(engine)
    engine.dispose()


class GatewayProcess:
    """`mixflow connect gateway` as a real process, output in the run's folder."""

    def __init__(self, broker_url: str, db_url: str, plant: str, folder: Path, gateway_id: str = "gw0"):
        self.command = [
            sys.executable,
            "-m",
            "mixflow",
            "connect",
            "gateway",
            "--broker",
            broker_url,
            "--db",
            db_url,
            "--plant-id",
            plant,
            "--gateway-id",
            gateway_id,
        ]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []  # return codes of the processes that ended by themselves
        self.failed_starts: list[str] = []  # the last log line of each start that did not come up

    @property
    def log(self) -> Path:
        return self.folder / f"gateway-{self.starts}.log"

    def start(self, timeout_s: float = 60.0) -> None:
        self.starts += 1
        out = self.folder / f"gateway-{self.starts}.out"
        with out.open("wb") as stdout, self.log.open("wb") as stderr:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.process = subprocess.Popen(self.command, stdout=stdout, stderr=stderr, env=env)
        deadline = time.monotonic() + timeout_s
        while b'"started": true' not in out.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"the gateway did not start: {_tail(self.log)}")
            time.sleep(0.05)

    def restart(self, within_s: float = 60.0) -> None:
        """Start again as a supervisor would (systemd's Restart=on-failure): a start that fails is
        recorded, not raised, and retried after a second until one comes up or `within_s` passed."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                self.start(timeout_s=max(5.0, deadline - time.monotonic()))
                return
            except HarnessError:
                last = _tail(self.log, 1)
                self.failed_starts.append(last[-200:])
                if self.process is not None and self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()
                self.process = None
                if time.monotonic() > deadline:
                    return
                time.sleep(1.0)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait; None when it had to be killed."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            self.exits.append(self.process.returncode)
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        finally:
            self.process = None


# -- the devices ---------------------------------------------------------------------------------------


@dataclass
class Acked:
    """What the broker acknowledged to the devices."""

    published: int
    acked: int
    unacked: int
    by_device: dict[str, dict[int, list[list[int]]]]  # device -> boot -> [first, last] seq runs
    poisoned: list[tuple[str, int, int]]


class Devices:
    """The fleet of outside devices: `profile.publishers` processes of `fleet.py`, one slice each."""

    def __init__(self, port: int, plant: str, profile: Profile, folder: Path) -> None:
        self.profile = profile
        self.processes: list[subprocess.Popen[str]] = []
        self.progress: list[tuple[list[float], list[int]]] = []  # per process: times, acked so far
        self.results: list[dict[str, Any] | None] = []
        self._ready: list[threading.Event] = []
        self._readers: list[threading.Thread] = []
        n = profile.publishers
        for k in range(n):
            specs = []
            for kind, prefix, width, count, hz in (
                ("machine", "m", 5, profile.machines, profile.machine_hz),
                ("agv", "a", 4, profile.agvs, profile.agv_hz),
            ):
                first, last = k * count // n, (k + 1) * count // n - 1
                if last >= first:
                    specs += ["--devices", f"{kind}:{prefix}{first:0{width}d}-{prefix}{last:0{width}d}:{hz}"]
            with (folder / f"devices-{k}.log").open("wb") as log:
                process = subprocess.Popen(
                    [
                        *(sys.executable, str(FLEET_SCRIPT), "--port", str(port), "--plant", plant),
                        *("--client-id", f"{plant}-devices-{k}", *specs),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    bufsize=1,
                )
            self.processes.append(process)
            self.progress.append(([], []))
            self.results.append(None)
            self._ready.append(threading.Event())
            reader = threading.Thread(target=self._read, args=(k,), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _read(self, k: int) -> None:
        stdout = self.processes[k].stdout
        assert stdout is not None
        for line in stdout:
            message = json.loads(line)
            if "at" in message:
                times, acked = self.progress[k]
                acked.append(message["acked"])
                times.append(message["at"])
            elif "ready" in message:
                self._ready[k].set()
            elif "result" in message:
                self.results[k] = message["result"]

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        for k, ready in enumerate(self._ready):
            if not ready.wait(max(0.0, deadline - time.monotonic())):
                raise HarnessError(f"device publisher {k} did not connect")

    def _send(self, order: dict[str, Any]) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(json.dumps(order) + "\n")
            process.stdin.flush()

    def reboot(self, device_ids: list[str]) -> None:
        self._send({"op": "reboot", "devices": device_ids})

    def poison(self, device_id: str) -> None:
        self._send({"op": "poison", "device": device_id})

    def acked_at(self, at: float) -> int:
        """Messages acknowledged by the broker up to monotonic time `at` (all publishers)."""
        total = 0
        for times, acked in self.progress:
            k = bisect.bisect_right(times, at)
            total += acked[k - 1] if k else 0
        return total

    def stop(self, wait_s: float = 30.0) -> Acked:
        """Stop publishing, wait for outstanding PUBACKs, and collect what was acknowledged."""
        self._send({"op": "stop", "wait_s": wait_s})
        merged = Acked(0, 0, 0, {}, [])
        for k, process in enumerate(self.processes):
            try:
                process.wait(wait_s + 30)
            except subprocess.TimeoutExpired:
                process.kill()
            self._readers[k].join(10)
            result = self.results[k]
            if result is None:
                raise HarnessError(f"device publisher {k} gave no result (exit {process.returncode})")
            merged.published += result["published"]
            merged.acked += result["acked"]
            merged.unacked += result["unacked"]
            merged.poisoned += [tuple(p) for p in result["poisoned"]]
            for device_id, boots in result["devices"].items():
                merged.by_device[device_id] = {int(b): runs for b, runs in boots.items()}
        return merged

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


# -- watching the store ------------------------------------------------------------------------------


class StoreWatch:
    """Samples how many telemetry rows are stored, about every `every_s` (counting only rows above the
    last id seen, so it stays cheap at millions of rows), directly on PostgreSQL, never via the proxy."""

    def __init__(self, db_url: str, every_s: float = 0.2) -> None:
        self.db_url = db_url
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        total, last_id = 0, 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db_url, autocommit=True) as connection:
                    while not self._stop.is_set():
                        count, top = connection.execute(
                            "SELECT count(*), coalesce(max(id), 0) FROM telemetry_sample"
                            " WHERE id > %s AND metric = %s",
                            (last_id, METRIC),
                        ).fetchone() or (0, 0)
                        total += count
                        last_id = max(last_id, top)
                        self.samples.append((time.monotonic(), total))
                        self._stop.wait(self.every_s)
            except psycopg.Error:  # the watcher's own connection: try again, the run goes on
                self._stop.wait(self.every_s)

    @property
    def stored(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def last_growth(self) -> float:
        """When the stored count last grew (monotonic)."""
        for later, earlier in zip(reversed(self.samples), reversed(self.samples[:-1]), strict=False):
            if later[1] > earlier[1]:
                return later[0]
        return self.samples[0][0] if self.samples else time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def recovery_s(self, fault_end: float, until: float, rate_per_s: float) -> float | None:
        """From `fault_end` to the start of the first `RATE_WINDOW_S` window (starting no earlier, ending
        by `until`) in which the gateway stored at least `RATE_FRACTION` of the offered rate."""
        if not self.samples:
            return None
        times = np.array([when for when, _ in self.samples])
        counts = np.array([count for _, count in self.samples], dtype=np.float64)
        need = RATE_FRACTION * rate_per_s * RATE_WINDOW_S
        for start in times[times >= fault_end]:
            end = start + RATE_WINDOW_S
            if end > until:
                break
            stored = np.interp(end, times, counts) - np.interp(start, times, counts)
            if stored >= need:
                return round(float(start - fault_end), 2)
        return None

    def catch_up_s(self, fault_end: float, devices: Devices, rate_per_s: float) -> float | None:
        """From `fault_end` until the backlog (acknowledged, not yet stored) falls under a second of
        traffic and stays there to the last sample; None when it never does."""
        caught: float | None = None
        for when, count in self.samples:
            if when < fault_end:
                continue
            if devices.acked_at(when) - count > rate_per_s:
                caught = None
            elif caught is None:
                caught = when
        return None if caught is None else round(caught - fault_end, 2)


# -- the verdict ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    acked: int
    stored: int
    quarantined: int
    lost: int
    duplicates: int
    stored_unacked: int
    dead_letters: dict[str, int]
    lost_by_device: dict[str, str]


def _quarantined_key(excerpt: bytes) -> int | None:
    """The boot_seq of a quarantined telemetry message, from its dead letter's excerpt: the payload
    as sent (`boot`, `seq`) or as the rows it would have made (metric `boot_seq` among `m`)."""
    try:
        data = json.loads(bytes(excerpt))
        if "seq" in data:
            return int(data.get("boot", 0)) * SEQ_SPAN + int(data["seq"])
        return int(data["m"][METRIC])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def tally(db_url: str, plant: str, acked: Acked) -> Tally:
    """Per device: acknowledged vs stored (distinct boot_seq), quarantined, lost, duplicate rows."""
    ids = {device_id: k for k, device_id in enumerate(sorted(acked.by_device))}
    keys = []
    for device_id, boots in acked.by_device.items():
        base = ids[device_id] << 40
        for boot, runs in boots.items():
            for first, last in runs:
                keys.append(base + boot * SEQ_SPAN + np.arange(first, last + 1, dtype=np.int64))
    acked_keys = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    stored_keys, duplicates = [], 0
    dead: dict[str, int] = {}
    quarantined_keys = []
    with psycopg.connect(db_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT device_id, value::bigint, count(*) FROM telemetry_sample WHERE metric = %s"
            " GROUP BY device_id, value",
            (METRIC,),
        )
        for device_id, value, count in rows:
            duplicates += count - 1
            index = ids.setdefault(device_id, len(ids))
            stored_keys.append((index << 40) + value)
        exists = connection.execute("SELECT to_regclass('connect_dead_letter')").fetchone()
        if exists and exists[0] is not None:
            letters = connection.execute(
                "SELECT device_id, reason, excerpt FROM connect_dead_letter WHERE plant = %s", (plant,)
            )
            for device_id, reason, excerpt in letters:
                dead[reason] = dead.get(reason, 0) + 1
                key = _quarantined_key(excerpt)
                if reason == "store" and key is not None and device_id in ids:
                    quarantined_keys.append((ids[device_id] << 40) + key)
    stored = np.unique(np.array(stored_keys, dtype=np.int64))
    quarantined = np.unique(np.array(quarantined_keys, dtype=np.int64))
    missing = np.setdiff1d(np.setdiff1d(acked_keys, stored, assume_unique=True), quarantined)
    names = {k: device_id for device_id, k in ids.items()}
    lost_by_device: dict[str, list[int]] = {}
    for key in missing.tolist():
        lost_by_device.setdefault(names[key >> 40], []).append(key & ((1 << 40) - 1))
    worst = sorted(lost_by_device.items(), key=lambda item: -len(item[1]))[:3]
    return Tally(
        acked=int(acked_keys.size),
        stored=int(stored.size),
        quarantined=int(np.intersect1d(acked_keys, quarantined).size),
        lost=int(missing.size),
        duplicates=duplicates,
        stored_unacked=int(np.setdiff1d(stored, acked_keys).size),
        dead_letters=dead,
        lost_by_device={name: _runs(values) for name, values in worst},
    )


def _runs(boot_seqs: list[int]) -> str:
    """Lost messages of one device as `boot:first-last` runs, for the report."""
    runs: list[list[int]] = []
    for value in sorted(boot_seqs):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    shown = [f"{a // SEQ_SPAN}:{a % SEQ_SPAN}-{b % SEQ_SPAN}" for a, b in runs[:4]]
    return f"{len(boot_seqs)} lost ({', '.join(shown)}{', ...' if len(runs) > 4 else ''})"


# -- one run -------------------------------------------------------------------------------------------


@dataclass
class FaultReport:
    """One fault's row: the issue's columns first."""

    fault: str
    acked: int
    stored: int
    lost: int
    duplicates: int
    recovery_s: float | None
    quarantined: int = 0
    catch_up_s: float | None = None
    published: int = 0
    unacked: int = 0
    stored_unacked: int = 0
    offered_msgs_per_s: float = 0.0
    devices: int = 0
    hold_s: float = 0.0
    broker_max_queued: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    lost_by_device: dict[str, str] = field(default_factory=dict)
    gateway: str = ""
    folder: str = ""

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.recovery_s is not None
            and self.recovery_s <= 10.0
            and self.acked > 0
        )

    def as_row(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class Rig:
    """Everything one run drives."""

    broker: Mosquitto
    proxy: DatabaseProxy
    gateway: GatewayProcess
    devices: Devices
    plant: str


# Each fault returns when it ended (monotonic): from then on the gateway has 10 s to store at full rate.


def _broker_restart(rig: Rig, hold_s: float) -> float:
    rig.broker.stop()
    time.sleep(hold_s)
    rig.broker.start()
    return time.monotonic()  # listening again


def _gateway_kill(rig: Rig, hold_s: float) -> float:
    rig.gateway.kill()
    time.sleep(hold_s)
    relaunched = time.monotonic()  # its start-up counts into the recovery
    rig.gateway.restart()
    return relaunched


def _device_reboot(rig: Rig, hold_s: float) -> float:
    devices = rig.devices.profile.devices()
    rig.devices.reboot([device_id for device_id, _ in devices[::4]])  # a quarter of the plant
    return time.monotonic()


def _poison_message(rig: Rig, hold_s: float) -> float:
    rig.devices.poison(rig.devices.profile.devices()[0][0])
    return time.monotonic()


def _database_outage(rig: Rig, hold_s: float) -> float:
    rig.proxy.cut()
    time.sleep(hold_s)
    rig.proxy.restore()
    return time.monotonic()


INJECT: dict[str, Callable[[Rig, float], float]] = {
    "broker_restart": _broker_restart,
    "gateway_kill": _gateway_kill,
    "device_reboot": _device_reboot,
    "poison_message": _poison_message,
    "database_outage": _database_outage,
}


@contextlib.contextmanager
def _scratch(server_url: str) -> Iterator[str]:
    with scratch_database(server_url) as url:
        yield normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def run_fault(
    fault: str,
    profile: Profile,
    phases: Phases,
    folder: Path,
    server_url: str,
    max_queued_messages: int = 10_000_000,
    autosave_interval_s: int = 2,
    label: str | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> FaultReport:
    """Run `fault` once on a fresh broker, database schema, gateway and devices; return its row.

    The fault's end is when the broker listens again (broker_restart), the gateway is relaunched
    (gateway_kill: its start-up counts into recovery), the database is reachable again
    (database_outage), or the reboot or poison message was ordered (device_reboot, poison_message)."""
    inject = INJECT[fault]
    folder.mkdir(parents=True, exist_ok=True)
    plant = f"f{secrets.token_hex(4)}"
    server = urlsplit(normalise_url(server_url).replace("postgresql+psycopg://", "postgresql://"))
    with _scratch(server_url) as db_url:
        register_devices(db_url, plant, profile.devices())
        broker = Mosquitto(folder / "broker", max_queued_messages, autosave_interval_s)
        proxy = DatabaseProxy(server.hostname or "127.0.0.1", server.port or 5432)
        gateway = GatewayProcess(broker.url, proxy.url(db_url), plant, folder)
        devices: Devices | None = None
        watch = StoreWatch(db_url)
        try:
            broker.start()
            gateway.start()
            devices = Devices(broker.port, plant, profile, folder)
            devices.wait_ready()
            rig = Rig(broker, proxy, gateway, devices, plant)
            say(f"{label or fault}: warm-up {phases.warmup_s:g} s")
            time.sleep(phases.warmup_s)
            say(f"{label or fault}: fault held {phases.hold_s:g} s")
            fault_start = time.monotonic()
            fault_end = inject(rig, phases.hold_s)
            time.sleep(phases.after_s)
            stopped = time.monotonic()
            say(f"{label or fault}: devices stop, draining (at most {phases.drain_s:g} s)")
            acked = devices.stop()
            deadline = time.monotonic() + phases.drain_s
            while time.monotonic() < deadline:
                if watch.stored >= acked.acked - len(acked.poisoned):
                    break
                if time.monotonic() - max(watch.last_growth(), stopped) > phases.stall_s:
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # a last flush's worth, and a sample after it
            rate = min(profile.offered_per_s, _acked_rate(devices, fault_start))
            recovery = watch.recovery_s(fault_end, stopped, rate)
            catch_up = watch.catch_up_s(fault_end, devices, rate)
        finally:
            watch.stop()
            if devices is not None:
                devices.kill()
            alive = gateway.alive()
            code = gateway.stop()
            broker.stop()
            proxy.close()
        result = tally(db_url, plant, acked)
    state = "ran to the end" if alive else f"had exited by itself ({gateway.exits})"
    if gateway.failed_starts:
        state += f"; {len(gateway.failed_starts)} failed start(s), last: {gateway.failed_starts[-1]}"
    return FaultReport(
        fault=label or fault,
        acked=result.acked,
        stored=result.stored,
        lost=result.lost,
        duplicates=result.duplicates,
        recovery_s=recovery,
        quarantined=result.quarantined,
        catch_up_s=catch_up,
        published=acked.published,
        unacked=acked.unacked,
        stored_unacked=result.stored_unacked,
        offered_msgs_per_s=round(profile.offered_per_s, 1),
        devices=profile.machines + profile.agvs,
        hold_s=phases.hold_s,
        broker_max_queued=max_queued_messages,
        dead_letters=result.dead_letters,
        lost_by_device=result.lost_by_device,
        gateway=f"{gateway.starts} start(s), {state}, SIGTERM exit {code}",
        folder=str(folder),
    )


def _acked_rate(devices: Devices, before: float, window_s: float = 2.0) -> float:
    """Messages per second the broker acknowledged in the window just before the fault."""
    return (devices.acked_at(before) - devices.acked_at(before - window_s)) / window_s
