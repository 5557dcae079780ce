"""Worked examples on the tiny dataset (tests/data/tiny/README.md), answers by hand.

Countries in file order: CHN 0, USA 1, DEU 2, JPN 3, AUS 4. Materials: gallium 0,
graphite 1 (mining 0 -> refining 1), antimony 2. Flows are [t/year]; the model works per
month, so every monthly figure below is a yearly figure / 12.

The market is set so that a month can be worked out on paper (docs/model.md §3): all
trade spot (no contracts), no commercial stocks, no precaution, no supply response, a
constant demand elasticity, a choke price of 100. The dataset's state stocks (USA,
JPN gallium; USA antimony) sell into their zone at full rate above 1.1 x the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import Event, Response, make_scenario

from simcore import engine

CHN, USA, DEU, JPN, AUS = range(5)
PARTNERS = [USA, DEU, JPN, AUS]
H = 6
PLAIN = {
    "spot_share": 1.0, "inventory_weeks": 0.0, "feed_inventory_weeks": 0.0,
    "precautionary_weeks": 0.0, "supply_elasticity": 0.0, "origin_supply_elasticity": 0.0,
    "state_purchase_share": 0.0, "choke_price": 100.0, "inventory_release": 1.0,
    "inventory_adjust": 0.5, "demand_adjust_months": 0.0,
}


def run(tensor, events, elasticity, **market):
    eps = {"demand_elasticity": elasticity, "demand_elasticity_medium": elasticity}
    response = Response(reroute_lag=0.0, elasticity=elasticity,
                        market={**PLAIN, **eps, **market})
    scenario = make_scenario(tensor, events, response=response, horizon=H)
    chunk = next(iter(engine.simulate(tensor, scenario, draws=2, seed=1, timeseries=True,
                                      zone_series=True)))
    ex = engine.exposures(tensor, scenario)
    pos = {(int(k), int(s), int(i)): x for x, (k, s, i) in
           enumerate(zip(ex.material, ex.stage, ex.country, strict=True))}
    zones = engine.zones(tensor, scenario)
    zpos = {(int(k), int(s), zones.name[g]): g for g, (k, s) in
            enumerate(zip(zones.material, zones.stage, strict=True))}
    return chunk, pos, zpos


def test_gallium_ban_on_partners_one_price_for_the_zone(tiny_tensor):
    """CHN stops all gallium to the partners from month 0; the origin's state buys what
    it stops (share 1), elasticity 0.5.

    Zones: CHN; the partners with gallium need (USA, DEU, JPN). Their need is 60/12 = 5 t
    a month; they can buy only JPN's 10/12 = 0.8333 t, plus what the state stocks of USA
    (1 t/month) and JPN (0.5 t/month) sell into the zone: 2.3333 t. At one price p:
    5 p^-0.5 = 2.3333 -> p^-0.5 = 7/15, p = (15/7)^2 = 4.5918. Every partner consumes
    7/15 of its need and is short 8/15: USA 25/12 * 8/15 * 6 = 6.6667 t, DEU 2.6667 t,
    JPN 6.6667 t, although only USA and JPN hold stocks (version 1 gave JPN price 1 next
    to DEU at the cap). USA uses its own release up to its consumption 25/12 * 7/15 =
    0.97222 t a month (5.8333 t); JPN uses all its 0.5 t (3 t). CHN: 90/12 = 7.5 t a month
    for its own need 40/12 plus the state's purchase of the stopped 50/12: price 1."""
    ban = Event("ban", CHN, {0: 0}, targets=PARTNERS, severity=1.0)
    c, pos, zpos = run(tiny_tensor, [ban], 0.5, state_purchase_share=1.0)
    usa, jpn, deu, chn = (pos[(0, 0, i)] for i in (USA, JPN, DEU, CHN))
    p = (15 / 7) ** 2
    for x, need in ((usa, 25), (deu, 10), (jpn, 25)):
        np.testing.assert_allclose(c.shortage_t[:, x], need / 12 * 8 / 15 * H, rtol=1e-9)
        np.testing.assert_allclose(c.price_peak[:, x], p, rtol=1e-9)
        np.testing.assert_allclose(c.demand_given_up_t[:, x], c.shortage_t[:, x], rtol=1e-12)
    np.testing.assert_allclose(c.stock_drawn_t[:, usa], 25 / 12 * 7 / 15 * H, rtol=1e-9)
    np.testing.assert_allclose(c.stock_drawn_t[:, jpn], 0.5 * H, rtol=1e-9)
    assert (c.shortage_t[:, chn] == 0).all()
    np.testing.assert_allclose(c.price_peak[:, chn], 1.0, rtol=1e-12)
    np.testing.assert_allclose(c.zone_series[:, zpos[(0, 0, "CHN")]], 1.0, rtol=1e-12)
    assert (c.months_short[:, usa] == H).all() and (c.first_short[:, usa] == 0).all()


def test_graphite_mine_outage_propagates_to_refiners(tiny_tensor):
    """AUS loses half its graphite ore (stage 0) from month 0, elasticity 0.25.

    Mining: one zone (no restriction); ore supply 60 + 15 + 10 = 85 of the refiners' need
    100: the ore price clears where 100 p^-0.25 = 85, every refiner buys 85 % of its feed
    need (short 15 %). Refining (yield 1): CHN makes 68 of 80, JPN 17 of 20 (its idle
    capacity does not restart: supply elasticity 0): 85 of 100, one zone again, every
    user short 15 % at the same price 0.85^-4 = 1.9165."""
    out = Event("aus", AUS, {1: 0}, kind="production_outage", severity=0.5)
    c, pos, zpos = run(tiny_tensor, [out], 0.25)
    for key, x in pos.items():
        if key[0] == 1:
            np.testing.assert_allclose(c.series[:, x], 0.15, rtol=1e-6)
            np.testing.assert_allclose(c.price_peak[:, x], 0.85 ** -4, rtol=1e-9)
    np.testing.assert_allclose(c.shortage_t[:, pos[(1, 1, USA)]], H * 30 / 12 * 0.15,
                               rtol=1e-9)
    np.testing.assert_allclose(c.zone_series[:, zpos[(1, 0, "world")]], 0.85 ** -4,
                               rtol=1e-6)


def test_graphite_refining_ban_on_usa(tiny_tensor):
    """CHN stops refined graphite to USA, elasticity 0.25. Zones at refining: CHN, USA,
    the rest (DEU, JPN). USA can only buy JPN's 20 t/year: it clears where
    30 p^-0.25 = 20, p = 1.5^4 = 5.0625, short 1/3. CHN's 80 serves CHN (40) and the rest
    (30) in full at the reference price; its 10 left over stays unsold (no stocks to
    absorb a glut), so CHN's price stays 1 (the highest price at which its market
    clears). Mining is untouched."""
    ban = Event("ban", CHN, {1: 1}, targets=[USA], severity=1.0)
    c, pos, zpos = run(tiny_tensor, [ban], 0.25)
    np.testing.assert_allclose(c.series[:, pos[(1, 1, USA)]], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(c.price_peak[:, pos[(1, 1, USA)]], 1.5**4, rtol=1e-9)
    for i in (CHN, DEU, JPN):
        assert c.shortage_t[:, pos[(1, 1, i)]].max() == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(c.price_mean[:, pos[(1, 1, i)]], 1.0, rtol=1e-12)
    assert set(zpos) >= {(1, 1, "CHN"), (1, 1, "USA"), (1, 1, "rest")}


def test_gallium_stocks_reserved_for_their_holders(tiny_tensor):
    """The ban of the first test with the dataset's state stocks reserved for their
    holders: they no longer sell into the zone, so the zone clears on JPN's 0.8333 t a
    month alone: 5 p^-0.5 = 0.8333, p = 36, every partner buys 1/6 of its need. USA adds
    its own 1 t a month: short 25/12 * 5/6 - 1 = 0.7361 t a month (4.4167 t); JPN adds
    0.5 t: short 1.2361 t a month (7.4167 t); DEU, with no stock, is short 10/12 * 5/6 =
    0.6944 t a month (4.1667 t), against 2.6667 t when the stocks sold into the zone: a
    stock that sells into its zone protects its holder's neighbours too."""
    ban = Event("ban", CHN, {0: 0}, targets=PARTNERS, severity=1.0)
    response = Response(reroute_lag=0.0, elasticity=0.5, reserved=True,
                        market={**PLAIN, "demand_elasticity": 0.5,
                                "demand_elasticity_medium": 0.5, "state_purchase_share": 1.0})
    scenario = make_scenario(tiny_tensor, [ban], response=response, horizon=H)
    c = next(iter(engine.simulate(tiny_tensor, scenario, draws=2, seed=1)))
    ex = engine.exposures(tiny_tensor, scenario)
    pos = {(int(k), int(i)): x for x, (k, i) in enumerate(zip(ex.material, ex.country,
                                                               strict=True))}
    usa, jpn, deu = pos[(0, USA)], pos[(0, JPN)], pos[(0, DEU)]
    np.testing.assert_allclose(c.shortage_t[:, usa], (25 / 12 * 5 / 6 - 1) * H, rtol=1e-9)
    np.testing.assert_allclose(c.shortage_t[:, jpn], (25 / 12 * 5 / 6 - 0.5) * H, rtol=1e-9)
    np.testing.assert_allclose(c.shortage_t[:, deu], 10 / 12 * 5 / 6 * H, rtol=1e-9)
    np.testing.assert_allclose(c.stock_drawn_t[:, usa], 1.0 * H, rtol=1e-9)
    np.testing.assert_allclose(c.price_peak[:, deu], 36.0, rtol=1e-9)


def _zone_trace(tensor, events, elasticity, **market):
    from simcore.kernel import model as km

    eps = {"demand_elasticity": elasticity, "demand_elasticity_medium": elasticity}
    response = Response(reroute_lag=0.0, elasticity=elasticity,
                        market={**PLAIN, **eps, **market})
    scenario = make_scenario(tensor, events, response=response, horizon=H)
    out = engine.trace(tensor, scenario, 1, seed=1)
    zones = engine.zones(tensor, scenario)
    zpos = {(int(k), int(s), zones.name[g]): g for g, (k, s) in
            enumerate(zip(zones.material, zones.stage, strict=True))}
    return out["zone_trace"][0], zpos, km


def test_the_origin_state_buys_what_holds_the_reference_price_and_no_more(tiny_tensor):
    """The ban of the first example with a purchase cap of twice the stopped flow.

    CHN's zone gets its output 90/12 t a month; its own users take 40/12 at any price
    up to 1 (no stocks, demand capped at need). The state buys at the reference price or
    below, up to 2 x 50/12, and stops over 1e-6 in log price above it (docs/model.md
    [M6]). Holding the price takes about 50/12, half its cap: the price x = ln p solves
    40/12 e^(-0.5 x) + 100/12 (1 - x / 1e-6) = 90/12, x = 5e-7 (to 1e-13), users give
    up 40/12 (1 - e^(-0.5 x)) = 8e-7 t a month and the state buys the rest.
    (Bought at any price, as in the first version of the market, the cap
    would have been a demand of 100/12 that 90/12 cannot meet: the choke price, 100.)
    With a cap of half the stopped flow, 25/12, the zone takes 40/12 + 25/12 at any price
    up to 1 and no more below (no stocks: its demand is flat there), so it clears at the
    highest such price, 1 (docs/model.md §3.4); the state buys its 25/12 and 25/12 stays
    unsold with the producers."""
    ban = Event("ban", CHN, {0: 0}, targets=PARTNERS, severity=1.0)
    zt, zpos, km = _zone_trace(tiny_tensor, [ban], 0.5, state_purchase_share=2.0)
    chn = zt[zpos[(0, 0, "CHN")]]
    from scipy.optimize import brentq

    x = brentq(lambda x: 40 * np.exp(-0.5 * x) + 100 * (1 - x / 1e-6) - 90, 0, 1e-6,
               xtol=1e-22)
    np.testing.assert_allclose(chn[:, km.TZ_PRICE], np.exp(x), rtol=1e-13)
    np.testing.assert_allclose(chn[:, km.TZ_PURCHASE], 100 / 12 * (1 - x / 1e-6), rtol=1e-8)
    np.testing.assert_allclose(chn[:, km.TZ_CONSUMED], 40 / 12 * np.exp(-0.5 * x), rtol=1e-12)
    zt, zpos, km = _zone_trace(tiny_tensor, [ban], 0.5, state_purchase_share=0.5)
    chn = zt[zpos[(0, 0, "CHN")]]
    np.testing.assert_allclose(chn[:, km.TZ_PRICE], 1.0, rtol=1e-12)
    np.testing.assert_allclose(chn[:, km.TZ_PURCHASE], 25 / 12, rtol=1e-9)
    np.testing.assert_allclose(chn[:, km.TZ_INFLOW], 65 / 12, rtol=1e-9)


def test_users_of_the_refined_product_hedge_a_restriction_on_ore(tiny_tensor):
    """USA licenses its graphite ore exports from month 0 (severity 0: no tonne is
    stopped) with precautionary cover of 13 weeks (3 months of need).

    Ore stage: the targets (every buyer but USA) want 3 months of feed stock on top of
    none. Refined stage, one zone (no restriction there), need 100/12 t a month: its
    precautionary share is the targets' share of that need: every refined user but USA,
    the origin (30 of 100), so 0.7. Its stock target is 3 x 0.7 x 100/12, and it buys a
    share 0.5 (inventory_adjust) of the gap at its desired stock target / p (release
    rule 1): the refined price rises above 1 without any physical gap. With the targets
    reduced to AUS, which uses no refined graphite, the refined zone has no
    precautionary share and its price stays at 1 in the first month."""
    lic = Event("lic", USA, {1: 0}, severity=0.0)
    zt, zpos, km = _zone_trace(tiny_tensor, [lic], 0.5, precautionary_weeks=13.0)
    world = zt[zpos[(1, 1, "world")]]
    assert world[0, km.TZ_PRICE] > 1.05
    np.testing.assert_allclose(world[0, km.TZ_RESTOCKED],
                               0.5 * 3 * 0.7 * 100 / 12 / world[0, km.TZ_PRICE], rtol=1e-9)
    only_aus = Event("lic", USA, {1: 0}, targets=[AUS], severity=0.0)
    zt, zpos, km = _zone_trace(tiny_tensor, [only_aus], 0.5, precautionary_weeks=13.0)
    np.testing.assert_allclose(zt[zpos[(1, 1, "world")]][0, km.TZ_PRICE], 1.0, rtol=1e-12)
