"""The fleet manager: tasks, batteries, chargers and breakdowns on top of the lifelong planner.

The cloud scheduler drives it one step at a time: `post(task)` when the line calls for material,
`set_broken(robot, ...)` on a breakdown or repair, `step(held)` to get and commit every robot's next
cell. Each step it (re)assigns open tasks to robots by true grid distance (min-cost assignment),
sends robots that could not finish their next errand on their charge to a free charger (each
charger serves one robot at a time) and drains batteries per move, more when loaded.

A part worked on its AGV (an AGV-carried assembly station) keeps its robot: a task that `holds`
leaves the robot HELD, with the part, at its dropoff, and the task that `follows` it goes to that
robot alone, which carries the part straight on. While the part is worked on (`set_working`) the
robot stands fixed; before and after, PIBT may push it aside (to let a load for the same machine
through) and it comes back. Such chains may hold at most `CHAIN_SHARE` of the working fleet, so
material still moves (a held part's next step waits for its raw material), and start only on a
robot with `CHAIN_MIN_SOC` of its battery (a held robot cannot charge).

A fleet may mix robot types (`EnergySpec` per type, `type_of` per robot): battery, drain, charging
power and payload are per-robot arrays, a charger with its own power limit charges no faster than
that, and a task only goes to a robot that can carry its payload.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.fleet._kernels import INF, charge_batteries, drain_batteries
from mixflow.fleet.grid import Grid
from mixflow.fleet.planner import PIBTPlanner, PlannerOptions
from mixflow.fleet.tasks import FORBIDDEN, FleetTask, assign

DELIVERIES_KEPT = 10_000
"""Latest deliveries the manager keeps for inspection; `delivered` and `delivered_late` count all. A
plant at scale 1.0 delivers thousands of parts a day and the manager runs for months."""

CHAIN_SHARE = 0.8
"""The most of the working fleet that parts worked on their AGVs may hold. The rest carries material:
a held part's next step waits for its raw material, so a fleet all held would stand still."""

CHAIN_MIN_SOC = 0.5
"""The least charge (share of its battery) a robot starts carrying a part worked on it with: it cannot
charge until the part leaves it, hours and several stations later."""


class RobotState(IntEnum):
    IDLE = 0
    TO_PICKUP = 1
    TO_DROPOFF = 2
    TO_CHARGER = 3
    CHARGING = 4
    BROKEN = 5
    HELD = 6  # standing with a part that is worked on it, until it carries the part on


# compared every step: plain ints skip the enum class look-up, which cost more than the comparisons
_IDLE, _TO_PICKUP, _TO_DROPOFF = int(RobotState.IDLE), int(RobotState.TO_PICKUP), int(RobotState.TO_DROPOFF)
_TO_CHARGER, _CHARGING = int(RobotState.TO_CHARGER), int(RobotState.CHARGING)
_HELD, _BROKEN = int(RobotState.HELD), int(RobotState.BROKEN)


@dataclass(frozen=True)
class EnergySpec:
    """Battery model per step of one robot type: `drain_kwh_per_move` per cell moved, times
    `loaded_factor` when loaded; `payload_kg` is the most the type carries (no limit by default)."""

    battery_kwh: float
    drain_kwh_per_move: float
    charge_kwh_per_step: float
    loaded_factor: float = 1.5
    low_soc: float = 0.25
    reserve_moves: int = 200
    payload_kg: float = math.inf

    def __post_init__(self) -> None:
        for name in ("battery_kwh", "drain_kwh_per_move", "charge_kwh_per_step"):
            if getattr(self, name) <= 0:
                raise ValidationError(f"EnergySpec.{name}", "must be positive")
        if self.loaded_factor < 1.0:
            raise ValidationError("EnergySpec.loaded_factor", "must be >= 1")
        if not 0.0 < self.low_soc < 1.0:
            raise ValidationError("EnergySpec.low_soc", "must lie between 0 and 1")
        if self.reserve_moves < 0:
            raise ValidationError("EnergySpec.reserve_moves", "must be >= 0")
        if not self.payload_kg > 0:
            raise ValidationError("EnergySpec.payload_kg", "must be positive")


@dataclass(frozen=True)
class Delivery:
    """A task done: which robot dropped it off, at which step, and whether after its deadline."""

    task_id: str
    robot: int
    step: int
    late: bool


class FleetManager:
    """Stateful fleet: one PIBT planner, a task pool, batteries and exclusive chargers.

    `energy` is one `EnergySpec` for every robot, or one per type with `type_of` giving each robot's
    type; `charger_kwh_per_step` caps what each charger gives a step (0: the robot's own rate).
    """

    def __init__(
        self,
        grid: Grid,
        homes: np.ndarray,
        chargers: np.ndarray,
        energy: EnergySpec | Sequence[EnergySpec],
        options: PlannerOptions | None = None,
        seed: int = 0,
        reassign_every: int = 10,
        type_of: Sequence[int] | np.ndarray | None = None,
        charger_kwh_per_step: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        homes = np.asarray(homes, dtype=np.int32)
        self.chargers = np.asarray(chargers, dtype=np.int32)
        for c in self.chargers:
            if not grid.is_free(int(c)):
                raise ValidationError("FleetManager.chargers", f"charger {grid.xy(int(c))} is blocked")
        if reassign_every < 1:
            raise ValidationError("FleetManager.reassign_every", "must be >= 1")
        n = len(homes)
        types = (energy,) if isinstance(energy, EnergySpec) else tuple(energy)
        if not types:
            raise ValidationError("FleetManager.energy", "needs at least one robot type")
        kinds = np.zeros(n, dtype=np.int64) if type_of is None else np.asarray(type_of, dtype=np.int64)
        if kinds.shape != (n,) or (n and not (kinds.min() >= 0 and kinds.max() < len(types))):
            raise ValidationError("FleetManager.type_of", f"needs one type in 0..{len(types) - 1} per robot")
        limit = np.zeros(len(self.chargers)) if charger_kwh_per_step is None else charger_kwh_per_step
        self.charger_kwh_per_step = np.asarray(limit, dtype=np.float64)
        if self.charger_kwh_per_step.shape != (len(self.chargers),) or (self.charger_kwh_per_step < 0).any():
            raise ValidationError("FleetManager.charger_kwh_per_step", "needs one value >= 0 per charger")
        self.grid = grid
        self.energy = types[0]
        self.types = types
        self.type_of = kinds
        # per robot, from its type
        self.battery_kwh = np.array([t.battery_kwh for t in types])[kinds]
        self.drain_kwh_per_move = np.array([t.drain_kwh_per_move for t in types])[kinds]
        self.charge_kwh_per_step = np.array([t.charge_kwh_per_step for t in types])[kinds]
        self.loaded_factor = np.array([t.loaded_factor for t in types])[kinds]
        self.low_soc = np.array([t.low_soc for t in types])[kinds]
        self.reserve_moves = np.array([t.reserve_moves for t in types], dtype=np.int64)[kinds]
        self.payload_kg = np.array([t.payload_kg for t in types])[kinds]
        self.homes = homes.copy()
        self.planner = PIBTPlanner(grid, homes, homes, options, seed=seed)
        self.state = np.zeros(n, dtype=np.int8)
        self.task_of: list[str | None] = [None] * n
        self.soc_kwh = self.battery_kwh.copy()
        self.charger_owner = np.full(len(self.chargers), -1, dtype=np.int64)
        self.charger_of = np.full(n, -1, dtype=np.int64)
        self.tasks: dict[str, FleetTask] = {}  # posted and not yet delivered: open or on a robot
        self.open: set[str] = set()  # posted, not yet picked up
        self.robot_of: dict[str, int] = {}
        self.held_by: dict[str, int] = {}  # a delivered `holds` task -> the robot still holding its part
        self._followers: dict[str, str] = {}  # a `holds` task on its way -> the task posted to follow it
        self._released: set[str] = set()  # `holds` tasks on their way whose part will not stay on the robot
        self._pinned: set[str] = set()  # tasks given to the robot holding their part: offered to no other
        self.chain_robots: set[int] = set()  # robots carrying or holding a part worked on its AGV
        self.working = np.zeros(n, dtype=np.bool_)  # held robots whose part is being worked on: fixed
        self._is_dock = np.zeros(grid.n_cells, dtype=np.bool_)
        self._is_dock[grid.zones.get("docks", np.zeros(0, dtype=np.int64))] = True
        self._want = np.full(n, -1, dtype=np.int64)  # the dock a robot waits to enter (-1: none)
        self.deliveries: deque[Delivery] = deque(maxlen=DELIVERIES_KEPT)
        self.delivered = 0
        self.delivered_late = 0
        self.flat_batteries = 0
        self.reassign_every = reassign_every
        self._dirty = False
        self._to_charger: np.ndarray | None = None
        self._to_charger_closed = np.zeros(0, dtype=np.bool_)

    @property
    def n_robots(self) -> int:
        return len(self.homes)

    @property
    def time(self) -> int:
        return self.planner.time

    @property
    def positions(self) -> np.ndarray:
        return self.planner.positions

    @property
    def max_payload_kg(self) -> float:
        """The most any robot of the fleet carries (a heavier task waits for ever)."""
        return float(self.payload_kg.max()) if self.n_robots else 0.0

    def can_carry(self, task: FleetTask) -> bool:
        """Whether some robot type of the fleet can carry the task's payload."""
        return task.payload_kg <= self.max_payload_kg

    def post(self, task: FleetTask) -> None:
        """Add a material task to the pool; it is assigned at the next step. A delivered task leaves the
        pool, so only an id still open or on its way is refused as posted twice."""
        if task.id in self.tasks:
            raise ValidationError(f"task {task.id}", "is already posted and not yet delivered")
        for what, cell in (("pickup", task.pickup), ("dropoff", task.dropoff)):
            if not self.grid.is_free(cell):
                raise ValidationError(f"task {task.id}", f"{what} {self.grid.xy(cell)} is blocked or outside")
        self.tasks[task.id] = task
        self._dirty = True
        if task.follows:
            robot = self.held_by.pop(task.follows, None)
            if robot is not None and self._reaches(robot, task):
                self._pin(robot, task)
                return
            if robot is not None:  # walled in by a broken robot: the part goes on with any other
                self._free(robot)
            if task.follows in self.tasks:  # its robot is still on the way with the part
                self._followers[task.follows] = task.id
                return
        self.open.add(task.id)  # a chain whose robot was lost (broken, restarted) goes on with any

    def release(self, task_id: str) -> None:
        """The part `holds` task `task_id` brought leaves its robot where it stands (its next step is
        served from that cell): the robot is free again, now or when it gets there."""
        robot = self.held_by.pop(task_id, None)
        if robot is not None:
            self._free(robot)
        elif task_id in self.tasks:
            self._released.add(task_id)

    def vacate(self, task_id: str) -> None:
        """The robot holding the part `holds` task `task_id` brought leaves its dock for its home, part
        and all, to wait there for the task that follows (its machine is given another part)."""
        robot = self.held_by.get(task_id)
        if robot is not None:
            self.working[robot] = False
            self._goal(robot, self._home_or_here(robot))

    def set_working(self, task_id: str, working: bool) -> None:
        """The part `holds` task `task_id` brought is being worked on (its robot stands fixed) or not."""
        robot = self.held_by.get(task_id)
        if robot is not None:
            self.working[robot] = working

    def _pin(self, robot: int, task: FleetTask) -> None:
        """Give `task` to the robot holding its part; no assignment round takes it away. It goes by the
        pickup (the dock it stands in, unless it left it to wait elsewhere), as any robot would: after a
        restart the plant's AGV may not hold the part the model thinks it does."""
        self.task_of[robot] = task.id
        self.robot_of[task.id] = robot
        self._pinned.add(task.id)
        self.chain_robots.add(robot)
        self.working[robot] = False
        self.state[robot] = _TO_PICKUP
        self._goal(robot, task.pickup)

    def _reaches(self, robot: int, task: FleetTask) -> bool:
        """Whether the robot can go by the task's pickup to its dropoff (no broken robot walls it in)."""
        planner = self.planner
        carry = planner.distances.distance(task.pickup, task.dropoff)
        return planner.reachable(robot, task.pickup) and carry < INF

    def _free(self, robot: int) -> None:
        self.task_of[robot] = None
        self.state[robot] = _IDLE
        self.chain_robots.discard(robot)
        self.working[robot] = False
        self._goal(robot, self._home_or_here(robot))
        self._dirty = True

    def reseat(self, cells: np.ndarray, loads: tuple[str, ...]) -> list[int]:
        """Take up a fleet found running: every robot on the cell it reports, those carrying a posted
        task's part (`loads[robot]`, "" for none) on their way to its dropoff, all others idle and every
        other posted task open again. A robot holding a part of no posted task would never take another
        errand, so it stands as broken until repaired. Used after a restart, when the manager knows
        the tasks (read back from the store) but not where the robots are or what they hold. Returns
        the robots found holding unknown parts."""
        if loads and len(loads) != self.n_robots:
            raise ValidationError("FleetManager.reseat", f"needs {self.n_robots} loads, got {len(loads)}")
        self.planner.place(cells)
        self.state[:] = RobotState.IDLE
        self.task_of = [None] * self.n_robots
        self.robot_of.clear()
        for chains in (self.held_by, self._followers):
            chains.clear()
        for held in (self._released, self._pinned, self.chain_robots):
            held.clear()
        self.working[:] = False
        self._want[:] = -1
        self.charger_owner[:] = -1
        self.charger_of[:] = -1
        self.open = set(self.tasks)
        unknown = []
        for robot, task_id in enumerate(loads):
            if not task_id:
                continue
            task = self.tasks.get(task_id)
            if task is None:
                unknown.append(robot)
                continue
            self.task_of[robot] = task_id
            self.robot_of[task_id] = robot
            self.open.discard(task_id)
            self.state[robot] = RobotState.TO_DROPOFF
            self._goal(robot, task.dropoff)
        for robot in unknown:
            self.set_broken(robot, True)
        self._dirty = True
        return unknown

    def relocate(self, robot: int, cell: int, load: str | None = None) -> None:
        """The robot stands on `cell`, not where the model moved it (a move it did not make), and carries
        `load` ("" nothing, None unknown): it goes on from there, with the part it carries to that
        part's dropoff (taking the errand from whoever had it), back to its pickup if it never took the
        part the model thought it had, or to its charger if it never reached it."""
        planner = self.planner
        planner.positions[robot] = cell
        if planner.broken.any():  # broken robots are walls where they stand
            planner.set_broken(robot, bool(planner.broken[robot]))
        goal = int(planner.goals[robot])
        if load and load in self.tasks:
            if self.task_of[robot] != load:
                self._drop_errand(robot)
                other = self.robot_of.get(load)
                if other is not None:
                    self._drop_errand(other)
                    self._goal(other, self._home_or_here(other))
                self.open.discard(load)
                self.task_of[robot] = load
                self.robot_of[load] = robot
            self.state[robot] = RobotState.TO_DROPOFF
            goal = self.tasks[load].dropoff
        elif load == "" and self.state[robot] == RobotState.TO_DROPOFF:
            self.state[robot] = RobotState.TO_PICKUP
            goal = self.tasks[self.task_of[robot]].pickup  # type: ignore[index]
        elif self.state[robot] == RobotState.CHARGING:  # never reached its charger: on its way again
            self.state[robot] = RobotState.TO_CHARGER
        if planner.reachable(robot, goal):
            self._goal(robot, goal)
        self._dirty = True

    def set_broken(self, robot: int, broken: bool) -> None:
        """A broken robot becomes an obstacle and gives its task back; a repaired one becomes idle."""
        if not 0 <= robot < self.n_robots:
            raise UnknownNameError("robot", str(robot))
        if broken:
            self._drop_errand(robot)
            self.state[robot] = RobotState.BROKEN
        elif self.state[robot] == RobotState.BROKEN:
            self.state[robot] = RobotState.IDLE
        self.planner.set_broken(robot, broken)
        self._goal(robot, int(self.positions[robot]) if broken else int(self._home_or_here(robot)))
        for other in range(self.n_robots):  # a new wall may cut a robot off its goal
            if (
                other != robot
                and not self.planner.broken[other]
                and not self.planner.reachable(other, int(self.planner.goals[other]))
            ):
                self._drop_errand(other)
                self._goal(other, self._home_or_here(other))
        self._dirty = True

    def step(self, held: np.ndarray | None = None) -> np.ndarray:
        """Assign, plan and commit one step; returns every robot's next cell."""
        now = self.planner.time
        if self._dirty or now % self.reassign_every == 0:
            self._send_to_charge()
            self._assign(now)
            self._dirty = False
        before = self.positions  # the planner commits a new array, it does not move robots in place
        if self._is_dock.any():
            self._queue_for_docks()
        if self.working.any():
            held = self.working if held is None else held | self.working
        nxt = self.planner.step(held)
        self._pushed_off_chargers(nxt)
        loaded = self.state == _TO_DROPOFF
        drain_batteries(self.soc_kwh, before, nxt, loaded, self.drain_kwh_per_move, self.loaded_factor)
        self._arrivals(nxt, now + 1)
        if self.soc_kwh.min(initial=1.0) <= 0.0:
            flat = (self.soc_kwh <= 0.0) & (self.state != RobotState.BROKEN)
            for robot in np.flatnonzero(flat):  # must not happen; counted so the benchmark can show it
                self.flat_batteries += 1
                self.set_broken(int(robot), True)
        return nxt

    # -- internals -------------------------------------------------------------------------------

    def _goal(self, robot: int, cell: int) -> None:
        self._want[robot] = -1
        self.planner.set_goal(robot, cell)

    def _queue_for_docks(self) -> None:
        """A robot bound for a dock that another robot stands in or is entering waits where it is until
        the dock is free: a dock is a dead end, and a robot queueing at its mouth would lock in the one
        that has to come out. One that stands in a dock itself waits at home: two parts swapping
        stations would otherwise each wait in the dock the other needs."""
        goals, here = self.planner.goals, self.positions
        occupied = np.zeros(self.grid.n_cells, dtype=np.bool_)
        occupied[here] = True
        bound = np.flatnonzero(self._is_dock[goals] & (goals != here))
        claimed = set(goals[bound[~occupied[goals[bound]]]].tolist())
        entering: set[int] = set()
        for robot in bound.tolist():  # one robot at a time enters a free dock; the others wait
            dock = int(goals[robot])
            if occupied[dock] or dock in entering:  # it waits out of any dock (at home if it stood in one)
                self._want[robot] = dock
                self.planner.set_goal(robot, self._home_or_here(robot) if self._is_dock[here[robot]] else
                                      int(here[robot]))
            else:
                entering.add(dock)
        for robot in np.flatnonzero(self._want >= 0).tolist():
            dock = int(self._want[robot])
            if not occupied[dock] and dock not in claimed and self.planner.reachable(robot, dock):
                claimed.add(dock)
                self._goal(robot, dock)

    def _home_or_here(self, robot: int) -> int:
        home = int(self.homes[robot])
        return home if self.planner.reachable(robot, home) else int(self.positions[robot])

    def _drop_errand(self, robot: int) -> None:
        task_id = self.task_of[robot]
        if task_id is not None and self.state[robot] == _HELD:  # the part stays: any robot carries it on
            self.held_by.pop(task_id, None)
            self.task_of[robot] = None
        elif task_id is not None:  # loaded or not, the part is fetched again by another robot
            self.open.add(task_id)
            self.robot_of.pop(task_id, None)
            self._pinned.discard(task_id)
            self.task_of[robot] = None
        self.chain_robots.discard(robot)
        self.working[robot] = False
        if self.charger_of[robot] >= 0:
            self.charger_owner[self.charger_of[robot]] = -1
            self.charger_of[robot] = -1
        self.state[robot] = RobotState.IDLE

    def _moves_kwh(self, moves: np.ndarray) -> np.ndarray:
        """Energy of `moves` empty cells for each robot."""
        return moves * self.drain_kwh_per_move * 1.0

    def _charger_distance(self) -> np.ndarray:
        """Moves from every cell to the nearest charger (INF if none reachable); cached per wall set."""
        closed = self.planner.distances.closed
        if self._to_charger is None or not np.array_equal(self._to_charger_closed, closed):
            best = np.full(self.grid.n_cells, INF, dtype=np.int64)
            for c in self.chargers:
                best = np.minimum(best, self.planner.distances.field(int(c)))
            self._to_charger = best
            self._to_charger_closed = closed.copy()
        return self._to_charger

    def _send_to_charge(self) -> None:
        """Idle robots under `low_soc` (or just enough to reach a charger) go to a free charger.

        Charged robots are released first, so their chargers can be handed on in the same call.
        """
        full = self.battery_kwh
        for robot in np.flatnonzero(self.state == RobotState.CHARGING):
            if self.soc_kwh[robot] >= 0.98 * full[robot]:
                self._drop_errand(int(robot))
                self._goal(int(robot), self._home_or_here(int(robot)))
        reach = self._charger_distance()[self.positions] / self.planner.distances.unit + self.reserve_moves
        floor = np.maximum(self.low_soc * full, self._moves_kwh(reach))
        low = (self.state == RobotState.IDLE) & (self.soc_kwh < floor)
        free = np.flatnonzero(self.charger_owner < 0)
        if not low.any() or free.size == 0:
            return
        robots = np.flatnonzero(low)
        cost = np.empty((len(robots), len(free)))
        for k, c in enumerate(free):
            field = self.planner.distances.field(int(self.chargers[c]))
            cost[:, k] = np.where(
                field[self.positions[robots]] >= INF, FORBIDDEN, field[self.positions[robots]]
            )
        for r, k in assign(cost):
            agv, charger = int(robots[r]), int(free[k])
            self.charger_owner[charger] = agv
            self.charger_of[agv] = charger
            self.state[agv] = RobotState.TO_CHARGER
            self._goal(agv, int(self.chargers[charger]))

    def _assign(self, now: int) -> None:
        """Min-cost assignment of open tasks to idle and not-yet-loaded robots, by grid distance; a
        robot only takes a task it can carry."""
        candidates = np.flatnonzero(
            ((self.state == _IDLE) & (self.soc_kwh >= self.low_soc * self.battery_kwh))
            | (self.state == _TO_PICKUP)
        )
        if self._pinned:  # a robot fetching the part it holds keeps that errand
            pinned = np.fromiter((self.robot_of[t] for t in self._pinned), dtype=np.int64)
            candidates = candidates[~np.isin(candidates, pinned)]
        holders = candidates[self.state[candidates] == _TO_PICKUP]
        holder_of = {self.task_of[r]: int(r) for r in holders}
        pending = [t for t in self.open if self.tasks[t].release <= now]
        pending += [t for t in holder_of if t is not None]
        if not pending or candidates.size == 0:
            return
        pending.sort(key=lambda t: (self.tasks[t].deadline, t))
        pending = self._chains_within_share(pending, holder_of)
        pending = self._most_urgent(pending, self.payload_kg[candidates])
        if not pending:
            return
        to_charger = self._charger_distance()
        here = self.positions[candidates]
        carries = self.payload_kg[candidates]
        reserve = self.reserve_moves[candidates]
        distances = self.planner.distances
        to_pickup = np.empty((len(candidates), len(pending)))
        carry = np.empty(len(pending))
        payload = np.empty(len(pending))
        held_by = np.empty(len(pending), dtype=np.int64)
        for k, task_id in enumerate(pending):  # per task only the look-ups; the arithmetic is one pass
            task = self.tasks[task_id]
            row = distances.acquire(task.pickup)  # read in place, not copied: this runs almost every step
            to_pickup[:, k] = distances.pool[row, here]
            distances.release(row)
            carry[k] = distances.distance(task.pickup, task.dropoff)
            payload[k] = task.payload_kg
            held_by[k] = holder_of.get(task_id, -1)
        after = to_charger[[self.tasks[t].dropoff for t in pending]].astype(np.float64)
        reachable = (to_pickup < INF) & (carry < INF) & (after < INF)
        unit = distances.unit  # distance fields count cost units, energy needs moves
        drain = self.drain_kwh_per_move[candidates][:, None]
        need = ((to_pickup + after) / unit + reserve[:, None]) * drain * 1.0
        need = need + (carry / unit) * drain * self.loaded_factor[candidates][:, None]
        ok = reachable & (self.soc_kwh[candidates][:, None] >= need) & (carries[:, None] >= payload)
        rides = np.fromiter((self.tasks[t].holds for t in pending), dtype=np.bool_, count=len(pending))
        if rides.any():  # a ride starts only on a robot charged enough for hours without a charger
            charged = self.soc_kwh[candidates] >= CHAIN_MIN_SOC * self.battery_kwh[candidates]
            ok &= charged[:, None] | ~rides[None, :]
        keep = candidates[:, None] == held_by  # switching must gain more than one move
        cost = np.where(ok, to_pickup - keep * float(unit), FORBIDDEN)
        for robot in holders:  # the tasks not picked up yet are offered again (idle robots hold none)
            self.open.add(self.task_of[robot])
            self.task_of[robot] = None
            self.state[robot] = _IDLE
            self.chain_robots.discard(int(robot))
        unchosen = np.ones(len(candidates), dtype=np.bool_)
        for r, k in assign(cost):
            agv, task_id = int(candidates[r]), pending[k]
            task = self.tasks[task_id]
            self.task_of[agv] = task_id
            self.robot_of[task_id] = agv
            self.open.discard(task_id)
            self.state[agv] = _TO_PICKUP
            if task.holds:
                self.chain_robots.add(agv)
            unchosen[r] = False
            if self.planner.goals[agv] != task.pickup:
                self._goal(agv, task.pickup)
        # the others head home: a loop over hundreds of idle robots every step cost more than the rest
        others = candidates[unchosen]
        for robot in others[self.planner.goals[others] != self.homes[others]]:
            self._goal(int(robot), self._home_or_here(int(robot)))

    def _chains_within_share(self, pending: list[str], holder_of: dict[str | None, int]) -> list[str]:
        """`pending` (in urgency order) without the tasks that would start a part's ride on a robot
        beyond `CHAIN_SHARE` of the working fleet (a robot about to be offered its task again counts
        as free)."""
        starts = [t for t in pending if self.tasks[t].holds]
        if not starts:
            return pending
        working = int(np.count_nonzero(self.state != _BROKEN))
        riding = len(self.chain_robots) - sum(1 for t in holder_of if t is not None and self.tasks[t].holds)
        room = int(CHAIN_SHARE * working) - riding
        if room >= len(starts):
            return pending
        late = set(starts[max(room, 0):])
        return [t for t in pending if t not in late]

    def _most_urgent(self, pending: list[str], carries: np.ndarray) -> list[str]:
        """The most urgent tasks (`pending` is in urgency order) worth offering robots that carry
        `carries` kg: for each payload class of those robots, up to one task per robot among those the
        class can carry; tasks none of them can carry wait."""
        n = len(carries)
        classes = np.unique(carries)
        if len(classes) == 1:
            limit = float(classes[0])
            fits = [t for t in pending if self.tasks[t].payload_kg <= limit]
            return fits[:n]  # the most urgent first when robots are short
        taken = np.zeros(len(classes), dtype=np.int64)
        kept = []
        for task_id in pending:
            able = classes >= self.tasks[task_id].payload_kg
            if (able & (taken < n)).any():
                kept.append(task_id)
                taken += able
            elif (taken >= n).all():
                break
        return kept

    def _hold(self, robot: int, task_id: str) -> None:
        """The robot stays with the part it brought (its `task_of` too: it is busy), until the task that
        follows is posted, or goes on at once if it already was."""
        self.state[robot] = _HELD
        follower = self._followers.pop(task_id, None)
        if follower is None:
            self.held_by[task_id] = robot
        elif self._reaches(robot, self.tasks[follower]):
            self._pin(robot, self.tasks[follower])
        else:  # walled in by a broken robot: the part goes on with any other
            self._free(robot)
            self.open.add(follower)

    def _pushed_off_chargers(self, nxt: np.ndarray) -> None:
        """PIBT may push a charging robot off its charger to let another pass. The plant ends the charge
        when the AGV leaves, so the robot is on its way to its charger again and starts a new charge on
        arrival; left CHARGING it would hold the charger for ever without charging."""
        charging = np.flatnonzero(self.state == _CHARGING)
        if charging.size:
            off = charging[nxt[charging] != self.chargers[self.charger_of[charging]]]
            self.state[off] = RobotState.TO_CHARGER

    def _arrivals(self, nxt: np.ndarray, now: int) -> None:
        state = self.state
        arrived = np.flatnonzero(
            (nxt == self.planner.goals) & (state >= _TO_PICKUP) & (state <= _TO_CHARGER) & (self._want < 0)
        )
        for robot in arrived.tolist():
            state_now = state[robot]
            if state_now == _TO_PICKUP:
                task = self.tasks[self.task_of[robot]]  # type: ignore[index]
                state[robot] = _TO_DROPOFF
                self._goal(robot, task.dropoff)
            elif state_now == _TO_DROPOFF:
                task_id = self.task_of[robot]
                assert task_id is not None
                task = self.tasks.pop(task_id)
                late = now > task.deadline
                self.deliveries.append(Delivery(task_id, robot, now, late))
                self.delivered += 1
                self.delivered_late += late
                self.robot_of.pop(task_id, None)
                self._pinned.discard(task_id)
                if task.holds and task_id not in self._released:
                    self._hold(robot, task_id)
                else:
                    self._released.discard(task_id)
                    self._free(robot)
            else:
                state[robot] = _CHARGING
        charging = state == _CHARGING
        if charging.any():
            charge_batteries(
                self.soc_kwh, charging, nxt, self.chargers, self.charger_of,
                self.charge_kwh_per_step, self.charger_kwh_per_step, self.battery_kwh,
            )
