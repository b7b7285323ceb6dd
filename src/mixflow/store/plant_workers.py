"""Where each plant of a cloud is served from: the plant workers' registry in the cloud's store.

A plant worker (`mixflow cloud worker`, a local process or a Ray actor) runs one plant and answers the
API processes over TCP; it writes its address here when its plant is up, with a generation that goes up
at each start. API processes hold no address of their own: they look it up here, at first and again
whenever the connection breaks, so a worker restarted elsewhere (a new port, another node) is found
again, and any number of API processes can serve the same plants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.store.db import Base


class PlantWorkerRow(Base):
    """The worker serving one plant now."""

    __tablename__ = "cloud_plant_workers"

    plant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


@dataclass(frozen=True)
class WorkerAddress:
    """Where a plant's worker listens, and which start of it that is."""

    plant_id: str
    host: str
    port: int
    pid: int
    generation: int
    started_at: datetime


def register(session: Session, plant_id: str, host: str, port: int, pid: int) -> WorkerAddress:
    """Record that the worker at `host:port` serves `plant_id` from now on; commits. Returns its entry."""
    row = session.get(PlantWorkerRow, plant_id, with_for_update=True)
    now = datetime.now(UTC)
    if row is None:
        row = PlantWorkerRow(plant_id=plant_id, host=host, port=port, pid=pid, generation=1, started_at=now)
        session.add(row)
    else:
        row.host, row.port, row.pid, row.generation, row.started_at = host, port, pid, row.generation + 1, now
    session.commit()
    return _address(row)


def locate(session: Session, plant_id: str) -> WorkerAddress | None:
    """The worker serving `plant_id`, if one has registered."""
    row = session.get(PlantWorkerRow, plant_id, populate_existing=True)
    return None if row is None else _address(row)


def _address(row: PlantWorkerRow) -> WorkerAddress:
    return WorkerAddress(row.plant_id, row.host, row.port, row.pid, row.generation, row.started_at)
