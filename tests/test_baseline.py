"""The shipped baseline against its sources and against published figures.

Every check reads the committed dataset (simcore/data/baseline) through the loader, and
compares it with numbers taken independently: the raw USGS file, or published shares
quoted in simcore/data/sources/SOURCES.md and shared/data/SOURCES.md. One rebuild into
``tmp_path`` (about 4 s) is shared by the module.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from simcore.databuild import build_dataset
from simcore.databuild.build import Tables, _Builder, read_tables, tables_dir, write_dataset
from simcore.databuild.spec import MATERIALS
from simcore.dataset import builtin_path, load_dataset
from simcore.errors import DatasetError

# Golden content hash of the committed dataset. Change it only on purpose, together with
# the rebuilt dataset (supplyshock data build) and a note in docs/baseline.md.
BASELINE_HASH = "52c7cd68cd7a05453e3c984984301922b09e8ec7357d3ada080dda109cda0c69"


@pytest.fixture(scope="module")
def baseline():
    return load_dataset(builtin_path())


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("build") / "baseline")


def share(t, material, stage, country, of="production") -> float:
    """country's share [%] of the world total of a material stage."""
    k = t.material_index(material)
    s = t.stage_index(material, stage)
    v = (t.production if of == "production" else t.need)[k, s]
    return 100.0 * v[t.country_index(country)] / v.sum()


# --- reproducibility -------------------------------------------------------------------------


def test_rebuild_is_byte_identical_to_committed(rebuilt):
    committed = builtin_path()
    names = sorted(p.name for p in committed.iterdir())
    assert names == sorted(p.name for p in rebuilt.iterdir())
    for name in names:
        assert (rebuilt / name).read_bytes() == (committed / name).read_bytes(), name


def test_hash_is_stable(baseline, rebuilt):
    assert load_dataset(rebuilt).hash == baseline.hash == BASELINE_HASH


def test_validates_without_warnings(baseline):
    assert baseline.warnings == ()


def test_rebuild_replaces_folder_atomically(tmp_path):
    out = tmp_path / "ds"
    write_dataset({"a.csv": b"x\n"}, out, check=False)
    write_dataset({"b.csv": b"y\n"}, out, check=False)
    assert sorted(p.name for p in out.iterdir()) == ["b.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temp folders left


# --- published shares (SOURCES.md) -----------------------------------------------------------

PUBLISHED = [
    # material, stage, country, published share [%], tolerance [points], source
    ("ree_ndpr", "refining", "CHN", 91, 3, "IEA: China 91 % of magnet rare-earth refining"),
    ("graphite", "refining", "CHN", 96, 3, "IEA: China 96 % of battery-grade graphite"),
    ("cobalt", "refining", "CHN", 78, 3, "IEA: China 78 % of refined cobalt"),
    ("lithium", "refining", "CHN", 70, 3, "IEA: China 70 % of refined lithium"),
    ("copper", "refining", "CHN", 44, 3, "IEA: China 44 % of refined copper"),
    ("nickel", "refining", "IDN", 43, 3, "IEA: Indonesia 43 % of refined nickel"),
    ("cobalt", "mining", "COD", 72.5, 2.5, "DRC about 70-75 % of mined cobalt"),
    ("tungsten", "mining", "CHN", 83, 3, "China 83 % of tungsten mine output 2024"),
    ("ree_ndpr", "mining", "CHN", 69, 3, "China 69 % of rare-earth mine output 2024"),
    ("gallium", "refining", "CHN", 98, 2, "USGS: China about 98 % of primary gallium"),
    ("germanium", "refining", "CHN", 60, 3, "USGS: China about 60 % of refined germanium"),
    ("nickel", "mining", "IDN", 61, 2, "Indonesia over 60 % of nickel ore"),
    ("ree_dytb", "refining", "CHN", 95, 5, "China about 90 %+ of separation; ~all of Dy/Tb"),
]


@pytest.mark.parametrize("material,stage,country,published,tol,source", PUBLISHED,
                         ids=[f"{p[0]}-{p[1]}-{p[2]}" for p in PUBLISHED])
def test_published_share(baseline, material, stage, country, published, tol, source):
    got = share(baseline, material, stage, country)
    assert abs(got - published) <= tol, f"{got:.1f} % vs {published} % ({source})"


@pytest.mark.xfail(strict=True, reason=(
    "SOURCES.md quotes 65-67 % for China's natural-graphite mine share; the USGS MCS 2026 "
    "2024 table the build reads gives 1,270 of 1,550 kt = 82 %. The build follows USGS."))
def test_graphite_china_mine_share_published_range(baseline):
    assert 65 - 3 <= share(baseline, "graphite", "mining", "CHN") <= 67 + 3


def test_graphite_china_mine_share_matches_usgs_table(baseline):
    assert share(baseline, "graphite", "mining", "CHN") == pytest.approx(
        100 * 1_270_000 / 1_550_580, abs=0.1)


# --- balances and levels against the raw file ----------------------------------------------


def test_mining_need_equals_refining_production(baseline):
    """Yield 1: a refiner's feed need is its output. Graphite is the documented exception:
    its mining stage is natural graphite for every use (spec.py ``feed_need``)."""
    t = baseline
    for k, stages in enumerate(t.stages):
        if len(stages) == 2 and t.materials[k] != "graphite":
            np.testing.assert_allclose(t.need[k, 0], t.production[k, 1], rtol=1e-7, atol=0.05,
                                       err_msg=t.materials[k])


def test_graphite_mining_need_is_natural_graphite_use(baseline):
    """Korea, the US, Germany and India buy natural graphite for refractories and anodes
    alike: their mining-stage need exceeds their anode output, China's is below it
    (synthetic feed, outside the tensor); the world totals still match (yield 1 overall)."""
    t = baseline
    k = t.material_index("graphite")
    for code in ("KOR", "USA", "DEU", "IND"):
        c = t.country_index(code)
        assert t.need[k, 0, c] > t.production[k, 1, c], code
    c = t.country_index("CHN")
    assert t.need[k, 0, c] < t.production[k, 1, c]
    assert t.need[k, 0].sum() == pytest.approx(t.production[k, 1].sum(), rel=1e-7)
    for code in t.countries:  # every anode maker takes some natural graphite (no warning)
        c = t.country_index(code)
        if t.production[k, 1, c] > 0:
            assert t.need[k, 0, c] > 0, code


def test_stage_totals_balance(baseline):
    t = baseline
    for k, stages in enumerate(t.stages):
        for s in range(len(stages)):
            assert t.production[k, s].sum() == pytest.approx(t.need[k, s].sum(), rel=1e-9)
            # flows are written with 3 decimals: a few hundred rows round by up to 0.05 t
            assert t.production[k, s].sum() == pytest.approx(t.production[k, 0].sum(),
                                                             rel=1e-7, abs=0.05)


@pytest.mark.parametrize("material,country,tonnes", [
    ("cobalt", "COD", 226_000), ("copper", "CHL", 5_510_000), ("nickel", "PHL", 354_000),
    ("antimony", "TJK", 22_000), ("manganese", "GAB", 4_640_000), ("lithium", "ZWE", 20_000),
])
def test_mine_output_is_the_usgs_figure(baseline, material, country, tonnes):
    t = baseline
    k = t.material_index(material)
    assert t.production[k, 0, t.country_index(country)] == pytest.approx(tonnes, abs=0.01)


def test_us_need_is_usgs_apparent_consumption(baseline):
    t = baseline
    k = t.material_index("copper")
    assert t.need[k, 1, t.country_index("USA")] == pytest.approx(1_860_000, abs=0.01)


def test_every_country_over_one_percent_is_explicit():
    """The 1 % rule (docs/baseline.md): a country carrying at least 1 % of a material's
    world production, trade or use at some stage is a model country, not ROW or XEU.
    Production from the source tables, trade and use from BACI country by country
    (simcore/databuild/coverage.py). Trading hubs whose trade is transit stay in ROW."""
    from simcore.databuild.coverage import carriers

    b = _Builder(read_tables())
    b.build()
    hubs = {"HKG", "SGP", "ARE"}  # countries.csv: ROW's "why"
    missing = {iso: c for iso, c in carriers(b).items()
               if iso not in b.codes and iso not in hubs and iso != "S19"}
    assert not missing, {iso: (c.material, c.stage, c.what, round(100 * c.share, 1))
                         for iso, c in missing.items()}


def test_groups_hold_the_new_members(baseline):
    t = baseline
    eu = set(t.groups["EU27"])
    assert {"FRA", "DEU", "ITA", "XEU", "FIN", "BEL", "NLD", "AUT", "ESP", "PRT", "SWE", "POL",
            "BGR", "IRL", "LVA", "SVN", "LUX", "HUN", "GRC", "CZE"} == eu
    assert eu <= set(t.groups["partners"])
    assert {"NOR", "CHE", "FIN", "NLD", "CZE"} <= set(t.groups["OECD"])
    assert not {"THA", "OMN", "MNG", "RWA", "CIV", "UZB"} & set(t.groups["OECD"])
    assert set(t.groups["G7"]) == {"USA", "CAN", "FRA", "DEU", "ITA", "JPN", "GBR"}
    assert len(t.countries) == 74


# --- US import shares (USGS import-source table, 2021-24) -------------------------------------

# Stages without usable trade data keep the USGS shares as anchors the fit holds.
US_IMPORTS_ANCHORED = [
    # material, stage, partner, USGS share of US imports [%]
    ("manganese", "refining", "GAB", 23), ("manganese", "refining", "ZAF", 21),
    ("antimony", "refining", "CHN", 55), ("ree_dytb", "refining", "CHN", 100),
]
# Stages built from BACI: the USGS shares (2021-24, by value, US Census) are a cross-check of
# the trade data (2022-24 or 2024, tonnes), within 10 points.
US_IMPORTS_OBSERVED = [
    ("copper", "refining", "CHL", 68), ("copper", "refining", "CAN", 16),
    ("copper", "refining", "PER", 7), ("copper", "refining", "MEX", 6),
    ("lithium", "refining", "CHL", 54), ("lithium", "refining", "ARG", 43),
    ("nickel", "refining", "CAN", 44), ("nickel", "refining", "AUS", 8),
    ("bismuth", "refining", "CHN", 56), ("bismuth", "refining", "KOR", 22),
    pytest.param("cobalt", "refining", "CAN", 14, marks=pytest.mark.xfail(strict=True, reason=(
        "USGS's line counts cobalt salts and Canadian re-exports; the IEA gives Canada 1.8 kt of "
        "refined cobalt and BACI shows little of it going to the US: the model has 3 %"))),
]


def _us_share(t, material, stage, partner) -> float:
    k, s = t.material_index(material), t.stage_index(material, stage)
    us = t.country_index("USA")
    col = t.flow[k, s, :, us].copy()
    col[us] = 0.0
    return 100.0 * col[t.country_index(partner)] / col.sum()


@pytest.mark.parametrize("material,stage,partner,published", US_IMPORTS_ANCHORED,
                         ids=[f"{u[0]}-{u[2]}" for u in US_IMPORTS_ANCHORED])
def test_us_import_share(baseline, material, stage, partner, published):
    got = _us_share(baseline, material, stage, partner)
    assert abs(got - published) <= 5, f"{got:.1f} % vs USGS {published} %"


@pytest.mark.parametrize("material,stage,partner,published", US_IMPORTS_OBSERVED)
def test_us_import_share_cross_check(baseline, material, stage, partner, published):
    got = _us_share(baseline, material, stage, partner)
    assert abs(got - published) <= 10, f"{got:.1f} % vs USGS {published} %"


# --- stocks, assumptions ---------------------------------------------------------------------


def test_stocks_are_days_of_use(baseline):
    t = baseline
    k = t.material_index("gallium")
    jpn, kor, usa = (t.country_index(c) for c in ("JPN", "KOR", "USA"))
    assert t.stock[k, jpn] == pytest.approx(t.need[k, 0, jpn] * 60 / 365, abs=0.001)
    assert t.stock[k, kor] == pytest.approx(t.need[k, 0, kor] * 100 / 365, abs=0.001)
    assert t.max_release[k, jpn] == pytest.approx(t.stock[k, jpn] / 3, abs=0.001)
    assert t.stock[k, usa] == 0.0
    assert "unknown" in t.meta["stock_source"][("gallium", "USA")]


def test_every_estimate_is_in_assumptions(baseline):
    path = builtin_path() / "assumptions.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = {(r["table"], r["key"]) for r in rows}
    assert all(r["reasoning"].strip() and r["source"].strip() for r in rows)
    with (tables_dir() / "consumption_shares.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            assert ("consumption_share", f"{r['material']}/{r['country']}") in keys
    for m in MATERIALS:
        assert ("price", m.material) in keys
        assert ("world_total", m.material) in keys
        for stage in m.stages:
            assert ("utilisation", f"{m.material}/{stage}") in keys


def test_capacity_at_least_production(baseline):
    assert (baseline.capacity >= baseline.production - 1e-6).all()


# --- bad hand-written tables give clear errors ------------------------------------------------


def _tables_copy(tmp_path):
    folder = tmp_path / "tables"
    shutil.copytree(tables_dir(), folder)
    return folder


def test_consumption_shares_over_one_is_an_error(tmp_path):
    folder = _tables_copy(tmp_path)
    path = folder / "consumption_shares.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "tellurium,CHN,0.55,", "tellurium,CHN,0.99,"), encoding="utf-8")
    tables = read_tables(folder)
    with pytest.raises(DatasetError, match="tellurium sum to"):
        _Builder(tables).build()


def test_unknown_country_in_table_is_an_error(tmp_path):
    folder = _tables_copy(tmp_path)
    path = folder / "consumption_shares.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "tellurium,JPN,", "tellurium,JNP,"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"consumption_shares.csv line \d+: unknown country "
                                           r"'JNP' \(did you mean 'JPN'"):
        read_tables(folder)


def test_unmapped_source_country_is_an_error():
    tables = read_tables()
    del tables.names["Burma"]
    with pytest.raises(DatasetError, match="'Burma' has no code; add a row"):
        _Builder(Tables(**vars(tables))).build()


def test_user_consumption_table_replaces_the_packaged_one(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    text = (tables_dir() / "consumption_shares.csv").read_text(encoding="utf-8")
    (mine / "consumption_shares.csv").write_text(
        text.replace("tellurium,JPN,0.06,", "tellurium,JPN,0.10,"), encoding="utf-8")
    t = load_dataset(build_dataset(tmp_path / "out", tables=mine))
    assert share(t, "tellurium", "refining", "JPN", of="need") == pytest.approx(10.0, abs=1e-3)
