"""The market parameters of a material, declared once (docs/model.md, "Calibration").

Each parameter has a name in the dataset's market table (``market.csv``, docs/dataset.md),
the scenario ``[response]`` key that overrides it, a unit, its allowed range and a
one-line meaning. A dataset gives each material a (low, mode, high) per parameter with a
source; a scenario draws each material's value from that triangular range with one
uniform per parameter and draw (so every material moves to the same quantile: common
random numbers), unless its ``[response]`` gives the parameter a distribution of its own.

``GENERIC`` holds the documented defaults for a dataset without a market table (a
bring-your-own dataset): middle-of-the-road values for a primary metal, with ranges wide
enough to say that they are not calibrated. ``supplyshock data validate`` notes their use.

No numba here: the dataset loader and the scenario schema read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simcore.kernel.structs import MARKET_PARAMS, N_MARKET


@dataclass(frozen=True)
class MarketParam:
    name: str  # column value in market.csv
    key: str  # scenario [response] key
    unit: str
    lo: float
    hi: float | None  # None: no upper bound
    doc: str
    lo_open: bool = False


_DOC = {
    "demand_elasticity_short": (
        "", 0.0, None, "Short-run price elasticity of demand (absolute value), in the first "
        "month a material is disrupted.", True),
    "demand_elasticity_medium": (
        "", 0.0, None, "Medium-run price elasticity of demand (absolute value), reached "
        "`demand_adjust_months` after the first disruption (thrifting, substitution, "
        "recycling). Above 0: with no response at all the market clears at the choke "
        "price.", True),
    "demand_adjust_months": (
        "months", 0.0, None, "Months over which the demand elasticity rises from the "
        "short-run to the medium-run value.", False),
    "supply_elasticity": (
        "", 0.0, None, "Price elasticity of supply outside the origin of a restriction: "
        "idle capacity restarts (and output is cut) in response to last month's price.",
        False),
    "restart_months": (
        "months", 0.0, None, "Months to bring idle capacity back once a material is "
        "disrupted (restarts are phased in linearly over this time).", False),
    "origin_supply_elasticity": (
        "", 0.0, None, "Price elasticity of output of the origin of a restriction (its "
        "output falls with its domestic price, a month later).", False),
    "state_purchase_share": (
        "x stopped flow", 0.0, None, "What the origin's state buys into reserve at most, in "
        "multiples of the flow its restrictions stop; it buys at or below the reference "
        "price only, what it takes to hold that price (a cap above 1 lets it also absorb a "
        "fall in domestic demand).", False),
    "inventory_weeks": (
        "weeks", 0.0, None, "Commercial stocks of the users of the refined material, in "
        "weeks of their need (their target at the reference price).", False),
    "feed_inventory_weeks": (
        "weeks", 0.0, None, "Commercial feed stocks of refiners at earlier stages, in weeks "
        "of their feed need.", False),
    "inventory_release": (
        "", 0.0, None, "How fast holders want less stock as the price rises: the desired "
        "stock is the target times price^-inventory_release.", False),
    "inventory_adjust": (
        "share/month", 0.0, 1.0, "Share of the gap between stock and desired stock that "
        "holders close in a month (by buying or releasing); below 1, a stock is never "
        "released whole in one month.", True),
    "spot_share": (
        "share", 0.0, 1.0, "Share of trade sold spot, free to reroute from the first month; "
        "the contracted rest moves to the market over the rerouting lag.", False),
    "precautionary_weeks": (
        "weeks", 0.0, None, "Extra weeks of stock that buyers want while a control is announced "
        "or in force, times their zone's precautionary share (the share of its need held "
        "by the control's targets; at later stages too).", False),
    "choke_price": (
        "x reference", 1.0, None, "Choke price: the highest price a zone can reach; a zone "
        "that cannot clear below it is rationed (equal fractions).", True),
    "reroute_lag_months": (
        "months", 0.0, None, "Months for contracted trade to move to the market (the "
        "rerouting lag).", False),
}

PARAMS = tuple(
    MarketParam(name, key, *_DOC[name][:4], lo_open=_DOC[name][4])
    for key, name in MARKET_PARAMS
)
BY_NAME = {p.name: p for p in PARAMS}
BY_KEY = {p.key: p for p in PARAMS}

# (low, mode, high) for a dataset without a market table: not calibrated, wide ranges
GENERIC = {
    "demand_elasticity_short": (0.05, 0.15, 0.3),
    "demand_elasticity_medium": (0.2, 0.4, 0.8),
    "demand_adjust_months": (12.0, 24.0, 36.0),
    "supply_elasticity": (0.02, 0.1, 0.3),
    "restart_months": (6.0, 12.0, 24.0),
    "origin_supply_elasticity": (0.02, 0.1, 0.3),
    "state_purchase_share": (0.0, 0.3, 0.6),
    "inventory_weeks": (4.0, 8.0, 12.0),
    "feed_inventory_weeks": (4.0, 8.0, 12.0),
    "inventory_release": (1.0, 2.0, 4.0),
    "inventory_adjust": (0.25, 0.35, 0.5),
    "spot_share": (0.3, 0.5, 0.7),
    "precautionary_weeks": (2.0, 4.0, 8.0),
    "choke_price": (5.0, 10.0, 20.0),
    "reroute_lag_months": (3.0, 6.0, 12.0),
}
assert set(GENERIC) == set(BY_NAME) and len(PARAMS) == N_MARKET


def generic_table(n_materials: int) -> np.ndarray:
    """float64[K, P, 3]: every material at the generic defaults."""
    row = np.array([GENERIC[p.name] for p in PARAMS], dtype=np.float64)
    return np.repeat(row[None], n_materials, axis=0)
