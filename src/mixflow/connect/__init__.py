"""The industrial internet: the factory port over MQTT (and OPC UA), for a real plant or the twin.

- `topics`   the topic tree `mixflow/{plant}/{shard}/{kind}/{device}/{channel}` (documented there)
- `payloads` versioned payloads, JSON by default, MessagePack accepted everywhere
- `wire`     a lean MQTT 5 client for the high-volume paths (batch parsing, ack after store)
- `registry` devices, per-device credentials (Mosquitto `$7$` hashes, passwd and ACL files), liveness
- `alarms`   threshold, rate-of-change and offline rules with raise/clear
- `commands` port commands as messages with ids; acks, re-sends, escalation
- `ingest`   validation into rows, factory events, alarms and dead letters (pure, no I/O)
- `gateway`  the asyncio service: ingest, batch storage, acks, commands, shards for scale-out
- `factory`  `MqttFactory`, the `Factory` port implemented through the broker
- `device`   a device agent on aiomqtt; `opcua` / `opcua_machine` the OPC UA adapter and simulator
- `sim`      any in-process factory (the twin) played as devices, in lock step with the cloud
- `bench`    the end-to-end ingestion benchmark behind `mixflow connect bench`

Run: `mixflow connect provision ...` (registry + broker files), `mixflow connect gateway --broker
mqtt://user:pw@host:1883 --db URL`, `mixflow connect bench --devices N --rate HZ --seconds S --json`,
`mixflow connect demo` (the scheduler on the twin in-process and through the broker, same KPIs).
"""

from mixflow.connect.broker import Broker, parse_broker
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import Gateway, GatewayConfig

__all__ = ["Broker", "Gateway", "GatewayConfig", "MqttFactory", "parse_broker"]
