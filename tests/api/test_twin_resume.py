"""A twin plant kept in its store: started again, it resumes from its checkpoint where it stood, and the
web orders its checkpoint does not hold are planned again with the promise the customer was given."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from mixflow.api import Settings
from mixflow.api.twin_plant import TwinPlant
from mixflow.api.twin_resume import Checkpoints
from mixflow.model import DAY_S, Order
from mixflow.store import connect, order_book
from mixflow.store.twin_checkpoints import TwinCheckpointRow

from .conftest import SECRET

CONFIGURATION_OF = "O000001"  # the twin's own first order: a configuration its catalogue builds


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    base = Settings(db_url=f"sqlite:///{tmp_path / 'plant.db'}", secret_key=SECRET, scale=0.05, seed=4,
                    twin_speed=1.0, twin_resume=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def started(settings: Settings) -> TwinPlant:
    live = TwinPlant(settings, warm_up_s=DAY_S // 2, order_days=2, checkpoints=Checkpoints(settings))
    _, sessions = connect(settings.db_url)
    live.attach(sessions)
    return live


def web_order(live: TwinPlant, settings: Settings, order_id: str) -> Order:
    """An order placed on the web: stored in the book, then promised by the plant, as the API does it."""
    _, sessions = connect(settings.db_url)
    like = live.twin.orders[CONFIGURATION_OF]
    order = Order(order_id, "cara", dict(like.configuration), live.twin.now_s, live.twin.now_s)
    with sessions() as session:
        order_book.save_new(session, order, 1.0)
        planned = live.place(order)
        order_book.save_progress(session, planned)
    return planned


def test_a_twin_started_again_resumes_from_its_checkpoint_and_keeps_every_promise(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = started(settings)
    assert not first.resumed
    kept = web_order(first, settings, "WKEPT")
    with first._lock:
        first._advance_to(first.twin.now_s + 3600)
    first._checkpoints.keep(first, force=True)  # type: ignore[union-attr]
    at_checkpoint = first.twin.now_s
    after = web_order(first, settings, "WAFTER")  # placed after the last checkpoint; then a kill
    with first._lock:
        first._advance_to(at_checkpoint + 2 * 3600)
    first._stop.set()  # killed: no last checkpoint on the way out

    second = started(settings)
    try:
        assert second.resumed and second.twin.now_s == at_checkpoint
        assert second.epoch == first.epoch
        # in the checkpoint: the same order of the same world, its steps already in the book
        assert second.scheduler.orders["WKEPT"].promised_s == kept.promised_s
        assert second._web_orders["WKEPT"] == len(kept.history)
        # not in the checkpoint: planned again, with the promise given and the history the book holds
        again = second.scheduler.orders["WAFTER"]
        assert again.promised_s == after.promised_s and again.history == after.history
        assert second.scheduler.promises["WAFTER"].promised_s == after.promised_s
        assert second._web_orders["WAFTER"] == len(after.history)
        # the resumed world runs on: its own orders keep coming, the web orders move along the flow
        planned = set(second.scheduler.orders)
        with second._lock:
            second._advance_to(at_checkpoint + DAY_S // 2)
        assert second.twin.now_s == at_checkpoint + DAY_S // 2 and set(second.scheduler.orders) - planned
        assert len(second.scheduler.orders["WAFTER"].history) >= len(after.history)
    finally:
        second.close()
    third = started(settings)  # closed on purpose: the last checkpoint is the world as it stopped
    try:
        assert third.resumed and third.twin.now_s == second.twin.now_s
    finally:
        third.close()


def test_a_checkpoint_of_other_sources_or_not_signed_by_this_cloud_is_not_loaded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path)
    first = started(settings)
    first.close()
    assert TwinPlant(settings, warm_up_s=0, order_days=2, checkpoints=Checkpoints(settings)).resumed

    with caplog.at_level(logging.WARNING, logger="mixflow.api"):
        other_seed = settings_for(tmp_path, seed=0)
        assert not TwinPlant(other_seed, warm_up_s=0, order_days=2,
                             checkpoints=Checkpoints(other_seed)).resumed
    assert "built from other sources or code" in caplog.text

    caplog.clear()
    other_key = settings_for(tmp_path, secret_key=SECRET + "-another-cloud")
    with caplog.at_level(logging.WARNING, logger="mixflow.api"):
        assert not TwinPlant(other_key, warm_up_s=0, order_days=2, checkpoints=Checkpoints(other_key)).resumed
    assert "signature does not match" in caplog.text

    caplog.clear()
    engine, _ = connect(settings.db_url)
    with engine.begin() as connection:  # a tampered blob: its signature no longer fits
        connection.execute(update(TwinCheckpointRow).values(blob=b"\x00" * 64))
    with caplog.at_level(logging.WARNING, logger="mixflow.api"):
        assert not TwinPlant(settings, warm_up_s=0, order_days=2, checkpoints=Checkpoints(settings)).resumed
    assert "signature does not match" in caplog.text


def test_a_store_that_refuses_the_checkpoint_is_reported_once_and_the_twin_runs_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import text

    settings = settings_for(tmp_path)
    live = started(settings)
    engine, _ = connect(settings.db_url)
    with engine.begin() as connection:  # the table goes away: every write fails
        connection.execute(text("ALTER TABLE twin_checkpoints RENAME TO twin_checkpoints_away"))
    with caplog.at_level(logging.WARNING, logger="mixflow.api"):
        for _ in range(3):
            live._checkpoints.keep(live, force=True)  # type: ignore[union-attr]
            with live._lock:
                live._advance_to(live.twin.now_s + 600)
        assert caplog.text.count("cannot write the twin's checkpoint") == 1  # once per outage
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE twin_checkpoints_away RENAME TO twin_checkpoints"))
        live._checkpoints.keep(live, force=True)  # type: ignore[union-attr]
    assert "checkpoints are written again" in caplog.text
    at_s = live.twin.now_s
    live._stop.set()
    again = TwinPlant(settings, warm_up_s=0, order_days=2, checkpoints=Checkpoints(settings))
    assert again.resumed and again.twin.now_s == at_s
