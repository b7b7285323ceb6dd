"""Each machine's standard state (OPC 40001-1 MachineryItemState) in the snapshot the plant and planner
pages read, derived from the scheduler's view of the twin."""

from __future__ import annotations

from mixflow.api import Settings
from mixflow.api.schemas import MACHINERY_ITEM_STATES, PlantState
from mixflow.api.twin_plant import TwinPlant
from mixflow.model.port import MachineDown

from .conftest import SECRET


def test_machine_states_follow_down_busy_and_idle() -> None:
    live = TwinPlant(Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05), warm_up_s=0)
    try:
        with live._lock:
            live._advance_to(9 * 3600)  # into the first shift
            broken = live.plant.machines[0].id
            live._take_in([MachineDown(live.factory.now_s, broken, "spindle check", "pat", 7200)])
            snap = live.take_snapshot()
        state = PlantState.model_validate({"at": "2026-01-01T00:00:00Z", **snap})
    finally:
        live.close()
    names = [state.machine_state_names[n] for n in state.machine_states]
    assert state.machine_state_names == list(MACHINERY_ITEM_STATES)
    assert len(names) == len(live.plant.machines) and names[0] == "OutOfService"
    assert state.machines_busy, "the twin works some machines in its first shift"
    for k, name in enumerate(names):
        expected = (
            "OutOfService"
            if k in state.machines_down
            else "Executing"
            if k in state.machines_busy
            else "NotExecuting"
        )
        assert name == expected, (k, name)
