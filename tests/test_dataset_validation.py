"""Each named check: break one thing in a copy of the tiny dataset, assert the named error.

Messages must name the file, the line, the bad value and the fix.
"""

from __future__ import annotations

import numpy as np
import pytest

from simcore.dataset import DatasetProblems, load_dataset
from simcore.errors import DatasetError


def _replace(match: list[str], new: list[str]):
    """Row edit: the row starting with ``match`` becomes ``new``."""

    def fn(rows):
        hits = [n for n, r in enumerate(rows) if r[: len(match)] == match]
        assert len(hits) == 1, (match, hits)
        rows[hits[0]] = new
        return rows

    return fn


def _append(*new):
    return lambda rows: rows + [list(r) for r in new]


def _problems(folder) -> DatasetProblems:
    with pytest.raises(DatasetProblems) as info:
        load_dataset(folder)
    assert isinstance(info.value, DatasetError) and isinstance(info.value, ValueError)
    return info.value


def _only(folder, check: str):
    exc = _problems(folder)
    assert exc.checks == {check}, str(exc)
    return exc


def test_missing_required_file(tiny_copy):
    (tiny_copy / "flows.csv").unlink()
    exc = _only(tiny_copy, "missing-file")
    assert "flows.csv" in str(exc) and "material,stage,exporter,importer" in str(exc)


def test_wrong_header_missing_column(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv",
             _replace(["material"], ["material", "stage", "exporter", "importr",
                                     "tonnes_per_year"]))
    exc = _only(tiny_copy, "header")
    msg = str(exc)
    assert "flows.csv line 1" in msg and "missing column 'importer'" in msg
    assert "did you mean 'importer'" not in msg  # suggestion goes the other way:
    assert "(did you mean 'importr'?)" in msg


def test_wrong_header_order(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "countries.csv", _replace(["code", "name"], ["name", "code"]))
    assert "wrong order" in str(_only(tiny_copy, "header"))


def test_column_count(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "countries.csv", _append(["FRA", "France", "extra"]))
    exc = _only(tiny_copy, "column-count")
    assert "countries.csv line 7" in str(exc)


def test_unknown_country_with_suggestion(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["gallium", "refining", "CHN", "USA"], ["gallium", "refining", "CHM", "USA", "20"]))
    exc = _only(tiny_copy, "unknown-code")
    msg = str(exc)
    assert "flows.csv line 3" in msg and "'CHM'" in msg and "did you mean 'CHN'" in msg
    assert "countries.csv" in msg


def test_unknown_material_with_suggestion(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "stocks.csv", _append(["galium", "USA", "1", "1", "x"]))
    msg = str(_only(tiny_copy, "unknown-code"))
    assert "stocks.csv line 5" in msg and "did you mean 'gallium'" in msg


def test_group_in_flows_is_not_allowed(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", _append(["antimony", "refining", "AUS", "EU27", "1"]))
    assert "is a group" in str(_only(tiny_copy, "group-not-allowed"))


def test_stage_the_material_does_not_have(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["gallium", "refining", "JPN", "USA"], ["gallium", "mining", "JPN", "USA", "5"]))
    msg = str(_only(tiny_copy, "unknown-stage"))
    assert "flows.csv line 7" in msg and "'gallium' has no stage 'mining'" in msg
    assert "its stages (materials.csv): refining" in msg


@pytest.mark.parametrize(
    ("value", "check"),
    [("-5", "negative"), ("nan", "non-finite"), ("inf", "non-finite"),
     ("1,000", "not-a-number"), ("", "not-a-number"), ("20 t", "not-a-number"),
     ("1_000", "not-a-number"), ("\u0661\u0664", "not-a-number"),
     ("\uff11\uff14.5", "not-a-number"), ("0x10", "not-a-number"),
     ("1e40", "too-large"), ("1e16", "too-large")],
)
def test_bad_numbers(edit_csv, tiny_copy, value, check):
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["antimony", "refining", "AUS", "JPN"], ["antimony", "refining", "AUS", "JPN", value]))
    msg = str(_only(tiny_copy, check))
    assert "flows.csv line 22" in msg and f"tonnes_per_year {value!r}" in msg


def test_overflowing_values_are_named_before_they_reach_the_engine(edit_csv, tiny_copy):
    """A flow of 1e40 t once passed and gave need_t = inf with a numpy overflow warning."""
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["antimony", "refining", "AUS", "JPN"], ["antimony", "refining", "AUS", "JPN", "1e40"]))
    msg = str(_only(tiny_copy, "too-large"))
    assert "flows.csv line 22: tonnes_per_year '1e40' is above 1e+15" in msg
    assert "check the unit" in msg
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["antimony", "refining", "AUS", "JPN"], ["antimony", "refining", "AUS", "JPN", "20"]))
    edit_csv(tiny_copy, "materials.csv", _replace(
        ["antimony"], ["antimony", "Antimony", "t Sb", "refining", "4e20", "x"]))
    msg = str(_only(tiny_copy, "too-large"))
    assert "materials.csv line 4: price_usd_per_t '4e20'" in msg
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["antimony", "refining", "AUS", "JPN"], ["antimony", "refining", "AUS", "JPN", "1e15"]))
    edit_csv(tiny_copy, "materials.csv", _replace(
        ["antimony"], ["antimony", "Antimony", "t Sb", "refining", "1e15", "x"]))
    edit_csv(tiny_copy, "capacity.csv", lambda rows: [r for r in rows if r[0] != "antimony"])
    tensor = load_dataset(tiny_copy)  # the largest allowed values: sums stay finite
    assert np.isfinite(tensor.need.sum()) and np.isfinite(tensor.need.max() * 600 * 1e15)


def test_negative_stock_and_price(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "stocks.csv", _replace(
        ["gallium", "USA"], ["gallium", "USA", "10", "-1", "x"]))
    edit_csv(tiny_copy, "capacity.csv", _replace(
        ["antimony"], ["antimony", "refining", "AUS", "-60"]))
    exc = _only(tiny_copy, "negative")
    # all problems at once, across the files of one phase (the tables of numbers)
    assert {p.file for p in exc.problems} == {"stocks.csv", "capacity.csv"}


def test_negative_price(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "materials.csv", _replace(
        ["antimony"], ["antimony", "Antimony", "t Sb", "refining", "-40000", "x"]))
    assert "materials.csv line 4: price_usd_per_t '-40000'" in str(_only(tiny_copy, "negative"))


@pytest.mark.parametrize("zero", ["0", "-0", "0.0", "-0.000"])
def test_zero_price(edit_csv, tiny_copy, zero):
    edit_csv(tiny_copy, "materials.csv", _replace(
        ["antimony"], ["antimony", "Antimony", "t Sb", "refining", zero, "x"]))
    message = str(_only(tiny_copy, "zero-price"))
    assert f"materials.csv line 4: price_usd_per_t '{zero}' is zero" in message
    assert "> 0" in message


@pytest.mark.parametrize("name, near", [("stock.csv", "stocks.csv"),
                                        ("Market.csv", "market.csv")])
def test_a_table_under_another_name_is_a_warning(tiny_copy, name, near):
    """A renamed stocks.csv loaded with no stocks, without a word."""
    source = tiny_copy / near
    if source.exists():
        source.rename(tiny_copy / name)
    else:
        (tiny_copy / name).write_text("material,parameter\n", "utf-8")
    from simcore.dataset import check_dataset

    load_dataset(tiny_copy)  # a warning does not stop a load
    warnings = [w for w in check_dataset(tiny_copy) if w.check == "unknown-file"]
    assert len(warnings) == 1, warnings
    assert warnings[0].file == name and f"did you mean '{near}'" in warnings[0].message


def test_all_problems_of_a_file_at_once(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", _append(
        ["gallium", "refining", "CHX", "USA", "1"],
        ["gallium", "refining", "CHN", "USX", "1"],
        ["gallium", "refining", "JPN", "DEU", "-1"],
    ))
    exc = _problems(tiny_copy)
    assert [p.line for p in exc.problems] == [24, 25, 26]
    assert "3 problems" in str(exc)


def test_duplicate_flow(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", _append(["gallium", "refining", "CHN", "USA", "3"]))
    msg = str(_only(tiny_copy, "duplicate-key"))
    assert "flows.csv line 24" in msg and "first on line 3" in msg


@pytest.mark.parametrize(
    ("name", "row"),
    [("materials.csv", ["gallium", "Ga", "t", "refining", "1", "x"]),
     ("countries.csv", ["USA", "again"]),
     ("capacity.csv", ["gallium", "refining", "CHN", "130"]),
     ("stocks.csv", ["gallium", "USA", "1", "1", "x"]),
     ("groups.csv", ["G7", "USA"]),
     ("assumptions.csv", ["flows", "gallium/refining", "v", "r", "s"])],
)
def test_duplicate_keys_everywhere(edit_csv, tiny_copy, name, row):
    edit_csv(tiny_copy, name, _append(row))
    assert name in str(_only(tiny_copy, "duplicate-key"))


def test_capacity_below_production(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "capacity.csv", _replace(
        ["gallium", "refining", "CHN"], ["gallium", "refining", "CHN", "80"]))
    msg = str(_only(tiny_copy, "capacity-below-production"))
    assert "capacity.csv line 2" in msg and "80" in msg and "production 90" in msg


def test_bad_country_code(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "countries.csv", _append(["Fra", "France"]))
    assert "three capital letters" in str(_only(tiny_copy, "bad-code"))


def test_bad_material_id(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "materials.csv", _append(["Rare Earths", "REE", "t", "refining", "1",
                                                  "x"]))
    assert "'rare_earths'" in str(_only(tiny_copy, "bad-id"))


def test_bad_stages(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "materials.csv", _replace(
        ["gallium"], ["gallium", "Gallium", "t", "refining;;", "1", "x"]))
    assert "separated by ';'" in str(_only(tiny_copy, "bad-stages"))


def test_group_unknown_member(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "groups.csv", _append(["G7", "EU72"]))
    msg = str(_only(tiny_copy, "unknown-member"))
    assert "groups.csv line 10" in msg and "did you mean 'EU27'" in msg


def test_group_cycle(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "groups.csv", _append(["EU27", "partners"]))
    msg = str(_only(tiny_copy, "group-cycle"))
    assert "EU27 -> partners -> EU27" in msg or "partners -> EU27 -> partners" in msg


def test_group_named_like_a_country(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "groups.csv", _append(["USA", "JPN"]))
    _only(tiny_copy, "group-clash")


def test_no_feed_is_a_warning(edit_csv, tiny_copy):
    # USA starts refining graphite without any mining feed recorded
    edit_csv(tiny_copy, "flows.csv", _append(["graphite", "refining", "USA", "USA", "5"]))
    t = load_dataset(tiny_copy)
    assert len(t.warnings) == 1
    w = t.warnings[0]
    assert "flows.csv line 24" in w and "USA produces 5" in w and "[no-feed]" in w


def test_a_stock_held_where_the_material_is_neither_made_nor_used_is_a_warning(
        edit_csv, tiny_copy):
    """A review found such a stock silently ignored by the simulator (engine: only the
    countries taking part in a material are looked at)."""
    edit_csv(tiny_copy, "stocks.csv", _append(["gallium", "AUS", "50", "5", "x"]))
    t = load_dataset(tiny_copy)
    assert len(t.warnings) == 1
    w = t.warnings[0]
    assert "stocks.csv line 5" in w and "AUS holds a state stock of gallium" in w
    assert "[idle-stock]" in w and "ignores the stock" in w


def test_not_utf8(tiny_copy):
    (tiny_copy / "countries.csv").write_bytes(b"code,name\nCHN,China\nCIV,C\xf4te d'Ivoire\n")
    assert "UTF-8" in str(_only(tiny_copy, "encoding"))


def test_empty_required_cell(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "materials.csv", _replace(
        ["antimony"], ["antimony", "Antimony", "", "refining", "40000", "x"]))
    assert "materials.csv line 4: unit is empty" in str(_only(tiny_copy, "empty"))


def test_empty_table(tiny_copy):
    (tiny_copy / "countries.csv").write_text("code,name\n")
    exc = _problems(tiny_copy)
    assert exc.checks == {"empty-table"}  # (groups are checked once countries are)
    assert "countries.csv: has no rows; list at least one country" in str(exc)


def test_flows_with_a_header_only(tiny_copy):
    """Passed with idle-stock warnings only, and every run had no exposure."""
    header = (tiny_copy / "flows.csv").read_text("utf-8").splitlines()[0]
    (tiny_copy / "flows.csv").write_text(header + "\n", "utf-8")
    exc = _problems(tiny_copy)
    assert "empty-table" in exc.checks, str(exc)
    assert "flows.csv: has no rows; list at least one flow" in str(exc)


def test_group_number_and_datapackage_problems_come_in_one_report(edit_csv, tiny_copy):
    """A group's unknown member does not hide a bad number in flows.csv, nor does either
    hide a datapackage.json naming a missing file (they came one fix at a time)."""
    with open(tiny_copy / "groups.csv", "a", encoding="utf-8") as fh:
        fh.write("G7,FRX\n")
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["antimony", "refining", "AUS", "JPN"], ["antimony", "refining", "AUS", "JPN", "abc"]))
    (tiny_copy / "datapackage.json").write_text('{"resources": [{"path": "flowz.csv"}]}')
    exc = _problems(tiny_copy)
    assert {"unknown-member", "not-a-number"} <= exc.checks, str(exc)
    edit_csv(tiny_copy, "flows.csv", _replace(
        ["antimony", "refining", "AUS", "JPN"], ["antimony", "refining", "AUS", "JPN", "5"]))
    exc = _problems(tiny_copy)
    assert {"unknown-member", "datapackage"} <= exc.checks, str(exc)


def test_malformed_csv(tiny_copy):
    # a runaway quote swallows the rest of the file into one huge field
    (tiny_copy / "countries.csv").write_text(
        'code,name\nUSA,United States\nCHN,"China\n' + "x" * 200_000 + "\n")
    msg = str(_only(tiny_copy, "malformed-csv"))
    assert "countries.csv line 3: cannot be read as CSV from this line on" in msg
    assert "a quote opened here is probably never closed" in msg


# --- flows.csv: the optional source column -----------------------------------------------------


def _with_source(rows, value="observed"):
    """flows.csv rows with a source column, every flow given ``value``."""
    return [rows[0] + ["source"]] + [r + [value] for r in rows[1:]]


def test_flow_source_column_is_optional_and_read(edit_csv, tiny_copy, tiny_tensor):
    edit_csv(tiny_copy, "flows.csv", _with_source)
    t = load_dataset(tiny_copy)
    assert t.meta["flow_source"][("gallium", "refining", "CHN", "USA")] == "observed"
    assert tiny_tensor.meta["flow_source"] == {}  # no column: every flow reads "unknown"
    assert t.hash != tiny_tensor.hash  # provenance is content


def test_flow_source_empty_or_unknown_keeps_the_hash(edit_csv, tiny_copy, tiny_tensor):
    edit_csv(tiny_copy, "flows.csv", lambda rows: _with_source(rows, "unknown"))
    assert load_dataset(tiny_copy).hash == tiny_tensor.hash
    edit_csv(tiny_copy, "flows.csv", lambda rows: [rows[0]] + [r[:5] + [""] for r in rows[1:]])
    assert load_dataset(tiny_copy).hash == tiny_tensor.hash


def test_bad_flow_source(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", lambda rows: _with_source(rows, "observd"))
    exc = _problems(tiny_copy)
    assert exc.checks == {"bad-source"}
    msg = str(exc)
    assert "flows.csv line 2" in msg and "source 'observd' unknown" in msg
    assert "did you mean 'observed'" in msg and "observed, fitted, estimated, unknown" in msg


def test_flow_source_column_in_the_wrong_place(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv",
             lambda rows: [["source"] + rows[0]] + [["observed"] + r for r in rows[1:]])
    exc = _only(tiny_copy, "header")
    assert "optionally followed by ',source'" in str(exc)
