"""``supplyshock data``: exit codes, clean errors, and `show` numbers worked out by hand
from the tiny dataset (tests/data/tiny/README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simcore.cli import main
from simcore.datasummary import dependence, hhi, origin_content


def _run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def _clean_failure(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_ok(tiny_path, tiny_tensor):
    r = _run("data", "validate", tiny_path)
    assert r.exit_code == 0, r.output
    line = r.output.splitlines()[0]
    assert line.startswith("OK ")
    assert "3 materials (4 material-stages), 5 countries, 3 groups, 22 flows, 3 stocks" in line
    assert line.endswith(tiny_tensor.hash)


def test_validate_prints_warnings(tiny_copy, edit_csv):
    edit_csv(tiny_copy, "flows.csv", lambda rows: rows + [["graphite", "refining", "USA",
                                                           "USA", "5"]])
    r = _run("data", "validate", tiny_copy)
    assert r.exit_code == 0, r.output
    assert "1 warnings" in r.output
    assert r.output.splitlines()[1].startswith("warning: flows.csv line 24: USA produces 5")


def test_validate_errors_exit_nonzero_without_traceback(tiny_copy, edit_csv):
    edit_csv(tiny_copy, "flows.csv", lambda rows: rows + [["gallium", "refining", "CHM",
                                                           "USA", "-3"]])
    r = _run("data", "validate", tiny_copy)
    _clean_failure(r)
    assert "flows.csv line 24" in r.output and "did you mean 'CHN'" in r.output
    assert "[negative]" in r.output and "2 problems" in r.output


def test_validate_of_a_scenarios_folder_points_to_the_scenarios_validate(tmp_path):
    """A new-user pass gave `data validate` its folder of scenario files and was told to
    create materials.csv."""
    (tmp_path / "my study").mkdir()
    (tmp_path / "my study" / "a.toml").write_text("[scenario]\n")
    r = _run("data", "validate", tmp_path / "my study")
    _clean_failure(r)
    assert "holds scenario files (*.toml), not a dataset" in r.output
    assert "supplyshock validate '" in r.output and "my study'" in r.output


def test_validate_missing_folder(tmp_path):
    _clean_failure(_run("data", "validate", tmp_path / "nowhere"))


def test_validate_builtin_missing(monkeypatch, tmp_path):
    monkeypatch.setattr("simcore.dataset.builtin_path", lambda: tmp_path)
    r = _run("data", "validate")
    _clean_failure(r)
    assert "no built-in dataset is installed" in r.output


def _rows(output: str) -> dict[str, list[str]]:
    """Table lines keyed by their first cell(s) up to the first number."""
    out = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 2:
            out[cells[0]] = cells[1:]
    return out


def test_show_overview_numbers(tiny_path):
    r = _run("data", "show", tiny_path)
    assert r.exit_code == 0, r.output
    lines = {tuple(line.split()[:2]): line.split() for line in r.output.splitlines()[2:6]}
    # gallium: CHN 90 of 100 -> HHI 8200; USA 20 of 25 from CHN; partners 50 of 60
    assert lines["gallium", "refining"][-5:] == ["90.0%", "8,200", "90.0%", "80.0%", "83.3%"]
    assert lines["graphite", "mining"][-4:] == ["4,600", "60.0%", "-", "0.0%"]
    assert lines["graphite", "refining"][-4:] == ["6,800", "80.0%", "66.7%", "66.7%"]
    assert lines["antimony", "refining"][-4:] == ["5,000", "50.0%", "33.3%", "28.6%"]


def test_show_material_numbers(tiny_path):
    r = _run("data", "show", "--dataset", tiny_path, "--material", "gallium")
    assert r.exit_code == 0, r.output
    assert "world production 100 t/yr, HHI 8,200 (highly concentrated)" in r.output
    rows = _rows(r.output)
    # production, share, need, share, net imports, capacity, stock
    assert rows["CHN China"] == ["90", "90.0%", "40", "40.0%", "-50", "120", "0"]
    assert rows["JPN Japan"] == ["10", "10.0%", "25", "25.0%", "15", "20", "6"]
    assert rows["USA United States"] == ["0", "0.0%", "25", "25.0%", "25", "0", "10"]
    assert "top producers: CHN 90.0%, JPN 10.0%" in r.output
    assert "top net importers: USA 25 t/yr, JPN 15 t/yr, DEU 10 t/yr" in r.output
    lines = r.output.splitlines()
    at = lines.index("  supplied from CHN, share of need:")
    assert lines[at + 1].split() == ["USA", "80.0%", "of", "25", "t/yr"]
    assert lines[at + 2].split() == ["partners", "83.3%", "of", "60", "t/yr"]


def test_show_material_stage_and_top(tiny_path):
    r = _run("data", "show", tiny_path, "-m", "graphite", "-s", "mining", "--top", "2")
    assert r.exit_code == 0, r.output
    assert "refining:" not in r.output
    rows = _rows(r.output)
    assert rows["CHN China"] == ["60", "60.0%", "80", "80.0%", "20", "60"]
    assert "AUS Australia" in rows and "USA United States" not in rows
    assert "2 more countries" in r.output
    lines = r.output.splitlines()
    at = lines.index("  supplied from CHN, share of need:")
    assert lines[at + 1].split() == ["USA", "no", "need", "at", "this", "stage"]
    assert lines[at + 2].split() == ["partners", "0.0%", "of", "20", "t/yr"]


@pytest.mark.parametrize(
    ("args", "text"),
    [(["-m", "galium"], "did you mean 'gallium'"),
     (["-m", "graphite", "-s", "refning"], "did you mean 'refining'"),
     (["-s", "smelting"], "no material has stage 'smelting'")],
)
def test_show_bad_names(tiny_path, args, text):
    r = _run("data", "show", tiny_path, *args)
    _clean_failure(r)
    assert text in r.output


def test_show_both_path_forms_conflict(tiny_path, tmp_path):
    r = _run("data", "show", tiny_path, "--dataset", tmp_path)
    assert r.exit_code == 2 and "not both" in r.output


def test_build_without_builder_is_a_clean_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_databuild(name, *args, **kwargs):
        if name == "simcore.databuild":
            raise ImportError("No module named 'simcore.databuild'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_databuild)
    r = _run("data", "build", "--out", "/nonexistent/out")
    _clean_failure(r)
    assert "dataset builder is not available" in r.output


def test_hhi_reference():
    assert hhi(np.array([90.0, 10.0])) == pytest.approx(8200)
    assert hhi(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(2500)
    assert hhi(np.zeros(3)) == 0.0


def test_origin_content_through_a_foreign_refiner(tiny_copy, edit_csv):
    # JPN's refinery now takes 10 t of CHN ore out of its 20 t feed: half of JPN's refined
    # graphite is Chinese content. USA refining need 30: 20 from CHN direct, 10 from JPN.
    from simcore.dataset import load_dataset

    def fn(rows):
        return [r if r[:4] != ["graphite", "mining", "USA", "JPN"]
                else ["graphite", "mining", "CHN", "JPN", "10"] for r in rows]

    edit_csv(tiny_copy, "flows.csv", fn)
    t = load_dataset(tiny_copy)
    chn, usa = t.countries.index("CHN"), t.countries.index("USA")
    c = origin_content(t, 1, chn)
    assert c[1, t.countries.index("JPN")] == pytest.approx(0.5)
    refining = dependence(t, 1, chn, [usa])[1]
    assert refining.direct == pytest.approx(20 / 30)
    assert refining.upstream == pytest.approx((20 + 10 * 0.5) / 30)


def test_data_commands_do_not_import_numba(tiny_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simcore.cli import main\n"
        f"r = CliRunner().invoke(main, ['data', 'show', {str(tiny_path)!r}, '-m', 'graphite'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(main, ['data', 'validate', {str(tiny_path)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_builtin_dataset_commands_run():
    # the README's first command is `supplyshock data show` on the built-in baseline
    from simcore.dataset import builtin_path

    if not (builtin_path() / "materials.csv").is_file():
        pytest.skip("the built-in baseline is not built yet")
    r = _run("data", "validate")
    assert r.exit_code == 0 and r.output.startswith("OK built-in baseline"), r.output
    r = _run("data", "show")
    assert r.exit_code == 0, r.output
    r = _run("data", "show", "--material", "gallium")
    assert r.exit_code == 0 and "supplied from CHN" in r.output, r.output


@pytest.mark.slow
def test_build_reproduces_the_builtin_dataset(tmp_path):
    from simcore.dataset import builtin_path, load_dataset

    pytest.importorskip("simcore.databuild")
    if not (builtin_path() / "materials.csv").is_file():
        pytest.skip("the built-in baseline is not built yet")
    r = _run("data", "build", "--out", tmp_path / "baseline")
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith(f"hash {load_dataset().hash}")


def test_build_with_own_tables_changes_only_what_they_say(tmp_path):
    """`data build --tables` swaps in a user's consumption shares: Japan's share of tellurium
    use moves to the new estimate, and the built-in baseline is left alone."""
    import csv

    import simcore.databuild
    from simcore.dataset import builtin_path, load_dataset

    packaged = Path(simcore.databuild.__file__).parent / "tables"
    tables = tmp_path / "tables"
    tables.mkdir()
    with open(packaged / "consumption_shares.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    ga_jpn = [r for r in rows if r["material"] == "tellurium" and r["country"] == "JPN"]
    assert ga_jpn, "the packaged table has a Japanese tellurium share to replace"
    ga_jpn[0]["share"] = "0.05"
    ga_jpn[0]["reasoning"] = "test: a user's own estimate"
    with open(tables / "consumption_shares.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)

    before = load_dataset(builtin_path()).hash
    out = tmp_path / "mine"
    result = CliRunner().invoke(main, ["data", "build", "--tables", str(tables), "--out", str(out)])
    assert result.exit_code == 0, result.output
    mine = load_dataset(out)
    k = mine.material_index("tellurium")
    last = len(mine.stages[k]) - 1
    need = mine.need[k, last]
    share = need[mine.country_index("JPN")] / need.sum()
    assert abs(share - 0.05) < 1e-4  # shares of world use; CSV rounding aside
    assert mine.hash != before
    assert load_dataset(builtin_path()).hash == before

    refused = CliRunner().invoke(main, ["data", "build", "--tables", str(tables)])
    assert refused.exit_code != 0
    assert "--out" in refused.output


def test_build_of_an_invalid_dataset_replaces_nothing(tmp_path):
    """Tables that build a dataset with errors (here groups nesting in a cycle): the
    build says so and leaves the earlier build where it was, with nothing beside it."""
    import simcore.databuild

    packaged = Path(simcore.databuild.__file__).parent / "tables"
    tables = tmp_path / "tables"
    tables.mkdir()
    text = (packaged / "groups.csv").read_text("utf-8")
    (tables / "groups.csv").write_text(text + "EU27,G7,x\nG7,EU27,x\n", "utf-8")
    out = tmp_path / "out" / "mine"
    out.mkdir(parents=True)
    (out / "materials.csv").write_text("an earlier build", "utf-8")
    r = _run("data", "build", "--tables", tables, "--out", out)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "nothing was written" in r.output and "EU27 -> G7 -> EU27" in r.output
    assert (out / "materials.csv").read_text("utf-8") == "an earlier build"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine"]


@pytest.mark.parametrize("name, content, message", [
    ("consumption_share.csv", b"material,country,share,reasoning,source\n",
     "replaces no packaged table (did you mean 'consumption_shares.csv'"),
    ("consumption_shares.csv",
     b"material,country,share,reasoning,source\nree_ndpr,CHN,0.5,caf\xe9,x\n",
     "not UTF-8 text"),
])
def test_build_refuses_tables_it_cannot_use(tmp_path, name, content, message):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / name).write_bytes(content)
    r = _run("data", "build", "--tables", tables, "--out", tmp_path / "mine")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert message in r.output and name in r.output
    assert not (tmp_path / "mine").exists()


def test_build_refuses_a_tables_folder_without_tables(tmp_path):
    """An empty --tables folder built the packaged baseline, exit 0, without a word."""
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "notes.txt").write_text("x", "utf-8")
    r = _run("data", "build", "--tables", tmp_path / "tables", "--out", tmp_path / "mine")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "holds no .csv table" in r.output and "consumption_shares.csv" in r.output
    assert not (tmp_path / "mine").exists()


def _edited_table(tmp_path, name: str, edit) -> Path:
    """A --tables folder holding the packaged table ``name`` with ``edit(text)`` applied."""
    import simcore.databuild

    packaged = Path(simcore.databuild.__file__).parent / "tables"
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / name).write_text(edit((packaged / name).read_text("utf-8")), "utf-8")
    return tables


def test_a_build_error_names_the_table_file_it_read(tmp_path):
    """A new-user pass read 'consumption_shares.csv: shares of ree_dytb sum to 1.3300 > 1'
    and could not tell their own table from the packaged one."""
    def edit(text):
        assert "\nree_dytb,CHN,0.85," in text
        return text.replace("\nree_dytb,CHN,0.85,", "\nree_dytb,CHN,1.0,")

    tables = _edited_table(tmp_path, "consumption_shares.csv", edit)
    r = _run("data", "build", "--tables", tables, "--out", tmp_path / "mine")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"{tables / 'consumption_shares.csv'}: shares of ree_dytb sum to" in r.output
    assert not (tmp_path / "mine").exists()


def test_build_lists_every_bad_row_of_the_tables_at_once(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "consumption_shares.csv").write_text(
        "material,country,share,reasoning,source\n"
        "gallium,JPN,1.5,x,y\ngallium,JPX,0.1,x,y\ngallium,KOR,lots,x,y\n"
        "galium,USA,usgs,x,y\n", "utf-8")
    r = _run("data", "build", "--tables", tables, "--out", tmp_path / "mine")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "4 problems in the tables" in r.output
    for says in ("line 2: share 1.5 is outside 0..1", "line 3: unknown country 'JPX'",
                 "line 4: share 'lots' is not a number", "unknown material 'galium'"):
        assert says in r.output, (says, r.output)
    assert not (tmp_path / "mine").exists()


def test_build_refuses_a_stage_the_material_lacks_and_duplicate_rows(tmp_path):
    """A review found 'antimony,Refining,CHN,0.70' dropped without a word: China's
    share of antimony refining went to the rest of the world."""
    def edit(text):
        row = next(line for line in text.splitlines()
                   if line.startswith("antimony,refining,CHN,"))
        text = text.replace(row, row.replace(",refining,", ",Refining,"))
        twice = next(line for line in text.splitlines()
                     if line.startswith("germanium,refining,CAN,"))
        return text.replace(twice, twice + "\n" + twice)

    tables = _edited_table(tmp_path, "production_shares.csv", edit)
    r = _run("data", "build", "--tables", tables, "--out", tmp_path / "mine")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    out = " ".join(r.output.split())
    assert "antimony has no stage 'Refining' (did you mean 'refining'" in out, out
    assert "duplicate row for (germanium, refining, CAN)" in out and "keep one" in out
    assert not (tmp_path / "mine").exists()


def test_show_routes_lists_the_largest_routes_with_their_source():
    r = _run("data", "show", "--material", "graphite", "--stage", "mining", "--routes", "5")
    assert r.exit_code == 0, r.output
    lines = [line.split() for line in r.output.splitlines() if "->" in line]
    assert len(lines) == 5
    assert lines[0][1:4] == ["CHN", "->", "KOR"] and lines[0][-1] == "observed"
    assert all(line[-1] in ("observed", "fitted", "estimated") for line in lines)
    assert "observed: the route is in the trade data" in r.output
    # every column is said (a new-user pass found "of exporter's" defined nowhere)
    assert "of its exports" in r.output and "of its exports: its share of the exporter's" \
        in " ".join(r.output.split())


def test_show_routes_of_a_dataset_without_sources_reads_unknown(tiny_path):
    r = _run("data", "show", str(tiny_path), "-m", "gallium", "--routes", "2")
    assert r.exit_code == 0, r.output
    assert "CHN -> USA" in r.output and "unknown" in r.output


def test_show_routes_needs_a_material():
    r = _run("data", "show", "--routes", "3")
    assert r.exit_code == 2 and "--routes lists one material's routes" in r.output


def test_routes_are_ordered_and_shares_add_up():
    from simcore.dataset import load_dataset
    from simcore.datasummary import routes

    t = load_dataset()
    k = t.material_index("lithium")
    found = routes(t, k, 1, 500)
    tonnes = [r.tonnes for r in found]
    assert tonnes == sorted(tonnes, reverse=True)
    assert sum(r.share_of_trade for r in found) == pytest.approx(1.0)
    chn = t.country_index("CHN")
    mine = [r for r in found if r.exporter == chn]
    assert sum(r.share_of_exports for r in mine) == pytest.approx(1.0)
