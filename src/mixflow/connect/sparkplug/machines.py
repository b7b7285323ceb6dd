"""A simulated plant's machines as one Sparkplug B edge node: each machine's up/down as `Machine/State`.

`connect.sim.FactoryDevices` plays the twin's machines through it when the gateway is the group's
primary host (`connect devices --sparkplug-group G`). Pure, like `edge.EdgeNode` beneath it: messages in,
messages out. As the spec has an edge node do, it births only once the primary host's STATE says online
(NBIRTH, then a DBIRTH per machine with its current `Machine/State`), births again when the host asks
(NCMD `Node Control/Rebirth`), and its NDEATH is the connection's will. A breakdown and a repair
(`MachineDown`, `MachineUp`) become DDATA of `Machine/State` = `fault` / `running` stamped with the
event's plant time, which the host maps back onto MachineDown / MachineUp. The other events of a
machine (an operation started or done) stay mixflow's own messages: Sparkplug says what a machine
measures and how it stands, not which job it runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from mixflow.connect.sparkplug import codec
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb
from mixflow.connect.sparkplug.edge import EdgeNode, Message
from mixflow.model.port import OUT_OF_SERVICE, Event, MachineDown, MachineUp

STATE_METRIC = "Machine/State"
DOWN, UP = "fault", "running"
EDGE_NODE = "twin"


class MachineStates:
    """The machines `machine_ids` of plant `plant` as devices of edge node `edge_node` in `group`."""

    def __init__(
        self, plant: str, group: str, machine_ids: Sequence[str], edge_node: str = EDGE_NODE
    ) -> None:
        self.node = EdgeNode(group, edge_node)
        self.machine_ids = tuple(machine_ids)
        self.down: set[str] = set()
        self.born = False
        self.host_state_topic = codec.state_topic(codec.plant_host_id(plant))
        self.command_topic = codec.topic(group, "NCMD", edge_node)
        self.events_sent = 0

    def filters(self) -> list[str]:
        """What the edge node listens to: the primary host's STATE and its own node commands."""
        return [self.host_state_topic, self.command_topic]

    def will(self) -> Message:
        return self.node.death()

    def receive(self, topic: str, payload: bytes, t_ms: int) -> list[Message]:
        """The births a host's STATE online or a Rebirth command calls for (else nothing)."""
        if topic == self.host_state_topic:
            online, _ = codec.parse_state(payload)
            return self.births(t_ms) if online else []
        if topic == self.command_topic:
            command = codec.decode(payload)
            if any(m.name == codec.REBIRTH and m.boolean_value for m in command.metrics):
                return self.births(t_ms)
        return []

    def births(self, t_ms: int) -> list[Message]:
        """NBIRTH, then every machine's DBIRTH with its state now."""
        self.born = True
        out = [self.node.birth({}, t_ms)]
        for machine in self.machine_ids:
            state = DOWN if machine in self.down else UP
            out.append(self.node.device_birth(machine, {STATE_METRIC: (pb.String, state)}, t_ms))
        return out

    def event(self, event: Event) -> list[Message] | None:
        """The DDATA that says a breakdown or a repair; None for an event Sparkplug does not carry. Before
        the births nothing is sent: the births will carry the state."""
        if isinstance(event, MachineDown) and event.state == OUT_OF_SERVICE:
            self.down.add(event.machine_id)
            state = DOWN
        elif isinstance(event, MachineUp) and event.machine_id in self.down:
            self.down.discard(event.machine_id)
            state = UP
        else:
            return None  # not a breakdown or its repair (a machine switched off says so in its own words)
        if not self.born:
            return []
        self.events_sent += 1
        return [self.node.data({STATE_METRIC: state}, event.machine_id, event.at_s * 1000)]
