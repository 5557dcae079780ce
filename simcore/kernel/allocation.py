"""The flexible market D*: exact lexicographically max-min fair max-flow (MODEL.md §3.3).

Network: source -> exporter e (capacity S[e]) -> importer i (capacity cap[e, i], infinite
for an open route) -> sink (capacity D[i] = off[i] + lam[i] * w[i]). Round 1 of a stage
uses off = 0, w = baseline need; round 2 (feed for spare capacity downstream) uses
off = the round-1 deliveries and w = the extra feed need (docs/model.md).

Progressive filling: all still-active importers share one level lam; the largest
feasible lam is found by Newton steps on min cuts (each infeasible max flow yields the
cut whose capacity bounds lam exactly, so lam is computed from a cut formula, not by
bisection); at that level the active importers not reachable from the source in the
residual graph cannot get more without taking from someone no better off: they freeze.
Repeat until every importer is frozen. The delivered vector is unique (the lex-optimal
base of a polymatroid), so it also maximises total delivery.

Exporters whose routes are all open merge into one class (their supplies add) and so do
importers whose column is open to every remaining exporter: the graph left is a few
restricted exporters against the restricted importers, plus one class on each side.
"""

from __future__ import annotations

import numpy as np

from simcore._numba import jit

STATUS_OK = 0
STATUS_ALLOC_NO_CUT = 1  # an infeasible level without a cut bounding it (numerical)
STATUS_ALLOC_NO_FREEZE = 2  # a level below 1 where nobody froze (numerical)


@jit
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


@jit
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


@jit
def fill(m, n, sup, w, off, cap, lam, frozen, dem, f, out_e, in_i, queue, par_e, par_i,
         seen_e, seen_i):
    """Lexicographically max-min fair levels lam[n] in [0, 1] (delivery off + lam * w).

    Returns a status code (0 = ok). ``f`` holds a flow realising the answer on return.
    """
    scale = 0.0
    for e in range(m):
        scale += sup[e]
    for i in range(n):
        scale += off[i] + w[i]
    eps = 1e-13 * scale
    nact = 0
    for i in range(n):
        lam[i] = 0.0
        frozen[i] = not (w[i] > 0.0)
        if not frozen[i]:
            nact += 1
    status = STATUS_OK
    level = 0.0
    ran = nact > 0
    while nact > 0:
        hi = 1.0
        for _ in range(100):
            total = 0.0
            for i in range(n):
                dem[i] = off[i] + (lam[i] if frozen[i] else hi) * w[i]
                total += dem[i]
            flow = max_flow(m, n, sup, dem, cap, f, out_e, in_i, queue, par_e, par_i,
                            seen_e, seen_i, eps)
            if flow >= total - eps:
                break
            # the minimal min cut bounds the level: demand behind it <= its capacity
            cut = 0.0
            for e in range(m):
                if not seen_e[e]:
                    cut += sup[e]
                else:
                    for i in range(n):
                        if not seen_i[i]:
                            cut += cap[e, i]
            fixed = 0.0
            wsum = 0.0
            for i in range(n):
                if not seen_i[i]:
                    if frozen[i]:
                        fixed += dem[i]
                    else:
                        fixed += off[i]
                        wsum += w[i]
            if not (wsum > 0.0):
                status = STATUS_ALLOC_NO_CUT
                hi = level
                break
            new = (cut - fixed) / wsum
            if new < level:
                new = level
            if new >= hi:
                # rounding: the cut does not move the level, accept it
                break
            hi = new
        level = hi
        nfrz = 0
        for i in range(n):
            if not frozen[i] and (hi >= 1.0 or not seen_i[i]):
                frozen[i] = True
                lam[i] = hi
                nfrz += 1
        nact -= nfrz
        if nfrz == 0:
            status = STATUS_ALLOC_NO_FREEZE
            for i in range(n):
                if not frozen[i]:
                    frozen[i] = True
                    lam[i] = hi
            nact = 0
    if not ran:
        # nobody to fill: still leave a flow realising the fixed deliveries in f
        for i in range(n):
            dem[i] = off[i]
        max_flow(m, n, sup, dem, cap, f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i, eps)
    return status


@jit
def allocate_dense(S, w, off, capd, rowfree, D, F, want_flows, ws_f, ws_cap, ws_v, ws_i, ws_b):
    """D*[i] for exporters with supply S[ne] and importers with weights w[ni], offsets
    off[ni] (both [t/month]); capd[e, i] caps restricted rows (rowfree[e] False; np.inf
    = open route); rows with rowfree[e] True are open to everyone.

    Writes D[ni]; with want_flows also F[ne, ni], a flow realising D. Workspace (sizes
    ne, ni <= C): ws_f, ws_cap float64[C+2, C+2], ws_v float64[12, C+2],
    ws_i int64[6, 2C+4], ws_b bool[4, C+2]. Returns a status code.
    """
    ne = S.shape[0]
    ni = w.shape[0]
    sup = ws_v[0]
    wc = ws_v[1]
    oc = ws_v[2]
    lam = ws_v[3]
    dem = ws_v[4]
    out_e = ws_v[5]
    in_i = ws_v[6]
    emap = ws_i[0]
    imap = ws_i[1]
    queue = ws_i[2]
    par_e = ws_i[3]
    par_i = ws_i[4]
    frozen = ws_b[0]
    seen_e = ws_b[1]
    seen_i = ws_b[2]
    # exporter classes: 0 = every open row, then each restricted row with supply
    m = 1
    sup[0] = 0.0
    for e in range(ne):
        if rowfree[e]:
            emap[e] = 0
            sup[0] += S[e]
        elif S[e] > 0.0:
            emap[e] = m
            sup[m] = S[e]
            par_e[m] = e  # country of exporter class m (par_e is free until fill runs)
            m += 1
        else:
            emap[e] = -1
    if m == 1:
        # every route open: one water level for all
        tot_off = 0.0
        tot_w = 0.0
        for i in range(ni):
            tot_off += off[i]
            tot_w += w[i]
        lv = 1.0
        if tot_w > 0.0:
            lv = (sup[0] - tot_off) / tot_w
            lv = min(1.0, max(0.0, lv))
        for i in range(ni):
            D[i] = off[i] + lv * w[i]
        if want_flows:
            _spread_flows(S, rowfree, emap, D, F, ne, ni)
        return STATUS_OK
    # importer classes: 0 = open column with weight, 1 = open column without, then the rest
    n = 2
    wc[0] = 0.0
    oc[0] = 0.0
    wc[1] = 0.0
    oc[1] = 0.0
    for c in range(m):
        ws_cap[c, 0] = np.inf
        ws_cap[c, 1] = np.inf
    for i in range(ni):
        if not (w[i] > 0.0 or off[i] > 0.0):
            imap[i] = -1  # nothing to deliver: leave it out of the graph
            continue
        open_col = True
        for c in range(1, m):
            if capd[par_e[c], i] < np.inf:
                open_col = False
                break
        if open_col:
            cls = 0 if w[i] > 0.0 else 1
            imap[i] = cls
            wc[cls] += w[i]
            oc[cls] += off[i]
        else:
            imap[i] = n
            wc[n] = w[i]
            oc[n] = off[i]
            ws_cap[0, n] = np.inf
            for c in range(1, m):
                ws_cap[c, n] = capd[par_e[c], i]
            n += 1
    status = fill(m, n, sup, wc, oc, ws_cap, lam, frozen, dem, ws_f, out_e, in_i, queue,
                  par_e, par_i, seen_e, seen_i)
    for i in range(ni):
        D[i] = off[i] + lam[imap[i]] * w[i] if imap[i] >= 0 else off[i]
    if want_flows:
        for e in range(ne):
            for i in range(ni):
                F[e, i] = 0.0
        # class flows -> country flows: a merged side splits in proportion to supply
        # (exporters) or delivery (importers); both merged sides have open routes
        for c in range(m):
            for k in range(n):
                fl = ws_f[c, k]
                if fl <= 0.0:
                    continue
                for e in range(ne):
                    if emap[e] != c:
                        continue
                    share_e = 1.0 if c > 0 else S[e] / sup[0]
                    for i in range(ni):
                        if imap[i] != k:
                            continue
                        if k >= 2:
                            F[e, i] += fl * share_e
                        else:
                            cls_tot = wc[k] * lam[k] + oc[k]
                            if cls_tot > 0.0:
                                F[e, i] += fl * share_e * D[i] / cls_tot
    return status


@jit
def _spread_flows(S, rowfree, emap, D, F, ne, ni):
    tot = 0.0
    for e in range(ne):
        if emap[e] == 0:
            tot += S[e]
    for e in range(ne):
        for i in range(ni):
            F[e, i] = D[i] * S[e] / tot if (emap[e] == 0 and tot > 0.0) else 0.0


def workspace(n_countries: int):
    """Scratch arrays for ``allocate_dense`` with up to n_countries on each side."""
    c = n_countries + 2
    return (
        np.zeros((c, c)),
        np.zeros((c, c)),
        np.zeros((12, c)),
        np.zeros((6, 2 * c), dtype=np.int64),
        np.zeros((4, c), dtype=np.bool_),
    )


def allocate(supply, need, cap, offset=None, flows=False):
    """D* from Python: supply[ne], need[ni] (the weights w), cap[ne, ni] with np.inf for
    an open route, optional offset[ni] (deliveries already fixed). Returns D[ni], or
    (D, F[ne, ni]) with ``flows=True``. Raises RuntimeError on a numerical failure."""
    supply = np.ascontiguousarray(supply, dtype=np.float64)
    need = np.ascontiguousarray(need, dtype=np.float64)
    cap = np.ascontiguousarray(cap, dtype=np.float64)
    off = (
        np.zeros_like(need) if offset is None else np.ascontiguousarray(offset, dtype=np.float64)
    )
    rowfree = np.all(np.isinf(cap), axis=1)
    D = np.zeros_like(need)
    F = np.zeros((supply.shape[0], need.shape[0]))
    ws = workspace(max(supply.shape[0], need.shape[0]))
    status = allocate_dense(supply, need, off, cap, rowfree, D, F, flows, *ws)
    if status != STATUS_OK:
        raise RuntimeError(f"allocation failed with status {status}")
    return (D, F) if flows else D
