"""Regressions found in a review of the kernel against the model contract."""

from __future__ import annotations

import numpy as np
import pytest
from builders import Capacity, Event, Response, make_scenario, make_tensor

from simcore import engine


def _ban_for_the_whole_horizon():
    # country 0 ships 10 t/month to each of 1 and 2 and uses 10 itself; 1 and 2 also
    # produce 10 t/month for themselves
    flow = np.zeros((1, 1, 3, 3))
    flow[0, 0, 0, :] = 120.0
    flow[0, 0, 1, 1] = 120.0
    flow[0, 0, 2, 2] = 120.0
    tensor = make_tensor(flow)
    scenario = make_scenario(
        tensor, [Event("ban", 0, {0: 0}, onset=0.0, duration=100.0, severity=1.0)],
        response=Response(reroute_lag=1e12, elasticity=0.5), horizon=6)
    return tensor, scenario


PRICE = 9  # simcore.kernel.model.TR_PRICE


def test_peak_price_is_the_largest_monthly_price_even_below_one():
    """An origin whose exports are stopped in every month of the horizon has a price index
    below 1 in every month (its stock holders absorb the glut as the price falls): its
    peak is the largest monthly value, not 1 (a price no month had)."""
    from simcore.kernel.model import TR_PRICE

    assert TR_PRICE == PRICE
    tensor, scenario = _ban_for_the_whole_horizon()
    out = engine.trace(tensor, scenario, draws=1)
    monthly = out["trace"][0, :, :, PRICE]  # [X, H]
    np.testing.assert_allclose(out["price_peak"][0], monthly.max(axis=1), rtol=1e-12)
    assert (monthly[0] < 1.0).all()
    assert out["price_peak"][0, 0] < 1.0


def test_peak_price_counts_months_without_disruption_as_one():
    """With a quiet month in the horizon, the origin's peak is 1 (that month's index)."""
    tensor, scenario = _ban_for_the_whole_horizon()
    scenario = make_scenario(
        tensor, [Event("ban", 0, {0: 0}, onset=1.0, duration=100.0, severity=1.0)],
        response=Response(reroute_lag=1e12, elasticity=0.5), horizon=6)
    chunk = next(iter(engine.simulate(tensor, scenario, draws=2, seed=1, threads=1)))
    assert chunk.price_peak[0, 0] == 1.0
    assert chunk.price_peak[0, 1] > 1.0


def test_a_shortage_of_exactly_one_percent_is_not_a_short_month():
    """Issue 16, bug 7: a shortage of exactly 1 % of need (computed as 0.010000000000000009)
    was counted as a short month. The target of the ban below keeps 13.86 of its 14 t a
    year (contracts only, no stocks): 1 % short in every month, computed as
    0.01000000000000004 of need in month 0, never 'short'."""
    flow = np.zeros((1, 1, 4, 4))
    flow[0, 0, 0, 0] = 20.0
    flow[0, 0, 0, 1], flow[0, 0, 0, 2] = 7.0, 70.0
    flow[0, 0, 3, 1], flow[0, 0, 3, 2] = 7.0, 50.0
    tensor = make_tensor(flow)
    ban = Event("ban", 0, {0: 0}, targets=[1], onset=0.0, duration=100.0,
                severity=0.01 * 14.0 / 7.0)  # 1 % of the need, as computed
    market = {"spot_share": 0.0, "inventory_weeks": 0.0, "precautionary_weeks": 0.0,
              "demand_elasticity_medium": 0.5, "supply_elasticity": 0.0,
              "origin_supply_elasticity": 0.0}
    scenario = make_scenario(tensor, [ban], horizon=6, response=Response(
        reroute_lag=1e12, elasticity=0.5, market=market))
    chunk = next(iter(engine.simulate(tensor, scenario, draws=2, seed=1, timeseries=True)))
    target = list(engine.exposures(tensor, scenario).country).index(1)
    trace = engine.trace(tensor, scenario, draws=1)["trace"][0, target]
    assert trace[0, 8] > 0.01 * trace[0, 0]  # month 0: the rounding the tolerance absorbs
    np.testing.assert_allclose(chunk.series[:, target], 0.01, rtol=1e-6)
    assert (chunk.months_short[:, target] == 0).all()
    assert (chunk.first_short[:, target] == -1).all()
    assert (engine.row_histogram(chunk)[target, :, 1] == 2).all()  # bin 1: (0, 1 %]


def test_a_failing_draw_is_named_by_its_own_index():
    """The kernel's loop over stockpiles once reused the draw's loop variable, so a draw's
    status was written to another row (and out of bounds in small blocks): the error
    named the wrong draw or none. A variate that is NaN in some draws only (a discrete
    value) must stop the run at the first of them."""
    import dataclasses

    from builders import Stockpile

    flow = np.zeros((1, 1, 3, 3))
    flow[0, 0, 0, :] = 120.0
    flow[0, 0, 1, 1] = 120.0
    tensor = make_tensor(flow)
    ev = Event("ban", 0, {0: 0}, severity=("discrete", [0.5, 0.7], [1, 1]))
    scenario = make_scenario(tensor, [ev], horizon=4, stockpiles=[
        Stockpile("a", {(0, 1): (10.0, 1.0)}), Stockpile("b", {(0, 2): (10.0, 1.0)}),
        Stockpile("c", {(0, 1): (5.0, 1.0)})])
    clean = next(iter(engine.simulate(tensor, scenario, draws=12, seed=4, threads=1)))
    v = scenario.var_name.index("event/ban/severity")
    first = int(np.flatnonzero(clean.variates[:, v] == 0.7)[0])
    values = scenario.disc_values.copy()
    values[values == 0.7] = np.nan
    bad = dataclasses.replace(scenario, disc_values=values)
    import pytest

    with pytest.raises(RuntimeError, match=f"at draw {first} with status 10"):
        list(engine.simulate(tensor, bad, draws=12, seed=4, threads=1, chunk_size=12))


def _refining_with_final_uses(capacity):
    """Two stages, world yield 150/170. Country 0 refines on a ratio above the world's
    (other feed outside the tensor, like China's synthetic graphite); country 1's
    mining-stage need is mostly final uses, with a small refinery (yield 0.02, like the
    US in graphite); country 2 uses the mined product and refined imports but refines
    nothing. Country 0 restricts refined exports to 1 and 2 for the whole horizon."""
    flow = np.zeros((1, 2, 3, 3))
    flow[0, 0, 0, :] = [50.0, 100.0, 20.0]  # mining [t/year]: 0 mines everything
    flow[0, 1, 0, :] = [100.0, 28.0, 20.0]  # refining: 0 makes 148, 1 makes 2
    flow[0, 1, 1, 1] = 2.0
    tensor = make_tensor(flow * 12)
    events = [Event("ban", 0, {0: 1}, onset=0.0, duration=100.0, severity=0.8,
                    targets=[1, 2])]
    response = Response(reroute_lag=1e12, spare_usable=0.0, elasticity=0.5)
    return tensor, make_scenario(tensor, events, response=response, capacity=capacity,
                                 horizon=6)


def test_added_refining_capacity_buys_its_feed_at_the_technical_yield():
    """A review found the shipped capacity study raising graphite shortages: a new US anode
    plant bid for its feed at the US ratio of anode output to natural-graphite need
    (0.0175: that need is mostly refractories and other uses), 57 t of graphite per tonne
    of anode, and a plant in a country with need but no refining (ratio 0) produced
    nothing. Output beyond the baseline now buys feed at max(own ratio, world yield)
    (docs/model.md §3.2): each plant lowers its country's refined shortage, and the
    mining stage loses no more than the refining stage gains."""
    def shortage(capacity):
        tensor, scenario = _refining_with_final_uses(capacity)
        chunk = next(iter(engine.simulate(tensor, scenario, draws=1, seed=3, threads=1)))
        ex = engine.exposures(tensor, scenario)
        short = {}
        for x in range(len(ex.stage)):
            short[(int(ex.stage[x]), int(ex.country[x]))] = float(chunk.shortage_t[0, x])
        return short

    base = shortage(())
    for country in (1, 2):
        plant = [Capacity("plant", 0, 1, country, 120.0, online=0.0)]  # 10 t/month
        with_plant = shortage(plant)
        assert with_plant[(1, country)] < base[(1, country)] - 1.0, country
        lost = sum(with_plant[(0, i)] - base[(0, i)] for i in range(3))
        gained = sum(base[(1, i)] - with_plant[(1, i)] for i in range(3))
        assert gained > 0.0 and lost <= gained, (country, lost, gained)


def _re_export_world(from_origin):
    """Origin 0 mines 600 t/year for itself; refiner 1 takes 400 t/year of ore, of which
    ``from_origin`` from 0 and the rest from mine 4; refined product goes from 0 and 1 to
    target 2 and user 3. Country 0 bans refined exports to 2 and reaches 1's exports to
    2 through the re-export rule, from month 0, for the whole horizon."""
    flow = np.zeros((1, 2, 5, 5))
    flow[0, 0, 0, 0] = 600.0
    flow[0, 0, 4, 1] = 400.0 - from_origin
    flow[0, 0, 0, 1] = from_origin
    flow[0, 1, 0, 2] = 300.0
    flow[0, 1, 0, 3] = 300.0
    flow[0, 1, 1, 2] = 100.0
    flow[0, 1, 1, 3] = 300.0
    tensor = make_tensor(flow)
    events = [Event("ban", 0, {0: 1}, onset=0.0, duration=100.0, severity=1.0, targets=[2]),
              Event("reach", 0, {0: 0}, onset=0.0, duration=100.0, severity=1.0,
                    targets=[2], re_export=True)]
    response = Response(reroute_lag=0.0, spare_ramp=0.0, spare_usable=0.0, elasticity=0.2,
                        market={"spot_share": 1.0, "choke_price": 10.0,
                                "inventory_weeks": 0.0, "feed_inventory_weeks": 0.0,
                                "precautionary_weeks": 0.0})
    return tensor, make_scenario(tensor, events, response=response, horizon=3)


def test_a_re_export_reach_is_continuous_in_the_origin_fed_share():
    """A review found the re-export cap discontinuous: any share of a third country's feed
    from the origin, however small, capped its whole route to the targets near its
    baseline flow (a share of 2.5e-6 took the target from price 1 and no shortage to the
    choke price and 75 % short). Only the origin-fed share is licensed now
    (docs/model.md §3.3): the target's shortage and price grow with the share, from
    those of no reach at all."""
    short, price = [], []
    for from_origin in (0.0, 1e-3, 100.0, 200.0, 400.0):
        tensor, scenario = _re_export_world(from_origin)
        chunk = next(iter(engine.simulate(tensor, scenario, draws=1, seed=1, threads=1)))
        ex = engine.exposures(tensor, scenario)
        row = (ex.country == 2) & (ex.stage == 1)
        short.append(float(chunk.shortage_t[0, row].sum() / ex.need_t[row].sum()))
        zones = engine.zones(tensor, scenario)
        g = [g for g in range(len(zones)) if zones.stage[g] == 1 and 2 in zones.members[g]]
        price.append(float(chunk.zone_price_peak[0, g[0]]))
    assert abs(short[1] - short[0]) < 1e-4 and abs(price[1] - price[0]) < 1e-4, (short, price)
    assert short == sorted(short) and price == sorted(price), (short, price)
    # all spot, a full ban, no other supplier: the target lacks exactly the o-fed share
    for got, from_origin in zip(short, (0.0, 1e-3, 100.0, 200.0, 400.0), strict=True):
        assert got == pytest.approx(from_origin / 400.0, abs=1e-6), short


def _reach_world(target_ore=0.0, events=1, own_severity=None, second_origin=False):
    """Refiner 1 takes half its ore from origin 0 (or a quarter each from origins 0 and
    6) and half from mine 5, and sells all its refined output to targets 2 and 3; user
    4 buys the origin's. The targets' own ore imports from 0 (``target_ore``) split them
    into two price zones. ``events`` identical reaching bans by 0; ``own_severity``: a
    restriction of 1's own on its refined exports to the targets."""
    flow = np.zeros((1, 2, 7, 7))
    flow[0, 0, 0, 0] = 100.0
    if second_origin:
        flow[0, 0, 0, 1] = flow[0, 0, 6, 1] = 100.0
        flow[0, 0, 6, 6] = 50.0
    else:
        flow[0, 0, 0, 1] = 200.0
    flow[0, 0, 5, 1] = 200.0
    flow[0, 0, 0, 2] = flow[0, 0, 0, 3] = target_ore
    flow[0, 0, 5, 2] = flow[0, 0, 5, 3] = 10.0
    flow[0, 1, 1, 2] = flow[0, 1, 1, 3] = 200.0
    flow[0, 1, 0, 4] = 100.0
    tensor = make_tensor(flow)
    evs = [Event(f"ban{n}", 0, {0: 0}, onset=0.0, duration=100.0, severity=1.0,
                 targets=[2, 3], re_export=True) for n in range(events)]
    if second_origin:
        evs.append(Event("ban6", 6, {0: 0}, onset=0.0, duration=100.0, severity=1.0,
                         targets=[2, 3], re_export=True))
    if own_severity is not None:
        evs.append(Event("own", 1, {0: 1}, onset=0.0, duration=100.0,
                         severity=own_severity, targets=[2, 3]))
    response = Response(reroute_lag=0.0, spare_ramp=0.0, spare_usable=0.0, elasticity=0.2,
                        market={"spot_share": 1.0, "choke_price": 10.0,
                                "inventory_weeks": 0.0, "feed_inventory_weeks": 0.0,
                                "precautionary_weeks": 0.0})
    return tensor, make_scenario(tensor, evs, response=response, horizon=3)


@pytest.mark.parametrize("case, expected", [
    (dict(), 0.25),
    # the targets in two zones: each zone's cap must not grant the untouched share again
    (dict(target_ore=1e-6), 0.25),
    (dict(target_ore=10.0), 0.25),
    # two bans by one origin stop its share once, not 1 - (1 - 0.5)^2
    (dict(events=2), 0.25),
    # a quarter from each of two origins, both banning: half of the output is licensed
    (dict(second_origin=True), 0.25),
    # a restriction of the refiner's own at severity 0 changes nothing
    (dict(own_severity=0.0), 0.25),
])
def test_a_re_export_reach_licenses_each_origin_fed_share_once(case, expected):
    """A second review's cases (docs/model.md §3.3): the refiner's untouched half (200 t)
    joins the open exporters and its o-fed half is stopped, whatever the targets' zones,
    the number of bans or origins; with the origin's own 100 t of refined product, which
    the targets outbid user 4 for, each target is a quarter short. The previous rule gave
    0 with the targets in two zones or two bans, 0.8 with a zero-severity own
    restriction. The kernel agrees with the reference."""
    from reference_model import simulate_reference

    tensor, scenario = _reach_world(**case)
    chunk = next(iter(engine.simulate(tensor, scenario, draws=1, seed=1, threads=1)))
    ref = simulate_reference(tensor, scenario, chunk.variates)
    np.testing.assert_allclose(chunk.shortage_t, ref["shortage_t"], rtol=1e-9, atol=1e-9)
    ex = engine.exposures(tensor, scenario)
    for target in (2, 3):
        row = (ex.country == target) & (ex.stage == 1)
        got = float(chunk.shortage_t[0, row].sum() / ex.need_t[row].sum())
        assert got == pytest.approx(expected, abs=1e-6), (case, target, got)


def test_a_refiner_under_an_outage_gives_up_the_feed_of_the_output_it_lost():
    """docs/model.md listed it as a limitation: a refiner under a production outage kept
    buying its whole baseline feed, so the ore market never saw the demand it lost (ore
    at price 1, used up without product). Its feed demand now changes with its output
    (§3.2): half of refiner 1's output out, its ore zone buys about half of its need, the
    ore price falls and the mine cuts output."""
    from simcore.kernel import model as km

    flow = np.zeros((1, 2, 3, 3))
    flow[0, 0, 0, 1] = flow[0, 0, 0, 2] = 1200.0  # mine 0 feeds refiners 1 and 2
    flow[0, 1, 1, 0] = flow[0, 1, 1, 1] = 600.0  # each refiner sells half to 0
    flow[0, 1, 2, 0] = flow[0, 1, 2, 2] = 600.0
    tensor = make_tensor(flow)
    outage = Event("fire", 1, {0: 1}, kind="production_outage", onset=0.0,
                   duration=100.0, severity=0.5)
    scenario = make_scenario(tensor, [outage], horizon=6, response=Response(
        reroute_lag=1e12, spare_usable=0.0, elasticity=0.5,
        market={"precautionary_weeks": 0.0, "supply_elasticity": 0.5}))
    out = engine.trace(tensor, scenario, draws=1)
    zones = engine.zones(tensor, scenario)
    ore = {i: g for g in range(len(zones)) if zones.stage[g] == 0
           for i in zones.members[g]}
    zt = out["zone_trace"][0, ore[1]]  # refiners 1 and 2 share their ore zone
    np.testing.assert_allclose(zt[:, km.TZ_NEED], 200.0, rtol=1e-12)
    # it consumes the feed of what they still run: 100 + 50 t/month, not 200
    np.testing.assert_allclose(zt[:, km.TZ_CONSUMED], 150.0, rtol=1e-9)
    # the ore price falls below the reference (the glut goes to stocks), the mine cuts
    assert (zt[:, km.TZ_PRICE] < 0.999).all() and (zt[:, km.TZ_RESTOCKED] > 0).all()
    assert zt[-1, km.TZ_PRODUCTION] < 0.99 * 200.0
    # refined: refiner 1 makes the half it still runs on its full feed of that half,
    # refiner 2 all of its output: 50 + 100 t/month
    refined = [g for g in range(len(zones)) if zones.stage[g] == 1]
    made = out["zone_trace"][0][refined][:, :, km.TZ_PRODUCTION].sum(axis=0)
    np.testing.assert_allclose(made, 150.0, rtol=1e-9)


def _one_refiner_world(events, **market):
    """Mine 0 feeds refiner 1 only (1,200 t/year); 1 sells its product to 0, 1 and 2."""
    flow = np.zeros((1, 2, 3, 3))
    flow[0, 0, 0, 1] = 1200.0
    flow[0, 1, 1, :] = 400.0
    tensor = make_tensor(flow)
    return tensor, make_scenario(tensor, events, horizon=8, response=Response(
        reroute_lag=1e12, spare_usable=0.0, elasticity=0.5,
        market={"precautionary_weeks": 0.0, **market}))


def test_a_full_outage_of_the_only_refiner_leaves_its_ore_unsold_at_the_floor():
    """A review found that a zone whose users had all given up their feed (a full
    outage) took the 'no user, no market' branch and reported price 1 while the mine's
    contracts still arrived: the ore vanished, and rounding (N + X = 1e-15 instead of 0)
    flipped the answer to the floor. A zone with contracts arriving prices them now: at
    the floor, the excess unsold with its sellers, the mine cutting output."""
    from simcore.kernel import model as km

    fire = Event("fire", 1, {0: 1}, kind="production_outage", onset=0.0, duration=100.0,
                 severity=1.0)
    tensor, scenario = _one_refiner_world([fire], feed_inventory_weeks=0.0,
                                          supply_elasticity=0.5, choke_price=10.0)
    out = engine.trace(tensor, scenario, draws=1)
    zones = engine.zones(tensor, scenario)
    (g,) = [g for g in range(len(zones)) if zones.stage[g] == 0 and 1 in zones.members[g]]
    zt = out["zone_trace"][0, g]
    np.testing.assert_allclose(zt[:, km.TZ_PRICE], 0.1, rtol=1e-12)  # the floor 1/p̄
    assert (zt[:, km.TZ_CONTRACT] > 1.0).all()
    np.testing.assert_allclose(zt[:, km.TZ_CONSUMED], 0.0, atol=1e-9)
    assert zt[-1, km.TZ_PRODUCTION] < 0.5 * zt[0, km.TZ_PRODUCTION]  # the mine cuts


def test_an_origins_refiners_cut_when_a_ban_gluts_their_market_and_buy_less_ore():
    """MARKET.md: the origin cuts output when its domestic price falls. Refiner 1 bans
    exports of its product to 2: its home price falls, and it cuts output at its output
    response and gives up the feed of what it no longer makes, so its ore zone buys less
    than its need and the ore price falls too (before, cuts acted at stage 0 only, and
    the ore market never saw the glut)."""
    from simcore.kernel import model as km

    ban = Event("ban", 1, {0: 1}, targets=[2], onset=0.0, duration=100.0, severity=1.0)
    tensor, scenario = _one_refiner_world([ban], origin_supply_elasticity=0.5)
    out = engine.trace(tensor, scenario, draws=1)
    zones = engine.zones(tensor, scenario)
    zt = out["zone_trace"][0]
    home = [g for g in range(len(zones)) if zones.stage[g] == 1 and 1 in zones.members[g]]
    ore = [g for g in range(len(zones)) if zones.stage[g] == 0 and 1 in zones.members[g]]
    price = zt[home[0], :, km.TZ_PRICE]
    made = zt[home[0], :, km.TZ_PRODUCTION]
    assert (price < 1.0).all()
    # from month 1 (responses lag a month): output at the price's response, ore for it
    np.testing.assert_allclose(made[1:], 100.0 * price[:-1] ** 0.5, rtol=1e-9)
    assert (zt[ore[0], 1:, km.TZ_CONSUMED] < zt[ore[0], 1:, km.TZ_NEED] - 1.0).all()
    assert (zt[ore[0], 2:, km.TZ_PRICE] < 1.0).all()


def test_a_refiner_without_baseline_feed_cuts_when_its_price_falls():
    """docs/model.md §3.2: cuts act at every stage. A refiner with no earlier-stage need
    of its own (country 0 refines for itself and for 2 but mines and buys no ore in the
    baseline) runs its planned output when a ban gluts its home market: its supply falls
    with its price (before, such a producer always kept its baseline output, found in a
    review of the kernel against the model contract)."""
    from simcore.kernel import model as km

    flow = np.zeros((1, 2, 3, 3))
    flow[0, 0, 1, 2] = 1200.0  # ore: 1 -> 2
    flow[0, 1, 0, 2] = 600.0  # refined: 0 (no ore need) -> 2, and 0 for itself
    flow[0, 1, 0, 0] = 120.0
    flow[0, 1, 2, 2] = 1200.0
    tensor = make_tensor(flow)
    assert tensor.need[0, 0, 0] == 0.0
    baseline = tensor.production[0, 1, 0] / 12  # [t/month]
    assert baseline == 60.0
    ban = Event("ban", 0, {0: 1}, onset=0.0, duration=100.0, severity=1.0, targets=[2])
    scenario = make_scenario(tensor, [ban], horizon=5, response=Response(
        elasticity=0.2, market={"origin_supply_elasticity": 0.5}))
    out = engine.trace(tensor, scenario, draws=1)
    zones = engine.zones(tensor, scenario)
    home = [g for g in range(len(zones)) if zones.stage[g] == 1 and 0 in zones.members[g]]
    zt = out["zone_trace"][0, home[0]]
    price, made = zt[:, km.TZ_PRICE], zt[:, km.TZ_PRODUCTION]
    assert (price < 1.0).all()
    # month 0 at the baseline, then (responses lag a month) output at the price's response
    np.testing.assert_allclose(made, baseline * np.r_[1.0, price[:-1] ** 0.5], rtol=1e-9)
    assert made[-1] < 0.9 * baseline
