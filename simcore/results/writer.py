"""Writing a results folder: ``ChunkResult``s streamed into Parquet tables in row groups of
a fixed size, then the summary, the monthly and price quantiles and the manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simcore.errors import ResultError
from simcore.results import arrow
from simcore.results.digest import TableDigest, combine_digests
from simcore.results.layout import (
    DIGEST_KEY,
    EXPOSURES_SCHEMA,
    HIST_BINS,
    METADATA_KEY,
    MONTHLY_COLUMNS,
    MONTHLY_QUANTILES,
    PRICE_QUANTILES,
    PRICES_COLUMNS,
    SHARES_OF_NEED,
    SHORTAGE_FILE_SCHEMA,
    TABLES,
    TIMESERIES_SCHEMA,
    ZONE_PRICES_SCHEMA,
    Layout,
    baseline_value,
    drivers_schema,
)
from simcore.results.names import MANIFEST
from simcore.results.statistics import (
    contiguous,
    histogram_pass,
    price_bins,
    price_quantiles,
    share_mean,
    share_midpoints,
    share_quantiles,
)
from simcore.results.summary import ExposureSummary

ROW_GROUP_BYTES = 16 * 2**20  # data per Parquet row group, before compression
_COMPRESSION = "zstd"
# level 1: the partner study's files are 0.4 % larger than at level 3 and the shortage
# table's Parquet takes 0.24 instead of 0.27 CPU s (10,000 draws; the encoding, not the
# compression, is most of it); level 9 saves ~6 % and writes 2.5x slower
_ZSTD_LEVEL = 1


def _with_metadata(schema: pa.Schema, provenance: dict) -> pa.Schema:
    return schema.with_metadata({METADATA_KEY: json.dumps(provenance, sort_keys=True)})


def row_width(schema: pa.Schema) -> int:
    """Bytes of one row in memory: label codes (int32), booleans, numbers."""
    width = 0
    for f in schema:
        kind = f.type.index_type if pa.types.is_dictionary(f.type) else f.type
        width += max(1, kind.bit_width // 8)
    return width


def _statistics(schema: pa.Schema) -> list[str]:
    """Columns whose row groups carry min/max statistics, by which queries skip row
    groups (DuckDB): in the tables streamed by draw (a ``draw`` column), the draw alone:
    every row group there holds every exposure, zone and month, and the drivers' onset
    months are random per draw, so that their ranges select nothing (labels and months
    cost 20 % of writing the shortage table); in the others, labels and integers. Those
    of the measures cost 15 % of the writing and select nothing in practice."""
    if "draw" in schema.names:
        return ["draw"]
    return [f.name for f in schema
            if pa.types.is_dictionary(f.type) or pa.types.is_integer(f.type)
            or pa.types.is_string(f.type)] or False


class _TableWriter:
    """One Parquet file with its digest alongside, in row groups of about
    ``ROW_GROUP_BYTES`` of data whatever the size of the tables written: small chunks
    (``--chunk-size 1``) are held until a row group is full, since a row group per
    chunk of one draw made files 8-40 times larger (each row group repeats column
    metadata, dictionaries and compression frames). The digest sees every table as it
    comes, and covers content only, so it does not depend on the row groups."""

    def __init__(self, path: Path, schema: pa.Schema, provenance: dict, labels: dict):
        self.path = path
        self.schema = _with_metadata(schema, provenance)
        self.digest = TableDigest(schema, labels)
        self.rows_per_group = max(1, ROW_GROUP_BYTES // row_width(schema))
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        dictionary = [f.name for f in schema if pa.types.is_dictionary(f.type)]
        self._writer = pq.ParquetWriter(
            path,
            self.schema,
            compression=_COMPRESSION,
            compression_level=_ZSTD_LEVEL,
            use_dictionary=dictionary or False,
            write_statistics=_statistics(schema),
        )

    def write(self, table: pa.Table) -> None:
        table = table.replace_schema_metadata(self.schema.metadata)
        self.digest.update(table)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.rows_per_group:
            self._flush(self.rows_per_group)

    def _flush(self, rows: int) -> None:
        """Write the first ``rows`` pending rows as one row group."""
        pending = pa.concat_tables(self._pending)
        self._writer.write_table(pending.slice(0, rows), row_group_size=rows)
        rest = pending.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> str:
        if self._pending_rows:
            self._flush(self._pending_rows)
        hexdigest = self.digest.hexdigest()
        self._writer.add_key_value_metadata({DIGEST_KEY: hexdigest})
        self._writer.close()
        sync_file(self.path)
        return hexdigest

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass


def write_table(path: Path, table: pa.Table, provenance: dict, labels: dict) -> str:
    """Write a whole table as one file (one row group); return its digest."""
    writer = _TableWriter(path, table.schema, provenance, labels)
    try:
        writer.write(table)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def _masked_months(values: np.ndarray) -> pa.Array:
    values = np.ascontiguousarray(values, dtype=np.int16).ravel()
    return arrow.column(values, pa.int16(), mask=values < 0)


def _f32(values) -> pa.Array:
    return arrow.column(np.asarray(values, dtype=np.float32))


def _draws(chunk, each: int) -> pa.Array:
    """The draw column of a chunk whose draws have ``each`` rows."""
    return arrow.column(np.repeat(np.arange(chunk.start, chunk.stop, dtype=np.int32), each))


def _table(columns: dict, schema: pa.Schema | None = None) -> pa.Table:
    """A table of Arrow arrays or NumPy columns (typed by their dtype, or by ``schema``)."""
    if schema is None:
        arrays = [c if isinstance(c, pa.Array) else arrow.column(c) for c in columns.values()]
        return pa.Table.from_arrays(arrays, names=list(columns))
    arrays = [c if isinstance(c, pa.Array) else arrow.column(c, f.type)
              for c, f in zip(columns.values(), schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def shortage_chunk(chunk, layout: Layout) -> pa.Table:
    """The stored shortage rows of one chunk (format 4): draw-major, the stored
    exposures (``Layout.stored_exposures``: one per price zone, and each buyer with a
    state stock of its own) in layout order, only the (draw, exposure) rows in which some
    stored value is not its baseline (``baseline_value``) or a month not null;
    quantities as shares of need (``SHORTAGE_FILE_SCHEMA``). The rows are picked in one
    compiled pass (``binsums.shortage_rows``)."""
    from simcore._native import kernel_function

    n = chunk.stop - chunk.start
    x = layout.n_exposures
    stored = np.ascontiguousarray(layout.stored_exposures, dtype=np.int64)
    width = len(stored)
    f32 = np.empty((len(_ROW_FLOATS), n * width), np.float32)
    i16 = np.empty((len(_ROW_MONTHS), n * width), np.int16)
    rows = np.empty(n * width, np.int64)

    def engine(name, dtype):
        return contiguous(getattr(chunk, name), dtype, (n, x))

    kept = kernel_function("shortage_rows")(
        *(engine(name, np.float64) for name in _ROW_FLOATS[:2]),
        *(engine(name, np.int16) for name in _ROW_MONTHS),
        *(engine(name, np.float64) for name in _ROW_FLOATS[2:]),
        stored, np.ascontiguousarray(layout.need_t[stored], dtype=np.float64), _ROW_BASE,
        f32, i16, rows)
    rows = rows[:kept]
    out = {"draw": arrow.column((chunk.start + rows // max(width, 1)).astype(np.int32))}
    out.update(layout.exposure_labels(stored[rows % max(width, 1)]))
    for name, c in _ROW_COLUMNS:
        if name.endswith("_month"):
            out[name] = _masked_months(i16[c, :kept])
        elif name == "months_short":
            out[name] = i16[c, :kept]
        else:
            out[name] = f32[c, :kept]
    return _table(out, SHORTAGE_FILE_SCHEMA)


# shortage_rows' inputs (engine fields: the float ones, then the months) and where it
# puts each stored column (its row of f32 or of i16), with the baseline of each float
_ROW_FLOATS = ("shortage_t", "peak_share", *(name for name, _ in SHARES_OF_NEED))
_ROW_MONTHS = ("months_short", "first_short", "last_short")
_ROW_COLUMNS = (("shortage_share", 0), ("peak_share", 1), ("months_short", 0),
                ("first_short_month", 1), ("last_short_month", 2),
                *((stored, 2 + c) for c, (_, stored) in enumerate(SHARES_OF_NEED)))
_ROW_BASE = np.array([baseline_value("shortage_share"), baseline_value("peak_share"),
                      *(baseline_value(stored) for _, stored in SHARES_OF_NEED)],
                     dtype=np.float32)
assert [name for name, _ in _ROW_COLUMNS] == SHORTAGE_FILE_SCHEMA.names[4:]


# what a buyer stored as another must share with it (per unit of need where a quantity)
_SHARED_FIELDS = ("shortage_t", "peak_share", "months_short", "first_short", "last_short",
                  *(name for name, _ in SHARES_OF_NEED))
_SHARED_TOLERANCE = 1e-9  # of the need, per draw on average


def _check_shared(chunk, layout: Layout) -> None:
    """Format 4 stores one row for the buyers of a price zone that hold no state stock
    of their own (``Layout.stored_as``): each such buyer's numbers must be its zone's per
    unit of need. Checked on the chunk's sums over draws, per exposure (a few ms a chunk;
    a real difference in any draw moves the sum): within 1e-9 of the need a draw for
    quantities and shares, exactly for the months."""
    storage = layout.storage
    shared = np.flatnonzero(storage != np.arange(layout.n_exposures))
    if not len(shared):
        return
    n, x = chunk.stop - chunk.start, layout.n_exposures
    source = storage[shared]
    for name in _SHARED_FIELDS:
        values = np.asarray(getattr(chunk, name)).reshape(n, x)
        if name.endswith("_t"):
            total = values.sum(axis=0) / layout.need_t
        else:
            total = values.sum(axis=0, dtype=np.float64)
        off = np.abs(total[shared] - total[source])
        limit = 0.0 if name in ("months_short", "first_short", "last_short") else (
            _SHARED_TOLERANCE * max(n, 1))
        bad = np.flatnonzero(off > limit)
        if bad.size:
            a, b = int(shared[bad[0]]), int(source[bad[0]])
            raise ResultError(
                f"draws [{chunk.start}, {chunk.stop}): {name} of {_exposure_name(layout, a)} "
                f"differs from that of {_exposure_name(layout, b)} per unit of need (sums "
                f"over the draws differ by {float(off[bad[0]]):.3g}); results format 4 "
                f"stores the buyers of one price zone without a state stock of their own "
                f"once (docs/model.md §3.5): this is an error of the engine"
            )


def _exposure_name(layout: Layout, x: int) -> str:
    return (f"({layout.materials[layout.material[x]]}, {layout.stages[layout.stage[x]]}, "
            f"{layout.countries[layout.country[x]]})")


def exposures_table(layout: Layout) -> pa.Table:
    """One row per exposure (format 4): labels, horizon need [t], price zone, reference
    price [USD/t], the country its shortage rows are stored as; what the shortage
    table's rows and derived columns are computed from."""
    x = layout.n_exposures
    where = layout.exposure_zone if layout.n_zones else np.full(x, -1, np.int32)
    zone = np.where(where >= 0, layout.zone_code[np.maximum(where, 0)] if layout.n_zones
                    else 0, 0)
    columns = dict(layout.exposure_labels(np.arange(x)))
    columns["need_t"] = np.asarray(layout.need_t, dtype=np.float64)
    columns["zone"] = pa.DictionaryArray.from_arrays(  # null: no zone (a layout without)
        arrow.column(zone, pa.int32(), mask=where < 0), arrow.strings(layout.zone_labels))
    columns["price_usd_per_t"] = np.asarray(layout.price, dtype=np.float64)
    columns["stored_as"] = arrow.labels(layout.country[layout.storage], layout.countries)
    return _table(columns, EXPOSURES_SCHEMA)


def _check_prices(chunk, layout: Layout) -> None:
    """Format 3 stores prices per zone only: every exposure's must be its zone's. Checked
    on a hash of each column over the chunk's draws (``_column_hashes``): an exposure's
    column equal to its zone's hashes the same, and a difference in any draw, even in the
    last bit, or a price taken from another draw changes it (a comparison draw by draw
    made a [draws, exposures] copy of the zones' columns, 3.5 ms a chunk); a NaN price is
    an error too, as it was."""
    if not layout.n_zones:
        return
    g = layout.zone_id[layout.exposure_zone]
    n = chunk.stop - chunk.start
    for name, zone_name in (("price_peak", "zone_price_peak"), ("price_mean", "zone_price_mean")):
        zone = np.asarray(getattr(chunk, zone_name))
        mine = _column_hashes(getattr(chunk, name), chunk.start, n)
        if np.isnan(zone).any() or not np.array_equal(
                mine, _column_hashes(zone, chunk.start, n)[g]):
            raise ResultError(
                f"draws [{chunk.start}, {chunk.stop}): an exposure's {name} differs from its "
                f"zone's {zone_name}; the results store prices per zone only (docs/model.md "
                f"§3.5: an exposure's price is its zone's)"
            )


def _column_hashes(values, start: int, n: int) -> np.ndarray:
    """uint64 per column of ``values`` [n draws, columns]: the sum, modulo 2**64, of each
    value's float64 bits times an odd number of its draw's own (draws ``start`` ..
    ``start + n - 1``, mixed by SplitMix64's finaliser): one matrix product, no copy."""
    bits = np.ascontiguousarray(values, dtype=np.float64).reshape(n, -1).view(np.uint64)
    z = np.arange(start, start + n, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(31))) | np.uint64(1)
    return z @ bits


def drivers_chunk(chunk, layout: Layout, schema: pa.Schema) -> pa.Table:
    """The drivers rows of one chunk: one per draw."""
    n = chunk.stop - chunk.start
    variates = np.asarray(chunk.variates, dtype=np.float64).reshape(n, len(layout.var_names))
    fired = np.asarray(chunk.fired, dtype=bool).reshape(n, len(layout.event_ids))
    onset = np.asarray(chunk.onset).reshape(n, len(layout.event_ids))
    arrays = [_draws(chunk, 1)]
    arrays += [arrow.column(variates[:, v]) for v in range(variates.shape[1])]
    for e in range(len(layout.event_ids)):
        arrays.append(arrow.column(fired[:, e]))
        arrays.append(_masked_months(np.where(fired[:, e], onset[:, e], -1)))
    return pa.Table.from_arrays(arrays, schema=schema)


def timeseries_chunk(chunk, layout: Layout) -> pa.Table:
    """Monthly shortage shares of one chunk: rows (draw, exposure, month)."""
    n = chunk.stop - chunk.start
    x, h = layout.n_exposures, layout.horizon
    columns = {"draw": _draws(chunk, x * h)}
    columns.update(layout.label_arrays(reps=n, each=h))
    columns["month"] = np.tile(np.arange(h, dtype=np.int16), n * x)
    columns["shortage_share"] = np.asarray(chunk.series, dtype=np.float32)
    return _table(columns, TIMESERIES_SCHEMA)


def zone_prices_chunk(chunk, layout: Layout) -> pa.Table:
    """Each draw's peak and mean price per zone with buyers: rows (draw, zone)."""
    n = chunk.stop - chunk.start
    g = layout.zone_id
    columns = {"draw": _draws(chunk, layout.n_zones)}
    columns.update(layout.zone_label_arrays(reps=n))
    columns["price_peak"] = _f32(np.asarray(chunk.zone_price_peak)[:, g])
    columns["price_mean"] = _f32(np.asarray(chunk.zone_price_mean)[:, g])
    columns["choke_months"] = np.asarray(chunk.zone_choke_months)[:, g].astype(np.int16)
    return _table(columns, ZONE_PRICES_SCHEMA)


def monthly_table(hist: np.ndarray, layout: Layout) -> pa.Table:
    """Monthly shortage-share statistics per (material, stage, country, month)."""
    x, h, bins = hist.shape
    if bins != HIST_BINS or x != layout.n_exposures or h != layout.horizon:
        raise ResultError(
            f"histogram shape {hist.shape} does not match {layout.n_exposures} exposures, "
            f"{layout.horizon} months and {HIST_BINS} bins"
        )
    # one compiled pass over the histograms for their quantiles, means and the share
    # short by more than 1 % (statistics.histogram_pass)
    n, short, totals, at, fracs = histogram_pass(hist, MONTHLY_QUANTILES, tail_from=2,
                                                 mid=share_midpoints(bins))
    qs = share_quantiles(n, at, fracs)
    columns = dict(layout.label_arrays(reps=1, each=h))
    columns["month"] = np.tile(np.arange(h, dtype=np.int16), x)
    columns["share_mean"] = share_mean(n, totals).astype(np.float32).ravel()
    for j, (name, _) in enumerate(MONTHLY_COLUMNS[1:6]):
        columns[name] = qs[..., j].astype(np.float32).ravel()
    columns["prob_short"] = (short / np.where(n > 0, n, 1)).astype(np.float32).ravel()
    return _table(columns)


def prices_table(zone_hist: np.ndarray, layout: Layout) -> pa.Table:
    """Zone-price quantiles per (material, stage, zone, month), zones with buyers."""
    hist = np.asarray(zone_hist)[layout.zone_id]
    g, h, _ = hist.shape
    order, _, _, split = price_bins()
    n, above, _, at, fracs = histogram_pass(hist, PRICE_QUANTILES, order=order,
                                            tail_from=split)
    qs = price_quantiles(n, at, fracs)
    columns = dict(layout.zone_label_arrays(reps=1, each=h))
    columns["month"] = np.tile(np.arange(h, dtype=np.int16), g)
    for j, (name, _) in enumerate(PRICES_COLUMNS[:5]):
        columns[name] = qs[..., j].astype(np.float32).ravel()
    columns["prob_above_1"] = (above / np.where(n > 0, n, 1)).astype(np.float32).ravel()
    return _table(columns)


def summary_table(stats: dict, layout: Layout) -> pa.Table:
    """The summary table: labels of each exposure and its statistics (float64[X] each,
    named as in ``SUMMARY_COLUMNS``)."""
    columns = dict(layout.label_arrays())
    columns.update({name: np.asarray(values, dtype=np.float64)
                    for name, values in stats.items()})
    return _table(columns)


def _check_chunk(chunk, expected_start: int, layout: Layout, draws: int, timeseries: bool) -> None:
    n = chunk.stop - chunk.start
    if chunk.start != expected_start or n <= 0 or chunk.stop > draws:
        raise ResultError(
            f"the executor delivered draws [{chunk.start}, {chunk.stop}) where draws from "
            f"{expected_start} (of {draws}) were expected; chunks must come in draw order"
        )
    x = layout.n_exposures
    if np.shape(chunk.shortage_t) != (n, x):
        raise ResultError(
            f"chunk shortage_t has shape {np.shape(chunk.shortage_t)}, expected {(n, x)}"
        )
    h = layout.horizon
    if getattr(chunk, "hist", None) is not None:
        if np.shape(chunk.hist) != (x, h, HIST_BINS):
            raise ResultError(f"chunk hist has shape {np.shape(chunk.hist)}")
    else:  # the rows' histogram by zone (simcore.engine.row_histogram)
        zone, rows = getattr(chunk, "zone_short_hist", None), getattr(chunk, "row_zone", None)
        holders = getattr(chunk, "holder_rows", None)
        own = getattr(chunk, "holder_short_hist", None)
        if zone is None or rows is None or holders is None or own is None:
            raise ResultError("the chunk has no monthly shortage histogram (hist, or "
                              "zone_short_hist with row_zone, holder_rows, holder_short_hist)")
        g = np.shape(zone)[0] if np.ndim(zone) == 3 else 0
        if (np.shape(zone) != (g, h, HIST_BINS) or np.shape(rows) != (x,)
                or np.shape(own) != (len(holders), h, HIST_BINS)
                or (x and not 0 <= int(np.min(rows)) <= int(np.max(rows)) < g)
                or (len(holders) and not 0 <= int(np.min(holders)) <= int(np.max(holders)) < x)):
            raise ResultError(
                f"chunk histogram by zone does not fit: zone_short_hist {np.shape(zone)}, "
                f"row_zone {np.shape(rows)}, holder_rows {np.shape(holders)}, "
                f"holder_short_hist {np.shape(own)} for {x} rows and {h} months")
    if timeseries and getattr(chunk, "series", None) is None:
        raise ResultError("a monthly time series was asked for but the executor gave none")


class ResultWriter:
    """Streams ``ChunkResult``s into ``folder`` (which must exist and be empty).

    ``add`` each chunk in draw order (``check`` then ``write``: :func:`write_chunks`
    checks a chunk as it arrives and writes it on a thread of its own), then ``finish``
    writes the summary, the monthly table and ``run.json`` and returns the manifest. The
    summary is computed as the chunks stream by (:class:`ExposureSummary`). The folder is
    a staging folder: :func:`atomic_folder` moves it into place only when ``finish``
    returned.
    """

    def __init__(
        self, folder: Path, layout: Layout, provenance: dict, draws: int, timeseries: bool = False
    ):
        self.folder = Path(folder)
        self.layout = layout
        self.provenance = dict(provenance)
        self.draws = int(draws)
        self.timeseries = bool(timeseries)
        self.done = 0  # draws checked
        self.hist = np.zeros((layout.n_exposures, layout.horizon, HIST_BINS), dtype=np.int64)
        labels = layout.labels()
        self._labels = labels
        self._drivers_schema = drivers_schema(layout)
        self._writers = {
            "shortage": _TableWriter(
                self.folder / "shortage.parquet", SHORTAGE_FILE_SCHEMA, self.provenance, labels
            ),
            "drivers": _TableWriter(
                self.folder / "drivers.parquet", self._drivers_schema, self.provenance, labels
            ),
        }
        self._writers["zone_prices"] = _TableWriter(
            self.folder / "zone_prices.parquet", ZONE_PRICES_SCHEMA, self.provenance, labels
        )
        self.zone_hist = None
        self._by_zone = None  # the histograms by zone summed (_add_by_zone), their draws
        if self.timeseries:
            self._writers["timeseries"] = _TableWriter(
                self.folder / "timeseries.parquet", TIMESERIES_SCHEMA, self.provenance, labels
            )
        self.summary = ExposureSummary(layout, self.folder)

    def add(self, chunk) -> int:
        """Check and write one chunk; returns the number of draws in it."""
        n = self.check(chunk)
        self.write(chunk)
        return n

    def check(self, chunk) -> int:
        """Check that ``chunk`` is the next one and fits the layout; returns its draws."""
        _check_chunk(chunk, self.done, self.layout, self.draws, self.timeseries)
        n = chunk.stop - chunk.start
        self.done += n
        return n

    def write(self, chunk) -> None:
        """Write a checked chunk into the tables, histograms and summary: the tables a
        block of its draws at a time (what converting a block holds stays small beside
        the chunk), the summary the whole chunk at once (each add is a piece of its
        spill that the end of the run reads per block of exposures: the partner study's
        chunks of 1,024 draws in blocks of 337 made four times as many pieces, and at a
        million draws their reads took 13 s)."""
        _check_prices(chunk, self.layout)
        _check_shared(chunk, self.layout)
        for part in _blocks(chunk, self.layout, self.timeseries):
            self._writers["shortage"].write(shortage_chunk(part, self.layout))
            if self.timeseries:
                self._writers["timeseries"].write(timeseries_chunk(part, self.layout))
        self.summary.add(chunk)
        self._writers["drivers"].write(drivers_chunk(chunk, self.layout, self._drivers_schema))
        self._writers["zone_prices"].write(zone_prices_chunk(chunk, self.layout))
        if getattr(chunk, "hist", None) is not None:
            self.hist += np.asarray(chunk.hist, dtype=np.int64)
        else:
            self._add_by_zone(chunk)
        zh = np.asarray(chunk.zone_hist, dtype=np.int64)
        if self.zone_hist is None:
            self.zone_hist = zh.copy()
        else:  # in place: a new 7.7 MB array a chunk (the partner study) costs page faults
            np.add(self.zone_hist, zh, out=self.zone_hist)

    def _add_by_zone(self, chunk) -> None:
        """Add a chunk's histogram given by zone to the sums kept by zone (the same
        zones, rows and holders every chunk), or else as rows to ``self.hist``."""
        from simcore.engine import expand_histogram

        zone = np.asarray(chunk.zone_short_hist, dtype=np.int64)
        rows, holders = np.asarray(chunk.row_zone), np.asarray(chunk.holder_rows)
        own = np.asarray(chunk.holder_short_hist, dtype=np.int64)
        n = chunk.stop - chunk.start
        kept = self._by_zone
        if kept is None:
            self._by_zone = [zone.copy(), rows.copy(), holders.copy(), own.copy(), n]
        elif (kept[0].shape == zone.shape and np.array_equal(kept[1], rows)
              and np.array_equal(kept[2], holders)):
            np.add(kept[0], zone, out=kept[0])
            np.add(kept[3], own, out=kept[3])
            kept[4] += n
        else:
            self.hist += expand_histogram(zone, rows, holders, own, n)

    def _row_histogram(self) -> np.ndarray:
        """The rows' monthly histogram over every chunk."""
        if self._by_zone is None:
            return self.hist
        from simcore.engine import expand_histogram

        zone, rows, holders, own, n = self._by_zone
        return self.hist + expand_histogram(zone, rows, holders, own, n)

    def _histogram_tables(self) -> dict:
        """Write the monthly table and the price table (from the histograms summed over
        the chunks); their digests."""
        monthly = monthly_table(self._row_histogram(), self.layout)
        digests = {"monthly": write_table(self.folder / "monthly.parquet", monthly,
                                          self.provenance, self._labels)}
        prices = prices_table(self.zone_hist, self.layout)
        digests["prices"] = write_table(self.folder / "prices.parquet", prices,
                                        self.provenance, self._labels)
        return digests

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.abort()
        self.summary.close()

    def finish(self) -> dict:
        if self.done != self.draws or self.summary.n != self.draws:
            self.abort()
            raise ResultError(f"the executor delivered {self.done} draws of {self.draws}")
        # the tables' last row groups are written (pyarrow lets go of the GIL), and the
        # monthly and price tables made from the histograms (numpy lets go of it too),
        # while the summary sorts each exposure's shortages: the end of a run is a core's
        # work at a time otherwise (0.3 s of a 4 s partner study on 2 cores, the
        # histograms' tables 0.08 s of it). Each table is closed on a thread of its own:
        # the drivers and zone-price tables of the partner study (10,000 draws) are one
        # row group each, encoded when closed, and closing the three large tables one
        # after the other (0.09-0.13 s) outlasted the summary
        closes = {name: w.close for name, w in self._writers.items()}
        with ThreadPoolExecutor(max_workers=len(closes) + 2,
                                thread_name_prefix="supplyshock-close") as pool:
            tasks = {name: pool.submit(close) for name, close in closes.items()}
            tables = pool.submit(self._histogram_tables)
            exposures = pool.submit(
                write_table, self.folder / "exposures.parquet", exposures_table(self.layout),
                self.provenance, self._labels)
            waiting = [*tasks.values(), tables, exposures]
            try:
                summary = summary_table(self.summary.finish(), self.layout)
            except BaseException:
                for task in waiting:
                    task.exception()  # wait for it; the summary's error is the one raised
                raise
            digests = {name: task.result() for name, task in tasks.items()}
            digests.update(tables.result())
            digests["exposures"] = exposures.result()
        digests["summary"] = write_table(
            self.folder / "summary.parquet", summary, self.provenance, self._labels
        )
        manifest = dict(self.provenance)
        manifest["labels"] = self._labels
        manifest["last_stage"] = dict(self.layout.last_stage)
        manifest["price_usd_per_t"] = self.layout.prices()
        manifest["exposures"] = self.layout.n_exposures
        manifest["zones"] = self.layout.zones_manifest()
        manifest["files"] = [f"{name}.parquet" for name in TABLES if name in digests]
        manifest["digest"] = {
            "sha256": combine_digests(digests),
            "tables": {name: digests[name] for name in TABLES if name in digests},
            "covers": "column data of every table in canonical form (docs/results.md)",
        }
        write_json(self.folder / MANIFEST, manifest)
        return manifest


BLOCK_BYTES = 16 * 2**20  # engine values of the draws converted at a time [bytes]
# the per-draw fields shortage_chunk reads (the summary takes the whole chunk)
_PER_DRAW_FIELDS = ("shortage_t", "peak_share", "months_short", "first_short", "last_short",
                    *(name for name, _ in SHARES_OF_NEED))


def _blocks(chunk, layout: Layout, timeseries: bool):
    """The chunk as consecutive blocks of draws (views, no copies) with the per-draw
    fields the shortage and time-series tables read."""
    n = chunk.stop - chunk.start
    per_draw = layout.n_exposures * (13 * 8 + 3 * 2) * (1 + 4 * layout.horizon * timeseries)
    size = max(1, BLOCK_BYTES // max(per_draw, 1))
    if size >= n:
        yield chunk
        return
    fields = _PER_DRAW_FIELDS + (("series",) if timeseries else ())
    for a in range(0, n, size):
        b = min(n, a + size)
        yield SimpleNamespace(start=chunk.start + a, stop=chunk.start + b,
                              **{f: np.asarray(getattr(chunk, f))[a:b] for f in fields})


_STOP = object()


class _Handoff:
    """Runs ``work(item)`` on a thread of its own, one item at a time. ``put`` waits
    until the previous item is done, so that one item is worked on while the caller
    prepares the next (the engine computes chunk i + 1 while chunk i is written; pyarrow,
    zstd, hashlib and numpy release the GIL) and no more than that is held. The thread's
    error is raised by the next ``put`` or by ``close``."""

    def __init__(self, work, name: str):
        self._work = work
        self._idle = threading.Semaphore(1)
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._items.get()
            if item is _STOP:
                return
            try:
                if self._error is None and not self._cancelled:
                    self._work(item)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                self._error = exc
            finally:
                del item
                self._idle.release()

    def put(self, item) -> None:
        self._idle.acquire()
        if self._error is not None:
            self._idle.release()
            raise self._error
        self._items.put(item)

    def close(self) -> None:
        """Wait for the last item; raise the thread's error if it had one."""
        self._idle.acquire()
        self._items.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Skip what was not started, wait for what was, stop the thread."""
        self._cancelled = True
        self._items.put(_STOP)
        self._thread.join()


def sync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (``fsync``). Each table is synced as it closes,
    before the manifest is written: a folder with ``run.json`` has its tables on disk
    after a crash, and the tables streamed during the run are synced on the threads
    that close them, while the summary sorts (synced only with the manifest, they made
    its ``fsync`` the last 20-45 ms of a partner study, with the cores idle)."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows' fsync needs write
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def write_chunks(
    folder: Path,
    layout: Layout,
    chunks: Iterable,
    provenance: dict,
    draws: int,
    timeseries: bool = False,
    progress=None,
) -> dict:
    """Write every chunk into ``folder`` and finish it; returns the manifest.

    ``chunks`` is any iterator of ``ChunkResult``s in draw order: the local engine, or an
    executor that computes them elsewhere (Dask). Each chunk is written on a thread of
    its own while the next one is computed. ``progress`` has ``update(n)``, told the
    draws of each chunk as it is handed to the writer.
    """
    writer = ResultWriter(folder, layout, provenance, draws, timeseries)
    handoff = _Handoff(writer.write, "supplyshock-writer")
    try:
        for chunk in chunks:
            n = writer.check(chunk)
            handoff.put(chunk)
            del chunk  # the writer's thread holds it until written
            if progress is not None:
                progress.update(n)
        handoff.close()
    except BaseException:
        handoff.cancel()
        writer.abort()
        # the local engine computes the next block while a chunk is written: stop it
        close = getattr(chunks, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # the error raised is the one above
                close()
        raise
    return writer.finish()
