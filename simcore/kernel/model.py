"""One Monte Carlo draw of the disruption model (docs/model.md), and ``run_draws``, the
worker that runs a contiguous slice of a block of draws.

Everything is in [t/month]. A worker allocates its scratch once per slice and writes
its own histograms (integer counts, summed afterwards in any order). A draw's outputs
depend only on (seed, draw index, inputs), never on the worker that ran it nor on how
draws were split into blocks.

Per material, nothing is computed before the first month in which an event touching it
is announced or in force: until then every market is at its baseline (prices 1, stocks at
their targets, every need met). From that month on every month is computed, because
stocks, prices and restarted capacity carry over.

Structures (simcore/kernel/structs.py): ``tn`` the tensor, ``sc`` the compiled
scenario, ``out`` the block's outputs; ``ws`` the worker's scratch (``_scratch``).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from simcore._numba import jit
from simcore.kernel.market import (
    MP_EPS,
    MP_ETA,
    MP_LNPBAR,
    MP_LNPMIN,
    MP_PFULL,
    MP_THETA,
    N_MP,
    N_ZQ,
    ZQ_C,
    ZQ_G,
    ZQ_I,
    ZQ_N,
    ZQ_R,
    ZQ_T,
    ZQ_X,
    clear_zones,
    free_demand,
    prepare_zone,
    release_share,
    zone_outcome,
)
from simcore.kernel.rng import norm_cdf, norm_ppf, sample, triangular_ppf, uniform
from simcore.kernel.structs import (
    MK_ADJ,
    MK_CHOKE,
    MK_COVER,
    MK_EPS_M,
    MK_EPS_S,
    MK_ETA,
    MK_FCOVER,
    MK_LAG,
    MK_ORIGIN,
    MK_PREC,
    MK_PSI,
    MK_RESTART,
    MK_SPOT,
    MK_SUP,
    MK_THETA,
    N_MARKET,
    NPB,
    PB_LO,
    PB_STEP,
    RESP_SPARE_USABLE,
    RESP_SUB_MAX,
    RESP_SUB_MONTHS,
)

EVENT_RESTRICTION = 0
EVENT_OUTAGE = 1

SHORT_SHARE = 0.01  # a month is short when its shortage exceeds 1 % of monthly need ...
SHARE_TOL = 1e-10  # ... by more than this share of need (rounding of exact ties)
WEEKS_PER_MONTH = 52.0 / 12.0

STATUS_BAD_VARIATE = 10  # a sampled variate is NaN
STATUS_BAD_STATE = 11  # a negative or NaN quantity appeared in the month loop

# trace columns per (exposure, month)
(TR_NEED, TR_BOUGHT, TR_RESTOCKED, TR_CDRAWN, TR_SDRAWN, TR_SUBSTITUTED, TR_GIVEN_UP,
 TR_RATIONED, TR_SHORTAGE, TR_PRICE, TR_USED) = range(11)
NTR = 11
# trace columns per (zone, month)
(TZ_PRICE, TZ_RHO, TZ_INFLOW, TZ_CONTRACT, TZ_PRODUCTION, TZ_STOCK, TZ_PURCHASE,
 TZ_STATE_RELEASE, TZ_UNSOLD, TZ_EDGE_EXCESS, TZ_NEED, TZ_CONSUMED, TZ_RESTOCKED,
 TZ_RELEASED) = range(14)
NTZ = 14

Scratch = namedtuple("Scratch", [
    # per event
    "z", "onset_f", "dur", "sev0", "sev1", "settle", "leak", "lead", "sev_now", "ann_now",
    # per intervention
    "sp_on", "cap_on", "cap_month",
    # per material
    "mk",
    # per (stage, zone) carried over months
    "inv", "lnp_prev", "lnp_now", "zprec",
    # per country
    "lsm", "msm", "lsr", "msr", "srel", "supply", "feed", "feed_next",
    # per (stage, country)
    "rowflag", "outsh", "outp", "xfeed", "az",
    # zone market of one stage
    "zq", "mp", "zcons", "zrest", "zcrel", "zshare", "zdbar", "zrho", "zprice",
    # exporter classes and the max-flow workspace
    "fsup", "capc", "cls_row", "ulev", "frozen", "cutz", "dem", "f", "out_e", "in_i", "queue",
    "par_e", "par_i", "seen_e", "seen_i",
])


@jit
def _scratch(n_ev, n_sp, n_cap, n_k, n_s, n_c, n_z):
    e1 = max(1, n_ev)
    m = n_c + 1
    z1 = max(1, n_z)
    return Scratch(
        np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1),
        np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1, dtype=np.bool_),
        np.zeros(max(1, n_sp), dtype=np.bool_), np.zeros(max(1, n_cap), dtype=np.bool_),
        np.zeros(max(1, n_cap), dtype=np.int64),
        np.zeros((n_k, N_MARKET)),
        np.zeros((n_s, z1)), np.zeros((n_s, z1)), np.zeros((n_s, z1)),
        np.zeros((n_s, z1), dtype=np.bool_),
        np.zeros(n_c), np.zeros(n_c), np.zeros(n_c), np.zeros(n_c), np.zeros(n_c),
        np.zeros(n_c), np.zeros(n_c), np.zeros(n_c),
        np.zeros((n_s, n_c), dtype=np.bool_), np.ones((n_s, n_c)), np.zeros((n_s, n_c)),
        np.zeros((n_s, n_c)), np.ones((n_s, n_c, z1)),
        np.zeros((z1, N_ZQ)), np.zeros(N_MP), np.zeros(z1), np.zeros(z1), np.zeros(z1),
        np.zeros(z1), np.zeros(z1), np.zeros(z1), np.zeros(z1),
        np.zeros(m), np.zeros((m, z1)), np.zeros(m, dtype=np.int64), np.zeros(z1),
        np.zeros(z1, dtype=np.bool_), np.zeros(z1, dtype=np.bool_), np.zeros(z1),
        np.zeros((m, z1)), np.zeros(m),
        np.zeros(z1), np.zeros(m + z1 + 2, dtype=np.int64), np.zeros(m, dtype=np.int64),
        np.zeros(z1, dtype=np.int64), np.zeros(m, dtype=np.bool_),
        np.zeros(z1, dtype=np.bool_),
    )


@jit
def _ramp(lag, tau):
    """0 before the first disruption month (tau < 0), then rising linearly to 1 over
    ``lag`` months (1 at once when lag <= 0)."""
    if tau < 0.0:
        return 0.0
    if lag <= 0.0:
        return 1.0
    return min(1.0, tau / lag)


@jit
def _var(vals, v, default):
    return vals[v] if v >= 0 else default


@jit
def _draw_variates(d, seed, sc, vals, z):
    """Variates of draw d into vals[V]; correlated occurrence uniforms through the
    Gaussian copula (an uncorrelated event keeps its uniform as drawn)."""
    for v in range(sc.var_key.shape[0]):
        u = uniform(seed, sc.var_key[v], d, 0)
        vals[v] = sample(u, sc.var_dist[v], sc.var_par[v], sc.disc_values, sc.disc_cdf)
    n_ev = sc.ev_occ_var.shape[0]
    anycorr = False
    for e in range(n_ev):
        if sc.ev_correlated[e]:
            anycorr = True
    if anycorr:
        for e in range(n_ev):
            z[e] = norm_ppf(vals[sc.ev_occ_var[e]])
        for e in range(n_ev):
            if sc.ev_correlated[e]:
                acc = 0.0
                for j in range(n_ev):
                    acc += sc.occ_chol[e, j] * z[j]
                vals[sc.ev_occ_var[e]] = norm_cdf(acc)


@jit
def _events(sc, vals, ws, fired, onset):
    """Which events fire, when, how severe (topological order: a parent comes first);
    which interventions are in place."""
    for e in range(sc.ev_kind.shape[0]):
        fe = vals[sc.ev_occ_var[e]] < sc.ev_prob[e]
        par = sc.ev_parent[e]
        if par >= 0:
            fe = fe and fired[par]
            start = ws.onset_f[par] + math.floor(_var(vals, sc.ev_lag_var[e], 0.0))
        else:
            start = math.floor(_var(vals, sc.ev_onset_var[e], 0.0))
        fired[e] = fe
        ws.onset_f[e] = max(0.0, start) if (par < 0 or fired[par]) else 0.0
        onset[e] = int(ws.onset_f[e]) if fe else -1
        ws.dur[e] = _var(vals, sc.ev_dur_var[e], np.inf)
        ws.sev0[e] = min(1.0, max(0.0, _var(vals, sc.ev_sev_var[e], 0.0)))
        if sc.ev_settled_var[e] < 0:
            ws.sev1[e] = -1.0  # no settled severity: stays at the initial one
        else:
            ws.sev1[e] = min(1.0, max(0.0, vals[sc.ev_settled_var[e]]))
        ws.settle[e] = max(0.0, _var(vals, sc.ev_settle_var[e], 0.0))
        ws.leak[e] = min(1.0, max(0.0, _var(vals, sc.ev_leak_var[e], 0.0)))
        ws.lead[e] = max(0.0, _var(vals, sc.ev_lead_var[e], 0.0))
    for j in range(sc.sp_occ_var.shape[0]):
        ws.sp_on[j] = vals[sc.sp_occ_var[j]] < sc.sp_prob[j]
    for q in range(sc.cap_occ_var.shape[0]):
        ws.cap_on[q] = vals[sc.cap_occ_var[q]] < sc.cap_prob[q]
        ws.cap_month[q] = int(max(0.0, math.floor(_var(vals, sc.cap_online_var[q], 0.0))))


@jit
def _market_values(tn, sc, vals, k, mk):
    """Market parameters of material k in this draw: the scenario's value, or the
    quantile of the dataset's (low, mode, high) that the draw's uniform picks."""
    for p in range(N_MARKET):
        x = vals[sc.mkt_var[p]]
        if not sc.mkt_given[p]:
            x = triangular_ppf(x, tn.market[k, p, 0], tn.market[k, p, 1], tn.market[k, p, 2])
        mk[k, p] = max(0.0, x)
    for p in (MK_PSI, MK_THETA, MK_SPOT):
        mk[k, p] = min(1.0, mk[k, p])
    mk[k, MK_CHOKE] = max(1.0, mk[k, MK_CHOKE])


@jit
def _start_month(sc, ws, fired, k, horizon):
    """(first month any event touching k is in force, first month one is announced or in
    force); horizon when none."""
    t0 = horizon
    ta = horizon
    for e in range(sc.ev_kind.shape[0]):
        if not (fired[e] and sc.ev_stage[e, k] >= 0 and ws.dur[e] > 0.0):
            continue
        if ws.onset_f[e] >= horizon:
            if not (sc.ev_kind[e] == EVENT_RESTRICTION and ws.lead[e] > 0.0):
                continue
        o = int(ws.onset_f[e])
        if o < horizon:
            t0 = min(t0, o)
        a = o
        if sc.ev_kind[e] == EVENT_RESTRICTION and ws.lead[e] > 0.0:
            a = o - int(math.ceil(ws.lead[e]))
        ta = min(ta, max(0, a))
    return t0, min(t0, ta)


@jit
def _severities(sc, ws, fired, k, t):
    """Severity of each event touching k in month t (-1: not in force), and whether it
    is announced (in its lead months before onset)."""
    for e in range(sc.ev_kind.shape[0]):
        ws.sev_now[e] = -1.0
        ws.ann_now[e] = False
        if not (fired[e] and sc.ev_stage[e, k] >= 0 and ws.dur[e] > 0.0):
            continue
        o = ws.onset_f[e]
        if o <= t < o + ws.dur[e]:
            s_init = ws.sev0[e]
            if not math.isnan(sc.ev_qsev[e, k]):
                s_init = sc.ev_qsev[e, k]
            s_set = ws.sev1[e] if ws.sev1[e] >= 0.0 else s_init
            if ws.settle[e] <= 0.0:
                ws.sev_now[e] = s_set
            else:
                ws.sev_now[e] = s_init + (s_set - s_init) * min(1.0, (t - o) / ws.settle[e])
        elif (sc.ev_kind[e] == EVENT_RESTRICTION and ws.lead[e] > 0.0
              and o - math.ceil(ws.lead[e]) <= t < o):
            ws.ann_now[e] = True


@jit
def _routes(sc, ws, k, ns, kc):
    """Allowed shares az[s, e, z] of restricted rows (rowflag), outages, and which zones
    buy ahead (precaution), for the events in force or announced this month."""
    for s in range(ns):
        for e in kc:
            ws.rowflag[s, e] = False
            ws.outsh[s, e] = 1.0
        for z in range(sc.n_zone[k, s]):
            ws.zprec[s, z] = False
    for e in range(sc.ev_kind.shape[0]):
        s = sc.ev_stage[e, k]
        if ws.ann_now[e]:
            for z in range(sc.n_zone[k, s]):
                if sc.zone_tgt[k, s, z, e]:
                    ws.zprec[s, z] = True
        sev = ws.sev_now[e]
        if sev < 0.0:
            continue
        o = sc.ev_origin[e]
        if sc.ev_kind[e] == EVENT_OUTAGE:
            ws.outsh[s, o] *= 1.0 - sev
            continue
        for z in range(sc.n_zone[k, s]):
            if sc.zone_tgt[k, s, z, e]:
                ws.zprec[s, z] = True
        allowed = 1.0 - sev * (1.0 - ws.leak[e])
        if not ws.rowflag[s, o]:
            ws.rowflag[s, o] = True
            for z in range(sc.n_zone[k, s]):
                ws.az[s, o, z] = 1.0
        for z in range(sc.n_zone[k, s]):
            if sc.zone_tgt[k, s, z, e]:
                ws.az[s, o, z] *= allowed
        if sc.ev_re_export[e] and s + 1 < ns:
            s1 = s + 1
            for j in kc:
                sh = sc.re_share[e, k, j]
                if sh <= 0.0 or j == o:
                    continue
                a_j = 1.0 - sev * (1.0 - ws.leak[e]) * sh
                if not ws.rowflag[s1, j]:
                    ws.rowflag[s1, j] = True
                    for z in range(sc.n_zone[k, s1]):
                        ws.az[s1, j, z] = 1.0
                for z in range(sc.n_zone[k, s1]):
                    if sc.zone_rtgt[k, s1, z, e] and sc.zone_of[k, s1, j] != z:
                        ws.az[s1, j, z] *= a_j


@jit
def _plan_output(tn, sc, ws, k, ns, kc, t, tau, usable):
    """Output each producer plans this month [t/month] (outp), from last month's zone
    price (slow responses lag a month): idle capacity restarts at the supply elasticity,
    bounded by its usable share and phased in over the restart time; producers without a
    feed stage cut output when their price fell; capacity interventions run at full
    capacity from their online month once the material is disrupted. Extra feed that
    output beyond baseline needs one stage up (xfeed)."""
    ramp_r = _ramp(ws.mk[k, MK_RESTART], tau)
    for s in range(ns):
        for e in kc:
            p0 = tn.prod[k, s, e]
            lp = ws.lnp_prev[s, sc.zone_of[k, s, e]]
            el = ws.mk[k, MK_ORIGIN] if sc.is_origin[k, s, e] else ws.mk[k, MK_SUP]
            r = 0.0
            if lp > 0.0:
                # restarts scale with capacity, so that an idle plant can restart too
                idle = tn.spare_cap[k, s, e]
                r = min((p0 + idle) * (math.exp(el * lp) - 1.0), usable * idle) * ramp_r
            elif lp < 0.0 and s == 0:
                r = p0 * (math.exp(el * lp) - 1.0)  # a later stage runs on the feed it buys
            ws.outp[s, e] = p0 + r
            ws.xfeed[s, e] = 0.0
    if tau >= 0.0:
        for q in range(sc.cap_occ_var.shape[0]):
            if ws.cap_on[q] and sc.cap_mat[q] == k and ws.cap_month[q] <= t:
                ws.outp[sc.cap_stage[q], sc.cap_country[q]] += sc.cap_add[q]
    for s in range(ns):
        for e in kc:
            ws.outp[s, e] *= ws.outsh[s, e]
            if s > 0:
                extra = ws.outp[s, e] - tn.prod[k, s, e] * ws.outsh[s, e]
                if extra > 0.0:
                    y = tn.yld[k, s, e] if tn.has_feed[k, s, e] else tn.world_yld[k, s]
                    if y > 0.0:
                        ws.xfeed[s - 1, e] = extra / y


@jit
def _zone_bin(p):
    if p == 1.0:
        return 0
    b = int(math.floor((math.log(p) - PB_LO) / PB_STEP))
    return 1 + min(NPB - 2, max(0, b))


@jit
def _stage(tn, sc, ws, out, hist, zhist, j, k, s, ns, kc, t, kappa, sub, status):
    """Supply, contracts, zone markets and accounting of stage s of material k in month
    t (docs/model.md §3). Returns the status."""
    last = s == ns - 1
    nz = sc.n_zone[k, s]
    mk = ws.mk
    # 1. supply
    for e in kc:
        if s == 0:
            ws.supply[e] = ws.outp[s, e]
        elif tn.has_feed[k, s, e]:
            ws.supply[e] = min(ws.outp[s, e], tn.yld[k, s, e] * ws.feed[e])
        else:
            own = tn.prod[k, s, e] * ws.outsh[s, e]
            ws.supply[e] = own + min(max(0.0, ws.outp[s, e] - own),
                                     tn.world_yld[k, s] * ws.feed[e])
    # 2. contracts, free supply by exporter class, the origin state's purchases
    for z in range(nz):
        for c in range(N_ZQ):
            ws.zq[z, c] = 0.0
        ws.capc[0, z] = np.inf
    m = 1
    ws.fsup[0] = 0.0
    psi = mk[k, MK_PSI]
    for e in kc:
        sup_e = ws.supply[e]
        p0 = tn.prod[k, s, e]
        fac = min(1.0, sup_e / p0) if p0 > 0.0 else 0.0
        if ws.rowflag[s, e]:
            c = m
            m += 1
            ws.cls_row[c] = e
            free = sup_e
            stopped = 0.0
            for z in range(nz):
                b = sc.bz[k, s, e, z]
                a = ws.az[s, e, z]
                cz = kappa * fac * a * b
                ws.zq[z, ZQ_C] += cz
                free -= cz
                ws.capc[c, z] = a * b * (1.0 - kappa * fac) if a < 1.0 else np.inf
                stopped += b * fac * (1.0 - a)
            ws.fsup[c] = max(0.0, free)
            if sc.is_origin[k, s, e]:
                ws.zq[sc.zone_of[k, s, e], ZQ_G] += psi * stopped
        else:
            for z in range(nz):
                ws.zq[z, ZQ_C] += kappa * fac * sc.bz[k, s, e, z]
            ws.fsup[0] += max(0.0, sup_e - kappa * fac * p0)
    # 3. the zones' demand
    cover = mk[k, MK_COVER] if last else mk[k, MK_FCOVER]
    for z in range(nz):
        nzd = sc.zone_need[k, s, z]
        ws.zq[z, ZQ_N] = nzd
        wk = cover + (mk[k, MK_PREC] if ws.zprec[s, z] else 0.0)
        ws.zq[z, ZQ_T] = wk / WEEKS_PER_MONTH * nzd
        ws.zq[z, ZQ_I] = ws.inv[s, z]
    if not last:
        for e in kc:
            if ws.xfeed[s, e] > 0.0:
                ws.zq[sc.zone_of[k, s, e], ZQ_X] += ws.xfeed[s, e]
    else:
        for i in kc:
            if ws.lsm[i] > 0.0:
                ws.zq[sc.zone_of[k, s, i], ZQ_R] += min(ws.msm[i], ws.lsm[i])
    return _clear_and_account(tn, sc, ws, out, hist, zhist, j, k, s, ns, kc, t, m, sub,
                              status)


@jit
def _clear_and_account(tn, sc, ws, out, hist, zhist, j, k, s, ns, kc, t, m, sub, status):
    """Clear the zones of stage s and book every buyer's month (docs/model.md §3)."""
    last = s == ns - 1
    nz = sc.n_zone[k, s]
    mp = ws.mp
    for z in range(nz):
        prepare_zone(ws.zq, z, mp)
    st = clear_zones(m, nz, ws.fsup, ws.capc, ws.zq, mp, ws.ulev, ws.frozen, ws.cutz, ws.dem,
                     ws.f,
                     ws.out_e, ws.in_i, ws.queue, ws.par_e, ws.par_i, ws.seen_e, ws.seen_i)
    if st != 0:
        status = st
    eps = mp[MP_EPS]
    eta = mp[MP_ETA]
    theta = mp[MP_THETA]
    dbar = math.exp(-eps * mp[MP_LNPBAR])
    free_total = 0.0
    for c in range(m):
        free_total += ws.fsup[c]
    taken = 0.0
    for z in range(nz):
        y = free_demand(ws.zq, z, ws.ulev[z], mp)[0]
        taken += y
        lnp, rho = zone_outcome(ws.zq, z, ws.ulev[z], y, mp)
        p = math.exp(lnp)
        ws.lnp_now[s, z] = lnp
        ws.zprice[z] = p
        ws.zrho[z] = rho
        d = math.exp(-eps * lnp) if lnp > 0.0 else 1.0
        nzd = ws.zq[z, ZQ_N]
        delta = theta * (ws.zq[z, ZQ_T] * math.exp(-eta * lnp) - ws.zq[z, ZQ_I])
        restock = max(0.0, delta) * rho
        crel = max(0.0, -delta)
        ws.inv[s, z] = ws.zq[z, ZQ_I] + restock - crel
        ws.zcons[z] = rho * d
        ws.zdbar[z] = dbar
        ws.zrest[z] = restock / nzd if nzd > 0.0 else 0.0
        ws.zcrel[z] = crel / nzd if nzd > 0.0 else 0.0
        ws.zshare[z] = release_share(p, mp[MP_PFULL])
        g = sc.zg[k, s, z]
        if nzd > 0.0:
            if p > out.zprice_peak[j, g]:
                out.zprice_peak[j, g] = p
            out.zprice_mean[j, g] += p - 1.0
            zhist[g, t, _zone_bin(p)] += 1
            if rho < 1.0:
                out.zchoke[j, g] += 1
        if out.want_zseries:
            out.zseries[j, g, t] = p
        if out.want_trace:
            tz = out.ztrace[j, g, t]
            tz[TZ_PRICE] = p
            tz[TZ_RHO] = rho
            tz[TZ_INFLOW] = ws.zq[z, ZQ_C] + y
            tz[TZ_CONTRACT] = ws.zq[z, ZQ_C]
            tz[TZ_STOCK] = ws.zq[z, ZQ_I]
            tz[TZ_PURCHASE] = ws.zq[z, ZQ_G] * rho
            tz[TZ_STATE_RELEASE] = ws.zq[z, ZQ_R] * ws.zshare[z]
            tz[TZ_NEED] = nzd
            tz[TZ_PRODUCTION] = 0.0
            exc = -np.inf
            for c in range(1, m):
                if ws.capc[c, z] < np.inf:
                    exc = max(exc, ws.f[c, z] - ws.capc[c, z])
            tz[TZ_EDGE_EXCESS] = exc if exc > -np.inf else 0.0
            tz[TZ_UNSOLD] = 0.0
            tz[TZ_CONSUMED] = (nzd + ws.zq[z, ZQ_X]) * ws.zcons[z]
            tz[TZ_RESTOCKED] = restock
            tz[TZ_RELEASED] = crel
    if out.want_trace:
        for e in kc:
            out.ztrace[j, sc.zg[k, s, sc.zone_of[k, s, e]], t, TZ_PRODUCTION] += ws.supply[e]
        out.ztrace[j, sc.zg[k, s, 0], t, TZ_UNSOLD] = max(0.0, free_total - taken)

    # state stocks selling into their zone release at the zone price, whoever buys
    for i in kc:
        ws.feed_next[i] = 0.0
        ws.srel[i] = 0.0
        if last and ws.lsm[i] > 0.0:
            ws.srel[i] = min(ws.msm[i], ws.lsm[i]) * ws.zshare[sc.zone_of[k, s, i]]
            ws.lsm[i] -= ws.srel[i]
    # every buyer of the stage: what it bought, stocked, drew and went without
    for i in kc:
        z = sc.zone_of[k, s, i]
        if not last and ws.xfeed[s, i] > 0.0:
            ws.feed_next[i] += ws.xfeed[s, i] * ws.zcons[z]
        x = sc.xidx[k, s, i]
        if x < 0:
            continue
        nd = tn.need[k, s, i]
        cons = nd * ws.zcons[z]
        rest = nd * ws.zrest[z]
        crel_i = nd * ws.zcrel[z]
        srel = ws.srel[i]
        q = 0.0
        if last:
            if ws.lsr[i] > 0.0:
                q = max(0.0, min(nd - cons, ws.lsr[i], ws.msr[i]))
                ws.lsr[i] -= q
        used = cons + q
        shortfall = nd - used
        rat_net = 0.0
        if ws.zrho[z] < 1.0:
            rat_net = max(0.0, nd * ws.zdbar[z] * (1.0 - ws.zrho[z]) - q)
        giv_net = max(0.0, shortfall - rat_net)
        sb = sub * shortfall if last else 0.0
        keep = (1.0 - sub) if last else 1.0
        giv = keep * giv_net
        rat = keep * rat_net
        short = giv + rat
        cd = min(crel_i, cons)
        sdm = min(srel, cons - cd)
        bought = cons - cd - sdm + rest
        ws.feed_next[i] += used
        if not (short >= 0.0 and shortfall >= -1e-9 * nd):
            status = STATUS_BAD_STATE
        p = ws.zprice[z]
        share = short / nd
        out.shortage[j, x] += short
        out.drawn[j, x] += sdm + q
        out.bought[j, x] += bought
        out.restocked[j, x] += rest
        out.cdrawn[j, x] += cd
        out.substituted[j, x] += sb
        out.given_up[j, x] += giv
        out.rationed[j, x] += rat
        if share > out.peak[j, x]:
            out.peak[j, x] = share
        if share > SHORT_SHARE + SHARE_TOL:
            out.months[j, x] += 1
            if out.first[j, x] < 0:
                out.first[j, x] = t
            out.last[j, x] = t
        if p > out.price_peak[j, x]:
            out.price_peak[j, x] = p
        out.price_mean[j, x] += p - 1.0
        if share > SHARE_TOL:
            hb = int(math.ceil((share - SHARE_TOL) * 100.0))
            hist[x, t, min(100, max(1, hb))] += 1
        if out.want_series:
            out.series[j, x, t] = share
        if out.want_trace:
            tr = out.trace[j, x, t]
            tr[TR_NEED] = nd
            tr[TR_BOUGHT] = bought
            tr[TR_RESTOCKED] = rest
            tr[TR_CDRAWN] = cd
            tr[TR_SDRAWN] = sdm + q
            tr[TR_SUBSTITUTED] = sb
            tr[TR_GIVEN_UP] = giv
            tr[TR_RATIONED] = rat
            tr[TR_SHORTAGE] = short
            tr[TR_PRICE] = p
            tr[TR_USED] = used
    for i in kc:
        ws.feed[i] = ws.feed_next[i]
    return status


@jit
def _material(tn, sc, ws, out, hist, zhist, j, k, fired, usable, sub_max, lag_sub):
    """Every month of material k in draw j. Returns the status."""
    H = sc.horizon
    ns = tn.n_stages[k]
    kc = tn.kc_idx[tn.kc_ptr[k]:tn.kc_ptr[k + 1]]
    status = 0
    t0, ts = _start_month(sc, ws, fired, k, H)
    for s in range(ns):
        for z in range(sc.n_zone[k, s]):
            if sc.zone_need[k, s, z] > 0.0:
                out.zprice_peak[j, sc.zg[k, s, z]] = 0.0
        for i in kc:
            x = sc.xidx[k, s, i]
            if x >= 0:
                out.price_peak[j, x] = 0.0
    if ts < H:
        mk = ws.mk
        # the market at its baseline: stocks at their targets, prices at the reference
        for s in range(ns):
            cover = mk[k, MK_COVER] if s == ns - 1 else mk[k, MK_FCOVER]
            for z in range(sc.n_zone[k, s]):
                ws.inv[s, z] = cover / WEEKS_PER_MONTH * sc.zone_need[k, s, z]
                ws.lnp_prev[s, z] = 0.0
                ws.lnp_now[s, z] = 0.0
        for i in kc:
            ws.lsm[i] = 0.0
            ws.msm[i] = 0.0
            ws.lsr[i] = 0.0
            ws.msr[i] = 0.0
            ws.feed[i] = 0.0
        for i in kc:
            if sc.ds_reserved:
                ws.lsr[i] += tn.stock[k, i]
                ws.msr[i] += tn.maxrel[k, i]
            else:
                ws.lsm[i] += tn.stock[k, i]
                ws.msm[i] += tn.maxrel[k, i]
            for q in range(sc.sp_occ_var.shape[0]):
                if ws.sp_on[q] and sc.sp_stock[q, k, i] > 0.0:
                    if sc.sp_reserved[q]:
                        ws.lsr[i] += sc.sp_stock[q, k, i]
                        ws.msr[i] += sc.sp_maxrel[q, k, i]
                    else:
                        ws.lsm[i] += sc.sp_stock[q, k, i]
                        ws.msm[i] += sc.sp_maxrel[q, k, i]
        mp = ws.mp
        mp[MP_ETA] = mk[k, MK_ETA]
        mp[MP_THETA] = mk[k, MK_THETA]
        mp[MP_LNPBAR] = math.log(mk[k, MK_CHOKE])
        mp[MP_LNPMIN] = -mp[MP_LNPBAR]
        mp[MP_PFULL] = sc.release_price
        spot = mk[k, MK_SPOT]
        for t in range(ts, H):
            tau = float(t - t0)
            _severities(sc, ws, fired, k, t)
            _routes(sc, ws, k, ns, kc)
            _plan_output(tn, sc, ws, k, ns, kc, t, tau, usable)
            phi = _ramp(mk[k, MK_LAG], tau)
            kappa = (1.0 - spot) * (1.0 - phi)
            mp[MP_EPS] = mk[k, MK_EPS_S] + (mk[k, MK_EPS_M] - mk[k, MK_EPS_S]) * _ramp(
                mk[k, MK_ADJ], tau)
            sub = sub_max * _ramp(lag_sub, tau)
            for s in range(ns):
                status = _stage(tn, sc, ws, out, hist, zhist, j, k, s, ns, kc, t, kappa,
                                sub, status)
            for s in range(ns):
                for z in range(sc.n_zone[k, s]):
                    ws.lnp_prev[s, z] = ws.lnp_now[s, z]
    # months not computed (before the first announcement or event) are at price 1
    if ts > 0:
        for s in range(ns):
            for z in range(sc.n_zone[k, s]):
                g = sc.zg[k, s, z]
                if sc.zone_need[k, s, z] > 0.0 and out.zprice_peak[j, g] < 1.0:
                    out.zprice_peak[j, g] = 1.0
            for i in kc:
                x = sc.xidx[k, s, i]
                if x >= 0 and out.price_peak[j, x] < 1.0:
                    out.price_peak[j, x] = 1.0
    return status


@jit
def run_draws(w, first_draw, n_workers, seed, tn, sc, out):
    """Worker w of n_workers: draws first_draw + lo .. first_draw + hi - 1, where
    [lo, hi) is the w-th contiguous slice of the block's n = out.variates.shape[0] draws,
    each simulated as in docs/model.md, into the rows lo .. hi - 1 of ``out`` and its own
    histograms out.hist[w], out.zhist[w] (the caller sums them). out.progress[w] counts
    the draws this worker finished.

    Serial and nogil: the engine runs the workers on Python threads (docs/model.md,
    "Parallelism"), so results never depend on the number of workers.
    """
    n = out.variates.shape[0]
    n_k, n_s, n_c = tn.prod.shape
    n_z = sc.zone_need.shape[2]
    lo = (n * w) // n_workers
    hi = (n * (w + 1)) // n_workers
    ws = _scratch(sc.ev_kind.shape[0], sc.sp_occ_var.shape[0], sc.cap_occ_var.shape[0],
                  n_k, n_s, n_c, n_z)
    hist = out.hist[w]
    zhist = out.zhist[w]
    H = sc.horizon
    for j in range(lo, hi):
        d = first_draw + j
        vals = out.variates[j]
        _draw_variates(d, seed, sc, vals, ws.z)
        bad = False
        for v in range(vals.shape[0]):
            if math.isnan(vals[v]):
                bad = True
        if bad:
            out.status[j] = STATUS_BAD_VARIATE
            out.progress[w] += 1
            continue
        _events(sc, vals, ws, out.fired[j], out.onset[j])
        usable = min(1.0, max(0.0, _var(vals, sc.resp_var[RESP_SPARE_USABLE], 0.0)))
        sub_max = min(1.0, max(0.0, _var(vals, sc.resp_var[RESP_SUB_MAX], 0.0)))
        lag_sub = _var(vals, sc.resp_var[RESP_SUB_MONTHS], 0.0)
        for x in range(out.shortage.shape[1]):
            out.shortage[j, x] = 0.0
            out.peak[j, x] = 0.0
            out.months[j, x] = 0
            out.first[j, x] = -1
            out.last[j, x] = -1
            out.drawn[j, x] = 0.0
            out.price_peak[j, x] = 1.0
            out.price_mean[j, x] = 0.0  # accumulates (price - 1) over computed months
            out.bought[j, x] = 0.0
            out.restocked[j, x] = 0.0
            out.cdrawn[j, x] = 0.0
            out.substituted[j, x] = 0.0
            out.given_up[j, x] = 0.0
            out.rationed[j, x] = 0.0
        for g in range(out.zprice_peak.shape[1]):
            out.zprice_peak[j, g] = 1.0
            out.zprice_mean[j, g] = 0.0
            out.zchoke[j, g] = 0
        if out.want_series:
            for x in range(out.shortage.shape[1]):
                for t in range(H):
                    out.series[j, x, t] = 0.0
        if out.want_zseries:
            for g in range(out.zprice_peak.shape[1]):
                for t in range(H):
                    out.zseries[j, g, t] = 1.0
        status = 0
        for kk in range(sc.scope.shape[0]):
            k = sc.scope[kk]
            _market_values(tn, sc, vals, k, ws.mk)
            if out.want_trace:
                _trace_baseline(tn, sc, out, j, k)
            st = _material(tn, sc, ws, out, hist, zhist, j, k, out.fired[j], usable,
                           sub_max, lag_sub)
            if st != 0:
                status = st
        for x in range(out.shortage.shape[1]):
            out.price_mean[j, x] = 1.0 + out.price_mean[j, x] / H
        for g in range(out.zprice_peak.shape[1]):
            out.zprice_mean[j, g] = 1.0 + out.zprice_mean[j, g] / H
        out.status[j] = status
        out.progress[w] += 1


@jit
def _trace_baseline(tn, sc, out, j, k):
    """Trace rows of months that are not computed: the baseline (every need met)."""
    H = sc.horizon
    for s in range(tn.n_stages[k]):
        for i in range(tn.prod.shape[2]):
            x = sc.xidx[k, s, i]
            if x < 0:
                continue
            nd = tn.need[k, s, i]
            for t in range(H):
                tr = out.trace[j, x, t]
                for c in range(NTR):
                    tr[c] = 0.0
                tr[TR_NEED] = nd
                tr[TR_BOUGHT] = nd
                tr[TR_USED] = nd
                tr[TR_PRICE] = 1.0
        for z in range(sc.n_zone[k, s]):
            g = sc.zg[k, s, z]
            for t in range(H):
                tz = out.ztrace[j, g, t]
                for c in range(NTZ):
                    tz[c] = 0.0
                tz[TZ_PRICE] = 1.0
                tz[TZ_RHO] = 1.0
                tz[TZ_NEED] = sc.zone_need[k, s, z]
