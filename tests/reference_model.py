"""A slow, plain Python/NumPy reference of the disruption model (docs/model.md).

Independent of simcore.kernel except for the sampled variates (the engine's ``variates``
matrix), so that comparing it with the engine checks the simulation, not the RNG:

- every month of every in-scope material is computed (no skipping of quiet months);
- allowed shares A are full matrices, contracts are full matrices B * fac * A;
- the flexible market uses its own exact method: progressive filling where the level
  is computed from Gale's cut condition, enumerating every subset of importers (few
  countries) or of exporters (restricted exporters apart, open ones together), with no
  max-flow.

Slow: meant for small tensors in tests; the benchmark runs it on the baseline for a few
draws to measure the engine's speed-up.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

SNAP = 1e-10  # a gap below this share of need counts as zero (docs/model.md)


def fair_allocation(supply, w, cap, off=None, tol=1e-12):
    """Lexicographically max-min fair deliveries D[ni] = off + lam * w.

    supply[ne] [t/month], w[ni] weights (need), cap[ne, ni] (np.inf = open route),
    off[ni] deliveries already fixed. Exact, by Gale's cut condition: importer subsets
    when there are few importers, else exporter subsets (exporters whose routes are all
    open form one exporter; the restricted ones stay apart, so there are few).
    """
    supply = np.asarray(supply, float)
    cap = np.asarray(cap, float)
    w = np.asarray(w, float)
    off = np.zeros(w.shape[0]) if off is None else np.asarray(off, float)
    if w.shape[0] <= 8:
        return _fill_importer_subsets(supply, w, cap, off, tol)
    return _fill_exporter_subsets(supply, w, cap, off, tol)


def _fill_importer_subsets(supply, w, cap, off, tol):
    """d feasible iff d(T) <= sum_e min(S_e, cap(e, T)) for every importer subset T."""
    ni = w.shape[0]
    scale = supply.sum() + off.sum() + w.sum()
    subsets = []
    for r in range(1, ni + 1):
        for T in itertools.combinations(range(ni), r):
            T = list(T)
            capacity = sum(min(supply[e], cap[e, T].sum()) for e in range(supply.shape[0]))
            subsets.append((T, capacity))
    lam = np.zeros(ni)
    active = [i for i in range(ni) if w[i] > 0]
    while active:
        best = 1.0
        for T, capacity in subsets:
            act = [i for i in T if i in active]
            if not act:
                continue
            fixed = sum(off[i] + (0.0 if i in active else lam[i] * w[i]) for i in T)
            level = (capacity - fixed) / sum(w[i] for i in act)
            best = min(best, level)
        blocked = set()
        if best >= 1.0:
            blocked = set(active)
        else:
            for T, capacity in subsets:
                act = [i for i in T if i in active]
                if not act:
                    continue
                demand = sum(off[i] + (best if i in active else lam[i]) * w[i] for i in T)
                if demand >= capacity - tol * scale:
                    blocked.update(act)
        if not blocked:  # numerical safety
            blocked = set(active)
        for i in blocked:
            lam[i] = best
        active = [i for i in active if i not in blocked]
    return off + lam * w


def _fill_exporter_subsets(supply, w, cap, off, tol):
    """d feasible iff sum_i max(0, d_i - cap(Q, i)) <= S(not Q) for every exporter
    subset Q (cap(Q, i) = sum of the routes from Q to i)."""
    open_rows = np.all(np.isinf(cap), axis=1)
    rows = [cap[e] for e in range(cap.shape[0]) if not open_rows[e] and supply[e] > 0]
    sups = [supply[e] for e in range(cap.shape[0]) if not open_rows[e] and supply[e] > 0]
    rows.append(np.full(w.shape[0], np.inf))
    sups.append(supply[open_rows].sum())
    m = len(rows)
    scale = supply.sum() + off.sum() + w.sum()
    constraints = []
    for r in range(0, m + 1):
        for Q in itertools.combinations(range(m), r):
            capq = np.zeros(w.shape[0])
            for q in Q:
                capq = capq + rows[q]
            rest = sum(sups[q] for q in range(m) if q not in Q)
            constraints.append((capq, rest))
    ni = w.shape[0]
    lam = np.zeros(ni)
    active = w > 0
    while active.any():
        best = 1.0
        for capq, rest in constraints:
            best = min(best, _max_level(capq, rest, w, off, lam, active, tol * scale))
        demand = off + np.where(active, best, lam) * w
        blocked = np.zeros(ni, bool)
        if best >= 1.0:
            blocked = active.copy()
        else:
            for capq, rest in constraints:
                excess = np.maximum(0.0, demand - capq).sum()
                if excess >= rest - tol * scale:
                    blocked |= active & (demand >= capq - tol * scale)
        if not blocked.any():  # numerical safety
            blocked = active.copy()
        lam[blocked] = best
        active &= ~blocked
    return off + lam * w


def _max_level(capq, rest, w, off, lam, active, slack):
    """Largest level L in [0, 1] with sum_i max(0, d_i(L) - capq_i) <= rest, where
    d_i(L) = off_i + L w_i for active i and off_i + lam_i w_i otherwise: the left side is
    piecewise linear and rising in L; walk its breakpoints. ``slack`` absorbs rounding in
    a constraint that is already tight."""
    fixed = np.where(active, 0.0, np.maximum(0.0, off + lam * w - capq)).sum()
    budget = rest - fixed
    a = np.flatnonzero(active)
    starts = np.where(np.isinf(capq[a]), np.inf, (capq[a] - off[a]) / w[a])
    order = np.argsort(starts)
    level = 0.0
    slope = 0.0
    used = sum(max(0.0, off[i] - capq[i]) for i in a)  # excess at level 0
    if used > budget + slack:
        return 0.0
    budget = max(budget, used)
    for j in order:
        start = max(starts[j], 0.0)
        if start >= 1.0:
            break
        if slope > 0 and used + slope * (start - level) > budget:
            return level + (budget - used) / slope
        used += slope * (start - level)
        level = start
        slope += w[a[j]]
    if slope > 0 and used + slope * (1.0 - level) > budget:
        return level + (budget - used) / slope
    return 1.0


def _ramp(lag, tau):
    if tau < 0:
        return 0.0
    return 1.0 if lag <= 0 else min(1.0, tau / lag)


def simulate_reference(tensor, compiled, variates, timeseries=False):
    """Per-draw outputs for the draws whose variates are given (rows of ``variates``).

    Returns a dict with the engine's ChunkResult fields (shortage_t ... price_mean,
    fired, onset, hist, series) and ``trace`` [n, X, H, 6] (need, delivered,
    substituted, drawn, shortage, price) for every exposure.
    """
    c = compiled
    H = int(c.horizon)
    n_k, n_s, n_c = tensor.shape
    B = tensor.flow / 12.0
    P = B.sum(axis=3)
    N = B.sum(axis=2)
    CAP = tensor.capacity / 12.0
    stages = tensor.n_stages
    scope = [k for k in range(n_k) if c.material_scope[k]]
    expos = [(k, s, i) for k in scope for s in range(stages[k]) for i in range(n_c)
             if N[k, s, i] > 0]
    xpos = {kx: x for x, kx in enumerate(expos)}
    X = len(expos)
    n = variates.shape[0]
    E = c.n_events

    out = dict(
        shortage_t=np.zeros((n, X)), peak_share=np.zeros((n, X)),
        months_short=np.zeros((n, X), np.int16), first_short=np.full((n, X), -1, np.int16),
        last_short=np.full((n, X), -1, np.int16), stock_drawn_t=np.zeros((n, X)),
        price_peak=np.ones((n, X)), price_mean=np.ones((n, X)),
        fired=np.zeros((n, E), bool), onset=np.full((n, E), -1, np.int32),
        hist=np.zeros((X, H, 101), np.int64), series=np.zeros((n, X, H)),
        trace=np.zeros((n, X, H, 6)),
    )

    def var(vals, idx, default):
        return vals[idx] if idx >= 0 else default

    # baseline yields
    def yield_of(k, s, e):
        prev = N[k, s - 1]
        if prev[e] > 0:
            return P[k, s, e] / prev[e], True
        tot = prev.sum()
        return (P[k, s].sum() / tot if tot > 0 else 0.0), False

    def world_yield(k, s):
        tot = N[k, s - 1].sum()
        return P[k, s].sum() / tot if tot > 0 else 0.0

    for d in range(n):
        vals = variates[d]
        fired = np.zeros(E, bool)
        onset = np.zeros(E)
        for e in range(E):
            ok = vals[c.ev_occurs_var[e]] < c.ev_probability[e]
            par = c.ev_parent[e]
            if par >= 0:
                ok = ok and fired[par]
                onset[e] = max(0.0, onset[par] + math.floor(var(vals, c.ev_lag_var[e], 0.0)))
            else:
                onset[e] = max(0.0, math.floor(var(vals, c.ev_onset_var[e], 0.0)))
            fired[e] = ok
            out["fired"][d, e] = ok
            out["onset"][d, e] = int(onset[e]) if ok else -1

        def ev(e, field, default, vals=vals):
            idx = getattr(c, field)[e]
            return vals[idx] if idx >= 0 else default

        lag_phi = var(vals, c.reroute_lag_var, 0.0)
        lag_spare = var(vals, c.spare_ramp_var, 0.0)
        usable = min(1.0, max(0.0, var(vals, c.spare_usable_var, 0.0)))
        sub_max = min(1.0, max(0.0, var(vals, c.substitution_max_var, 0.0)))
        lag_sub = var(vals, c.substitution_months_var, 0.0)
        elasticity = var(vals, c.elasticity_var, 0.0)
        sp_on = [vals[c.sp_occurs_var[j]] < c.sp_probability[j]
                 for j in range(len(c.sp_probability))]
        cap_on = [vals[c.cap_occurs_var[q]] < c.cap_probability[q]
                  for q in range(len(c.cap_probability))]
        cap_month = [max(0, math.floor(var(vals, c.cap_online_var[q], 0.0)))
                     for q in range(len(c.cap_probability))]

        for k in scope:
            ns = int(stages[k])
            touching = [e for e in range(E) if c.ev_stage[e, k] >= 0 and fired[e]]

            def is_active(e, t, onset=onset, ev=ev):
                dur = ev(e, "ev_duration_var", np.inf)
                return onset[e] <= t < onset[e] + dur

            first = [t for t in range(H) if any(is_active(e, t) for e in touching)]
            t0 = first[0] if first else None
            stock_left = tensor.stock[k].astype(float).copy()
            max_draw = tensor.max_release[k].astype(float).copy()
            for j, on in enumerate(sp_on):
                if on:
                    stock_left += c.sp_stock[j, k]
                    max_draw += c.sp_max_release[j, k]
            for e in touching:
                lead = max(0.0, ev(e, "ev_lead_var", 0.0))
                if c.ev_kind[e] != 0 or c.ev_lead_var[e] < 0 or lead <= 0:
                    continue
                s = c.ev_stage[e, k]
                o = c.ev_origin[e]
                conv = 1.0
                for s2 in range(s + 1, ns):
                    conv *= world_yield(k, s2)
                for i in range(n_c):
                    if c.ev_targets[e, i] and i != o:
                        stock_left[i] += lead * B[k, s, o, i] * conv
                        max_draw[i] += B[k, s, o, i] * conv
            if t0 is None:
                continue
            for t in range(H):
                tau = t - t0
                phi = _ramp(lag_phi, tau)
                r_spare = _ramp(lag_spare, tau)
                sub = sub_max * _ramp(lag_sub, tau)
                A = np.ones((ns, n_c, n_c))
                outage = np.ones((ns, n_c))
                for e in touching:
                    if not is_active(e, t):
                        continue
                    s = c.ev_stage[e, k]
                    o = c.ev_origin[e]
                    if np.isnan(c.ev_quota[e]):
                        s_init = min(1.0, max(0.0, ev(e, "ev_severity_var", 0.0)))
                    else:
                        targets = [i for i in range(n_c) if c.ev_targets[e, i] and i != o]
                        exports = B[k, s, o, targets].sum()
                        q = c.ev_quota[e] / 12.0
                        s_init = min(1.0, max(0.0, 1 - q / exports)) if exports > 0 else 0.0
                    if c.ev_settled_var[e] >= 0:
                        s_set = min(1.0, max(0.0, vals[c.ev_settled_var[e]]))
                    else:
                        s_set = s_init
                    settle = max(0.0, ev(e, "ev_settle_var", 0.0))
                    sev = s_set if settle <= 0 else (
                        s_init + (s_set - s_init) * min(1.0, (t - onset[e]) / settle))
                    if c.ev_kind[e] == 1:
                        outage[s, o] *= 1 - sev
                        continue
                    leak = min(1.0, max(0.0, ev(e, "ev_leakage_var", 0.0)))
                    for i in range(n_c):
                        if c.ev_targets[e, i] and i != o:
                            A[s, o, i] *= 1 - sev * (1 - leak)
                    if c.ev_re_export[e] and s + 1 < ns:
                        for j in range(n_c):
                            if j == o or N[k, s, j] <= 0:
                                continue
                            share = B[k, s, o, j] / N[k, s, j]
                            for i in range(n_c):
                                if c.ev_targets[e, i] and i != j:
                                    A[s + 1, j, i] *= 1 - sev * (1 - leak) * share
                spare = np.zeros((ns, n_c))
                for s in range(ns):
                    for e in range(n_c):
                        extra = sum(c.cap_tonnes[q] / 12.0 for q in range(len(cap_on))
                                    if cap_on[q] and c.cap_material[q] == k
                                    and c.cap_stage[q] == s and c.cap_country[q] == e
                                    and cap_month[q] <= t)
                        spare[s, e] = (max(0.0, CAP[k, s, e] - P[k, s, e]) + extra) * usable \
                            * r_spare * outage[s, e]
                feed = None
                for s in range(ns):
                    S = np.zeros(n_c)
                    for e in range(n_c):
                        own = P[k, s, e] * outage[s, e]
                        if s == 0:
                            S[e] = own + spare[s, e]
                        else:
                            y, has = yield_of(k, s, e)
                            if has:
                                S[e] = min(own + spare[s, e], y * feed[e])
                            else:
                                S[e] = own + min(spare[s, e], y * feed[e])
                    fac = np.array([min(1.0, S[e] / P[k, s, e]) if P[k, s, e] > 0 else 0.0
                                    for e in range(n_c)])
                    Cm = B[k, s] * fac[:, None] * A[s]
                    contract = Cm.sum(axis=0)
                    stopped = (B[k, s] * fac[:, None] * (1 - A[s])).sum(axis=1)
                    cap = np.where(A[s] < 1, A[s] * B[k, s], np.inf)
                    if phi > 0:
                        dstar = fair_allocation(S, N[k, s], cap)
                        extra_need = np.zeros(n_c)
                        if s + 1 < ns:
                            for i in range(n_c):
                                y, _ = yield_of(k, s + 1, i)
                                extra_need[i] = spare[s + 1, i] / y if y > 0 else 0.0
                        if extra_need.sum() > 0:
                            dtot = fair_allocation(S, extra_need, cap, off=dstar)
                        else:
                            dtot = dstar
                    else:
                        dstar = np.zeros(n_c)
                        dtot = np.zeros(n_c)
                    delivered = (1 - phi) * contract + phi * dstar
                    feed = delivered + phi * (dtot - dstar)
                    stranded = np.zeros(n_c)
                    if stopped.sum() > 0:
                        unsold = max(0.0, S.sum() - dtot.sum())
                        kept = min(1.0, unsold / stopped.sum())
                        stranded = stopped * ((1 - phi) + phi * kept)
                    for i in range(n_c):
                        if N[k, s, i] <= 0:
                            continue
                        x = xpos[(k, s, i)]
                        need = N[k, s, i]
                        gap = max(0.0, need - delivered[i])
                        if gap <= SNAP * need:
                            gap = 0.0
                        substituted = drawn = 0.0
                        short = gap
                        if s == ns - 1 and gap > 0:
                            substituted = sub * gap
                            rest = gap - substituted
                            drawn = max(0.0, min(rest, stock_left[i], max_draw[i]))
                            stock_left[i] -= drawn
                            short = rest - drawn
                        ratio = (need - gap + drawn + stranded[i]) / need
                        if elasticity <= 0 or ratio == 1.0:
                            price = 1.0
                        elif ratio <= 0:
                            price = c.price_cap
                        else:
                            price = min(c.price_cap, ratio ** (-1.0 / elasticity))
                        share = short / need
                        out["shortage_t"][d, x] += short
                        out["stock_drawn_t"][d, x] += drawn
                        out["peak_share"][d, x] = max(out["peak_share"][d, x], share)
                        if short > 0.01 * need:
                            out["months_short"][d, x] += 1
                            if out["first_short"][d, x] < 0:
                                out["first_short"][d, x] = t
                            out["last_short"][d, x] = t
                        out["series"][d, x, t] = share
                        out["trace"][d, x, t] = (need, need - gap, substituted, drawn, short,
                                                 price)
                        out["price_mean"][d, x] += (price - 1.0) / H
    # months never computed: full delivery, price 1
    for x, (k, s, i) in enumerate(expos):
        untouched = out["trace"][:, x, :, 0] == 0
        out["trace"][:, x][untouched] = (N[k, s, i], N[k, s, i], 0, 0, 0, 1)
    # the peak price index is the largest monthly one, below 1 for an origin whose supply
    # is stranded in every month of the horizon
    out["price_peak"] = out["trace"][:, :, :, 5].max(axis=2)
    share = out["series"]
    bins = np.where(share > 0, np.ceil(share * 100 - 1e-9), 0).astype(int)
    bins = np.clip(bins, 0, 100)
    for b in range(101):
        out["hist"][:, :, b] = (bins == b).sum(axis=0)
    out["expos"] = expos
    return out
