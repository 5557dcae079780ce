"""First-order sensitivity indices from Monte Carlo draws: pure NumPy.

For an output Y (one exposure's shortage share per draw) and a sampled input X_i (one
column of the drivers table), the first-order index is

    S_i = Var(E[Y | X_i]) / Var(Y),

the share of Y's variance that X_i explains on its own. It is estimated from the draws
already made, with no extra model runs: X_i is cut into equal-count bins (a discrete
input, such as an event's ``fired`` flag, into its own values), the conditional means of
Y per bin give the between-bin variance, and the one-way ANOVA correction removes the
part of it that noise alone produces (omega squared):

    S_i ~ (SSB - (B - 1) * MSW) / (SST * n / (n - 1))

with SSB, SST the between-bin and total sums of squares, MSW the within-bin mean square
and B the number of non-empty bins (the bootstrap uses the same formula for weighted
draws). Without the correction an input that does nothing
scores about (B - 1) / n. The estimate can come out slightly below zero when an input
explains nothing; that is noise, not a negative effect.

An input may be undefined in some draws (NaN): an event's onset month means nothing in a
draw where the event did not fire. If the underlying variate was sampled independently
of whether it is defined (it is: every variate is keyed by its own name), then
E[Y | X] = q E[Y | X, defined] + const, with q the share of draws where X is defined, so

    S_X = q^2 Var(E[Y | X, defined]) / Var(Y),

estimated from the defined draws alone. This keeps "the event fired" from being counted
a second time under the onset's name.

Uncertainty comes from a bootstrap over draws (bin edges kept, draws resampled), so a
confidence interval reflects the Monte Carlo sample size. Caveats (docs/report.md): the
inputs must be sampled independently of one another for S_i to mean "explained by X_i
alone" (correlated events share their explanation); binning loses a little of a steep
E[Y | X_i] (of order 1/B^2 for a smooth one); the indices do not add up to one when
inputs interact (severity matters only in draws where the event fired), and the gap
1 - sum S_i is the share of variance due to interactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def default_bins(n: int) -> int:
    """Bins for n draws: about sqrt(n), between 2 and 100.

    sqrt(n) balances the two errors: the noise correction grows with B / n, the
    discretisation loss with 1 / B^2.
    """
    return int(min(100, max(2, round(np.sqrt(n)))))


def bin_codes(x: np.ndarray, bins: int) -> tuple[np.ndarray, int]:
    """Equal-count bin codes 0 … B-1 of x, and the number of bins B actually used.

    An input with at most ``bins`` distinct values (a flag, a discrete distribution) gets
    one bin per value. Tied values always share a bin, so a point mass (a variate that
    is often exactly zero) makes one larger bin rather than splitting by draw order.
    NaN (undefined) gets code -1 and belongs to no bin.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    finite = ~np.isnan(x)
    codes = np.empty(n, dtype=np.int64)
    xs = np.sort(x[finite])
    uniq = np.unique(xs)
    if uniq.shape[0] <= bins:
        codes[finite] = np.searchsorted(uniq, x[finite])
    else:
        # the rank of the first of a run of ties: ties land in the same bin
        first_rank = np.searchsorted(xs, x[finite], side="left")
        codes[finite] = first_rank * bins // xs.shape[0]
    codes[~finite] = -1
    if not finite.any():
        return codes, 0
    # renumber 0 … B-1 so that no bin is empty
    _, dense = np.unique(codes[finite], return_inverse=True)
    codes[finite] = dense.reshape(-1)
    return codes, int(codes.max()) + 1


def _indices(codes: np.ndarray, n_bins: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Bias-corrected first-order indices of y on each binned input, with draw weights w.

    ``codes``: int64[V, n] bin of each draw per input (-1: undefined), ``n_bins``:
    int64[V] (each at least 1). Weights are multiplicities (1 for the sample itself,
    bootstrap counts for a resample). The noise terms are those of a weighted one-way
    ANOVA, so a resample, whose repeated draws make bin means noisier, is corrected by
    the right amount. Undefined draws count in Var(Y) but not in the bins; the
    conditional variance found on the others is scaled by q^2 (module docstring). All
    inputs are handled in one pass of ``bincount`` over (input, bin) cells.
    """
    v_count = codes.shape[0]
    offsets = np.concatenate(([0], np.cumsum(n_bins)[:-1]))
    cells = int(n_bins.sum())
    defined = codes >= 0
    flat = (codes + offsets[:, None])[defined]
    wd = np.broadcast_to(w, codes.shape)[defined]

    def sums(yc):
        yd = np.broadcast_to(yc, codes.shape)[defined]
        return (np.bincount(flat, weights=wd, minlength=cells),
                np.bincount(flat, weights=wd * wd, minlength=cells),
                np.bincount(flat, weights=wd * yd, minlength=cells),
                np.bincount(flat, weights=wd * yd * yd, minlength=cells))

    return _from_sums(v_count, n_bins, y, w, sums)


def _from_sums(v_count: int, n_bins: np.ndarray, y: np.ndarray, w: np.ndarray,
               sums) -> np.ndarray:
    """The indices from the sums per (input, bin) cell that ``sums(yc)`` gives (weights,
    squared weights, weighted y and y^2, y centred as yc) for weights w."""
    total = w.sum()
    yc = y - float(np.sum(w * y)) / total  # centred: sums of squares without cancellation
    sst = float(np.sum(w * yc * yc))
    out = np.full(v_count, np.nan)
    if not sst > 0.0 or v_count == 0:
        return out
    # SST * W / (W - Q/W) estimates W Var(Y) (n / (n - 1) with unit weights)
    var_y = sst / (total - float(np.sum(w * w)) / total)
    offsets = np.concatenate(([0], np.cumsum(n_bins)[:-1]))
    nb, qb, sy, syy = sums(yc)
    full = nb > 0
    safe = np.where(full, nb, 1.0)
    w_def = np.add.reduceat(nb, offsets)
    ybar_d = np.add.reduceat(sy, offsets) / np.where(w_def > 0, w_def, 1.0)
    mean_b = sy / safe
    ssb = np.add.reduceat(
        np.where(full, nb * (mean_b - np.repeat(ybar_d, n_bins)) ** 2, 0.0), offsets
    )
    ssw = np.add.reduceat(np.where(full, syy - sy * sy / safe, 0.0), offsets)
    q_over_w = np.add.reduceat(np.where(full, qb / safe, 0.0), offsets)
    b = np.add.reduceat(full.astype(np.int64), offsets)
    # E[SSB] = sum_b W_b (mu_b - mu)^2 + c sigma^2 and E[SSW] = d sigma^2 (sigma^2 the
    # within-bin variance); with unit weights c = B - 1 and d = n - B
    with np.errstate(divide="ignore", invalid="ignore"):
        c = q_over_w - np.add.reduceat(qb, offsets) / w_def
        d = w_def - q_over_w
        msw = np.maximum(ssw, 0.0) / d
        var_cond = (ssb - c * msw) / w_def  # Var(E[Y | X, defined])
        share = w_def / total
        est = share * share * var_cond / var_y
    ok = (b >= 2) & (d > 0.0)
    out[ok] = est[ok]
    return out


@dataclass(frozen=True)
class Indices:
    """First-order indices of one output, one entry per input (in input order)."""

    names: tuple[str, ...]
    index: np.ndarray  # float64[V] point estimate (NaN: output or input constant)
    low: np.ndarray  # float64[V] lower bound of the bootstrap interval
    high: np.ndarray  # float64[V] upper bound
    bins: np.ndarray  # int64[V] bins used per input
    n: int  # draws
    level: float  # confidence level of [low, high]
    n_boot: int


def first_order_indices(
    inputs: dict[str, np.ndarray],
    y: np.ndarray,
    bins: int | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Indices:
    """First-order sensitivity indices of y to each input, with bootstrap intervals.

    ``inputs`` maps a name to n values (one per draw, in the order of y). ``bins``
    defaults to ``default_bins(n)``. ``n_boot = 0`` skips the bootstrap (intervals NaN).
    The bootstrap is seeded, so the same call gives the same intervals.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    if np.isnan(y).any():  # an undefined output cannot be explained
        raise ValueError("the output has NaN values; drop or fill those draws first")
    names = tuple(inputs)
    if bins is None:
        bins = default_bins(n)
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    coded = []
    for name in names:
        x = np.asarray(inputs[name], dtype=np.float64)
        if x.shape != (n,):
            raise ValueError(f"input {name!r} has shape {x.shape}, expected ({n},)")
        coded.append(bin_codes(x, bins))
    bins_used = np.array([b for _, b in coded], dtype=np.int64)
    index = np.full(len(names), np.nan)
    low = np.full(len(names), np.nan)
    high = np.full(len(names), np.nan)
    live = np.flatnonzero(bins_used >= 2)  # a constant input explains nothing: NaN
    if live.size:
        codes = np.stack([coded[v][0] for v in live])
        n_bins = bins_used[live]
        index[live] = _indices(codes, n_bins, y, np.ones(n))
    if n_boot > 0 and n > 1 and live.size:
        from simcore.kernel.binsums import cell_sums

        rng = np.random.default_rng(seed)
        boot = np.empty((n_boot, live.size))
        offsets = np.concatenate(([0], np.cumsum(n_bins)[:-1]))
        # draw-major cell numbers, so that a draw's inputs are adjacent in memory
        cells = np.ascontiguousarray(np.where(codes >= 0, codes + offsets[:, None], -1).T,
                                     dtype=np.int32)
        n_cells = int(n_bins.sum())
        out = tuple(np.empty(n_cells) for _ in range(4))

        def sums(yc):
            cell_sums(cells, w, yc, *out)
            return out

        for r in range(n_boot):
            # a resample of draws as multiplicities: bins stay fixed, weights change
            w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
            boot[r] = _from_sums(live.size, n_bins, y, w, sums)
        alpha = (1.0 - level) / 2.0
        ok = ~np.isnan(index[live])
        if ok.any():
            low[live[ok]] = np.nanquantile(boot[:, ok], alpha, axis=0)
            high[live[ok]] = np.nanquantile(boot[:, ok], 1.0 - alpha, axis=0)
    return Indices(
        names=names,
        index=index,
        low=low,
        high=high,
        bins=bins_used,
        n=n,
        level=level,
        n_boot=n_boot,
    )
