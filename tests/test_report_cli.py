"""`supplyshock report` and `supplyshock sensitivity` end to end: real runs of the engine
on the tiny dataset (small draws), then the page, the PNG files and the tables.

The study (scenario files beside a copy of the tiny dataset, results under results/) is
built once per module; tests run from its folder, as an analyst would.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from simcore import api
from simcore.cli import main
from simcore.results import load_result
from tests.studies import CN_REFINING, capacity, stockpile, write_study

DRAWS = 150

FIGURES = {"fig-heatmap", "fig-exceedance", "fig-price", "fig-tornado"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = write_study(
        tmp_path_factory.mktemp("report") / "study",
        {
            "tiny-cn.toml": CN_REFINING.format(name="tiny-cn"),
            "tiny-cn-stock.toml": stockpile(
                "tiny-cn.toml", "tiny-cn-stock", countries="partners", id="partners-ga-stock"
            ),
        },
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("tiny-cn", "tiny-cn-stock"):
            api.run(
                f"scenarios/{name}.toml",
                draws=DRAWS,
                seed=11,
                progress=False,
                out=f"results/{name}",
            )
        api.run(
            "scenarios/tiny-cn-stock.toml",
            draws=DRAWS,
            seed=12,
            progress=False,
            out="other-seed/tiny-cn-stock",
        )
    return root


@pytest.fixture
def here(study, monkeypatch):
    monkeypatch.chdir(study)
    return study


def invoke(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok and result.exit_code != 0:
        raise AssertionError(f"exit {result.exit_code}: {result.output}\n{result.exception!r}")
    return result


def test_report_is_one_self_contained_page_with_every_figure(here):
    invoke(
        "report",
        "results/tiny-cn",
        "results/tiny-cn-stock",
        "--out",
        "out/report.html",
        "--bootstrap",
        40,
    )
    page = (here / "out" / "report.html").read_text(encoding="utf-8")
    ids = re.findall(r'<img id="([^"]+)"', page)
    assert FIGURES <= set(ids)
    assert "fig-compare-tiny-cn-stock" in ids
    # the policy section weighs the stockpile as compare does
    assert "<p>Shortage value of the final users" in page
    assert re.search(r"<p>Policy cost \(1 intervention the base does not have[^<]*\$[\d.]+\w* "
                     r"\(stockpiles [^<]*avoided per dollar", page)
    fans = [i for i in ids if i.startswith("fig-fan-")]
    assert fans and all(
        i.removeprefix("fig-fan-") in ("USA", "DEU", "JPN", "AUS") for i in fans
    )  # the tiny dataset's partners, worst first
    # every image inline, as a real PNG; nothing fetched from anywhere
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(srcs) == len(ids)
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'\b(src|href)\s*=\s*["\']?\s*(https?:)?//', page, re.I)
    assert not re.search(r"<(script|link)\b", page, re.I)
    # provenance: seed, draws, the scenario file's own text (and its parent's)
    assert "scenario.hash" in page and "dataset.hash" in page
    assert "id = &quot;partners-ga-stock&quot;" in page and "id = &quot;cn-refining&quot;" in page
    assert f'<td class="text">draws</td><td class="text">{DRAWS}</td>' in page
    # the price zones as a table of their own, not the manifest's list in one cell
    assert "{&#x27;material&#x27;" not in page and "{'material'" not in page
    zones = load_result(here / "results" / "tiny-cn").manifest["zones"]
    z = zones[0]
    assert (f'<td class="text">{z["material"]}</td><td class="text">{z["stage"]}</td>'
            f'<td class="text">{z["zone"]}</td><td class="text">{", ".join(z["members"])}</td>'
            in page)
    assert not list((here / "out").glob(".*"))  # no temporary file left


def test_a_report_of_several_policies_sets_them_side_by_side(here):
    """With two or more variants the report opens its policy part with the table that
    `compare BASE V1 V2 ...` prints: each policy's change of the shortage value, its cost,
    and whether the combined policy adds up (a new-user pass found it only in compare)."""
    Path("scenarios/tiny-cn-cap.toml").write_text(capacity("tiny-cn.toml", "tiny-cn-cap"))
    Path("scenarios/tiny-cn-both.toml").write_text(
        capacity("tiny-cn-stock.toml", "tiny-cn-both"))
    for name in ("tiny-cn-cap", "tiny-cn-both"):
        api.run(f"scenarios/{name}.toml", draws=DRAWS, seed=11, progress=False,
                out=f"policies/{name}")
    variants = ["results/tiny-cn-stock", "policies/tiny-cn-cap", "policies/tiny-cn-both"]
    invoke("report", "results/tiny-cn", *variants, "--out", "policies.html", "--bootstrap", 0)
    page = (here / "policies.html").read_text(encoding="utf-8")
    assert page.index('id="policies"') < page.index('id="compare-tiny-cn-stock"')
    side = page.split('id="policies"', 1)[1].split('id="compare-tiny-cn-stock"', 1)[0]
    printed = invoke("compare", "results/tiny-cn", *variants).stdout.splitlines()
    for name in ("tiny-cn-stock", "tiny-cn-cap", "tiny-cn-both"):
        row = next(line for line in printed if line.strip().startswith(name + " "))
        change = re.search(r"(-?\+?\$[\d.,]+\w* \[[^\]]+\])", row).group(1)
        assert f"{name}</td><td class=\"\">{html.escape(change)}</td>" in side
    assert "1 unstated" in side  # the capacity states no cost
    inter = next(line for line in printed if line.startswith("tiny-cn-both against"))
    assert "tiny-cn-both against tiny-cn-stock + tiny-cn-cap apart: " in side
    assert html.escape(inter.split(" (the mean")[0]) in side
    # the report sets out the values it read already: the same numbers as read afresh
    from simcore.money import policies_side_by_side
    from simcore.report.build import load_run

    runs = [load_run(p) for p in ("results/tiny-cn", *variants)]
    results = [load_result(p) for p in ("results/tiny-cn", *variants)]
    held = [(r.by_draw().keys, r.by_draw().value) for r in runs]
    fresh = policies_side_by_side(results[0], results[1:], force=True)
    again = policies_side_by_side(results[0], results[1:], force=True, values=held)
    assert fresh.table.equals(again.table) and fresh.interactions.equals(again.interactions)
    # one variant: no side-by-side table
    invoke("report", "results/tiny-cn", variants[0], "--out", "one.html", "--bootstrap", 0)
    assert 'id="policies"' not in (here / "one.html").read_text(encoding="utf-8")


def test_png_format_writes_each_figure(here):
    out = invoke(
        "report",
        "results/tiny-cn",
        "--format",
        "png",
        "--out",
        "slides",
        "--countries",
        "USA",
        "--bootstrap",
        0,
    )
    files = sorted(p.name for p in (here / "slides").iterdir() if p.suffix == ".png")
    assert files == ["exceedance.png", "fan-USA.png", "heatmap.png", "price.png", "tornado.png"]
    for name in files:
        assert (here / "slides" / name).read_bytes()[:4] == b"\x89PNG"
    assert "wrote 5 figures" in out.output
    assert not [p for p in here.iterdir() if p.name.startswith(".slides")]
    # again into the same folder for another country: the earlier report's fan-USA.png
    # goes, a file of the user's stays
    (here / "slides" / "title.png").write_bytes(b"mine")
    invoke("report", "results/tiny-cn", "--format", "png", "--out", "slides", "--countries",
           "JPN", "--bootstrap", 0)
    files = sorted(p.name for p in (here / "slides").iterdir() if p.suffix == ".png")
    assert files == ["exceedance.png", "fan-JPN.png", "heatmap.png", "price.png", "title.png",
                     "tornado.png"]


def test_comparison_needs_the_same_seed(here):
    res = invoke(
        "report", "results/tiny-cn", "other-seed/tiny-cn-stock", "--out", "bad.html", ok=False
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "same seed" in res.output and "--seed 11" in res.output
    assert "add --force to draw it anyway" in " ".join(res.output.split())
    assert not (here / "bad.html").exists()
    # --force draws it anyway, as compare --force does, and says the draws are not paired
    invoke("report", "results/tiny-cn", "other-seed/tiny-cn-stock", "--out", "forced.html",
           "--bootstrap", 0, "--force")
    page = " ".join(html.unescape((here / "forced.html").read_text(encoding="utf-8")).split())
    assert "so draw i of one is not draw i of the other" in page and "seed" in page
    (here / "forced.html").unlink()


def test_comparison_needs_the_same_horizon_and_says_what_else_differs(here, tmp_path):
    """As `compare`: another horizon is refused; an unrelated scenario (no common file)
    and other draw counts are said on the page, not passed off as one policy's effect."""
    text = (here / "scenarios" / "tiny-cn.toml").read_text(encoding="utf-8")
    (here / "scenarios" / "short").mkdir(exist_ok=True)
    (here / "scenarios" / "short" / "tiny").mkdir(exist_ok=True)
    for f in (here / "scenarios" / "tiny").iterdir():
        shutil.copy(f, here / "scenarios" / "short" / "tiny" / f.name)
    for name, edit in (("short", lambda t: t.replace("horizon_months = 12",
                                                     "horizon_months = 6")),
                       ("apart", lambda t: t)):
        (here / "scenarios" / "short" / f"{name}.toml").write_text(
            edit(text).replace('name = "tiny-cn"', f'name = "{name}"'), encoding="utf-8")
    assert "horizon_months = 12" in text
    for name, draws in (("short", DRAWS), ("apart", DRAWS // 2)):
        api.run(f"scenarios/short/{name}.toml", draws=draws, seed=11, progress=False,
                out=tmp_path / name)
    res = invoke("report", "results/tiny-cn", tmp_path / "short", "--out", "bad.html",
                 ok=False)
    assert res.exit_code == 2 and "a horizon of 6 months" in res.output
    assert not (here / "bad.html").exists()
    invoke("report", "results/tiny-cn", tmp_path / "short", "--out", tmp_path / "f.html",
           "--bootstrap", 0, "--force")
    page = " ".join(html.unescape((tmp_path / "f.html").read_text(encoding="utf-8")).split())
    assert "a horizon of 6 months" in page and "not draw i of the other" in page
    invoke("report", "results/tiny-cn", tmp_path / "apart", "--out", tmp_path / "r.html",
           "--bootstrap", 0)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "but no scenario file" in page and "not the effect of one policy" in page
    assert "Policy cost:" in page and "..</p>" not in page  # one full stop, not two
    assert f"only the first {DRAWS // 2:,} are paired" in page
    from simcore.results import compare, load_result

    warned = compare(load_result("results/tiny-cn"), load_result(tmp_path / "apart")).warnings
    assert any("share no scenario file" in w for w in warned)
    assert not any("share no scenario file" in w for w in compare(
        load_result("results/tiny-cn"), load_result("results/tiny-cn-stock")).warnings)
    # compare's table says so in its heading too, not only on stderr (a new-user pass)
    head = invoke("compare", "results/tiny-cn", tmp_path / "apart").stdout.splitlines()[0]
    assert "though the runs share no scenario file" in head
    head = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock").stdout.splitlines()[0]
    assert "share no scenario file" not in head


def test_a_report_into_a_new_folder_says_it_made_the_folder(here):
    """--out into folders that do not exist makes them and says so (once); a report that
    fails makes none."""
    res = invoke("report", "results/tiny-cn", "--countries", "UAS", "--out", "new/x.html",
                 ok=False)
    assert res.exit_code == 2 and not (here / "new").exists()
    res = invoke("report", "results/tiny-cn", "--out", "new/deeper/r.html", "--bootstrap", 0)
    assert (here / "new" / "deeper" / "r.html").is_file()
    assert res.output.strip() == f"wrote {Path('new/deeper/r.html')} (made the folder new)"
    res = invoke("report", "results/tiny-cn", "--out", "new/deeper/r.html", "--bootstrap", 0)
    assert "made the folder" not in res.output
    res = invoke("report", "results/tiny-cn", "--format", "png", "--out", "new/figs",
                 "--bootstrap", 0)
    assert res.output.strip().endswith(f"figures to {Path('new/figs')} "
                                       f"(made the folder {Path('new/figs')})")


def test_a_report_never_replaces_what_is_not_a_report(here):
    """A new-user pass wrote `report R --out R/run.json` (the manifest replaced by HTML,
    `verify` broken) and `--out scenarios/x.toml`; and, following the advice for
    `--out R`, a report inside the results folder, which the next run replaced without
    a word. Each is refused before any work, naming a place beside the folder; a PNG
    file name for the figures' folder too."""
    manifest = (here / "results/tiny-cn/run.json").read_bytes()
    scenario = (here / "scenarios/tiny-cn.toml").read_bytes()
    for out, says in (("results/tiny-cn/run.json", "inside the results folder"),
                      ("results/tiny-cn", "inside the results folder"),
                      ("results/tiny-cn/report.html", "inside the results folder"),
                      ("scenarios/tiny-cn.toml", "exists and is not an HTML file")):
        res = invoke("report", "results/tiny-cn", "--out", out, ok=False)
        text = " ".join(res.output.split())
        assert res.exit_code == 2 and says in text and "Traceback" not in text, out
        if "inside" in says:
            assert f"--out {Path('results/tiny-cn-report.html')}" in text
    assert (here / "results/tiny-cn/run.json").read_bytes() == manifest
    assert (here / "scenarios/tiny-cn.toml").read_bytes() == scenario
    assert not (here / "results/tiny-cn/report.html").exists()
    res = invoke("report", "results/tiny-cn", "--format", "png", "--out",
                 "results/tiny-cn/figs", ok=False)
    assert f"--out {Path('results/tiny-cn-figures')}" in " ".join(res.output.split())
    res = invoke("report", "results/tiny-cn", "--format", "png", "--out", "e.png", ok=False)
    assert "names the folder the figures go into" in " ".join(res.output.split())
    assert not (here / "e.png").exists()
    invoke("verify", "results/tiny-cn")
    res = invoke("report", "results/tiny-cn", "--out", "figs.PNG", ok=False)
    assert "add --format png" in " ".join(res.output.split())
    # from inside the folder, "../x.html" is beside it, not in it; the suggestion says
    # so from there, and the page names the folder, not "."
    os.chdir(here / "results" / "tiny-cn")
    try:
        res = invoke("report", ".", ok=False)
        assert f"--out {Path('../tiny-cn-report.html')}" in " ".join(res.output.split())
        invoke("report", ".", "--out", "../tiny-cn-report.html", "--bootstrap", 0)
    finally:
        os.chdir(here)
    page = (here / "results" / "tiny-cn-report.html").read_text(encoding="utf-8")
    assert "results/tiny-cn" in page and "results .<" not in page
    (here / "results" / "tiny-cn-report.html").unlink()


def test_unknown_country_is_a_clear_error(here):
    res = invoke("report", "results/tiny-cn", "--countries", "UAS", "--out", "x.html", ok=False)
    assert res.exit_code == 2 and "did you mean 'USA'" in res.output
    assert not (here / "x.html").exists()


def test_missing_scenario_file_is_reported(here, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere"
    shutil.copytree(here / "results" / "tiny-cn", moved / "tiny-cn")
    monkeypatch.chdir(tmp_path)
    invoke("report", moved / "tiny-cn", "--out", "r.html", "--bootstrap", 0)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "scenarios/tiny-cn.toml named in the manifest is missing" in page
    assert FIGURES <= set(re.findall(r'<img id="([^"]+)"', page))


def test_origins_without_the_scenario_file_come_from_the_zone_prices(here):
    """Where the scenario file is gone the report finds the controls' origins from the
    prices: zone_prices.parquet gives the countries the shortage table gives."""
    from simcore.report import analysis as an
    from simcore.report import build

    run = build.load_run(here / "results" / "tiny-cn")
    last = an.last_stage_of(run.summary, {})
    fast = build.origins_from_zone_prices(run.path, last)
    slow = build.origins_from_prices(run.frame(), last)
    # (the report uses them as sets: the order may differ)
    assert {m: set(c) for m, c in fast.items()} == {m: set(c) for m, c in slow.items()}
    assert "CHN" in fast["gallium"]


def test_the_first_draws_of_a_run_are_a_run_of_that_many_draws(here):
    """sensitivity --draws N on a run gives what a run of N draws (the same seed) gives:
    draws are keyed by their number, so the first N draws are that run's draws."""
    api.run("scenarios/tiny-cn.toml", draws=60, seed=11, progress=False,
            out="short/tiny-cn")
    whole = json.loads(invoke("sensitivity", "short/tiny-cn", "--format", "json",
                              "--bootstrap", 20).stdout)
    first = json.loads(invoke("sensitivity", "results/tiny-cn", "--draws", 60, "--format",
                              "json", "--bootstrap", 20).stdout)
    every = json.loads(invoke("sensitivity", "results/tiny-cn", "--format", "json",
                              "--bootstrap", 20).stdout)
    assert first == whole and first != every and {r["draws"] for r in first} == {60}
    # more draws than the run holds: every draw, and a note that says so (clipped
    # without a word before)
    more = invoke("sensitivity", "short/tiny-cn", "--draws", 1000, "--format", "json",
                  "--bootstrap", 20)
    assert json.loads(more.stdout) == whole
    assert "note: --draws 1,000 is more than a run holds (short/tiny-cn 60)" in more.stderr
    assert "--draws 1,000 is more" not in invoke("sensitivity", "short/tiny-cn", "--draws",
                                                  60, "--bootstrap", 0).stderr


def test_report_on_the_first_draws_says_which_parts_use_them(here, monkeypatch):
    """report --draws N: the per-draw parts from the first N draws, said in the header and
    where they are; a report too large for the memory free is refused before any figure,
    naming --draws, with nothing written."""
    from simcore.results import aggregate

    Path("scenarios/tiny-cn-cap-first.toml").write_text(
        capacity("tiny-cn.toml", "tiny-cn-cap-first"))
    api.run("scenarios/tiny-cn-cap-first.toml", draws=DRAWS, seed=11, progress=False,
            out="first/tiny-cn-cap")
    api.run("scenarios/tiny-cn-stock.toml", draws=40, seed=11, progress=False,
            out="first/tiny-cn-stock-40")
    variants = ["results/tiny-cn-stock", "first/tiny-cn-cap"]
    invoke("report", "results/tiny-cn", *variants, "--draws", 50, "--out", "first.html",
           "--bootstrap", 20)
    page = html.unescape((here / "first.html").read_text(encoding="utf-8"))
    assert f"{DRAWS} draws (the per-draw parts: the first 50, --draws)" in page
    assert f"The curves take the first 50 of the run's {DRAWS} draws" in page
    assert f"The indices take the first 50 of the run's {DRAWS} draws" in page
    assert f"Only the first 50 of their {DRAWS} draws are compared" in page
    assert f"(50 draws, the first of {DRAWS}, report --draws)" in page
    assert f"The 95th percentile over {DRAWS} draws" in page  # from the summary
    # the policies side by side: compare's numbers on the same first draws
    printed = invoke("compare", "results/tiny-cn", *variants, "--draws", 50).stdout
    row = next(line for line in printed.splitlines()
               if line.strip().startswith("tiny-cn-stock "))
    change = re.search(r"(-?\+?\$[\d.,]+\w* \[[^\]]+\])", row).group(1)
    assert f"tiny-cn-stock</td><td class=\"\">{change}</td>" in page
    # refused where it would not fit; a variant with fewer draws does not make the base
    # hold fewer (the check counts the run that holds the most)
    monkeypatch.setattr(aggregate, "_available_bytes", lambda: 2000)
    for args in (["results/tiny-cn"], ["results/tiny-cn", "first/tiny-cn-stock-40"]):
        refused = invoke("report", *args, "--out", "big.html", ok=False)
        text = " ".join(refused.output.split())
        assert refused.exit_code != 0 and "Traceback" not in refused.output
        assert f"reporting on {DRAWS} draws of" in text and "e.g. --draws" in text
        assert not (here / "big.html").exists()


def test_long_per_draw_work_is_announced_with_the_draws_that_take_seconds(here, monkeypatch):
    """A report or sensitivity expected to take over a minute says so before it starts
    (a new-user pass waited five minutes on a million-draw report with no word of how
    long); the table then says which draws it used."""
    from simcore.report import analysis as an

    monkeypatch.setattr(an, "SECONDS_PER_DRAW_EXPOSURE", 1.0)  # the tiny run as a big one
    res = invoke("sensitivity", "results/tiny-cn", "--draws", 40, "--bootstrap", 0)
    assert "sensitivity on 40 draws a run: about" in res.output
    assert "--draws" not in res.output.split("\n")[0]  # none suggested below 1,000 draws
    assert f"(the first 40 of {DRAWS} draws, sum of first-order indices" in res.output
    # where the work would not fit in memory, the refusal speaks, not the note
    from simcore.results import aggregate

    monkeypatch.setattr(aggregate, "_available_bytes", lambda: 2000)
    refused = invoke("sensitivity", "results/tiny-cn", ok=False)
    assert "draws a run: about" not in refused.output and "e.g. --draws" in refused.output
    monkeypatch.setattr(aggregate, "_available_bytes", lambda: None)
    monkeypatch.setattr(an, "SECONDS_PER_DRAW_EXPOSURE", 1e-12)
    quiet = invoke("sensitivity", "results/tiny-cn", "--bootstrap", 0)
    assert "draws a run: about" not in quiet.output and f"({DRAWS} draws, sum" in quiet.output


def test_the_slow_note_counts_a_variant_at_its_own_rate(here, monkeypatch):
    """A variant costs the report its reading and its comparison, not a run's whole
    per-draw work: the note over-estimated a run and two variants (122 s said, 75 s
    measured)."""
    from simcore.report import analysis as an
    from simcore.results.aggregate import exposure_count

    monkeypatch.setattr(an, "SECONDS_PER_DRAW_EXPOSURE", 1.0)
    monkeypatch.setattr(an, "VARIANT_SECONDS_PER_DRAW_EXPOSURE", 0.25)
    x = exposure_count(load_result("results/tiny-cn"))
    note = an.slow_note(["results/tiny-cn", "results/tiny-cn-stock"], None, "the report")
    assert f"about {DRAWS * x * 1.25 / 60:.0f} minutes" in note


def test_report_without_matplotlib_says_how_to_install(here, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    res = invoke("report", "results/tiny-cn", "--out", "nompl.html", ok=False)
    assert res.exit_code == 2 and 'pip install "matplotlib>=3.8"' in res.output
    assert not (here / "nompl.html").exists()


def test_sensitivity_table_sums_the_indices_as_the_tornado_does(here):
    """The table's 'sum of first-order indices' is the plain sum of the indices json
    gives (negative ones included, as in the tornado's title): it once clipped them at 0,
    which inflated a sum whose excess over 1 the docs read as dependent inputs."""
    import re

    table = invoke("sensitivity", "results/tiny-cn", "--top", 3, "--bootstrap", 0).stdout
    records = json.loads(invoke("sensitivity", "results/tiny-cn", "--top", 3, "--format",
                                "json", "--bootstrap", 0).stdout)
    sums = re.findall(r"^(\S+) / (\S+) / (\S+) .*sum of first-order indices (-?[\d.]+)\)",
                      table, re.M)
    assert sums
    negative = False
    for m, st, c, total in sums:
        idx = [r["index"] for r in records
               if (r["material"], r["stage"], r["country"]) == (m, st, c)
               and r["index"] is not None]
        negative |= any(i < 0 for i in idx)
        assert float(total) == pytest.approx(sum(idx), abs=0.006)
    assert negative, "the case at hand: some index below 0"


def test_sensitivity_folds_buyers_stored_as_one_and_caps_the_drivers(here):
    """Without filters, buyers of one price zone stored as one (the same shares, so the
    same indices) take one block that names the others; --drivers caps each block's
    rows and says how many it left out; csv keeps the documented columns."""
    import re

    from simcore.results import load_result as load

    ex = load(here / "results" / "tiny-cn").table("exposures").to_pandas().astype(str)
    shared = ex[ex["stored_as"] != ex["country"]]
    assert len(shared), "the case at hand: a zone with buyers stored as one"
    every = invoke("sensitivity", "results/tiny-cn", "--top", 1000, "--bootstrap", 0,
                   "--drivers", 2).stdout
    heads = re.findall(r"^(\S+) / (\S+) / (\S+)  \(", every, re.M)
    assert len(heads) == len(set(heads))
    for _, r in shared.iterrows():
        assert (r["material"], r["stage"], r["country"]) not in heads
    assert re.search(r"the same for [A-Z]{3}", every)
    blocks = every.strip().split("\n\n")
    for block in blocks:
        if block.startswith("A sum above 1"):
            continue
        rows = [line for line in block.splitlines()[2:] if not line.startswith("  ...")]
        assert len(rows) <= 2
    assert "more drivers, each at most" in every
    csv = invoke("sensitivity", "results/tiny-cn", "--format", "csv", "--top", 1000,
                 "--bootstrap", 0).stdout.splitlines()
    assert csv[0] == "material,stage,country,driver,index,ci_low,ci_high,bins,draws"


def test_sensitivity_caps_the_worst_exposures_of_one_material(here):
    """Without filters at most --per-material exposures of one material (default 2: a
    material's importers often share their drivers, and the partner study's top 5 were
    four blocks of DyTb); 0 lifts the cap."""
    def materials(*args):
        rows = json.loads(invoke("sensitivity", "results/tiny-cn", "--top", 1000,
                                 "--bootstrap", 0, "--format", "json", *args).stdout)
        heads = list(dict.fromkeys((r["material"], r["stage"], r["country"]) for r in rows))
        return [m for m, _, _ in heads]

    one, default, every = materials("--per-material", 1), materials(), materials(
        "--per-material", 0)
    assert len(one) == len(set(one)) >= 1
    assert max(default.count(m) for m in default) <= 2
    assert len(every) > len(default) >= len(one)


def test_sensitivity_formats_and_filters(here):
    table = invoke(
        "sensitivity",
        "results/tiny-cn",
        "--material",
        "gallium",
        "--country",
        "USA",
        "--bootstrap",
        50,
    ).stdout
    assert table.startswith("gallium / refining / USA")
    assert "event/cn-refining/fired" in table
    assert "event/cn-refining/occurs" not in table  # the flag stands for it
    csv = invoke(
        "sensitivity", "results/tiny-cn", "--format", "csv", "--top", 2, "--bootstrap", 0
    ).stdout.splitlines()
    assert csv[0] == "material,stage,country,driver,index,ci_low,ci_high,bins,draws"
    records = json.loads(
        invoke(
            "sensitivity",
            "results/tiny-cn",
            "--format",
            "json",
            "--country",
            "DEU",
            "--bootstrap",
            30,
        ).stdout
    )
    assert {r["country"] for r in records} == {"DEU"}
    assert all(r["draws"] == DRAWS for r in records)
    assert all(r["ci_low"] <= r["ci_high"] for r in records)
    bad = invoke("sensitivity", "results/tiny-cn", "--material", "galium", ok=False)
    assert bad.exit_code == 2 and "did you mean 'gallium'" in bad.output
    assert "a run holds only the materials its scenario's events" in bad.output


def test_fired_index_agrees_with_direct_group_means(here):
    # Independent check of the join and the estimator on a real run: for the two-valued
    # `fired` flag, Var(E[Y|F]) / Var(Y) computed directly from the two group means of
    # the shortage share differs from the estimator only by its noise correction,
    # (B - 1) MSW / SST ~ (1 - S) / n at B = 2 (< 0.01 here).
    res = load_result(here / "results" / "tiny-cn")
    records = json.loads(
        invoke(
            "sensitivity",
            "results/tiny-cn",
            "--material",
            "gallium",
            "--country",
            "DEU",
            "--format",
            "json",
            "--bootstrap",
            0,
        ).stdout
    )
    index = {r["driver"]: r["index"] for r in records}["event/cn-refining/fired"]
    short = res.shortage
    y = (
        short[(short["material"] == "gallium") & (short["country"] == "DEU")]
        .set_index("draw")["shortage_share"]
        .astype(float)
    )
    fired = res.drivers.set_index("draw")["event/cn-refining/fired"].reindex(y.index)
    ratio = (
        y.groupby(fired).mean().sub(y.mean()).pow(2).mul(y.groupby(fired).size()).sum()
        / ((y - y.mean()) ** 2).sum()
    )
    assert 0.3 < ratio < 1.0  # the event firing is the main driver here
    assert index == pytest.approx(ratio, abs=0.01)
    assert index <= ratio  # the correction only removes noise
    assert np.isfinite(index)


def test_the_page_shows_no_absolute_local_path(study, tmp_path, monkeypatch):
    """Reports are shared: results, scenario and dataset paths are shown relative to the
    working folder (or as .../last/parts), even when given or recorded absolute."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # run from outside the study: the manifest records the scenario by its absolute path
    api.run(
        study / "scenarios" / "tiny-cn.toml",
        draws=40,
        progress=False,
        out=elsewhere / "results" / "tiny-cn",
        command=f"supplyshock run {study / 'scenarios' / 'tiny-cn.toml'} --out "
        f"{elsewhere / 'results'}",
    )
    manifest = load_result(elsewhere / "results" / "tiny-cn").manifest
    assert manifest["scenario"]["path"].startswith(str(study))  # the case at hand
    invoke("report", elsewhere / "results" / "tiny-cn", "--out", elsewhere / "r.html",
           "--bootstrap", 0)
    page = (elsewhere / "r.html").read_text(encoding="utf-8")
    assert str(tmp_path) not in page and str(study) not in page
    assert "results results/tiny-cn" in page  # the header: relative to the working folder
    assert "…/scenarios/tiny-cn.toml" in page  # outside it, and in no repository
    assert "id = &quot;cn-refining&quot;" in page  # the scenario text is still found


def test_absolute_paths_in_a_scenario_files_text_are_not_shown(study, tmp_path, monkeypatch):
    """A stockpile sizing's variant file names the study and the --out folder in its
    comments, absolute where they were given so: the page shows them as shown_path does."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "scenarios").mkdir(parents=True)
    text = (study / "scenarios" / "tiny-cn.toml").read_text(encoding="utf-8")
    (elsewhere / "scenarios" / "tiny").symlink_to(study / "scenarios" / "tiny")
    noted = elsewhere / "scenarios" / "tiny-cn.toml"
    noted.write_text(f"# Study: {study / 'scenarios' / 'tiny-cn.toml'}; draws 40.\n"
                     f"# Command: supplyshock run x.toml --out {tmp_path / 'out'}\n" + text,
                     encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    api.run(noted, draws=40, progress=False, out=elsewhere / "results" / "tiny-cn")
    invoke("report", elsewhere / "results" / "tiny-cn", "--out", elsewhere / "r.html",
           "--bootstrap", 0)
    page = (elsewhere / "r.html").read_text(encoding="utf-8")
    assert str(tmp_path) not in page and str(study) not in page
    assert "# Study: …/scenarios/tiny-cn.toml; draws 40." in page
    assert "--out out" in page  # below the working folder: relative to it


def test_a_path_that_begins_with_the_working_folder_is_not_cut_inside(tmp_path, monkeypatch):
    """A new-user pass made a run with --out /tmp/nu3bout from /tmp/nu3b: the report's
    provenance showed `--out .out`, the working folder matched as the start of a longer
    name. Only a whole path below the working folder is shown relative to it."""
    from simcore.report.build import _shown_text

    here = tmp_path / "nu3b"
    (here / "sub").mkdir(parents=True)
    (tmp_path / "nu3bout").mkdir()
    monkeypatch.chdir(here)
    shown = _shown_text(f"supplyshock run s.toml --out {tmp_path}/nu3bout -q")
    assert "--out …/" in shown and shown.endswith("nu3bout -q"), shown
    assert ".out" not in shown
    assert _shown_text(f"--out {here}/sub -q") == "--out sub -q"
    assert _shown_text(f"--out {here} -q") == "--out . -q"


def test_the_report_says_what_it_is_doing(here):
    """A report takes 15-30 s: on a terminal a status line says which step and which
    figure (a new-user pass saw nothing until it finished); the steps come through the
    ``progress`` callback, silent without one."""
    from simcore.cli.report import _Status
    from simcore.report.build import Options, write_report

    said = []
    write_report("results/tiny-cn", ["results/tiny-cn-stock"], "status.html",
                 Options(n_boot=0), progress=said.append)
    assert said[:2] == ["reading 2 runs",
                        "computing the statistics, the sensitivity and the comparisons"]
    figures = [s for s in said if s.startswith("drawing figure")]
    n = len(re.findall(r'<img id="', (here / "status.html").read_text(encoding="utf-8")))
    assert figures[0].startswith(f"drawing figure 1 of {n} (") and len(figures) == n
    # the tiny dataset's report has too few panels to be worth a worker's start
    assert not [s for s in figures if "processes" in s]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    status = _Status()
    status.stream, status.on = Terminal(), True
    status("drawing figure 1 of 2 (heatmap)")
    status("x")
    status.close()
    text = status.stream.getvalue()
    assert text.startswith("\rreport: drawing figure 1 of 2 (heatmap) (")
    assert text.endswith("\r") and "\rreport: x (" in text


def test_the_status_clock_moves_through_a_long_step(monkeypatch):
    """A new-user pass read "computing ... (48 s)" for minutes: the time shown was when
    the step began. The line is redrawn every second, and not after close."""
    import time

    from simcore.cli.report import _Status

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    status = _Status()
    status("computing")
    time.sleep(2.3)
    status.close()
    text = sys.stderr.getvalue()
    assert text.count("\rreport: computing (") >= 2, text
    shown = {int(t) for t in re.findall(r"computing \((\d+) s\)", text)}
    assert len(shown) >= 2 and max(shown) >= 1 and text.endswith("\r")
    time.sleep(1.2)
    assert sys.stderr.getvalue() == text


def test_a_group_of_the_dataset_stands_for_its_members(here):
    """A new-user pass: `summarize --country EU27` worked, `report --countries EU27` and
    `sensitivity --country EU27` said 'no results for country'. A group of the run's
    dataset now stands for its members with exposures in the run, in any case."""
    from simcore.cli.report import _split_countries
    from simcore.cli.run import _dataset_of

    res = load_result("results/tiny-cn")
    known = set(res.summary["country"].astype(str))
    members = [c for c in _dataset_of(res).groups["partners"] if c in known]
    assert len(members) >= 2
    assert _split_countries("Partners", "results/tiny-cn") == members
    assert _split_countries(f"{members[0]},partners", "results/tiny-cn") == members
    grouped = invoke("sensitivity", "results/tiny-cn", "--country", "partners", "--format",
                     "csv", "--bootstrap", 0).stdout
    listed = invoke("sensitivity", "results/tiny-cn", "--country", ",".join(members),
                    "--format", "csv", "--bootstrap", 0).stdout
    assert grouped == listed
    shown = set(pd.read_csv(io.StringIO(grouped))["country"])
    assert shown and shown <= set(members)
    one = invoke("sensitivity", "results/tiny-cn", "--country", members[0], "--format", "csv",
                 "--bootstrap", 0).stdout
    assert set(pd.read_csv(io.StringIO(one))["country"]) == {members[0]}
    invoke("report", "results/tiny-cn", "--countries", "partners", "--out", "group.html",
           "--bootstrap", 0)
    bad = invoke("sensitivity", "results/tiny-cn", "--country", "partnerz", ok=False)
    assert bad.exit_code == 2 and "no exposure with country 'partnerz'" in bad.output
    # country codes in any case, as summarize takes them
    assert _split_countries(members[0].lower(), "results/tiny-cn") == [members[0]]
    # with --material: the members with exposures of that material (a review found the
    # first member without one refused)
    summary = res.summary.astype({"material": str, "country": str})
    material = summary["material"].iloc[0]
    of = set(summary.loc[summary["material"] == material, "country"])
    assert _split_countries("partners", "results/tiny-cn", material) == [
        c for c in members if c in of]
    some = invoke("sensitivity", "results/tiny-cn", "--material", material, "--country",
                  "partners", "--format", "csv", "--bootstrap", 0).stdout
    assert set(pd.read_csv(io.StringIO(some))["country"]) <= of & set(members)


def test_sensitivity_from_few_draws_says_how_to_read_it(here):
    """Indices from the study's 150 draws come with the note docs/report.md gives (below
    about 500 draws, indices under 0.05 are noise), on stderr: csv stays clean."""
    from simcore.cli.report import FEW_DRAWS

    assert DRAWS < FEW_DRAWS
    res = invoke("sensitivity", "results/tiny-cn", "--format", "csv", "--bootstrap", 0)
    assert f"indices from {DRAWS} draws" in res.stderr and "0.05" in res.stderr
    assert "note:" not in res.stdout


def _figures(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".png"}


def test_worker_processes_draw_the_same_figures(here):
    """matplotlib draws on one core: with --jobs 2 the figures are pickled and drawn by two
    worker processes, byte for byte the figures drawn here."""
    import matplotlib

    from simcore.report.build import Options, write_figures

    said = []
    # with the caller's matplotlib settings (a review: the workers drew with the
    # defaults, and savefig.bbox = "tight" gave other bytes in 8 of 9 figures)
    with matplotlib.rc_context({"savefig.bbox": "tight"}):
        write_figures("results/tiny-cn", ["results/tiny-cn-stock"], "one",
                      Options(n_boot=0, jobs=1))
        write_figures("results/tiny-cn", ["results/tiny-cn-stock"], "two",
                      Options(n_boot=0, jobs=2), progress=said.append)
    write_figures("results/tiny-cn", ["results/tiny-cn-stock"], "plain", Options(n_boot=0))
    one, two = _figures(here / "one"), _figures(here / "two")
    assert len(one) >= 5 and one == two
    assert _figures(here / "plain")["heatmap.png"] != one["heatmap.png"]  # it matters
    drawing = [s for s in said if s.startswith("drawing figure")]
    assert len(drawing) == len(two) and all(s.endswith("; 2 processes)") for s in drawing)


def test_figures_are_drawn_here_when_the_workers_cannot_draw_them(here, monkeypatch):
    """A pool that cannot start (no semaphores in a sandbox), or a worker that fails: the
    figures not yet drawn are drawn in this process, so a real error is raised here."""
    import concurrent.futures

    from simcore.report import render
    from simcore.report.build import Options, write_figures

    write_figures("results/tiny-cn", [], "serial", Options(n_boot=0, jobs=1))
    serial = _figures(here / "serial")

    def no_pool(*args, **kwargs):
        raise OSError(38, "Function not implemented")

    said = []
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    write_figures("results/tiny-cn", [], "nopool", Options(n_boot=0, jobs=2),
                  progress=said.append)
    assert _figures(here / "nopool") == serial
    assert not [s for s in said if "processes" in s]

    # the second figure's worker fails: the first comes from the pool, the rest from here
    real = render.render_png
    calls = []

    def broken(blob, dpi):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a worker died")
        return real(blob, dpi)

    class InProcess(concurrent.futures.Executor):  # a pool that runs in this process
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, fn, *args):
            future = concurrent.futures.Future()
            try:
                future.set_result(broken(*args) if fn is real else fn(*args))
            except Exception as exc:
                future.set_exception(exc)
            return future

    said.clear()
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", InProcess)
    write_figures("results/tiny-cn", [], "half", Options(n_boot=0, jobs=2), progress=said.append)
    assert _figures(here / "half") == serial
    drawing = [s for s in said if s.startswith("drawing figure")]
    assert drawing[0].endswith("; 2 processes)") and drawing[1].endswith("processes)")
    assert not drawing[2].endswith("processes)") and len(drawing) == len(serial) + 1


def test_a_worker_that_does_not_answer_is_stopped_and_its_figures_drawn_here(here,
                                                                             monkeypatch):
    """A worker that hangs: after FIGURE_WAIT seconds on its figure the report draws
    that figure and the rest here, the same bytes, and stops the workers at the end."""
    import concurrent.futures
    import time

    from simcore.report import build, render
    from simcore.report.build import Options, write_figures

    write_figures("results/tiny-cn", [], "serial", Options(n_boot=0, jobs=1))
    serial = _figures(here / "serial")
    real = render.render_png
    stopped = []

    class Hangs(concurrent.futures.Executor):  # the second figure's future never ends
        def __init__(self, *args, **kwargs):
            self.figures = 0
            self._processes = {1: self}

        def submit(self, fn, *args):
            future = concurrent.futures.Future()
            if fn is real:
                self.figures += 1
                if self.figures == 2:
                    return future
                future.set_result(real(*args))
            else:
                future.set_result(fn(*args))
            return future

        def shutdown(self, wait=True, *, cancel_futures=False):
            pass

        def terminate(self):  # as a worker process's
            stopped.append(1)

    said = []
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Hangs)
    monkeypatch.setattr(build, "FIGURE_WAIT", 0.2)
    start = time.monotonic()
    write_figures("results/tiny-cn", [], "hung", Options(n_boot=0, jobs=2), progress=said.append)
    assert time.monotonic() - start < 60
    assert _figures(here / "hung") == serial
    drawing = [s for s in said if s.startswith("drawing figure")]
    assert drawing[0].endswith("; 2 processes)") and drawing[1].endswith("processes)")
    assert not drawing[2].endswith("processes)") and len(drawing) == len(serial) + 1
    assert stopped == [1]  # the hung worker stopped, though the report itself succeeded
