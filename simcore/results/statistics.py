"""Statistics over draws: pure functions on arrays, written out so that the numbers never
depend on the numpy version (the digest covers the summary).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from simcore.errors import ResultError
from simcore.results.layout import SUMMARY_COLUMNS

TAIL = 0.05  # expected shortfall: mean of the worst 5 % of draws


def sequential_sum(values: np.ndarray, block: int = 8192) -> np.ndarray:
    """Sum along axis 0 adding the rows strictly in order, as float64.

    ``np.sum`` may pair terms differently depending on the array's shape and the numpy
    version; a running sum (``cumsum``) cannot, so the summary, which the digest covers,
    is the same float on every machine.
    """
    values = np.asarray(values)
    acc = np.zeros((1, *values.shape[1:]))
    for start in range(0, values.shape[0], block):
        part = values[start : start + block].astype(np.float64)
        acc = np.cumsum(np.concatenate([acc, part]), axis=0)[-1:]
    return acc[0]


def quantile_sorted(sorted_values: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` along axis 0 of an array sorted along axis 0.

    Linear interpolation between order statistics (numpy's default ``"linear"``
    method), written out so that the numbers never depend on the numpy version.
    """
    n = sorted_values.shape[0]
    if n == 0:
        return np.full(sorted_values.shape[1:], np.nan)
    h = (n - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, n - 1)
    t = h - lo
    a = sorted_values[lo].astype(np.float64)
    b = sorted_values[hi].astype(np.float64)
    return a + (b - a) * t


def expected_shortfall_sorted(sorted_values: np.ndarray, tail: float = TAIL) -> np.ndarray:
    """Mean of the worst ``ceil(tail * n)`` values (at least one) along axis 0."""
    n = sorted_values.shape[0]
    if n == 0:
        return np.full(sorted_values.shape[1:], np.nan)
    m = max(1, math.ceil(tail * n - 1e-9))
    return sequential_sum(sorted_values[n - m :]) / m


def median_where(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median along axis 0 of ``values`` over the entries where ``valid``; NaN if none."""
    if values.shape[1] > _BLOCK:
        return np.concatenate(
            [
                median_where(values[:, j : j + _BLOCK], valid[:, j : j + _BLOCK])
                for j in range(0, values.shape[1], _BLOCK)
            ]
        )
    n, x = values.shape
    big = np.iinfo(np.int64).max
    filled = np.where(valid, values.astype(np.int64), big)
    s = np.sort(filled, axis=0)
    count = valid.sum(axis=0)
    out = np.full(x, np.nan)
    cols = np.nonzero(count)[0]
    if len(cols):
        c = count[cols]
        lo = s[(c - 1) // 2, cols].astype(np.float64)
        hi = s[c // 2, cols].astype(np.float64)
        out[cols] = (lo + hi) / 2
    return out


_BLOCK = 16  # exposures sorted at a time: bounds the float64 copies to n x 16


def _by_block(raw: np.ndarray, stats) -> dict[str, np.ndarray]:
    """``stats(block)`` on blocks of columns of ``raw`` [n, X], concatenated."""
    # at least one (possibly empty) block, so that no exposures give empty columns
    parts = [stats(raw[:, j : j + _BLOCK]) for j in range(0, max(raw.shape[1], 1), _BLOCK)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def exposure_statistics(cols: Mapping, need_t: np.ndarray, horizon: int) -> dict:
    """The summary statistics of each exposure from per-draw arrays of shape [n, X].

    ``cols`` maps ``shortage_t``, ``shortage_share``, ``peak_share``, ``months_short``,
    ``first_short_month`` and ``last_short_month`` (-1 when never short),
    ``stock_drawn_t``, ``price_index_peak``, ``price_index_mean``, ``shortage_value_usd``
    to arrays; each is looked up once (a lazy mapping reads them one at a time).
    Returns float64[X] arrays named as in ``SUMMARY_COLUMNS``.
    """
    out: dict[str, np.ndarray] = {"need_t": np.asarray(need_t, dtype=np.float64)}
    raw = cols["shortage_share"]
    n = raw.shape[0]
    if n == 0:
        raise ResultError("no draws to summarise")

    def share_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {
            "share_mean": sequential_sum(s) / n,
            "share_p5": quantile_sorted(s, 0.05),
            "share_p50": quantile_sorted(s, 0.50),
            "share_p95": quantile_sorted(s, 0.95),
            "share_p99": quantile_sorted(s, 0.99),
            "share_es95": expected_shortfall_sorted(s),
            "prob_short_10pct": (s > 0.10).sum(axis=0) / n,
        }

    out.update(_by_block(raw, share_stats))
    del raw

    def worst_month_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {"peak_share_p50": quantile_sorted(s, 0.50),
                "peak_share_p95": quantile_sorted(s, 0.95)}

    out.update(_by_block(cols["peak_share"], worst_month_stats))
    out["shortage_mean_t"] = sequential_sum(cols["shortage_t"]) / n
    out["months_short_mean"] = sequential_sum(cols["months_short"]) / n
    first = cols["first_short_month"]
    short = first >= 0
    out["prob_short"] = short.sum(axis=0) / n
    out["survive_month_p50"] = median_where(first, short)
    del first
    last = cols["last_short_month"]
    out["recover_month_p50"] = median_where(last.astype(np.int32) + 1, short)
    out["prob_unrecovered"] = (last == horizon - 1).sum(axis=0) / n
    del last, short
    out["stock_drawn_mean_t"] = sequential_sum(cols["stock_drawn_t"]) / n
    for name, col in (("commercial_drawn_mean_t", "commercial_drawn_t"),
                      ("substituted_mean_t", "substituted_t"),
                      ("given_up_mean_t", "demand_given_up_t"),
                      ("rationed_mean_t", "rationed_t")):
        out[name] = (sequential_sum(cols[col]) / n if col in cols
                     else np.full(out["need_t"].shape, np.nan))

    def peak_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {
            "price_peak_p50": quantile_sorted(s, 0.5),
            "price_peak_p95": quantile_sorted(s, 0.95),
        }

    out.update(_by_block(cols["price_index_peak"], peak_stats))
    out["price_mean_mean"] = sequential_sum(cols["price_index_mean"]) / n

    def value_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {"value_mean_usd": sequential_sum(s) / n, "value_p95_usd": quantile_sorted(s, 0.95)}

    out.update(_by_block(cols["shortage_value_usd"], value_stats))
    return {name: out[name] for name, _ in SUMMARY_COLUMNS}


def contiguous(values, dtype, shape) -> np.ndarray:
    """``values`` as a writeable, aligned C-contiguous array of ``dtype`` and ``shape``:
    the types the compiled functions of simcore/kernel/binsums.py are compiled for in the
    kernel's library (a copy only where it is not one already; an unaligned array, as a
    buffer deserialised at an odd offset can be, would go to Numba's dispatcher)."""
    values = np.asarray(values, dtype=dtype).reshape(shape)
    if not (values.flags.c_contiguous and values.flags.writeable and values.flags.aligned):
        values = np.array(values, order="C")
    return values


def histogram_pass(hist: np.ndarray, qs: Iterable[float], order=None, tail_from=None,
                   mid=None) -> tuple:
    """The quantile bins of histograms ``hist[..., B]`` (simcore/kernel/binsums.py,
    ``histogram_bins``, which says what each is): (count, count in the bins from
    ``tail_from`` on, sum of count x ``mid``, position b of each level's bin in
    ``order``, the part of that bin below the level), shaped as ``hist`` without its
    last axis (the last two with a last axis of levels). ``order``: the bins' order
    (default as they are); ``mid``: float64[B] (default 0)."""
    from simcore._native import kernel_function

    hist = np.asarray(hist)
    lead, n_bins = hist.shape[:-1], hist.shape[-1]
    order = np.arange(n_bins) if order is None else np.asarray(order)
    mid = np.zeros(n_bins) if mid is None else np.asarray(mid)
    if (n_bins == 0 or order.shape != (n_bins,) or mid.shape != (n_bins,)
            or not np.all((order >= 0) & (order < n_bins))):
        # the compiled pass reads hist[..., order[k]] and mid[b] with no bounds checks
        raise ResultError(f"histograms of {n_bins} bins read in the order {order!r} with "
                          f"{mid.shape} midpoints: a histogram needs a bin, and an order "
                          f"and a midpoint each of its bins")
    rows = contiguous(hist, np.int64, (-1, n_bins))
    qs = contiguous(list(qs), np.float64, (-1,))
    r, q = rows.shape[0], qs.shape[0]
    counts, tails, totals = np.zeros(r, np.int64), np.zeros(r, np.int64), np.zeros(r)
    bins, fracs = np.zeros((r, q), np.int64), np.zeros((r, q))
    kernel_function("histogram_bins")(
        rows, contiguous(order, np.int64, (-1,)), qs,
        int(n_bins if tail_from is None else tail_from), contiguous(mid, np.float64, (-1,)),
        counts, tails, totals, bins, fracs, np.zeros(n_bins, np.int64))
    return (counts.reshape(lead), tails.reshape(lead), totals.reshape(lead),
            bins.reshape(*lead, q), fracs.reshape(*lead, q))


def histogram_quantiles(hist: np.ndarray, qs: Iterable[float]) -> np.ndarray:
    """Quantiles of shortage shares from their histogram ``hist[..., 101]``.

    Bin 0 holds shares equal to 0, bin b the shares in ((b-1)/100, b/100]. Within a bin
    the values are taken as uniform, so a quantile is exact to the bin width (0.01);
    a quantile that falls in bin 0 is exactly 0: the first non-empty bin whose CDF
    reaches q (with a slack of 1e-12 for q * n landing on an integer). Returns
    float64[..., len(qs)]; NaN where nothing was counted.
    """
    n, _, _, bins, fracs = histogram_pass(hist, qs)
    return share_quantiles(n, bins, fracs)


def share_quantiles(n: np.ndarray, bins: np.ndarray, fracs: np.ndarray) -> np.ndarray:
    """histogram_quantiles from ``histogram_pass``'s counts, bins and fractions."""
    value = np.where(bins == 0, 0.0, (bins - 1 + fracs) / 100.0)
    return np.where((n > 0)[..., None], value, np.nan)


def histogram_mean(hist: np.ndarray) -> np.ndarray:
    """Mean share from a histogram, each bin at its midpoint (bin 0 at 0): exact to 0.005."""
    n, _, totals, _, _ = histogram_pass(hist, (), mid=share_midpoints(np.shape(hist)[-1]))
    return share_mean(n, totals)


def share_midpoints(n_bins: int) -> np.ndarray:
    """The shares the bins of a shortage-share histogram stand for in its mean."""
    return np.concatenate([[0.0], (np.arange(1, n_bins) - 0.5) / 100.0])


def share_mean(n: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """histogram_mean from ``histogram_pass``'s counts and its sums at the midpoints
    (``share_midpoints``, added in bin order: see sequential_sum)."""
    return np.where(n > 0, totals / np.where(n > 0, n, 1), np.nan)


def price_bins():
    """(order, log price at the start, width) of the zone-price histogram's bins put in
    price order (bin 0 sits at log price 0, where its neighbours meet), and the first
    bin above the reference price."""
    from simcore.kernel.structs import NPB, PB_LO, PB_STEP

    split = 1 + int(round(-PB_LO / PB_STEP))  # first bin starting at log price >= 0
    order = np.concatenate([np.arange(1, split), [0], np.arange(split, NPB)])
    lo = np.concatenate([PB_LO + (np.arange(1, split) - 1) * PB_STEP, [0.0],
                         PB_LO + (np.arange(split, NPB) - 1) * PB_STEP])
    width = np.concatenate([np.full(split - 1, PB_STEP), [0.0], np.full(NPB - split, PB_STEP)])
    return order, lo, width, split


def price_histogram_quantiles(hist: np.ndarray, qs: Iterable[float]) -> np.ndarray:
    """Quantiles of zone prices from their histogram ``hist[..., NPB]`` (bin 0: a price
    of exactly 1; bin b >= 1: log price in [PB_LO + (b-1) PB_STEP, PB_LO + b PB_STEP)).

    The bins are put in price order (bin 0 sits at log price 0, where its neighbours
    meet); within a bin prices are taken as log-uniform, so a quantile is exact to the
    bin width (1 % of the price), and one that falls on the reference is exactly 1.
    Returns float64[..., len(qs)].
    """
    order, _, _, _ = price_bins()
    n, _, _, bins, fracs = histogram_pass(hist, qs, order=order)
    return price_quantiles(n, bins, fracs)


def price_quantiles(n: np.ndarray, bins: np.ndarray, fracs: np.ndarray) -> np.ndarray:
    """price_histogram_quantiles from ``histogram_pass``'s counts, positions in price
    order and fractions."""
    from simcore.kernel.fmathtab import exp_array  # not NumPy's exp: the same bits anywhere

    _, lo, width, _ = price_bins()
    value = exp_array(lo[bins] + fracs * width[bins])
    return np.where((n > 0)[..., None], value, np.nan)
