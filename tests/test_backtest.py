"""Backtests (simcore/backtest.py, `supplyshock backtest`): the calibration file, the pass
rule, the zone-price multiples, and the fast path of the shipped calibration set.

The full run (2,000 draws per replay) is benchmarks/bench_backtest.py; here every
shipped check must pass at 500 draws, the replays' own seeds (deterministic: the same
draws every run, so this is not a flaky statistical test but the shipped parameters
checked on fewer draws).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simcore import backtest as bt

ROOT = Path(__file__).resolve().parent.parent
HEADER = ",".join(bt.COLUMNS)
ROW = 'x,ree-heavy-2025,ree_dytb,refining,ex-CHN,0,1,2.3,3.6,"Dy oxide",Argus\n'


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "backtests.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_calibration_set_is_read_with_sources():
    checks = bt.load_checks(ROOT / "scenarios" / "backtests.csv")
    assert len(checks) == 12
    assert {c.replay for c in checks} == {"ree-heavy-2025", "ga-ge-licence-2023",
                                          "antimony-2024", "drc-cobalt-2025"}
    assert all(c.source and c.low < c.high for c in checks)
    china = next(c for c in checks if c.check == "ree-china")
    assert (china.first, china.last, china.zone) == (1, 5, "CHN")
    # every replay named exists, as the command reads it
    assert all((ROOT / "scenarios" / f"{c.replay}.toml").exists() for c in checks)


@pytest.mark.parametrize("body, expect", [
    ("x,r,m,s,z,0,1,2,1,o,src\n", "low = 2.0 is above high = 1.0"),
    ("x,r,m,s,z,0,3-1,1,2,o,src\n", "runs backwards"),
    ("x,r,m,s,z,-1,1,1,2,o,src\n", "effect_month = '-1' must be >= 0"),
    ("x,r,m,s,z,0,1,abc,2,o,src\n", "low = 'abc' is not a number"),
    ("x,r,m,s,z,0,1,0,2,o,src\n", "must be a positive price multiple"),
    ("x,r,m,s,,0,1,1,2,o,src\n", "zone is empty"),
    (ROW + ROW, "appears twice"),
])
def test_a_bad_calibration_row_is_named_by_file_and_line(tmp_path, body, expect):
    path = _write(tmp_path, HEADER + "\n" + body)
    with pytest.raises(bt.BacktestError) as exc:
        bt.load_checks(path)
    text = "\n".join(exc.value.problems)
    assert expect in text
    assert f"{path}:{3 if 'twice' in expect else 2}:" in text
    assert expect in str(exc.value)  # what the CLI prints lists them too


def test_a_calibration_file_without_a_column_says_which(tmp_path):
    path = _write(tmp_path, HEADER.replace(",zone", "") + "\n")
    with pytest.raises(bt.BacktestError, match="missing column.*zone"):
        bt.load_checks(path)
    with pytest.raises(bt.BacktestError, match=r"nope.csv: no such calibration file \(--checks\)"):
        bt.load_checks(tmp_path / "nope.csv")


def test_without_the_shipped_calibration_file_the_message_asks_for_one(tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(bt, "default_checks_path", lambda: tmp_path / "backtests.csv")
    with pytest.raises(bt.BacktestError, match="no calibration file; give one with --checks"):
        bt.load_checks()


def test_an_installed_package_finds_the_checkout_around_the_working_folder(tmp_path,
                                                                           monkeypatch):
    """A new-user pass ran `supplyshock backtest` from scenarios/ after `pip install .`:
    'no calibration file'. The checkout's file is looked for in the folders above."""
    monkeypatch.setattr(bt, "__file__", str(tmp_path / "site" / "simcore" / "backtest.py"))
    (tmp_path / "repo" / "scenarios" / "deep").mkdir(parents=True)
    (tmp_path / "repo" / "scenarios" / "backtests.csv").write_text(HEADER + "\n")
    monkeypatch.chdir(tmp_path / "repo" / "scenarios" / "deep")
    assert bt.default_checks_path() == tmp_path / "repo" / "scenarios" / "backtests.csv"
    monkeypatch.chdir(tmp_path)
    assert bt.default_checks_path() == Path("scenarios") / "backtests.csv"


def _check(low=1.2, high=1.6, first=1, last=1):
    return bt.Check("c", "r", "m", "s", "z", 0, first, last, low, high, "", "src")


def test_the_pass_rule_reads_midpoint_median_and_spread():
    check = _check()  # midpoint 1.4, widened range 1.1-1.7
    assert bt.judge(check, np.linspace(1.2, 1.6, 101)).passed
    low = bt.judge(check, np.linspace(1.0, 1.3, 101))  # midpoint above P95
    assert not low.passed and any("midpoint" in f for f in low.failures)
    # P50 at 1.75: outside the widened range although the midpoint lies in P5-P95
    wide = bt.judge(check, np.r_[np.full(30, 1.3), np.full(71, 1.75)])
    assert any("P50 outside" in f for f in wide.failures)
    spread = bt.judge(check, np.linspace(0.6, 2.4, 101))  # P95/P5 > 3
    assert any("P95/P5" in f for f in spread.failures)
    # the widening is 25 % of the range's width, on each side
    assert check.widened == pytest.approx((1.1, 1.7))


def test_zone_multiples_divide_by_the_month_before_the_effect():
    class Zones:
        name = ("ex-CHN", "CHN")
        material_name = ("gallium", "gallium")
        stage_name = ("refining", "refining")

    series = np.ones((3, 2, 6), dtype=np.float32)
    series[:, 0, 0] = [1.1, 1.2, 1.25]  # the announcement month
    series[:, 0, 2] = [2.2, 2.4, 2.5]
    check = bt.Check("c", "r", "gallium", "refining", "ex-CHN", 1, 1, 1, 1, 2, "", "")
    np.testing.assert_allclose(bt.zone_ratios(check, Zones, series, 6)[:, 0], [2, 2, 2],
                               rtol=1e-6)
    at_start = bt.Check("c", "r", "gallium", "refining", "ex-CHN", 0, 2, 2, 1, 2, "", "")
    np.testing.assert_allclose(bt.zone_ratios(at_start, Zones, series, 6)[:, 0],
                               [2.2, 2.4, 2.5], rtol=1e-6)
    wrong = bt.Check("c", "r", "gallium", "refining", "ex-CN", 1, 1, 1, 1, 2, "", "")
    with pytest.raises(bt.BacktestError, match="did you mean 'ex-CHN'"):
        bt.zone_ratios(wrong, Zones, series, 6)
    late = bt.Check("c", "r", "gallium", "refining", "CHN", 1, 5, 5, 1, 2, "", "")
    with pytest.raises(bt.BacktestError, match="past the replay's horizon"):
        bt.zone_ratios(late, Zones, series, 6)


@pytest.fixture(scope="module")
def fast_backtest():
    """The shipped calibration set at 500 draws per replay."""
    return bt.run(bt.load_checks(ROOT / "scenarios" / "backtests.csv"), 500)


def test_every_shipped_check_passes_on_the_fast_path(fast_backtest):
    failed = [(o.check.check, o.p5, o.p50, o.p95, o.failures) for o in fast_backtest
              if not o.passed]
    assert not failed
    assert all(o.draws == 500 for o in fast_backtest)


def test_the_shipped_calibration_file_is_said_to_be_the_fitted_set():
    """A new-user pass read '12 of 12 checks pass' as validation: with the shipped file
    the table says the checks are the set the parameters were fitted to."""
    done = subprocess.run([sys.executable, "-m", "simcore", "backtest", "drc-cobalt-2025",
                           "--draws", "50", "-q"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr
    assert "as a multiple of its price the month before the control" in done.stdout
    assert "passing them is consistency, not a forecast test" in done.stdout


def test_the_command_prints_the_table_and_its_exit_status_says_pass(tmp_path):
    # one replay, the fast path's draws: the table and the exit status; a failing check exits 1
    bad = tmp_path / "backtests.csv"
    rows = pd.read_csv(ROOT / "scenarios" / "backtests.csv")
    rows = rows[rows.replay == "drc-cobalt-2025"].copy()
    rows.loc[rows.check == "co-1", ["low", "high"]] = (5.0, 6.0)  # far from the model
    rows.to_csv(bad, index=False)
    for name in ("drc-cobalt-2025.toml",):
        (tmp_path / name).write_text((ROOT / "scenarios" / name).read_text("utf-8"), "utf-8")
    cmd = [sys.executable, "-m", "simcore", "backtest", "--checks", str(bad), "--draws",
           "500", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "co-1" in done.stdout and "FAIL" in done.stdout and "co-8" in done.stdout
    assert "1 of 2 checks pass (500 draws per replay, each replay's own seed" in done.stdout
    # with fewer draws than the default, a failure says the seed can decide near the limit
    assert "can pass or fail with the seed" in done.stdout
    # the unit of the numbers and what passing means, under the table
    assert "as a multiple of its price the month before the control" in done.stdout
    # (a calibration file of one's own is not the set the parameters were fitted to)
    assert "passing them is consistency" not in done.stdout
    done = subprocess.run(cmd + ["no-such-replay"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 2 and "has no check in the calibration file" in done.stderr


def test_the_cli_refuses_a_seed_run_refuses_and_lists_a_bad_files_problems(tmp_path):
    from click.testing import CliRunner

    from simcore.cli import main
    from simcore.limits import MAX_SEED

    r = CliRunner().invoke(main, ["backtest", "-q", "--seed", str(MAX_SEED), "x"])
    assert r.exit_code == 2 and "Invalid value for '--seed'" in r.output
    path = _write(tmp_path, HEADER + "\nx,r,m,s,z,0,1,2,1,o,src\nx2,r,m,s,z,0,1,abc,2,o,src\n")
    r = CliRunner().invoke(main, ["backtest", "-q", "--checks", str(path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "2 problems" in r.output and "low = 2.0 is above high = 1.0" in r.output
    assert "low = 'abc' is not a number" in r.output
