"""The stylised facts of MARKET.md, in the shipped replays with the shipped market table
(no per-test parameters): each fact with a number a test can state.

- ex-origin prices of minor metals rise +30 % to x3 within 1-5 months of the effect
  (more for the smallest markets: Dy/Tb up to x3.6, the top of the observed range);
- the origin's domestic price is flat or falls modestly;
- exports on a controlled route collapse in the first month of a licence regime and
  recover partly within 3-6 months;
- buyers front-load before a deadline: the origin's exports rise in the announcement
  month;
- large exchange-traded markets (nickel, copper) move only a few per cent at first.

Medians over 300 draws with each replay's seed (deterministic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simcore import api, engine
from simcore.kernel import model as km

ROOT = Path(__file__).resolve().parent.parent
DRAWS = 300


class Replay:
    """A shipped replay run once: its zones, zone prices and zone trace."""

    def __init__(self, path: Path, draws: int = DRAWS):
        prep = api.prepare(path)
        self.tensor, self.compiled = prep.tensor, prep.compiled
        out = engine.run_block(engine.prepare(prep.tensor, prep.compiled),
                               prep.compiled.seed, 0, draws, trace=True)
        self.zones = engine.zones(prep.tensor, prep.compiled)
        self.price = out["zone_series"]  # [n, G, H]
        self.trace = out["zone_trace"]  # [n, G, H, NTZ]

    def zone(self, material: str, stage: str, name: str) -> int:
        k = self.tensor.materials.index(material)
        s = self.tensor.stages[k].index(stage)
        for g in range(len(self.zones.name)):
            if (self.zones.material[g], self.zones.stage[g], self.zones.name[g]) == (k, s, name):
                return g
        raise KeyError((material, stage, name))

    def median_price(self, material, stage, name, months) -> np.ndarray:
        g = self.zone(material, stage, name)
        return np.median(self.price[:, g, list(months)], axis=0)

    def imports_from_outside(self, material, stage, name, month) -> np.ndarray:
        """What reaches zone ``name`` from producers outside it, per draw [t/month]:
        its inflow less its members' own output (exact where they export nothing out of
        the zone, e.g. the targets of an export ban by the origin of most output)."""
        g = self.zone(material, stage, name)
        t = self.trace[:, g, month]
        return t[:, km.TZ_INFLOW] - t[:, km.TZ_PRODUCTION]

    def baseline_exports(self, material, stage, origin) -> float:
        """The origin's baseline exports [t/month]."""
        k = self.tensor.materials.index(material)
        s = self.tensor.stages[k].index(stage)
        o = self.tensor.countries.index(origin)
        row = self.tensor.flow[k, s, o]
        return float(row.sum() - row[o]) / 12.0


@pytest.fixture(scope="module")
def replays():
    names = ("ree-heavy-2025", "ga-ge-licence-2023", "antimony-2024", "idn-nickel-ore-2020")
    return {n: Replay(ROOT / "scenarios" / f"{n}.toml") for n in names}


# replay -> (material, month the control took effect)
MINOR = {"ree-heavy-2025": ("ree_dytb", 0), "ga-ge-licence-2023": ("gallium", 1),
         "antimony-2024": ("antimony", 1)}


@pytest.mark.parametrize("replay", sorted(MINOR))
def test_ex_origin_prices_of_minor_metals_rise_30_percent_to_threefold(replays, replay):
    material, effect = MINOR[replay]
    r = replays[replay]
    before = r.median_price(material, "refining", "ex-CHN", [effect - 1])[0] if effect else 1.0
    rise = r.median_price(material, "refining", "ex-CHN", range(effect + 1, effect + 6))
    rise = rise / before
    # x3 at most, "more for the smallest markets": Dy/Tb oxide reached x3.6 in Europe
    # within a month (Argus, 6 May 2025)
    top = 3.6 if material == "ree_dytb" else 3.0
    assert 1.3 <= rise.max() <= top, rise


@pytest.mark.parametrize("replay", sorted(MINOR))
def test_the_origins_price_is_flat_or_falls_modestly(replays, replay):
    material, effect = MINOR[replay]
    china = replays[replay].median_price(material, "refining", "CHN",
                                         range(effect, effect + 6))
    # flat: within 2 % above the reference (the announcement month's front-loading at
    # the origin, the state's buying band) or below it, by at most a fifth
    assert (china <= 1.02).all() and (china >= 0.8).all(), china


def test_licensed_exports_collapse_in_the_first_month_and_recover_partly(replays):
    """Gallium, August 2023: China's exports to everyone else go near zero in the month
    the licences took effect (0-10 % of normal, the licence review), and recover partly
    within 3-6 months (licences granted; the settled severity)."""
    r = replays["ga-ge-licence-2023"]
    base = r.baseline_exports("gallium", "refining", "CHN")
    first = np.median(r.imports_from_outside("gallium", "refining", "ex-CHN", 1)) / base
    later = np.median(r.imports_from_outside("gallium", "refining", "ex-CHN", 6)) / base
    assert first <= 0.2, first  # licence review: about a tenth gets out, with leakage
    assert 0.5 <= later <= 1.0, later


def test_buyers_front_load_before_a_deadline(replays):
    """Antimony, August 2024: between the announcement and the effect the targets buy
    ahead, so China's exports rise above normal and so do prices on both sides."""
    r = replays["antimony-2024"]
    base = r.baseline_exports("antimony", "refining", "CHN")
    surge = np.median(r.imports_from_outside("antimony", "refining", "ex-CHN", 0)) / base
    assert surge > 1.05, surge
    assert r.median_price("antimony", "refining", "ex-CHN", [0])[0] > 1.0


def test_nickel_moves_only_a_few_per_cent_at_first(replays):
    """Indonesia's ore ban (announced month 0, in force month 4): the refined nickel price
    moves a few per cent at the announcement and at the ban (stocks absorb it)."""
    r = replays["idn-nickel-ore-2020"]
    price = r.median_price("nickel", "refining", "world", range(0, 6))
    assert (price <= 1.10).all(), price  # a few per cent: under 10 %
    assert price[4] / price[3] <= 1.05


COPPER = """\
[scenario]
name = "copper-outage"
horizon_months = 12
draws = 300
seed = 2026

[[events]]
id = "cl-cu-outage"
description = "A tenth of Chile's copper mine output lost for six months (strikes, water)."
kind = "production_outage"
origin = "CHL"
materials = ["copper"]
stage = "mining"
onset_month = 0
duration_months = 6
severity = 0.1
"""


def test_copper_moves_only_a_few_per_cent_at_first(tmp_path):
    """A tenth of Chile's mine output (about 2.5 % of the world's) lost for six months:
    the copper price moves a few per cent in the first months."""
    path = tmp_path / "copper.toml"
    path.write_text(COPPER, encoding="utf-8")
    r = Replay(path)
    k = r.tensor.materials.index("copper")
    for s, stage in enumerate(r.tensor.stages[k]):
        for g in range(len(r.zones.name)):
            if r.zones.material[g] == k and r.zones.stage[g] == s:
                first = np.median(r.price[:, g, :2], axis=0)
                assert (first <= 1.05).all() and (first >= 1.0).all(), (stage, first)
