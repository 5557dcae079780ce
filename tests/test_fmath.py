"""The kernel's own exp, log, log1p, erfc and lgamma (simcore/kernel/fmath.py): accurate,
and the same bits whichever version of the math library the platform has."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from simcore.kernel import fmath, fmathtab

EXP, LOG, LOG1P, ERFC, LGAMMA, EXP_EDGE = range(6)


def apply(which: int, x) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    fmath.apply(which, x, out)
    return out


def reference(f, x) -> np.ndarray:
    out = []
    for v in x:
        try:
            out.append(f(v))
        except OverflowError:
            out.append(math.inf)
        except ValueError:
            out.append(math.nan)
    return np.array(out)


def ulps(got: np.ndarray, want: np.ndarray) -> float:
    """The largest difference in units in the last place of ``want`` (normal results)."""
    ok = np.isfinite(want) & (np.abs(want) >= 2.2250738585072014e-308)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[np.isinf(want)], want[np.isinf(want)])
    return float(np.max(np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]))))


RNG = np.random.default_rng(20261203)


def test_the_constants_are_those_exact_decimal_arithmetic_gives():
    """Every table and constant written out in fmathtab is the float64 nearest its value
    computed again in 60-digit decimal arithmetic (or split as documented)."""
    for name, value in fmathtab.derive().items():
        have = getattr(fmathtab, name)
        if isinstance(value, list):
            assert np.array_equal(have, np.array(value)), name
        else:
            assert have == value, name
    assert fmathtab.POW2[0] == 2.0**-1022 and fmathtab.POW2[-1] == 2.0**1023
    assert all(fmathtab.POW2[k + 1022] == math.ldexp(1.0, k) for k in range(-1022, 1024))
    assert np.array_equal(fmathtab.EXP_SBITS.view(np.float64)[:1], [1.0])


def test_exp_is_within_one_unit_of_the_exact_value_and_exp_array_is_its_edge_path():
    x = np.concatenate([RNG.uniform(-30.0, 30.0, 200_000), RNG.uniform(-745.2, 709.8, 50_000),
                        RNG.uniform(-1e-5, 1e-5, 10_000), RNG.uniform(707.0, 709.0, 2_000),
                        [0.0, -0.0, 1e-300, -1e-300, 708.0, -708.0, 709.78, 709.7827128933839,
                         709.79, -745.13, -745.14, -740.0, math.inf, -math.inf, math.nan]])
    want = reference(math.exp, x)
    got = apply(EXP, x)
    # glibc's exp is within 0.52 units of e^x: ours differs from it by at most 1
    assert ulps(got, want) <= 1.0
    assert ulps(apply(EXP_EDGE, x), want) <= 1.0
    small = (want > 0) & (want < 2.2250738585072014e-308)  # subnormal results
    assert np.all(np.abs(got[small] - want[small]) <= 2 * 5e-324)
    assert got[x == 0.0].tolist() == [1.0, 1.0] and got[-3] == math.inf and got[-2] == 0.0
    edge = apply(EXP_EDGE, x)
    assert np.array_equal(fmathtab.exp_array(x), edge, equal_nan=True)
    assert np.array_equal(fmathtab.exp_array(x).view(np.uint64)[~np.isnan(x)],
                          edge.view(np.uint64)[~np.isnan(x)])


def test_log_and_log1p_are_within_a_unit_or_two():
    y = np.concatenate([np.exp(RNG.uniform(-700.0, 700.0, 100_000)), RNG.uniform(0.5, 2.0, 100_000),
                        1.0 + RNG.uniform(-1e-6, 1e-6, 10_000),
                        [5e-324, 2.2e-308, 1e308, 1.0, 2.0, 0.5]])
    assert ulps(apply(LOG, y), reference(math.log, y)) <= 1.0
    assert apply(LOG, np.array([0.0, -1.0, math.nan, math.inf])).tolist()[::3] == [
        -math.inf, math.inf]
    assert np.isnan(apply(LOG, np.array([-1.0, math.nan]))).all()
    z = np.concatenate([RNG.uniform(-0.999, 10.0, 100_000), RNG.uniform(-1e-8, 1e-8, 10_000),
                        np.exp(RNG.uniform(-700.0, 0.0, 10_000)), [0.0, 1e-300, -1e-300]])
    assert ulps(apply(LOG1P, z), reference(math.log1p, z)) <= 2.0
    assert apply(LOG1P, np.array([-1.0, math.inf])).tolist() == [-math.inf, math.inf]
    assert np.isnan(apply(LOG1P, np.array([-2.0, math.nan]))).all()


def test_erfc_and_lgamma_are_close_to_the_math_library():
    w = np.concatenate([RNG.uniform(-6.0, 27.0, 200_000), RNG.uniform(-0.1, 0.1, 10_000),
                        [0.0, 1.5, -1.5, 30.0, -30.0, 40.0, -40.0, math.inf, -math.inf]])
    got, want = apply(ERFC, w), reference(math.erfc, w)
    normal = want > 1e-300
    assert np.max(np.abs(got[normal] - want[normal]) / want[normal]) < 2e-14
    assert np.all(np.abs(got - want) <= 2e-14 * np.maximum(want, 1e-300) + 1e-320)
    g = np.concatenate([RNG.uniform(1e-6, 20.0, 100_000), RNG.uniform(20.0, 1e6, 10_000),
                        [1.0, 2.0, 0.5, 1e-300, 3.0, 20.0]])
    got, want = apply(LGAMMA, g), reference(math.lgamma, g)
    assert np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))) < 3e-14
    assert apply(LGAMMA, np.array([1.0, 2.0])).tolist() == pytest.approx([0.0, 0.0], abs=1e-14)
    assert apply(LGAMMA, np.array([0.0, math.inf])).tolist() == [math.inf, math.inf]
    assert np.isnan(apply(LGAMMA, np.array([-1.0, math.nan]))).all()


def test_the_python_log_gives_the_kernels_bits():
    """A lognormal given by its median gets mu = log(median) in Python: fmathtab.log_py,
    the kernel's log in Python's floats, the same bits (subnormals and specials too)."""
    y = np.concatenate([np.exp(RNG.uniform(-740.0, 709.0, 20_000)),
                        RNG.uniform(0.5, 2.0, 5_000), [5e-324, 1e-310, 1.0, 2.0, math.inf]])
    kernel = apply(LOG, y)
    python = np.array([fmathtab.log_py(v) for v in y])
    assert np.array_equal(kernel.view(np.uint64), python.view(np.uint64))
    assert fmathtab.log_py(0.0) == -math.inf and math.isnan(fmathtab.log_py(-1.0))


def test_the_copula_factor_is_computed_in_a_fixed_order():
    """The occurrence copula's Cholesky factor in plain float64 operations (not LAPACK's,
    whose order depends on the library NumPy links): a factor of R, close to NumPy's."""
    from simcore.scenario.compile import _cholesky

    for rho in (0.0, 0.3, 0.7, 0.95, -0.2):
        for n in (1, 2, 3, 5):
            R = np.full((n, n), rho) + (1.0 - rho) * np.eye(n)
            L = _cholesky(R)
            assert np.array_equal(L, np.tril(L))
            assert np.allclose(L @ L.T, R, rtol=0, atol=1e-15)
            assert np.allclose(L, np.linalg.cholesky(R), rtol=0, atol=1e-15)
    assert _cholesky(np.zeros((0, 0))).shape == (0, 0)
    with pytest.raises(ValueError, match="not positive definite"):
        _cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))


_LIBM_AND_RUN = r"""
import ctypes, json, sys
import numpy as np
from simcore import api
from simcore.kernel import fmath
libm = ctypes.CDLL("libm.so.6")
libm.exp.restype = ctypes.c_double
libm.exp.argtypes = [ctypes.c_double]
x = np.random.default_rng(1).uniform(-8.0, 8.0, 20000)
out = np.empty_like(x)
fmath.apply(0, x, out)
mine = out.copy()
fmath.apply(3, x, out)
result = api.run(sys.argv[1], draws=300, progress=False)
print(json.dumps({
    "libm": [libm.exp(float(v)).hex() for v in x[:20000]],
    "fmath": [float(v).hex() for v in np.concatenate([mine, out])],
    "digest": result.manifest["digest"],
}))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64",
                    reason="glibc on x86-64 picks exp's version by the CPU's features")
def test_a_run_gives_the_same_bits_whichever_exp_glibc_picks(tmp_path):
    """glibc picks other versions of exp, log, erfc and lgamma on an x86-64 CPU without
    FMA and AVX2 (``GLIBC_TUNABLES`` hides them from it here): the math library's exp then
    differs in the last bit for some arguments, and, before the sampling had the kernel's
    own, the partner study's sampled values did too. The kernel's functions give the same
    bits either way, and so does a run of the partner study (whose market keeps the
    platform's exp: none of its last-bit differences reaches a stored number here)."""
    scenario = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "scenarios", "partners-2026.toml")
    env = dict(os.environ)
    got = {}
    for name, tunables in (("native", None), ("no-fma", "glibc.cpu.hwcaps=-AVX2,-FMA")):
        if tunables:
            env["GLIBC_TUNABLES"] = tunables
        else:
            env.pop("GLIBC_TUNABLES", None)
        proc = subprocess.run([sys.executable, "-c", _LIBM_AND_RUN, scenario],
                              capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    if got["native"]["libm"] == got["no-fma"]["libm"]:
        pytest.skip("this glibc or CPU gives the same exp either way: nothing to compare")
    assert got["native"]["fmath"] == got["no-fma"]["fmath"]
    assert got["native"]["digest"] == got["no-fma"]["digest"]
