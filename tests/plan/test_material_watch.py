"""The material andon: a task is overdue once, at its deadline, unless the factory reported it."""

from __future__ import annotations

from mixflow.plan.material_watch import MaterialWatch


def test_a_task_is_overdue_once_when_its_deadline_passes_unreported() -> None:
    watch = MaterialWatch()
    watch.post("o1/frame", "o1", "frame", "S01", 100)
    watch.post("o1/cab", "o1", "cab", "S05", 300)
    watch.post("o2/frame", "o2", "frame", "S01", 200)
    assert watch.overdue(100) == []  # due at 100: not late yet
    watch.delivered("o2/frame")
    late = watch.overdue(250)
    assert [(x.task_id, x.station, x.deadline_s, x.at_s) for x in late] == [("o1/frame", "S01", 100, 250)]
    assert "frame for order o1" in late[0].text()
    assert watch.overdue(260) == []  # told once
    watch.delivered("o1/frame")  # a late report changes nothing
    assert [x.task_id for x in watch.overdue(301)] == ["o1/cab"]
    assert len(watch) == 0
