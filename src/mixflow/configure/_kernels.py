"""Numba kernels over the layered MDD: one linear pass each (edges are sorted by layer).

`allowed[v]` says whether global value `v` may be used (False for the other values of a chosen
variable). Node 0 is the root, node `n_nodes - 1` the true terminal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LIMB_BITS = 32
_LIMB_MASK = (1 << LIMB_BITS) - 1


@njit(cache=True)
def reach(edge_src, edge_dst, edge_value, allowed, n_nodes):
    """Forward and backward reachability using allowed edges only."""
    n_edges = edge_src.shape[0]
    forward = np.zeros(n_nodes, dtype=np.bool_)
    backward = np.zeros(n_nodes, dtype=np.bool_)
    forward[0] = True
    for e in range(n_edges):
        if forward[edge_src[e]] and allowed[edge_value[e]]:
            forward[edge_dst[e]] = True
    backward[n_nodes - 1] = True
    for e in range(n_edges - 1, -1, -1):
        if backward[edge_dst[e]] and allowed[edge_value[e]]:
            backward[edge_src[e]] = True
    return forward, backward


@njit(cache=True)
def consistent(edge_src, edge_dst, edge_value, allowed, n_nodes):
    """Whether some root-to-true path uses allowed values only (forward pass)."""
    forward = np.zeros(n_nodes, dtype=np.bool_)
    forward[0] = True
    for e in range(edge_src.shape[0]):
        if forward[edge_src[e]] and allowed[edge_value[e]]:
            forward[edge_dst[e]] = True
    return forward[n_nodes - 1]


@njit(cache=True)
def propagate(edge_src, edge_dst, edge_value, value_price, allowed, n_nodes, n_values):
    """Valid values (on some complete path), float path count, and min/max path price."""
    forward, backward = reach(edge_src, edge_dst, edge_value, allowed, n_nodes)
    valid = np.zeros(n_values, dtype=np.bool_)
    approx = np.zeros(n_nodes, dtype=np.float64)
    low = np.full(n_nodes, np.inf)
    high = np.full(n_nodes, -np.inf)
    approx[0] = 1.0
    low[0] = 0.0
    high[0] = 0.0
    for e in range(edge_src.shape[0]):
        s = edge_src[e]
        d = edge_dst[e]
        v = edge_value[e]
        if forward[s] and backward[d] and allowed[v]:
            valid[v] = True
            approx[d] += approx[s]
            p = value_price[v]
            if low[s] + p < low[d]:
                low[d] = low[s] + p
            if high[s] + p > high[d]:
                high[d] = high[s] + p
    t = n_nodes - 1
    return valid, forward, backward, approx[t], low[t], high[t]


@njit(cache=True)
def count_limbs(edge_src, edge_dst, edge_value, allowed, forward, backward, n_nodes, n_limbs):
    """Exact path count as base-2**32 limbs (least significant first): no overflow at any size."""
    counts = np.zeros((n_nodes, n_limbs), dtype=np.uint64)
    counts[0, 0] = 1
    mask = np.uint64(_LIMB_MASK)
    shift = np.uint64(LIMB_BITS)
    for e in range(edge_src.shape[0]):
        s = edge_src[e]
        d = edge_dst[e]
        if forward[s] and backward[d] and allowed[edge_value[e]]:
            carry = np.uint64(0)
            for k in range(n_limbs):
                total = counts[d, k] + counts[s, k] + carry
                counts[d, k] = total & mask
                carry = total >> shift
    return counts[n_nodes - 1]


@njit(cache=True)
def best_path(edge_src, edge_dst, edge_value, allowed, primary, secondary, n_nodes, n_layers):
    """The root-to-true path minimising (primary, secondary) lexicographically; its value per layer."""
    first = np.full(n_nodes, np.inf)
    second = np.full(n_nodes, np.inf)
    via = np.full(n_nodes, -1, dtype=np.int64)
    first[0] = 0.0
    second[0] = 0.0
    for e in range(edge_src.shape[0]):
        s = edge_src[e]
        v = edge_value[e]
        if allowed[v] and first[s] < np.inf:
            d = edge_dst[e]
            a = first[s] + primary[v]
            b = second[s] + secondary[v]
            if a < first[d] - 1e-9 or (a <= first[d] + 1e-9 and b < second[d] - 1e-9):
                first[d] = a
                second[d] = b
                via[d] = e
    path = np.full(n_layers, -1, dtype=np.int64)
    node = n_nodes - 1
    if via[node] < 0:
        return path
    for layer in range(n_layers - 1, -1, -1):
        e = via[node]
        path[layer] = edge_value[e]
        node = edge_src[e]
    return path
