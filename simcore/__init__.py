"""supplyshock: Monte Carlo simulator of export-control disruptions in critical-mineral
supply chains.

The public API is small and imported lazily, so ``import simcore`` stays fast:

- ``load_dataset(path=None)`` -> ``SupplyTensor`` (the built-in baseline by default)
- ``load_scenario(path, tensor=None)`` -> validated ``Scenario``
- ``run(path, draws=None, seed=None, ...)`` -> ``Result`` (``.summary``, ``.shortage``,
  ``.drivers``, ``.monthly``, ``.save(dir)``)
- ``load_result(dir)`` -> ``Result``
"""

from __future__ import annotations

import os as _os

# One BLAS thread. The simulator's own threads do the work; NumPy's OpenBLAS pool (started
# by the few small linear-algebra calls of scenario compilation) spins on the cores for a
# while after each call, which on two cores cost the kernel's second thread a third of its
# throughput (2,689 -> 4,287 draws/s). Only effective when this package is imported
# before NumPy (the command line); set OPENBLAS_NUM_THREADS to override.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": ("simcore.dataset", "load_dataset"),
    "SupplyTensor": ("simcore.dataset", "SupplyTensor"),
    "load_scenario": ("simcore.scenario", "load_scenario"),
    "run": ("simcore.api", "run"),
    "load_result": ("simcore.results", "load_result"),
    "Result": ("simcore.results", "Result"),
    "DatasetError": ("simcore.errors", "DatasetError"),
    "ScenarioError": ("simcore.errors", "ScenarioError"),
}

# submodules the docs reach as attributes (``simcore.api.prepare``), imported on first use
_SUBMODULES = ("api", "dataset", "scenario", "results", "engine", "errors")

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"simcore.{name}")
    raise AttributeError(f"module 'simcore' has no attribute {name!r}")
