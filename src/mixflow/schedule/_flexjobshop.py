"""Numba tabu search for the pure flexible job shop (job chains, no setups, releases or downtime).

Without setups or calendars a schedule is fixed by its machine assignment and sequences, and the
makespan is the longest path of the disjunctive graph. That lets every move be valued without
building its schedule, after Mastrolilli & Gambardella (2000, "Effective neighbourhood functions for
the flexible job shop problem"): a move takes an operation v of a critical path out of its machine
sequence and inserts it anywhere on a machine eligible for v (its own included). With v taken out,
one pass gives the heads r and tails q of the graph without v and its longest path L-; inserting v
between u and w on machine m then gives the makespan

    max(L-, max(r[jp] + p[jp], r[u] + p[u]) + p(v, m) + max(p[js] + q[js], p[w] + q[w]))

exactly (jp, js: v's job neighbours), since a path of the new graph either runs through v or is a path
of the graph without v. An insertion is kept only where w ends after jp (r[jp] + p[jp] < r[w] + p[w])
and u ends before js's tail begins (p[js] + q[js] < p[u] + q[u]), w not being jp nor u js: then no path
runs from w to jp nor from js to u, so the graph stays acyclic, and the insertions dropped would only
delay w or v (the sets L and R of Mastrolilli & Gambardella). So a step costs one O(n) pass per
critical operation instead of one per candidate move; only the chosen move is applied.

Every operation with head + duration + tail = makespan is a candidate. Moves within v's own machine
are kept only where they shorten the longest path through v: where two machines are both critical
(Brandimarte's mk07), reordering one of them cannot lower the makespan, and with such moves allowed
the walk drifted among them at one makespan for thousands of steps. Ties on the makespan go to the move
that adds the least processing time (v onto a faster machine), then to the shorter path through v,
then at random: on mk07 from a schedule of 140, walks of 40,000 steps reached 139 in 3 of 10 runs
with this order, in none of 10 with ties going to the fewest critical operations (4 sampled) nor with
the same-machine moves all kept. Tabu attributes as in `_flextabu`: after v leaves machine m it may
not return to m for a few steps; after v moves within its machine it stays put for a few steps; a
tabu move is taken only if it beats the best.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mixflow.schedule._kernels import put_in, take_out


@njit(cache=True, nogil=True)
def times(
    seq, count, pos, machine, dmat, job_pred, job_succ, skip, head, tail, indeg, order,
):  # pragma: no cover - numba
    """Heads (earliest starts) and tails (longest path after each end) of the machine rows, leaving out
    operation `skip` (taken out of its row already; -1 for none) and its job arcs. Returns the
    makespan, or -1 if the rows close a cycle with the job chains."""
    n = len(machine)
    for i in range(n):
        d = 0
        j = job_pred[i]
        if j >= 0 and j != skip:
            d += 1
        if pos[i] > 0:
            d += 1
        indeg[i] = d
    size = 0
    for i in range(n):
        if indeg[i] == 0 and i != skip:
            order[size] = i
            size += 1
    done = 0
    while done < size:
        i = order[done]
        done += 1
        t = 0
        j = job_pred[i]
        if j >= 0 and j != skip:
            t = head[j] + dmat[j, machine[j]]
        m = machine[i]
        p = pos[i]
        if p > 0:
            j = seq[m, p - 1]
            t = max(t, head[j] + dmat[j, m])
        head[i] = t
        j = job_succ[i]
        if j >= 0 and j != skip:
            indeg[j] -= 1
            if indeg[j] == 0:
                order[size] = j
                size += 1
        if p + 1 < count[m]:
            j = seq[m, p + 1]
            indeg[j] -= 1
            if indeg[j] == 0:
                order[size] = j
                size += 1
    if size < (n if skip < 0 else n - 1):
        return -1
    makespan = 0
    for k in range(size - 1, -1, -1):
        i = order[k]
        t = 0
        j = job_succ[i]
        if j >= 0 and j != skip:
            t = dmat[j, machine[j]] + tail[j]
        m = machine[i]
        p = pos[i]
        if p + 1 < count[m]:
            j = seq[m, p + 1]
            t = max(t, dmat[j, m] + tail[j])
        tail[i] = t
        makespan = max(makespan, head[i] + dmat[i, m] + t)
    return makespan


@njit(cache=True, nogil=True)
def times_without(
    v, seq, count, pos, machine, dmat, job_pred, job_succ, order, rank, head, tail, end_before, head2, tail2,
):  # pragma: no cover - numba
    """Heads and tails into head2 / tail2 with v taken out of its row (and its job arcs dropped), from the
    full graph's topological `order` (`rank` its inverse), heads and tails: dropping v keeps that order
    topological, heads before v and tails after v do not change, so only the rest is recomputed.
    `end_before[k]` is the largest end among order[:k]. Returns the longest path without v. Its head and
    tail steps repeat `times`'s inline: as shared helper functions (even inlined by numba) they made the
    walk about 60% slower (mk07, 20,000 steps)."""
    n = len(machine)
    r = rank[v]
    head2[:] = head
    tail2[:] = tail
    lminus = end_before[r]
    for k in range(r + 1, n):
        i = order[k]
        t = 0
        j = job_pred[i]
        if j >= 0 and j != v:
            t = head2[j] + dmat[j, machine[j]]
        m = machine[i]
        p = pos[i]
        if p > 0:
            j = seq[m, p - 1]
            t = max(t, head2[j] + dmat[j, m])
        head2[i] = t
        lminus = max(lminus, t + dmat[i, m])
    for k in range(r - 1, -1, -1):
        i = order[k]
        t = 0
        j = job_succ[i]
        if j >= 0 and j != v:
            t = dmat[j, machine[j]] + tail2[j]
        m = machine[i]
        p = pos[i]
        if p + 1 < count[m]:
            j = seq[m, p + 1]
            t = max(t, dmat[j, m] + tail2[j])
        tail2[i] = t
    return lminus


@njit(cache=True, nogil=True)
def insertions(
    v, home, home_k, seq, count, machine, dmat, elig_ptr, elig_machine, job_pred, job_succ, head, tail,
    lminus, out_machine, out_k, out_value, out_through,
):  # pragma: no cover - numba
    """The insertions of v the module's test keeps (v taken out of row `home` at `home_k`; `head` /
    `tail` / `lminus` from `times_without`), its old place excepted, with the makespan each gives and
    the length of the path through v, into the out arrays; returns how many."""
    jp = job_pred[v]
    js = job_succ[v]
    ready = 0
    if jp >= 0:
        ready = head[jp] + dmat[jp, machine[jp]]
    after = 0
    if js >= 0:
        after = dmat[js, machine[js]] + tail[js]
    found = 0
    for e in range(elig_ptr[v], elig_ptr[v + 1]):
        m = elig_machine[e]
        pv = dmat[v, m]
        for k in range(count[m] + 1):
            if m == home and k == home_k:
                continue
            h = ready
            if k > 0:
                u = seq[m, k - 1]
                if u == js or (js >= 0 and after >= dmat[u, m] + tail[u]):
                    continue  # js might reach u (a cycle); else dominated (set R)
                h = max(h, head[u] + dmat[u, m])
            q = after
            if k < count[m]:
                w = seq[m, k]
                if w == jp or (jp >= 0 and ready >= head[w] + dmat[w, m]):
                    continue  # w might reach jp (a cycle); else dominated (set L)
                q = max(q, dmat[w, m] + tail[w])
            through = h + pv + q
            out_machine[found] = m
            out_k[found] = k
            out_value[found] = max(lminus, through)
            out_through[found] = through
            found += 1
    return found


@njit(cache=True, nogil=True)
def search(
    seq, count, machine, dmat, elig_ptr, elig_machine, job_pred, job_succ, best_seq, best_count,
    best_machine, tabu_machine, tabu_op, state, iterations, patience, tenure_min, tenure_span,
    lower_bound, rng,
):  # pragma: no cover - numba
    """Run up to `iterations` tabu steps from the rows `seq` / `count` / `machine` (updated in place),
    stopping early once `patience` steps pass without improving the best or it reaches `lower_bound`.
    The best schedule is kept in `best_seq` / `best_count` / `best_machine`; `state` carries
    [iteration, steps since the best improved, best makespan] between calls. Returns the best."""
    n = len(machine)
    pos = np.full(n, -1, dtype=np.int64)
    for m in range(seq.shape[0]):
        for k in range(count[m]):
            pos[seq[m, k]] = k
    head = np.zeros(n, dtype=np.int64)
    tail = np.zeros(n, dtype=np.int64)
    head2 = np.zeros(n, dtype=np.int64)
    tail2 = np.zeros(n, dtype=np.int64)
    indeg = np.zeros(n, dtype=np.int64)
    order = np.zeros(n, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    end_before = np.zeros(n + 1, dtype=np.int64)
    critical = np.zeros(n, dtype=np.int64)
    width = len(elig_machine) + n * 2 + 2
    out_machine = np.zeros(width, dtype=np.int64)
    out_k = np.zeros(width, dtype=np.int64)
    out_value = np.zeros(width, dtype=np.int64)
    out_through = np.zeros(width, dtype=np.int64)
    big = np.iinfo(np.int64).max
    it = state[0]
    stale = state[1]
    best = state[2]
    current = times(seq, count, pos, machine, dmat, job_pred, job_succ, -1, head, tail, indeg, order)
    for _ in range(iterations):
        if best <= lower_bound or stale >= patience:
            break
        it += 1
        for k in range(n):
            i = order[k]
            rank[i] = k
            end_before[k + 1] = max(end_before[k], head[i] + dmat[i, machine[i]])
        size = 0
        for i in range(n):
            if head[i] + dmat[i, machine[i]] + tail[i] == current:
                critical[size] = i
                size += 1
        pick_v = -1
        pick_m = -1
        pick_k = -1
        pick_value = big
        pick_work = big
        pick_through = big
        ties = 0
        any_v = -1
        any_m = -1
        any_k = -1
        seen = 0
        for c in range(size):
            v = critical[c]
            home = machine[v]
            home_k = pos[v]
            take_out(v, seq, count, pos, machine)
            lminus = times_without(v, seq, count, pos, machine, dmat, job_pred, job_succ, order, rank, head,
                                   tail, end_before, head2, tail2)
            found = insertions(v, home, home_k, seq, count, machine, dmat, elig_ptr, elig_machine, job_pred,
                               job_succ, head2, tail2, lminus, out_machine, out_k, out_value, out_through)
            put_in(v, home, home_k, seq, count, pos, machine)
            for x in range(found):
                m = out_machine[x]
                value = out_value[x]
                through = out_through[x]
                if m == home and through >= current:
                    continue  # reordering v's machine without shortening the path through v
                seen += 1
                if rng.integers(0, seen) == 0:
                    any_v = v
                    any_m = m
                    any_k = out_k[x]
                blocked = tabu_op[v] >= it if m == home else tabu_machine[v, m] >= it
                if blocked and value >= best:
                    continue
                work = dmat[v, m] - dmat[v, home]
                if value != pick_value:
                    better = value < pick_value
                elif work != pick_work:
                    better = work < pick_work
                else:
                    better = through < pick_through
                if better:
                    pick_value = value
                    pick_work = work
                    pick_through = through
                    ties = 1
                elif value == pick_value and work == pick_work and through == pick_through:
                    ties += 1
                    if rng.integers(0, ties) != 0:
                        continue
                else:
                    continue
                pick_v = v
                pick_m = m
                pick_k = out_k[x]
        if pick_v < 0:
            if any_v < 0:
                break
            pick_v = any_v
            pick_m = any_m
            pick_k = any_k
        home = machine[pick_v]
        tenure = tenure_min + rng.integers(0, tenure_span + 1)
        if pick_m == home:
            tabu_op[pick_v] = it + tenure
        else:
            tabu_machine[pick_v, home] = it + tenure
        take_out(pick_v, seq, count, pos, machine)
        put_in(pick_v, pick_m, pick_k, seq, count, pos, machine)
        current = times(seq, count, pos, machine, dmat, job_pred, job_succ, -1, head, tail, indeg, order)
        if current < best:
            best = current
            best_seq[:, :] = seq
            best_count[:] = count
            best_machine[:] = machine
            stale = 0
        else:
            stale += 1
    state[0] = it
    state[1] = stale
    state[2] = best
    return best
