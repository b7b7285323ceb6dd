"""Grid cells as VDA 5050 nodes, planner steps as orders and order updates (spec 6.6).

A floor cell (x, y) is node `n{x}_{y}` at the cell's centre in metres (`x * cell_m`, `y * cell_m`) on
map `map_id`, with `allowedDeviationXY` half a cell, so a vehicle anywhere in the cell stands on it;
a move between neighbouring cells is edge `e{x0}_{y0}-{x1}_{y1}`. `VehicleOrder` is the order one
vehicle holds: the first move after an idle start, a restart or a rejection opens a new order at the
cell the vehicle stands on, every move after it is an order update whose first node is the previous
decision point, resent unchanged (spec 6.6.2: the stitching node may not change), and whose new
nodes are released (the base is what the planner committed). Each message may end in a horizon: the
cells the vehicle is planned to pass after the decision point (`horizon`), unreleased, sequence ids
going on from the base's; every update replaces it whole (6.6.2: the horizon may change), and
`drop_horizon` takes it back when the vehicle must stand idle for a new order. Horizon nodes carry
no actions: a pick or drop rides on its node once that is released. Messages are plain dicts in the
wire form; the tests check every one against the official schemas.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mixflow.errors import ValidationError
from mixflow.model.plant import Cell

Wire = dict[str, Any]


def node_id(cell: Cell) -> str:
    return f"n{cell[0]}_{cell[1]}"


def cell_of_node(node: str) -> Cell | None:
    """The cell a node id of ours names, None for somebody else's node id."""
    if not node.startswith("n"):
        return None
    x, sep, y = node[1:].partition("_")
    if not sep or not x.isdigit() or not y.isdigit():
        return None
    return (int(x), int(y))


def edge_id(a: Cell, b: Cell) -> str:
    return f"e{a[0]}_{a[1]}-{b[0]}_{b[1]}"


@dataclass(frozen=True)
class FloorMap:
    """How cells become positions: the map every node lies on and the size of a cell."""

    map_id: str
    cell_m: float

    def __post_init__(self) -> None:
        if self.cell_m <= 0:
            raise ValidationError("VDA 5050 floor map", f"cell_m must be positive, got {self.cell_m}")

    def node(
        self, cell: Cell, sequence_id: int, actions: Sequence[Wire] = (), released: bool = True
    ) -> Wire:
        return {
            "nodeId": node_id(cell),
            "sequenceId": sequence_id,
            "released": released,
            "nodePosition": {
                "x": cell[0] * self.cell_m,
                "y": cell[1] * self.cell_m,
                "mapId": self.map_id,
                "allowedDeviationXY": self.cell_m / 2,
            },
            "actions": list(actions),
        }

    def edge(self, a: Cell, b: Cell, sequence_id: int, released: bool = True) -> Wire:
        return {
            "edgeId": edge_id(a, b),
            "sequenceId": sequence_id,
            "released": released,
            "startNodeId": node_id(a),
            "endNodeId": node_id(b),
            "length": self.cell_m,
            "actions": [],
        }

    def cell_at(self, x_m: float, y_m: float) -> Cell:
        """The cell a position in metres lies in."""
        return (round(x_m / self.cell_m), round(y_m / self.cell_m))


@dataclass
class VehicleOrder:
    """The order one vehicle holds as master control sent it: id, last update, the decision point and
    whether the last message ended in a horizon (the vehicle then waits for an update, 6.6.2)."""

    agv_id: str
    order_id: str = ""
    update_id: int = 0
    end: Wire | None = None  # the decision point node, as sent
    end_cell: Cell | None = None
    horizon: bool = False
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def open(self) -> bool:
        """Whether the next move can be an update of the order the vehicle holds."""
        return self.end is not None

    def close(self) -> None:
        """The vehicle holds no order we may extend (cancelled, rejected, the vehicle gone): the next
        move opens a new one where it stands."""
        self.end = None
        self.end_cell = None
        self.horizon = False

    def start(
        self,
        floor: FloorMap,
        cell: Cell,
        actions: Sequence[Wire] = (),
        then: Cell | None = None,
        then_actions: Sequence[Wire] = (),
        ahead: Sequence[Cell] = (),
    ) -> tuple[list[Wire], list[Wire]]:
        """A new order from where the vehicle stands (trivially reachable, 6.6.1), with its first step
        to `then` if given, released, and the cells `ahead` of the last as its horizon."""
        self.order_id = f"{self.agv_id}-{next(self.counter)}"
        self.update_id = 0
        self.end = floor.node(cell, 0, actions)
        self.end_cell = cell
        nodes, edges = [self.end], []
        if then is not None:
            self.end = floor.node(then, 2, then_actions)
            self.end_cell = then
            nodes.append(self.end)
            edges.append(floor.edge(cell, then, 1))
        self._add_horizon(floor, cell if then is None else then, ahead, nodes, edges)
        return nodes, edges

    def extend(
        self, floor: FloorMap, cell: Cell, actions: Sequence[Wire] = (), ahead: Sequence[Cell] = ()
    ) -> tuple[list[Wire], list[Wire]]:
        """An order update: the decision point resent unchanged, one edge, the new node (released),
        then the cells `ahead` of it as the new horizon (the old one is replaced)."""
        if self.end is None or self.end_cell is None:
            raise ValidationError(f"VDA 5050 order of {self.agv_id}", "no open order to extend")
        stitch, seq = self.end, self.end["sequenceId"]
        self.update_id += 1
        self.end = floor.node(cell, seq + 2, actions)
        edges = [floor.edge(self.end_cell, cell, seq + 1)]
        self.end_cell = cell
        nodes = [stitch, self.end]
        self._add_horizon(floor, cell, ahead, nodes, edges)
        return nodes, edges

    def drop_horizon(self) -> tuple[list[Wire], list[Wire]]:
        """An order update of the decision point alone: the vehicle forgets its horizon ("the horizon
        can also be deleted", 6.6.2) and, standing there with its actions done, may take a new order
        (figure 8, step 3: one holding a horizon waits for an update and refuses a new order)."""
        if self.end is None:
            raise ValidationError(f"VDA 5050 order of {self.agv_id}", "no open order to trim")
        self.update_id += 1
        self.horizon = False
        return [self.end], []

    def _add_horizon(
        self, floor: FloorMap, previous: Cell, ahead: Sequence[Cell], nodes: list[Wire], edges: list[Wire]
    ) -> None:
        """Append `ahead` unreleased after the decision point `nodes[-1]` (on `previous`), sequence ids
        going on from it."""
        seq = nodes[-1]["sequenceId"]
        for cell in ahead:
            edges.append(floor.edge(previous, cell, seq + 1, released=False))
            nodes.append(floor.node(cell, seq + 2, released=False))
            seq, previous = seq + 2, cell
        self.horizon = bool(ahead)

    def message(self, header: Wire, nodes: list[Wire], edges: list[Wire]) -> Wire:
        return {
            **header,
            "orderId": self.order_id,
            "orderUpdateId": self.update_id,
            "nodes": nodes,
            "edges": edges,
        }


def action(action_type: str, action_id: str, blocking: str = "NONE", **parameters: object) -> Wire:
    """An action in the wire form (parameters as key/value pairs, spec 7.2)."""
    body: Wire = {"actionType": action_type, "actionId": action_id, "blockingType": blocking}
    if parameters:
        body["actionParameters"] = [{"key": k, "value": v} for k, v in parameters.items()]
    return body
