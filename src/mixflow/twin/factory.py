"""The twin: the reference plant behind the factory port, as an event heap plus AGV arrays.

It never decides: machines run the operations they are told to, AGVs move where they are told to
(after the twin's own collision check), each line (`Twin.lines`, one `LineState` per final-assembly
line, fed by the trucks released to it) indexes at its takt when parts and work allow, and
machines and AGVs break down at random (MTBF/MTTR per group) or in scripted storms. Deterministic for
a seed. `poll` returns as soon as something happened, so the scheduler reacts without latency.
"""

from __future__ import annotations

import functools
import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mixflow.errors import ValidationError
from mixflow.model import Catalogue, Order, Plant
from mixflow.model.materials import unit_costs
from mixflow.model.port import (
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
    GoodsReceived,
    LineStopped,
    MachineDown,
    MachineUp,
    MoveAgvs,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    PartDelivered,
    PostTask,
    PurchaseOrder,
    ReleaseToLine,
    StartOperation,
    StockOut,
    StopOperation,
    TruckDelivered,
    TruckOffLine,
)
from mixflow.model.work import MaterialTask
from mixflow.twin.agvs import CHARGING, DOWN, IDLE, AgvFloor
from mixflow.twin.charging_bay import ChargeSession, ChargingBayState
from mixflow.twin.line import LineState
from mixflow.twin.power import AGV_CHARGING, MACHINES, TRUCK_CHARGING, PowerMeter
from mixflow.twin.scenario import Scenario
from mixflow.twin.stock import TwinStock

# kinds of internal events on the heap
(_ORDER, _OP_DONE, _WAKE, _FAIL, _REPAIR, _LINE, _DELIVER,
 _AGV_FAIL, _AGV_REPAIR, _CHARGED, _RECEIPT, _POWER, _BAY_DONE, _ANNOUNCE) = range(14)
AGV_REPORT_S = 60
"""The fleet controller reports every AGV's cell, charge and load this often, moving or not."""
LINE_RETRY_S = 10


@dataclass
class MachineCounters:
    """Seconds a machine group ran, was set up and was down, and the energy it used."""

    run_s: dict[str, int] = field(default_factory=dict)
    setup_s: dict[str, int] = field(default_factory=dict)
    down_s: dict[str, int] = field(default_factory=dict)
    energy_kwh: float = 0.0


class Twin:
    """A simulated reference plant implementing the `Factory` port."""

    def __init__(
        self, plant: Plant, catalogue: Catalogue, orders: Sequence[Order], scenario: Scenario, seed: int = 0
    ) -> None:
        self.plant = plant
        self.catalogue = catalogue
        self.scenario = scenario
        self._rng = np.random.default_rng(seed)
        self._now = 0
        self._heap: list[tuple[int, int, int, int, int]] = []
        self._seq = 0
        self._pending: list[Event] = []
        self.orders = {o.id: o for o in orders}
        self._order_list = list(orders)
        self._pos_of = {o.id: k for k, o in enumerate(self._order_list)}
        for k, order in enumerate(self._order_list):
            self._push(order.placed_s, _ORDER, k)
        # machines
        self.machines = plant.machines
        self.machine_index = {m.id: k for k, m in enumerate(self.machines)}
        groups = {g.id: g for g in plant.machine_groups}
        self._group = [groups[m.group] for m in self.machines]
        n = len(self.machines)
        self._queue: list[deque[StartOperation]] = [deque() for _ in range(n)]
        self._running: list[StartOperation | None] = [None] * n
        self._finish = np.zeros(n, dtype=np.int64)
        self._left = np.zeros(n, dtype=np.int64)
        self._version = np.zeros(n, dtype=np.int64)
        self._down = np.zeros(n, dtype=np.bool_)
        self._down_since = np.zeros(n, dtype=np.int64)
        self._last_key = [""] * n
        self._starved_since = np.full(n, -1, dtype=np.int64)  # waiting for material since (-1: not)
        self._waiting_on: dict[str, int] = {}  # a material task id -> the machine waiting for its load
        self._run_started = np.zeros(n, dtype=np.int64)
        self._work = np.zeros((n, 2), dtype=np.int64)  # the running operation's work and setup seconds
        self.machine_counters = MachineCounters()
        if scenario.mtbf_factor > 0:
            for k, g in enumerate(self._group):
                if g.mtbf_s > 0:
                    self._push(self._t_fail(g.mtbf_s, 0), _FAIL, k)
        for storm in scenario.storms:
            shop = plant.shop(storm.shop)
            ids = [m.id for g in shop.groups for m in g.machines]
            hit = self._rng.choice(len(ids), size=max(1, round(storm.fraction * len(ids))), replace=False)
            for h in sorted(hit.tolist()):
                self._push(storm.start_s, _FAIL, self.machine_index[ids[h]], storm.duration_s)
        # parts and trucks
        self._ready_s: dict[tuple[str, str], int] = {}
        self.delivered: dict[str, int] = {}
        self.off_line: dict[str, int] = {}
        # lines: their state by id (in the plant's order), the line each released truck is on
        self.lines: dict[str, LineState] = {
            line.id: LineState(line, functools.partial(self._station_work, k))
            for k, line in enumerate(plant.lines)
        }
        self._line_list = list(self.lines.values())
        self._line_at = {line.id: k for k, line in enumerate(plant.lines)}
        self._line_of_order: dict[str, int] = {}
        self._work_cache: dict[tuple[int, str], np.ndarray] = {}
        self._line_version = [0] * len(plant.lines)
        self._line_ticking = [False] * len(plant.lines)
        # energy: every load metered; battery-electric units charged on the bay before handover
        self.power = PowerMeter()
        self._power_changes: list[tuple[str, float]] = []
        self.bay = ChargingBayState(plant.charging) if plant.charging is not None else None
        self._handed_over: set[str] = set()  # past handover time, still charging
        self._bay_queued: set[str] = set()
        self._bay_unit: dict[int, str] = {}  # charger -> the unit on it
        # material
        self.stock = TwinStock(plant, scenario, self._rng, unit_costs(catalogue, plant.materials))
        self._po_list: list[str] = []
        self._po_index: dict[str, int] = {}
        for k, delay in enumerate(scenario.supplier_delays):  # a supplier announces it is late
            self._push(delay.from_s, _ANNOUNCE, k)
        # fleet
        self.agvs = AgvFloor(plant.floor, plant.fleet, plant.agv_docks().values())
        self._busy_since = np.full(len(self.agvs.ids), -1, dtype=np.int64)
        self.agv_busy_s = 0
        self._tasks: dict[str, MaterialTask] = {}
        self._out_told: set[str] = set()
        self._carried: set[str] = set()  # loads other than line calls already brought, by task id
        self._task_of: dict[int, str] = {}
        self._holding: dict[int, str] = {}  # AGVs a part is worked on, by the task that brought it
        self._first_assigned_s: dict[str, int] = {}  # tasks not picked up yet: when an AGV first got one
        self._charge_version = np.zeros(len(self.agvs.ids), dtype=np.int64)
        self._charge_start = np.zeros(len(self.agvs.ids), dtype=np.int64)
        self._charge_kw = self.agvs.charge_kw.copy()  # what each AGV charges at on its charger now
        self._charger_kw = dict(zip(plant.floor.chargers, plant.floor.charger_kw, strict=True))
        self._last_agv_report = -AGV_REPORT_S
        if scenario.agv_mtbf_h > 0:
            for a in range(len(self.agvs.ids)):
                self._push(int(self._rng.exponential(scenario.agv_mtbf_h * 3600)), _AGV_FAIL, a)

    # -- the port ------------------------------------------------------------------------------------
    @property
    def now_s(self) -> int:
        return self._now

    def submit(self, commands: Sequence[Command]) -> None:
        for command in commands:
            if isinstance(command, MoveAgvs):
                self._move(command)
            elif isinstance(command, StartOperation):
                m = self.machine_index[command.machine_id]
                self._queue[m].append(command)
                self._try_start(m, self._now)
            elif isinstance(command, StopOperation):
                self._stop(command, self._now)
            elif isinstance(command, PostTask):
                task = command.task
                if task.id in self._carried:
                    continue  # a load already brought (called again by a scheduler that restarted)
                self._tasks[task.id] = task
                if task.station:
                    station = int(task.station)
                    line = self._line_list[self._task_line(task)]
                    line.called.setdefault((task.order_id, station), set()).add(task.id)
            elif isinstance(command, AssignTask):
                self._assign(self.agvs.index[command.agv_id], command.task_id)
            elif isinstance(command, ReleaseToLine):
                k = self._line_index(command.line)
                self._line_of_order[command.order_id] = k
                line = self._line_list[k]
                line.queue.append(command.order_id)
                if command.spacing:
                    line.spacing[command.order_id] = command.spacing
                self._wake_line(k, self._now)
            elif isinstance(command, Charge):
                self._start_charge(self.agvs.index[command.agv_id], command.charger)
            elif isinstance(command, PurchaseOrder):
                self._purchase(command)

    def poll(self, until_s: int) -> list[Event]:
        out = self._pending
        self._pending = []
        limit = until_s
        if out:
            limit = min(until_s, max(e.at_s for e in out))
        while self._heap and self._heap[0][0] <= limit:
            t = self._heap[0][0]
            while self._heap and self._heap[0][0] == t:
                _, _, kind, a, b = heapq.heappop(self._heap)
                self._now = max(self._now, t)
                self._handle(kind, a, b, t, out)
            if self._pending:
                out.extend(self._pending)
                self._pending = []
            if out:
                limit = t
                break
        self._now = max(self._now, limit)
        if self.stock.modelled:
            self.stock.day_passed(self._now // 86_400)
        if self._now - self._last_agv_report >= AGV_REPORT_S:
            out.append(self.agv_states())
            self._last_agv_report = self._now
        out.sort(key=lambda e: e.at_s)
        return out

    def place_order(self, order: Order) -> None:
        """A customer places `order` (from the web configurator or the live twin's order stream): it arrives
        at `order.placed_s`."""
        if order.id in self.orders:
            return
        self.orders[order.id] = order
        self._order_list.append(order)
        self._pos_of[order.id] = len(self._order_list) - 1
        self._push(max(order.placed_s, self._now), _ORDER, len(self._order_list) - 1)

    # -- read-only views -----------------------------------------------------------------------------
    def agv_states(self) -> AgvStates:
        """Every AGV's cell, charge, load and whether it is down, as the fleet controller reports them
        each minute."""
        a = self.agvs
        load = [""] * len(a.ids)
        for agv, task_id in self._task_of.items():
            if a.loaded[agv] and agv not in self._holding:  # a held part counts as at its machine
                load[agv] = task_id
        down = tuple((a.state == DOWN).tolist())
        return AgvStates(self._now, a.ids, a.x.copy(), a.y.copy(), a.soc.copy(), tuple(load), down)

    def line_index(self, line_id: str) -> int:
        """Index of line `line_id` in the plant ("": the first line)."""
        return self._line_index(line_id)

    def _line_index(self, line_id: str) -> int:
        return self._line_at[line_id] if line_id else 0

    def _task_line(self, task: MaterialTask) -> int:
        """The line a part is called to: the task's, else (a sender that names none) its truck's."""
        return self._line_at[task.line] if task.line else self._line_of_order.get(task.order_id, 0)

    def line_of(self, order_id: str) -> LineState | None:
        """The line the truck of `order_id` was released to (None: not released yet)."""
        k = self._line_of_order.get(order_id)
        return None if k is None else self._line_list[k]

    def snapshot(self) -> dict[str, object]:
        """Plant state for dashboards: AGVs, machine states, trucks on each line (plain JSON types);
        `line` is the first line's, `lines` every line's."""
        a = self.agvs
        states = np.where(self._down, "down", "idle").astype(object)
        for k, op in enumerate(self._running):
            if op is not None and not self._down[k]:
                states[k] = "running"
        lines = [
            {
                "id": spec.id,
                "stations": [s.id for s in spec.stations],
                "trucks": list(line.at),
                "queue": list(line.queue),
                "stopped": line.open_stop is not None,
            }
            for spec, line in zip(self.plant.lines, self._line_list, strict=True)
        ]
        return {
            "at_s": self._now,
            "agvs": {
                "ids": list(a.ids),
                "x": a.x.tolist(),
                "y": a.y.tolist(),
                "soc": a.soc.round(3).tolist(),
                "state": a.state.tolist(),
            },
            "machines": {m.id: str(states[k]) for k, m in enumerate(self.machines)},
            "line": lines[0],
            "lines": lines,
            "collisions": a.counters.collisions,
        }

    # -- internals -----------------------------------------------------------------------------------
    def _push(self, t: int, kind: int, a: int = 0, b: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (int(t), self._seq, kind, a, b))

    def _t_fail(self, mtbf_s: int, after_s: int) -> int:
        return after_s + 1 + int(self._rng.exponential(mtbf_s * self.scenario.mtbf_factor))

    def _station_work(self, line: int, order_id: str) -> np.ndarray:
        work = self._work_cache.get((line, order_id))
        if work is None:
            config = self.orders[order_id].configuration
            work = self.plant.lines[line].station_work(self.catalogue.line_work(config))
            self._work_cache[(line, order_id)] = work
        return work

    def _handle(self, kind: int, a: int, b: int, t: int, out: list[Event]) -> None:
        if kind == _ORDER:
            order = self._order_list[a]
            for part_id, _qty in self.catalogue.bill_of_materials(order.configuration).items():
                part = self.catalogue.part(part_id)
                if not self.plant.makes(part_id):
                    self._ready_s[(order.id, part_id)] = order.placed_s + part.lead_time_s
            bom = set(self.catalogue.bill_of_materials(order.configuration))
            for line in self._line_list:  # the line it goes to is known once it is released
                line.bom[order.id] = bom
            out.append(OrderPlaced(t, order))
        elif kind == _OP_DONE:
            if b == self._version[a]:
                self._finish_op(a, t, out)
        elif kind == _WAKE:
            if b == self._version[a]:
                self._try_start(a, t)
        elif kind == _FAIL:
            self._fail(a, t, b, out)
        elif kind == _REPAIR:
            self._repair(a, t, out)
        elif kind == _LINE:
            if b == self._line_version[a]:
                self._line_tick(a, t, out)
        elif kind == _DELIVER:
            order_id = self._order_list[a].id
            if self.bay is not None and self._charging(order_id):
                self._handed_over.add(order_id)  # delivered once its charge is done
            else:
                self.delivered[order_id] = t
                out.append(TruckDelivered(t, order_id))
        elif kind == _POWER:
            source, kw = self._power_changes[a]
            self._meter(source, kw, t)
        elif kind == _BAY_DONE:
            assert self.bay is not None
            order_id = self._bay_unit[a]
            for session in self.bay.finish(a, t):
                self._charge_truck(session)
            if order_id in self._handed_over:
                self._handed_over.discard(order_id)
                self.delivered[order_id] = t
                out.append(TruckDelivered(t, order_id))
        elif kind == _AGV_FAIL:
            self._agv_fail(a, t, out)
        elif kind == _AGV_REPAIR:
            self.agvs.state[a] = IDLE
            out.append(AgvUp(t, self.agvs.ids[a]))
            if self.scenario.agv_mtbf_h > 0:
                self._push(t + int(self._rng.exponential(self.scenario.agv_mtbf_h * 3600)), _AGV_FAIL, a)
        elif kind == _RECEIPT:
            po = self.stock.received(self._po_list[a], t)
            if po is not None:
                out.append(GoodsReceived(t, po.po_id, po.item, po.qty, po.dock))
        elif kind == _ANNOUNCE:
            delay = self.scenario.supplier_delays[a]
            for po_id, arrives, due in self.stock.announce(delay.item, delay.delay_s, t):
                out.append(DeliveryConfirmed(t, po_id, due))
                self._push(arrives, _RECEIPT, self._po_index[po_id])
        elif kind == _CHARGED and b == self._charge_version[a] and self.agvs.state[a] == CHARGING:
            self._settle_charge(a, t)
            self.agvs.state[a] = IDLE
            s = self.agvs
            out.append(
                AgvStates(
                    t, (s.ids[a],), s.x[a : a + 1].copy(), s.y[a : a + 1].copy(), s.soc[a : a + 1].copy()
                )
            )

    # machines
    def _try_start(self, m: int, t: int) -> None:
        if self._down[m] or self._running[m] is not None or not self._queue[m]:
            return
        cmd = self._queue[m][0]
        group = self._group[m]
        start = max(t, cmd.not_before_s, group.calendar.next_working(max(t, cmd.not_before_s)))
        if start > t:
            self._version[m] += 1
            self._push(start, _WAKE, m, int(self._version[m]))
            return
        if cmd.waits_for:
            if not self.stock.has_all(cmd.waits_for):  # the machine waits for its material
                if self._starved_since[m] < 0:
                    self._starved_since[m] = t
                for task_id in cmd.waits_for:
                    self._waiting_on[task_id] = m
                return
            self.stock.used(cmd.waits_for)
            for task_id in cmd.waits_for:
                self._waiting_on.pop(task_id, None)
        self._unstarve(m, t)
        self._queue[m].popleft()
        setup = (
            group.setup_s if cmd.setup_key and self._last_key[m] and cmd.setup_key != self._last_key[m] else 0
        )
        self._last_key[m] = cmd.setup_key or self._last_key[m]
        self._meter(MACHINES, group.power_kw, t)
        noise = self.scenario.process_noise
        factor = 1.0 + (float(self._rng.uniform(-noise, 2 * noise)) if noise else 0.0)
        work = max(1, round(max(1, cmd.duration_s) * factor)) + setup
        self._running[m] = cmd
        self._run_started[m] = t
        self._work[m] = (work, setup)
        self._left[m] = work
        self._finish[m] = group.calendar.working_end(t, work)
        self._version[m] += 1
        self._push(int(self._finish[m]), _OP_DONE, m, int(self._version[m]))
        c = self.machine_counters
        c.run_s[group.id] = c.run_s.get(group.id, 0) + work - setup
        c.setup_s[group.id] = c.setup_s.get(group.id, 0) + setup
        c.energy_kwh += group.power_kw * work / 3600.0
        self._pending.append(OperationStarted(t, cmd.operation_id, cmd.machine_id))

    def _stop(self, command: StopOperation, t: int) -> None:
        """Stop an operation, running or still queued, as a planner's down does: the work done on it is
        lost (the machine's run time and energy count only what ran) and the machine starts nothing
        else until told to; an operation it does not hold is left be (it finished already)."""
        m = self.machine_index.get(command.machine_id)
        if m is None:
            raise ValidationError("StopOperation", f"no machine {command.machine_id!r} in the twin")
        cmd = self._running[m]
        if cmd is None or cmd.operation_id != command.operation_id:
            queue = self._queue[m]
            waiting = [c for c in queue if c.operation_id == command.operation_id]
            if waiting:
                if cmd is None and waiting[0] is queue[0]:
                    self._version[m] += 1  # a wake for it is void (a running one's end is not)
                    self._unstarve(m, t)
                queue.remove(waiting[0])
                for task_id in waiting[0].waits_for:
                    self._waiting_on.pop(task_id, None)
            return
        group = self._group[m]
        down = bool(self._down[m])
        unrun = int(self._left[m]) if down else group.calendar.working_between(t, int(self._finish[m]))
        if not down:  # a broken machine draws no power already
            self._meter(MACHINES, -group.power_kw, t)
        self._running[m] = None
        self._version[m] += 1  # its end is void
        work, setup = (int(v) for v in self._work[m])
        setup_unrun = max(0, setup - (work - unrun))  # the setup comes first
        c = self.machine_counters
        c.run_s[group.id] = c.run_s.get(group.id, 0) - (unrun - setup_unrun)
        c.setup_s[group.id] = c.setup_s.get(group.id, 0) - setup_unrun
        c.energy_kwh -= group.power_kw * unrun / 3600.0

    def _unstarve(self, m: int, t: int) -> None:
        """The machine no longer waits for material: the time it waited is counted."""
        if self._starved_since[m] >= 0:
            group = self._group[m]
            self.stock.waited(group.id, group.calendar.working_between(int(self._starved_since[m]), t))
            self._starved_since[m] = -1

    def _finish_op(self, m: int, t: int, out: list[Event]) -> None:
        cmd = self._running[m]
        assert cmd is not None
        self._running[m] = None
        self._meter(MACHINES, -self._group[m].power_kw, t)
        out.append(OperationDone(t, cmd.operation_id, cmd.machine_id))
        self.stock.done_ops.add(cmd.operation_id)
        if cmd.final:
            self._ready_s[(cmd.order_id, cmd.part)] = t
            if cmd.part == WHOLE_UNIT:
                self._to_bay(cmd.order_id, t)
                self._push(t + self._handover_s(cmd.order_id), _DELIVER, self._order_pos(cmd.order_id))
        self._try_start(m, t)

    def _meter(self, source: str, kw: float, t: int) -> None:
        """Switch a load on the power meter; a command that reaches the twin late (the scheduler held it
        while its store was down) takes effect now, not in the past."""
        self.power.add(source, kw, max(t, self.power.now_s))

    def _charging(self, order_id: str) -> bool:
        """Whether the unit of `order_id` is still on, or waiting for, a charger of the bay."""
        assert self.bay is not None
        session = self.bay.sessions.get(order_id)
        return (session is None and order_id in self._bay_queued) or (
            session is not None and session.done_s > self._now
        )

    def _to_bay(self, order_id: str, t: int) -> None:
        """A tested battery-electric unit joins the charging bay's queue (its first charge is part of the
        handover: it is delivered when both are done)."""
        if self.bay is None:
            return
        config = self.orders[order_id].configuration
        kwh = self.bay.battery_kwh(self.catalogue.attributes(config))
        if kwh <= 0:
            return
        self._bay_queued.add(order_id)
        for session in self.bay.arrive(order_id, kwh, t):
            self._charge_truck(session)

    def _charge_truck(self, session: ChargeSession) -> None:
        """A unit goes on its charger: its power curve is metered piece by piece, its end is an event."""
        self._bay_queued.discard(session.unit_id)
        self._bay_unit[session.charger] = session.unit_id
        for t, kw in session.power_changes():
            self._power_changes.append((TRUCK_CHARGING, kw))
            self._push(t, _POWER, len(self._power_changes) - 1)
        self._push(session.done_s, _BAY_DONE, session.charger)

    def _handover_s(self, order_id: str) -> int:
        """The yard and customer handover after the test, on the line the unit was built on."""
        test = self.plant.lines[self._line_of_order.get(order_id, 0)].test
        return 0 if test is None else test.handover_s

    def _order_pos(self, order_id: str) -> int:
        return self._pos_of[order_id]

    def _fail(self, m: int, t: int, fixed_repair_s: int, out: list[Event]) -> None:
        group = self._group[m]
        if self._down[m]:
            return
        self._down[m] = True
        self._down_since[m] = t
        if self._running[m] is not None:
            self._left[m] = group.calendar.working_between(t, int(self._finish[m]))
            self._version[m] += 1
            self._meter(MACHINES, -group.power_kw, t)
        repair = fixed_repair_s or max(60, int(self._rng.exponential(group.mttr_s or 1800)))
        self._push(t + repair, _REPAIR, m, 1 if fixed_repair_s else 0)
        out.append(MachineDown(t, self.machines[m].id, "storm" if fixed_repair_s else "breakdown"))

    def _repair(self, m: int, t: int, out: list[Event]) -> None:
        group = self._group[m]
        self._down[m] = False
        c = self.machine_counters
        c.down_s[group.id] = c.down_s.get(group.id, 0) + t - int(self._down_since[m])
        out.append(MachineUp(t, self.machines[m].id))
        if self._running[m] is not None:
            self._meter(MACHINES, group.power_kw, t)
            self._finish[m] = group.calendar.working_end(t, int(self._left[m]))
            self._version[m] += 1
            self._push(int(self._finish[m]), _OP_DONE, m, int(self._version[m]))
        else:
            self._try_start(m, t)
        if self.scenario.mtbf_factor > 0 and group.mtbf_s > 0:
            self._push(self._t_fail(group.mtbf_s, t), _FAIL, m)

    # line
    def _wake_line(self, k: int, t: int) -> None:
        if self._line_ticking[k]:
            return
        self._line_ticking[k] = True
        self._line_version[k] += 1
        spec = self.plant.lines[k]
        when = max(t, self._line_list[k].last_index_s + spec.takt_s)
        self._push(spec.calendar.next_working(when), _LINE, k, self._line_version[k])

    def _line_tick(self, k: int, t: int, out: list[Event]) -> None:
        spec, line = self.plant.lines[k], self._line_list[k]
        cal = spec.calendar
        if not cal.is_working(t):
            self._push(cal.next_working(t), _LINE, k, self._line_version[k])
            return
        blocked = line.blocker(t)
        if blocked is not None:
            station, order, cause = blocked
            sid = spec.stations[station].id
            if line.open_stop is None or line.open_stop[3] != cause:
                line.close_stop(t)
                line.open_stop = (t, sid, order, cause)
                out.append(LineStopped(t, sid, order, cause, spec.id))
            retry = LINE_RETRY_S
            if cause == "overload":
                retry = max(1, int(line.finish_s[station]) - line.drift_s - t)
            self._push(t + retry, _LINE, k, self._line_version[k])
            return
        line.close_stop(t)
        off = line.index(t)
        if off is not None:
            self.off_line[off] = t
            out.append(TruckOffLine(t, off, spec.id))
        if line.empty:
            self._line_ticking[k] = False
            return
        self._push(cal.next_working(t + spec.takt_s), _LINE, k, self._line_version[k])

    # fleet
    def _move(self, command: MoveAgvs) -> None:
        agvs = self.agvs
        idx = agvs.indices(command.agv_ids)
        leaving = idx[
            (agvs.state[idx] == CHARGING) & ((command.x != agvs.x[idx]) | (command.y != agvs.y[idx]))
        ]
        for a in leaving.tolist():
            self._settle_charge(a, command.at_s)
            agvs.state[a] = IDLE
        moved = agvs.move(command.agv_ids, command.x, command.y)
        if len(moved) == 0:
            return
        t = command.at_s + 1
        for a in moved.tolist():
            if a in self._task_of:
                self._handle_agv(a, t)
            if self.agvs.soc[a] < self.agvs.low_soc[a] and not self.agvs.low_reported[a]:
                self.agvs.low_reported[a] = True
                self._pending.append(AgvBatteryLow(t, self.agvs.ids[a], float(self.agvs.soc[a])))

    def _assign(self, a: int, task_id: str) -> None:
        """Give AGV `a` the task (an empty id takes its task away unless it already carries it). An AGV
        holding a part that is worked on carries it on with the task that follows its ride, and leaves
        it at its machine for any other (or none)."""
        held = self._holding.pop(a, None)
        if held is not None:
            task = self._tasks.get(task_id) if task_id else None
            if task is not None and task.same_agv_as == held:
                self._task_of[a] = task_id
                self.stock.picked(task, self._now)
                self._waited(task, self._now)
                self._handle_agv(a, self._now)
                return
            self.agvs.loaded[a] = False
            self._task_of.pop(a, None)
        if self.agvs.loaded[a]:
            return
        if not task_id or task_id in self._carried:
            self._task_of.pop(a, None)
            self._idle(a, self._now)
            return
        self._task_of[a] = task_id
        self._first_assigned_s.setdefault(task_id, self._now)
        if self._busy_since[a] < 0:
            self._busy_since[a] = self._now
        self._handle_agv(a, self._now)

    def _idle(self, a: int, t: int) -> None:
        """AGV `a` has no errand any more: the time since it got one counts as busy."""
        if self._busy_since[a] >= 0:
            self.agv_busy_s += t - int(self._busy_since[a])
            self._busy_since[a] = -1

    def _waited(self, task: MaterialTask, t: int) -> None:
        """Split the wait of a task picked up at `t`: before any AGV was assigned (none free and charged,
        or the load still short on the racks) and after (the drive, traffic and reassignments on the
        way), so a run shows whether tasks waited for the fleet to dispatch or for its AGVs to arrive."""
        assigned = self._first_assigned_s.pop(task.id, t)
        counters = self.agvs.counters
        counters.wait_unassigned_s += max(0, assigned - task.release_s)
        counters.wait_agv_on_its_way_s += t - max(assigned, task.release_s)

    def agv_busy_until_now(self) -> int:
        """AGV-seconds spent on errands (to a pickup, or loaded), the errands still open counted to now."""
        running = self._busy_since[self._busy_since >= 0]
        return self.agv_busy_s + int((self._now - running).sum())

    def _purchase(self, po: PurchaseOrder) -> None:
        """A supplier takes a purchase order: its truck is at the dock when it arrives (late or not); a
        delay the supplier knows of is confirmed at once."""
        if po.po_id in self.stock.in_transit:
            return  # a repeat of an order already placed
        arrives, confirmed = self.stock.arrival(po, self._now)
        if confirmed > po.due_s:
            self._pending.append(DeliveryConfirmed(self._now, po.po_id, confirmed))
        self._po_index[po.po_id] = len(self._po_list)
        self._po_list.append(po.po_id)
        self._push(arrives, _RECEIPT, len(self._po_list) - 1)

    def _handle_agv(self, a: int, t: int) -> None:
        """Pick up or drop off when an AGV with a task stands at the right cell."""
        task = self._tasks[self._task_of[a]]
        cell = self.agvs.at(a)
        agvs = self.agvs
        if not agvs.loaded[a]:
            if cell != task.pickup:
                return
            if task.payload_kg > agvs.payload_kg[a]:  # too heavy for this AGV: it cannot lift it
                agvs.counters.overloads += 1
            elif self.stock.ready(task, self._ready_s.get((task.order_id, task.part)), t):
                agvs.loaded[a] = True
                self.stock.picked(task, t)
                self._waited(task, t)
            elif self.stock.stocked_out(task.id) and task.id not in self._out_told:
                self._out_told.add(task.id)
                self._pending.append(StockOut(t, task.part, task.id))
        elif cell == task.dropoff and a not in self._holding:
            if task.rides:  # the part stays on the AGV while it is worked on: busy, loaded
                self._holding[a] = task.id
            else:
                agvs.loaded[a] = False
                del self._task_of[a]
                self._idle(a, t)
            self.stock.dropped(task)
            if task.kind != "line":
                self._carried.add(task.id)
                self._pending.append(PartDelivered(t, task.id, agvs.ids[a]))
                m = self._waiting_on.get(task.id)
                if m is not None:
                    self._try_start(m, t)
                return
            k = self._task_line(task)
            line = self._line_list[k]
            line.delivered_tasks.add(task.id)
            line.delivered_parts.setdefault(task.order_id, set()).add(task.part)
            self._pending.append(PartDelivered(t, task.id, agvs.ids[a]))
            if self._line_ticking[k] is False and not line.empty:
                self._wake_line(k, t)

    def _agv_fail(self, a: int, t: int, out: list[Event]) -> None:
        agvs = self.agvs
        if agvs.state[a] == CHARGING:
            self._settle_charge(a, t)
        agvs.state[a] = DOWN
        task_id = self._task_of.pop(a, None)
        if agvs.loaded[a] and task_id is not None and self._holding.pop(a, None) is None:
            self.stock.unpicked(self._tasks[task_id])
        agvs.loaded[a] = False
        self._idle(a, t)
        out.append(AgvDown(t, agvs.ids[a]))
        self._push(t + max(60, int(self._rng.exponential(self.scenario.agv_mttr_s or 60))), _AGV_REPAIR, a)

    def _start_charge(self, a: int, charger: tuple[int, int]) -> None:
        agvs = self.agvs
        if agvs.state[a] == DOWN or agvs.at(a) != tuple(charger):
            return
        agvs.state[a] = CHARGING
        self._charge_start[a] = self._now
        self._charge_version[a] += 1
        kw = agvs.charge_power_kw(a, self._charger_kw.get((int(charger[0]), int(charger[1])), 0.0))
        self._charge_kw[a] = kw
        self._meter(AGV_CHARGING, kw, self._now)
        full_s = int(np.ceil((1.0 - agvs.soc[a]) * agvs.battery_kwh[a] / kw * 3600)) + 1
        self._push(self._now + full_s, _CHARGED, a, int(self._charge_version[a]))

    def _settle_charge(self, a: int, t: int) -> None:
        agvs = self.agvs
        battery = float(agvs.battery_kwh[a])
        gained = min(
            1.0 - agvs.soc[a], float(self._charge_kw[a]) * (t - int(self._charge_start[a])) / 3600 / battery
        )
        agvs.soc[a] += gained
        agvs.counters.charge_kwh += gained * battery
        self._meter(AGV_CHARGING, -float(self._charge_kw[a]), t)
        agvs.low_reported[a] = agvs.soc[a] < agvs.low_soc[a]
