"""Readers for the public car-sequencing instances: CSPLib prob001 files and ROADEF 2005 folders.

CSPLib prob001: line 1 `n_cars n_options n_classes`, line 2 p per option, line 3 q per option, then one
line per class `class_id count o_1 .. o_m`. ROADEF 2005: a folder with `vehicles.txt`, `ratios.txt`,
`paint_batch_limit.txt` and `optimization_objectives.txt`, `;`-separated with a header line; the first
date in `vehicles.txt` is the frozen D-1 tail, the second the day D to sequence.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from mixflow.errors import InputFileError, ValidationError
from mixflow.sequence.data import ProblemData, RatioRule

ROADEF_FILES = ("vehicles.txt", "ratios.txt", "paint_batch_limit.txt", "optimization_objectives.txt")
OBJECTIVE_NAMES = {
    "high_priority_level_and_easy_to_satisfy_ratio_constraints": "high",
    "high_priority_level_and_difficult_to_satisfy_ratio_constraints": "high",
    "low_priority_level_ratio_constraints": "low",
    "paint_color_batches": "colour_changes",
}


def read_instance(path: str | Path) -> ProblemData:
    """Read an instance, detecting the format: a folder (or a file inside one) holding the four ROADEF
    files is ROADEF 2005; any other file is CSPLib prob001."""
    where = Path(path)
    if where.is_file() and where.name in ROADEF_FILES and (where.parent / "vehicles.txt").is_file():
        where = where.parent
    if where.is_dir():
        return read_roadef(where)
    if not where.exists():
        raise InputFileError(str(where), "no such file or folder")
    return read_csplib(where)


def _int(token: str, path: Path, line: int, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise InputFileError(str(path), f"{what} must be an integer, got {token!r}", line) from None


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines with their 1-based line numbers."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise InputFileError(str(path), f"cannot read: {err.strerror}") from None
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            rows.append((number, stripped))
    return rows


def read_csplib(path: str | Path) -> ProblemData:
    """Read a CSPLib prob001 file; the classes become vehicles whose id is the class id."""
    path = Path(path)
    rows = _lines(path)
    if len(rows) < 3:
        raise InputFileError(str(path), "needs a header line, a p line and a q line", len(rows) + 1)
    number, header = rows[0]
    fields = header.split()
    if len(fields) != 3:
        raise InputFileError(
            str(path), f"header must be 'n_cars n_options n_classes', got {header!r}", number
        )
    n_cars, n_options, n_classes = (_int(f, path, number, "header field") for f in fields)
    limits = []
    for (number, text), what in zip(rows[1:3], ("p", "q"), strict=True):
        values = [_int(f, path, number, what) for f in text.split()]
        if len(values) != n_options:
            raise InputFileError(
                str(path), f"{what} line must hold {n_options} values, got {len(values)}", number
            )
        limits.append((number, values))
    (_, ps), (q_line, qs) = limits
    rules = []
    for option, (p, q) in enumerate(zip(ps, qs, strict=True), start=1):
        try:
            rules.append(RatioRule(f"option{option}", p, q, "high"))
        except ValidationError as bad:
            raise InputFileError(str(path), bad.message + f" (option {option})", q_line) from None
    class_rows = rows[3:]
    if len(class_rows) != n_classes:
        line = class_rows[-1][0] + 1 if class_rows else rows[-1][0] + 1
        raise InputFileError(str(path), f"expected {n_classes} class lines, found {len(class_rows)}", line)
    ids: list[str] = []
    option_rows: list[list[int]] = []
    for number, text in class_rows:
        tokens = text.split()
        if len(tokens) != n_options + 2:
            raise InputFileError(
                str(path), f"class line must be 'id count' and {n_options} options, got {text!r}", number
            )
        class_id = tokens[0]
        count = _int(tokens[1], path, number, "class count")
        flags = [_int(v, path, number, "option flag") for v in tokens[2:]]
        if count < 0 or any(f not in (0, 1) for f in flags):
            raise InputFileError(str(path), "count must be >= 0 and option flags 0 or 1", number)
        ids.extend([class_id] * count)
        option_rows.extend([flags] * count)
    if len(ids) != n_cars:
        raise InputFileError(
            str(path), f"class counts sum to {len(ids)}, header says {n_cars} cars", rows[0][0]
        )
    return ProblemData(
        vehicle_ids=tuple(ids),
        options=np.array(option_rows, dtype=bool).reshape(len(ids), n_options),
        colours=np.zeros(len(ids), dtype=np.int64),
        rules=tuple(rules),
        objective_order=("high",),
        window_rule="csplib",
        name=path.stem,
    )


def _table(path: Path) -> list[tuple[int, list[str]]]:
    """`;`-separated rows (header included) with line numbers; a trailing `;` is dropped."""
    if not path.is_file():
        raise InputFileError(str(path), "missing (a ROADEF instance needs " + ", ".join(ROADEF_FILES) + ")")
    table = []
    for number, text in _lines(path):
        cells = [cell.strip() for cell in text.split(";")]
        if cells and cells[-1] == "":
            cells.pop()
        table.append((number, cells))
    if not table:
        raise InputFileError(str(path), "is empty", 1)
    return table


def _read_ratios(path: Path) -> list[RatioRule]:
    rules = []
    for number, cells in _table(path)[1:]:
        if len(cells) < 3 or "/" not in cells[0]:
            raise InputFileError(str(path), f"expected 'p/q;priority;name;', got {';'.join(cells)!r}", number)
        p_text, q_text = cells[0].split("/", 1)
        p = _int(p_text, path, number, "p")
        q = _int(q_text, path, number, "q")
        priority = _int(cells[1], path, number, "priority")
        if priority not in (0, 1):
            raise InputFileError(str(path), f"priority must be 1 (high) or 0 (low), got {priority}", number)
        try:
            rules.append(RatioRule(cells[2], p, q, "high" if priority == 1 else "low"))
        except ValidationError as bad:
            raise InputFileError(str(path), str(bad), number) from None
    return rules


def _read_objectives(path: Path) -> tuple[str, ...]:
    ranked: list[tuple[int, str]] = []
    for number, cells in _table(path)[1:]:
        if len(cells) < 2 or cells[1] not in OBJECTIVE_NAMES:
            raise InputFileError(
                str(path),
                f"expected 'rank;objective name;' with a known name, got {';'.join(cells)!r}",
                number,
            )
        ranked.append((_int(cells[0], path, number, "rank"), OBJECTIVE_NAMES[cells[1]]))
    order = [name for _, name in sorted(ranked)]
    if len(set(order)) != len(order):
        raise InputFileError(str(path), "names a criterion twice")
    # a criterion the file leaves out (no low-priority rules) ranks last with nothing to count
    order += [c for c in ("high", "colour_changes", "low") if c not in order]
    return tuple(order)


def _read_paint_limit(path: Path) -> int:
    table = _table(path)
    if len(table) < 2 or not table[1][1]:
        raise InputFileError(str(path), "expected a header line and the limit", table[-1][0] + 1)
    number, cells = table[1]
    limit = _int(cells[0], path, number, "paint batch limit")
    if limit < 1:
        raise InputFileError(str(path), f"paint batch limit must be >= 1, got {limit}", number)
    return limit


def read_roadef(folder: str | Path) -> ProblemData:
    """Read a ROADEF 2005 instance folder: the D-1 vehicles become the frozen tail."""
    folder = Path(folder)
    rules = _read_ratios(folder / "ratios.txt")
    order = _read_objectives(folder / "optimization_objectives.txt")
    limit = _read_paint_limit(folder / "paint_batch_limit.txt")
    path = folder / "vehicles.txt"
    table = _table(path)
    header_line, header = table[0]
    if header[:4] != ["Date", "SeqRank", "Ident", "Paint Color"]:
        raise InputFileError(str(path), "header must start 'Date;SeqRank;Ident;Paint Color'", header_line)
    by_name = {rule.name: r for r, rule in enumerate(rules)}
    columns = header[4:]
    for name in columns:
        if name not in by_name:
            raise InputFileError(str(path), f"column {name!r} has no rule in ratios.txt", header_line)
    missing = [rule.name for rule in rules if rule.name not in columns]
    if missing:
        raise InputFileError(str(path), f"no column for ratio rules {missing}", header_line)
    days: dict[str, list[tuple[int, str, int, list[int]]]] = defaultdict(list)
    for number, cells in table[1:]:
        if len(cells) != 4 + len(columns):
            raise InputFileError(str(path), f"expected {4 + len(columns)} fields, got {len(cells)}", number)
        rank = _int(cells[1], path, number, "SeqRank")
        colour = _int(cells[3], path, number, "Paint Color")
        flags = [0] * len(rules)
        for name, cell in zip(columns, cells[4:], strict=True):
            flag = _int(cell, path, number, f"option {name}")
            if flag not in (0, 1):
                raise InputFileError(str(path), f"option {name} must be 0 or 1, got {flag}", number)
            flags[by_name[name]] = flag
        days[cells[0]].append((rank, cells[2], colour, flags))
    if not days or len(days) > 2:
        raise InputFileError(str(path), f"expected the dates D-1 and D, found {len(days)} dates")
    dates = list(days)
    tail = sorted(days[dates[0]]) if len(dates) == 2 else []
    today = sorted(days[dates[-1]])
    try:
        return ProblemData(
            vehicle_ids=tuple(ident for _, ident, _, _ in today),
            options=np.array([f for *_, f in today], dtype=bool).reshape(len(today), len(rules)),
            colours=np.array([c for _, _, c, _ in today], dtype=np.int64),
            rules=tuple(rules),
            paint_batch_limit=limit,
            tail_options=np.array([f for *_, f in tail], dtype=bool).reshape(len(tail), len(rules)),
            tail_colours=np.array([c for _, _, c, _ in tail], dtype=np.int64),
            objective_order=order,
            window_rule="roadef",
            name=folder.name,
        )
    except ValidationError as bad:
        raise InputFileError(str(path), str(bad)) from None


def read_sequence(path: str | Path, data: ProblemData) -> list[int]:
    """Read a sequence file (vehicle ids in line order, whitespace-separated) into vehicle indices.

    An id the instance does not hold, or one given too often, fails naming the file and line.
    """
    path = Path(path)
    pools: dict[str, list[int]] = defaultdict(list)
    for index in reversed(range(data.num_vehicles)):
        pools[data.vehicle_ids[index]].append(index)
    order: list[int] = []
    for number, text in _lines(path):
        for ident in text.replace(",", " ").split():
            if ident not in pools:
                raise InputFileError(
                    str(path), f"unknown vehicle id {ident!r} for instance {data.name}", number
                )
            if not pools[ident]:
                raise InputFileError(str(path), f"vehicle {ident!r} appears too often", number)
            order.append(pools[ident].pop())
    if len(order) != data.num_vehicles:
        raise InputFileError(str(path), f"lists {len(order)} vehicles, the instance has {data.num_vehicles}")
    return order
