"""A Sparkplug B edge node's messages as bytes: births with aliases, data by alias, deaths.

No I/O: the tests and `benchmarks/sparkplug.py` publish what it builds with any MQTT client, so a
simulated machine speaks Sparkplug exactly as the host expects it (seq 0..255 across the node and its
devices, NBIRTH at seq 0 with `bdSeq` and `Node Control/Rebirth`, the NDEATH will with the same `bdSeq`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from mixflow.connect.sparkplug import codec
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb

Value = float | int | bool | str
Message = tuple[str, bytes]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class EdgeNode:
    """One edge node and its devices; every metric born gets an alias unique within the node."""

    def __init__(self, group: str, edge_node: str, bd_seq: int = 0) -> None:
        self.group, self.edge_node = group, edge_node
        self.bd_seq = bd_seq
        self.seq = 0  # of the next message
        self._aliases: dict[tuple[str, str], tuple[int, int]] = {}  # (device, name) -> (alias, datatype)
        self._births: dict[str, dict[str, tuple[int, Value]]] = {}  # device ("" = node) -> its birth metrics

    def _payload(self, t_ms: int | None) -> pb.Payload:
        payload = pb.Payload(timestamp=_now_ms() if t_ms is None else t_ms, seq=self.seq)
        self.seq = (self.seq + 1) & 0xFF
        return payload

    def _born(self, device: str, payload: pb.Payload, metrics: Mapping[str, tuple[int, Value]]) -> None:
        self._births[device] = dict(metrics)
        for name, (datatype, value) in metrics.items():
            alias = self._aliases.get((device, name), (len(self._aliases) + 1, datatype))[0]
            self._aliases[device, name] = (alias, datatype)
            metric = payload.metrics.add(name=name, alias=alias, timestamp=payload.timestamp)
            codec.set_value(metric, datatype, value)

    def death(self) -> Message:
        """The NDEATH: set it as the MQTT will before connecting, then send `birth`."""
        payload = pb.Payload(timestamp=_now_ms())
        codec.set_value(payload.metrics.add(name=codec.BD_SEQ), pb.Int64, self.bd_seq)
        return codec.topic(self.group, "NDEATH", self.edge_node), payload.SerializeToString()

    def birth(
        self, metrics: Mapping[str, tuple[int, Value]] | None = None, t_ms: int | None = None
    ) -> Message:
        """The NBIRTH (seq back to 0); without `metrics`, the node's last ones again (a rebirth)."""
        self.seq = 0
        payload = self._payload(t_ms)
        codec.set_value(payload.metrics.add(name=codec.BD_SEQ), pb.Int64, self.bd_seq)
        codec.set_value(payload.metrics.add(name=codec.REBIRTH), pb.Boolean, False)
        self._born("", payload, self._births.get("", {}) if metrics is None else metrics)
        return codec.topic(self.group, "NBIRTH", self.edge_node), payload.SerializeToString()

    def device_birth(
        self, device: str, metrics: Mapping[str, tuple[int, Value]] | None = None, t_ms: int | None = None
    ) -> Message:
        """A DBIRTH: `metrics` maps each name to (datatype, current value); None repeats the last."""
        payload = self._payload(t_ms)
        self._born(device, payload, self._births[device] if metrics is None else metrics)
        return codec.topic(self.group, "DBIRTH", self.edge_node, device), payload.SerializeToString()

    def rebirth(self) -> list[Message]:
        """What a node sends when a host asks it to: NBIRTH, then every device's DBIRTH."""
        return [self.birth(), *(self.device_birth(d) for d in self._births if d)]

    def data(self, values: Mapping[str, Value], device: str = "", t_ms: int | None = None) -> Message:
        """NDATA (no `device`) or DDATA with metrics by alias only, as the spec recommends after a birth."""
        payload = self._payload(t_ms)
        for name, value in values.items():
            alias, datatype = self._aliases[device, name]
            codec.set_value(payload.metrics.add(alias=alias), datatype, value)
        kind = "DDATA" if device else "NDATA"
        return codec.topic(self.group, kind, self.edge_node, device), payload.SerializeToString()

    def device_death(self, device: str) -> Message:
        payload = self._payload(None)
        return codec.topic(self.group, "DDEATH", self.edge_node, device), payload.SerializeToString()
