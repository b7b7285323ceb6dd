"""The broker ACL `connect provision` writes for devices that speak a standard, on a real Mosquitto.

One plant is provisioned as an operator would (`--sparkplug-node`, `--vda-vehicle`, `--broker-conf`),
its broker started from the written configuration, and paho-mqtt clients log in with the issued
credentials: edge nodes and vehicles reach the gateway and the gateway reaches them, while what a
device sends or reads on another device's topics never arrives. Mosquitto drops a forbidden publish
silently (a QoS 1 PUBACK all the same), so each forbidden message is followed by an allowed one from
the same client: once the allowed one arrived, the forbidden one would have arrived before it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest

from mixflow.connect.registry import SPARKPLUG_KIND, VDA5050_KIND, Device, hash_password, standard_device_id
from mixflow.connect.sparkplug import EdgeNode
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb
from mixflow.connect.sparkplug.codec import parse_state, plant_host_id, state_payload, state_topic
from mixflow.connect.vda5050.topics import topic as vda_topic
from mixflow.errors import ValidationError
from tests.connect.conftest import free_port, start_mosquitto

pytestmark = pytest.mark.services

PLANT = "acl"
NODES = ("edge-1", "edge-2")
VEHICLES = (("TugWerk", "AGV-001"), ("TugWerk", "AGV-003"))  # one maker: the serial alone must tell
WAIT_S = 5.0


class Peer:
    """A paho-mqtt client logged in with an issued credential; keeps the topics it receives, in order."""

    def __init__(
        self, port: int, login: dict[str, str], will: tuple[str, bytes] | None = None, suffix: str = ""
    ) -> None:
        self.heard: list[str] = []
        self.payloads: dict[str, bytes] = {}
        self._acked: dict[int, threading.Event] = {}
        self._connected = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=login["username"] + suffix)
        self.client.username_pw_set(login["username"], login["password"])
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1)
        self.client.on_connect = lambda *args: self._connected.set() if not args[3].is_failure else None
        self.client.on_message = self._message
        self.client.on_subscribe = lambda _c, _u, mid, *_: self._acked.setdefault(
            mid, threading.Event()
        ).set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._connected.wait(WAIT_S), f"{login['username']} was not let in"

    def _message(self, _client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        self.heard.append(message.topic)
        self.payloads[message.topic] = message.payload

    def _subscribed(self, _client: object, _userdata: object, mid: int, *_: object) -> None:
        self._acked.setdefault(mid, threading.Event()).set()

    def subscribe(self, *filters: str) -> None:
        _, mid = self.client.subscribe([(f, 1) for f in filters])
        assert self._acked.setdefault(mid, threading.Event()).wait(WAIT_S)

    def publish(self, topic: str, payload: bytes = b"{}", retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT_S)

    def hears(self, topic: str) -> list[str]:
        """What was heard up to and with `topic` (waits for it)."""
        deadline = time.monotonic() + WAIT_S
        while topic not in self.heard:
            assert time.monotonic() < deadline, f"{topic} never arrived; heard {self.heard}"
            time.sleep(0.01)
        return self.heard[: self.heard.index(topic) + 1]

    def crash(self) -> None:
        """Lose the connection without DISCONNECT, as a power cut would: the broker sends the will."""
        self.client.reconnect_delay_set(60, 60)  # paho's loop would log in again at once
        self.client.socket().shutdown(socket.SHUT_RDWR)  # wakes paho's loop: it stops without waiting
        self.client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def plant_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, dict[str, str]]]]:
    """The plant provisioned by the command with two edge nodes and two vehicles, and its broker
    started from the written conf; yields the port and the logins by registry id (`gateway` too)."""
    folder = tmp_path_factory.mktemp("acl-standards")
    port = free_port()
    argv = [sys.executable, "-m", "mixflow", "connect", "provision", "--scale", "0.05", "--plant-id", PLANT]
    argv += ["--db", f"sqlite:///{folder / 'r.db'}", "--credentials", str(folder / "creds.json")]
    argv += ["--passwd-file", str(folder / "passwd"), "--acl-file", str(folder / "acl")]
    argv += ["--broker-conf", str(folder / "mosquitto.conf"), "--port", str(port), "--json"]
    argv += [arg for node in NODES for arg in ("--sparkplug-node", node)]
    argv += [arg for maker, serial in VEHICLES for arg in ("--vda-vehicle", f"{maker}/{serial}")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert (facts["sparkplug_nodes"], facts["vda_vehicles"]) == (2, 2)
    if os.geteuid() == 0:  # as root mosquitto would become user `mosquitto`, who cannot read tmp dirs
        with open(folder / "mosquitto.conf", "a") as conf:
            conf.write("user root\n")
    issued = json.loads((folder / "creds.json").read_text())
    logins = {
        device: {k: entry[k] for k in ("username", "password")} for device, entry in issued["devices"].items()
    }
    logins["gateway"] = issued["gateway"]
    broker = start_mosquitto(folder / "mosquitto.conf", port)
    try:
        yield port, logins
    finally:
        broker.terminate()
        broker.wait(10)


@pytest.fixture
def connect(plant_broker: tuple[int, dict[str, dict[str, str]]]) -> Iterator[Callable[..., Peer]]:
    """Log in as a registered device (`connect(id)`) or the gateway (`connect("gateway")`)."""
    port, logins = plant_broker
    peers: list[Peer] = []

    def login(device: str, will: tuple[str, bytes] | None = None, suffix: str = "") -> Peer:
        peers.append(Peer(port, logins[device], will, suffix))
        return peers[-1]

    yield login
    for peer in peers:
        peer.close()


def test_edge_nodes_reach_the_primary_host_and_never_speak_for_each_other(
    connect: Callable[..., Peer],
) -> None:
    gateway = connect("gateway")
    gateway.subscribe(f"spBv1.0/{PLANT}/#")
    gateway.publish(state_topic(plant_host_id(PLANT)), state_payload(True, 1), retain=True)
    e1, e2 = (EdgeNode(PLANT, node) for node in NODES)
    node1 = connect(standard_device_id(SPARKPLUG_KIND, PLANT, NODES[0]), will=e1.death())
    node2 = connect(standard_device_id(SPARKPLUG_KIND, PLANT, NODES[1]), will=e2.death())
    node1.subscribe(f"spBv1.0/{PLANT}/NCMD/{NODES[0]}", state_topic(plant_host_id(PLANT)))
    node2.subscribe(f"spBv1.0/{PLANT}/NCMD/+", f"spBv1.0/{PLANT}/DCMD/+/+")  # granted, then filtered
    assert parse_state(node1.payloads[node1.hears(state_topic(plant_host_id(PLANT)))[-1]])[0]

    node1.publish(*e1.birth({"Machine/State": (pb.String, "running")}))  # its own births and data
    node1.publish(*e1.device_birth("press-1", {"kw": (pb.Double, 3.5)}))
    node1.publish(*e2.birth({"Machine/State": (pb.String, "down")}))  # edge-1 posing as edge-2: dropped
    node1.publish(*e2.device_birth("press-9", {"kw": (pb.Double, 1.0)}))
    ddata = e1.data({"kw": 4.0}, device="press-1")
    node1.publish(*ddata)
    assert gateway.hears(ddata[0]) == [
        f"spBv1.0/{PLANT}/NBIRTH/{NODES[0]}",
        f"spBv1.0/{PLANT}/DBIRTH/{NODES[0]}/press-1",
        ddata[0],
    ]

    rebirth = f"spBv1.0/{PLANT}/NCMD/{NODES[0]}"  # the host commands edge-1; edge-2 cannot listen in
    gateway.publish(rebirth)
    gateway.publish(f"spBv1.0/{PLANT}/NCMD/{NODES[1]}")
    assert node1.hears(rebirth)[-1] == rebirth
    assert node2.hears(f"spBv1.0/{PLANT}/NCMD/{NODES[1]}") == [f"spBv1.0/{PLANT}/NCMD/{NODES[1]}"]
    # a will on another node's topic is dropped when the connection breaks; the node's own goes out
    forger = connect(standard_device_id(SPARKPLUG_KIND, PLANT, NODES[1]), will=e1.death(), suffix="-forger")
    for peer in (forger, node1):
        peer.crash()
    death = f"spBv1.0/{PLANT}/NDEATH/{NODES[0]}"
    gateway.hears(death)
    time.sleep(0.3)
    assert gateway.heard.count(death) == 1


def test_vehicles_and_master_control_reach_each_other_and_no_vehicle_another(
    connect: Callable[..., Peer],
) -> None:
    (maker_a, agv_a), (maker_b, agv_b) = VEHICLES
    master = connect("gateway")
    master.subscribe("uagv/v2/+/+/state", "uagv/v2/+/+/connection")  # as master control does
    vehicle_a = connect(standard_device_id(VDA5050_KIND, maker_a, agv_a))
    vehicle_b = connect(standard_device_id(VDA5050_KIND, maker_b, agv_b))
    vehicle_a.subscribe(vda_topic(maker_a, agv_a, "order"), vda_topic(maker_a, agv_a, "instantActions"))
    vehicle_b.subscribe(vda_topic(maker_b, agv_b, "order"), vda_topic(maker_a, agv_a, "order"))

    vehicle_b.publish(vda_topic(maker_a, agv_a, "state"))  # b posing as a: dropped
    vehicle_a.publish(vda_topic(maker_a, agv_a, "state"))
    vehicle_b.publish(vda_topic(maker_b, agv_b, "state"))
    assert master.hears(vda_topic(maker_b, agv_b, "state")) == [
        vda_topic(maker_a, agv_a, "state"),
        vda_topic(maker_b, agv_b, "state"),
    ]

    vehicle_b.publish(vda_topic(maker_a, agv_a, "order"))  # a vehicle cannot send orders: dropped
    vehicle_b.publish(vda_topic(maker_b, agv_b, "connection"))
    master.hears(vda_topic(maker_b, agv_b, "connection"))  # so b's order went (or not) before the master's
    master.publish(vda_topic(maker_a, agv_a, "order"))
    master.publish(vda_topic(maker_a, agv_a, "instantActions"))
    master.publish(vda_topic(maker_b, agv_b, "order"))
    assert vehicle_a.hears(vda_topic(maker_a, agv_a, "instantActions")) == [
        vda_topic(maker_a, agv_a, "order"),
        vda_topic(maker_a, agv_a, "instantActions"),
    ]
    # b subscribed to a's orders too, but hears only its own
    assert vehicle_b.hears(vda_topic(maker_b, agv_b, "order")) == [vda_topic(maker_b, agv_b, "order")]


def test_names_a_topic_cannot_hold_are_refused_naming_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match=r"^Sparkplug edge node: 'edge/1' is not a valid topic level"):
        standard_device_id(SPARKPLUG_KIND, PLANT, "edge/1")
    with pytest.raises(ValidationError, match=r"^VDA 5050 manufacturer: 'Tug.Werk': no '\.' allowed"):
        standard_device_id(VDA5050_KIND, "Tug.Werk", "AGV-001")  # the '.' splits the id back
    with pytest.raises(ValidationError, match=r"^VDA 5050 serialNumber: 'AGV#1' is not a valid topic level"):
        standard_device_id(VDA5050_KIND, "TugWerk", "AGV#1")
    with pytest.raises(ValidationError, match=r"'TugWerk': a vda5050 id is `VDA 5050 manufacturer"):
        Device("TugWerk", VDA5050_KIND, hash_password("a-long-password"))
