"""The live plant writes the progress of web orders into the order book: a step the database refuses
is written at a later sync, never lost, and a finished order is then no longer watched."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from mixflow.api import Settings
from mixflow.api.twin_plant import TwinPlant
from mixflow.configure import compile_catalogue
from mixflow.model import Order, OrderStatus
from mixflow.model.port import TruckDelivered
from mixflow.reference import reference_catalogue
from mixflow.store import connect, order_book

from .conftest import SECRET


class _DownFor:
    """Sessions of the order book's database, except the first `n`, which reach a database that cannot
    be opened (as while the server is down)."""

    def __init__(self, sessions: sessionmaker[Session], n: int, nowhere: Path) -> None:
        self.sessions, self.n = sessions, n
        self.down = sessionmaker(create_engine(f"sqlite:///{nowhere / 'missing' / 'book.db'}"))

    def __call__(self) -> Session:
        if self.n > 0:
            self.n -= 1
            return self.down()
        return self.sessions()


def test_a_step_the_book_refuses_is_written_later(tmp_path: Path) -> None:
    _, sessions = connect(f"sqlite:///{tmp_path / 'book.db'}")
    live = TwinPlant(Settings(db_url="sqlite://", secret_key=SECRET, twin=True, scale=0.05), warm_up_s=0)
    try:
        live.attach(_DownFor(sessions, 2, tmp_path))  # type: ignore[arg-type]
        truck = compile_catalogue(reference_catalogue()).complete({"family": "mixer"})
        order = Order("W-SYNC", "buyer", truck, 0, 0)
        with sessions() as session:
            order_book.save_new(session, order, 100_000.0)
            order_book.save_progress(session, live.place(order))  # what the API does
        live.scheduler.consume([TruckDelivered(live.factory.now_s, order.id)])
        for _ in range(3):  # the first two syncs meet a database that cannot be opened
            live._store(live._changed_web_orders())
            with sessions() as session:
                found = order_book.load(session, order.id)
            assert found is not None
            if found[0].status is OrderStatus.DELIVERED:
                break
        assert found[0].status is OrderStatus.DELIVERED
        planned = live.scheduler.orders[order.id].history
        assert [s.status for s in found[0].history] == [s.status for s in planned]
        assert order.id not in live._web_orders  # finished: no longer watched
    finally:
        live.close()
