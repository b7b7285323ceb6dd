"""Readers for public MAPF instances: MovingAI `.map`/`.scen` and the League of Robot Runners 2023 sample.

Every reader raises InputFileError naming the file and line of the first thing that is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixflow.errors import InputFileError, ValidationError
from mixflow.fleet.grid import Grid
from mixflow.model.floor_map import MOVINGAI_FREE, parse_movingai

LORR_FREE = ".GES"  # Robot Runners maps mark emitters (E) and service points (S) on free floor


@dataclass(frozen=True)
class Scenario:
    """Start and goal cells from a `.scen` file, one pair per line, in file order."""

    starts: np.ndarray
    goals: np.ndarray
    optimal_lengths: np.ndarray
    path: str = ""

    def __post_init__(self) -> None:
        if not (len(self.starts) == len(self.goals) == len(self.optimal_lengths)):
            raise ValidationError("Scenario", "starts, goals and optimal_lengths must have the same length")

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class RobotRunnersInstance:
    """A League of Robot Runners lifelong instance: map, robot starts and the errand list."""

    grid: Grid
    starts: np.ndarray
    errands: np.ndarray
    team_size: int

    def __post_init__(self) -> None:
        if self.team_size != len(self.starts):
            raise ValidationError("RobotRunnersInstance.team_size", "must equal the number of starts")

    def goal_stream(self, agent: int, k: int) -> int:
        """The k-th errand cell of an agent under the round-robin rule: errand (agent + k * team) mod L."""
        return int(self.errands[(agent + k * self.team_size) % len(self.errands)])


def read_map(path: str | Path, free_chars: str = MOVINGAI_FREE) -> Grid:
    """Read a MovingAI-style `.map` (header `type`, `height`, `width`, `map`, then the rows)."""
    path = Path(path)
    blocked = parse_movingai(_read_lines(path), str(path), free_chars)
    return Grid(blocked=blocked, name=path.stem)


def read_scen(path: str | Path, grid: Grid | None = None) -> Scenario:
    """Read a MovingAI `.scen` file (`version 1` then `bucket map W H sx sy gx gy length` per line).

    With a grid, every start and goal is checked to be a free cell of that grid.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines or not lines[0].startswith("version"):
        raise InputFileError(str(path), "first line must be 'version 1'", line=1)
    starts: list[int] = []
    goals: list[int] = []
    lengths: list[float] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != 9:
            raise InputFileError(str(path), f"expected 9 fields, found {len(fields)}", line=number)
        try:
            w, h, sx, sy, gx, gy = (int(f) for f in fields[2:8])
            length = float(fields[8])
        except ValueError as bad:
            raise InputFileError(str(path), f"non-numeric field ({bad})", line=number) from None
        if grid is not None:
            if (w, h) != (grid.width, grid.height):
                raise InputFileError(
                    str(path),
                    f"scenario is for a {w}x{h} map, the map is {grid.width}x{grid.height}",
                    line=number,
                )
            for what, x, y in (("start", sx, sy), ("goal", gx, gy)):
                if not (0 <= x < w and 0 <= y < h) or grid.blocked[y, x]:
                    raise InputFileError(
                        str(path),
                        f"agent {len(starts)} {what} ({x}, {y}) is not a free cell of the map",
                        line=number,
                    )
        starts.append(sy * w + sx)
        goals.append(gy * w + gx)
        lengths.append(length)
    if not starts:
        raise InputFileError(str(path), "no scenario lines")
    return Scenario(
        starts=np.array(starts, dtype=np.int32),
        goals=np.array(goals, dtype=np.int32),
        optimal_lengths=np.array(lengths),
        path=str(path),
    )


def read_robot_runners(config: str | Path) -> RobotRunnersInstance:
    """Read a League of Robot Runners 2023 problem JSON with its map, agents and tasks files."""
    config = Path(config)
    try:
        spec = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError) as bad:
        raise InputFileError(str(config), f"cannot read problem JSON: {bad}") from None
    for key in ("mapFile", "agentFile", "taskFile", "teamSize"):
        if key not in spec:
            raise InputFileError(str(config), f"missing key {key!r}")
    strategy = spec.get("taskAssignmentStrategy", "roundrobin")
    if strategy != "roundrobin":
        raise InputFileError(
            str(config), f"only the 'roundrobin' task assignment is supported, got {strategy!r}"
        )
    grid = read_map(config.parent / spec["mapFile"], free_chars=LORR_FREE)
    starts = _read_cell_list(config.parent / spec["agentFile"], grid, "agent start")
    errands = _read_cell_list(config.parent / spec["taskFile"], grid, "task")
    team = int(spec["teamSize"])
    if team != len(starts):
        raise InputFileError(str(config), f"teamSize {team} but the agent file lists {len(starts)} starts")
    return RobotRunnersInstance(grid=grid, starts=starts, errands=errands, team_size=team)


def _read_cell_list(path: Path, grid: Grid, what: str) -> np.ndarray:
    """A Robot Runners list file: first line the count, then one cell index (row * width + col) a line."""
    lines = [line for line in _read_lines(path) if line.strip()]
    if not lines:
        raise InputFileError(str(path), "empty file", line=1)
    count = _positive_int(lines[0].strip(), path, "count")
    if len(lines) - 1 != count:
        raise InputFileError(
            str(path), f"first line says {count} entries but {len(lines) - 1} follow", line=1
        )
    cells = np.empty(count, dtype=np.int32)
    for i, line in enumerate(lines[1:]):
        try:
            cell = int(line.strip())
        except ValueError:
            raise InputFileError(
                str(path), f"{what} {i} is not an integer: {line.strip()!r}", line=i + 2
            ) from None
        if not grid.is_free(cell):
            raise InputFileError(
                str(path), f"{what} {i} at cell {cell} is not a free cell of the map", line=i + 2
            )
        cells[i] = cell
    return cells


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as bad:
        raise InputFileError(str(path), f"cannot read file: {bad}") from None


def _positive_int(text: str, path: Path, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputFileError(str(path), f"{what} {text!r} is not an integer") from None
    if value <= 0:
        raise InputFileError(str(path), f"{what} must be positive, got {value}")
    return value
