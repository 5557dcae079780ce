"""The flexible-market allocation D* (simcore.kernel.allocation) against an independent LP
oracle (scipy.optimize.linprog): maximum total delivery, then lexicographically
max-min fair delivered fractions by successive LPs."""

from __future__ import annotations

import numpy as np
import pytest
from reference_model import fair_allocation
from scipy.optimize import linprog

from simcore.kernel.allocation import allocate


class LPOracle:
    """Successive LPs over edge flows f[e, i] (plus a level t as the last variable)."""

    def __init__(self, supply, w, cap, off):
        self.S, self.w, self.cap, self.off = supply, w, cap, off
        self.ne, self.ni = cap.shape
        self.nv = self.ne * self.ni
        self.bounds = [(0.0, None if np.isinf(c) else c) for c in cap.ravel()]

    def inflow_row(self, i):
        row = np.zeros(self.nv + 1)
        row[i:self.nv:self.ni] = 1.0
        return row

    def base(self):
        A, b = [], []
        for e in range(self.ne):
            row = np.zeros(self.nv + 1)
            row[e * self.ni:(e + 1) * self.ni] = 1.0
            A.append(row)
            b.append(self.S[e])
        for i in range(self.ni):
            A.append(self.inflow_row(i))
            b.append(self.off[i] + self.w[i])
        return A, b

    def solve(self, c, A, b, Aeq, beq, t_bounds):
        res = linprog(c, A_ub=np.array(A), b_ub=np.array(b),
                      A_eq=np.array(Aeq) if Aeq else None, b_eq=np.array(beq) if Aeq else None,
                      bounds=[*self.bounds, t_bounds], method="highs")
        assert res.status == 0, res.message
        return res

    def max_total(self):
        A, b = self.base()
        c = np.zeros(self.nv + 1)
        c[: self.nv] = -1.0
        return -self.solve(c, A, b, [], [], (0, 0)).fun

    def lexmaxmin(self):
        ni = self.ni
        value = {i: self.off[i] for i in range(ni) if self.w[i] <= 0}
        active = [i for i in range(ni) if self.w[i] > 0]
        while active:
            Aeq = [self.inflow_row(i) for i in value]
            beq = list(value.values())
            A, b = self.base()
            for i in active:  # off_i + t w_i <= inflow_i
                row = -self.inflow_row(i)
                row[self.nv] = self.w[i]
                A.append(row)
                b.append(-self.off[i])
            c = np.zeros(self.nv + 1)
            c[self.nv] = -1.0
            t = self.solve(c, A, b, Aeq, beq, (0.0, 1.0)).x[self.nv]
            blocked = []
            for i in active:
                A2, b2 = self.base()
                for j in active:
                    A2.append(-self.inflow_row(j))
                    b2.append(-(self.off[j] + t * self.w[j]) + 1e-9)
                c = -self.inflow_row(i)
                best = -self.solve(c, A2, b2, Aeq, beq, (0, 0)).fun
                if best <= self.off[i] + t * self.w[i] + 1e-7 * (1 + self.w[i]):
                    blocked.append(i)
            if t >= 1 - 1e-12 or not blocked:
                blocked = list(active)
            for i in blocked:
                value[i] = self.off[i] + t * self.w[i]
                active.remove(i)
        return np.array([value[i] for i in range(ni)])


def random_instance(rng):
    ne = int(rng.integers(1, 5))
    ni = int(rng.integers(1, 6))
    supply = rng.uniform(0, 10, ne) * (rng.random(ne) > 0.15)  # some zero supplies
    w = rng.uniform(0, 10, ni) * (rng.random(ni) > 0.15)  # some zero needs
    cap = np.full((ne, ni), np.inf)
    mask = rng.random((ne, ni)) < rng.uniform(0.2, 1.0)
    cap[mask] = rng.uniform(0, 6, mask.sum()) * (rng.random(mask.sum()) > 0.25)
    if rng.random() < 0.2:  # an isolated importer: every route to it closed
        cap[:, rng.integers(ni)] = 0.0
    return supply, w, cap


def check_flows(supply, w, cap, off, D, F, tol=1e-9):
    scale = 1.0 + supply.sum() + w.sum()
    assert (F >= -tol * scale).all()
    assert (F <= np.where(np.isinf(cap), np.inf, cap) + tol * scale).all()
    assert (F.sum(axis=1) <= supply + tol * scale).all()
    np.testing.assert_allclose(F.sum(axis=0), D, atol=tol * scale)
    assert (D <= off + w + tol * scale).all() and (D >= off - tol * scale).all()


def test_allocation_matches_lp_on_1000_random_instances():
    rng = np.random.default_rng(20261127)
    for _ in range(1000):
        supply, w, cap = random_instance(rng)
        off = np.zeros_like(w)
        D, F = allocate(supply, w, cap, flows=True)
        oracle = LPOracle(supply, w, cap, off)
        scale = 1.0 + supply.sum() + w.sum()
        np.testing.assert_allclose(D, oracle.lexmaxmin(), atol=1e-7 * scale)
        assert D.sum() == pytest.approx(oracle.max_total(), abs=1e-9 * scale)
        check_flows(supply, w, cap, off, D, F)


def test_allocation_with_offsets_matches_subset_enumeration():
    """Round 2 (feed for spare capacity): fixed deliveries plus fair extra shares; checked
    against the reference's exact subset water-filling to 1e-9."""
    rng = np.random.default_rng(5)
    for _ in range(400):
        supply, w, cap = random_instance(rng)
        base = fair_allocation(supply, rng.uniform(0, 10, w.shape[0]), cap)
        D, F = allocate(supply, w, cap, offset=base, flows=True)
        expected = fair_allocation(supply, w, cap, off=base)
        scale = 1.0 + supply.sum() + w.sum() + base.sum()
        np.testing.assert_allclose(D, expected, rtol=1e-9, atol=1e-9 * scale)
        check_flows(supply, w, cap, base, D, F)


def test_allocation_matches_subset_enumeration_to_1e9():
    rng = np.random.default_rng(11)
    for _ in range(1000):
        supply, w, cap = random_instance(rng)
        scale = 1.0 + supply.sum() + w.sum()
        np.testing.assert_allclose(allocate(supply, w, cap), fair_allocation(supply, w, cap),
                                   rtol=1e-9, atol=1e-9 * scale)


def test_known_answers():
    inf = np.inf
    # open market, shortfall shared pro rata
    np.testing.assert_allclose(allocate([6.0], [4.0, 4.0], [[inf, inf]]), [3.0, 3.0])
    # capped route: the capped importer gets its cap, the other the rest
    np.testing.assert_allclose(allocate([10.0], [8.0, 8.0], [[1.0, inf]]), [1.0, 8.0])
    # a restricted exporter and a free one: the target fills from the free one first
    D = allocate([10.0, 4.0], [6.0, 6.0], [[0.0, inf], [inf, inf]])
    np.testing.assert_allclose(D, [4.0, 6.0])
    # zero need, zero supply, isolated importer
    np.testing.assert_allclose(allocate([0.0, 5.0], [0.0, 3.0, 2.0], [[inf, inf, inf],
                                                                      [inf, inf, 0.0]]),
                               [0.0, 3.0, 0.0])


def test_exporter_subset_method_agrees():
    """The reference's two exact methods (importer or exporter subsets) and the kernel
    agree on larger instances with few restricted exporters."""
    from reference_model import _fill_exporter_subsets, _fill_importer_subsets

    rng = np.random.default_rng(8)
    for _ in range(150):
        ne, ni = int(rng.integers(2, 7)), int(rng.integers(1, 9))
        supply = rng.uniform(0, 10, ne) * (rng.random(ne) > 0.1)
        w = rng.uniform(0, 10, ni) * (rng.random(ni) > 0.1)
        cap = np.full((ne, ni), np.inf)
        for e in rng.choice(ne, size=int(rng.integers(1, 3)), replace=False):
            cap[e] = rng.uniform(0, 6, ni) * (rng.random(ni) > 0.3)
            cap[e, rng.random(ni) < 0.3] = np.inf
        off = np.zeros(ni)
        if rng.random() < 0.5:  # feasible fixed deliveries, as in round 2
            off = _fill_importer_subsets(supply, rng.uniform(0, 5, ni), cap, off, 1e-12)
        a = _fill_importer_subsets(supply, w, cap, off, 1e-12)
        b = _fill_exporter_subsets(supply, w, cap, off, 1e-12)
        scale = 1.0 + supply.sum() + w.sum()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(allocate(supply, w, cap, offset=off), b, rtol=1e-9,
                                   atol=1e-9 * scale)
