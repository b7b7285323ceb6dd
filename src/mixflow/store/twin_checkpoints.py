"""A twin plant's last checkpoint: its simulated world, kept in the plant's own store.

A real plant keeps running when the process that schedules it stops; a twin's factory lives in that
process's memory. So the twin writes its world here every few seconds (`api.twin_world`), one row per
plant store, replaced each time, and a twin started again over the same store resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.store.db import Base

ROW_ID = "twin"


class TwinCheckpointRow(Base):
    """The newest checkpoint of the plant's twin (the store is the plant's own: one row)."""

    __tablename__ = "twin_checkpoints"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    sources: Mapped[str] = mapped_column(String(64), nullable=False)
    at_s: Mapped[int] = mapped_column(Integer, nullable=False)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    signature: Mapped[str] = mapped_column(String(64), nullable=False)
    blob: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint row holds: which sources the world was built from, its plant time, the signed
    (compressed, pickled) world."""

    sources: str
    at_s: int
    saved_at: datetime
    signature: str
    blob: bytes


def save(session: Session, sources: str, at_s: int, signature: str, blob: bytes) -> None:
    """Replace the plant's checkpoint; commits."""
    row = session.get(TwinCheckpointRow, ROW_ID)
    now = datetime.now(UTC)
    if row is None:
        session.add(TwinCheckpointRow(id=ROW_ID, sources=sources, at_s=at_s, saved_at=now,
                                      signature=signature, blob=blob))
    else:
        row.sources, row.at_s, row.saved_at, row.signature, row.blob = sources, at_s, now, signature, blob
    session.commit()


def load(session: Session) -> Checkpoint | None:
    """The plant's checkpoint, if its twin ever wrote one."""
    row = session.get(TwinCheckpointRow, ROW_ID)
    if row is None:
        return None
    return Checkpoint(row.sources, row.at_s, row.saved_at, row.signature, bytes(row.blob))
