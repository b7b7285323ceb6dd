"""The live plant's alarm list carries the scheduler's material andon and its own failures beside the
factory's alarms."""

from __future__ import annotations

import time

from mixflow.api import Settings
from mixflow.api.twin_plant import TwinPlant
from mixflow.model.port import Factory

from .conftest import SECRET


def test_an_overdue_part_shows_in_the_plant_alarms() -> None:
    live = TwinPlant(Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05), warm_up_s=0)
    try:
        live.scheduler.material_watch.post("T1/frame", "T1", "frame", "S01", 5)
        live.scheduler.material_watch.post("T2/frame", "T2", "frame", "S01", 5)
        live.scheduler.material_watch.delivered("T2/frame")
        with live._lock:
            live._advance_to(200)
            alarms = live.take_snapshot()["alarms"]
            assert live.take_snapshot()["alarms"] == alarms  # each overdue part is listed once
        overdue = [a for a in alarms if a["kind"] == "material overdue"]
        assert [(a["source"], a["text"]) for a in overdue] == [
            ("S01", "frame for order T1 not at station S01 by 5 s")
        ]
    finally:
        live.close()


def test_a_failed_cycle_raises_an_alarm_and_the_plant_goes_on() -> None:
    """An error in one cycle of the plant's loop (here a scheduler that fails once) is an alarm on the
    plant page, and the loop goes on; it used to end the loop's thread, leaving the plant unplanned."""
    settings = Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05, twin_speed=600.0)
    live = TwinPlant(settings, warm_up_s=0)  # 600 plant seconds in one wall second, not ten
    cycle = live.scheduler.cycle
    failures = []

    def fails_once(factory: Factory, until_s: int) -> None:
        if not failures:
            failures.append(until_s)
            raise RuntimeError("plan store lost its connection")
        cycle(factory, until_s)

    live.scheduler.cycle = fails_once  # type: ignore[method-assign]
    try:
        live._thread.start()
        began = live.factory.now_s
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and live.factory.now_s < began + 600:
            time.sleep(0.1)
        assert failures and live._thread.is_alive() and live.factory.now_s >= began + 600
        errors = [a for a in live.take_snapshot()["alarms"] if a["kind"] == "plan error"]
        assert [(a["source"], a["text"]) for a in errors] == [
            ("scheduler", "RuntimeError: plan store lost its connection")
        ]
    finally:
        live.close()
