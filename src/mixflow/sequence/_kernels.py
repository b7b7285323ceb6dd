"""Numba kernels of the sequencing local search: greedy start, incremental window evaluation, moves.

The line is an int array of vehicle indices: positions 0..t-1 hold the frozen D-1 tail (vehicles
n..n+t-1), positions t..t+n-1 the day-D vehicles. `cnt[r, s]` is the number of vehicles with option r
in the window that starts at position s (length q_r, shortened at the end of the line); only the
windows s in [ws[r], we[r]] count. A move (swap, insertion, reversal of positions i, j) is evaluated by
recounting only the windows it touches, under a position map, before anything is written.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SWAP = 0
INSERTION = 1
REVERSAL = 2


@njit(cache=True)
def _penalty(count: int, p: int, mode: int) -> int:
    """ROADEF (mode 0): the excess over p; CSPLib (mode 1): 1 for a window holding more than p."""
    if count <= p:
        return 0
    return count - p if mode == 0 else 1


@njit(cache=True)
def _rand(state: np.ndarray) -> int:
    """xorshift64*: a small, seedable generator whose state lives in an array across kernel calls."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return np.int64((x * np.uint64(2685821657736338717)) >> np.uint64(33))  # type: ignore[return-value]


@njit(cache=True)
def _vehicle_after(line: np.ndarray, pos: int, kind: int, i: int, j: int) -> int:
    """The vehicle at `pos` once move `kind` on (i, j) is applied (kind -1: the line as it is)."""
    if kind == SWAP:
        if pos == i:
            return line[j]
        if pos == j:
            return line[i]
    elif kind == INSERTION:
        if i < j:
            if i <= pos < j:
                return line[pos + 1]
            if pos == j:
                return line[i]
        else:
            if pos == j:
                return line[i]
            if j < pos <= i:
                return line[pos - 1]
    elif kind == REVERSAL and i <= pos <= j:
        return line[i + j - pos]
    return line[pos]


@njit(cache=True)
def _window_delta(line, opt, cnt, r, p, q, mode, size, a, b, kind, i, j):
    """Penalty change of rule r over window starts [a, b] if the move were applied (sliding recount)."""
    if a > b:
        return 0
    count = 0
    end = min(a + q, size)
    for pos in range(a, end):
        count += opt[_vehicle_after(line, pos, kind, i, j), r]
    delta = _penalty(count, p, mode) - _penalty(cnt[r, a], p, mode)
    for s in range(a + 1, b + 1):
        count -= opt[_vehicle_after(line, s - 1, kind, i, j), r]
        if s + q - 1 < size:
            count += opt[_vehicle_after(line, s + q - 1, kind, i, j), r]
        delta += _penalty(count, p, mode) - _penalty(cnt[r, s], p, mode)
    return delta


@njit(cache=True)
def _shift_delta(cnt, r, p, mode, a, b, gain):
    """Penalty change of rule r over window starts [a, b] if each of their counts moved by `gain`."""
    delta = 0
    for s in range(a, b + 1):
        delta += _penalty(cnt[r, s] + gain, p, mode) - _penalty(cnt[r, s], p, mode)
    return delta


@njit(cache=True)
def _recount(line, opt, cnt, r, q, size, a, b):
    """Rewrite cnt[r, a..b] from the current line."""
    if a > b:
        return
    count = 0
    for pos in range(a, min(a + q, size)):
        count += opt[line[pos], r]
    cnt[r, a] = count
    for s in range(a + 1, b + 1):
        count -= opt[line[s - 1], r]
        if s + q - 1 < size:
            count += opt[line[s + q - 1], r]
        cnt[r, s] = count


@njit(cache=True)
def _colour_changes(line, col, first, a, b, kind, i, j):
    """Colour changes between positions k-1 and k for k in [a, b] (k >= first) after the move."""
    changes = 0
    for k in range(max(a, first), b + 1):
        if col[_vehicle_after(line, k, kind, i, j)] != col[_vehicle_after(line, k - 1, kind, i, j)]:
            changes += 1
    return changes


@njit(cache=True)
def _run_through(line, col, t, size, pos, limit, kind, i, j):
    """Length of the same-colour run through `pos` within day D after the move, capped at limit + 1."""
    colour = col[_vehicle_after(line, pos, kind, i, j)]
    length = 1
    k = pos - 1
    while k >= t and length <= limit and col[_vehicle_after(line, k, kind, i, j)] == colour:
        length += 1
        k -= 1
    k = pos + 1
    while k < size and length <= limit and col[_vehicle_after(line, k, kind, i, j)] == colour:
        length += 1
        k += 1
    return length


@njit(cache=True)
def full_counts(line, opt, q, ws, we):
    """cnt[r, s] for every counted window of every rule (used once at the start)."""
    size = line.shape[0]
    m = q.shape[0]
    cnt = np.zeros((m, size), dtype=np.int32)
    for r in range(m):
        _recount(line, opt, cnt, r, q[r], size, ws[r], we[r])
    return cnt


@njit(cache=True)
def totals_of(line, cnt, col, p, prio, ws, we, mode, t):
    """[high, low, colour_changes] of the line from its window counts."""
    totals = np.zeros(3, dtype=np.int64)
    for r in range(p.shape[0]):
        for s in range(ws[r], we[r] + 1):
            totals[prio[r]] += _penalty(cnt[r, s], p[r], mode)
    first = max(t, 1)
    for k in range(first, line.shape[0]):
        if col[line[k]] != col[line[k - 1]]:
            totals[2] += 1
    return totals


@njit(cache=True)
def _rule_range(r, lo, hi, q, ws, we):
    return max(lo - q[r] + 1, ws[r]), min(hi, we[r])


@njit(cache=True)
def _move_delta(line, opt, col, cnt, p, q, prio, ws, we, mode, t, kind, i, j, out):
    """Fill out[0..2] with the change of [high, low, colour_changes] of move (kind, i, j)."""
    size = line.shape[0]
    out[0] = 0
    out[1] = 0
    out[2] = 0
    first = max(t, 1)
    m = p.shape[0]
    if kind == SWAP:
        vi = line[i]
        vj = line[j]
        for r in range(m):
            if opt[vi, r] == opt[vj, r]:
                continue
            # a window holding i but not j gains opt[vj] - opt[vi]; one holding j but not i the opposite
            a1, b1 = _rule_range(r, i, i, q, ws, we)
            a2, b2 = _rule_range(r, j, j, q, ws, we)
            gain = opt[vj, r] - opt[vi, r]
            d = _shift_delta(cnt, r, p[r], mode, a1, min(b1, j - q[r]), gain)
            d += _shift_delta(cnt, r, p[r], mode, max(a2, i + 1), b2, -gain)
            out[prio[r]] += d
        if col[vi] != col[vj]:
            hi1 = min(i + 1, size - 1)
            hi2 = min(j + 1, size - 1)
            if j <= i + 2:
                out[2] = _colour_changes(line, col, first, i, hi2, kind, i, j) - _colour_changes(
                    line, col, first, i, hi2, -1, i, j
                )
            else:
                out[2] = (
                    _colour_changes(line, col, first, i, hi1, kind, i, j)
                    + _colour_changes(line, col, first, j, hi2, kind, i, j)
                    - _colour_changes(line, col, first, i, hi1, -1, i, j)
                    - _colour_changes(line, col, first, j, hi2, -1, i, j)
                )
        return
    lo = min(i, j)
    hi = max(i, j)
    for r in range(m):
        a, b = _rule_range(r, lo, hi, q, ws, we)
        if kind == REVERSAL:
            # windows wholly inside the reversed segment only trade counts among themselves
            d = _window_delta(line, opt, cnt, r, p[r], q[r], mode, size, a, min(b, lo - 1), kind, i, j)
            d += _window_delta(
                line, opt, cnt, r, p[r], q[r], mode, size, max(a, lo, hi - q[r] + 2), b, kind, i, j
            )
        else:
            d = _window_delta(line, opt, cnt, r, p[r], q[r], mode, size, a, b, kind, i, j)
        out[prio[r]] += d
    top = min(hi + 1, size - 1)
    if kind == REVERSAL:
        # only the two pairs at the segment's ends change; inner neighbours stay neighbours
        out[2] = _colour_changes(line, col, first, lo, lo, kind, i, j) - _colour_changes(
            line, col, first, lo, lo, -1, i, j
        )
        if hi + 1 < size:
            out[2] += _colour_changes(line, col, first, hi + 1, hi + 1, kind, i, j) - _colour_changes(
                line, col, first, hi + 1, hi + 1, -1, i, j
            )
    else:
        out[2] = _colour_changes(line, col, first, lo, top, kind, i, j) - _colour_changes(
            line, col, first, lo, top, -1, i, j
        )


@njit(cache=True)
def _apply(line, opt, cnt, q, ws, we, kind, i, j):
    """Apply the move to the line and refresh the window counts it touched."""
    size = line.shape[0]
    m = q.shape[0]
    lo = min(i, j)
    hi = max(i, j)
    if kind == SWAP:
        vi = line[i]
        vj = line[j]
        line[i] = vj
        line[j] = vi
        for r in range(m):
            if opt[vi, r] != opt[vj, r]:
                a1, b1 = _rule_range(r, i, i, q, ws, we)
                a2, b2 = _rule_range(r, j, j, q, ws, we)
                _recount(line, opt, cnt, r, q[r], size, a1, b1)
                _recount(line, opt, cnt, r, q[r], size, a2, b2)
        return
    if kind == INSERTION:
        moved = line[i]
        if i < j:
            for pos in range(i, j):
                line[pos] = line[pos + 1]
        else:
            for pos in range(i, j, -1):
                line[pos] = line[pos - 1]
        line[j] = moved
    else:
        a = lo
        b = hi
        while a < b:
            tmp = line[a]
            line[a] = line[b]
            line[b] = tmp
            a += 1
            b -= 1
    for r in range(m):
        a, b = _rule_range(r, lo, hi, q, ws, we)
        _recount(line, opt, cnt, r, q[r], size, a, b)


@njit(cache=True)
def _in_conflict(pos, cnt, p, q, prio, ws, we):
    """True when some high-priority window through `pos` holds more than p vehicles with its option."""
    for r in range(p.shape[0]):
        if prio[r] != 0:
            continue
        for s in range(max(ws[r], pos - q[r] + 1), min(pos, we[r]) + 1):
            if cnt[r, s] > p[r]:
                return True
    return False


@njit(cache=True)
def _meets_deadlines(line, deadline, kind, i, j):
    """True when no vehicle the move pushes later lands beyond its latest position."""
    if kind == SWAP:
        return deadline[line[i]] >= j
    if kind == INSERTION:
        if i < j:
            return deadline[line[i]] >= j
        first, stop = j, i
    else:
        first, stop = i, (i + j + 1) // 2
    late = False
    for pos in range(first, stop):
        lands = pos + 1 if kind == INSERTION else i + j - pos
        if deadline[line[pos]] < lands:
            late = True
            break
    return not late


@njit(cache=True)
def local_search(
    line,
    opt,
    col,
    cls,
    cnt,
    p,
    q,
    prio,
    ws,
    we,
    mode,
    t,
    limit,
    weights,
    totals,
    best_line,
    best_totals,
    rng,
    iterations,
    max_distance,
    swap_share,
    insertion_share,
    target,
    deadline,
    use_deadlines,
    temperature,
    focus,
):
    """Run `iterations` random moves; accept every move that is not worse (plateau walking), keeps
    every paint run within `limit` (0 = no limit) and, with `use_deadlines`, keeps every vehicle at or
    before its latest line position `deadline[v]`. With `temperature` > 0 a worse move is also taken
    with probability exp(-change / temperature) (a fixed-temperature walk off plateaus and out of
    local minima). With `focus` > 0 the first position of a move is redrawn up to `focus` times until
    it lies in a high-priority window holding more than p. Returns the number of moves accepted.

    Stops early once the weighted objective reaches `target` (a lower bound). The best line seen is
    kept in best_line / best_totals.
    """
    size = line.shape[0]
    n = size - t
    delta = np.zeros(3, dtype=np.int64)
    accepted = 0
    best_value = weights[0] * best_totals[0] + weights[1] * best_totals[1] + weights[2] * best_totals[2]
    if n < 2:
        return 0
    reach = max(1, min(max_distance, n - 1))
    for _ in range(iterations):
        if best_value <= target:
            break
        u = _rand(rng) % 1000
        i = t + _rand(rng) % n
        if focus and totals[0] > 0:
            # conflict-directed: most moves start from a vehicle inside an over-full high-priority window
            for _attempt in range(focus):
                if _in_conflict(i, cnt, p, q, prio, ws, we):
                    break
                i = t + _rand(rng) % n
        if u < swap_share:
            kind = SWAP
            j = t + _rand(rng) % n
            if i == j or cls[line[i]] == cls[line[j]]:
                continue
            if i > j:
                i, j = j, i
        elif u < swap_share + insertion_share:
            kind = INSERTION
            step = 1 + _rand(rng) % reach
            j = i + step if _rand(rng) % 2 == 0 else i - step
            if j < t or j >= size:
                continue
        else:
            kind = REVERSAL
            j = i + 1 + _rand(rng) % reach
            if j >= size:
                continue
        _move_delta(line, opt, col, cnt, p, q, prio, ws, we, mode, t, kind, i, j, delta)
        change = weights[0] * delta[0] + weights[1] * delta[1] + weights[2] * delta[2]
        if change > 0 and (
            temperature <= 0.0 or _rand(rng) * 4.656612873077393e-10 >= np.exp(-change / temperature)
        ):
            continue
        if limit > 0 and (
            _run_through(line, col, t, size, i, limit, kind, i, j) > limit
            or _run_through(line, col, t, size, j, limit, kind, i, j) > limit
        ):
            continue
        if use_deadlines and not _meets_deadlines(line, deadline, kind, i, j):
            continue
        _apply(line, opt, cnt, q, ws, we, kind, i, j)
        totals += delta
        accepted += 1
        value = weights[0] * totals[0] + weights[1] * totals[1] + weights[2] * totals[2]
        if value < best_value:
            best_value = value
            best_line[:] = line
            best_totals[:] = totals
    return accepted


@njit(cache=True)
def _count_at_most(cum_row, lo, hi, x):
    """How many s in [lo, hi] have cum_row[s] <= x (cum_row is non-decreasing)."""
    if lo > hi or cum_row[lo] > x:
        return 0
    a = lo
    b = hi
    while a < b:
        mid = (a + b + 1) // 2
        if cum_row[mid] <= x:
            a = mid
        else:
            b = mid - 1
    return a - lo + 1


@njit(cache=True)
def greedy(
    opt,
    col,
    class_members,
    class_start,
    p,
    q,
    prio,
    ws,
    we,
    mode,
    t,
    tail_line,
    limit,
    weights,
    num_colours,
):
    """Build a line position by position: the class that adds the least weighted cost to the windows
    ending here, ties broken by the highest dynamic sum of option utilisation (hard vehicles early
    while they fit). With a paint limit, a class is only taken if the remaining colours can still be
    laid out in runs within the limit. Returns the line and 1 if the paint rule held, else 0.
    """
    n = class_members.shape[0]
    size = t + n
    m = p.shape[0]
    num_classes = class_start.shape[0] - 1
    line = np.empty(size, dtype=np.int64)
    line[:t] = tail_line
    cum = np.zeros((m, size + 1), dtype=np.int64)
    for pos in range(t):
        for r in range(m):
            cum[r, pos + 1] = cum[r, pos] + opt[line[pos], r]
    taken = np.zeros(num_classes, dtype=np.int64)
    demand = np.zeros(m, dtype=np.int64)
    colour_left = np.zeros(num_colours, dtype=np.int64)
    for k in range(n):
        v = class_members[k]
        colour_left[col[v]] += 1
        for r in range(m):
            demand[r] += opt[v, r]
    feasible = 1
    run = 0
    for pos in range(t, size):
        left = size - pos
        best_class = -1
        best_cost = 0
        best_score = 0.0
        fallback = -1
        fallback_cost = 0
        for c in range(num_classes):
            if taken[c] == class_start[c + 1] - class_start[c]:
                continue
            v = class_members[class_start[c] + taken[c]]
            cost = 0
            score = 0.0
            for r in range(m):
                if opt[v, r] == 0:
                    continue
                lo = max(ws[r], pos - q[r] + 1)
                hi = min(pos, we[r])
                x = cum[r, pos] - p[r]
                if mode == 0:
                    added = _count_at_most(cum[r], lo, hi, x)
                else:
                    added = _count_at_most(cum[r], lo, hi, x) - _count_at_most(cum[r], lo, hi, x - 1)
                cost += weights[prio[r]] * added
                score += demand[r] * q[r] / (max(p[r], 1) * left)
            same = pos > 0 and col[v] == col[line[pos - 1]]
            if pos >= 1 and not same:
                cost += weights[2]
            if fallback < 0 or cost < fallback_cost:
                fallback = c
                fallback_cost = cost
            if limit > 0:
                run_after = run + 1 if same and pos > t else 1
                if run_after > limit:
                    continue
                rest = left - 1
                ok = True
                for colour in range(num_colours):
                    remaining = colour_left[colour] - (1 if colour == col[v] else 0)
                    if remaining == 0:
                        continue
                    others = rest - remaining
                    room = limit * (others + 1)
                    if colour == col[v]:
                        room -= run_after
                    if remaining > room:
                        ok = False
                        break
                if not ok:
                    continue
            if best_class < 0 or cost < best_cost or (cost == best_cost and score > best_score):
                best_class = c
                best_cost = cost
                best_score = score
        if best_class < 0:
            best_class = fallback
            feasible = 0
        v = class_members[class_start[best_class] + taken[best_class]]
        taken[best_class] += 1
        line[pos] = v
        run = run + 1 if pos > t and col[v] == col[line[pos - 1]] else 1
        colour_left[col[v]] -= 1
        for r in range(m):
            cum[r, pos + 1] = cum[r, pos] + opt[v, r]
            demand[r] -= opt[v, r]
    return line, feasible
