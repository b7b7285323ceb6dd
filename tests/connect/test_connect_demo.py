"""The scheduler driving the twin played as devices through Mosquitto sees the plant it sees in-process."""

from __future__ import annotations

import pytest

from mixflow.cli.connect import compare_over_mqtt
from mixflow.connect.broker import Broker
from mixflow.twin import Scenario

pytestmark = pytest.mark.services


def test_broker_run_gives_the_in_process_kpis(mqtt_broker: tuple[str, int]) -> None:
    """12 plant hours (operations waiting for their material, AGVs carrying every flow, purchase orders
    and deliveries, machine breakdowns, repairs): one event arriving a step late anywhere would change a
    KPI."""
    result = compare_over_mqtt(
        Broker(*mqtt_broker), Scenario(scale=0.05, days=2), seed=1, until_s=12 * 3600, fleet="mixflow"
    )  # the VDA 5050 fleet (the default) is test_vda5050_plant_day's
    gateway = result["gateway"]
    assert result["same_kpis"], result["differing"]
    assert gateway["round_trips"] > 2000 and gateway["event"] > 500 and gateway["rejected"] == 0
    assert result["over_mqtt"]["shop_plans"]["solved"] > 0
