"""The planner's audit trail: every action a person took on the plan (machine down or up, a rush order,
a freeze, a re-plan, an alarm acknowledged or cleared, a staff account), who took it and when.

Rows are written by the web app as each action is taken (accepted or refused) and never changed; the
planner page lists the latest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias needs INTEGER


class PlannerActionRow(Base):
    """One action of one person on the plan."""

    __tablename__ = "planner_actions"
    __table_args__ = (Index("ix_planner_actions_at", "at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    plant_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")


@dataclass(frozen=True)
class PlannerAction:
    id: int
    at: datetime
    plant_s: int | None
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    outcome: str
    reason: str


def record(session: Session, *, username: str, role: str, action: str, target: str, detail: dict[str, Any],
           outcome: str, reason: str = "", plant_s: int | None = None) -> PlannerActionRow:
    """Add one action to the trail (the caller commits)."""
    row = PlannerActionRow(at=datetime.now(UTC), plant_s=plant_s, username=username, role=role, action=action,
                           target=target[:128], detail=json.dumps(detail, sort_keys=True, default=str),
                           outcome=outcome, reason=reason[:2000])
    session.add(row)
    session.flush()
    return row


def latest(session: Session, limit: int = 100) -> list[PlannerAction]:
    """The latest `limit` actions, newest first."""
    rows = session.scalars(select(PlannerActionRow).order_by(PlannerActionRow.id.desc()).limit(limit))
    return [PlannerAction(r.id, r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC), r.plant_s, r.username,
                          r.role, r.action, r.target, json.loads(r.detail), r.outcome, r.reason)
            for r in rows]
