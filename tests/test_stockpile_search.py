"""The bracketing search (simcore/stockpile/search.py) and the target grammar and
statistics (simcore/stockpile/target.py), on plain functions: no engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simcore.stockpile.errors import StockpileError
from simcore.stockpile.search import OK, UNREACHABLE, ZERO, find_smallest, predict, slope_near
from simcore.stockpile.target import (
    binomial_cdf,
    order_ranks,
    parse_target,
    quantile,
    quantile_interval,
)

# --- the search -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    answer=st.floats(1e-3, 1e6),
    start=st.floats(1e-4, 1e7),
    shape=st.sampled_from(["linear", "convex", "step"]),
)
def test_search_finds_the_threshold_of_any_decreasing_function(answer, start, shape):
    """For a decreasing statistic that crosses the target at ``answer``, the search
    returns a size that meets it, a size 0.5 % below it that does not, and the true
    threshold lies between them."""
    target = 0.05

    def stat(x):
        r = x / answer
        if shape == "linear":
            return 0.05 + 0.3 * (1.0 - r)
        if shape == "convex":
            return 0.05 * math.exp(2.0 * (1.0 - r))
        return 0.05 + 0.01 * math.ceil(5.0 * (1.0 - r))  # plateaus, like a quantile

    upper = answer * 1e3
    res = find_smallest(stat, target, start=min(start, upper), upper=upper)
    assert res.status == OK
    assert stat(res.size) <= target < stat(res.below)
    assert res.below < answer * (1 + 1e-9) and res.size >= answer * (1 - 1e-9)
    assert res.size <= res.below * 1.005
    assert res.monotone
    assert [p.order for p in res.probes] == list(range(len(res.probes)))


def test_search_probes_do_not_depend_on_the_platforms_math_library(monkeypatch):
    """The sizes probed come from the kernel's own log and exp (fmathtab) and correctly
    rounded sums, not from libm, whose last bits differ between platforms: with the
    module's math.exp and math.log one unit in the last place off, and Python's sum
    adding in another order, every probe is the same float."""
    import types

    from simcore.stockpile import search

    def stat(x):
        return 0.05 * math.exp(2.0 * (1.0 - x / 3.7))  # crosses 0.05 at 3.7

    def probes():
        res = find_smallest(stat, 0.05, start=0.3, upper=1e4, check_above=(1.3,),
                            known=[(2.0, stat(2.0)), (2.9, stat(2.9))])
        return [(p.size, p.value) for p in res.probes]

    before = probes()
    off = types.SimpleNamespace(**{n: getattr(math, n) for n in dir(math) if not n.startswith("_")})
    off.exp = lambda v: float(np.nextafter(math.exp(v), math.inf))
    off.log = lambda v: float(np.nextafter(math.log(v), math.inf))
    monkeypatch.setattr(search, "math", off)
    monkeypatch.setattr(search, "sum", lambda it, start=0.0: math.fsum(reversed(list(it))) + start,
                        raising=False)  # a global of the module only, ahead of the builtin
    assert probes() == before
    assert len(before) > 6  # the interpolation and the slope's prediction both ran


def test_search_zero_and_unreachable():
    res = find_smallest(lambda x: 0.01, 0.05, start=1.0, upper=10.0)
    assert res.status == ZERO and res.size == 0.0 and len(res.probes) == 1
    # never below 0.1: not even the upper bound meets 0.05; the best value is named
    res = find_smallest(lambda x: 0.1 + 1.0 / (1.0 + x), 0.05, start=1.0, upper=1000.0)
    assert res.status == UNREACHABLE
    assert res.best == pytest.approx(0.1 + 1.0 / 1001.0) and res.best_size == 1000.0


def test_search_handles_a_statistic_that_is_not_monotone():
    """Meets on [1, 2], misses between 2 and 5, meets from 5 on. The search first finds
    1; the check above the answer (at twice it, just above 2) misses, so the answer is the
    smallest size above which every evaluated size meets, just above 5, and the miss is
    recorded."""

    def stat(x):
        return 0.0 if (1.0 <= x <= 2.0 or x >= 5.0) else 1.0

    res = find_smallest(stat, 0.5, start=1.5, upper=100.0, check_above=(2.0,))
    assert res.status == OK
    assert not res.monotone
    assert res.violations and all(2.0 < s < 5.0 for s, _ in res.violations)
    assert 5.0 <= res.size <= 5.0 * 1.005 and res.below < 5.0
    seen_misses = [p.size for p in res.probes if not p.meets]
    assert max(seen_misses) < res.size


def test_known_points_close_a_bracket_and_slope_predicts():
    calls = []

    def stat(x):
        calls.append(x)
        return 0.2 - 0.05 * math.log(x)

    answer = math.exp(3.0)
    guess = predict(15.0, stat(15.0), 0.05, slope=0.05)
    assert guess == pytest.approx(answer)  # a log-linear statistic: exact
    calls.clear()
    res = find_smallest(stat, 0.05, start=guess, upper=1e4, factor=1.005, grow=True,
                        check_zero=False, known=[(15.0, stat(15.0))])
    assert res.status == OK and len(calls) <= 3  # the guess, one closing probe or two
    probes = res.probes
    assert slope_near(probes, res.size) == pytest.approx(0.05, rel=1e-6)


# --- targets ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, q, metric, value", [
    ("p95<=0.05", 0.95, "share", 0.05),
    (" P95 <= 5% ", 0.95, "share", 0.05),
    ("p99.5(share)<=0.1", 0.995, "share", 0.1),
    ("p90(months)<=2", 0.90, "months", 2.0),
    ("p95(price_peak)<=1.5", 0.95, "price", 1.5),
])
def test_target_grammar(text, q, metric, value):
    t = parse_target(text, horizon=24)
    assert (t.quantile, t.metric, t.value) == (pytest.approx(q), metric, pytest.approx(value))


@pytest.mark.parametrize("text, says", [
    ("p95<0.05", "not a target"),
    ("p95>=0.05", "not a target"),
    ("95<=0.05", "not a target"),
    ("p100<=0.05", "outside (0, 100)"),
    ("p95(value)<=3", "unknown metric 'value'"),
    ("p95(months)<=50%", "'%' applies to the shortage share only"),
    ("p95<=1.2", "at most 1"),
    ("p95(months)<=24", "the horizon has 24 months"),
    ("p95(price)<=0.5", "no stockpile brings a peak price index below 1"),
])
def test_malformed_targets_name_the_option_and_the_fix(text, says):
    with pytest.raises(StockpileError) as err:
        parse_target(text, horizon=24)
    assert "--target" in str(err.value) and says in str(err.value)


# --- statistics ------------------------------------------------------------------------------


def test_quantile_is_numpys_linear_quantile():
    rng = np.random.default_rng(1)
    x = rng.random(101)
    for q in (0.05, 0.5, 0.95, 0.999):
        assert quantile(x, q) == pytest.approx(float(np.quantile(x, q)), abs=1e-15)


def test_order_statistic_ranks_match_scipy_and_cover():
    stats = pytest.importorskip("scipy.stats")
    for n, q in ((50, 0.95), (200, 0.95), (1000, 0.9), (5000, 0.99)):
        cdf = binomial_cdf(n, q)
        assert np.allclose(cdf, stats.binom.cdf(np.arange(n + 1), n, q), atol=1e-10)
        lo, hi = order_ranks(n, q)
        # P(x_(lo) <= xi <= x_(hi)) = P(lo <= B <= hi - 1) for B ~ Binomial(n, q)
        cover = stats.binom.cdf(hi - 1, n, q) - stats.binom.cdf(lo - 1, n, q)
        assert cover >= 0.95 or (lo == 1 or hi == n)
    # coverage on samples: the interval holds the true P95 of U(0, 1) in >= 94 % of 400
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(400):
        lo, hi = quantile_interval(rng.random(300), 0.95)
        hits += lo <= 0.95 <= hi
    assert hits >= 0.94 * 400
