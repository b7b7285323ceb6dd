"""The industrial internet: the factory port over MQTT (and OPC UA), for a real plant or the twin.

- `topics`   the topic tree `mixflow/{plant}/{shard}/{kind}/{device}/{channel}` (documented there)
- `payloads` versioned payloads, JSON by default, MessagePack accepted everywhere
- `wire`     a lean MQTT 5 client for the high-volume paths (batch parsing, ack after store)
- `broker`   broker addresses, the password beside them (environment or 0600 file), refusals in one line
- `registry` devices, per-device random credentials (Mosquitto `$7$` hashes), broker user names, liveness
- `provision` registering a plant's devices; `mosquitto` its password file, ACL and `mosquitto.conf`;
             `credentials` the 0600 files all of them are written to
- `alarms`   threshold, rate-of-change and offline rules with raise/clear
- `commands` port commands as messages with ids; acks, re-sends, escalation
- `ingest`   validation into rows, factory events, alarms and dead letters (pure, no I/O)
- `gateway`  the asyncio service: ingest, batch storage, acks, commands, shards for scale-out
- `factory`  `MqttFactory`, the `Factory` port implemented through the broker
- `device`   a device agent on aiomqtt
- `opcua`    the OPC UA adapter (one server, reconnecting); `opcua_bridge` one process for many servers
             (`mixflow connect opcua-bridge --config bridge.yaml`); `opcua_security` policies and
             certificates; `opcua_machine` a simulated machine's OPC UA server
- `sparkplug` Sparkplug B machines: the gateway as the group's primary host application (births,
             aliases, seq gaps answered by rebirth requests, deaths, STATE) into the same ingest
- `sim`      any in-process factory (the twin) played as devices, in lock step with the cloud
- `bench`    the end-to-end ingestion benchmark behind `mixflow connect bench`

Run: `mixflow connect provision ...` (registry + broker files), `MIXFLOW_BROKER_PASSWORD=... mixflow
connect gateway --broker mqtts://mixflow-gateway.PLANT@host:8883 --tls-ca ca.crt --db URL`,
`mixflow connect bench --devices N --rate HZ --seconds S --json`,
`mixflow connect demo` (the scheduler on the twin in-process and through the broker, same KPIs).
"""

from mixflow.connect.broker import Broker, parse_broker
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import Gateway, GatewayConfig

__all__ = ["Broker", "Gateway", "GatewayConfig", "MqttFactory", "parse_broker"]
