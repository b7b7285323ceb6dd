"""Opening the plants of a cloud file: each read, checked against its catalogue and given a promiser.

A plant that cannot be opened (its file fails validation, its catalogue does not fit it) is refused
with one line naming the cloud file, the line and JSON path of its entry and, after it, the plant's
own error; the other plants open all the same, so one broken tenant does not take the cloud down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mixflow.errors import InputFileError, MixflowError
from mixflow.model import Catalogue, Plant
from mixflow.model.cloud_file import CloudFile, CloudPlant
from mixflow.promise.ctp import Promiser
from mixflow.promise.materials import MaterialLedger
from mixflow.promise.multi_plant import PlantSite
from mixflow.reference.sources import MisfitError, load_sources


@dataclass(frozen=True)
class OpenedCloud:
    """The plants of a cloud file that opened, in file order, and why each of the others was refused."""

    cloud: CloudFile
    sites: tuple[PlantSite, ...]
    refused: Mapping[str, InputFileError]


def promiser_for(plant: Plant, catalogue: Catalogue) -> Promiser:
    """A promiser as the plant's scheduler builds it: counting on material where the plant models it."""
    return Promiser(plant, catalogue, ledger=MaterialLedger.for_plant(plant, catalogue))


def open_site(cloud: CloudFile, entry: CloudPlant) -> PlantSite:
    """Read (or build) one plant of the cloud and its catalogue, checked to fit; InputFileError at the
    plant's entry in the cloud file when it cannot be opened."""
    try:
        plant, catalogue = load_sources(
            entry.plant_file, entry.catalogue_file, entry.scale or 1.0, entry.seed
        )
    except MisfitError as exc:
        raise cloud.place(entry, "catalogue" if entry.catalogue_file else "plant", str(exc)) from exc
    except InputFileError as exc:
        blamed = "catalogue" if exc.path == str(entry.catalogue_file) else "plant"
        raise cloud.place(entry, blamed, str(exc)) from exc
    except MixflowError as exc:
        raise cloud.place(entry, "plant" if entry.plant_file else "scale", str(exc)) from exc
    return PlantSite(entry.id, promiser_for(plant, catalogue), entry.transport_h)


def open_cloud(cloud: CloudFile) -> OpenedCloud:
    """Every plant of `cloud` that opens; the others refused, each with its one-line error."""
    sites = []
    refused: dict[str, InputFileError] = {}
    for entry in cloud.plants:
        try:
            sites.append(open_site(cloud, entry))
        except InputFileError as exc:
            refused[entry.id] = exc
    return OpenedCloud(cloud, tuple(sites), MappingProxyType(refused))
