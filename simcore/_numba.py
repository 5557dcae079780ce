"""Numba options in one place: kernels use these decorators, never spell options out.

Importing this module imports numba (slow); only kernel modules import it, so that
``validate``, ``data`` and ``--help`` stay instant.

When ``NUMBA_CACHE_DIR`` is unset, the cache goes to a per-user folder that includes the
package and numba versions, so a read-only install still works. Either way the machine
code sits in a subfolder named by the fingerprint of the engine and kernel sources
(simcore/_sourcehash.py): Numba's own check only notices edits to the file of the
function it loads, so without it an edited helper in another module could run stale.
"""

from __future__ import annotations

import os


def _default_cache_dir() -> str:
    import numba

    from simcore import __version__

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "supplyshock", f"{__version__}-numba{numba.__version__}")


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = _default_cache_dir()

import numba  # noqa: E402  (the cache folder must be set before numba reads its config)

from simcore._sourcehash import engine_source_hash  # noqa: E402

numba.config.CACHE_DIR = os.path.join(
    os.environ["NUMBA_CACHE_DIR"], f"src-{engine_source_hash()}"
)
# LLVM's loop and SLP vectorisers halve the first compile of the model kernel's large,
# branchy functions (about 2x on 2 cores) and bring no measurable speed there. Numba reads
# these when its CPU codegen starts, i.e. at the first compile after this import.
# An explicit NUMBA_LOOP_VECTORIZE / NUMBA_SLP_VECTORIZE in the environment wins.
if "NUMBA_LOOP_VECTORIZE" not in os.environ:
    numba.config.LOOP_VECTORIZE = 0
if "NUMBA_SLP_VECTORIZE" not in os.environ:
    numba.config.SLP_VECTORIZE = 0

_OPTIONS = dict(cache=True, error_model="numpy", nogil=True)

jit = numba.njit(**_OPTIONS)
"""Serial kernel or helper."""

jit_parallel = numba.njit(parallel=True, **_OPTIONS)
"""Kernel parallel over its outer ``prange`` loop (draws)."""

prange = numba.prange
