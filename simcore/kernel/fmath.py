"""The kernel's own exp, log, log1p, erfc and lgamma: the same bits on every platform.

The math library's versions of these round their last bit as that library chooses:
glibc has other versions on an x86-64 CPU without FMA and AVX2, other systems other
libraries, and a run's sampled values moved by up to 63 units in their last place there
(docs/model.md, section 6). These use only additions, subtractions, multiplications,
divisions, fused multiply-adds (``_fma``: LLVM's ``llvm.fma``, one rounding, an
instruction where the CPU has one and the math library's exact ``fma`` where not),
comparisons, conversions between integers and floats, reinterpretations of a float's
bits and look-ups in tables of exact constants
(simcore/kernel/fmathtab.py), each rounded as IEEE 754 says, in an order fixed by the
code (Numba compiles without fast-math: nothing is reassociated or fused but what
``_fma`` fuses), so a run gives the same bits wherever it runs.

- ``exp``: x = (k + j / 128) ln 2 + r, |r| <= ln 2 / 256: e^x = 2^k 2^(j/128) e^r, with
  2^(j/128) = s_j (1 + t_j) from two tables (s_j's bits with k added to its exponent,
  t_j its relative remainder) and e^r - 1 from its Taylor polynomial of degree 5
  (r^6/720 < 5.5e-19 dropped): 2^k s_j (1 + (t_j + r + r^2 (1/2 + r/6) + r^4 (1/24 +
  r/120))), the polynomial in fused multiply-adds as the code has it; within 1 unit in
  the last place of glibc's exp (itself within 0.52 of e^x; tests/test_fmath.py). For
  |x| >= 708 (and NaN), ``_exp_edge``: the same reduction without fused multiply-adds,
  2^(j/128) in two parts added, 2^k from a table of powers of two (two factors for a
  subnormal result); inf above 709.782712893384, 0 below -745.1332191019412.
- ``log``: x = 2^k y, sqrt(1/2) <= y < sqrt(2), f = y - 1 (exact), s = f / (2 + f);
  log(1 + f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R)), R = sum_{i=1..10} 2 s^(2i) /
  (2i + 1); plus k ln 2 in two parts (the first of 42 bits, so that k times it is exact).
- ``log1p``: u = 1 + x; x where u = 1, else log(u) (x / (u - 1)) (Goldberg's correction of
  the rounding of u).
- ``erfc``: e^(-x^2) as e^(-h) (1 - l), h = x^2 rounded and l = x^2 - h exactly (a fused
  multiply-add); below |x| = 1.5, 1 - erf(x) from the series erf(x) = 2/sqrt(pi)
  e^(-x^2) sum_n 2^n x^(2n+1) / (1 3 ... (2n+1)) (25 terms); from 1.5 to 30 the
  continued fraction of erfc (50 terms), 2 - erfc(-x) for x < 0; 0 (or 2) beyond 30.
  Within about 1e-14 of erfc below 1.5 (where 1 - erf cancels: 5e-15 just below 1.5,
  so that erfc is not monotone there to the last bit), a few units in the last place
  above.
- ``lgamma`` (x > 0): the recurrence lgamma(x) = lgamma(x + n) - log(x (x+1) ...
  (x+n-1)) up to x + n >= 10, then Stirling's series to 1/x^13 (the next term is below
  3e-17 at 10); about 2e-14 absolute below 10, 1e-14 relative above.

The sampling (simcore/kernel/rng.py) uses them; the market's prices keep the platform's
exp and log, which the kernel calls some 5,000 times a draw: this exp inlined there made
the kernel 5-9 % slower, called (Numba's calling convention) 15 % (docs/model.md,
section 6). Every loop has a fixed bound (a GPU port would need none that depends on the
data). ``lgamma`` overflows to inf above about 2.5e305, where (x - 1/2) log x does.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic

from simcore._numba import jit, jit_inline, jit_internal
from simcore.kernel.fmathtab import (
    ERF_SERIES_BELOW,
    ERF_SERIES_TERMS,
    ERFC_FRACTION_TERMS,
    ERFC_ZERO_ABOVE,
    EXP_C3,
    EXP_C4,
    EXP_C5,
    EXP_HI,
    EXP_INV_LN2_N,
    EXP_LN2_HI_N,
    EXP_LN2_LO_N,
    EXP_LO,
    EXP_N,
    EXP_SBITS,
    EXP_SHIFT,
    EXP_T_HI,
    EXP_T_LO,
    EXP_TAIL,
    HALF_LOG_2PI,
    LGAMMA_SHIFT,
    LN2_HI,
    LN2_LO,
    LOG_TERMS,
    POW2,
    SQRT_HALF,
    SQRT_PI,
    TWO_M64,
)

_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10 = LOG_TERMS
_N_MASK = EXP_N - 1
_N_BITS = EXP_N.bit_length() - 1  # 7
_U_MASK = np.uint64(EXP_N - 1)
_U_TOP = np.uint64(52 - _N_BITS)  # 45: j / 128 of the integer moves to the exponent
_U_52 = np.uint64(52)
# Stirling's series for lgamma: 1/12, -1/360, 1/1260, -1/1680, 1/1188, -691/360360, 1/156
_S1, _S2, _S3, _S4, _S5, _S6, _S7 = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0,
                                     1.0 / 1188.0, -691.0 / 360360.0, 1.0 / 156.0)
_U_FRACTION = np.uint64((1 << 52) - 1)
_U_ONE = np.uint64(0x3FF0000000000000)  # 1.0's bits
_TINY = 2.0**-1022  # the smallest normal float64
_TWO_54 = 2.0**54
_SQRT_TWO = 2.0 * SQRT_HALF  # log's reduction: y in [sqrt(1/2), sqrt(2))


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's llvm.fma.f64)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d] * 3))
        return builder.call(fn, [context.cast(builder, v, t, types.float64)
                                 for v, t in zip(args, signature.args, strict=True)])

    return sig, codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of float64 x as a uint64."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, bits):
    """The float64 whose bits are uint64 ``bits``."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@jit_inline
def exp(x):
    """e^x (float64), the same bits on every platform."""
    if not abs(x) < 708.0:  # beyond, or NaN
        return _exp_edge(x)
    z = _fma(x, EXP_INV_LN2_N, EXP_SHIFT)  # k * 128 + j in the low bits of z
    ki = _bits(z)
    kd = z - EXP_SHIFT
    r = _fma(kd, -EXP_LN2_HI_N, x)
    r = _fma(kd, -EXP_LN2_LO_N, r)
    j = ki & _U_MASK
    r2 = r * r
    tmp = (_fma(r2, _fma(r, EXP_C3, 0.5), EXP_TAIL[j] + r)
           + (r2 * r2) * _fma(r, EXP_C5, EXP_C4))
    scale = _from_bits(EXP_SBITS[j] + (ki << _U_TOP))  # 2^k s_j
    return _fma(scale, tmp, scale)


@jit_internal
def _exp_edge(x):
    """exp for |x| >= 708 and NaN (and any x): without fused multiply-adds."""
    if not x <= EXP_HI:  # above, or NaN
        return x + x if x != x else math.inf
    if x < EXP_LO:
        return 0.0
    kd = (x * EXP_INV_LN2_N + EXP_SHIFT) - EXP_SHIFT  # the nearest integer
    r = (x - kd * EXP_LN2_HI_N) - kd * EXP_LN2_LO_N
    ki = int(kd)
    j = ki & _N_MASK
    k = ki >> _N_BITS
    p = r + r * r * (0.5 + r * (EXP_C3 + r * (EXP_C4 + r * EXP_C5)))
    t = EXP_T_HI[j]
    s = t + (t * p + EXP_T_LO[j])
    if k < -1022:  # a subnormal result
        return (s * POW2[k + 1022 + 64]) * TWO_M64
    if k > 1023:
        return (s * 2.0) * POW2[k - 1 + 1022]
    return s * POW2[k + 1022]


@jit_inline
def log(x):
    """The natural logarithm (float64), the same bits on every platform."""
    if not x > 0.0:
        if x == 0.0:
            return -math.inf
        return x if x != x else math.nan
    if x == math.inf:
        return x
    e = -1023
    if x < _TINY:  # subnormal: scaled into the normal range first (exact)
        x = x * _TWO_54
        e -= 54
    bits = _bits(x)
    e += np.int64(bits >> _U_52)  # the biased exponent (x > 0: no sign bit)
    m = _from_bits((bits & _U_FRACTION) | _U_ONE)  # x / 2^e, in [1, 2)
    if m >= _SQRT_TWO:
        m = m * 0.5
        e += 1
    f = m - 1.0  # exact (Sterbenz)
    s = f / (2.0 + f)
    z = s * s
    r = z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * (_L6 + z * (
        _L7 + z * (_L8 + z * (_L9 + z * _L10)))))))))
    hfsq = 0.5 * f * f
    dk = float(e)
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)


@jit_inline
def log1p(x):
    """log(1 + x) (float64), accurate for small x, the same bits on every platform."""
    u = 1.0 + x
    if u == 1.0:
        return x
    if not u > 0.0 or u == math.inf:
        return log(u)
    return log(u) * (x / (u - 1.0))


@jit_internal
def _exp_minus_square(x):
    """e^(-x^2), with the rounding of x^2 taken into account."""
    h = x * x
    e = exp(-h)
    return _fma(e, -_fma(x, x, -h), e)


@jit_internal
def _erf_series(x):
    """erf(x) for |x| < ERF_SERIES_BELOW."""
    x2 = x * x
    acc = 0.0
    fk = ERF_SERIES_TERMS + 0.5
    for _ in range(ERF_SERIES_TERMS):
        acc = 2.0 + x2 * acc / fk
        fk -= 1.0
    return acc * x * _exp_minus_square(x) / SQRT_PI


@jit_internal
def _erfc_fraction(x):
    """erfc(x) for ERF_SERIES_BELOW <= x < ERFC_ZERO_ABOVE: the continued fraction."""
    x2 = x * x
    a = 0.0
    da = 0.5
    p = 1.0
    p_last = 0.0
    q = da + x2
    q_last = 1.0
    for _ in range(ERFC_FRACTION_TERMS):
        a += da
        da += 2.0
        b = da + x2
        p, p_last = b * p - a * p_last, p
        q, q_last = b * q - a * q_last, q
    return p / q * x * _exp_minus_square(x) / SQRT_PI


@jit_internal
def erfc(x):
    """The complementary error function (float64), the same bits on every platform."""
    if x != x:
        return x
    ax = abs(x)
    if ax < ERF_SERIES_BELOW:
        return 1.0 - _erf_series(x)
    if ax >= ERFC_ZERO_ABOVE:
        return 0.0 if x > 0.0 else 2.0
    c = _erfc_fraction(ax)
    return c if x > 0.0 else 2.0 - c


@jit_internal
def lgamma(x):
    """log Gamma(x) for x > 0 (float64; inf at 0, NaN below), the same bits on every
    platform."""
    if not x > 0.0:
        return math.inf if x == 0.0 else math.nan
    if x == math.inf:
        return x
    y = x
    prod = 1.0
    for _ in range(int(LGAMMA_SHIFT)):
        if y >= LGAMMA_SHIFT:
            break
        prod *= y
        y += 1.0
    r = 1.0 / y
    r2 = r * r
    # Stirling's series: B_2k / (2k (2k - 1) y^(2k - 1)), k = 1 .. 7 (k = 8: < 3e-17 at 10)
    series = r * (_S1 + r2 * (_S2 + r2 * (_S3 + r2 * (_S4 + r2 * (_S5 + r2 * (
        _S6 + r2 * _S7))))))
    return (y - 0.5) * log(y) - y + HALF_LOG_2PI + series - log(prod)


@jit
def apply(which, x, out):
    """out[i] = exp, log, log1p, erfc, lgamma or _exp_edge (which = 0 .. 5) of x[i]: for
    the tests."""
    for i in range(x.shape[0]):
        v = x[i]
        if which == 0:
            out[i] = exp(v)
        elif which == 1:
            out[i] = log(v)
        elif which == 2:
            out[i] = log1p(v)
        elif which == 3:
            out[i] = erfc(v)
        elif which == 4:
            out[i] = lgamma(v)
        else:
            out[i] = _exp_edge(v)
