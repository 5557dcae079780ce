"""Reading results: the manifest (checked key by key), :class:`Result` and
:func:`load_result`.
"""

from __future__ import annotations

import json
import math
import shutil
import weakref
from functools import cached_property
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from simcore._paths import shell_word
from simcore.errors import ResultError
from simcore.limits import MAX_DRAWS, MAX_SEED
from simcore.results.digest import file_digest
from simcore.results.folders import atomic_folder, check_target
from simcore.results.layout import (
    FORMAT,
    FORMAT_1,
    OLD_FORMATS,
    SHORTAGE_COLUMNS,
    SPARSE_FORMATS,
    TABLES,
)
from simcore.results.names import MANIFEST
from simcore.results.shortage import expand_shortage, stored_columns


def _to_pandas(table: pa.Table):
    import pandas as pd

    # Month columns keep their nulls as <NA> instead of turning into floats.
    return table.to_pandas(types_mapper={pa.int16(): pd.Int16Dtype()}.get)


def _first_draws(path: Path, columns: list[str] | None, draws: int) -> pa.Table:
    """The rows of draws 0 .. draws-1 of a table with a ``draw`` column, written in draw
    order: row groups are read until one starts at or after ``draws`` (by their
    statistics), and the last one read is cut."""
    import pyarrow.compute as pc  # here, not at import: a run never needs it

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if "draw" not in names:
        raise ResultError(f"{path}: has no draw column, so its first draws cannot be taken")
    read = list(columns) if columns is not None else list(names)
    with_draw = read if "draw" in read else [*read, "draw"]
    at = names.index("draw")
    # supplyshock writes these tables in draw order, with the draw's statistics in every
    # row group; a file that lacks them or whose groups are out of order (an edited copy)
    # is read whole and filtered
    meta = pf.metadata
    stats = [meta.row_group(i).column(at).statistics for i in range(pf.num_row_groups)]
    ordered = all(st is not None and st.has_min_max for st in stats) and all(
        int(b.min) >= int(a.max) for a, b in pairwise(stats))
    if not ordered:
        whole = pf.read(columns=with_draw)
        return whole.filter(pc.less(whole.column("draw"), draws)).select(read)
    groups = []
    for i, st in enumerate(stats):
        if int(st.min) >= draws:
            break
        g = pf.read_row_group(i, columns=with_draw)
        groups.append(g.filter(pc.less(g.column("draw"), draws)))
    table = (pa.concat_tables(groups) if groups
             else pf.schema_arrow.empty_table().select(with_draw))
    return table.select(read)


def damaged(path: Path, what: str) -> ResultError:
    """The error for a table that cannot be read as supplyshock wrote it (a truncated
    copy, an edited file): the file, what is wrong and the way back, no traceback."""
    return ResultError(
        f"{path}: {what}; the file is damaged or not from supplyshock: run the scenario "
        f"again (`supplyshock verify {shell_word(path.parent)}` names every altered "
        "file)")


# shares of need that the engine keeps within [0, 1] (docs/results.md); a value outside
# (or NaN) is an edited or damaged table, which compare and report would otherwise show
# as a negative or impossible shortage (a review's -3.8 %)
_UNIT_SHARES = ("shortage_share", "peak_share")
_SHARE_SLACK = 1e-6  # float32 rounding


def check_shares(table: pa.Table, path: Path) -> None:
    """Raise ``damaged`` where a share of need bounded by [0, 1] lies outside it or is
    NaN in ``table`` (a whole table, or a row group of one)."""
    import pyarrow.compute as pc

    for name in _UNIT_SHARES:
        if name not in table.column_names or not len(table):
            continue
        column = table.column(name)
        if pc.any(pc.is_nan(column)).as_py():
            raise damaged(path, f"{name} holds NaN")
        lo, hi = pc.min_max(column).values()
        lo, hi = lo.as_py(), hi.as_py()
        if lo is not None and (lo < -_SHARE_SLACK or hi > 1.0 + _SHARE_SLACK):
            raise damaged(path, f"{name} holds {lo if lo < 0 else hi:g}, outside [0, 1]")


class Result:
    """A results folder: tables as pandas DataFrames (read when first used), the manifest.

    ``simcore.run`` returns one backed by a temporary folder; ``save(dir)`` copies it to
    ``dir`` atomically. ``load_result(dir)`` opens a saved one.
    """

    def __init__(self, folder: Path, manifest: dict, temporary: bool = False):
        self.folder = Path(folder)
        self.manifest = manifest
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, str(self.folder), True) if temporary else None
        )

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"<Result {m['scenario']['name']!r}: {m['draws']} draws, seed {m['seed']}, "
            f"digest {m['digest']['sha256'][:12]}>"
        )

    @property
    def name(self) -> str:
        return self.manifest["scenario"]["name"]

    @property
    def digest(self) -> str:
        return self.manifest["digest"]["sha256"]

    @property
    def format(self) -> str:
        return self.manifest.get("format", FORMAT)

    def table(self, name: str, columns: list[str] | None = None, *,
              stored: bool = False, draws: int | None = None) -> pa.Table:
        """One table as an Arrow table (``columns`` to read only some).

        ``shortage`` has a row per draw and exposure and the columns of format 2 for
        results of any format; formats 4 and 3 store fewer rows and columns, which
        ``stored=True`` returns as they are (simcore/results/shortage.py).

        ``draws``: the rows of draws 0 .. draws-1 only, for a table with a ``draw``
        column (row groups of later draws are not read: the first thousands of a
        million-draw run fit where the whole would not)."""
        if draws is not None:
            draws = max(0, min(int(draws), int(self.manifest["draws"])))
            if draws == int(self.manifest["draws"]):
                draws = None
        if name == "shortage" and not stored and self.format in SPARSE_FORMATS:
            return self._expanded_shortage(columns, draws)
        return self._read(name, columns, draws)

    def _read(self, name: str, columns: list[str] | None = None,
              draws: int | None = None) -> pa.Table:
        path = self.folder / f"{name}.parquet"
        if not path.is_file():
            extra = " (run with --timeseries to get it)" if name == "timeseries" else ""
            if name in ("prices", "zone_prices") and self.format == FORMAT_1:
                extra = (" (it was written by market version 1, which formed no zone prices;"
                         " run the scenario again)")
            if name == "exposures" and self.format not in SPARSE_FORMATS:
                extra = f" (results of {self.format} keep the need in the shortage table)"
            raise ResultError(f"{self.folder} has no {name}.parquet{extra}")
        try:
            if draws is None:
                table = pq.read_table(path, columns=columns)
            else:
                table = _first_draws(path, columns, draws)
        except (pa.ArrowException, OSError) as exc:
            raise damaged(path, f"cannot read the Parquet table ({exc})") from None
        if name == "shortage":
            check_shares(table, path)
        return table

    def _expanded_shortage(self, columns: list[str] | None,
                           draws: int | None = None) -> pa.Table:
        want = list(SHORTAGE_COLUMNS) if columns is None else list(columns)
        prices = {"price_index_peak": "price_peak", "price_index_mean": "price_mean"}
        zone = [prices[c] for c in want if c in prices]
        zone_prices = (self._read("zone_prices", ["material", "stage", "zone", *zone], draws)
                       if zone else None)
        n = self.manifest["draws"] if draws is None else draws
        return expand_shortage(self._read("shortage", stored_columns(want), draws),
                               self._read("exposures"), zone_prices,
                               self.manifest["labels"], n, want)

    @cached_property
    def summary(self):
        return _to_pandas(self.table("summary"))

    @cached_property
    def shortage(self):
        return _to_pandas(self.table("shortage"))

    @cached_property
    def drivers(self):
        return _to_pandas(self.table("drivers"))

    @cached_property
    def monthly(self):
        return _to_pandas(self.table("monthly"))

    @cached_property
    def timeseries(self):
        return _to_pandas(self.table("timeseries"))

    @cached_property
    def prices(self):
        """Zone-price quantiles per (material, stage, zone, month)."""
        return _to_pandas(self.table("prices"))

    @cached_property
    def zone_prices(self):
        """Each draw's peak and mean price per zone (joins drivers on ``draw``)."""
        return _to_pandas(self.table("zone_prices"))

    def stored_digests(self) -> dict[str, str]:
        """The digest of each table as stored now (compare with ``manifest['digest']``)."""
        labels = self.manifest["labels"]
        return {
            name: file_digest(self.folder / f"{name}.parquet", labels)
            for name in self.manifest["digest"]["tables"]
        }

    def save(self, folder) -> Path:
        """Copy the results to ``folder`` (the results folder itself), atomically."""
        folder = Path(folder)
        if folder.resolve() == self.folder.resolve():
            return folder
        check_target(folder, self.name, self.manifest["scenario"].get("path"))
        with atomic_folder(folder) as staging:
            for name in [*self.manifest["files"], MANIFEST]:
                shutil.copyfile(self.folder / name, staging / name)
        return folder


def read_manifest(folder) -> dict:
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.is_file():
        hint = (f"; its results are in results/{folder.stem}/ after `supplyshock run "
                f"{folder}`" if folder.suffix == ".toml" else "")
        raise ResultError(f"{folder} is a file, not a results folder{hint}")
    if not folder.is_dir():
        raise ResultError(
            f"{folder}: no such results folder; check the path (`supplyshock run` writes "
            f"<--out>/<scenario name>/, by default results/<scenario name>/)"
        )
    if not path.is_file():
        # Often the --out folder itself, one level above the results of each scenario.
        runs = sorted(p.name for p in folder.iterdir() if (p / MANIFEST).is_file())
        hint = (
            f"; it holds the results of {', '.join(runs[:6])}{', ...' if len(runs) > 6 else ''}"
            f": name one, e.g. {folder / runs[0]}"
            if runs
            else ""
        )
        raise ResultError(
            f"{folder} is not a supplyshock results folder: it has no {MANIFEST}{hint}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultError(f"{path}: cannot read the manifest ({exc})") from None
    except ValueError as exc:
        raise ResultError(f"{path}: the manifest is not valid JSON ({exc}){_MANIFEST_FIX}") \
            from None
    if not isinstance(manifest, dict):
        raise ResultError(f"{path}: the manifest is not a JSON object{_MANIFEST_FIX}")
    if manifest.get("format") not in (FORMAT, *OLD_FORMATS):
        found = manifest.get("format")
        fix = (_MANIFEST_FIX if found is None else
               "; another version of supplyshock wrote it (a newer one?): read it with that "
               "version, or run the scenario again")
        raise ResultError(
            f"{path}: format {found!r} is not {FORMAT!r} (nor an older one this version "
            f"reads: {', '.join(OLD_FORMATS)}){fix}"
        )
    missing = [
        k
        for k in ("scenario", "dataset", "seed", "draws", "labels", "files", "digest")
        if k not in manifest
    ]
    if missing:
        raise ResultError(f"{path}: the manifest lacks {', '.join(missing)}{_MANIFEST_FIX}")
    check_manifest(manifest, path)
    return manifest


_MANIFEST_FIX = (
    "; run.json was edited or damaged: restore it from a copy, or run the scenario again "
    "(`supplyshock verify` names altered tables)"
)


def _whole(lo: int, hi: int | None = None):
    """A whole number in [lo, hi] (no upper bound when hi is None)."""

    def ok(v) -> bool:
        return (
            isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
        )

    return ok, f"a whole number >= {lo}" + (f" and <= {hi:,}" if hi is not None else "")


def _text_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _interventions(v) -> bool:
    """run.json's ``interventions`` (simcore.api.intervention_costs): a stockpile that
    states no cost has its priced cost; a kind this version does not know is let
    through (``policy_cost`` then says nothing of the cost)."""
    return isinstance(v, list) and all(
        isinstance(i, dict) and isinstance(i.get("id"), str) and isinstance(i.get("kind"), str)
        and (i.get("cost_usd") is None or _number(i["cost_usd"]))
        and (i.get("priced_usd") is None or _number(i["priced_usd"]))
        and not (i["kind"] == "stockpile" and i.get("cost_usd") is None
                 and i.get("priced_usd") is None) for i in v)


# Every manifest key a command reads, with what it must be. Required keys first; the others
# (written by every run since the format began, but read with defaults) only when present.
_MANIFEST_KEYS = (
    ("scenario.name", True, (lambda v: isinstance(v, str) and v != "", "a scenario name")),
    ("scenario.path", False, (lambda v: v is None or isinstance(v, str), "a file path")),
    ("scenario.hash", False, (lambda v: isinstance(v, str), "a hash (text)")),
    ("scenario.files", False, (_text_list, "a list of file paths")),
    ("dataset.hash", True, (lambda v: isinstance(v, str), "a hash (text)")),
    ("dataset.path", False, (lambda v: isinstance(v, str), "a folder path or 'built-in'")),
    ("dataset.override", False, (lambda v: isinstance(v, bool), "true or false")),
    ("seed", True, _whole(0, MAX_SEED - 1)),
    ("draws", True, _whole(1, MAX_DRAWS)),
    ("horizon", False, _whole(1)),
    ("timeseries", False, (lambda v: isinstance(v, bool), "true or false")),
    ("interventions", False, (_interventions, "a list of interventions (id, kind, cost_usd)")),
    ("exposures", False, _whole(0)),
    ("labels.material", True, (_text_list, "a list of labels")),
    ("labels.stage", True, (_text_list, "a list of labels")),
    ("labels.country", True, (_text_list, "a list of labels")),
    ("labels.zone", False, (_text_list, "a list of labels")),
    (
        "zones",
        False,
        (
            lambda v: isinstance(v, list) and all(
                isinstance(z, dict) and all(isinstance(z.get(k), str) for k in
                                            ("material", "stage", "zone"))
                and _text_list(z.get("members")) for z in v),
            "a list of zones (material, stage, zone, members)",
        ),
    ),
    (
        "files",
        True,
        (
            lambda v: _text_list(v) and all(f in {f"{n}.parquet" for n in TABLES} for f in v),
            "a list of table files (" + ", ".join(f"{n}.parquet" for n in TABLES) + ")",
        ),
    ),
    ("digest.sha256", True, (lambda v: isinstance(v, str), "a hash (text)")),
    (
        "digest.tables",
        True,
        (
            lambda v: isinstance(v, dict)
            and all(k in TABLES and isinstance(x, str) for k, x in v.items()),
            "a table name -> hash mapping",
        ),
    ),
    (
        "last_stage",
        False,
        (
            lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
            "a material -> stage mapping",
        ),
    ),
    (
        "price_usd_per_t",
        False,
        (
            lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
            "a material -> price mapping",
        ),
    ),
    ("versions", False, (lambda v: isinstance(v, dict), "a mapping of package versions")),
)


def check_manifest(manifest: dict, path) -> None:
    """Raise ``ResultError`` naming the file, key and value of the first manifest entry
    that a command could not use (a hand-edited ``"draws": "abc"``)."""
    for key, required, (ok, want) in _MANIFEST_KEYS:
        node, found = manifest, True
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict):
                parent = ".".join(parts[:i])
                raise ResultError(
                    f"{path}: {parent} = {_shown(node)} is not a mapping{_MANIFEST_FIX}"
                )
            if part not in node:
                found = False
                break
            node = node[part]
        if not found:
            if required:
                raise ResultError(f"{path}: the manifest lacks {key}{_MANIFEST_FIX}")
            continue
        if not ok(node):
            raise ResultError(f"{path}: {key} = {_shown(node)} is not {want}{_MANIFEST_FIX}")


def _shown(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_result(folder) -> Result:
    """Open a results folder written by ``supplyshock run`` or ``Result.save``."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    absent = [name for name in manifest["files"] if not (folder / name).is_file()]
    if absent:
        raise ResultError(f"{folder} is incomplete: {', '.join(absent)} missing")
    return Result(folder, manifest)
