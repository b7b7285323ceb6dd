"""Sparkplug B: machines and edge gateways that speak the Eclipse convention for industrial MQTT.

- `sparkplug_b_pb2` the payload schema, generated from the Sparkplug 3.0.0 `.proto` (see its header and
                    `scripts/gen_sparkplug_pb2.py`)
- `codec`  topics, payload decoding, metric values, STATE, the rebirth command
- `host`   the primary host application: births, aliases, seq gaps, rebirth requests, deaths, and the
           mapping of metrics onto mixflow telemetry and machine up/down, into `Ingest`'s buffers
- `edge`   an edge node's messages as bytes (simulated machines, tests, benchmark)

The gateway runs the host when given a group (`mixflow connect gateway --sparkplug-group GROUP`; the
convention is group id = plant id): its first broker link subscribes to the group's uplink topics and
its own STATE, carries the STATE will, and sends the rebirth requests. Sparkplug data is QoS 0 by the
spec: a message lost between an edge node and the broker is not re-delivered; the seq gap it leaves is
detected and answered by a rebirth, which brings every current value again (see docs/design-notes.md).
"""

from mixflow.connect.sparkplug.codec import NAMESPACE, PREFIX
from mixflow.connect.sparkplug.edge import EdgeNode
from mixflow.connect.sparkplug.host import SparkplugHost

__all__ = ["NAMESPACE", "PREFIX", "EdgeNode", "SparkplugHost"]
