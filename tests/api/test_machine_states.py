"""Each machine's standard state (OPC 40001-1 MachineryItemState) in the snapshot the plant and planner
pages read, derived from the scheduler's view of the twin."""

from __future__ import annotations

from mixflow.api import Settings
from mixflow.api.schemas import MACHINERY_ITEM_STATES, PlantState
from mixflow.api.twin_plant import TwinPlant
from mixflow.model.port import NOT_AVAILABLE, MachineDown, MachineUp

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


def test_a_machine_switched_off_shows_not_available_and_a_broken_one_out_of_service() -> None:
    live = TwinPlant(Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05), warm_up_s=0)
    try:
        with live._lock:
            live._advance_to(9 * 3600)
            off, broken, held = (m.id for m in live.plant.machines[:3])
            now = live.factory.now_s
            live._take_in([MachineDown(now, off, "NotAvailable: energy saving", state=NOT_AVAILABLE),
                           MachineDown(now, broken, "OutOfService: jam"),
                           MachineDown(now, held, "NotAvailable: night", state=NOT_AVAILABLE),
                           MachineDown(now, held, "inspection", by="pat")])  # a planner's hold wins
            snap = live.take_snapshot()
            live._take_in([MachineUp(now + 1, off)])
            after = live.take_snapshot()
    finally:
        live.close()
    names = [MACHINERY_ITEM_STATES[n] for n in snap["machine_states"]]
    assert names[:3] == ["NotAvailable", "OutOfService", "OutOfService"]
    assert {0, 1, 2} <= set(snap["machines_down"])
    assert MACHINERY_ITEM_STATES[after["machine_states"][0]] in ("NotExecuting", "Executing")
