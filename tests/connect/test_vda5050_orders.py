"""Orders written straight into their wire form: what the vehicle decodes is the graph master control
meant, whatever the plant's ids and part names hold, and it passes the official schema."""

from __future__ import annotations

import json
from pathlib import Path

from mixflow.connect.vda5050.orders import FloorMap, VehicleOrder, action
from mixflow.connect.vda5050.validation import PACKAGE_SCHEMAS, SchemaValidator

OFFICIAL = Path(__file__).resolve().parents[3] / "shared" / "standards" / "vda5050" / "schemas"
SCHEMAS = SchemaValidator(OFFICIAL if OFFICIAL.is_dir() else PACKAGE_SCHEMAS)
HEADER = (
    '"headerId":7,"timestamp":"2026-12-07T10:00:03.12Z","version":"2.1.0",'
    '"manufacturer":"Acmé","serialNumber":"S1"'
)


def test_an_order_and_its_update_decode_to_the_graph_with_odd_ids_and_names_escaped() -> None:
    floor = FloorMap('hall "A"', 1.25)
    order = VehicleOrder('AGV "7"/ü')
    pick = action("pick", "p-1", "HARD", stationType="floor", loadType='cab "XL"', loadId="o1", weight=8.0)
    graph = order.start(floor, (0, 0), [pick], (1, 0), [], [(2, 0), (2, 1)])
    first = json.loads(order.message(HEADER, graph))
    assert SCHEMAS.errors("order", first) == []
    assert first["orderId"] == 'AGV "7"/ü-1' and first["manufacturer"] == "Acmé"
    assert [(n["nodeId"], n["sequenceId"], n["released"]) for n in first["nodes"]] == [
        ("n0_0", 0, True),
        ("n1_0", 2, True),
        ("n2_0", 4, False),
        ("n2_1", 6, False),
    ]
    assert first["nodes"][0]["actions"] == [pick] and first["nodes"][3]["actions"] == []
    assert first["nodes"][3]["nodePosition"] == {
        "x": 2.5,
        "y": 1.25,
        "mapId": 'hall "A"',
        "allowedDeviationXY": 0.625,
    }
    assert [(e["edgeId"], e["startNodeId"], e["endNodeId"], e["released"]) for e in first["edges"]] == [
        ("e0_0-1_0", "n0_0", "n1_0", True),
        ("e1_0-2_0", "n1_0", "n2_0", False),
        ("e2_0-2_1", "n2_0", "n2_1", False),
    ]
    update = json.loads(order.message(HEADER, order.extend(floor, (2, 0))))
    assert SCHEMAS.errors("order", update) == []
    assert update["orderUpdateId"] == 1 and update["nodes"][0] == first["nodes"][1]  # stitched, unchanged
    assert [n["released"] for n in update["nodes"]] == [True, True] and not order.horizon
