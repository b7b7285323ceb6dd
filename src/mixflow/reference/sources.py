"""The plant and catalogue a run uses: read from files, or the reference ones.

Every command and service that runs a plant resolves its `--plant FILE` and `--catalogue FILE` here, so
they all read, check and default the same way: a plant file (mixflow-plant-v1) or the reference plant
at `scale` and `seed`; a catalogue file (mixflow-catalogue-v1) or the reference truck catalogue. When a
file is given, the pair is checked with `check_fit`, then every buildable model must have a line that
builds it and fits its takt (`unbuilt_models`, `takt_overloads`), and it is refused with its first
problem.
"""

from __future__ import annotations

from pathlib import Path

from mixflow.configure.catalogue_file import load_catalogue
from mixflow.errors import MixflowError
from mixflow.model import Catalogue, Plant
from mixflow.model.plant_file import check_fit, load_plant
from mixflow.reference.capacity import model_samples, takt_overloads, unbuilt_models
from mixflow.reference.catalogue import reference_catalogue
from mixflow.reference.plant import build_plant


class MisfitError(MixflowError):
    """A plant that cannot build the catalogue's products."""


def fit_problems(plant: Plant, catalogue: Catalogue, seed: int = 0) -> list[str]:
    """Why `plant` cannot build `catalogue`: the file's own misfits (`check_fit`), else a buildable
    model no line builds or whose work a station's takt cannot hold, whatever the order."""
    problems = [str(p) for p in check_fit(plant, catalogue)]
    if problems:
        return problems
    models = model_samples(catalogue, seed)
    return [str(p) for p in (*unbuilt_models(plant, models), *takt_overloads(plant, catalogue, models))]


def load_sources(
    plant_file: str | Path | None,
    catalogue_file: str | Path | None,
    scale: float = 1.0,
    seed: int = 0,
    *,
    check: bool = True,
) -> tuple[Plant, Catalogue]:
    """The plant (file, or the reference at `scale`/`seed`) and the catalogue (file, or the reference).

    Raises InputFileError for a bad file, MisfitError when the plant cannot build the catalogue (checked
    when either comes from a file and `check` is set; the reference pair always fits).
    """
    plant = load_plant(plant_file) if plant_file is not None else build_plant(scale, seed)
    catalogue = load_catalogue(catalogue_file) if catalogue_file is not None else reference_catalogue()
    if check and (plant_file is not None or catalogue_file is not None):
        problems = fit_problems(plant, catalogue, seed)
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise MisfitError(
                f"the plant cannot build the {catalogue.products} of catalogue {catalogue.name!r}: "
                f"{problems[0]}{more}"
            )
    return plant, catalogue
