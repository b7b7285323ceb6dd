"""The cloud scheduler's state: orders with their promises and line slots, operations and AGV tasks.

Written as decisions are made (a promise at once, operations and tasks in batches each planning
minute), so a scheduler killed and restarted resumes without losing an order or a promise.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mixflow.store.db import Base


class PlanOrderRow(Base):
    """One order as the scheduler keeps it: configuration, promise, its line and slot, status history."""

    __tablename__ = "plan_orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer: Mapped[str] = mapped_column(String(64), nullable=False)
    configuration: Mapped[str] = mapped_column(Text, nullable=False)
    placed_s: Mapped[int] = mapped_column(Integer, nullable=False)
    requested_s: Mapped[int] = mapped_column(Integer, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    promised_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    slot_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parts_ready_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    earliest_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    binding: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    line: Mapped[str] = mapped_column(String(40), nullable=False, default="", server_default="")
    """The line the order is promised on ("": the plant's first line, as stored before lines were named)."""
    at_risk: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    history: Mapped[str] = mapped_column(Text, nullable=False)


class PlanOperationRow(Base):
    """One feeder-shop operation: the machine it was sent to, when it started (when it was sent, until
    the machine reports its start) and when it was done."""

    __tablename__ = "plan_operations"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    part: Mapped[str] = mapped_column(String(40), nullable=False)
    machine_id: Mapped[str] = mapped_column(String(40), nullable=False)
    started_s: Mapped[int] = mapped_column(Integer, nullable=False)
    done_s: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PlanTaskRow(Base):
    """One material task and the AGV it was last given to."""

    __tablename__ = "plan_tasks"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    part: Mapped[str] = mapped_column(String(40), nullable=False)
    station: Mapped[int] = mapped_column(Integer, nullable=False)
    agv_id: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    posted_s: Mapped[int] = mapped_column(Integer, nullable=False)
    deadline_s: Mapped[int] = mapped_column(Integer, nullable=False)
    delivered_s: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PlanClockRow(Base):
    """The epoch of a plant's plan: every time the scheduler keeps counts seconds from it, so a restarted
    scheduler must count from the same instant."""

    __tablename__ = "plan_clocks"

    plant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    epoch_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)


class PlanFleetRow(Base):
    """Where the fleet model last had every AGV (cells as int32 bytes, in the plant's AGV order): a
    restarted scheduler's best guess for an AGV that does not report."""

    __tablename__ = "plan_fleet"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_s: Mapped[int] = mapped_column(Integer, nullable=False)
    cells: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
