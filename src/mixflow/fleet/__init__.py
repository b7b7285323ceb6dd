"""AGV fleet: grid maps, collision-free lifelong planning (PIBT + guidance), one-shot LaCAM + LNS,
tasks, batteries, chargers and breakdowns.

`PIBTPlanner` is the stateful step-by-step planner the scheduler drives; `run_guided` picks its
guidance for a floor and goal stream at load (`guidance`); `FleetManager` adds
material tasks, batteries, exclusive chargers and breakdowns on top. `solve_oneshot` is LaCAM for
all-robots-to-goals problems, its plan then shortened by `refine_plan` (large neighbourhood search);
`validate_plan` checks any plan, `formats` reads MovingAI and League of Robot Runners instances, and
`plant` adapts the reference floor.
"""

from mixflow.fleet.distances import DistanceTable
from mixflow.fleet.formats import read_map, read_robot_runners, read_scen
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.guidance import Guidance, GuidedRun, choose_guidance, run_guided
from mixflow.fleet.lacam import OneShotResult, solve_oneshot
from mixflow.fleet.lifelong import Delays, LifelongResult, RoundRobinStream, run_lifelong
from mixflow.fleet.manager import Delivery, EnergySpec, FleetManager, RobotState
from mixflow.fleet.planner import PLAIN_PIBT, PIBTPlanner, PlannerOptions
from mixflow.fleet.refine import Refined, refine_plan
from mixflow.fleet.tasks import FleetTask, assign, assign_greedy
from mixflow.fleet.validate import PlanCheck, validate_plan

__all__ = [
    "PLAIN_PIBT",
    "Delays",
    "Delivery",
    "DistanceTable",
    "EnergySpec",
    "FleetManager",
    "FleetTask",
    "Grid",
    "Guidance",
    "GuidedRun",
    "LifelongResult",
    "OneShotResult",
    "PIBTPlanner",
    "PlanCheck",
    "PlannerOptions",
    "Refined",
    "RobotState",
    "RoundRobinStream",
    "assign",
    "assign_greedy",
    "choose_guidance",
    "grid_from_rows",
    "read_map",
    "read_robot_runners",
    "read_scen",
    "refine_plan",
    "run_guided",
    "run_lifelong",
    "solve_oneshot",
    "validate_plan",
]
