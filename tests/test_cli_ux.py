"""The CLI as a new analyst meets it: bad output paths and damaged results folders give a
one-paragraph message naming the path and the fix, exit status 2, no traceback, and
nothing half-written on disk.

One small run of the tiny dataset (few draws) is made once per module.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from simcore import api
from simcore.cli import main
from tests.conftest import copy_tiny

SCENARIO = """\
[scenario]
name = "tiny-ux"
horizon_months = 6
draws = 40
seed = 5
dataset = "tiny"

[[events]]
id = "cn-refining"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
stage = "refining"
onset_month = 0
duration_months = 4
severity = { dist = "uniform", min = 0.5, max = 1.0 }

[response]
dataset_stocks = "market"  # USA's and JPN's stocks sell into the zone: CHN is never short
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("ux")
    (root / "scenarios").mkdir()
    copy_tiny(root / "scenarios")
    (root / "scenarios" / "tiny-ux.toml").write_text(SCENARIO)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        api.run("scenarios/tiny-ux.toml", draws=40, progress=False, out="results/tiny-ux")
    return root


@pytest.fixture
def here(study, monkeypatch, tmp_path):
    """A fresh working folder holding a copy of the run, so tests can damage it."""
    shutil.copytree(study / "results", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fails_cleanly(*args) -> str:
    """Run the CLI expecting a user error: exit 2, a message, no traceback."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    return result.output


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_report_onto_an_existing_folder_asks_for_a_file_name(here):
    (here / "pages").mkdir()
    out = fails_cleanly("report", "results/tiny-ux", "-o", "pages")
    assert "--out pages" in out and "report.html" in out
    assert list((here / "pages").iterdir()) == []
    assert leftovers(here) == []


@pytest.mark.parametrize("fmt", ["html", "png"])
def test_report_below_a_file_names_the_file(here, fmt):
    (here / "notes").write_text("not a folder")
    out = fails_cleanly("report", "results/tiny-ux", "--format", fmt, "-o", "notes/r")
    assert "notes" in out and "is a file" in out
    assert leftovers(here) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
@pytest.mark.parametrize("fmt", ["html", "png"])
def test_report_to_an_unwritable_place_says_so_before_drawing(here, fmt, monkeypatch):
    from simcore.report import build

    def no_figures(*args, **kwargs):
        raise AssertionError("the figures were drawn before --out was checked")

    monkeypatch.setattr(build, "sections", no_figures)
    out = fails_cleanly("report", "results/tiny-ux", "--format", fmt, "-o", "/proc/ux-nowhere")
    assert "/proc/ux-nowhere" in out and "cannot write" in out


@pytest.mark.parametrize(
    "command",
    [
        ["summarize", "results/tiny-ux", "--by", "material"],
        ["sensitivity", "results/tiny-ux"],
        ["compare", "results/tiny-ux", "results/tiny-ux"],
    ],
)
def test_damaged_table_names_the_file_and_the_way_back(here, command):
    (here / "results" / "tiny-ux" / "shortage.parquet").write_bytes(b"not parquet")
    out = fails_cleanly(*command)
    assert "shortage.parquet" in out
    assert "supplyshock verify" in out


def test_damaged_summary_table_is_a_clear_error(here):
    (here / "results" / "tiny-ux" / "summary.parquet").write_bytes(b"")
    out = fails_cleanly("summarize", "results/tiny-ux")
    assert "summary.parquet" in out


def test_sensitivity_unknown_country_lists_the_countries(here):
    out = fails_cleanly("sensitivity", "results/tiny-ux", "--country", "CHNA")
    assert "did you mean 'CHN'" in out and "countries here:" in out


def test_data_build_never_replaces_a_folder_of_other_files(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    out = fails_cleanly("data", "build", "--out", mine)
    assert "notes.txt" in out and "new folder" in out
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert leftovers(tmp_path) == []


def test_data_build_onto_a_file_keeps_the_file(tmp_path):
    target = tmp_path / "f1"
    target.write_text("mine")
    out = fails_cleanly("data", "build", "--out", target)
    assert "is a file" in out
    assert target.read_text() == "mine"
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_data_build_to_an_unwritable_place_says_so():
    out = fails_cleanly("data", "build", "--out", "/proc/ux-nowhere")
    assert "/proc/ux-nowhere" in out and "cannot write" in out


def test_data_build_may_replace_an_earlier_build(tmp_path):
    target = tmp_path / "d"
    for _ in range(2):
        result = CliRunner().invoke(main, ["data", "build", "--out", str(target)])
        assert result.exit_code == 0, result.output
    assert (target / "datapackage.json").is_file()
    assert leftovers(tmp_path) == []


def test_compare_table_hides_exposures_short_in_neither_run(here):
    # a run of an earlier version, which recorded no costs in run.json
    manifest = json.loads((here / "results" / "tiny-ux" / "run.json").read_text())
    manifest.pop("interventions")
    (here / "results" / "tiny-ux" / "run.json").write_text(json.dumps(manifest))
    args = ["compare", "results/tiny-ux", "results/tiny-ux"]
    full = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    short = [r for r in full if r["base_share_mean"] >= 1e-6 or r["variant_share_mean"] >= 1e-6]
    quiet = len(full) - len(short)
    assert short and quiet, "the tiny run should have both kinds of exposure"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # (a run against itself: said on stderr)
    assert "the same results (the same digest): every change is zero" in result.stderr
    lines = result.stdout.splitlines()
    # title, header, rows (a price zone's countries that read the same folded into one,
    # "DEU +2"), the shortage value and the policy cost, the fold's note, the note
    pattern = r"  \S+\s+\S+\s+[A-Z]{3}(?: \+(\d+))?\s+\d"
    folded = [m for m in (re.match(pattern, line) for line in lines[2:]) if m]
    assert sum(1 + int(m.group(1) or 0) for m in folded) == len(short)
    assert len(folded) < len(short)
    assert len(lines) == 2 + len(folded) + 6
    assert lines[-6].startswith("Shortage value of the final users")
    # (the copy of the results here has no scenario file beside it)
    assert lines[-5].startswith("Policy cost: runs of an earlier version record no costs, "
                                "and the scenario files named in their manifests "
                                "cannot be loaded here, so nothing is said about it (")
    # which files, and how to weigh the cost (a new-user pass lost it by changing folder)
    assert ".toml: not found from the current folder or above the results" in lines[-5]
    assert "run this from that folder" in lines[-5]
    assert lines[-4].startswith("(the interval is the Monte Carlo error of the mean change")
    assert lines[-3].startswith("(P(better), P(worse): the share of the compared draws")
    assert lines[-2].startswith("(+N: that many more countries whose shares are the same")
    assert f"{quiet} exposures short in neither run not shown" in lines[-1]


def test_compare_against_one_draw_says_so_instead_of_nan(study, here):
    from simcore import api

    api.run(str(study / "scenarios" / "tiny-ux.toml"), draws=1, progress=False,
            out="one/tiny-ux")
    result = CliRunner().invoke(main, ["compare", "results/tiny-ux", "one/tiny-ux"])
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output
    assert "only the first draw is compared" in result.output
    assert "pp [one draw: no interval]" in result.output


def _validate(*args):
    return CliRunner().invoke(main, ["validate", *[str(a) for a in args]])


def test_validate_takes_a_folder_like_run(study, tmp_path):
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "good.toml").write_text(SCENARIO.replace('dataset = "tiny"', ""))
    (folder / "typo.toml").write_text(
        SCENARIO.replace('dataset = "tiny"', "").replace('"CHN"', '"CHNA"')
    )
    (folder / "notes.txt").write_text("not a scenario")
    result = _validate(folder)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "ok " in result.output and "good.toml" in result.output
    assert "typo.toml" in result.output and "did you mean 'CHN'" in result.output
    assert "notes.txt" not in result.output
    assert "1 of 2 files with problems" in result.output


def test_validate_names_an_empty_folder(tmp_path):
    result = _validate(tmp_path)
    assert result.exit_code == 2
    assert f"{tmp_path}: no scenario files (*.toml) in this folder" in result.output


def test_validate_prints_a_parent_file_note_once(tmp_path):
    # An event that moves nothing earns a note naming the parent file; every child
    # extending it would repeat it.
    parent = SCENARIO.replace('dataset = "tiny"', "").replace(
        'materials = ["gallium"]', 'materials = ["cobalt"]'
    ).replace('stage = "refining"', 'stage = "mining"')  # China ships no cobalt ore
    (tmp_path / "base.toml").write_text(parent)
    for n in range(3):
        (tmp_path / f"child{n}.toml").write_text(
            f'extends = "base.toml"\n[scenario]\nname = "child{n}"\n'
        )
    result = _validate(*sorted(tmp_path.glob("*.toml")))
    notes = [line for line in result.output.splitlines() if "note:" in line]
    assert notes, result.output
    assert len(notes) == len(set(notes))
    quiet = _validate("-q", *sorted(tmp_path.glob("*.toml")))
    assert quiet.exit_code == 0 and quiet.output == ""  # -q: problems only


def test_validate_counts_in_words(tmp_path):
    (tmp_path / "one.toml").write_text(SCENARIO.replace('dataset = "tiny"', ""))
    result = _validate(tmp_path / "one.toml")
    assert result.exit_code == 0, result.output
    assert "'tiny-ux', 1 event, 0 interventions, 6 months" in result.output


@pytest.mark.parametrize("command", ["summarize", "sensitivity", "report"])
def test_the_out_folder_itself_points_to_the_runs_in_it(here, command):
    out = fails_cleanly(command, "results")
    assert "it has no run.json" in out
    assert "tiny-ux" in out and "name one, e.g. results/tiny-ux" in out


def test_a_scenario_file_given_for_results_or_a_misspelt_one_says_what_to_give(here):
    """A walkthrough gave `compare` a scenario file where results go, `stockpile show` a
    scenario file, and `run` a file ending .tml: each says what it got and what to give."""
    (here / "scenarios").mkdir()
    (here / "scenarios" / "tiny-ux.toml").write_text("# a scenario\n")
    out = fails_cleanly("compare", "results/tiny-ux", "scenarios/tiny-ux.toml")
    assert "scenarios/tiny-ux.toml is a file, not a results folder" in out
    assert "results/tiny-ux/ after `supplyshock run scenarios/tiny-ux.toml`" in out
    out = fails_cleanly("stockpile", "show", "scenarios/tiny-ux.toml")
    assert "scenarios/tiny-ux.toml is a file; give the folder" in out
    out = fails_cleanly("run", "scenarios/tiny-ux.tml")
    assert "no such scenario file or folder (did you mean scenarios/tiny-ux.toml?)" in out
    out = fails_cleanly("run", "scenarios/tiny-xu.toml")
    assert "(did you mean tiny-ux.toml?)" in out


def test_a_missing_results_folder_says_where_runs_go(here):
    out = fails_cleanly("summarize", "nowhere")
    assert "nowhere: no such results folder" in out and "results/<scenario name>" in out
    result = CliRunner().invoke(main, ["verify", "nowhere"])
    assert result.exit_code == 2
    assert "FAILED nowhere: no such results folder" in result.output
    assert result.output.count("nowhere") == 1, result.output  # named once


@pytest.mark.parametrize(
    "args, option",
    [
        (["--draws", "0"], "--draws"),
        (["--draws", "-5"], "--draws"),
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**63)], "--seed"),
        (["--threads", "0"], "--threads"),
        (["--chunk-size", "0"], "--chunk-size"),
    ],
)
def test_out_of_range_run_options_name_the_option(study, tmp_path, args, option):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(study / "scenarios" / "tiny-ux.toml"), "-o", str(out), "-q", *args]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"Invalid value for '{option}'" in result.output and "range" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"draws": 0}, "draws must be a positive"),
        ({"seed": -1}, "seed must be"),
        ({"chunk_size": 0}, "chunk size must be"),
    ],
)
def test_the_library_still_checks_what_the_cli_parser_now_catches(study, kwargs, message):
    from simcore.errors import ResultError

    with pytest.raises(ResultError, match=message):
        api.run(str(study / "scenarios" / "tiny-ux.toml"), progress=False, **kwargs)


# --- a hand-edited run.json -----------------------------------------------------------------


def _edit_manifest(folder: Path, key: str, value) -> None:
    path = folder / "run.json"
    manifest = json.loads(path.read_text())
    node = manifest
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "key, value",
    [
        ("draws", "abc"),
        ("draws", 0),
        ("seed", -3),
        ("seed", True),
        ("horizon", "12"),
        ("labels.country", "CHN"),
        ("scenario", "tiny-ux"),
        ("dataset.hash", None),
        ("digest.tables", ["shortage"]),
        ("files", ["../../etc/passwd"]),
        ("price_usd_per_t", {"gallium": "cheap"}),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["summarize", "results/tiny-ux"],
        ["summarize", "results/tiny-ux", "--by", "country"],
        ["summarize", "results/tiny-ux", "--by", "material"],
        ["compare", "results/tiny-ux", "results/tiny-ux"],
        ["sensitivity", "results/tiny-ux"],
        ["report", "results/tiny-ux", "-o", "r.html"],
    ],
)
def test_an_edited_manifest_is_a_named_error_in_every_command(here, command, key, value):
    _edit_manifest(here / "results" / "tiny-ux", key, value)
    out = fails_cleanly(*command)
    assert "results/tiny-ux/run.json" in out
    assert key.split(".")[0] in out and "run the scenario again" in out
    assert not (here / "r.html").exists()


def test_verify_names_an_edited_manifest(here):
    _edit_manifest(here / "results" / "tiny-ux", "draws", "abc")
    result = CliRunner().invoke(main, ["verify", "results/tiny-ux"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert 'draws = "abc" is not a whole number >= 1 and <= 100,000,000' in result.output


# --- run size: one limit for --draws and the scenario's draws, an estimate before large runs


def test_draws_above_the_scenario_limit_are_refused_on_the_command_line(study, tmp_path):
    from simcore.limits import MAX_DRAWS

    result = CliRunner().invoke(
        main,
        ["run", str(study / "scenarios" / "tiny-ux.toml"), "-o", str(tmp_path / "o"),
         "--draws", str(MAX_DRAWS + 1)],
    )
    assert result.exit_code == 2 and "Invalid value for '--draws'" in result.output
    assert f"1<=x<={MAX_DRAWS}" in result.output
    assert not (tmp_path / "o").exists()
    from simcore.errors import ResultError

    with pytest.raises(ResultError, match="up to 100,000,000"):
        api.check_numbers(MAX_DRAWS + 1, 0, None, 2048)


def test_a_large_run_is_refused_with_its_estimate_unless_asked_for(study, tmp_path, monkeypatch):
    scenario = str(study / "scenarios" / "tiny-ux.toml")
    out = fails_cleanly("run", scenario, "-o", tmp_path / "o", "--draws", 100_000_000)
    assert "tiny-ux.toml: 100,000,000 draws of" in out
    assert "about " in out and "GB" in out and "--yes" in out
    assert not (tmp_path / "o").exists()

    ran = []
    monkeypatch.setattr(api, "execute", lambda prep, **kw: ran.append(kw["draws"]))
    result = CliRunner().invoke(
        main, ["run", scenario, "-o", str(tmp_path / "o"), "--draws", "100000000", "--yes", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert ran == [100_000_000]


def test_scenarios_that_are_large_together_are_refused_together(study, tmp_path):
    """Each scenario's run under the limits, the command's over them: the scenarios run
    one after the other, so `run scenarios/ --draws N` is refused on their sum (a
    walkthrough started 15 replays of a million draws each without a question)."""
    from simcore.limits import LARGE_RUN_BYTES, LARGE_RUN_SECONDS

    folder = tmp_path / "two"
    shutil.copytree(study / "scenarios", folder)
    text = (folder / "tiny-ux.toml").read_text()
    (folder / "tiny-ux-2.toml").write_text(text.replace('name = "tiny-ux"',
                                                       'name = "tiny-ux-2"'))
    prep = api.prepare(folder / "tiny-ux.toml")
    one = api.estimate(prep, draws=1_000_000)
    # draws at which one run takes 60 % of a limit: two take 120 %
    share = max(one.seconds / LARGE_RUN_SECONDS, one.bytes / LARGE_RUN_BYTES)
    draws = int(0.6 * 1_000_000 / share)
    assert not api.estimate(prep, draws=draws).large
    out = fails_cleanly("run", folder / "tiny-ux.toml", folder / "tiny-ux-2.toml",
                        "-o", tmp_path / "o", "--draws", draws)
    assert "the 2 scenarios together: about" in out and "--yes" in out
    assert not (tmp_path / "o").exists()


def test_the_estimate_grows_with_draws_and_months_and_is_generous(study):
    prep = api.prepare(study / "scenarios" / "tiny-ux.toml")
    small = api.estimate(prep, draws=1000, threads=2)
    big = api.estimate(prep, draws=1_000_000, threads=2)
    series = api.estimate(prep, draws=1_000_000, threads=2, timeseries=True)
    assert big.seconds == pytest.approx(1000 * small.seconds)
    assert series.seconds > big.seconds and series.bytes > big.bytes
    assert not big.large and api.estimate(prep, draws=100_000_000, threads=2).large
    # measured on the development machine: about 50,000 draws/s; 2-3 bytes per row in
    # results format 3, up to 8 more for the summary's spill file while the run lasts
    assert small.seconds > 1000 / 50_000 and small.bytes > 1000 * small.exposures * 11
    assert small.text().startswith("about ") and "kB" in small.text()


# --- summarize and sensitivity tables ---------------------------------------------------------


def test_summarize_shows_the_top_rows_with_one_format_per_column(here):
    from simcore.results import load_result

    total = len(load_result("results/tiny-ux").summary)
    full = CliRunner().invoke(main, ["summarize", "results/tiny-ux", "--top", "0"])
    assert full.exit_code == 0, full.output
    rows = full.output.splitlines()[2:-2]  # title, header, rows, the legend, the note
    assert len(rows) == total
    assert full.output.splitlines()[-2].startswith("(share: of the horizon's need lost")
    two = CliRunner().invoke(main, ["summarize", "results/tiny-ux", "--top", "2"]).output
    lines = two.splitlines()
    assert len(lines) == 1 + 1 + 2 + 3 and lines[2:4] == rows[:2]
    assert f"(2 of {total} rows, worst first: --top 0 shows all)" in two
    # every cell of a column in one format: same decimals, no exponent
    header = full.output.splitlines()[1].split()
    cells = [r.split() for r in rows]
    for j, name in enumerate(header):
        column = [c[j] for c in cells if c[j] != "-"]
        assert not any("e+" in c or "e-" in c for c in column), (name, column)
        decimals = {len(c.rstrip("%").split(".")[1]) if "." in c else 0 for c in column
                    if not c.startswith("$")}
        assert len(decimals) <= 1, (name, column)
    records = json.loads(CliRunner().invoke(
        main, ["summarize", "results/tiny-ux", "--format", "json"]).output)
    assert len(records) == total  # csv/json: all rows by default


def test_summarize_top_is_the_worst_rows_in_every_format(here):
    """--top N in csv and json, as in the table: the N worst rows (exposures by mean
    shortage share, price zones by median peak price), not the first N in file order."""
    def rows(*args):
        out = CliRunner().invoke(main, ["summarize", "results/tiny-ux", "--format", "json",
                                        *args])
        assert out.exit_code == 0, out.output
        return json.loads(out.output)

    for extra, key in (((), "share_mean"), (("--prices",), "price_peak_p50")):
        every = rows(*extra)
        values = [r[key] for r in every]
        assert values == sorted(values, reverse=True) and len(set(values)) > 1, (key, values)
        assert rows(*extra, "--top", "2") == every[:2]
        text = CliRunner().invoke(main, ["summarize", "results/tiny-ux", *extra, "--format",
                                         "csv", "--top", "2"]).output
        table = list(csv.DictReader(io.StringIO(text)))
        assert [float(r[key]) for r in table] == pytest.approx(values[:2])


def test_summarize_table_defaults_to_25_rows(here, monkeypatch):
    import pandas as pd

    from simcore import results

    big = pd.concat([results.load_result("results/tiny-ux").summary] * 10, ignore_index=True)
    monkeypatch.setattr(results, "summarize", lambda result, by: big)
    out = CliRunner().invoke(main, ["summarize", "results/tiny-ux"]).output
    assert len(out.splitlines()) == 1 + 1 + 25 + 3
    assert f"(25 of {len(big)} rows" in out


def test_sensitivity_table_says_constant_not_nan(here):
    import numpy as np
    import pandas as pd

    from simcore.report.tables import format_table

    table = pd.DataFrame({
        "material": "gallium", "stage": "refining", "country": "USA",
        "driver": ["event/cn/severity", "event/cn/onset"], "index": [0.61, np.nan],
        "ci_low": [0.5, np.nan], "ci_high": [0.7, np.nan], "bins": [6, 1], "draws": 40,
    })
    text = format_table(table)
    assert "nan" not in text
    assert "event/cn/onset" in text and "constant" in text


def test_validate_notes_a_scenario_whose_own_draws_make_a_large_run(tmp_path):
    (tmp_path / "big.toml").write_text(
        SCENARIO.replace('dataset = "tiny"', "").replace("draws = 40", "draws = 100000000")
    )
    result = _validate(tmp_path / "big.toml")
    assert result.exit_code == 0, result.output
    assert "draws = 100,000,000" in result.output and "--yes" in result.output
    assert _validate("-q", tmp_path / "big.toml").output == ""


# --- the console script's exit ----------------------------------------------------------------


def _entry(tmp_path, before: str, *argv: str) -> subprocess.CompletedProcess:
    """``supplyshock ARGV`` through ``simcore.cli.entry`` in a fresh interpreter, with the
    Python of ``before`` run first."""
    script = tmp_path / "entry.py"
    script.write_text(f"import sys\n{before}\nfrom simcore.cli import entry\n"
                      f"sys.argv = ['supplyshock', *{list(argv)!r}]\nentry()\n")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)


def test_the_console_script_exits_with_the_commands_status_and_runs_the_exit_handlers(tmp_path):
    """entry() skips the interpreter's teardown (os._exit) after the exit handlers and a
    flush: the status, the output on both streams and atexit's work all survive it."""
    from simcore import __version__

    handler = "import atexit\natexit.register(lambda: print('handler ran', flush=False))"
    ok = _entry(tmp_path, handler, "--version")
    assert ok.returncode == 0 and __version__ in ok.stdout and "handler ran" in ok.stdout
    bad = _entry(tmp_path, handler, "run", str(tmp_path / "missing.toml"))
    assert bad.returncode == 2 and "Error:" in bad.stderr and "missing.toml" in bad.stderr
    assert "handler ran" in bad.stdout and "Traceback" not in bad.stderr
    usage = _entry(tmp_path, "", "no-such-command")
    assert usage.returncode == 2 and "No such command" in usage.stderr


def test_the_console_script_waits_for_a_thread_python_would_wait_for(tmp_path):
    """A thread that is not a daemon and still runs when the command is done: the exit
    is Python's own, which waits for it."""
    before = ("import threading, time\n"
              "def late():\n    time.sleep(0.5)\n    print('thread done', flush=True)\n"
              "threading.Thread(target=late).start()")
    out = _entry(tmp_path, before, "--version")
    assert out.returncode == 0 and "thread done" in out.stdout


def test_the_command_reference_lists_every_command_and_option():
    """docs/cli.md is every command's --help, generated (simcore/cli/reference.py): a
    command or option added without regenerating the page fails here. (Checked option by
    option rather than as text, so that another click's line wrapping does not fail it.)"""
    import click

    from simcore.cli import main, reference

    page = reference.PAGE.read_text(encoding="utf-8")
    root = click.Context(main, info_name="supplyshock", **main.context_settings)
    for path, command, ctx in reference._walk(main, root, ["supplyshock"]):
        head = f"## `{' '.join(path)}`"
        assert head in page, f"{head} missing: run `python -m simcore.cli.reference --write`"
        section = page.split(head, 1)[1].split("\n## ", 1)[0]
        # the help option as the command prints it (a new-user pass found -h missing)
        assert ctx.help_option_names == ["-h", "--help"]
        for param in [*command.params, command.get_help_option(ctx)]:
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("-"):
                    # the option itself, not a longer one holding it (-h in --help)
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", section), (
                        f"{' '.join(path)} {opt} is not in docs/cli.md: run "
                        "`python -m simcore.cli.reference --write`")


@pytest.mark.parametrize("args", [
    ["run", "scenarios/partners-2026.toml", "--out", ""],
    ["data", "build", "--out", " "],
    ["report", ".", "--out", ""],
    ["stockpile", "size", "scenarios/partners-2026.toml", "--holders", "USA",
     "--target", "p95<=0.05", "--out", ""],
])
def test_an_empty_out_is_refused_not_read_as_the_current_folder(args, tmp_path,
                                                                  monkeypatch):
    """`--out ""` (an unset shell variable) wrote the results into ./<scenario name>."""
    monkeypatch.chdir(tmp_path)
    root = Path(__file__).resolve().parents[1]
    args = [str(root / a) if a.startswith("scenarios/") else a for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "'--out'" in result.output and "is empty" in result.output, result.output
    assert not any(tmp_path.iterdir())
