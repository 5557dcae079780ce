"""The zone markets of one (material, stage, month): demand curves, clearing, outcome
(docs/model.md §3, "Market version 2").

A *zone* is a set of buyers who trade freely with each other (one price). Producers are
merged into *exporter classes*: one class of every producer whose routes are all open,
then one class per producer with a capped route. What contracts do not tie to a route is
*free supply*, which goes where prices draw it. Each zone z has a net demand curve

    Q_z(p) = (N_z + X_z) min(1, p^-eps) + theta (T_z p^-eta - I_z) + G_z b(p) - R_z s(p)

(consumption of buyers and of restarted capacity, commercial stock purchases or releases,
the origin state's purchases, state stock releases), continuous and decreasing in p.
The competitive equilibrium maximises the buyers' total surplus over the feasible free
flows; it is found by progressive filling on one level u that every still-active zone
shares:

- u in [0, 1]: the zone sits at the choke price and receives u of what it wants there
  (rationing, equal fractions);
- u in [1, 2]: the price falls log-linearly from the choke price (u = 1) to the floor
  (u = 2), and the zone wants Q_z(p) - C_z of free supply (C_z: its contract inflow).

The largest feasible level is found by Newton steps on min cuts of the class -> zone
max-flow network (each infeasible max flow names the cut whose capacity bounds the level;
the level is the root of a monotone function of one variable there), and the zones behind
a tight cut freeze. For equal demand curves this is the lexicographically max-min fair
allocation of MODEL.md §3 (simcore/kernel/allocation.py holds the max flow).
"""

from __future__ import annotations

import math

import numpy as np

from simcore._numba import jit, jit_inline, jit_internal
from simcore.kernel.allocation import max_flow
from simcore.kernel.structs import (  # the layouts of zq and mp, and the filling's bound
    GALE_MAX_ZONES,
    GCAP_REACH,
    GCAP_SIZE,
    MP_DBAR,
    MP_DTOP,
    MP_EBAR,
    MP_EPS,
    MP_ETA,
    MP_ETOP,
    MP_LNPBAR,
    MP_LNPFULL,
    MP_LNPMIN,
    MP_LNPTOP,
    MP_PBAR,
    MP_PFULL,
    MP_PTOP,
    MP_THETA,
    MP_UBAR,
    MP_UBUY,
    MP_UFULL,
    MP_UREF,
    N_MP,
    N_ZQ,
    ZQ_C,
    ZQ_G,
    ZQ_I,
    ZQ_N,
    ZQ_R,
    ZQ_REL,
    ZQ_T,
    ZQ_W,
    ZQ_X,
)

U_TOP = 2.0  # the level at the floor price

STATUS_NO_CUT = 1  # an infeasible level without a cut bounding it (numerical)
FROZEN_SLACK = 1e-9  # shortfall, relative to the market's scale, that the rounding of
# frozen zones' levels may leave (_fill_cuts)
STATUS_NO_FREEZE = 2  # a level where nobody froze (numerical)
STATUS_SHORT_MP = 3  # an entry point called from Python with mp shorter than N_MP: the
# slots that follow from the settings (derive) would be written past its end
STATUS_SHORT_GCAP = 4  # ... or with a workspace gcap shorter than GCAP_SIZE


@jit_internal
def release_share(p, pfull):
    """Share of its release capacity a state stock sells at zone price p: 0 up to the
    reference price, rising linearly to 1 at ``pfull``."""
    if p <= 1.0:
        return 0.0
    if p >= pfull:
        return 1.0
    return (p - 1.0) / (pfull - 1.0)


BUY_BAND = 1e-6  # log price above the reference over which the origin state stops buying
# (a step at the reference price, kept continuous for the root searches: 1e-6 keeps the
# zones' inflows exact to about 1e-9 of the state's purchases)


@jit_internal
def buy_share(lnp):
    """Share of its purchase cap the origin's state buys at log price lnp: all of it at
    or below the reference price, none from BUY_BAND above it, linear between (it
    defends the reference price; the band keeps the net demand continuous)."""
    if lnp <= 0.0:
        return 1.0
    if lnp >= BUY_BAND:
        return 0.0
    return 1.0 - lnp / BUY_BAND


@jit_inline
def price_terms(lnp, mp, want_p):
    """The factors of a zone's demand at log price lnp that depend on the price alone,
    the same for every zone: (p^-eps, or 1 at or below the reference price; p^-eta; p
    where ``want_p``, else 1.0). Where several zones are evaluated at one price (a level
    of the filling), computed once for all of them."""
    d = math.exp(-mp[MP_EPS] * lnp) if lnp > 0.0 else 1.0
    e = math.exp(-mp[MP_ETA] * lnp)
    p = math.exp(lnp) if want_p else 1.0
    return d, e, p


@jit_inline
def demand_curve(zq, z, lnp, mp):
    """Q_z at price exp(lnp) [t/month], dQ_z/dlnp and d2Q_z/dlnp2 (the curvature the
    Halley steps of _solve_level_mask use; on the pieces between the curve's kinks)."""
    d, e, p = price_terms(lnp, mp, zq[z, ZQ_R] > 0.0)
    return curve_at(zq, z, lnp, d, e, p, mp)


@jit_inline
def curve_at(zq, z, lnp, d, e, p, mp):
    """demand_curve, from the price's factors (price_terms; p is read only where the
    zone's state stocks release, zq[z, ZQ_R] > 0)."""
    eps = mp[MP_EPS]
    eta = mp[MP_ETA]
    theta = mp[MP_THETA]
    buyers = zq[z, ZQ_N] + zq[z, ZQ_X]
    if lnp > 0.0:
        dd = -eps * d
        ddd = -eps * dd
    else:
        dd = 0.0
        ddd = 0.0
    desired = zq[z, ZQ_T] * e
    q = buyers * d + theta * (desired - zq[z, ZQ_I])
    dq = buyers * dd - eta * theta * desired
    d2q = buyers * ddd + eta * eta * theta * desired
    g = zq[z, ZQ_G]
    if g > 0.0:
        q += g * buy_share(lnp)
        if 0.0 < lnp < BUY_BAND:
            dq -= g / BUY_BAND
    r = zq[z, ZQ_R]
    if r > 0.0:
        pfull = mp[MP_PFULL]
        q -= r * release_share(p, pfull)
        if 1.0 < p < pfull:
            dq -= r * p / (pfull - 1.0)
            d2q -= r * p / (pfull - 1.0)
    return q, dq, d2q


@jit
def net_demand(zq, z, lnp, mp):
    """Q_z at price exp(lnp) and dQ_z/dlnp [t/month]."""
    q, dq, _ = demand_curve(zq, z, lnp, mp)
    return q, dq


@jit
def prepare_zone(zq, z, mp):
    """What zone z wants at the choke price (consumption, restocking, state purchases)
    and what its stocks release there, into zq[z, ZQ_W] and zq[z, ZQ_REL]."""
    lnpbar = mp[MP_LNPBAR]
    prepare_zone_at(zq, z, mp, math.exp(-mp[MP_EPS] * lnpbar),
                    math.exp(-mp[MP_ETA] * lnpbar), math.exp(lnpbar))


@jit_inline
def prepare_zone_at(zq, z, mp, d, e, p):
    """prepare_zone, from the choke price's factors (price_terms, unconditionally:
    p^-eps, p^-eta, p; the month loop keeps them in mp[MP_DBAR], mp[MP_EBAR],
    mp[MP_PBAR])."""
    theta = mp[MP_THETA]
    desired = zq[z, ZQ_T] * e
    gap = desired - zq[z, ZQ_I]
    zq[z, ZQ_W] = ((zq[z, ZQ_N] + zq[z, ZQ_X]) * d + theta * max(0.0, gap)
                   + zq[z, ZQ_G] * buy_share(mp[MP_LNPBAR]))
    zq[z, ZQ_REL] = theta * max(0.0, -gap) + zq[z, ZQ_R] * release_share(p, mp[MP_PFULL])


@jit_inline
def derive_material(mp):
    """mp's slots that follow from a material's settings (MP_ETA, MP_LNPBAR, MP_LNPMIN,
    MP_PFULL): the log of the full-release price, the price's factors (price_terms) at
    the choke price and at the floor, where every zone is evaluated every month, and the
    levels of the curves' common kinks (_kink_between)."""
    lnpbar = mp[MP_LNPBAR]
    mp[MP_LNPFULL] = math.log(mp[MP_PFULL])
    mp[MP_EBAR] = math.exp(-mp[MP_ETA] * lnpbar)
    mp[MP_PBAR] = math.exp(lnpbar)
    top = level_price(U_TOP, mp)
    mp[MP_LNPTOP] = top
    mp[MP_ETOP] = math.exp(-mp[MP_ETA] * top)
    mp[MP_PTOP] = math.exp(top)
    mp[MP_UBAR] = price_level(lnpbar, mp)
    mp[MP_UREF] = price_level(0.0, mp)
    mp[MP_UBUY] = price_level(BUY_BAND, mp)
    mp[MP_UFULL] = price_level(mp[MP_LNPFULL], mp)


@jit_inline
def derive_month(mp):
    """mp's slots that follow from the month's demand elasticity MP_EPS (after
    derive_material): p^-eps at the choke price and at the floor."""
    mp[MP_DBAR] = math.exp(-mp[MP_EPS] * mp[MP_LNPBAR])
    top = mp[MP_LNPTOP]
    mp[MP_DTOP] = math.exp(-mp[MP_EPS] * top) if top > 0.0 else 1.0


@jit
def derive(mp):
    """Every derived slot of mp (derive_material, derive_month): for callers that set
    mp's settings themselves (the entry points called from Python, tests). Returns
    STATUS_SHORT_MP, writing nothing, where mp has fewer than N_MP slots, else 0."""
    if mp.shape[0] < N_MP:
        return STATUS_SHORT_MP
    derive_material(mp)
    derive_month(mp)
    return 0


@jit_internal
def level_price(u, mp):
    """Log price at level u >= 1 (choke price at 1, floor at 2)."""
    return mp[MP_LNPBAR] - (u - 1.0) * (mp[MP_LNPBAR] - mp[MP_LNPMIN])


@jit_internal
def price_level(lnp, mp):
    """The level of log price lnp (the inverse of level_price)."""
    return 1.0 + (mp[MP_LNPBAR] - lnp) / (mp[MP_LNPBAR] - mp[MP_LNPMIN])


@jit_inline
def free_demand(zq, z, u, mp):
    """Free supply zone z takes at level u, D_z(u), and dD_z/du."""
    if u <= 1.0:
        return _rationed_demand(zq, z, u)
    q, dq = net_demand(zq, z, level_price(u, mp), mp)
    return _free_part(zq, z, q, dq, mp)


@jit_inline
def free_demand_at(zq, z, u, lnp, d, e, p, mp):
    """free_demand, from the log price of level u and its factors (price_terms; read
    only where u > 1): where several zones are evaluated at one level. (free_demand
    itself calls net_demand, not this: inlining curve_at wherever free_demand is made
    the first compile 1.3 s longer.)"""
    if u <= 1.0:
        return _rationed_demand(zq, z, u)
    q, dq, _ = curve_at(zq, z, lnp, d, e, p, mp)
    return _free_part(zq, z, q, dq, mp)


@jit_inline
def _rationed_demand(zq, z, u):
    """free_demand at a level u <= 1 (at the choke price, u of the zone's wants)."""
    v = u * zq[z, ZQ_W] - zq[z, ZQ_REL] - zq[z, ZQ_C]
    if v > 0.0:
        return v, zq[z, ZQ_W]
    return 0.0, 0.0


@jit_inline
def _free_part(zq, z, q, dq, mp):
    """free_demand at a level above 1 from the zone's net demand q there and its
    derivative dq in the log price: what contracts do not bring, and its derivative in
    the level."""
    v = q - zq[z, ZQ_C]
    if v > 0.0:
        return v, -dq * (mp[MP_LNPBAR] - mp[MP_LNPMIN])
    return 0.0, 0.0


@jit_inline
def level_terms(u, mp, want_p):
    """(log price, and its factors as price_terms gives them) of level u; only the log
    price where u <= 1 (the zones' wants there are linear in the level)."""
    if u <= 1.0:
        return mp[MP_LNPBAR], 1.0, 1.0, 1.0
    lnp = level_price(u, mp)
    d, e, p = price_terms(lnp, mp, want_p)
    return lnp, d, e, p


@jit_inline
def release_mask(zq, nz):
    """The zones (a bit set) with state stocks releasing into them: their demand reads
    the price itself, not only its powers (price_terms' ``want_p``)."""
    mask = 0
    for z in range(nz):
        if zq[z, ZQ_R] > 0.0:
            mask |= 1 << z
    return mask


@jit_inline
def free_demand_curve_at(zq, z, u, lnp, d, e, p, mp):
    """free_demand_at, and d2D_z/du2 (demand_curve): for the Halley steps of
    _solve_level_mask."""
    if u <= 1.0:
        v, dv = _rationed_demand(zq, z, u)  # linear in the level there
        return v, dv, 0.0
    span = mp[MP_LNPBAR] - mp[MP_LNPMIN]
    q, dq, d2q = curve_at(zq, z, lnp, d, e, p, mp)
    v = q - zq[z, ZQ_C]
    if v > 0.0:
        return v, -dq * span, d2q * span * span
    return 0.0, 0.0, 0.0


@jit_internal
def _solve_level(zq, mp, nz, sel, target, a, b):
    """The level u in [a, b] where the free demand of the zones selected by ``sel``
    reaches ``target``: safeguarded Newton steps on an increasing function."""
    x = b
    for _ in range(100):
        g = -target
        dg = 0.0
        for z in range(nz):
            if sel[z]:
                v, dv = free_demand(zq, z, x, mp)
                g += v
                dg += dv
        if g > 0.0:
            b = x
        elif g < 0.0:
            a = x
        else:
            return x
        xn = x - g / dg if dg > 0.0 else -1.0
        if not (a <= xn <= b):
            xn = 0.5 * (a + b)
        if abs(xn - x) <= 4e-16 * max(1.0, abs(x)):
            return min(x, xn) if g > 0.0 else x
        x = xn
    return a


ROUND_BITS = GALE_MAX_ZONES  # bits of one round's set in the hint of _fill_subsets


@jit
def clear_zones(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, slope, gcap, want_flows,
                f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i):
    """_clear_zones called from Python (allocate, tests, benchmarks); mp's derived slots
    are set first (derive)."""
    if gcap.shape[0] < GCAP_SIZE:
        return STATUS_SHORT_GCAP
    if derive(mp) != 0:
        return STATUS_SHORT_MP
    return _clear_zones(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, slope, gcap,
                        want_flows, f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i)


@jit_internal
def _clear_zones(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, slope, gcap, want_flows,
                 f, out_e, in_i, queue, par_e, par_i, seen_e, seen_i):
    """Progressive filling of nz zones from m exporter classes (free supply fsup[m]
    [t/month], caps cap[m, nz], np.inf = open). Every zone's wants at the choke price must
    be set (prepare_zone), and mp's derived slots (derive_material and derive_month, or
    derive: _fill_subsets and _solve_level_mask read them). Writes the level ulev[z] at
    which each zone froze; the free supply it takes is free_demand(zq, z, ulev[z], mp) up
    to rounding. With want_flows, f[m, nz] holds flows realising it. On entry ulev[z] may
    hold a guess of the level (where the last months' levels point): the root searches
    start there. On return dem[z] holds zone z's free demand at its level and slope[z]
    its derivative in the level there. cutz[nz], gcap[GCAP_SIZE] are
    workspace. Returns a status code (0 = ok).

    Up to GALE_MAX_ZONES zones (every shipped scenario), the level is found on Gale's
    condition over the subsets of zones, whose capacities are computed once; beyond that,
    by Newton steps on the min cuts a max flow names. Both give the same levels."""
    if nz <= GALE_MAX_ZONES:
        status = fill_gale(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)
        if want_flows:
            scale = 0.0
            for c in range(m):
                scale += fsup[c]
            for z in range(nz):
                dem[z] = free_demand(zq, z, ulev[z], mp)[0]
                scale += dem[z]
            max_flow(m, nz, fsup, dem, cap, f, out_e, in_i, queue, par_e, par_i, seen_e,
                     seen_i, 1e-13 * scale)
        return status
    status = _fill_cuts(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, f, out_e, in_i,
                        queue, par_e, par_i, seen_e, seen_i)
    for z in range(nz):
        dem[z], slope[z] = free_demand(zq, z, ulev[z], mp)
    return status


@jit_inline
def fill_gale(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap):
    """_clear_zones without flows, for nz <= GALE_MAX_ZONES: the filling on Gale's
    condition, and each zone's slope in the level at its level into slope[z]. Called
    directly by the month loop when it records no flows: half the arrays of
    _clear_zones to pass, and one call level less.

    The markets that occur most get a copy of the filling compiled for their shape (m
    exporter classes, nz zones as constants: the loops over the classes, the zones and
    the 2**nz - 1 sets unrolled or gone): one zone and one class, two zones and two
    classes, three zones and two classes: 97 % of the partner study's fillings (366 a
    draw, which took two fifths of the kernel's instructions), 11 % fewer instructions
    in the kernel (benchmarks/README.md, thirty-third session). The same operations in
    the same order: the same bits (tests/test_allocation.py). Each copy is a function of
    its own: inlined into the month loop, the three copies made the kernel's
    ahead-of-time build twice as long (141 s against 72 s; as functions: 91 s)."""
    if m == 1 and nz == 1:
        return _fill_gale_1_1(fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)
    if m == 2 and nz == 2:
        return _fill_gale_2_2(fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)
    if m == 2 and nz == 3:
        return _fill_gale_2_3(fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)
    return _fill_gale(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)


@jit_internal
def _fill_gale_1_1(fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap):
    return _fill_gale(1, 1, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)


@jit_internal
def _fill_gale_2_2(fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap):
    return _fill_gale(2, 2, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)


@jit_internal
def _fill_gale_2_3(fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap):
    return _fill_gale(2, 3, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap)


@jit_inline
def _fill_gale(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, slope, gcap):
    """fill_gale for any shape."""
    status = _fill_subsets(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, gcap)
    for z in range(nz):
        slope[z] = gcap[(1 << nz) + nz + z]
    return status


@jit
def fill_subsets(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, gcap):
    """_fill_subsets called from Python (tests), after derive(mp)."""
    if gcap.shape[0] < GCAP_SIZE:
        return STATUS_SHORT_GCAP
    if derive(mp) != 0:
        return STATUS_SHORT_MP
    return _fill_subsets(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, gcap)


@jit_inline
def _fill_subsets(m, nz, fsup, cap, zq, mp, ulev, frozen, dem, gcap):
    """Progressive filling on Gale's condition: the free demand of every set T of zones
    is at most what the exporter classes can send there, sum_c min(fsup[c], cap(c, T)).
    Each round, the level of the active zones rises to the lowest level at which some set
    becomes tight (a root per set that binds below the best so far); the active zones of
    the tight sets freeze there. On entry ulev[z] may hold a guess of zone z's level (last
    month's), where the root searches start, and gcap[0] the sets to try first in each
    round (those whose roots were the rounds' levels last month, 4 bits a round: round r
    in bits 4r .. 4r + 3). On return dem[z] holds each zone's free demand at its level
    and gcap[2**nz + nz + z] its slope there; gcap[0] this call's sets of each round;
    gcap[2**nz + 5 * nz + z] is the root searches' (_solve_level_mask);
    gcap[2**nz + 6 * nz + z], gcap[2**nz + 7 * nz + z] and gcap[2**nz + 8 * nz + z] the
    log price lnp of zone z's last evaluation above level 1 and the factors
    price_terms gave there, p^-eps (1 where lnp <= 0) and p^-eta (left as they were for a
    zone not evaluated: the caller sets lnp NaN before, and the month's accounting takes
    them where the zone's price is that lnp); gcap[t] the capacity of set t,
    gcap[2**nz + z] zone z's free demand at the best level so far;
    gcap[2**nz + 3 * nz + z] and gcap[2**nz + 4 * nz + z] its demand and slope at the
    floor."""
    n_sets = (1 << nz) - 1
    at = 1 << nz  # gcap[at + z]: free demand at the best level; gcap[at + nz + z]: slope
    scale = 0.0
    for c in range(m):
        scale += fsup[c]
    for z in range(nz):
        scale += zq[z, ZQ_W] + zq[z, ZQ_C]
        frozen[z] = False
        dem[z] = 0.0
    rmask = release_mask(zq, nz)
    tol = 1e-12 * scale
    # the capacity of every set: sum over the classes c of min(fsup[c], reach of c into
    # the set), the reach summed over the set's zones in ascending order, set by set from
    # the set without its highest zone (the same additions as zone by zone); the first
    # class's terms are set, not added to zeros (zeroing the sets first was a memset
    # call per filling)
    if m == 0:
        for t in range(1, n_sets + 1):
            gcap[t] = 0.0
    gcap[GCAP_REACH] = 0.0  # the empty set
    for c in range(m):
        hz = 0  # the highest zone of t
        for t in range(1, n_sets + 1):
            if t == 2 << hz:
                hz += 1
            reach = gcap[GCAP_REACH + t - (1 << hz)] + cap[c, hz]
            gcap[GCAP_REACH + t] = reach
            if c == 0:
                gcap[t] = min(fsup[c], reach)
            else:
                gcap[t] += min(fsup[c], reach)
    for z in range(nz):  # the demands at the floor, the same every round
        gcap[at + 3 * nz + z], gcap[at + 4 * nz + z] = free_demand_at(
            zq, z, U_TOP, mp[MP_LNPTOP], mp[MP_DTOP], mp[MP_ETOP], mp[MP_PTOP], mp)
    active = n_sets
    level = 0.0
    status = 0
    last = int(gcap[0])  # the sets whose roots were the rounds' levels last month
    bound = 0  # ... and this month
    rnd = 0
    while active:
        first = (last >> (ROUND_BITS * rnd)) & ((1 << ROUND_BITS) - 1)  # tried first
        if not (1 <= first <= n_sets):
            first = 1
        best = U_TOP
        solved = 0  # the set whose root is the best level
        for z in range(nz):
            if active & (1 << z):
                gcap[at + z] = gcap[at + 3 * nz + z]
                gcap[at + nz + z] = gcap[at + 4 * nz + z]
        for i in range(n_sets):
            t = first + i  # (first + i - 1) % n_sets + 1, without a division (first >= 1)
            if t > n_sets:
                t -= n_sets
            act = t & active
            if not act:
                continue
            target = gcap[t]
            g = -target
            hint = U_TOP
            for z in range(nz):
                if t & (1 << z):
                    if act & (1 << z):
                        g += gcap[at + z]
                        hint = min(hint, ulev[z])
                    else:
                        target -= dem[z]
                        g += dem[z]
            if g <= 0.0:
                continue  # this set does not bind below the best level so far
            best = _solve_level_mask(zq, mp, nz, act, target, level, best, hint, gcap, at,
                                     1e-3 * tol, rmask)
            solved = t
            rest = active & ~act
            if rest:
                lnp, d, e, p = level_terms(best, mp, (rest & rmask) != 0)
                seen = lnp if best > 1.0 else np.nan  # (level_terms' d, e: 1 below)
                for z in range(nz):
                    if rest & (1 << z):
                        gcap[at + z], gcap[at + nz + z] = free_demand_at(zq, z, best, lnp,
                                                                         d, e, p, mp)
                        gcap[at + 6 * nz + z] = seen
                        gcap[at + 7 * nz + z] = d
                        gcap[at + 8 * nz + z] = e
        tight = 0
        if best >= U_TOP:
            tight = active
        else:
            for t in range(1, n_sets + 1):
                act = t & active
                if not act:
                    continue
                g = -gcap[t]
                for z in range(nz):
                    if t & (1 << z):
                        g += gcap[at + z] if (act & (1 << z)) else dem[z]
                if g >= -tol:
                    tight |= act
            if not tight:
                # demand so steep in the level (a state release ramping over a narrow
                # price band) that the rounding of the level leaves more slack than the
                # tolerance: the set whose root this level is binds
                tight = solved & active
            if not tight:
                status = STATUS_NO_FREEZE
                tight = active
        for z in range(nz):
            if tight & (1 << z):
                frozen[z] = True
                ulev[z] = best
                dem[z] = gcap[at + z]
                gcap[at + 2 * nz + z] = gcap[at + nz + z]
        active &= ~tight
        level = best
        bound |= solved << (ROUND_BITS * rnd)
        rnd += 1
    gcap[0] = float(bound)
    for z in range(nz):
        gcap[at + nz + z] = gcap[at + 2 * nz + z]
    return status


@jit_internal
def _kink_before(x, xn, k):
    """xn, or the kink k when it lies strictly between x and xn."""
    if (x < k < xn) or (xn < k < x):
        return k
    return xn


SKIP_STEP = 1e-7  # a step of at most this (relative to the level) ...
SKIP_RESIDUAL = 1e7  # ... from a residual of at most this times the tolerance is taken
# without evaluating after it, where it crosses no kink of the curves: neither one common
# to all zones (_kink_between) nor a zone's own, where its free demand reaches zero (every
# zone's demand, extrapolated, must be positive at both ends). Why that is safe: on one
# smooth piece each term of a zone's net demand has |Q''| <= k |Q'| and |Q'''| <= k^2 |Q'|
# in the log price (k = eps, eta, or 1 for the state's release), and every Q' has the
# same sign, so in the level |g''| <= K g' and |g'''| <= K^2 g' with K = span max(1, eta)
# <= 2 ln 30 x 5.5 = 37 over the shipped market table. With g' |dx| about |g| <= 1e-8 of
# the market's scale, the Halley step's residual and the error of the demands taken to
# second order (slopes and curvatures) are at most (1/6 + 1/4) K^2 |g| dx^2, about 2e-19
# of the scale, against a tolerance of 1e-15 of it. (Slopes alone could be off by
# K |g| |dx| / 2, about 4e-14: hence the curvature term. Newton's steps with linear
# demands needed 1e-9 and 1e4. The wider window saves 12 % of the evaluations.)


@jit_internal
def _kink_between(x, xn, mp):
    """Whether a kink of the demand curves common to all zones (the choke price, the
    reference price, the top of the state's purchase band, the full-release price) lies
    between the levels x and xn (inclusive). Their levels are derived once a material
    (derive_material), not divided out at every check."""
    lo = min(x, xn)
    hi = max(x, xn)
    return ((lo <= mp[MP_UBAR] <= hi) or (lo <= mp[MP_UREF] <= hi)
            or (lo <= mp[MP_UBUY] <= hi) or (lo <= mp[MP_UFULL] <= hi))


@jit_internal
def _positive_along(gval, at, nz, mask, step):
    """Whether every zone of ``mask`` takes free supply (demand above zero) at the level
    and, by its slope and curvature, ``step`` away from it: then the step crosses no
    zone's kink."""
    for z in range(nz):
        if mask & (1 << z):
            v = gval[at + z]
            if not (v > 0.0 and v + _change_along(gval, at, nz, z, step) > 0.0):
                return False
    return True


@jit_inline
def _change_along(gval, at, nz, z, step):
    """How much zone z's free demand changes ``step`` away from the level last
    evaluated, to second order (its slope and curvature in gval): what a skipped
    evaluation takes and what _positive_along judges."""
    return (gval[at + nz + z] + 0.5 * gval[at + 5 * nz + z] * step) * step


@jit_inline
def _solve_level_mask(zq, mp, nz, mask, target, a, b, hint, gval, at, tol, rmask):
    """The level u in [a, b] where the free demand of the zones in ``mask`` (a bit set)
    reaches ``target``: safeguarded Halley steps on an increasing function g (Newton's
    step with the curvature, u - 2 g g' / (2 g'^2 - g g''), where that is at most twice
    Newton's step, else Newton's; bisection where g' <= 0; cubic convergence: from where
    the last months' levels point, 3.0 zone evaluations a root instead of Newton's 3.8
    in the partner study, 2.6 with the wider skip of the last evaluation), from
    ``hint`` when it lies in the bracket (else from the reference price's level when
    that does, else from b), until the residual is within ``tol`` or the step is at
    rounding, or until a step is so short that its error is far below ``tol``
    (SKIP_STEP): that step is taken without evaluating after it. Returns the level; the
    free demand and slope of the mask's zones there are left in gval[at + z] and
    gval[at + nz + z] (after a skipped evaluation: the demands from their slopes and
    curvatures, the slopes of the last level evaluated); gval[at + 5 * nz + z] holds
    the curvatures. ``rmask``: release_mask(zq, nz). The price's factors (price_terms)
    are computed once a level, for all the mask's zones, and left with its log price in
    gval[at + 6 * nz + z] .. gval[at + 8 * nz + z] (_fill_subsets)."""
    if a < hint < b:
        x = hint
    else:
        x = mp[MP_UREF]  # the reference price
        if not a < x < b:
            x = b
    a_seen = False  # whether a, b are levels evaluated (not the bracket given)
    b_seen = False
    want_p = (mask & rmask) != 0  # release_mask: zones whose demand reads the price
    for _ in range(100):
        g = -target
        dg = 0.0
        d2g = 0.0
        lnp, d, e, p = level_terms(x, mp, want_p)  # once for all the mask's zones
        seen = lnp if x > 1.0 else np.nan  # (level_terms' d, e: 1 below)
        for z in range(nz):
            if mask & (1 << z):
                v, dv, d2v = free_demand_curve_at(zq, z, x, lnp, d, e, p, mp)
                gval[at + z] = v
                gval[at + nz + z] = dv
                gval[at + 5 * nz + z] = d2v
                gval[at + 6 * nz + z] = seen
                gval[at + 7 * nz + z] = d
                gval[at + 8 * nz + z] = e
                g += v
                dg += dv
                d2g += d2v
        if g > 0.0:
            b = x
            b_seen = True
        elif g < 0.0:
            a = x
            a_seen = True
        if abs(g) <= tol:
            return x
        xn = -1.0
        if dg > 0.0:
            den = 2.0 * dg * dg - g * d2g
            # Halley's where it is at most twice Newton's step (den >= g'^2), else Newton's
            xn = x - 2.0 * g * dg / den if den >= dg * dg else x - g / dg
        if (not (a <= xn <= b) or (xn != x and ((xn == a and a_seen) or (xn == b and b_seen)))):
            # outside the bracket, or back on an end already evaluated (steps across a
            # zone's kink can alternate between the two ends forever): bisect
            xn = 0.5 * (a + b)
        elif (abs(g) <= SKIP_RESIDUAL * tol and abs(xn - x) <= SKIP_STEP * max(1.0, abs(x))
              and not _kink_between(x, xn, mp) and _positive_along(gval, at, nz, mask, xn - x)):
            # a step this short on one smooth piece leaves a residual far below tol (see
            # SKIP_STEP): take it, the demands there to second order, without evaluating
            for z in range(nz):
                if mask & (1 << z):
                    gval[at + z] += _change_along(gval, at, nz, z, xn - x)
            return xn
        if abs(xn - x) <= 4e-16 * max(1.0, abs(x)) or b - a <= 4e-16 * max(1.0, abs(b)):
            return x
        last = x
        x = xn
    return last  # the last level evaluated (gval holds its demands)


@jit
def fill_cuts(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, f, out_e, in_i, queue,
              par_e, par_i, seen_e, seen_i):
    """_fill_cuts called from Python (tests), after derive(mp)."""
    if derive(mp) != 0:
        return STATUS_SHORT_MP
    return _fill_cuts(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, f, out_e, in_i,
                      queue, par_e, par_i, seen_e, seen_i)


@jit_internal
def _fill_cuts(m, nz, fsup, cap, zq, mp, ulev, frozen, cutz, dem, f, out_e, in_i, queue,
               par_e, par_i, seen_e, seen_i):
    """Progressive filling by Newton steps on min cuts (any number of zones)."""
    scale = 0.0
    for c in range(m):
        scale += fsup[c]
    for z in range(nz):
        scale += zq[z, ZQ_W] + zq[z, ZQ_C]
    eps = 1e-13 * scale
    for z in range(nz):
        ulev[z] = 0.0
        frozen[z] = False
    nact = nz
    status = 0
    level = 0.0
    while nact > 0:
        hi = U_TOP
        have_cut = False
        for _ in range(100):
            total = 0.0
            for z in range(nz):
                dem[z] = free_demand(zq, z, ulev[z] if frozen[z] else hi, mp)[0]
                total += dem[z]
            flow = max_flow(m, nz, fsup, dem, cap, f, out_e, in_i, queue, par_e, par_i,
                            seen_e, seen_i, eps)
            if flow >= total - eps:
                break
            # the minimal min cut bounds the level: free demand behind it <= its capacity
            cut = 0.0
            for c in range(m):
                if not seen_e[c]:
                    cut += fsup[c]
                else:
                    for z in range(nz):
                        if not seen_i[z]:
                            cut += cap[c, z]
            fixed = 0.0
            nsel = 0
            for z in range(nz):
                if not seen_i[z]:
                    if frozen[z]:
                        fixed += dem[z]
                    else:
                        nsel += 1
            if nsel == 0:
                # only frozen zones behind the cut: they were frozen on a steep piece of
                # their curves (a state's purchase band), where one rounding step of the
                # level moves their demand by more than eps; short by that, it is not a
                # numerical failure
                if total - flow > FROZEN_SLACK * scale:
                    status = STATUS_NO_CUT
                    hi = level
                break
            for z in range(nz):
                cutz[z] = not seen_i[z] and not frozen[z]
            have_cut = True
            new = _solve_level(zq, mp, nz, cutz, cut - fixed, level, hi)
            if new < level:
                new = level
            if new >= hi:
                break  # rounding: the cut does not move the level, accept it
            hi = new
        level = hi
        nfrz = 0
        for z in range(nz):
            if not frozen[z] and (hi >= U_TOP or not seen_i[z]):
                frozen[z] = True
                ulev[z] = hi
                nfrz += 1
        if nfrz == 0 and have_cut and hi < U_TOP:
            # the level solves the last cut exactly, but demand so steep in the level
            # (a state release ramping over a narrow price band) leaves a slack above the
            # flow's tolerance: the zones of that cut bind, up to rounding
            for z in range(nz):
                if cutz[z] and not frozen[z]:
                    frozen[z] = True
                    ulev[z] = hi
                    nfrz += 1
        nact -= nfrz
        if nfrz == 0:
            status = STATUS_NO_FREEZE
            for z in range(nz):
                if not frozen[z]:
                    frozen[z] = True
                    ulev[z] = hi
            nact = 0
    return status


@jit
def _price_for(zq, z, x, mp):
    """The highest log price in [floor, choke] at which zone z's net demand still takes
    x (net demand decreases in the price; where it is flat, e.g. below the reference
    price in a zone without stocks, the highest such price), by safeguarded Newton steps;
    the floor when even there the zone takes less than x (the rest stays unsold)."""
    a = mp[MP_LNPMIN]  # the zone takes at least x here
    b = mp[MP_LNPBAR]  # ... and less than x here
    q, dq = net_demand(zq, z, a, mp)
    if q < x:
        return a
    q, dq = net_demand(zq, z, b, mp)
    if q >= x:
        return b
    # the kinks of the curve: the reference price, the top of the origin state's
    # purchase band, the full-release price (-inf: none)
    k_buy = BUY_BAND if zq[z, ZQ_G] > 0.0 else -np.inf
    k_full = math.log(mp[MP_PFULL]) if zq[z, ZQ_R] > 0.0 else -np.inf
    lnp = 0.0 if a < 0.0 < b else 0.5 * (a + b)
    for _ in range(200):
        q, dq = net_demand(zq, z, lnp, mp)
        if q >= x:
            a = lnp
            if lnp == 0.0 or lnp == k_buy or lnp == k_full:
                # at a kink the curve may fall below x right after it (e.g. a state
                # buying at the reference price and not above): try the next step up
                up = lnp + 4e-16 * max(1.0, abs(lnp))
                if up < b:
                    if net_demand(zq, z, up, mp)[0] < x:
                        return a
                    a = up
        else:
            b = lnp
        xn = lnp - (q - x) / dq if dq < 0.0 else 0.5 * (a + b)
        if not (a <= xn <= b) or abs(xn - lnp) <= 4e-16 * max(1.0, abs(lnp)):
            # a step at rounding (the iterate sits on the root from above, where Q is a
            # rounding error below x) would never shrink the bracket: bisect instead
            xn = 0.5 * (a + b)
        # never step across a kink: stop on it (Newton then works on one smooth piece)
        xn = _kink_before(lnp, xn, 0.0)
        xn = _kink_before(lnp, xn, k_buy)
        xn = _kink_before(lnp, xn, k_full)
        if b - a <= 4e-16 * max(1.0, abs(a)):
            return a
        lnp = xn
    return a


SNAP_LNP = 1e-12  # a log price this close to 0 is the reference price (rounding)


@jit
def zone_outcome(zq, z, u, y, slope, mp):
    """(log price, rho, buy) of zone z frozen at level u with free inflow y (and slope,
    the derivative of its free demand in the level there): rho = 1 when the zone clears,
    at the highest price at which its net demand takes its inflow; rho < 1 the share of
    its wants it gets at the choke price; buy the share of its purchase cap the origin's
    state bought at that price (before the snap). A log price within SNAP_LNP of 0 is 0:
    a market that clears at the reference price reports exactly 1."""
    lnp, rho = _outcome(zq, z, u, y, slope, mp)
    buy = buy_share(lnp)
    if abs(lnp) < SNAP_LNP:
        lnp = 0.0
    return lnp, rho, buy


@jit_internal
def _outcome(zq, z, u, y, slope, mp):
    if y > 0.0:
        if u < 1.0:
            return mp[MP_LNPBAR], u
        if slope > 0.0 and u < U_TOP:
            # demand strictly decreasing in the price there: the level's price is the price
            return level_price(u, mp), 1.0
        return _price_for(zq, z, zq[z, ZQ_C] + y, mp), 1.0
    c = zq[z, ZQ_C]
    w = zq[z, ZQ_W]
    if c + zq[z, ZQ_REL] >= w:
        if zq[z, ZQ_N] + zq[z, ZQ_X] <= 0.0 and zq[z, ZQ_T] <= 0.0 and c <= 0.0:
            # no user, no stock target and nothing arriving in this zone: no price to
            # form (a zone whose users all gave up their feed still prices what its
            # contracts bring, on what stock building and its state's purchases take:
            # _price_for, at the floor with the excess unsold where they take less)
            return 0.0, 1.0
        return _price_for(zq, z, c, mp), 1.0
    return mp[MP_LNPBAR], (c + zq[z, ZQ_REL]) / w


def allocate(supply, need, cap, offset=None, flows=False):
    """The max-min fair allocation of MODEL.md §3.3 from Python, through the zone market
    in its linear special case: each importer is a zone that takes ``offset + u · need``
    at level u <= 1 (the choke price is the reference price, no stocks). supply[ne],
    need[ni], cap[ne, ni] (np.inf = open route), optional offset[ni] (deliveries already
    fixed). Returns D[ni], or (D, F[ne, ni]) with ``flows=True``. For tests and for
    comparing with version 1."""
    import numpy as np

    supply = np.ascontiguousarray(supply, dtype=np.float64)
    need = np.ascontiguousarray(need, dtype=np.float64)
    cap = np.ascontiguousarray(cap, dtype=np.float64)
    off = np.zeros_like(need) if offset is None else np.ascontiguousarray(offset, np.float64)
    m, nz = supply.shape[0], need.shape[0]
    zq = np.zeros((nz, N_ZQ))
    zq[:, ZQ_N] = need
    zq[:, ZQ_C] = -off  # a negative contract inflow: the zone wants off more at every level
    mp = np.zeros(N_MP)
    mp[MP_EPS] = 1.0
    mp[MP_PFULL] = 2.0
    for z in range(nz):
        prepare_zone(zq, z, mp)
    ulev = np.zeros(nz)
    f = np.zeros((m, nz))
    status = clear_zones(m, nz, supply, cap, zq, mp, ulev, np.zeros(nz, dtype=np.bool_),
                         np.zeros(nz, dtype=np.bool_), np.zeros(nz), np.zeros(nz),
                         np.zeros(GCAP_SIZE), flows, f, np.zeros(m), np.zeros(nz),
                         np.zeros(m + nz + 2, dtype=np.int64), np.zeros(m, dtype=np.int64),
                         np.zeros(nz, dtype=np.int64), np.zeros(m, dtype=np.bool_),
                         np.zeros(nz, dtype=np.bool_))
    if status != 0:
        raise RuntimeError(f"allocation failed with status {status}")
    d = np.array([free_demand(zq, z, ulev[z], mp)[0] for z in range(nz)])
    return (d, f) if flows else d
