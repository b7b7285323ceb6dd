"""Numba kernels: calendar fitting, the dispatch (Giffler-Thompson) builder, sequence propagation and
the machine-row edits both flexible tabu kernels make.

Imported only by the solvers; all arrays come from `_arrays.FlatProblem`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fit_start(t, duration, m, down_ptr, down_start, down_end):  # pragma: no cover - numba
    """Earliest start >= t at which [start, start + duration) misses every downtime window of m."""
    s = t
    for k in range(down_ptr[m], down_ptr[m + 1]):
        if down_end[k] <= s:
            continue
        if down_start[k] >= s + duration:
            break
        s = down_end[k]
    return s


@njit(cache=True)
def dispatch(
    mode_ptr, mode_machine, mode_duration, pred_ptr, succ_ptr, succ_idx, family, setup, machine_setup,
    down_ptr, down_start, down_end, release, priority, n_machines,
):  # pragma: no cover - numba
    """Giffler-Thompson active schedule: repeatedly take the ready operation with the earliest possible
    completion, and among the ready operations that could start on that machine before then, schedule
    the one with the smallest `priority`. Returns (machine, start) per operation."""
    n = len(mode_ptr) - 1
    indeg = np.empty(n, dtype=np.int64)
    for i in range(n):
        indeg[i] = pred_ptr[i + 1] - pred_ptr[i]
    ready_at = release.copy()
    machine_free = np.zeros(n_machines, dtype=np.int64)
    machine_last = np.full(n_machines, -1, dtype=np.int64)
    out_machine = np.full(n, -1, dtype=np.int64)
    out_start = np.zeros(n, dtype=np.int64)
    ready = np.empty(n, dtype=np.int64)
    n_ready = 0
    for i in range(n):
        if indeg[i] == 0:
            ready[n_ready] = i
            n_ready += 1
    best_m = np.empty(n, dtype=np.int64)
    best_s = np.empty(n, dtype=np.int64)
    best_c = np.empty(n, dtype=np.int64)
    # operations eligible on each machine, to mark only the affected ready ones for re-evaluation
    count = np.zeros(n_machines + 1, dtype=np.int64)
    for k in range(len(mode_machine)):
        count[mode_machine[k] + 1] += 1
    users_ptr = np.cumsum(count)
    users = np.empty(len(mode_machine), dtype=np.int64)
    fill = users_ptr[:-1].copy()
    for i in range(n):
        for k in range(mode_ptr[i], mode_ptr[i + 1]):
            users[fill[mode_machine[k]]] = i
            fill[mode_machine[k]] += 1
    stale = np.ones(n, dtype=np.bool_)
    for _ in range(n):
        c_star = np.iinfo(np.int64).max
        m_star = -1
        for r in range(n_ready):
            i = ready[r]
            if stale[i]:
                stale[i] = False
                bm = -1
                bs = 0
                bc = np.iinfo(np.int64).max
                for k in range(mode_ptr[i], mode_ptr[i + 1]):
                    m = mode_machine[k]
                    d = mode_duration[k]
                    t = max(ready_at[i], machine_free[m])
                    last = machine_last[m]
                    if last >= 0 and machine_setup[m] >= 0:
                        t = max(t, machine_free[m] + setup[machine_setup[m], family[last], family[i]])
                    s = fit_start(t, d, m, down_ptr, down_start, down_end)
                    if s + d < bc:
                        bc = s + d
                        bs = s
                        bm = m
                best_m[i] = bm
                best_s[i] = bs
                best_c[i] = bc
            if best_c[i] < c_star:
                c_star = best_c[i]
                m_star = best_m[i]
        pick = -1
        pick_r = -1
        for r in range(n_ready):
            i = ready[r]
            if best_m[i] == m_star and best_s[i] < c_star and (pick < 0 or priority[i] < priority[pick]):
                pick = i
                pick_r = r
        if pick < 0:
            for r in range(n_ready):
                if best_c[ready[r]] == c_star:
                    pick = ready[r]
                    pick_r = r
                    break
        m = best_m[pick]
        out_machine[pick] = m
        out_start[pick] = best_s[pick]
        machine_free[m] = best_c[pick]
        machine_last[m] = pick
        for k in range(users_ptr[m], users_ptr[m + 1]):
            stale[users[k]] = True
        n_ready -= 1
        ready[pick_r] = ready[n_ready]
        for k in range(succ_ptr[pick], succ_ptr[pick + 1]):
            s = succ_idx[k]
            ready_at[s] = max(ready_at[s], best_c[pick])
            indeg[s] -= 1
            if indeg[s] == 0:
                ready[n_ready] = s
                n_ready += 1
    return out_machine, out_start


@njit(cache=True)
def propagate(
    order, machine, duration, floor, pred_ptr, pred_idx, family, setup, machine_setup,
    down_ptr, down_start, down_end, release, n_machines,
):  # pragma: no cover - numba
    """Earliest starts that keep each machine's sequence as given by `order` (a topological order of the
    precedences in which every machine's operations appear in sequence), never before `floor`.
    Returns the new starts."""
    n = len(order)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    machine_free = np.zeros(n_machines, dtype=np.int64)
    machine_last = np.full(n_machines, -1, dtype=np.int64)
    for p in range(n):
        i = order[p]
        m = machine[i]
        t = max(release[i], floor[i])
        for k in range(pred_ptr[i], pred_ptr[i + 1]):
            t = max(t, end[pred_idx[k]])
        t = max(t, machine_free[m])
        last = machine_last[m]
        if last >= 0 and machine_setup[m] >= 0:
            t = max(t, machine_free[m] + setup[machine_setup[m], family[last], family[i]])
        s = fit_start(t, duration[i], m, down_ptr, down_start, down_end)
        start[i] = s
        end[i] = s + duration[i]
        machine_free[m] = end[i]
        machine_last[m] = i
    return start


@njit(cache=True)
def earliest_ends(
    topo, mode_ptr, mode_machine, mode_duration, pred_ptr, pred_idx, down_ptr, down_start, down_end, release,
):  # pragma: no cover - numba
    """Earliest end of every operation with unlimited machines but real calendars: a lower bound."""
    n = len(topo)
    end = np.zeros(n, dtype=np.int64)
    for p in range(n):
        i = topo[p]
        t = release[i]
        for k in range(pred_ptr[i], pred_ptr[i + 1]):
            t = max(t, end[pred_idx[k]])
        best = np.iinfo(np.int64).max
        for k in range(mode_ptr[i], mode_ptr[i + 1]):
            m = mode_machine[k]
            s = fit_start(t, mode_duration[k], m, down_ptr, down_start, down_end)
            best = min(best, s + mode_duration[k])
        end[i] = best
    return end


@njit(cache=True, nogil=True)
def take_out(v, seq, count, pos, machine):  # pragma: no cover - numba
    """Remove v from its machine row (rows of `seq`, `count` long; its machine entry stays, its position
    becomes -1)."""
    m = machine[v]
    for k in range(pos[v], count[m] - 1):
        q = seq[m, k + 1]
        seq[m, k] = q
        pos[q] = k
    count[m] -= 1
    pos[v] = -1


@njit(cache=True, nogil=True)
def put_in(v, m, k, seq, count, pos, machine):  # pragma: no cover - numba
    """Insert v at position k of machine m's row."""
    for t in range(count[m], k, -1):
        q = seq[m, t - 1]
        seq[m, t] = q
        pos[q] = t
    seq[m, k] = v
    pos[v] = k
    count[m] += 1
    machine[v] = m
