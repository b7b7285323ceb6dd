"""The live twin keeps drawing customer orders, so a plant left running never runs out of work."""

from __future__ import annotations

from mixflow.api import Settings
from mixflow.api.twin_plant import TwinPlant
from mixflow.model import DAY_S

from .conftest import SECRET


def test_the_live_twin_draws_orders_beyond_its_first_days() -> None:
    live = TwinPlant(Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05), warm_up_s=0,
                     order_days=1)
    try:
        first = sorted(o.placed_s for o in live.twin.orders.values())
        assert first and first[-1] < DAY_S
        with live._lock:
            live._advance_to(int(2.5 * DAY_S))
        assert live.twin.now_s == int(2.5 * DAY_S)  # it used to stop where its orders ended
        placed = {o.id: o.placed_s for o in live.twin.orders.values()}
        for day in (1, 2, 3):  # a window is drawn a day before the plant needs it
            assert any(day * DAY_S <= t < (day + 1) * DAY_S for t in placed.values()), day
        second = sorted(t - DAY_S for t in placed.values() if DAY_S <= t < 2 * DAY_S)
        assert second != first  # each window has a stream of its own
        arrived = [o for o in live.scheduler.orders.values() if o.placed_s >= 2 * DAY_S]
        assert arrived and all(o.id in placed for o in arrived)  # the scheduler plans the drawn orders
        assert sorted(placed) == [f"O{k:06d}" for k in range(1, len(placed) + 1)]  # none dropped as a repeat
    finally:
        live.close()
