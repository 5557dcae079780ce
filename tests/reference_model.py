"""A slow, plain Python/NumPy reference of the disruption model (docs/model.md).

Independent of simcore.kernel and simcore.engine except for the sampled variates (the
engine's ``variates`` matrix), so that comparing it with the engine checks the
simulation, not the random numbers. It is written from docs/model.md, differently
wherever it can be:

- zones are built here from the compiled events' signatures (docs/model.md §3.1);
- every buyer keeps its own commercial stock (the kernel keeps one per zone and shares
  it by need, which the text says is equivalent);
- every producer is its own exporter (no merged classes);
- the zone market is solved by progressive filling where each level is found by
  bisection on Gale's condition over every subset of zones (no max flow, no Newton);
- zone prices are found by bisection in log price.

Slow: meant for small tensors in tests; the benchmark runs it on the baseline for a few
draws to measure the engine's speed-up.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

WEEKS_PER_MONTH = 52.0 / 12.0
MARKET_KEYS = (
    "demand_elasticity", "demand_elasticity_medium", "demand_adjust_months",
    "supply_elasticity", "spare_ramp_months", "origin_supply_elasticity",
    "state_purchase_share", "inventory_weeks", "feed_inventory_weeks", "inventory_release",
    "inventory_adjust", "spot_share", "precautionary_weeks", "choke_price",
    "reroute_lag_months",
)
BUY_BAND = 1e-6  # log price band over which the origin's state stops buying
SNAP = 1e-12  # a log price this close to 0 is reported as the reference price
BISECT = 200  # bisection steps: far below double precision


def fair_allocation(supply, w, cap, off=None, tol=1e-12):
    """Lexicographically max-min fair deliveries D[ni] = off + lam * w (MODEL.md §3.3),
    by Gale's cut condition over importer subsets. supply[ne], w[ni], cap[ne, ni]
    (np.inf = open route), off[ni] deliveries already fixed."""
    supply = np.asarray(supply, float)
    cap = np.asarray(cap, float)
    w = np.asarray(w, float)
    off = np.zeros(w.shape[0]) if off is None else np.asarray(off, float)
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
            best = min(best, (capacity - fixed) / sum(w[i] for i in act))
        blocked = set()
        if best >= 1.0:
            blocked = set(active)
        else:
            for T, capacity in subsets:
                act = [i for i in T if i in active]
                demand = sum(off[i] + (best if i in active else lam[i]) * w[i] for i in T)
                if act and demand >= capacity - tol * scale:
                    blocked.update(act)
        blocked = blocked or set(active)
        for i in blocked:
            lam[i] = best
        active = [i for i in active if i not in blocked]
    return off + lam * w


def _ramp(lag, tau):
    if tau < 0:
        return 0.0
    return 1.0 if lag <= 0 else min(1.0, tau / lag)


def _tri(u, lo, mode, hi):
    """Triangular quantile."""
    if hi <= lo:
        return lo
    if u < (mode - lo) / (hi - lo):
        return lo + math.sqrt(u * (hi - lo) * (mode - lo))
    return hi - math.sqrt((1 - u) * (hi - lo) * (hi - mode))


class _Zone:
    """A zone's demand curve for one month (docs/model.md §3.4)."""

    def __init__(self, need, extra, target, stock, purchase, release, contract, eps, eta,
                 theta, pbar, pfull):
        self.n = need + extra
        self.t, self.i, self.g, self.r, self.c = target, stock, purchase, release, contract
        self.eps, self.eta, self.theta, self.pbar, self.pfull = eps, eta, theta, pbar, pfull
        d = pbar ** -eps
        des = target * pbar ** -eta
        self.wants = self.n * d + theta * max(0.0, des - stock) + purchase * self.buys(pbar)
        self.rel = theta * max(0.0, stock - des) + release * self.share(pbar)

    def share(self, p):
        return min(1.0, max(0.0, (p - 1.0) / (self.pfull - 1.0)))

    @staticmethod
    def buys(p):
        """The origin state buys its whole cap at or below the reference price and
        nothing once the log price is BUY_BAND above it, linearly between."""
        return min(1.0, max(0.0, 1.0 - math.log(p) / BUY_BAND))

    def q(self, p):
        d = min(1.0, p ** -self.eps)
        return (self.n * d + self.theta * (self.t * p ** -self.eta - self.i)
                + self.g * self.buys(p) - self.r * self.share(p))

    def price_at(self, u):
        lp = math.log(self.pbar)
        return math.exp(lp - (u - 1.0) * 2.0 * lp)

    def free(self, u):
        if u <= 1.0:
            return max(0.0, u * self.wants - self.rel - self.c)
        return max(0.0, self.q(self.price_at(u)) - self.c)

    def highest_price(self, x):
        """The highest price in [1/pbar, pbar] at which the zone takes x (bisection)."""
        lo, hi = -math.log(self.pbar), math.log(self.pbar)
        if self.q(math.exp(lo)) < x:
            return math.exp(lo)
        if self.q(math.exp(hi)) >= x:
            return math.exp(hi)
        for _ in range(BISECT):
            mid = 0.5 * (lo + hi)
            if self.q(math.exp(mid)) >= x:
                lo = mid
            else:
                hi = mid
        return math.exp(lo)

    def outcome(self, u, y):
        """(price, rho); a price within SNAP (in log) of 1 is 1."""
        p, rho = self._outcome(u, y)
        return (1.0 if abs(math.log(p)) < SNAP else p), rho

    def _outcome(self, u, y):
        if y > 0:
            if u < 1.0:
                return self.pbar, u
            return self.highest_price(self.c + y), 1.0
        if self.c + self.rel >= self.wants:
            if self.n <= 0 and self.t <= 0 and self.c <= 0:
                return 1.0, 1.0  # no user, no stock, nothing arriving: no price
            return self.highest_price(self.c), 1.0
        return self.pbar, (self.c + self.rel) / self.wants


def clear_market(free_supply, caps, zones):
    """Progressive filling (docs/model.md §3.4) with Gale's condition over every subset
    of zones and bisection on the level. free_supply[e], caps[e][z] (np.inf = open).
    Returns the frozen level of each zone."""
    nz = len(zones)
    subsets = []
    for r in range(1, nz + 1):
        for T in itertools.combinations(range(nz), r):
            cap_t = sum(min(free_supply[e], sum(caps[e][z] for z in T))
                        for e in range(len(free_supply)))
            subsets.append((T, cap_t))
    scale = sum(free_supply) + sum(z.wants + z.c for z in zones) + 1e-300
    level = np.zeros(nz)
    active = set(range(nz))
    cur = 0.0
    while active:
        best, tight = 2.0, []
        for T, cap_t in subsets:
            act = [z for z in T if z in active]
            if not act:
                continue
            fixed = sum(zones[z].free(level[z]) for z in T if z not in active)

            def g(u, act=act, fixed=fixed, cap_t=cap_t):
                return sum(zones[z].free(u) for z in act) + fixed - cap_t

            if g(2.0) <= 0:
                lev = 2.0
            else:
                lo, hi = cur, 2.0
                for _ in range(BISECT):
                    mid = 0.5 * (lo + hi)
                    if g(mid) > 0:
                        hi = mid
                    else:
                        lo = mid
                lev = lo
            tight.append((lev, act, g))
            best = min(best, lev)
        freeze = set()
        for lev, act, g in tight:
            if lev <= best + 1e-12 or g(best) >= -1e-11 * scale:
                freeze.update(act)
        if best >= 2.0:
            freeze = set(active)
        for z in freeze & active:
            level[z] = best
        active -= freeze
        cur = best
    return level


def zones_of(tensor, compiled):
    """{(k, s): list of member lists} and re-export shares, from the compiled events
    (docs/model.md §3.1)."""
    n_k, n_s, n_c = tensor.shape
    B = tensor.flow
    N = B.sum(axis=2)
    part = np.zeros((n_k, n_c), bool)
    for k in range(n_k):
        part[k] = (B[k].sum(axis=2) > 0).any(axis=0) | (N[k] > 0).any(axis=0) | (
            tensor.capacity[k] > 0).any(axis=0)
    for q in range(len(compiled.cap_material)):
        part[compiled.cap_material[q], compiled.cap_country[q]] = True
    share = np.zeros((compiled.n_events, n_k, n_c))
    for e in range(compiled.n_events):
        if compiled.ev_kind[e] != 0 or not compiled.ev_re_export[e]:
            continue
        o = compiled.ev_origin[e]
        for k in range(n_k):
            s = compiled.ev_stage[e, k]
            if s < 0 or s + 1 >= tensor.n_stages[k]:
                continue
            for j in range(n_c):
                if j != o and N[k, s, j] > 0:
                    share[e, k, j] = B[k, s, o, j] / N[k, s, j]
    out = {}
    for k in range(n_k):
        if not compiled.material_scope[k]:
            continue
        for s in range(tensor.n_stages[k]):
            sig = {}
            for i in range(n_c):
                if not part[k, i]:
                    continue
                key = []
                for e in range(compiled.n_events):
                    if compiled.ev_kind[e] != 0:
                        continue
                    o = compiled.ev_origin[e]
                    if compiled.ev_stage[e, k] == s:
                        key.append(("a", e, "O" if i == o else
                                    ("T" if compiled.ev_targets[e, i] else "-")))
                for e in range(compiled.n_events):
                    if compiled.ev_kind[e] != 0:
                        continue
                    o = compiled.ev_origin[e]
                    if s >= 1 and compiled.ev_re_export[e] and compiled.ev_stage[e, k] == s - 1:
                        if compiled.ev_targets[e, i] and i != o:
                            key.append(("b", e, f"R{i}" if share[e, k, i] > 0 else "T"))
                        else:
                            key.append(("b", e, "-"))
                sig.setdefault(tuple(key), []).append(i)
            groups = sorted(sig.items(), key=lambda kv: kv[1][0])
            out[(k, s)] = groups
    return out, share


def simulate_reference(tensor, compiled, variates, timeseries=False):
    """Per-draw outputs for the draws whose variates are given (rows of ``variates``).

    Returns a dict with the engine's ChunkResult fields and ``trace`` [n, X, H, 11]
    (need, bought, restocked, commercial drawn, state drawn, substituted, given up,
    rationed, shortage, price, used) for every exposure, ``zone_price`` [n, G, H].
    """
    c = compiled
    H = int(c.horizon)
    n_k, n_s, n_c = tensor.shape
    B = tensor.flow / 12.0
    P = B.sum(axis=3)
    N = B.sum(axis=2)
    CAP = tensor.capacity / 12.0
    market = tensor.market_table
    stages = tensor.n_stages
    scope = [k for k in range(n_k) if c.material_scope[k]]
    expos = [(k, s, i) for k in scope for s in range(stages[k]) for i in range(n_c)
             if N[k, s, i] > 0]
    xpos = {kx: x for x, kx in enumerate(expos)}
    X = len(expos)
    zmap, share = zones_of(tensor, c)
    zlist = [(k, s, z, mem) for (k, s), groups in zmap.items()
             for z, (_, mem) in enumerate(groups)]
    gpos = {(k, s, z): g for g, (k, s, z, _) in enumerate(zlist)}
    G = len(zlist)
    n = variates.shape[0]
    E = c.n_events
    f = np.zeros
    out = dict(
        shortage_t=f((n, X)), peak_share=f((n, X)), months_short=f((n, X), np.int16),
        first_short=np.full((n, X), -1, np.int16), last_short=np.full((n, X), -1, np.int16),
        stock_drawn_t=f((n, X)), bought_t=f((n, X)), restocked_t=f((n, X)),
        commercial_drawn_t=f((n, X)), substituted_t=f((n, X)), demand_given_up_t=f((n, X)),
        rationed_t=f((n, X)), fired=f((n, E), bool), onset=np.full((n, E), -1, np.int32),
        series=f((n, X, H)), trace=f((n, X, H, 11)), zone_price=np.ones((n, G, H)),
        zone_choke_months=f((n, G), np.int16),
    )
    out["trace"][..., 9] = 1.0
    for x, (k, s, i) in enumerate(expos):
        out["trace"][:, x, :, 0] = N[k, s, i]
        out["trace"][:, x, :, 1] = N[k, s, i]
        out["trace"][:, x, :, 10] = N[k, s, i]

    def var(vals, idx, default):
        return vals[idx] if idx >= 0 else default

    def world_yield(k, s):
        tot = N[k, s - 1].sum()
        return P[k, s].sum() / tot if tot > 0 else 0.0

    def yield_of(k, s, e):
        prev = N[k, s - 1]
        if prev[e] > 0:
            return P[k, s, e] / prev[e], True
        tot = prev.sum()
        return (P[k, s].sum() / tot if tot > 0 else 0.0), False

    origins = {(k, s): {c.ev_origin[e] for e in range(E)
                        if c.ev_kind[e] == 0 and c.ev_stage[e, k] == s}
               for k in scope for s in range(stages[k])}

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

        def ev(e, name, default, vals=vals):
            idx = getattr(c, name)[e]
            return vals[idx] if idx >= 0 else default

        usable = min(1.0, max(0.0, var(vals, c.spare_usable_var, 0.0)))
        sub_max = min(1.0, max(0.0, var(vals, c.substitution_max_var, 0.0)))
        lag_sub = var(vals, c.substitution_months_var, 0.0)
        sp_on = [vals[c.sp_occurs_var[j]] < c.sp_probability[j]
                 for j in range(len(c.sp_probability))]
        cap_on = [vals[c.cap_occurs_var[q]] < c.cap_probability[q]
                  for q in range(len(c.cap_probability))]
        cap_month = [max(0, math.floor(var(vals, c.cap_online_var[q], 0.0)))
                     for q in range(len(c.cap_probability))]

        for k in scope:
            ns = int(stages[k])
            mk = {}
            for p, key in enumerate(MARKET_KEYS):
                u = vals[c.mkt_var[p]]
                v = u if c.mkt_given[p] else _tri(u, *market[k, p])
                mk[key] = max(0.0, v)
            for key in ("inventory_adjust", "spot_share"):
                mk[key] = min(1.0, mk[key])
            pbar = max(1.0, mk["choke_price"])
            touching = [e for e in range(E) if c.ev_stage[e, k] >= 0 and fired[e]]

            def dur(e, ev=ev):
                return ev(e, "ev_duration_var", np.inf)

            def in_force(e, t, onset=onset, dur=dur):
                return dur(e) > 0 and onset[e] <= t < onset[e] + dur(e)

            def lead(e, ev=ev):
                return max(0.0, ev(e, "ev_lead_var", 0.0)) if c.ev_kind[e] == 0 else 0.0

            def announced(e, t, onset=onset, dur=dur, lead=lead):
                lv = lead(e)
                return dur(e) > 0 and lv > 0 and onset[e] - math.ceil(lv) <= t < onset[e]

            active_months = [t for t in range(H) if any(in_force(e, t) for e in touching)]
            t0 = active_months[0] if active_months else H
            busy = [t for t in range(H) if any(in_force(e, t) or announced(e, t)
                                               for e in touching)]
            # months not computed are the baseline: every exposure buys its whole need
            ts = busy[0] if busy else H
            for (kk, s, i), x in xpos.items():
                if kk == k:
                    out["bought_t"][d, x] += N[k, s, i] * ts
            if not busy:
                continue
            # state stocks: market (sell into the zone) and reserved, per holder
            left_m = np.zeros(n_c)
            rel_m = np.zeros(n_c)
            left_r = np.zeros(n_c)
            rel_r = np.zeros(n_c)
            if c.dataset_stocks_reserved:
                left_r += tensor.stock[k]
                rel_r += tensor.max_release[k]
            else:
                left_m += tensor.stock[k]
                rel_m += tensor.max_release[k]
            for j, on in enumerate(sp_on):
                if on:
                    if c.sp_reserved[j]:
                        left_r += c.sp_stock[j, k]
                        rel_r += c.sp_max_release[j, k]
                    else:
                        left_m += c.sp_stock[j, k]
                        rel_m += c.sp_max_release[j, k]
            # commercial stock of every buyer, at its target
            cover = np.array([mk["inventory_weeks"] if s == ns - 1
                              else mk["feed_inventory_weeks"] for s in range(ns)])
            stock = np.array([cover[s] / WEEKS_PER_MONTH * N[k, s] for s in range(ns)])
            price_prev = {(s, z): 1.0 for s in range(ns)
                          for z in range(len(zmap[(k, s)]))}
            for t in range(ts, H):
                tau = t - t0
                phi = _ramp(mk["reroute_lag_months"], tau)
                kappa = (1 - mk["spot_share"]) * (1 - phi)
                eps = mk["demand_elasticity"] + (mk["demand_elasticity_medium"]
                                                 - mk["demand_elasticity"]) * _ramp(
                    mk["demand_adjust_months"], tau)
                sub = sub_max * _ramp(lag_sub, tau)
                A = np.ones((ns, n_c, n_c))  # the producer's own restrictions
                direct = np.zeros((ns, n_c), dtype=bool)  # restricted as an origin
                # re-export reaches, per (stage, third country, origin): the share of its
                # o-fed output let through into each user, and that share
                through, fed = {}, {}
                outage = np.ones((ns, n_c))
                # precaution: per zone, the largest share of its need held by targets
                # of a restriction (at this stage or an earlier one) announced or in force
                prec = {(s, z): 0.0 for s in range(ns) for z in range(len(zmap[(k, s)]))}
                for e in touching:
                    s = c.ev_stage[e, k]
                    o = c.ev_origin[e]
                    if c.ev_kind[e] == 0 and (announced(e, t) or in_force(e, t)):
                        for s2 in range(s, ns):
                            for z, (_, mem) in enumerate(zmap[(k, s2)]):
                                total = sum(N[k, s2, i] for i in mem)
                                hit = sum(N[k, s2, i] for i in mem
                                          if c.ev_targets[e, i] and i != o)
                                if total > 0:
                                    prec[(s2, z)] = max(prec[(s2, z)], hit / total)
                    if not in_force(e, t):
                        continue
                    if np.isnan(c.ev_quota[e]) or c.ev_kind[e] != 0:  # [K3]: restrictions
                        s_init = min(1.0, max(0.0, ev(e, "ev_severity_var", 0.0)))
                    else:
                        tg = [i for i in range(n_c) if c.ev_targets[e, i] and i != o]
                        exports = B[k, s, o, tg].sum()
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
                    here = {i for _, mem in zmap[(k, s)] for i in mem}
                    for i in range(n_c):
                        if c.ev_targets[e, i] and i != o:
                            A[s, o, i] *= 1 - sev * (1 - leak)
                            if sev * (1 - leak) > 0 and i in here:
                                direct[s, o] = True
                    if c.ev_re_export[e] and s + 1 < ns:
                        groups = zmap[(k, s + 1)]
                        zone_i = {i: z for z, (_, mem) in enumerate(groups) for i in mem}
                        for j in range(n_c):
                            if share[e, k, j] <= 0 or j == o or j not in zone_i:
                                continue
                            key = (s + 1, j, o)
                            fed[key] = share[e, k, j]
                            thr = through.setdefault(key, np.ones(n_c))
                            for i in range(n_c):
                                if (c.ev_targets[e, i] and i != o and i in zone_i
                                        and zone_i.get(j) != zone_i[i]):
                                    thr[i] *= 1 - sev * (1 - leak)
                # what the reaches stop of each third country's baseline flows, and the
                # share of its output no restriction touches
                loss = np.zeros((ns, n_c, n_c))
                untouched = np.ones((ns, n_c))
                for (s1, j, o), thr in through.items():
                    loss[s1, j] += fed[(s1, j, o)] * (1 - thr)
                    if (thr < 1).any():
                        untouched[s1, j] = max(0.0, untouched[s1, j] - fed[(s1, j, o)])
                # planned output from last month's zone prices
                outp = np.zeros((ns, n_c))
                extra_feed = np.zeros((ns, n_c))
                for s in range(ns):
                    groups = zmap[(k, s)]
                    zone_i = {i: z for z, (_, mem) in enumerate(groups) for i in mem}
                    for e in range(n_c):
                        if e not in zone_i:
                            continue
                        pt = price_prev[(s, zone_i[e])]
                        el = (mk["origin_supply_elasticity"] if e in origins[(k, s)]
                              else mk["supply_elasticity"])
                        idle = max(0.0, CAP[k, s, e] - P[k, s, e])
                        r = 0.0
                        if pt > 1:
                            r = min((P[k, s, e] + idle) * (pt ** el - 1), usable * idle) * \
                                _ramp(mk["spare_ramp_months"], tau)
                        elif pt < 1:
                            r = P[k, s, e] * (pt ** el - 1)
                        added = sum(c.cap_tonnes[q] / 12.0 for q in range(len(cap_on))
                                    if cap_on[q] and c.cap_material[q] == k
                                    and c.cap_stage[q] == s and c.cap_country[q] == e
                                    and cap_month[q] <= t and tau >= 0)
                        outp[s, e] = (P[k, s, e] + r + added) * outage[s, e]
                        if s > 0:
                            y, has = yield_of(k, s, e)
                            wy = world_yield(k, s)
                            if not has or y < wy:
                                y = wy  # the technical yield for the change of output
                            if has:
                                # the baseline's feed changes with output, up or down (an
                                # outage or a cut gives up the feed of what it took)
                                change = outp[s, e] - P[k, s, e]
                                n_prev = N[k, s - 1, e]
                                if y == wy and y > 0:
                                    extra_feed[s - 1, e] = max(-n_prev, change / y)
                                elif y > 0:  # own ratio P/N: output 0 gives up exactly N
                                    extra_feed[s - 1, e] = max(
                                        -n_prev, n_prev * (change / P[k, s, e]))
                            else:
                                extra = outp[s, e] - P[k, s, e] * outage[s, e]
                                if extra > 0 and y > 0:
                                    extra_feed[s - 1, e] = extra / y
                feed = np.zeros(n_c)
                for s in range(ns):
                    last = s == ns - 1
                    groups = zmap[(k, s)]
                    members = [mem for _, mem in groups]
                    zone_i = {i: z for z, mem in enumerate(members) for i in mem}
                    nz = len(members)
                    S = np.zeros(n_c)
                    for e in zone_i:
                        if s == 0:
                            S[e] = outp[s, e]
                        else:
                            y, has = yield_of(k, s, e)
                            wy = world_yield(k, s)
                            x = extra_feed[s - 1, e]
                            if has and x != 0 and y < wy:
                                # the baseline need converts at e's own ratio, the change
                                # of feed at the world's: the feed bought is (N + X)·c
                                n_prev = N[k, s - 1, e]
                                S[e] = (max(0.0, min(outp[s, e], (n_prev * y + x * wy)
                                                     * feed[e] / (n_prev + x)))
                                        if n_prev + x > 0 else 0.0)
                            elif has:
                                S[e] = min(outp[s, e], y * feed[e])
                            else:
                                own = P[k, s, e] * outage[s, e]
                                S[e] = (min(outp[s, e], own)
                                        + min(max(0.0, outp[s, e] - own), y * feed[e]))
                    contract = np.zeros(nz)
                    purchase = np.zeros(nz)
                    free = []
                    caps = []
                    for e in zone_i:
                        fac = min(1.0, S[e] / P[k, s, e]) if P[k, s, e] > 0 else 0.0
                        fe = S[e]
                        row = []
                        stopped = 0.0
                        for z, mem in enumerate(members):
                            b = B[k, s, e, mem].sum()
                            a = A[s, e, mem[0]] * (1 - loss[s, e, mem[0]])
                            cz = kappa * fac * a * b
                            contract[z] += cz
                            fe -= cz
                            stopped += fac * (1 - a) * b
                        fe = max(0.0, fe)
                        # reached by re-export rules only: the untouched share of its
                        # free supply is an open exporter, the rest is licensed
                        o = 0.0 if direct[s, e] else untouched[s, e]
                        if not 0 < o < 1:
                            o = 0.0
                        for mem in members:
                            b = B[k, s, e, mem].sum()
                            a = A[s, e, mem[0]] * (1 - loss[s, e, mem[0]])
                            row.append((a - o) * b * (1 - kappa * fac) if a < 1 else np.inf)
                        if e in origins[(k, s)]:
                            purchase[zone_i[e]] += mk["state_purchase_share"] * stopped
                        free.append((1 - o) * fe)
                        caps.append(row)
                        if o > 0:
                            free.append(o * fe)
                            caps.append([np.inf] * len(members))
                    zs = []
                    for z, mem in enumerate(members):
                        wk = cover[s] + mk["precautionary_weeks"] * prec[(s, z)]
                        rel = sum(min(rel_m[i], left_m[i]) for i in mem) if last else 0.0
                        zs.append(_Zone(
                            N[k, s, mem].sum(),
                            max(extra_feed[s, mem].sum(), -N[k, s, mem].sum())
                            if not last else 0.0,
                            sum(wk / WEEKS_PER_MONTH * N[k, s, i] for i in mem),
                            stock[s, mem].sum(), purchase[z], rel, contract[z], eps,
                            mk["inventory_release"], mk["inventory_adjust"], pbar,
                            c.release_price))
                    level = clear_market(free, caps, zs)
                    new_feed = np.zeros(n_c)
                    for z, mem in enumerate(members):
                        zn = zs[z]
                        p, rho = zn.outcome(level[z], zn.free(level[z]))
                        if rho < 1 and N[k, s, mem].sum() > 0:
                            out["zone_choke_months"][d, gpos[(k, s, z)]] += 1
                        price_prev[(s, z)] = p
                        out["zone_price"][d, gpos[(k, s, z)], t] = p
                        dfrac = min(1.0, p ** -eps)
                        for i in mem:
                            if not last:
                                new_feed[i] += extra_feed[s, i] * rho * dfrac
                            need = N[k, s, i]
                            wk = cover[s] + mk["precautionary_weeks"] * prec[(s, z)]
                            gap = mk["inventory_adjust"] * (
                                wk / WEEKS_PER_MONTH * need * p ** -mk["inventory_release"]
                                - stock[s, i])
                            restock = max(0.0, gap) * rho
                            released = max(0.0, -gap)
                            stock[s, i] += restock - released
                            srel = 0.0
                            if last:
                                srel = min(rel_m[i], left_m[i]) * zn.share(p)
                                left_m[i] -= srel
                            if need <= 0:
                                continue
                            cons = rho * dfrac * need
                            q = 0.0
                            if last:
                                q = max(0.0, min(need - cons, left_r[i], rel_r[i]))
                                left_r[i] -= q
                            used = cons + q
                            shortfall = need - used
                            rationed = 0.0
                            if rho < 1:
                                rationed = max(0.0, need * pbar ** -eps * (1 - rho) - q)
                            given = max(0.0, shortfall - rationed)
                            sb = sub * shortfall if last else 0.0
                            keep = (1 - sub) if last else 1.0
                            given *= keep
                            rationed *= keep
                            short = given + rationed
                            cd = min(released, cons)
                            sdm = min(srel, cons - cd)
                            bought = cons - cd - sdm + restock
                            new_feed[i] += used
                            x = xpos[(k, s, i)]
                            frac = short / need
                            o_ = out
                            o_["shortage_t"][d, x] += short
                            o_["stock_drawn_t"][d, x] += sdm + q
                            o_["bought_t"][d, x] += bought
                            o_["restocked_t"][d, x] += restock
                            o_["commercial_drawn_t"][d, x] += cd
                            o_["substituted_t"][d, x] += sb
                            o_["demand_given_up_t"][d, x] += given
                            o_["rationed_t"][d, x] += rationed
                            o_["peak_share"][d, x] = max(o_["peak_share"][d, x], frac)
                            if frac > 0.01 + 1e-10:
                                o_["months_short"][d, x] += 1
                                if o_["first_short"][d, x] < 0:
                                    o_["first_short"][d, x] = t
                                o_["last_short"][d, x] = t
                            o_["series"][d, x, t] = frac
                            o_["trace"][d, x, t] = (need, bought, restock, cd, sdm + q, sb,
                                                    given, rationed, short, p, used)
                    feed = new_feed
    # prices: an exposure's is its zone's; the months not computed are at 1
    out["price_peak"] = np.zeros((n, X))
    out["price_mean"] = np.zeros((n, X))
    for x, (k, s, i) in enumerate(expos):
        z = next(z for z, (_, mem) in enumerate(zmap[(k, s)]) if i in mem)
        series = out["zone_price"][:, gpos[(k, s, z)]]
        out["price_peak"][:, x] = series.max(axis=1)
        out["price_mean"][:, x] = 1.0 + (series - 1.0).sum(axis=1) / H
    zneed = np.array([N[k, s, mem].sum() for (k, s, z, mem) in zlist])
    out["zone_price_peak"] = np.where(zneed > 0, out["zone_price"].max(axis=2), 1.0)
    out["zone_price_mean"] = np.where(
        zneed > 0, 1.0 + (out["zone_price"] - 1.0).sum(axis=2) / H, 1.0)
    share_m = out["series"]
    bins = np.where(share_m > 1e-10, np.ceil((share_m - 1e-10) * 100), 0).astype(int)
    bins = np.clip(bins, 0, 100)
    out["hist"] = np.stack([(bins == b).sum(axis=0) for b in range(101)], axis=-1)
    out["expos"] = expos
    out["zones"] = zlist
    return out
