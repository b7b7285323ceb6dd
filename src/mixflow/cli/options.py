"""Options shared by several commands, validated the same way everywhere."""

from __future__ import annotations

import typer

from mixflow.errors import ValidationError


def check_scale(scale: float) -> float:
    """The plant scale must lie in (0, 4]; 1.0 is the full reference plant."""
    if not 0 < scale <= 4:
        raise ValidationError("--scale", f"must lie in (0, 4], got {scale:g}")
    return scale


SCALE = typer.Option(1.0, "--scale", help="Plant size: 1.0 = 2,040 machines, 720 AGVs, 240 trucks/day.")
SEED = typer.Option(0, "--seed", help="Seed of every random draw, for reproducible runs.")
JSON = typer.Option(False, "--json", help="Print JSON only, on stdout.")
