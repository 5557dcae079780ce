"""Sums over draws outside the model: the run summary's running sums
(``add_rows_f32``, simcore/results/summary.py), its counts and nonzero shortages of a
chunk (``count_shortages``, ``nonzero_by_exposure``), its statistics of each
exposure's sorted shortages (``nonzero_statistics``), the quantiles of the monthly and
price histograms (``histogram_bins``) and the weighted sums per bin of the
sensitivity bootstrap (``cell_sums``, simcore/report/sensitivity.py).

The summary's running sums of a column stored as float32 add each draw's value, rounded
to float32, strictly in draw order. NumPy did it with a float32 copy of every column, a
float64 copy of that and one vector addition per draw (about a tenth of a 10,000-draw run's
CPU time outside the kernel); this loop makes no copy, and releases the GIL, so the
writer's thread does not hold up the main thread.

The shortage table's rows of a chunk (``shortage_rows``, simcore/results/writer.py) are
picked in one pass over its draws: NumPy made a float32 share column and a mask of
every stored exposure for each of the twelve stored columns before picking the rows
that hold something (70-90 ms of the writer's thread in a 10,000-draw partner study).

Each of the bootstrap's resamples needs, for every (input, bin) cell, the sums of the
draws' weights w, of w^2, of w y and of w y^2 over the draws in the cell: about
(inputs x draws) additions a resample, 57 x 10,000 for the partner study's report.
NumPy's ``bincount`` does them with an array of cell numbers and three weight arrays of
that size made for every resample, about 11 ms a resample; this loop makes none and
skips the draws a resample leaves out (about 37 % of them).
"""

from __future__ import annotations

import numpy as np

from simcore._numba import jit, jit_inline
from simcore.kernel.structs import (
    NZ_PROB_10PCT,
    NZ_SHARE_ES95,
    NZ_SHARE_MEAN,
    NZ_SHARE_P5,
    NZ_SHARE_P50,
    NZ_SHARE_P95,
    NZ_SHARE_P99,
    NZ_VALUE_MEAN,
    NZ_VALUE_P95,
)


@jit
def add_rows_f32(sums, values):
    """sums[i] += float64(float32(values[r, i])) for r = 0, 1, ... in turn: the running
    sums of the columns of ``values`` (float64[n, m]) as float32 stores them, each column
    added in row order, as adding the rows one at a time does (so the same numbers)."""
    n, m = values.shape
    for r in range(n):
        for i in range(m):
            sums[i] += np.float64(np.float32(values[r, i]))


@jit
def count_shortages(shortage, months, first, last, h, months_sum, short, unrecovered,
                    first_counts, recover_counts, nonzero):
    """The run summary's counts from one chunk's draws (rows of the [n, X] arrays):
    per exposure i, adds the months short (``months_sum``), the draws short (first
    short month >= 0: ``short``, and the counts of their first short month and of their
    last short month + 1, ``first_counts[i, month]``, ``recover_counts[i, month + 1]``),
    the draws short in the last of the h months (``unrecovered``) and the draws with a
    nonzero shortage (``nonzero``, for ``nonzero_by_exposure``). Integer counts: the
    same as NumPy's sums and bincounts whatever the order. Returns the number of rows
    whose months are not a short draw's (both in 0 .. h - 1, the first not after the
    last) nor a draw's that is not short (both -1): 0 from the engine, the caller's error
    otherwise. Those rows are counted in ``months_sum`` and ``nonzero`` only, so nothing
    is written outside the arrays."""
    n, x = shortage.shape
    bad = 0
    for r in range(n):
        for i in range(x):
            months_sum[i] += months[r, i]
            f = first[r, i]
            e = last[r, i]
            if shortage[r, i] != 0.0:
                nonzero[i] += 1
            if f == -1 and e == -1:  # not short
                continue
            if not (0 <= f <= e < h):
                bad += 1
                continue
            short[i] += 1
            first_counts[i, f] += 1
            recover_counts[i, e + 1] += 1
            if e == h - 1:
                unrecovered[i] += 1
    return bad


@jit
def nonzero_by_exposure(shortage, peak, at, values, worst):
    """The nonzero shortages of a chunk's [n, X] rows (NaN counts as nonzero) exposure
    after exposure, each in draw order, into ``values``, and the worst month's share of
    those draws rounded to float32 (``peak``) into ``worst``: what ``shortage.T`` masked by
    ``!= 0`` gives, with no transposed copies. ``at[i]``: where exposure i's part begins
    (the running sum of the counts of count_shortages before it); moved past it here.
    The rows are read in order, each exposure's values written at its ``at`` (reading
    down the columns missed the cache at every value: four times as slow)."""
    n, x = shortage.shape
    for r in range(n):
        for i in range(x):
            v = shortage[r, i]
            if v != 0.0:
                k = at[i]
                values[k] = v
                worst[k] = np.float32(peak[r, i])
                at[i] = k + 1


@jit
def shortage_rows(shortage, peak, months, first, last, drawn, bought, restocked, cdrawn,
                  substituted, given_up, rationed, stored, need, base, f32, i16, rows):
    """The stored shortage rows of a chunk (results format 4, simcore/results/writer.py
    ``shortage_chunk``): for each draw r in turn and each stored exposure
    ``x = stored[i]`` in turn, the row's quantities as shares of ``need[i]`` rounded to
    float32 (float32(value / need), the division in float64), its worst month's share
    rounded to float32 and its three months; the row is kept where a float column
    differs from its ``base`` (the baseline: 1 for the share bought, 0 for the others;
    NaN differs), the months short are not 0, or a first or last short month is set
    (>= 0). Kept rows are written in that order: the float columns into ``f32[c, k]``
    (c: shortage, worst month, then stock drawn, bought, restocked, commercial stock
    drawn, substituted, given up, rationed), the months into ``i16[c, k]`` (months short,
    first, last) and ``r * len(stored) + i`` into ``rows[k]``. Returns the number kept.
    The [n, X] inputs are the chunk's engine arrays (float64, months int16)."""
    n = shortage.shape[0]
    w = stored.shape[0]
    k = 0
    for r in range(n):
        for i in range(w):
            x = stored[i]
            nd = need[i]
            v0 = np.float32(shortage[r, x] / nd)
            v1 = np.float32(peak[r, x])
            v2 = np.float32(drawn[r, x] / nd)
            v3 = np.float32(bought[r, x] / nd)
            v4 = np.float32(restocked[r, x] / nd)
            v5 = np.float32(cdrawn[r, x] / nd)
            v6 = np.float32(substituted[r, x] / nd)
            v7 = np.float32(given_up[r, x] / nd)
            v8 = np.float32(rationed[r, x] / nd)
            m0 = months[r, x]
            m1 = first[r, x]
            m2 = last[r, x]
            if (m1 >= 0 or m2 >= 0 or m0 != 0 or v0 != base[0] or v1 != base[1]
                    or v2 != base[2] or v3 != base[3] or v4 != base[4] or v5 != base[5]
                    or v6 != base[6] or v7 != base[7] or v8 != base[8]):
                f32[0, k] = v0
                f32[1, k] = v1
                f32[2, k] = v2
                f32[3, k] = v3
                f32[4, k] = v4
                f32[5, k] = v5
                f32[6, k] = v6
                f32[7, k] = v7
                f32[8, k] = v8
                i16[0, k] = m0
                i16[1, k] = m1
                i16[2, k] = m2
                rows[k] = r * w + i
                k += 1
    return k


@jit_inline
def _stored(s, i, zeros, x, per_unit):
    """Draw i of the sorted column whose first ``zeros`` draws are 0 and whose others are
    s[i - zeros] / x (``per_unit``) or s[i - zeros] * x, rounded to float32 as the
    shortage table stores them."""
    if i < zeros:
        return 0.0
    if per_unit:
        return np.float64(np.float32(s[i - zeros] / x))
    return np.float64(np.float32(s[i - zeros] * x))


@jit_inline
def _quantile_stored(s, n, zeros, x, per_unit, q):
    """quantile_sorted (simcore/results/statistics.py) of that column at q."""
    h = (n - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, n - 1)
    a = _stored(s, lo, zeros, x, per_unit)
    b = _stored(s, hi, zeros, x, per_unit)
    return a + (b - a) * (h - lo)


@jit
def nonzero_statistics(s, n, tail, need, price, out):
    """Into out[N_NZ] (slots NZ_*, simcore/kernel/structs.py): the statistics of an
    exposure's column of n draws whose nonzero shortages [t], sorted, are ``s``
    (float64[m], m <= n; the other n - m draws are 0), as ``exposure_statistics``
    computes them from the column stored in float32. Of its share of need,
    float32(s / need): the mean (a running sum in sorted order, over n), the 5th, 50th,
    95th and 99th percentiles, the mean of the worst ``tail`` draws and the share of
    draws above 0.10; of its value, float32(s x price): the mean and the 95th
    percentile. Each is computed as the summary's NumPy code computed it, in the same
    order, so the same bits, with no array made (that code made some 20 NumPy calls an
    exposure: a third of the end of a partner study's run)."""
    m = s.shape[0]
    zeros = n - m
    total = 0.0
    over = 0
    for i in range(m):
        v = np.float64(np.float32(s[i] / need))
        total += v
        if v > 0.10:
            over += 1
    out[NZ_SHARE_MEAN] = total / n
    out[NZ_SHARE_P5] = _quantile_stored(s, n, zeros, need, True, 0.05)
    out[NZ_SHARE_P50] = _quantile_stored(s, n, zeros, need, True, 0.50)
    out[NZ_SHARE_P95] = _quantile_stored(s, n, zeros, need, True, 0.95)
    out[NZ_SHARE_P99] = _quantile_stored(s, n, zeros, need, True, 0.99)
    worst = 0.0
    for i in range(max(0, m - tail), m):
        worst += np.float64(np.float32(s[i] / need))
    out[NZ_SHARE_ES95] = worst / tail
    out[NZ_PROB_10PCT] = over / n
    total = 0.0
    for i in range(m):
        total += np.float64(np.float32(s[i] * price))
    out[NZ_VALUE_MEAN] = total / n
    out[NZ_VALUE_P95] = _quantile_stored(s, n, zeros, price, False, 0.95)


@jit
def histogram_bins(hist, order, qs, tail_from, mid, counts, tails, totals, bins, fracs,
                   cum):
    """Per row r of ``hist`` (int64[R, B], counts per bin), its bins read in the order
    ``order`` (int64[B]: position k holds bin order[k]): the count ``counts[r]``; the
    count in bins tail_from, tail_from + 1, ... (``tails[r]``; bins numbered as in
    ``hist``, not by position); the sum of count x mid[b] over the bins b = 0, 1, ...
    (``totals[r]``, float64, added strictly in that order); and
    for each level qs[j] the position b = bins[r, j] of the first bin whose CDF (the
    running count over the count, in float64; that of nothing counted is 0) reaches
    qs[j] - 1e-12, with fracs[r, j] the part of that bin's mass below the level,
    clipped to [0, 1]. b is 0 where no bin reaches it; for a level of 1e-12 or less, b is
    the first non-empty bin that reaches it. ``cum``: int64[B] scratch.

    The quantiles of simcore/results/statistics.py, as its NumPy code computed them,
    value for value, in one pass a row: that code made a float64 CDF of every histogram
    and compared it with each level (50 ms of the end of a partner study's run). The CDF
    does not decrease, so the first bin reaching a level is found by bisection."""
    n_rows, n_bins = hist.shape
    for r in range(n_rows):
        n = 0
        tail = 0
        total = 0.0
        for k in range(n_bins):
            h = hist[r, order[k]]
            n += h
            cum[k] = n
        for b in range(n_bins):
            h = hist[r, b]
            total += h * mid[b]
            if b >= tail_from:
                tail += h
        counts[r] = n
        tails[r] = tail
        totals[r] = total
        den = float(n) if n > 0 else 1.0
        for j in range(qs.shape[0]):
            q = qs[j]
            level = q - 1e-12
            if q > 1e-12:
                lo = 0  # the first position whose CDF reaches the level: in [lo, hi]
                hi = n_bins
                while lo < hi:
                    mid_k = (lo + hi) // 2
                    if cum[mid_k] / den < level:
                        lo = mid_k + 1
                    else:
                        hi = mid_k
                b = lo if lo < n_bins else 0
            else:
                b = 0
                for k in range(n_bins):
                    if cum[k] / den >= level and hist[r, order[k]] > 0:
                        b = k
                        break
            below = cum[b - 1] / den if b > 0 else 0.0
            mass = hist[r, order[b]] / den
            frac = (q - below) / (mass if mass > 0.0 else 1.0)
            fracs[r, j] = min(max(frac, 0.0), 1.0)
            bins[r, j] = b


@jit
def cell_sums(cells, w, yc, nb, qb, sy, syy):
    """Into nb, qb, sy, syy (float64[cells], zeroed here): per cell, the sums over the
    draws j in it of w[j], w[j]^2, w[j] yc[j] and (w[j] yc[j]) yc[j]; ``cells``:
    int32[n, V], the cell of draw j for input v (-1: the input is undefined there).

    Each cell's terms are added in draw order, as ``bincount`` adds them, so the sums are
    the same numbers as ``bincount``'s (a draw of weight 0 adds only zeros)."""
    nb[:] = 0.0
    qb[:] = 0.0
    sy[:] = 0.0
    syy[:] = 0.0
    n, n_inputs = cells.shape
    for j in range(n):
        wj = w[j]
        if wj == 0.0:
            continue
        a = wj * yc[j]
        b = a * yc[j]
        q = wj * wj
        for v in range(n_inputs):
            c = cells[j, v]
            if c >= 0:
                nb[c] += wj
                qb[c] += q
                sy[c] += a
                syy[c] += b
