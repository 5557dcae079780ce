"""Counter-based random streams and inverse CDFs (MODEL.md §2, §6).

A uniform is a pure function of (seed, variate key, draw, counter): the SplitMix64
finaliser applied to each part in turn. There is no generator state at all, so a draw's
variates never depend on thread count, chunking, executor, or on which other variates the
scenario declares. Every distribution is sampled by inverse CDF from one uniform
(counter 0), so the mapping uniform -> value is monotone (to the last bits of the normal
quantile, norm_ppf): common random numbers give
draw-by-draw comparisons between scenario variants (a larger severity range gives a
larger severity in every draw).
"""

from __future__ import annotations

import math

import numpy as np

from simcore._numba import jit, jit_inline, jit_internal, jit_parallel, prange
from simcore.kernel import fmath

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_SALT_DRAW = np.uint64(0xD1B54A32D192ED03)
_SALT_COUNTER = np.uint64(0x8CB92BA72F3D8DD7)
_TWO_M53 = 1.0 / 9007199254740992.0
_BELOW_ONE = 1.0 - _TWO_M53  # the largest float64 below 1

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)

DIST_CONST, DIST_UNIFORM, DIST_TRIANGULAR, DIST_PERT, DIST_BETA, DIST_LOGNORMAL = range(6)
DIST_DISCRETE = 6


@jit_internal
def mix64(z):
    """SplitMix64 finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def uniform(seed, key, draw, counter):
    """Uniform in the open interval (0, 1) keyed by (seed, key, draw, counter).

    seed, key: uint64; draw, counter: int64 >= 0. 53 random bits (unit_interval).
    """
    h = mix64(seed + _GOLDEN)
    h = mix64(h ^ key)
    h = mix64(h ^ (np.uint64(draw) * _SALT_DRAW + _GOLDEN))
    h = mix64(h ^ (np.uint64(counter) * _SALT_COUNTER + _GOLDEN))
    return unit_interval(h)


@jit_inline
def unit_interval(h):
    """The uniform of the 64-bit hash h: its top 53 bits k, (k + 0.5) 2^-53, so that 0
    never occurs and inverse CDFs stay finite. From k = 2^52 up, k + 0.5 is not a
    float64 and rounds to the even neighbour; k = 2^53 - 1 would round to 2^53, a
    uniform of exactly 1 (an event of probability 1 would not fire, a correlated
    event's normal quantile would be infinite), so the result is capped at the largest
    float64 below 1 (every other k keeps its value)."""
    return min((float(h >> _S11) + 0.5) * _TWO_M53, _BELOW_ONE)


@jit_internal
def norm_cdf(x):
    return 0.5 * fmath.erfc(-x / _SQRT2)


@jit
def norm_ppf(p):
    """Standard normal quantile: Acklam's rational approximation + one Halley step
    (relative error within about 3.5e-15 where |p - 1/2| > 0.003; nearer 1/2, where
    Phi(x) - p rounds to zero, Acklam's up to 1.1e-9, an absolute error below 1e-16;
    adjacent p may come out of order by a few units in the last place for p in about
    [0.016, 0.3] and [0.92, 0.98], where fmath.erfc's series, whose 1 - erf cancels,
    rounds by more than their step: docs/model.md, K15)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a1, a2, a3 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
    a4, a5, a6 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
    b1, b2, b3 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
    b4, b5 = 6.680131188771972e01, -1.328068155288572e01
    c1, c2, c3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
    c4, c5, c6 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
    d1, d2, d3, d4 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, (
        3.754408661907416e00
    )
    plow = 0.02425
    if p < plow:
        q = math.sqrt(-2.0 * fmath.log(p))
        x = (((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / (
            (((d1 * q + d2) * q + d3) * q + d4) * q + 1.0
        )
    elif p <= 1.0 - plow:
        q = p - 0.5
        r = q * q
        x = (((((a1 * r + a2) * r + a3) * r + a4) * r + a5) * r + a6) * q / (
            ((((b1 * r + b2) * r + b3) * r + b4) * r + b5) * r + 1.0
        )
    else:
        q = math.sqrt(-2.0 * fmath.log1p(-p))
        x = -(((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / (
            (((d1 * q + d2) * q + d3) * q + d4) * q + 1.0
        )
    # one Halley step against erfc brings the approximation to erfc's precision; the
    # upper half works with the complement 1 - p (exact in floating point there)
    if x <= 0.0:
        e = 0.5 * fmath.erfc(-x / _SQRT2) - p
    else:
        e = (1.0 - p) - 0.5 * fmath.erfc(x / _SQRT2)
    u = e * _SQRT2PI * fmath.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@jit_internal
def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    fpmin = 1e-300
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < fpmin:
        d = fpmin
    d = 1.0 / d
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < fpmin:
            d = fpmin
        c = 1.0 + aa / c
        if abs(c) < fpmin:
            c = fpmin
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < fpmin:
            d = fpmin
        c = 1.0 + aa / c
        if abs(c) < fpmin:
            c = fpmin
        d = 1.0 / d
        dl = d * c
        h *= dl
        if abs(dl - 1.0) < 1e-16:
            break
    return h


@jit_internal
def _beta_cdf(a, b, x, lnorm):
    """Regularised incomplete beta I_x(a, b), given lnorm = lgamma(a + b) - lgamma(a)
    - lgamma(b), which the quantile search computes once rather than at each step."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    bt = fmath.exp(lnorm + a * fmath.log(x) + b * fmath.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return bt * _betacf(a, b, x) / a
    return 1.0 - bt * _betacf(b, a, 1.0 - x) / b


@jit_internal
def _beta_start(a, b, u):
    """Where the quantile search of beta(a, b) at u starts: for a, b >= 1 (every PERT),
    the normal approximation of Abramowitz and Stegun 26.5.22 with the normal quantile
    of 26.2.22 (as Numerical Recipes' invbetai; z the upper-tail normal quantile of u),
    typically within 1e-3 of the quantile, up to 0.08 when a or b is near 1 (which
    costs steps, not accuracy); otherwise, or where that falls outside (0, 1), the
    mean."""
    mean = a / (a + b)
    if not (a >= 1.0 and b >= 1.0 and 0.0 < u < 1.0):
        return mean
    pp = u if u < 0.5 else 1.0 - u
    t = math.sqrt(-2.0 * fmath.log(pp))
    z = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t
    if u < 0.5:
        z = -z
    al = (z * z - 3.0) / 6.0
    h = 2.0 / (1.0 / (2.0 * a - 1.0) + 1.0 / (2.0 * b - 1.0))
    w = (z * math.sqrt(al + h) / h
         - (1.0 / (2.0 * b - 1.0) - 1.0 / (2.0 * a - 1.0)) * (al + 5.0 / 6.0 - 2.0 / (3.0 * h)))
    x = a / (a + b * fmath.exp(2.0 * w))
    return x if 0.0 < x < 1.0 else mean


@jit_internal
def log_beta(a, b):
    """log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b)."""
    return fmath.lgamma(a) + fmath.lgamma(b) - fmath.lgamma(a + b)


@jit_internal
def _pert_shape(lo, mode, hi, lam):
    """(a, b) of PERT(lo, mode, hi, lam) as a beta on [lo, hi] (hi > lo)."""
    width = hi - lo
    return 1.0 + lam * (mode - lo) / width, 1.0 + lam * (hi - mode) / width


@jit_internal
def shape_lbeta(dist, par):
    """log B(a, b) of a beta or PERT variate's shape (0 for the others): what its
    quantile needs in every draw, the same in all, so computed once (run_draws)."""
    if dist == DIST_PERT:
        if par[2] - par[0] <= 0.0:
            return 0.0
        a, b = _pert_shape(par[0], par[1], par[2], par[3])
        return log_beta(a, b)
    if dist == DIST_BETA:
        return log_beta(par[0], par[1])
    return 0.0


@jit
def beta_ppf(a, b, u):
    """Quantile of beta(a, b) at u (beta_ppf_lb with its log B(a, b))."""
    return beta_ppf_lb(a, b, u, log_beta(a, b))


@jit_internal
def beta_ppf_lb(a, b, u, lbeta):
    """Quantile of beta(a, b), given lbeta = log B(a, b): Halley steps (Newton's
    corrected by the slope of the density) kept inside a shrinking bisection bracket,
    from _beta_start. Against Newton's steps from the mean: 3.7 instead of 6.7
    evaluations of the incomplete beta a quantile for PERT shapes (a, b in [1, 5]), 0.75
    instead of 1.2 us."""
    lnorm = -lbeta
    lo = 0.0
    hi = 1.0
    x = _beta_start(a, b, u)
    for _ in range(200):
        f = _beta_cdf(a, b, x, lnorm) - u
        if f < 0.0:
            lo = x
        else:
            hi = x
        if f == 0.0 or hi - lo < 1e-15:
            break
        logpdf = (a - 1.0) * fmath.log(x) + (b - 1.0) * fmath.log1p(-x) - lbeta
        pdf = fmath.exp(logpdf)
        xn = -1.0
        if pdf > 0.0:
            step = f / pdf  # Newton's
            # the density's log-slope (a - 1) / x - (b - 1) / (1 - x) bends the step;
            # kept to a factor of at most 2 where the correction is large
            c = 0.5 * step * ((a - 1.0) / x - (b - 1.0) / (1.0 - x))
            xn = x - step / (1.0 - c) if c < 0.5 else x - 2.0 * step
        if not (lo < xn < hi):
            xn = 0.5 * (lo + hi)
        if abs(xn - x) <= 1e-15 * max(1.0, abs(x)):
            x = xn
            break
        x = xn
    return x


@jit_internal
def triangular_ppf(u, lo, mode, hi):
    """Triangular(lo, mode, hi) quantile at u, in closed form (lo when hi <= lo)."""
    width = hi - lo
    if width <= 0.0:
        return lo
    c = (mode - lo) / width
    if u < c:
        return lo + math.sqrt(u * width * (mode - lo))
    return hi - math.sqrt((1.0 - u) * width * (hi - mode))


@jit
def sample(u, dist, par, disc_values, disc_cdf, lbeta):
    """Value of a variate with distribution code ``dist`` and parameter row ``par[0:4]``
    (simcore.compiled) at the uniform u in (0, 1), by inverse CDF; ``lbeta``: its
    ``shape_lbeta``."""
    if dist == DIST_CONST:
        return par[0]
    if dist == DIST_UNIFORM:
        return par[0] + u * (par[1] - par[0])
    if dist == DIST_TRIANGULAR:
        return triangular_ppf(u, par[0], par[1], par[2])
    if dist == DIST_PERT:
        lo, mode, hi, lam = par[0], par[1], par[2], par[3]
        width = hi - lo
        if width <= 0.0:
            return lo
        a, b = _pert_shape(lo, mode, hi, lam)
        return lo + width * beta_ppf_lb(a, b, u, lbeta)
    if dist == DIST_BETA:
        return par[2] + (par[3] - par[2]) * beta_ppf_lb(par[0], par[1], u, lbeta)
    if dist == DIST_LOGNORMAL:
        v = fmath.exp(par[0] + par[1] * norm_ppf(u))
        return min(max(v, par[2]), par[3])
    if dist == DIST_DISCRETE:
        off = int(par[0])
        cnt = int(par[1])
        for j in range(cnt):
            if u < disc_cdf[off + j]:
                return disc_values[off + j]
        return disc_values[off + cnt - 1]
    return np.nan


@jit
def sample_draw(seed, draw, var_key, var_dist, var_par, disc_values, disc_cdf, out):
    """All variates of one draw, before the occurrence copula, into out[V]."""
    for v in range(var_key.shape[0]):
        u = uniform(seed, var_key[v], draw, 0)
        out[v] = sample(u, var_dist[v], var_par[v], disc_values, disc_cdf,
                        shape_lbeta(var_dist[v], var_par[v]))


@jit_parallel
def sample_block(seed, start, var_key, var_dist, var_par, disc_values, disc_cdf, out):
    """Variates of draws start .. start + out.shape[0] - 1 into out[n, V] (no copula).

    For statistical tests of the distributions; the model kernel samples per draw.
    """
    for j in prange(out.shape[0]):
        sample_draw(seed, start + j, var_key, var_dist, var_par, disc_values, disc_cdf, out[j])
