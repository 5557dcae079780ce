"""Small worlds for the stockpile tests (tests/test_stockpile_*.py).

- ``one_outage(root)``: a one-material, two-country dataset built for hand-working (a
  producer PRD ships all of USR's need, 10 t/month) and a scenario in which PRD loses
  half its output for months 0-3, with every market parameter fixed (no commercial
  stocks, no price response of supply, no substitution): every draw is the same;
- ``TWO_MATERIALS``: gallium and antimony restricted on the tiny dataset, for budgets;
- ``world(...)``: a random restriction of gallium or graphite on the tiny dataset.
"""

from __future__ import annotations

from pathlib import Path

FIXED_RESPONSE = """
[response]
demand_elasticity = 0.01
demand_elasticity_medium = 0.01
demand_adjust_months = 0
supply_elasticity = 0
spare_ramp_months = 0
origin_supply_elasticity = 0
state_purchase_share = 0
inventory_weeks = 0
feed_inventory_weeks = 0
inventory_release = 0
inventory_adjust = 1
spot_share = 1
precautionary_weeks = 0
choke_price = 1.5
reroute_lag_months = 0
spare_usable = 0
substitution_max = 0
"""


def one_outage(root: Path) -> Path:
    """``root/one/`` (dataset) and ``root/outage.toml``; returns the scenario path."""
    d = root / "one"
    d.mkdir(parents=True)
    (d / "materials.csv").write_text(
        "material,name,unit,stages,price_usd_per_t,price_source\n"
        "xm,X metal,t X,refining,1000,test value\n")
    (d / "countries.csv").write_text("code,name\nPRD,Producer\nUSR,User\n")
    (d / "flows.csv").write_text(
        "material,stage,exporter,importer,tonnes_per_year\nxm,refining,PRD,USR,120\n")
    path = root / "outage.toml"
    path.write_text("""[scenario]
name = "outage"
horizon_months = 12
draws = 20
seed = 3
dataset = "one"

[[events]]
id = "half"
kind = "production_outage"
origin = "PRD"
materials = ["xm"]
stage = "refining"
onset_month = 0
duration_months = 4
severity = 0.5
""" + FIXED_RESPONSE)
    return path


TWO_MATERIALS = """\
[scenario]
name = "two"
horizon_months = 12
draws = 300
seed = 21
dataset = "tiny"

[[events]]
id = "cn-ga"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
stage = "refining"
probability = 0.3
onset_month = { dist = "uniform", min = 0, max = 6 }
duration_months = { dist = "uniform", min = 1, max = 4 }
severity = { dist = "uniform", min = 0.3, max = 0.6 }

[[events]]
id = "au-sb"
kind = "production_outage"
origin = "AUS"
materials = ["antimony"]
stage = "refining"
probability = 1.0
onset_month = { dist = "uniform", min = 0, max = 4 }
duration_months = { dist = "uniform", min = 4, max = 10 }
severity = { dist = "uniform", min = 0.5, max = 0.9 }

[response]
dataset_stocks = "market"  # the worlds were built with the tiny dataset's stocks selling
"""


def world(name: str, material: str, targets: str, probability: float, severity: float,
          duration: float, seed: int) -> str:
    """A restriction of ``material`` refining by CHN on ``targets`` (a TOML value)."""
    return f"""\
[scenario]
name = "{name}"
horizon_months = 12
draws = 200
seed = {seed}
dataset = "tiny"

[[events]]
id = "cn"
kind = "export_restriction"
origin = "CHN"
materials = ["{material}"]
stage = "refining"
targets = {targets}
probability = {probability}
onset_month = {{ dist = "uniform", min = 0, max = 4 }}
duration_months = {{ dist = "uniform", min = 1, max = {duration} }}
severity = {{ dist = "uniform", min = {severity / 2}, max = {severity} }}

[response]
dataset_stocks = "market"
"""
