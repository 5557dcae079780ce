"""The loader: arrays against the tiny dataset's hand-worked numbers, the content hash."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from simcore.dataset import builtin_path, check_dataset, load_dataset
from simcore.errors import DatasetError


def test_tiny_labels(tiny_tensor):
    t = tiny_tensor
    assert t.materials == ("gallium", "graphite", "antimony")
    assert t.stages == (("refining",), ("mining", "refining"), ("refining",))
    assert t.countries == ("CHN", "USA", "DEU", "JPN", "AUS")
    assert t.units[0] == "t Ga content"
    assert t.shape == (3, 2, 5)
    assert list(t.n_stages) == [1, 2, 1]
    assert t.groups == {
        "EU27": ("DEU",),
        "partners": ("USA", "DEU", "JPN", "AUS"),  # EU27 nested, expanded
        "G7": ("USA", "DEU", "JPN"),
    }
    assert t.warnings == ()


def test_tiny_arrays(tiny_tensor):
    t = tiny_tensor
    assert t.flow.dtype == np.float64 and t.flow.shape == (3, 2, 5, 5)
    ga, gr, sb = 0, 1, 2
    chn, usa, deu, jpn, aus = range(5)
    assert t.flow[ga, 0, chn, usa] == 20
    assert list(t.production[ga, 0]) == [90, 0, 0, 10, 0]
    assert list(t.need[ga, 0]) == [40, 25, 10, 25, 0]
    assert list(t.production[gr, 0]) == [60, 10, 0, 0, 30]
    assert list(t.need[gr, 0]) == [80, 0, 0, 20, 0]
    assert list(t.production[gr, 1]) == [80, 0, 0, 20, 0]
    assert list(t.need[gr, 1]) == [40, 30, 10, 20, 0]
    # a one-stage material has zeros beyond its last stage
    assert not t.flow[ga, 1].any() and not t.capacity[sb, 1].any()
    # capacity: given rows, else production
    assert t.capacity[ga, 0, chn] == 120 and t.capacity[ga, 0, jpn] == 20
    assert t.capacity[gr, 1, jpn] == 30 and t.capacity[gr, 1, chn] == 80
    assert t.capacity[sb, 0, aus] == 60 and t.capacity[sb, 0, chn] == 50
    assert t.stock[ga, usa] == 10 and t.max_release[ga, jpn] == 0.5
    assert t.stock[sb, usa] == 12 and t.max_release[sb, usa] == 2
    assert t.stock.sum() == 28
    assert list(t.price) == [500000, 1000, 40000]
    assert t.resolve_countries(["partners", "CHN"]).tolist() == [0, 1, 2, 3, 4]


def test_tensor_is_read_only_and_cached(tiny_path):
    a = load_dataset(tiny_path)
    assert load_dataset(tiny_path) is a
    with pytest.raises(ValueError):
        a.flow[0, 0, 0, 0] = 1.0


def test_cache_sees_an_edit(edit_csv, tiny_copy):
    before = load_dataset(tiny_copy)
    edit_csv(tiny_copy, "stocks.csv", lambda rows: rows + [["antimony", "JPN", "1", "1", "x"]])
    after = load_dataset(tiny_copy)
    assert after.stock[2, 3] == 1 and before.stock[2, 3] == 0
    assert after.hash != before.hash


def _shuffle_rows(rows, rng):
    body = rows[1:]
    rng.shuffle(body)
    return [rows[0], *body]


def test_hash_independent_of_row_order(edit_csv, tiny_path, tiny_copy):
    base = load_dataset(tiny_path)
    rng = random.Random(7)
    for name in ("materials.csv", "countries.csv", "groups.csv", "flows.csv",
                 "capacity.csv", "stocks.csv"):
        edit_csv(tiny_copy, name, lambda rows: _shuffle_rows(rows, rng))
    # spacing and a byte-order mark change bytes, not content
    text = (tiny_copy / "flows.csv").read_text()
    (tiny_copy / "flows.csv").write_text("\ufeff" + text.replace(",20\n", ", 20.0\n"))
    shuffled = load_dataset(tiny_copy)
    assert shuffled.hash == base.hash
    assert shuffled.materials != base.materials or shuffled.countries != base.countries
    # same content in another index order
    k = [shuffled.materials.index(m) for m in base.materials]
    c = [shuffled.countries.index(x) for x in base.countries]
    np.testing.assert_array_equal(
        shuffled.flow[k][:, :, c][:, :, :, c][:, 0], base.flow[:, 0]
    )


def test_hash_is_pinned(tiny_tensor):
    # The canonical serialisation is a contract: results files record this hash. Change
    # this value only with a deliberate change of the tiny dataset or of the format.
    assert tiny_tensor.hash == (
        "20434bc7d8bf53f54ae739bc37f56ca91863061a0bdfd18a4f84678e5c22fc91"
    )


def test_hash_changes_with_a_number(edit_csv, tiny_copy, tiny_tensor):
    edit_csv(tiny_copy, "flows.csv",
             lambda rows: [r if r[:4] != ["gallium", "refining", "CHN", "USA"]
                           else [*r[:4], "20.5"] for r in rows])
    assert load_dataset(tiny_copy).hash != tiny_tensor.hash


def test_optional_files_may_be_absent(tiny_copy, tiny_tensor):
    for name in ("groups.csv", "capacity.csv", "stocks.csv", "assumptions.csv"):
        (tiny_copy / name).unlink()
    t = load_dataset(tiny_copy)
    assert t.groups == {}
    np.testing.assert_array_equal(t.capacity, t.production)
    assert not t.stock.any()
    np.testing.assert_array_equal(t.flow, tiny_tensor.flow)


def test_datapackage_json_path_and_check(tiny_copy):
    (tiny_copy / "datapackage.json").write_text(
        '{"name": "tiny", "resources": [{"name": "flows", "path": "flows.csv", "schema": '
        '{"fields": [{"name": "material"}, {"name": "stage"}, {"name": "exporter"}, '
        '{"name": "importer"}, {"name": "tonnes_per_year", "type": "number"}]}}]}'
    )
    t = load_dataset(tiny_copy / "datapackage.json")
    assert t.meta["datapackage"]["name"] == "tiny"
    (tiny_copy / "datapackage.json").write_text('{"resources": [{"path": "flow.csv"}]}')
    with pytest.raises(DatasetError, match=r"flow\.csv.*\[datapackage\]"):
        load_dataset(tiny_copy)


@pytest.mark.parametrize("text, message", [
    ('{"resources": null}', "'resources' must be a list"),
    ('{"resources": "flows.csv"}', "'resources' must be a list"),
    ('{"resources": {}}', "'resources' must be a list"),
    ('{"resources": [5]}', r"resources\[0\] must be an object with a 'path'"),
    ('{"resources": [{"path": 3}]}', r"resources\[0\] must be an object with a 'path'"),
    ('{"resources": [{"path": "flows.csv", "schema": {"fields": "material"}}]}',
     r"resources\[0\].schema \(flows.csv\) must be an object whose 'fields' is a list"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
])
def test_malformed_datapackage_is_a_problem_not_a_traceback(tiny_copy, text, message):
    (tiny_copy / "datapackage.json").write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tiny_copy)


def test_datapackage_json_folder_and_inline_data(tiny_copy):
    (tiny_copy / "datapackage.json").write_text(
        '{"resources": [{"name": "note", "data": [[1]]}, '
        '{"path": "flows.csv", "schema": "https://example.org/schema.json"}]}')
    assert load_dataset(tiny_copy).meta["datapackage"]["resources"][0]["name"] == "note"
    (tiny_copy / "datapackage.json").unlink()
    (tiny_copy / "datapackage.json").mkdir()
    with pytest.raises(DatasetError, match=r"datapackage.json.*is not a file"):
        load_dataset(tiny_copy)


def test_no_builtin_dataset_message(monkeypatch, tmp_path):
    monkeypatch.setattr("simcore.dataset.builtin_path", lambda: tmp_path / "none")
    with pytest.raises(DatasetError, match="no built-in dataset is installed.*data build"):
        load_dataset()


def test_builtin_dataset_loads_when_installed():
    if not (builtin_path() / "materials.csv").is_file():
        pytest.skip("the built-in baseline is not built yet")
    t = load_dataset()
    assert len(t.materials) >= 1 and len(t.hash) == 64
    # the shipped dataset always documents its sources and licences (docs/dataset.md)
    assert t.meta["datapackage"].get("resources"), "the built-in baseline needs datapackage.json"


def test_missing_folder():
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("/nonexistent/dataset")


def test_check_dataset_lists_without_raising(edit_csv, tiny_copy):
    assert check_dataset(tiny_copy) == []
    shutil.copy(tiny_copy / "flows.csv", tiny_copy / "flows.bak")
    edit_csv(tiny_copy, "flows.csv", lambda rows: rows + [["gallium", "refining", "CHX",
                                                           "USA", "-1"]])
    checks = {p.check for p in check_dataset(tiny_copy)}
    assert checks == {"unknown-code", "negative"}


def test_hash_independent_of_row_order_with_flow_sources(edit_csv, tiny_copy):
    edit_csv(tiny_copy, "flows.csv", lambda rows: [rows[0] + ["source"]]
             + [r + [("observed", "fitted", "estimated")[n % 3]] for n, r in enumerate(rows[1:])])
    first = load_dataset(tiny_copy).hash
    edit_csv(tiny_copy, "flows.csv", lambda rows: [rows[0], *reversed(rows[1:])])
    assert load_dataset(tiny_copy).hash == first
