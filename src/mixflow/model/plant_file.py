"""The plant file format (YAML or JSON, `format: mixflow-plant-v1`): any plant as data.

The file is checked in three passes, each failure one `file:line: $.json.path: message`:
1. shape, against `plant.schema.json` (types, required keys, negative counts);
2. meaning, while building the `mixflow.model.Plant` (duplicate ids, unknown machine groups, cells
   outside the map or on a wall, positions no station covers);
3. the floor: every station, shop cell, dock, charger and rack cell must be reachable from the AGVs'
   homes and back (`check_reachable`).
Whether the plant fits a catalogue (every part made or bought and fitted at a line position, every
variable a condition names known, every bought item sold by a supplier once the plant names one) is
`check_fit`, since a plant file can be read without one.

`plant_data` writes a `Plant` back; reading what it wrote gives an equal plant (the round trip the
reference plant's export relies on). The syntax is documented, with a complete example, in
`docs/plant-format.md`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mixflow.errors import InputFileError, MixflowError, ValidationError
from mixflow.model.catalogue import Catalogue
from mixflow.model.energy import ChargingBay
from mixflow.model.floor_map import movingai_text, parse_movingai
from mixflow.model.formula import TRUE, Formula, literals
from mixflow.model.materials import Materials, RawMaterial, StockPolicy, Supplier
from mixflow.model.plant import (
    ALL_EXITS,
    DAY_S,
    EAST,
    NORTH,
    SOUTH,
    WEST,
    AgvSpec,
    AssemblyLine,
    Calendar,
    Cell,
    Fleet,
    FloorGrid,
    LineTest,
    Machine,
    MachineGroup,
    Plant,
    Shop,
    Station,
)
from mixflow.model.routing import Duration, Routing, RoutingStep
from mixflow.model.yaml_file import (
    check_schema,
    condition,
    condition_data,
    json_path,
    line_of,
    load_yaml,
    read_input,
)

FORMAT = "mixflow-plant-v1"
DIRECTIONS = {"north": NORTH, "east": EAST, "south": SOUTH, "west": WEST}
SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY_S}


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the plant file."""
    text = resources.files("mixflow.model").joinpath("plant.schema.json").read_text()
    return dict(json.loads(text))


class _At(Exception):
    """A meaning error at a JSON path of the file."""

    def __init__(self, path: list[str | int], message: str) -> None:
        self.path = path
        self.message = message


def _said(exc: MixflowError) -> str:
    """What a model check said, without its own "where" when the JSON path already tells it."""
    return exc.message if isinstance(exc, ValidationError) else str(exc)


def load_plant(path: str | Path) -> Plant:
    """Read, check and build a plant; raises InputFileError naming the file, line and JSON path."""
    path = Path(path)
    text = read_input(path)
    return parse_plant(text, str(path), base_dir=path.parent)


def parse_plant(text: str, source: str = "<plant>", base_dir: Path | None = None) -> Plant:
    """Build a plant from file text; `base_dir` is where a `map_file` is looked for."""
    data = load_yaml(text, source, "plant")
    check_schema(data, schema(), source)
    builder = _Builder(data, source, base_dir or Path("."))
    try:
        plant = builder.plant()
        problems = unreachable(plant)
        if problems:
            kind, where, cell = problems[0]
            raise _At(where, f"{kind} {cell} cannot be reached by the AGVs from their homes and back")
    except _At as exc:
        raise InputFileError(
            source, f"{json_path(exc.path)}: {exc.message}", line_of(data, exc.path)
        ) from exc
    except MixflowError as exc:
        raise InputFileError(source, str(exc), getattr(data, "line", None)) from exc
    object.__setattr__(plant, "_source", (source, data))
    return plant


def place_of(plant: Plant, path: list[str | int]) -> tuple[str, int | None]:
    """The file and line of `path` in the file `plant` was read from (or `<plant>` and None)."""
    source, data = plant.__dict__.get("_source", ("<plant>", None))
    return source, line_of(data, path) if data is not None else None


def routings_from_text(text: str, source: str) -> tuple[Routing, ...]:
    """The routings of a file holding only a `routings` list in the plant format's syntax."""
    data = load_yaml(text, source, "routings")
    check_schema(
        data,
        {
            "$id": schema()["$id"],
            "type": "object",
            "properties": {"routings": schema()["properties"]["routings"]},
            "$defs": schema()["$defs"],
            "required": ["routings"],
        },
        source,
    )
    try:
        return parse_routings(data["routings"], ["routings"])
    except _At as exc:
        raise InputFileError(
            source, f"{json_path(exc.path)}: {exc.message}", line_of(data, exc.path)
        ) from exc


# -- reading ---------------------------------------------------------------------------------------


def _seconds(value: Any) -> int:
    """Seconds after midnight from an integer or an `HH:MM` text."""
    if isinstance(value, int):
        return value
    hours, _, minutes = str(value).partition(":")
    return int(hours) * 3600 + int(minutes or 0) * 60


def _span_s(value: Any, path: list[str | int]) -> int:
    """Seconds of a span (a lead time, a delay): an integer of seconds, or a number with a unit, `90s`,
    `30m`, `48h`, `2d`."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([smhd])", str(value))
    if match is None:
        raise _At(path, f"{value!r} is no span: write seconds, or a number with s, m, h or d (48h)")
    return round(float(match[1]) * SPAN_UNITS[match[2]])


def _calendar(node: Mapping[str, Any], path: list[str | int]) -> Calendar:
    """Shifts less breaks as working windows."""
    windows = sorted((_seconds(a), _seconds(b)) for a, b in node["shifts"])
    for k, (a, b) in enumerate(node.get("breaks", [])):
        start, end = _seconds(a), _seconds(b)
        if not any(s <= start < end <= e for s, e in windows):
            raise _At([*path, "breaks", k], f"break {a}-{b} lies within no shift")
        cut: list[tuple[int, int]] = []
        for s, e in windows:
            if s <= start < end <= e:
                cut += [w for w in ((s, start), (end, e)) if w[0] < w[1]]
            else:
                cut.append((s, e))
        windows = cut
    try:
        return Calendar(tuple(windows), frozenset(int(d) for d in node.get("days_off", [])))
    except MixflowError as exc:
        raise _At(path, _said(exc)) from exc


def _duration(value: Any) -> Duration:
    if isinstance(value, int):
        return Duration(value)
    terms = tuple((condition(t["when"]), int(t["s"])) for t in value.get("add", []))
    per = tuple((str(k), float(v)) for k, v in value.get("per", {}).items())
    return Duration(int(value["base"]), terms, per)


def parse_routings(data: list[Any], path: list[str | int]) -> tuple[Routing, ...]:
    """The `routings` list of a plant file (the reference plant keeps its own in this syntax)."""
    routings = []
    for k, node in enumerate(data):
        steps: list[RoutingStep] = []
        for j, step in enumerate(node["steps"]):
            try:
                made = RoutingStep(
                    operation=step["operation"],
                    groups=tuple(step["groups"]),
                    duration=_duration(step["work_s"]),
                    when=condition(step["when"]) if "when" in step else TRUE,
                    materials=tuple((str(item), int(qty)) for item, qty in step.get("materials", {}).items()),
                    on_agv=bool(step.get("on_agv", False)),
                )
            except MixflowError as exc:
                raise _At([*path, k, "steps", j], _said(exc)) from exc
            steps += [made] * int(step.get("repeat", 1))
        try:
            routings.append(
                Routing(
                    part=node["part"],
                    shop=node["shop"],
                    steps=tuple(steps),
                    transfer_batch=int(node.get("transfer_batch", 1)),
                    after=node.get("after"),
                )
            )
        except MixflowError as exc:
            raise _At([*path, k], _said(exc)) from exc
    return tuple(routings)


class _Builder:
    """Builds the plant section by section, so each error knows the path it is at."""

    def __init__(self, data: Mapping[str, Any], source: str, base_dir: Path) -> None:
        self.data = data
        self.source = source
        self.base_dir = base_dir
        self.calendars = {
            name: _calendar(node, ["calendars", name]) for name, node in data.get("calendars", {}).items()
        }

    def calendar(self, name: str, path: list[str | int]) -> Calendar:
        if name not in self.calendars:
            known = ", ".join(sorted(self.calendars)) or "none"
            raise _At(path, f"unknown calendar {name!r} (known: {known})")
        return self.calendars[name]

    def cell(self, value: Any, path: list[str | int], floor: FloorGrid | None = None) -> Cell:
        x, y = int(value[0]), int(value[1])
        width, height = self.size
        if not (0 <= x < width and 0 <= y < height):
            raise _At(path, f"cell ({x}, {y}) lies outside the {width} x {height} floor")
        if self.blocked[y, x]:
            raise _At(path, f"cell ({x}, {y}) is blocked on the floor")
        return (x, y)

    def plant(self) -> Plant:
        self.floor_cells()
        shops = tuple(self.shop(node, ["shops", k]) for k, node in enumerate(self.data["shops"]))
        lines = tuple(self.line(node, ["lines", k]) for k, node in enumerate(self.data["lines"]))
        routings = parse_routings(self.data.get("routings", []), ["routings"])
        self.check_ids(shops, lines, routings)
        floor = self.floor()
        fleet = self.fleet(floor)
        materials = self.materials(floor)
        self.check_step_materials({r.id for r in materials.raw})
        return Plant(
            name=self.data["name"],
            lines=lines,
            shops=shops,
            floor=floor,
            fleet=fleet,
            scale=float(self.data.get("scale", 1.0)),
            routings=routings,
            materials=materials,
            charging=self.charging_bay(),
        )

    # -- floor ---------------------------------------------------------------------------------
    def floor_cells(self) -> None:
        """The blocked grid from the map or the layout, machines blocked on top of it."""
        node = self.data["floor"]
        if "map" in node:
            lines = str(node["map"]).splitlines()
            blocked = parse_movingai(lines, self.source, first_line=line_of(self.data, ["floor", "map"]) or 1)
        elif "map_file" in node:
            map_path = self.base_dir / node["map_file"]
            try:
                text = map_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise _At(["floor", "map_file"], f"cannot read {map_path}: {exc}") from exc
            blocked = parse_movingai(text.splitlines(), str(map_path))
        else:
            blocked = self.layout(node["layout"])
        self.blocked = blocked
        self.size = (blocked.shape[1], blocked.shape[0])
        self.exits = np.full(blocked.shape, ALL_EXITS, dtype=np.uint8)
        for k, lane in enumerate(node.get("one_way", [])):
            x0, y0, x1, y1 = self.rect(lane["rect"], ["floor", "one_way", k, "rect"])
            allowed = DIRECTIONS[lane["direction"]]
            back = {NORTH: SOUTH, SOUTH: NORTH, EAST: WEST, WEST: EAST}[allowed]
            self.exits[y0 : y1 + 1, x0 : x1 + 1] &= np.uint8(ALL_EXITS & ~back)
        for s, shop in enumerate(self.data["shops"]):
            for g, group in enumerate(shop["groups"]):
                for m, cell in enumerate(self.machine_cells(group)):
                    x, y = int(cell[0]), int(cell[1])
                    if not (0 <= x < self.size[0] and 0 <= y < self.size[1]):
                        where: list[str | int] = [
                            "shops",
                            s,
                            "groups",
                            g,
                            "machines" if "machines" in group else "cells",
                            m,
                        ]
                        raise _At(
                            where,
                            f"machine cell ({x}, {y}) lies outside the {self.size[0]} x {self.size[1]} floor",
                        )
                    self.blocked[y, x] = True

    def rect(self, value: Any, path: list[str | int]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = (int(v) for v in value)
        width, height = self.size
        if not (0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height):
            raise _At(
                path, f"rectangle ({x0}, {y0})-({x1}, {y1}) does not lie within the {width} x {height} floor"
            )
        return x0, y0, x1, y1

    def layout(self, node: Mapping[str, Any]) -> np.ndarray:
        """Rasterise a layout: an open floor of `width` x `height` cells with walls round it, blocked
        rectangles (racks, shop walls, no-go zones) and open ones cut back into them (doors, aisles)."""
        width, height = int(node["width"]), int(node["height"])
        self.size = (width, height)
        blocked = np.zeros((height, width), dtype=bool)
        if node.get("walls", True):
            blocked[0, :] = blocked[-1, :] = True
            blocked[:, 0] = blocked[:, -1] = True
        for key, value in (("blocked", True), ("open", False)):
            for k, item in enumerate(node.get(key, [])):
                x0, y0, x1, y1 = self.rect(item["rect"], ["floor", "layout", key, k, "rect"])
                blocked[y0 : y1 + 1, x0 : x1 + 1] = value
        return blocked

    def floor(self) -> FloorGrid:
        node = self.data["floor"]
        chargers = [
            self.cell(c["cell"], ["floor", "chargers", k, "cell"]) for k, c in enumerate(node["chargers"])
        ]
        zones = {name: self.rect(r, ["floor", "zones", name]) for name, r in node.get("zones", {}).items()}
        return FloorGrid(
            width=self.size[0],
            height=self.size[1],
            blocked=self.blocked,
            exits=self.exits,
            cell_m=float(node["cell_m"]),
            warehouse_cells=self.cells(node.get("warehouse", []), ["floor", "warehouse"]),
            chargers=tuple(chargers),
            parking=self.cells(node["parking"], ["floor", "parking"]),
            zones=zones,
            charger_kw=tuple(float(c.get("power_kw", 0.0)) for c in node["chargers"]),
            docks=self.cells(node.get("docks", []), ["floor", "docks"]),
        )

    def cells(self, values: list[Any], path: list[str | int]) -> tuple[Cell, ...]:
        return tuple(self.cell(v, [*path, k]) for k, v in enumerate(values))

    # -- shops -----------------------------------------------------------------------------------
    @staticmethod
    def machine_cells(group: Mapping[str, Any]) -> list[Any]:
        if "machines" in group:
            return [m["cell"] for m in group["machines"]]
        return list(group["cells"])

    def shop(self, node: Mapping[str, Any], path: list[str | int]) -> Shop:
        groups = tuple(self.group(g, node["id"], [*path, "groups", k]) for k, g in enumerate(node["groups"]))
        inbound = node.get("inbound")
        return Shop(
            id=node["id"],
            name=node.get("name", node["id"]),
            groups=groups,
            outbound_cell=self.cell(node["outbound"], [*path, "outbound"]),
            inbound_cell=None if inbound is None else self.cell(inbound, [*path, "inbound"]),
        )

    def group(self, node: Mapping[str, Any], shop: str, path: list[str | int]) -> MachineGroup:
        gid = node["id"]
        if "machines" in node:
            machines = tuple(
                Machine(id=m["id"], group=gid, cell=(int(m["cell"][0]), int(m["cell"][1])))
                for m in node["machines"]
            )
        else:
            machines = tuple(
                Machine(id=f"{gid}-{k + 1:03d}", group=gid, cell=(int(c[0]), int(c[1])))
                for k, c in enumerate(node["cells"])
            )
        if "count" in node and int(node["count"]) != len(machines):
            raise _At([*path, "count"], f"count {node['count']} but {len(machines)} machine cells are given")
        reliability = node.get("reliability", {})
        setup = node.get("setup", {})
        try:
            return MachineGroup(
                id=gid,
                shop=shop,
                operation=node.get("operation", gid),
                machines=machines,
                calendar=self.calendar(node["calendar"], [*path, "calendar"]),
                setup_s=int(setup.get("s", 0)),
                mtbf_s=round(float(reliability.get("mtbf_h", 0)) * 3600),
                mttr_s=round(float(reliability.get("mttr_h", 0)) * 3600),
                power_kw=float(node.get("power_kw", 0.0)),
                setup_family=setup.get("family"),
                buffer=int(node.get("buffer", 0)),
            )
        except MixflowError as exc:
            raise _At(path, _said(exc)) from exc

    # -- lines -----------------------------------------------------------------------------------
    def line(self, node: Mapping[str, Any], path: list[str | int]) -> AssemblyLine:
        stations = tuple(
            Station(
                id=s["id"],
                index=k,
                positions=tuple(int(p) for p in s["positions"]),
                drop_cell=self.cell(s["drop"], [*path, "stations", k, "drop"]),
            )
            for k, s in enumerate(node["stations"])
        )
        covered: dict[int, int] = {}
        for k, station in enumerate(node["stations"]):
            for pos in station["positions"]:
                if pos in covered:
                    raise _At(
                        [*path, "stations", k, "positions"],
                        f"position {pos} is also in station {covered[pos] + 1}",
                    )
                covered[pos] = k
        for part, pos in node.get("parts", {}).items():
            if pos not in covered:
                raise _At(
                    [*path, "parts", part],
                    f"part {part} is fitted at position {pos}, which no station covers",
                )
        if "default_position" in node and node["default_position"] not in covered:
            raise _At(
                [*path, "default_position"], f"default position {node['default_position']} is in no station"
            )
        test = node.get("test")
        try:
            return AssemblyLine(
                id=node["id"],
                stations=stations,
                takt_s=int(node["takt_s"]),
                calendar=self.calendar(node["calendar"], [*path, "calendar"]),
                buffer_size=int(node.get("buffer", 2)),
                base_work_s=int(node.get("base_work_s", 0)),
                name=node.get("name", node["id"]),
                part_positions={str(k): int(v) for k, v in node.get("parts", {}).items()},
                default_position=node.get("default_position"),
                test=None
                if test is None
                else LineTest(test["group"], int(test["work_s"]), int(test.get("handover_s", 4 * 3600))),
                builds=condition(node["builds"]) if "builds" in node else TRUE,
                batch_by=node.get("batch_by"),
            )
        except MixflowError as exc:
            raise _At(path, _said(exc)) from exc

    # -- fleet -----------------------------------------------------------------------------------
    def fleet(self, floor: FloorGrid) -> Fleet:
        node = self.data["fleet"]
        types: list[AgvSpec] = []
        type_of: list[int] = []
        for k, t in enumerate(node["types"]):
            try:
                types.append(
                    AgvSpec(
                        id=t["id"],
                        speed_m_s=float(t["speed_m_s"]),
                        payload_kg=float(t["payload_kg"]),
                        battery_kwh=float(t["battery_kwh"]),
                        charge_kw=float(t["charge_kw"]),
                        drain_kwh_per_m=float(t["drain_kwh_per_m"]),
                        loaded_drain_factor=float(t.get("loaded_drain_factor", 1.5)),
                        low_soc=float(t.get("low_soc", 0.25)),
                    )
                )
            except MixflowError as exc:
                raise _At(["fleet", "types", k], _said(exc)) from exc
            type_of += [k] * int(t["count"])
        if len(type_of) > len(floor.parking):
            raise _At(["floor", "parking"], f"{len(floor.parking)} parking cells for {len(type_of)} AGVs")
        ids = tuple(node.get("ids", [f"AGV-{k + 1:03d}" for k in range(len(type_of))]))
        if len(ids) != len(type_of):
            raise _At(["fleet", "ids"], f"{len(ids)} ids for {len(type_of)} AGVs")
        try:
            return Fleet(types[0], ids, floor.parking[: len(type_of)], tuple(types), tuple(type_of))
        except MixflowError as exc:
            raise _At(["fleet"], _said(exc)) from exc

    # -- materials and the charging bay ----------------------------------------------------------
    def materials(self, floor: FloorGrid) -> Materials:
        """Raw materials, suppliers and stock policies; each item sold by one supplier, to a floor dock."""
        node = self.data.get("materials", {})
        first: dict[str, list[str | int]] = {}

        def once(kind: str, ident: str, path: list[str | int]) -> None:
            key = f"{kind}:{ident}"
            if key in first:
                raise _At(path, f"{kind} {ident!r} is defined twice (first at {json_path(first[key])})")
            first[key] = path

        raw: list[RawMaterial] = []
        for k, item in enumerate(node.get("raw", [])):
            path: list[str | int] = ["materials", "raw", k]
            once("raw material", item["id"], [*path, "id"])
            try:
                raw.append(
                    RawMaterial(
                        id=item["id"],
                        name=item.get("name", item["id"]),
                        unit_cost=float(item.get("unit_cost", 0.0)),
                        kg=float(item.get("kg", 1.0)),
                    )
                )
            except MixflowError as exc:
                raise _At(path, _said(exc)) from exc
        suppliers: list[Supplier] = []
        seller: dict[str, tuple[str, list[str | int]]] = {}
        for k, item in enumerate(node.get("suppliers", [])):
            path = ["materials", "suppliers", k]
            once("supplier", item["id"], [*path, "id"])
            for i, sold in enumerate(item["items"]):
                if sold in seller:
                    other, where = seller[sold]
                    raise _At(
                        [*path, "items", i],
                        f"item {sold!r} is also sold by supplier {other} (at {json_path(where)}): name one",
                    )
                seller[sold] = (item["id"], [*path, "items", i])
            suppliers.append(self.supplier(item, path, floor))
        stock: list[StockPolicy] = []
        for k, item in enumerate(node.get("stock", [])):
            path = ["materials", "stock", k]
            once("stock of item", item["item"], [*path, "item"])
            try:
                stock.append(
                    StockPolicy(
                        item=item["item"],
                        on_hand=int(item.get("on_hand", 0)),
                        reorder_point=int(item.get("reorder_point", 0)),
                        max_stock=int(item.get("max_stock", 0)),
                    )
                )
            except MixflowError as exc:
                raise _At(path, _said(exc)) from exc
        try:
            return Materials(tuple(raw), tuple(suppliers), tuple(stock))
        except MixflowError as exc:
            raise _At(["materials"], str(exc)) from exc

    def supplier(self, node: Mapping[str, Any], path: list[str | int], floor: FloorGrid) -> Supplier:
        dock: Cell | None = None
        if "dock" in node:
            dock = self.cell(node["dock"], [*path, "dock"])
            if dock not in floor.docks:
                docks = ", ".join(f"({x}, {y})" for x, y in floor.docks) or "none"
                raise _At(
                    [*path, "dock"], f"({dock[0]}, {dock[1]}) is not a dock of the floor (docks: {docks})"
                )
        elif not floor.docks:
            raise _At(path, "delivers to the floor's first dock, but the floor has no docks (floor.docks)")
        reliability = node.get("reliability", {})
        try:
            return Supplier(
                id=node["id"],
                name=node.get("name", node["id"]),
                items=tuple(node["items"]),
                lead_time_s=_span_s(node["lead_time"], [*path, "lead_time"]),
                capacity_per_day=int(node["capacity_per_day"]),
                lot_size=int(node.get("lot_size", 1)),
                calendar=self.calendar(node["calendar"], [*path, "calendar"]) if "calendar" in node else None,
                dock=dock,
                p_late=float(reliability.get("p_late", 0.0)),
                mean_late_s=_span_s(reliability.get("mean_late", 0), [*path, "reliability", "mean_late"]),
            )
        except MixflowError as exc:
            raise _At(path, _said(exc)) from exc

    def check_step_materials(self, raw: set[str]) -> None:
        """Every raw material a routing step uses is one the file defines."""
        for k, routing in enumerate(self.data.get("routings", [])):
            for j, step in enumerate(routing["steps"]):
                for item in step.get("materials", {}):
                    if item not in raw:
                        known = ", ".join(sorted(raw)) or "none"
                        raise _At(
                            ["routings", k, "steps", j, "materials", item],
                            f"uses {item!r}, which is no raw material of the file (known: {known})",
                        )

    def charging_bay(self) -> ChargingBay | None:
        node = self.data.get("charging_bay")
        if node is None:
            return None
        given: dict[str, Any] = {"chargers": int(node["chargers"]), "power_kw": float(node["power_kw"])}
        if "curve" in node:
            given["curve"] = tuple((float(soc), float(share)) for soc, share in node["curve"])
        for key in ("start_soc", "target_soc"):
            if key in node:
                given[key] = float(node[key])
        if "battery_attribute" in node:
            given["battery_attribute"] = str(node["battery_attribute"])
        try:
            return ChargingBay(**given)
        except MixflowError as exc:
            raise _At(["charging_bay"], _said(exc)) from exc

    def check_ids(
        self, shops: tuple[Shop, ...], lines: tuple[AssemblyLine, ...], routings: tuple[Routing, ...]
    ) -> None:
        """Duplicate ids and unknown names, each at the place it is written."""
        seen: dict[str, list[str | int]] = {}

        def once(kind: str, ident: str, path: list[str | int]) -> None:
            key = f"{kind}:{ident}"
            if key in seen:
                raise _At(path, f"{kind} id {ident!r} is used twice (first at {json_path(seen[key])})")
            seen[key] = path

        groups: dict[str, MachineGroup] = {}
        for s, shop in enumerate(shops):
            once("shop", shop.id, ["shops", s, "id"])
            for g, group in enumerate(shop.groups):
                once("machine group", group.id, ["shops", s, "groups", g, "id"])
                groups[group.id] = group
                for m, machine in enumerate(group.machines):
                    once("machine", machine.id, ["shops", s, "groups", g, "machines", m])
        for k, line in enumerate(lines):
            once("line", line.id, ["lines", k, "id"])
            for j, station in enumerate(line.stations):
                once("station", f"{line.id}/{station.id}", ["lines", k, "stations", j, "id"])
            if line.test is not None and line.test.group not in groups:
                raise _At(["lines", k, "test", "group"], f"unknown machine group {line.test.group!r}")
        shop_ids = {s.id for s in shops}
        made = {r.part for r in routings}
        for k, routing in enumerate(routings):
            once("routing of part", routing.part, ["routings", k, "part"])
            if routing.shop not in shop_ids:
                raise _At(
                    ["routings", k, "shop"],
                    f"unknown shop {routing.shop!r} (known: {', '.join(sorted(shop_ids))})",
                )
            if routing.after is not None and routing.after not in made:
                raise _At(["routings", k, "after"], f"follows {routing.after!r}, which no routing makes")
            path: list[str | int] = ["routings", k, "steps"]
            for j, step in enumerate(self.data["routings"][k]["steps"]):
                for group in step["groups"]:
                    if group not in groups:
                        raise _At(
                            [*path, j, "groups"],
                            f"unknown machine group {group!r} in the routing of {routing.part}",
                        )


# -- checks ------------------------------------------------------------------------------------


def unreachable(plant: Plant) -> list[tuple[str, list[str | int], Cell]]:
    """Cells the AGVs must visit that they cannot reach from their homes and come back from, with
    the path of each in the plant file (one-way lanes count: reachable means both ways)."""
    floor = plant.floor
    if not floor.parking:
        return []
    there = _flood(floor, floor.parking[0], forward=True)
    back = _flood(floor, floor.parking[0], forward=False)
    both = there & back
    needed: list[tuple[str, list[str | int], Cell]] = []
    for k, line in enumerate(plant.lines):
        needed += [
            ("station drop cell", ["lines", k, "stations", j, "drop"], s.drop_cell)
            for j, s in enumerate(line.stations)
        ]
    for k, shop in enumerate(plant.shops):
        needed.append(("shop outbound cell", ["shops", k, "outbound"], shop.outbound_cell))
        if shop.inbound_cell is not None:
            needed.append(("shop inbound cell", ["shops", k, "inbound"], shop.inbound_cell))
    needed += [("charger", ["floor", "chargers", k, "cell"], c) for k, c in enumerate(floor.chargers)]
    needed += [("dock", ["floor", "docks", k], c) for k, c in enumerate(floor.docks)]
    needed += [("warehouse cell", ["floor", "warehouse", k], c) for k, c in enumerate(floor.warehouse_cells)]
    needed += [("AGV home", ["floor", "parking", k], c) for k, c in enumerate(plant.fleet.homes)]
    return [(kind, path, cell) for kind, path, cell in needed if not both[cell[1], cell[0]]]


def _flood(floor: FloorGrid, start: Cell, forward: bool) -> np.ndarray:
    """Cells reachable from `start` (forward) or that reach it (backward), honouring exits."""
    height, width = floor.height, floor.width
    seen = np.zeros((height, width), dtype=bool)
    free = ~floor.blocked
    seen[start[1], start[0]] = True
    frontier = seen.copy()
    exits = floor.exits
    steps = ((NORTH, 0, -1), (EAST, 1, 0), (SOUTH, 0, 1), (WEST, -1, 0))
    while frontier.any():
        grown = np.zeros_like(seen)
        for bit, dx, dy in steps:
            if forward:
                movers = frontier & ((exits & bit) != 0)
                grown |= _shift(movers, dx, dy)
            else:
                # a cell reaches the frontier if it lies next to it and may leave towards it
                arrivals = _shift(frontier, -dx, -dy)
                grown |= arrivals & ((exits & bit) != 0)
        frontier = grown & free & ~seen
        seen |= frontier
    return seen


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def check_fit(plant: Plant, catalogue: Catalogue) -> list[InputFileError]:
    """Why `plant` cannot build `catalogue`'s products, each an error reading `file:line: $.path:
    message`; empty when it can. Raises nothing: the caller decides (a run refuses the first)."""
    problems: list[InputFileError] = []

    def at(path: list[str | int], message: str) -> None:
        source, line = place_of(plant, path)
        problems.append(InputFileError(source, f"{json_path(path)}: {message}", line))

    known = {v.name: set(v.codes) for v in catalogue.variables}

    def names(formula: Formula, path: list[str | int]) -> None:
        for lit in literals(formula):
            if lit.var not in known:
                at(path, f"names variable {lit.var!r}, which catalogue {catalogue.name!r} does not have")
            elif lit.values - known[lit.var]:
                at(
                    path,
                    f"names value(s) {sorted(lit.values - known[lit.var])} of {lit.var} the catalogue lacks",
                )

    for k, line in enumerate(plant.lines):
        names(line.builds, ["lines", k, "builds"])
        if line.batch_by is not None and line.batch_by not in known:
            at(
                ["lines", k, "batch_by"],
                f"batches by {line.batch_by!r}, which is no variable of the catalogue",
            )
    for k, routing in enumerate(plant.routings):
        for j, step in enumerate(routing.steps):
            names(step.when, ["routings", k, "steps", j])
            for when, _ in step.duration.terms:
                names(when, ["routings", k, "steps", j, "work_s"])
    for s, shop in enumerate(plant.shops):
        for g, group in enumerate(shop.groups):
            if group.setup_family is not None and group.setup_family not in known:
                at(
                    ["shops", s, "groups", g, "setup", "family"],
                    f"setup family {group.setup_family!r} is no variable of the catalogue",
                )
    used = {b.part for b in catalogue.bom}
    for part in sorted(used):
        if plant.makes(part):
            continue
        if plant.materials.modelled and plant.materials.supplier_of(part) is None:
            at(["materials", "suppliers"], f"part {part}: no supplier sells it and no shop makes it")
        elif not plant.materials.modelled and catalogue.part(part).lead_time_s <= 0:
            at(
                ["routings"],
                f"part {part!r}: no routing makes it and it has no lead time (no one sells it)",
            )
        for k, line in enumerate(plant.lines):
            if line.position_of(part) is None:
                at(
                    ["lines", k, "parts"],
                    f"part {part!r} of the catalogue is fitted at no position of line {line.id}",
                )
    parts = {p.id for p in catalogue.parts}
    for k, routing in enumerate(plant.routings):
        if routing.part not in parts:
            at(
                ["routings", k, "part"],
                f"makes {routing.part!r}, which catalogue {catalogue.name!r} does not know",
            )
    for path, message in _supply_misfits(plant, catalogue):
        at(path, message)
    for k, line in enumerate(plant.lines):
        positions = set(line.positions)
        for work in catalogue.station_work:
            if work.position not in positions:
                at(
                    ["lines", k, "stations"],
                    f"catalogue work at position {work.position}: no station of line {line.id} covers it",
                )
                break
    return problems


def _supply_misfits(plant: Plant, catalogue: Catalogue) -> list[tuple[list[str | int], str]]:
    """What of the plant's materials does not fit the catalogue: raw material the routings use that is
    not defined or (suppliers named) not sold, items sold or stocked that are neither raw material nor a
    catalogue part, a charging bay reading a battery attribute no value has."""
    materials = plant.materials
    raw = {r.id for r in materials.raw}
    parts = {p.id for p in catalogue.parts}
    neither = f"which is neither a raw material of the plant nor a part of catalogue {catalogue.name!r}"
    found: list[tuple[list[str | int], str]] = []
    used: set[str] = set()
    for k, routing in enumerate(plant.routings):
        for step in routing.steps:
            for item, _ in step.materials:
                if item not in raw and item not in used:
                    found.append((["routings", k], f"step {step.operation} uses {item!r}, no raw material"))
                used.add(item)
    if materials.modelled:
        for k, raw_item in enumerate(materials.raw):
            if raw_item.id in used and materials.supplier_of(raw_item.id) is None:
                message = f"raw material {raw_item.id}: the routings use it, but no supplier sells it"
                found.append((["materials", "raw", k], message))
        for k, supplier in enumerate(materials.suppliers):
            for i, sold in enumerate(supplier.items):
                if sold not in raw and sold not in parts:
                    found.append((["materials", "suppliers", k, "items", i], f"sells {sold!r}, {neither}"))
    for k, policy in enumerate(materials.stock):
        if policy.item not in raw and policy.item not in parts:
            found.append((["materials", "stock", k, "item"], f"keeps stock of {policy.item!r}, {neither}"))
    bay = plant.charging
    attributes = {a for v in catalogue.variables for value in v.values for a in value.attributes}
    if bay is not None and bay.battery_attribute not in attributes:
        message = f"{bay.battery_attribute!r} is no attribute of any value of catalogue {catalogue.name!r}"
        found.append((["charging_bay", "battery_attribute"], message))
    return found


# -- writing -----------------------------------------------------------------------------------


def _hhmm(seconds: int) -> str | int:
    return (
        f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
        if seconds % 60 == 0 and seconds < DAY_S
        else seconds
    )


def _calendar_data(calendar: Calendar) -> dict[str, Any]:
    data: dict[str, Any] = {"shifts": [[_hhmm(a), _hhmm(b)] for a, b in calendar.shifts]}
    if calendar.days_off:
        data["days_off"] = sorted(calendar.days_off)
    return data


def _duration_data(duration: Duration) -> Any:
    if not duration.terms and not duration.per_attribute:
        return duration.base_s
    data: dict[str, Any] = {"base": duration.base_s}
    if duration.terms:
        data["add"] = [{"when": condition_data(w), "s": s} for w, s in duration.terms]
    if duration.per_attribute:
        data["per"] = dict(duration.per_attribute)
    return data


def _step_data(step: RoutingStep) -> dict[str, Any]:
    data: dict[str, Any] = {
        "operation": step.operation,
        "groups": list(step.groups),
        "work_s": _duration_data(step.duration),
    }
    if step.when != TRUE:
        data["when"] = condition_data(step.when)
    if step.materials:
        data["materials"] = dict(step.materials)
    if step.on_agv:
        data["on_agv"] = True
    return data


def _span_data(seconds: int) -> str | int:
    """A span in the largest unit it is a whole number of (48h), else in seconds."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return seconds


def routing_data(routing: Routing) -> dict[str, Any]:
    """One routing as file data, runs of equal steps written once with `repeat`."""
    steps: list[dict[str, Any]] = []
    for step in routing.steps:
        item = _step_data(step)
        if steps and {k: v for k, v in steps[-1].items() if k != "repeat"} == item:
            steps[-1]["repeat"] = steps[-1].get("repeat", 1) + 1
        else:
            steps.append(item)
    data: dict[str, Any] = {"part": routing.part, "shop": routing.shop}
    if routing.after is not None:
        data["after"] = routing.after
    if routing.transfer_batch != 1:
        data["transfer_batch"] = routing.transfer_batch
    data["steps"] = steps
    return data


def plant_data(plant: Plant) -> dict[str, Any]:
    """The plant as plant-file data (plain types, ready for YAML or JSON)."""
    calendars: dict[Calendar, str] = {}

    def calendar_name(calendar: Calendar) -> str:
        if calendar not in calendars:
            calendars[calendar] = f"calendar{len(calendars) + 1}"
        return calendars[calendar]

    def cell(c: Cell) -> list[int]:
        return [int(c[0]), int(c[1])]

    shops = []
    for shop in plant.shops:
        groups = []
        for group in shop.groups:
            item: dict[str, Any] = {"id": group.id}
            if group.operation != group.id:
                item["operation"] = group.operation
            item["calendar"] = calendar_name(group.calendar)
            item["power_kw"] = group.power_kw
            if group.setup_s or group.setup_family:
                item["setup"] = {"s": group.setup_s} | (
                    {"family": group.setup_family} if group.setup_family else {}
                )
            if group.mtbf_s or group.mttr_s:
                item["reliability"] = {"mtbf_h": group.mtbf_s / 3600, "mttr_h": group.mttr_s / 3600}
            if group.buffer:
                item["buffer"] = group.buffer
            generated = all(m.id == f"{group.id}-{k + 1:03d}" for k, m in enumerate(group.machines))
            if generated:
                item["cells"] = [cell(m.cell) for m in group.machines]
            else:
                item["machines"] = [{"id": m.id, "cell": cell(m.cell)} for m in group.machines]
            groups.append(item)
        entry: dict[str, Any] = {"id": shop.id, "name": shop.name, "outbound": cell(shop.outbound_cell)}
        if shop.inbound_cell is not None:
            entry["inbound"] = cell(shop.inbound_cell)
        entry["groups"] = groups
        shops.append(entry)
    lines = []
    for line in plant.lines:
        item = {
            "id": line.id,
            "name": line.name or line.id,
            "calendar": calendar_name(line.calendar),
            "takt_s": line.takt_s,
            "buffer": line.buffer_size,
            "base_work_s": line.base_work_s,
        }
        if line.builds != TRUE:
            item["builds"] = condition_data(line.builds)
        if line.batch_by is not None:
            item["batch_by"] = line.batch_by
        item["stations"] = [
            {"id": s.id, "positions": list(s.positions), "drop": cell(s.drop_cell)} for s in line.stations
        ]
        item["parts"] = dict(line.part_positions)
        if line.default_position is not None:
            item["default_position"] = line.default_position
        if line.test is not None:
            item["test"] = {
                "group": line.test.group,
                "work_s": line.test.work_s,
                "handover_s": line.test.handover_s,
            }
        lines.append(item)
    floor = plant.floor
    one_way = _one_way_data(floor.exits)
    floor_data: dict[str, Any] = {
        "cell_m": floor.cell_m,
        "map": movingai_text(_floor_without_machines(plant)),
    }
    if one_way:
        floor_data["one_way"] = one_way
    floor_data |= {
        "warehouse": [cell(c) for c in floor.warehouse_cells],
        "docks": [cell(c) for c in floor.docks],
        "chargers": [
            {"cell": cell(c)} | ({"power_kw": floor.charger_kw[k]} if floor.charger_kw[k] else {})
            for k, c in enumerate(floor.chargers)
        ],
        "parking": [cell(c) for c in floor.parking],
        "zones": {name: list(r) for name, r in floor.zones.items()},
    }
    fleet = plant.fleet
    counts = [fleet.type_of.count(k) for k in range(len(fleet.types))]
    if list(fleet.type_of) != [k for k, n in enumerate(counts) for _ in range(n)]:
        raise MixflowError("the plant file lists AGVs by type: this fleet interleaves its types")
    fleet_data: dict[str, Any] = {
        "types": [
            {
                "id": t.id,
                "count": counts[k],
                "speed_m_s": t.speed_m_s,
                "payload_kg": t.payload_kg,
                "battery_kwh": t.battery_kwh,
                "charge_kw": t.charge_kw,
                "drain_kwh_per_m": t.drain_kwh_per_m,
                "loaded_drain_factor": t.loaded_drain_factor,
                "low_soc": t.low_soc,
            }
            for k, t in enumerate(fleet.types)
        ]
    }
    if fleet.agv_ids != tuple(f"AGV-{k + 1:03d}" for k in range(len(fleet.agv_ids))):
        fleet_data["ids"] = list(fleet.agv_ids)
    if fleet.homes != floor.parking[: len(fleet.homes)]:
        raise MixflowError("the plant file parks AGVs on the first parking cells: this fleet's homes differ")
    data: dict[str, Any] = {"format": FORMAT, "name": plant.name}
    if not math.isclose(plant.scale, 1.0):
        data["scale"] = plant.scale
    data["calendars"] = {}
    data["shops"] = shops
    data["routings"] = [routing_data(r) for r in plant.routings]
    data["lines"] = lines
    data["floor"] = floor_data
    data["fleet"] = fleet_data
    materials = plant.materials
    if materials.raw or materials.suppliers or materials.stock:
        data["materials"] = _materials_data(materials, calendar_name)
    if plant.charging is not None:
        bay = plant.charging
        data["charging_bay"] = {
            "chargers": bay.chargers,
            "power_kw": bay.power_kw,
            "curve": [[soc, share] for soc, share in bay.curve],
            "start_soc": bay.start_soc,
            "target_soc": bay.target_soc,
            "battery_attribute": bay.battery_attribute,
        }
    data["calendars"] = {name: _calendar_data(c) for c, name in calendars.items()}
    return data


def _materials_data(materials: Materials, calendar_name: Callable[[Calendar], str]) -> dict[str, Any]:
    suppliers = []
    for supplier in materials.suppliers:
        item: dict[str, Any] = {
            "id": supplier.id,
            "name": supplier.name,
            "items": list(supplier.items),
            "lead_time": _span_data(supplier.lead_time_s),
            "capacity_per_day": supplier.capacity_per_day,
            "lot_size": supplier.lot_size,
        }
        if supplier.calendar is not None:
            item["calendar"] = calendar_name(supplier.calendar)
        if supplier.dock is not None:
            item["dock"] = [int(supplier.dock[0]), int(supplier.dock[1])]
        if supplier.p_late or supplier.mean_late_s:
            item["reliability"] = {"p_late": supplier.p_late, "mean_late": _span_data(supplier.mean_late_s)}
        suppliers.append(item)
    return {
        "raw": [{"id": r.id, "name": r.name, "unit_cost": r.unit_cost, "kg": r.kg} for r in materials.raw],
        "suppliers": suppliers,
        "stock": [
            {"item": p.item, "on_hand": p.on_hand, "reorder_point": p.reorder_point, "max_stock": p.max_stock}
            for p in materials.stock
        ],
    }


def _floor_without_machines(plant: Plant) -> np.ndarray:
    """The floor map as drawn: machines are listed with their groups and blocked by the reader."""
    blocked = plant.floor.blocked.copy()
    for machine in plant.machines:
        blocked[machine.cell[1], machine.cell[0]] = False
    return blocked


def _one_way_data(exits: np.ndarray) -> list[dict[str, Any]]:
    """One-way lanes as single-cell rectangles, merged along rows (what the reader's `one_way`
    takes back to the same exits)."""
    lanes: list[dict[str, Any]] = []
    names = {
        ALL_EXITS & ~SOUTH: "north",
        ALL_EXITS & ~WEST: "east",
        ALL_EXITS & ~NORTH: "south",
        ALL_EXITS & ~EAST: "west",
    }
    ys, xs = np.nonzero(exits != ALL_EXITS)
    for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
        value = int(exits[y, x])
        if value not in names:
            raise MixflowError(f"floor cell ({x}, {y}) has exits {value}, which no one-way lane gives")
        direction = names[value]
        last = lanes[-1] if lanes else None
        if last and last["direction"] == direction and last["rect"][1] == y and last["rect"][2] == x - 1:
            last["rect"][2] = x
        else:
            lanes.append({"rect": [x, y, x, y], "direction": direction})
    return lanes


def write_plant(plant: Plant, path: str | Path) -> None:
    """Write `plant` as a plant file (JSON when the name ends in .json, YAML otherwise)."""
    import yaml

    data = plant_data(plant)
    path = Path(path)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        return

    class _Dumper(yaml.SafeDumper):
        pass

    def _block_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
        style = "|" if "\n" in text else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    def _flow_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
        flat = all(not isinstance(i, dict | list) for i in items)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)

    _Dumper.add_representer(str, _block_text)
    _Dumper.add_representer(list, _flow_list)
    header = f"# A mixflow plant ({FORMAT}); see docs/plant-format.md\n"
    path.write_text(header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120), encoding="utf-8")
