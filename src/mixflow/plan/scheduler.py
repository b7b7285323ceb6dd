"""The cloud scheduler: consumes a factory's events, keeps the plan, issues commands, re-plans.

It sees the factory only through the port (`mixflow.model.port.Factory`). On each order it promises
a line slot (capable-to-promise) and releases the part jobs to the feeder shops; a pull dispatcher
starts the most urgent operation on every free machine (a breakdown simply sends the group's queue to
the other machines, and orders whose promise the fault endangers are flagged at once); trucks whose
parts are all built are released to the line in slot order (a late truck yields its place: the
rolling re-sequence), each with one material task per part; the fleet manager assigns tasks to AGVs,
routes them collision-free step by step, sends low batteries to chargers and hands a failed AGV's
task to another; a part the factory has not reported at its station by its deadline raises the
material andon (`overdue`, KPI `material_overdue`) and flags its order at risk. Decisions are
persisted through `PlanStore` as they are made.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mixflow.errors import MixflowError, StoreUnavailableError, ValidationError
from mixflow.fleet.manager import RobotState
from mixflow.fleet.planner import PlannerOptions
from mixflow.fleet.plant import access_cells, fleet_for_plant
from mixflow.fleet.tasks import FleetTask
from mixflow.model import DAY_S, AssemblyLine, Catalogue, Order, OrderStatus, Plant
from mixflow.model.port import (
    NOT_AVAILABLE,
    WHOLE_UNIT,
    AgvBatteryLow,
    AgvDown,
    AgvStates,
    AgvUp,
    AssignTask,
    Charge,
    Command,
    DeliveryConfirmed,
    Event,
    Factory,
    GoodsReceived,
    HorizonFrozen,
    LineStopped,
    MachineDown,
    MachineUp,
    MoveAgvs,
    OperationDone,
    OperationStarted,
    OrderExpedited,
    OrderPlaced,
    PartDelivered,
    PostTask,
    ReleaseToLine,
    ReplanRequested,
    StartOperation,
    StockOut,
    StopOperation,
    TruckDelivered,
    TruckOffLine,
)
from mixflow.model.work import MaterialTask
from mixflow.plan.fleet_reports import FleetReports, Notice
from mixflow.plan.kpis import KpiBook
from mixflow.plan.line_spacing import LineSpacing
from mixflow.plan.material import LineFeeding
from mixflow.plan.material_flow import MaterialFlow
from mixflow.plan.material_watch import MaterialOverdue, MaterialWatch
from mixflow.plan.shop_plan import ShopPlan, plan_shops
from mixflow.plan.shops import PlannedOp, ShopDispatch
from mixflow.plan.state import PlanStore, SavedPlan
from mixflow.promise import MaterialLedger, Promise, Promiser, PromiseRules
from mixflow.sequence import solve as solve_sequence
from mixflow.sequence.plant import build_instance

_log = logging.getLogger(__name__)
_TO_PICKUP, _TO_CHARGER = int(RobotState.TO_PICKUP), int(RobotState.TO_CHARGER)
_CHARGING = int(RobotState.CHARGING)
STORE_WARN_S = 60
"""While the plan store refuses writes, how often the log says so."""
LINE_SEQUENCE_KEPT = 1000
"""Trucks of the line's sequence a scheduler that forgets delivered orders keeps (the views show 200)."""
NOTICES_KEPT = 100
"""The scheduler's latest notices about itself (store refusing writes, fleet waiting) not yet shown."""
OVERDUE_KEPT = 1000
"""Latest overdue parts the scheduler keeps for the plant's alarm list (the KPIs count all)."""
KG_PER_PIECE = 50.0
"""What one piece of a part weighs on an AGV (a material task carries the part's quantity of them)."""
MOVABLE = (OrderStatus.PLACED, OrderStatus.PROMISED, OrderStatus.SEQUENCED, OrderStatus.PARTS_BUILT)
"""Orders not yet released to their line: their slot may still move (a rush order, a re-prioritised one)."""


@dataclass(frozen=True)
class PushedOut:
    """An order a rush order pushed to a later line slot, and whether its promise still holds."""

    order_id: str
    slot: int
    slot_s: int
    was_slot_s: int
    at_risk: bool


@dataclass(frozen=True)
class Expedited:
    """What re-prioritising `order_id` did: its slot before and after, and the orders it pushed out."""

    order_id: str
    priority: int
    was_slot: int
    slot: int
    slot_s: int
    pushed: tuple[PushedOut, ...]


@dataclass(frozen=True)
class PlanOptions:
    """How the scheduler works: `dispatch` "slot" starts the operation of the truck with the earliest
    line slot first (the pull rule), "fifo" the one that became ready first (the plain baseline); the
    idle poll, the line queue and the store's flush period (0: before every batch of commands) pace
    the loop; a released truck gets up to `max_spacing` empty pitches before it where a station's
    worker would overrun (0: none). Every `replan_every_s` the feeder shops' open operations of the
    orders due within `shop_horizon_s` are scheduled with `mixflow.schedule.solve` (method
    `shop_solver`, "none" for the pull rule alone, within `shop_time_limit_s`), and a breakdown
    repairs that plan outside a frozen window of `frozen_s`. With `forget_after_s`, orders delivered
    longer ago than that leave the scheduler's memory (and its KPIs): a service that runs for years keeps
    a window, a simulation (None) all of its run."""

    dispatch: str = "slot"
    resequence: bool = True
    idle_poll_s: int = 60
    line_queue: int = 2
    max_spacing: int = 2
    flush_every_s: int = 600
    promise_rules: PromiseRules = field(default_factory=PromiseRules)
    shop_solver: str = "dispatch"
    shop_time_limit_s: float = 1.5
    replan_every_s: int = 4 * 3600
    shop_horizon_s: int = 2 * DAY_S
    frozen_s: int = 0
    forget_after_s: int | None = None

    def __post_init__(self) -> None:
        if self.shop_solver not in ("dispatch", "auto", "none"):
            raise ValidationError(
                "plan options.shop_solver", f"must be dispatch, auto or none, got {self.shop_solver!r}"
            )
        if self.shop_time_limit_s <= 0 or self.replan_every_s < 1 or self.shop_horizon_s < 1:
            raise ValidationError(
                "plan options", "shop_time_limit_s, replan_every_s and shop_horizon_s must be > 0"
            )
        if self.frozen_s < 0:
            raise ValidationError("plan options.frozen_s", f"must be >= 0, got {self.frozen_s}")
        if self.forget_after_s is not None and self.forget_after_s < DAY_S:
            raise ValidationError(
                "plan options.forget_after_s", f"must be a day or more, got {self.forget_after_s}"
            )
        if self.idle_poll_s < 1 or self.flush_every_s < 0:
            raise ValidationError("plan options", "idle_poll_s must be >= 1 and flush_every_s >= 0")
        if self.line_queue < 1:
            raise ValidationError("plan options.line_queue", "must be >= 1")
        if self.max_spacing < 0:
            raise ValidationError("plan options.max_spacing", f"must be >= 0, got {self.max_spacing}")
        if self.dispatch not in ("slot", "fifo"):
            raise ValidationError("plan options.dispatch", f"must be slot or fifo, got {self.dispatch!r}")


class Scheduler:
    """Plans one plant; `run(factory, until_s)` drives any factory behind the port."""

    def __init__(
        self,
        plant: Plant,
        catalogue: Catalogue,
        store: PlanStore | None = None,
        options: PlanOptions | None = None,
        seed: int = 0,
    ) -> None:
        self.plant = plant
        self.catalogue = catalogue
        self.store = store
        self.options = options or PlanOptions()
        self.ledger = MaterialLedger.for_plant(plant, catalogue)
        self.promiser = Promiser(plant, catalogue, self.options.promise_rules, ledger=self.ledger)
        self.shops = ShopDispatch(plant)
        self._calendar_of = {g.id: g.calendar for g in plant.machine_groups}
        self.feeding = LineFeeding(plant, catalogue)
        self.kpis = KpiBook()
        self.orders: dict[str, Order] = {}
        self.promises: dict[str, Promise] = {}
        self._chains: dict[tuple[str, str], list[PlannedOp]] = {}
        self._next_op: dict[tuple[str, str], int] = {}
        self._parts_left: dict[str, set[str]] = {}
        self._bought_ready: list[tuple[int, str, str]] = []
        self._lines = {line.id: line for line in plant.lines}
        # per line: built trucks waiting (slot, order), the re-sequenced release order, the trucks
        # released and not yet off the line, and each station's carried-over lateness
        self._ready_to_release: dict[str, list[tuple[int, str]]] = {line.id: [] for line in plant.lines}
        self._release_plan: dict[str, deque[str]] = {line.id: deque() for line in plant.lines}
        self._open_on: dict[str, int] = dict.fromkeys(self._lines, 0)
        self.spacing = {line.id: LineSpacing(line, self.options.max_spacing) for line in plant.lines}
        self._op_order: dict[str, PlannedOp] = {}
        self._started: dict[str, tuple[str, int]] = {}
        self._commands: list[Command] = []
        self._last_flush = 0
        self._last_step_s = -1
        self.line_sequence: list[str] = []  # every line's releases, in release order
        self.line_sequences: dict[str, list[str]] = {line.id: [] for line in plant.lines}
        self.line_stopped_s: dict[str, int] = {}  # when each line last reported a stop
        self.material_watch = MaterialWatch()
        self.overdue: deque[MaterialOverdue] = deque(maxlen=OVERDUE_KEPT)
        self.notices: deque[Notice] = deque(maxlen=NOTICES_KEPT)
        self._delivered: deque[tuple[int, str]] = deque()  # (when, order), oldest first, to forget
        access = access_cells(plant)
        textbook = PlannerOptions(flow_weight=0.0, lane_cost=0)  # plain PIBT, as before
        self.fleet = fleet_for_plant(plant, textbook, seed=seed, access=access)
        _check_payloads(plant, catalogue)
        self.grid = self.fleet.grid
        self.flow: MaterialFlow | None = None
        if self.ledger is not None:
            carry = self.fleet.max_payload_kg
            self.flow = MaterialFlow(plant, self.ledger, access, self.feeding.pickup_of, carry)
        self._last_at: dict[tuple[str, str], tuple[str, str]] = {}  # a part's last (machine, operation)
        self.agv_ids = plant.fleet.agv_ids
        self._agv_index = {a: i for i, a in enumerate(self.agv_ids)}
        self._told_task: list[str | None] = [None] * len(self.agv_ids)
        self._told_charging = np.zeros(len(self.agv_ids), dtype=np.bool_)
        self._step_once = False
        self._stepped = False
        self._parked_down = np.zeros(len(self.agv_ids), dtype=np.bool_)
        self._seed = seed
        self.shop_plan: ShopPlan | None = None
        self._next_replan = 0
        self._down_since: dict[str, int] = {}
        self._mttr_of = {m.id: g.mttr_s for g in plant.machine_groups for m in g.machines}
        self.held: dict[str, MachineDown] = {}  # machines a planner took down, until a planner's up
        self.down_state: dict[str, str] = {}  # a down machine's MachineryItemState (OutOfService...)
        self._sent: dict[str, StartOperation] = {}  # the last start each machine was sent
        self._stopped: dict[str, StartOperation] = {}  # stopped by a planner's down: sent again on up
        self.expedited: deque[Expedited] = deque(maxlen=NOTICES_KEPT)  # latest rush moves, newest last
        self.reports = FleetReports(self.fleet, self.agv_ids, self.notices.append, self._repost)
        self._store_warn_s = 0
        self._store_down = False

    def resume(self, saved: SavedPlan) -> None:
        """Take up a plan read back from the store after a restart, where the plant has it now: every
        order keeps its promise and slot; a part job continues after its last finished operation, and
        one sent to a machine and not reported done stays on that machine; built trucks wait for the
        line; the trucks on the line fill its queue again and their parts not yet delivered are called
        again (the same task ids, so the plant takes them as repeats); a truck off the line gets its
        test. The AGVs stay put until they have all reported where they stand and what they carry
        (`_on_agv_states`)."""
        on_line: list[tuple[int, str]] = []
        for order_id, order in sorted(saved.orders.items(), key=lambda item: (item[1].placed_s, item[0])):
            self.orders[order_id] = order
            self.kpis.placed_s[order_id] = order.placed_s
            for status, kept in ((OrderStatus.OFF_LINE, self.kpis.off_line_s),
                                 (OrderStatus.DELIVERED, self.kpis.delivered_s)):
                at = order.reached(status)
                if at is not None:
                    kept[order_id] = at
            promise = saved.promises.get(order_id)
            if promise is None:
                continue
            self.promises[order_id] = promise
            self.promiser.restore(promise)
            self.kpis.promised_s[order_id] = promise.promised_s
            status = order.status
            if status in (OrderStatus.TESTED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
                continue
            if status is OrderStatus.OFF_LINE:
                self._queue_or_run(self._test_op(order_id), saved.running_operations)
            elif status is OrderStatus.ON_LINE:
                on_line.append((order.history[-1].at_s, order_id))
            elif status is OrderStatus.PARTS_BUILT:
                heapq.heappush(self._ready_to_release[self._line_of(order_id).id], (promise.slot, order_id))
            else:
                self._plan_parts(order, saved.done_operations, saved.running_operations)
        self.kpis.at_risk |= saved.at_risk
        if self.options.forget_after_s is not None:
            self._delivered.extend(sorted((at, o) for o, at in self.kpis.delivered_s.items()))
        for at_s, order_id in sorted(on_line):
            self._sequenced(order_id)
            self._open_on[self._line_of(order_id).id] += 1
            self._commands += self._call_again(order_id, at_s, saved)
        self.reports.wait_for_all(saved.agv_cells)
        if self.flow is not None:
            self._resume_material(saved)

    def _resume_material(self, saved: SavedPlan) -> None:
        """After a restart: each part lies at the machine of its last finished operation, and the loads
        an operation sent to a machine waits for are called again (the same task ids: the machine waits
        for those). Purchase orders raised before may still be on their way, so the new ones are named
        apart. The ledger starts again from the plant file's stock (what the racks hold is the plant's:
        see the design notes)."""
        assert self.flow is not None and self.ledger is not None
        self.ledger.po_prefix = f"PO-{uuid.uuid4().hex[:8]}"
        for key, chain in self._chains.items():
            k = self._next_op[key]
            if 0 < k <= len(chain) and chain[k - 1].id in saved.machine_of:
                self._last_at[key] = (saved.machine_of[chain[k - 1].id], chain[k - 1].id)
            if k < len(chain) and chain[k].id in saved.running_operations:
                machine, sent_s = saved.running_operations[chain[k].id]
                came = self._last_at.get(key)
                _, ready = self.flow.for_operation(chain[k], machine, came, sent_s, resumed=True)
                self._commands += [self._post_flow(task, sent_s) for task in ready]
        self._told_task = ["?"] * len(self.agv_ids)  # unknown: the first fleet step tells every AGV

    def _queue_or_run(self, op: PlannedOp, running: dict[str, tuple[str, int]]) -> None:
        """Queue `op`, or, if it was sent to a machine and not reported done, keep it on that machine."""
        machine, started_s = running.get(op.id, ("", 0))
        if machine in self.shops.group_of:
            self.shops.resume_running(machine, op)
            self._started[machine] = (op.id, started_s)
        else:
            self.shops.add(op, self._priority(op.order_id))

    def _call_again(self, order_id: str, on_line_s: int, saved: SavedPlan) -> list[Command]:
        """The material tasks of a truck on the line whose parts have not been delivered, posted again
        with the deadlines they had (computed as at release if the store never saw the task)."""
        bom = self.catalogue.bill_of_materials(self.orders[order_id].configuration)
        commands: list[Command] = []
        for part, qty in sorted(bom.items()):
            task_id = f"{order_id}/{part}"
            if task_id in saved.delivered_tasks:
                continue
            line = self._line_of(order_id)
            station = self.feeding.station(line, part)
            deadline = saved.open_tasks.get(task_id, on_line_s + (1 + station) * line.takt_s)
            stored = task_id in saved.open_tasks
            commands.append(self._post_task(order_id, part, qty, on_line_s, deadline, stored))
        return commands

    # -- the loop ------------------------------------------------------------------------------------
    def run(self, factory: Factory, until_s: int, on_progress: Callable[[int], bool] | None = None) -> None:
        """Drive `factory` to `until_s`; `on_progress(now_s)` is called about once a simulated minute and
        may return False to stop early (the state so far is kept and flushed)."""
        last_report = -1
        while factory.now_s < until_s:
            self.cycle(factory, until_s)
            now = factory.now_s
            if on_progress is not None and now // 60 != last_report:
                last_report = now // 60
                if on_progress(now) is False:
                    break
        self.flush()

    def cycle(self, factory: Factory, until_s: int) -> None:
        """Decide, submit, let the factory run a little, take in what happened."""
        now = factory.now_s
        began = time.perf_counter()
        commands = self.decide(now)
        if now - self._last_flush >= self.options.flush_every_s:
            # before the commands go out, so a restart never repeats what the plant was told; while the
            # store refuses writes, nothing goes out (the commands wait, in order, for the next cycle)
            if self._flushed(now):
                self._last_flush = now
            else:
                self._hold(commands)
                commands = []
        if commands:
            self.kpis.decided((time.perf_counter() - began) * 1000.0)
            factory.submit(commands)
        moving = self._stepped or self.fleet_busy()
        horizon = now + 1 if moving else min(until_s, now + self.options.idle_poll_s)
        if self._bought_ready:
            horizon = min(horizon, max(now + 1, self._bought_ready[0][0]))
        events = factory.poll(min(horizon, until_s))
        self.consume(events)
        if self.options.flush_every_s == 0:
            self._flushed(factory.now_s)  # what the plant reported is kept before the next look at it

    def _hold(self, commands: list[Command]) -> None:
        """Keep commands the store has not taken for the first flush that succeeds, but not a fleet step:
        sent late it would move the AGVs from where they no longer stand. The fleet model took that step,
        so it waits for every AGV's report and seats them where they are, as after a restart."""
        moves = [c for c in commands if isinstance(c, MoveAgvs)]
        self._commands[:0] = [c for c in commands if not isinstance(c, MoveAgvs)]
        if moves:
            self.reports.wait_for_all(self.fleet.positions.copy())
            self._told_task = ["?"] * len(self.agv_ids)  # told again once seated

    def flush(self) -> None:
        if self.store is not None:
            self.store.flush()

    def _flushed(self, now: int) -> bool:
        """Flush; False (logged, counted in `kpis.store_failures`) while the store refuses writes."""
        try:
            self.flush()
            self._store_down = False
        except StoreUnavailableError as error:
            # moves cannot wait for the store as other commands do (a step sent late is a step from
            # where the AGVs no longer stand): the fleet holds still until the store takes writes again
            self._store_down = True
            self.kpis.store_failures += 1
            if now >= self._store_warn_s:
                self._store_warn_s = now + STORE_WARN_S
                _log.error("%s; commands wait until it takes writes again", error)
                self.notices.append(Notice(now, "plan store", "database", f"{error}; commands wait"[:200]))
            return False
        return True

    def fleet_busy(self) -> bool:
        """Whether the fleet must be stepped: a task waits, an AGV is on an errand or off its goal.

        Idle, broken and charging AGVs cost nothing; a charged AGV asks for one step to be released.
        """
        if self.reports.waiting:
            return False
        f = self.fleet
        if f.open or self._step_once:
            return True
        state = f.state
        if ((state >= _TO_PICKUP) & (state <= _TO_CHARGER)).any():
            return True
        return bool(((f.planner.positions != f.planner.goals) & ~f.planner.broken).any())

    # -- decisions -----------------------------------------------------------------------------------
    def decide(self, now: int) -> list[Command]:
        commands, self._commands = self._commands, []
        while self._bought_ready and self._bought_ready[0][0] <= now:
            _, order_id, part = heapq.heappop(self._bought_ready)
            self._part_ready(order_id, part, now)
        if self.options.shop_solver != "none" and now >= self._next_replan:
            self._replan_shops(now)
        starts = self.shops.dispatch(now)
        if self.flow is not None:
            starts = [self._with_material(start, now, commands) for start in starts]
        for start in starts:
            self._dispatched(start, now)
        commands += starts
        commands += self._release(now)
        for late in self.material_watch.overdue(now):
            self._on_overdue(late)
        if self.flow is not None:
            for short in self.flow.overdue(now):
                self._on_stockout(short.order_id, short.item, now)
            for task in self.flow.late(now):
                if task.id not in self.fleet.tasks:
                    self._repost(task.id)
            commands += self.flow.purchases()
        keep = self.options.forget_after_s
        if keep is not None and self._delivered and self._delivered[0][0] < now - keep:
            self._forget_delivered(now - keep)
        self.reports.tick(now)
        self._stepped = False
        if now > self._last_step_s and not self._store_down and self.fleet_busy():
            commands += self._fleet_step(now)
            self._last_step_s = now
            self._step_once = False
            self._stepped = True
        return commands

    def _dispatched(self, start: StartOperation, now: int) -> None:
        """Keep the start each machine was sent (a planner's stop sends it again) and store it."""
        self._sent[start.machine_id] = start
        if self.store is not None:
            self.store.operation_dispatched(
                start.operation_id, start.order_id, start.part, start.machine_id, now
            )

    def _replan_shops(self, now: int) -> None:
        """Schedule the open feeder operations of the orders due within the horizon with the schedule
        solver; the machines then follow its order. If the solver fails, the pull rule carries on."""
        self._next_replan = now + self.options.replan_every_s
        horizon = now + self.options.shop_horizon_s
        due = sorted(
            (self.promises[o].slot_s, o)
            for o in self._parts_left
            if o in self.promises and (self.promises[o].slot_s <= horizon or self.orders[o].priority > 0)
        )
        chains: dict[tuple[str, str], list[str]] = {}
        first_open: dict[tuple[str, str], int] = {}
        started = self.shops.started
        open_orders = []
        for slot, o in due:
            has_open = False
            for part in self._parts_left[o]:
                chain = self._chains.get((o, part))
                if chain is None:
                    continue
                k = self._next_op[(o, part)]
                if k < len(chain) and chain[k].id in started:
                    k += 1
                chains[(o, part)] = [op.id for op in chain]
                first_open[(o, part)] = k
                has_open = has_open or k < len(chain)
            if has_open:  # an order waiting only for bought parts or running operations has no job
                open_orders.append((self.orders[o], slot))
        if not open_orders:  # nothing to schedule yet: plan as soon as work arrives
            self._next_replan = now
            return
        closed: dict[str, int] = {}
        for machine, op in self.shops.busy.items():
            began = self._started.get(machine, (op.id, now))[1]
            closed[machine] = max(now + 1, began + op.duration_s)
        for machine in self.shops.down:
            closed[machine] = max(now + 1, self._down_since.get(machine, now) + self._repair_s(machine))
        clock = time.perf_counter()
        try:
            plan = plan_shops(
                self.plant, self.catalogue, open_orders, chains,
                first_open, closed, now, self.options.shop_solver, self.options.shop_time_limit_s, self._seed,
            )
        except MixflowError as error:
            self.kpis.shop_plan_fallbacks += 1
            _log.warning("shop plan at %d s failed (%s); the pull rule dispatches alone", now, error)
            self.shop_plan = None
            self.shops.replace_plan({})
            return
        self.kpis.shop_plan_ms.append((time.perf_counter() - clock) * 1000.0)
        self.shop_plan = plan
        self.shops.replace_plan(plan.by_machine if plan is not None else {})

    @property
    def released_open(self) -> int:
        """Trucks released to any line and not yet off it."""
        return sum(self._open_on.values())

    def _sequenced(self, order_id: str) -> None:
        """`order_id` goes on its line: it joins the plant's and its line's sequence."""
        self.line_sequence.append(order_id)
        self.line_sequences[self._line_of(order_id).id].append(order_id)

    def _release(self, now: int) -> list[Command]:
        """Release built trucks to each line in the shift's sequence, keeping a short queue before it."""
        commands: list[Command] = []
        for line in self.plant.lines:
            cap = len(line.stations) + self.options.line_queue
            plan, ready = self._release_plan[line.id], self._ready_to_release[line.id]
            while self._open_on[line.id] < cap:
                if not plan:
                    if not ready:
                        break
                    self._resequence(line, now)
                order_id = plan.popleft()
                slot = self.promises[order_id].slot
                self._open_on[line.id] += 1
                self._sequenced(order_id)
                where = f"line {line.id} slot {slot}" if len(self._lines) > 1 else f"slot {slot}"
                self._advance(order_id, OrderStatus.ON_LINE, now, f"released in {where}")
                work = line.station_work(self.catalogue.line_work(self.orders[order_id].configuration))
                commands.append(ReleaseToLine(order_id, slot, self.spacing[line.id].release(work), line.id))
                commands += self._post_tasks(order_id, now)
        return commands

    def _resequence(self, line: AssemblyLine, now: int) -> None:
        """The rolling re-sequence of `line`: the built trucks waiting for it, put in an order that keeps
        the stations' p/q ratio rules and paint batches (`mixflow.sequence`), rush orders first; earliest
        slot first when the sequencer is off or cannot take the instance."""
        ready = self._ready_to_release[line.id]
        waiting = [heapq.heappop(ready)[1] for _ in range(len(ready))]
        day_start = now // DAY_S * DAY_S
        first = line.calendar.working_between(day_start, now) // line.takt_s
        per_day = int(line.calendar.working_s_per_day // line.takt_s)
        if first >= per_day:
            day_start, first = day_start + DAY_S, 0
        room = per_day - first
        batch, rest = waiting[:room], waiting[room:]
        order = batch
        if self.options.resequence and len(batch) > 2:
            orders = [self.orders[o] for o in batch]
            tail = [self.orders[o] for o in self.line_sequences[line.id][-10:] if o in self.orders]
            try:
                data = build_instance(
                    self.plant,
                    self.catalogue,
                    orders,
                    day_start,
                    tail=tail,
                    first_slot=first,
                    rush=[o for o in orders if o.priority > 0],
                    line=line,
                )
                result = solve_sequence(data, time_limit_s=60.0, seed=0, max_iterations=200 * len(batch))
                order = list(result.sequence)
                self.kpis.resequences += 1
            except MixflowError:
                order = batch
        self._release_plan[line.id].extend(order)
        for o in rest:
            heapq.heappush(ready, (self.promises[o].slot, o))

    def _post_tasks(self, order_id: str, now: int) -> list[Command]:
        line = self._line_of(order_id)
        # the unit enters the line after the released units still queued before it (those on the
        # line's stations do not delay it), then moves a station per takt
        ahead = max(self._open_on[line.id] - 1 - len(line.stations), 0)
        bom = self.catalogue.bill_of_materials(self.orders[order_id].configuration)
        takts = {part: ahead + 1 + self.feeding.station(line, part) for part in bom}
        return [
            self._post_task(order_id, part, qty, now, now + takts[part] * line.takt_s)
            for part, qty in sorted(bom.items())
        ]

    def _post_task(
        self, order_id: str, part: str, qty: int, now: int, deadline: int, stored: bool = False
    ) -> PostTask:
        """One part called to its station: the fleet model and the andon take it, the store keeps it
        (unless `stored` already), and the returned command tells the plant."""
        line = self._line_of(order_id)
        station = self.feeding.station(line, part)
        task = MaterialTask(
            id=f"{order_id}/{part}",
            part=part,
            pickup=self.feeding.pickup_of[part],
            dropoff=self.feeding.drop_cell(line, part),
            release_s=now,
            deadline_s=deadline,
            payload_kg=KG_PER_PIECE * qty,
            order_id=order_id,
            station=str(station),
            line=line.id,
        )
        fleet_task = self._fleet_task(task.id, part, deadline, task.payload_kg)
        if not self.fleet.can_carry(fleet_task):
            self._too_heavy(task, now)
        self.fleet.post(fleet_task)
        where = line.stations[station].id
        if len(self._lines) > 1:  # station ids repeat across lines
            where = f"{line.id}/{where}"
        self.material_watch.post(task.id, order_id, part, where, deadline)
        if self.store is not None and not stored:
            self.store.task_posted(task.id, order_id, part, station, now, deadline)
        return PostTask(task)

    def _repost(self, task_id: str) -> None:
        """Give the fleet model back a material task it let go (an AGV still carries its part)."""
        if self.flow is not None and task_id in self.flow.tasks:
            task = self.flow.tasks[task_id]
            self.fleet.post(FleetTask(task.id, self.grid.cell(*task.pickup), self.grid.cell(*task.dropoff), 0,
                                      task.deadline_s, task.payload_kg, task.rides))
            return
        order_id, _, part = task_id.rpartition("/")
        if order_id not in self.orders or not self.feeding.fits(self._line_of(order_id), part):
            _log.warning("an AGV carries %s, a part of no order of the plan", task_id)
            return
        qty = self.catalogue.bill_of_materials(self.orders[order_id].configuration).get(part, 1)
        self.fleet.post(self._fleet_task(task_id, part, 0, KG_PER_PIECE * qty))

    def _fleet_task(self, task_id: str, part: str, deadline: int, payload_kg: float) -> FleetTask:
        """The fleet model's view of a material task: `payload_kg` from the part's pickup to its drop
        cell (only an AGV whose type carries that much takes it)."""
        order_id = task_id.rpartition("/")[0]
        pickup, dropoff = self.feeding.pickup_of[part], self.feeding.drop_cell(self._line_of(order_id), part)
        return FleetTask(task_id, self.grid.cell(*pickup), self.grid.cell(*dropoff), 0, deadline, payload_kg)

    def _too_heavy(self, task: MaterialTask, now: int) -> None:
        """A part no AGV type of the fleet can carry: it would wait for ever, so the supervisor is told
        at once and the truck's promise is at risk."""
        text = (
            f"{task.id}: {task.payload_kg:g} kg, more than any AGV carries "
            f"({self.fleet.max_payload_kg:g} kg); it waits for a carrier"
        )
        _log.error("part too heavy for the fleet: %s", text)
        self.notices.append(Notice(now, "fleet cannot carry", "fleet", text[:200]))
        self._flag(task.order_id, now, f"no AGV carries {task.part}")

    def _on_overdue(self, late: MaterialOverdue) -> None:
        """A part missed its station: the supervisor is told, the truck's promise is at risk, and if the
        fleet model took the part for delivered (an AGV that missed moves), it is fetched again."""
        if late.task_id not in self.fleet.tasks:
            self._repost(late.task_id)
        self.kpis.material_overdue += 1
        self.overdue.append(late)
        _log.warning("material overdue: %s", late.text())
        self._flag(late.order_id, late.at_s, f"material overdue: {late.part}")

    def _with_material(self, start: StartOperation, now: int, commands: list[Command]) -> StartOperation:
        """An operation waits at its machine for its part from the machine before and its raw material
        from the warehouse: the AGV tasks that bring them go out with it."""
        op = self.shops.busy[start.machine_id]
        came = self._last_at.get((op.order_id, op.part))
        assert self.flow is not None
        waits, ready = self.flow.for_operation(op, start.machine_id, came, now)
        for task in ready:
            commands.append(self._post_flow(task, now))
        self._free_carriers()
        return replace(start, waits_for=waits) if waits else start

    def _post_flow(self, task: MaterialTask, now: int) -> PostTask:
        """A material task that is not a line call (a put-away, work in progress, raw material)."""
        pickup, dropoff = self.grid.cell(*task.pickup), self.grid.cell(*task.dropoff)
        fleet_task = FleetTask(
            task.id, pickup, dropoff, 0, task.deadline_s, task.payload_kg, task.rides, task.same_agv_as
        )
        if not self.fleet.can_carry(fleet_task):
            self._too_heavy(task, now)
        self.fleet.post(fleet_task)
        return PostTask(task)

    def _on_stockout(self, order_id: str, item: str, now: int) -> None:
        """A piece still not on the racks when it is needed: the supervisor hears of it, the order is at
        risk."""
        text = f"{item} out of stock, needed for order {order_id}"
        _log.warning("stock-out: %s", text)
        self.notices.append(Notice(now, "stock-out", "warehouse", text[:200]))
        if order_id in self.orders:
            self._flag(order_id, now, f"stock-out: {item}")

    def _on_goods_received(self, e: GoodsReceived) -> None:
        if self.flow is not None:
            self._commands += [self._post_flow(task, e.at_s) for task in self.flow.received(e)]

    def _on_delivery_confirmed(self, e: DeliveryConfirmed) -> None:
        """A supplier moves a delivery later: the orders counting on it that it now makes late are
        flagged at once, before any line or machine notices."""
        if self.ledger is None or not self.ledger.knows(e.po_id):
            return  # an order raised before a restart: the plan did not count on it
        for hit in self.ledger.confirmed(e.po_id, e.due_s, e.at_s):
            if hit.order_id in self.orders:
                self._flag(hit.order_id, e.at_s, f"supplier late: {hit.item}")

    def _on_stock_out(self, e: StockOut) -> None:
        """The plant found a rack empty that the plan believed full (a miscount, a damaged piece)."""
        self.notices.append(Notice(e.at_s, "stock-out", "warehouse", f"{e.item}: rack empty for {e.task_id}"))

    def _fleet_step(self, now: int) -> list[Command]:
        fleet = self.fleet
        nxt = fleet.step(self._parked_down if self._parked_down.any() else None)
        self.reports.stepped(now, nxt)
        if self.store is not None:
            self.store.fleet_at(now, nxt)
        commands: list[Command] = []
        if fleet.task_of != self._told_task:  # list equality runs in C; changes are rare
            for agv, task_id in enumerate(fleet.task_of):
                if task_id != self._told_task[agv]:
                    self._told_task[agv] = task_id
                    commands.append(AssignTask(self.agv_ids[agv], task_id or ""))
        charging = fleet.state == _CHARGING
        if (charging & ~self._told_charging).any():
            for robot in np.flatnonzero(charging & ~self._told_charging).tolist():
                charger = int(fleet.chargers[fleet.charger_of[robot]])
                commands.append(Charge(self.agv_ids[robot], self.grid.xy(charger)))
        self._told_charging = charging
        w = self.grid.width
        commands.insert(0, MoveAgvs(now, self.agv_ids, nxt % w, nxt // w))
        return commands

    # -- events --------------------------------------------------------------------------------------
    def consume(self, events: Sequence[Event]) -> None:
        for event in events:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)

    def _on_order(self, e: OrderPlaced) -> None:
        order = e.order
        if order.id in self.orders:
            return
        self.promiser.load(self.shops.backlog_per_machine_s())
        promise = self.promiser.promise(order, e.at_s)
        order = order.promised(promise.promised_s, e.at_s).advanced(
            OrderStatus.SEQUENCED, e.at_s, f"line slot {promise.slot}"
        )
        self.orders[order.id] = order
        self.promises[order.id] = promise
        self.kpis.placed_s[order.id] = order.placed_s
        self.kpis.promised_s[order.id] = promise.promised_s
        if self.store is not None:
            self._save_now(order, promise, False, order.placed_s)
        self._plan_parts(order)
        if self.flow is not None:
            self._commands += self.flow.purchases()

    def _plan_parts(
        self,
        order: Order,
        done_ops: dict[str, int] | None = None,
        running_ops: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        chains: dict[str, list[PlannedOp]] = {}
        config = order.configuration
        groups = self.plant.group_index
        for work in self.plant.feeder_operations(config, self.catalogue.attributes(config)):
            keys = []
            for group in work.groups:  # a machine sets up for its own group's setup family
                family = groups[group].setup_family
                keys.append(f"{work.operation}:{config.get(family, '')}" if family else "")
            ops = chains.setdefault(work.part, [])
            ops.append(
                PlannedOp(
                    f"{order.id}/{work.part}/{work.step}",
                    order.id,
                    work.part,
                    work.group,
                    work.work_s,
                    keys[0],
                    False,
                    work.groups,
                    tuple(keys),
                    work.materials,
                    work.on_agv,
                )
            )
        left: set[str] = set()
        for part, ops in chains.items():
            ops[-1] = replace(ops[-1], final=True)
            self._chains[(order.id, part)] = ops
            k = 0
            while done_ops is not None and k < len(ops) and ops[k].id in done_ops:
                k += 1
            self._next_op[(order.id, part)] = k
            if k < len(ops):
                left.add(part)
                self._queue_or_run(ops[k], running_ops or {})
        taken = []
        for part_id, qty in self.catalogue.bill_of_materials(order.configuration).items():
            bought = self.catalogue.part(part_id)
            if not self.plant.makes(part_id):
                left.add(part_id)
                if self.flow is None:
                    ready = order.placed_s + bought.lead_time_s
                    heapq.heappush(self._bought_ready, (ready, order.id, part_id))
                else:
                    # a bought part still not on the racks when its truck's slot comes is a stock-out
                    need = self.promises[order.id].slot_s
                    if self.flow.take(order.id, part_id, qty, need, order.placed_s):
                        taken.append(part_id)
        self._parts_left[order.id] = left
        for part_id in taken:
            self._part_ready(order.id, part_id, order.placed_s)

    def _part_ready(self, order_id: str, part: str, now: int) -> None:
        left = self._parts_left.get(order_id)
        if left is None:
            return
        left.discard(part)
        if not left:
            del self._parts_left[order_id]
            self._advance(order_id, OrderStatus.PARTS_BUILT, now)
            promise = self.promises[order_id]
            heapq.heappush(self._ready_to_release[self._line_of(order_id).id], (promise.slot, order_id))
            if self.promiser.estimate_delivery(promise.slot_s, now, promise.line) > promise.promised_s:
                self._flag(order_id, now, "parts built too late for the promise")

    def _on_started(self, e: OperationStarted) -> None:
        op = self.shops.busy.get(e.machine_id)
        if op is not None:
            self._working(op, True)
        if op is not None and self.store is not None:
            self.store.operation_started(op.id, e.at_s)
        self._started[e.machine_id] = (e.operation_id, e.at_s)

    def _on_done(self, e: OperationDone) -> None:
        op = self.shops.finished(e.machine_id)
        started = self._started.pop(e.machine_id, None)
        self._sent.pop(e.machine_id, None)
        self._stopped.pop(e.machine_id, None)  # it finished before the stop reached it
        if op is None:
            return
        self._working(op, False)
        group = self.shops.group_of[e.machine_id]  # where it ran: any of the op's eligible groups
        if started is not None:
            ran = self._calendar_of[group].working_between(started[1], e.at_s)
            self.kpis.run_s[group] = self.kpis.run_s.get(group, 0) + ran
            self.kpis.ran(group, e.machine_id, op.id, started[1], e.at_s)
        if self.store is not None:
            self.store.operation_done(op.id, e.at_s)
        if op.part == WHOLE_UNIT:
            self._advance(op.order_id, OrderStatus.TESTED, e.at_s)
            return
        key = (op.order_id, op.part)
        k = self._next_op[key] + 1
        self._next_op[key] = k
        chain = self._chains[key]
        if k < len(chain):
            self._last_at[key] = (e.machine_id, op.id)
            self.shops.add(chain[k], self._priority(op.order_id))
        else:  # the part is built: its chain is no longer needed
            del self._chains[key], self._next_op[key]
            self._last_at.pop(key, None)
            self._built_on_agv(op, e.machine_id)
            self._part_ready(op.order_id, op.part, e.at_s)

    def _working(self, op: PlannedOp, working: bool) -> None:
        """A part worked on its AGV: the AGV stands fixed while the work runs."""
        if op.on_agv and self.flow is not None:
            self.fleet.set_working(self.flow.carrier_of(op), working)

    def _built_on_agv(self, op: PlannedOp, machine: str) -> None:
        """A part built on its AGV leaves it at its last station: the AGV is free again."""
        if self.flow is not None and op.on_agv:
            self.flow.built(op, machine)
            self._free_carriers()

    def _free_carriers(self) -> None:
        """AGVs whose part leaves them are free again; those whose dock another part needs park."""
        assert self.flow is not None
        freed, vacate = self.flow.take_freed()
        for leg in freed:
            self.fleet.release(leg)
        for leg in vacate:
            self.fleet.vacate(leg)

    def _repair_s(self, machine: str) -> int:
        """How long `machine` is expected to stay down: what the planner who took it down said, else its
        group's mean time to repair."""
        held = self.held.get(machine)
        return held.expected_s if held is not None and held.expected_s > 0 else self._mttr_of[machine]

    def _on_machine_down(self, e: MachineDown) -> None:
        if e.by:
            self.held[e.machine_id] = e
            if e.machine_id in self.shops.down:  # down already (broken): the planner now holds it
                return
        self.down_state[e.machine_id] = e.state
        if e.state == NOT_AVAILABLE:
            # switched off: nothing is planned on it, but it is no fault (no fault count, no down time,
            # no order flagged for a repair); should it break while off, an OutOfService follows
            self.shops.machine_down(e.machine_id)
            self._repair_plan(e.machine_id, e.at_s)
            return
        self.kpis.faults += 1
        op = self.shops.machine_down(e.machine_id)
        if op is not None:  # its AGV may step aside until the work starts again
            self._working(op, False)
        self._down_since[e.machine_id] = e.at_s
        if e.by and op is not None:
            self._stop(e.machine_id, op, e)
        self._repair_plan(e.machine_id, e.at_s)
        if op is None or op.part == WHOLE_UNIT:
            return
        # the part caught on the machine waits for the repair: is its promise still reachable?
        chain = self._chains[(op.order_id, op.part)]
        left = sum(o.duration_s for o in chain[self._next_op[(op.order_id, op.part)] :])
        ready = e.at_s + self._repair_s(e.machine_id) + int(left * 16 / 24 * 1.5 + left)
        promise = self.promises[op.order_id]
        if self.promiser.estimate_delivery(promise.slot_s, ready, promise.line) > promise.promised_s:
            self._flag(op.order_id, e.at_s, f"machine {e.machine_id} down")

    def _stop(self, machine: str, op: PlannedOp, e: MachineDown) -> None:
        """A planner took down `machine` while it runs `op`: the plant stops it (its work is lost) and
        `op` stays on the machine, to start again from the beginning once a planner brings it up; the
        loads it waited for were used when it started, so the new start waits for none."""
        sent = self._sent.get(machine)
        if sent is None or sent.operation_id != op.id:  # sent before a restart of the scheduler
            key = op.setup_key_on(self.shops.group_of[machine])
            sent = StartOperation(op.id, machine, e.at_s, op.duration_s, key, op.order_id, op.part, op.final)
        started = self._started.pop(machine, None)
        if started is not None and started[0] == op.id:
            sent = replace(sent, waits_for=())
        self._stopped[machine] = sent
        reason = f"taken down by {e.by}: {e.reason}" if e.reason else f"taken down by {e.by}"
        self._commands.append(StopOperation(op.id, machine, reason))

    def _repair_plan(self, machine: str, now: int) -> None:
        """Move only what the down machine was to run (`mixflow.schedule.repair`); the machines whose
        order changed follow the repaired order."""
        plan = self.shop_plan
        if plan is None:
            return
        try:
            moved = plan.machine_down(machine, now, now + self._repair_s(machine), self.options.frozen_s)
        except MixflowError as error:
            self.kpis.shop_plan_fallbacks += 1
            _log.warning("shop plan repair at %d s failed (%s); the pull rule dispatches alone", now, error)
            self.shop_plan = None
            self.shops.replace_plan({})
            return
        self.kpis.repairs += 1
        self.kpis.repaired_ops += len(moved)
        moved_set = set(moved)
        self.shops.follow({m: ops for m, ops in plan.by_machine.items() if moved_set.intersection(ops)})
        if machine in plan.by_machine:
            self.shops.follow({machine: plan.by_machine[machine]})

    def _on_machine_up(self, e: MachineUp) -> None:
        if e.by:
            self.held.pop(e.machine_id, None)
        elif e.machine_id in self.held:  # repaired, but a planner holds it down
            return
        self.down_state.pop(e.machine_id, None)
        self.shops.machine_up(e.machine_id)
        again = self._stopped.pop(e.machine_id, None)
        if again is not None:  # the operation a planner's down stopped starts over
            start = replace(again, not_before_s=e.at_s)
            self._dispatched(start, e.at_s)
            self._commands.append(start)
        since = self._down_since.pop(e.machine_id, None)
        if since is not None:
            group = self.shops.group_of[e.machine_id]
            self.kpis.down_s[group] = self.kpis.down_s.get(group, 0) + e.at_s - since

    def keep_promise(self, order: Order, now: int) -> None:
        """`order`, just planned again (its plant's world started over), is the customer's as the order
        book holds it: the promise they were given and the steps it took, whatever the new plan first
        estimated. Where the new plan cannot meet that promise the order is flagged at risk, as any
        promise the plant can no longer keep."""
        if order.promised_s is None or order.id not in self.promises:
            return
        promise = self.promises[order.id]
        self.orders[order.id] = replace(self.orders[order.id], promised_s=order.promised_s,
                                        history=order.history)
        earliest = min(promise.earliest_delivery_s, order.promised_s)
        self.promises[order.id] = replace(promise, promised_s=order.promised_s, earliest_delivery_s=earliest)
        self.kpis.promised_s[order.id] = order.promised_s
        if promise.earliest_delivery_s > order.promised_s:
            self._flag(order.id, now, "the plan, started again, cannot deliver by the promise kept")

    # -- planner actions -----------------------------------------------------------------------------
    def check_expedite(self, order_id: str) -> None:
        """Refuse (ValidationError) re-prioritising an order the plan does not hold or whose slot is fixed."""
        order = self.orders.get(order_id)
        if order is None or order_id not in self.promises:
            raise ValidationError("order", f"no order {order_id!r} in the plan")
        if order.status not in MOVABLE:
            raise ValidationError(
                f"order {order_id}", f"is {order.status.value}: only an order not yet on its line can move"
            )

    def _on_expedited(self, e: OrderExpedited) -> None:
        """Make an order a rush order (or a normal one again): its queued operations jump the shops'
        queues, and it takes the earliest line slot its parts allow, each order in between moving one
        slot on; the promise of every order pushed out is checked again and flagged if it no longer
        holds."""
        try:
            self.check_expedite(e.order_id)
        except ValidationError as refused:
            _log.warning("expedite at %d s ignored: %s", e.at_s, refused)
            return
        order = replace(self.orders[e.order_id], priority=max(0, e.priority))
        self.orders[e.order_id] = order
        promise = self.promises[e.order_id]
        was = promise.slot
        pushed: list[PushedOut] = []
        if order.priority > 0:
            parts_built = order.status is OrderStatus.PARTS_BUILT
            ready = e.at_s if parts_built else max(e.at_s, promise.parts_ready_s)
            pushed = self._take_earlier_slot(e.order_id, ready, e.at_s)
        self.shops.reprioritise(e.order_id, self._priority(e.order_id))
        promise = self.promises[e.order_id]
        if promise.slot < was:  # re-promised from its new slot (never later than before)
            earliest = self.promiser.delivery_after(promise.slot_s, promise.line)
            promised = max(earliest + self.promiser.rules.safety_s, order.requested_s)
            if promised < (order.promised_s or promised + 1):
                order = replace(order, promised_s=promised).advanced(
                    order.status, e.at_s, f"re-promised for {promised} as a rush order")
                self.orders[e.order_id] = order
                self.kpis.promised_s[e.order_id] = promised
            promise = replace(promise, earliest_delivery_s=earliest, promised_s=order.promised_s or promised)
            self.promises[e.order_id] = promise
        if self.store is not None:
            self.store.save_order(order, promise, e.order_id in self.kpis.at_risk)
        self.expedited.append(Expedited(e.order_id, order.priority, was, promise.slot, promise.slot_s,
                                        tuple(pushed)))

    def _take_earlier_slot(self, order_id: str, ready_s: int, now: int) -> list[PushedOut]:
        """Move `order_id` to the first slot of its line at or after `ready_s`, the movable orders in
        between one slot on each (an order already on the line keeps its slot)."""
        promise = self.promises[order_id]
        book = self.promiser.book_of(promise.line)
        target = book.first_at_or_after(ready_s)
        if target >= promise.slot:
            return []
        book.release(order_id)
        moving, slot, pushed = order_id, target, []
        while True:
            occupant = book.order_at.get(slot)
            fixed = occupant is not None and (
                occupant not in self.promises or self.orders[occupant].status not in MOVABLE
            )
            if fixed:
                slot += 1
                continue
            if occupant is not None:
                book.release(occupant)
            book.take(slot, moving)
            before = self.promises[moving]
            moved = replace(before, slot=slot, slot_s=book.time_of(slot))
            self.promises[moving] = moved
            if moving != order_id:
                late = self.promiser.delivery_after(moved.slot_s, moved.line) > moved.promised_s
                if late:
                    self._flag(moving, now, f"pushed out by rush order {order_id}")
                pushed.append(PushedOut(moving, slot, moved.slot_s, before.slot_s, late))
                if self.store is not None:
                    self.store.save_order(self.orders[moving], moved, moving in self.kpis.at_risk)
            if occupant is None:
                break
            moving, slot = occupant, slot + 1
        ready = self._ready_to_release[promise.line or self.plant.lines[0].id]
        if ready:  # the built trucks waiting keep their heap by slot
            ready[:] = [(self.promises[o].slot, o) for _, o in ready]
            heapq.heapify(ready)
        return pushed

    def _on_frozen(self, e: HorizonFrozen) -> None:
        """Freeze the next `frozen_s` of the shop plan: a repair moves nothing starting inside it."""
        self.options = replace(self.options, frozen_s=max(0, e.frozen_s))

    def _on_replan(self, e: ReplanRequested) -> None:
        """Make the shop plan again at the next decision (over `horizon_s` if given)."""
        if e.horizon_s > 0:
            self.options = replace(self.options, shop_horizon_s=e.horizon_s)
        self._next_replan = e.at_s

    def gantt_window(self, from_s: int, to_s: int) -> list[tuple[str, str, str, int, int, bool]]:
        """Operations in [from_s, to_s): finished ones from the rolling window, then those running now
        (ending now), each as (group, machine, operation, start, end, whether its order is at risk)."""
        at_risk = self.kpis.at_risk
        rows = [
            (g, m, op, s, e, op.split("/", 1)[0] in at_risk)
            for g, m, op, s, e in self.kpis.gantt
            if e > from_s and s < to_s
        ]
        for machine, op in self.shops.busy.items():
            started = self._started.get(machine)
            if started is not None and started[1] < to_s:
                rows.append((self.shops.group_of[machine], machine, op.id, started[1], max(to_s, started[1]),
                             op.order_id in at_risk))
        return rows

    def _on_delivered_part(self, e: PartDelivered) -> None:
        if self.flow is not None and e.task_id in self.flow.tasks:
            for handed in self.flow.delivered(e.task_id, e.at_s):
                if handed.task is not None:
                    self._commands.append(self._post_flow(handed.task, e.at_s))
                else:
                    self._part_ready(handed.order_id, handed.item, e.at_s)
            return
        self.material_watch.delivered(e.task_id)
        if self.store is not None:
            self.store.task_delivered(e.task_id, e.agv_id, e.at_s)

    def _on_line_stopped(self, e: LineStopped) -> None:
        # station ids repeat across lines: a plant of several names the line with the station
        station = f"{e.line}/{e.station_id}" if e.line and len(self._lines) > 1 else e.station_id
        self.kpis.stops.append((e.at_s, station, e.order_id, e.cause))
        line = e.line if e.line in self._lines else self.plant.lines[0].id
        self.line_stopped_s[line] = max(self.line_stopped_s.get(line, e.at_s), e.at_s)

    def _test_op(self, order_id: str) -> PlannedOp:
        """The end-of-line test of `order_id`'s unit on its line's test group."""
        test = self._line_of(order_id).test
        if test is None:
            raise ValidationError(f"line {self._line_of(order_id).id}", "has no end-of-line test")
        return PlannedOp(f"{order_id}/{WHOLE_UNIT}", order_id, WHOLE_UNIT, test.group, test.work_s, "", True)

    def _line_of(self, order_id: str) -> AssemblyLine:
        """The line `order_id` is built on: its promise's ("" the first, as stored before lines were
        named)."""
        return self._lines.get(self.promises[order_id].line) or self.plant.lines[0]

    def _on_off_line(self, e: TruckOffLine) -> None:
        self._open_on[self._line_of(e.order_id).id] -= 1
        self.kpis.off_line_s[e.order_id] = e.at_s
        self._advance(e.order_id, OrderStatus.OFF_LINE, e.at_s)
        self.shops.add(self._test_op(e.order_id), self._priority(e.order_id))

    def _on_truck_delivered(self, e: TruckDelivered) -> None:
        self.kpis.delivered_s[e.order_id] = e.at_s
        if self.ledger is not None:
            self.ledger.release(e.order_id)
        self._advance(e.order_id, OrderStatus.DELIVERED, e.at_s)
        if self.options.forget_after_s is not None:
            self._delivered.append((e.at_s, e.order_id))

    def _forget_delivered(self, before_s: int) -> None:
        """Let the orders delivered before `before_s` go, with their promise, slot and KPIs."""
        while self._delivered and self._delivered[0][0] < before_s:
            _, order_id = self._delivered.popleft()
            self.orders.pop(order_id, None)
            promise = self.promises.pop(order_id, None)
            self.promiser.release(order_id, promise.line if promise is not None else "")
            kpis = self.kpis
            for book in (kpis.placed_s, kpis.promised_s, kpis.off_line_s, kpis.delivered_s):
                book.pop(order_id, None)
            self.kpis.at_risk.discard(order_id)
        for sequence in (self.line_sequence, *self.line_sequences.values()):
            if len(sequence) > 2 * LINE_SEQUENCE_KEPT:
                del sequence[:-LINE_SEQUENCE_KEPT]

    def _on_agv_states(self, e: AgvStates) -> None:
        idx = np.array([self._agv_index[a] for a in e.agv_ids], dtype=np.int64)
        self.fleet.soc_kwh[idx] = e.soc * self.fleet.battery_kwh[idx]
        if not self.reports.waiting and (self.fleet.state[idx] == RobotState.CHARGING).any():
            self._step_once = True
        self.reports.on_states(e, idx)
        self.kpis.agv_resyncs = self.reports.relocated

    def _on_battery_low(self, e: AgvBatteryLow) -> None:
        a = self._agv_index[e.agv_id]
        self.fleet.soc_kwh[a] = min(self.fleet.soc_kwh[a], e.soc * self.fleet.battery_kwh[a])

    def _on_agv_down(self, e: AgvDown) -> None:
        """A parked idle AGV that fails only stays put; one on an errand becomes an obstacle for the
        planner and hands its task to another AGV."""
        self.kpis.faults += 1
        a = self._agv_index[e.agv_id]
        if self.reports.on_down(a):  # the fleet model is not seated yet: remembered for it
            return
        f = self.fleet
        if f.state[a] == RobotState.IDLE and f.positions[a] == f.planner.goals[a]:
            f.state[a] = RobotState.BROKEN
            self._parked_down[a] = True
        else:
            f.set_broken(a, True)

    def _on_agv_up(self, e: AgvUp) -> None:
        a = self._agv_index[e.agv_id]
        if self.reports.on_up(a):
            return
        if self._parked_down[a]:
            self._parked_down[a] = False
            self.fleet.state[a] = RobotState.IDLE
        else:
            self.fleet.set_broken(a, False)

    def _priority(self, order_id: str) -> int:
        """Dispatch rank of an order's operations: its line slot, a rush order a shift ahead of it."""
        if self.options.dispatch != "slot":
            return 0
        rush = self.orders[order_id].priority > 0
        promise = self.promises[order_id]
        return promise.slot - (self.promiser.book_of(promise.line).per_day // 2 if rush else 0)

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _advance(self, order_id: str, status: OrderStatus, at_s: int, note: str = "") -> None:
        order = self.orders[order_id].advanced(status, at_s, note)
        self.orders[order_id] = order
        if self.store is not None:
            self.store.save_order(order, self.promises.get(order_id), order_id in self.kpis.at_risk)

    def _save_now(self, order: Order, promise: Promise | None, at_risk: bool, now: int) -> None:
        """Write the order at once; if the store refuses, it stays queued for the next flush (a web
        order the plan never stored is taken up again from the order book at the next start)."""
        assert self.store is not None
        self.store.save_order(order, promise, at_risk)
        self._flushed(now)

    def _flag(self, order_id: str, at_s: int, why: str) -> None:
        if order_id in self.kpis.at_risk:
            return
        self.kpis.at_risk.add(order_id)
        self.kpis.flagged[order_id] = (at_s, why)
        if self.store is not None:
            self._save_now(self.orders[order_id], self.promises.get(order_id), True, at_s)

    # -- read-only views -----------------------------------------------------------------------------
    def snapshot(self, now_s: int) -> dict[str, object]:
        """The plan for dashboards (plain JSON types); see the package docstring."""
        f = self.fleet
        w = self.grid.width
        summary = self.kpis.summary(self.plant, max(1, now_s // DAY_S + 1), max(1, now_s))
        return {
            "at_s": now_s,
            "agvs": {
                "ids": list(self.agv_ids),
                "x": (f.positions % w).tolist(),
                "y": (f.positions // w).tolist(),
                "state": [RobotState(int(s)).name.lower() for s in f.state],
                "soc": (f.soc_kwh / f.battery_kwh).round(3).tolist(),
            },
            "machines": {
                m: ("down" if m in self.shops.down else "busy" if m in self.shops.busy else "idle")
                for m in self.shops.group_of
            },
            "sequence": self.line_sequence[-200:],
            "sequences": {line: sequence[-200:] for line, sequence in self.line_sequences.items()},
            "upcoming": [
                o for _, o in sorted(w for ready in self._ready_to_release.values() for w in ready)[:50]
            ],
            "gantt": [
                {"group": g, "machine": m, "operation": op, "start_s": s, "end_s": e}
                for g, m, op, s, e in itertools.islice(self.kpis.gantt, max(0, len(self.kpis.gantt) - 500),
                                                       None)
            ],
            "kpis": summary,
        }


def _check_payloads(plant: Plant, catalogue: Catalogue) -> None:
    """Refuse a plan whose catalogue has a part no AGV type of the plant's fleet can ever carry (even
    at its smallest quantity): its material tasks would wait for ever."""
    most = max((t.payload_kg for t in plant.fleet.types), default=0.0)
    least: dict[str, int] = {}
    for line in catalogue.bom:
        least[line.part] = min(least.get(line.part, line.qty), line.qty)
    heavy = sorted(part for part, qty in least.items() if KG_PER_PIECE * qty > most)
    if heavy and plant.fleet.agv_ids:
        kg = {part: KG_PER_PIECE * least[part] for part in heavy}
        raise ValidationError(
            "fleet",
            f"no AGV type carries more than {most:g} kg, but parts "
            + ", ".join(f"{part} ({kg[part]:g} kg)" for part in heavy)
            + " are called to the line heavier than that",
        )


_HANDLERS: dict[type, Callable[[Scheduler, object], None]] = {
    OrderPlaced: Scheduler._on_order,  # type: ignore[dict-item]
    OperationStarted: Scheduler._on_started,  # type: ignore[dict-item]
    OperationDone: Scheduler._on_done,  # type: ignore[dict-item]
    MachineDown: Scheduler._on_machine_down,  # type: ignore[dict-item]
    MachineUp: Scheduler._on_machine_up,  # type: ignore[dict-item]
    PartDelivered: Scheduler._on_delivered_part,  # type: ignore[dict-item]
    LineStopped: Scheduler._on_line_stopped,  # type: ignore[dict-item]
    TruckOffLine: Scheduler._on_off_line,  # type: ignore[dict-item]
    TruckDelivered: Scheduler._on_truck_delivered,  # type: ignore[dict-item]
    AgvStates: Scheduler._on_agv_states,  # type: ignore[dict-item]
    AgvBatteryLow: Scheduler._on_battery_low,  # type: ignore[dict-item]
    AgvDown: Scheduler._on_agv_down,  # type: ignore[dict-item]
    AgvUp: Scheduler._on_agv_up,  # type: ignore[dict-item]
    OrderExpedited: Scheduler._on_expedited,  # type: ignore[dict-item]
    HorizonFrozen: Scheduler._on_frozen,  # type: ignore[dict-item]
    ReplanRequested: Scheduler._on_replan,  # type: ignore[dict-item]
    GoodsReceived: Scheduler._on_goods_received,  # type: ignore[dict-item]
    DeliveryConfirmed: Scheduler._on_delivery_confirmed,  # type: ignore[dict-item]
    StockOut: Scheduler._on_stock_out,  # type: ignore[dict-item]
}
