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
no actions: a pick or drop rides on its node once that is released.

Orders are written straight into their wire form, JSON text, from pieces `FloorMap` keeps per cell:
720 vehicles get an order a second, each of a dozen nodes and edges with its horizon, and building
dicts to hand to `json.dumps` cost four times as much as the master's whole turn does now. The tests
decode every message and check it against the official schemas.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mixflow.errors import ValidationError
from mixflow.model.plant import Cell

Wire = dict[str, Any]
Graph = tuple[list[str], list[str]]
"""An order's nodes and edges, each already in its wire form (a JSON object)."""


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


def encode(value: object) -> str:
    """A message, a piece of one or a string in its compact wire form."""
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class FloorMap:
    """How cells become positions: the map every node lies on and the size of a cell."""

    map_id: str
    cell_m: float
    _positions: dict[Cell, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cell_m <= 0:
            raise ValidationError("VDA 5050 floor map", f"cell_m must be positive, got {self.cell_m}")

    def position(self, cell: Cell) -> tuple[float, float]:
        """The cell's centre in metres."""
        return cell[0] * self.cell_m, cell[1] * self.cell_m

    def node(self, cell: Cell, sequence_id: int, actions: Sequence[Wire] = (), released: bool = True) -> str:
        """The node of `cell` in its wire form."""
        where = self._positions.get(cell)
        if where is None:
            x, y = self.position(cell)
            where = self._positions[cell] = encode(
                {"x": x, "y": y, "mapId": self.map_id, "allowedDeviationXY": self.cell_m / 2}
            )
        return (
            f'{{"nodeId":"n{cell[0]}_{cell[1]}","sequenceId":{sequence_id},'
            f'"released":{"true" if released else "false"},"nodePosition":{where},'
            f'"actions":{encode(list(actions)) if actions else "[]"}}}'
        )

    def edge(self, a: Cell, b: Cell, sequence_id: int, released: bool = True) -> str:
        """The edge from `a` to `b` in its wire form."""
        return (
            f'{{"edgeId":"e{a[0]}_{a[1]}-{b[0]}_{b[1]}","sequenceId":{sequence_id},'
            f'"released":{"true" if released else "false"},"startNodeId":"n{a[0]}_{a[1]}",'
            f'"endNodeId":"n{b[0]}_{b[1]}","length":{self.cell_m!r},"actions":[]}}'
        )

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
    end: str = ""  # the decision point node, as sent: the next update's first node, unchanged
    end_cell: Cell | None = None
    end_node: str = ""
    end_sequence: int = 0
    horizon: bool = False
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def open(self) -> bool:
        """Whether the next move can be an update of the order the vehicle holds."""
        return self.end_cell is not None

    def close(self) -> None:
        """The vehicle holds no order we may extend (cancelled, rejected, the vehicle gone): the next
        move opens a new one where it stands."""
        self.end, self.end_cell, self.end_node = "", None, ""
        self.horizon = False

    def start(
        self,
        floor: FloorMap,
        cell: Cell,
        actions: Sequence[Wire] = (),
        then: Cell | None = None,
        then_actions: Sequence[Wire] = (),
        ahead: Sequence[Cell] = (),
    ) -> Graph:
        """A new order from where the vehicle stands (trivially reachable, 6.6.1), with its first step
        to `then` if given, released, and the cells `ahead` of the last as its horizon."""
        self.order_id = f"{self.agv_id}-{next(self.counter)}"
        self.update_id = 0
        self._end(floor, cell, 0, actions)
        nodes, edges = [self.end], []
        if then is not None:
            edges.append(floor.edge(cell, then, 1))
            self._end(floor, then, 2, then_actions)
            nodes.append(self.end)
        self._add_horizon(floor, ahead, nodes, edges)
        return nodes, edges

    def extend(
        self, floor: FloorMap, cell: Cell, actions: Sequence[Wire] = (), ahead: Sequence[Cell] = ()
    ) -> Graph:
        """An order update: the decision point resent unchanged, one edge, the new node (released),
        then the cells `ahead` of it as the new horizon (the old one is replaced)."""
        if self.end_cell is None:
            raise ValidationError(f"VDA 5050 order of {self.agv_id}", "no open order to extend")
        stitch, seq = self.end, self.end_sequence
        self.update_id += 1
        edges = [floor.edge(self.end_cell, cell, seq + 1)]
        self._end(floor, cell, seq + 2, actions)
        nodes = [stitch, self.end]
        self._add_horizon(floor, ahead, nodes, edges)
        return nodes, edges

    def drop_horizon(self) -> Graph:
        """An order update of the decision point alone: the vehicle forgets its horizon ("the horizon
        can also be deleted", 6.6.2) and, standing there with its actions done, may take a new order
        (figure 8, step 3: one holding a horizon waits for an update and refuses a new order)."""
        if self.end_cell is None:
            raise ValidationError(f"VDA 5050 order of {self.agv_id}", "no open order to trim")
        self.update_id += 1
        self.horizon = False
        return [self.end], []

    def _end(self, floor: FloorMap, cell: Cell, sequence_id: int, actions: Sequence[Wire]) -> None:
        self.end = floor.node(cell, sequence_id, actions)
        self.end_cell, self.end_node, self.end_sequence = cell, node_id(cell), sequence_id

    def _add_horizon(
        self, floor: FloorMap, ahead: Sequence[Cell], nodes: list[str], edges: list[str]
    ) -> None:
        """Append `ahead` unreleased after the decision point, sequence ids going on from it."""
        seq, previous = self.end_sequence, self.end_cell
        assert previous is not None
        for cell in ahead:
            edges.append(floor.edge(previous, cell, seq + 1, released=False))
            nodes.append(floor.node(cell, seq + 2, released=False))
            seq, previous = seq + 2, cell
        self.horizon = bool(ahead)

    def message(self, header: str, graph: Graph) -> bytes:
        """The order message: `header` is the header's fields in wire form, without braces."""
        nodes, edges = graph
        return (
            f'{{{header},"orderId":{encode(self.order_id)},"orderUpdateId":{self.update_id},'
            f'"nodes":[{",".join(nodes)}],"edges":[{",".join(edges)}]}}'
        ).encode()


def action(action_type: str, action_id: str, blocking: str = "NONE", **parameters: object) -> Wire:
    """An action in the wire form (parameters as key/value pairs, spec 7.2)."""
    body: Wire = {"actionType": action_type, "actionId": action_id, "blockingType": blocking}
    if parameters:
        body["actionParameters"] = [{"key": k, "value": v} for k, v in parameters.items()]
    return body
