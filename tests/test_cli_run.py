"""`supplyshock run | summarize | compare | verify` end to end, with the real engine on
the tiny dataset (tests/data/tiny) and small draws.

Each study lives in ``tmp_path`` (scenario files beside a copy of the tiny dataset) and
the tests run from there, so the manifest records relative paths as in a repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from simcore import api
from simcore.cli import main
from simcore.dataset import load_dataset
from simcore.errors import ResultError
from simcore.results import MANIFEST, METADATA_KEY, combine_digests, file_digest, load_result
from tests.studies import CN_REFINING, capacity, cli_argv, stockpile, write_study


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A study folder with scenarios/ and the tiny dataset; the working folder."""
    root = write_study(
        tmp_path / "study",
        {
            "tiny-cn.toml": CN_REFINING.format(name="tiny-cn"),
            "tiny-cn-stock.toml": stockpile("tiny-cn.toml", "tiny-cn-stock"),
        },
    )
    monkeypatch.chdir(root)
    return root


def invoke(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok and result.exit_code != 0:
        raise AssertionError(f"exit {result.exit_code}: {result.output}\n{result.exception!r}")
    return result


def engine_chunks(path, draws, seed, chunk_size=16, timeseries=False):
    from simcore.engine import exposures, simulate

    prep = api.prepare(path)
    ex = exposures(prep.tensor, prep.compiled)
    chunks = list(
        simulate(
            prep.tensor,
            prep.compiled,
            draws=draws,
            seed=seed,
            chunk_size=chunk_size,
            timeseries=timeseries,
        )
    )
    return prep, ex, chunks


def test_a_failed_write_stops_the_engine_at_once(study, tmp_path):
    """The engine computes the next block while a chunk is written: when the writer
    fails, write_chunks closes the engine's chunks, so no kernel thread goes on computing
    (nor holds its arrays) while the error is handled."""
    import threading

    from simcore.engine import exposures, simulate, zones
    from simcore.errors import ResultError
    from simcore.results.layout import Layout
    from simcore.results.writer import write_chunks

    prep = api.prepare("scenarios/tiny-cn.toml")
    c = prep.compiled
    layout = Layout.from_exposures(prep.tensor, c, exposures(prep.tensor, c),
                                   zones(prep.tensor, c))
    chunks = simulate(prep.tensor, c, draws=400, seed=3, chunk_size=40, threads=2)
    meta = api.provenance(prep, 100, 3, False, "test")
    with pytest.raises(ResultError, match="executor delivered") as caught:
        write_chunks(tmp_path, layout, chunks, meta, 100)  # 400 come, 100 expected
    assert caught.value is not None  # the error (and its traceback) still held
    assert not [t for t in threading.enumerate() if t.name.startswith("supplyshock-kernel")]


def test_chunk_size_defaults_to_the_executors(study, monkeypatch):
    """Without a chunk size the local engine runs blocks of LOCAL_CHUNK_SIZE draws and
    another executor is asked for tasks of TASK_CHUNK_SIZE; a given one reaches either."""
    from simcore import engine

    asked = []
    simulate = engine.simulate

    def local(*args, chunk_size, **kw):
        asked.append(("local", chunk_size))
        return simulate(*args, chunk_size=chunk_size, **kw)

    def elsewhere(tensor, compiled, *, chunk_size, progress=None, **kw):
        asked.append(("elsewhere", chunk_size))
        return simulate(tensor, compiled, chunk_size=chunk_size, **kw)

    monkeypatch.setattr(engine, "simulate", local)
    prep = api.prepare("scenarios/tiny-cn.toml")
    api.execute(prep, draws=3, progress=False)
    api.execute(prep, draws=3, progress=False, executor=elsewhere)
    api.execute(prep, draws=3, progress=False, chunk_size=2, executor=elsewhere)
    api.execute(prep, draws=3, progress=False, chunk_size=2)
    assert asked == [("local", api.LOCAL_CHUNK_SIZE), ("elsewhere", api.TASK_CHUNK_SIZE),
                     ("elsewhere", 2), ("local", 2)]
    assert api.LOCAL_CHUNK_SIZE == 1024 and api.TASK_CHUNK_SIZE == 2048


def stacked(chunks, field):
    return np.concatenate([getattr(c, field) for c in chunks])


# --- the tables hold what the engine computed --------------------------------------------------


def test_run_writes_the_engines_numbers(study):
    out = invoke(
        "run",
        "scenarios/tiny-cn.toml",
        "--draws",
        48,
        "--seed",
        5,
        "--chunk-size",
        20,
        "--out",
        "results",
    )
    assert "tiny-cn: 48 draws, seed 5" in out.output and "Worst exposures" in out.output
    folder = study / "results" / "tiny-cn"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["run.json", "shortage.parquet", "drivers.parquet", "summary.parquet", "monthly.parquet",
         "prices.parquet", "zone_prices.parquet", "exposures.parquet"]
    )
    assert not [p for p in (study / "results").iterdir() if p.name.startswith(".")]

    prep, ex, chunks = engine_chunks("scenarios/tiny-cn.toml", 48, 5)
    X = len(ex.need_t)
    res = load_result(folder)
    frame = res.shortage
    assert len(frame) == 48 * X  # every draw has its rows, fired or not
    shortage = stacked(chunks, "shortage_t")
    assert shortage.max() > 0 and (shortage.sum(axis=1) == 0).any()  # some draws quiet
    np.testing.assert_array_equal(  # stored
        frame["shortage_share"].to_numpy().reshape(48, X), (shortage / ex.need_t).astype(np.float32)
    )
    np.testing.assert_allclose(  # derived: share x need (docs/results.md, format 4)
        frame["shortage_t"].to_numpy().reshape(48, X), shortage, rtol=2.4e-7
    )
    np.testing.assert_array_equal(
        frame["months_short"].to_numpy().reshape(48, X), stacked(chunks, "months_short")
    )
    first = stacked(chunks, "first_short")
    got_first = frame["first_short_month"].to_numpy(dtype=float, na_value=-1).reshape(48, X)
    np.testing.assert_array_equal(got_first, first)
    np.testing.assert_array_equal(
        frame["price_index_peak"].to_numpy().reshape(48, X),
        stacked(chunks, "price_peak").astype(np.float32),
    )
    labels = [
        (prep.tensor.materials[k], prep.tensor.stages[k][s], prep.tensor.countries[i])
        for k, s, i in zip(ex.material, ex.stage, ex.country, strict=True)
    ]
    first_rows = frame.head(X)
    assert (
        list(
            zip(
                first_rows["material"].astype(str),
                first_rows["stage"].astype(str),
                first_rows["country"].astype(str),
                strict=True,
            )
        )
        == labels
    )

    # DuckDB reads the same numbers: the stored rows directly (sums over them are sums
    # over draws of the exposures stored as themselves), every draw through the view of
    # docs/results.md
    from simcore.results import SHORTAGE_VIEW_SQL

    exposures = res.table("exposures").to_pandas()
    own = (exposures["stored_as"].astype(str) == exposures["country"].astype(str)).to_numpy()
    assert 0 < own.sum() < X  # tiny-cn's zones have buyers stored once
    con = duckdb.connect()
    stored = con.execute(
        f"select sum(shortage_share::double), count(*), count(first_short_month) "
        f"from '{folder}/shortage.parquet'"
    ).fetchone()
    share = (shortage / ex.need_t).astype(np.float32)
    assert stored[0] == pytest.approx(float(share[:, own].astype(np.float64).sum()))
    assert stored[1] < 48 * own.sum() and stored[2] == int((first[:, own] >= 0).sum())
    con.execute(SHORTAGE_VIEW_SQL.format(folder=folder.as_posix()))
    total = con.execute(
        "select sum(shortage_t::double), count(*), count(first_short_month) from shortage"
    ).fetchone()
    assert total[0] == pytest.approx(float(shortage.sum()), rel=1e-6)
    assert total[1] == 48 * X and total[2] == int((first >= 0).sum())
    by_country = dict(
        con.execute(
            "select country, sum(shortage_value_usd::double) from shortage group by country"
        ).fetchall()
    )
    pandas_sum = frame.groupby("country", observed=True)["shortage_value_usd"].sum()
    for c, v in by_country.items():
        assert v == pytest.approx(float(pandas_sum[c]), rel=1e-6)

    drivers = res.drivers
    np.testing.assert_array_equal(
        drivers[list(prep.compiled.var_name)].to_numpy(), stacked(chunks, "variates")
    )
    fired = stacked(chunks, "fired")[:, 0]
    assert drivers["event/cn-refining/fired"].to_numpy().tolist() == fired.tolist()

    # provenance in run.json and in every Parquet file
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["seed"] == 5 and manifest["draws"] == 48
    assert manifest["scenario"]["path"] == "scenarios/tiny-cn.toml"
    assert manifest["scenario"]["hash"] == prep.compiled.scenario_hash
    assert manifest["dataset"]["hash"] == prep.tensor.hash
    assert {"numba", "numpy", "pyarrow", "supplyshock"} <= set(manifest["versions"])
    assert manifest["command"].startswith("supplyshock run scenarios/tiny-cn.toml")
    for name in manifest["files"]:
        meta = json.loads(pq.ParquetFile(folder / name).metadata.metadata[METADATA_KEY])
        assert meta["scenario"] == manifest["scenario"] and meta["seed"] == 5

    # summary: statistics over draws of the stored rows
    summary = res.summary
    assert len(summary) == X
    share = frame["shortage_share"].to_numpy().reshape(48, X).astype(np.float64)
    np.testing.assert_allclose(summary["share_mean"], share.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(summary["share_p95"], np.quantile(share, 0.95, axis=0), rtol=1e-12)


def test_monthly_quantiles_match_the_time_series(study):
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 60, "--timeseries", "-q")
    res = load_result("results/tiny-cn")
    series = res.timeseries["shortage_share"].to_numpy()
    X = res.manifest["exposures"]
    H = res.manifest["horizon"]
    series = series.reshape(60, X, H).astype(np.float64)
    monthly = res.monthly
    assert len(monthly) == X * H
    ordered = np.sort(series, axis=0)
    for q, col in ((0.05, "share_p5"), (0.5, "share_p50"), (0.95, "share_p95")):
        # the histogram quantile lies in the bin of one of the two order statistics that
        # numpy's quantile interpolates between: within a bin width (0.01) of them
        lo = int(np.floor(q * 59))
        got = monthly[col].to_numpy().astype(np.float64)
        assert (got >= ordered[lo].ravel() - 0.01 - 1e-6).all(), col
        assert (got <= ordered[lo + 1].ravel() + 0.01 + 1e-6).all(), col
    np.testing.assert_allclose(
        monthly["prob_short"], (series > 0.01).mean(axis=0).ravel(), atol=1e-6
    )
    assert monthly["prob_short"].max() > 0


# --- reproducibility ---------------------------------------------------------------------------


def test_digest_is_the_same_across_runs_threads_and_chunks(study):
    invoke(
        "run",
        "scenarios/tiny-cn.toml",
        "--draws",
        50,
        "--threads",
        1,
        "--chunk-size",
        50,
        "--out",
        "a",
        "-q",
    )
    invoke(
        "run",
        "scenarios/tiny-cn.toml",
        "--draws",
        50,
        "--threads",
        2,
        "--chunk-size",
        7,
        "--out",
        "b",
        "-q",
    )
    a = load_result("a/tiny-cn").manifest["digest"]
    b = load_result("b/tiny-cn").manifest["digest"]
    assert a == b
    invoke(
        "run",
        "scenarios/tiny-cn.toml",
        "--draws",
        50,
        "--threads",
        1,
        "--chunk-size",
        50,
        "--out",
        "a",
        "-q",
    )  # again, over the first: replaced, same digest
    assert load_result("a/tiny-cn").manifest["digest"] == a
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 50, "--seed", 12, "--out", "c", "-q")
    assert load_result("c/tiny-cn").manifest["digest"]["sha256"] != a["sha256"]


def test_more_threads_than_cores_run_as_many_as_cores_and_say_so(study):
    """--threads 100000 ran each block's draws on as many threads, a quarter slower,
    without a word."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    r = invoke("run", "scenarios/tiny-cn.toml", "--draws", 20, "--threads", 100000,
               "--out", "many", "-q")
    assert f"note: --threads 100,000 is more than the {cores} cores" in r.stderr, r.stderr
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 20, "--threads", 1, "--out", "one",
           "-q")
    assert (load_result("many/tiny-cn").manifest["digest"]
            == load_result("one/tiny-cn").manifest["digest"])


def test_verify_names_edited_run_metadata_outside_the_digest(study):
    """run.json's material scope (or another key the run derives from its scenario and
    dataset) edited by hand: the digest does not cover it, the re-run's manifest does."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 10, "-q")
    path = study / "results" / "tiny-cn" / "run.json"
    manifest = json.loads(path.read_text())
    manifest["material_scope"] = ["unobtanium"]
    path.write_text(json.dumps(manifest, indent=1))
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1 and "material_scope differs from what a re-run records" in (
        bad.output)


def _edited_run(study, name: str, edit, *run_args):
    """Run scenarios/NAME.toml with ``run_args``, then edit its run.json by ``edit``
    (a function of the manifest), as a user's hand would."""
    invoke("run", f"scenarios/{name}.toml", *run_args, "-q")
    path = study / "results" / name / "run.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=1))
    return path, manifest


def test_verify_names_edited_draws_without_a_re_run(study):
    """run.json's draws edited by hand: the stored tables hold the other number of draws,
    which verify says instead of re-running and listing every table as different."""
    _edited_run(study, "tiny-cn", lambda m: m.update(draws=8), "--draws", 10)
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1, bad.output
    assert "draws = 8, but drivers.parquet holds 10 draws" in bad.output
    assert "set draws back to 10" in bad.output and "re-run" not in bad.output


def test_verify_reads_interventions_recorded_without_their_probability(study):
    """run.json's interventions record their probability since 2026-12-02: a folder of
    an earlier version, without it, still verifies; an edited cost does not."""
    def strip(manifest):
        assert all("probability" in i for i in manifest["interventions"])
        for i in manifest["interventions"]:
            del i["probability"]

    path, manifest = _edited_run(study, "tiny-cn-stock", strip, "--draws", 10)
    assert "reproduced" in invoke("verify", "results/tiny-cn-stock").output
    manifest["interventions"][0]["cost_usd"] = 1.0
    path.write_text(json.dumps(manifest, indent=1))
    bad = invoke("verify", "results/tiny-cn-stock", ok=False)
    assert "interventions differs from what a re-run records" in bad.output


def test_verify_names_an_edited_seed(study):
    """run.json's seed edited by hand: a new-user pass read 'a re-run gives different
    shortage, drivers, ...' and 25 columns of differences, which look like
    non-determinism. The stored draws' sampled values are not the seed's: said so."""
    _edited_run(study, "tiny-cn", lambda m: m.update(seed=43), "--draws", 40, "--seed", 42)
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1, bad.output
    assert "the stored draws are not those of seed 43" in bad.output
    assert "the manifest's seed was edited" in bad.output
    # written again as it was: verified
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 40, "--seed", 42, "-q")
    assert "reproduced" in invoke("verify", "results/tiny-cn").output


def test_verify_says_when_the_sampled_values_differ_only_by_rounding(study):
    """A run made where exp or log rounded otherwise (an engine that called the math
    library's, on a CPU without FMA) differs from its re-run in the last bits of a few
    sampled values: verify still fails, and says that the difference is rounding, not
    another model or other draws. A larger difference in the same table is not called
    rounding."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "-q")
    folder = study / "results" / "tiny-cn"
    path = folder / "drivers.parquet"
    table = pq.read_table(path)
    original = json.loads((folder / MANIFEST).read_text())
    name = next(c for c in table.column_names
                if c != "draw" and table[c].type == "double"
                and np.isfinite(table[c].to_numpy()).any()
                and np.unique(table[c].to_numpy()).size > 1)

    def stored_with(change):
        values = table[name].to_numpy().copy()
        row = int(np.flatnonzero(np.isfinite(values) & (values != 0))[0])
        values[row] = change(values[row])
        pq.write_table(table.set_column(table.column_names.index(name), name, [values]),
                       path)
        manifest = json.loads(json.dumps(original))
        manifest["digest"]["tables"]["drivers"] = file_digest(path, manifest["labels"])
        manifest["digest"]["sha256"] = combine_digests(manifest["digest"]["tables"])
        (folder / MANIFEST).write_text(json.dumps(manifest))

    stored_with(lambda v: np.nextafter(np.nextafter(v, np.inf), np.inf))  # two units
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1
    text = " ".join(bad.output.split())
    assert "a re-run from the manifest gives different drivers" in text
    assert "the sampled values (drivers) differ only by rounding" in text
    assert "the same code, model and draws, rounded otherwise than where the run" in text
    assert f"drivers: column {name}: 1 of 30 rows differ" in text

    stored_with(lambda v: v * (1 + 1e-10))
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1
    assert "differ only by rounding" not in bad.output
    assert f"drivers: column {name}: 1 of 30 rows differ" in bad.output


def test_rounding_apart_compares_each_float_width_by_its_own_rounding(tmp_path):
    """float64 values within 1e-12 of each other and float32 values within their last bit
    or two differ by rounding; another column differing, a NaN or an infinity against a
    number, a float64 1e-8 apart, a float32 three units apart or rows added do not."""
    import pyarrow as pa

    def folder(name, **columns):
        path = tmp_path / name
        path.mkdir()
        pq.write_table(pa.table(columns), path / "t.parquet")
        return path

    one = np.float32(0.3)
    def f32(*values):
        return pa.array(np.array(values, np.float32), pa.float32())

    base = folder("a", x=pa.array([0.25, 1e-12, np.nan]), s=f32(one, one, 0),
                  k=pa.array([1, 2, 3]))
    near = folder("b", x=pa.array([0.25 * (1 + 2e-16), 1e-12 * (1 - 1e-13), np.nan]),
                  s=f32(one, np.nextafter(one, np.float32(1)), 0), k=pa.array([1, 2, 3]))
    rel = api._rounding_apart(base, near, "t")
    assert rel is not None and 5e-8 <= rel <= 1.2e-7  # the float32's last bit
    three = np.nextafter(np.nextafter(np.nextafter(one, np.float32(1)), np.float32(1)),
                         np.float32(1))
    cases = {
        "far": dict(x=pa.array([0.25 * (1 + 1e-8), 1e-12, np.nan])),
        "nan": dict(x=pa.array([0.25, 1e-12, 0.0])),
        "key": dict(k=pa.array([1, 2, 4])),
        "f32": dict(s=f32(one, three, 0)),
    }
    cases["inf"] = dict(x=pa.array([np.inf, 1e-12, np.nan]))
    cases["-inf"] = dict(x=pa.array([0.25, -np.inf, np.nan]))
    for name, change in cases.items():
        columns = dict(x=pa.array([0.25, 1e-12, np.nan]), s=f32(one, one, 0),
                       k=pa.array([1, 2, 3]))
        columns.update(change)
        assert api._rounding_apart(base, folder(name, **columns), "t") is None, name
    longer = folder("rows", x=pa.array([0.25, 1e-12, np.nan, 1.0]),
                    s=f32(one, one, 0, one), k=pa.array([1, 2, 3, 4]))
    assert api._rounding_apart(base, longer, "t") is None


def test_verify_passes_in_a_clone_and_names_what_differs(study, tmp_path, monkeypatch):
    invoke("run", "scenarios", "--draws", 30, "--out", "results", "-q")
    assert {p.name for p in (study / "results").iterdir()} == {"tiny-cn", "tiny-cn-stock"}
    clone = tmp_path / "clone"
    shutil.copytree(study, clone)
    monkeypatch.chdir(clone)
    out = invoke("verify", "results/tiny-cn", "results/tiny-cn-stock")
    assert out.output.count("ok results/") == 2

    # an altered result file
    path = clone / "results" / "tiny-cn" / "shortage.parquet"
    table = pq.read_table(path)
    values = table["shortage_share"].to_numpy().copy()
    values[3] += 0.125
    column = table.column_names.index("shortage_share")
    pq.write_table(table.set_column(column, "shortage_share", [values]), path)
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1 and "shortage.parquet was altered" in bad.output

    # a changed scenario file (the parent of the stockpile variant)
    text = (clone / "scenarios" / "tiny-cn.toml").read_text()
    (clone / "scenarios" / "tiny-cn.toml").write_text(text.replace("max = 1.0", "max = 0.9"))
    bad = invoke("verify", "results/tiny-cn-stock", ok=False)
    assert bad.exit_code == 1 and (
        "scenario file scenarios/tiny-cn-stock.toml or a file it extends changed" in bad.output
    )

    # a missing scenario file
    (clone / "scenarios" / "tiny-cn-stock.toml").unlink()
    bad = invoke("verify", "results/tiny-cn-stock", ok=False)
    assert bad.exit_code == 1 and "not found" in bad.output


def test_verify_of_a_run_made_elsewhere_takes_the_scenario_file_given(study, tmp_path,
                                                                       monkeypatch):
    """A run made in one folder with --out somewhere else records its scenario relative to
    the first: verify from a third folder cannot find it, says so with the fix, and
    passes with --scenario; a different scenario file given there is named."""
    out = tmp_path / "elsewhere"
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 12, "--out", str(out), "-q")
    other = tmp_path / "third"
    other.mkdir()
    monkeypatch.chdir(other)
    bad = invoke("verify", str(out / "tiny-cn"), ok=False)
    assert bad.exit_code == 1
    assert "scenarios/tiny-cn.toml not found" in bad.output and "--scenario" in bad.output
    good = invoke("verify", str(out / "tiny-cn"), "--scenario",
                  str(study / "scenarios" / "tiny-cn.toml"))
    assert good.output.startswith(f"ok {out / 'tiny-cn'}: digest ")
    wrong = invoke("verify", str(out / "tiny-cn"), "--scenario",
                   str(study / "scenarios" / "tiny-cn-stock.toml"), ok=False)
    assert wrong.exit_code == 1 and "changed since the run" in wrong.output
    assert "tiny-cn-stock.toml (given) is not the run's scenarios/tiny-cn.toml" in (
        wrong.output.replace("\n", " "))
    missing = invoke("verify", str(out / "tiny-cn"), "--scenario", "nope.toml", ok=False)
    assert missing.exit_code == 1 and "nope.toml (given) not found" in missing.output
    # the run used its scenario's own dataset: a --dataset is refused, not silently used
    dataset = invoke("verify", str(out / "tiny-cn"), "--scenario",
                     str(study / "scenarios" / "tiny-cn.toml"), "--dataset", str(other),
                     ok=False)
    assert dataset.exit_code == 1 and "verify it without --dataset" in dataset.output


def test_table_differences_count_nans_as_equal_and_name_real_differences():
    import pyarrow as pa

    a = pa.table({"x": pa.array([1.0, float("nan"), 3.0], pa.float32()), "k": [1, 2, 3]})
    assert api._differences(a, a) == []
    b = pa.table({"x": pa.array([1.0, float("nan"), 3.5], pa.float32()), "k": [1, 2, 4]})
    assert api._differences(a, b) == ["column x: 1 of 3 rows differ, largest difference 0.5",
                                      "column k: 1 of 3 rows differ"]
    assert api._differences(a, b, rtol=0.2) == ["column k: 1 of 3 rows differ"]


def test_verify_reproduces_a_folder_of_results_format_2_as_read(study):
    """Format 2 stored every row and column of the shortage table and no exposures table;
    docs/results.md says verify reads it, and a review found every such folder failed:
    its shortage table is now compared as read, and a changed value is still named."""
    from formats import as_old_format

    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "--out", "new2", "-q")
    target = study / "results" / "tiny-cn"
    shutil.rmtree(target, ignore_errors=True)
    old = as_old_format(load_result("new2/tiny-cn"), target, "supplyshock-results/2")
    assert old.format == "supplyshock-results/2"
    out = invoke("verify", "results/tiny-cn")
    assert "ok results/tiny-cn: reproduced as read (shortage" in out.output, out.output
    assert "written in supplyshock-results/2, re-run in supplyshock-results/4: shortage " \
        "compared as read" in out.output

    path = old.folder / "shortage.parquet"
    table = pq.read_table(path)
    values = table["shortage_t"].to_numpy().copy()
    values[int(np.argmax(values))] += 1.0
    pq.write_table(table.set_column(table.column_names.index("shortage_t"), "shortage_t",
                                    [values]), path)
    manifest = json.loads((old.folder / "run.json").read_text())
    manifest["digest"]["tables"]["shortage"] = file_digest(path, manifest["labels"])
    manifest["digest"]["sha256"] = combine_digests(manifest["digest"]["tables"])
    (old.folder / "run.json").write_text(json.dumps(manifest))
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1
    assert "a re-run from the manifest gives different shortage" in bad.output
    assert "shortage: column shortage_t: 1 of " in bad.output, bad.output
    shutil.rmtree(target)


def test_verify_reproduces_a_folder_of_results_format_3_as_read(study, monkeypatch):
    """A folder written by the previous results format (3: every exposure's rows under its
    own labels) passes verify: its shortage and exposures tables, stored otherwise, are
    compared as readers see them; a value changed in one of them is still named."""
    from formats import as_format_3

    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "--out", "new", "-q")
    old = as_format_3(load_result("new/tiny-cn"), study / "results" / "tiny-cn")
    assert old.format == "supplyshock-results/3"
    out = invoke("verify", "results/tiny-cn")
    assert "ok results/tiny-cn: reproduced as read (shortage, exposures" in out.output
    assert "written in supplyshock-results/3, re-run in supplyshock-results/4" in out.output

    path = old.folder / "shortage.parquet"
    table = pq.read_table(path)
    original = json.loads((old.folder / "run.json").read_text())

    def rewrite(change, **edits):
        """The stored shortage shares changed by ``change``, digests recorded anew,
        manifest keys edited."""
        values = table["shortage_share"].to_numpy().copy()
        change(values)
        column = table.column_names.index("shortage_share")
        pq.write_table(table.set_column(column, "shortage_share", [values]), path)
        manifest = json.loads(json.dumps(original))
        manifest.update(edits)
        manifest["digest"]["tables"]["shortage"] = file_digest(path, manifest["labels"])
        manifest["digest"]["sha256"] = combine_digests(manifest["digest"]["tables"])
        (old.folder / "run.json").write_text(json.dumps(manifest))

    # one unit in the last place of a float32 share: what format 4's reading of a buyer
    # through its zone's lead may differ by (docs/results.md), still the same run
    rewrite(lambda v: v.__setitem__(2, np.nextafter(v[2], np.float32(2))))
    assert "reproduced as read" in invoke("verify", "results/tiny-cn").output
    # a changed value
    rewrite(lambda v: v.__setitem__(2, v[2] + 0.125))
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert bad.exit_code == 1
    assert "a re-run from the manifest gives different shortage" in bad.output
    assert "shortage: column shortage_t: 1 of " in bad.output
    assert "shortage: column shortage_share: 1 of " in bad.output
    # an edited key outside the digest
    rewrite(lambda v: None, last_stage={"gallium": "mining"})
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert "last_stage differs from what a re-run records (the manifest was edited)" in (
        bad.output)
    # the same difference from a run of other code (as when a release renames zones):
    # said so, with the way out, not blamed on an edit
    versions = dict(original["versions"], engine_source="0123456789abcdef")
    rewrite(lambda v: None, last_stage={"gallium": "mining"}, versions=versions)
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert ("last_stage differs from what a re-run records (the code changed since the "
            "run (engine_source 0123456789abcdef at the run, ") in bad.output
    assert "run the scenario again to rewrite the folder" in bad.output
    assert "the manifest was edited" not in bad.output
    # too large a folder to expand: named, with the way out
    rewrite(lambda v: None)
    monkeypatch.setattr(api, "AS_READ_ROWS", 10)
    bad = invoke("verify", "results/tiny-cn", ok=False)
    assert "too many to compare as read (at most 10): run the scenario again" in bad.output


# --- summarize and compare -----------------------------------------------------------------------


def test_summarize_formats(study):
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "-q")
    table = invoke("summarize", "results/tiny-cn").output
    assert "tiny-cn: 30 draws" in table and "share_mean" in table
    records = json.loads(invoke("summarize", "results/tiny-cn", "--format", "json").output)
    res = load_result("results/tiny-cn")
    assert len(records) == len(res.summary)
    by_country = invoke("summarize", "results/tiny-cn", "--by", "country", "--format", "csv")
    header = by_country.output.splitlines()[0].split(",")
    assert header[0] == "country" and "value_mean_usd" in header
    # the table says what a country's share is (a new-user pass missed Indonesia's ore)
    shown = invoke("summarize", "results/tiny-cn", "--by", "country").output
    assert "over the country's materials at their last stage" in shown
    assert "over the summed need of every country" in invoke(
        "summarize", "results/tiny-cn", "--by", "material").output
    by_material = json.loads(
        invoke("summarize", "results/tiny-cn", "--by", "material", "--format", "json").output
    )
    assert {r["material"] for r in by_material} == {"gallium", "graphite"}


def test_summarize_shows_the_worst_month_and_reads_folders_written_without_it(study):
    """The summary's worst-month quantiles are those of the shortage table's peak_share
    (zeros for draws never short), shown in %; a folder whose summary predates the
    columns prints "-" there instead of failing."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 40, "-q")
    res = load_result("results/tiny-cn")
    shortage = res.shortage
    rows = json.loads(invoke("summarize", "results/tiny-cn", "--format", "json").output)
    checked = 0
    for r in rows:
        peak = shortage[(shortage["material"] == r["material"]) & (shortage["stage"] == r["stage"])
                        & (shortage["country"] == r["country"])]["peak_share"]
        assert len(peak) == 40
        want = np.quantile(peak.to_numpy(np.float64), [0.5, 0.95])
        # a buyer stored as its zone's lead reads back the lead's float32 share (2^-22)
        np.testing.assert_allclose([r["peak_share_p50"], r["peak_share_p95"]], want,
                                   rtol=2.4e-7, atol=1e-15)
        assert r["peak_share_p95"] >= r["share_p95"] - 1e-7  # a month's share >= the mean's
        checked += r["peak_share_p95"] > 0
    assert checked
    table = invoke("summarize", "results/tiny-cn").output
    assert "peak_share_p95" in table and "%" in table.splitlines()[2].split()[7]
    path = Path("results/tiny-cn/summary.parquet")
    old = pq.read_table(path)
    pq.write_table(old.drop_columns(["peak_share_p50", "peak_share_p95"]), path)
    table = invoke("summarize", "results/tiny-cn").output
    assert table.splitlines()[2].split()[7] == "-"


def test_summarize_picks_countries_and_materials(study):
    """summarize --country / --material: only those rows (repeated or comma-separated),
    in every view; an unknown name is an error with the closest ones; a filter that
    --by sums away is refused."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "-q")
    res = load_result("results/tiny-cn")
    every = res.summary.astype({"material": str, "country": str})
    rows = json.loads(invoke("summarize", "results/tiny-cn", "--country", "USA,DEU",
                             "--material", "gallium", "--format", "json").output)
    expect = every.query("material == 'gallium' and country in ['USA', 'DEU']")
    assert len(rows) == len(expect) > 0
    assert {(r["country"], r["stage"]) for r in rows} == set(
        zip(expect["country"], expect["stage"], strict=True))
    again = json.loads(invoke("summarize", "results/tiny-cn", "--country", "USA",
                              "--country", "DEU", "--material", "gallium", "--format",
                              "json").output)
    assert again == rows
    by_country = json.loads(invoke("summarize", "results/tiny-cn", "--by", "country",
                                   "--country", "JPN", "--format", "json").output)
    assert [r["country"] for r in by_country] == ["JPN"]
    zones = json.loads(invoke("summarize", "results/tiny-cn", "--prices", "--country", "CHN",
                              "--format", "json").output)
    members = {(z["material"], z["stage"], z["zone"]): z["members"]
               for z in res.manifest["zones"]}
    assert zones and all("CHN" in members[(z["material"], z["stage"], z["zone"])]
                         for z in zones)
    assert any(z["zone"] == "CHN" for z in zones)
    # csv and json list a zone's members, however many (a new-user pass got "31
    # countries" in a csv); the table abbreviates beyond four
    assert all(z["countries"] == ", ".join(members[(z["material"], z["stage"], z["zone"])])
               for z in zones)
    bad = invoke("summarize", "results/tiny-cn", "--country", "USX", ok=False)
    assert bad.exit_code != 0 and "--country USX" in bad.output and "'USA'" in bad.output
    both = invoke("summarize", "results/tiny-cn", "--country", "USX", "--material", "galium",
                  ok=False)  # every bad filter named at once
    assert both.exit_code == 2 and "--country USX" in both.output
    assert "--material galium" in both.output and "'gallium'" in both.output
    summed = invoke("summarize", "results/tiny-cn", "--by", "material", "--country", "USA",
                    ok=False)
    assert summed.exit_code != 0 and "--by material" in summed.output


def test_the_closing_table_folds_a_zones_buyers_into_one_row_named_by_the_largest(study):
    """Buyers with the same shares in every draw (a zone's buyers stored as one, holders
    a stockpile covers alike) take one row of the run's closing table, named by the
    buyer with the largest E[value] and "+N", with E[value] their sum; buyers with their
    own shares keep their own rows. The groups are checked against the shares draw by
    draw, read back from the shortage table."""
    import re

    out = invoke("run", "scenarios/tiny-cn.toml", "--draws", 40).output
    res = load_result("results/tiny-cn")
    s = res.summary.astype({"material": str, "stage": str, "country": str})
    sh = res.shortage.astype({"material": str, "stage": str, "country": str})
    fates = {k: tuple(g.sort_values("draw")["shortage_share"])
             for k, g in sh.groupby(["material", "stage", "country"])}
    s["stored_as"] = [str(fates[k]) for k in zip(s.material, s.stage, s.country, strict=True)]
    rows = re.findall(r"^  (\S+)\s+(\S+)\s+([A-Z]{3})(?: \+(\d+))?\s+[\d.]+%.*\$([\d.,]+\w*)$",
                      out, re.M)
    assert rows
    folded = 0
    for material, stage, country, more, _ in rows:
        mine = s[(s.material == material) & (s.stage == stage) & (s.country == country)]
        group = s[(s.material == material) & (s.stage == stage)
                  & (s.stored_as == mine.stored_as.iloc[0]) & (s.share_mean > 0)]
        assert int(more or 0) == len(group) - 1
        assert mine.value_mean_usd.iloc[0] == group.value_mean_usd.max()
        folded += len(group) > 1
    assert folded and "+N: that many more buyers with the same shares in every draw" in out
    assert len({(m, st, c) for m, st, c, _, _ in rows}) == len(rows)


def test_summarize_country_takes_any_case_and_the_datasets_groups(study):
    """--country deu is DEU; a group of the run's dataset stands for its members with
    exposures here; a misspelt country suggests by name first (GER -> DEU); a filter
    that leaves nothing says so instead of printing an empty frame."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 20, "-q")
    res = load_result("results/tiny-cn")
    def countries(*args):
        rows = json.loads(invoke("summarize", "results/tiny-cn", *args, "--format",
                                 "json").output)
        return {r["country"] for r in rows}
    assert countries("--country", "deu") == countries("--country", "DEU") == {"DEU"}
    tensor = load_dataset(Path(res.manifest["dataset"]["path"])) if res.manifest[
        "dataset"]["path"] != "built-in" else load_dataset(None)
    here = set(res.summary["country"].astype(str))
    group, members = next((g, set(m)) for g, m in tensor.groups.items() if set(m) & here)
    assert countries("--country", group.lower()) == members & here
    out = invoke("summarize", "results/tiny-cn", "--country", "GER", ok=False)
    assert out.exit_code == 2 and "(did you mean 'DEU'" in out.output
    # every country of tiny-cn takes part in both materials: drop one pair's rows from the
    # stored summary to see what a filter that leaves nothing prints
    path = Path("results/tiny-cn/summary.parquet")
    table = pq.read_table(path)
    keep = [not (str(c) == "DEU" and str(m) == "gallium") for c, m in
            zip(table["country"].to_pylist(), table["material"].to_pylist(), strict=True)]
    pq.write_table(table.filter(keep), path)
    out = invoke("summarize", "results/tiny-cn", "--country", "deu", "--material",
                 "gallium").output
    assert "No row for --country DEU and --material gallium" in out
    assert "Empty DataFrame" not in out


def test_summarize_prices_per_zone(study):
    """summarize --prices: one row per price zone with buyers, its peak-price quantiles
    read from zone_prices.parquet (checked against pandas), its median by month from
    prices.parquet; the origin's price falls, the targets' rises."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 60, "-q")
    rows = json.loads(invoke("summarize", "results/tiny-cn", "--prices", "--format",
                             "json").output)
    res = load_result("results/tiny-cn")
    zp = res.zone_prices.astype({"material": str, "stage": str, "zone": str})
    assert {(r["material"], r["zone"]) for r in rows} == {
        (m, z) for m, z in zp[["material", "zone"]].drop_duplicates().itertuples(index=False)}
    by = {(r["material"], r["stage"], r["zone"]): r for r in rows}
    ga = by[("gallium", "refining", "ex-CHN")]
    peaks = zp.query("material == 'gallium' and zone == 'ex-CHN'")["price_peak"]
    assert ga["price_peak_p95"] == pytest.approx(np.quantile(peaks.astype(float), 0.95))
    assert ga["price_peak_p95"] > 1 and by[("gallium", "refining", "CHN")]["price_mean_p50"] < 1
    monthly = res.prices.astype({"material": str, "zone": str}).query(
        "material == 'gallium' and zone == 'ex-CHN' and month == 6")
    assert ga["price_p50_m6"] == pytest.approx(float(monthly["price_p50"].iloc[0]))
    # the Python function gives the rows the CLI prints, in its order
    from simcore.results import price_summary
    api_rows = price_summary(res)
    assert [(r["material"], r["zone"]) for r in rows] == list(
        zip(api_rows["material"], api_rows["zone"], strict=True))
    assert api_rows["price_peak_p50"].is_monotonic_decreasing
    table = invoke("summarize", "results/tiny-cn", "--prices").output
    assert "price zones over 60 draws" in table and "ex-CHN" in table
    bad = invoke("summarize", "results/tiny-cn", "--prices", "--by", "country", ok=False)
    assert bad.exit_code == 2 and "--prices" in bad.output


def test_compare_with_itself_is_zero_and_a_stockpile_helps(study):
    invoke("run", "scenarios", "--draws", 40, "-q")
    itself = invoke("compare", "results/tiny-cn", "results/tiny-cn", "--format", "json")
    same = json.loads(itself.stdout)
    assert "the two runs have the same results (the same digest)" in itself.stderr
    assert same and all(r["change_mean"] == 0 and r["prob_better"] == 0 for r in same)
    out = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock")
    assert "Warning" not in out.output  # same seed, draws and dataset
    # what P(better) counts, under the table (a new-user pass read a gain with P(better)
    # 0.33 as a contradiction)
    assert "draws short in neither run count as neither" in out.output
    header = next(line for line in out.output.splitlines() if "P(better)" in line)
    assert header.rstrip().endswith("P(better)  P(worse)")
    rows = json.loads(
        invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", "--format", "json").output
    )
    usa = next(r for r in rows if r["material"] == "gallium" and r["country"] == "USA")
    assert usa["change_mean"] < 0 and usa["prob_better"] > 0 and usa["prob_worse"] == 0
    # --top keeps the largest changes either way, in the table's order
    top = json.loads(invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", "--top", 2,
                            "--format", "json").output)
    largest = sorted(rows, key=lambda r: -abs(r["change_mean"]))[:2]
    assert len(rows) > 2 and top == [r for r in rows if r in largest]
    # ... and never unchanged ones, whatever the number asked for (a new-user pass saw
    # --top 5 fill four rows with +0.00 pp)
    many = json.loads(invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", "--top",
                             1000, "--format", "json").output)
    assert 0 < len(many) < len(rows) and many == [r for r in rows
                                                  if abs(r["change_mean"]) > 1e-6]
    shown = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", "--top", 2).output
    assert re.search(r"\(2 of \d+ rows, those whose mean share changes most", shown)
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "--seed", 3, "--out", "other", "-q")
    refused = invoke("compare", "results/tiny-cn", "other/tiny-cn", ok=False)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "other/tiny-cn (tiny-cn) is not a variant run of results/tiny-cn" in refused.output
    assert "seed 3 against the base's 11" in refused.output
    assert "--seed 11" in refused.output and "--force" in refused.output
    warned = invoke("compare", "results/tiny-cn", "other/tiny-cn", "--force")
    assert "seeds differ" in warned.output and "draws differ" in warned.output


def test_compare_sets_the_policys_cost_against_the_value_it_avoids(study):
    """compare closes with the final users' shortage value (last stages, every country,
    reference prices) in both runs and its change, draw by draw, and what the variant's
    own interventions cost: a stockpile its tonnes at the reference price (three months
    of the USA's gallium need here), a capacity what its file states, or a note that it
    states nothing; the ratio only where every cost is known."""
    import re

    from simcore.dataset import load_dataset as load

    invoke("run", "scenarios", "--draws", 40, "-q")
    out = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock").output
    base, variant = load_result("results/tiny-cn"), load_result("results/tiny-cn-stock")
    tensor = load(Path("scenarios/tiny"))
    k = tensor.materials.index("gallium")
    need = tensor.need[k, tensor.n_stages[k] - 1, tensor.countries.index("USA")]
    stock_cost = 3 * need / 12 * tensor.price[k]
    from simcore.cli.stockpile import _usd4

    assert "Policy cost (1 intervention the base does not have" in out
    assert (f": {_usd4(stock_cost)} (stockpiles {_usd4(stock_cost)} bought at the reference "
            "prices, no carrying cost)") in out
    values, ours = [], []
    partners = set(tensor.groups["partners"])
    for res in (base, variant):
        s = res.shortage.astype({"material": str, "stage": str, "country": str})
        s = s[s["stage"] == s["material"].map(res.manifest["last_stage"])]
        values.append(s["shortage_value_usd"].astype(float).sum() / 40)
        ours.append(s[s["country"].isin(partners)]["shortage_value_usd"].astype(float).sum()
                    / 40)
    change = values[1] - values[0]
    assert change < 0
    line = re.search(r"mean over draws: (\S+) -> (\S+), (\S+) \[", out)
    assert line and line.groups() == (_usd4(values[0]), _usd4(values[1]),
                                       "-" + _usd4(-change))
    assert f"{-change / stock_cost:,.2f} of shortage value avoided per dollar" in out
    # who gains (a new-user pass: the partners' share of the avoided value is what they
    # pay for), and the spread over draws beside the Monte Carlo error of the mean
    mine = ours[1] - ours[0]
    assert f"of the change, the partner economies' (the dataset's group `partners`) " \
        f"-{_usd4(-mine)}" in out
    assert f", {-mine / stock_cost:,.2f} for the partner economies" in out
    assert "(the interval: Monte Carlo error of the mean; over draws P5-P95 " in out
    # a capacity without cost_usd: nothing stated, no ratio
    Path("scenarios/tiny-cn-cap.toml").write_text(capacity("tiny-cn.toml", "tiny-cn-cap"))
    invoke("run", "scenarios/tiny-cn-cap.toml", "--draws", 40, "-q")
    out = invoke("compare", "results/tiny-cn", "results/tiny-cn-cap").output
    assert "none stated; 1 capacity intervention states no cost_usd (us-ga-plant)" in out
    assert "avoided per dollar" not in out
    text = Path("scenarios/tiny-cn-cap.toml").read_text() + "cost_usd = 2e6\n"
    Path("scenarios/tiny-cn-cap.toml").write_text(text)
    invoke("run", "scenarios/tiny-cn-cap.toml", "--draws", 40, "-q")
    out = invoke("compare", "results/tiny-cn", "results/tiny-cn-cap").output
    assert "$2.000M (capacity $2.000M as stated)" in out and "avoided per dollar" in out
    # a stockpile whose file states its cost: said as stated, not as priced (an
    # authoring pass read "stockpiles $1.000M at the reference prices" for a stated $1M)
    text = Path("scenarios/tiny-cn-stock.toml").read_text()
    Path("scenarios/tiny-cn-stock.toml").write_text(text.rstrip("\n") + "\ncost_usd = 1e6\n")
    invoke("run", "scenarios/tiny-cn-stock.toml", "--draws", 40, "-q")
    out = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock").output
    assert ": $1.000M (stockpiles $1.000M as stated)" in out
    assert "at the reference prices" not in out


def test_compare_sets_policies_side_by_side_and_sees_whether_they_add_up(study):
    """compare BASE V1 V2 V3: each variant's change of the final users' shortage value,
    its cost and the value avoided per dollar; a variant holding the interventions of
    two others is set against their sum, draw by draw."""
    from simcore.results import compare as compare_results
    from simcore.results import load_result

    Path("scenarios/tiny-cn-cap.toml").write_text(capacity("tiny-cn.toml", "tiny-cn-cap", 2e6))
    Path("scenarios/tiny-cn-both.toml").write_text(
        capacity("tiny-cn-stock.toml", "tiny-cn-both", 2e6))
    invoke("run", "scenarios", "--draws", 40, "-q")
    names = ["tiny-cn-stock", "tiny-cn-cap", "tiny-cn-both"]
    dirs = [f"results/{n}" for n in names]
    got = json.loads(invoke("compare", "results/tiny-cn", *dirs, "--format", "json").output)
    base = load_result("results/tiny-cn")
    changes = {}
    for row, name in zip(got["policies"], names, strict=True):
        one = compare_results(base, load_result(f"results/{name}"))
        assert row["variant"] == name
        assert row["change_usd"] == pytest.approx(one.value["change_usd"], rel=1e-9)
        assert row["change_ci_low"] == pytest.approx(one.value["change_ci_low"], rel=1e-9)
        changes[name] = row["change_usd"]
    assert got["policies"][1]["cost_usd"] == 2e6 and got["policies"][1]["cost_unstated"] == 0
    assert got["policies"][1]["avoided_per_usd"] == pytest.approx(-changes["tiny-cn-cap"] / 2e6)
    (inter,) = got["interactions"]
    assert inter["variant"] == "tiny-cn-both" and inter["parts"] == "tiny-cn-stock + tiny-cn-cap"
    assert inter["interaction_usd"] == pytest.approx(
        changes["tiny-cn-both"] - changes["tiny-cn-stock"] - changes["tiny-cn-cap"], rel=1e-9,
        abs=1e-3)
    assert inter["interaction_ci_low"] <= inter["interaction_usd"] <= inter[
        "interaction_ci_high"]
    out = invoke("compare", "results/tiny-cn", *dirs).output
    assert out.startswith("3 policies against tiny-cn, 40 draws compared draw by draw")
    assert "tiny-cn-both against tiny-cn-stock + tiny-cn-cap apart: " in out
    assert "$2.000M" in out
    # --top belongs to one variant's table; a variant twice is a mistake
    refused = invoke("compare", "results/tiny-cn", *dirs, "--top", 2, ok=False)
    assert refused.exit_code == 2 and "give one VARIANT_DIR" in refused.output
    refused = invoke("compare", "results/tiny-cn", dirs[0], dirs[0], ok=False)
    assert refused.exit_code == 2 and "must be different runs" in refused.output
    # a capacity without cost_usd: its cost unknown, not zero, in machine output
    Path("scenarios/tiny-cn-cap.toml").write_text(capacity("tiny-cn.toml", "tiny-cn-cap"))
    invoke("run", "scenarios/tiny-cn-cap.toml", "--draws", 40, "-q")
    got = json.loads(invoke("compare", "results/tiny-cn", *dirs, "--format", "json").output)
    cap = got["policies"][1]
    assert cap["cost_usd"] is None and cap["cost_unstated"] == 1
    assert cap["cost_known_usd"] == 0 and cap["avoided_per_usd"] is None
    # the other way round: the cost line says what the variant lacks
    out = invoke("compare", "results/tiny-cn-stock", "results/tiny-cn").output
    assert "it lacks 1 the base has, or holds less of them (us-ga-stock): to weigh their " \
        "cost, compare the other way round" in out


def test_a_policys_cost_travels_with_its_results(study, monkeypatch):
    """run.json records each intervention's cost, so results copied away from their
    scenario files (a colleague's machine) still weigh a policy by its cost: a new-user
    pass read 'cannot be read' from outside the study's folder. The manifests give what
    the scenario files give."""
    from simcore.api import policy_cost

    Path("scenarios/tiny-cn-cap.toml").write_text(capacity("tiny-cn.toml", "tiny-cn-cap", 2e6))
    Path("scenarios/tiny-cn-both.toml").write_text(
        capacity("tiny-cn-stock.toml", "tiny-cn-both"))
    invoke("run", "scenarios", "--draws", 20, "-q")
    names = ["tiny-cn", "tiny-cn-stock", "tiny-cn-cap", "tiny-cn-both"]
    runs = {n: load_result(f"results/{n}") for n in names}
    assert runs["tiny-cn-both"].manifest["interventions"][-1] == {
        "id": "us-ga-plant", "kind": "capacity", "cost_usd": None, "probability": 1.0}
    for v in names[1:]:
        for base in ("tiny-cn", "tiny-cn-stock"):
            recorded = policy_cost(runs[base], runs[v])
            stripped = [load_result(f"results/{n}") for n in (base, v)]
            for r in stripped:
                r.manifest.pop("interventions")
            assert recorded == policy_cost(*stripped), (base, v)
    here = Path.cwd()
    moved = here.parent / "elsewhere"
    for n in names:
        shutil.copytree(here / "results" / n, moved / n)
    monkeypatch.chdir(moved)
    got = json.loads(invoke("compare", "tiny-cn", "tiny-cn-stock", "tiny-cn-cap",
                            "tiny-cn-both", "--format", "json").output)
    cost = {row["variant"]: row for row in got["policies"]}
    assert cost["tiny-cn-cap"]["cost_usd"] == 2e6
    assert cost["tiny-cn-stock"]["cost_usd"] > 0 and cost["tiny-cn-stock"]["avoided_per_usd"]
    assert cost["tiny-cn-both"]["cost_usd"] is None and cost["tiny-cn-both"]["cost_unstated"] == 1
    assert "cannot be read" not in invoke("compare", "tiny-cn", "tiny-cn-stock").output
    # a hand-edited record: a stockpile with neither cost is refused where the manifest is
    # read; a kind this version does not know says nothing of the cost
    manifest = json.loads((moved / "tiny-cn-stock" / "run.json").read_text())
    manifest["interventions"][0].pop("priced_usd")
    (moved / "tiny-cn-stock" / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(ResultError, match="interventions"):
        load_result(moved / "tiny-cn-stock")
    manifest["interventions"][0]["kind"] = "tariff"
    (moved / "tiny-cn-stock" / "run.json").write_text(json.dumps(manifest))
    assert policy_cost(load_result(moved / "tiny-cn"), load_result(moved / "tiny-cn-stock")) \
        is None


def test_policy_parts_pp_and_a_variant_that_adds_and_drops(study):
    """A review of the side-by-side comparison: the parts of a combined policy are found
    among all combinations (a greedy pick missed {a,b} + {c,d} for {a,b,c,d} beside
    {a,b,c}); small changes never print in exponent notation; a variant that adds one
    intervention and lacks another gets no value per dollar."""
    from simcore.money import exact_parts
    from simcore.report.analysis import pp as _pp

    ids = {"whole": frozenset("abcd"), "abc": frozenset("abc"), "ab": frozenset("ab"),
           "cd": frozenset("cd"), "x": frozenset("ax")}
    assert exact_parts("whole", ids) == ["ab", "cd"]
    assert exact_parts("abc", ids) is None and exact_parts("ab", ids) is None
    assert [_pp(v) for v in (0.0123, -2e-5, -5e-7, 4e-7, 0.0)] == [
        "+1.23", "-0.002", "-<0.001", "+<0.001", "+0.00"]
    Path("scenarios/tiny-cn-cap.toml").write_text(capacity("tiny-cn.toml", "tiny-cn-cap", 2e6))
    invoke("run", "scenarios", "--draws", 30, "-q")
    out = invoke("compare", "results/tiny-cn-stock", "results/tiny-cn-cap").output
    assert ("the variant also lacks 1 intervention the base has, or holds less of it "
            "(us-ga-stock)") in out
    assert "avoided per dollar" not in out
    got = json.loads(invoke("compare", "results/tiny-cn-stock", "results/tiny-cn-cap",
                            "results/tiny-cn", "--format", "json").stdout)
    assert [r["lacks"] for r in got["policies"]] == ["us-ga-stock", "us-ga-stock"]
    assert all(r["avoided_per_usd"] is None for r in got["policies"])
    # two runs of one scenario are two variants, told apart by their folders
    invoke("run", "scenarios/tiny-cn-cap.toml", "--draws", 20, "-q", "--out", "again")
    got = json.loads(invoke("compare", "results/tiny-cn", "results/tiny-cn-cap",
                            "again/tiny-cn-cap", "--format", "json").stdout)
    assert [r["variant"] for r in got["policies"]] == ["results/tiny-cn-cap",
                                                      "again/tiny-cn-cap"]
    # another horizon, forced: the title says the draws are not paired, in both modes
    Path("scenarios/tiny-cn-short.toml").write_text(
        'extends = "tiny-cn.toml"\n[scenario]\nname = "tiny-cn-short"\nhorizon_months = 10\n')
    invoke("run", "scenarios/tiny-cn-short.toml", "--draws", 30, "-q", "--out", "short")
    one = invoke("compare", "results/tiny-cn", "short/tiny-cn-short", "--force").stdout
    head = one.splitlines()[0]
    assert "compared but not paired: the runs differ (a horizon of 10 months against" in head
    assert "draw by draw" not in head and "cover different horizons" in head
    many = invoke("compare", "results/tiny-cn", "short/tiny-cn-short", "results/tiny-cn-cap",
                  "--force").stdout
    assert "not paired with the base (tiny-cn-short: another seed or horizon" in many


def test_compare_says_when_the_draws_would_not_fit_in_memory(study, monkeypatch):
    """A comparison holds every draw of every exposure of two runs (a million draws of
    the partner study: about 4 GB): beyond the memory available it stops before
    reading, says how much it needs and how many draws fit (--draws N compares those)."""
    from simcore.results import aggregate

    invoke("run", "scenarios", "--draws", 40, "-q")
    per = aggregate.BYTES_PER_DRAW_EXPOSURE
    monkeypatch.setattr(aggregate, "_available_bytes", lambda: 30 * per * 4)
    refused = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", ok=False)
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    text = " ".join(refused.output.split())
    assert "comparing 40 draws of" in text and "free here: compare the first draws only, " \
        "e.g. --draws" in text
    fits = int(re.search(r"--draws (\d+)", text).group(1))
    assert 1 <= fits < 40
    out = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", "--draws", fits,
                 "--format", "json").stdout
    assert json.loads(out)
    several = invoke("compare", "results/tiny-cn", "results/tiny-cn-stock", "results/tiny-cn",
                     "--draws", fits).stdout
    assert f"{fits} draws compared draw by draw" in several


def test_a_refusal_suggests_draws_that_leave_room_and_take_seconds(study, monkeypatch):
    """The suggested --draws fits in half the memory free and is at most 100,000: a
    new-user pass was told '--draws 892,000' for a million-draw run on 24 GB, a
    comparison filling the machine for minutes."""
    from types import SimpleNamespace

    from simcore.results import aggregate

    invoke("run", "scenarios/tiny-cn.toml", "--draws", 5, "-q")
    folder = Path("results/tiny-cn")
    x = len(load_result(folder).table("exposures"))
    big = SimpleNamespace(folder=folder, manifest={"draws": 10**6},
                          format=load_result(folder).format)
    per = aggregate.BYTES_PER_DRAW_EXPOSURE
    for fits, suggested in ((800_000, 100_000), (50_000, 25_000), (1_500, 750)):
        monkeypatch.setattr(aggregate, "_available_bytes", lambda f=fits: per * x * f)
        with pytest.raises(ResultError) as err:
            aggregate.check_memory([big], 10**6)
        assert f"e.g. --draws {suggested:,} " in str(err.value)


def test_python_api(study):
    import simcore

    res = simcore.run("scenarios/tiny-cn.toml", draws=20, seed=2, progress=False)
    assert len(res.drivers) == 20 and list(res.summary.columns[:3]) == [
        "material",
        "stage",
        "country",
    ]
    saved = simcore.load_result(res.save(study / "saved" / "tiny-cn"))
    assert saved.digest == res.digest and saved.manifest["seed"] == 2
    again = simcore.run("scenarios/tiny-cn.toml", draws=20, seed=2, chunk_size=3, progress=False)
    assert again.digest == res.digest


# --- bad input: a clear message, a non-zero exit, nothing written --------------------------------


def _nothing_written(study):
    return not (study / "results").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["scenarios/absent.toml"], "no such scenario file"),
        (["scenarios/absent.toml", "scenarios/gone.toml"],
         "absent.toml: no such scenario file or folder\nscenarios/gone.toml: no such"),
        (["scenarios/tiny-cn.toml", "--draws", "0"], "Invalid value for '--draws'"),
        (["scenarios/tiny-cn.toml", "--seed", "-1"], "Invalid value for '--seed'"),
        (["scenarios/tiny-cn.toml", "--chunk-size", "0"], "Invalid value for '--chunk-size'"),
    ],
)
def test_bad_options(study, args, message):
    bad = invoke("run", *args, ok=False)
    assert bad.exit_code == 2 and message in bad.output and "Traceback" not in bad.output
    assert _nothing_written(study)


def test_bad_scenario_and_missing_dataset(study):
    (study / "scenarios" / "typo.toml").write_text(
        CN_REFINING.format(name="typo").replace('origin = "CHN"', 'origin = "CHNA"')
    )
    bad = invoke("run", "scenarios", ok=False)  # one bad file: nothing runs at all
    assert bad.exit_code == 2 and "CHNA" in bad.output and "CHN" in bad.output
    assert _nothing_written(study)
    (study / "scenarios" / "typo.toml").write_text(
        CN_REFINING.format(name="nodata").replace('dataset = "tiny"', 'dataset = "nowhere"')
    )
    bad = invoke("run", "scenarios/typo.toml", ok=False)
    assert bad.exit_code == 2 and "nowhere" in bad.output
    assert _nothing_written(study)


def test_the_same_scenario_from_another_folder_replaces_its_results(study, monkeypatch):
    """A scenario's results are replaced when it is run again from another working folder
    (its path then reads differently), and still refused to a same-named scenario file
    elsewhere."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 5, "-q")
    monkeypatch.chdir(study / "scenarios")
    invoke("run", "tiny-cn.toml", "--draws", 6, "--out", "../results", "-q")
    assert load_result(study / "results" / "tiny-cn").manifest["draws"] == 6
    monkeypatch.chdir(study)
    invoke("run", str(study / "scenarios" / "tiny-cn.toml"), "--draws", 7, "-q")
    assert load_result("results/tiny-cn").manifest["draws"] == 7
    Path("other").mkdir()
    Path("other/tiny-cn.toml").write_text(Path("scenarios/tiny-cn.toml").read_text().replace(
        'dataset = "tiny"', 'dataset = "../scenarios/tiny"'))
    bad = invoke("run", "other/tiny-cn.toml", "--draws", 5, ok=False)
    assert bad.exit_code == 2 and ("holds results of a scenario 'tiny-cn' from another "
                                   "file, scenarios/tiny-cn.toml, not other/tiny-cn.toml"
                                   ) in bad.output, bad.output
    assert load_result("results/tiny-cn").manifest["draws"] == 7


def test_a_results_folder_behind_a_link_is_replaced_where_it_lies(study, tmp_path):
    """results/<name> as a link to a folder on another disk: a new run replaces that
    folder, the link stays a link, and nothing is left beside it."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 5, "--out", tmp_path / "big", "-q")
    Path("results").mkdir()
    os.symlink(tmp_path / "big" / "tiny-cn", "results/tiny-cn")
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 6, "-q")
    assert Path("results/tiny-cn").is_symlink()
    assert load_result(tmp_path / "big" / "tiny-cn").manifest["draws"] == 6
    assert [p.name for p in Path("results").iterdir()] == ["tiny-cn"]
    assert [p.name for p in (tmp_path / "big").iterdir()] == ["tiny-cn"]


def test_every_bad_file_is_listed_and_a_file_named_twice_runs_once(study):
    """`run a b` with two bad files names both problems (as `validate` does), nothing
    written; the same file named twice (a folder and a file in it) runs once."""
    for name, bad_origin in (("typo1", "CHNA"), ("typo2", "CHNB")):
        (study / "scenarios" / f"{name}.toml").write_text(
            CN_REFINING.format(name=name).replace('origin = "CHN"', f'origin = "{bad_origin}"'))
    bad = invoke("run", "scenarios/typo1.toml", "scenarios/typo2.toml", ok=False)
    assert bad.exit_code == 2 and "CHNA" in bad.output and "CHNB" in bad.output
    assert "typo1.toml" in bad.output and "typo2.toml" in bad.output
    assert _nothing_written(study)
    for name in ("typo1", "typo2"):
        (study / "scenarios" / f"{name}.toml").unlink()
    out = invoke("run", "scenarios/tiny-cn.toml", "./scenarios/tiny-cn.toml", "--draws", 5)
    assert out.output.count("tiny-cn: 5 draws") == 1


def test_unwritable_output_and_foreign_folders(study):
    (study / "afile").write_text("not a folder")
    bad = invoke("run", "scenarios/tiny-cn.toml", "--out", "afile/results", ok=False)
    assert bad.exit_code == 2 and "is a file" in bad.output
    # a folder of another scenario's results under this scenario's name
    invoke("run", "scenarios/tiny-cn-stock.toml", "--draws", 5, "--out", "r", "-q")
    os.rename("r/tiny-cn-stock", "r/tiny-cn")
    before = json.loads(Path("r/tiny-cn/run.json").read_text())
    bad = invoke("run", "scenarios/tiny-cn.toml", "--draws", 5, "--out", "r", ok=False)
    assert bad.exit_code == 2 and "holds results of scenario 'tiny-cn-stock'" in bad.output
    assert json.loads(Path("r/tiny-cn/run.json").read_text()) == before
    # a folder that is not results at all is never overwritten
    Path("mine/tiny-cn").mkdir(parents=True)
    Path("mine/tiny-cn/notes.txt").write_text("keep me")
    bad = invoke("run", "scenarios/tiny-cn.toml", "--draws", 5, "--out", "mine", ok=False)
    assert bad.exit_code == 2 and "not a supplyshock results folder" in bad.output
    assert Path("mine/tiny-cn/notes.txt").read_text() == "keep me"
    bad = invoke("verify", "mine/tiny-cn", ok=False)
    assert bad.exit_code == 2 and "no run.json" in bad.output


# --- a killed run leaves the previous results ----------------------------------------------


def test_sigkill_mid_run_leaves_previous_results_and_no_partial_folder(study):
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 10, "-q")
    before = load_result("results/tiny-cn").manifest["digest"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simcore",
            "run",
            "scenarios/tiny-cn.toml",
            "--draws",
            "5000000",
            "--chunk-size",
            "500",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300  # a cold Numba cache compiles first
        partial = []
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [
                p
                for p in (study / "results").glob(".tiny-cn.partial-*")
                if (p / "shortage.parquet").is_file()
                and (p / "shortage.parquet").stat().st_size > 10_000
            ]
            if partial:
                break
            time.sleep(0.05)
        assert partial, f"the run never started writing: {proc.stderr.read()!r}"
    finally:
        _kill9(proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and partial[0].exists():
        time.sleep(0.05)  # the watchdog removes the staging folder once the run is gone
    assert [p.name for p in (study / "results").iterdir()] == ["tiny-cn"]
    assert load_result("results/tiny-cn").manifest["digest"] == before
    assert api.verify("results/tiny-cn").ok


def _kill9(proc: subprocess.Popen) -> None:
    """SIGKILL a run (if it still runs) and reap it."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _writing_run(study, out: str) -> subprocess.Popen:
    """A long run of tiny-cn into ``out`` (a subprocess that takes Ctrl-C as a terminal
    sends it), returned once it is writing its shortage table."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    proc = subprocess.Popen(
        cli_argv("run", "scenarios/tiny-cn.toml", "--draws", "5000000", "--chunk-size", "500",
                 "--out", out, "-q"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300  # a cold Numba cache compiles first
        writing = []
        while not writing and time.monotonic() < deadline and proc.poll() is None:
            writing = list((study / out).glob(".tiny-cn.partial-*/shortage.parquet"))
            time.sleep(0.05)
        assert writing, f"the run never started writing: {proc.stderr.read()!r}"
    except BaseException:
        proc.kill()
        proc.wait()
        proc.stderr.close()
        raise
    return proc


def test_ctrl_c_exits_130_and_removes_the_out_folder_it_made(study):
    """Ctrl-C (SIGINT) mid-run: exit status 130, no traceback, and the --out folder the
    run created for results it never finished is gone again."""
    proc = _writing_run(study, "fresh/runs")
    try:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    assert "Traceback" not in stderr and "Interrupted" in stderr, stderr
    assert not (study / "fresh").exists()


def test_sigkill_removes_the_out_folders_the_run_made_once_empty(study):
    """kill -9 mid-run: the watchdog removes the staging folder and then the --out
    folders the run created (deepest first, only while empty), as Ctrl-C does."""
    (study / "kept").mkdir()
    _kill9(_writing_run(study, "kept/fresh/runs"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (study / "kept/fresh").exists():
        time.sleep(0.05)
    assert not (study / "kept/fresh").exists()
    assert (study / "kept").is_dir()  # made by the user, not the run


def test_a_full_disk_is_a_message_not_a_traceback(study, monkeypatch):
    """The disk filling up mid-run (pyarrow raises OSError ENOSPC): exit status 1, a
    message that says what to do, no traceback, and the earlier results untouched."""
    import errno

    from simcore.results import writer

    invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "-q")
    before = load_result("results/tiny-cn").manifest["digest"]

    def full(self, chunk):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.ResultWriter, "write", full)
    failed = invoke("run", "scenarios/tiny-cn.toml", "--draws", 30, "-q", ok=False)
    assert failed.exit_code == 1, failed.output
    assert "no space left on the disk" in failed.output and "--out" in failed.output
    assert "Traceback" not in failed.output
    assert [p.name for p in (study / "results").iterdir()] == ["tiny-cn"]
    assert load_result("results/tiny-cn").manifest["digest"] == before


def test_out_naming_a_results_folder_is_refused_not_nested(study):
    """--out results/tiny-cn (the run's own folder, not the one holding it) would have put
    a new run in results/tiny-cn/tiny-cn, beside the old one that summarize and verify of
    results/tiny-cn go on reading (a new-user pass); it is refused with the fix."""
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 8, "-q")
    bad = invoke("run", "scenarios/tiny-cn.toml", "--draws", 8, "-q", "--out",
                 "results/tiny-cn", ok=False)
    assert bad.exit_code == 2, bad.output
    text = " ".join(bad.output.split())
    assert f"{Path('results/tiny-cn')} is itself a results folder" in text
    assert f"write beside it, into {Path('results')} (for `run`, `--out` names" in text
    assert sorted(p.name for p in (study / "results" / "tiny-cn").iterdir()
                  if p.is_dir()) == []
    # from inside the results folder: '.' names nothing to move to; its parent is named
    os.chdir(study / "results" / "tiny-cn")
    bad = invoke("run", "../../scenarios/tiny-cn.toml", "--draws", 8, "-q", "--out", ".",
                 ok=False)
    assert bad.exit_code == 2
    assert f"write beside it, into {study / 'results'} " in " ".join(bad.output.split())


def test_a_quiet_run_imports_neither_pandas_nor_plotting_nor_dask(study):
    """`run -q` needs numpy, pyarrow and numba only: pandas alone cost 0.2 s of the start
    (pyarrow imports it when NumPy arrays are converted with pa.array)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simcore.cli import main\n"
        "r = CliRunner().invoke(main, ['run', 'scenarios/tiny-cn.toml', '--draws', '40', "
        "'--chunk-size', '16', '-q'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'dask', 'distributed', "
        "'pyarrow.compute') if m in sys.modules))\n"
    )
    assert _fresh_python(code) == "[]"


def test_a_run_queues_its_first_block_before_it_imports_pyarrow(study):
    """The kernel's first block runs while pyarrow is imported and the writer set up
    (about 50 ms of one core at the start otherwise): `run` imports pyarrow only after
    `simulate` has queued the block, and the results are those of a plain run."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simcore import engine\n"
        "from simcore.cli import main\n"
        "seen = []\n"
        "submit = engine._Block.submit\n"
        "def watched(self, pool):\n"
        "    seen.append('pyarrow' in sys.modules)\n"
        "    return submit(self, pool)\n"
        "engine._Block.submit = watched\n"
        "r = CliRunner().invoke(main, ['run', 'scenarios/tiny-cn.toml', '--draws', '40', "
        "'--chunk-size', '16', '-q', '--out', 'results/early'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(seen[0], 'pyarrow' in sys.modules, len(seen))\n"
    )
    assert _fresh_python(code) == "False True 3"
    early = load_result(study / "results" / "early" / "tiny-cn")
    plain = api.run(study / "scenarios" / "tiny-cn.toml", draws=40)
    assert early.manifest["digest"]["sha256"] == plain.manifest["digest"]["sha256"]


def test_a_run_whose_writer_fails_to_start_stops_the_kernel_it_started(study, monkeypatch):
    """The engine starts before the writer is set up: where the writer's setup fails, the
    blocks queued stop before the error reaches the caller (not when its traceback is
    let go of), and nothing is left in the output folder."""
    import threading

    from simcore.results import writer

    def refuse(self, *args, **kwargs):
        raise OSError("no room for the writer")

    monkeypatch.setattr(writer.ResultWriter, "__init__", refuse)
    prep = api.prepare(study / "scenarios" / "tiny-cn.toml")
    with pytest.raises(OSError, match="no room") as raised:
        api.execute(prep, draws=400, chunk_size=16, out=study / "results" / "refused")
    assert raised.value is not None  # (the traceback stays alive here)
    assert not [t for t in threading.enumerate() if t.name.startswith("supplyshock-kernel")]
    assert not (study / "results" / "refused").exists()


def test_a_run_that_loads_the_cached_kernel_imports_no_compiler_hook_module(study):
    """Numba's IR inliner (numba.core.inline_closurecall, which imports Numba's lowering
    of lists, arrays and strings: 0.08 s) is needed only to compile the kernel; the hook
    that shares its scope copies is put in place at the first compile, so a run that
    loads the kernel from the cache never imports it."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simcore.cli import main\n"
        "r = CliRunner().invoke(main, ['run', 'scenarios/tiny-cn.toml', '--draws', '20', "
        "'-q', '--out', 'results/again'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('numba.core.inline_closurecall' in sys.modules)\n"
    )
    invoke("run", "scenarios/tiny-cn.toml", "--draws", 20, "-q")  # the kernel is cached now
    assert _fresh_python(code) == "False"


def _fresh_python(code: str) -> str:
    """What ``code`` prints in a new interpreter (this checkout on its path)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    return out.stdout.strip()


def test_the_drivers_join_in_docs_results_runs_as_written(tmp_path, monkeypatch):
    """docs/results.md's DuckDB join of zone_prices.parquet and drivers.parquet, run as
    written on the scenario it names: one row per draw, the event's severity beside the
    zone's peak price (it once named an event the scenario no longer has)."""
    import ast

    repo = Path(__file__).resolve().parents[1]
    text = (repo / "docs" / "results.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    example = next(b for b in blocks if "zone_prices.parquet" in b and "drivers" in b)
    monkeypatch.chdir(tmp_path)
    invoke("run", repo / "scenarios" / "ga-ge-licence-2023.toml", "--draws", 40, "-q")
    tree = ast.parse(example)
    last = ast.Expression(tree.body.pop().value)
    scope: dict = {}
    exec(compile(tree, "docs/results.md", "exec"), scope)
    rows = eval(compile(last, "docs/results.md", "eval"), scope).fetchall()
    assert len(rows) == 40
    assert all(peak >= 1 for _, peak in rows) and any(sev is not None for sev, _ in rows)


def test_submodules_the_docs_name_are_attributes_of_a_bare_import():
    """docs/scaling.md's jobqueue snippet calls simcore.api.prepare after `import
    simcore` alone (it stopped with AttributeError); still without importing numba."""
    code = (
        "import sys, simcore\n"
        "assert callable(simcore.api.prepare) and callable(simcore.api.scenario_files)\n"
        "assert callable(simcore.results.load_result)\n"
        "print('numba' in sys.modules)\n"
    )
    assert _fresh_python(code) == "False"


def test_unpaired_runs_name_every_fix():
    """Runs that differ in seed and horizon are told both fixes, not only the seed's."""
    from simcore.results.aggregate import unpaired

    base = {"seed": 11, "horizon": 24}
    why, fix = unpaired(base, {"seed": 3, "horizon": 12})
    assert why == ["seed 3 against the base's 11", "a horizon of 12 months against 24"]
    assert fix == "give its scenario horizon_months = 24 and run it again with --seed 11"
    assert unpaired(base, {"seed": 11, "horizon": 12})[1] == (
        "give its scenario horizon_months = 24")
    assert unpaired(base, {"seed": 3, "horizon": 24})[1] == "run it again with --seed 11"
    assert unpaired(base, {"seed": 11, "horizon": 24}) == ([], "")


def test_the_summarize_table_marks_recovery_beyond_the_horizon():
    """recover_month_p50 equal to the horizon means the median draw short is still short
    in the last month: the table says 24+, not a month of recovery."""
    import pandas as pd

    from simcore.cli.run import _mark_unrecovered

    frame = pd.DataFrame({"recover_month_p50": [24.0, 3.0, float("nan"), 23.5]})
    assert list(_mark_unrecovered(frame, 24)["recover_month_p50"]) == [
        "24+", "3.0", "-", "23.5"]
    assert list(frame["recover_month_p50"])[0] == 24.0  # the caller's frame untouched


def test_run_compare_and_report_name_a_fold_by_the_same_country():
    """A new-user pass read 'tungsten VNM +29' and 'cobalt (mining) CHN +5' in run's
    closing table, 'USA +29' and 'CAN +5' in the report and 'AUS +11' for Indonesia's
    nickel ore in compare: one zone, three names. All three now name a fold by its
    largest buyer (ties: the first in the dataset's order). On the committed partner
    study, compared with itself so that every zone folds whole."""
    root = Path(__file__).resolve().parent.parent
    folder = root / "results" / "partners-2026"
    result = load_result(folder)
    from simcore.cli.run import worst_table
    from simcore.report import analysis as an
    from simcore.results import alike_exposures

    alike = alike_exposures(result)
    from simcore.dataset import load_dataset

    partners = tuple(load_dataset(None).groups["partners"])
    closing = worst_table(result.summary, 1000, n=40, alike=alike, partners=partners)
    # its columns explained (a new-user pass found them in the README only)
    assert "P(short): the share of draws with a month more than 1 % short" in closing
    assert "do not add stages up" in closing
    compared = CliRunner().invoke(main, ["compare", str(folder), str(folder)]).stdout
    stats = an.stats_from_summary(result.summary)
    report = an.worst_exposures(stats, 40, same=lambda k: alike.get(k, k), partners=partners)
    named = {(r.material, r.stage): an.who(r.country, r.alike, r.incl)
             for r in report.itertuples() if r.alike}
    from simcore.report.tables import sensitivity_for_run

    sens = sensitivity_for_run(folder, top=8, n_boot=2)  # (both groups are in the top 8)
    sens_named: dict = {}  # (material, stage) -> the blocks' countries (two may show)
    for m, st, c in zip(sens["material"], sens["stage"], sens["country"], strict=True):
        sens_named.setdefault((m, st), set()).add(c)
    # each named by its largest buyer and, where that is not a partner economy, by the
    # largest partner among them (a new-user pass read tungsten as Vietnam's problem)
    for material, stage, who in (("cobalt", "mining", "CHN +5 incl. FIN"),
                                 ("tungsten", "refining", "VNM +29 incl. USA")):
        pattern = rf"{material}\s+{stage}\s+{re.escape(who)}\s"
        assert re.search(pattern, closing), closing
        assert re.search(pattern, compared), compared
        assert named[(material, stage)] == who
        assert who.split()[0] in sens_named[(material, stage)]


def test_compare_top_never_hides_everything_and_counts_what_it_shows():
    """A review: with --top, a comparison where nothing changed showed 'No exposures to
    compare', and the cut note said 'N of M' with N the option, not the rows shown."""
    folder = Path(__file__).resolve().parent.parent / "results" / "partners-2026"
    out = CliRunner().invoke(main, ["compare", str(folder), str(folder), "--top", "3"])
    assert out.exit_code == 0, out.output
    assert "No exposures to compare" not in out.output
    rows = [ln for ln in out.output.splitlines() if ln.startswith("  ") and " pp " in ln]
    note = re.search(r"\((\d+) of (\d+) rows: no exposure's", out.output)
    assert note and 0 < len(rows) <= 3 and int(note.group(1)) == 3
    assert "no exposure's mean share changes by more than a millionth of its need" \
        in out.output


def test_policy_cost_counts_what_the_base_does_not_hold_alike():
    """A new-user pass: a base holding the variant's stockpile with probability 0 made
    compare say 'the variant adds no intervention'; so did a variant that resized the
    base's stockpile under its id. Held with probability 0 is not held; a resized one
    counts for the difference."""
    from simcore.api import _cost_of
    from simcore.money import cost_line

    def sp(id_, usd, p=1.0, stated=None):
        return {"id": id_, "kind": "stockpile", "cost_usd": stated, "priced_usd": usd,
                "probability": p}

    base = [sp("a", 100.0, p=0.0), sp("b", 50.0), sp("d", 7.0)]
    variant = [sp("a", 100.0), sp("b", 80.0), sp("d", 7.0),
               {"id": "c", "kind": "capacity", "cost_usd": 10.0, "probability": 0.5}]
    cost = _cost_of(base, variant)
    assert cost.ids == ["a", "b", "c"] and cost.changed == ["b"] and cost.removed == []
    assert cost.stockpile_usd == 130.0 and cost.capacity_usd == 10.0
    # a variant holding one with probability 0 lacks it; records without probabilities
    # (earlier runs) count as held, as before
    lacks = _cost_of(base, [sp("b", 50.0, p=0.0), sp("d", 7.0)])
    assert lacks.ids == [] and lacks.removed == ["b"]
    old = [{k: v for k, v in i.items() if k != "probability"} for i in variant]
    assert _cost_of(old, old).ids == []

    class Run:  # what cost_line reads of a Result
        def __init__(self, listed):
            self.manifest = {"interventions": listed}

    # a review: an unknown base cost makes the difference unknown; a kind changed is one
    # removed and one added; a stockpile held for less gives no ratio
    cap = {"id": "x", "kind": "capacity", "cost_usd": None, "probability": 1.0}
    known = dict(cap, cost_usd=5e8)
    assert _cost_of([cap], [known]).unstated == ["x"]
    swapped = _cost_of([sp("x", 1e8)], [known])
    assert swapped.ids == ["x"] and swapped.removed == ["x"] and swapped.capacity_usd == 5e8
    shrunk = _cost_of([sp("b", 50.0)], [sp("b", 30.0), sp("e", 60.0)])
    assert shrunk.ids == ["e"] and shrunk.removed == ["b"] and shrunk.stockpile_usd == 60.0
    assert "no value per dollar" in cost_line(Run([sp("b", 50.0)]),
                                              Run([sp("b", 30.0), sp("e", 60.0)]), -10.0)
    line = cost_line(Run(base), Run(variant), -280.0)
    assert line.startswith("Policy cost (3 interventions the base does not have or holds "
                           "at another cost (b: the difference)")
    assert "2.00 of shortage value avoided per dollar" in line
