"""Scenario texts of the small studies the end-to-end tests run on the tiny dataset.

A *study* is a folder as an analyst has it: ``scenarios/`` with scenario files beside a
copy of the tiny dataset (tests/data/tiny), the files naming it as ``dataset = "tiny"``.
Tests run from the study folder, so manifests record relative paths as in a repository.

- ``CN_REFINING``: one export restriction of gallium and graphite refining by China,
  with a response; ``{name}`` is the scenario name.
- ``CN_REFINING_AU_OUTAGE``: the same kind of restriction plus an Australian antimony
  outage (two materials' worth of events), for runs that need several events.
- ``stockpile(parent, name, countries, id)``: a variant of ``parent`` with a US-style
  gallium stockpile of three months of need.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import copy_tiny

CN_REFINING = """\
[scenario]
name = "{name}"
horizon_months = 12
draws = 40
seed = 11
dataset = "tiny"

[[events]]
id = "cn-refining"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium", "graphite"]
stage = "refining"
probability = 0.7
onset_month = {{ dist = "uniform", min = 0, max = 6 }}
duration_months = {{ dist = "triangular", min = 2, mode = 6, max = 12 }}
severity = {{ dist = "uniform", min = 0.5, max = 1.0 }}
leakage = {{ dist = "beta", a = 2, b = 8 }}

[response]
reroute_lag_months = {{ dist = "uniform", min = 1, max = 6 }}
demand_elasticity = {{ dist = "uniform", min = 0.1, max = 0.4 }}
"""

CN_REFINING_AU_OUTAGE = """\
[scenario]
name = "{name}"
horizon_months = 12
draws = 300
seed = 5
dataset = "tiny"

[[events]]
id = "cn-refining"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium", "graphite"]
stage = "refining"
probability = 0.6
onset_month = {{ dist = "uniform", min = 0, max = 6 }}
duration_months = {{ dist = "triangular", min = 2, mode = 6, max = 12 }}
severity = {{ dist = "uniform", min = 0.4, max = 1.0 }}
leakage = {{ dist = "beta", a = 2, b = 8 }}

[[events]]
id = "au-antimony-outage"
kind = "production_outage"
origin = "AUS"
materials = ["antimony"]
stage = "refining"
probability = 0.3
onset_month = {{ dist = "uniform", min = 0, max = 10 }}
duration_months = {{ dist = "uniform", min = 1, max = 4 }}
severity = {{ dist = "uniform", min = 0.2, max = 0.8 }}

[response]
reroute_lag_months = {{ dist = "uniform", min = 1, max = 6 }}
demand_elasticity = {{ dist = "uniform", min = 0.1, max = 0.4 }}
"""


def stockpile(parent: str, name: str, countries: str = "USA", id: str = "us-ga-stock") -> str:
    """A variant of the scenario file ``parent``: a gallium stockpile of three months of
    need for ``countries`` (a country code or a group)."""
    return f"""\
extends = "{parent}"

[scenario]
name = "{name}"

[[interventions]]
id = "{id}"
kind = "stockpile"
countries = ["{countries}"]
materials = ["gallium"]
months_of_need = 3
"""


def capacity(parent: str, name: str, cost_usd: float | None = None) -> str:
    """A variant of the scenario file ``parent``: a 5 t/year gallium plant in the USA
    (``us-ga-plant``), with ``cost_usd`` where given."""
    text = f"""\
extends = "{parent}"

[scenario]
name = "{name}"

[[interventions]]
id = "us-ga-plant"
kind = "capacity"
country = "USA"
material = "gallium"
tonnes_per_year = 5
"""
    return text + (f"cost_usd = {cost_usd}\n" if cost_usd is not None else "")


def write_study(root: Path, files: dict[str, str]) -> Path:
    """``root/scenarios/`` with a copy of the tiny dataset and ``files`` (name -> text);
    returns ``root``."""
    (root / "scenarios").mkdir(parents=True)
    copy_tiny(root / "scenarios")
    for name, text in files.items():
        (root / "scenarios" / name).write_text(text, encoding="utf-8")
    return root


def cli_argv(*args: str) -> list[str]:
    """argv of a ``supplyshock`` subprocess that takes Ctrl-C (SIGINT) as a terminal would
    send it, also when the test session itself runs in the background: a shell starts
    background jobs with SIGINT ignored, a child inherits that, and Python then never
    raises KeyboardInterrupt."""
    import sys

    boot = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv = ['supplyshock', *sys.argv[1:]]; runpy.run_module('simcore', "
        "run_name='__main__')"
    )
    return [sys.executable, "-c", boot, *map(str, args)]
