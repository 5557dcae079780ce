"""``supplyshock stockpile size | budget | show`` end to end: the variant and its results
folder, read back by pandas and DuckDB, reproduced bit for bit by ``run`` and
``verify``; bad input refused with nothing on disk; the report's page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from simcore.cli import main
from simcore.results import load_result
from simcore.stockpile.target import quantile
from tests.stockpile_worlds import world
from tests.studies import write_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = write_study(tmp_path_factory.mktemp("cli"), {
        "s.toml": world("s", "gallium", '"all"', 0.8, 1.0, 8, 5),
    })
    return root


def _invoke(root: Path, *args):
    import os

    here = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def sized(study):
    res = _invoke(study, "stockpile", "size", "scenarios/s.toml", "--holders", "USA",
                  "--target", "p95<=0.05", "--draws", 150, "--search-draws", 60,
                  "--out", "sp")
    assert res.exit_code == 0, res.output
    return study / "sp" / "s-stockpile-national", res.output


def test_size_writes_a_variant_and_a_results_folder_read_by_pandas_and_duckdb(sized):
    folder, output = sized
    assert "USA" in output and "gallium" in output and "P95 [95% interval]" in output
    # off a terminal (a log), a line per finished placement where a bar is not drawn (a
    # new-user pass saw nothing for 9 minutes with stderr redirected)
    assert re.search(r"stockpile: USA gallium: [\d.,]+ t \(\d+ runs, \d+:\d\d\)", output)
    assert "supplyshock verify sp/s-stockpile-national" in output
    toml = folder.parent / "s-stockpile-national.toml"
    text = toml.read_text()
    assert 'extends = "../scenarios/s.toml"' in text and "draws = 150" in text
    m = json.loads((folder / "stockpile.json").read_text())
    (rec,) = m["recommendation"]
    assert rec["status"] == "ok" and rec["tonnes"] > 0
    sizing = pd.read_parquet(folder / "sizing.parquet")
    assert sizing.loc[0, "tonnes"] == rec["tonnes"]
    search = duckdb.sql(f"select phase, count(*) as n, max(draws) as draws from "
                        f"'{folder}/search.parquet' group by phase order by phase").df()
    assert set(search["phase"]) >= {"search", "full", "rate-search", "rate-full"}
    assert int(search.loc[search["phase"] == "full", "draws"].iloc[0]) == 150
    spill = duckdb.sql(f"select protected, avoided_t from '{folder}/spillover.parquet' "
                       "where protector = 'USA'").df()
    assert set(spill["protected"]) == {"USA", "others"}
    prot = pd.read_parquet(folder / "protection.parquet")
    assert set(prot["scheme"]) == {"none", "national"}
    # the recommendation's statistic, recomputed from the results the run wrote (read as
    # any results format gives them: every draw's row, the float32 shortage share)
    rows = load_result(folder).shortage
    usa = rows[(rows["material"] == "gallium") & (rows["stage"] == "refining")
               & (rows["country"] == "USA")].sort_values("draw")
    assert len(usa) == 150
    share = usa["shortage_share"].to_numpy(np.float32).astype(np.float64)
    assert quantile(share, 0.95) == rec["statistic"]  # bit for bit
    assert rec["statistic"] <= 0.05 < rec["statistic_without"]


def test_run_and_verify_reproduce_the_recommended_variant(sized, study):
    folder, _ = sized
    run = json.loads((folder / "run.json").read_text())
    res = _invoke(study, "run", "sp/s-stockpile-national.toml", "--draws", run["draws"],
                  "--seed", run["seed"], "--out", "again", "-q")
    assert res.exit_code == 0, res.output
    again = json.loads((study / "again" / "s-stockpile-national" / "run.json").read_text())
    assert again["digest"] == run["digest"]
    res = _invoke(study, "verify", "sp/s-stockpile-national")
    assert res.exit_code == 0 and "reproduced" in res.output
    res = _invoke(study, "stockpile", "show", "sp/s-stockpile-national")
    assert res.exit_code == 0 and "p95<=0.05" in res.output and "USA" in res.output
    assert "supplyshock verify sp/s-stockpile-national" in res.output  # not a placeholder
    res = _invoke(study, "stockpile", "show", "sp/nothing-here")
    assert res.exit_code == 2 and "sp/nothing-here: no such folder" in res.output
    # the --out folder instead of the sizing's own: the sizings inside it are named
    res = _invoke(study, "stockpile", "show", "sp")
    assert res.exit_code == 2 and "the --out folder holds" in res.output
    assert "sp/s-stockpile-national" in res.output
    # the variant run into the sizing's own folder would have replaced the sizing's
    # tables (which no run writes again) by plain results: refused
    before = sorted(p.name for p in folder.iterdir())
    res = _invoke(study, "run", "sp/s-stockpile-national.toml", "--draws", run["draws"],
                  "--out", "sp", "-q")
    assert res.exit_code == 2 and "holds a stockpile sizing" in res.output, res.output
    assert sorted(p.name for p in folder.iterdir()) == before


def test_show_names_an_altered_table(sized, study, tmp_path):
    import shutil

    folder, _ = sized
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    pd.read_parquet(copy / "sizing.parquet").assign(tonnes=1.0).to_parquet(
        copy / "sizing.parquet")
    res = CliRunner().invoke(main, ["stockpile", "show", str(copy)])
    assert res.exit_code == 1 and "sizing.parquet was altered" in res.output


def test_verify_checks_the_sizing_beside_the_run(sized, study, tmp_path):
    """A new-user pass halved a recommended tonnage in sizing.parquet, and removed
    stockpile.json, and `verify` said ok both times (it checked the run only)."""
    import shutil

    folder, _ = sized
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    res = _invoke(study, "verify", copy)
    assert res.exit_code == 0, res.output
    assert "reproduced; the stockpile sizing's 4 tables match stockpile.json" in res.output
    pd.read_parquet(copy / "sizing.parquet").assign(tonnes=1.0).to_parquet(
        copy / "sizing.parquet")
    res = _invoke(study, "verify", copy)
    assert res.exit_code == 1
    assert "sizing.parquet was altered since it was written (a table of the stockpile " \
           "sizing, stockpile.json)" in res.output
    (copy / "stockpile.json").unlink()
    res = _invoke(study, "verify", copy)
    assert res.exit_code == 1 and "stockpile.json is missing: the stockpile sizing's " \
        "tables beside the run (sizing.parquet, spillover.parquet, protection.parquet, " \
        "search.parquet) cannot be checked" in res.output
    # a sizing record beside another run of the variant: not the run the sizing wrote
    shutil.copytree(folder, tmp_path / "other")
    record = json.loads((folder / "stockpile.json").read_text())
    record["results"]["digest"] = "0" * 64
    (tmp_path / "other" / "stockpile.json").write_text(json.dumps(record))
    res = _invoke(study, "verify", tmp_path / "other")
    assert res.exit_code == 1 and "the sizing records results digest 0000000000000000" \
        in res.output


def test_a_sizing_moved_with_its_variant_verifies(sized, study, tmp_path, monkeypatch):
    """A new-user pass renamed stockpile/ to sp1/: verify did not find the variant
    beside its results ("scenario file stockpile/....toml not found")."""
    import shutil

    shutil.copytree(study, tmp_path / "copy")
    (tmp_path / "copy" / "sp").rename(tmp_path / "copy" / "sp1")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["verify", "copy/sp1/s-stockpile-national"])
    assert res.exit_code == 0 and "reproduced" in res.output, res.output
    res = CliRunner().invoke(main, ["stockpile", "show", "copy/sp1/s-stockpile-national"])
    assert ("variant: copy/sp1/s-stockpile-national.toml (written as "
            "sp/s-stockpile-national.toml)") in res.output, res.output


def test_suggested_commands_are_quoted_for_the_shell(study):
    """A new-user pass pasted "check with: supplyshock verify sp 2/..." and verified two
    folders that do not exist."""
    res = _invoke(study, "stockpile", "size", "scenarios/s.toml", "--holders", "USA",
                  "--target", "p95<=0.05", "--draws", 60, "--search-draws", 30,
                  "--out", "sp 2", "-q")
    assert res.exit_code == 0, res.output
    res = _invoke(study, "stockpile", "show", "sp 2/s-stockpile-national")
    assert "supplyshock verify 'sp 2/s-stockpile-national'" in res.output
    run = json.loads((study / "sp 2" / "s-stockpile-national" / "run.json").read_text())
    assert run["command"].startswith("supplyshock run 'sp 2/s-stockpile-national.toml' ")


def test_a_quantile_beyond_the_draws_is_warned_about_and_left_unbounded(study):
    """A new-user pass sized for p99.9 on 200 draws: the sizing followed the single worst
    draw, and the interval's upper end (the largest draw) read as a bound."""
    from simcore.stockpile.target import few_draws_note, order_ranks, upper_open

    res = _invoke(study, "stockpile", "size", "scenarios/s.toml", "--holders", "USA",
                  "--target", "p99<=0.05", "--draws", 60, "--search-draws", 30,
                  "--out", "few", "--name", "few")
    assert res.exit_code == 0, res.output
    assert ("Warning: the target p99<=0.05 at 60 draws rests on 0.6 draws beyond it: the "
            "stockpile is sized on the few worst draws, and the 95% interval has no upper "
            "bound; --draws 1,000 or more puts 10 draws beyond it") in res.output
    assert re.search(r"\[\d+\.\d+%, no bound\]", res.output), res.output
    show = _invoke(study, "stockpile", "show", "few/few").output
    assert "rests on 0.6 draws beyond it" in show
    # the rule: no upper bound where even the largest draw covers the quantile with
    # probability below 97.5 %
    assert upper_open(60, 0.99) and not upper_open(1000, 0.99)
    assert order_ranks(1000, 0.99)[1] < 1000 and few_draws_note(1000, 0.99, "x") is None
    assert upper_open(100, 0.97) == (1 - 0.97 ** 100 < 0.975)
    # at exactly 10 draws beyond it, no warning (float rounding: 10,000 x 0.001 and
    # 100 x 0.1 are a hair under 10), and the advice is more than the draws given
    assert few_draws_note(10_000, 0.999, "x") is None and few_draws_note(100, 0.9, "x") is None
    assert few_draws_note(50, 0.8, "x") is None
    assert "--draws 200 or more" in few_draws_note(99, 0.95, "x")


def test_report_gains_the_stockpile_page(sized, study, tmp_path):
    folder, _ = sized
    out = tmp_path / "r.html"
    res = _invoke(study, "report", "sp/s-stockpile-national", "--out", out, "--bootstrap", 0)
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert 'id="fig-stockpile-frontier-s-stockpile-national"' in page
    assert "Stockpile sizing: s-stockpile-national" in page
    assert "Who protects whom" in page


def test_a_missing_sizing_table_is_said_on_the_page_and_a_damaged_record_by_show(
        sized, study, tmp_path):
    import shutil

    folder, _ = sized
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "search.parquet").unlink()
    out = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(copy), "--out", str(out), "--bootstrap", "0"])
    assert res.exit_code == 0, res.output  # the rest of the report still works
    page = out.read_text()
    assert "tables of this folder cannot be read" in page and "search.parquet" in page
    for text, says in (("[]", "not a sizing record"),
                       ('{"format": "supplyshock-stockpile/1"}', "not a complete sizing record")):
        (copy / "stockpile.json").write_text(text)
        res = CliRunner().invoke(main, ["stockpile", "show", str(copy)])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output


def test_budget_quiet_prints_nothing_and_writes_the_allocation(study):
    res = _invoke(study, "stockpile", "budget", "scenarios/s.toml", "--holders", "USA,JPN",
                  "--budget", 2e6, "--steps", 4, "--draws", 80, "--search-draws", 40,
                  "--out", "sp", "-q")
    assert res.exit_code == 0 and res.output == ""
    # without -q and off a terminal, a line a step (a review: nothing at all)
    logged = _invoke(study, "stockpile", "budget", "scenarios/s.toml", "--holders", "USA,JPN",
                     "--budget", 2e6, "--steps", 2, "--draws", 80, "--search-draws", 40,
                     "--out", "sp", "--name", "logged")
    assert re.search(r"stockpile: step 2 of 2: (USA|JPN) gallium \+[\d.,e+]+ t \(\d+ runs",
                     logged.output), logged.output
    folder = study / "sp" / "s-stockpile-budget"
    alloc = duckdb.sql(f"select sum(cost_horizon_usd) from '{folder}/allocation.parquet'")
    assert alloc.fetchall()[0][0] == pytest.approx(2e6)
    front = pd.read_parquet(folder / "frontier.parquet")
    assert list(front["step"]) == [0, 1, 2, 3, 4]
    res = _invoke(study, "verify", "sp/s-stockpile-budget")
    assert res.exit_code == 0, res.output
    # show states the objective before and after as the budget's report does, to four
    # digits (a new-user pass read $1.1bn in one and $1.071bn in the other)
    from simcore.money import usd4

    shown = _invoke(study, "stockpile", "show", "sp/s-stockpile-budget").output
    assert f"{usd4(front['objective'].iloc[0])} -> {usd4(front['objective'].iloc[-1])}" in shown


def test_a_pooled_budget_does_not_silently_replace_a_national_one(study):
    """Both are named <study>-stockpile-budget by default; a review found that a pooled
    budget replaced a national one of the same holders and money without a word. They
    answer different questions: the second is refused, the first kept."""
    args = ["stockpile", "budget", "scenarios/s.toml", "--holders", "USA,JPN", "--budget",
            2e6, "--steps", 2, "--draws", 40, "--search-draws", 20, "--out", "spp", "-q"]
    first = _invoke(study, *args)
    assert first.exit_code == 0, first.output
    record = (study / "spp" / "s-stockpile-budget" / "stockpile.json").read_text()
    assert json.loads(record)["scheme"] == "national"
    pooled = _invoke(study, *args, "--pool")
    assert pooled.exit_code == 2, pooled.output
    assert "holds an earlier sizing for holders USA, JPN, budget $2.0M, national" in \
        pooled.output and "this one is for holders USA, JPN, budget $2.0M, pooled" in \
        pooled.output, pooled.output
    assert (study / "spp" / "s-stockpile-budget" / "stockpile.json").read_text() == record
    kept = _invoke(study, *args, "--pool", "--name", "pooled")
    assert kept.exit_code == 0, kept.output
    assert json.loads((study / "spp" / "pooled" / "stockpile.json").read_text())[
        "scheme"] == "pooled"


def test_a_budget_of_a_few_dollars_is_warned_about(study):
    """A walkthrough typed --budget 1e3 for a thousand million: it ran 20 steps of $50
    without a word. Below $1M the CLI says what the number means, then runs."""
    res = _invoke(study, "stockpile", "budget", "scenarios/s.toml", "--holders", "USA",
                  "--budget", 1e3, "--steps", 2, "--draws", 40, "--search-draws", 20,
                  "--out", "sp", "--name", "few-dollars", "-q")
    assert res.exit_code == 0, res.output
    assert "Warning: --budget 1000 is $1.0k in all, $500 a step" in res.output
    assert "(2e9 is $2bn)" in res.output


def test_a_reserved_sizing_does_not_replace_a_selling_one(sized, study):
    """A walkthrough sized a selling stockpile, then the same with --reserved: the second
    replaced the first without a word, and `show` did not say which was which. The
    reserved one has its own default name now, and show's first line says it."""
    folder, _ = sized
    before = (folder / "stockpile.json").read_text()
    res = _invoke(study, "stockpile", "size", "scenarios/s.toml", "--holders", "USA",
                  "--target", "p95<=0.05", "--reserved", "--draws", 60, "--search-draws",
                  30, "--out", "sp")
    assert res.exit_code == 0, res.output
    reserved = study / "sp" / "s-stockpile-national-reserved"
    assert json.loads((reserved / "stockpile.json").read_text())["reserved"] is True
    assert (study / "sp" / "s-stockpile-national-reserved.toml").is_file()
    assert (folder / "stockpile.json").read_text() == before
    shown = _invoke(study, "stockpile", "show", "sp/s-stockpile-national-reserved").output
    assert "national stockpiles reserved for their holders' own use" in shown.splitlines()[0]
    selling = _invoke(study, "stockpile", "show", "sp/s-stockpile-national").output
    assert "national stockpiles selling into their price zone" in selling.splitlines()[0]


def test_a_sizing_that_replaces_another_says_what_it_replaced(study):
    """A walkthrough's Japan sizing was replaced by a later one of the same name without
    a word: the second run names what was there (holders, target, when)."""
    args = ["stockpile", "size", "scenarios/s.toml", "--target", "p95<=0.05", "--draws", 40,
            "--search-draws", 20, "--out", "sp", "--name", "again"]
    first = _invoke(study, *args, "--holders", "USA")
    assert first.exit_code == 0, first.output
    assert "replaced the sizing" not in first.output
    # another holder under the same name: refused, the first sizing kept (a new-user
    # pass replaced a minutes-long sizing by a quick check of another country)
    record = (study / "sp" / "again" / "stockpile.json").read_text()
    refused = _invoke(study, *args, "--holders", "JPN")
    assert refused.exit_code == 2 and ("sp/again holds an earlier sizing for holders USA, "
                                       "target p95<=0.05 (40 draws, written 20") in \
        refused.output, refused.output
    assert "this one is for holders JPN, target p95<=0.05: give --name to keep both, or " \
        "--force to replace it" in refused.output
    assert (study / "sp" / "again" / "stockpile.json").read_text() == record
    second = _invoke(study, *args, "--holders", "JPN", "--force")
    assert second.exit_code == 0, second.output
    assert ("(replaced the sizing written there before: holders USA, target p95<=0.05, "
            "selling, 40 draws, written 20") in second.output
    assert json.loads((study / "sp" / "again" / "stockpile.json").read_text())["holders"] == {
        "JPN": ["JPN"]}
    # the same question asked again (more draws, the target written otherwise): replaced
    again = [a if a != "p95<=0.05" else "P95 <= 0.050" for a in args]
    third = _invoke(study, *again[:-4], "--draws", 50, *again[-4:], "--holders", "jpn")
    assert third.exit_code == 0 and "replaced the sizing" in third.output, third.output
    # ... but not by a smaller run, nor one of other materials (a review)
    fewer = _invoke(study, *args, "--holders", "JPN")  # 40 draws, after 50
    assert fewer.exit_code == 2 and "this one has fewer draws (40)" in fewer.output
    other = _invoke(study, *args[:-4], "--draws", 50, *args[-4:], "--holders", "JPN",
                    "--materials", "gallium")
    assert other.exit_code == 2 and "this one is for other materials (gallium)" in \
        other.output, other.output


@pytest.mark.parametrize("args, says", [
    (["--holders", "USAA", "--target", "p95<=0.05"], "--holders: unknown holder 'USAA'"),
    (["--holders", "USA", "--materials", "antimony", "--target", "p95<=0.05"],
     "--materials: antimony is not in the scenario"),
    (["--holders", "USA", "--target", "p95<<0.05"], "--target 'p95<<0.05': not a target"),
    (["--holders", "USA", "--target", "p95<=0.001", "--reserved", "--max-release-share",
      "0.01"], "no finite stockpile meets it"),
])
def test_bad_input_is_refused_and_nothing_is_written(study, args, says):
    res = _invoke(study, "stockpile", "size", "scenarios/s.toml", *args, "--draws", 60,
                  "--out", "refused")
    assert res.exit_code == 2
    assert says in res.output
    assert "Traceback" not in res.output
    assert not (study / "refused").exists()


def test_the_variant_may_not_replace_its_study(sized, study):
    """Sizing a variant (itself written by a sizing) under its own name: refused before
    the search, not after it with an extends cycle."""
    folder, _ = sized
    toml = folder.parent / f"{folder.name}.toml"
    text = toml.read_text()
    res = _invoke(study, "stockpile", "size", f"sp/{toml.name}", "--holders", "JPN",
                  "--target", "p95<=0.05", "--draws", 60, "--out", "sp", "--name", folder.name)
    assert res.exit_code == 2 and "is the study (or a file it extends)" in res.output
    assert toml.read_text() == text


def test_negative_budget_is_refused(study):
    res = _invoke(study, "stockpile", "budget", "scenarios/s.toml", "--holders", "USA",
                  "--budget", "-2e9", "--out", "refused")
    assert res.exit_code == 2 and "--budget -2000000000.0: give the money" in res.output
    assert not (study / "refused").exists()


def test_a_failed_write_leaves_nothing_half_written(study, monkeypatch):
    """The variant is written first (its run needs it); when the run fails the variant
    goes again and no results folder appears."""
    import os

    from simcore import api
    from simcore.stockpile import size, write

    monkeypatch.chdir(study)
    s = size("scenarios/s.toml", "JPN", "p95<=0.05", draws=40, search_draws=20,
             progress=False)

    def broken(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(api, "execute", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write(s, "half", name="h")
    assert not os.path.exists("half")
    # a file of that name that a sizing did not write is never replaced
    Path("mine").mkdir()
    Path("mine/h.toml").write_text("[scenario]\nname = 'h'\n")
    monkeypatch.undo()
    monkeypatch.chdir(study)
    from simcore.stockpile import StockpileError

    with pytest.raises(StockpileError, match="was not written by supplyshock stockpile"):
        write(s, "mine", name="h")
    assert Path("mine/h.toml").read_text() == "[scenario]\nname = 'h'\n"


def _sizing(rows, reserved=False, pool=False):
    from types import SimpleNamespace as NS

    problem = NS(prep=NS(name="s"), pool=pool, reserved=reserved, carry=0.02, horizon=24,
                 draws=150, search_draws=60, seed=1, no_need=[], materials=[],
                 holders=[NS(name="USA", via=None), NS(name="JPN", via=None)],
                 tensor=NS(materials=["gallium", "cobalt"]),
                 existing=lambda holder, k: (0.0, 0.0))
    target = NS(text="p95<=0.05", label="P95 shortage share", quantile=0.95, metric="share")
    return NS(problem=problem, target=target, rows=rows, spillover=[], runs=3,
              draws_run=450, seconds=1.0)


def _national(holder, material, tonnes, cost):
    return dict(status="ok", kind="national", holder=holder, material=material,
                tonnes=tonnes, release_t_per_month=tonnes / 6, months_of_need=12.0,
                cost_horizon_usd=cost, statistic=0.04, ci_low=0.03, ci_high=0.05,
                statistic_without=0.2, statistic_all_national=0.01, monotone=True,
                nonmonotone_draws=0)


def test_the_monotonicity_line_gives_its_draws_out_of_all_and_the_rise_as_need():
    """A new-user pass read "114 draws with more shortage at a larger size (at most
    82.4 t)" with no denominator and no scale."""
    from simcore.cli.stockpile import size_report

    row = _national("USA", "gallium", 100.0, 2e6)
    row.update(nonmonotone_draws=12, nonmonotone_max_t=3.0, need_t_per_month=10.0)
    text = size_report(_sizing([row]))
    assert ("Monotonicity (docs/stockpile.md): USA gallium: 12 of 150 draws with more "
            "shortage at a larger size (at most 3.00 t, 1.2 % of horizon need), the target's "
            "statistic monotone") in text
    row.update(monotone=False)
    assert "USA gallium: a larger size missed the target in the search, 12 of 150 draws" \
        in size_report(_sizing([row]))


def test_size_report_totals_the_national_stockpiles_and_says_why_they_may_overshoot():
    """Several holders' national stockpiles: the report adds up what the variant holds
    (tonnes per material, cost), which each holder's row does not show."""
    from simcore.cli.stockpile import size_report

    rows = [_national("USA", "gallium", 100.0, 2e6), _national("JPN", "gallium", 50.0, 1e6),
            _national("USA", "cobalt", 2000.0, 5e7)]
    text = size_report(_sizing(rows))
    assert ("Together, as the variant holds them: 150 t of gallium, 2,000 t of cobalt; "
            "$53.0M.") in text
    assert "can overshoot the target; --pool" in text
    # the legend a new-user pass had to read three times, reworded
    assert ("[95% interval]: the Monte Carlo error of the statistic, estimated from these "
            "draws; the stockpile is the least that meets the target on them") in text
    assert "meets its target alone" in size_report(_sizing(rows, reserved=True))
    assert "Together" not in size_report(_sizing(rows[:1]))


def test_a_stockpile_joining_an_existing_state_stock_says_so():
    """A walkthrough sized Japan's reserved stockpiles and read release rates of 1.7e-10
    t/month: the new stock joins JOGMEC's (one state stock per country) and is released
    at the two rates together, so the rate it adds can be nothing. The table prints ~0
    there and a line names the stock joined and its rate; a rate that is not negligible
    next to the existing one is printed as it is."""
    from simcore.cli.stockpile import size_report

    rows = [dict(_national("JPN", "gallium", 171.0, 7e7), release_t_per_month=1.7e-10),
            dict(_national("JPN", "cobalt", 800.0, 2e7), release_t_per_month=39.0)]
    sizing = _sizing(rows, reserved=True)
    sizing.problem.existing = lambda holder, k: [(39.5, 13.2), (978.0, 326.0)][k]
    text = size_report(sizing)
    table = {ln.split()[1]: ln.split() for ln in text.splitlines()[3:5]}
    assert table["gallium"][3] == "~0"
    assert table["cobalt"][3] == "39.0"
    assert ("released with it, at the two rates together: JPN gallium (39.5 t at 13.2 "
            "t/month), JPN cobalt (978 t at 326 t/month)") in text
    assert "Each joins" not in size_report(_sizing(rows, reserved=True))
    assert "1.7e-10" in size_report(_sizing(rows, reserved=True))


def test_a_selling_stockpile_that_mostly_protects_others_is_pointed_to_reserved():
    """A walkthrough sized Germany's tungsten at 285 months of its need: a stock selling
    into its zone had to supply the zone, and of what it avoided 2 % was Germany's. Below
    a quarter the report says so and names --reserved; not for a reserved sizing, nor
    for a stock whose avoided shortage is mostly its holder's."""
    from simcore.cli.stockpile import size_report

    rows = [_national("DEU", "gallium", 19894.0, 7e8), _national("USA", "cobalt", 50.0, 1e6)]
    sizing = _sizing(rows)
    sizing.spillover = [
        dict(protector="DEU", material="gallium", self=True, protected="DEU", avoided_t=284.0),
        dict(protector="DEU", material="gallium", self=False, protected="others",
             avoided_t=11722.0),
        dict(protector="USA", material="cobalt", self=True, protected="USA", avoided_t=30.0),
        dict(protector="USA", material="cobalt", self=False, protected="others",
             avoided_t=20.0)]
    text = size_report(sizing)
    assert "their own share of it: DEU gallium 2 %);" in text
    assert "USA cobalt" not in text.split("Mostly for others")[1]
    assert "--reserved sizes a stock for the holder's own use" in text
    sizing.problem.reserved = True
    assert "Mostly for others" not in size_report(sizing)
    sizing.problem.reserved = False
    sizing.problem.pool, sizing.problem.holders = True, []
    assert "--pool one shared" not in size_report(sizing)  # it was a --pool run


def test_existing_stocks_joined_follow_the_kind_of_stock(study):
    """The stocks a stockpile joins are the dataset's of the holder, only where the
    stockpile's kind (reserved or selling) is the kind of the study's dataset stocks;
    the tiny dataset's US holds 10 t of gallium released at 1 t/month at most, and the
    study's dataset stocks sell into the market."""
    from simcore.stockpile.problem import setup

    selling = setup(study / "scenarios" / "s.toml", "USA,JPN", draws=20, search_draws=10)
    k = selling.tensor.materials.index("gallium")
    assert selling.existing("USA", k) == (10.0, 1.0)
    assert selling.existing("pool", k) == (16.0, 1.5)
    reserved = setup(study / "scenarios" / "s.toml", "USA", reserved=True, draws=20,
                     search_draws=10)
    assert reserved.existing("USA", k) == (0.0, 0.0)
    # a study that holds a stockpile of its own (selling, certain): joined as well
    from simcore.stockpile.holders import holder_need
    from tests.studies import stockpile

    (study / "scenarios" / "sv.toml").write_text(stockpile("s.toml", "sv"), encoding="utf-8")
    held = setup(study / "scenarios" / "sv.toml", "USA", draws=20, search_draws=10)
    tonnes, rate = held.existing("USA", k)
    assert tonnes == pytest.approx(10.0 + 3 * holder_need(held.tensor, held.holders[0], k))
    assert rate > 1.0
    assert setup(study / "scenarios" / "sv.toml", "USA", reserved=True, draws=20,
                 search_draws=10).existing("USA", k) == (0.0, 0.0)


def test_a_damaged_earlier_sizing_record_does_not_stop_a_new_one(tmp_path):
    """The record of the sizing a run replaces is read for the message only: one that is
    not a sizing's (a list, not JSON, missing) says nothing and stops nothing."""
    from simcore.cli.stockpile import _earlier

    (tmp_path / "stockpile.json").write_text("[1]", encoding="utf-8")
    assert _earlier(tmp_path) is None
    (tmp_path / "stockpile.json").write_text("{", encoding="utf-8")
    assert _earlier(tmp_path) is None
    assert _earlier(tmp_path / "nowhere") is None


def test_a_pooled_sizing_labels_its_rows_and_bounds_its_saving():
    """With --pool the table holds each holder's national stockpile and the pool: a kind
    column says which, and the comparison says that the national sum, each sized alone,
    can overshoot (a walkthrough read 'pooled/national 0.13' as '8x cheaper')."""
    from types import SimpleNamespace as NS

    from simcore.cli.stockpile import size_report

    pool = dict(_national("pool", "gallium", 120.0, 2.4e6), kind="pooled")
    rows = [_national("USA", "gallium", 100.0, 2e6), _national("JPN", "gallium", 50.0, 1e6),
            pool]
    sizing = _sizing(rows, pool=True)
    sizing.problem.materials = [0]
    sizing.problem.material_name = lambda k: "gallium"
    sizing.problem.holders = [NS(name="USA"), NS(name="JPN")]
    text = size_report(sizing)
    lines = text.splitlines()
    assert lines[1] == "holders (2): USA, JPN"
    assert lines[2].split()[:3] == ["kind", "holder", "material"]
    assert lines[3].split()[:2] == ["national", "USA"]
    assert [ln for ln in lines if ln.split()[:2] == ["pooled", "pool"]]
    assert [ln.split() for ln in lines if ln.startswith("  gallium")] == [
        ["gallium", "150", "$3.0M", "120", "$2.4M", "0.80"]]
    assert lines[3].index("gallium") == lines[2].index("material")  # left-aligned
    assert "pooling saves at most what the ratio says" in text
    # whose statistic and need a pool's row gives (a new-user pass could not tell)
    assert "a pool's row: months of all its holders' need together, its statistic the " \
        "worst-off holder's" in text
    reserved = _sizing(rows, pool=True, reserved=True)
    reserved.problem.materials, reserved.problem.holders = [0], sizing.problem.holders
    reserved.problem.material_name = sizing.problem.material_name
    assert "saves at most" not in size_report(reserved)
