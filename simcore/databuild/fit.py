"""Bilateral flows of one material stage from production, need and anchors.

The method (docs/baseline.md, "Deriving the flows"):

1. Domestic use first: a country's own output covers its own need first,
   ``B[i, i] = min(P[i], N[i])``. Integrated producers (Chinese refiners and Chinese ore,
   Indonesian smelters under the ore-export ban, Chilean copper refineries) feed
   themselves before they trade, and ore travels only when home demand is met.
2. What remains is a pure exporter side ``X`` and a pure importer side ``M`` with equal
   totals. Known bilateral anchors (an importer's share of its imports from a named
   origin) are placed first, each capped by what the origin has left to export.
3. The rest is fitted by biproportional scaling (RAS) of a prior: the gravity prior
   ``X[e] * M[i]`` (each exporter sells to importers in proportion to their imports),
   blended with an observed mine -> refinery pattern where one exists (Cheng et al.
   2024). Cells of anchored pairs are held out of the fit, so an anchor is neither
   diluted nor topped up; if that leaves the fit infeasible, they re-enter with a small
   weight (and the report says so).

The result balances exactly (to rounding): rows sum to production, columns to need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FitReport:
    """What the fit did, for the assumptions table and the tests."""

    anchors_held: list[tuple[str, str, float, float]] = field(default_factory=list)
    anchors_capped: list[tuple[str, str, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    iterations: int = 0


# iterations a pruning refit may take before the pruning is given up (cosmetic step)
PRUNE_ITER = 5_000


def ras(prior: np.ndarray, rows: np.ndarray, cols: np.ndarray, tol: float = 1e-12,
        max_iter: int = 50_000) -> tuple[np.ndarray, bool, int]:
    """Biproportional scaling of ``prior`` to row sums ``rows`` and column sums ``cols``.

    Returns (matrix, converged, iterations). Rows/columns with a zero target stay zero.
    Feasible problems of this size converge in a few hundred iterations, some nearly
    degenerate ones of the observed-trade fit in ten thousand (a fraction of a second);
    one that has not converged by ``max_iter`` is treated as infeasible and the caller
    relaxes the pattern. A nonnegative prior whose zero pattern admits no solution at all
    (``unmet``) returns unscaled with (False, max_iter) at once."""
    a = prior.astype(np.float64).copy()
    total = max(float(rows.sum()), 1e-300)
    limit = tol * total
    if (a >= 0).all() and unmet(a > 0, rows, cols) > 10 * len(rows) * limit:
        # no matrix on this zero pattern has these sums, so no iteration converges (each
        # one leaves a row error of at least the unmet amount over the number of rows):
        # the fits' infeasible patterns are said at once instead of after max_iter
        return a, False, max_iter
    # buffers reused across iterations, and each iteration's row sums reused by the next:
    # the same operations on the same arrays as one allocation per step (so the same bits),
    # 40 % less time; the fits of one build run 100,000 iterations
    r_scale = np.zeros_like(rows)
    c_scale = np.zeros_like(cols)
    r_err = np.empty(len(rows))  # float64, as the differences of float64 sums
    c_err = np.empty(len(cols))
    rs = a.sum(axis=1)
    for it in range(1, max_iter + 1):
        r_scale.fill(0.0)
        np.divide(rows, rs, out=r_scale, where=rs > 0)
        a *= r_scale[:, None]
        cs = a.sum(axis=0)
        c_scale.fill(0.0)
        np.divide(cols, cs, out=c_scale, where=cs > 0)
        a *= c_scale[None, :]
        rs = a.sum(axis=1)
        np.abs(np.subtract(rs, rows, out=r_err), out=r_err)
        if not r_err.max() <= limit:
            continue
        np.abs(np.subtract(a.sum(axis=0), cols, out=c_err), out=c_err)
        if c_err.max() <= limit:
            return a, True, it
    return a, False, max_iter


def unmet(support: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    """How much of the row sums ``rows`` no nonnegative matrix on ``support`` (cells
    that may be positive) can carry to columns with sums ``cols``: ``rows.sum()`` less
    the maximum flow from the rows to the columns (a transportation problem whose routes
    are the support's cells, uncapped). 0 where the sums fit.

    Augmenting paths, shortest first (Edmonds-Karp), through residuals above ``1e-15``
    of the total; what is left unfound is below the residuals ignored, ``(n_r n_c + n_r +
    n_c) 1e-15`` of the total. Each level of the path search handles its rows and columns
    in bulk. Where the search has not settled after ``4 (n_r + 1)(n_c + 1)`` paths it
    returns 0 (unknown), so a caller skips nothing on its word."""
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    support = np.asarray(support, dtype=bool)
    n_r, n_c = support.shape
    eps = 1e-15 * max(float(rows.sum()), float(cols.sum()), 1e-300)
    src = rows.copy()  # what each row has still to send
    snk = cols.copy()  # what each column can still take
    flow = np.zeros((n_r, n_c))
    for _ in range(4 * (n_r + 1) * (n_c + 1)):
        # breadth first from the rows with something to send: a row reaches the columns
        # of its support, a column the rows that send it something (a flow to undo)
        row_par = np.full(n_r, -2)  # -1: a start; else the column it was reached from
        col_par = np.full(n_c, -1)  # the row it was reached from
        frontier = src > eps
        row_par[frontier] = -1
        end = -1
        while frontier.any() and end < 0:
            reach = support[frontier].any(axis=0) & (col_par < 0)
            if not reach.any():
                break
            f_rows = np.flatnonzero(frontier)
            for j in np.flatnonzero(reach):
                col_par[j] = f_rows[np.argmax(support[f_rows, j])]
            sinks = np.flatnonzero(reach & (snk > eps))
            if sinks.size:
                end = int(sinks[0])
                break
            back = (flow[:, reach] > eps).any(axis=1) & (row_par == -2)
            r_cols = np.flatnonzero(reach)
            for i in np.flatnonzero(back):
                row_par[i] = r_cols[np.argmax(flow[i, r_cols] > eps)]
            frontier = back
        if end < 0:
            break
        # the path from its start row to the column end, and its bottleneck
        path = []
        j = end
        while True:
            i = int(col_par[j])
            path.append((i, j))
            if row_par[i] == -1:
                break
            j = int(row_par[i])
        amount = min(src[path[-1][0]], snk[end])
        for (i, _), (_, j_back) in zip(path[:-1], path[1:], strict=True):
            amount = min(amount, flow[i, j_back])
        for (i, j), (_, j_back) in zip(path, path[1:] + [(0, -1)], strict=True):
            flow[i, j] += amount
            if j_back >= 0:
                flow[i, j_back] -= amount
        src[path[-1][0]] -= amount
        snk[end] -= amount
    else:
        return 0.0  # not settled within the bound: say nothing is unmet (callers iterate)
    return max(0.0, float(src.sum()))


def derive_flows(production: np.ndarray, need: np.ndarray, codes: tuple[str, ...],
                 anchors: dict[str, dict[str, float]] | None = None,
                 pattern: np.ndarray | None = None, pattern_weight: float = 0.8,
                 prune_below: float = 0.0) -> tuple[np.ndarray, FitReport]:
    """Flows [t/year] B[e, i] with ``B.sum(1) == production`` and ``B.sum(0) == need``.

    ``anchors[importer][exporter]`` = share of the importer's imports (after domestic use)
    that comes from the exporter. ``pattern[e, i]`` (any scale) is an observed pattern of
    e's exports to i, blended into the gravity prior with ``pattern_weight`` on rows where
    it has data. Cells below ``prune_below`` [t/year] are dropped and the fit repeated
    (keeps the table readable) unless that makes it infeasible.
    """
    production = np.asarray(production, dtype=np.float64)
    need = np.asarray(need, dtype=np.float64)
    if not np.isclose(production.sum(), need.sum(), rtol=1e-9, atol=1e-9):
        raise ValueError(f"production {production.sum()} != need {need.sum()}")
    c = len(codes)
    idx = {code: n for n, code in enumerate(codes)}
    report = FitReport()

    flows = np.zeros((c, c))
    home = np.minimum(production, need)
    flows[np.arange(c), np.arange(c)] = home
    exports = np.clip(production - home, 0.0, None)
    imports = np.clip(need - home, 0.0, None)
    # equal totals up to float noise: put the noise on the largest importer
    if imports.sum() > 0:
        imports[np.argmax(imports)] += exports.sum() - imports.sum()

    held = np.zeros((c, c), dtype=bool)
    for importer in sorted(anchors or {}):
        i = idx[importer]
        base = imports[i]
        for exporter in sorted(anchors[importer]):
            e = idx[exporter]
            share = anchors[importer][exporter]
            if e == i or base <= 0:
                continue
            target = share * base
            amount = min(target, exports[e])
            held[e, i] = True
            flows[e, i] += amount
            exports[e] -= amount
            imports[i] -= amount
            if amount < target * (1 - 1e-9):
                report.anchors_capped.append((exporter, importer, share, amount / base))
            else:
                report.anchors_held.append((exporter, importer, share, amount / base))
    exports = np.clip(exports, 0.0, None)
    imports = np.clip(imports, 0.0, None)
    if exports.sum() > 0:
        imports *= exports.sum() / imports.sum()

    if exports.sum() <= 0:
        return flows, report

    prior = np.outer(exports, imports)
    if pattern is not None:
        pat = np.where(np.outer(exports > 0, imports > 0), np.asarray(pattern, float), 0.0)
        np.fill_diagonal(pat, 0.0)
        row = pat.sum(axis=1)
        has = row > 0
        grav_row = prior.sum(axis=1)
        blend = prior.copy()
        blend[has] = ((1 - pattern_weight) * prior[has]
                      + pattern_weight * pat[has] / row[has, None] * grav_row[has, None])
        prior = blend
    np.fill_diagonal(prior, 0.0)

    def fit(mask: np.ndarray, max_iter: int = 50_000) -> tuple[np.ndarray, bool, int]:
        return ras(np.where(mask, 0.0, prior), exports, imports, max_iter=max_iter)

    trade, ok, its = fit(held)
    if not ok:
        report.notes.append("anchored pairs re-admitted to the fit (infeasible without them)")
        trade, ok, its = ras(np.where(held, prior * 1e-6, prior), exports, imports)
    if not ok:
        raise RuntimeError("flow fit did not converge")
    if prune_below > 0:
        small = (trade > 0) & (trade < prune_below)
        if small.any():
            pruned, ok2, its2 = fit(held | small, PRUNE_ITER)
            if ok2:
                trade, its = pruned, its + its2
    report.iterations = its
    return flows + trade, report


# provenance codes of a fitted cell (flows.csv ``source``)
OBSERVED, FITTED, ESTIMATED = "observed", "fitted", "estimated"
# observed exports (imports) below this share of what a country must export (import)
# count as not covering it: its residual is filled by the gravity prior instead
COVERAGE = 0.25


@dataclass
class ObservedFit:
    """What ``fit_observed`` did: the prior's parts, for provenance and the tests."""

    observed: np.ndarray  # the observed trade used [t/year], importers with need only
    fill: np.ndarray  # the prior's fill for exports/imports the trade data does not show
    domestic_prior: np.ndarray  # [t/year] production less observed exports (what remains)
    iterations: int = 0
    notes: list[str] = field(default_factory=list)

    def source(self, e: int, i: int) -> str:
        """observed: the route is in the trade data (and makes most of its prior);
        fitted: domestic use, or a route the fill supplied."""
        if e != i and self.observed[e, i] > 0 and self.observed[e, i] >= self.fill[e, i]:
            return OBSERVED
        return FITTED


def fit_observed(production: np.ndarray, need: np.ndarray, observed: np.ndarray,
                 pattern: np.ndarray | None = None, pattern_weight: float = 0.0,
                 prune_below: float = 0.0) -> tuple[np.ndarray, ObservedFit]:
    """Flows [t/year] B[e, i] with ``B.sum(1) == production``, ``B.sum(0) == need``, from
    observed trade ``observed[e, i]`` [t/year, contained, off-diagonal] as the prior.

    Domestic use is what remains after trade: the prior's diagonal is
    ``min(P - X_obs, N - M_obs)`` (at least 0). Exports and imports the trade data does not
    show (a producer whose product ships under a code not in the extracts, such as
    Indonesia's nickel matte) are filled by the gravity prior of those residuals alone
    (blended with ``pattern`` on its rows, as ``derive_flows``). RAS then reconciles the
    prior with production and need; where the observed trade is consistent with them the
    fit returns it unchanged. Cells below ``prune_below`` are dropped and the fit redone
    unless that makes it infeasible.
    """
    production = np.asarray(production, dtype=np.float64)
    need = np.asarray(need, dtype=np.float64)
    if not np.isclose(production.sum(), need.sum(), rtol=1e-9, atol=1e-9):
        raise ValueError(f"production {production.sum()} != need {need.sum()}")
    c = len(production)
    t = np.where(np.outer(production > 0, need > 0), np.asarray(observed, float), 0.0)
    np.fill_diagonal(t, 0.0)
    x_obs, m_obs = t.sum(axis=1), t.sum(axis=0)
    home = np.clip(np.minimum(production - x_obs, need - m_obs), 0.0, None)
    x_res = np.clip(production - home - x_obs, 0.0, None)
    m_res = np.clip(need - home - m_obs, 0.0, None)
    # An exporter whose observed exports cover a fair part of what it must export keeps
    # its observed destination shares (RAS scales its row: the trade data under-counts
    # it). One whose product mostly ships outside the extracts' codes gets the gravity
    # fill of the residuals (its residual goes where imports are unexplained); an
    # importer on the import side likewise (from the exporters with unexplained exports).
    weak_row = x_obs < COVERAGE * (production - home)
    weak_col = m_obs < COVERAGE * (need - home)
    fill = np.zeros((c, c))
    if x_res.sum() > 0 and m_res.sum() > 0:
        rows = np.where(weak_row, x_res, 0.0)
        cols = np.where(weak_col, m_res, 0.0)
        fill = (np.outer(rows, m_res) / m_res.sum()
                + np.outer(np.where(weak_row, 0.0, x_res), cols) / x_res.sum())
        np.fill_diagonal(fill, 0.0)
        if pattern is not None and pattern_weight > 0:
            pat = np.where(np.outer(rows > 0, m_res > 0), np.asarray(pattern, float), 0.0)
            np.fill_diagonal(pat, 0.0)
            row = pat.sum(axis=1)
            has = row > 0
            fill[has] = ((1 - pattern_weight) * fill[has] + pattern_weight
                         * pat[has] / row[has, None] * fill[has].sum(axis=1)[:, None])
    prior = t + fill
    prior[np.arange(c), np.arange(c)] = home
    report = ObservedFit(observed=t, fill=fill, domestic_prior=home)

    flows, ok, its = ras(prior, production, need)
    base = prior
    for weight in (1e-6, 1e-3, 1e-1):
        if ok:
            break
        # the zero pattern admits no solution (or RAS crawls towards one): every producer
        # -> user route re-enters, with a weight well below the observed flows
        gravity = np.outer(production, need) / max(need.sum(), 1e-300) * weight
        prior = np.where(base > 0, base, gravity)
        flows, ok, its = ras(prior, production, need)
        if ok:
            report.fill = report.fill + np.where(base > 0, 0.0, gravity)
            report.notes.append(f"routes outside the trade data re-admitted with weight "
                                f"{weight:g} of the gravity prior (the observed pattern alone "
                                "could not balance)")
    if not ok:
        raise RuntimeError("flow fit did not converge")
    if prune_below > 0:
        small = (flows > 0) & (flows < prune_below)
        if small.any():
            # pruning is cosmetic: give up early when dropping the cells makes it infeasible
            pruned, ok2, its2 = ras(np.where(small, 0.0, prior), production, need,
                                    max_iter=PRUNE_ITER)
            if ok2:
                flows, its = pruned, its + its2
    report.iterations = its
    return flows, report
