"""Whole runs with materials: AGVs carry every internal flow, purchase orders keep the racks filled, the
trucks get their first charge, and a supplier that announces it is late gets the orders that counted
on it flagged at once while the others keep their promises."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mixflow.model import DAY_S, Materials, StockPolicy
from mixflow.model.plant_file import write_plant
from mixflow.model.port import DeliveryConfirmed
from mixflow.plan import Scheduler
from mixflow.reference import build_plant, reference_catalogue
from mixflow.twin import Scenario, SupplierDelay, Twin, run

QUIET = {"mtbf_factor": 0.0, "agv_mtbf_h": 0.0}


@pytest.fixture(scope="module")
def nominal() -> dict[str, Any]:
    return run(Scenario(scale=0.05, days=2, **QUIET), 0).kpis  # type: ignore[arg-type]


def test_every_internal_flow_is_carried_and_every_order_delivered(nominal: dict[str, Any]) -> None:
    k = nominal
    assert k["delivered"] == k["orders"] > 0
    assert k["promises_kept"] == 1.0
    assert k["agv_collisions"] == 0
    assert set(k["agv_tasks_by_kind"]) == {"line", "wip", "raw", "receipt"}
    assert all(n > 0 for n in k["agv_tasks_by_kind"].values())
    assert k["agv_tasks"] == sum(k["agv_tasks_by_kind"].values())
    assert 0 < k["agv_utilisation"] < 1
    assert k["material_wait_h"] > 0  # machines waited for their loads, and it shows
    assert k["agv_task_wait_causes_h"]["agv_on_its_way"] > 0  # every task waited for its AGV's drive
    assert k["stockouts"] == 0 and k["rack_empty_at_pickup"] == 0
    assert k["purchase_orders"] > 0 and k["inventory_value"] > 0
    assert len(k["inventory_value_by_day"]) >= k["days"]


def test_the_plant_meters_its_power_and_charges_every_battery_truck(nominal: dict[str, Any]) -> None:
    k = nominal
    profile = k["power_profile_kw"]
    assert set(profile) == {"machines", "agv_charging", "truck_charging"}
    assert k["peak_power_kw"] >= max(profile["machines"]) > 0
    assert k["peak_power_kw"] >= k["peak_15min_kw"] > 0
    assert abs(sum(profile["truck_charging"]) - k["energy_kwh"]["truck_charging"]) < 1.0
    charged = k["truck_charging"]
    assert charged["units"] > 0 and 200 < charged["kwh_per_unit"] < 600  # 10-80% of 282-705 kWh packs


def _tight(tmp_path: Path) -> str:
    """The reference plant at scale 0.05 with e_drive stock for a few trucks only: its purchase orders
    are what the trucks after those count on."""
    plant = build_plant(0.05, 0)
    stock = tuple(
        StockPolicy("e_drive", 3, 2, 4) if p.item == "e_drive" else p for p in plant.materials.stock
    )
    materials = plant.materials
    plant = replace(plant, materials=Materials(materials.raw, materials.suppliers, stock))
    path = tmp_path / "tight.yaml"
    write_plant(plant, path)
    return str(path)


def test_a_late_supplier_flags_the_orders_counting_on_it_at_once_and_the_rest_keep_their_promise(
    tmp_path: Path,
) -> None:
    announced = 3 * DAY_S // 2  # while trucks count on e_drive orders on their way
    scenario = Scenario(
        scale=0.05, days=2, drain_days=10, plant_file=_tight(tmp_path),
        supplier_delays=(SupplierDelay("e_drive", 2 * DAY_S, announced),), **QUIET,  # type: ignore[arg-type]
    )
    seen: dict[str, Any] = {}

    def keep(_now: int, scheduler: Scheduler, twin: Twin) -> bool:
        if "s" not in seen:  # note every confirmation the plant sends
            seen["s"], seen["told"] = scheduler, []
            consume = scheduler.consume

            def consumed(events: Any) -> None:
                seen["told"] += [e.at_s for e in events if isinstance(e, DeliveryConfirmed)]
                consume(events)

            scheduler.consume = consumed  # type: ignore[method-assign]
        return True

    k = run(scenario, 0, on_progress=keep).kpis
    book = seen["s"].kpis
    late = {o: at for o, (at, why) in book.flagged.items() if why == "supplier late: e_drive"}
    assert late, f"no order was flagged for the late e_drive: {book.flagged}"
    # at once: when the supplier said so (its announcement, or its answer to an order placed since), not
    # when a line or machine runs short
    told = set(seen["told"])
    assert all(at in told for at in late.values())
    assert min(late.values()) <= announced + 60
    catalogue = reference_catalogue()
    assert all("e_drive" in catalogue.bill_of_materials(seen["s"].orders[o].configuration) for o in late)
    kept = [o for o in book.delivered_s if o not in book.flagged]
    assert kept and all(book.delivered_s[o] <= book.promised_s[o] for o in kept)
    assert k["delivered"] == k["orders"], set(book.placed_s) - set(book.delivered_s)
