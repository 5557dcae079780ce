"""The flow fit (simcore/databuild/fit.py) on small cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from simcore.databuild.fit import derive_flows, ras, unmet

CODES = ("A", "B", "C", "D", "E")


def test_domestic_use_first_then_gravity():
    production = np.array([10.0, 0.0, 5.0, 0.0, 0.0])
    need = np.array([2.0, 6.0, 3.0, 4.0, 0.0])
    flows, _ = derive_flows(production, need, CODES)
    # home use first: A keeps 2, C keeps 3; exports A 8, C 2; imports B 6, D 4
    # gravity without anchors is the product X[e] M[i] / total, exactly
    expected = np.zeros((5, 5))
    expected[0, 0], expected[2, 2] = 2.0, 3.0
    expected[0, 1], expected[0, 3] = 8 * 6 / 10, 8 * 4 / 10
    expected[2, 1], expected[2, 3] = 2 * 6 / 10, 2 * 4 / 10
    np.testing.assert_allclose(flows, expected, atol=1e-12)


def test_anchor_held_and_not_topped_up():
    production = np.array([10.0, 0.0, 5.0, 0.0, 0.0])
    need = np.array([2.0, 6.0, 3.0, 4.0, 0.0])
    flows, report = derive_flows(production, need, CODES, anchors={"B": {"C": 0.25}})
    assert flows[2, 1] == pytest.approx(0.25 * 6)  # held exactly: not diluted, not topped up
    assert report.anchors_held and not report.anchors_capped
    np.testing.assert_allclose(flows.sum(axis=1), production, atol=1e-9)
    np.testing.assert_allclose(flows.sum(axis=0), need, atol=1e-9)


def test_anchor_capped_by_what_the_origin_can_export():
    production = np.array([10.0, 0.0, 5.0, 0.0, 0.0])
    need = np.array([2.0, 6.0, 3.0, 4.0, 0.0])
    flows, report = derive_flows(production, need, CODES, anchors={"B": {"C": 0.5}})
    assert flows[2, 1] == pytest.approx(2.0)  # C has only 2 left after its own use
    assert report.anchors_capped == [("C", "B", 0.5, pytest.approx(2 / 6))]


@pytest.mark.parametrize("seed", range(8))
def test_random_instances_balance(seed):
    rng = np.random.default_rng(seed)
    c = 7
    production = rng.uniform(0, 10, c) * (rng.uniform(size=c) < 0.6)
    production[0] += 1.0
    need = rng.dirichlet(np.ones(c)) * production.sum()
    pattern = rng.uniform(size=(c, c)) * (rng.uniform(size=(c, c)) < 0.5)
    codes = tuple(f"C{n}" for n in range(c))
    anchors = {"C3": {"C0": 0.3}}
    flows, _ = derive_flows(production, need, codes, anchors=anchors, pattern=pattern,
                            prune_below=1e-3)
    assert (flows >= 0).all()
    np.testing.assert_allclose(flows.sum(axis=1), production, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(flows.sum(axis=0), need, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.diag(flows), np.minimum(production, need), atol=1e-9)


def test_ras_reports_an_infeasible_pattern():
    prior = np.array([[1.0, 0.0], [1.0, 0.0]])  # nothing may reach column 1
    _, ok, _ = ras(prior, np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert not ok


def _unmet_by_lp(support, rows, cols):
    """rows.sum() less the largest flow on the support's cells within the row and column
    sums, by linear programming (scipy's HiGHS): the reference for ``unmet``."""
    from scipy.optimize import linprog

    cells = np.argwhere(support)
    if len(cells) == 0:
        return float(rows.sum())
    n_r, n_c = support.shape
    a_ub = np.zeros((n_r + n_c, len(cells)))
    for n, (i, j) in enumerate(cells):
        a_ub[i, n] = 1.0
        a_ub[n_r + j, n] = 1.0
    res = linprog(-np.ones(len(cells)), A_ub=a_ub, b_ub=np.concatenate([rows, cols]),
                  bounds=(0, None), method="highs")
    assert res.status == 0
    return float(rows.sum() + res.fun)


@pytest.mark.parametrize("seed", range(40))
def test_unmet_is_the_transport_problems_shortfall(seed):
    """The feasibility check RAS runs first: on random sparse patterns (some feasible,
    some not), what no matrix on the pattern can carry equals the linear program's."""
    rng = np.random.default_rng(seed)
    n_r, n_c = rng.integers(2, 12, size=2)
    support = rng.random((n_r, n_c)) < rng.uniform(0.2, 0.9)
    rows = rng.random(n_r) * (rng.random(n_r) < 0.9)
    cols = rng.random(n_c)
    cols *= rows.sum() / cols.sum()
    expect = _unmet_by_lp(support, rows, cols)
    assert unmet(support, rows, cols) == pytest.approx(expect, abs=1e-9)


def test_ras_says_at_once_when_no_matrix_fits_and_iterates_when_one_does():
    rows, cols = np.array([3.0, 1.0]), np.array([2.0, 2.0])
    blocked = np.array([[1.0, 0.0], [1.0, 1.0]])  # row 0 (3) reaches column 0 (2) only
    assert unmet(blocked > 0, rows, cols) == pytest.approx(1.0)
    a, ok, its = ras(blocked, rows, cols, max_iter=50_000)
    assert (ok, its) == (False, 50_000) and np.array_equal(a, blocked)
    fits = np.array([[1.0, 1.0], [1.0, 0.0]])  # 3 = 1 + 2, 1 -> column 0
    assert unmet(fits > 0, rows, cols) == 0.0
    a, ok, its = ras(fits, rows, cols)
    assert ok and its > 1
    np.testing.assert_allclose(a, [[1.0, 2.0], [1.0, 0.0]])


def test_unequal_totals_are_refused():
    with pytest.raises(ValueError, match="production"):
        derive_flows(np.array([1.0, 0.0]), np.array([0.0, 2.0]), ("A", "B"))


# --- fit_observed: observed trade as the prior ---------------------------------------------------

from simcore.databuild.fit import FITTED, OBSERVED, fit_observed  # noqa: E402


def test_consistent_trade_comes_back_unchanged():
    # A mines 10 and ships 3 to B, 2 to C; B uses 4 (3 from A, 1 own); C uses 6 (2 from A)
    production = np.array([10.0, 1.0, 4.0, 0.0, 0.0])
    need = np.array([5.0, 4.0, 6.0, 0.0, 0.0])
    observed = np.zeros((5, 5))
    observed[0, 1], observed[0, 2] = 3.0, 2.0
    flows, fit = fit_observed(production, need, observed)
    expected = observed.copy()
    expected[0, 0], expected[1, 1], expected[2, 2] = 5.0, 1.0, 4.0  # what remains at home
    np.testing.assert_allclose(flows, expected, atol=1e-9)
    assert fit.source(0, 1) == OBSERVED and fit.source(0, 0) == FITTED


def test_under_recorded_exporter_keeps_its_destination_shares():
    # the data show A shipping 1 to B and 3 to C, but A must export 8: its row is scaled
    production = np.array([8.0, 0.0, 0.0, 0.0, 0.0])
    need = np.array([0.0, 2.0, 6.0, 0.0, 0.0])
    observed = np.zeros((5, 5))
    observed[0, 1], observed[0, 2] = 1.0, 3.0
    flows, _ = fit_observed(production, need, observed)
    assert flows[0, 1] == pytest.approx(2.0) and flows[0, 2] == pytest.approx(6.0)


def test_exporter_outside_the_data_is_filled_where_imports_are_unexplained():
    # D (Indonesian matte, say) must export 5 but ships nothing the data show; C imports
    # 5 more than the data show: the fill sends D's 5 to C, and it reads as fitted
    production = np.array([4.0, 0.0, 0.0, 5.0, 0.0])
    need = np.array([0.0, 4.0, 5.0, 0.0, 0.0])
    observed = np.zeros((5, 5))
    observed[0, 1] = 4.0
    flows, fit = fit_observed(production, need, observed)
    assert flows[3, 2] == pytest.approx(5.0) and flows[0, 1] == pytest.approx(4.0)
    assert fit.source(3, 2) == FITTED and fit.source(0, 1) == OBSERVED


@pytest.mark.parametrize("seed", range(8))
def test_observed_fit_balances_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    c = 7
    production = rng.uniform(0, 10, c) * (rng.uniform(size=c) < 0.6)
    production[0] += 1.0
    need = rng.dirichlet(np.ones(c)) * production.sum()
    observed = rng.uniform(size=(c, c)) * (rng.uniform(size=(c, c)) < 0.4)
    flows, _ = fit_observed(production, need, observed, prune_below=1e-3)
    assert (flows >= 0).all()
    np.testing.assert_allclose(flows.sum(axis=1), production, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(flows.sum(axis=0), need, rtol=1e-9, atol=1e-9)
