"""The live plant's alarm list carries the scheduler's material andon beside the factory's alarms."""

from __future__ import annotations

from mixflow.api import Settings
from mixflow.api.twin_plant import TwinPlant

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
