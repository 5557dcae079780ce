"""Small Monte Carlo statistics for the report: pure NumPy."""

from __future__ import annotations

import numpy as np

# two-sided 95 % normal quantile; the report states its bands at this level
Z95 = 1.959963984540054


def wilson_interval(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k / n (arrays broadcast).

    Unlike the normal approximation it stays inside [0, 1] and is honest at p = 0 or 1,
    which is where exceedance curves spend most of their length.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact ends: no
    high = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))  # rounding residue
    return low, high


def exceedance(values: np.ndarray, grid: np.ndarray, z: float = Z95):
    """P(value > x) for each x of grid, with its Wilson band.

    Returns (p, low, high), arrays shaped like grid.
    """
    values = np.sort(np.asarray(values, dtype=np.float64))
    n = values.shape[0]
    k = n - np.searchsorted(values, grid, side="right")
    low, high = wilson_interval(k, n, z)
    return k / n, low, high
