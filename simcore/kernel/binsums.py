"""Weighted sums per bin for the sensitivity bootstrap (simcore/report/sensitivity.py).

Each of the bootstrap's resamples needs, for every (input, bin) cell, the sums of the
draws' weights w, of w^2, of w y and of w y^2 over the draws in the cell: about
(inputs x draws) additions a resample, 57 x 10,000 for the partner study's report.
NumPy's ``bincount`` does them with an array of cell numbers and three weight arrays of
that size made for every resample, about 11 ms a resample; this loop makes none and
skips the draws a resample leaves out (about 37 % of them).
"""

from __future__ import annotations

from simcore._numba import jit


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
