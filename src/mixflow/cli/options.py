"""Options shared by several commands, validated the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import typer

from mixflow.errors import ValidationError
from mixflow.model import Catalogue, Plant


def check_scale(scale: float) -> float:
    """The plant scale must lie in (0, 4]; 1.0 is the full reference plant."""
    if not 0 < scale <= 4:
        raise ValidationError("--scale", f"must lie in (0, 4], got {scale:g}")
    return scale


SCALE = typer.Option(
    1.0, "--scale", help="Reference plant size: 1.0 = 2,040 machines, 720 AGVs, 240 trucks/day."
)
SEED = typer.Option(0, "--seed", help="Seed of every random draw, for reproducible runs.")
JSON = typer.Option(False, "--json", help="Print JSON only, on stdout.")
PLANT = typer.Option(
    None,
    "--plant",
    help="Plant file (mixflow-plant-v1) to run instead of the reference plant; it fixes the size, so "
    "no --scale with it.",
    dir_okay=False,
)
CATALOGUE = typer.Option(
    None,
    "--catalogue",
    help="Catalogue file (mixflow-catalogue-v1) to build instead of the reference truck catalogue.",
    dir_okay=False,
)


def check_plant_scale(plant_file: Path | None, scale: float, default_scale: float) -> float:
    """A plant file fixes the plant's size: refuse a --scale other than the command's default with it."""
    if plant_file is not None and scale != default_scale:
        raise ValidationError(
            "--scale", f"cannot go with --plant {plant_file}: a plant file fixes the plant's size"
        )
    return check_scale(scale)


def resolve_plant(
    plant_file: Path | None,
    catalogue_file: Path | None,
    scale: float,
    seed: int,
    default_scale: float,
) -> tuple[Plant, Catalogue]:
    """The plant and catalogue a command runs: the files given (checked against each other), or the
    reference plant at --scale/--seed and the reference truck catalogue. Errors are MixflowErrors,
    which the CLI prints as one line with exit code 2."""
    from mixflow.reference.sources import load_sources

    check_plant_scale(plant_file, scale, default_scale)
    return load_sources(plant_file, catalogue_file, scale, seed)


def check_sources(
    plant_file: Path | None,
    catalogue_file: Path | None,
    scale: float,
    seed: int,
    default_scale: float,
) -> Plant | None:
    """Check the options before a run that reads the plant itself (a Scenario run, perhaps in another
    process): read the files given and check them against each other, returning the plant; with no
    file, just check --scale and return None (the run builds the reference plant)."""
    if plant_file is None and catalogue_file is None:
        check_scale(scale)
        return None
    return resolve_plant(plant_file, catalogue_file, scale, seed, default_scale)[0]


def source_paths(plant_file: Path | None, catalogue_file: Path | None) -> tuple[str | None, str | None]:
    """The plant and catalogue files as absolute paths, for a Scenario or Settings carried to other
    processes (whose working directory may differ)."""
    return (
        str(plant_file.resolve()) if plant_file is not None else None,
        str(catalogue_file.resolve()) if catalogue_file is not None else None,
    )
