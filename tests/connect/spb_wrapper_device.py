"""A Sparkplug B edge node and device made with an outside library, mqtt-spb-wrapper 2.1.2 (Eclipse Tahu's
Python core underneath), for test_connect_sparkplug_wrapper.py. It runs in its own virtual environment,
since the library pins paho-mqtt 1.6.1 and protobuf 3.20.3, which mixflow's own cannot hold, and it
imports nothing of mixflow: an independent device.

    python spb_wrapper_device.py HOST PORT GROUP EDGE_NODE DEVICE COUNT

It births the node and the device (metrics with aliases), publishes COUNT data messages, loses one (built,
never sent, so the seq jumps), sends one more, waits for the host's rebirth request and answers it, sends a
`State` of false, then disconnects the node (its NDEATH). Prints one JSON line per step to stdout.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from mqtt_spb_wrapper import MqttSpbEntityDevice, MqttSpbEntityEdgeNode


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    host, port, group, node_id, device_id, count = sys.argv[1:7]
    node = MqttSpbEntityEdgeNode(group, node_id, include_spb_rebirth=False)
    node.commands.set_value("Node Control/Rebirth", False)  # answered by on_command below
    device = MqttSpbEntityDevice(group, node_id, device_id)
    device.data.set_value("spindle_kw", 10.0, spb_alias_num=1)
    device.data.set_value("parts", 0, spb_alias_num=2)
    device.data.set_value("State", True, spb_alias_num=3)
    rebirth = threading.Event()
    commands: list[dict[str, object]] = []
    asked: list[float] = []  # when the rebirth request arrived

    def on_command(payload: dict[str, object]) -> None:
        """In paho's thread, where a publish waits until the callback returns: the main thread answers."""
        commands.append(payload)
        names = [metric.get("name") for metric in payload.get("metrics", [])]  # type: ignore[attr-defined]
        if "Node Control/Rebirth" in names:
            asked.append(time.monotonic())
            rebirth.set()

    node.on_command = on_command
    if not node.connect(host, int(port), client_id=f"{node_id}-node"):
        sys.exit("the edge node cannot connect")
    if not device.connect(host, int(port), client_id=f"{node_id}-{device_id}"):
        sys.exit("the device cannot connect")
    time.sleep(0.2)
    node.publish_birth()
    time.sleep(0.2)  # node and device publish on two connections: the NBIRTH must be in first
    device.publish_birth()
    time.sleep(0.1)
    for k in range(int(count)):
        device.data.set_value("spindle_kw", 10.0 + k)
        device.data.set_value("parts", k)
        device.publish_data()
        time.sleep(0.002)
    say(step="data", messages=int(count))
    device.data.set_value("parts", -1)
    device.serialize_payload_data()  # lost on the way: it took a seq number and was never sent
    device.data.set_value("parts", int(count))
    sent = time.monotonic()
    device.publish_data()
    if not rebirth.wait(5):
        say(step="rebirth", answered=False)
        sys.exit("no rebirth request within 5 s")
    node.publish_birth()
    time.sleep(0.2)
    device.publish_birth()
    say(step="rebirth", answered=True, seconds=asked[0] - sent, command=str(commands[-1]))
    time.sleep(0.2)
    device.data.set_value("State", False)
    device.publish_data()
    time.sleep(0.2)
    node.disconnect()  # its NDEATH, with the bdSeq of its NBIRTH
    device.disconnect(skip_death_publish=True)
    say(step="done")


if __name__ == "__main__":
    main()
