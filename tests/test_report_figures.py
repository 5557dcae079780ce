"""Report pieces on tables built by hand: the numbers behind each figure, the figures
themselves (each draws, with its id in the page) and the self-contained HTML.

The tables mimic a run's files (shortage, drivers, monthly) for the tiny dataset's
countries; the end-to-end test on a real run is in test_report_cli.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simcore.errors import ResultError, SupplyShockError
from simcore.report import analysis as an
from simcore.report import figures as fg
from simcore.report.build import Options, Run, sections
from simcore.report.html import render

# (material, stage, country, weight of the common disruption)
EXPOSURES = [
    ("gallium", "refining", "CHN", 0.0),
    ("gallium", "refining", "USA", 0.8),
    ("gallium", "refining", "DEU", 0.5),
    ("gallium", "refining", "JPN", 0.6),
    ("graphite", "mining", "JPN", 0.3),
    ("graphite", "refining", "USA", 0.4),
    ("graphite", "refining", "JPN", 0.1),
    ("antimony", "refining", "USA", 0.0),
]


def tables(n=200, seed=1, policy=0.0, months=12):
    """(shortage, drivers, monthly) with a known structure: shares scale with
    fired * severity * (1 - leakage); CHN is the origin (price below 1)."""
    rng = np.random.default_rng(seed)
    fired = rng.uniform(size=n) < 0.6
    sev, leak = rng.uniform(0.3, 1.0, n), rng.uniform(0.0, 0.3, n)
    drivers = pd.DataFrame(
        {
            "draw": np.arange(n),
            "event/cn-ga/fired": fired,
            "event/cn-ga/onset": np.where(fired, rng.integers(0, 6, n), -1),
            "event/cn-ga/severity": sev,
            "event/cn-ga/leakage": leak,
            "response/reroute_lag_months": rng.uniform(2, 12, n),
        }
    )
    common = fired * sev * (1 - leak) * (1 - policy)
    frames = []
    for m, s, c, w in EXPOSURES:
        share = common * w
        price = 1 - 0.3 * fired * sev if c == "CHN" else 1 + 3 * share
        frames.append(
            pd.DataFrame(
                {
                    "draw": np.arange(n),
                    "material": m,
                    "stage": s,
                    "country": c,
                    "need_t": 100.0,
                    "shortage_t": 100 * share,
                    "shortage_share": share,
                    "peak_share": share,
                    "months_short": 0,
                    "first_short_month": -1,
                    "last_short_month": -1,
                    "stock_drawn_t": 0.0,
                    "price_index_peak": np.maximum(price, 1 + 5 * share),
                    "price_index_mean": price,
                    "shortage_value_usd": 0.0,
                }
            )
        )
    shortage = pd.concat(frames, ignore_index=True)
    rows = []
    for (m, c), g in shortage[shortage["stage"] == "refining"].groupby(["material", "country"]):
        for t in range(months):
            q = np.quantile(
                g["shortage_share"] * np.sin(np.pi * t / months), [0.05, 0.25, 0.5, 0.75, 0.95]
            )
            rows.append(
                dict(
                    material=m, country=c, month=t, p5=q[0], p25=q[1], p50=q[2], p75=q[3], p95=q[4]
                )
            )
    return shortage, drivers, pd.DataFrame(rows)


def prices_table(months=12) -> pd.DataFrame:
    """Zone-price quantiles (prices.parquet) with gallium split into CHN and ex-CHN at
    refining, graphite one zone at each stage, antimony never moving."""
    rows = []
    for m, s, z, up in (("gallium", "refining", "CHN", -0.3), ("gallium", "refining", "ex-CHN", 2),
                        ("graphite", "mining", "world", 0.5), ("graphite", "refining", "world", 1),
                        ("antimony", "refining", "world", 0.0)):
        for t in range(months):
            bump = up * np.sin(np.pi * t / months)
            q = 1 + bump * np.array([0.2, 0.5, 1.0, 1.5, 2.0])
            rows.append(dict(material=m, stage=s, zone=z, month=t, price_p5=q[0],
                             price_p25=q[1], price_p50=q[2], price_p75=q[3], price_p95=q[4],
                             prob_above_1=float(up > 0)))
    return pd.DataFrame(rows)


def run_of(name, tiny_path, tmp_path, **kw):
    shortage, drivers, monthly = tables(**kw)
    manifest = {
        "scenario": {"name": name, "path": str(tmp_path / f"{name}.toml"), "hash": "ab" * 32},
        "dataset": {"path": str(tiny_path), "hash": "cd" * 32},
        "seed": 7,
        "draws": 200,
        "versions": {"supplyshock": "0.1.0"},
        "command": "supplyshock run",
    }
    return Run(name, tmp_path / name, shortage, drivers, monthly, manifest,
               prices=prices_table())


@pytest.fixture
def base(tiny_path, tmp_path):
    return run_of("base", tiny_path, tmp_path)


# --- the numbers behind the figures -----------------------------------------------


def test_heatmap_puts_partners_first(base, tiny_tensor):
    stats = an.exposure_stats(base.shortage)
    last = an.last_stage_of(
        base.shortage, dict(zip(tiny_tensor.materials, tiny_tensor.stages, strict=True))
    )
    assert last == {"gallium": "refining", "graphite": "refining", "antimony": "refining"}
    matrix, n_partners = an.heatmap_matrix(stats, last, tiny_tensor.groups["partners"])
    # partners in the dataset's order (those with need), then the rest
    assert list(matrix.columns) == ["USA", "DEU", "JPN", "CHN"] and n_partners == 3
    assert list(matrix.index) == ["gallium", "graphite", "antimony"]
    # the last stage only: graphite mining (JPN 0.3) must not leak in
    expected = np.quantile(
        base.shortage.query("material == 'graphite' and stage == 'refining' and country == 'JPN'")[
            "shortage_share"
        ],
        0.95,
    )
    assert matrix.loc["graphite", "JPN"] == pytest.approx(expected)
    assert np.isnan(matrix.loc["graphite", "DEU"])  # no need: grey cell


def test_exceedance_curve_and_band(base):
    worst = an.worst_exposures(an.exposure_stats(base.shortage), 3)
    assert [tuple(r) for r in worst[["material", "country"]].to_numpy()] == [
        ("gallium", "USA"),
        ("gallium", "JPN"),
        ("gallium", "DEU"),
    ]
    table = an.exceedance_table(base.shortage, worst, {"gallium": "refining"})
    usa = table[table["label"] == "gallium · USA"]
    share = base.shortage.query("material == 'gallium' and country == 'USA'")[
        "shortage_share"
    ].to_numpy()
    assert usa["p"].iloc[0] == pytest.approx((share > 0).mean())
    assert usa["p"].iloc[-1] == 0.0
    assert np.all(np.diff(usa["p"]) <= 0)
    assert np.all((usa["low"] <= usa["p"]) & (usa["p"] <= usa["high"]))


def test_zone_price_bands_take_the_last_stage_and_flag_origins(base):
    last = {"gallium": "refining", "graphite": "refining", "antimony": "refining"}
    bands = an.zone_price_bands(base.prices, last, {"gallium": ["CHN"]})
    assert set(bands["material"]) == {"gallium", "graphite", "antimony"}
    assert set(bands.loc[bands["material"] == "graphite", "zone"]) == {"world"}  # no mining
    ga = bands[bands["material"] == "gallium"]
    assert ga.set_index("zone")["origin"].groupby(level=0).all().to_dict() == {
        "CHN": True, "ex-CHN": False}
    row = base.prices.query("material == 'gallium' and zone == 'ex-CHN' and month == 2")
    got = ga[(ga["zone"] == "ex-CHN") & (ga["month"] == 2)]
    assert float(got["p95"].iloc[0]) == float(row["price_p95"].iloc[0])
    fig = fg.price_figure(bands)  # antimony's price never moves: no panel
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["gallium", "graphite"]


def test_paired_changes_counts_improvements(base, tiny_path, tmp_path):
    other = run_of("policy", tiny_path, tmp_path, policy=0.5)
    worst = an.worst_exposures(an.exposure_stats(base.shortage), 2)
    per_draw, summary = an.paired_changes(
        base.shortage, other.shortage, worst, {"gallium": "refining"}
    )
    fired_share = (
        base.shortage.query("material == 'gallium' and country == 'USA'")["shortage_share"] > 0
    ).mean()
    usa = summary.set_index("label").loc["gallium · USA"]
    assert usa["p_improve"] == pytest.approx(fired_share)  # every hit draw halves
    assert usa["p_worse"] == 0.0
    assert usa["mean_change"] == pytest.approx(-0.5 * usa["mean_base"])
    assert usa["p_improve_low"] < usa["p_improve"] < usa["p_improve_high"]


def test_unknown_country_and_missing_quantiles_are_clear(base):
    stats = an.exposure_stats(base.shortage)
    with pytest.raises(ResultError, match="'USA'"):
        an.choose_countries(stats, (), ["UAS"])
    assert an.choose_countries(stats, ("USA", "DEU", "JPN", "AUS")) == ["USA", "JPN", "DEU"]
    with pytest.raises(ResultError, match="P25"):
        an.quantile_columns(base.monthly.drop(columns="p25"))


# --- figures and the page -------------------------------------------------------------


def test_report_page_holds_every_figure_and_links_nothing(base, tiny_path, tmp_path):
    other = run_of("policy", tiny_path, tmp_path, policy=0.5)
    (tmp_path / "base.toml").write_text("[scenario]\nname = 'base'  # <b>escaped</b>\n")
    secs = sections(base, [other], Options(n_boot=20, top_drivers=2))
    for s in secs:
        s.figures = [(fid, alt, fg.png_bytes(fig, dpi=40)) for fid, alt, fig in s.figures]
    page = render("title", "subtitle", secs)
    ids = re.findall(r'<img id="([^"]+)"', page)
    assert ids == [
        "fig-heatmap",
        "fig-exceedance",
        "fig-fan-USA",
        "fig-fan-JPN",
        "fig-fan-DEU",
        "fig-price",
        "fig-tornado",
        "fig-compare-policy",
    ]
    for src in re.findall(r'<img [^>]*src="([^"]+)"', page):
        assert src.startswith("data:image/png;base64,")
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', page, re.I)
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page  # the scenario file, escaped
    assert "policy.toml named in the manifest is missing" in page
    assert "P(better)" in page


def test_fan_chart_leaves_out_materials_never_short(base):
    quant = an.monthly_quantiles(base.monthly, "USA")
    fig = fg.fan_figure(quant, "USA", an.quantile_columns(base.monthly))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["gallium", "graphite"]
    assert "never short at P95: antimony" in fig._suptitle.get_text()


def test_a_one_panel_fan_chart_shows_its_whole_title(base):
    """With one material short the figure is one panel wide, and its title ran past both
    edges: the country's code was cut off (a new-user pass's slide PNGs)."""
    quant = an.monthly_quantiles(base.monthly, "USA")
    fig = fg.fan_figure(quant[quant["material"] == "gallium"], "USA",
                        an.quantile_columns(base.monthly))
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    width = fig.get_figwidth() * fig.dpi
    assert fig._suptitle.get_text().startswith("USA: monthly shortage share")
    assert 0 <= box.x0 and box.x1 <= width


def test_without_matplotlib_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SupplyShockError, match=r'pip install "matplotlib>=3.8"'):
        fg.require_matplotlib()


def test_report_modules_do_not_import_numba():
    import subprocess

    code = (
        "import sys, simcore.report.build, simcore.report.tables, simcore.cli.report; "
        "print('numba' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert out.stdout.split() == ["False", "False"]


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    from simcore.report.statistics import wilson_interval

    for k, n in [(0, 50), (3, 50), (25, 50), (50, 50), (917, 1000)]:
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k, n)
        assert float(low) == pytest.approx(ref.low, abs=1e-9)
        assert float(high) == pytest.approx(ref.high, abs=1e-9)


def test_price_ticks_of_a_narrow_band_can_be_read():
    """A panel whose prices move a few per cent (nickel's) gets ticks beside 1x, not 1x
    alone; a wide one keeps its ticks apart."""
    from simcore.report.figures import _log_ticks

    narrow = _log_ticks(0.97, 1.08)
    assert 1.0 in narrow and len(narrow) >= 3 and min(narrow) < 1.0 < max(narrow), narrow
    wide = _log_ticks(0.5, 12.0)
    gaps = np.diff(np.log(wide))
    assert len(wide) <= 10 and gaps.min() >= np.log(12.0 / 0.5) / 9 - 1e-12, wide


def test_buyers_with_the_same_shares_take_one_row_and_a_count():
    """A zone's buyers without a stock of their own have the same shares in every draw
    (format 4 stores them as their lead): the exceedance list and the policy comparison
    showed 'ree_dytb · USA' and 'ree_dytb · DEU' with the same numbers and left out a
    third country of another fate (a new-user pass). They fold into one row, +N, and
    the cap per material counts fates; in a comparison, where their shares are the
    same in every draw of both runs."""
    stats = pd.DataFrame({
        "material": ["dy"] * 4 + ["sb"], "stage": ["ref"] * 5,
        "country": ["DEU", "USA", "JPN", "KOR", "USA"],
        "mean": [0.2, 0.2, 0.15, 0.1, 0.3], "p50": [0.1] * 5,
        "p95": [0.5, 0.5, 0.4, 0.3, 0.6], "p_short": [0.5] * 5})
    lead = {("dy", "ref", "DEU"): ("dy", "ref", "USA")}
    plain = an.worst_exposures(stats, 6, per_material=2)
    assert list(plain["country"]) == ["USA", "DEU", "USA"]  # the same fate twice
    worst = an.worst_exposures(stats, 6, per_material=2, same=lambda k: lead.get(k, k))
    assert list(zip(worst["material"], worst["country"], worst["alike"], strict=True)) == [
        ("sb", "USA", 0), ("dy", "DEU", 1), ("dy", "JPN", 0)]
    assert an.exposure_label("dy", "ref", "DEU", {"dy": "ref"}, 1) == "dy · DEU +1"
    assert an.exposure_label("dy", "mine", "DEU", {"dy": "ref"}) == "dy (mine) · DEU"
    assert list(an.fold_alike(stats.iloc[:0], lambda k: k).columns)[-2:] == ["alike", "incl"]
    # named by the largest buyer where the expected values are known, as `run`'s table
    # names it (a new-user pass read 'VNM +29' there and 'USA +29' here), in the place of
    # the group's first row
    valued = stats.assign(value=[1.0, 5.0, 1.0, 1.0, 1.0])
    worst = an.worst_exposures(valued, 6, per_material=2, same=lambda k: lead.get(k, k))
    assert list(zip(worst["material"], worst["country"], worst["alike"], strict=True)) == [
        ("sb", "USA", 0), ("dy", "USA", 1), ("dy", "JPN", 0)]
    between = pd.DataFrame({  # another material's row between the group's two
        "material": ["dy", "w", "dy"], "stage": ["ref"] * 3, "country": ["DEU", "CAN", "USA"],
        "mean": [0.2] * 3, "p50": [0.1] * 3, "p95": [0.5] * 3, "p_short": [0.5] * 3,
        "value": [np.nan, 1.0, 5.0]})  # (an unknown value never names a group)
    worst = an.worst_exposures(between, 6, same=lambda k: lead.get(k, k))
    assert list(zip(worst["material"], worst["country"], worst["alike"], strict=True)) == [
        ("dy", "USA", 1), ("w", "CAN", 0)]
    # a group named by a buyer outside the partners names the largest partner in it too
    # (a new-user pass read "tungsten VNM +29" as Vietnam's problem; the USA is in it)
    mixed = pd.DataFrame({
        "material": ["w"] * 4, "stage": ["ref"] * 4, "country": ["VNM", "DEU", "USA", "CHN"],
        "mean": [0.2] * 4, "p50": [0.1] * 4, "p95": [0.5] * 4, "p_short": [0.5] * 4,
        "value": [9.0, 1.0, 3.0, 2.0]})
    same_w = {("w", "ref", c): ("w", "ref", "VNM") for c in ("VNM", "DEU", "USA")}
    worst = an.worst_exposures(mixed, 6, same=lambda k: same_w.get(k, k),
                               partners=("USA", "DEU"))
    assert list(zip(worst["country"], worst["alike"], worst["incl"], strict=True)) == [
        ("VNM", 2, "USA"), ("CHN", 0, "")]
    assert an.exposure_label("w", "ref", "VNM", {"w": "ref"}, 2, "USA") == "w · VNM +2 incl. USA"
    led = an.worst_exposures(mixed.assign(value=[1.0, 2.0, 3.0, 0.5]), 6,
                             same=lambda k: same_w.get(k, k), partners=("USA", "DEU"))
    assert list(led["incl"]) == ["", ""]  # named by a partner: nothing to add

    # a comparison: DEU and USA alike in both runs, JPN alike with them in the base only
    def rows(shares):
        return pd.DataFrame([{"draw": d, "material": "dy", "stage": "ref", "country": c,
                              "shortage_share": v[d]}
                             for c, v in shares.items() for d in range(3)])
    base = rows({"USA": [0.4, 0.2, 0.0], "DEU": [0.4, 0.2, 0.0], "JPN": [0.4, 0.2, 0.0]})
    other = rows({"USA": [0.1, 0.1, 0.0], "DEU": [0.1, 0.1, 0.0], "JPN": [0.2, 0.1, 0.0]})
    changed = an.largest_changes(base, other, 6, per_material=2, fold=True)
    assert list(zip(changed["country"], changed["alike"], strict=True)) == [
        ("USA", 1), ("JPN", 0)]
    assert list(an.largest_changes(base, other, 6, per_material=2)["country"]) == [
        "USA", "DEU"]


def test_the_comparison_names_what_a_policy_leaves_worse_outside_its_table(tmp_path):
    """The table shows the largest changes, at most a few per material; a smaller harm
    (the ore China's refiners lose to new refining capacity elsewhere) is named under it,
    folded as the table folds, and only where the mean change is above zero beyond its
    95 % interval."""
    from simcore.report.build import _worse_elsewhere

    def rows(shares):
        return pd.DataFrame([{"draw": d, "material": m, "stage": st, "country": c,
                              "shortage_share": v[d], "need_t": need}
                             for (m, st, c, need), v in shares.items() for d in range(6)])
    helped = [0.4, 0.3, 0.2, 0.4, 0.3, 0.2]
    base = rows({("dy", "ref", "USA", 5.0): helped, ("dy", "ref", "JPN", 1.0): helped,
                 ("dy", "mine", "CHN", 9.0): [0.0] * 6, ("dy", "mine", "MMR", 1.0): [0.0] * 6,
                 ("sb", "ref", "USA", 1.0): [0.1] * 6})
    other = rows({("dy", "ref", "USA", 5.0): [0.1] * 6, ("dy", "ref", "JPN", 1.0): [0.2] * 6,
                  ("dy", "mine", "CHN", 9.0): [0.02, 0.03, 0.02, 0.03, 0.02, 0.03],
                  ("dy", "mine", "MMR", 1.0): [0.02, 0.03, 0.02, 0.03, 0.02, 0.03],
                  # worse in one draw only: not beyond its interval
                  ("sb", "ref", "USA", 1.0): [0.1] * 5 + [0.4]})
    worse, fates = an.made_worse(base, other)
    assert list(zip(worse["material"], worse["stage"], worse["country"], worse["alike"],
                    strict=True)) == [("dy", "mine", "CHN", 1)]
    assert worse["change"].iloc[0] == pytest.approx(0.025, rel=1e-6)
    assert worse["p_worse"].iloc[0] == 1.0
    assert len(fates) == 5
    shown = an.largest_changes(base, other, 6, per_material=2, fold=True)
    # the cap (two per material) leaves the mine out
    assert list(zip(shown["material"], shown["stage"], strict=True)) == [
        ("dy", "ref"), ("dy", "ref"), ("sb", "ref")]
    run = {n: Run(n, tmp_path / n, frame, pd.DataFrame(), pd.DataFrame(), {})
           for n, frame in (("base", base), ("capacity", other))}
    line = _worse_elsewhere(run["base"], run["capacity"], shown, {"dy": "ref"})
    assert "Also worse under capacity, not in the table" in line
    assert "dy (mine) · CHN +1 +2.50 pp (P(worse) 100.0%)" in line
    assert "sb" not in line
    # shown in the table (the same fate as a row shown): not named again
    shown_all = an.largest_changes(base, other, 6, fold=True)
    assert _worse_elsewhere(run["base"], run["capacity"], shown_all, {"dy": "ref"}) == ""


def test_fan_charts_go_to_distinct_pictures_and_ties_follow_the_partner_order():
    stats = pd.DataFrame({"country": ["AUS", "BEL", "USA", "JPN"],
                          "p95": [0.37, 0.37, 0.37, 0.2]})
    same = pd.DataFrame({"material": ["ga"], "month": [0], "p95": [0.37]})
    other = pd.DataFrame({"material": ["ga"], "month": [0], "p95": [0.2]})
    partners = ("USA", "AUS", "BEL", "JPN")
    assert an.choose_countries(stats, partners) == ["USA", "AUS", "BEL", "JPN"]
    fan = {"USA": same, "AUS": same, "BEL": same, "JPN": other}.__getitem__
    assert an.choose_countries(stats, partners, fan=fan) == ["USA", "JPN"]
    assert an.choose_countries(stats, (), fan=fan) == ["AUS", "JPN"]  # no partners: by name


def test_a_fan_chart_whose_every_panel_is_drawn_already_is_passed_over():
    """DEU's chart of the partner study repeated, panel by panel, the USA's (the two buy
    in the same price zones of the materials DEU needs) and kept KOR, short of DyTb at a
    P95 of 34 %, out of the four charts."""
    stats = pd.DataFrame({"country": ["USA", "DEU", "KOR"], "p95": [0.5, 0.4, 0.3]})

    def panel(material, value):
        return pd.DataFrame({"material": [material] * 2, "month": [0, 1],
                             "p95": [value, value]})

    charts = {"USA": pd.concat([panel("dy", 0.5), panel("sb", 0.2)]),
              "DEU": panel("sb", 0.2),  # fewer panels, each one the USA's
              "KOR": pd.concat([panel("dy", 0.3), panel("sb", 0.2)])}
    assert an.choose_countries(stats, ("USA", "DEU", "KOR"), fan=charts.__getitem__) == [
        "USA", "KOR"]
    charts["DEU"] = pd.concat([panel("sb", 0.2), panel("w", 0.1)])  # one new panel
    assert an.choose_countries(stats, ("USA", "DEU", "KOR"), fan=charts.__getitem__) == [
        "USA", "DEU", "KOR"]


def test_driver_labels_read_as_the_report_documents():
    assert an.driver_label("event/cn-ga/settled_severity") == "cn-ga: settled severity"
    assert an.driver_label("response/substitution_max") == "substitution max"
    assert an.driver_label("response/reroute_lag_months/quantile") == (
        "reroute lag months (quantile)")
    assert an.driver_label("something/else") == "something/else"


def test_several_policies_box_plots_share_one_scale():
    """A new-user pass compared two policies' figures by eye with axes of -10 and -17.5
    pp: with several policies the report gives them one x-range (P5-P95, means, zero)."""
    from simcore.report.build import _shared_limits

    small = pd.DataFrame({"label": ["a"] * 100, "draw": range(100),
                          "change": np.linspace(-0.02, 0.0, 100)})
    large = pd.DataFrame({"label": ["b"] * 100, "draw": range(100),
                          "change": np.linspace(-0.2, 0.01, 100)})
    lo, hi = _shared_limits([small, large])
    assert lo < np.quantile(large["change"], 0.05) and hi > np.quantile(large["change"], 0.95)
    assert lo > -0.2 and hi > 0  # whiskers, not the extremes, and zero inside
    assert _shared_limits([small.assign(change=0.0)]) is None
    summary = pd.DataFrame({"label": ["a"], "p_improve": [0.5], "p_improve_low": [0.4],
                            "p_improve_high": [0.6], "p_worse": [0.0]})
    fig = fg.compare_figure(small, summary, "stock", "base", (lo, hi))
    assert fig.axes[0].get_xlim() == pytest.approx((lo, hi))


def test_a_probability_and_its_interval_read_at_one_precision():
    """A new-user pass read "100% [100.0%–100%]" and "99.2% [99%–99.3%]" beside the policy
    boxes: a value and its interval now share one precision, and nothing short of
    certain reads as 100 % (nor above zero as 0 %, down to 0.005 %)."""
    from simcore.report.figures import _pc, _pcs

    assert _pcs(0.992, 0.99, 0.993) == ["99.2%", "99.0%", "99.3%"]
    assert _pcs(1.0, 0.9996, 1.0) == ["100.00%", "99.96%", "100.00%"]
    assert _pcs(0.5, 0.41, 0.62) == ["50%", "41%", "62%"]
    assert _pc(0.9996) == "99.96%" and _pc(0.0004) == "0.04%"
    assert [_pc(0.0), _pc(1.0), _pc(0.004)] == ["0%", "100%", "0.4%"]


def test_dollar_axes_name_their_unit_on_each_tick():
    """The stockpile frontiers showed matplotlib's "1e9" offset above bare numbers (a
    new-user pass): their dollar axes now read $400.0M, $1.2bn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from simcore.report import figures as fg

    fig = fg.require_matplotlib()()
    ax = fig.add_subplot()
    ax.plot([-2e8, 1.5e9], [0.0, 2e9])
    fg._dollars(ax, "x")
    FigureCanvasAgg(fig).draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "0" in labels and all(t == "0" or t.lstrip("-").startswith("$") for t in labels)
    assert any(t.endswith("bn") for t in labels) and any(t.startswith("-$") for t in labels)
    assert ax.xaxis.get_offset_text().get_text() == ""
    assert ax.yaxis.get_offset_text().get_text() != ""  # the untouched axis: 1e9
