"""Numba tabu search for the flexible job shop (makespan): move a critical operation to another position
on its machine or to another eligible machine, or exchange it with a critical operation of another
machine.

After Mastrolilli & Gambardella (2000): the neighbourhood takes one operation v of a critical path out
of its machine sequence and inserts it into the sequence of any machine eligible for v. Insertion
points are limited to those whose machine neighbours overlap v's window in its job (the operation
before starts before v's job successor starts, the operation after ends after v's job predecessor
ends): the others would close a cycle or delay v's job. Each step first ranks all candidates by
their approximate longest path through v (head of v at its new place + duration + tail of its new
successors, from the current schedule), then scores them exactly in that order by recomputing the
semi-active schedule (releases, precedences, setups and downtime included), stopping once the
estimate exceeds the best exact score: the exact schedule keeps the search valid for the whole
problem class, the ranking makes it about 25x faster than scoring every candidate. Ties on the
makespan go to the move that leaves fewer operations critical
(fewer critical paths left to break), then at random. Tried and dropped (memetic search alone on mk06,
10 s, 40 seeds, 57 in 7 runs with this kernel): a critical path traced at random among the operations
ending last and the tight predecessors, 9 runs but Dauzere-Peres 01a and 07a worse on both of 2 seeds
(2630/2591 against 2568/2568, 2402/2422 against 2375/2394); candidates from every critical operation
instead of one path's, 2 runs (a step costs several times more).

Exchanges: v also trades places with an operation u of another machine eligible for v, where u is
eligible for v's machine and critical itself (on a longest path), each kept where its new machine
neighbours overlap its window in its job; the estimate is the longer of the two paths through them.
In good schedules of Brandimarte's mk06 three machines are loaded 54-57 (optimum 57): moving one
operation off a bottleneck overloads another, while an exchange keeps both loads near where they are
and changes which operations each holds. Against single moves only: the memetic search alone (10 s,
seeds 0-39) reached mk06's 57 in 17 runs against 13; whole solves (10 s, 2 workers) in 38 of 80
against 32 (seeds 0-19, 20-39, 40-79: 12, 8, 18 against 9, 9, 14; a modest gain), mk07's 139 in
20 of 20 against 19 (seeds 10-29); Dauzere-Peres 01a-12a mean gap 1.48% against 1.44% (seeds 0-1,
either way by instance, within the noise). A step costs about a fifth more. With any partner u,
critical or not, mk06 did no better (20 of 40, seeds 0-39) and mk07 reached 139 in only 21 of 30
(29 of 30).

Also tried and dropped, each against this kernel in the same conditions (the memetic search alone on
mk06, 10 s, two runs side by side; this kernel reached 57 in 14 of seeds 0-39 and 11 of 40-79; hits
come evenly over the ten seconds, about 4% of the runs per second, whatever the variant):
- u placed anywhere on v's machine where its neighbours overlap its window, not only at v's place:
  14 (seeds 0-39), a step about a tenth dearer;
- before the critical count, a tie-break by the machines' overload (over the machines whose load
  reaches the candidate's makespan, load - makespan + 1), to steer off machines no sequence can
  bring under it: 12 (seeds 40-79);
- as what a step minimises, the total excess over the walk's best minus one of the longest paths
  through every operation (makespan only as aspiration), the 8 best-estimated candidates valued:
  17 and 9 (26 of 80 against 25); 16 valued, 9 (seeds 0-39); 4 valued, 11 (seeds 40-79).

Machine sequences are rows of `seq` (machine x capacity) with `count` operations each; `pos[i]` is
operation i's index in its machine's row. Tabu attributes: after v leaves machine m, v may not return
to m for a few iterations; after v moves within its machine, v stays put for a few iterations; after
an exchange, u may not return to its machine either.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mixflow.schedule._kernels import fit_start, put_in, take_out

CANDIDATES = 32
"""Candidate moves kept per step, per operation of the problem (beyond that, the rest are skipped)."""


@njit(cache=True)
def evaluate(
    seq, count, pos, machine, dmat, pred_ptr, pred_idx, succ_ptr, succ_idx, family, setup, machine_setup,
    down_ptr, down_start, down_end, release, start, end, indeg, queue,
):  # pragma: no cover - numba
    """Semi-active schedule of the machine rows into start/end. Returns the makespan, or -1 if the rows
    and the precedences form a cycle."""
    n = len(machine)
    for i in range(n):
        indeg[i] = pred_ptr[i + 1] - pred_ptr[i]
        if pos[i] > 0:
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
        d = dmat[i, m]
        t = release[i]
        for k in range(pred_ptr[i], pred_ptr[i + 1]):
            t = max(t, end[pred_idx[k]])
        p = pos[i]
        if p > 0:
            prev = seq[m, p - 1]
            gap = 0
            if machine_setup[m] >= 0:
                gap = setup[machine_setup[m], family[prev], family[i]]
            t = max(t, end[prev] + gap)
        s = fit_start(t, d, m, down_ptr, down_start, down_end)
        start[i] = s
        end[i] = s + d
        makespan = max(makespan, end[i])
        for k in range(succ_ptr[i], succ_ptr[i + 1]):
            q = succ_idx[k]
            indeg[q] -= 1
            if indeg[q] == 0:
                queue[tail] = q
                tail += 1
        if p + 1 < count[m]:
            q = seq[m, p + 1]
            indeg[q] -= 1
            if indeg[q] == 0:
                queue[tail] = q
                tail += 1
    if tail < n:
        return -1
    return makespan


@njit(cache=True)
def _critical_path(seq, pos, machine, pred_ptr, pred_idx, family, setup, machine_setup, start, end, path):
    # pragma: no cover - numba
    """Operations of one critical path (from the last end backwards) into `path`; returns how many."""
    n = len(machine)
    cur = 0
    for i in range(n):
        if end[i] > end[cur]:
            cur = i
    length = 0
    while cur >= 0:
        path[length] = cur
        length += 1
        m = machine[cur]
        p = pos[cur]
        nxt = -1
        if p > 0:
            prev = seq[m, p - 1]
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
    return length


@njit(cache=True)
def _critical_count(seq, count, pos, machine, dmat, succ_ptr, succ_idx, family, setup, machine_setup, end,
                    topo, tail, makespan):  # pragma: no cover - numba
    """How many operations lie on some critical path (end + tail == makespan): fewer means fewer
    critical paths to break, the tie-break between moves of equal makespan."""
    n = len(machine)
    critical = 0
    for t in range(n - 1, -1, -1):
        i = topo[t]
        q = 0
        for k in range(succ_ptr[i], succ_ptr[i + 1]):
            j = succ_idx[k]
            q = max(q, dmat[j, machine[j]] + tail[j])
        m = machine[i]
        p = pos[i]
        if p + 1 < count[m]:
            j = seq[m, p + 1]
            gap = 0
            if machine_setup[m] >= 0:
                gap = setup[machine_setup[m], family[i], family[j]]
            q = max(q, gap + dmat[j, m] + tail[j])
        tail[i] = q
        if end[i] + q >= makespan:
            critical += 1
    return critical


@njit(cache=True, nogil=True, inline="always")
def _place(v, m, k, u, m_u, k_u, seq, count, pos, machine):  # pragma: no cover - numba
    """Move v to position k of machine m and, if u >= 0, u to position k_u of machine m_u: with
    (m, k) u's place and (m_u, k_u) v's, the two operations (on different machines) trade places."""
    take_out(v, seq, count, pos, machine)
    if u >= 0:
        take_out(u, seq, count, pos, machine)
    put_in(v, m, k, seq, count, pos, machine)
    if u >= 0:
        put_in(u, m_u, k_u, seq, count, pos, machine)


@njit(cache=True, nogil=True, inline="always")
def _window(i, release, pred_ptr, pred_idx, succ_ptr, succ_idx, dmat, machine, start, end, tail):
    # pragma: no cover - numba
    """Operation i's window in its job in the current schedule: the earliest start its release and
    predecessors allow, the earliest start among its successors, and the longest of their durations
    plus tails (what follows i in its job)."""
    head = release[i]
    for q in range(pred_ptr[i], pred_ptr[i + 1]):
        head = max(head, end[pred_idx[q]])
    latest = np.iinfo(np.int64).max
    after = 0
    for q in range(succ_ptr[i], succ_ptr[i + 1]):
        j = succ_idx[q]
        latest = min(latest, start[j])
        after = max(after, dmat[j, machine[j]] + tail[j])
    return head, latest, after


@njit(cache=True, nogil=True, inline="always")
def _through(head, prev, v, nxt, m, after, dmat, family, setup, machine_setup, end, tail):
    # pragma: no cover - numba
    """Estimated longest path through v placed between `prev` and `nxt` on machine m (-1: none), from
    its job's `head` and `after` (its job successor's duration and tail) and the current schedule."""
    kind = machine_setup[m]
    if prev >= 0:
        gap = setup[kind, family[prev], family[v]] if kind >= 0 else 0
        head = max(head, end[prev] + gap)
    if nxt >= 0:
        gap = setup[kind, family[v], family[nxt]] if kind >= 0 else 0
        after = max(after, gap + dmat[nxt, m] + tail[nxt])
    return head + dmat[v, m] + after


@njit(cache=True, nogil=True)
def _exchanges(
    v, home, home_k, head_v, latest_v, tail_v, seq, count, machine, dmat, elig_ptr, elig_machine, pred_ptr,
    pred_idx, succ_ptr, succ_idx, family, setup, machine_setup, release, start, end, tail, cand_value,
    cand_op, cand_machine, cand_k, cand_partner, found, makespan,
):  # pragma: no cover - numba
    """Append the exchanges of v (still in its row `home` at `home_k`) with an operation u of another
    machine eligible for v, u being eligible for `home` and critical (`tail` from `_critical_count` for
    `makespan`): v takes u's place, u takes v's, kept where each one's neighbours there overlap its
    window in its job (as for insertions). The estimate is the longer of the two paths through them.
    Returns the new number of candidates."""
    v_prev = seq[home, home_k - 1] if home_k > 0 else -1
    v_next = seq[home, home_k + 1] if home_k + 1 < count[home] else -1
    for e in range(elig_ptr[v], elig_ptr[v + 1]):
        m = elig_machine[e]
        if m == home:
            continue
        for k in range(count[m]):
            if found == len(cand_value):
                return found
            u = seq[m, k]
            prev = seq[m, k - 1] if k > 0 else -1
            nxt = seq[m, k + 1] if k + 1 < count[m] else -1
            if end[u] + tail[u] < makespan or dmat[u, home] < 0:
                continue  # u not critical (then moving v alone does as well), or not eligible for home
            if (prev >= 0 and start[prev] >= latest_v) or (nxt >= 0 and end[nxt] <= head_v):
                continue
            head_u, latest_u, tail_u = _window(u, release, pred_ptr, pred_idx, succ_ptr, succ_idx, dmat,
                                               machine, start, end, tail)
            if (v_prev >= 0 and start[v_prev] >= latest_u) or (v_next >= 0 and end[v_next] <= head_u):
                continue
            there = _through(head_v, prev, v, nxt, m, tail_v, dmat, family, setup, machine_setup, end, tail)
            back = _through(head_u, v_prev, u, v_next, home, tail_u, dmat, family, setup, machine_setup, end,
                            tail)
            cand_value[found] = max(there, back)
            cand_op[found] = v
            cand_machine[found] = m
            cand_k[found] = k
            cand_partner[found] = u
            found += 1
    return found


@njit(cache=True, nogil=True)
def search(
    seq, count, machine, dmat, elig_ptr, elig_machine, pred_ptr, pred_idx, succ_ptr, succ_idx, family,
    setup, machine_setup, down_ptr, down_start, down_end, release, best_seq, best_count, best_machine,
    tabu_machine, tabu_op, iteration0, iterations, randoms, tenure_min, tenure_span,
    best_known, stale0,
):  # pragma: no cover - numba
    """Run `iterations` steps from the rows `seq` / `count` / `machine` (updated in place); the best
    schedule found is kept in `best_seq` / `best_count` / `best_machine` (makespan `best_known` on
    entry, `stale0` steps since it improved). `randoms` are non-negative integers from the caller's
    seeded generator. Returns (best makespan, last iteration, steps since the last improvement).
    Releases the GIL, so the exact walks of flextabu's second thread run beside it."""
    n = len(machine)
    r = 0
    pos = np.full(n, -1, dtype=np.int64)
    for m in range(seq.shape[0]):
        for k in range(count[m]):
            pos[seq[m, k]] = k
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    cand_start = np.zeros(n, dtype=np.int64)
    cand_end = np.zeros(n, dtype=np.int64)
    indeg = np.zeros(n, dtype=np.int64)
    queue = np.zeros(n, dtype=np.int64)
    path = np.zeros(n, dtype=np.int64)
    cand_tail = np.zeros(n, dtype=np.int64)
    cand_queue = np.zeros(n, dtype=np.int64)
    tail = np.zeros(n, dtype=np.int64)
    cand_value = np.zeros(CANDIDATES * n + 64, dtype=np.int64)
    cand_op = np.zeros(CANDIDATES * n + 64, dtype=np.int64)
    cand_machine = np.zeros(CANDIDATES * n + 64, dtype=np.int64)
    cand_k = np.zeros(CANDIDATES * n + 64, dtype=np.int64)
    cand_partner = np.zeros(CANDIDATES * n + 64, dtype=np.int64)
    best = best_known
    current = evaluate(seq, count, pos, machine, dmat, pred_ptr, pred_idx, succ_ptr, succ_idx, family,
                          setup, machine_setup, down_ptr, down_start, down_end, release, start, end, indeg,
                          queue)
    stale = stale0
    it = iteration0
    big = np.iinfo(np.int64).max
    for _ in range(iterations):
        it += 1
        length = _critical_path(seq, pos, machine, pred_ptr, pred_idx, family, setup, machine_setup, start,
                                end, path)
        # pass 1: every candidate insertion and exchange with its estimate (head of v there + duration +
        # tail; for an exchange the longer of the two such paths)
        _critical_count(seq, count, pos, machine, dmat, succ_ptr, succ_idx, family, setup, machine_setup,
                        end, queue, tail, current)
        found = 0
        for c in range(length):
            v = path[c]
            home = machine[v]
            home_k = pos[v]
            head_v, latest, tail_v = _window(v, release, pred_ptr, pred_idx, succ_ptr, succ_idx, dmat,
                                             machine, start, end, tail)
            found = _exchanges(
                v, home, home_k, head_v, latest, tail_v, seq, count, machine, dmat, elig_ptr, elig_machine,
                pred_ptr, pred_idx, succ_ptr, succ_idx, family, setup, machine_setup, release, start, end,
                tail, cand_value, cand_op, cand_machine, cand_k, cand_partner, found, current,
            )
            take_out(v, seq, count, pos, machine)
            for e in range(elig_ptr[v], elig_ptr[v + 1]):
                m = elig_machine[e]
                for k in range(count[m] + 1):
                    if m == home and k == home_k:
                        continue
                    if k > 0 and start[seq[m, k - 1]] >= latest:
                        break
                    if k < count[m] and end[seq[m, k]] <= head_v:
                        continue
                    if found == len(cand_value):
                        break
                    prev = seq[m, k - 1] if k > 0 else -1
                    nxt = seq[m, k] if k < count[m] else -1
                    cand_value[found] = _through(head_v, prev, v, nxt, m, tail_v, dmat, family, setup,
                                                 machine_setup, end, tail)
                    cand_op[found] = v
                    cand_machine[found] = m
                    cand_k[found] = k
                    cand_partner[found] = -1
                    found += 1
            put_in(v, home, home_k, seq, count, pos, machine)
        # pass 2: exact scores in estimate order, until the estimate exceeds the best exact score
        pick_v = -1
        pick_m = -1
        pick_k = -1
        pick_u = -1
        pick_value = big
        pick_critical = big
        any_v = -1
        any_m = -1
        any_k = -1
        ties = 0
        ranked = np.argsort(cand_value[:found])
        for c in ranked:
            if pick_v >= 0 and cand_value[c] > pick_value:
                break
            v = cand_op[c]
            m = cand_machine[c]
            k = cand_k[c]
            u = cand_partner[c]
            home = machine[v]
            home_k = pos[v]
            blocked = tabu_op[v] >= it if m == home else tabu_machine[v, m] >= it
            blocked = blocked or (u >= 0 and tabu_machine[u, home] >= it)
            _place(v, m, k, u, home, home_k, seq, count, pos, machine)
            value = evaluate(seq, count, pos, machine, dmat, pred_ptr, pred_idx, succ_ptr, succ_idx, family,
                             setup, machine_setup, down_ptr, down_start, down_end, release, cand_start,
                             cand_end, indeg, cand_queue)
            if value >= 0 and any_v < 0 and u < 0:
                any_v = v
                any_m = m
                any_k = k
            if value >= 0 and value <= pick_value and (not blocked or value < best):
                critical = _critical_count(seq, count, pos, machine, dmat, succ_ptr, succ_idx, family,
                                           setup, machine_setup, cand_end, cand_queue, cand_tail, value)
                if value < pick_value or critical < pick_critical:
                    ties = 0
                if value < pick_value or critical <= pick_critical:
                    ties += 1
                    if ties == 1 or randoms[r % len(randoms)] % ties == 0:
                        pick_value = value
                        pick_critical = critical
                        pick_v = v
                        pick_m = m
                        pick_k = k
                        pick_u = u
                    r += 1
            _place(v, home, home_k, u, m, k, seq, count, pos, machine)
        if pick_v < 0:
            if any_v < 0:
                break
            pick_v = any_v
            pick_m = any_m
            pick_k = any_k
        home = machine[pick_v]
        home_k = pos[pick_v]
        tenure = tenure_min + randoms[r % len(randoms)] % (tenure_span + 1)
        r += 1
        if pick_m == home:
            tabu_op[pick_v] = it + tenure
        else:
            tabu_machine[pick_v, home] = it + tenure
        if pick_u >= 0:
            tabu_machine[pick_u, pick_m] = it + tenure
        _place(pick_v, pick_m, pick_k, pick_u, home, home_k, seq, count, pos, machine)
        current = evaluate(seq, count, pos, machine, dmat, pred_ptr, pred_idx, succ_ptr, succ_idx,
                              family, setup, machine_setup, down_ptr, down_start, down_end, release, start,
                              end, indeg, queue)
        if current < best:
            best = current
            best_seq[:, :] = seq
            best_count[:] = count
            best_machine[:] = machine
            stale = 0
        else:
            stale += 1
    return best, it, stale
