"""Max flow of a small bipartite network: exporter classes -> zones (MODEL.md §3.3).

Network: source -> exporter class c (capacity sup[c]) -> zone z (capacity cap[c, z],
infinite for an open route) -> sink (capacity dem[z]). The zone markets
(simcore/kernel/market.py) call it at each step of their progressive filling; the
residual graph it leaves names the minimal min cut, which bounds the filling level.
"""

from __future__ import annotations

from simcore._numba import jit_internal


@jit_internal
def _bfs(m, n, sup, dem, cap, f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i, eps):
    """Shortest augmenting path search; returns the importer reached with spare sink
    capacity, or -1 (then seen_e/seen_i mark the residual-reachable set)."""
    for e in range(m):
        seen_e[e] = False
    for i in range(n):
        seen_i[i] = False
    head = 0
    tail = 0
    for e in range(m):
        if sup[e] - out_e[e] > eps:
            seen_e[e] = True
            par_e[e] = -1
            queue[tail] = e
            tail += 1
    while head < tail:
        node = queue[head]
        head += 1
        if node < m:
            e = node
            for i in range(n):
                if not seen_i[i] and cap[e, i] - f[e, i] > eps:
                    seen_i[i] = True
                    par_i[i] = e
                    if dem[i] - in_i[i] > eps:
                        return i
                    queue[tail] = m + i
                    tail += 1
        else:
            i = node - m
            for e in range(m):
                if not seen_e[e] and f[e, i] > eps:
                    seen_e[e] = True
                    par_e[e] = i
                    queue[tail] = e
                    tail += 1
    return -1


@jit_internal
def max_flow(m, n, sup, dem, cap, f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i, eps):
    """Max flow of the bipartite network into f[m, n]; returns its value.

    On return seen_e / seen_i hold the set reachable from the source in the residual
    graph (the source side of the minimal min cut).
    """
    total = 0.0
    for e in range(m):
        out_e[e] = 0.0
        for i in range(n):
            f[e, i] = 0.0
    for i in range(n):
        in_i[i] = 0.0
    # one-hop greedy fill first: most demand is met by direct routes, leaving few paths
    for e in range(m):
        for i in range(n):
            r = min(sup[e] - out_e[e], cap[e, i], dem[i] - in_i[i])
            if r > 0.0:
                f[e, i] += r
                out_e[e] += r
                in_i[i] += r
                total += r
    while True:
        i = _bfs(m, n, sup, dem, cap, f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i, eps)
        if i < 0:
            break
        bn = dem[i] - in_i[i]
        j = i
        while True:
            e = par_i[j]
            bn = min(bn, cap[e, j] - f[e, j])
            if par_e[e] < 0:
                bn = min(bn, sup[e] - out_e[e])
                break
            j = par_e[e]
            bn = min(bn, f[e, j])
        in_i[i] += bn
        j = i
        while True:
            e = par_i[j]
            f[e, j] += bn
            if par_e[e] < 0:
                out_e[e] += bn
                break
            j2 = par_e[e]
            f[e, j2] -= bn
            j = j2
        total += bn
    return total
