"""Sequencing a plant's lines, each on its own: a day's order book becomes a `ProblemData` whose ratio
rules come from station work content against takt, whose colours are the cab colours, and whose due
dates become latest slots; rush orders re-sequence the rest of the day without touching the frozen
first hours. Every function takes the `line` to sequence (default: the plant's first line); its
stations, takt, calendar and batching variable (`AssemblyLine.batch_by`) shape the instance.

Ratio rule of a station: trucks whose work there exceeds takt are "heavy". An operator may drift
`DRIFT_SHARE` of a takt into the next station, so q consecutive trucks with h heavy ones fit when
h * H + (q - h) * L <= q * takt + drift (H, L: mean work of heavy and light trucks there), i.e.
p = floor((q * (takt - L) + drift) / (H - L)). Of q = 2..MAX_Q the smallest whose p/q is within
`RATE_TOLERANCE` of the long-run rate (takt - L) / (H - L) is taken. A rule is high priority when the
day's heavy trucks can all be spread to meet it, low priority when demand exceeds it (overload is
then unavoidable and is only spread out).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
from mixflow.model import DAY_S, AssemblyLine, Catalogue, Order, Plant
from mixflow.sequence.data import ProblemData, RatioRule
from mixflow.sequence.evaluate import evaluate
from mixflow.sequence.local_search import solve
from mixflow.sequence.result import SequenceResult

DRIFT_SHARE = 0.5
"""Share of a takt an operator may work into the next station before the work counts as overload."""
MAX_Q = 10
RATE_TOLERANCE = 0.1
PAINT_BATCH_LIMIT = 10
"""Cabs of one colour in a row before the paint robots must be flushed anyway."""
OFF_LINE_S = 6 * 3600
"""Seconds from a truck's line slot to its hand-over (end of line, test, yard): due dates minus this."""
RUSH_WITHIN_S = 2 * 3600
"""A rush order starts on the line at most this long after the frozen horizon."""
OBJECTIVE_ORDER = ("high", "colour_changes", "low")


@dataclass(frozen=True)
class LineSequence:
    """A day's line order for the reference plant: orders in slot order with slot start times.

    `bumped` lists orders pushed out of the day to make room for rush orders; `overload_s` is the
    station overload of this order (seconds), `fifo_overload_s` that of the order book taken first in,
    first out, for comparison.
    """

    data: ProblemData
    day_start_s: int
    orders: tuple[Order, ...]
    slot_start_s: tuple[int, ...]
    result: SequenceResult
    overload_s: int
    fifo_overload_s: int
    frozen: tuple[Order, ...] = ()
    bumped: tuple[Order, ...] = ()


def _line(plant: Plant, line: AssemblyLine | None) -> AssemblyLine:
    return plant.lines[0] if line is None else line


def station_work(
    plant: Plant, catalogue: Catalogue, orders: Sequence[Order], line: AssemblyLine | None = None
) -> np.ndarray:
    """Seconds of work each order needs at each station of `line`, shape (orders, stations)."""
    line = _line(plant, line)
    return np.array(
        [line.station_work(catalogue.line_work(o.configuration)) for o in orders], dtype=np.int64
    ).reshape(len(orders), len(line.stations))


def station_rules(
    plant: Plant, work: np.ndarray, line: AssemblyLine | None = None
) -> tuple[list[RatioRule], list[int]]:
    """One p/q rule per station where some truck's work exceeds takt, and the station of each rule."""
    line = _line(plant, line)
    takt = line.takt_s
    drift = DRIFT_SHARE * takt
    n = work.shape[0]
    rules: list[RatioRule] = []
    stations: list[int] = []
    seen: set[tuple[bytes, int, int]] = set()
    for station in line.stations:
        load = work[:, station.index]
        heavy = load > takt
        if not heavy.any():
            continue
        high = float(load[heavy].mean())
        base = line.base_work_s * len(station.positions)
        low = float(load[~heavy].mean()) if (~heavy).any() else float(base)
        long_run = min(1.0, max(0.0, (takt - low) / (high - low)))
        p, q = 1, 1
        for size in range(2, MAX_Q + 1):
            fits = math.floor((size * (takt - low) + drift) / (high - low))
            p, q = max(0, min(size, fits)), size
            if p / q <= long_run + RATE_TOLERANCE:
                break
        if p >= q:
            continue  # a drift window absorbs any mix here
        key = (np.packbits(heavy).tobytes(), p, q)
        if key in seen:
            continue
        seen.add(key)
        fits_day = p * (n // q) + min(p, n % q) >= int(heavy.sum())
        rules.append(RatioRule(f"station {station.id}", p, q, "high" if fits_day else "low"))
        stations.append(station.index)
    return rules, stations


def colour_codes(catalogue: Catalogue, orders: Sequence[Order], batch_by: str | None) -> np.ndarray:
    """Each order's value of the line's batching variable (the paint colour) as its index among the
    variable's values; all zero where the line batches by nothing."""
    if batch_by is None:
        return np.zeros(len(orders), dtype=np.int64)
    codes = {value.code: k for k, value in enumerate(catalogue.variable(batch_by).values)}
    return np.array([codes[o.configuration[batch_by]] for o in orders], dtype=np.int64)


def slot_starts(
    plant: Plant, day_start_s: int, first_slot: int, count: int, line: AssemblyLine | None = None
) -> list[int]:
    """Start second of slots first_slot .. first_slot + count - 1 of `line`'s day, along its shifts."""
    line = _line(plant, line)
    takt = line.takt_s
    starts = []
    for slot in range(first_slot, first_slot + count):
        working = slot * takt
        for shift_start, shift_end in line.calendar.shifts:
            if working < shift_end - shift_start:
                starts.append(day_start_s + shift_start + working)
                break
            working -= shift_end - shift_start
        else:
            raise ValidationError("slot", f"slot {slot} lies beyond the day's shifts")
    return starts


def _due_s(order: Order) -> int:
    return order.promised_s if order.promised_s is not None else order.requested_s


def day_order_book(
    plant: Plant, orders: Sequence[Order], day_start_s: int, line: AssemblyLine | None = None
) -> list[Order]:
    """The orders `line` builds on the day starting `day_start_s`: those it can build placed before
    it, rush orders first, then earliest due, up to the line's slots of the day."""
    line = _line(plant, line)
    slots = int(line.units_per_day)
    ready = [o for o in orders if o.placed_s < day_start_s and line.can_build(o.configuration)]
    ready.sort(key=lambda o: (-o.priority, _due_s(o), o.placed_s, o.id))
    return ready[:slots]


def build_instance(
    plant: Plant,
    catalogue: Catalogue,
    orders: Sequence[Order],
    day_start_s: int,
    tail: Sequence[Order] = (),
    first_slot: int = 0,
    rush: Sequence[Order] = (),
    line: AssemblyLine | None = None,
) -> ProblemData:
    """A sequencing instance for `orders` filling the day's slots of `line` from `first_slot`; `tail`
    are the trucks already fixed before them (previous day or frozen hours); `rush` orders (part of
    `orders`) must start within RUSH_WITHIN_S of the first free slot; other due dates give latest
    slots."""
    if not orders:
        raise ValidationError("orders", "a day needs at least one order to sequence")
    line = _line(plant, line)
    everything = list(tail) + list(orders)
    work = station_work(plant, catalogue, everything, line)
    rules, stations = station_rules(plant, work[len(tail) :], line)
    heavy = work[:, stations] > line.takt_s
    colours = colour_codes(catalogue, everything, line.batch_by)
    n = len(orders)
    starts = slot_starts(plant, day_start_s, first_slot, n, line)
    rush_ids = {o.id for o in rush}
    rush_slots = max(1, RUSH_WITHIN_S // line.takt_s)
    latest = np.full(n, n - 1, dtype=np.int64)
    for k, order in enumerate(orders):
        ready_by = _due_s(order) - OFF_LINE_S
        latest[k] = sum(1 for s in starts if s <= ready_by) - 1 if ready_by < starts[-1] else n - 1
        if order.id in rush_ids:
            latest[k] = min(latest[k], rush_slots - 1) if latest[k] >= 0 else rush_slots - 1
    latest = np.maximum(latest, 0)
    binding = bool((latest < n - 1).any())
    return ProblemData(
        vehicle_ids=tuple(o.id for o in orders),
        options=heavy[len(tail) :],
        colours=colours[len(tail) :],
        rules=tuple(rules),
        paint_batch_limit=PAINT_BATCH_LIMIT,
        tail_options=heavy[: len(tail)],
        tail_colours=colours[: len(tail)],
        objective_order=OBJECTIVE_ORDER,
        window_rule="roadef",
        name=f"plant day {day_start_s // DAY_S}" + (f" line {line.id}" if len(plant.lines) > 1 else ""),
        work_s=work[len(tail) :],
        takt_s=line.takt_s,
        station_window_s=np.full(work.shape[1], line.takt_s + int(DRIFT_SHARE * line.takt_s)),
        latest_slot=_feasible_slots(latest) if binding else None,
    )


def _feasible_slots(latest: np.ndarray) -> np.ndarray:
    """Relax latest slots just enough that earliest-due-first meets them all (overbooked due dates
    slip by the fewest slots; the line cannot build two trucks in one slot)."""
    order = np.argsort(latest, kind="stable")
    relaxed = latest.copy()
    for rank, k in enumerate(order):
        relaxed[k] = max(relaxed[k], rank)
    return relaxed


def sequence_day(
    plant: Plant,
    catalogue: Catalogue,
    orders: Sequence[Order],
    day_start_s: int,
    time_limit_s: float = 10.0,
    seed: int = 0,
    max_iterations: int | None = None,
    line: AssemblyLine | None = None,
) -> LineSequence:
    """Sequence the day's order book (see `day_order_book`) for `line` (default: the first)."""
    book = day_order_book(plant, orders, day_start_s, line)
    data = build_instance(plant, catalogue, book, day_start_s, line=line)
    result = solve(data, time_limit_s=time_limit_s, seed=seed, max_iterations=max_iterations)
    return _line_sequence(plant, data, book, result, day_start_s, 0, line=line)


def _line_sequence(
    plant: Plant,
    data: ProblemData,
    book: Sequence[Order],
    result: SequenceResult,
    day_start_s: int,
    first_slot: int,
    frozen: Sequence[Order] = (),
    bumped: Sequence[Order] = (),
    line: AssemblyLine | None = None,
) -> LineSequence:
    fifo = sorted(range(len(book)), key=lambda k: (book[k].placed_s, book[k].id))
    return LineSequence(
        data=data,
        day_start_s=day_start_s,
        orders=tuple(book[v] for v in result.order),
        slot_start_s=tuple(slot_starts(plant, day_start_s, first_slot, len(book), line)),
        result=result,
        overload_s=evaluate(data, result.order).overload_s,
        fifo_overload_s=evaluate(data, fifo).overload_s,
        frozen=tuple(frozen),
        bumped=tuple(bumped),
    )


def resequence(
    plant: Plant,
    catalogue: Catalogue,
    current: LineSequence,
    rush: Sequence[Order],
    now_s: int,
    frozen_s: int = 2 * 3600,
    time_limit_s: float = 0.5,
    seed: int = 0,
    max_iterations: int | None = None,
    line: AssemblyLine | None = None,
) -> LineSequence:
    """Take rush orders into the rest of `line`'s day (default: the first line): slots starting before
    now + frozen_s keep their trucks; the latest-due unfrozen orders make room (bumped to the next day);
    the rush orders must start within RUSH_WITHIN_S of the first free slot; the rest is re-sequenced
    from the current order.
    """
    started = time.perf_counter()
    day_start_s = current.day_start_s
    all_orders = list(current.frozen) + list(current.orders)
    all_starts = slot_starts(plant, day_start_s, 0, len(all_orders), line)
    cut = sum(1 for s in all_starts if s < now_s + frozen_s)
    if cut >= len(all_orders):
        raise ValidationError("resequence", "every slot of the day is frozen; rush orders go to the next day")
    frozen = all_orders[:cut]
    open_orders = all_orders[cut:]
    keep = len(open_orders) - len(rush)
    if keep < 0:
        raise ValidationError(
            "resequence", f"{len(rush)} rush orders exceed the {len(open_orders)} open slots"
        )
    by_due = sorted(range(len(open_orders)), key=lambda k: (_due_s(open_orders[k]), k))
    bumped_idx = set(by_due[keep:]) if keep < len(open_orders) else set()
    kept = [o for k, o in enumerate(open_orders) if k not in bumped_idx]
    bumped = [open_orders[k] for k in sorted(bumped_idx)]
    book = list(rush) + kept
    data = build_instance(
        plant, catalogue, book, day_start_s, tail=frozen, first_slot=cut, rush=rush, line=line
    )
    initial = rush_first(data, len(rush))
    left_s = max(0.01, time_limit_s - (time.perf_counter() - started))
    result = solve(data, time_limit_s=left_s, seed=seed, initial_order=initial, max_iterations=max_iterations)
    return _line_sequence(plant, data, book, result, day_start_s, cut, frozen, bumped, line)


def rush_first(data: ProblemData, rush_count: int) -> list[int]:
    """The current order with the rush orders in front, earliest latest-slot first: meets every slot."""
    n = data.num_vehicles
    latest = data.latest_slot if data.latest_slot is not None else np.full(n, n)
    return sorted(range(n), key=lambda v: (int(latest[v]), v >= rush_count, v))
