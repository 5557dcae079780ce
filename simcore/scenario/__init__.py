"""Scenario files: the language analysts write studies in (docs/scenarios.md).

- ``load_scenario(path, tensor=None)`` -> validated ``Scenario`` (reads ``extends``
  parents; checks names against the dataset the file names, or ``tensor``);
- ``compile_scenario(scenario, tensor=None)`` -> ``CompiledScenario`` (plain arrays for
  the kernel);
- ``schema``: every field declared once; the docs table and JSON Schema come from it.
"""

from __future__ import annotations

from simcore.errors import ScenarioError
from simcore.scenario.compile import compile_scenario
from simcore.scenario.distributions import Dist
from simcore.scenario.loader import load_scenario, scenario_hash
from simcore.scenario.spec import Capacity, Correlation, Event, Scenario, Stockpile

__all__ = [
    "Capacity",
    "Correlation",
    "Dist",
    "Event",
    "Scenario",
    "ScenarioError",
    "Stockpile",
    "compile_scenario",
    "load_scenario",
    "scenario_hash",
]
