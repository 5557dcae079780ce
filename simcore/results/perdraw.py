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
from simcore.results.layout import SPARSE_FORMATS
from simcore.results.shortage import _keys, _lookup, _numbers, _sources

LABELS = ("material", "stage", "country")
# the float64 temporaries of one block of draws or exposures
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
        if what == "shortage_share":
            return share
        out = share.astype(np.float64)
        out *= np.where(have, self.need[at], 0.0)
        if what == "shortage_value_usd":
            out *= np.where(have, self.price[at], 0.0)
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
        from simcore.results.aggregate import per_draw_arrays

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
    _scatter(Path(result.folder) / "shortage.parquet", labels, exposure_key, source,
             int(result.manifest["draws"]), draws, share)
    need = _numbers(exposures.column("need_t")).astype(np.float64)
    price = _numbers(exposures.column("price_usd_per_t")).astype(np.float64)
    return Shares(keys, share, need, price)


def _scatter(path: Path, labels: dict, exposure_key: np.ndarray, source: np.ndarray,
             stored_draws: int, draws: int, grid: np.ndarray) -> None:
    """Each stored row's shortage_share of draws below ``draws`` into ``grid``
    ([exposures, draws], zeros on entry), a row group at a time (row groups whose draw
    statistics start at or after ``draws`` are not read), then every exposure stored as
    another (format 4's ``stored_as``: a price zone's buyers without a state stock of
    their own) given that one's shares."""
    x = len(source)
    columns = ["draw", *LABELS, "shortage_share"]
    try:
        pf = pq.ParquetFile(path)
        at = pf.schema_arrow.names.index("draw")
        for i in range(pf.num_row_groups):
            st = pf.metadata.row_group(i).column(at).statistics
            if st is not None and st.has_min_max and int(st.min) >= draws:
                continue
            group = pf.read_row_group(i, columns=columns)
            if not group.num_rows:
                continue
            draw = _numbers(group.column("draw")).astype(np.int64)
            if np.any(draw >= stored_draws) or np.any(draw < 0):
                raise ResultError(f"the shortage table holds draws outside "
                                  f"[0, {stored_draws})")
            exposure = _lookup(_keys(group, labels, LABELS), exposure_key, "exposures")
            if np.any(source[exposure] != exposure):
                raise ResultError(
                    "the shortage table stores rows of an exposure that exposures.parquet "
                    "stores as another: the tables do not belong together (run the "
                    "scenario again)")
            keep = np.flatnonzero(draw < draws)
            if not len(keep):
                continue
            draw, exposure = draw[keep], exposure[keep]
            values = _numbers(group.column("shortage_share"))[keep]
            lo, hi = int(draw.min()), int(draw.max()) + 1
            if (hi - lo) * x * 4 > BLOCK_BYTES * 4:
                # draws far apart (a file not in draw order): one by one
                grid[exposure, draw] = values
                continue
            # the group's draws (consecutive in supplyshock's files) draw-major, then
            # added to the exposure-major array in one block: a draw split between two
            # groups keeps the rows of both (each cell is stored once and zero until
            # then, and a share plus zero is that share)
            block = np.zeros((hi - lo) * x, np.float32)
            block[(draw - lo) * x + exposure] = values
            view = grid[:, lo:hi]
            np.add(view, block.reshape(hi - lo, x).T, out=view)
    except (pa.ArrowException, OSError) as exc:
        raise ResultError(
            f"{path}: cannot read the Parquet table ({exc}); the file is damaged or not "
            f"from supplyshock: run the scenario again (`supplyshock verify "
            f"{path.parent}` names every altered file)") from None
    # a source is its own source (checked when exposures.parquet is read), so in place
    for c in np.flatnonzero(source != np.arange(x)):
        grid[c] = grid[source[c]]


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

