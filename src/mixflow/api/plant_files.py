"""Plant files over the API: a plant engineer checks a plant (and its fit with the loaded catalogue or
one sent along) before it runs; a bad file is a 422 whose detail is the same one line the CLI prints
(`file:line: $.json.path: what`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from mixflow.api.deps import StaffDep
from mixflow.api.schemas import ErrorOut
from mixflow.configure.catalogue_file import parse_catalogue
from mixflow.errors import MixflowError
from mixflow.model.plant_file import parse_plant
from mixflow.reference.sources import fit_problems

router = APIRouter(prefix="/api/plants", tags=["plant files"])

MAX_FILE_CHARS = 20_000_000
"""A plant file of 30,000 machines is about 2 MB; anything past this is refused unread."""


class PlantFileIn(BaseModel):
    """A plant file's text (YAML or JSON) and, optionally, a catalogue's to check it against."""

    plant: str = Field(max_length=MAX_FILE_CHARS)
    catalogue: str | None = Field(default=None, max_length=MAX_FILE_CHARS)
    name: str = Field(default="plant.yaml", max_length=200, description="the file name errors name")


class PlantFileOut(BaseModel):
    """What the plant holds, when it reads and fits."""

    name: str
    lines: list[dict[str, Any]]
    shops: dict[str, int]
    machines: int
    agvs: int
    grid: list[int]
    routings: list[str]
    catalogue: str


@router.post(
    "/validate",
    response_model=PlantFileOut,
    responses={422: {"model": ErrorOut}},
    summary="Check a plant file and its fit with a catalogue",
)
def validate_plant_file(body: PlantFileIn, request: Request, _user: StaffDep) -> PlantFileOut:
    """Read the plant as `mixflow plant validate` does; nothing is stored or run."""
    try:
        plant = parse_plant(body.plant, body.name)
        catalogue = (
            request.app.state.configurator.catalogue
            if body.catalogue is None
            else parse_catalogue(body.catalogue, "catalogue.yaml")
        )
        problems = fit_problems(plant, catalogue)
    except MixflowError as bad:
        raise HTTPException(422, str(bad)) from bad
    if problems:
        raise HTTPException(422, problems[0])
    return PlantFileOut(
        name=plant.name,
        lines=[{"id": ln.id, "stations": len(ln.stations), "takt_s": ln.takt_s} for ln in plant.lines],
        shops={s.id: s.machine_count for s in plant.shops},
        machines=len(plant.machines),
        agvs=len(plant.fleet.agv_ids),
        grid=[plant.floor.width, plant.floor.height],
        routings=[r.part for r in plant.routings],
        catalogue=catalogue.name,
    )
