"""The OPC UA information model of a mixflow machine: its types, its units and its state vocabulary.

Both sides read it: the simulated machine (`opcua_machine`) builds its address space from it and the
adapter (`opcua`) browses, converts and maps by it. Namespace `NAMESPACE` holds:

- `MixflowMachineType` (subtype of 0:BaseObjectType): what every machine object is an instance of, with
  `SpindlePower` and `Temperature` (0:AnalogItemType, Double, with 0:EngineeringUnits and 0:EURange),
  `OperationId` (String: the operation in work), `PartsDone` (UInt32: finished operations), `Reason`
  (String: why it is out of service), the component `MachineryItemState` and the methods
  `StartOperation(OperationId: String, DurationS: Double)` and `StopOperation()`.
- `MachineryItemState_StateMachineType` (subtype of 0:FiniteStateMachineType): after OPC 40001-1
  (OPC UA for Machinery, Part 1) section 12. From the spec: the four states NotAvailable,
  OutOfService, NotExecuting and Executing (0:StateType objects with StateNumber 0, 1, 2, 3), the 16
  `From{A}To{B}` transitions between all of them (0:TransitionType with 0:FromState/0:ToState), and an
  instance's `CurrentState` (LocalizedText) with `CurrentState/Id` holding the NodeId of the state
  object. Not from the spec: the TransitionNumbers (ours count 1-16 in order), and the namespace: the
  type lives in ours, not the Machinery one (http://opcfoundation.org/UA/Machinery/), because loading
  that nodeset needs the DI nodeset too and neither ships with asyncua. The adapter therefore learns
  the states by their browse *names* from whatever type the instance has (walking up to
  0:FiniteStateMachineType), so a Machinery server's own states, or a companion spec's subtype, map
  the same way.

Units are UNECE Recommendation 20 common codes in `EUInformation` as OPC 10000-8 5.6.3 encodes them:
the UnitId is the code's ASCII bytes read as a big-endian integer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from asyncua import Node, Server, ua
from asyncua.common.instantiate_util import instantiate

NAMESPACE = "urn:mixflow:machine"
UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
MACHINE_TYPE = "MixflowMachineType"
STATE_MACHINE_TYPE = "MachineryItemState_StateMachineType"
START_METHOD = "StartOperation"
STOP_METHOD = "StopOperation"

# OPC 40001-1 12.2: the state names, each at its StateNumber
MACHINERY_ITEM_STATES = ("NotAvailable", "OutOfService", "NotExecuting", "Executing")
NOT_AVAILABLE, OUT_OF_SERVICE, NOT_EXECUTING, EXECUTING = MACHINERY_ITEM_STATES
DOWN_STATES = frozenset({NOT_AVAILABLE, OUT_OF_SERVICE})

# UNECE common code -> (display name, description)
UNITS = {
    "KWT": ("kW", "kilowatt"),
    "WTT": ("W", "watt"),
    "CEL": ("°C", "degree Celsius"),
    "KEL": ("K", "kelvin"),
}


@dataclass(frozen=True)
class MachineNodes:
    """Browse names of a machine object's children, as the adapter looks them up."""

    state_machine: str = "MachineryItemState"
    reason: str = "Reason"
    power_kw: str = "SpindlePower"
    temperature_c: str = "Temperature"
    operation_id: str = "OperationId"
    parts_done: str = "PartsDone"


NODES = MachineNodes()


def eu_information(code: str) -> ua.EUInformation:
    """The `EUInformation` of a UNECE common code in `UNITS`."""
    display, description = UNITS[code]
    return ua.EUInformation(
        NamespaceUri=UNECE_NAMESPACE,
        UnitId=int.from_bytes(code.encode("ascii"), "big"),
        DisplayName=ua.LocalizedText(display, "en"),
        Description=ua.LocalizedText(description, "en"),
    )


def unece_code(units: ua.EUInformation) -> str:
    """The UNECE common code behind an `EUInformation` ("" when its UnitId is not one)."""
    if units.NamespaceUri != UNECE_NAMESPACE or units.UnitId <= 0:
        return ""
    return units.UnitId.to_bytes(4, "big").lstrip(b"\0").decode("ascii", errors="replace")


@dataclass(frozen=True)
class MachineTypes:
    """The types `add_machine_types` made: the machine type, the state objects by name and the
    transition objects by (from, to)."""

    machine_type: Node
    states: dict[str, Node]
    transitions: dict[tuple[str, str], Node]


async def add_machine_types(server: Server, index: int) -> MachineTypes:
    """Add `MachineryItemState_StateMachineType` and `MixflowMachineType` to namespace `index`."""
    state_machine_type = await server.get_node(ua.ObjectIds.FiniteStateMachineType).add_object_type(
        index, STATE_MACHINE_TYPE
    )
    states: dict[str, Node] = {}
    for number, name in enumerate(MACHINERY_ITEM_STATES):
        state = await state_machine_type.add_object(index, name, objecttype=ua.ObjectIds.StateType)
        await _write(state, "0:StateNumber", number, ua.VariantType.UInt32)
        states[name] = state
    transitions: dict[tuple[str, str], Node] = {}
    pairs = itertools.product(MACHINERY_ITEM_STATES, repeat=2)
    for number, (source, target) in enumerate(pairs, start=1):
        transition = await state_machine_type.add_object(
            index, f"From{source}To{target}", objecttype=ua.ObjectIds.TransitionType
        )
        await _write(transition, "0:TransitionNumber", number, ua.VariantType.UInt32)
        await transition.add_reference(states[source].nodeid, ua.ObjectIds.FromState)
        await transition.add_reference(states[target].nodeid, ua.ObjectIds.ToState)
        transitions[source, target] = transition

    machine_type = await server.nodes.base_object_type.add_object_type(index, MACHINE_TYPE)
    await machine_type.add_object(index, NODES.state_machine, objecttype=state_machine_type.nodeid)
    for name, code, low, high in (
        (NODES.power_kw, "KWT", 0.0, 60.0),
        (NODES.temperature_c, "CEL", 0.0, 120.0),
    ):
        await _add_analog_item(machine_type, index, name, code, ua.Range(low, high))
    for name, value in (
        (NODES.operation_id, ua.Variant("", ua.VariantType.String)),
        (NODES.parts_done, ua.Variant(0, ua.VariantType.UInt32)),
        (NODES.reason, ua.Variant("", ua.VariantType.String)),
    ):
        await machine_type.add_variable(index, name, value)
    start_arguments = [
        _argument("OperationId", ua.VariantType.String, "the operation to work"),
        _argument("DurationS", ua.VariantType.Double, "its standard time in seconds"),
    ]
    await machine_type.add_method(index, START_METHOD, _not_on_the_type, start_arguments, [])
    await machine_type.add_method(index, STOP_METHOD, _not_on_the_type, [], [])
    for declaration in await machine_type.get_children():
        await _declare_mandatory(declaration)
    return MachineTypes(machine_type, states, transitions)


async def _add_analog_item(parent: Node, index: int, name: str, code: str, eu_range: ua.Range) -> None:
    """A Double 0:AnalogItemType variable with its EURange and EngineeringUnits."""
    variable, *_ = await instantiate(
        parent,
        Node(parent.session, ua.NodeId(ua.ObjectIds.AnalogItemType)),
        bname=ua.QualifiedName(name, index),
        idx=index,
        instantiate_optional=False,
    )
    await variable.write_attribute(
        ua.AttributeIds.DataType,
        ua.DataValue(ua.Variant(ua.NodeId(ua.ObjectIds.Double), ua.VariantType.NodeId)),
    )
    await variable.write_value(ua.Variant(0.0, ua.VariantType.Double))
    await (await variable.get_child(["0:EURange"])).write_value(ua.Variant(eu_range))
    await variable.add_property(
        ua.NodeId(NamespaceIndex=index),
        ua.QualifiedName("EngineeringUnits", 0),
        ua.Variant(eu_information(code)),
    )


def _argument(name: str, kind: ua.VariantType, description: str) -> ua.Argument:
    return ua.Argument(
        Name=name, DataType=ua.NodeId(kind.value), ValueRank=-1, Description=ua.LocalizedText(description)
    )


def _not_on_the_type(parent: ua.NodeId, *arguments: ua.Variant) -> ua.StatusCode:
    """The type's methods only declare the signature; a machine object's own methods do the work."""
    return ua.StatusCode(ua.StatusCodes.BadNotExecutable)


async def _declare_mandatory(node: Node) -> None:
    """Mark an instance declaration and everything below it Mandatory, so that instantiating the type
    copies the whole tree (asyncua copies only children that carry a modelling rule)."""
    if not await node.get_referenced_nodes(refs=ua.ObjectIds.HasModellingRule):
        await node.set_modelling_rule(True)
    for child in await node.get_children():
        await _declare_mandatory(child)


async def _write(node: Node, child: str, value: object, kind: ua.VariantType) -> None:
    await (await node.get_child([child])).write_value(ua.Variant(value, kind))
