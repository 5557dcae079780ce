"""Shared fixtures: the tiny hand-written dataset (tests/data/tiny, numbers in its README).

- ``tiny_path``: the folder (read it, never write to it);
- ``tiny_tensor``: its ``SupplyTensor``;
- ``tiny_copy``: a fresh copy in ``tmp_path``, to break one thing in;
- ``edit_csv(folder, file, fn)``: rewrite one CSV's rows (lists of strings, header first).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

TINY = Path(__file__).parent / "data" / "tiny"

# The suite runs the kernel through Numba, as a checkout without the kernel's library
# does, whether or not this one has one (simcore/_native.py); tests/test_native.py runs
# the library, built for it, in subprocesses that ask for it.
os.environ["SUPPLYSHOCK_NATIVE"] = "0"


@pytest.fixture(scope="session", autouse=True)
def _dataset_cache(tmp_path_factory):
    """Parsed datasets are kept in a folder of this test session (subprocesses too), not
    in the user's cache: tests load hundreds of temporary dataset folders."""
    import os

    folder = tmp_path_factory.mktemp("dataset-cache")
    before = os.environ.get("SUPPLYSHOCK_DATASET_CACHE")
    os.environ["SUPPLYSHOCK_DATASET_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("SUPPLYSHOCK_DATASET_CACHE", None)
    else:
        os.environ["SUPPLYSHOCK_DATASET_CACHE"] = before


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    return TINY


@pytest.fixture(scope="session")
def tiny_tensor(tiny_path):
    from simcore.dataset import load_dataset

    return load_dataset(tiny_path)


def copy_tiny(dest: Path) -> Path:
    """Copy the tiny dataset (CSV files only) to ``dest/tiny`` and return that folder."""
    out = dest / "tiny"
    shutil.copytree(TINY, out, ignore=shutil.ignore_patterns("*.md"))
    return out


def _edit_csv(folder: Path, name: str, fn) -> None:
    """Replace ``folder/name``'s rows by ``fn(rows)``; rows are lists of str, header first."""
    path = folder / name
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows = fn(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


@pytest.fixture
def tiny_copy(tmp_path) -> Path:
    return copy_tiny(tmp_path)


@pytest.fixture
def edit_csv():
    """``edit_csv(folder, file, fn)``: replace the file's rows by ``fn(rows)``."""
    return _edit_csv
