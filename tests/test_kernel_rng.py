"""Random streams: uniformity, keying, distribution formulas (scipy.stats), event
frequencies within binomial intervals, the occurrence copula. Tolerances are stated per
check; the sample sizes keep each check at a false-alarm rate below about 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
from builders import Event, Response, make_scenario, make_tensor
from scipy import stats

from simcore import engine
from simcore.compiled import name_key
from simcore.kernel import rng

N = 20000


def sample(spec_rows, dist, n=N, seed=123, key="x"):
    par = np.array([spec_rows], dtype=np.float64)
    out = np.zeros((n, 1))
    rng.sample_block(np.uint64(seed), 0, np.array([name_key(key)], dtype=np.uint64),
                     np.array([dist], dtype=np.int64), par, np.zeros(1), np.zeros(1), out)
    return out[:, 0]


def check_against(x, frozen):
    """Mean within 5 standard errors; the empirical CDF at the 5/25/50/75/95 % quantiles
    within 5 binomial standard errors of the nominal level."""
    n = x.shape[0]
    assert abs(x.mean() - frozen.mean()) <= 5 * frozen.std() / np.sqrt(n) + 1e-12
    for p in (0.05, 0.25, 0.5, 0.75, 0.95):
        q = frozen.ppf(p)
        assert abs((x <= q).mean() - p) <= 5 * np.sqrt(p * (1 - p) / n), p


def test_uniform_bits_are_uniform_and_keyed():
    u = np.array([rng.uniform(np.uint64(7), name_key("a"), d, 0) for d in range(N)])
    assert ((u > 0) & (u < 1)).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    v = np.array([rng.uniform(np.uint64(7), name_key("b"), d, 0) for d in range(N)])
    assert abs(np.corrcoef(u, v)[0, 1]) < 5 / np.sqrt(N)
    w = np.array([rng.uniform(np.uint64(8), name_key("a"), d, 0) for d in range(N)])
    assert abs(np.corrcoef(u, w)[0, 1]) < 5 / np.sqrt(N)
    # lag-1 correlation along draws
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(N)


M64 = (1 << 64) - 1


def _mix64(z: int) -> int:
    """rng.mix64 in Python integers (docs/model.md, K15)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _unmix64(z: int) -> int:
    """The inverse of rng.mix64 (SplitMix64's finaliser), in Python integers."""
    def unshift(z, s):
        x = z
        for _ in range(64 // s + 1):
            x = z ^ (x >> s)
        return x & M64
    z = unshift(z, 31)
    z = (z * pow(0x94D049BB133111EB, -1, 1 << 64)) & M64
    z = unshift(z, 27)
    z = (z * pow(0xBF58476D1CE4E5B9, -1, 1 << 64)) & M64
    return unshift(z, 30)


def _key_for_hash(seed: int, draw: int, want: int) -> int:
    """The variate key whose uniform at (seed, draw, counter 0) hashes to ``want``
    (rng.uniform's chain of mix64 run backwards)."""
    golden = 0x9E3779B97F4A7C15
    h3 = _unmix64(want) ^ golden  # counter 0: 0 * salt + golden
    h2 = _unmix64(h3) ^ ((draw * 0xD1B54A32D192ED03 + golden) & M64)
    h1 = _mix64((seed + golden) & M64)
    return _unmix64(h2) ^ h1


def test_uniform_never_reaches_one():
    """The top 53 bits all ones would make (k + 0.5) 2^-53 round to exactly 1: an event
    of probability 1 would not fire. The uniform is capped at the float64 below 1, and
    every other hash keeps the uncapped value."""
    assert _mix64(_unmix64(0x0123456789ABCDEF)) == 0x0123456789ABCDEF
    # the Python chain is the kernel's: an ordinary key's hash gives its uniform
    key = 0x5DEECE66D
    h = _mix64(_mix64(_mix64(_mix64((7 + 0x9E3779B97F4A7C15) & M64) ^ key)
                      ^ ((3 * 0xD1B54A32D192ED03 + 0x9E3779B97F4A7C15) & M64))
               ^ 0x9E3779B97F4A7C15)
    assert rng.uniform(np.uint64(7), np.uint64(key), 3, 0) == ((h >> 11) + 0.5) * 2.0**-53
    below_one = np.nextafter(1.0, 0.0)
    for want in (M64, M64 - 5, ((1 << 53) - 1) << 11):  # k = 2^53 - 1
        key = _key_for_hash(7, 3, want)
        u = rng.uniform(np.uint64(7), np.uint64(key), 3, 0)
        assert u == below_one
        assert rng.unit_interval(np.uint64(want)) == below_one
    for k in ((1 << 53) - 2, (1 << 52) + 1, 1 << 52, 12345, 0):
        h = np.uint64(k << 11)
        assert rng.unit_interval(h) == (float(k) + 0.5) * 2.0**-53 < 1.0
    assert rng.unit_interval(np.uint64(0)) == 2.0**-54
    assert rng.norm_ppf(below_one) < 9.0  # finite: the copula stays defined


@pytest.mark.parametrize(
    "row,dist,frozen",
    [
        ((2.0, 5.0, 0, 0), rng.DIST_UNIFORM, stats.uniform(2.0, 3.0)),
        ((1.0, 2.0, 6.0, 0), rng.DIST_TRIANGULAR, stats.triang(0.2, loc=1.0, scale=5.0)),
        # PERT(0, 3, 10, lambda 4) = 10 * beta(1 + 4 * 0.3, 1 + 4 * 0.7)
        ((0.0, 3.0, 10.0, 4.0), rng.DIST_PERT, stats.beta(2.2, 3.8, loc=0.0, scale=10.0)),
        ((0.0, 9.0, 10.0, 4.0), rng.DIST_PERT, stats.beta(4.6, 1.4, loc=0.0, scale=10.0)),
        ((0.5, 0.7, 2.0, 4.0), rng.DIST_BETA, stats.beta(0.5, 0.7, loc=2.0, scale=2.0)),
        ((3.0, 1.5, 1.0, 1.0), rng.DIST_BETA, stats.beta(3.0, 1.5, loc=1.0, scale=0.0 + 1e-300)),
        ((np.log(0.3), 0.4, -np.inf, np.inf), rng.DIST_LOGNORMAL,
         stats.lognorm(0.4, scale=0.3)),
    ],
)
def test_distributions_match_scipy(row, dist, frozen):
    x = sample(row, dist)
    if row[2] == row[3] and dist == rng.DIST_BETA:  # degenerate range: constant
        assert (x == row[2]).all()
        return
    check_against(x, frozen)


def test_lognormal_is_clipped_and_constant_and_discrete():
    x = sample((0.0, 1.0, 0.5, 2.0), rng.DIST_LOGNORMAL)
    assert x.min() == 0.5 and x.max() == 2.0
    assert abs((x == 0.5).mean() - stats.norm.cdf(np.log(0.5))) < 5 * np.sqrt(0.25 / N)
    assert (sample((4.2, 0, 0, 0), rng.DIST_CONST) == 4.2).all()
    values = np.array([1.0, 2.0, 5.0])
    cdf = np.array([0.2, 0.7, 1.0])
    out = np.zeros((N, 1))
    rng.sample_block(np.uint64(1), 0, np.array([name_key("d")], np.uint64),
                     np.array([rng.DIST_DISCRETE], np.int64), np.array([[0.0, 3, 0, 0]]),
                     values, cdf, out)
    freq = np.array([(out[:, 0] == v).mean() for v in values])
    assert np.abs(freq - [0.2, 0.5, 0.3]).max() < 5 * np.sqrt(0.25 / N)


def test_inverse_cdfs_are_accurate():
    for a, b in ((0.5, 0.5), (2.2, 3.8), (1.0, 1.0), (30.0, 2.0)):
        for u in (1e-9, 0.01, 0.3, 0.5, 0.99, 1 - 1e-9):
            assert rng.beta_ppf(a, b, u) == pytest.approx(stats.beta.ppf(u, a, b), abs=1e-10)
    for p in (1e-12, 1e-5, 0.02, 0.5, 0.9, 1 - 1e-10):
        assert rng.norm_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-12, abs=1e-12)


def _frequency_case(p1, p2, rho, draws):
    flow = np.zeros((1, 1, 2, 2))
    flow[0, 0, 0, 1] = flow[0, 0, 1, 0] = 10.0
    tensor = make_tensor(flow)
    events = [Event("a", 0, {0: 0}, probability=p1), Event("b", 1, {0: 0}, probability=p2),
              Event("c", 1, {0: 0}, probability=0.5, parent="a")]
    corr = None if rho is None else (["a", "b"], [[1, rho], [rho, 1]])
    scenario = make_scenario(tensor, events, response=Response(), horizon=1,
                             correlation=corr)
    return next(iter(engine.simulate(tensor, scenario, draws=draws, seed=11, chunk_size=draws)))


def test_event_frequency_within_binomial_interval():
    draws = 20000
    c = _frequency_case(0.3, 0.85, None, draws)
    for e, p in ((0, 0.3), (1, 0.85)):
        lo, hi = stats.binom.interval(0.999, draws, p)
        assert lo <= c.fired[:, e].sum() <= hi
    # a child fires only after its parent, with its own probability
    assert not (c.fired[:, 2] & ~c.fired[:, 0]).any()
    n_parent = int(c.fired[:, 0].sum())
    lo, hi = stats.binom.interval(0.999, n_parent, 0.5)
    assert lo <= c.fired[:, 2].sum() <= hi


def test_gaussian_copula_joint_frequency():
    draws, p1, p2, rho = 20000, 0.3, 0.4, 0.7
    c = _frequency_case(p1, p2, rho, draws)
    both = (c.fired[:, 0] & c.fired[:, 1]).mean()
    z = stats.norm.ppf([p1, p2])
    joint = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf(z)
    assert abs(both - joint) < 5 * np.sqrt(joint * (1 - joint) / draws)
    for e, p in ((0, p1), (1, p2)):  # margins unchanged by the copula
        lo, hi = stats.binom.interval(0.999, draws, p)
        assert lo <= c.fired[:, e].sum() <= hi
    independent = _frequency_case(p1, p2, None, draws)
    assert abs((independent.fired[:, 0] & independent.fired[:, 1]).mean() - p1 * p2) < 5 * (
        np.sqrt(p1 * p2 * (1 - p1 * p2) / draws))
