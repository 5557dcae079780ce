"""Stockpile sizing: how much, of what, where, for a given protection or budget.

- ``size(study, holders, target, ...)``: the smallest stockpile of each (holder,
  material) that brings a quantile of the holder's outcome to a target
  (simcore/stockpile/sizing.py);
- ``budget(study, holders, budget_usd, ...)``: a greedy allocation of a budget
  (simcore/stockpile/budget.py);
- ``write(result, out)``: the scenario variant and its results folder
  (simcore/stockpile/output.py).

Built on the engine as it is (simcore/stockpile/evaluate.py): one compiled scenario,
many runs with changed stockpile sizes. Method and limits: docs/stockpile.md.
"""

from __future__ import annotations

from simcore.stockpile.budget import Budget, budget
from simcore.stockpile.errors import StockpileError
from simcore.stockpile.output import load, write
from simcore.stockpile.sizing import Sizing, size
from simcore.stockpile.target import Target, parse_target

__all__ = [
    "Budget",
    "Sizing",
    "StockpileError",
    "Target",
    "budget",
    "load",
    "parse_target",
    "size",
    "write",
]
