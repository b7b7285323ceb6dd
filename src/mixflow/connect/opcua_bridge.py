"""One bridge process for many OPC UA servers: its configuration and its run loop.

The configuration is a YAML or JSON file:

    plant: changsha
    broker: mqtt://10.1.0.2:1883          # or mqtts://; the broker password as for every command
    credentials: /etc/mixflow/plant.json  # mode 0600: `connect provision`'s credentials file, whose
                                          # devices entries are the bridged machines' MQTT passwords
    certificate: /etc/mixflow/bridge.pem  # the bridge's OPC UA certificate, for secured servers
    private_key: /etc/mixflow/bridge.key  # its key, mode 0600
    servers:
      - machine: press-1                  # the machine id: its OPC UA object and its device id
        endpoint: opc.tcp://10.1.4.21:4840/
        security: Basic256Sha256,SignAndEncrypt   # optional; None when absent
        server_certificate: press-1.pem   # optional: pin the server's certificate
        user: bridge                      # optional OPC UA user; its password from password_env
        password_env: PRESS_1_OPCUA_PW    # (an environment variable) or password_file (mode 0600)

Each server gets its own task, its own adapter (reconnecting with backoff) and its own MQTT session
(a `DeviceLink` logged in as that machine, kind `opcua`): a server away, refused or misconfigured does
not stop the others, and a broker outage is ridden out the same way. All links of one bridge run share
one `boot`, the process's start time, so the gateway takes a restarted bridge's messages as a new run.
`connect provision` registers the machines with `opcua_devices(config)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from mixflow.connect.broker import Broker
from mixflow.connect.credentials import check_private, read_secret_file
from mixflow.connect.device import DeviceLink
from mixflow.connect.opcua import UNREACHABLE, Backoff, OpcUaAdapter, OpcUaRefused
from mixflow.connect.opcua_names import KIND, PASSWORD_ENV
from mixflow.connect.opcua_security import OpcUaSecurity
from mixflow.connect.payloads import CommandMessage
from mixflow.connect.provision import CREDENTIALS_FORMAT
from mixflow.connect.topics import check_name
from mixflow.errors import InputFileError, ValidationError

log = logging.getLogger("mixflow.connect.opcua")
SERVER_KEYS = frozenset(
    {
        "machine",
        "endpoint",
        "security",
        "server_certificate",
        "user",
        "password",
        "password_env",
        "password_file",
    }
)  # "password" only to refuse it with a reason
TOP_KEYS = frozenset({"plant", "broker", "credentials", "certificate", "private_key", "servers"})


@dataclass(frozen=True)
class OpcUaServer:
    """One machine's OPC UA server, as the bridge reaches it."""

    machine_id: str
    endpoint: str
    security: OpcUaSecurity | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_name("machine", self.machine_id)
        if not self.endpoint.startswith("opc.tcp://"):
            raise ValidationError(
                f"server {self.machine_id}",
                f"endpoint must be opc.tcp://host:port/..., got {self.endpoint!r}",
            )


@dataclass(frozen=True)
class BridgeConfig:
    """What one bridge process serves."""

    plant: str
    broker: str
    servers: tuple[OpcUaServer, ...]
    credentials: Path | None = None

    def __post_init__(self) -> None:
        check_name("plant", self.plant)
        machines = [server.machine_id for server in self.servers]
        if len(set(machines)) != len(machines):
            raise ValidationError("servers", f"a machine is bridged twice: {sorted(machines)}")


def parse_server(text: str, security: OpcUaSecurity | None = None) -> OpcUaServer:
    """`machine_id=opc.tcp://host:port/path`, as `--server` takes it."""
    machine, equals, endpoint = text.partition("=")
    if not equals:
        raise ValidationError("--server", f"expected machine_id=opc.tcp://host:port, got {text!r}")
    return OpcUaServer(machine.strip(), endpoint.strip(), security)


def _password(entry: Mapping[str, Any], where: str, base: Path) -> str | None:
    """An OPC UA password from the environment or a 0600 file; never from the file itself."""
    if "password" in entry:
        raise ValidationError(where, "no password in the config: name password_env or password_file")
    if entry.get("password_env"):
        name = str(entry["password_env"])
        value = os.environ.get(name)
        if not value:
            raise ValidationError(where, f"environment variable {name} (password_env) is not set")
        return value
    if entry.get("password_file"):
        return read_secret_file(base / str(entry["password_file"]), f"{where}: password_file")
    return None


def read_bridge_config(path: Path) -> BridgeConfig:
    """The bridge configuration in `path` (YAML or JSON); relative file names are relative to it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise InputFileError(str(path), f"cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = None if line is None else line + 1
        raise InputFileError(str(path), f"not YAML or JSON: {error}", where) from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), list) or "plant" not in data:
        raise InputFileError(str(path), "expected a map with plant and a list of servers")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise InputFileError(str(path), f"unknown keys {sorted(unknown)} (known: {sorted(TOP_KEYS)})")
    base = path.parent

    def file(value: Any) -> Path | None:
        return None if value is None else base / str(value)

    servers = []
    for k, entry in enumerate(data["servers"]):
        where = f"{path}: servers[{k}]"
        if not isinstance(entry, dict) or "machine" not in entry or "endpoint" not in entry:
            raise InputFileError(str(path), f"servers[{k}] needs machine and endpoint")
        if set(entry) - SERVER_KEYS:
            raise InputFileError(str(path), f"servers[{k}]: unknown keys {sorted(set(entry) - SERVER_KEYS)}")
        security = OpcUaSecurity.parse(
            entry.get("security"),
            file(data.get("certificate")),
            file(data.get("private_key")),
            file(entry.get("server_certificate")),
        )
        user = entry.get("user")
        server = OpcUaServer(
            str(entry["machine"]),
            str(entry["endpoint"]),
            security,
            None if user is None else str(user),
            _password(entry, where, base),
        )
        servers.append(server)
    return BridgeConfig(
        str(data["plant"]),
        str(data.get("broker", "mqtt://127.0.0.1:1883")),
        tuple(servers),
        file(data.get("credentials")),
    )


def opcua_devices(config: BridgeConfig) -> list[tuple[str, str]]:
    """(device id, kind) of every bridged machine, for `registry.issue_credentials` / provisioning."""
    return [(server.machine_id, KIND) for server in config.servers]


def machine_passwords(path: Path, plant: str) -> dict[str, str]:
    """machine id -> MQTT password from a provisioning credentials file (mode 0600) of `plant`."""
    check_private(path, "credentials")
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InputFileError(str(path), f"not a credentials file ({error})") from None
    if not isinstance(data, dict) or data.get("format") != CREDENTIALS_FORMAT or data.get("plant") != plant:
        raise InputFileError(str(path), f"not a {CREDENTIALS_FORMAT} file of plant {plant!r}")
    devices = data.get("devices") or {}
    return {device: str(entry["password"]) for device, entry in devices.items() if entry.get("kind") == KIND}


@dataclass(frozen=True)
class BridgeOptions:
    """How tightly the bridge watches its servers (defaults suit a plant; tests shorten them)."""

    heartbeat_s: float = 5.0
    publishing_interval_ms: int = 100
    watchdog_s: float = 1.0
    request_timeout_s: float = 2.0
    session_timeout_s: float = 30.0
    hold_s: float = 3.0  # how long a command waits for a server that is reconnecting
    backoff: Backoff = field(default_factory=Backoff)


class OpcUaBridge:
    """Serves every configured OPC UA server until `stop()`."""

    def __init__(
        self,
        broker: Broker,
        plant: str,
        servers: tuple[OpcUaServer, ...],
        passwords: Mapping[str, str] | None = None,
        options: BridgeOptions = BridgeOptions(),
        boot: int | None = None,
    ) -> None:
        if not servers:
            raise ValidationError("servers", "the bridge needs at least one OPC UA server")
        self.broker, self.plant, self.options = broker, check_name("plant", plant), options
        self.boot = time.time_ns() // 1_000_000 if boot is None else boot
        self.passwords = dict(passwords or {})
        self.servers = servers
        self.adapters = {
            server.machine_id: OpcUaAdapter(
                server.endpoint,
                server.machine_id,
                _nowhere,
                security=server.security,
                user=server.user,
                password=server.password,
                boot=self.boot,
                heartbeat_s=options.heartbeat_s,
                publishing_interval_ms=options.publishing_interval_ms,
                watchdog_s=options.watchdog_s,
                request_timeout_s=options.request_timeout_s,
                session_timeout_s=options.session_timeout_s,
                backoff=options.backoff,
            )
            for server in servers
        }
        self.refused: dict[str, str] = {}  # machine -> why its server will not take the link
        self.commands: dict[str, int] = dict.fromkeys(self.adapters, 0)
        self._stop = asyncio.Event()
        self._rng = random.Random()

    def stop(self) -> None:
        self._stop.set()
        for adapter in self.adapters.values():
            adapter.stop()

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per machine: connections made and lost, messages sent, commands taken, why it was refused."""
        return {
            machine: {
                "connects": adapter.counters["connects"],
                "lost": adapter.counters["lost"],
                "sent": adapter.seq,
                "commands": self.commands[machine],
                **({"refused": self.refused[machine]} if machine in self.refused else {}),
            }
            for machine, adapter in self.adapters.items()
        }

    async def run(self) -> None:
        """Serve each server in its own task until `stop()`."""
        tasks = [asyncio.create_task(self._serve(server)) for server in self.servers]
        try:
            await self._stop.wait()
            await asyncio.wait(tasks, timeout=self.options.request_timeout_s + 1)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _serve(self, server: OpcUaServer) -> None:
        """One machine: its MQTT session and its OPC UA link; a broker outage is retried with backoff."""
        machine = server.machine_id
        attempt = 0
        while not self._stop.is_set():
            try:
                async with DeviceLink(
                    self.broker, self.plant, KIND, machine, self.passwords.get(machine), boot=self.boot
                ) as link:
                    attempt = 0
                    await self._bridge(link, self.adapters[machine])
                return
            except aiomqtt.MqttError as error:
                delay = self.options.backoff.delay_s(attempt, self._rng)
                attempt += 1
                log.warning("%s: broker unreachable (%s); retrying in %.1f s", machine, error, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)

    async def _bridge(self, link: DeviceLink, adapter: OpcUaAdapter) -> None:
        adapter.send = link.publish_raw
        commands = asyncio.create_task(self._commands(link, adapter))
        bridging = asyncio.create_task(adapter.run())
        try:
            done, _ = await asyncio.wait({commands, bridging}, return_when=asyncio.FIRST_COMPLETED)
            if bridging in done and isinstance(bridging.exception(), OpcUaRefused):
                self.refused[adapter.machine_id] = str(bridging.exception())
                log.error("%s: %s", adapter.machine_id, bridging.exception())
                await commands  # keep answering its commands (rejected) until stopped
            for task in done:
                task.result()
        finally:
            for task in (commands, bridging):
                task.cancel()
            for task in (commands, bridging):
                with contextlib.suppress(asyncio.CancelledError, OpcUaRefused):
                    await task

    async def _commands(self, link: DeviceLink, adapter: OpcUaAdapter) -> None:
        """Execute each new command on the machine and answer it (a repeat is answered by the link)."""
        async for command in link.commands():
            self.commands[adapter.machine_id] += 1
            reason = await self._execute(command, adapter)
            await link.ack(command, "rejected" if reason else "accepted", reason[:256])

    async def _execute(self, command: CommandMessage, adapter: OpcUaAdapter) -> str:
        """Carry out a command on the machine: "" when it did, else why not (the ack's reason)."""
        machine = adapter.machine_id
        if command.type not in ("start_operation", "stop_operation"):
            return f"an OPC UA machine takes start_operation and stop_operation, not {command.type}"
        if command.fields.get("machine_id") != machine:
            return f"{command.type} for {command.fields.get('machine_id')!r} sent to {machine}"
        if machine in self.refused:
            return f"opcua link refused: {self.refused[machine]}"
        if not adapter.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(adapter.ready.wait(), self.options.hold_s)
        if not adapter.ready.is_set():
            return UNREACHABLE
        operation = str(command.fields["operation_id"])
        if command.type == "stop_operation":
            # the machine's StopOperation stops whatever runs: make sure it is the operation named
            running = adapter.running()
            if running != operation:
                return f"{machine} is not running {operation} ({f'it runs {running}' if running else 'idle'})"
            return await adapter.stop_operation()
        duration = command.fields.get("duration_s", 0)
        duration_s = float(duration) if isinstance(duration, int | float) else 0.0
        return await adapter.start_operation(operation, duration_s)


async def _nowhere(channel: str, payload: bytes) -> None:
    """The adapters' sink until their MQTT session is up."""


def bridge_config(
    config: Path | None,
    servers: list[str],
    plant: str | None,
    broker: str | None,
    credentials: Path | None,
    security: OpcUaSecurity | None,
    user: str | None,
) -> BridgeConfig:
    """The configuration file's servers plus those given as `machine_id=endpoint` (with `security` and
    `user`, whose password is $MIXFLOW_OPCUA_PASSWORD); explicit plant, broker and credentials win."""
    base = read_bridge_config(config) if config is not None else None
    password = None
    if user is not None:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise ValidationError("--user", f"set the OPC UA password in {PASSWORD_ENV}")
    extra = tuple(
        OpcUaServer(server.machine_id, server.endpoint, security, user, password)
        for server in map(parse_server, servers)
    )
    merged = BridgeConfig(
        plant or (base.plant if base else "changsha"),
        broker or (base.broker if base else "mqtt://127.0.0.1:1883"),
        (base.servers if base else ()) + extra,
        credentials or (base.credentials if base else None),
    )
    if not merged.servers:
        raise ValidationError("--server", "name at least one OPC UA server (--server or --config)")
    for server in merged.servers:
        if server.security is not None:
            server.security.check()
    return merged
