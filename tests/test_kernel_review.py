"""Regressions found in a review of the kernel against the model contract."""

from __future__ import annotations

import numpy as np
from builders import Event, Response, make_scenario, make_tensor

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
