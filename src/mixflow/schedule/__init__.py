"""Feeder-shop scheduling: a flexible job shop with setups, calendars and due dates, and repair.

`ProblemData` in, `solve(data, time_limit, seed) -> ScheduleResult` out; readers in `formats`, an
independent checker in `check`, repair after a breakdown in `repair`, the plant's day in `plant`.
"""

from mixflow.schedule.check import CheckReport, check
from mixflow.schedule.data import Job, Machine, Mode, Objective, Operation, ProblemData
from mixflow.schedule.result import ScheduleResult
from mixflow.schedule.solve import METHODS, solve

__all__ = [
    "METHODS",
    "CheckReport",
    "Job",
    "Machine",
    "Mode",
    "Objective",
    "Operation",
    "ProblemData",
    "ScheduleResult",
    "check",
    "solve",
]
