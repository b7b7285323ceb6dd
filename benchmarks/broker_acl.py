"""Broker ACL benchmark: what the gateway's per-vehicle VDA 5050 lines cost Mosquitto.

Mosquitto tries a user's ACL lines in order for every message it checks, so the gateway's lines for a
whole fleet (`connect provision --vda-fleet`: one read line per vehicle, then its two command topics)
cost broker CPU on every state delivered to the gateway and every order it sends. This provisions the
reference plant (scale 1.0: 720 AGVs as vehicles) into a private Mosquitto and measures the broker's
CPU microseconds a message for both, against the baseline of interface-wide wildcards
(`uagv/v2/+/+/state`: cheap, but the gateway could then read and command any plant's vehicles).
One stand-in connection (`topic readwrite uagv/#`, a single ACL line) plays the vehicles, so the
figures are the gateway's checks, not 720 logins.

    python benchmarks/broker_acl.py [--scale 1.0] [--messages 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from mixflow.connect.provision import ProvisionFiles, provision
from mixflow.connect.registry import (
    VDA5050_KIND,
    gateway_username,
    hash_password,
    new_password,
    plant_devices,
    standard_device_id,
)
from mixflow.connect.vda5050.simulator import plant_vehicles
from mixflow.connect.vda5050.topics import FROM_VEHICLE, TO_VEHICLE, fleet_filter
from mixflow.reference import build_plant
from mixflow.store.db import connect

PLANT = "bench"
FLEET_USER = "bench-vehicles"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wildcard(acl: str) -> str:
    """The gateway's per-vehicle lines replaced by interface-wide wildcards (the baseline)."""
    head, gateway_and_rest = acl.split(f"user {gateway_username(PLANT)}\n", 1)
    gateway, rest = gateway_and_rest.split("\n\n", 1)
    kept = [line for line in gateway.splitlines() if "uagv/" not in line]
    wild = [f"topic read {fleet_filter(t)}" for t in FROM_VEHICLE]
    wild += [f"topic write {fleet_filter(t)}" for t in TO_VEHICLE]
    return head + "\n".join([f"user {gateway_username(PLANT)}", *kept, *wild]) + "\n\n" + rest


class _Broker:
    """A private Mosquitto from the provisioned files plus the stand-in fleet account."""

    def __init__(self, folder: Path, acl: str, passwd: str, fleet_password: str) -> None:
        self.port = _free_port()
        (folder / "acl").write_text(acl + f"\nuser {FLEET_USER}\ntopic readwrite uagv/#\n")
        (folder / "passwd").write_text(passwd + f"{FLEET_USER}:{hash_password(fleet_password)}\n")
        conf = folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {folder / 'passwd'}\n"
            f"acl_file {folder / 'acl'}\nmax_queued_messages 1000000\n"
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.process = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _client(port: int, user: str, password: str, on_message: Any = None) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, password)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _run(
    broker: _Broker,
    logins: dict[str, tuple[str, str]],
    vehicles: list[tuple[str, str]],
    subtopic: str,
    messages: int,
) -> dict[str, Any]:
    """`messages` of `subtopic` round the fleet, from the vehicles to the gateway or the other way."""
    sender, receiver = ("fleet", "gateway") if subtopic == "state" else ("gateway", "fleet")
    got, done = [0], threading.Event()

    def heard(*_: object) -> None:
        got[0] += 1
        if got[0] == messages:
            done.set()

    sink = _client(broker.port, *logins[receiver], heard)
    sink.subscribe(fleet_filter(subtopic), 0)  # type: ignore[arg-type]
    source = _client(broker.port, *logins[sender])
    time.sleep(0.5)
    began_cpu, began = broker.cpu_s(), time.perf_counter()
    for k in range(messages):
        maker, serial = vehicles[k % len(vehicles)]
        source.publish(f"uagv/v2/{maker}/{serial}/{subtopic}", b'{"headerId": 1}', qos=0)
        if k % 2000 == 1999:
            time.sleep(0.01)  # let the broker keep up: QoS 0 beyond its queue would be dropped
    complete = done.wait(120)
    cpu = broker.cpu_s() - began_cpu
    for client in (sink, source):
        client.disconnect()
        client.loop_stop()
    return {
        "messages": messages,
        "delivered": got[0],
        "complete": complete,
        "broker_cpu_us_per_msg": round(cpu / messages * 1e6, 1),
        "seconds": round(time.perf_counter() - began, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--messages", type=int, default=60_000)
    args = parser.parse_args()
    if shutil.which("mosquitto") is None:
        raise SystemExit("broker_acl: mosquitto is not installed")
    plant = build_plant(args.scale, 0)
    vehicles = [(v.manufacturer, v.serial_number) for v in plant_vehicles(plant)]
    devices = [
        *plant_devices(plant),
        *((standard_device_id(VDA5050_KIND, m, s), VDA5050_KIND) for m, s in vehicles),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine, _ = connect(f"sqlite:///{folder / 'r.db'}")
        files = ProvisionFiles(folder / "passwd.plant", folder / "acl.plant", folder / "creds.json")
        gateway_password = new_password()
        os.environ["MIXFLOW_GATEWAY_PASSWORD"] = gateway_password
        facts = provision(engine, PLANT, devices, files)
        fleet_password = new_password()
        logins = {
            "gateway": (gateway_username(PLANT), gateway_password),
            "fleet": (FLEET_USER, fleet_password),
        }
        acl, passwd = files.acl_file.read_text(), files.passwd_file.read_text()
        results: dict[str, Any] = {
            "vehicles": len(vehicles),
            "devices": facts["devices"],
            "acl_lines": sum(line.startswith("topic ") for line in acl.splitlines()),
        }
        for variant, text in (("per_vehicle", acl), ("wildcard_baseline", _wildcard(acl))):
            broker = _Broker(folder, text, passwd, fleet_password)
            try:
                results[variant] = {
                    sub: _run(broker, logins, vehicles, sub, args.messages) for sub in ("state", "order")
                }
            finally:
                broker.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
