"""Numba kernels of the fleet: BFS distance fields and one PIBT step with swap and guidance.

PIBT (Okumura et al., AIJ 2022): agents, highest priority first, each take the best free neighbour
cell; an agent that wants a cell held by a lower-priority agent makes it move first (priority
inheritance) and backtracks to its next choice when that agent cannot move. The swap operation
(Okumura, "Engineering LaCAM*", AAMAS 2024) detects two agents that must pass each other in a
corridor: the pusher then moves *away* and pulls the other into its old cell, so they trade places
at the next junction instead of locking. Arrays only; the callers own the state.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = 1 << 30


@njit(cache=True)
def bfs_to_goal(pred: np.ndarray, goal: int, closed: np.ndarray, out: np.ndarray) -> None:
    """Fill `out[c]` with the number of moves from cell c to `goal` (INF where unreachable).

    `pred[v]` lists the cells that can move into v, so this is a BFS on the reversed graph and
    respects one-way lanes. `closed` cells (broken robots) are treated as walls.
    """
    out[:] = INF
    if closed[goal]:
        return
    queue = np.empty(out.shape[0], dtype=np.int32)
    out[goal] = 0
    queue[0] = goal
    head, tail = 0, 1
    while head < tail:
        v = queue[head]
        head += 1
        dv = out[v] + 1
        for d in range(4):
            u = pred[v, d]
            if u >= 0 and out[u] == INF and not closed[u]:
                out[u] = dv
                queue[tail] = u
                tail += 1


@njit(cache=True)
def dial_to_goal(
    pred: np.ndarray, cost: np.ndarray, goal: int, closed: np.ndarray, out: np.ndarray, queue: np.ndarray
) -> None:
    """Like `bfs_to_goal` with small positive integer move costs `cost[u, d]` (Dial's bucket queue).

    Used for lane guidance: a move against a cell's preferred direction costs a little more. `queue`
    is scratch from `dial_queue`, reused between calls (allocating megabytes per call is slow).
    """
    out[:] = INF
    if closed[goal]:
        return
    n_buckets = queue.shape[0]
    tail = np.zeros(n_buckets, dtype=np.int64)
    out[goal] = 0
    queue[0, 0] = goal
    tail[0] = 1
    pending = 1
    current = 0
    while pending > 0:
        b = current % n_buckets
        head = 0
        while head < tail[b]:
            v = queue[b, head]
            head += 1
            pending -= 1
            if out[v] != current:
                continue
            for slot in range(4):
                u = pred[v, slot]
                if u < 0 or closed[u]:
                    continue
                nd = current + cost[u, (slot + 2) % 4]
                if nd < out[u]:
                    out[u] = nd
                    k = nd % n_buckets
                    queue[k, tail[k]] = u
                    tail[k] += 1
                    pending += 1
        tail[b] = 0
        current += 1


def dial_queue(cost: np.ndarray) -> np.ndarray:
    """Scratch buckets for `dial_to_goal` under `cost` (one per cost value, room for every push)."""
    return np.empty((int(cost.max()) + 1, 4 * cost.shape[0] + 1), dtype=np.int32)


@njit(cache=True)
def _blocked_dead_end(
    u: int, nbr: np.ndarray, deg: np.ndarray, occ_now: np.ndarray, goal: np.ndarray
) -> bool:
    """A dead-end cell occupied by an agent that is parked on its own goal: it will not make room."""
    a = occ_now[u]
    return deg[u] == 1 and a >= 0 and goal[a] == u


@njit(cache=True)
def _swap_required(
    pusher: int,
    puller: int,
    v_pusher0: int,
    v_puller0: int,
    nbr: np.ndarray,
    deg: np.ndarray,
    dist: np.ndarray,
    slot: np.ndarray,
    goal: np.ndarray,
    occ_now: np.ndarray,
) -> bool:
    """Whether pusher (at v_pusher0) and puller (at v_puller0) must trade places to both progress."""
    dp = dist[slot[pusher]]
    dq = dist[slot[puller]]
    v_pusher, v_puller = v_pusher0, v_puller0
    for _ in range(dist.shape[1]):
        if dp[v_puller] >= dp[v_pusher]:
            break
        n = deg[v_puller]
        nxt_cell = -1
        for d in range(4):
            u = nbr[v_puller, d]
            if u < 0:
                continue
            if u == v_pusher or _blocked_dead_end(u, nbr, deg, occ_now, goal):
                n -= 1
            else:
                nxt_cell = u
        if n >= 2:
            return False  # a junction: they can pass each other without a swap
        if n <= 0:
            break
        v_pusher, v_puller = v_puller, nxt_cell
    return dq[v_pusher] < dq[v_puller] and (dp[v_pusher] == 0 or dp[v_puller] < dp[v_pusher])


@njit(cache=True)
def _swap_possible(
    v_pusher0: int, v_puller0: int, nbr: np.ndarray, deg: np.ndarray, occ_now: np.ndarray, goal: np.ndarray
) -> bool:
    """Whether walking away from v_pusher0 through v_puller0 reaches a junction where a swap fits."""
    v_pusher, v_puller = v_pusher0, v_puller0
    for _ in range(nbr.shape[0]):
        if v_puller == v_pusher0:
            return False
        n = deg[v_puller]
        nxt_cell = -1
        for d in range(4):
            u = nbr[v_puller, d]
            if u < 0:
                continue
            if u == v_pusher or _blocked_dead_end(u, nbr, deg, occ_now, goal):
                n -= 1
            else:
                nxt_cell = u
        if n >= 2:
            return True
        if n <= 0:
            return False
        v_pusher, v_puller = v_puller, nxt_cell
    return False


@njit(cache=True)
def _swap_partner(
    i: int,
    first: int,
    nbr: np.ndarray,
    deg: np.ndarray,
    dist: np.ndarray,
    slot: np.ndarray,
    goal: np.ndarray,
    pos: np.ndarray,
    occ_now: np.ndarray,
    nxt: np.ndarray,
) -> int:
    """The agent i must trade places with, or -1.

    Either the agent at i's preferred cell `first` (the two face each other in a corridor), or, the
    clear operation of push-and-swap, an agent right behind i that needs i's cell while i, one step
    ahead at `first`, would block it in a corridor: i then steps back out of its way.
    """
    v = pos[i]
    j = occ_now[first]
    if (
        j >= 0
        and j != i
        and nxt[j] == -1
        and _swap_required(i, j, v, pos[j], nbr, deg, dist, slot, goal, occ_now)
        and _swap_possible(pos[j], v, nbr, deg, occ_now, goal)
    ):
        return j
    if first != v:
        for d in range(4):
            u = nbr[v, d]
            if u < 0:
                continue
            k = occ_now[u]
            if (
                k >= 0
                and k != i
                and pos[k] != first
                and _swap_required(k, i, v, first, nbr, deg, dist, slot, goal, occ_now)
                and _swap_possible(first, v, nbr, deg, occ_now, goal)
            ):
                return k
    return -1


FLOW_NEGLIGIBLE = 1e-60
"""A flow below this moves nothing: weighted, it is far under half an ulp of the PIBT noise (at least
2**-53 * 1e-3) and of 1.0, so costs and the next `flow + 1.0` come out the same as with 0.0."""


def flow_zero_after(decay: float) -> int:
    """Decays after which any flow value (at most 2 / (1 - decay): one move out of a cell in one
    direction a step) is negligible when multiplied by `decay` one step at a time."""
    x, k = 2.0 / (1.0 - decay), 0
    while x >= FLOW_NEGLIGIBLE:
        x *= decay
        k += 1
    return k


@njit(cache=True)
def _decayed(
    flow: np.ndarray, stamp: np.ndarray, v: int, d: int, now: int, decay: float, zero_after: int
) -> float:
    """`flow[v, d]` brought to `now` decays (stored back): multiplied by `decay` once per step missed, as
    an update of the whole table every step would have, so the value is the same to the last bit until
    it becomes negligible, and then 0.0 (the eager update went on into slow subnormal numbers)."""
    k = now - stamp[v, d]
    if k > 0:
        x = flow[v, d]
        if k >= zero_after:
            x = 0.0
        else:
            for _ in range(k):
                x *= decay
                if x < FLOW_NEGLIGIBLE:
                    x = 0.0
                    break
        flow[v, d] = x
        stamp[v, d] = now
    return flow[v, d]


@njit(cache=True)
def _pibt(
    i: int,
    nbr: np.ndarray,
    deg: np.ndarray,
    dist: np.ndarray,
    slot: np.ndarray,
    goal: np.ndarray,
    pos: np.ndarray,
    flow: np.ndarray,
    flow_stamp: np.ndarray,
    flow_time: int,
    flow_decay: float,
    flow_zero_after: int,
    flow_weight: float,
    noise: np.ndarray,
    occ_weight: float,
    use_swap: bool,
    occ_now: np.ndarray,
    occ_next: np.ndarray,
    nxt: np.ndarray,
) -> bool:
    """Plan agent i's next cell, pushing lower-priority agents as needed; False if it must stay.

    A move v -> u costs its distance, plus `flow_weight` times the flow of robots recently moving
    the other way (u -> v), plus noise; the flow is read only here, for the cells robots consider."""
    v = pos[i]
    row = slot[i]
    cand = np.empty(5, dtype=np.int32)
    cost = np.empty(5, dtype=np.float64)
    k = 0
    for d in range(4):
        u = nbr[v, d]
        if u >= 0:
            guide = 0.0
            if flow_weight > 0.0:
                back = _decayed(flow, flow_stamp, u, (d + 2) % 4, flow_time, flow_decay, flow_zero_after)
                guide = flow_weight * back
            c = float(dist[row, u]) + guide + noise[i, d]
            if occ_now[u] >= 0:
                c += occ_weight
            cand[k] = u
            cost[k] = c
            k += 1
    cand[k] = v
    cost[k] = float(dist[row, v]) + noise[i, 4]
    k += 1
    for a in range(1, k):  # insertion sort, at most 5 entries
        cu, cc = cand[a], cost[a]
        b = a - 1
        while b >= 0 and cost[b] > cc:
            cand[b + 1] = cand[b]
            cost[b + 1] = cost[b]
            b -= 1
        cand[b + 1] = cu
        cost[b + 1] = cc
    swapper = -1
    if use_swap:
        swapper = _swap_partner(i, cand[0], nbr, deg, dist, slot, goal, pos, occ_now, nxt)
        if swapper >= 0:
            cand[:k] = cand[:k][::-1].copy()
    for idx in range(k):
        u = cand[idx]
        if occ_next[u] >= 0:
            continue
        a = occ_now[u]
        if a >= 0 and a != i and nxt[a] == v:
            continue  # would swap cells with a in one step
        occ_next[u] = i
        nxt[i] = u
        if (
            a >= 0
            and a != i
            and nxt[a] == -1
            and not _pibt(
                a, nbr, deg, dist, slot, goal, pos, flow, flow_stamp, flow_time, flow_decay, flow_zero_after,
                flow_weight, noise, occ_weight, use_swap, occ_now, occ_next, nxt,
            )
        ):
            continue
        if idx == 0 and swapper >= 0 and nxt[swapper] == -1 and occ_next[v] == -1:
            nxt[swapper] = v
            occ_next[v] = swapper
        return True
    nxt[i] = v
    occ_next[v] = i
    return False


@njit(cache=True)
def plan_step(
    order: np.ndarray,
    nbr: np.ndarray,
    deg: np.ndarray,
    dist: np.ndarray,
    slot: np.ndarray,
    goal: np.ndarray,
    pos: np.ndarray,
    flow: np.ndarray,
    flow_stamp: np.ndarray,
    flow_time: int,
    flow_decay: float,
    flow_zero_after: int,
    flow_weight: float,
    noise: np.ndarray,
    occ_weight: float,
    use_swap: bool,
    occ_now: np.ndarray,
    occ_next: np.ndarray,
    nxt: np.ndarray,
) -> bool:
    """One PIBT step for all agents; entries of `nxt` already >= 0 are fixed moves (held, broken, or
    LaCAM constraints). Returns False (and a partial `nxt`) when the fixed moves or the result collide.
    `flow*` is the traffic guidance (see `add_flow`; `flow_weight` 0 for none).

    `occ_now` and `occ_next` are scratch arrays of -1 per cell; they are -1 again on return.
    """
    n_agents = pos.shape[0]
    for i in range(n_agents):
        occ_now[pos[i]] = i
    ok = True
    for i in range(n_agents):
        if nxt[i] >= 0:
            if occ_next[nxt[i]] >= 0:
                ok = False
            occ_next[nxt[i]] = i
    if ok:
        for i in range(n_agents):
            if nxt[i] >= 0:
                a = occ_now[nxt[i]]
                if a >= 0 and a != i and nxt[a] == pos[i]:
                    ok = False
    if ok:
        for i in order:
            v = pos[i]
            if (
                nxt[i] == -1
                and not use_swap
                and v == goal[i]
                and occ_next[v] < 0
                and dist[slot[i], v] == 0
                and noise[i, 4] < 1.0
            ):  # at its goal, nobody pushing: staying costs < 1, any move >= 1 (guide, noise >= 0)
                occ_next[v] = i
                nxt[i] = v
            elif nxt[i] == -1:
                _pibt(
                    i,
                    nbr,
                    deg,
                    dist,
                    slot,
                    goal,
                    pos,
                    flow,
                    flow_stamp,
                    flow_time,
                    flow_decay,
                    flow_zero_after,
                    flow_weight,
                    noise,
                    occ_weight,
                    use_swap,
                    occ_now,
                    occ_next,
                    nxt,
                )
        for i in range(n_agents):  # a fixed move may have left an agent with nowhere to go
            occ_next[nxt[i]] = -1
        for i in range(n_agents):
            if occ_next[nxt[i]] >= 0:
                ok = False
            occ_next[nxt[i]] = i
        if ok:
            for i in range(n_agents):
                a = occ_now[nxt[i]]
                if a >= 0 and a != i and nxt[a] == pos[i]:
                    ok = False
    for i in range(n_agents):
        occ_now[pos[i]] = -1
        occ_next[pos[i]] = -1
        if nxt[i] >= 0:
            occ_next[nxt[i]] = -1
    return ok


@njit(cache=True)
def _heap_push(keys: np.ndarray, vals: np.ndarray, size: int, key: int, val: int) -> int:
    k = size
    keys[k] = key
    vals[k] = val
    while k > 0:
        up = (k - 1) // 2
        if keys[up] <= keys[k]:
            break
        keys[up], keys[k] = keys[k], keys[up]
        vals[up], vals[k] = vals[k], vals[up]
        k = up
    return size + 1


@njit(cache=True)
def _heap_pop(keys: np.ndarray, vals: np.ndarray, size: int) -> int:
    """Remove the root (the caller read it first); returns the new size."""
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    k = 0
    while True:
        a, b, best = 2 * k + 1, 2 * k + 2, k
        if a < size and keys[a] < keys[best]:
            best = a
        if b < size and keys[b] < keys[best]:
            best = b
        if best == k:
            return size
        keys[best], keys[k] = keys[k], keys[best]
        vals[best], vals[k] = vals[k], vals[best]
        k = best


@njit(cache=True)
def space_time_path(
    nbr: np.ndarray,
    h: np.ndarray,
    start: int,
    goal: int,
    occ: np.ndarray,
    goal_free_from: int,
    seen: np.ndarray,
    stamp: int,
    parent: np.ndarray,
    heap_keys: np.ndarray,
    heap_vals: np.ndarray,
    out: np.ndarray,
    max_expansions: int,
) -> int:
    """Shortest path of one robot from `start` (time 0) that avoids the robots in `occ[t, cell]`
    (robot id or -1, rows 0..H-1) and ends on `goal` at a time >= `goal_free_from`, staying there.

    Space-time A* with unit costs: a state's cost is its time, so a state is final when first
    generated (`seen[t * cells + c] == stamp`). The heuristic is max(unit distance `h`, time until the
    goal is free), ties to the later state, so waiting for a busy goal does not flood space-time.
    Writes `out[0..arrival]` and returns the arrival time, or -1 if none fits within H steps, the heap
    is full or `max_expansions` states were expanded. Vertex and swap conflicts with `occ` are excluded.
    """
    horizon, n_cells = occ.shape
    capacity = heap_keys.shape[0]
    if h[start] >= INF:
        return -1
    seen[start] = stamp
    parent[start] = -1
    size = _heap_push(heap_keys, heap_vals, 0, max(h[start], goal_free_from) * horizon + horizon - 1, start)
    expanded = 0
    while size > 0 and expanded < max_expansions:
        expanded += 1
        s = heap_vals[0]
        size = _heap_pop(heap_keys, heap_vals, size)
        t = s // n_cells
        c = s - t * n_cells
        if c == goal and t >= goal_free_from:
            k = s
            while k >= 0:
                out[k // n_cells] = k % n_cells
                k = parent[k]
            return t
        t1 = t + 1
        if t1 >= horizon:
            continue
        for d in range(5):
            u = nbr[c, d] if d < 4 else c
            if u < 0 or t1 + h[u] >= horizon:
                continue
            s1 = t1 * n_cells + u
            if seen[s1] == stamp or occ[t1, u] >= 0:
                continue
            if u != c:
                a = occ[t, u]
                if a >= 0 and occ[t1, c] == a:
                    continue
            if size >= capacity:
                return -1
            seen[s1] = stamp
            parent[s1] = s
            f = max(t1 + h[u], goal_free_from)  # still admissible: it cannot finish before then
            size = _heap_push(heap_keys, heap_vals, size, f * horizon + horizon - 1 - t1, s1)
    return -1


@njit(cache=True)
def add_flow(
    flow: np.ndarray,
    stamp: np.ndarray,
    nbr: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    now: int,
    decay: float,
    zero_after: int,
) -> None:
    """Count this step's moves in `flow[v, d]` (recent moves out of v in direction d, decayed by `decay`
    a step; `now` is the number of decays so far, this step's included). Lazy: only the entries moved
    along are brought up to date, not the whole grid every step."""
    for i in range(before.shape[0]):
        v, u = before[i], after[i]
        if v != u:
            for d in range(4):
                if nbr[v, d] == u:
                    _decayed(flow, stamp, v, d, now, decay, zero_after)
                    flow[v, d] += 1.0


@njit(cache=True)
def drain_batteries(
    soc: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    loaded: np.ndarray,
    drain: np.ndarray,
    loaded_factor: np.ndarray,
) -> None:
    """Take one move's energy from each robot that moved, `loaded_factor` times more when `loaded`;
    a battery never goes below 0. One pass instead of a dozen array operations every step."""
    for i in range(soc.shape[0]):
        if before[i] != after[i]:
            use = (loaded_factor[i] if loaded[i] else 1.0) * drain[i]
            soc[i] = max(soc[i] - use, 0.0)


@njit(cache=True)
def charge_batteries(
    soc: np.ndarray,
    charging: np.ndarray,
    at: np.ndarray,
    chargers: np.ndarray,
    charger_of: np.ndarray,
    rate: np.ndarray,
    limit: np.ndarray,
    full: np.ndarray,
) -> None:
    """Give each `charging` robot standing `at` its charger one step of charge, no more than the
    robot's `rate`, the charger's `limit` (0: none) or a full battery."""
    for i in range(soc.shape[0]):
        c = charger_of[i]
        if charging[i] and c >= 0 and at[i] == chargers[c]:
            r = rate[i]
            if limit[c] > 0.0:
                r = min(r, limit[c])
            soc[i] = min(soc[i] + r, full[i])


def warm_up() -> None:
    """Load (or compile) every kernel on a two-cell corridor so the first real step is not slowed."""
    nbr = np.array([[-1, 1, -1, -1], [-1, -1, -1, 0]], dtype=np.int32)
    deg = np.ones(2, dtype=np.int32)
    dist = np.empty((1, 2), dtype=np.int32)
    bfs_to_goal(nbr, 1, np.zeros(2, dtype=np.bool_), dist[0])
    ones = np.ones((2, 4), dtype=np.int32)
    dial_to_goal(nbr, ones, 1, np.zeros(2, dtype=np.bool_), dist[0], dial_queue(ones))
    scratch = np.full(2, -1, dtype=np.int32)
    plan_step(
        np.zeros(1, dtype=np.int32),
        nbr,
        deg,
        dist,
        np.zeros(1, dtype=np.int32),
        np.ones(1, dtype=np.int32),
        np.zeros(1, dtype=np.int32),
        np.zeros((2, 4)),
        np.zeros((2, 4), dtype=np.int64),
        0,
        0.9,
        1,
        0.1,
        np.zeros((1, 5)),
        0.0,
        True,
        scratch,
        scratch.copy(),
        np.full(1, -1, dtype=np.int32),
    )
    soc, cell, yes = np.ones(1), np.zeros(1, dtype=np.int32), np.ones(1, dtype=np.bool_)
    drain_batteries(soc, cell, cell + 1, yes, soc.copy(), soc.copy())
    charge_batteries(soc, yes, cell, cell, np.zeros(1, dtype=np.int64), soc.copy(), soc.copy(), soc.copy())
    stamp = np.zeros((2, 4), dtype=np.int64)
    add_flow(np.zeros((2, 4)), stamp, nbr, np.zeros(1, dtype=np.int32), np.ones(1, dtype=np.int32), 1, 0.9, 9)
    occ = np.full((2, 2), -1, dtype=np.int32)
    space_time_path(
        nbr,
        dist[0],
        0,
        1,
        occ,
        0,
        np.zeros(4, dtype=np.int32),
        1,
        np.empty(4, dtype=np.int32),
        np.empty(8, dtype=np.int64),
        np.empty(8, dtype=np.int64),
        np.empty(2, dtype=np.int32),
        10,
    )


@njit(cache=True, nogil=True)
def route_flow(
    nbr: np.ndarray,
    cost: np.ndarray,
    dist: np.ndarray,
    origins: np.ndarray,
    noise: np.ndarray,
    flow: np.ndarray,
) -> None:
    """Add one unit of `flow[u, d]` for every move of a cheapest route from each origin down `dist`
    (a `dial_to_goal` field under `cost`); ties between equally cheap moves go by `noise[u, d]`."""
    for k in range(origins.shape[0]):
        u = origins[k]
        if dist[u] >= INF:
            continue
        for _ in range(nbr.shape[0]):
            if dist[u] == 0:
                break
            best, best_d, best_key = -1, -1, 1e300
            for d in range(4):
                v = nbr[u, d]
                if v >= 0 and dist[v] < INF and dist[v] + cost[u, d] == dist[u]:
                    key = noise[u, d]
                    if key < best_key:
                        best, best_d, best_key = v, d, key
            if best < 0:
                break
            flow[u, best_d] += 1.0
            u = best
