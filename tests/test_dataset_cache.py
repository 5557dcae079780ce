"""Parsed datasets kept on disk (simcore.dataset._disk_cache): another process loads
the same files without parsing them; an edited file, a damaged entry or a cache folder
that cannot be written never gives a wrong or failed load."""

from __future__ import annotations

import numpy as np
import pytest

from simcore import dataset
from simcore.dataset import load_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SUPPLYSHOCK_DATASET_CACHE", str(folder))
    monkeypatch.setattr(dataset, "_CACHE", {})  # as a new process starts
    return folder


def _no_parse(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("parsed, not loaded from the disk cache")

    monkeypatch.setattr(dataset, "_parse", refuse)


def test_a_new_process_loads_the_parsed_dataset_without_parsing(tiny_copy, cache, monkeypatch):
    first = load_dataset(tiny_copy)
    assert len(list(cache.glob("*.pickle"))) == 1
    monkeypatch.setattr(dataset, "_CACHE", {})
    _no_parse(monkeypatch)
    again = load_dataset(tiny_copy)
    assert again is not first and again.hash == first.hash
    assert again.path == first.path and again.warnings == first.warnings
    for name in ("flow", "capacity", "stock", "max_release", "price"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
        assert not getattr(again, name).flags.writeable  # shared, as a parsed one is


def test_an_edited_file_is_parsed_again(tiny_copy, cache, monkeypatch, edit_csv):
    first = load_dataset(tiny_copy)
    key = dataset._disk_cache(tiny_copy).path

    def less(rows):
        row = rows[1]
        row[4] = str(float(row[4]) / 2)  # tonnes_per_year
        return rows

    edit_csv(tiny_copy, "flows.csv", less)
    edited_key = dataset._disk_cache(tiny_copy).path
    assert edited_key != key
    monkeypatch.setattr(dataset, "_CACHE", {})
    edited = load_dataset(tiny_copy)
    assert edited.hash != first.hash
    assert edited.flow.sum() < first.flow.sum()
    # a file added to the folder (datapackage.json may name it) changes the key too
    (tiny_copy / "notes.txt").write_text("x")
    assert dataset._disk_cache(tiny_copy).path not in (key, edited_key)


def test_a_damaged_entry_is_parsed_again_and_replaced(tiny_copy, cache, monkeypatch):
    first = load_dataset(tiny_copy)
    (entry,) = cache.glob("*.pickle")
    for damage in (b"", b"garbage", entry.read_bytes()[:100]):
        entry.write_bytes(damage)
        monkeypatch.setattr(dataset, "_CACHE", {})
        assert load_dataset(tiny_copy).hash == first.hash
        assert entry.read_bytes() != damage  # written again, whole
    monkeypatch.setattr(dataset, "_CACHE", {})
    _no_parse(monkeypatch)
    assert load_dataset(tiny_copy).hash == first.hash


def test_without_a_cache_folder_datasets_are_parsed_as_before(tiny_copy, tmp_path,
                                                             monkeypatch):
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("SUPPLYSHOCK_DATASET_CACHE", "0")
    assert dataset._disk_cache(tiny_copy) is None
    for where in ("0", str(tmp_path / "afile" / "cache")):  # off; cannot be made
        monkeypatch.setenv("SUPPLYSHOCK_DATASET_CACHE", where)
        monkeypatch.setattr(dataset, "_CACHE", {})
        assert load_dataset(tiny_copy).flow.sum() > 0
    assert not list(tmp_path.rglob("*.pickle"))


def test_an_invalid_dataset_is_never_kept(tiny_copy, cache, edit_csv):
    edit_csv(tiny_copy, "flows.csv", lambda rows: [*rows, ["unobtainium", "x", "A", "B", "1"]])
    with pytest.raises(dataset.DatasetError):
        load_dataset(tiny_copy)
    assert not list(cache.glob("*.pickle"))


def test_data_validate_parses_whatever_the_caches_hold(tiny_copy, cache, monkeypatch):
    """docs/dataset.md: `supplyshock data validate` always parses (a review found it
    served the disk cache's entry, so a check of the files read no file)."""
    from click.testing import CliRunner

    from simcore.cli import main

    load_dataset(tiny_copy)  # in memory and on disk
    calls = []
    parse = dataset._parse
    monkeypatch.setattr(dataset, "_parse", lambda *a, **k: calls.append(1) or parse(*a, **k))
    assert load_dataset(tiny_copy) is not None and calls == []  # a load uses the caches
    res = CliRunner().invoke(main, ["data", "validate", str(tiny_copy)])
    assert res.exit_code == 0, res.output
    assert calls == [1]


def test_the_disk_cache_key_covers_the_market_tables_code(tiny_copy, cache, monkeypatch):
    """The market table's parameters (order, defaults, ranges) live in marketdata.py and
    kernel/structs.py: an edit there must not meet a pickle made before it."""
    from pathlib import Path

    before = dataset._disk_cache(tiny_copy).path
    real = Path.read_bytes

    def edited(self):
        data = real(self)
        return data + b"#" if self.name in ("marketdata.py", "structs.py") else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert dataset._disk_cache(tiny_copy).path != before
