"""Numba tabu search for the pure job shop (chains of operations, no setups, releases or downtime).

Without setups or calendars a schedule is fixed by its machine sequences and the makespan is the
longest path of the disjunctive graph, so the search can afford a richer neighbourhood than the
general N5 search of `_tabu`:

- the N7 neighbourhood (Zhang, Li, Guan & Rao 2007, "A tabu search algorithm with a new neighborhood
  structure for the job shop scheduling problem"): every operation of a critical block moves to the
  front or the back of its block, and the first or last operation of the block moves into its inside;
- each move is screened by the acyclicity test of Balas & Vazacopoulos (1998, "Guided local search with
  shifting bottleneck for job shop scheduling") and valued by their head/tail estimate, which costs
  the length of the moved segment instead of a whole schedule;
- only the chosen move is applied and the heads and tails recomputed exactly (O(n));
- the first walks start from random interleavings of the job chains, so the elite pool holds distinct
  regions and not only descendants of the dispatch start (the initial population of Peng, Lü & Cheng
  2015, "A tabu search/path relinking algorithm to solve the job shop scheduling problem"), and a full
  pool admits by quality and distance to the other members, as theirs does;
- after that, when the walk stalls it restarts from an elite solution, part of the way along a path
  towards another elite solution (their path relinking), or, when the two are nearly the same, towards
  a random perturbation of it (a kick, as in iterated local search).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def times(
    seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail, indeg, order,
):  # pragma: no cover - numba
    """Heads (earliest starts) and tails (longest path after each end) of the machine sequences `seq`;
    returns the makespan, or -1 if the sequences close a cycle with the job chains."""
    n = len(machine)
    for i in range(n):
        indeg[i] = 0
        if job_pred[i] >= 0:
            indeg[i] += 1
        if pos[i] > seq_ptr[machine[i]]:
            indeg[i] += 1
    size = 0
    for i in range(n):
        if indeg[i] == 0:
            order[size] = i
            size += 1
    done = 0
    while done < size:
        i = order[done]
        done += 1
        t = 0
        j = job_pred[i]
        if j >= 0:
            t = head[j] + duration[j]
        p = pos[i]
        m = machine[i]
        if p > seq_ptr[m]:
            j = seq[p - 1]
            t = max(t, head[j] + duration[j])
        head[i] = t
        j = job_succ[i]
        if j >= 0:
            indeg[j] -= 1
            if indeg[j] == 0:
                order[size] = j
                size += 1
        if p + 1 < seq_ptr[m + 1]:
            j = seq[p + 1]
            indeg[j] -= 1
            if indeg[j] == 0:
                order[size] = j
                size += 1
    if size < n:
        return -1
    makespan = 0
    for k in range(n - 1, -1, -1):
        i = order[k]
        t = 0
        j = job_succ[i]
        if j >= 0:
            t = duration[j] + tail[j]
        p = pos[i]
        if p + 1 < seq_ptr[machine[i] + 1]:
            j = seq[p + 1]
            t = max(t, duration[j] + tail[j])
        tail[i] = t
        makespan = max(makespan, head[i] + duration[i] + t)
    return makespan


@njit(cache=True)
def _blocks(
    seq, pos, seq_ptr, machine, duration, job_succ, head, tail, makespan, block_start, block_end, rng,
):  # pragma: no cover - numba
    """The blocks of one critical path (chosen at random where paths branch) as sequence position
    ranges [block_start, block_end]; returns how many."""
    n = len(machine)
    cur = -1
    ties = 0
    for i in range(n):
        if head[i] == 0 and duration[i] + tail[i] == makespan:
            ties += 1
            if rng.integers(0, ties) == 0:
                cur = i
    count = 0
    while cur >= 0:
        m = machine[cur]
        p = pos[cur]
        if count > 0 and block_end[count - 1] == p - 1 and machine[seq[p - 1]] == m:
            block_end[count - 1] = p
        else:
            block_start[count] = p
            block_end[count] = p
            count += 1
        finish = head[cur] + duration[cur]
        nxt = -1
        j = job_succ[cur]
        if j >= 0 and head[j] == finish and duration[j] + tail[j] == tail[cur]:
            nxt = j
        if p + 1 < seq_ptr[m + 1]:
            j = seq[p + 1]
            critical = head[j] == finish and duration[j] + tail[j] == tail[cur]
            if critical and (nxt < 0 or rng.integers(0, 2) == 0):
                nxt = j
        cur = nxt
    return count


@njit(cache=True)
def _feasible(
    s, t, seq, pos, machine, duration, job_pred, job_succ, head, tail,
):  # pragma: no cover - numba
    """Balas & Vazacopoulos' sufficient test that moving the operation at position s to position t
    (same machine) keeps the graph acyclic: no path may lead from the jumped segment into the moved
    operation's job predecessor (moving earlier) or from its job successor into the segment (later)."""
    w = seq[s]
    m = machine[w]
    if t < s:
        j = job_pred[w]
        if j < 0:
            return True
        if machine[j] == m and t <= pos[j] < s:
            return False
        v = seq[t]
        return head[j] < head[v] + duration[v]
    j = job_succ[w]
    if j < 0:
        return True
    if machine[j] == m and s < pos[j] <= t:
        return False
    v = seq[t]
    return tail[j] < duration[v] + tail[v]


@njit(cache=True)
def _estimate(
    s, t, seq, seq_ptr, machine, duration, job_pred, job_succ, head, tail, scratch,
):  # pragma: no cover - numba
    """Balas & Vazacopoulos' estimate of the makespan after moving the operation at sequence position
    s to position t: the longest path through the reordered segment, from the old heads and tails of
    the operations around it (exact unless a job neighbour's own head or tail changes)."""
    w = seq[s]
    m = machine[w]
    lo = min(s, t)
    hi = max(s, t)
    k = hi - lo + 1
    # the new order of the segment into scratch[0:k]
    if t < s:
        scratch[0] = w
        for x in range(k - 1):
            scratch[x + 1] = seq[lo + x]
    else:
        for x in range(k - 1):
            scratch[x] = seq[lo + 1 + x]
        scratch[k - 1] = w
    # heads forwards (kept in scratch[k:2k])
    finish = 0
    if lo > seq_ptr[m]:
        j = seq[lo - 1]
        finish = head[j] + duration[j]
    for x in range(k):
        i = scratch[x]
        h = finish
        j = job_pred[i]
        if j >= 0:
            h = max(h, head[j] + duration[j])
        scratch[k + x] = h
        finish = h + duration[i]
    # tails backwards, with the longest path through each operation
    after = 0
    if hi + 1 < seq_ptr[m + 1]:
        j = seq[hi + 1]
        after = duration[j] + tail[j]
    best = 0
    for x in range(k - 1, -1, -1):
        i = scratch[x]
        q = after
        j = job_succ[i]
        if j >= 0:
            q = max(q, duration[j] + tail[j])
        best = max(best, scratch[k + x] + duration[i] + q)
        after = q + duration[i]
    return best


@njit(cache=True)
def _tabu_move(s, t, seq, tabu, it):  # pragma: no cover - numba
    """Whether moving position s to t would restore an order a recent move reversed."""
    w = seq[s]
    if t < s:
        for x in range(t, s):
            if tabu[w, seq[x]] > it:
                return True
    else:
        for x in range(s + 1, t + 1):
            if tabu[seq[x], w] > it:
                return True
    return False


@njit(cache=True)
def _apply(s, t, seq, pos):  # pragma: no cover - numba
    """Move the operation at sequence position s to position t, shifting the ones between."""
    w = seq[s]
    if t < s:
        for x in range(s, t, -1):
            seq[x] = seq[x - 1]
            pos[seq[x]] = x
    else:
        for x in range(s, t):
            seq[x] = seq[x + 1]
            pos[seq[x]] = x
    seq[t] = w
    pos[w] = t


@njit(cache=True)
def _moves(count, block_start, block_end, move_s, move_t):  # pragma: no cover - numba
    """The N7 moves of the blocks as (from, to) sequence positions; each adjacent swap once."""
    size = 0
    for b in range(count):
        a = block_start[b]
        e = block_end[b]
        if e == a:
            continue
        for x in range(a + 1, e + 1):  # to the front (x = a + 1 is the swap of the first two)
            move_s[size] = x
            move_t[size] = a
            size += 1
        for x in range(a, e - 1):  # to the back (the swap of the last two comes next)
            move_s[size] = x
            move_t[size] = e
            size += 1
        if e - a >= 2:
            move_s[size] = e  # the last two swapped
            move_t[size] = e - 1
            size += 1
        for x in range(a + 1, e - 1):  # the last operation into the inside
            move_s[size] = e
            move_t[size] = x
            size += 1
        for x in range(a + 2, e):  # the first operation into the inside
            move_s[size] = a
            move_t[size] = x
            size += 1
    return size


@njit(cache=True)
def _distance(seq, other, seq_ptr, rank):  # pragma: no cover - numba
    """Pairs of operations on one machine that `seq` and `other` order differently."""
    for p in range(len(other)):
        rank[other[p]] = p
    total = 0
    for m in range(len(seq_ptr) - 1):
        for a in range(seq_ptr[m], seq_ptr[m + 1]):
            for b in range(a + 1, seq_ptr[m + 1]):
                if rank[seq[a]] > rank[seq[b]]:
                    total += 1
    return total


@njit(cache=True, nogil=True)
def search(
    seq, seq_ptr, machine, duration, job_pred, job_succ, best_seq, walk_seq, tabu, pool, pool_value,
    state, iterations, tenure_min, tenure_span, patience, near, beta, lower_bound, fresh, spread, kick, rng,
):  # pragma: no cover - numba
    """Run `iterations` tabu steps from the sequences `seq` (updated in place).

    `best_seq` keeps the best sequences, `walk_seq` the best of the current walk; `pool` (rows) with
    `pool_value` the elite solutions, -1 for an empty slot; `state` carries [iteration, steps since the
    walk improved, best makespan, best makespan of the walk, random starts made] between calls.
    A walk that has not improved for `patience` steps adds its best to the pool and restarts: the first
    `fresh` times (counted in state[4]) from a random solution, then from a point on the path between two
    elite solutions at least `spread` pairs apart, or else on the path to a kick of `kick` random swaps
    per machine. Returns the best makespan."""
    n = len(machine)
    pos = np.empty(n, dtype=np.int64)
    for p in range(n):
        pos[seq[p]] = p
    head = np.zeros(n, dtype=np.int64)
    tail = np.zeros(n, dtype=np.int64)
    indeg = np.zeros(n, dtype=np.int64)
    order = np.zeros(n, dtype=np.int64)
    block_start = np.zeros(n, dtype=np.int64)
    block_end = np.zeros(n, dtype=np.int64)
    move_s = np.zeros(4 * n, dtype=np.int64)
    move_t = np.zeros(4 * n, dtype=np.int64)
    scratch = np.zeros(2 * n + 2, dtype=np.int64)
    it = state[0]
    stale = state[1]
    best = state[2]
    walk_best = state[3]
    current = times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail, indeg, order)
    for _ in range(iterations):
        if best <= lower_bound:
            break
        it += 1
        count = _blocks(seq, pos, seq_ptr, machine, duration, job_succ, head, tail, current, block_start,
                        block_end, rng)
        size = _moves(count, block_start, block_end, move_s, move_t)
        pick = -1
        pick_value = np.iinfo(np.int64).max
        ties = 0
        for c in range(size):
            s = move_s[c]
            t = move_t[c]
            if not _feasible(s, t, seq, pos, machine, duration, job_pred, job_succ, head, tail):
                continue
            value = _estimate(s, t, seq, seq_ptr, machine, duration, job_pred, job_succ, head, tail,
                              scratch)
            if value >= best and _tabu_move(s, t, seq, tabu, it):
                continue
            if value < pick_value:
                pick_value = value
                pick = c
                ties = 1
            elif value == pick_value:
                ties += 1
                if rng.integers(0, ties) == 0:
                    pick = c
        if pick < 0 and size > 0:  # every move tabu: take a random feasible one
            for _try in range(size):
                c = rng.integers(0, size)
                if _feasible(move_s[c], move_t[c], seq, pos, machine, duration, job_pred, job_succ, head,
                             tail):
                    pick = c
                    break
        if pick >= 0:
            s = move_s[pick]
            t = move_t[pick]
            w = seq[s]
            tenure = tenure_min + rng.integers(0, tenure_span + 1)
            if t < s:
                for x in range(t, s):
                    tabu[seq[x], w] = it + tenure
            else:
                for x in range(s + 1, t + 1):
                    tabu[w, seq[x]] = it + tenure
            _apply(s, t, seq, pos)
            current = times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail, indeg,
                            order)
            if current < 0:  # cannot happen after the acyclicity test; kept as a guard
                _apply(t, s, seq, pos)
                current = times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail,
                                indeg, order)
        if current < walk_best:
            walk_best = current
            walk_seq[:] = seq
            stale = 0
            if current < best:
                best = current
                best_seq[:] = seq
        else:
            stale += 1
        if stale > patience or pick < 0:
            _remember(walk_seq, walk_best, pool, pool_value, seq_ptr, order, near, beta)
            if state[4] < fresh:
                state[4] += 1
                _random_start(seq, pos, seq_ptr, machine, job_pred, job_succ, order, rng)
            else:
                _relink(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, pool, pool_value, head,
                        tail, indeg, order, spread, kick, rng)
            current = times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail, indeg,
                            order)
            it += tenure_min + tenure_span + 1  # every tabu mark expires
            walk_best = current
            walk_seq[:] = seq
            stale = 0
    state[0] = it
    state[1] = stale
    state[2] = best
    state[3] = walk_best
    return best


@njit(cache=True)
def _remember(candidate, value, pool, pool_value, seq_ptr, rank, near, beta):  # pragma: no cover - numba
    """Put `candidate` into the elite pool. An elite solution within `near` differing pairs of it is
    replaced if the candidate is at least as good (else the candidate is dropped). A full pool drops the
    member of least goodness, `beta` times its quality plus 1 - `beta` times its distance to the nearest
    other member, both scaled to [0, 1) over the pool and the candidate (Peng, Lu & Cheng 2015); the
    best member stays. Dropping the worst instead let one early basin fill the pool: on ta10 half the
    runs sat at 1259-1262 from their first second on."""
    size = len(pool_value)
    gap = np.empty(size + 1, dtype=np.int64)
    for e in range(size):
        if pool_value[e] < 0:
            pool[e, :] = candidate
            pool_value[e] = value
            return
        d = _distance(candidate, pool[e], seq_ptr, rank)
        if d <= near:
            if value <= pool_value[e]:
                pool[e, :] = candidate
                pool_value[e] = value
            return
        gap[e] = d
    gap[size] = np.iinfo(np.int64).max
    for e in range(size):
        gap[size] = min(gap[size], gap[e])
        nearest = gap[e]
        for o in range(size):
            if o != e:
                nearest = min(nearest, _distance(pool[e], pool[o], seq_ptr, rank))
        gap[e] = nearest
    best = 0
    low = high = value
    for e in range(size):
        if pool_value[e] < pool_value[best]:
            best = e
        low = min(low, pool_value[e])
        high = max(high, pool_value[e])
    gap_low = gap_high = gap[size]
    for e in range(size):
        gap_low = min(gap_low, gap[e])
        gap_high = max(gap_high, gap[e])
    drop = -1
    drop_goodness = np.inf
    for e in range(size + 1):
        if e == best and value >= pool_value[best]:
            continue
        f = value if e == size else pool_value[e]
        goodness = (beta * (high - f) / (high - low + 1)
                    + (1.0 - beta) * (gap[e] - gap_low) / (gap_high - gap_low + 1))
        if goodness < drop_goodness:
            drop_goodness = goodness
            drop = e
    if drop < size:
        pool[drop, :] = candidate
        pool_value[drop] = value


@njit(cache=True)
def _relink(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, pool, pool_value, head, tail, indeg,
            order, spread, kick, rng):  # pragma: no cover - numba
    """Start a new walk on the path from one elite solution towards another: adjacent swaps that undo
    a difference between them, the best of a few sampled at each step, for a random share of the
    distance (Peng, Lü & Cheng 2015). With a single elite solution, or one fewer than `spread` pairs from
    the other, the path leads to that solution with `kick` random adjacent swaps per machine instead:
    relinking between near twins would only restart the walk where it ended."""
    n = len(machine)
    filled = 0
    for e in range(len(pool_value)):
        if pool_value[e] >= 0:
            filled += 1
    a = rng.integers(0, filled)
    seq[:] = pool[a]
    for p in range(n):
        pos[seq[p]] = p
    rank = np.empty(n, dtype=np.int64)
    target = seq.copy()
    linked = False
    if filled >= 2:
        b = rng.integers(0, filled - 1)
        if b >= a:
            b += 1
        if _distance(seq, pool[b], seq_ptr, order) >= spread:
            target = pool[b]
            linked = True
    if not linked:
        for m in range(len(seq_ptr) - 1):
            for _ in range(kick):
                p = seq_ptr[m] + rng.integers(0, max(seq_ptr[m + 1] - seq_ptr[m] - 1, 1))
                if p + 1 < seq_ptr[m + 1]:
                    x = target[p]
                    target[p] = target[p + 1]
                    target[p + 1] = x
    for p in range(n):
        rank[target[p]] = p
    differ = _distance(seq, target, seq_ptr, order)
    steps = differ // 4 + rng.integers(0, differ // 2 + 1)
    candidates = np.empty(n, dtype=np.int64)
    for _ in range(steps):
        size = 0
        for p in range(n - 1):
            if machine[seq[p]] == machine[seq[p + 1]] and rank[seq[p]] > rank[seq[p + 1]]:
                candidates[size] = p
                size += 1
        if size == 0:
            break
        pick = -1
        pick_value = np.iinfo(np.int64).max
        for _sample in range(min(size, 5)):
            p = candidates[rng.integers(0, size)]
            _apply(p, p + 1, seq, pos)
            value = times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail, indeg, order)
            _apply(p + 1, p, seq, pos)
            if value >= 0 and value < pick_value:
                pick_value = value
                pick = p
        if pick < 0:
            break
        _apply(pick, pick + 1, seq, pos)


@njit(cache=True)
def _random_start(seq, pos, seq_ptr, machine, job_pred, job_succ, fill, rng):  # pragma: no cover - numba
    """Sequences from a random interleaving of the job chains (each step appends the next operation of a
    random job to its machine), acyclic by construction."""
    n = len(machine)
    ready = np.empty(n, dtype=np.int64)
    size = 0
    for i in range(n):
        if job_pred[i] < 0:
            ready[size] = i
            size += 1
    for m in range(len(seq_ptr) - 1):
        fill[m] = seq_ptr[m]
    while size > 0:
        k = rng.integers(0, size)
        i = ready[k]
        m = machine[i]
        seq[fill[m]] = i
        pos[i] = fill[m]
        fill[m] += 1
        j = job_succ[i]
        if j >= 0:
            ready[k] = j
        else:
            size -= 1
            ready[k] = ready[size]
