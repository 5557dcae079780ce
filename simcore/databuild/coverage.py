"""Which countries the model must keep apart: the 1 % rule of docs/baseline.md.

A country joins the model when it carries at least 1 % of a material's world production,
trade (exports or imports) or use at some stage. The model's own tables lump countries
into XEU and ROW, so this module redoes the sums country by country (ISO3): production
from the source tables by source name, trade from the BACI extracts through the same
cleaning, conversion and re-export rules as the build (trade.py), and use as apparent
use (production - exports + imports) where the stage has trade data. The tests hold the
country list (tables/countries.csv) against it; ``supplyshock`` never calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simcore.databuild import sources as src
from simcore.databuild import trade as trd
from simcore.databuild.spec import BASE_YEAR, MATERIALS

THRESHOLD = 0.01
# source country names (USGS, IEA) -> ISO3, for names the model lumps into XEU or ROW
# or spells differently
SOURCE_ISO3 = {
    "Argentina": "ARG", "Armenia": "ARM", "Australia": "AUS", "Austria": "AUT",
    "Belgium": "BEL", "Bolivia": "BOL", "Brazil": "BRA", "Bulgaria": "BGR", "Burma": "MMR",
    "Canada": "CAN", "Chile": "CHL", "China": "CHN", "Congo (Kinshasa)": "COD",
    "Democratic Republic of Congo": "COD", "Cuba": "CUB", "Côte d’Ivoire": "CIV",
    "Finland": "FIN", "France": "FRA", "Gabon": "GAB", "Germany": "DEU", "Ghana": "GHA",
    "Greenland": "GRL", "Guatemala": "GTM", "India": "IND", "Indonesia": "IDN",
    "Iran": "IRN", "Japan": "JPN", "Kazakhstan": "KAZ", "Korea, North": "PRK",
    "Korea, Republic of": "KOR", "Kyrgyzstan": "KGZ", "Laos": "LAO", "Madagascar": "MDG",
    "Malaysia": "MYS", "Mali": "MLI", "Mexico": "MEX", "Mongolia": "MNG",
    "Mozambique": "MOZ", "New Caledonia": "NCL", "Nigeria": "NGA", "Norway": "NOR",
    "Pakistan": "PAK", "Papua New Guinea": "PNG", "Peru": "PER", "Philippines": "PHL",
    "Poland": "POL", "Portugal": "PRT", "Russia": "RUS", "Rwanda": "RWA",
    "South Africa": "ZAF", "Spain": "ESP", "Sri Lanka": "LKA", "Sweden": "SWE",
    "Tajikistan": "TJK", "Tanzania": "TZA", "Thailand": "THA", "Turkey": "TUR",
    "Ukraine": "UKR", "United States": "USA", "Uzbekistan": "UZB", "Vietnam": "VNM",
    "Zambia": "ZMB", "Zimbabwe": "ZWE", "Colombia": "COL", "Morocco": "MAR",
    "Russian Federation": "RUS", "United States of America": "USA",
}
_AGGREGATES = {"Other countries", "Rest of world", "Unknown Raw Material Source"}
# BACI writes Taiwan as "Other Asia, nes"
BACI_ALIASES = {"S19": "TWN"}


@dataclass(frozen=True)
class Carrier:
    """One country's largest share of one material stage, and of what."""

    iso3: str
    material: str
    stage: str
    what: str  # "production", "exports", "imports", "use"
    share: float


def iso_shares(builder) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """(material, stage) -> {"production"|"exports"|"imports"|"use": {iso3: share}}.

    ``builder``: a ``build._Builder`` after ``build()`` (its scales, concordance, trade
    data and tables)."""
    data = builder.trade
    isos = sorted({BACI_ALIASES.get(c, c) for flows in data.flows.values()
                   for e, i, _, _ in flows for c in (e, i)} | set(SOURCE_ISO3.values())
                  | set(builder.codes))
    idx = {c: n for n, c in enumerate(isos)}

    def to_iso(code: str) -> str:
        return BACI_ALIASES.get(code, code)

    out: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for m in MATERIALS:
        prod: dict[str, np.ndarray] = {}
        for stage in m.stages:
            prod[stage] = _iso_production(builder, m, stage, idx, prod)
        for stage in m.stages:
            p = prod[stage]
            shares: dict[str, dict[str, float]] = {"production": _shares(p, isos)}
            rows = builder.conc.codes(m.material, stage)
            if rows:
                t = np.zeros((len(isos), len(isos)))
                for row in rows:
                    split = None
                    if row.split == "production":
                        split = _iso_split(builder, row, idx)
                    tc = trd.contained(data, row, to_iso, idx, split, builder.conc.named(row))
                    if split is not None:
                        made = p / builder.scale[m.material][stage]
                        xs = tc.sum(axis=1)
                        over = (made > 0) & (xs > made)
                        tc[over] *= (made[over] / xs[over])[:, None]
                    rows2 = {s: r for s in m.stages for r in builder.conc.codes(m.material, s)
                             if r.hs == row.hs and r.nomenclature == row.nomenclature
                             and not r.exporters}
                    if len(rows2) > 1:
                        first = m.stages[0]
                        mine, ref = prod[first], prod[m.stages[-1]]
                        if rows2[first].split == "unit-value":
                            miner = trd.exporter_unit_value(data, rows2[first], to_iso, idx) < 1
                        else:
                            tm = trd.contained(data, rows2[first], to_iso, idx)
                            xm = tm.sum(axis=1) * builder.scale[m.material][first]
                            miner = (mine > ref) & (xm <= 1.5 * mine)
                        own = miner if stage == first else ~miner
                        idle = (mine == 0) & (ref == 0)
                        tc = np.where((idle | own)[:, None], tc, 0)
                    t += tc
                t *= builder.scale[m.material][stage]
                t = trd.pass_through(t, p)
                t[p <= 0, :] = 0.0
                x, mm = t.sum(axis=1), t.sum(axis=0)
                shares["exports"] = _shares(x, isos)
                shares["imports"] = _shares(mm, isos)
                shares["use"] = _shares(np.clip(p - x + mm, 0.0, None), isos)
            out[(m.material, stage)] = shares
    return out


def carriers(builder, threshold: float = THRESHOLD) -> dict[str, Carrier]:
    """ISO3 -> its largest share among those at or above ``threshold``."""
    best: dict[str, Carrier] = {}
    for (material, stage), by_what in iso_shares(builder).items():
        for what, shares in by_what.items():
            for iso, share in shares.items():
                if share >= threshold and (iso not in best or share > best[iso].share):
                    best[iso] = Carrier(iso, material, stage, what, share)
    return best


def _shares(v: np.ndarray, isos: list[str]) -> dict[str, float]:
    total = float(v.sum())
    if total <= 0:
        return {}
    return {isos[n]: float(x / total) for n, x in enumerate(v) if x > 0}


def _iso_production(builder, m, stage: str, idx: dict[str, int],
                    done: dict[str, np.ndarray]) -> np.ndarray:
    """Production [t/year, model units] by ISO3; the model's own vector where the source
    has no country detail (estimates by model code; XEU and ROW stay unresolved)."""
    v = np.zeros(len(idx))
    s = m.sources[stage]
    total = builder.totals[m.material]
    if s.kind in ("usgs", "iea"):
        if s.kind == "usgs":
            table = src.usgs_world_table(builder.usgs, s.chapter, s.statistics, s.detail,
                                         BASE_YEAR)
            values = {n: (val.value or 0.0) for n, (val, _) in table.items()}
        else:
            values = src.iea_supply(builder.iea, s.mineral, stage)
        world = sum(values.values())
        for name, x in values.items():
            if name in _AGGREGATES or name not in SOURCE_ISO3:
                continue
            v[idx[SOURCE_ISO3[name]]] += x / world * total
        return v
    model = builder.production[m.material][stage]
    rows = builder.t.production.get((m.material, stage), [])
    traded = any(r["share"].strip().lower() == "trade" for r in rows)
    if traded:
        prev = m.stages[m.stages.index(stage) - 1]
        # apparent use of the stage before, country by country
        p = done[prev]
        t = np.zeros((len(idx), len(idx)))
        for row in builder.conc.codes(m.material, prev):
            t += trd.contained(builder.trade, row, lambda c: BACI_ALIASES.get(c, c), idx,
                              others=builder.conc.named(row))
        t *= builder.scale[m.material][prev]
        t = trd.pass_through(t, p)
        t[p <= 0, :] = 0.0
        use = np.clip(p - t.sum(axis=1) + t.sum(axis=0), 0.0, None)
        return use / use.sum() * total if use.sum() > 0 else use
    for n, code in enumerate(builder.codes):
        if code not in ("XEU", "ROW"):
            v[idx[code]] = model[n]
    return v


def _iso_split(builder, row, idx: dict[str, int]):
    """Split share by ISO exporter for a shared code, from the model's production (the
    three split materials are one-stage materials with USGS or estimated tables)."""
    group = [r for codes in builder.conc.rows.values() for r in codes
             if r.hs == row.hs and r.nomenclature == row.nomenclature and r.stage == row.stage]
    mats = {}
    for r in group:
        m = next(x for x in MATERIALS if x.material == r.material)
        mats[r.material] = _iso_production(builder, m, r.stage, idx, {})
    mine = mats[row.material]
    both = sum(mats.values())
    world = float(mine.sum()) / float(both.sum())
    share = np.where(both > 0, mine / np.where(both > 0, both, 1.0), world)
    return lambda e: float(share[e])
