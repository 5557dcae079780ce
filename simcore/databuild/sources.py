"""Readers for the raw source files shipped in ``simcore/data/sources/`` (SOURCES.md there).

Each reader returns plain Python values keyed by the source's own names; mapping source
country names to model codes is the build's job (tables/country_names.csv). Nothing here
estimates anything.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from simcore.errors import DatasetError

USGS_CSV = "usgs_mcs2026/MCS2026_Commodities_Data.csv"
IEA_JSON = "iea_critical_minerals/iea.json"
CHENG_CSV = "cheng2024_battery_flows/cheng2024_{name}_Sankey_flows.csv"

# USGS marks: "—" zero, "W" withheld, "NA" not available, "E" net exporter, "s" suppressed
_USGS_MISSING = {"W", "NA", "E", "S", "", "NAN", "XX"}


def sources_dir() -> Path:
    """Folder of the raw source files (package data)."""
    return Path(str(resources.files("simcore") / "data" / "sources"))


@dataclass(frozen=True)
class UsgsValue:
    """One parsed USGS value: ``value`` in the row's unit, or None when not given."""

    value: float | None
    text: str  # the raw text, for provenance
    bound: str = ""  # ">" or "<" when the source gives a bound only


def parse_usgs_value(text: str | None) -> UsgsValue:
    """USGS value text -> number. ``1,270`` -> 1270; ``—`` -> 0; ``W``/``NA`` -> None;
    ``>50`` -> 50 with bound ``>``."""
    raw = "" if text is None else str(text).strip()
    t = raw.replace(",", "").replace("\u00a0", "")
    if t in ("\u2014", "-", "--"):
        return UsgsValue(0.0, raw)
    bound = ""
    if t[:1] in "<>":
        bound, t = t[0], t[1:]
    if t.upper() in _USGS_MISSING:
        return UsgsValue(None, raw)
    try:
        v = float(t)
    except ValueError:
        return UsgsValue(None, raw)
    if not math.isfinite(v):
        return UsgsValue(None, raw)
    return UsgsValue(v, raw, bound)


@dataclass(frozen=True)
class UsgsRow:
    chapter: str
    section: str
    country: str
    statistics: str
    detail: str
    unit: str
    year: str
    value: UsgsValue


def read_usgs(folder: Path | None = None) -> list[UsgsRow]:
    """Every row of the USGS MCS 2026 data release (cp1252, long format)."""
    path = (folder or sources_dir()) / USGS_CSV
    if not path.is_file():
        raise DatasetError(f"{path}: USGS source file missing; reinstall the package")
    rows = []
    with path.open(encoding="cp1252", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(UsgsRow(
                chapter=r["MCS chapter"].strip(), section=r["Section"].strip(),
                country=r["Country"].strip(), statistics=r["Statistics"].strip(),
                detail=r["Statistics_detail"].strip(), unit=r["Unit"].strip(),
                year=r["Year"].strip(), value=parse_usgs_value(r["Value"]),
            ))
    return rows


def usgs_world_table(rows: list[UsgsRow], chapter: str, statistics: str, detail_prefix: str,
                     year: str) -> dict[str, tuple[UsgsValue, str]]:
    """World-table values by source country name: {country: (value, unit)}.

    ``detail_prefix`` selects e.g. "Mine production" or "Refinery production" (the
    "rounded" world total is left out: the build sums the countries)."""
    out: dict[str, tuple[UsgsValue, str]] = {}
    for r in rows:
        if (r.chapter == chapter and r.section.startswith("World") and r.year == year
                and r.statistics == statistics and r.detail.startswith(detail_prefix)
                and r.country != "World total" and "rounded" not in r.detail):
            if r.country in out:
                raise DatasetError(
                    f"USGS {chapter}: two {detail_prefix!r} rows for {r.country} in {year}")
            out[r.country] = (r.value, r.unit)
    if not out:
        raise DatasetError(f"USGS {chapter}: no {statistics}/{detail_prefix!r} rows for {year}")
    return out


def usgs_salient(rows: list[UsgsRow], chapter: str, detail: str,
                 year: str) -> tuple[UsgsValue, str]:
    """One US salient statistic: (value, unit)."""
    for r in rows:
        if (r.chapter == chapter and r.section.startswith("Salient") and r.detail == detail
                and r.year == year):
            return r.value, r.unit
    raise DatasetError(f"USGS {chapter}: no salient statistic {detail!r} for {year}")


def usgs_import_sources(rows: list[UsgsRow], chapter: str, detail: str) -> dict[str, UsgsValue]:
    """US import sources 2021-24 [%] by source country name, for one product line."""
    out = {r.country: r.value for r in rows
           if r.chapter == chapter and r.section == "Import Sources" and r.detail == detail}
    if not out:
        raise DatasetError(f"USGS {chapter}: no import-source rows for {detail!r}")
    return out


def read_iea(folder: Path | None = None) -> dict:
    """The IEA Critical Minerals Dataset (JSON conversion)."""
    path = (folder or sources_dir()) / IEA_JSON
    return json.loads(path.read_text(encoding="utf-8"))


def iea_supply(iea: dict, mineral: str, stage: str, year: str = "2024") -> dict[str, float]:
    """IEA supply [kt] by source country name for one mineral and stage.

    The published ``total`` is authoritative: where the country rows do not add up to it
    (nickel refining 2024: rows 3,597 kt, total 3,484 kt), "Rest of world" is reset to
    the total less the named countries, so that named countries keep their published
    shares of the total."""
    block = iea["supply"][mineral][stage]
    countries = block["countries"]
    out = {name: float(v[year]) for name, v in countries.items()
           if isinstance(v, dict) and v.get(year) is not None}
    total = block.get("total", {}).get(year)
    if total is not None and "Rest of world" in out:
        named = sum(v for k, v in out.items() if k != "Rest of world")
        out["Rest of world"] = max(0.0, float(total) - named)
    return out


def read_cheng_mine_to_refinery(name: str,
                                folder: Path | None = None) -> dict[tuple[str, str], float]:
    """Cheng et al. (2024) 2020 flows [t contained] from ``<country>_mine`` to
    ``<country>_ref_poss`` nodes: {(mine country, refinery country): tonnes}."""
    path = (folder or sources_dir()) / CHENG_CSV.format(name=name)
    out: dict[tuple[str, str], float] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            src, dst = r["Source"].strip(), r["Target"].strip()
            if src.endswith("_mine") and dst.endswith("_ref_poss"):
                key = (src[: -len("_mine")], dst[: -len("_ref_poss")])
                out[key] = out.get(key, 0.0) + float(r["Value"])
    return out


def read_cheng_refinery_to_cathode(name: str,
                                   folder: Path | None = None) -> dict[tuple[str, str], float]:
    """Cheng et al. (2024) 2020 flows [t contained] from ``<country>_ref`` to
    ``<country>_cath_poss`` nodes: {(refinery country, cathode-maker country): tonnes}."""
    path = (folder or sources_dir()) / CHENG_CSV.format(name=name)
    out: dict[tuple[str, str], float] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            src, dst = r["Source"].strip(), r["Target"].strip()
            if src.endswith("_ref") and dst.endswith("_cath_poss"):
                key = (src[: -len("_ref")], dst[: -len("_cath_poss")])
                out[key] = out.get(key, 0.0) + float(r["Value"])
    return out


def iea_battery_share(iea: dict, mineral: str, year: str = "2024") -> float:
    """Share of a mineral's world demand going to EV and grid-storage batteries (IEA)."""
    block = iea["totalDemand"][mineral]
    sectors = block["sectors"]
    battery = sum(float(sectors[k][year]) for k in ("Electric vehicles", "Grid battery storage")
                  if k in sectors)
    return battery / float(block["totalDemand"][year])


# --- CEPII BACI bilateral trade (baci_trade/README.md) -------------------------------------------

BACI_DIR = "baci_trade"
# nomenclature -> (file, its column names for year, exporter, importer, code, value, quantity)
BACI_FILES = {
    "HS92": ("baci_hs92_critical_minerals_2019_2024.csv",
             ("year", "exporter_iso3", "importer_iso3", "hs92", "value_kusd", "qty_t")),
    "HS17": ("baci_hs17_V202601_critical_2024_atlas.csv",
             ("year", "exporter", "importer", "hs17", "value_kusd", "qty_t")),
}


@dataclass(frozen=True)
class TradeFlow:
    """One BACI row: exporter -> importer, one HS6 code, one year. ``qty_t`` [t of product]
    is None where BACI gives no quantity; ``value_kusd`` [thousand USD, FOB]."""

    year: int
    exporter: str  # ISO 3166 alpha-3 (BACI's "S19" is "Other Asia, nes", i.e. Taiwan)
    importer: str
    hs: str
    value_kusd: float
    qty_t: float | None


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _expected_sha256(folder: Path, name: str) -> str:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise DatasetError(f"{sums}: checksum file missing; copy SHA256SUMS from the shared "
                           "baci_trade folder (or reinstall the package)")
    for line in sums.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name:
            return parts[0].lower()
    raise DatasetError(f"{sums}: no checksum line for {name}; add '<sha256>  {name}'")


def read_baci(nomenclature: str, folder: Path | None = None) -> list[TradeFlow]:
    """Every row of one BACI extract ("HS92" or "HS17"), after checking its SHA-256
    against ``baci_trade/SHA256SUMS`` (the files are copied unchanged)."""
    if nomenclature not in BACI_FILES:
        raise DatasetError(f"unknown trade nomenclature {nomenclature!r}; use "
                           f"{' or '.join(BACI_FILES)}")
    name, cols = BACI_FILES[nomenclature]
    base = (folder or sources_dir()) / BACI_DIR
    path = base / name
    if not path.is_file():
        raise DatasetError(f"{path}: BACI trade extract missing; copy it unchanged from the "
                           "shared baci_trade folder (or reinstall the package)")
    digest = _sha256(path)
    expected = _expected_sha256(base, name)
    if digest != expected:
        raise DatasetError(f"{path}: SHA-256 {digest} does not match SHA256SUMS ({expected}); "
                           "the extract was changed; restore the original file")
    year, exp, imp, code, value, qty = cols
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in cols if c not in (reader.fieldnames or ())]
        if missing:
            raise DatasetError(f"{path}: columns {', '.join(missing)} missing; restore the "
                               "original file")
        for n, r in enumerate(reader, start=2):
            try:
                q = r[qty].strip()
                out.append(TradeFlow(int(r[year]), r[exp].strip(), r[imp].strip(),
                                     r[code].strip(), float(r[value]),
                                     float(q) if q else None))
            except ValueError:
                raise DatasetError(f"{path} line {n}: unreadable number in {r!r}; restore "
                                   "the original file") from None
    return out
