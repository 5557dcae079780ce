"""The zone market (simcore.kernel.market) in its linear special case, the max-min fair
allocation D* of MODEL.md §3.3, against an independent LP oracle (scipy.optimize.linprog:
maximum total delivery, then lexicographically max-min fair delivered fractions by
successive LPs) and the reference's subset water-filling; and in general (stocks,
contracts, state purchases and releases, the choke price) against the reference's
subset-and-bisection solver (tests/reference_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
from reference_model import fair_allocation
from scipy.optimize import linprog

from simcore.kernel.market import allocate


class LPOracle:
    """Successive LPs over edge flows f[e, i] (plus a level t as the last variable)."""

    def __init__(self, supply, w, cap, off):
        self.S, self.w, self.cap, self.off = supply, w, cap, off
        self.ne, self.ni = cap.shape
        self.nv = self.ne * self.ni
        self.bounds = [(0.0, None if np.isinf(c) else c) for c in cap.ravel()]

    def inflow_row(self, i):
        row = np.zeros(self.nv + 1)
        row[i:self.nv:self.ni] = 1.0
        return row

    def base(self):
        A, b = [], []
        for e in range(self.ne):
            row = np.zeros(self.nv + 1)
            row[e * self.ni:(e + 1) * self.ni] = 1.0
            A.append(row)
            b.append(self.S[e])
        for i in range(self.ni):
            A.append(self.inflow_row(i))
            b.append(self.off[i] + self.w[i])
        return A, b

    def solve(self, c, A, b, Aeq, beq, t_bounds):
        res = linprog(c, A_ub=np.array(A), b_ub=np.array(b),
                      A_eq=np.array(Aeq) if Aeq else None, b_eq=np.array(beq) if Aeq else None,
                      bounds=[*self.bounds, t_bounds], method="highs")
        assert res.status == 0, res.message
        return res

    def max_total(self):
        A, b = self.base()
        c = np.zeros(self.nv + 1)
        c[: self.nv] = -1.0
        return -self.solve(c, A, b, [], [], (0, 0)).fun

    def lexmaxmin(self):
        ni = self.ni
        value = {i: self.off[i] for i in range(ni) if self.w[i] <= 0}
        active = [i for i in range(ni) if self.w[i] > 0]
        while active:
            Aeq = [self.inflow_row(i) for i in value]
            beq = list(value.values())
            A, b = self.base()
            for i in active:  # off_i + t w_i <= inflow_i
                row = -self.inflow_row(i)
                row[self.nv] = self.w[i]
                A.append(row)
                b.append(-self.off[i])
            c = np.zeros(self.nv + 1)
            c[self.nv] = -1.0
            t = self.solve(c, A, b, Aeq, beq, (0.0, 1.0)).x[self.nv]
            blocked = []
            for i in active:
                A2, b2 = self.base()
                for j in active:
                    A2.append(-self.inflow_row(j))
                    b2.append(-(self.off[j] + t * self.w[j]) + 1e-9)
                c = -self.inflow_row(i)
                best = -self.solve(c, A2, b2, Aeq, beq, (0, 0)).fun
                if best <= self.off[i] + t * self.w[i] + 1e-7 * (1 + self.w[i]):
                    blocked.append(i)
            if t >= 1 - 1e-12 or not blocked:
                blocked = list(active)
            for i in blocked:
                value[i] = self.off[i] + t * self.w[i]
                active.remove(i)
        return np.array([value[i] for i in range(ni)])


def random_instance(rng):
    ne = int(rng.integers(1, 5))
    ni = int(rng.integers(1, 6))
    supply = rng.uniform(0, 10, ne) * (rng.random(ne) > 0.15)  # some zero supplies
    w = rng.uniform(0, 10, ni) * (rng.random(ni) > 0.15)  # some zero needs
    cap = np.full((ne, ni), np.inf)
    mask = rng.random((ne, ni)) < rng.uniform(0.2, 1.0)
    cap[mask] = rng.uniform(0, 6, mask.sum()) * (rng.random(mask.sum()) > 0.25)
    if rng.random() < 0.2:  # an isolated importer: every route to it closed
        cap[:, rng.integers(ni)] = 0.0
    return supply, w, cap


def check_flows(supply, w, cap, off, D, F, tol=1e-9):
    scale = 1.0 + supply.sum() + w.sum()
    assert (F >= -tol * scale).all()
    assert (F <= np.where(np.isinf(cap), np.inf, cap) + tol * scale).all()
    assert (F.sum(axis=1) <= supply + tol * scale).all()
    np.testing.assert_allclose(F.sum(axis=0), D, atol=tol * scale)
    assert (D <= off + w + tol * scale).all() and (D >= off - tol * scale).all()


def test_allocation_matches_lp_on_1000_random_instances():
    rng = np.random.default_rng(20261127)
    for _ in range(1000):
        supply, w, cap = random_instance(rng)
        off = np.zeros_like(w)
        D, F = allocate(supply, w, cap, flows=True)
        oracle = LPOracle(supply, w, cap, off)
        scale = 1.0 + supply.sum() + w.sum()
        np.testing.assert_allclose(D, oracle.lexmaxmin(), atol=1e-7 * scale)
        assert D.sum() == pytest.approx(oracle.max_total(), abs=1e-9 * scale)
        check_flows(supply, w, cap, off, D, F)


def test_allocation_with_offsets_matches_subset_enumeration():
    """Fixed deliveries plus fair extra shares (the linear case with offsets); checked
    against the reference's exact subset water-filling to 1e-9."""
    rng = np.random.default_rng(5)
    for _ in range(400):
        supply, w, cap = random_instance(rng)
        base = fair_allocation(supply, rng.uniform(0, 10, w.shape[0]), cap)
        D, F = allocate(supply, w, cap, offset=base, flows=True)
        expected = fair_allocation(supply, w, cap, off=base)
        scale = 1.0 + supply.sum() + w.sum() + base.sum()
        np.testing.assert_allclose(D, expected, rtol=1e-9, atol=1e-9 * scale)
        check_flows(supply, w, cap, base, D, F)


def test_allocation_matches_subset_enumeration_to_1e9():
    rng = np.random.default_rng(11)
    for _ in range(1000):
        supply, w, cap = random_instance(rng)
        scale = 1.0 + supply.sum() + w.sum()
        np.testing.assert_allclose(allocate(supply, w, cap), fair_allocation(supply, w, cap),
                                   rtol=1e-9, atol=1e-9 * scale)


def test_known_answers():
    inf = np.inf
    # open market, shortfall shared pro rata
    np.testing.assert_allclose(allocate([6.0], [4.0, 4.0], [[inf, inf]]), [3.0, 3.0])
    # capped route: the capped importer gets its cap, the other the rest
    np.testing.assert_allclose(allocate([10.0], [8.0, 8.0], [[1.0, inf]]), [1.0, 8.0])
    # a restricted exporter and a free one: the target fills from the free one first
    D = allocate([10.0, 4.0], [6.0, 6.0], [[0.0, inf], [inf, inf]])
    np.testing.assert_allclose(D, [4.0, 6.0])
    # zero need, zero supply, isolated importer
    np.testing.assert_allclose(allocate([0.0, 5.0], [0.0, 3.0, 2.0], [[inf, inf, inf],
                                                                      [inf, inf, 0.0]]),
                               [0.0, 3.0, 0.0])


def random_market(rng, zones=(1, 4), classes=(1, 4)):
    """A random zone market: exporter classes with free supply and caps, zones with
    need, stocks, state purchases and releases, contracts; the numbers of zones and of
    classes drawn from ``zones`` and ``classes`` (inclusive)."""
    m = int(rng.integers(classes[0], classes[1] + 1))
    nz = int(rng.integers(zones[0], zones[1] + 1))
    supply = rng.uniform(0, 10, m) * (rng.random(m) > 0.15)
    cap = np.full((m, nz), np.inf)
    for c in range(1, m):
        mask = rng.random(nz) < 0.6
        cap[c, mask] = rng.uniform(0, 5, mask.sum()) * (rng.random(mask.sum()) > 0.2)
    zones = []
    for _ in range(nz):
        need = rng.uniform(0, 10) * (rng.random() > 0.1)
        target = need * rng.uniform(0, 3) * (rng.random() > 0.2)
        zones.append(dict(
            need=need, extra=rng.uniform(0, 2) * (rng.random() < 0.3), target=target,
            stock=target * rng.uniform(0, 1.5), purchase=rng.uniform(0, 2) * (rng.random() < 0.2),
            release=rng.uniform(0, 3) * (rng.random() < 0.3),
            contract=need * rng.uniform(0, 0.8) * (rng.random() < 0.6)))
    params = dict(eps=rng.uniform(0.02, 0.6), eta=rng.uniform(0, 4), theta=rng.uniform(0.05, 1),
                  pbar=rng.uniform(1.5, 30), pfull=rng.uniform(1.01, 2))
    return supply, cap, zones, params


def kernel_market(zones, params):
    """The kernel's arrays of a random market: zq[nz, N_ZQ] (prepared) and mp[N_MP]."""
    from simcore.kernel import market as mk

    zq = np.zeros((len(zones), mk.N_ZQ))
    for z, q in enumerate(zones):
        zq[z, [mk.ZQ_N, mk.ZQ_X, mk.ZQ_T, mk.ZQ_I, mk.ZQ_G, mk.ZQ_R, mk.ZQ_C]] = (
            q["need"], q["extra"], q["target"], q["stock"], q["purchase"], q["release"],
            q["contract"])
    mp = np.zeros(mk.N_MP)
    mp[[mk.MP_EPS, mk.MP_ETA, mk.MP_THETA, mk.MP_PFULL]] = (
        params["eps"], params["eta"], params["theta"], params["pfull"])
    mp[mk.MP_LNPBAR] = np.log(params["pbar"])
    mp[mk.MP_LNPMIN] = -mp[mk.MP_LNPBAR]
    for z in range(len(zones)):
        mk.prepare_zone(zq, z, mp)
    return zq, mp


def solve_kernel(supply, cap, zones, params):
    from simcore.kernel import market as mk

    nz, m = len(zones), len(supply)
    zq, mp = kernel_market(zones, params)
    ulev = np.zeros(nz)
    f = np.zeros((m, nz))
    dem, slope = np.zeros(nz), np.zeros(nz)
    st = mk.clear_zones(m, nz, np.asarray(supply, float), cap, zq, mp, ulev,
                        np.zeros(nz, bool), np.zeros(nz, bool), dem, slope,
                        np.zeros(mk.GCAP_SIZE), True, f, np.zeros(m),
                        np.zeros(nz),
                        np.zeros(m + nz + 2, np.int64), np.zeros(m, np.int64),
                        np.zeros(nz, np.int64), np.zeros(m, bool), np.zeros(nz, bool))
    assert st == 0
    out = []
    for z in range(nz):
        y = mk.free_demand(zq, z, ulev[z], mp)[0]
        assert y == pytest.approx(dem[z], rel=1e-12, abs=1e-300)
        lnp, rho, _ = mk.zone_outcome(zq, z, ulev[z], y, slope[z], mp)
        out.append((y, np.exp(lnp), rho))
    return np.array(out), f


@pytest.mark.parametrize("span,cases,seed", [((1, 4), 400, 20261130), ((5, 7), 120, 5)],
                         ids=["subsets", "cuts"])
def test_zone_market_matches_reference_on_random_markets(span, cases, seed):
    """Free inflow, price and rationed share of every zone: the kernel's filling (Gale's
    condition over the sets of zones up to four zones, Newton steps on max-flow min cuts
    beyond) and the reference's subset enumeration with bisection agree to 1e-9; the
    flows respect supplies and caps and deliver each zone's free inflow."""
    from reference_model import _Zone, clear_market

    rng = np.random.default_rng(seed)
    for _ in range(cases):
        supply, cap, zones, par = random_market(rng, span)
        got, f = solve_kernel(supply, cap, zones, par)
        ref_zones = [_Zone(q["need"], q["extra"], q["target"], q["stock"], q["purchase"],
                           q["release"], q["contract"], par["eps"], par["eta"], par["theta"],
                           par["pbar"], par["pfull"]) for q in zones]
        level = clear_market(list(supply), [list(r) for r in cap], ref_zones)
        want = []
        for z, zn in enumerate(ref_zones):
            y = zn.free(level[z])
            want.append((y, *zn.outcome(level[z], y)))
        scale = 1.0 + sum(supply) + sum(q["need"] + q["target"] for q in zones)
        np.testing.assert_allclose(got[:, 0], np.array(want)[:, 0], rtol=1e-9,
                                   atol=1e-9 * scale)
        np.testing.assert_allclose(got[:, 1:], np.array(want)[:, 1:], rtol=1e-9, atol=1e-9)
        assert (f >= -1e-9 * scale).all() and (f.sum(axis=1) <= supply + 1e-9 * scale).all()
        assert (f <= cap + 1e-9 * scale).all()
        np.testing.assert_allclose(f.sum(axis=0), got[:, 0], atol=1e-9 * scale)


def test_a_release_never_raises_a_price():
    """More state release in one zone (or more stock) never raises any zone's price nor
    lowers any zone's consumption (MARKET.md invariants: a release lowers the price
    everywhere it reaches)."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        supply, cap, zones, par = random_market(rng)
        base, _ = solve_kernel(supply, cap, zones, par)
        z = int(rng.integers(len(zones)))
        more = [dict(q) for q in zones]
        more[z]["release"] += rng.uniform(0.1, 5)
        got, _ = solve_kernel(supply, cap, more, par)
        assert (got[:, 1] <= base[:, 1] * (1 + 1e-9)).all()
        assert (got[:, 2] >= base[:, 2] - 1e-9).all()


def test_subset_and_cut_fillings_agree():
    """The two exact fillings of simcore.kernel.market (Gale's condition over every set of
    zones, used up to four zones; Newton steps on max-flow min cuts, beyond) give the same
    levels on random markets of up to four zones."""
    from simcore.kernel import market as mk

    rng = np.random.default_rng(77)
    for _ in range(300):
        supply, cap, zones, par = random_market(rng)
        nz, m = len(zones), len(supply)
        zq, mp = kernel_market(zones, par)
        supply = np.asarray(supply, float)
        a, b = np.zeros(nz), np.zeros(nz)
        a[:] = rng.uniform(0, 2, nz)  # any guess of the levels: only where searches start
        assert mk.fill_subsets(m, nz, supply, cap, zq, mp, a, np.zeros(nz, bool),
                               np.zeros(nz), np.zeros(mk.GCAP_SIZE)) == 0
        assert mk.fill_cuts(m, nz, supply, cap, zq, mp, b, np.zeros(nz, bool),
                            np.zeros(nz, bool), np.zeros(nz), np.zeros((m, nz)), np.zeros(m),
                            np.zeros(nz), np.zeros(m + nz + 2, np.int64),
                            np.zeros(m, np.int64), np.zeros(nz, np.int64), np.zeros(m, bool),
                            np.zeros(nz, bool)) == 0
        ya = [mk.free_demand(zq, z, a[z], mp)[0] for z in range(nz)]
        yb = [mk.free_demand(zq, z, b[z], mp)[0] for z in range(nz)]
        scale = 1.0 + supply.sum() + zq[:, mk.ZQ_W].sum()
        np.testing.assert_allclose(ya, yb, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("m,nz", [(1, 1), (2, 2), (2, 3), (1, 2), (3, 3), (2, 4)])
def test_each_shape_fills_as_the_general_filling_bit_for_bit(m, nz):
    """The month loop's filling (fill_gale, through clear_zones without flows) runs a
    copy compiled for the shapes that occur most (one class and one zone, two classes
    and two or three zones) and the general one for the others: every shape gives the
    levels, demands, frozen zones, status and remembered sets of the general filling
    (fill_subsets) to the last bit, from the floor and from any guess of the levels."""
    from simcore.kernel import market as mk

    rng = np.random.default_rng(1000 * m + nz)
    for case in range(150):
        supply, cap, zones, par = random_market(rng, zones=(nz, nz), classes=(m, m))
        supply = np.asarray(supply, float)
        zq, mp = kernel_market(zones, par)
        guess = rng.uniform(0, 2, nz) if case % 2 else np.full(nz, mk.U_TOP)
        sets = float(rng.integers(0, 1 << 16)) if case % 3 else 0.0
        got = dict(u=guess.copy(), frozen=np.zeros(nz, bool), dem=np.zeros(nz),
                   gcap=np.zeros(mk.GCAP_SIZE))
        want = {k: v.copy() for k, v in got.items()}
        got["gcap"][0] = want["gcap"][0] = sets
        status = mk.clear_zones(m, nz, supply, cap, zq.copy(), mp.copy(), got["u"],
                                got["frozen"], np.zeros(nz, bool), got["dem"], np.zeros(nz),
                                got["gcap"], False, np.zeros((m, nz)), np.zeros(m),
                                np.zeros(nz), np.zeros(m + nz + 2, np.int64),
                                np.zeros(m, np.int64), np.zeros(nz, np.int64),
                                np.zeros(m, bool), np.zeros(nz, bool))
        assert status == mk.fill_subsets(m, nz, supply, cap, zq.copy(), mp.copy(), want["u"],
                                         want["frozen"], want["dem"], want["gcap"])
        for key in ("u", "frozen", "dem"):
            np.testing.assert_array_equal(got[key].view(np.uint8), want[key].view(np.uint8),
                                          err_msg=f"{key}, case {case}")
        assert got["gcap"][0] == want["gcap"][0]


def _fill_with(market, sets):
    """fill_subsets of market = (m, nz, supply, cap, zq, mp) from the floor, given the
    remembered sets: the levels and the sets it returns."""
    from simcore.kernel import market as mk

    m, nz, supply, cap, zq, mp = market
    u, gcap = np.full(nz, mk.U_TOP), np.zeros(mk.GCAP_SIZE)
    gcap[0] = sets
    assert mk.fill_subsets(m, nz, supply, cap, zq, mp, u, np.zeros(nz, bool), np.zeros(nz),
                           gcap) == 0
    return u, int(gcap[0])


def test_subset_filling_remembers_each_rounds_binding_set():
    """_fill_subsets returns in gcap[0] the set whose root was each round's level (4 bits
    a round: the zones it freezes anew share that level, the rounds' levels rise) and
    solves those sets first when given them back the next month; the sets it is given,
    right, wrong or garbage, move no level beyond rounding."""
    from simcore.kernel import market as mk

    rng = np.random.default_rng(91)
    rounds_seen = 0
    for _ in range(300):
        supply, cap, zones, par = random_market(rng, zones=(2, 4))
        nz, m = len(zones), len(supply)
        zq, mp = kernel_market(zones, par)
        supply = np.asarray(supply, float)
        market = (m, nz, supply, cap, zq, mp)
        levels, code = _fill_with(market, 0.0)
        frozen, previous, r = 0, -1.0, 0
        while code >> (mk.ROUND_BITS * r):
            t = (code >> (mk.ROUND_BITS * r)) & ((1 << mk.ROUND_BITS) - 1)
            new = [z for z in range(nz) if t >> z & 1 and not frozen >> z & 1]
            assert 1 <= t < 1 << nz and new, (code, r)
            level = levels[new[0]]
            assert all(levels[z] == level for z in new) and previous < level < mk.U_TOP
            frozen |= sum(1 << z for z in range(nz) if levels[z] == level)
            previous, r = level, r + 1
        # every level below the floor is some round's: no round's set went unrecorded
        assert {levels[z] for z in range(nz) if levels[z] < mk.U_TOP} == {
            levels[z] for z in range(nz) if frozen >> z & 1}
        rounds_seen += r > 1
        scale = 1.0 + supply.sum() + zq[:, mk.ZQ_W].sum()
        for sets in (code, 0xFFFF, float(rng.integers(0, 1 << 16))):
            again, _ = _fill_with(market, float(sets))
            np.testing.assert_allclose(
                [mk.free_demand(zq, z, again[z], mp)[0] for z in range(nz)],
                [mk.free_demand(zq, z, levels[z], mp)[0] for z in range(nz)],
                rtol=1e-9, atol=1e-9 * scale)
    assert rounds_seen > 30  # markets where more than one round binds were drawn


def test_a_zone_price_root_reached_from_above_is_found():
    """Regression (random case 3188 of the engine-reference comparison): a zone living
    on its contracts, with a state stock that releases 42 t over the prices 1-1.012. The
    Newton iterate lands on the root from above, where the net demand is a rounding error
    (9e-16 t) below the contracts; the steps that followed moved by a few ulps and never
    shrank the bracket, so after 200 of them the search returned its lower end, the
    reference price, instead of the root at ln p = 3.35e-4 (shortage off by 3 %)."""
    from simcore.kernel import market as mk

    zq = np.zeros((1, mk.N_ZQ))
    zq[0, mk.ZQ_N] = 5.0254542823058825
    zq[0, mk.ZQ_T] = 5.3441063964758975
    zq[0, mk.ZQ_I] = 5.34274149708367
    zq[0, mk.ZQ_R] = 42.06592852101574
    zq[0, mk.ZQ_C] = 3.8566928694757325
    mp = np.zeros(mk.N_MP)
    mp[mk.MP_EPS] = 0.1485778337818191
    mp[mk.MP_ETA] = 2.268368638535298
    mp[mk.MP_THETA] = 0.3807085331312496
    mp[mk.MP_LNPBAR] = 1.0514514149715335
    mp[mk.MP_LNPMIN] = -1.0514514149715335
    mp[mk.MP_PFULL] = 1.012089624992909
    mk.prepare_zone(zq, 0, mp)
    lnp = mk._price_for(zq, 0, zq[0, mk.ZQ_C], mp)
    q, _ = mk.net_demand(zq, 0, lnp, mp)
    assert lnp == pytest.approx(3.3547489651e-4, rel=1e-9)
    assert q >= zq[0, mk.ZQ_C]  # the highest price at which the zone still takes it
    q_above, _ = mk.net_demand(zq, 0, lnp * (1 + 1e-12), mp)
    assert q_above < zq[0, mk.ZQ_C]


def test_a_skipped_newton_evaluation_never_crosses_a_zone_reaching_zero():
    """Regression (review of the skipped final evaluation in _solve_level_mask): the
    search may take a last, tiny Newton step without evaluating, the demands there from
    their slopes. Where one zone's free demand is zero at the last level and turns
    positive within that step (here a state buying inside its purchase band, half of it
    covered by contracts), the linear step is wrong by the whole step: the level came
    back 5e-10 off and its true demand 1.7e-3 above the target. The level must be the
    root, and the demands left in gval the true ones there."""
    import math

    import numba

    from simcore.kernel import market as mk

    @numba.njit
    def solve(zq, mp, mask, target, hint, gval, tol):
        return mk._solve_level_mask(zq, mp, 2, mask, target, 0.0, mk.U_TOP, hint, gval, 4,
                                    tol, mk.release_mask(zq, 2))

    mp = np.zeros(mk.N_MP)
    mp[mk.MP_EPS] = 0.3
    mp[mk.MP_LNPBAR] = math.log(5.0)
    mp[mk.MP_LNPMIN] = -math.log(5.0)
    mp[mk.MP_PFULL] = 2.0
    mk.derive(mp)  # the slots that follow from these (the kernel's month loop sets them)
    span = 2 * math.log(5.0)
    zq = np.zeros((2, mk.N_ZQ))
    zq[0, mk.ZQ_N] = 0.01  # plain buyers, a gentle slope
    zq[1, mk.ZQ_G] = 1.0  # the origin's state, buying in its band ...
    zq[1, mk.ZQ_C] = 0.5  # ... half of it covered by contracts
    for z in range(2):
        mk.prepare_zone(zq, z, mp)
    u0 = 1 + (mp[mk.MP_LNPBAR] - mk.BUY_BAND / 2) / span  # zone 1 reaches zero here
    target = mk.free_demand(zq, 0, u0, mp)[0] + 5e-12

    def g(u):
        return sum(mk.free_demand(zq, z, u, mp)[0] for z in range(2)) - target

    lo, hi = u0 - 1e-9, u0 + 1e-9
    assert g(lo) < 0 < g(hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if g(mid) > 0 else (mid, hi)
    for hint in (u0 - 1e-12, 1.9):
        gval = np.zeros(mk.GCAP_SIZE)
        got = solve(zq, mp, 3, target, hint, gval, 1e-15)
        assert abs(got - lo) <= 1e-13
        for z in range(2):
            assert gval[4 + z] == pytest.approx(mk.free_demand(zq, z, got, mp)[0], abs=1e-12)


def test_a_skipped_halley_evaluation_leaves_true_demands_on_the_steepest_curves():
    """The search takes its last short step without evaluating (a step up to 1e-7 of the
    level from a residual up to 1e7 times the tolerance), the demands there from their
    slopes and curvatures. On the steepest curves the shipped market table allows (choke
    price 30, inventory release 5.5, elasticity up to 0.68, state stocks releasing over a
    narrow band above the reference price) and roots anywhere from the choke price to
    the floor, from hints close enough for the skip to act: the level's true residual and
    the demands left in gval must be within the tolerance of the truth. (Demands left at
    the last level evaluated fail this; on these curves the slopes alone would pass: the
    curvature term is a margin for steeper ones.)"""
    import math

    import numba

    from simcore.kernel import market as mk

    @numba.njit
    def solve(zq, mp, nz, mask, target, hint, gval, tol):
        return mk._solve_level_mask(zq, mp, nz, mask, target, 0.0, mk.U_TOP, hint, gval,
                                    1 << nz, tol, mk.release_mask(zq, nz))

    rng = np.random.default_rng(11)
    skipped = 0
    for case in range(400):
        nz = int(rng.integers(1, 4))
        mp = np.zeros(mk.N_MP)
        mp[mk.MP_EPS] = rng.uniform(0.03, 0.68)
        mp[mk.MP_ETA] = rng.uniform(0.9, 5.5)
        mp[mk.MP_THETA] = rng.uniform(0.2, 0.9)
        mp[mk.MP_LNPBAR] = math.log(rng.uniform(8.8, 30.0))
        mp[mk.MP_LNPMIN] = -mp[mk.MP_LNPBAR]
        mp[mk.MP_PFULL] = rng.uniform(1.01, 2.0)
        mk.derive(mp)
        zq = np.zeros((nz, mk.N_ZQ))
        zq[:, mk.ZQ_N] = rng.uniform(1.0, 100.0, nz)
        zq[:, mk.ZQ_T] = zq[:, mk.ZQ_N] * rng.uniform(0.1, 0.8, nz)
        zq[:, mk.ZQ_I] = zq[:, mk.ZQ_T] * rng.uniform(0.5, 1.2, nz)
        zq[:, mk.ZQ_R] = np.where(rng.random(nz) < 0.5, rng.uniform(0.0, 50.0, nz), 0.0)
        zq[:, mk.ZQ_C] = zq[:, mk.ZQ_N] * rng.uniform(0.0, 0.5, nz)
        for z in range(nz):
            mk.prepare_zone(zq, z, mp)
        mask = (1 << nz) - 1
        root = rng.uniform(1.0, 2.0)
        target = sum(mk.free_demand(zq, z, root, mp)[0] for z in range(nz))
        if target <= 0.0:
            continue
        scale = target + (zq[:, mk.ZQ_W] + zq[:, mk.ZQ_C]).sum()
        tol = 1e-15 * scale
        for offset in (1e-4, 1e-6, 1e-8):
            gval = np.zeros(mk.GCAP_SIZE)
            got = solve(zq, mp, nz, mask, target, root - offset, gval, tol)
            true = [mk.free_demand(zq, z, got, mp)[0] for z in range(nz)]
            # plus rounding: of the evaluation itself (a few units in the last place of
            # demands that the steep stock terms make large near the floor), and of the
            # level (one unit in its last place moves a steep demand by more than tol)
            at = 1 << nz
            ulp = [2.0 * abs(gval[at + nz + z]) * np.spacing(got) + 1e-15 * true[z]
                   for z in range(nz)]
            assert abs(sum(true) - target) <= 2 * tol + sum(ulp), (case, offset)
            for z in range(nz):
                assert abs(gval[at + z] - true[z]) <= tol + ulp[z], (case, offset, z)
            skipped += any(gval[at + z] != true[z] for z in range(nz))
    assert skipped > 100  # the skip acted (a check that can fail)


def test_cut_filling_accepts_the_rounding_of_steeply_frozen_zones():
    """Regression (hypothesis, test_engine_matches_reference seed 216063, 5 countries):
    with five zones the filling takes Newton steps on min cuts. A zone whose state buys
    in its narrow purchase band froze on that steep piece, where one rounding step of the
    level moves its demand by 7e-10 t, more than the flow's tolerance (8e-12): the last
    cut then held only frozen zones, 3.5e-9 t short, and the kernel stopped with
    STATUS_NO_CUT. Such a shortfall is rounding; the market must clear, every zone within
    1e-9 of the scale of what its capacities allow."""
    from simcore.kernel import market as mk

    inf = np.inf
    fsup = np.array([20.33187487924659, 19.984091804971502, 17.381476188118164])
    cap = np.array([[inf, inf, inf, inf, inf],
                    [5.8155292745795455, inf, 5.706861910763855, 8.089863276062372, 0.0],
                    [1.9053874710663188, 0.0, 0.0, 3.191142995297224, inf]])
    zq = np.array([
        [25.454769578489753, 0.0, 102.37870380408486, 64.51035280673702, 0.0,
         15.041951273668703, 0.0, 11.496595646070483, 39.05603964929974],
        [0.0, 0.0, 0.0, 0.0, 0.5388717122149256, 13.27731953789742, 0.0, 0.0,
         13.27731953789742],
        [6.6948049586131315, 0.0, 26.92640574767434, 18.084831737404105, 0.0,
         11.975602018175781, 0.0, 3.02369523719921, 18.70783809489558],
        [15.624482376587917, 0.0, 62.84143521285587, 39.59732840748556, 0.0,
         16.31447003328333, 0.0, 7.056766139992028, 31.05464277214547],
        [9.037969430485337, 0.0, 36.350578325248, 30.690959272160114, 6.3301685832273185,
         14.46882065881347, 0.0, 4.08198077312946, 25.894465011073358]])
    mp = np.zeros(mk.N_MP)  # the settings; clear_zones derives the rest
    mp[:mk.MP_LNPFULL] = [0.3179460242181891, 3.423604839847147, 0.372365062728802,
                          2.4999594707588724, -2.4999594707588724, 1.4756037955766554]
    m, nz = cap.shape
    ulev, dem, slope = np.zeros(nz), np.zeros(nz), np.zeros(nz)
    f = np.zeros((m, nz))
    status = mk.clear_zones(m, nz, fsup, cap, zq, mp, ulev, np.zeros(nz, dtype=np.bool_),
                            np.zeros(nz, dtype=np.bool_), dem, slope,
                            np.zeros(mk.GCAP_SIZE), True, f, np.zeros(m),
                            np.zeros(nz), np.zeros(m + nz + 2, dtype=np.int64),
                            np.zeros(m, dtype=np.int64), np.zeros(nz, dtype=np.int64),
                            np.zeros(m, dtype=np.bool_), np.zeros(nz, dtype=np.bool_))
    assert status == 0
    scale = fsup.sum() + (zq[:, mk.ZQ_W] + zq[:, mk.ZQ_C]).sum()
    np.testing.assert_allclose(f.sum(axis=0), dem, atol=1e-9 * scale)  # flows deliver it
    assert (f.sum(axis=1) <= fsup + 1e-9 * scale).all()
    assert (f <= cap + 1e-9 * scale).all()


def test_an_entry_point_refuses_arrays_too_short_for_the_kernels_layout():
    """The entry points called from Python write mp's derived slots (derive) before they
    fill: an mp of the settings alone (the layout before the slots existed) is refused
    with STATUS_SHORT_MP, nothing written past its end or into it; a workspace gcap of the
    old length (without the classes' reach) with STATUS_SHORT_GCAP; the same market with
    full-length arrays fills."""
    from simcore.kernel import market as mk

    rng = np.random.default_rng(5)
    supply, cap, zones, par = random_market(rng, zones=(2, 3))
    zq, mp = kernel_market(zones, par)
    nz, m = len(zones), len(supply)
    short = mp[:mk.MP_LNPFULL].copy()
    before = short.copy()

    def fill(settings, gcap_size=mk.GCAP_SIZE):
        return mk.fill_subsets(m, nz, supply, cap, zq, settings, np.full(nz, mk.U_TOP),
                               np.zeros(nz, bool), np.zeros(nz), np.zeros(gcap_size))

    assert fill(short) == mk.STATUS_SHORT_MP
    np.testing.assert_array_equal(short, before)
    assert fill(mp, mk.GCAP_REACH) == mk.STATUS_SHORT_GCAP
    assert fill(mp) == 0
    assert mp[mk.MP_PBAR] == pytest.approx(np.exp(mp[mk.MP_LNPBAR]), rel=1e-15)  # derived
