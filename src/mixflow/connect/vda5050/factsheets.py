"""Two vehicle series of two makers, built from a plant's AGV type, so one fleet mixes factsheets.

Both move at the plant's AGV speed and carry its payload (the planner moves the fleet in lock step),
but they differ in what a master control reads from the factsheet: class, kinematics, size,
localization, load handling times. The makers and series are invented for the simulation.
"""

from __future__ import annotations

from mixflow.connect.vda5050.models import (
    ActionParameterDefinition,
    AgvAction,
    AgvGeometry,
    Envelope2d,
    Factsheet,
    LoadSet,
    LoadSpecification,
    MaxArrayLens,
    MaxStringLens,
    PhysicalParameters,
    PolygonPoint,
    ProtocolFeatures,
    ProtocolLimits,
    Timing,
    TypeSpecification,
)
from mixflow.connect.vda5050.vehicle import VehicleType
from mixflow.model.plant import AgvSpec

MANUFACTURERS = ("TugWerk", "CarryBot")


def _agv_actions() -> list[AgvAction]:
    def param(key: str, kind: str, optional: bool = True) -> ActionParameterDefinition:
        return ActionParameterDefinition(key=key, value_data_type=kind, is_optional=optional)  # type: ignore[arg-type]

    load = [param("loadId", "STRING"), param("loadType", "STRING"), param("weight", "NUMBER")]
    position = [param(k, "NUMBER", False) for k in ("x", "y", "theta")] + [
        param("mapId", "STRING", False),
        param("lastNodeId", "STRING"),
    ]
    return [
        AgvAction(action_type="pick", action_scopes=["NODE"], action_parameters=load),
        AgvAction(action_type="drop", action_scopes=["NODE"], action_parameters=load),
        AgvAction(action_type="startCharging", action_scopes=["INSTANT", "NODE"]),
        AgvAction(action_type="stopCharging", action_scopes=["INSTANT", "NODE"]),
        AgvAction(action_type="initPosition", action_scopes=["INSTANT"], action_parameters=position),
        AgvAction(action_type="cancelOrder", action_scopes=["INSTANT"]),
        AgvAction(action_type="startPause", action_scopes=["INSTANT"]),
        AgvAction(action_type="stopPause", action_scopes=["INSTANT"]),
        AgvAction(action_type="factsheetRequest", action_scopes=["INSTANT"]),
        AgvAction(action_type="stateRequest", action_scopes=["INSTANT"]),
    ]


def _box(length: float, width: float) -> Envelope2d:
    half_l, half_w = length / 2, width / 2
    corners = [(half_l, half_w), (-half_l, half_w), (-half_l, -half_w), (half_l, -half_w)]
    return Envelope2d(set="default", polygon_points=[PolygonPoint(x=x, y=y) for x, y in corners])


def _factsheet(
    manufacturer: str,
    spec: AgvSpec,
    *,
    series: str,
    agv_class: str,
    kinematic: str,
    localization: list[str],
    size_m: tuple[float, float, float],
    pick_s: float,
    drop_s: float,
) -> Factsheet:
    length, width, height = size_m
    return Factsheet(
        manufacturer=manufacturer,
        serial_number="type",
        type_specification=TypeSpecification(
            series_name=series,
            series_description=f"{agv_class.lower()} for kit carts, {spec.payload_kg:g} kg",
            agv_kinematic=kinematic,  # type: ignore[arg-type]
            agv_class=agv_class,  # type: ignore[arg-type]
            max_load_mass=spec.payload_kg,
            localization_types=localization,  # type: ignore[arg-type]
            navigation_types=["AUTONOMOUS"],
        ),
        physical_parameters=PhysicalParameters(
            speed_min=0.05,
            speed_max=spec.speed_m_s,
            acceleration_max=0.5,
            deceleration_max=0.8,
            height_max=height,
            width=width,
            length=length,
        ),
        protocol_limits=ProtocolLimits(
            max_string_lens=MaxStringLens(id_len=64, topic_serial_len=32),
            max_array_lens=MaxArrayLens.model_validate({"order.nodes": 1000, "order.edges": 999}),
            timing=Timing(
                min_order_interval=0.1,
                min_state_interval=0.1,
                default_state_interval=1.0,
                visualization_interval=0.2,
            ),
        ),
        protocol_features=ProtocolFeatures(optional_parameters=[], agv_actions=_agv_actions()),
        agv_geometry=AgvGeometry(envelopes2d=[_box(length, width)]),
        load_specification=LoadSpecification(
            load_positions=["deck"],
            load_sets=[
                LoadSet(
                    set_name="kit-cart",
                    load_type="part",
                    load_positions=["deck"],
                    max_weight=spec.payload_kg,
                    pick_time=pick_s,
                    drop_time=drop_s,
                )
            ],
        ),
    )


def vehicle_types(spec: AgvSpec, pick_s: float = 5.0, drop_s: float = 5.0) -> tuple[VehicleType, VehicleType]:
    """A tugger by TugWerk and a carrier by CarryBot for the plant's AGV type `spec`."""
    sheets = (
        _factsheet(
            MANUFACTURERS[0],
            spec,
            series="TW-T30",
            agv_class="TUGGER",
            kinematic="DIFF",
            localization=["NATURAL"],
            size_m=(1.6, 0.9, 1.2),
            pick_s=pick_s,
            drop_s=drop_s,
        ),
        _factsheet(
            MANUFACTURERS[1],
            spec,
            series="CB-Omni-3",
            agv_class="CARRIER",
            kinematic="OMNI",
            localization=["GRID", "DMC"],
            size_m=(1.3, 1.1, 0.45),
            pick_s=pick_s,
            drop_s=drop_s,
        ),
    )
    return tuple(  # type: ignore[return-value]
        VehicleType(
            manufacturer=sheet.manufacturer,
            factsheet=sheet,
            battery_kwh=spec.battery_kwh,
            drain_kwh_per_m=spec.drain_kwh_per_m,
            loaded_drain_factor=spec.loaded_drain_factor,
            charge_kw=spec.charge_kw,
            pick_s=pick_s,
            drop_s=drop_s,
        )
        for sheet in sheets
    )
