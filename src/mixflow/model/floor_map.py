"""Floors as text: the MovingAI `.map` grid format, and a layout of rectangles rasterised to a grid.

MovingAI is the format the path-planning community shares maps in (header `type`, `height`,
`width`, `map`, then one character per cell: `.` and `G` free, `@`, `O`, `T`, `W` blocked), so a
plant can draw its floor in any tool that writes it. A layout is what a plant engineer has instead:
shops, racks and no-go zones as rectangles of metres or cells on an open floor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixflow.errors import InputFileError

MOVINGAI_FREE = ".G"


def parse_movingai(
    lines: Sequence[str], source: str, free_chars: str = MOVINGAI_FREE, first_line: int = 1
) -> np.ndarray:
    """The blocked cells (`[y, x]`, True = blocked) of a MovingAI map's lines; `first_line` is the file
    line the text starts at, so errors name the line in the file that holds it."""
    header: dict[str, str] = {}
    row0 = None
    for number, line in enumerate(lines[:6]):
        word, _, value = line.strip().partition(" ")
        if word == "map":
            row0 = number + 1
            break
        if word in ("type", "height", "width"):
            header[word] = value.strip()
        else:
            raise InputFileError(source, f"unexpected map header line {line.strip()!r}", first_line + number)
    if row0 is None or "height" not in header or "width" not in header:
        raise InputFileError(source, "the map misses its 'height', 'width' or 'map' header line", first_line)
    height = _positive_int(header["height"], source, "height", first_line)
    width = _positive_int(header["width"], source, "width", first_line)
    rows = [line.rstrip("\r\n") for line in lines[row0:]]
    while rows and not rows[-1].strip():
        rows.pop()
    if len(rows) != height:
        raise InputFileError(
            source, f"map header says height {height} but {len(rows)} map rows follow", first_line
        )
    blocked = np.empty((height, width), dtype=bool)
    for r, row in enumerate(rows):
        if len(row) != width:
            raise InputFileError(
                source, f"map row has {len(row)} characters, header says width {width}", first_line + row0 + r
            )
        blocked[r] = [ch not in free_chars for ch in row]
    return blocked


def movingai_text(blocked: np.ndarray) -> str:
    """A MovingAI map of `blocked` (`.` free, `@` blocked)."""
    height, width = blocked.shape
    chars = np.where(blocked, "@", ".")
    rows = ["".join(row) for row in chars]
    return "\n".join(["type octile", f"height {height}", f"width {width}", "map", *rows]) + "\n"


def _positive_int(text: str, source: str, what: str, line: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputFileError(source, f"map {what} {text!r} is not an integer", line) from None
    if value <= 0:
        raise InputFileError(source, f"map {what} must be positive, got {value}", line)
    return value
