"""Small scheduling problems built in code: flexible, with setups, calendars, releases and due dates."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from mixflow.schedule import Job, Machine, Mode, Objective, Operation, ProblemData


def random_problem(seed: int, jobs: int = 6, machines: int = 4, ops: int = 4,
                   objective: Objective = Objective.MAKESPAN) -> ProblemData:
    """A random flexible job shop with two setup families, one downtime window per machine, releases,
    due dates and one cross-job precedence."""
    rng = random.Random(seed)
    setups = ((0, 3), (4, 0))
    shop = tuple(
        Machine(f"m{m}", downtime=((20 + 7 * m, 26 + 7 * m),), setup_times=setups if m % 2 == 0 else None)
        for m in range(machines)
    )
    job_list = []
    for j in range(jobs):
        steps = []
        for _ in range(ops):
            eligible = rng.sample(range(machines), rng.randint(1, 2))
            modes = tuple(Mode(m, rng.randint(1, 9)) for m in eligible)
            steps.append(Operation(modes, family=rng.randint(0, 1)))
        job_list.append(Job(tuple(steps), release=rng.randint(0, 5), due=rng.randint(15, 40),
                            weight=rng.randint(1, 3), name=f"j{j}"))
    return ProblemData(shop, tuple(job_list), precedences=(((0, ops - 1), (1, 1)),), objective=objective)


@pytest.fixture
def make_problem() -> Callable[..., ProblemData]:
    """The random problem builder, for tests that need several."""
    return random_problem


@pytest.fixture
def flexible() -> ProblemData:
    return random_problem(1)


@pytest.fixture
def tardy() -> ProblemData:
    return random_problem(2, objective=Objective.WEIGHTED_TARDINESS)
