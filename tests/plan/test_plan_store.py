"""The plan store read back after a restart: what it leaves out of a long history."""

from __future__ import annotations

from pathlib import Path

from mixflow.model import DAY_S, Order, OrderStatus, StatusChange
from mixflow.plan import PlanStore
from mixflow.store import connect


def _order(order_id: str, placed_s: int, status: OrderStatus) -> Order:
    history = (StatusChange(OrderStatus.PLACED, placed_s, ""), StatusChange(status, placed_s + DAY_S, ""))
    return Order(order_id, "c", {"family": "mixer"}, placed_s, placed_s, None, 0, history)


def test_a_restart_reads_open_and_recent_orders_only(tmp_path: Path) -> None:
    """Years of delivered orders stay in the store but are not read back; open ones always are, however
    old, and finished ones within the KPI window too."""
    store = PlanStore(connect(f"sqlite:///{tmp_path / 'plan.db'}")[1])
    now = 400 * DAY_S
    orders = [
        _order("old-delivered", 10 * DAY_S, OrderStatus.DELIVERED),
        _order("old-cancelled", 11 * DAY_S, OrderStatus.CANCELLED),
        _order("old-open", 12 * DAY_S, OrderStatus.SEQUENCED),
        _order("recent-delivered", now - 3 * DAY_S, OrderStatus.DELIVERED),
        _order("on-line", now - DAY_S, OrderStatus.ON_LINE),
    ]
    for order in orders:
        store.save_order(order, None, False)
    store.flush()
    assert set(store.load().orders) == {o.id for o in orders}
    assert set(store.load(now_s=now).orders) == {"old-open", "recent-delivered", "on-line"}
    assert set(store.load(now_s=now, finished_kept_s=DAY_S).orders) == {"old-open", "on-line"}
