"""A plant of two lines as the API shows it: each line's state with the units on its stations, and each
line's own sequence (the e-bus example plant)."""

from __future__ import annotations

from pathlib import Path

from mixflow.api import Settings
from mixflow.api.schemas import LineSequence, LineStateOut
from mixflow.api.twin_plant import TwinPlant

from .conftest import SECRET

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ebus"


def test_each_line_has_its_state_and_its_sequence() -> None:
    plant, catalogue = str(EXAMPLE / "plant.yaml"), str(EXAMPLE / "catalogue.yaml")
    settings = Settings(db_url="sqlite://", secret_key=SECRET, plant_file=plant, catalogue_file=catalogue)
    live = TwinPlant(settings)
    try:
        lines = [LineStateOut.model_validate(x) for x in live.snapshot()["lines"]]
        assert [x.id for x in lines] == ["city-line", "coach-line"]
        for state, line in zip(lines, live.plant.lines, strict=True):
            assert len(state.units) == len(line.stations) and state.waiting >= 0
        assert any(u is not None for state in lines for u in state.units)  # buses stand on the lines

        view = LineSequence.model_validate(live.plan_view("sequence"))
        assert [(x.id, x.takt_s) for x in view.lines] == [(line.id, line.takt_s) for line in live.plant.lines]
        assert all(x.name for x in view.lines)
        released = live.scheduler.line_sequences
        for line in view.lines:
            mine = [s.order for s in line.slots if s.state == "released"]
            assert mine == released[line.id][-200:] and mine  # both lines have built
            upcoming = [s.order for s in line.slots if s.state == "upcoming"]
            assert all((live.scheduler.promises[o].line or "city-line") == line.id for o in upcoming)
        # the combined sequence stays as it was
        assert sorted(s.order for s in view.slots) == sorted(s.order for x in view.lines for s in x.slots)
    finally:
        live.close()
