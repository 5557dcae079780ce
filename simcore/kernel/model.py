"""One Monte Carlo draw of the disruption model (MODEL.md §2-§5, docs/model.md), and
``run_draws``, the worker that runs a contiguous slice of a block of draws.

Everything is in [t/month]. Each worker has its own scratch arrays (allocated once per
slice, not per draw) and its own histogram buffer (integer counts, summed afterwards in
any order). A draw's outputs depend only on (seed, draw index, inputs): never on the
worker that ran it nor on how draws were split into blocks.

Work is skipped where it provably changes nothing: materials outside the scenario's
scope, months before the first active event touching a material, and months in which no
event touching it is active (with every route open and no outage, every stage meets its
baseline need exactly, whatever the ramps or the spare capacity: docs/model.md).
"""

from __future__ import annotations

import math

import numpy as np

from simcore._numba import jit
from simcore.kernel.allocation import allocate_dense
from simcore.kernel.rng import norm_cdf, norm_ppf, sample, uniform

EVENT_RESTRICTION = 0
EVENT_OUTAGE = 1

# a gap below this share of the monthly need is rounding noise, not a shortage
SNAP = 1e-10

STATUS_BAD_VARIATE = 10  # a sampled variate is NaN
STATUS_BAD_STATE = 11  # a negative or NaN quantity appeared in the month loop

# trace columns per (exposure, month)
TR_NEED, TR_DELIVERED, TR_SUBSTITUTED, TR_DRAWN, TR_SHORTAGE, TR_PRICE = range(6)
# trace columns per (material, stage, month)
TK_SUPPLY, TK_DELIVERED, TK_EDGE_EXCESS = range(3)


@jit
def _ramp(lag, tau):
    if lag <= 0.0:
        return 1.0
    return min(1.0, tau / lag)


@jit
def _var(vals, v, default):
    return vals[v] if v >= 0 else default


@jit
def _draw_variates(d, seed, var_key, var_dist, var_par, disc_values, disc_cdf,
                   ev_occ_var, ev_correlated, occ_chol, vals, z):
    """Variates of draw d into vals[V]; correlated occurrence uniforms through the
    Gaussian copula (an uncorrelated event keeps its uniform as drawn)."""
    for v in range(var_key.shape[0]):
        u = uniform(seed, var_key[v], d, 0)
        vals[v] = sample(u, var_dist[v], var_par[v], disc_values, disc_cdf)
    n_ev = ev_occ_var.shape[0]
    anycorr = False
    for e in range(n_ev):
        if ev_correlated[e]:
            anycorr = True
    if anycorr:
        for e in range(n_ev):
            z[e] = norm_ppf(vals[ev_occ_var[e]])
        for e in range(n_ev):
            if ev_correlated[e]:
                acc = 0.0
                for j in range(n_ev):
                    acc += occ_chol[e, j] * z[j]
                vals[ev_occ_var[e]] = norm_cdf(acc)


@jit
def _month_stages(
    k, t, ns, n_ev, phi, ramp_spare, usable, ev_kind, ev_origin, ev_re_export, ev_stage,
    ev_targets, leak, sev_now, re_share, cap_occ_var, cap_on, cap_mat, cap_stage,
    cap_country, cap_add, cap_month, flow, prod, need, spare_cap, yld, has_feed, world_yld,
    csr_ptr, csr_col, csr_val, kc_ptr, kc_idx, want_trace, trace_ks, A, rowflag, outsh,
    spare, supply, feed, feed_next, X, fac, closs, contract, stopped, dstar, dtot, zeros,
    capd, rowfree, flows,
    ws_f, ws_cap, ws_v, ws_i, ws_b, dstage, strand, have_alloc, prev_sup, prev_x, prev_anyx,
    prev_rowflag, prev_a, prev_dstar, prev_dtot, status_out,
):
    """Steps 1-4 of MODEL.md §3 for every stage of material k in month t: deliveries
    dstage[s, i] against baseline need and stranded supply strand[s, i] [t/month].

    The flexible-market answer of a stage is reused when its inputs (supply, extra feed
    need, restricted rows and their allowed shares) equal those of the last month it was
    computed for (have_alloc / prev_*): D* is a function of exactly these.
    """
    # only the countries taking part in material k (flows, capacity): the others have
    # zero supply and need, and the caller keeps their entries at zero
    kc = kc_idx[kc_ptr[k]:kc_ptr[k + 1]]
    status_out[0] = 0
    # --- allowed shares A and outages ---------------------------------------------------
    for s in range(ns):
        for e in kc:
            rowflag[s, e] = False
            outsh[s, e] = 1.0
    for e in range(n_ev):
        sev = sev_now[e]
        if sev < 0.0:
            continue
        s = ev_stage[e, k]
        o = ev_origin[e]
        if ev_kind[e] == EVENT_OUTAGE:
            outsh[s, o] *= 1.0 - sev
            continue
        allowed = 1.0 - sev * (1.0 - leak[e])
        if not rowflag[s, o]:
            rowflag[s, o] = True
            for i in kc:
                A[s, o, i] = 1.0
        for i in kc:
            if ev_targets[e, i] and i != o:
                A[s, o, i] *= allowed
        if ev_re_export[e] and s + 1 < ns:
            for j in kc:
                sh = re_share[e, k, j]
                if sh <= 0.0 or j == o:
                    continue
                a_j = 1.0 - sev * (1.0 - leak[e]) * sh
                if not rowflag[s + 1, j]:
                    rowflag[s + 1, j] = True
                    for i in kc:
                        A[s + 1, j, i] = 1.0
                for i in kc:
                    if ev_targets[e, i] and i != j:
                        A[s + 1, j, i] *= a_j

    # --- spare capacity (interventions join it from their online month) -----------------
    for s in range(ns):
        for e in kc:
            spare[s, e] = spare_cap[k, s, e]
    for q in range(cap_occ_var.shape[0]):
        if cap_on[q] and cap_mat[q] == k and cap_month[q] <= t:
            spare[cap_stage[q], cap_country[q]] += cap_add[q]
    for s in range(ns):
        for e in kc:
            spare[s, e] *= usable * ramp_spare * outsh[s, e]

    for s in range(ns):
        last = s == ns - 1
        # 1. supply
        tot_s = 0.0
        for e in kc:
            base = prod[k, s, e] * outsh[s, e]
            if s == 0:
                supply[e] = base + spare[s, e]
            elif has_feed[k, s, e]:
                supply[e] = min(base + spare[s, e], yld[k, s, e] * feed[e])
            else:
                supply[e] = base + min(spare[s, e], world_yld[k, s] * feed[e])
            tot_s += supply[e]
        # feed that spare capacity of the next stage could use
        anyx = False
        if not last and phi > 0.0:
            for i in kc:
                y = yld[k, s + 1, i]
                X[i] = spare[s + 1, i] / y if y > 0.0 else 0.0
                if X[i] > 0.0:
                    anyx = True
        # 2. contracts (only rows that lose anything are visited, along their flows)
        any_stop = False
        for e in kc:
            p = prod[k, s, e]
            fac[e] = min(1.0, supply[e] / p) if p > 0.0 else 0.0
            stopped[e] = 0.0
        for i in kc:
            closs[i] = 0.0
        for e in kc:
            if not (fac[e] < 1.0 or rowflag[s, e]):
                continue
            for p in range(csr_ptr[k, s, e], csr_ptr[k, s, e + 1]):
                i = csr_col[p]
                b = csr_val[p]
                a = A[s, e, i] if rowflag[s, e] else 1.0
                closs[i] += b * (1.0 - fac[e] * a)
                if a < 1.0:
                    stopped[e] += b * fac[e] * (1.0 - a)
                    any_stop = True
        for i in kc:
            contract[i] = max(0.0, need[k, s, i] - closs[i])
        # 3. flexible market
        tot_d = 0.0
        if phi > 0.0:
            hit = have_alloc[s] and not want_trace and anyx == prev_anyx[s]
            if hit:
                for e in kc:
                    if supply[e] != prev_sup[s, e] or rowflag[s, e] != prev_rowflag[s, e]:
                        hit = False
                        break
                    if anyx and X[e] != prev_x[s, e]:
                        hit = False
                        break
            if hit:
                for e in kc:
                    if rowflag[s, e]:
                        for i in kc:
                            if A[s, e, i] != prev_a[s, e, i]:
                                hit = False
                                break
                    if not hit:
                        break
            if hit:
                for i in kc:
                    dstar[i] = prev_dstar[s, i]
                    dtot[i] = prev_dtot[s, i]
            else:
                for e in kc:
                    rowfree[e] = not rowflag[s, e]
                    if rowflag[s, e]:
                        for i in kc:
                            a = A[s, e, i]
                            capd[e, i] = a * flow[k, s, e, i] if a < 1.0 else np.inf
                st = allocate_dense(supply, need[k, s], zeros, capd, rowfree, dstar, flows,
                                    want_trace, ws_f, ws_cap, ws_v, ws_i, ws_b)
                if st != 0:
                    status_out[0] = st
                if want_trace:
                    exc = 0.0
                    for e in kc:
                        if rowflag[s, e]:
                            for i in kc:
                                a = A[s, e, i]
                                if a < 1.0:
                                    b = flow[k, s, e, i]
                                    fl = (1.0 - phi) * b * fac[e] * a + phi * flows[e, i]
                                    exc = max(exc, fl - a * b)
                    trace_ks[k, s, t, TK_EDGE_EXCESS] = exc
                if anyx:
                    st = allocate_dense(supply, X, dstar, capd, rowfree, dtot, flows,
                                        False, ws_f, ws_cap, ws_v, ws_i, ws_b)
                    if st != 0:
                        status_out[0] = st
                else:
                    for i in kc:
                        dtot[i] = dstar[i]
                have_alloc[s] = True
                prev_anyx[s] = anyx
                for e in kc:
                    prev_sup[s, e] = supply[e]
                    prev_x[s, e] = X[e] if anyx else 0.0
                    prev_rowflag[s, e] = rowflag[s, e]
                    prev_dstar[s, e] = dstar[e]
                    prev_dtot[s, e] = dtot[e]
                    if rowflag[s, e]:
                        for i in kc:
                            prev_a[s, e, i] = A[s, e, i]
            for i in kc:
                tot_d += dtot[i]
        else:
            for i in kc:
                dstar[i] = 0.0
                dtot[i] = 0.0
        # 4. delivered: contracts blend into the flexible market over the lag
        fed = 0.0
        for i in kc:
            dstage[s, i] = (1.0 - phi) * contract[i] + phi * dstar[i]
            feed_next[i] = dstage[s, i] + phi * (dtot[i] - dstar[i])
            fed += feed_next[i]
        # stranded: the stopped contract flow, minus what rerouting sold
        for e in kc:
            strand[s, e] = 0.0
        if any_stop:
            tot_stop = 0.0
            for e in kc:
                tot_stop += stopped[e]
            unsold = max(0.0, tot_s - tot_d)
            kept = min(1.0, unsold / tot_stop) if tot_stop > 0.0 else 0.0
            for e in kc:
                strand[s, e] = stopped[e] * ((1.0 - phi) + phi * kept)
        if want_trace:
            trace_ks[k, s, t, TK_SUPPLY] = tot_s
            trace_ks[k, s, t, TK_DELIVERED] = fed
        for i in kc:
            feed[i] = feed_next[i]


@jit
def run_draws(
    w, first_draw, n_workers, seed, horizon, price_cap,
    var_key, var_dist, var_par, disc_values, disc_cdf,
    ev_kind, ev_origin, ev_prob, ev_parent, ev_occ_var, ev_onset_var, ev_lag_var,
    ev_dur_var, ev_sev_var, ev_settled_var, ev_settle_var, ev_leak_var, ev_lead_var,
    ev_qsev, ev_re_export, ev_stage, ev_targets, ev_correlated, occ_chol,
    resp_var,
    sp_stock, sp_maxrel, sp_occ_var, sp_prob,
    cap_mat, cap_stage, cap_country, cap_add, cap_prob, cap_occ_var, cap_online_var,
    flow, prod, need, spare_cap, yld, has_feed, world_yld, stock, maxrel, n_stages,
    re_share, rush_flow, scope, xidx, csr_ptr, csr_col, csr_val, kc_ptr, kc_idx,
    variates_b, fired_b, onset_b, shortage_b, peak_b, months_b, first_b, last_b, drawn_b,
    price_peak_b, price_mean_b, hist_w, want_series, series_b, want_trace, trace_b, trace_ks_b,
    status_b, done_w,
):
    """Worker w of n_workers: draws first_draw + lo .. first_draw + hi - 1, where
    [lo, hi) is the w-th contiguous slice of the block's n = variates_b.shape[0] draws,
    each simulated as in MODEL.md §2-§5 (docs/model.md), into the
    output arrays (rows lo .. hi - 1) and into its own histogram hist_w[w] (the caller
    sums them). Scratch arrays are allocated once per slice, not per draw. series /
    trace / trace_ks have a leading draw axis of length n when wanted, else 1 (unused).

    Serial and nogil: the engine runs the workers on Python threads (docs/model.md,
    "Parallelism"), so results never depend on the number of workers. done_w[w] holds
    the number of the slice's draws finished so far (the engine reads it while the slice
    runs, for its progress bar).
    """
    n = variates_b.shape[0]
    n_ev = ev_kind.shape[0]
    n_s = flow.shape[1]
    n_c = flow.shape[2]
    lo = (n * w) // n_workers
    hi = (n * (w + 1)) // n_workers
    z = np.zeros(max(1, n_ev))
    onset_f = np.zeros(max(1, n_ev))
    dur = np.zeros(max(1, n_ev))
    sev0 = np.zeros(max(1, n_ev))
    sev1 = np.zeros(max(1, n_ev))
    settle = np.zeros(max(1, n_ev))
    leak = np.zeros(max(1, n_ev))
    lead = np.zeros(max(1, n_ev))
    sp_on = np.zeros(max(1, sp_occ_var.shape[0]), dtype=np.bool_)
    cap_on = np.zeros(max(1, cap_occ_var.shape[0]), dtype=np.bool_)
    cap_month = np.zeros(max(1, cap_occ_var.shape[0]), dtype=np.int64)
    A = np.ones((n_s, n_c, n_c))
    rowflag = np.zeros((n_s, n_c), dtype=np.bool_)
    outsh = np.ones((n_s, n_c))
    spare = np.zeros((n_s, n_c))
    supply = np.zeros(n_c)
    feed = np.zeros(n_c)
    feed_next = np.zeros(n_c)
    X = np.zeros(n_c)
    fac = np.zeros(n_c)
    closs = np.zeros(n_c)
    contract = np.zeros(n_c)
    stopped = np.zeros(n_c)
    dstar = np.zeros(n_c)
    dtot = np.zeros(n_c)
    stock_left = np.zeros(n_c)
    max_draw = np.zeros(n_c)
    zeros = np.zeros(n_c)
    capd = np.zeros((n_c, n_c))
    rowfree = np.zeros(n_c, dtype=np.bool_)
    flows = np.zeros((n_c, n_c))
    c2 = n_c + 2
    ws_f = np.zeros((c2, c2))
    ws_cap = np.zeros((c2, c2))
    ws_v = np.zeros((12, c2))
    ws_i = np.zeros((6, 2 * c2), dtype=np.int64)
    ws_b = np.zeros((4, c2), dtype=np.bool_)
    sev_now = np.zeros(max(1, n_ev))
    sev_prev = np.zeros(max(1, n_ev))
    dstage = np.zeros((n_s, n_c))
    strand = np.zeros((n_s, n_c))
    have_alloc = np.zeros(n_s, dtype=np.bool_)
    prev_sup = np.zeros((n_s, n_c))
    prev_x = np.zeros((n_s, n_c))
    prev_anyx = np.zeros(n_s, dtype=np.bool_)
    prev_rowflag = np.zeros((n_s, n_c), dtype=np.bool_)
    prev_a = np.zeros((n_s, n_c, n_c))
    prev_dstar = np.zeros((n_s, n_c))
    prev_dtot = np.zeros((n_s, n_c))
    status_out = np.zeros(1, dtype=np.int64)
    hist = hist_w[w]
    for j in range(lo, hi):
        done_w[w] = j - lo
        d = first_draw + j
        # this draw's rows of the block outputs
        variates = variates_b[j]
        fired = fired_b[j]
        onset = onset_b[j]
        shortage_t = shortage_b[j]
        peak_share = peak_b[j]
        months_short = months_b[j]
        first_short = first_b[j]
        last_short = last_b[j]
        stock_drawn_t = drawn_b[j]
        price_peak = price_peak_b[j]
        price_mean = price_mean_b[j]
        series = series_b[j if want_series else 0]
        trace = trace_b[j if want_trace else 0]
        trace_ks = trace_ks_b[j if want_trace else 0]
        H = horizon
        status = 0
        _draw_variates(d, seed, var_key, var_dist, var_par, disc_values, disc_cdf,
                       ev_occ_var, ev_correlated, occ_chol, variates, z)
        vals = variates
        bad = False
        for v in range(vals.shape[0]):
            if math.isnan(vals[v]):
                bad = True
        if bad:
            status_b[j] = STATUS_BAD_VARIATE
            continue

        # --- events (topologically sorted: a parent comes first) ---------------------------
        for e in range(n_ev):
            fe = vals[ev_occ_var[e]] < ev_prob[e]
            par = ev_parent[e]
            if par >= 0:
                fe = fe and fired[par]
            fired[e] = fe
            if par >= 0:
                start = onset_f[par] + math.floor(_var(vals, ev_lag_var[e], 0.0))
            else:
                start = math.floor(_var(vals, ev_onset_var[e], 0.0))
            onset_f[e] = max(0.0, start) if (par < 0 or fired[par]) else 0.0
            onset[e] = int(onset_f[e]) if fe else -1
            dur[e] = _var(vals, ev_dur_var[e], np.inf)
            s0 = min(1.0, max(0.0, _var(vals, ev_sev_var[e], 0.0)))
            sev0[e] = s0
            sev1[e] = min(1.0, max(0.0, _var(vals, ev_settled_var[e], -1.0)))
            if ev_settled_var[e] < 0:
                sev1[e] = -1.0  # no settled severity: stays at the initial one
            settle[e] = max(0.0, _var(vals, ev_settle_var[e], 0.0))
            leak[e] = min(1.0, max(0.0, _var(vals, ev_leak_var[e], 0.0)))
            lead[e] = max(0.0, _var(vals, ev_lead_var[e], 0.0))
        for j in range(sp_occ_var.shape[0]):
            sp_on[j] = vals[sp_occ_var[j]] < sp_prob[j]
        for q in range(cap_occ_var.shape[0]):
            cap_on[q] = vals[cap_occ_var[q]] < cap_prob[q]
            cap_month[q] = int(max(0.0, math.floor(_var(vals, cap_online_var[q], 0.0))))

        lag_phi = _var(vals, resp_var[0], 0.0)
        lag_spare = _var(vals, resp_var[1], 0.0)
        usable = min(1.0, max(0.0, _var(vals, resp_var[2], 0.0)))
        sub_max = min(1.0, max(0.0, _var(vals, resp_var[3], 0.0)))
        lag_sub = _var(vals, resp_var[4], 0.0)
        elasticity = _var(vals, resp_var[5], 0.0)
        inv_el = 1.0 / elasticity if elasticity > 0.0 else 0.0

        # --- per-exposure defaults -----------------------------------------------------------
        n_x = shortage_t.shape[0]
        for x in range(n_x):
            shortage_t[x] = 0.0
            peak_share[x] = 0.0
            months_short[x] = 0
            first_short[x] = -1
            last_short[x] = -1
            stock_drawn_t[x] = 0.0
            price_peak[x] = 1.0
            price_mean[x] = 0.0  # accumulates (price - 1) over computed months
        if want_series:
            for x in range(n_x):
                for t in range(H):
                    series[x, t] = 0.0

        for kk in range(scope.shape[0]):
            k = scope[kk]
            ns = n_stages[k]
            if want_trace:
                for s in range(ns):
                    for i in range(n_c):
                        x = xidx[k, s, i]
                        if x >= 0:
                            for t in range(H):
                                trace[x, t, TR_NEED] = need[k, s, i]
                                trace[x, t, TR_DELIVERED] = need[k, s, i]
                                trace[x, t, TR_SUBSTITUTED] = 0.0
                                trace[x, t, TR_DRAWN] = 0.0
                                trace[x, t, TR_SHORTAGE] = 0.0
                                trace[x, t, TR_PRICE] = 1.0
                    for t in range(H):
                        ps = 0.0
                        for e in range(n_c):
                            ps += prod[k, s, e]
                        trace_ks[k, s, t, TK_SUPPLY] = ps
                        trace_ks[k, s, t, TK_DELIVERED] = ps
                        trace_ks[k, s, t, TK_EDGE_EXCESS] = 0.0
            t0 = H
            for e in range(n_ev):
                if fired[e] and ev_stage[e, k] >= 0 and dur[e] > 0.0 and onset_f[e] < H:
                    t0 = min(t0, int(onset_f[e]))
            if t0 >= H:
                continue

            # stock: dataset + stockpiles that fired + the announcement rush
            for i in range(n_c):
                stock_left[i] = stock[k, i]
                max_draw[i] = maxrel[k, i]
            for j in range(sp_occ_var.shape[0]):
                if sp_on[j]:
                    for i in range(n_c):
                        stock_left[i] += sp_stock[j, k, i]
                        max_draw[i] += sp_maxrel[j, k, i]
            for e in range(n_ev):
                if (fired[e] and ev_kind[e] == EVENT_RESTRICTION and ev_stage[e, k] >= 0
                        and lead[e] > 0.0):
                    for i in range(n_c):
                        if rush_flow[e, k, i] > 0.0:
                            stock_left[i] += lead[e] * rush_flow[e, k, i]
                            max_draw[i] += rush_flow[e, k, i]

            # per-country scratch is shared by all materials; the month loop writes only the
            # countries taking part in k, so the others must start (and stay) at zero
            for e in range(n_c):
                supply[e] = 0.0
                feed[e] = 0.0
                feed_next[e] = 0.0
                X[e] = 0.0
                fac[e] = 0.0
                closs[e] = 0.0
                contract[e] = 0.0
                stopped[e] = 0.0
                dstar[e] = 0.0
                dtot[e] = 0.0
                rowfree[e] = True
                for s in range(ns):
                    dstage[s, e] = 0.0
                    strand[s, e] = 0.0
            # the peak is a maximum over all H months: start below any price, and let the
            # months that are not computed (price index 1) count once the loop is done
            for s in range(ns):
                for i in kc_idx[kc_ptr[k]:kc_ptr[k + 1]]:
                    x = xidx[k, s, i]
                    if x >= 0:
                        price_peak[x] = 0.0
            n_computed = 0
            have_month = False
            prev_phi = -1.0
            prev_ramp = -1.0
            prev_online = -1
            for s in range(ns):
                have_alloc[s] = False
            for t in range(t0, H):
                # severity of every event touching k this month (-1: not active)
                active = False
                for e in range(n_ev):
                    sev_now[e] = -1.0
                    s = ev_stage[e, k]
                    if not (fired[e] and s >= 0 and onset_f[e] <= t and t < onset_f[e] + dur[e]):
                        continue
                    active = True
                    s_init = sev0[e]
                    if not math.isnan(ev_qsev[e, k]):
                        s_init = ev_qsev[e, k]
                    s_set = sev1[e] if sev1[e] >= 0.0 else s_init
                    if settle[e] <= 0.0:
                        sev_now[e] = s_set
                    else:
                        sev_now[e] = s_init + (s_set - s_init) * min(
                            1.0, (t - onset_f[e]) / settle[e])
                if not active:
                    have_month = False
                    continue
                n_computed += 1
                tau = float(t - t0)
                phi = _ramp(lag_phi, tau)
                ramp_spare = _ramp(lag_spare, tau)
                sub = sub_max * _ramp(lag_sub, tau)
                n_online = 0
                for q in range(cap_occ_var.shape[0]):
                    if cap_on[q] and cap_mat[q] == k and cap_month[q] <= t:
                        n_online += 1

                # a month whose inputs equal the previous month's delivers the same: only
                # stock, substitution and prices move (steady state after the ramps)
                same = have_month and not want_trace
                if same:
                    same = (phi == prev_phi and ramp_spare == prev_ramp
                            and n_online == prev_online)
                if same:
                    for e in range(n_ev):
                        if sev_now[e] != sev_prev[e]:
                            same = False
                            break
                if not same:
                    _month_stages(
                        k, t, ns, n_ev, phi, ramp_spare, usable, ev_kind, ev_origin, ev_re_export,
                        ev_stage, ev_targets, leak, sev_now, re_share, cap_occ_var, cap_on,
                        cap_mat, cap_stage, cap_country, cap_add, cap_month, flow, prod, need,
                        spare_cap, yld, has_feed, world_yld, csr_ptr, csr_col, csr_val,
                        kc_ptr, kc_idx, want_trace, trace_ks, A, rowflag, outsh, spare, supply,
                        feed, feed_next, X, fac, closs, contract, stopped, dstar, dtot, zeros, capd,
                        rowfree, flows, ws_f, ws_cap, ws_v, ws_i, ws_b, dstage, strand,
                        have_alloc, prev_sup, prev_x, prev_anyx, prev_rowflag, prev_a,
                        prev_dstar, prev_dtot, status_out,
                    )
                    if status_out[0] != 0:
                        status = status_out[0]
                    have_month = True
                    prev_phi = phi
                    prev_ramp = ramp_spare
                    prev_online = n_online
                    for e in range(n_ev):
                        sev_prev[e] = sev_now[e]

                # 5.-6. shortage, substitution, stock, price per reported country
                for s in range(ns):
                    last = s == ns - 1
                    for i in kc_idx[kc_ptr[k]:kc_ptr[k + 1]]:
                        x = xidx[k, s, i]
                        if x < 0:
                            continue
                        nd = need[k, s, i]
                        gap = nd - dstage[s, i]
                        if gap <= SNAP * nd:
                            gap = 0.0
                        subd = 0.0
                        drawn = 0.0
                        short = gap
                        if last and gap > 0.0:
                            subd = sub * gap
                            rem = gap - subd
                            drawn = max(0.0, min(rem, stock_left[i], max_draw[i]))
                            stock_left[i] -= drawn
                            short = rem - drawn
                        if not (short >= 0.0):
                            status = STATUS_BAD_STATE
                            short = 0.0
                        consumed = nd - gap + drawn
                        ratio = (consumed + strand[s, i]) / nd
                        if inv_el == 0.0 or ratio == 1.0:
                            price = 1.0
                        elif ratio <= 0.0:
                            price = price_cap
                        else:
                            price = min(price_cap, ratio ** (-inv_el))
                        share = short / nd
                        shortage_t[x] += short
                        stock_drawn_t[x] += drawn
                        if share > peak_share[x]:
                            peak_share[x] = share
                        if short > 0.01 * nd:
                            months_short[x] += 1
                            if first_short[x] < 0:
                                first_short[x] = t
                            last_short[x] = t
                        if price > price_peak[x]:
                            price_peak[x] = price
                        price_mean[x] += price - 1.0
                        if share > 0.0:
                            hb = int(math.ceil(share * 100.0))
                            if hb > 1 and share <= (hb - 1) / 100.0:
                                hb -= 1
                            hb = min(100, max(1, hb))
                            hist[x, t, hb] += 1
                        if want_series:
                            series[x, t] = share
                        if want_trace:
                            trace[x, t, TR_DELIVERED] = nd - gap
                            trace[x, t, TR_SUBSTITUTED] = subd
                            trace[x, t, TR_DRAWN] = drawn
                            trace[x, t, TR_SHORTAGE] = short
                            trace[x, t, TR_PRICE] = price
            if n_computed < H:
                for s in range(ns):
                    for i in kc_idx[kc_ptr[k]:kc_ptr[k + 1]]:
                        x = xidx[k, s, i]
                        if x >= 0 and price_peak[x] < 1.0:
                            price_peak[x] = 1.0
        for x in range(n_x):
            price_mean[x] = 1.0 + price_mean[x] / H
        status_b[j] = status
    done_w[w] = hi - lo
