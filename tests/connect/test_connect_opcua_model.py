"""The OPC UA information model: a real asyncua server and client.

The machine is an instance of its type, its analog items carry units, its MachineryItemState (OPC
40001-1) moves through a cycle, a stop, a failure and a switch-off and refuses what its state does not
allow; the adapter maps it both ways, converts units, and a historian-friendly subscription loses no
change between two publishes where a plain one does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asyncua import Client, Node, ua

from mixflow.connect.ingest import Ingest
from mixflow.connect.opcua import OpcUaAdapter
from mixflow.connect.opcua_machine import SimulatedMachine
from mixflow.connect.opcua_model import (
    MACHINERY_ITEM_STATES,
    NAMESPACE,
    UNITS,
    eu_information,
    unece_code,
)
from mixflow.model.port import OperationDone
from tests.connect.test_connect_opcua import _free_port, _ingest, _into, _kinds


class StateWatch:
    """Every `CurrentState/Id` change the server publishes, as state names (the client's own handler)."""

    def __init__(self, names: dict[ua.NodeId, str]) -> None:
        self.names = names
        self.states: list[str] = []
        self.heard = 0  # how many of `states` an `until` has consumed

    def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        self.states.append(self.names[value])

    async def until(self, state: str, timeout_s: float = 5.0) -> None:
        """Wait for the next change to `state`."""
        deadline = time.monotonic() + timeout_s
        while state not in self.states[self.heard :]:
            assert time.monotonic() < deadline, f"not {state} within {timeout_s} s: {self.states}"
            await asyncio.sleep(0.01)
        self.heard += self.states[self.heard :].index(state) + 1


async def _refusal(call: Any) -> str:
    try:
        await call
    except ua.UaStatusCodeError as error:
        return ua.StatusCode(error.code).name
    return "accepted"


def test_units_are_unece_codes_both_ways() -> None:
    for code, (display, _) in UNITS.items():
        units = eu_information(code)
        assert unece_code(units) == code and units.DisplayName.Text == display
    assert eu_information("KWT").UnitId == 4937556  # OPC 10000-8 5.6.3: the code's bytes, big-endian
    assert unece_code(ua.EUInformation(NamespaceUri="urn:other", UnitId=4937556)) == ""


def test_the_machine_is_typed_with_units_and_a_machinery_item_state_machine() -> None:
    found: dict[str, Any] = {}

    async def run() -> None:
        async with SimulatedMachine("press-1", _free_port()) as machine, Client(machine.endpoint) as client:
            index = await client.get_namespace_index(NAMESPACE)
            press = await client.nodes.objects.get_child([f"{index}:press-1"])

            def child(*path: str) -> Any:
                return press.get_child([name if ":" in name else f"{index}:{name}" for name in path])

            machine_type = client.get_node(await press.read_type_definition())
            found["type"] = (await machine_type.read_browse_name()).Name
            found["type_parent"] = (await (await machine_type.get_parent()).read_browse_name()).Name
            state_machine = await child("MachineryItemState")
            fsm_type = client.get_node(await state_machine.read_type_definition())
            found["fsm_type"] = (await fsm_type.read_browse_name()).Name
            found["fsm_parent"] = (await fsm_type.get_parent()).nodeid
            names: dict[ua.NodeId, str] = {}
            numbers: dict[str, int] = {}
            transitions = 0
            for node in await fsm_type.get_children(refs=ua.ObjectIds.HasComponent):
                name = (await node.read_browse_name()).Name
                if name in MACHINERY_ITEM_STATES:
                    names[node.nodeid] = name
                    numbers[name] = await (await node.get_child(["0:StateNumber"])).read_value()
                elif name.startswith("From"):
                    transitions += 1
            found["numbers"], found["transitions"] = numbers, transitions
            for item in ("SpindlePower", "Temperature"):
                variable = await child(item)
                units = await (await child(item, "0:EngineeringUnits")).read_value()
                eu_range = await (await child(item, "0:EURange")).read_value()
                found[item] = (
                    (await variable.read_type_definition()).Identifier,
                    unece_code(units),
                    (eu_range.Low, eu_range.High),
                )

            watch = StateWatch(names)
            subscription = await client.create_subscription(20, watch)
            await subscription.subscribe_data_change(
                await child("MachineryItemState", "0:CurrentState", "0:Id")
            )
            await watch.until("NotExecuting")
            start, stop = f"{index}:StartOperation", f"{index}:StopOperation"
            refusals = found["refusals"] = {}
            refusals["stop_idle"] = await _refusal(press.call_method(stop))
            # a cycle: Executing, the part counted, NotExecuting
            await press.call_method(start, "op-1", 0.1)
            refusals["start_busy"] = await _refusal(press.call_method(start, "op-2", 0.1))
            await watch.until("NotExecuting")
            # a stop: back to NotExecuting at once, the part not counted
            await press.call_method(start, "op-3", 30.0)
            await watch.until("Executing")
            await press.call_method(stop)
            await watch.until("NotExecuting")
            found["parts"] = await (await child("PartsDone")).read_value()
            # a failure mid-cycle, then a switch-off, each refusing work until repaired
            await press.call_method(start, "op-4", 30.0)
            await watch.until("Executing")
            await machine.fail("spindle overload")
            await watch.until("OutOfService")
            found["reason"] = await (await child("Reason")).read_value()
            found["last_transition"] = (
                await (await child("MachineryItemState", "0:LastTransition")).read_value()
            ).Text
            refusals["start_down"] = await _refusal(press.call_method(start, "op-5", 0.1))
            refusals["stop_down"] = await _refusal(press.call_method(stop))
            await machine.repair()
            await watch.until("NotExecuting")
            await machine.switch_off()
            await watch.until("NotAvailable")
            await machine.repair()
            await watch.until("NotExecuting")
            found["parts_after"] = await (await child("PartsDone")).read_value()
            found["states"] = watch.states

    asyncio.run(run())
    assert found["type"] == "MixflowMachineType" and found["type_parent"] == "BaseObjectType"
    assert found["fsm_type"] == "MachineryItemState_StateMachineType"
    assert found["fsm_parent"] == ua.NodeId(ua.ObjectIds.FiniteStateMachineType)
    assert found["numbers"] == {"NotAvailable": 0, "OutOfService": 1, "NotExecuting": 2, "Executing": 3}
    assert found["transitions"] == 16
    assert found["SpindlePower"] == (ua.ObjectIds.AnalogItemType, "KWT", (0.0, 60.0))
    assert found["Temperature"] == (ua.ObjectIds.AnalogItemType, "CEL", (0.0, 120.0))
    assert found["states"] == [
        "NotExecuting",
        "Executing",  # op-1
        "NotExecuting",
        "Executing",  # op-3, stopped
        "NotExecuting",
        "Executing",  # op-4, failed
        "OutOfService",
        "NotExecuting",
        "NotAvailable",
        "NotExecuting",
    ]
    assert found["refusals"] == dict.fromkeys(
        ("stop_idle", "start_busy", "start_down", "stop_down"), "BadInvalidState"
    )
    assert found["parts"] == 1 and found["parts_after"] == 1  # neither the stopped nor the failed op
    assert found["reason"] == "spindle overload"
    assert found["last_transition"] == "FromExecutingToOutOfService"


def test_the_adapter_maps_states_and_methods_converts_units_and_loses_no_change() -> None:
    # three adapters on one machine that reports power in W: one commanding it, one historian-style
    # and one with a plain queue of 1, both of the latter publishing every 400 ms
    ingests = {name: _ingest("press-1") for name in ("command", "historian", "plain")}
    answers: dict[str, str] = {}

    async def run() -> None:
        async with SimulatedMachine("press-1", _free_port(), seed=4, power_in_watts=True) as machine:
            adapters = {
                "command": OpcUaAdapter(
                    machine.endpoint,
                    "press-1",
                    _into(ingests["command"], "press-1"),
                    publishing_interval_ms=20,
                ),
                "historian": OpcUaAdapter(
                    machine.endpoint,
                    "press-1",
                    _into(ingests["historian"], "press-1"),
                    publishing_interval_ms=400,
                ),
                "plain": OpcUaAdapter(
                    machine.endpoint,
                    "press-1",
                    _into(ingests["plain"], "press-1"),
                    publishing_interval_ms=400,
                    queue_size=1,
                ),
            }
            tasks = [asyncio.create_task(adapter.run()) for adapter in adapters.values()]
            for adapter in adapters.values():
                await asyncio.wait_for(adapter.ready.wait(), 10)
            await asyncio.sleep(0.5)  # past a publish of the slow ones: what follows falls in one interval
            # a whole cycle (3 power and temperature steps, Executing and back) in ~60 ms
            assert await machine.run_cycle("op-1", steps=3, step_s=0.02)
            await asyncio.sleep(0.9)
            command = adapters["command"]
            answers["start"] = await command.start_operation("op-2", 30.0)
            answers["start_busy"] = await command.start_operation("op-3", 0.1)
            await asyncio.sleep(0.2)
            answers["stop"] = await command.stop_operation()
            answers["stop_idle"] = await command.stop_operation()
            await machine.fail("hydraulic pressure low")
            await asyncio.sleep(0.2)
            await machine.repair()
            await machine.switch_off()
            await asyncio.sleep(0.2)
            await machine.repair()
            await asyncio.sleep(0.5)
            for adapter in adapters.values():
                adapter.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)

    asyncio.run(run())
    assert answers == {
        "start": "",
        "start_busy": "machine refused op-3: BadInvalidState",
        "stop": "",
        "stop_idle": "machine refused the operation in work: BadInvalidState",
    }
    commanded = _kinds(ingests["command"].take_events())
    assert commanded == [
        ("OperationStarted", "op-1"),
        ("OperationDone", "op-1"),
        ("OperationStarted", "op-2"),  # stopped: never done
        ("MachineDown", "OutOfService: hydraulic pressure low"),
        ("MachineUp", ""),
        ("MachineDown", "NotAvailable: switched off"),
        ("MachineUp", ""),
    ]
    powers = [value for _, metric, _, value in ingests["command"].rows if metric == "kw"]
    assert 20.0 <= max(powers) <= 30.0  # the machine sent 20000-30000 W

    # the cycle of op-1 fell between two publishes of the slow adapters
    historian = ingests["historian"]
    events = historian.take_events()
    assert [(type(e).__name__, e.operation_id) for e in events[:2]] == [  # type: ignore[attr-defined]
        ("OperationStarted", "op-1"),
        ("OperationDone", "op-1"),
    ]
    cycle = _temperatures(historian)
    assert len(cycle) >= 3  # every step's temperature, not just the last
    stamps = list(cycle.values())[:3]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3 and stamps[2] - stamps[0] < 400  # source times
    # the plain queue keeps one value per publish: a 60 ms cycle spans at most two of its 400 ms
    # publishes, so it hears at most two of the three temperatures (its last value, the part, still)
    plain = ingests["plain"]
    assert any(isinstance(e, OperationDone) and e.operation_id == "op-1" for e in plain.take_events())
    assert len(_temperatures(plain)) <= 2


def _temperatures(ingest: Ingest) -> dict[float, int]:
    """Each cycle temperature the ingest heard (every telemetry row repeats the last one) -> its time."""
    heard: dict[float, int] = {}
    for _, metric, t_ms, value in ingest.rows:
        if metric == "temp_c" and value >= 30.0:
            heard.setdefault(value, t_ms)
    return heard
