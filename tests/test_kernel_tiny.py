"""Worked examples on the tiny dataset (tests/data/tiny/README.md), answers by hand.

Countries in file order: CHN 0, USA 1, DEU 2, JPN 3, AUS 4. Materials: gallium 0,
graphite 1 (mining 0 -> refining 1), antimony 2. Flows are [t/year]; the model works per
month, so every monthly figure below is a yearly figure / 12.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import Event, Response, make_scenario

from simcore import engine

CHN, USA, DEU, JPN, AUS = range(5)
PARTNERS = [USA, DEU, JPN, AUS]
H = 6


def run(tensor, events, **response):
    scenario = make_scenario(tensor, events, response=Response(**response), horizon=H)
    chunk = next(iter(engine.simulate(tensor, scenario, draws=2, seed=1, timeseries=True)))
    ex = engine.exposures(tensor, scenario)
    pos = {(int(k), int(s), int(i)): x for x, (k, s, i) in
           enumerate(zip(ex.material, ex.stage, ex.country, strict=True))}
    return chunk, pos


def test_gallium_ban_on_partners_without_rerouting(tiny_tensor):
    """CHN stops all gallium to partners from month 0; contracts only (phi ~ 0).

    USA needs 25/12 t a month, 20/12 of it from CHN: gap 20/12 = 1.667; its stock (10 t,
    1 t/month) covers 1 t a month: shortage 0.667 t a month, 4 t over 6 months, 6 t drawn.
    JPN: gap 20/12, stock 6 t at 0.5 t/month: shortage 1.1667 t a month -> 7 t; 3 t drawn.
    DEU: gap 10/12, no stock -> 5 t. CHN keeps its 50/12 t a month of exports stranded:
    price index ((40 + 50)/40)^(-1/0.5) = 2.25^-2 = 0.19753. USA consumes 5/12 + 1 of
    25/12: (17/25)^-2 = 2.16263.
    """
    ban = Event("ban", CHN, {0: 0}, targets=PARTNERS, severity=1.0)
    c, pos = run(tiny_tensor, [ban], reroute_lag=1e12, elasticity=0.5)
    usa, jpn, deu, chn = (pos[(0, 0, i)] for i in (USA, JPN, DEU, CHN))
    np.testing.assert_allclose(c.shortage_t[:, usa], 4.0, rtol=1e-9)
    np.testing.assert_allclose(c.stock_drawn_t[:, usa], 6.0, rtol=1e-9)
    np.testing.assert_allclose(c.shortage_t[:, jpn], 7.0, rtol=1e-9)
    np.testing.assert_allclose(c.stock_drawn_t[:, jpn], 3.0, rtol=1e-9)
    np.testing.assert_allclose(c.shortage_t[:, deu], 5.0, rtol=1e-9)
    assert (c.shortage_t[:, chn] == 0).all()
    np.testing.assert_allclose(c.price_mean[:, chn], 2.25**-2, rtol=1e-9)
    np.testing.assert_allclose(c.price_peak[:, usa], (17 / 25) ** -2, rtol=1e-9)
    np.testing.assert_allclose(c.peak_share[:, usa], (20 / 12 - 1) / (25 / 12), rtol=1e-9)
    assert (c.months_short[:, usa] == H).all() and (c.first_short[:, usa] == 0).all()


def test_gallium_ban_with_full_rerouting(tiny_tensor):
    """Same ban, phi = 1 from month 0. CHN's routes to partners are closed; JPN's 10 t/year
    is all partners can get, shared max-min fair over their needs 25 + 10 + 25 = 60:
    each receives 1/6 of its need. USA gap 25/12 * 5/6 = 1.7361, minus 1 t stock =
    0.7361 a month -> 4.4167 t over 6 months. DEU: 10/12 * 5/6 * 6 = 4.1667 t.
    CHN: supply 90, sells 40 at home; unsold 50 = its stopped exports -> stranded 50, the
    same price as without rerouting."""
    ban = Event("ban", CHN, {0: 0}, targets=PARTNERS, severity=1.0)
    c, pos = run(tiny_tensor, [ban], reroute_lag=0.0, elasticity=0.5)
    np.testing.assert_allclose(c.shortage_t[:, pos[(0, 0, USA)]], 6 * (25 / 12 * 5 / 6 - 1),
                               rtol=1e-9)
    np.testing.assert_allclose(c.shortage_t[:, pos[(0, 0, DEU)]], 6 * 10 / 12 * 5 / 6,
                               rtol=1e-9)
    np.testing.assert_allclose(c.series[:, pos[(0, 0, DEU)]], 5 / 6, rtol=1e-6)
    np.testing.assert_allclose(c.price_mean[:, pos[(0, 0, CHN)]], 2.25**-2, rtol=1e-9)


def test_graphite_mine_outage_propagates_to_refiners(tiny_tensor):
    """AUS loses half its graphite ore (stage 0) from month 0, contracts only.

    Mining: CHN receives 60 + 20/2 = 70 of 80 (short 1/8), JPN 10/2 + 10 = 15 of 20
    (short 1/4). Refining (yield 1): CHN produces 70 of 80 (factor 7/8), JPN 15 of 20
    (factor 3/4). USA receives 20 * 7/8 + 10 * 3/4 = 25 of 30 (short 1/6); DEU 10 * 7/8
    (short 1/8); JPN 10 * 7/8 + 10 * 3/4 = 16.25 of 20 (short 3/16); CHN 35 of 40 (1/8).
    """
    out = Event("aus", AUS, {1: 0}, kind="production_outage", severity=0.5)
    c, pos = run(tiny_tensor, [out], reroute_lag=1e12)
    share = {key: c.series[0, x, 0] for key, x in pos.items()}
    assert share[(1, 0, CHN)] == pytest.approx(1 / 8, rel=1e-6)
    assert share[(1, 0, JPN)] == pytest.approx(1 / 4, rel=1e-6)
    assert share[(1, 1, USA)] == pytest.approx(1 / 6, rel=1e-6)
    assert share[(1, 1, DEU)] == pytest.approx(1 / 8, rel=1e-6)
    assert share[(1, 1, JPN)] == pytest.approx(3 / 16, rel=1e-6)
    assert share[(1, 1, CHN)] == pytest.approx(1 / 8, rel=1e-6)
    np.testing.assert_allclose(c.shortage_t[:, pos[(1, 1, USA)]], 6 * 5 / 12, rtol=1e-9)


def test_graphite_refining_ban_on_usa_with_rerouting(tiny_tensor):
    """CHN stops refined graphite to USA, phi = 1. USA can only buy from JPN (20): the
    fair level for USA is 20/30 = 2/3; CHN's 80 then covers CHN 40, DEU 10, JPN 20 in
    full. USA short 1/3 (10/12 t a month). JPN's spare refining capacity (10) cannot run:
    all ore is used. CHN stopped 20, unsold 100 - 90 = 10: stranded 10, price
    ((40 + 10)/40)^(-1/0.25) = 1.25^-4 = 0.4096."""
    ban = Event("ban", CHN, {1: 1}, targets=[USA], severity=1.0)
    c, pos = run(tiny_tensor, [ban], reroute_lag=0.0, spare_usable=1.0, elasticity=0.25)
    np.testing.assert_allclose(c.series[0, pos[(1, 1, USA)]], 1 / 3, rtol=1e-6)
    for i in (CHN, DEU, JPN):
        assert (c.shortage_t[:, pos[(1, 1, i)]] == 0).all()
    np.testing.assert_allclose(c.price_mean[:, pos[(1, 1, CHN)]], 1.25**-4, rtol=1e-9)
    np.testing.assert_allclose(c.price_peak[:, pos[(1, 1, USA)]], (2 / 3) ** -4, rtol=1e-9)
