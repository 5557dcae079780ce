"""`supplyshock validate FILE...`: every problem listed, exit 2, no traceback, no numba."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from click.testing import CliRunner

from simcore.cli import main

GOOD = """
[scenario]
name = "good"
dataset = "{tiny}"

[[events]]
id = "cn-ga"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
duration_months = 12
severity = 1.0
"""


def files(tmp_path, tiny_path):
    good = tmp_path / "good.toml"
    good.write_text(textwrap.dedent(GOOD).replace("{tiny}", tiny_path.as_posix()), "utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text("utf-8").replace('"CHN"', '"CHNA"')
                   .replace("severity = 1.0", "severity = 1.5"), "utf-8")
    return good, bad


def test_validate_ok(tmp_path, tiny_path):
    good, _ = files(tmp_path, tiny_path)
    result = CliRunner().invoke(main, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "'good'" in result.output and "1 event," in result.output


def test_validate_lists_every_problem_of_every_file(tmp_path, tiny_path):
    good, bad = files(tmp_path, tiny_path)
    bad2 = tmp_path / "bad2.toml"
    bad2.write_text(bad.read_text("utf-8"), "utf-8")
    result = CliRunner().invoke(main, ["validate", str(bad), str(good), str(bad2)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.output.count("did you mean 'CHN'") == 2
    assert result.output.count("events[0].severity = 1.5") == 2
    assert "2 of 3 files with problems" in result.output


def test_validate_checks_a_file_named_twice_once(tmp_path, tiny_path, monkeypatch):
    # the same file by two spellings, and a name standing for nothing: as `run` reads them
    good, bad = files(tmp_path, tiny_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(bad), "bad.toml", str(good),
                                       "absent.toml"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.count("did you mean 'CHN'") == 1
    assert "absent.toml: no such scenario file or folder" in result.output
    assert "2 of 3 files with problems" in result.output


def test_validate_refuses_two_files_of_one_scenario_name(tmp_path, tiny_path):
    """`run` refuses two files named alike (their results would share OUT/<name>); a
    review found validate said ok to both."""
    good, _ = files(tmp_path, tiny_path)
    twin = tmp_path / "twin.toml"
    twin.write_text(good.read_text("utf-8").replace("severity = 1.0", "severity = 0.5"),
                    "utf-8")
    result = CliRunner().invoke(main, ["validate", str(good), str(twin)])
    assert result.exit_code == 2, result.output
    assert f"{twin}: scenario name 'good' is also {good}'s" in result.output
    assert "rename one" in result.output


def test_validate_against_another_dataset(tmp_path, tiny_path):
    good, _ = files(tmp_path, tiny_path)
    nowhere = tmp_path / "nowhere.toml"
    nowhere.write_text(good.read_text("utf-8").replace(tiny_path.as_posix(), "/no/such/dir"),
                       "utf-8")
    result = CliRunner().invoke(main, ["validate", str(nowhere)])
    assert result.exit_code == 2 and "dataset folder" in result.output
    result = CliRunner().invoke(main, ["validate", "--dataset", str(tiny_path), str(nowhere)])
    assert result.exit_code == 0, result.output


def test_validate_does_not_import_numba(tmp_path, tiny_path):
    good, _ = files(tmp_path, tiny_path)
    code = (
        "import sys\n"
        "from simcore.cli import main\n"
        f"try:\n    main(['validate', {str(good)!r}])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_validate_finds_what_run_would_refuse(tmp_path, tiny_path):
    """A stockpile of tonnes for countries with no need of the material: `run` stops at
    compiling ("cannot be split by need"); `validate` says so first, with the key path."""
    from tests.test_scenario import MINIMAL, STOCKPILE_FOR_AUS

    path = tmp_path / "s.toml"
    path.write_text(MINIMAL + STOCKPILE_FOR_AUS + "tonnes = 10\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path), "--dataset", str(tiny_path)])
    assert result.exit_code == 2, result.output
    assert "interventions[0].countries" in result.output
    assert "cannot be split by need" in result.output


def test_a_folder_stands_for_its_scenario_files_only(tmp_path, tiny_path):
    good, _ = files(tmp_path, tiny_path)
    folder = tmp_path / "study"
    folder.mkdir()
    good.rename(folder / "good.toml")
    (folder / "old.toml").mkdir()  # a folder named like a scenario file: not one
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "ok " in result.output and "old.toml" not in result.output
