"""Every draw's shortage share per exposure, read lean, for the draw-by-draw comparisons
(``compare``, ``compare_policies``, the report).

Formats 4 and 3 store one column that the comparisons need, ``shortage_share``, in the
rows with something in them; tonnes and values are that share times the exposure's need
(and reference price). :func:`shares_per_draw` reads those rows a Parquet row group at a
time into one float32 array [exposures, draws], with no Arrow table of the expanded
shortage beside it, and :class:`Shares` gives blocks of exposures or of draws from it
and derives tonnes and values a block at a time, rounded as ``Result.shortage`` rounds
them (simcore/results/shortage.py), so that the comparisons give the same numbers with a
fraction of the memory: 4 bytes per draw and exposure and run, where the expanded table
took three float32 columns plus Arrow's copies. Formats 2 and 1 store every row and
column; they are read as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simcore.errors import ResultError
from simcore.results import arrow
from simcore.results.layout import SPARSE_FORMATS
from simcore.results.result import check_shares, damaged
from simcore.results.shortage import _codes, _keys, _lookup, _numbers, _sources

LABELS = ("material", "stage", "country")
# bytes of one block's temporaries: float64 changes of a block of exposures, float32
# shares of a row group's draws
BLOCK_BYTES = 1 << 24


@dataclass
class Shares:
    """One run's shortage share per draw and exposure, and what the comparisons derive
    from it. ``keys``: the exposures' (material, stage, country), in the order of the
    run's shortage table; ``by_exposure``: float32 [len(keys), draws], 0 where no row is
    stored (exposure-major: a block of exposures over every draw, or of draws over every
    exposure, is gathered in one pass). Formats 4 and 3: ``need`` and ``price`` (float64
    [len(keys)], tonnes a month and USD a tonne) give tonnes and values; formats 2 and
    1: ``stored`` holds the tables' own ``shortage_t`` and ``shortage_value_usd``
    columns, laid out as ``by_exposure``."""

    keys: list
    by_exposure: np.ndarray
    need: np.ndarray | None = None
    price: np.ndarray | None = None
    stored: dict | None = None

    @property
    def draws(self) -> int:
        return self.by_exposure.shape[1]

    def columns(self, at: np.ndarray, what: str = "shortage_share",
                rows: slice = slice(None), share: np.ndarray | None = None) -> np.ndarray:
        """float32 [rows, len(at)], C-ordered: ``what`` (``shortage_share``,
        ``shortage_t`` or ``shortage_value_usd``) of the exposures at positions ``at``
        (-1: an exposure the run lacks, zero), in draws ``rows``. Tonnes and values as
        ``Result.shortage`` gives them: the share times the need (and the price) in
        float64, rounded to float32. ``share``: ``columns(at, rows=rows)`` where the
        caller holds it already (not gathered again)."""
        at = np.asarray(at, dtype=np.int64)
        have = at >= 0
        stored = self.stored is not None and what != "shortage_share"
        if share is None or stored:
            source = self.stored[what] if stored else self.by_exposure
            n = len(range(*rows.indices(self.draws)))
            gathered = np.zeros((len(at), n), np.float32)
            if have.any():
                gathered[have] = source[at[have], rows]
            gathered = np.ascontiguousarray(gathered.T)
            if stored:
                return gathered
            share = gathered
        if what == "shortage_share" or not have.any():
            return share
        out = share.astype(np.float64)
        out *= np.where(have, self.need[np.maximum(at, 0)], 0.0)
        if what == "shortage_value_usd":
            out *= np.where(have, self.price[np.maximum(at, 0)], 0.0)
        return out.astype(np.float32)

    def whole(self, what: str) -> np.ndarray:
        """``columns`` of every exposure and draw, [draws, len(keys)], a block of draws
        at a time (float64 temporaries of at most BLOCK_BYTES)."""
        x = len(self.keys)
        out = np.empty((self.draws, x), np.float32)
        step = max(1, BLOCK_BYTES // (8 * max(x, 1)))
        every = np.arange(x)
        for a in range(0, self.draws, step):
            out[a:a + step] = self.columns(every, what, slice(a, a + step))
        return out


def shares_per_draw(result, draws: int, also: tuple[str, ...] = ()) -> Shares:
    """``Shares`` of ``result`` in draws 0 .. draws-1. Formats 2 and 1 read ``also``
    (``shortage_t``, ``shortage_value_usd``) from their tables as well."""
    if result.format not in SPARSE_FORMATS:
        names = ["shortage_share", *also]
        keys, arrays = per_draw_arrays(result, draws, names)
        return Shares(keys, arrays[0].T,
                      stored={n: a.T for n, a in zip(names[1:], arrays[1:], strict=True)})
    labels = result.manifest["labels"]
    exposures = result.table("exposures")
    keys = list(zip(*(exposures.column(c).to_pylist() for c in LABELS), strict=True))
    x = len(keys)
    exposure_key = _keys(exposures, labels, LABELS)
    source = _sources(exposures, labels, exposure_key)
    if source is None:
        source = np.arange(x)
    share = np.zeros((x, draws), np.float32)
    _scatter(Path(result.folder) / "shortage.parquet", labels, exposures, exposure_key,
             source, int(result.manifest["draws"]), draws, share)
    need = _numbers(exposures.column("need_t")).astype(np.float64)
    price = _numbers(exposures.column("price_usd_per_t")).astype(np.float64)
    return Shares(keys, share, need, price)


def _scatter(path: Path, labels: dict, exposures, exposure_key: np.ndarray,
             source: np.ndarray, stored_draws: int, draws: int, grid: np.ndarray) -> None:
    """Each stored row's shortage_share of draws below ``draws`` into ``grid``
    ([exposures, draws], zeros on entry), a row group at a time (row groups whose draw
    statistics start at or after ``draws`` are not read), then every exposure stored as
    another (format 4's ``stored_as``: a price zone's buyers without a state stock of
    their own) given that one's shares. A row stored twice keeps its last copy, as
    ``Result.shortage`` does."""
    x = len(source)
    columns = ["draw", *LABELS, "shortage_share"]
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        lacking = [c for c in columns if c not in names]
        if lacking:
            raise damaged(path, f"has no column {', '.join(lacking)}")
        at = names.index("draw")
        for i in range(pf.num_row_groups):
            st = pf.metadata.row_group(i).column(at).statistics
            if st is not None and st.has_min_max and int(st.min) >= draws:
                continue
            group = pf.read_row_group(i, columns=columns)
            if not group.num_rows:
                continue
            draw = _numbers(group.column("draw")).astype(np.int64)
            if np.any(draw >= stored_draws) or np.any(draw < 0):
                raise ResultError(f"{path}: holds draws outside [0, {stored_draws}): the "
                                  f"file does not belong to this run (run the scenario "
                                  f"again)")
            exposure = _lookup(_keys(group, labels, LABELS), exposure_key, "exposures")
            stray = np.flatnonzero(source[exposure] != exposure)
            if len(stray):
                row = exposures.slice(int(exposure[stray[0]]), 1).to_pylist()[0]
                raise ResultError(
                    f"{path}: stores rows of ({row['material']}, {row['stage']}, "
                    f"{row['country']}), which exposures.parquet stores as "
                    f"{row['stored_as']}: the tables do not belong together (run the "
                    f"scenario again)")
            keep = np.flatnonzero(draw < draws)
            if not len(keep):
                continue
            draw, exposure = draw[keep], exposure[keep]
            check_shares(group, path)  # an edited table, not a shortage to compare
            values = _numbers(group.column("shortage_share"))[keep]
            lo, hi = int(draw.min()), int(draw.max()) + 1
            if (hi - lo) * x * 4 > BLOCK_BYTES:
                # draws far apart (a file not in draw order): one by one
                grid[exposure, draw] = values
                continue
            # the group's draws (consecutive in supplyshock's files) draw-major, then into
            # the exposure-major array in one block copy of the cells stored (a draw
            # split between two groups keeps the rows of both)
            flat = (draw - lo) * x + exposure
            block = np.zeros((hi - lo) * x, np.float32)
            block[flat] = values
            stored = np.zeros((hi - lo) * x, bool)
            stored[flat] = True
            np.copyto(grid[:, lo:hi], block.reshape(hi - lo, x).T,
                      where=stored.reshape(hi - lo, x).T)
    except (pa.ArrowException, OSError) as exc:
        raise damaged(path, f"cannot read the Parquet table ({exc})") from None
    # a source is its own source (checked when exposures.parquet is read), so in place
    for c in np.flatnonzero(source != np.arange(x)):
        grid[c] = grid[source[c]]


def per_draw_arrays(result, draws: int, names: list[str]) -> tuple[list, list]:
    """The (material, stage, country) keys of ``result``'s exposures, in the order of
    its shortage table, and that table's columns ``names`` (float32 ones) in draws
    0 .. draws-1, each [draws, X], 0 where the table has no row."""
    labels = ["material", "stage", "country"]
    lean = ("shortage_share", "shortage_t", "shortage_value_usd")
    if result.format in SPARSE_FORMATS and all(c in lean for c in names):
        # every column from the stored shares: no expanded table
        shares = shares_per_draw(result, draws)
        return shares.keys, [shares.whole(c) for c in names]
    # older formats (and other columns) from the table of every row with its labels:
    # place each by its draw and its exposure, numbered in the order the exposures first
    # appear (the labels' codes in the manifest's lists, no strings per row)
    import pandas as pd

    table = result.table("shortage", ["draw", *labels, *names], draws=draws)
    draw = arrow.values(table.column("draw").combine_chunks()).astype(np.int64)
    listed = result.manifest["labels"]
    codes = [_codes(table.column(c), listed[c], c) for c in labels]
    key = (codes[0] * len(listed["stage"]) + codes[1]) * len(listed["country"]) + codes[2]
    where, _ = pd.factorize(key)
    first = np.unique(where, return_index=True)[1]  # each exposure's first row
    keys = [tuple(listed[c][codes[i][f]] for i, c in enumerate(labels)) for f in first]
    keep = (draw >= 0) & (draw < draws)
    arrays = []
    for c in names:
        out = np.zeros((draws, len(keys)), np.float32)
        out[draw[keep], where[keep]] = arrow.values(table.column(c).combine_chunks())[keep]
        arrays.append(out)
    return keys, arrays


def positions(keys: list, union: list) -> np.ndarray:
    """int64 [len(union)]: where each key of ``union`` is in ``keys``, -1 if absent."""
    place = {k: i for i, k in enumerate(keys)}
    return np.array([place.get(k, -1) for k in union], dtype=np.int64)


def column_blocks(count: int, rows: int) -> list[slice]:
    """Blocks of at most BLOCK_BYTES of float64 over ``rows`` draws that cover ``count``
    columns, none one column wide unless ``count`` is 1: NumPy reduces a column [n, 1]
    pairwise and a wider block row by row, as it reduces the whole array, so the means
    and spreads a block at a time are those of the whole array bit for bit."""
    step = max(2, BLOCK_BYTES // (8 * max(rows, 1)))
    blocks = [slice(a, min(count, a + step)) for a in range(0, count, step)]
    if len(blocks) > 1 and blocks[-1].stop - blocks[-1].start == 1:
        blocks[-2:] = [slice(blocks[-2].start, count)]
    return blocks

