"""One Monte Carlo draw of the disruption model (docs/model.md), and ``run_draws``, the
worker that runs a contiguous slice of a block of draws.

Everything is in [t/month]. A worker allocates its scratch once per slice and writes
each draw's histogram bins (``zone_bins``, ``holder_bins``), which ``count_zone_bins``
counts after the block (integer counts, in any order). A draw's outputs
depend only on (seed, draw index, inputs), never on the worker that ran it nor on how
draws were split into blocks.

Per material, nothing is computed before the first month in which an event touching it
is announced or in force: until then every market is at its baseline (prices 1, stocks at
their targets, every need met). From that month on every month is computed, because
stocks, prices and restarted capacity carry over.

Structures (simcore/kernel/structs.py): ``tn`` the tensor, ``sc`` the compiled
scenario, ``out`` the block's outputs; ``ws`` the worker's scratch (``scratch``, made by
the caller: the kernel allocates nothing).
"""

from __future__ import annotations

import math

import numpy as np

from simcore._numba import jit, jit_inline, jit_internal
from simcore.kernel.market import (
    U_TOP,
    _clear_zones,
    derive_material,
    derive_month,
    fill_gale,
    prepare_zone_at,
    release_share,
    zone_outcome,
)
from simcore.kernel.rng import (
    norm_cdf,
    norm_ppf,
    sample,
    shape_lbeta,
    triangular_ppf,
    uniform,
)
from simcore.kernel.structs import (
    GALE_MAX_ZONES,
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
    MP_DBAR,
    MP_EBAR,
    MP_EPS,
    MP_ETA,
    MP_LNPBAR,
    MP_LNPMIN,
    MP_PBAR,
    MP_PFULL,
    MP_THETA,
    N_MARKET,
    N_ZA,
    N_ZQ,
    NPB,
    NTR,
    NTZ,
    PB_LO,
    PB_STEP,
    RESP_SPARE_USABLE,
    RESP_SUB_MAX,
    RESP_SUB_MONTHS,
    TR_BOUGHT,
    TR_CDRAWN,
    TR_GIVEN_UP,
    TR_NEED,
    TR_PRICE,
    TR_RATIONED,
    TR_RESTOCKED,
    TR_SDRAWN,
    TR_SHORTAGE,
    TR_SUBSTITUTED,
    TR_USED,
    TZ_CONSUMED,
    TZ_CONTRACT,
    TZ_EDGE_EXCESS,
    TZ_INFLOW,
    TZ_NEED,
    TZ_PRICE,
    TZ_PRODUCTION,
    TZ_PURCHASE,
    TZ_RELEASED,
    TZ_RESTOCKED,
    TZ_RHO,
    TZ_STATE_RELEASE,
    TZ_STOCK,
    TZ_UNSOLD,
    ZA_BOUGHT,
    ZA_CDRAWN,
    ZA_GIVEN,
    ZA_PEAK,
    ZA_RATIONED,
    ZA_RESTOCKED,
    ZA_SHORT,
    ZA_SUB,
    ZQ_C,
    ZQ_G,
    ZQ_I,
    ZQ_N,
    ZQ_R,
    ZQ_T,
    ZQ_X,
)

EVENT_RESTRICTION = 0
EVENT_OUTAGE = 1

SHORT_SHARE = 0.01  # a month is short when its shortage exceeds 1 % of monthly need ...
SHARE_TOL = 1e-10  # ... by more than this share of need (rounding of exact ties)
WEEKS_PER_MONTH = 52.0 / 12.0

STATUS_BAD_VARIATE = 10  # a sampled variate is NaN
STATUS_BAD_STATE = 11  # a negative or NaN quantity appeared in the month loop

@jit_internal
def _ramp(lag, tau):
    """0 before the first disruption month (tau < 0), then rising linearly to 1 over
    ``lag`` months (1 at once when lag <= 0)."""
    if tau < 0.0:
        return 0.0
    if lag <= 0.0:
        return 1.0
    return min(1.0, tau / lag)


@jit_internal
def _var(vals, v, default):
    return vals[v] if v >= 0 else default


@jit_inline
def _draw_variates(d, seed, sc, vals, z, lbeta):
    """Variates of draw d into vals[V] (``lbeta``: each one's shape_lbeta); correlated
    occurrence uniforms through the Gaussian copula (an uncorrelated event keeps its
    uniform as drawn)."""
    for v in range(sc.var_key.shape[0]):
        u = uniform(seed, sc.var_key[v], d, 0)
        vals[v] = sample(u, sc.var_dist[v], sc.var_par[v], sc.disc_values, sc.disc_cdf,
                         lbeta[v])
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


@jit_inline
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


@jit_inline
def _market_values(tn, sc, vals, k, mk):
    """Market parameters of material k in this draw: the scenario's value, or the
    quantile of the dataset's (low, mode, high) that the draw's uniform picks."""
    for p in range(N_MARKET):
        x = vals[sc.mkt_var[p]]
        if not sc.mkt_given[p]:
            x = triangular_ppf(x, tn.market[k, p, 0], tn.market[k, p, 1], tn.market[k, p, 2])
        mk[k, p] = max(0.0, x)
    for p in (MK_THETA, MK_SPOT):
        mk[k, p] = min(1.0, mk[k, p])
    mk[k, MK_CHOKE] = max(1.0, mk[k, MK_CHOKE])


@jit_inline
def _live_events(sc, ws, fired, k):
    """The events that fired, touch material k and last (ws.live, its first ones): the
    only ones that can be in force or announced in k's months. Every event's severity is
    set to -1 (not in force) and not announced: _severities updates the live ones."""
    live = ws.live
    sev_now = ws.sev_now
    ann_now = ws.ann_now
    ev_stage = sc.ev_stage
    dur = ws.dur
    n_live = 0
    for e in range(sc.ev_kind.shape[0]):
        if fired[e] and ev_stage[e, k] >= 0 and dur[e] > 0.0:
            live[n_live] = e
            n_live += 1
        sev_now[e] = -1.0
        ann_now[e] = False
    return live[:n_live]


@jit_inline
def _start_month(sc, ws, live, horizon):
    """(first month any of the events ``live`` (_live_events) is in force, first month
    one is announced or in force); horizon when none."""
    t0 = horizon
    ta = horizon
    for e in live:
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


@jit_inline
def _severities(sc, ws, k, t, live):
    """Severity of each event touching k in month t (-1: not in force), and whether it
    is announced (in its lead months before onset), for the events in ``live``
    (_live_events, which set the others' to -1 and not announced for the material's
    draw; walking every event cost about 1 % of the kernel). Returns
    whether either differs from what the arrays held before the call (within a
    material, the month before; in a material's first computed month the caller
    rebuilds the routes whatever it returns).

    (Here and below, the fields of the structures are bound to locals once: every access
    to a field inside a loop would take and drop a reference to the array, an atomic
    operation on memory that both worker threads share.)"""
    ev_kind = sc.ev_kind
    ev_qsev = sc.ev_qsev
    sev_now = ws.sev_now
    ann_now = ws.ann_now
    onset_f = ws.onset_f
    dur = ws.dur
    sev0 = ws.sev0
    sev1 = ws.sev1
    settle = ws.settle
    lead = ws.lead
    changed = False
    for e in live:
        sev = -1.0
        ann = False
        o = onset_f[e]
        if o <= t < o + dur[e]:
            s_init = sev0[e]
            if not math.isnan(ev_qsev[e, k]):
                s_init = ev_qsev[e, k]
            s_set = sev1[e] if sev1[e] >= 0.0 else s_init
            if settle[e] <= 0.0:
                sev = s_set
            else:
                sev = s_init + (s_set - s_init) * min(1.0, (t - o) / settle[e])
        elif (ev_kind[e] == EVENT_RESTRICTION and lead[e] > 0.0
              and o - math.ceil(lead[e]) <= t < o):
            ann = True
        if sev != sev_now[e] or ann != ann_now[e]:
            changed = True
        sev_now[e] = sev
        ann_now[e] = ann
    return changed


@jit_inline
def _routes(tn, sc, ws, k, ns, kc):
    """For restricted rows (rowflag): the allowed shares of their own restrictions
    az[s, e, z], the share of their baseline flow into z that re-export reaches stop
    ao[s, e, z], and their untouched share ou[s, e] (docs/model.md §3.3, [K4]); outages;
    and the share of
    each zone's need that buys ahead (precaution, zprec), for the events in force or
    announced this month. _material calls it only when the events' state (sev_now,
    ann_now) changed: anything else it reads must stay fixed within a material's draw."""
    n_zone = sc.n_zone
    zone_tgt = sc.zone_tgt
    zone_prec = sc.zone_prec
    zone_rtgt = sc.zone_rtgt
    zone_of = sc.zone_of
    ev_stage = sc.ev_stage
    ev_kind = sc.ev_kind
    ev_origin = sc.ev_origin
    ev_re_export = sc.ev_re_export
    re_share = sc.re_share
    pr_ptr = tn.pr_ptr
    pr_idx = tn.pr_idx
    rowflag = ws.rowflag
    outsh = ws.outsh
    zprec = ws.zprec
    az = ws.az
    ao = ws.ao
    ou = ws.ou
    ann_now = ws.ann_now
    sev_now = ws.sev_now
    leak = ws.leak
    for s in range(ns):
        for e in kc:
            rowflag[s, e] = False
            outsh[s, e] = 1.0
        for z in range(n_zone[k, s]):
            zprec[s, z] = 0.0
    for e in range(ev_kind.shape[0]):
        s = ev_stage[e, k]
        if ann_now[e] or (sev_now[e] >= 0.0 and ev_kind[e] == EVENT_RESTRICTION):
            for s2 in range(s, ns):
                for z in range(n_zone[k, s2]):
                    if zone_prec[k, s2, z, e] > zprec[s2, z]:
                        zprec[s2, z] = zone_prec[k, s2, z, e]
        sev = sev_now[e]
        if sev < 0.0:
            continue
        o = ev_origin[e]
        if ev_kind[e] == EVENT_OUTAGE:
            outsh[s, o] *= 1.0 - sev
            continue
        nz = n_zone[k, s]
        allowed = 1.0 - sev * (1.0 - leak[e])
        if not rowflag[s, o]:
            rowflag[s, o] = True
            ou[s, o] = 1.0
            for z in range(nz):
                az[s, o, z] = 1.0
                ao[s, o, z] = 0.0
        for z in range(nz):
            if zone_tgt[k, s, z, e]:
                az[s, o, z] *= allowed
                if allowed < 1.0:
                    ou[s, o] = 0.0  # restricted as the origin: licensed as a whole
        if not ev_re_export[e] or s + 1 >= ns:
            continue
        # the reaches of one origin act together, in the pass of its first one in force
        first = True
        for e2 in range(e):
            if (ev_re_export[e2] and ev_origin[e2] == o and ev_stage[e2, k] == s
                    and sev_now[e2] >= 0.0 and ev_kind[e2] == EVENT_RESTRICTION):
                first = False
        if not first:
            continue
        s1 = s + 1
        nz1 = n_zone[k, s1]
        for j in pr_idx[pr_ptr[k, s1, 0]:pr_ptr[k, s1, 1]]:
            sh = re_share[e, k, j]
            if sh <= 0.0 or j == o:
                continue
            if not rowflag[s1, j]:
                rowflag[s1, j] = True
                ou[s1, j] = 1.0
                for z in range(nz1):
                    az[s1, j, z] = 1.0
                    ao[s1, j, z] = 0.0
            licensed = False
            for z in range(nz1):
                if zone_of[k, s1, j] == z:
                    continue
                # what o's reaches in force let through into z, of j's o-fed share
                through = 1.0
                for e3 in range(e, ev_kind.shape[0]):
                    if (ev_re_export[e3] and ev_origin[e3] == o and ev_stage[e3, k] == s
                            and sev_now[e3] >= 0.0 and ev_kind[e3] == EVENT_RESTRICTION
                            and zone_rtgt[k, s1, z, e3]):
                        through *= 1.0 - sev_now[e3] * (1.0 - leak[e3])
                if through < 1.0:
                    ao[s1, j, z] += sh * (1.0 - through)
                    licensed = True
            if licensed:
                ou[s1, j] = max(0.0, ou[s1, j] - sh)


@jit_inline
def _plan_output(tn, sc, ws, k, ns, kc, t, tau, usable):
    """Output each producer plans this month [t/month] (outp), from last month's zone
    price (slow responses lag a month): idle capacity restarts at the supply elasticity,
    bounded by its usable share and phased in over the restart time; producers cut
    output when their price fell; capacity interventions run at full
    capacity from their online month once the material is disrupted. The change of
    feed one stage up (xfeed): extra feed for output beyond the baseline, less the feed
    of output an outage or a cut took (docs/model.md §3.2)."""
    prod = tn.prod
    spare_cap = tn.spare_cap
    yld = tn.yld
    has_feed = tn.has_feed
    world_yld = tn.world_yld
    zone_of = sc.zone_of
    is_origin = sc.is_origin
    cap_mat = sc.cap_mat
    cap_stage = sc.cap_stage
    cap_country = sc.cap_country
    cap_add = sc.cap_add
    lnp_prev = ws.lnp_prev
    outp = ws.outp
    xfeed = ws.xfeed
    outsh = ws.outsh
    cap_on = ws.cap_on
    cap_month = ws.cap_month
    pr_ptr = tn.pr_ptr
    pr_idx = tn.pr_idx
    gorig = ws.gorig
    gother = ws.gother
    ramp_r = _ramp(ws.mk[k, MK_RESTART], tau)
    el_origin = ws.mk[k, MK_ORIGIN]
    el_other = ws.mk[k, MK_SUP]
    n_zone = sc.n_zone
    gkind = ws.gkind
    for s in range(ns):
        # the response to last month's price, p^elasticity - 1, once per zone and kind of
        # producer it holds (gkind: in the partner study about half of these exp calls
        # were for a kind the zone does not hold)
        for z in range(n_zone[k, s]):
            lp = lnp_prev[s, z]
            kind = gkind[s, z] if lp != 0.0 else 0
            gorig[s, z] = math.exp(el_origin * lp) - 1.0 if kind & 1 else 0.0
            gother[s, z] = math.exp(el_other * lp) - 1.0 if kind & 2 else 0.0
        for e in pr_idx[pr_ptr[k, s, 0]:pr_ptr[k, s, 1]]:
            p0 = prod[k, s, e]
            z = zone_of[k, s, e]
            g = gorig[s, z] if is_origin[k, s, e] else gother[s, z]
            r = 0.0
            if g > 0.0:
                # restarts scale with capacity, so that an idle plant can restart too
                idle = spare_cap[k, s, e]
                if idle > 0.0:
                    r = min((p0 + idle) * g, usable * idle) * ramp_r
            elif g < 0.0:
                r = p0 * g  # a refiner's cut gives up its feed too (xfeed below)
            outp[s, e] = p0 + r
    if tau >= 0.0:
        for q in range(cap_mat.shape[0]):
            if cap_on[q] and cap_mat[q] == k and cap_month[q] <= t:
                outp[cap_stage[q], cap_country[q]] += cap_add[q]
    for s in range(ns):
        for e in pr_idx[pr_ptr[k, s, 0]:pr_ptr[k, s, 1]]:
            outp[s, e] *= outsh[s, e]
            if s > 0:
                xfeed[s - 1, e] = 0.0
                # at the technical yield: a baseline ratio below the world's means the
                # earlier stage's need holds final uses too (docs/model.md §3.2)
                y = world_yld[k, s]
                if has_feed[k, s, e]:
                    # output beyond the baseline buys feed, output an outage or a cut
                    # took gives its feed up: the change from the baseline, of either sign
                    n = tn.need[k, s - 1, e]
                    p0 = prod[k, s, e]
                    if yld[k, s, e] > y:
                        # at e's own ratio P/N, written so that an output of 0 gives
                        # up exactly N
                        xfeed[s - 1, e] = max(-n, n * ((outp[s, e] - p0) / p0))
                    elif y > 0.0:
                        xfeed[s - 1, e] = max(-n, (outp[s, e] - p0) / y)
                else:
                    extra = outp[s, e] - prod[k, s, e] * outsh[s, e]
                    if extra > 0.0 and y > 0.0:
                        xfeed[s - 1, e] = extra / y


@jit_inline
def _share_bin(share):
    """The shortage-share histogram bin of a monthly share (bin 0: at most SHARE_TOL,
    bin b: ((b - 1) / 100, b / 100] above it), for a zone and for a holder's own row."""
    if share > SHARE_TOL:
        return min(100, max(1, int(math.ceil((share - SHARE_TOL) * 100.0))))
    return 0


@jit
def _zone_bin(lnp):
    """The zone-price histogram bin of log price lnp (bin 0: exactly the reference)."""
    if lnp == 0.0:
        return 0
    b = int(math.floor((lnp - PB_LO) / PB_STEP))
    return 1 + min(NPB - 2, max(0, b))


@jit_inline
def _stage(tn, sc, ws, out, hbins, j, k, s, ns, kc, held, t, kappa, sub, status):
    """Supply, contracts, zone markets and accounting of stage s of material k in month
    t (docs/model.md §3). ``held``: the last stage's buyers with a state stock of their
    own (_material). Returns the status."""
    last = s == ns - 1
    nz = sc.n_zone[k, s]
    prod = tn.prod
    yld = tn.yld
    has_feed = tn.has_feed
    bz = sc.bz
    zone_of = sc.zone_of
    is_origin = sc.is_origin
    zone_need = sc.zone_need
    outp = ws.outp
    outsh = ws.outsh
    supply = ws.supply
    feed = ws.feed
    zq = ws.zq
    capc = ws.capc
    fsup = ws.fsup
    rowflag = ws.rowflag
    az = ws.az
    ao = ws.ao
    ou = ws.ou
    zprec = ws.zprec
    inv = ws.inv
    xfeed = ws.xfeed
    lsm = ws.lsm
    msm = ws.msm
    mk = ws.mk
    producers = tn.pr_idx[tn.pr_ptr[k, s, 0]:tn.pr_ptr[k, s, 1]]
    buyers = tn.by_idx[tn.by_ptr[k, s, 0]:tn.by_ptr[k, s, 1]]
    # 1. supply
    wy = tn.world_yld[k, s]
    for e in producers:
        if s == 0:
            supply[e] = outp[s, e]
        elif has_feed[k, s, e]:
            y = yld[k, s, e]
            x = xfeed[s - 1, e]
            if x != 0.0 and y < wy:
                # baseline feed at the baseline ratio, the change at the world's
                n = tn.need[k, s - 1, e]
                supply[e] = max(0.0, min(outp[s, e], feed[e] * ((y * n + wy * x) / (n + x)))) \
                    if n + x > 0.0 else 0.0
            else:
                supply[e] = min(outp[s, e], y * feed[e])
        else:
            # no baseline feed: what it made keeps running, cut with its planned output;
            # output beyond it runs on the world yield of the feed it buys
            own = prod[k, s, e] * outsh[s, e]
            supply[e] = min(outp[s, e], own) + min(max(0.0, outp[s, e] - own), wy * feed[e])
    # 2. contracts, free supply by exporter class, the origin state's purchases
    for z in range(nz):
        for c in range(N_ZQ):
            zq[z, c] = 0.0
        capc[0, z] = np.inf
    m = np.int64(1)  # not the literal 1: typing the loop would compile _clear_zones for it too
    # the open class's free supply, summed in a local (fsup[0] += ... stored and loaded
    # it back every producer: the compiler cannot tell that the other arrays written in
    # the loop do not alias it)
    free0 = 0.0
    psi = mk[k, MK_PSI]
    for e in producers:
        sup_e = supply[e]
        p0 = prod[k, s, e]
        fac = min(1.0, sup_e / p0) if p0 > 0.0 else 0.0
        if rowflag[s, e]:
            c = m
            m += 1
            free = sup_e
            stopped = 0.0
            for z in range(nz):
                b = bz[k, s, e, z]
                a = az[s, e, z] * (1.0 - ao[s, e, z])
                cz = kappa * fac * a * b
                zq[z, ZQ_C] += cz
                free -= cz
                stopped += b * fac * (1.0 - a)
            free = max(0.0, free)
            # a producer reached only by re-export rules: its untouched share of free
            # supply joins the open exporters, the rest is licensed (docs/model.md §3.3)
            o = ou[s, e]
            if o > 0.0 and o < 1.0:
                free0 += o * free
                fsup[c] = (1.0 - o) * free
            else:
                o = 0.0
                fsup[c] = free
            for z in range(nz):
                a = az[s, e, z] * (1.0 - ao[s, e, z])
                if a < 1.0:
                    capc[c, z] = (a - o) * bz[k, s, e, z] * (1.0 - kappa * fac)
                else:
                    capc[c, z] = np.inf
            if is_origin[k, s, e]:
                zq[zone_of[k, s, e], ZQ_G] += psi * stopped
        else:
            kf = kappa * fac
            if kf > 0.0:
                for z in range(nz):
                    zq[z, ZQ_C] += kf * bz[k, s, e, z]
            free0 += max(0.0, sup_e - kf * p0)
    fsup[0] = free0
    # 3. the zones' demand
    cover = mk[k, MK_COVER] if last else mk[k, MK_FCOVER]
    prec = mk[k, MK_PREC]
    for z in range(nz):
        nzd = zone_need[k, s, z]
        zq[z, ZQ_N] = nzd
        wk = cover + prec * zprec[s, z]
        zq[z, ZQ_T] = wk / WEEKS_PER_MONTH * nzd
        zq[z, ZQ_I] = inv[s, z]
    if not last:
        neg = False
        for e in tn.pr_idx[tn.pr_ptr[k, s + 1, 0]:tn.pr_ptr[k, s + 1, 1]]:
            if xfeed[s, e] != 0.0:
                zq[zone_of[k, s, e], ZQ_X] += xfeed[s, e]
                neg = neg or xfeed[s, e] < 0.0
        if neg:
            # X_z = max(sum of X_e, -N_z): the sum may pass -N_z by rounding
            for z in range(nz):
                zq[z, ZQ_X] = max(zq[z, ZQ_X], -zq[z, ZQ_N])
    else:
        for i in held:  # (a buyer without a state stock of its own has lsm[i] = 0)
            if lsm[i] > 0.0:
                zq[zone_of[k, s, i], ZQ_R] += min(msm[i], lsm[i])
    return _clear_and_account(tn, sc, ws, out, hbins, j, k, s, ns, producers, buyers,
                              held, t, m, sub, status)


@jit_inline
def _clear_and_account(tn, sc, ws, out, hbins, j, k, s, ns, producers, buyers, held, t,
                       m, sub, status):
    """Clear the zones of stage s and book every buyer's month (docs/model.md §3)."""
    last = s == ns - 1
    nz = sc.n_zone[k, s]
    need = tn.need
    zone_of = sc.zone_of
    xidx = sc.xidx
    zg = sc.zg
    zq = ws.zq
    mp = ws.mp
    ulev = ws.ulev
    inv = ws.inv
    lnp_now = ws.lnp_now
    zprice = ws.zprice
    zrho = ws.zrho
    zcons = ws.zcons
    zdbar = ws.zdbar
    zrest = ws.zrest
    zcrel = ws.zcrel
    zshare = ws.zshare
    feed = ws.feed
    xfeed = ws.xfeed
    srel_w = ws.srel
    hold = ws.hold
    lsm = ws.lsm
    msm = ws.msm
    lsr = ws.lsr
    msr = ws.msr
    shortage = out.shortage
    drawn = out.drawn
    bought_o = out.bought
    restocked = out.restocked
    cdrawn = out.cdrawn
    substituted = out.substituted
    given_up = out.given_up
    rationed = out.rationed
    peak = out.peak
    months = out.months
    first = out.first
    lastm = out.last
    zprice_peak = out.zprice_peak
    zprice_mean = out.zprice_mean
    zone_bins = out.zone_bins
    zchoke = out.zchoke
    want_trace = out.want_trace
    uhint = ws.uhint
    uhint2 = ws.uhint2
    for z in range(nz):
        prepare_zone_at(zq, z, mp, mp[MP_DBAR], mp[MP_EBAR], mp[MP_PBAR])
        # where the root searches start: the level the last two months' levels point to
        # (-1: not computed yet; the floor when nothing is known)
        u1 = uhint[s, z]
        u2 = uhint2[s, z]
        if u1 < 0.0:
            ulev[z] = U_TOP
        elif u2 < 0.0:
            ulev[z] = u1
        else:
            ulev[z] = min(U_TOP, max(0.0, 2.0 * u1 - u2))
    dem = ws.dem
    slope = ws.slope
    gcap = ws.gcap
    gcap[0] = ws.shint[s]  # the sets of zones that bound in each round last month
    gale = nz <= GALE_MAX_ZONES and not want_trace
    seen = (1 << nz) + 6 * nz  # gcap[seen + z]: the log price of zone z's last evaluation
    if gale:
        for z in range(nz):
            gcap[seen + z] = np.nan  # none yet this month (with this month's eps)
        st = fill_gale(m, nz, ws.fsup, ws.capc, zq, mp, ulev, ws.frozen, dem, slope, gcap)
    else:
        st = _clear_zones(m, nz, ws.fsup, ws.capc, zq, mp, ulev, ws.frozen, ws.cutz, dem,
                          slope, gcap, want_trace, ws.f, ws.out_e, ws.in_i, ws.queue,
                          ws.par_e, ws.par_i, ws.seen_e, ws.seen_i)
    ws.shint[s] = gcap[0]
    if st != 0:
        status = st
    eps = mp[MP_EPS]
    eta = mp[MP_ETA]
    theta = mp[MP_THETA]
    pfull = mp[MP_PFULL]
    dbar = mp[MP_DBAR]  # exp(-eps * lnpbar)
    # the price's factors p, p^-eps (1 at or below the reference price), p^-eta: the exp
    # calls are a tenth of the kernel's time; zones that froze at one level share them
    # (the last ones computed are kept), and the filling leaves those of each zone's last
    # evaluation (gcap[seen + z]: its log price, NaN for none), the zone's price where
    # that evaluation was at the level it froze at
    lnp_last = np.nan
    pz = dz = ez = 1.0  # (e names producers further down)
    for z in range(nz):
        y = dem[z]
        lnp, rho, ws.zbuy[z] = zone_outcome(zq, z, ulev[z], y, slope[z], mp)
        if lnp != lnp_last:
            lnp_last = lnp
            pz = math.exp(lnp)
            if gale and lnp == gcap[seen + z]:
                dz = gcap[seen + nz + z]
                ez = gcap[seen + 2 * nz + z]
            else:
                dz = math.exp(-eps * lnp) if lnp > 0.0 else 1.0
                ez = math.exp(-eta * lnp)
        lnp_now[s, z] = lnp
        uhint2[s, z] = uhint[s, z]
        uhint[s, z] = ulev[z]
        p = pz
        zprice[z] = p
        zrho[z] = rho
        nzd = zq[z, ZQ_N]
        delta = theta * (zq[z, ZQ_T] * ez - zq[z, ZQ_I])
        restock = max(0.0, delta) * rho
        crel = max(0.0, -delta)
        inv[s, z] = zq[z, ZQ_I] + restock - crel
        zcons[z] = rho * dz
        zdbar[z] = dbar
        zrest[z] = restock / nzd if nzd > 0.0 else 0.0
        zcrel[z] = crel / nzd if nzd > 0.0 else 0.0
        zshare[z] = release_share(p, pfull)
        g = zg[k, s, z]
        if nzd > 0.0:
            if p > zprice_peak[j, g]:
                zprice_peak[j, g] = p
            zprice_mean[j, g] += p - 1.0
            zone_bins[j, g, t, 0] = _zone_bin(lnp)
            if rho < 1.0:
                zchoke[j, g] += 1
        if out.want_zseries:
            out.zseries[j, g, t] = p
        if want_trace:
            _trace_zone(ws, out, j, g, t, z, y, restock, crel, m)
    if want_trace:
        ztrace = out.ztrace
        free_total = 0.0
        taken = 0.0
        for c in range(m):
            free_total += ws.fsup[c]
        for z in range(nz):
            taken += dem[z]
        for e in producers:
            ztrace[j, zg[k, s, zone_of[k, s, e]], t, TZ_PRODUCTION] += ws.supply[e]
        ztrace[j, zg[k, s, 0], t, TZ_UNSOLD] = max(0.0, free_total - taken)

    # state stocks selling into their zone release at the zone price, whoever buys (a
    # buyer without a state stock of its own releases nothing: srel_w is read for the
    # buyers in ``held`` only)
    if last:
        for i in held:
            srel_w[i] = 0.0
            if lsm[i] > 0.0:
                srel_w[i] = min(msm[i], lsm[i]) * zshare[zone_of[k, s, i]]
                lsm[i] -= srel_w[i]
    # a buyer without a state stock of its own: the same month, per unit of need, as
    # every such buyer of its zone (one price, one consumption fraction): booked per zone
    # and spread over the zone's rows when the material is done (_spread_rows)
    zacc = ws.zacc
    zmon = ws.zmon
    keep = (1.0 - sub) if last else 1.0
    for z in range(nz):
        cons = zcons[z]
        shortfall = 1.0 - cons
        rat_net = zdbar[z] * (1.0 - zrho[z]) if zrho[z] < 1.0 else 0.0
        giv = keep * max(0.0, shortfall - rat_net)
        rat = keep * rat_net
        short = giv + rat
        if not (short >= 0.0 and shortfall >= -1e-9):
            status = STATUS_BAD_STATE  # the rows' own check, per unit of need
        cd = min(zcrel[z], cons)
        a = zacc[s, z]
        a[ZA_SHORT] += short
        a[ZA_SUB] += sub * shortfall if last else 0.0
        a[ZA_GIVEN] += giv
        a[ZA_RATIONED] += rat
        a[ZA_CDRAWN] += cd
        a[ZA_BOUGHT] += cons - cd + zrest[z]
        a[ZA_RESTOCKED] += zrest[z]
        if short > a[ZA_PEAK]:
            a[ZA_PEAK] = short
        b = _share_bin(short)
        if short > SHORT_SHARE + SHARE_TOL:
            zmon[s, z, 0] += 1
            if zmon[s, z, 1] < 0:
                zmon[s, z, 1] = t
            zmon[s, z, 2] = t
        # every row of the zone takes this bin (rows of a holder are corrected below)
        zone_bins[j, zg[k, s, z], t, 1] = b
    # buyers with a state stock (last stage: those in ``held``), and every row when a time
    # series or trace is asked for, month by month
    per_row = out.want_series or want_trace
    rows = held if last and not per_row else buyers
    for i in rows:
        z = zone_of[k, s, i]
        if not last:
            feed[i] = (need[k, s, i] + xfeed[s, i]) * zcons[z]
            if not per_row:
                continue
        x = xidx[k, s, i]
        if x < 0:
            continue
        nd = need[k, s, i]
        cons = nd * zcons[z]
        rest = nd * zrest[z]
        crel_i = nd * zcrel[z]
        srel = srel_w[i] if last and hold[i] else 0.0
        q = 0.0
        if last and lsr[i] > 0.0:
            q = max(0.0, min(nd - cons, lsr[i], msr[i]))
            lsr[i] -= q
        used = cons + q
        shortfall = nd - used
        rat_net = 0.0
        if zrho[z] < 1.0:
            rat_net = max(0.0, nd * zdbar[z] * (1.0 - zrho[z]) - q)
        giv_net = max(0.0, shortfall - rat_net)
        sb = sub * shortfall if last else 0.0
        giv = keep * giv_net
        rat = keep * rat_net
        short = giv + rat
        cd = min(crel_i, cons)
        sdm = min(srel, cons - cd)
        bought = cons - cd - sdm + rest
        if not (short >= 0.0 and shortfall >= -1e-9 * nd):
            status = STATUS_BAD_STATE
        share = short / nd
        if last and hold[i]:
            # a holder's own month: its rows are not spread from the zone
            shortage[j, x] += short
            drawn[j, x] += sdm + q
            bought_o[j, x] += bought
            restocked[j, x] += rest
            cdrawn[j, x] += cd
            substituted[j, x] += sb
            given_up[j, x] += giv
            rationed[j, x] += rat
            if share > peak[j, x]:
                peak[j, x] = share
            if share > SHORT_SHARE + SHARE_TOL:
                months[j, x] += 1
                if first[j, x] < 0:
                    first[j, x] = t
                lastm[j, x] = t
            h = sc.hidx[k, i]
            if h < 0:
                status = STATUS_BAD_STATE  # a holder run_block did not foresee
                h = 0
            hb = _share_bin(share)
            zb = zone_bins[j, zg[k, s, z], t, 1]
            if hb != zb:
                # the row's own bin, and its zone's, which count_zone_bins counted for it
                # and takes back (left at (0, 0), the row's month is its zone's). Kept
                # here and counted after the block: counting here, an increment into
                # 543 kB of histograms per worker, cost about 4 % of the kernel's time
                # on a 512 kB L2 (3 % of a run's)
                hbins[j, h, t, 0] = hb
                hbins[j, h, t, 1] = zb
        if out.want_series:
            out.series[j, x, t] = share
        if want_trace:
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
            tr[TR_PRICE] = zprice[z]
            tr[TR_USED] = used
    return status


@jit_inline
def _spread_rows(tn, sc, ws, out, j, k, ns):
    """The rows of material k's buyers without a state stock of their own, from their
    zone's month per unit of need (_clear_and_account), and every row's prices from its
    zone's. (Their monthly histogram is their zone's: run_block adds it.)"""
    need = tn.need
    zone_of = sc.zone_of
    xidx = sc.xidx
    zg = sc.zg
    by_ptr = tn.by_ptr
    by_idx = tn.by_idx
    zacc = ws.zacc
    zmon = ws.zmon
    hold = ws.hold
    for s in range(ns):
        last = s == ns - 1
        for i in by_idx[by_ptr[k, s, 0]:by_ptr[k, s, 1]]:
            x = xidx[k, s, i]
            if x < 0:
                continue
            z = zone_of[k, s, i]
            g = zg[k, s, z]
            out.price_peak[j, x] = out.zprice_peak[j, g]
            out.price_mean[j, x] = out.zprice_mean[j, g]
            if last and hold[i]:
                continue
            nd = need[k, s, i]
            a = zacc[s, z]
            out.shortage[j, x] = nd * a[ZA_SHORT]
            out.substituted[j, x] = nd * a[ZA_SUB]
            out.given_up[j, x] = nd * a[ZA_GIVEN]
            out.rationed[j, x] = nd * a[ZA_RATIONED]
            out.cdrawn[j, x] = nd * a[ZA_CDRAWN]
            out.bought[j, x] = nd * a[ZA_BOUGHT]
            out.restocked[j, x] = nd * a[ZA_RESTOCKED]
            out.peak[j, x] = a[ZA_PEAK]
            out.months[j, x] = zmon[s, z, 0]
            out.first[j, x] = zmon[s, z, 1]
            out.last[j, x] = zmon[s, z, 2]


@jit_inline
def _book_baseline(tn, sc, out, j, k, months):
    """The first ``months`` months of material k, not computed, are its baseline: each
    row buys its whole need (docs/model.md §4: the accounting columns add up over the
    horizon)."""
    for s in range(tn.n_stages[k]):
        for i in tn.kc_idx[tn.kc_ptr[k]:tn.kc_ptr[k + 1]]:
            x = sc.xidx[k, s, i]
            if x >= 0:
                out.bought[j, x] += tn.need[k, s, i] * months


@jit_inline
def _trace_zone(ws, out, j, g, t, z, y, restock, crel, m):
    """The zone trace of one (zone, month): what the debug path records."""
    zq = ws.zq
    tz = out.ztrace[j, g, t]
    tz[TZ_PRICE] = ws.zprice[z]
    tz[TZ_RHO] = ws.zrho[z]
    tz[TZ_INFLOW] = zq[z, ZQ_C] + y
    tz[TZ_CONTRACT] = zq[z, ZQ_C]
    tz[TZ_STOCK] = zq[z, ZQ_I]
    if zq[z, ZQ_N] + zq[z, ZQ_X] <= 0.0 and zq[z, ZQ_T] <= 0.0 and zq[z, ZQ_C] + y <= 0.0:
        tz[TZ_PURCHASE] = 0.0  # nothing arrives in a zone without users: nothing to buy
    else:
        tz[TZ_PURCHASE] = zq[z, ZQ_G] * ws.zbuy[z]
    tz[TZ_STATE_RELEASE] = zq[z, ZQ_R] * ws.zshare[z]
    tz[TZ_NEED] = zq[z, ZQ_N]
    tz[TZ_PRODUCTION] = 0.0
    exc = -np.inf
    for c in range(1, m):
        if ws.capc[c, z] < np.inf:
            exc = max(exc, ws.f[c, z] - ws.capc[c, z])
    tz[TZ_EDGE_EXCESS] = exc if exc > -np.inf else 0.0
    tz[TZ_UNSOLD] = 0.0
    tz[TZ_CONSUMED] = (zq[z, ZQ_N] + zq[z, ZQ_X]) * ws.zcons[z]
    tz[TZ_RESTOCKED] = restock
    tz[TZ_RELEASED] = crel


@jit_internal
def _material(tn, sc, ws, out, hbins, j, k, fired, usable, sub_max, lag_sub):
    """Every month of material k in draw j. Returns the status."""
    H = sc.horizon
    ns = tn.n_stages[k]
    kc = tn.kc_idx[tn.kc_ptr[k]:tn.kc_ptr[k + 1]]
    status = 0
    live = _live_events(sc, ws, fired, k)
    t0, ts = _start_month(sc, ws, live, H)
    if ts >= H:
        # nothing happens to k: every row keeps its baseline (no shortage, price 1), its
        # whole need bought every month
        _book_baseline(tn, sc, out, j, k, H)
        return 0
    mk = ws.mk
    n_zone = sc.n_zone
    zone_need = sc.zone_need
    zg = sc.zg
    # the market at its baseline: stocks at their targets, prices at the reference
    for s in range(ns):
        cover = mk[k, MK_COVER] if s == ns - 1 else mk[k, MK_FCOVER]
        for z in range(n_zone[k, s]):
            ws.inv[s, z] = cover / WEEKS_PER_MONTH * zone_need[k, s, z]
            ws.uhint[s, z] = -1.0  # no level yet (see _clear_and_account)
            ws.uhint2[s, z] = -1.0
            ws.lnp_prev[s, z] = 0.0
            ws.lnp_now[s, z] = 0.0
            for c in range(N_ZA):
                ws.zacc[s, z, c] = 0.0
            ws.zmon[s, z, 0] = 0
            ws.zmon[s, z, 1] = -1
            ws.zmon[s, z, 2] = -1
            if zone_need[k, s, z] > 0.0:
                out.zprice_peak[j, zg[k, s, z]] = 0.0  # a maximum over the computed months
            ws.gkind[s, z] = 0
        ws.shint[s] = 0.0
        for e in tn.pr_idx[tn.pr_ptr[k, s, 0]:tn.pr_ptr[k, s, 1]]:
            ws.gkind[s, sc.zone_of[k, s, e]] |= 1 if sc.is_origin[k, s, e] else 2
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
        ws.hold[i] = ws.lsm[i] + ws.lsr[i] > 0.0
    # the last stage's buyers with a state stock of their own, in order: the only ones
    # whose months are booked row by row when no time series or trace is asked for
    nh = 0
    hbuy = ws.hbuy
    for i in tn.by_idx[tn.by_ptr[k, ns - 1, 0]:tn.by_ptr[k, ns - 1, 1]]:
        if ws.hold[i]:
            hbuy[nh] = i
            nh += 1
    held = hbuy[:nh]
    mp = ws.mp
    mp[MP_ETA] = mk[k, MK_ETA]
    mp[MP_THETA] = mk[k, MK_THETA]
    mp[MP_LNPBAR] = math.log(mk[k, MK_CHOKE])
    mp[MP_LNPMIN] = -mp[MP_LNPBAR]
    mp[MP_PFULL] = sc.release_price
    derive_material(mp)
    spot = mk[k, MK_SPOT]
    lnp_prev = ws.lnp_prev
    lnp_now = ws.lnp_now
    for t in range(ts, H):
        tau = float(t - t0)
        if _severities(sc, ws, k, t, live) or t == ts:
            # the routes depend on the month only through the events' state
            _routes(tn, sc, ws, k, ns, kc)
        _plan_output(tn, sc, ws, k, ns, kc, t, tau, usable)
        phi = _ramp(mk[k, MK_LAG], tau)
        kappa = (1.0 - spot) * (1.0 - phi)
        mp[MP_EPS] = mk[k, MK_EPS_S] + (mk[k, MK_EPS_M] - mk[k, MK_EPS_S]) * _ramp(
            mk[k, MK_ADJ], tau)
        derive_month(mp)
        sub = sub_max * _ramp(lag_sub, tau)
        for s in range(ns):
            status = _stage(tn, sc, ws, out, hbins, j, k, s, ns, kc, held, t, kappa,
                            sub, status)
        for s in range(ns):
            for z in range(n_zone[k, s]):
                lnp_prev[s, z] = lnp_now[s, z]
    # months not computed (before the first announcement or event) are at price 1
    if ts > 0:
        for s in range(ns):
            for z in range(n_zone[k, s]):
                g = zg[k, s, z]
                if zone_need[k, s, z] > 0.0 and out.zprice_peak[j, g] < 1.0:
                    out.zprice_peak[j, g] = 1.0
    _spread_rows(tn, sc, ws, out, j, k, ns)
    _book_baseline(tn, sc, out, j, k, ts)  # the months before the first computed one
    return status


@jit_inline
def _zero_bins(bins):
    """Zero a draw's bins (i2[G, H, 2]) in one pass over its months."""
    for g in range(bins.shape[0]):
        for t in range(bins.shape[1]):
            bins[g, t, 0] = 0
            bins[g, t, 1] = 0


@jit
def run_draws(w, first_draw, n_workers, seed, tn, sc, out, ws):
    """Worker w of n_workers: draws first_draw + lo .. first_draw + hi - 1, where
    [lo, hi) is the w-th contiguous slice of the block's n = out.variates.shape[0] draws,
    each simulated as in docs/model.md, into the rows lo .. hi - 1 of ``out``, with
    each zone's monthly price and shortage-share bins in out.zone_bins (the caller
    counts them into histograms: a row's monthly shortage share is its zone's) and, in
    out.holder_bins, the months in which a state-stock holder's row (sc.hidx[k, c]) is
    in another bin than its zone's (its own bin and its zone's; count_zone_bins counts
    them).
    out.progress[w] counts the draws this worker finished. ``ws``: this worker's
    scratch arrays (``scratch``).

    Serial and nogil: the engine runs the workers on Python threads (docs/model.md,
    "Parallelism"), so results never depend on the number of workers.
    """
    n = out.variates.shape[0]
    lo = (n * w) // n_workers
    hi = (n * (w + 1)) // n_workers
    hbins = out.holder_bins
    H = sc.horizon
    for v in range(sc.var_key.shape[0]):  # the same in every draw
        ws.lbeta[v] = shape_lbeta(sc.var_dist[v], sc.var_par[v])
    for j in range(lo, hi):
        d = first_draw + j
        vals = out.variates[j]
        _draw_variates(d, seed, sc, vals, ws.z, ws.lbeta)
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
        # row by row, array by array: one loop over the exposures writing 14 arrays
        # is not vectorised (the arrays may alias, for all the compiler knows) and took
        # twice as long (11.8 against 5.4 us a draw of the partner study)
        out.shortage[j, :] = 0.0
        out.peak[j, :] = 0.0
        out.months[j, :] = 0
        out.first[j, :] = -1
        out.last[j, :] = -1
        out.drawn[j, :] = 0.0
        out.price_peak[j, :] = 1.0
        out.price_mean[j, :] = 0.0  # accumulates (price - 1) over computed months
        out.bought[j, :] = 0.0
        out.restocked[j, :] = 0.0
        out.cdrawn[j, :] = 0.0
        out.substituted[j, :] = 0.0
        out.given_up[j, :] = 0.0
        out.rationed[j, :] = 0.0
        out.zprice_peak[j, :] = 1.0
        out.zprice_mean[j, :] = 0.0
        out.zchoke[j, :] = 0
        # a slice assignment out.zone_bins[j, :, :, :] = 0 sets one innermost row (2
        # values) per memset call: 1,650 calls a draw of the partner study, 2.3 % of the
        # kernel's instructions (_zero_bins). (reshape(-1) would need a helper of Numba's
        # that the kernel's library does not carry: simcore/_native.py)
        _zero_bins(out.zone_bins[j])  # bin 0: a price of exactly 1, no shortage
        _zero_bins(out.holder_bins[j])
        if out.want_series:
            out.series[j, :, :] = 0.0
        if out.want_zseries:
            out.zseries[j, :, :] = 1.0
        status = 0
        for kk in range(sc.scope.shape[0]):
            k = sc.scope[kk]
            _market_values(tn, sc, vals, k, ws.mk)
            if out.want_trace:
                _trace_baseline(tn, sc, out, j, k)
            st = _material(tn, sc, ws, out, hbins, j, k, out.fired[j], usable,
                           sub_max, lag_sub)
            if st != 0:
                status = st
        for x in range(out.shortage.shape[1]):
            out.price_mean[j, x] = 1.0 + out.price_mean[j, x] / H
        for g in range(out.zprice_peak.shape[1]):
            out.zprice_mean[j, g] = 1.0 + out.zprice_mean[j, g] / H
        out.status[j] = status
        out.progress[w] += 1


COUNT_DRAWS = 32  # draws counted together in count_zone_bins


@jit
def count_zone_bins(zone_bins, price, short, holder_bins, holder_short):
    """Add to price[G, H, NPB] and short[G, H, 101] the counts over draws of each zone's
    monthly price bin and shortage-share bin (zone_bins i2[n, G, H, 2], as run_draws
    writes them), and to holder_short[NH, H, 101] how each state-stock holder's row
    differs from its zone's: +1 in its own bin, -1 in its zone's, where
    holder_bins i2[n, NH, H, 2] (run_draws) holds the two. Zone by zone (holder by
    holder), COUNT_DRAWS draws at a time month by month, so that both the counts being
    added to (a month's row) and the draws' bins stay in the first-level cache: 1.6x
    faster than month by month within each draw (a zone's price counts are 190 kB)."""
    n, n_g, H, _ = zone_bins.shape
    for g in range(n_g):
        for j0 in range(0, n, COUNT_DRAWS):
            j1 = min(n, j0 + COUNT_DRAWS)
            for t in range(H):
                p = price[g, t]
                s = short[g, t]
                for j in range(j0, j1):
                    p[zone_bins[j, g, t, 0]] += 1
                    s[zone_bins[j, g, t, 1]] += 1
    for h in range(holder_bins.shape[1]):
        for j0 in range(0, n, COUNT_DRAWS):
            j1 = min(n, j0 + COUNT_DRAWS)
            for t in range(H):
                s = holder_short[h, t]
                for j in range(j0, j1):
                    own = holder_bins[j, h, t, 0]
                    zone = holder_bins[j, h, t, 1]
                    if own != zone:
                        if own > 0:
                            s[own] += 1
                        if zone > 0:
                            s[zone] -= 1


@jit_inline
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
