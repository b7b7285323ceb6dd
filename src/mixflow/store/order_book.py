"""The order book: customer orders and their status history, stored before the API answers.

An order row holds what the customer asked for (configuration, requested date) and what was promised;
every step along the flow is one row of `web_order_status`, so the history is append-only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.errors import UnknownNameError
from mixflow.model import Order, OrderStatus, StatusChange
from mixflow.store.db import Base


class OrderRow(Base):
    """One customer order."""

    __tablename__ = "web_orders"
    __table_args__ = (Index("ix_web_orders_placed_id", "placed_s", "id"),)  # the list's order (web_0002)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    configuration: Mapped[str] = mapped_column(Text, nullable=False)
    price: Mapped[float] = mapped_column(Float, nullable=False)
    placed_s: Mapped[int] = mapped_column(Integer, nullable=False)
    requested_s: Mapped[int] = mapped_column(Integer, nullable=False)
    promised_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OrderStatusRow(Base):
    """One step of an order's history."""

    __tablename__ = "web_order_status"

    order_id: Mapped[str] = mapped_column(ForeignKey("web_orders.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at_s: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")


def save_new(session: Session, order: Order, price: float) -> None:
    """Insert an order with its history and commit, so it is durable before anyone is told."""
    session.add(
        OrderRow(
            id=order.id,
            customer=order.customer,
            configuration=json.dumps(dict(order.configuration), sort_keys=True),
            price=price,
            placed_s=order.placed_s,
            requested_s=order.requested_s,
            promised_s=order.promised_s,
            priority=order.priority,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    for seq, change in enumerate(order.history):
        session.add(OrderStatusRow(order_id=order.id, seq=seq, status=change.status.value,
                                   at_s=change.at_s, note=change.note[:200]))
    session.commit()


def _to_order(row: OrderRow, history: list[OrderStatusRow]) -> Order:
    return Order(
        id=row.id,
        customer=row.customer,
        configuration=json.loads(row.configuration),
        placed_s=row.placed_s,
        requested_s=row.requested_s,
        promised_s=row.promised_s,
        priority=row.priority,
        history=tuple(StatusChange(OrderStatus(h.status), h.at_s, h.note) for h in history),
    )


def _history(session: Session, order_ids: list[str]) -> dict[str, list[OrderStatusRow]]:
    found: dict[str, list[OrderStatusRow]] = {i: [] for i in order_ids}
    if not order_ids:
        return found
    query = select(OrderStatusRow).where(OrderStatusRow.order_id.in_(order_ids)).order_by(
        OrderStatusRow.order_id, OrderStatusRow.seq
    )
    for h in session.scalars(query):
        found[h.order_id].append(h)
    return found


def load(session: Session, order_id: str) -> tuple[Order, float] | None:
    """The order and its price, or None when no such order exists."""
    row = session.get(OrderRow, order_id)
    if row is None:
        return None
    return _to_order(row, _history(session, [order_id])[order_id]), row.price


def list_orders(
    session: Session, customer: str | None = None, limit: int = 200, before: str | None = None
) -> list[tuple[Order, float]]:
    """The newest `limit` orders first, of one customer or of everyone when `customer` is None; with
    `before`, the next page: the orders that come after that order in this newest-first list (a cursor,
    so orders placed meanwhile do not shift the pages). An unknown `before` (or another customer's)
    raises UnknownNameError."""
    query = select(OrderRow).order_by(OrderRow.placed_s.desc(), OrderRow.id.desc()).limit(limit)
    if customer is not None:
        query = query.where(OrderRow.customer == customer)
    if before is not None:
        cursor = session.get(OrderRow, before)
        if cursor is None or (customer is not None and cursor.customer != customer):
            raise UnknownNameError("order", before)
        older = OrderRow.placed_s < cursor.placed_s
        query = query.where(older | ((OrderRow.placed_s == cursor.placed_s) & (OrderRow.id < before)))
    rows = list(session.scalars(query))
    history = _history(session, [r.id for r in rows])
    return [(_to_order(r, history[r.id]), r.price) for r in rows]


def known(session: Session, order_ids: list[str]) -> set[str]:
    """Which of `order_ids` the book holds (orders placed on the web, not from the plant's own systems)."""
    found: set[str] = set()
    for k in range(0, len(order_ids), 500):  # well under SQLite's bound on query parameters
        found.update(session.scalars(select(OrderRow.id).where(OrderRow.id.in_(order_ids[k : k + 500]))))
    return found


def only_placed(session: Session) -> list[Order]:
    """Orders that never got past "placed", oldest first: the plant never heard of them (it was down
    when they came), so a starting plant takes them up."""
    step = OrderStatusRow
    later = select(step.order_id).where(step.order_id == OrderRow.id, step.seq > 0)
    query = select(OrderRow).where(~later.exists()).order_by(OrderRow.placed_s, OrderRow.id)
    rows = list(session.scalars(query))
    history = _history(session, [r.id for r in rows])
    return [_to_order(r, history[r.id]) for r in rows]


def open_orders(session: Session) -> list[Order]:
    """Orders neither delivered nor cancelled, oldest first: what a plant whose world started again (a
    twin's worker, resumed from its checkpoint or anew) must have in its plan."""
    step = OrderStatusRow
    finished = [OrderStatus.DELIVERED.value, OrderStatus.CANCELLED.value]
    done = select(step.order_id).where(step.order_id == OrderRow.id, step.status.in_(finished))
    query = select(OrderRow).where(~done.exists()).order_by(OrderRow.placed_s, OrderRow.id)
    rows = list(session.scalars(query))
    history = _history(session, [r.id for r in rows])
    return [_to_order(r, history[r.id]) for r in rows]


def save_progress(session: Session, order: Order) -> None:
    """Store the steps of `order` the book does not hold yet (and its promise) and commit."""
    row = session.get(OrderRow, order.id)
    if row is None:
        raise UnknownNameError("order", order.id)
    stored = session.scalar(
        select(func.count()).select_from(OrderStatusRow).where(OrderStatusRow.order_id == order.id)
    ) or 0
    row.promised_s = order.promised_s
    for seq, change in enumerate(order.history[stored:], start=stored):
        session.add(OrderStatusRow(order_id=order.id, seq=seq, status=change.status.value,
                                   at_s=change.at_s, note=change.note[:200]))
    session.commit()


def count_orders(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OrderRow)) or 0)
