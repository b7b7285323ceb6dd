"""Accounts and the order book on SQLite and on the real PostgreSQL server (same code, same answers)."""

from __future__ import annotations

import uuid

import pytest

from mixflow.errors import ValidationError
from mixflow.model import Order, OrderStatus
from mixflow.store import accounts, connect, order_book
from mixflow.store.accounts import Role

CONFIG = {"family": "mixer", "drive": "6x4"}


def _round_trip(url: str) -> None:
    _engine, sessions = connect(url)
    name = f"u{uuid.uuid4().hex[:10]}"
    with sessions() as session:
        accounts.create_user(session, name, "horse-battery-1", Role.CUSTOMER)
        session.commit()
        with pytest.raises(ValidationError, match="already taken"):
            accounts.create_user(session, name, "horse-battery-2", Role.CUSTOMER)
    with sessions() as session:
        assert accounts.authenticate(session, name, "horse-battery-1") is not None
        assert accounts.authenticate(session, name, "horse-battery-2") is None
        order = Order(id=f"T{uuid.uuid4().hex[:12]}", customer=name, configuration=CONFIG, placed_s=100,
                      requested_s=500)
        order_book.save_new(session, order, 123_456.0)
    with sessions() as session:
        order_book.save_progress(session, order.promised(400, 120).advanced(OrderStatus.SEQUENCED, 130))
    with sessions() as session:
        found = order_book.load(session, order.id)
        assert found is not None
        stored, price = found
        assert price == 123_456.0 and stored.promised_s == 400
        steps = [c.status for c in stored.history]
        assert steps == [OrderStatus.PLACED, OrderStatus.PROMISED, OrderStatus.SEQUENCED]
        assert [o.id for o, _ in order_book.list_orders(session, customer=name)] == [order.id]


def test_store_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _round_trip(f"sqlite:///{tmp_path / 'web.db'}")


@pytest.mark.services
def test_store_on_postgres(postgres_url: str) -> None:
    _round_trip(postgres_url)
