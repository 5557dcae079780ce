"""The first-order sensitivity estimator against models with known indices.

Each model's inputs are independent and the analytic indices are written out. Tolerances
come from the estimator's spread at the sample size used: the standard deviation over
200 independent replications (measured once and quoted beside each test), times four,
so a correct estimator fails about once in 16 000 seeds while a wrong one (no bias
correction, a wrong variance, a mis-binned flag) misses by much more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simcore.report.analysis import driver_inputs, sensitivity_table
from simcore.report.sensitivity import bin_codes, default_bins, first_order_indices


def _uniforms(n, k, seed):
    return np.random.default_rng(seed).uniform(size=(k, n))


def test_output_driven_by_one_input_only():
    # Y = f(X1), nonlinear and not monotone: S1 = 1, S2 = S3 = 0.
    # An input that does nothing scores N(0, sqrt(2 (B - 1)) / n) = sd 0.0028 at
    # n = 4000, B = 63: tolerance 0.012. Binning loses ~Var(f' dx)/12 of f, < 0.5 % here.
    x = _uniforms(4000, 3, 1)
    y = np.sin(2 * np.pi * x[0]) + x[0] ** 2
    res = first_order_indices({"x1": x[0], "x2": x[1], "x3": x[2]}, y, n_boot=0)
    assert res.index[0] == pytest.approx(1.0, abs=0.01)
    assert abs(res.index[1]) < 0.012
    assert abs(res.index[2]) < 0.012


def test_additive_model_matches_analytic_indices():
    # Y = a X1 + b X2, X uniform: S1 = a^2 / (a^2 + b^2) = 0.2, S2 = 0.8 (a = 1, b = 2).
    # Spread at n = 4000: sd 0.010 (S1), 0.004 (S2), 0.003 (X3) -> tolerances 0.04,
    # 0.016, 0.012.
    x = _uniforms(4000, 3, 2)
    a, b = 1.0, 2.0
    y = a * x[0] + b * x[1]
    res = first_order_indices({"x1": x[0], "x2": x[1], "x3": x[2]}, y, n_boot=0)
    assert res.index[0] == pytest.approx(a * a / (a * a + b * b), abs=0.04)
    assert res.index[1] == pytest.approx(b * b / (a * a + b * b), abs=0.016)
    assert abs(res.index[2]) < 0.012


def test_ishigami_function():
    # The standard test function of sensitivity analysis (Ishigami & Homma 1990), with
    # a = 7, b = 0.1 on U(-pi, pi)^3: S1 = 0.3139, S2 = 0.4424, S3 = 0 (X3 acts only
    # through its interaction with X1). At n = 20000, B = 100: sd about 0.005.
    a, b = 7.0, 0.1
    x = np.random.default_rng(3).uniform(-np.pi, np.pi, size=(3, 20000))
    y = np.sin(x[0]) + a * np.sin(x[1]) ** 2 + b * x[2] ** 4 * np.sin(x[0])
    v = a**2 / 8 + b * np.pi**4 / 5 + b**2 * np.pi**8 / 18 + 0.5
    s1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2 / v
    s2 = a**2 / 8 / v
    res = first_order_indices({"x1": x[0], "x2": x[1], "x3": x[2]}, y, n_boot=0)
    assert s1 == pytest.approx(0.3139, abs=1e-4) and s2 == pytest.approx(0.4424, abs=1e-4)
    assert res.index[0] == pytest.approx(s1, abs=0.02)
    assert res.index[1] == pytest.approx(s2, abs=0.02)
    assert abs(res.index[2]) < 0.02


def test_flag_and_severity_with_interaction():
    # Y = F * S, F ~ Bernoulli(1/2) (an event fires), S ~ U(0, 1) (its severity).
    # Var Y = p/3 - p^2/4 = 5/48; Var E[Y|F] = p(1-p)/4 = 1/16 -> S_F = 0.6;
    # Var E[Y|S] = p^2/12 = 1/48 -> S_S = 0.2; the remaining 0.2 is the interaction.
    # Spread at n = 4000: sd 0.009 (F), 0.012 (S).
    x = _uniforms(4000, 3, 4)
    fired = x[0] < 0.5
    y = fired * x[1]
    res = first_order_indices({"fired": fired, "severity": x[1], "x3": x[2]}, y, n_boot=0)
    assert res.bins[0] == 2  # a flag gets one bin per value
    assert res.index[0] == pytest.approx(0.6, abs=0.04)
    assert res.index[1] == pytest.approx(0.2, abs=0.05)
    assert abs(res.index[2]) < 0.012


def test_undefined_input_is_scaled_not_binned():
    # Onset exists only where the event fired (NaN elsewhere). Y = F * 1(onset > 2.5),
    # onset ~ U(0, 5): Y ~ Bernoulli(1/4), Var Y = 3/16; Var E[Y|F] = 1/16 and
    # Var E[Y|onset] = (1/2)^2 Var(1(onset > 2.5)) = 1/16: both indices 1/3. Counting
    # "not fired" as an onset bin would give the onset 2/3 instead.
    rng = np.random.default_rng(5)
    n = 4000
    fired = rng.uniform(size=n) < 0.5
    onset = np.where(fired, rng.uniform(0, 5, n), np.nan)
    y = (fired & (np.nan_to_num(onset) > 2.5)).astype(float)
    res = first_order_indices({"fired": fired, "onset": onset}, y, n_boot=0)
    assert res.index[0] == pytest.approx(1 / 3, abs=0.04)
    assert res.index[1] == pytest.approx(1 / 3, abs=0.04)


def test_bias_correction_removes_noise_floor():
    # An input unrelated to Y: the uncorrected correlation ratio averages (B - 1) / n
    # = 13/200 = 0.065 at n = 200; the corrected one averages 0. Over 300 replications
    # the mean has sd 0.025 / sqrt(300) = 0.0014: tolerance 0.006.
    rng = np.random.default_rng(6)
    est = []
    for _ in range(300):
        x = rng.uniform(size=200)
        y = rng.normal(size=200)
        est.append(first_order_indices({"x": x}, y, n_boot=0).index[0])
    assert default_bins(200) == 14
    assert abs(np.mean(est)) < 0.006


def test_bootstrap_interval_covers_truth():
    # 95 % intervals over 40 independent samples of the additive model (n = 500):
    # a correct interval misses about 2 of 40; fewer than 34 hits has probability
    # below 0.3 % for a true 95 % interval.
    rng = np.random.default_rng(7)
    truth = np.array([0.2, 0.8])
    hits = np.zeros(2)
    for rep in range(40):
        x = rng.uniform(size=(2, 500))
        y = x[0] + 2 * x[1]
        res = first_order_indices({"x1": x[0], "x2": x[1]}, y, n_boot=100, seed=rep)
        hits += (res.low <= truth) & (truth <= res.high)
        assert np.all(res.low <= res.index + 0.05) and np.all(res.index <= res.high + 0.05)
    assert np.all(hits >= 34), hits


def test_bootstrap_is_seeded():
    x = _uniforms(300, 2, 8)
    y = x[0] + x[1] ** 2
    r1 = first_order_indices({"a": x[0], "b": x[1]}, y, n_boot=50, seed=3)
    r2 = first_order_indices({"a": x[0], "b": x[1]}, y, n_boot=50, seed=3)
    np.testing.assert_array_equal(r1.low, r2.low)
    np.testing.assert_array_equal(r1.high, r2.high)


def test_constant_output_or_input_gives_nan():
    x = _uniforms(100, 1, 9)[0]
    res = first_order_indices({"x": x}, np.zeros(100), n_boot=10)
    assert np.isnan(res.index[0]) and np.isnan(res.low[0])
    res = first_order_indices({"c": np.ones(100)}, x, n_boot=0)
    assert np.isnan(res.index[0])


def test_bad_shapes_and_nan_output_are_refused():
    with pytest.raises(ValueError, match="shape"):
        first_order_indices({"x": np.zeros(3)}, np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        first_order_indices({"x": np.zeros(2)}, np.array([0.0, np.nan]))


def test_bin_codes_equal_count_and_ties():
    codes, b = bin_codes(np.arange(100.0), 10)
    assert b == 10 and np.all(np.bincount(codes) == 10)
    # a point mass: ties share one bin instead of being split by draw order
    x = np.concatenate([np.zeros(60), np.linspace(1, 2, 40)])
    codes, b = bin_codes(x, 10)
    assert len(set(codes[:60])) == 1
    assert np.bincount(codes)[codes[0]] == 60
    codes, b = bin_codes(np.array([np.nan, 1.0, 2.0, np.nan]), 5)
    assert list(codes) == [-1, 0, 1, -1] and b == 2


def test_driver_inputs_prepares_the_drivers_table():
    drivers = pd.DataFrame(
        {
            "draw": [2, 0, 1, 3],
            "event/a/fired": [True, False, True, False],
            "event/a/occurs": [0.1, 0.9, 0.2, 0.8],
            "event/a/onset": [3, -1, 5, -1],
            "event/a/severity": [0.5, 0.6, 0.7, 0.8],
            "response/price_cap": [10.0] * 4,
        }
    )
    draws, inputs = driver_inputs(drivers)
    assert list(draws) == [0, 1, 2, 3]
    assert list(inputs) == ["event/a/fired", "event/a/onset", "event/a/severity"]
    np.testing.assert_array_equal(inputs["event/a/fired"], [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(inputs["event/a/onset"], [np.nan, 5, 3, np.nan])


def test_sensitivity_table_joins_shortage_by_draw():
    # Shortage rows in shuffled order and only where non-zero: the join must align by
    # draw and fill absent draws with 0, or the index of the driving input collapses.
    rng = np.random.default_rng(10)
    n = 1000
    sev = rng.uniform(size=n)
    other = rng.uniform(size=n)
    share = np.where(sev > 0.5, sev, 0.0)
    drivers = pd.DataFrame({"draw": np.arange(n), "event/e/severity": sev, "response/x": other})
    keep = share > 0
    shortage = pd.DataFrame(
        {
            "draw": np.arange(n)[keep],
            "material": "gallium",
            "stage": "refining",
            "country": "USA",
            "shortage_share": share[keep],
        }
    ).sample(frac=1, random_state=1)
    ex = pd.DataFrame({"material": ["gallium"], "stage": ["refining"], "country": ["USA"]})
    table = sensitivity_table(shortage, drivers, ex, n_boot=20)
    assert list(table["driver"]) == ["event/e/severity", "response/x"]
    # Y is a function of severity alone: index 1 (binning loses ~1 % at the jump)
    assert table["index"].iloc[0] == pytest.approx(1.0, abs=0.03)
    assert abs(table["index"].iloc[1]) < 0.03


def test_more_bins_than_half_the_draws_is_refused_with_the_most_allowed():
    """--bins 100 on 50 draws printed blank indices and 'each at most nan', exit 0."""
    from simcore.errors import ResultError

    rng = np.random.default_rng(3)
    n = 50
    sev = rng.uniform(size=n)
    drivers = pd.DataFrame({"draw": np.arange(n), "event/e/severity": sev})
    shortage = pd.DataFrame({"draw": np.arange(n), "material": "gallium", "stage": "refining",
                             "country": "USA", "shortage_share": sev})
    ex = pd.DataFrame({"material": ["gallium"], "stage": ["refining"], "country": ["USA"]})
    with pytest.raises(ResultError, match="--bins 26 is more than half the 50 draws"
                                          ".*use at most 25, or leave --bins out"):
        sensitivity_table(shortage, drivers, ex, n_boot=0, bins=26)
    table = sensitivity_table(shortage, drivers, ex, n_boot=0, bins=25)
    assert np.isfinite(table["index"]).all()


def _reference_index(x, y, w, bins):
    """Slow, plain reference of the weighted estimator for one input (module docstring
    formulas, one bin at a time): undefined x (NaN) is left out of the bins."""
    codes, nb_bins = bin_codes(x, bins)
    total = w.sum()
    ybar = (w * y).sum() / total
    var_y = (w * (y - ybar) ** 2).sum() / (total - (w * w).sum() / total)
    d_mask = codes >= 0
    w_def = w[d_mask].sum()
    ybar_d = (w[d_mask] * y[d_mask]).sum() / w_def
    ssb = ssw = c1 = c2 = q_over_w = 0.0
    b = 0
    for k in range(nb_bins):
        m = codes == k
        wk = w[m].sum()
        if wk == 0:
            continue
        b += 1
        mean = (w[m] * y[m]).sum() / wk
        ssb += wk * (mean - ybar_d) ** 2
        ssw += (w[m] * (y[m] - mean) ** 2).sum()
        q_over_w += (w[m] ** 2).sum() / wk
        c2 += (w[m] ** 2).sum()
    c1 = q_over_w - c2 / w_def
    msw = ssw / (w_def - q_over_w)
    return (w_def / total) ** 2 * (ssb - c1 * msw) / w_def / var_y


def test_vectorised_estimator_matches_plain_reference():
    from simcore.report.sensitivity import _indices

    rng = np.random.default_rng(11)
    n = 300
    x = rng.uniform(size=(3, n))
    x[2, rng.uniform(size=n) < 0.3] = np.nan  # an input undefined in some draws
    y = x[0] + np.nan_to_num(x[2]) ** 2 + rng.normal(0, 0.1, n)
    for w in (np.ones(n), np.bincount(rng.integers(0, n, n), minlength=n).astype(float)):
        coded = [bin_codes(row, 12) for row in x]
        got = _indices(np.stack([c for c, _ in coded]), np.array([b for _, b in coded]), y, w)
        want = [_reference_index(row, y, w, 12) for row in x]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_bootstrap_sums_are_bincounts_and_the_intervals_those_of_plain_resamples():
    """The bootstrap's compiled sums per cell are bincount's numbers, bit for bit, and
    its intervals those of the plain estimator on the same resamples."""
    from simcore.kernel.binsums import cell_sums
    from simcore.report.sensitivity import _indices

    rng = np.random.default_rng(5)
    n = 400
    x = rng.uniform(size=(4, n))
    x[1, rng.uniform(size=n) < 0.4] = np.nan
    x[3] = (x[3] < 0.3).astype(float)
    y = x[0] ** 2 + np.nan_to_num(x[1]) + 0.5 * x[3] + rng.normal(0, 0.2, n)
    coded = [bin_codes(row, 9) for row in x]
    codes = np.stack([c for c, _ in coded])
    n_bins = np.array([b for _, b in coded])
    offsets = np.concatenate(([0], np.cumsum(n_bins)[:-1]))
    flat_codes = np.where(codes >= 0, codes + offsets[:, None], -1)
    w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
    yc = y - y.mean()
    got = [np.empty(int(n_bins.sum())) for _ in range(4)]
    cell_sums(np.ascontiguousarray(flat_codes.T, dtype=np.int32), w, yc, *got)
    keep = flat_codes >= 0
    flat = flat_codes[keep]
    wd, yd = np.broadcast_to(w, codes.shape)[keep], np.broadcast_to(yc, codes.shape)[keep]
    for g, weights in zip(got, (wd, wd * wd, wd * yd, wd * yd * yd), strict=True):
        assert np.array_equal(g, np.bincount(flat, weights=weights, minlength=len(g)))

    res = first_order_indices({f"x{i}": x[i] for i in range(4)}, y, bins=9, n_boot=40,
                              seed=8)
    boot_rng = np.random.default_rng(8)
    boot = np.stack([
        _indices(codes, n_bins, y,
                 np.bincount(boot_rng.integers(0, n, n), minlength=n).astype(np.float64))
        for _ in range(40)])
    alpha = (1.0 - 0.95) / 2.0  # as first_order_indices forms it
    assert np.array_equal(res.low, np.nanquantile(boot, alpha, axis=0))
    assert np.array_equal(res.high, np.nanquantile(boot, 1.0 - alpha, axis=0))
