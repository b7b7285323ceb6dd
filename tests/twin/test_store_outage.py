"""The plan's database refuses writes for an hour in the middle of a run: the plant is told nothing the
store does not hold (the commands wait), nothing is lost, and the run ends as if the database had
never failed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from mixflow.model import OrderStatus
from mixflow.model.port import Command, Factory
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.store import connect, scratch_database
from mixflow.twin import Scenario, Twin, prepare
from mixflow.twin.audit import RepeatAudit

OUTAGE = (150_000, 153_600)


class _StoreWithOutage(PlanStore):
    """The plan store of a database that refuses every write during `OUTAGE` (plant time)."""

    def __init__(self, url: str, factory: Factory) -> None:
        super().__init__(connect(url)[1])
        self.factory = factory

    def _write(self, new: list[dict[str, object]]) -> None:
        if OUTAGE[0] <= self.factory.now_s < OUTAGE[1]:
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))
        super()._write(new)


class _Submissions(RepeatAudit):
    def __init__(self, factory: Factory) -> None:
        super().__init__(factory)
        self.at: list[int] = []

    def submit(self, commands: Sequence[Command]) -> None:
        self.at.append(self.now_s)
        super().submit(commands)


def test_commands_wait_for_the_store_and_nothing_is_lost() -> None:
    scenario = Scenario(scale=0.05, days=1, drain_days=4, materials=False)
    plant, catalogue, orders = prepare(scenario, 3)
    twin = Twin(plant, catalogue, orders, scenario, 3)
    plant_port = _Submissions(twin)
    with scratch_database(None) as url:
        store = _StoreWithOutage(url, twin)
        scheduler = Scheduler(plant, catalogue, store, PlanOptions(flush_every_s=0), seed=3)
        scheduler.run(plant_port, scenario.end_s, lambda now: len(twin.delivered) < len(orders))
        assert scheduler.kpis.store_failures > 0
        told = [n for n in scheduler.notices if n.kind == "plan store"]  # once a minute for the supervisor
        assert told and all(OUTAGE[0] <= n.at_s < OUTAGE[1] for n in told) and len(told) <= 61
        assert "server closed the connection" in told[0].text
        assert not [t for t in plant_port.at if OUTAGE[0] <= t < OUTAGE[1]]  # nothing went out
        assert any(t >= OUTAGE[1] for t in plant_port.at)
        assert set(twin.delivered) == {o.id for o in orders}
        assert plant_port.repeats() == {"operations": 0, "releases": 0, "parts": 0}
        assert twin.agvs.counters.refused_moves == 0 and twin.agvs.counters.collisions == 0
        saved = PlanStore(connect(url)[1]).load()  # everything reached the database in the end
        assert all(saved.orders[o.id].status is OrderStatus.DELIVERED for o in orders)
