"""The cloud file (YAML or JSON, `format: mixflow-cloud-v1`): the plants one cloud hosts.

Each plant is a tenant of the cloud: an `id` unique in the file, either a plant file (`plant`, relative
to the cloud file) or the reference plant at a `scale`, an optional `catalogue` file, a `seed` (of the
reference plant and of the plant's reference order stream), `transport_h`, the hours a finished
product takes from the plant to each customer region it serves, and, for a real plant, `mqtt`, the
broker its devices are on (without it the plant runs in the twin). The cloud's regions are the union of
those keys: a plant that does not name a region does not deliver there.

This module reads the file itself, checked in two passes, each failure one `file:line: $.json.path:
what` (the plant format's way, see `plant_file.py`): its shape against `cloud.schema.json` (unknown
keys, negative hours), then its meaning (an id used twice, neither or both of `plant` and `scale`).
Opening the plants it names (reading their files, checking plant and catalogue fit) needs the layers
above; they report a plant's failure at its entry's line with `CloudFile.place`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mixflow.errors import InputFileError, UnknownNameError
from mixflow.model.yaml_file import LineDict, check_schema, json_path, line_of, load_yaml, read_input

FORMAT = "mixflow-cloud-v1"


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the cloud file."""
    text = resources.files("mixflow.model").joinpath("cloud.schema.json").read_text()
    return dict(json.loads(text))


def tenant_name(plant_id: str) -> str:
    """The name a plant's store goes by (a PostgreSQL schema `plant_<name>`, a SQLite file suffix): its
    id in lower case, other characters than letters, digits and _ as _. Two ids with one name cannot
    share a cloud (`parse_cloud` refuses them)."""
    return re.sub(r"[^a-z0-9_]", "_", plant_id.lower())[:40]


@dataclass(frozen=True)
class CloudPlant:
    """One plant of the cloud as the file names it: a plant file, or the reference plant at `scale`
    (exactly one of `plant_file` and `scale` is set); `catalogue_file` None is the reference trucks."""

    id: str
    index: int
    plant_file: Path | None
    scale: float | None
    seed: int
    catalogue_file: Path | None
    transport_h: Mapping[str, float]
    mqtt_url: str | None = None


@dataclass(frozen=True)
class CloudFile:
    """The plants of a cloud file, in file order, and where each of its keys stands in the file."""

    source: str
    name: str
    plants: tuple[CloudPlant, ...]
    data: LineDict

    @property
    def regions(self) -> tuple[str, ...]:
        """Every customer region some plant delivers to, in order of first mention."""
        return tuple(dict.fromkeys(region for p in self.plants for region in p.transport_h))

    def entry(self, plant_id: str) -> CloudPlant:
        """The entry of plant `plant_id`."""
        for entry in self.plants:
            if entry.id == plant_id:
                return entry
        raise UnknownNameError("plant", plant_id, [p.id for p in self.plants])

    def place(self, entry: CloudPlant, key: str, message: str) -> InputFileError:
        """An error about `key` of a plant's entry, at its line: `file:line: $.plants[i].key: plant
        'id': message` (a plant file's own error, prefixed by which plant asked for it)."""
        path: list[str | int] = ["plants", entry.index, key]
        return InputFileError(
            self.source, f"{json_path(path)}: plant {entry.id!r}: {message}", line_of(self.data, path)
        )


def load_cloud(path: str | Path) -> CloudFile:
    """Read and check a cloud file; raises InputFileError naming the file, line and JSON path."""
    path = Path(path)
    text = read_input(path)
    return parse_cloud(text, str(path), base_dir=path.parent)


def parse_cloud(text: str, source: str = "<cloud>", base_dir: Path | None = None) -> CloudFile:
    """Build a cloud from file text; `base_dir` is what the plant and catalogue paths are relative to."""
    data = load_yaml(text, source, "cloud")
    check_schema(data, schema(), source)
    base = base_dir or Path(".")
    seen: dict[str, int] = {}
    plants = []
    for k, node in enumerate(data["plants"]):
        where: list[str | int] = ["plants", k]
        plant_id = str(node["id"])
        if plant_id in seen:
            first = line_of(data, ["plants", seen[plant_id], "id"])
            raise _error(
                data, source, [*where, "id"], f"plant id {plant_id!r} is used twice (first at line {first})"
            )
        seen[plant_id] = k
        store = tenant_name(plant_id)
        twin = next((other for other in seen if other != plant_id and tenant_name(other) == store), None)
        if twin is not None:
            raise _error(
                data, source, [*where, "id"],
                f"plant id {plant_id!r} would share plant {twin!r}'s store (both {store!r}): choose another",
            )
        if ("plant" in node) == ("scale" in node):
            said = "both" if "plant" in node else "neither"
            raise _error(
                data, source, where, f"plant {plant_id!r} names {said} of `plant` (a plant file) and `scale`"
            )
        plants.append(
            CloudPlant(
                id=plant_id,
                index=k,
                plant_file=base / node["plant"] if "plant" in node else None,
                scale=float(node["scale"]) if "scale" in node else None,
                seed=int(node.get("seed", 0)),
                catalogue_file=base / node["catalogue"] if "catalogue" in node else None,
                transport_h=MappingProxyType({str(r): float(h) for r, h in node["transport_h"].items()}),
                mqtt_url=str(node["mqtt"]) if "mqtt" in node else None,
            )
        )
    return CloudFile(source, str(data.get("name", Path(source).stem)), tuple(plants), data)


def _error(data: LineDict, source: str, path: list[str | int], message: str) -> InputFileError:
    return InputFileError(source, f"{json_path(path)}: {message}", line_of(data, path))
