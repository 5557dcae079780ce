"""Sums over draws outside the model: the run summary's running sums
(``add_rows_f32``, simcore/results/summary.py) and the weighted sums per bin of the
sensitivity bootstrap (``cell_sums``, simcore/report/sensitivity.py).

The summary's running sums of a column stored as float32 add each draw's value, rounded
to float32, strictly in draw order. NumPy did it with a float32 copy of every column, a
float64 copy of that and one vector addition per draw (about a tenth of a 10,000-draw run's
CPU time outside the kernel); this loop makes no copy, and releases the GIL, so the
writer's thread does not hold up the main thread.

Each of the bootstrap's resamples needs, for every (input, bin) cell, the sums of the
draws' weights w, of w^2, of w y and of w y^2 over the draws in the cell: about
(inputs x draws) additions a resample, 57 x 10,000 for the partner study's report.
NumPy's ``bincount`` does them with an array of cell numbers and three weight arrays of
that size made for every resample, about 11 ms a resample; this loop makes none and
skips the draws a resample leaves out (about 37 % of them).
"""

from __future__ import annotations

import numpy as np

from simcore._numba import jit


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
