"""The invariants of docs/model.md §5 (MARKET.md "Invariants that still hold"), each on
random small tensors (hypothesis) or a constructed case, through the engine's trace."""

from __future__ import annotations

import dataclasses

import numpy as np
from builders import Capacity, Event, Response, Stockpile, make_scenario, make_tensor, random_tensor
from hypothesis import given, settings
from hypothesis import strategies as st

from simcore import engine
from simcore.kernel import model as km

SEEDS = st.integers(0, 2**32 - 1)


def run(tensor, scenario, draws=16, seed=3, **kw):
    return next(iter(engine.simulate(tensor, scenario, draws=draws, seed=seed, threads=1,
                                     timeseries=True, zone_series=True, **kw)))


def disruptive_scenario(rng, tensor, n_events=3, horizon=8, probability=1.0, **market):
    n_k, n_s, n_c = tensor.shape
    events = []
    for e in range(n_events):
        k, s = int(rng.integers(n_k)), int(rng.integers(n_s))
        origin = int(np.argmax(tensor.flow[k, s].sum(axis=1)))
        kind = "export_restriction" if rng.random() < 0.7 else "production_outage"
        events.append(Event(
            f"e{e}", origin, {k: s}, kind=kind, probability=probability,
            onset=("uniform", 0, horizon - 2), duration=("uniform", 1, 10),
            severity=("uniform", 0.3, 1.0), leakage=("uniform", 0, 0.3),
            lead=("uniform", 0, 2) if rng.random() < 0.4 else None,
            re_export=bool(rng.random() < 0.3),
            targets=None if rng.random() < 0.5 else [int(rng.integers(n_c))],
        ))
    resp = Response(reroute_lag=("uniform", 0, 3), spare_ramp=("uniform", 0, 3),
                    spare_usable=("uniform", 0, 1), substitution_max=("uniform", 0, 0.3),
                    substitution_months=3.0, elasticity=None, market=market)
    return make_scenario(tensor, events, response=resp, horizon=horizon,
                         stockpiles=[Stockpile("sp", {(0, 1): (50.0, 5.0)},
                                               reserved=bool(rng.random() < 0.5))],
                         capacity=[Capacity("cap", 0, n_s - 1, 1, 100.0, online=2.0)])


@settings(max_examples=15, deadline=None)
@given(SEEDS)
def test_no_event_no_shortage_price_one(seed):
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=2, n_s=2, n_c=4)
    scenario = disruptive_scenario(rng, tensor, probability=0.0)
    chunk = run(tensor, scenario)
    assert not chunk.fired.any()
    assert (chunk.shortage_t == 0).all() and (chunk.series == 0).all()
    assert (chunk.price_peak == 1).all() and (chunk.price_mean == 1).all()
    assert (chunk.zone_price_peak == 1).all() and (chunk.zone_series == 1).all()
    assert (chunk.months_short == 0).all() and (chunk.first_short == -1).all()
    assert (engine.row_histogram(chunk)[:, :, 0] == 16).all()
    assert (chunk.zone_hist[:, :, 0] == 16).all()
    for name in ("restocked_t", "commercial_drawn_t", "stock_drawn_t"):
        assert (getattr(chunk, name) == 0).all()
    # the market delivers every row's whole need, month after month
    need = engine.exposures(tensor, scenario).need_t
    np.testing.assert_allclose(chunk.bought_t, np.broadcast_to(need, chunk.bought_t.shape),
                               rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(SEEDS)
def test_a_restriction_that_binds_nothing_keeps_the_baseline(seed):
    """An event in force that stops nothing (severity 0, no precaution, no announcement):
    every month is computed, and the market clears exactly at the baseline: prices 1,
    no shortage, stocks at their targets (the equilibrium reproduces the tensor)."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=2, n_c=5)
    origin = int(np.argmax(tensor.production[0, 1]))
    ev = Event("nil", origin, {0: 1}, severity=0.0, onset=0.0, duration=100.0)
    scenario = make_scenario(tensor, [ev], horizon=6, response=Response(
        reroute_lag=2.0, elasticity=None, market={"precautionary_weeks": 0.0}))
    out = engine.trace(tensor, scenario, draws=4, seed=seed % 1000)
    tr, zt = out["trace"], out["zone_trace"]
    assert np.abs(tr[..., km.TR_SHORTAGE]).max() < 1e-9 * tensor.flow.sum()
    np.testing.assert_allclose(zt[..., km.TZ_PRICE], 1.0, rtol=1e-12)
    np.testing.assert_allclose(zt[..., km.TZ_RESTOCKED], 0.0, atol=1e-9 * tensor.flow.sum())
    np.testing.assert_allclose(zt[..., km.TZ_RELEASED], 0.0, atol=1e-9 * tensor.flow.sum())


@settings(max_examples=10, deadline=None)
@given(SEEDS, st.integers(1, 2))
def test_accounting_identity_over_the_horizon(seed, n_s):
    """The stored columns add up per row over the whole horizon, months not computed
    (before the first announced or disrupted month, or a material no fired event
    touches) included: need = bought - restocked + commercial drawn + state drawn +
    substituted + given up + rationed, and shortage = given up + rationed."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=2, n_s=n_s, n_c=5)
    scenario = disruptive_scenario(rng, tensor, n_events=3)
    chunk = next(iter(engine.simulate(tensor, scenario, draws=24, seed=seed % 1000)))
    need = engine.exposures(tensor, scenario).need_t
    used = (chunk.bought_t - chunk.restocked_t + chunk.commercial_drawn_t
            + chunk.stock_drawn_t)
    total = used + chunk.substituted_t + chunk.demand_given_up_t + chunk.rationed_t
    scale = 1e-9 * (1 + tensor.flow.sum())
    np.testing.assert_allclose(total, np.broadcast_to(need, total.shape), atol=scale)
    np.testing.assert_allclose(chunk.shortage_t, chunk.demand_given_up_t + chunk.rationed_t,
                               atol=scale)


@settings(max_examples=15, deadline=None)
@given(SEEDS, st.integers(1, 2))
def test_accounting_identity_mass_and_caps(seed, n_s):
    """Per row and month: need = used + substituted + given up + rationed and used =
    bought - restocked + commercial drawn + state drawn, every term >= 0; per zone and
    month: inflow + releases = consumption + restocking + state purchases (+ unsold at
    the floor); no capped route carries more than its cap; the state stock a holder draws
    never exceeds what it held."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=2, n_s=n_s, n_c=5)
    scenario = disruptive_scenario(rng, tensor, n_events=4)
    out = engine.trace(tensor, scenario, draws=16, seed=seed % 1000)
    tr, zt = out["trace"], out["zone_trace"]
    scale = 1e-9 * (1 + tensor.flow.sum())
    t = {name: tr[..., getattr(km, "TR_" + name)] for name in (
        "NEED", "BOUGHT", "RESTOCKED", "CDRAWN", "SDRAWN", "SUBSTITUTED", "GIVEN_UP",
        "RATIONED", "SHORTAGE", "USED")}
    for name, values in t.items():
        assert (values >= -scale).all(), name
    np.testing.assert_allclose(t["USED"] + t["SUBSTITUTED"] + t["GIVEN_UP"] + t["RATIONED"],
                               t["NEED"], atol=scale)
    np.testing.assert_allclose(t["BOUGHT"] - t["RESTOCKED"] + t["CDRAWN"] + t["SDRAWN"],
                               t["USED"], atol=scale)
    np.testing.assert_allclose(t["GIVEN_UP"] + t["RATIONED"], t["SHORTAGE"], atol=scale)
    supply = zt[..., km.TZ_INFLOW] + zt[..., km.TZ_RELEASED] + zt[..., km.TZ_STATE_RELEASE]
    demand = (zt[..., km.TZ_CONSUMED] + zt[..., km.TZ_RESTOCKED] + zt[..., km.TZ_PURCHASE])
    at_floor = zt[..., km.TZ_PRICE] <= 1 / 90  # unsold supply stays with its sellers
    np.testing.assert_allclose(np.where(at_floor, 0, supply - demand), 0, atol=scale)
    assert (zt[..., km.TZ_EDGE_EXCESS] <= scale).all()
    assert (zt[..., km.TZ_STOCK] >= -scale).all()
    ex = engine.exposures(tensor, scenario)
    held = tensor.stock[ex.material, ex.country] + np.where(ex.material == 0, 50.0, 0.0) * (
        ex.country == 1)
    assert (t["SDRAWN"].sum(axis=2) <= held + scale).all()


@settings(max_examples=15, deadline=None)
@given(SEEDS)
def test_one_price_and_one_consumption_fraction_per_zone(seed):
    """Buyers of one zone pay one price and, without reserved stocks, consume the same
    fraction of need, every month."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=2, n_c=6)
    scenario = disruptive_scenario(rng, tensor, n_events=3)
    scenario = dataclasses.replace(scenario, sp_reserved=np.zeros(1, bool))
    out = engine.trace(tensor, scenario, draws=8, seed=seed % 1000)
    zones = engine.zones(tensor, scenario)
    ex = engine.exposures(tensor, scenario)
    zone_of = {}
    for g in range(len(zones)):
        for i in zones.members[g]:
            zone_of[(int(zones.material[g]), int(zones.stage[g]), i)] = g
    tr = out["trace"]
    used = tr[..., km.TR_USED] / tr[..., km.TR_NEED]
    price = tr[..., km.TR_PRICE]
    for g in range(len(zones)):
        xs = [x for x in range(len(ex)) if zone_of[(int(ex.material[x]), int(ex.stage[x]),
                                                    int(ex.country[x]))] == g]
        if len(xs) < 2:
            continue
        shape = price[:, xs].shape
        np.testing.assert_allclose(price[:, xs], np.broadcast_to(price[:, xs[:1]], shape),
                                   rtol=1e-12)
        np.testing.assert_allclose(used[:, xs], np.broadcast_to(used[:, xs[:1]], shape),
                                   rtol=1e-9)
        np.testing.assert_allclose(price[:, xs[0]], out["zone_trace"][:, g, :, km.TZ_PRICE],
                                   rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(SEEDS, st.integers(1, 2))
def test_a_zones_buyers_without_a_state_stock_share_every_result_per_unit_of_need(seed, n_s):
    """What results format 4 stores once per zone (Layout.stored_as, docs/results.md):
    every buyer of a price zone that holds no state stock of its own has its zone's first
    such buyer's shortage, accounting, peak share and months per unit of need, in every
    draw; holders (with reserved or selling stocks) and zone-less rows stand alone."""
    from simcore.results import Layout
    from simcore.results.writer import _SHARED_FIELDS, _check_shared

    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=2, n_s=n_s, n_c=6)
    scenario = disruptive_scenario(rng, tensor, n_events=3)
    chunk = run(tensor, scenario, draws=12, seed=seed % 1000)
    ex = engine.exposures(tensor, scenario)
    layout = Layout.from_exposures(tensor, scenario, ex, engine.zones(tensor, scenario))
    storage = layout.storage
    assert np.all(storage[storage] == storage)  # stored as an exposure stored as itself
    held = (np.asarray(tensor.stock) > 0) | (np.asarray(scenario.sp_stock) > 0).any(axis=0)
    for x in range(layout.n_exposures):
        k, s, i = int(ex.material[x]), int(ex.stage[x]), int(ex.country[x])
        holder = s == len(tensor.stages[k]) - 1 and held[k, i]
        if holder or layout.exposure_zone[x] < 0:
            assert storage[x] == x
        else:
            assert layout.exposure_zone[storage[x]] == layout.exposure_zone[x]
    shared = np.flatnonzero(storage != np.arange(layout.n_exposures))
    for name in _SHARED_FIELDS:
        values = np.asarray(getattr(chunk, name), dtype=np.float64)
        if name.endswith("_t"):
            values = values / layout.need_t
        if name in ("months_short", "first_short", "last_short"):
            np.testing.assert_array_equal(values[:, shared], values[:, storage[shared]], name)
        else:
            np.testing.assert_allclose(values[:, shared], values[:, storage[shared]],
                                       rtol=1e-9, atol=1e-12, err_msg=name)
    _check_shared(chunk, layout)


@settings(max_examples=12, deadline=None)
@given(SEEDS)
def test_a_release_never_raises_a_shortage_in_its_month(seed):
    """A state stock that sells into its zone, against none: in the first month it can
    act (the first computed month), no buyer's shortage is higher with it."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=1, n_c=5, stocks=False)
    origin = int(np.argmax(tensor.production[0, 0]))
    ev = Event("ban", origin, {0: 0}, severity=("uniform", 0.5, 1.0), onset=2.0, duration=4.0)
    holder = int(np.argmax(tensor.need[0, 0] * (np.arange(5) != origin)))
    resp = Response(reroute_lag=1.0, elasticity=None)

    def first_month(stockpiles):
        sc = make_scenario(tensor, [ev], response=resp, horizon=6, stockpiles=stockpiles)
        return engine.trace(tensor, sc, draws=8, seed=seed % 1000)["trace"][:, :, 2,
                                                                            km.TR_SHORTAGE]

    without = first_month([Stockpile("sp", {(0, holder): (0.0, 0.0)})])
    with_stock = first_month([Stockpile("sp", {(0, holder): (200.0, 20.0)})])
    assert (with_stock <= without + 1e-12 * (1 + without)).all()


def _material_shortage(tensor, scenario, chunk):
    """Final shortage per draw and material (last stage) [t]."""
    ex = engine.exposures(tensor, scenario)
    last = ex.stage == tensor.n_stages[ex.material] - 1
    out = np.zeros((chunk.shortage_t.shape[0], tensor.shape[0]))
    for k in range(tensor.shape[0]):
        out[:, k] = chunk.shortage_t[:, last & (ex.material == k)].sum(axis=1)
    return out


@settings(max_examples=25, deadline=None)
@given(SEEDS)
def test_total_shortage_monotone_in_severity_one_stage(seed):
    """More severity of a restriction never lowers a one-stage material's total shortage
    over the horizon, draw by draw with the same seed, in a market without stocks and
    without a supply response (docs/model.md [K14]: with commercial stocks a harsher
    restriction can lower this month's shortfall, because buyers who face a higher price
    put less into stock)."""
    _monotone_case(seed)


def _monotone_case(seed):
    """One random world of the test above; returns the base run's total shortage."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=1, n_c=5, stocks=False)
    n_c = tensor.shape[2]
    origins = rng.choice(n_c, size=2, replace=False)
    targets = None if rng.random() < 0.5 else [int(origins[1])]

    def scenario(sev):
        events = [
            Event("a", int(origins[0]), {0: 0}, onset=("uniform", 0, 4),
                  duration=("uniform", 1, 6), severity=("uniform", *sev),
                  leakage=("uniform", 0, 0.4), targets=targets,
                  lead=("uniform", 0, 2)),
            Event("b", int(origins[1]), {0: 0}, kind="production_outage",
                  onset=("uniform", 0, 6), duration=("uniform", 1, 5),
                  severity=("uniform", 0.1, 0.5), probability=0.7),
        ]
        market = {"inventory_weeks": 0.0, "precautionary_weeks": 0.0,
                  "supply_elasticity": 0.0, "origin_supply_elasticity": 0.0}
        resp = Response(reroute_lag=("uniform", 0, 3), spare_ramp=("uniform", 0, 3),
                        spare_usable=("uniform", 0, 1), substitution_max=0.2,
                        substitution_months=2.0, elasticity=None, market=market)
        return make_scenario(tensor, events, response=resp, horizon=10)

    base_sc, more_sc = scenario((0.2, 0.6)), scenario((0.4, 0.9))
    base = _material_shortage(tensor, base_sc, run(tensor, base_sc, draws=32))
    more = _material_shortage(tensor, more_sc, run(tensor, more_sc, draws=32))
    assert (more >= base - 1e-9 * (1 + base)).all()
    return base.sum()


def test_the_monotonicity_setting_does_produce_shortages():
    """The random worlds of the monotonicity test are not all short of nothing (a few
    are: the others absorb the cut), or that test would check little."""
    totals = [_monotone_case(seed) for seed in range(8)]
    assert sum(t > 0 for t in totals) >= 4


def _ban_case():
    """One stage, countries 0..3 [t/year]. Country 0 (origin) uses 20 itself, ships 30 to
    1 (target) and 70 to 2; country 3 ships 50 to 1 and 50 to 2."""
    flow = np.zeros((1, 1, 4, 4))
    flow[0, 0, 0, 0] = 20.0
    flow[0, 0, 0, 1], flow[0, 0, 0, 2] = 30.0, 70.0
    flow[0, 0, 3, 1], flow[0, 0, 3, 2] = 50.0, 50.0
    return make_tensor(flow)


PLAIN = {"spot_share": 1.0, "inventory_weeks": 0.0, "precautionary_weeks": 0.0,
         "supply_elasticity": 0.0, "origin_supply_elasticity": 0.0,
         "state_purchase_share": 0.0, "choke_price": 50.0}


def test_targeted_ban_with_free_trade_reshuffles_without_shortage():
    """All trade spot, no precaution: the origin sells to country 2 what it no longer
    sells to the target, country 3 sells to the target: nobody is short, every price 1."""
    tensor = _ban_case()
    ban = Event("ban", 0, {0: 0}, targets=[1], onset=2.0, duration=5.0, severity=1.0)
    scenario = make_scenario(tensor, [ban], horizon=8, response=Response(
        reroute_lag=0.0, market=PLAIN))
    chunk = run(tensor, scenario, draws=4)
    assert np.abs(chunk.shortage_t).max() < 1e-12
    assert (chunk.price_peak == 1).all() and (chunk.price_mean == 1).all()


@settings(max_examples=10, deadline=None)
@given(SEEDS)
def test_targeted_ban_random_absorbing_market(seed):
    """Random one-stage markets where the non-targets can absorb the origin's output and
    the others can supply the targets: with all trade spot nobody is short."""
    rng = np.random.default_rng(seed)
    n_c = 5
    flow = rng.uniform(5, 50, (1, 1, n_c, n_c)) * (rng.random((1, 1, n_c, n_c)) < 0.7)
    flow[0, 0, 0, 1] = rng.uniform(1, 10)  # the origin ships to the target
    flow[0, 0, 0, 2:] += 5.0
    flow[0, 0, 1:, 2:] += 5.0
    tensor = make_tensor(flow)
    P, N = tensor.production[0, 0], tensor.need[0, 0]
    targets = [1]
    nontarget = [i for i in range(n_c) if i not in targets]
    if not (N[targets].sum() <= P[1:].sum() and P[0] <= N[nontarget].sum()):
        return
    ban = Event("ban", 0, {0: 0}, targets=targets, onset=1.0, duration=4.0, severity=1.0)
    scenario = make_scenario(tensor, [ban], horizon=6, response=Response(
        reroute_lag=0.0, market=PLAIN))
    assert np.abs(run(tensor, scenario, draws=2).shortage_t).max() < 1e-9 * flow.sum()


def test_targeted_ban_with_contracts_only_loses_the_stopped_flow():
    """No spot trade and a rerouting lag of ~forever: the target keeps only its contract
    with country 3 (50 of 80) and, without stocks, clears at 80 p^-0.5 = 50: short 30/80
    at p = (80/50)^2; the others see no change (their contracts hold)."""
    tensor = _ban_case()
    ban = Event("ban", 0, {0: 0}, targets=[1], onset=2.0, duration=5.0, severity=1.0)
    market = {**PLAIN, "spot_share": 0.0, "demand_elasticity_medium": 0.5}
    scenario = make_scenario(tensor, [ban], horizon=8, response=Response(
        reroute_lag=1e12, elasticity=0.5, market=market))
    chunk = run(tensor, scenario, draws=4)
    ex = engine.exposures(tensor, scenario)
    target = list(ex.country).index(1)
    np.testing.assert_allclose(chunk.shortage_t[:, target], 5 * 30.0 / 12, rtol=1e-6)
    np.testing.assert_allclose(chunk.price_peak[:, target], (80 / 50) ** 2, rtol=1e-6)
    others = np.delete(chunk.shortage_t, target, axis=1)
    assert np.abs(others).max() < 1e-12
    assert (chunk.first_short[:, target] == 2).all() and (chunk.last_short[:, target] == 6).all()


@settings(max_examples=10, deadline=None)
@given(SEEDS, st.floats(0.05, 0.95))
def test_uniform_global_cut_shorts_everyone_by_x(seed, x):
    """A cut of x of world supply of a one-stage material, no stocks, no supply response:
    one zone, every buyer consumes 1 - x of its need at the price (1 - x)^(-1/eps)."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=1, n_c=5, spare=0.0, stocks=False)
    producers = np.flatnonzero(tensor.production[0, 0] > 0)
    events = [Event(f"out{e}", int(e), {0: 0}, kind="production_outage", onset=1.0,
                    duration=3.0, severity=x) for e in producers]
    market = {**PLAIN, "choke_price": 1e6, "demand_elasticity_medium": 0.5}
    scenario = make_scenario(tensor, events, horizon=6, response=Response(
        reroute_lag=0.0, elasticity=0.5, market=market))
    chunk = run(tensor, scenario, draws=2)
    np.testing.assert_allclose(chunk.series[:, :, 1:4], x, rtol=1e-6)  # float32 series
    ex = engine.exposures(tensor, scenario)
    np.testing.assert_allclose(chunk.shortage_t, np.tile(ex.need_t / 6 * 3 * x, (2, 1)),
                               rtol=1e-9)
    np.testing.assert_allclose(chunk.price_peak, (1 - x) ** -2, rtol=1e-9)


def test_quota_converts_to_severity_with_baseline_exports():
    tensor = _ban_case()
    # exports of 0 to the target 1: 30 t/year; a quota of 12 t/year -> severity 0.6: the
    # target keeps 50 + 12 of 80 (contracts only): short 18/80 a month
    ev = Event("q", 0, {0: 0}, targets=[1], onset=0.0, duration=2.0, quota=12.0)
    market = {**PLAIN, "spot_share": 0.0, "demand_elasticity_medium": 0.5}
    scenario = make_scenario(tensor, [ev], horizon=2, response=Response(
        reroute_lag=1e12, elasticity=0.5, market=market))
    chunk = run(tensor, scenario, draws=1)
    target = list(engine.exposures(tensor, scenario).country).index(1)
    np.testing.assert_allclose(chunk.shortage_t[0, target], 2 * 0.6 * 30 / 12, rtol=1e-6)


def test_announcement_front_loads_the_targets_and_raises_the_origins_exports():
    """Announced two months ahead: the target raises its stock target by the
    precautionary weeks and buys ahead while the routes are open, so the origin's zone
    exports more than at baseline before the deadline, and the target enters the control
    with more stock than its base target; prices rise before any physical gap."""
    tensor = _ban_case()
    ev = Event("ban", 0, {0: 0}, targets=[1], onset=3.0, duration=4.0, severity=1.0,
               lead=2.0)
    market = {**PLAIN, "spot_share": 0.5, "inventory_weeks": 6.0, "precautionary_weeks": 8.0,
              "inventory_adjust": 0.5}
    scenario = make_scenario(tensor, [ev], horizon=8, response=Response(
        reroute_lag=3.0, elasticity=0.3, market=market))
    out = engine.trace(tensor, scenario, draws=1, seed=1)
    zones = engine.zones(tensor, scenario)
    g_origin = zones.name.index(tensor.countries[0])
    g_target = zones.name.index(tensor.countries[1])
    zt = out["zone_trace"][0]  # [zone, month, column]
    net_exports = zt[:, :, km.TZ_PRODUCTION] - zt[:, :, km.TZ_INFLOW]
    baseline_exports = (30 + 70) / 12
    assert (net_exports[g_origin, 1:3] > baseline_exports + 1e-9).all()
    assert (zt[g_target, 1:3, km.TZ_INFLOW] > 80 / 12 + 1e-9).all()
    assert (zt[g_target, 1:3, km.TZ_PRICE] > 1).all()
    assert zt[g_target, 3, km.TZ_STOCK] > 6.0 / (52 / 12) * (80 / 12) + 1e-9
    assert zt[g_target, 0, km.TZ_PRICE] == 1.0  # nothing announced yet in month 0


def test_settling_severity_path():
    """Contracts only, no stocks: the target keeps 50 + 30 (1 - sev(t)) of 80, sev = 1,
    .8, .6, .4, .2, .2 -> short 30/80 sev(t)."""
    tensor = _ban_case()
    ev = Event("lic", 0, {0: 0}, targets=[1], onset=0.0, duration=20.0, severity=1.0,
               settled=0.2, settle=4.0)
    market = {**PLAIN, "spot_share": 0.0, "demand_elasticity_medium": 0.5}
    scenario = make_scenario(tensor, [ev], horizon=6, response=Response(
        reroute_lag=1e12, elasticity=0.5, market=market))
    chunk = run(tensor, scenario, draws=1)
    target = list(engine.exposures(tensor, scenario).country).index(1)
    sev = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 0.2])
    np.testing.assert_allclose(chunk.series[0, target], 30 / 80 * sev, rtol=1e-6)


def test_outside_scope_and_dataclass_fields():
    tensor = random_tensor(np.random.default_rng(0), n_k=3, n_s=1, n_c=3)
    ev = Event("a", 0, {1: 0})
    scenario = make_scenario(tensor, [ev], horizon=4)
    ex = engine.exposures(tensor, scenario)
    assert set(ex.material.tolist()) == {1}
    assert len(ex) == int((tensor.need[1, 0] > 0).sum())
    np.testing.assert_allclose(ex.need_t, 4 * tensor.need[1, 0][ex.country] / 12)
    scenario2 = dataclasses.replace(scenario, material_scope=np.ones(3, bool))
    assert len(engine.exposures(tensor, scenario2)) == int((tensor.need > 0).sum())
