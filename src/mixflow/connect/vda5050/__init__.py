"""VDA 5050 2.1: AGVs of any maker driven by mixflow over MQTT, and our own vehicles that speak it.

- `topics`     `<interfaceName>/v2/<manufacturer>/<serialNumber>/<topic>`, QoS and retain per topic
- `models`     the six messages (order, instantActions, state, visualization, connection, factsheet)
               as pydantic models, checked field by field against the official schemas by the tests
- `validation` any message dict against its official JSON Schema (shipped in `schemas/`, MIT)
- `orders`     floor cells as nodes, planner steps as orders and order updates
- `horizon`    the planner's way on to each vehicle's goal, sent as the orders' unreleased horizon
- `master`     the master control: port commands to orders, states into the fleet model (pure)
- `fleet_link` the master control on the broker, one connection for the fleet
- `fleet_factory` the `Factory` port of an in-process factory (the twin) whose AGVs are VDA 5050
               vehicles on the broker
- `vehicle`    one simulated vehicle without I/O: orders, driving, actions, battery, its messages
- `simulator`  many simulated vehicles in one process, one MQTT connection and last will each
               (`mixflow connect vda-vehicles`)
- `factsheets` the two simulated makers' vehicle series

See docs/vda5050.md.
"""

from mixflow.connect.vda5050.models import VERSION
from mixflow.connect.vda5050.topics import INTERFACE, MAJOR, parse_topic, topic, vehicle_topics

__all__ = ["INTERFACE", "MAJOR", "VERSION", "parse_topic", "topic", "vehicle_topics"]
