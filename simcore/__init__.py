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

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'simcore' has no attribute {name!r}")
