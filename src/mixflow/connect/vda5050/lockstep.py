"""Simulated vehicles in lock step with a simulated plant's clock (not part of VDA 5050).

Real vehicles drive on the wall clock; simulated ones behind a simulated plant must not, or a plant day
takes a day and the vehicles drift from a plan that runs faster or slower than they do. So the master's
side (`VdaFleetFactory`) tells the simulator how far the plant's clock moved: `{interface}/_sim/advance`
`{"n", "dt_s", "expect"}`, and the simulator answers `{interface}/_sim/clock` `{"n"}` once every vehicle
drove `dt_s` seconds and said so in its state. Orders and instant actions reach each vehicle on its
own connection, and the broker keeps a publisher's order only within one subscriber's session, so an
advance could overtake the orders it is meant to follow: `expect` gives, for every vehicle sent
something since the last advance, how many orders and instant actions it was sent in all, and the
simulator holds the advance until each has received that many. The topics sit beside the VDA 5050
tree (`{interface}/v2/...`), under the same interface name, so one run's vehicles never hear another's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

ADVANCE = "_sim/advance"
CLOCK = "_sim/clock"


def advance_topic(interface: str) -> str:
    return f"{interface}/{ADVANCE}"


def clock_topic(interface: str) -> str:
    return f"{interface}/{CLOCK}"


@dataclass(frozen=True)
class Advance:
    """Step `n`: let `dt_s` plant seconds pass once the vehicles in `expect` (serial number -> orders
    and instant actions sent to it so far) have received them all."""

    n: int
    dt_s: float
    expect: dict[str, int] = field(default_factory=dict)

    def payload(self) -> bytes:
        body = {"n": self.n, "dt_s": self.dt_s, "expect": self.expect}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, payload: bytes) -> Advance:
        body = json.loads(payload)
        return cls(int(body["n"]), float(body["dt_s"]), {str(k): int(v) for k, v in body["expect"].items()})


def clock_payload(n: int) -> bytes:
    return json.dumps({"n": n}).encode()


def parse_clock(payload: bytes) -> int:
    return int(json.loads(payload)["n"])
