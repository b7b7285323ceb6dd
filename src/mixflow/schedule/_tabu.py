"""Numba tabu search on machine sequences for the makespan (Nowicki & Smutnicki's N5 neighbourhood).

Machine assignment stays fixed; the search swaps adjacent operations at the borders of the blocks of a
critical path (runs of critical operations on one machine), which are the only swaps that can shorten
that path. Every candidate is evaluated exactly by recomputing the semi-active schedule (releases,
precedences, setups and downtime included), so the search is valid for the whole problem class.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mixflow.schedule._kernels import fit_start

KICKS = 8
"""Random critical swaps applied to the best sequences when the search restarts from them."""


@njit(cache=True)
def evaluate(
    seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx, family, setup,
    machine_setup, down_ptr, down_start, down_end, release, start, end, indeg, queue,
):  # pragma: no cover - numba
    """Semi-active schedule of the machine sequences `seq` into start/end; returns the makespan, or -1
    if the sequences and the precedences form a cycle."""
    n = len(machine)
    for i in range(n):
        indeg[i] = pred_ptr[i + 1] - pred_ptr[i]
        if pos[i] > seq_ptr[machine[i]]:
            indeg[i] += 1
    head = 0
    tail = 0
    for i in range(n):
        if indeg[i] == 0:
            queue[tail] = i
            tail += 1
    makespan = 0
    while head < tail:
        i = queue[head]
        head += 1
        m = machine[i]
        t = release[i]
        for k in range(pred_ptr[i], pred_ptr[i + 1]):
            t = max(t, end[pred_idx[k]])
        p = pos[i]
        if p > seq_ptr[m]:
            prev = seq[p - 1]
            gap = 0
            if machine_setup[m] >= 0:
                gap = setup[machine_setup[m], family[prev], family[i]]
            t = max(t, end[prev] + gap)
        s = fit_start(t, duration[i], m, down_ptr, down_start, down_end)
        start[i] = s
        end[i] = s + duration[i]
        makespan = max(makespan, end[i])
        for k in range(succ_ptr[i], succ_ptr[i + 1]):
            q = succ_idx[k]
            indeg[q] -= 1
            if indeg[q] == 0:
                queue[tail] = q
                tail += 1
        if p + 1 < seq_ptr[m + 1]:
            q = seq[p + 1]
            indeg[q] -= 1
            if indeg[q] == 0:
                queue[tail] = q
                tail += 1
    if tail < n:
        return -1
    return makespan


@njit(cache=True)
def _critical_moves(
    seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, family, setup, machine_setup, start, end,
    moves,
):  # pragma: no cover - numba
    """Fill `moves` with sequence positions p (swap p and p+1) at the block borders of one critical
    path; returns how many."""
    n = len(machine)
    cur = 0
    for i in range(n):
        if end[i] > end[cur]:
            cur = i
    # walk the critical path backwards, recording the machine-sequence positions on it
    path = np.empty(n, dtype=np.int64)
    length = 0
    while cur >= 0:
        path[length] = cur
        length += 1
        m = machine[cur]
        p = pos[cur]
        nxt = -1
        if p > seq_ptr[m]:
            prev = seq[p - 1]
            gap = 0
            if machine_setup[m] >= 0:
                gap = setup[machine_setup[m], family[prev], family[cur]]
            if end[prev] + gap == start[cur]:
                nxt = prev
        if nxt < 0:
            for k in range(pred_ptr[cur], pred_ptr[cur + 1]):
                if end[pred_idx[k]] == start[cur]:
                    nxt = pred_idx[k]
                    break
        cur = nxt
    count = 0
    # path[length-1] is the first operation; scan blocks forwards
    b = length - 1
    while b >= 0:
        e = b
        while e >= 1 and machine[path[e - 1]] == machine[path[b]] and pos[path[e - 1]] == pos[path[e]] + 1:
            e -= 1
        size = b - e + 1
        if size >= 2:
            moves[count] = pos[path[b]]
            count += 1
            if size >= 3:
                moves[count] = pos[path[e + 1]]
                count += 1
        b = e - 1
    return count


@njit(cache=True)
def _tails(
    seq, pos, seq_ptr, machine, duration, succ_ptr, succ_idx, family, setup, machine_setup, topo, tail,
):  # pragma: no cover - numba
    """Longest path from each operation's end to the end of the schedule (its tail), given `topo`, the
    topological order the last `evaluate` left in its queue."""
    n = len(machine)
    for t in range(n - 1, -1, -1):
        i = topo[t]
        q = 0
        for k in range(succ_ptr[i], succ_ptr[i + 1]):
            j = succ_idx[k]
            q = max(q, duration[j] + tail[j])
        m = machine[i]
        p = pos[i]
        if p + 1 < seq_ptr[m + 1]:
            j = seq[p + 1]
            gap = 0
            if machine_setup[m] >= 0:
                gap = setup[machine_setup[m], family[i], family[j]]
            q = max(q, gap + duration[j] + tail[j])
        tail[i] = q


@njit(cache=True)
def _estimate(
    p, seq, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx, family, setup,
    machine_setup, release, end, tail,
):  # pragma: no cover - numba
    """Taillard's estimate of the makespan after swapping the operations at sequence positions p, p+1:
    the longest path through the two swapped operations, from heads and tails of their neighbours."""
    u = seq[p]
    v = seq[p + 1]
    m = machine[u]
    kind = machine_setup[m]
    vu = 0
    if kind >= 0:
        vu = setup[kind, family[v], family[u]]
    head_v = release[v]
    for k in range(pred_ptr[v], pred_ptr[v + 1]):
        head_v = max(head_v, end[pred_idx[k]])
    if p > seq_ptr[m]:
        before = seq[p - 1]
        gap = 0
        if kind >= 0:
            gap = setup[kind, family[before], family[v]]
        head_v = max(head_v, end[before] + gap)
    head_u = max(release[u], head_v + duration[v] + vu)
    for k in range(pred_ptr[u], pred_ptr[u + 1]):
        head_u = max(head_u, end[pred_idx[k]])
    tail_u = 0
    for k in range(succ_ptr[u], succ_ptr[u + 1]):
        j = succ_idx[k]
        tail_u = max(tail_u, duration[j] + tail[j])
    if p + 2 < seq_ptr[m + 1]:
        after = seq[p + 2]
        gap = 0
        if kind >= 0:
            gap = setup[kind, family[u], family[after]]
        tail_u = max(tail_u, gap + duration[after] + tail[after])
    tail_v = vu + duration[u] + tail_u
    for k in range(succ_ptr[v], succ_ptr[v + 1]):
        j = succ_idx[k]
        tail_v = max(tail_v, duration[j] + tail[j])
    return max(head_v + duration[v] + tail_v, head_u + duration[u] + tail_u)


@njit(cache=True)
def search(
    seq, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx, family, setup,
    machine_setup, down_ptr, down_start, down_end, release, best_seq, tabu, iteration0, iterations,
    randoms, tenure_min, tenure_span, patience, best_known, stale0,
):  # pragma: no cover - numba
    """Run `iterations` tabu-search steps from the sequences `seq` (updated in place); `best_seq` keeps
    the best sequences found (makespan `best_known` on entry, `stale0` steps since it improved);
    `randoms` are non-negative random
    integers drawn by the caller (a seeded generator), used in turn. Returns (best makespan, last
    iteration, steps since the last improvement)."""
    r = 0
    n = len(machine)
    pos = np.empty(n, dtype=np.int64)
    for p in range(len(seq)):
        pos[seq[p]] = p
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    indeg = np.zeros(n, dtype=np.int64)
    queue = np.zeros(n, dtype=np.int64)
    moves = np.zeros(2 * n + 2, dtype=np.int64)
    tail = np.zeros(n, dtype=np.int64)
    best = best_known
    current = evaluate(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx,
                       family, setup, machine_setup, down_ptr, down_start, down_end, release, start, end,
                       indeg, queue)
    stale = stale0
    it = iteration0
    for _ in range(iterations):
        it += 1
        count = _critical_moves(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, family, setup,
                                machine_setup, start, end, moves)
        if count == 0:
            break
        _tails(seq, pos, seq_ptr, machine, duration, succ_ptr, succ_idx, family, setup, machine_setup, queue,
               tail)
        pick = -1
        pick_value = np.iinfo(np.int64).max
        for c in range(count):
            p = moves[c]
            u = seq[p]
            v = seq[p + 1]
            value = _estimate(p, seq, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx,
                              family, setup, machine_setup, release, end, tail)
            allowed = tabu[v, u] < it or value < best
            if allowed and value < pick_value:
                pick_value = value
                pick = p
        if pick < 0:
            pick = moves[randoms[r % len(randoms)] % count]
            r += 1
        u = seq[pick]
        v = seq[pick + 1]
        seq[pick] = v
        seq[pick + 1] = u
        pos[u] = pick + 1
        pos[v] = pick
        tabu[u, v] = it + tenure_min + randoms[r % len(randoms)] % (tenure_span + 1)
        r += 1
        current = evaluate(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx,
                           family, setup, machine_setup, down_ptr, down_start, down_end, release, start, end,
                           indeg, queue)
        if current < 0:  # the move closed a cycle (zero durations): go back to the best
            seq[:] = best_seq
            for p in range(len(seq)):
                pos[seq[p]] = p
            current = evaluate(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr,
                               succ_idx, family, setup, machine_setup, down_ptr, down_start, down_end,
                               release, start, end, indeg, queue)
        if current < best:
            best = current
            best_seq[:] = seq
            stale = 0
        else:
            stale += 1
        if stale > patience:
            # restart from the best with a few random critical swaps
            seq[:] = best_seq
            for p in range(len(seq)):
                pos[seq[p]] = p
            evaluate(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx, family,
                     setup, machine_setup, down_ptr, down_start, down_end, release, start, end, indeg, queue)
            for _kick in range(KICKS):
                count = _critical_moves(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, family,
                                        setup, machine_setup, start, end, moves)
                if count == 0:
                    break
                p = moves[randoms[r % len(randoms)] % count]
                r += 1
                u = seq[p]
                v = seq[p + 1]
                seq[p] = v
                seq[p + 1] = u
                pos[u] = p + 1
                pos[v] = p
                if evaluate(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx,
                            family, setup, machine_setup, down_ptr, down_start, down_end, release, start,
                            end, indeg, queue) < 0:
                    seq[p] = u
                    seq[p + 1] = v
                    pos[u] = p
                    pos[v] = p + 1
            evaluate(seq, pos, seq_ptr, machine, duration, pred_ptr, pred_idx, succ_ptr, succ_idx, family,
                     setup, machine_setup, down_ptr, down_start, down_end, release, start, end, indeg, queue)
            stale = 0
    return best, it, stale
