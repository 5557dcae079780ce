"""Observed bilateral trade (CEPII BACI) -> contained tonnes, exporter x importer, per
material stage.

The concordance (``tables/trade_concordance.csv``) says which HS6 codes carry a material
at a stage, in which nomenclature file and years, and the contained-content factor of
each (tonnes of the stage source's unit per tonne of product: t Li per t Li2CO3, t REO per
t of compound ...). From it and the raw BACI rows (``sources.read_baci``) this module
builds the observed matrix the flow fit starts from (docs/baseline.md, "Observed trade"):

1. Quantities: BACI's tonnes, except where a row has none or its unit value is more than
   20 times off the code-year's typical (value-weighted geometric mean) unit value: then
   the value divided by the typical unit value (misreported units, e.g. Papua New Guinea's
   copper concentrate of 2022 at 0.2 % of the usual price per tonne). A row with measure
   "value" reads the value instead (copper concentrate, rare-earth compounds' NdPr).
2. Contained tonnes: quantity (or value) x factor, the factor per exporter where the
   concordance names exporters; mean over the row's years. A code that several materials
   share (HS 8112.92: Ga, Ge, In and other metals) is split by each exporter's production
   of those materials (build.py caps a producer at its own output).
3. Model countries: ISO3 -> model code (``tables/trade_country_codes.csv``: EU members
   not kept apart -> XEU, BACI's "S19" -> TWN; any other code not in the model -> ROW).
   Trade inside one model country (inside XEU, inside ROW) is domestic there: dropped.
4. A code listed at both stages of a material (rare-earth compounds: Myanmar's mixed
   carbonate and China's separated oxides; cobalt hydroxide and oxide) is shared out by
   exporter: by role (build.py, ``mining_exporters``) or, split "unit-value", by price.
5. Re-exports pass through: a country that exports more than it produces at the stage
   (Namibia and Zambia forwarding Congolese cobalt hydroxide, Thailand forwarding Burmese
   antimony ore, ROW's trading hubs) is treated as a corridor: the excess share of its
   imports goes on to its own destinations, repeated for chains. The tensor follows the
   producing origin, not the last trader.
6. Primary basis: x the stage's scale (world total / the source's world total), as the
   stage's production is scaled (build.py).

Nothing here fits or estimates anything beyond those stated rules.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simcore.databuild import sources as src
from simcore.errors import DatasetError, suggest

CONCORDANCE = "trade_concordance.csv"
CONCORDANCE_HEADER = ("material", "stage", "hs", "nomenclature", "years", "exporters",
                      "measure", "factor", "split", "reasoning", "source")
# measure: what the factor multiplies. "tonnes": t of product (the default); "value":
# thousand USD (contained tonnes from the shipment's value at the pure product's price,
# for a code whose tonnes mostly hold a cheaper co-product: rare-earth compounds are
# mostly La and Ce at 1 USD/kg, NdPr oxide sells at 55)
MEASURES = ("tonnes", "value")
COUNTRY_CODES = "trade_country_codes.csv"
COUNTRY_CODES_HEADER = ("iso3", "code", "why")
# split: how a code's tonnes are shared out. "production": over the materials listing the
# code, by each exporter's production of them; "unit-value": over the two stages of one
# material, by each exporter's unit value (below the code's typical: the upstream
# product, e.g. Congolese cobalt hydroxide; above: refined metal and oxide). A code at two
# stages without it is split by exporter role (build.py, mining_exporters).
SPLITS = ("", "production", "unit-value")
# a unit value more than this factor away from the code-year's typical one is a
# misreported quantity (the value is kept, the quantity re-estimated)
UNIT_VALUE_RANGE = 20.0
_HS = re.compile(r"^[0-9]{6}$")
_YEARS = re.compile(r"^([0-9]{4})(?:-([0-9]{4}))?$")


@dataclass(frozen=True)
class CodeRow:
    """One row of the concordance: a code that carries ``material`` at ``stage``."""

    material: str
    stage: str
    hs: str  # six digits, or "-" (no usable code: the stage keeps the estimated method)
    nomenclature: str
    years: tuple[int, ...]
    exporters: tuple[str, ...]  # ISO3 codes this row's factor is for; () = every other
    measure: str
    factor: float
    split: str
    reasoning: str
    source: str
    line: int


@dataclass
class Concordance:
    rows: dict[tuple[str, str], list[CodeRow]]  # (material, stage) -> usable code rows
    gaps: dict[tuple[str, str], CodeRow]  # (material, stage) -> its "-" row (why not)
    path: str = CONCORDANCE

    def codes(self, material: str, stage: str) -> list[CodeRow]:
        return self.rows.get((material, stage), [])

    def named(self, row: CodeRow) -> tuple[str, ...]:
        """Exporters with a row of their own for ``row``'s code (a blank-exporters row
        leaves them out)."""
        return tuple(sorted(x for r in self.codes(row.material, row.stage)
                            if r.hs == row.hs and r.nomenclature == row.nomenclature
                            for x in r.exporters))

    def observed(self, material: str, stage: str) -> bool:
        return bool(self.codes(material, stage))


def read_concordance(path: Path, materials: dict[str, tuple[str, ...]],
                     available: dict[str, dict[str, set[int]]]) -> Concordance:
    """Parse and check the concordance. ``materials``: id -> stages; ``available``:
    nomenclature -> code -> years present in that BACI file. Every material stage must
    have at least one row (a code, or "-" with the reason none is usable)."""
    name = path.name
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != CONCORDANCE_HEADER:
            raise DatasetError(f"{path}: header must be {','.join(CONCORDANCE_HEADER)}")
        raw = [(n, r) for n, r in enumerate(reader, start=2)]
    rows: dict[tuple[str, str], list[CodeRow]] = {}
    gaps: dict[tuple[str, str], CodeRow] = {}
    seen: dict[tuple[str, str, str, tuple[str, ...]], int] = {}
    for line, r in raw:
        where = f"{name} line {line}"
        if None in r.values() or None in r:
            raise DatasetError(f"{where}: wrong number of fields; the header has "
                               f"{len(CONCORDANCE_HEADER)} ({','.join(CONCORDANCE_HEADER)}); "
                               "quote fields that contain commas")
        r = {k: v.strip() for k, v in r.items()}
        m, stage, hs = r["material"], r["stage"], r["hs"]
        if m not in materials:
            raise DatasetError(f"{where}: unknown material {m!r}{suggest(m, materials)}")
        if stage not in materials[m]:
            raise DatasetError(f"{where}: {m} has no stage {stage!r}"
                               f"{suggest(stage, materials[m])}; its stages: "
                               f"{';'.join(materials[m])}")
        if not r["reasoning"] or not r["source"]:
            raise DatasetError(f"{where}: reasoning and source are required (say where the "
                               "factor comes from, or why no code is usable)")
        exporters = tuple(sorted(r["exporters"].split()))
        bad = [x for x in exporters if not re.match(r"^[A-Z0-9]{3}$", x)]
        if bad:
            raise DatasetError(f"{where}: exporters {' '.join(bad)}: write ISO3 codes as BACI "
                               "does, separated by spaces (empty: every other exporter)")
        key = (m, stage, hs, exporters)
        if key in seen:
            raise DatasetError(f"{where}: {m} {stage} lists HS {hs}"
                               + (f" for {' '.join(exporters)}" if exporters else "")
                               + f" twice (first on line {seen[key]}); keep one row")
        seen[key] = line
        if hs == "-":
            extra = [c for c in ("nomenclature", "years", "exporters", "measure", "factor",
                                 "split") if r[c]]
            if extra:
                raise DatasetError(f"{where}: hs '-' (no usable code) takes no "
                                   f"{', '.join(extra)}; leave them empty")
            gaps[(m, stage)] = CodeRow(m, stage, "-", "", (), (), "", 0.0, "", r["reasoning"],
                                       r["source"], line)
            continue
        if not _HS.match(hs):
            raise DatasetError(f"{where}: HS code {hs!r} must be six digits (e.g. 283691), "
                               "or '-' when no code is usable")
        nom = r["nomenclature"]
        if nom not in available:
            raise DatasetError(f"{where}: nomenclature {nom!r} unknown; use "
                               f"{' or '.join(sorted(available))}")
        if hs not in available[nom]:
            near = sorted(available[nom])
            raise DatasetError(f"{where}: HS {hs} is not in the {nom} trade extract "
                               f"({src.BACI_FILES[nom][0]}){suggest(hs, near)}; codes there: "
                               f"{', '.join(near)}")
        ym = _YEARS.match(r["years"])
        if not ym:
            raise DatasetError(f"{where}: years {r['years']!r} must be a year (2024) or a "
                               "range (2022-2024)")
        first = int(ym.group(1))
        last = int(ym.group(2) or first)
        years = tuple(range(first, last + 1))
        missing = [y for y in years if y not in available[nom][hs]]
        if not years or missing:
            have = sorted(available[nom][hs])
            raise DatasetError(f"{where}: {nom} {hs} has no rows for "
                               f"{', '.join(map(str, missing or [first]))}; the extract covers "
                               f"{have[0]}-{have[-1]}")
        measure = r["measure"] or "tonnes"
        if measure not in MEASURES:
            raise DatasetError(f"{where}: measure {measure!r} unknown; write 'tonnes' (factor "
                               "per tonne of product) or 'value' (factor per thousand USD)")
        try:
            factor = float(r["factor"])
        except ValueError:
            raise DatasetError(f"{where}: factor {r['factor']!r} is not a number; write the "
                               "contained tonnes per tonne of product (e.g. 0.1879)") from None
        if not (math.isfinite(factor) and 0 < factor <= 2):
            raise DatasetError(f"{where}: factor {factor} must be in (0, 2]: contained tonnes "
                               f"per {'tonne of product' if measure == 'tonnes' else 'kUSD'}")
        if r["split"] not in SPLITS:
            raise DatasetError(f"{where}: split {r['split']!r} unknown; leave it empty, write "
                               "'production' (a code shared by several materials) or "
                               "'unit-value' (a code at both stages, told apart by price)")
        rows.setdefault((m, stage), []).append(CodeRow(
            m, stage, hs, nom, years, exporters, measure, factor, r["split"], r["reasoning"],
            r["source"], line))
    for m, stage in rows:
        if (m, stage) in gaps:
            raise DatasetError(f"{name} line {gaps[(m, stage)].line}: {m} {stage} has HS codes "
                               "and a '-' row; keep one or the other")
    missing = [f"{m} {s}" for m, stages in materials.items() for s in stages
               if (m, s) not in rows and (m, s) not in gaps]
    if missing:
        raise DatasetError(f"{name}: no row for {', '.join(missing)}; add the HS codes that "
                           "carry it, or a row with hs '-' and the reason none is usable")
    by_code: dict[tuple[str, str, str], list[CodeRow]] = {}
    for (m, stage), codes in rows.items():
        listed: dict[str, int] = {}
        for c in codes:
            for x in c.exporters:
                if (c.hs, x) in listed:
                    raise DatasetError(f"{name} line {c.line}: exporter {x} has two factors for "
                                       f"{m} {stage} HS {c.hs} (also line {listed[(c.hs, x)]})")
                listed[(c.hs, x)] = c.line
        for hs in {c.hs for c in codes if c.exporters}:
            if not any(c.hs == hs and not c.exporters for c in codes):
                line = min(c.line for c in codes if c.hs == hs)
                raise DatasetError(f"{name} line {line}: {m} {stage} HS {hs} has rows for named "
                                   "exporters only; add a row with exporters empty for every "
                                   "other exporter")
        for c in codes:
            if not c.exporters:
                by_code.setdefault((c.nomenclature, c.hs, c.stage), []).append(c)
    for codes in rows.values():
        for c in codes:
            if c.split == "unit-value":
                stages = {r.stage for r in rows_of(rows, c.material) if r.hs == c.hs
                          and r.nomenclature == c.nomenclature and r.split == "unit-value"}
                if len(stages) < 2:
                    raise DatasetError(f"{name} line {c.line}: split 'unit-value' needs the code "
                                       f"listed, split 'unit-value', at both stages of "
                                       f"{c.material}")
    by_code = {k: [c for c in v if c.split != "unit-value"] for k, v in by_code.items()}
    for (nom, hs, stage), group in by_code.items():
        if not group:
            continue
        splits = {c.split for c in group}
        if len(group) > 1 and splits != {"production"}:
            lines = ", ".join(str(c.line) for c in group)
            raise DatasetError(f"{name} lines {lines}: {nom} {hs} carries several materials at "
                               f"stage {stage}; mark each of them split 'production'")
        if len(group) == 1 and group[0].split:
            raise DatasetError(f"{name} line {group[0].line}: split 'production' needs the "
                               f"code listed for at least two materials at stage {stage}")
    return Concordance(rows, gaps, name)


def rows_of(rows: dict[tuple[str, str], list[CodeRow]], material: str) -> list[CodeRow]:
    return [r for (m, _), codes in sorted(rows.items()) if m == material for r in codes]


def exporter_unit_value(data: TradeData, row: CodeRow, to_model, idx: dict[str, int]
                        ) -> np.ndarray:
    """Each model exporter's unit value of ``row``'s code over its years, relative to the
    code's typical unit value (1: typical; value over the typical value of its tonnes)."""
    value = np.zeros(len(idx))
    typical = np.zeros(len(idx))
    for year in row.years:
        key = (row.nomenclature, row.hs, year)
        uv = data.unit_values[key][0]
        for exporter, _importer, q, v in data.flows.get(key, ()):
            e = idx[to_model(exporter)]
            value[e] += v
            typical[e] += q * uv
    return np.divide(value, typical, out=np.ones_like(value), where=typical > 0)


def read_country_codes(path: Path, codes: set[str]) -> dict[str, str]:
    """ISO3 -> model code for the ISO3 codes that are not a model code themselves."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COUNTRY_CODES_HEADER:
            raise DatasetError(f"{path}: header must be {','.join(COUNTRY_CODES_HEADER)}")
        for n, r in enumerate(reader, start=2):
            iso, code = (r["iso3"] or "").strip(), (r["code"] or "").strip()
            if not re.match(r"^[A-Z0-9]{3}$", iso):
                raise DatasetError(f"{path.name} line {n}: iso3 {iso!r} must be a three-letter "
                                   "code as BACI writes it (e.g. NLD, S19)")
            if code not in codes:
                raise DatasetError(f"{path.name} line {n}: unknown country {code!r}"
                                   f"{suggest(code, codes)}; add it to tables/countries.csv "
                                   "or use XEU / ROW")
            if iso in out:
                raise DatasetError(f"{path.name} line {n}: {iso} mapped twice")
            out[iso] = code
    return out


# --- the raw rows, cleaned ---------------------------------------------------------------------


@dataclass
class TradeData:
    """The BACI rows by (nomenclature, code, year), with quantities cleaned (step 1)."""

    # (nomenclature, code, year) -> (exporter, importer, tonnes cleaned, value [kUSD])
    flows: dict[tuple[str, str, int], list[tuple[str, str, float, float]]] = field(
        default_factory=dict)
    # (nomenclature, code, year) -> (typical unit value [kUSD/t], rows re-estimated)
    unit_values: dict[tuple[str, str, int], tuple[float, int]] = field(default_factory=dict)

    def available(self) -> dict[str, dict[str, set[int]]]:
        out: dict[str, dict[str, set[int]]] = {}
        for nom, hs, year in self.flows:
            out.setdefault(nom, {}).setdefault(hs, set()).add(year)
        return out


def load_trade(folder: Path | None = None) -> TradeData:
    data = TradeData()
    for nom in sorted(src.BACI_FILES):
        grouped: dict[tuple[str, str, int], list[src.TradeFlow]] = {}
        for f in src.read_baci(nom, folder):
            grouped.setdefault((nom, f.hs, f.year), []).append(f)
        for key in sorted(grouped):
            rows, uv, fixed = clean_quantities(grouped[key])
            data.flows[key] = rows
            data.unit_values[key] = (uv, fixed)
    return data


def clean_quantities(rows: list[src.TradeFlow]) -> tuple[list[tuple[str, str, float, float]],
                                                                float, int]:
    """(exporter, importer, tonnes, value) for one code-year; the typical unit value [kUSD/t]
    (value-weighted geometric mean over rows with a quantity); how many rows had their
    quantity re-estimated as value / typical unit value."""
    logs = [(r.value_kusd, math.log(r.value_kusd / r.qty_t)) for r in rows
            if r.qty_t and r.qty_t > 0 and r.value_kusd > 0]
    weight = sum(w for w, _ in logs)
    typical = math.exp(sum(w * x for w, x in logs) / weight) if weight > 0 else 0.0
    out, fixed = [], 0
    for r in rows:
        q = r.qty_t
        if typical > 0 and r.value_kusd > 0:
            uv = r.value_kusd / q if q and q > 0 else 0.0
            if not (typical / UNIT_VALUE_RANGE <= uv <= typical * UNIT_VALUE_RANGE):
                q = r.value_kusd / typical
                fixed += 1
        if q and q > 0:
            out.append((r.exporter, r.importer, q, r.value_kusd))
    return out, typical, fixed


# --- one stage's observed matrix ----------------------------------------------------------------


def contained(data: TradeData, row: CodeRow, to_model, idx: dict[str, int],
              split_share=None, others: tuple[str, ...] = ()) -> np.ndarray:
    """Mean yearly contained tonnes [source unit/year] of one code row, model countries,
    before scaling. ``split_share(model exporter) -> share`` for split codes. A row with
    ``exporters`` counts only theirs; a row without counts every exporter but ``others``
    (those with a row of their own)."""
    c = len(idx)
    out = np.zeros((c, c))
    for year in row.years:
        for exporter, importer, q, v in data.flows.get((row.nomenclature, row.hs, year), ()):
            if (exporter not in row.exporters) if row.exporters else (exporter in others):
                continue
            e, i = idx[to_model(exporter)], idx[to_model(importer)]
            if e == i:
                continue  # inside one model country (XEU, ROW): domestic there
            share = split_share(e) if split_share is not None else 1.0
            out[e, i] += (q if row.measure == "tonnes" else v) * row.factor * share
    return out / len(row.years)


def pass_through(trade: np.ndarray, production: np.ndarray,
                 max_rounds: int = 50) -> np.ndarray:
    """Re-exports forwarded to their destinations (module docstring, step 5).

    A country exporting more than it produces re-exports the excess out of its imports:
    that share of each of its inflows is moved to the destinations of its exports, in
    proportion to them (a round trip back to the origin is dropped), and its own exports
    shrink by as much. Exports beyond production that no import can explain are dropped.
    Repeated until no country exports more than it produces (chains of corridors)."""
    t = trade.astype(np.float64).copy()
    np.fill_diagonal(t, 0.0)
    for _ in range(max_rounds):
        x = t.sum(axis=1)
        excess = x - production
        tol = 1e-9 * max(float(x.sum()), 1.0)
        hubs = np.flatnonzero(excess > tol)
        if hubs.size == 0:
            break
        for h in hubs:
            x_h = t[h].sum()
            if x_h <= 0:
                continue
            m_h = t[:, h].sum()
            over = min(x_h - production[h], x_h)
            forwarded = min(over, m_h)
            dest = t[h] / x_h  # h's destination shares
            if forwarded > 0:
                r = forwarded / m_h
                inflow = t[:, h] * r
                t[:, h] -= inflow
                t += np.outer(inflow, dest)
                np.fill_diagonal(t, 0.0)  # round trips back to the origin
            t[h] -= over * dest  # h exports only what it produced itself
            t[h] = np.clip(t[h], 0.0, None)
    return t


def with_years(conc: Concordance, years: tuple[int, ...]) -> Concordance:
    """The concordance with every multi-year (HS92) code read over ``years`` instead: a
    hold-out build (tests: routes built from 2022-2023 against 2024). Single-year
    extracts (HS17: 2024 only) keep their year."""
    rows = {}
    for key, codes in conc.rows.items():
        rows[key] = [CodeRow(r.material, r.stage, r.hs, r.nomenclature,
                             tuple(years) if r.nomenclature == "HS92" else r.years, r.exporters,
                             r.measure, r.factor, r.split, r.reasoning, r.source, r.line)
                     for r in codes]
    return Concordance(rows, dict(conc.gaps), conc.path)
