"""MODEL.md §5 invariants, each on random small tensors (hypothesis) or a constructed case."""

from __future__ import annotations

import dataclasses

import numpy as np
from builders import Capacity, Event, Response, Stockpile, make_scenario, make_tensor, random_tensor
from hypothesis import given, settings
from hypothesis import strategies as st

from simcore import engine
from simcore.kernel.model import TK_DELIVERED, TK_EDGE_EXCESS, TK_SUPPLY

SEEDS = st.integers(0, 2**32 - 1)


def run(tensor, scenario, draws=16, seed=3, **kw):
    return next(iter(engine.simulate(tensor, scenario, draws=draws, seed=seed, threads=1,
                                     timeseries=True, **kw)))


def disruptive_scenario(rng, tensor, n_events=3, horizon=8, probability=1.0, **response):
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
            re_export=bool(rng.random() < 0.3),
            targets=None if rng.random() < 0.5 else [int(rng.integers(n_c))],
        ))
    resp = dict(reroute_lag=("uniform", 0, 3), spare_ramp=("uniform", 0, 3),
                spare_usable=("uniform", 0, 1), substitution_max=("uniform", 0, 0.3),
                substitution_months=3.0, elasticity=0.4)
    resp.update(response)
    return make_scenario(tensor, events, response=Response(**resp), horizon=horizon,
                         stockpiles=[Stockpile("sp", {(0, 1): (50.0, 5.0)})],
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
    assert (chunk.months_short == 0).all() and (chunk.first_short == -1).all()
    assert (chunk.hist[:, :, 0] == 16).all()


@settings(max_examples=15, deadline=None)
@given(SEEDS, st.integers(1, 2))
def test_mass_balance_and_edge_caps(seed, n_s):
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=2, n_s=n_s, n_c=5)
    scenario = disruptive_scenario(rng, tensor, n_events=4)
    out = engine.trace(tensor, scenario, draws=16, seed=seed % 1000)
    tr, ks = out["trace"], out["trace_ks"]
    need, delivered, subst, drawn, short, price = np.moveaxis(tr, -1, 0)
    scale = 1e-9 * (1 + tensor.flow.sum())
    assert (delivered >= -scale).all() and (delivered <= need + scale).all()
    assert (short >= 0).all() and (drawn >= 0).all() and (subst >= 0).all()
    np.testing.assert_allclose(delivered + drawn + subst + short, need, atol=scale)
    assert (ks[..., TK_DELIVERED] <= ks[..., TK_SUPPLY] + scale).all()
    assert (ks[..., TK_EDGE_EXCESS] <= scale).all()
    # stock never goes negative: what a country draws never exceeds what it held
    ex = engine.exposures(tensor, scenario)
    held = tensor.stock[ex.material, ex.country] + np.where(ex.material == 0, 50.0, 0.0) * (
        ex.country == 1)
    assert (drawn.sum(axis=2) <= held + scale).all()
    assert (price > 0).all() and (price <= scenario.price_cap).all()


def _material_shortage(tensor, scenario, chunk):
    """Final shortage per draw and material (last stage) [t]."""
    ex = engine.exposures(tensor, scenario)
    last = ex.stage == tensor.n_stages[ex.material] - 1
    out = np.zeros((chunk.shortage_t.shape[0], tensor.shape[0]))
    for k in range(tensor.shape[0]):
        out[:, k] = chunk.shortage_t[:, last & (ex.material == k)].sum(axis=1)
    return out


def _variant(scenario_fn, tensor, change):
    return scenario_fn(tensor, **change)


@settings(max_examples=20, deadline=None)
@given(SEEDS, st.sampled_from(["severity", "duration", "leakage", "lag", "spare"]),
       st.integers(1, 2))
def test_monotone_draw_by_draw(seed, what, n_s):
    """More severity, longer duration, less leakage, longer lags or less spare never lower
    a material's total (final-stage) shortage, draw by draw, without stocks."""
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=n_s, n_c=5, stocks=False)
    n_c = tensor.shape[2]
    origins = rng.choice(n_c, size=2, replace=False)
    last = n_s - 1

    def scenario(sev=(0.2, 0.6), dur=(1, 5), leak=(0.1, 0.4), lag=(0, 3), usable=(0.2, 0.9)):
        events = [
            Event("a", int(origins[0]), {0: 0}, onset=("uniform", 0, 4),
                  duration=("uniform", *dur), severity=("uniform", *sev),
                  leakage=("uniform", *leak), targets=[int(origins[1])], re_export=True),
            Event("b", int(origins[1]), {0: last}, kind="production_outage",
                  onset=("uniform", 0, 6), duration=("uniform", *dur),
                  severity=("uniform", *sev), probability=0.7),
        ]
        resp = Response(reroute_lag=("uniform", *lag), spare_ramp=("uniform", *lag),
                        spare_usable=("uniform", *usable), substitution_max=0.2,
                        substitution_months=("uniform", *lag))
        return make_scenario(tensor, events, response=resp, horizon=10)

    worse = {
        "severity": dict(sev=(0.4, 0.9)), "duration": dict(dur=(2, 9)),
        "leakage": dict(leak=(0.0, 0.2)), "lag": dict(lag=(1, 6)),
        "spare": dict(usable=(0.0, 0.5)),
    }[what]
    base = _material_shortage(tensor, scenario(), run(tensor, scenario(), draws=32))
    more = _material_shortage(tensor, scenario(**worse), run(tensor, scenario(**worse), draws=32))
    assert (more >= base - 1e-9 * (1 + base)).all()
    assert base.sum() > 0


def _ban_case():
    """One stage, countries 0..3 [t/year]. Country 0 (origin) uses 20 itself, ships 30 to
    1 (target) and 70 to 2; country 3 ships 50 to 1 and 50 to 2."""
    flow = np.zeros((1, 1, 4, 4))
    flow[0, 0, 0, 0] = 20.0
    flow[0, 0, 0, 1], flow[0, 0, 0, 2] = 30.0, 70.0
    flow[0, 0, 3, 1], flow[0, 0, 3, 2] = 50.0, 50.0
    return make_tensor(flow)


def test_targeted_ban_with_rerouting_reshuffles_without_shortage():
    tensor = _ban_case()
    ban = Event("ban", 0, {0: 0}, targets=[1], onset=2.0, duration=5.0, severity=1.0)
    scenario = make_scenario(tensor, [ban], response=Response(reroute_lag=0.0), horizon=8)
    chunk = run(tensor, scenario, draws=4)
    assert (chunk.shortage_t == 0).all()
    # the origin sells everything to country 2 (120 = 20 own + 100): no price effect
    assert (chunk.price_peak == 1).all() and (chunk.price_mean == 1).all()


@settings(max_examples=10, deadline=None)
@given(SEEDS)
def test_targeted_ban_random_absorbing_market(seed):
    """Random one-stage markets where the non-targets can absorb the origin's output and
    the others can supply the targets: with phi = 1 nobody is short."""
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
    scenario = make_scenario(tensor, [ban], response=Response(reroute_lag=0.0), horizon=6)
    assert np.abs(run(tensor, scenario, draws=2).shortage_t).max() < 1e-9 * flow.sum()


def test_targeted_ban_without_rerouting_loses_exactly_the_stopped_flow():
    tensor = _ban_case()
    ban = Event("ban", 0, {0: 0}, targets=[1], onset=2.0, duration=5.0, severity=1.0)
    scenario = make_scenario(tensor, [ban], response=Response(reroute_lag=1e9), horizon=8)
    chunk = run(tensor, scenario, draws=4)
    ex = engine.exposures(tensor, scenario)
    target = list(ex.country).index(1)
    # phi = min(1, tau / 1e9) is ~0: the target loses 30/12 t a month for 5 months
    np.testing.assert_allclose(chunk.shortage_t[:, target], 5 * 30.0 / 12, rtol=1e-6)
    others = np.delete(chunk.shortage_t, target, axis=1)
    assert (others == 0).all()
    assert (chunk.first_short[:, target] == 2).all() and (chunk.last_short[:, target] == 6).all()
    # the origin holds the stopped 30/12 t a month: its price index falls below 1
    origin = list(ex.country).index(0)
    assert (chunk.price_mean[:, origin] < 1).all()


@settings(max_examples=10, deadline=None)
@given(SEEDS, st.floats(0.05, 0.95))
def test_uniform_global_cut_shorts_everyone_by_x(seed, x):
    rng = np.random.default_rng(seed)
    tensor = random_tensor(rng, n_k=1, n_s=1, n_c=5, spare=0.0, stocks=False)
    producers = np.flatnonzero(tensor.production[0, 0] > 0)
    events = [Event(f"out{e}", int(e), {0: 0}, kind="production_outage", onset=1.0,
                    duration=3.0, severity=x) for e in producers]
    scenario = make_scenario(tensor, events, response=Response(reroute_lag=0.0), horizon=6)
    chunk = run(tensor, scenario, draws=2)
    series = chunk.series[:, :, 1:4]
    np.testing.assert_allclose(series, x, rtol=1e-6)  # float32 series
    ex = engine.exposures(tensor, scenario)
    np.testing.assert_allclose(chunk.shortage_t, np.tile(ex.need_t / 6 * 3 * x, (2, 1)),
                               rtol=1e-9)


def test_quota_converts_to_severity_with_baseline_exports():
    tensor = _ban_case()
    # exports of 0 to the target 1: 30 t/year; a quota of 12 t/year -> severity 0.6
    ev = Event("q", 0, {0: 0}, targets=[1], onset=0.0, duration=2.0, quota=12.0)
    scenario = make_scenario(tensor, [ev], response=Response(reroute_lag=1e9), horizon=2)
    chunk = run(tensor, scenario, draws=1)
    target = list(engine.exposures(tensor, scenario).country).index(1)
    np.testing.assert_allclose(chunk.shortage_t[0, target], 2 * 0.6 * 30 / 12, rtol=1e-6)


def test_announcement_rush_adds_stock_before_onset():
    tensor = _ban_case()
    ev = Event("ban", 0, {0: 0}, targets=[1], onset=1.0, duration=4.0, lead=2.0)
    scenario = make_scenario(tensor, [ev], response=Response(reroute_lag=1e9), horizon=8)
    chunk = run(tensor, scenario, draws=1)
    target = list(engine.exposures(tensor, scenario).country).index(1)
    # 2 months of 30/12 t bought ahead, released at most 30/12 t a month: covers 2 of 4
    np.testing.assert_allclose(chunk.stock_drawn_t[0, target], 2 * 30 / 12, rtol=1e-9)
    np.testing.assert_allclose(chunk.shortage_t[0, target], 2 * 30 / 12, rtol=1e-6)
    assert chunk.first_short[0, target] == 3


def test_settling_severity_path():
    tensor = _ban_case()
    ev = Event("lic", 0, {0: 0}, targets=[1], onset=0.0, duration=20.0, severity=1.0,
               settled=0.2, settle=4.0)
    scenario = make_scenario(tensor, [ev], response=Response(reroute_lag=1e9), horizon=6)
    chunk = run(tensor, scenario, draws=1)
    target = list(engine.exposures(tensor, scenario).country).index(1)
    # share of the target's need (80/12) stopped: 30/80 * sev(t), sev = 1, .8, .6, .4, .2, .2
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
