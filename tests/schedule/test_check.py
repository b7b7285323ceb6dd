"""The independent checker finds each kind of broken rule and rescores from scratch."""

from __future__ import annotations

import numpy as np

from mixflow.schedule import Job, Machine, Mode, Objective, Operation, ProblemData, check


def two_jobs(objective: Objective = Objective.MAKESPAN) -> ProblemData:
    machines = (Machine("a", downtime=((10, 12),), setup_times=((0, 2), (2, 0))), Machine("b"))
    jobs = (
        Job((Operation((Mode(0, 3),), family=0), Operation((Mode(1, 2), Mode(0, 4)))), due=4, weight=2),
        Job((Operation((Mode(0, 2),), family=1),), release=1),
    )
    return ProblemData(machines, jobs, objective=objective)


def test_a_valid_schedule_passes_and_is_scored() -> None:
    data = two_jobs(Objective.WEIGHTED_TARDINESS)
    report = check(data, [0, 1, 0], [0, 3, 5], [3, 5, 7])  # setup 2 between families 0 -> 1
    assert report.feasible, report.violations
    assert report.makespan == 7
    assert report.weighted_tardiness == 2 * (5 - 4)
    assert report.objective == report.weighted_tardiness


def test_each_rule_is_checked() -> None:
    data = two_jobs()
    cases = {
        "not eligible": ([0, 1, 1], [0, 3, 5], [3, 5, 7]),
        "needs 3 s": ([0, 1, 0], [0, 3, 5], [2, 5, 7]),
        "before release": ([0, 1, 0], [0, 3, 0], [3, 5, 2]),
        "before op 0 ends": ([0, 1, 0], [0, 2, 5], [3, 4, 7]),
        "plus setup 2": ([0, 1, 0], [0, 3, 4], [3, 5, 6]),
        "overlaps downtime": ([0, 1, 0], [0, 3, 9], [3, 5, 11]),
    }
    for expected, (machine, start, end) in cases.items():
        report = check(data, machine, start, end)
        assert any(expected in v for v in report.violations), (expected, report.violations)


def test_wrong_length_is_reported() -> None:
    assert not check(two_jobs(), np.zeros(2), np.zeros(2), np.zeros(2)).feasible
