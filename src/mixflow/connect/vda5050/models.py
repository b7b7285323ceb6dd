"""The six VDA 5050 2.1.0 messages as pydantic models, written against the official JSON Schemas.

Attributes are snake_case, the wire names camelCase (aliases); build a model with either and send it
with `to_json()`, which leaves out unset optional fields as the schemas expect. The models check
types and enums; the schemas stay the final word on the wire (`vda5050.validation`), and
tests/connect/test_vda5050_models.py walks every model against its schema so a drift fails.
Unknown fields on input are ignored: a vehicle of a newer minor version must not be refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

VERSION = "2.1.0"

BlockingType = Literal["NONE", "SOFT", "HARD"]
ActionStatus = Literal["WAITING", "INITIALIZING", "RUNNING", "FINISHED", "FAILED"]
ConnectionState = Literal["ONLINE", "OFFLINE", "CONNECTIONBROKEN"]
OperatingMode = Literal["AUTOMATIC", "SEMIAUTOMATIC", "MANUAL", "SERVICE", "TEACHIN"]
ErrorLevel = Literal["WARNING", "FATAL"]
InfoLevel = Literal["INFO", "DEBUG"]
EStop = Literal["AUTOACK", "MANUAL", "REMOTE", "NONE"]
MapStatus = Literal["ENABLED", "DISABLED"]
CorridorRefPoint = Literal["KINEMATICCENTER", "CONTOUR"]
AgvKinematic = Literal["DIFF", "OMNI", "THREEWHEEL"]
AgvClass = Literal["FORKLIFT", "CONVEYOR", "TUGGER", "CARRIER"]
LocalizationType = Literal["NATURAL", "REFLECTOR", "RFID", "DMC", "SPOT", "GRID"]
NavigationType = Literal["PHYSICAL_LINE_GUIDED", "VIRTUAL_LINE_GUIDED", "AUTONOMOUS"]
Support = Literal["SUPPORTED", "REQUIRED"]
ActionScope = Literal["INSTANT", "NODE", "EDGE"]
ValueDataType = Literal["BOOL", "NUMBER", "INTEGER", "FLOAT", "STRING", "OBJECT", "ARRAY"]
WheelType = Literal["DRIVE", "CASTER", "FIXED", "MECANUM"]


MAP_ID = "floor"
"""The one VDA 5050 map of a plant: its floor grid (how cells become nodes: `vda5050.orders`)."""


def timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 UTC with hundredths of a second, as the spec's examples (`2026-12-07T10:00:03.12Z`)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 10_000:02d}Z"


class Part(BaseModel):
    """A piece of a message: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_dict(self) -> dict[str, Any]:
        """The wire form as a dict (camelCase, unset optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def from_json(cls, payload: bytes | str) -> Self:
        """Parse a payload; raises pydantic's ValidationError naming the field."""
        return cls.model_validate_json(payload)


class Message(Part):
    """A whole message on one topic, with the header every VDA 5050 message starts with."""

    header_id: int = 0
    timestamp: str = Field(default_factory=timestamp)
    version: str = VERSION
    manufacturer: str
    serial_number: str


# --- order and instantActions (master control -> vehicle) ---------------------------------------


class ActionParameter(Part):
    key: str
    value: list[Any] | bool | float | str | dict[str, Any]


class Action(Part):
    """An action on a node, an edge or sent at once (instantActions)."""

    action_type: str
    action_id: str
    blocking_type: BlockingType
    action_description: str | None = None
    action_parameters: list[ActionParameter] | None = None

    def parameter(self, key: str) -> Any:
        """The value of parameter `key`, or None when the action does not carry it."""
        for p in self.action_parameters or ():
            if p.key == key:
                return p.value
        return None


class NodePosition(Part):
    """Where a node lies on a map, in metres; theta in radians."""

    x: float
    y: float
    map_id: str
    theta: float | None = Field(default=None, ge=-3.14159265359, le=3.14159265359)
    allowed_deviation_x_y: float | None = Field(default=None, ge=0, alias="allowedDeviationXY")
    allowed_deviation_theta: float | None = Field(default=None, ge=-3.141592654, le=3.141592654)
    map_description: str | None = None


class Node(Part):
    node_id: str
    sequence_id: int = Field(ge=0)
    released: bool
    actions: list[Action] = Field(default_factory=list)
    node_description: str | None = None
    node_position: NodePosition | None = None


class ControlPoint(Part):
    x: float
    y: float
    weight: float | None = Field(default=None, ge=0)


class Trajectory(Part):
    """A NURBS an edge is driven along."""

    degree: int = Field(ge=1)
    knot_vector: list[float]
    control_points: list[ControlPoint]


class Corridor(Part):
    left_width: float = Field(ge=0)
    right_width: float = Field(ge=0)
    corridor_ref_point: CorridorRefPoint | None = None


class Edge(Part):
    edge_id: str
    sequence_id: int = Field(ge=0)
    released: bool
    start_node_id: str
    end_node_id: str
    actions: list[Action] = Field(default_factory=list)
    edge_description: str | None = None
    max_speed: float | None = None
    max_height: float | None = None
    min_height: float | None = None
    orientation: float | None = Field(default=None, ge=-3.14159265359, le=3.14159265359)
    orientation_type: str | None = None
    direction: str | None = None
    rotation_allowed: bool | None = None
    max_rotation_speed: float | None = None
    length: float | None = None
    trajectory: Trajectory | None = None
    corridor: Corridor | None = None


class Order(Message):
    """A graph to drive: nodes and edges alternate by sequenceId (node 0, edge 1, node 2, ...); the
    released ones are the base, the others the horizon. An update keeps orderId and raises
    orderUpdateId, and its first node is the last base node of the previous update."""

    order_id: str
    order_update_id: int = Field(ge=0)
    nodes: list[Node]
    edges: list[Edge]
    zone_set_id: str | None = None


class InstantActions(Message):
    actions: list[Action]


# --- state, visualization, connection (vehicle -> master control) --------------------------------


class MapInfo(Part):
    map_id: str
    map_version: str
    map_status: MapStatus
    map_description: str | None = None


class NodeStatePosition(Part):
    x: float
    y: float
    map_id: str
    theta: float | None = None


class NodeState(Part):
    """A node of the current order the vehicle has not passed yet."""

    node_id: str
    sequence_id: int
    released: bool
    node_description: str | None = None
    node_position: NodeStatePosition | None = None


class EdgeState(Part):
    edge_id: str
    sequence_id: int
    released: bool
    edge_description: str | None = None
    trajectory: Trajectory | None = None


class AgvPosition(Part):
    x: float
    y: float
    theta: float
    map_id: str
    position_initialized: bool
    map_description: str | None = None
    localization_score: float | None = Field(default=None, ge=0, le=1)
    deviation_range: float | None = None


class Velocity(Part):
    vx: float | None = None
    vy: float | None = None
    omega: float | None = None


class BoundingBoxReference(Part):
    x: float
    y: float
    z: float
    theta: float | None = None


class LoadDimensions(Part):
    length: float
    width: float
    height: float | None = None


class Load(Part):
    load_id: str | None = None
    load_type: str | None = None
    load_position: str | None = None
    bounding_box_reference: BoundingBoxReference | None = None
    load_dimensions: LoadDimensions | None = None
    weight: float | None = Field(default=None, ge=0)


class ActionState(Part):
    action_id: str
    action_status: ActionStatus
    action_type: str | None = None
    action_description: str | None = None
    result_description: str | None = None


class BatteryState(Part):
    battery_charge: float
    charging: bool
    battery_voltage: float | None = None
    battery_health: float | None = Field(default=None, ge=0, le=100)
    reach: float | None = Field(default=None, ge=0)


class ErrorReference(Part):
    reference_key: str
    reference_value: str


class Error(Part):
    """A vehicle error; the spec's references name what caused it (`orderId`, `orderUpdateId`, ...)."""

    error_type: str
    error_level: ErrorLevel
    error_references: list[ErrorReference] | None = None
    error_description: str | None = None
    error_hint: str | None = None


class InfoReference(Part):
    reference_key: str
    reference_value: str


class Info(Part):
    info_type: str
    info_level: InfoLevel
    info_references: list[InfoReference] | None = None
    info_description: str | None = None


class SafetyState(Part):
    e_stop: EStop
    field_violation: bool


class State(Message):
    """Everything the vehicle knows about itself and its order; sent on every relevant event and
    at least every 30 s (our simulator: every second)."""

    order_id: str
    order_update_id: int
    last_node_id: str
    last_node_sequence_id: int
    node_states: list[NodeState]
    edge_states: list[EdgeState]
    driving: bool
    action_states: list[ActionState]
    battery_state: BatteryState
    operating_mode: OperatingMode
    errors: list[Error]
    safety_state: SafetyState
    maps: list[MapInfo] | None = None
    zone_set_id: str | None = None
    paused: bool | None = None
    new_base_request: bool | None = None
    distance_since_last_node: float | None = None
    agv_position: AgvPosition | None = None
    velocity: Velocity | None = None
    loads: list[Load] | None = None
    information: list[Info] | None = None


class VisualizationPosition(Part):
    """agvPosition as visualization carries it (no mapDescription)."""

    x: float
    y: float
    theta: float
    map_id: str
    position_initialized: bool
    localization_score: float | None = Field(default=None, ge=0, le=1)
    deviation_range: float | None = None


class Visualization(Part):
    """Position and velocity at a higher rate, for displays only (the schema requires no field)."""

    header_id: int | None = None
    timestamp: str | None = None
    version: str | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    agv_position: VisualizationPosition | None = None
    velocity: Velocity | None = None


class Connection(Message):
    connection_state: ConnectionState


# --- factsheet (vehicle -> master control, on factsheetRequest) ---------------------------------


class TypeSpecification(Part):
    series_name: str
    agv_kinematic: AgvKinematic
    agv_class: AgvClass
    max_load_mass: float = Field(ge=0)
    localization_types: list[LocalizationType]
    navigation_types: list[NavigationType]
    series_description: str | None = None


class PhysicalParameters(Part):
    """Speeds in m/s, accelerations in m/s², sizes in metres."""

    speed_min: float
    speed_max: float
    acceleration_max: float
    deceleration_max: float
    height_max: float
    width: float
    length: float
    height_min: float | None = None


class MaxStringLens(Part):
    msg_len: int | None = None
    topic_serial_len: int | None = None
    topic_elem_len: int | None = None
    id_len: int | None = None
    id_numerical_only: bool | None = None
    enum_len: int | None = None
    load_id_len: int | None = None


class MaxArrayLens(Part):
    order_nodes: int | None = Field(default=None, alias="order.nodes")
    order_edges: int | None = Field(default=None, alias="order.edges")
    node_actions: int | None = Field(default=None, alias="node.actions")
    edge_actions: int | None = Field(default=None, alias="edge.actions")
    actions_actions_parameters: int | None = Field(default=None, alias="actions.actionsParameters")
    instant_actions: int | None = Field(default=None, alias="instantActions")
    trajectory_knot_vector: int | None = Field(default=None, alias="trajectory.knotVector")
    trajectory_control_points: int | None = Field(default=None, alias="trajectory.controlPoints")
    state_node_states: int | None = Field(default=None, alias="state.nodeStates")
    state_edge_states: int | None = Field(default=None, alias="state.edgeStates")
    state_loads: int | None = Field(default=None, alias="state.loads")
    state_action_states: int | None = Field(default=None, alias="state.actionStates")
    state_errors: int | None = Field(default=None, alias="state.errors")
    state_information: int | None = Field(default=None, alias="state.information")
    error_error_references: int | None = Field(default=None, alias="error.errorReferences")
    information_info_references: int | None = Field(default=None, alias="information.infoReferences")


class Timing(Part):
    """Intervals in seconds."""

    min_order_interval: float
    min_state_interval: float
    default_state_interval: float | None = None
    visualization_interval: float | None = None


class ProtocolLimits(Part):
    max_string_lens: MaxStringLens
    max_array_lens: MaxArrayLens
    timing: Timing


class OptionalParameter(Part):
    parameter: str
    support: Support
    description: str | None = None


class ActionParameterDefinition(Part):
    key: str
    value_data_type: ValueDataType
    description: str | None = None
    is_optional: bool | None = None


class AgvAction(Part):
    action_type: str
    action_scopes: list[ActionScope]
    action_description: str | None = None
    action_parameters: list[ActionParameterDefinition] | None = None
    result_description: str | None = None
    blocking_types: list[BlockingType] | None = None
    """Unusable in 2.1.0: the schema puts the enum on the array itself, so no list validates."""


class ProtocolFeatures(Part):
    optional_parameters: list[OptionalParameter]
    agv_actions: list[AgvAction]


class WheelPosition(Part):
    x: float
    y: float
    theta: float | None = None


class WheelDefinition(Part):
    type: WheelType
    is_active_driven: bool
    is_active_steered: bool
    position: WheelPosition
    diameter: float
    width: float
    center_displacement: float | None = None
    constraints: str | None = None


class PolygonPoint(Part):
    x: float
    y: float


class Envelope2d(Part):
    set: str
    polygon_points: list[PolygonPoint]
    description: str | None = None


class Envelope3d(Part):
    set: str
    format: str
    data: dict[str, Any] | None = None
    url: str | None = None
    description: int | None = None
    """An integer in 2.1.0's schema (a slip for free text, as in envelopes2d), kept as the schema says."""


class AgvGeometry(Part):
    wheel_definitions: list[WheelDefinition] | None = None
    envelopes2d: list[Envelope2d] | None = Field(default=None, alias="envelopes2d")
    envelopes3d: list[Envelope3d] | None = Field(default=None, alias="envelopes3d")


class LoadSet(Part):
    set_name: str
    load_type: str
    load_positions: list[str] | None = None
    bounding_box_reference: BoundingBoxReference | None = None
    load_dimensions: LoadDimensions | None = None
    max_weight: float | None = None
    min_loadhandling_height: float | None = None
    max_loadhandling_height: float | None = None
    min_loadhandling_depth: float | None = None
    max_loadhandling_depth: float | None = None
    min_loadhandling_tilt: float | None = None
    max_loadhandling_tilt: float | None = None
    agv_speed_limit: float | None = None
    agv_acceleration_limit: float | None = None
    agv_deceleration_limit: float | None = None
    pick_time: float | None = None
    drop_time: float | None = None
    description: str | None = None


class LoadSpecification(Part):
    load_positions: list[str] | None = None
    load_sets: list[LoadSet] | None = None


class VersionInfo(Part):
    key: str
    value: str


class Network(Part):
    dns_servers: list[str] | None = None
    local_ip_address: str | None = None
    ntp_servers: list[str] | None = None
    netmask: str | None = None
    default_gateway: str | None = None


class VehicleConfig(Part):
    versions: list[VersionInfo] | None = None
    network: Network | None = None


class Factsheet(Message):
    """A vehicle type: what it is, how fast and big, what it carries, which actions it knows."""

    type_specification: TypeSpecification
    physical_parameters: PhysicalParameters
    protocol_limits: ProtocolLimits
    protocol_features: ProtocolFeatures
    agv_geometry: AgvGeometry
    load_specification: LoadSpecification
    vehicle_config: VehicleConfig | None = None


MESSAGES: dict[str, type[Part]] = {
    "order": Order,
    "instantActions": InstantActions,
    "state": State,
    "visualization": Visualization,
    "connection": Connection,
    "factsheet": Factsheet,
}
"""The model of each topic's messages, by the topic's last level."""
