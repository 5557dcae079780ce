"""Results of a run: Parquet files, summary statistics, digest, manifest (docs/results.md).

The engine yields ``ChunkResult``s (docs/architecture.md); :class:`ResultWriter` streams
them into a results folder in Parquet row groups of a fixed size (``ROW_GROUP_BYTES``,
whatever the chunk size), so that memory stays bounded whatever the number of draws.
When the last chunk is in, the summary is computed from the shortage table as stored
(float32), the monthly quantiles from the merged histograms, and the manifest
``run.json`` is written with a digest of the content.

A results folder::

    shortage.parquet    one row per (draw, material, stage, country with need > 0)
    drivers.parquet     one row per draw: every sampled variate, events fired, onsets
    summary.parquet     one row per (material, stage, country): statistics over draws
    monthly.parquet     one row per (material, stage, country, month): quantiles
    prices.parquet      one row per (material, stage, zone, month): zone-price quantiles
    zone_prices.parquet one row per (draw, material, stage, zone): peak and mean price
    timeseries.parquet  (with --timeseries) one row per (draw, exposure, month)
    run.json            the manifest: provenance and digests

Format 1 (market version 1) folders still load: they have no price tables and no
accounting columns.

This module never runs the engine; ``simcore.api`` does, and writes through here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simcore.errors import ResultError
from simcore.limits import MAX_DRAWS, MAX_SEED

FORMAT = "supplyshock-results/2"
OLD_FORMATS = ("supplyshock-results/1",)  # still read (no price tables)
MANIFEST = "run.json"
METADATA_KEY = b"supplyshock"  # Parquet key-value metadata: provenance (JSON)
DIGEST_KEY = b"supplyshock.digest"  # Parquet key-value metadata: that table's digest

TABLES = ("shortage", "drivers", "summary", "monthly", "prices", "zone_prices", "timeseries")
LABEL_COLUMNS = ("material", "stage", "country", "zone")
SHORT_THRESHOLD = 0.01  # a month is short above 1 % of monthly need (MODEL.md §4)
HIST_BINS = 101  # bin 0: share 0; bin b: ((b-1)/100, b/100]
MONTHLY_QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
TAIL = 0.05  # expected shortfall: mean of the worst 5 % of draws
ROW_GROUP_BYTES = 16 * 2**20  # data per Parquet row group, before compression
_COMPRESSION = "zstd"
_ZSTD_LEVEL = 3  # level 9 saves ~6 % and writes 2.5x slower

SHORTAGE_COLUMNS = (
    "draw",
    "material",
    "stage",
    "country",
    "need_t",
    "shortage_t",
    "shortage_share",
    "peak_share",
    "months_short",
    "first_short_month",
    "last_short_month",
    "stock_drawn_t",
    "bought_t",
    "restocked_t",
    "commercial_drawn_t",
    "substituted_t",
    "demand_given_up_t",
    "rationed_t",
    "price_index_peak",
    "price_index_mean",
    "shortage_value_usd",
)
# the accounting of docs/model.md §3.5, per row: need = used + substituted + given up +
# rationed, used = bought - restocked + commercial_drawn + stock_drawn
ACCOUNTING_COLUMNS = ("bought_t", "restocked_t", "commercial_drawn_t", "substituted_t",
                      "demand_given_up_t", "rationed_t")

_LABEL_TYPE = pa.dictionary(pa.int32(), pa.string())

SHORTAGE_SCHEMA = pa.schema(
    [
        ("draw", pa.int32()),
        ("material", _LABEL_TYPE),
        ("stage", _LABEL_TYPE),
        ("country", _LABEL_TYPE),
        ("need_t", pa.float32()),
        ("shortage_t", pa.float32()),
        ("shortage_share", pa.float32()),
        ("peak_share", pa.float32()),
        ("months_short", pa.int16()),
        ("first_short_month", pa.int16()),
        ("last_short_month", pa.int16()),
        ("stock_drawn_t", pa.float32()),
        ("bought_t", pa.float32()),
        ("restocked_t", pa.float32()),
        ("commercial_drawn_t", pa.float32()),
        ("substituted_t", pa.float32()),
        ("demand_given_up_t", pa.float32()),
        ("rationed_t", pa.float32()),
        ("price_index_peak", pa.float32()),
        ("price_index_mean", pa.float32()),
        ("shortage_value_usd", pa.float32()),
    ]
)

SUMMARY_COLUMNS = (
    ("need_t", "horizon need [t]"),
    ("shortage_mean_t", "mean shortage over the horizon [t]"),
    ("share_mean", "mean shortage share of horizon need"),
    ("share_p5", "5th percentile of the shortage share"),
    ("share_p50", "median shortage share"),
    ("share_p95", "95th percentile of the shortage share"),
    ("share_p99", "99th percentile of the shortage share"),
    ("share_es95", "expected shortfall: mean shortage share of the worst 5 % of draws"),
    ("prob_short", "probability of at least one month short (> 1 % of monthly need)"),
    ("prob_short_10pct", "probability that the shortage share exceeds 10 %"),
    ("months_short_mean", "mean number of months short [months]"),
    ("survive_month_p50", "time to survive: median first short month, among draws short"),
    ("recover_month_p50", "time to recover: median of last short month + 1, among draws short"),
    ("prob_unrecovered", "probability of still being short in the last month"),
    ("stock_drawn_mean_t", "mean state stock drawn for the holder's own use [t]"),
    ("commercial_drawn_mean_t", "mean commercial stock drawn for own use [t]"),
    ("substituted_mean_t", "mean need substituted [t]"),
    ("given_up_mean_t", "mean demand given up at the price [t]"),
    ("rationed_mean_t", "mean need rationed at the choke price [t]"),
    ("price_peak_p50", "median peak price index"),
    ("price_peak_p95", "95th percentile of the peak price index"),
    ("price_mean_mean", "mean of the horizon-mean price index"),
    ("value_mean_usd", "expected value of the shortage at the reference price [USD]"),
    ("value_p95_usd", "95th percentile of the value of the shortage [USD]"),
)

MONTHLY_COLUMNS = (
    ("share_mean", "mean monthly shortage share (from bin midpoints, +- 0.005)"),
    ("share_p5", "5th percentile of the monthly shortage share"),
    ("share_p25", "25th percentile"),
    ("share_p50", "median"),
    ("share_p75", "75th percentile"),
    ("share_p95", "95th percentile"),
    ("prob_short", "probability that the month is short (share > 1 %, exact)"),
)


# --------------------------------------------------------------------------------------
# Layout: what the rows are
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Layout:
    """The exposures of a run (the columns ``X`` of every ``ChunkResult`` array) as labels.

    ``material``, ``stage`` and ``country`` are int32[X] codes into the label tuples
    (the Parquet dictionaries). ``need_t`` [t] is the horizon need, ``price`` [USD/t] the
    reference price of each exposure's material.
    """

    materials: tuple[str, ...]
    stages: tuple[str, ...]
    countries: tuple[str, ...]
    material: np.ndarray  # int32[X]
    stage: np.ndarray  # int32[X]
    country: np.ndarray  # int32[X]
    need_t: np.ndarray  # float64[X] [t]
    price: np.ndarray  # float64[X] [USD/t]
    horizon: int  # H [months]
    var_names: tuple[str, ...]  # [V] compiled.var_name
    event_ids: tuple[str, ...]  # [E]
    last_stage: dict  # material -> name of its last stage
    # price zones with buyers (docs/model.md §3.1): codes into materials / stages /
    # zone_labels, the engine's global zone id of each, and members (country codes)
    zone_labels: tuple[str, ...] = ()
    zone_material: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    zone_stage: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    zone_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    zone_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    zone_members: tuple = ()

    @property
    def n_zones(self) -> int:
        return len(self.zone_id)

    @property
    def n_exposures(self) -> int:
        return len(self.need_t)

    @classmethod
    def from_exposures(cls, tensor, compiled, exposures, zones=None) -> Layout:
        """From the engine's ``Exposures`` (material/stage/country indices of the tensor)
        and ``Zones`` (simcore.engine.zones)."""
        k = np.asarray(exposures.material, dtype=np.int64)
        s = np.asarray(exposures.stage, dtype=np.int64)
        i = np.asarray(exposures.country, dtype=np.int64)
        mat_idx = sorted(set(k.tolist()))
        cty_idx = sorted(set(i.tolist()))
        stage_names: list[str] = []
        for stages in tensor.stages:
            for name in stages:
                if name not in stage_names:
                    stage_names.append(name)
        if zones is not None:
            mat_idx = sorted(set(mat_idx) | set(zones.material[zones.reported].tolist()))
        mat_code = {m: c for c, m in enumerate(mat_idx)}
        cty_code = {m: c for c, m in enumerate(cty_idx)}
        zone_kw = {}
        if zones is not None:
            rep = np.flatnonzero(zones.reported)
            labels: list[str] = []
            for g in rep:
                if zones.name[g] not in labels:
                    labels.append(zones.name[g])
            zone_kw = dict(
                zone_labels=tuple(labels),
                zone_material=np.array([mat_code[int(zones.material[g])] for g in rep],
                                       dtype=np.int32),
                zone_stage=np.array([stage_names.index(tensor.stages[int(zones.material[g])][
                    int(zones.stage[g])]) for g in rep], dtype=np.int32),
                zone_code=np.array([labels.index(zones.name[g]) for g in rep], dtype=np.int32),
                zone_id=rep.astype(np.int64),
                zone_members=tuple(tuple(tensor.countries[i] for i in zones.members[g])
                                   for g in rep),
            )
        return cls(
            materials=tuple(tensor.materials[m] for m in mat_idx),
            stages=tuple(stage_names),
            countries=tuple(tensor.countries[c] for c in cty_idx),
            material=np.array([mat_code[m] for m in k.tolist()], dtype=np.int32),
            stage=np.array(
                [
                    stage_names.index(tensor.stages[a][b])
                    for a, b in zip(k.tolist(), s.tolist(), strict=True)
                ],
                dtype=np.int32,
            ),
            country=np.array([cty_code[c] for c in i.tolist()], dtype=np.int32),
            need_t=np.asarray(exposures.need_t, dtype=np.float64),
            price=np.asarray(tensor.price, dtype=np.float64)[k],
            horizon=int(compiled.horizon),
            var_names=tuple(compiled.var_name),
            event_ids=tuple(compiled.event_id),
            last_stage={tensor.materials[m]: tensor.stages[m][-1] for m in mat_idx},
            **zone_kw,
        )

    def prices(self) -> dict:
        """Reference price of each material [USD/t]."""
        return {
            self.materials[m]: float(p)
            for m, p in zip(self.material.tolist(), self.price, strict=True)
        }

    def labels(self) -> dict:
        return {
            "material": list(self.materials),
            "stage": list(self.stages),
            "country": list(self.countries),
            "zone": list(self.zone_labels),
        }

    def zones_manifest(self) -> list[dict]:
        """The zones with buyers, for run.json: material, stage, zone, member countries."""
        return [
            {"material": self.materials[m], "stage": self.stages[s],
             "zone": self.zone_labels[z], "members": list(mem)}
            for m, s, z, mem in zip(self.zone_material.tolist(), self.zone_stage.tolist(),
                                    self.zone_code.tolist(), self.zone_members, strict=True)
        ]

    def zone_label_arrays(self, reps: int = 1, each: int = 1) -> dict[str, pa.DictionaryArray]:
        """Dictionary-encoded (material, stage, zone) columns for ``reps`` repetitions of
        the zones, each zone repeated ``each`` times (months)."""
        out = {}
        for name, codes, labels in (
            ("material", self.zone_material, self.materials),
            ("stage", self.zone_stage, self.stages),
            ("zone", self.zone_code, self.zone_labels),
        ):
            idx = np.tile(np.repeat(codes, each), reps)
            out[name] = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), list(labels))
        return out

    def label_arrays(self, reps: int = 1, each: int = 1) -> dict[str, pa.DictionaryArray]:
        """Dictionary-encoded label columns for ``reps`` repetitions of the exposures
        (draw-major rows), each exposure repeated ``each`` times (months)."""
        out = {}
        for name, codes, labels in (
            ("material", self.material, self.materials),
            ("stage", self.stage, self.stages),
            ("country", self.country, self.countries),
        ):
            idx = np.tile(np.repeat(codes, each), reps)
            out[name] = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), list(labels))
        return out


# --------------------------------------------------------------------------------------
# Digest: a hash of the data, not of the file bytes
# --------------------------------------------------------------------------------------


class TableDigest:
    """SHA-256 over a table's content in canonical form, fed batch by batch.

    Each column gets its own hash over the concatenation of its canonical bytes (so the
    result does not depend on how the rows were split into chunks or row groups):
    label columns as int32 little-endian codes into the manifest's label lists, booleans
    as one byte, integers and floats little-endian in their stored width, nulls as -1
    (integers) or NaN (floats) plus a validity byte per row, every NaN with the same bit
    pattern. The table digest hashes the row count, each column's name, type (``label``,
    ``bool``, ``<i2``, ``<f4`` ...) and hashes, and the label lists.
    """

    def __init__(self, schema: pa.Schema, labels: dict):
        self.schema = schema
        self.labels = {name: list(values) for name, values in labels.items()}
        self.rows = 0
        self._hash = {field.name: hashlib.sha256() for field in schema}
        self._valid = {field.name: hashlib.sha256() for field in schema}
        self._lookup = {name: {v: i for i, v in enumerate(vals)} for name, vals in labels.items()}

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.schema.names != self.schema.names:
            raise ResultError(
                f"columns {batch.schema.names} do not match the expected {self.schema.names}"
            )
        self.rows += batch.num_rows
        for name in self.schema.names:
            column = batch.column(name)
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            for chunk in chunks:
                self._hash[name].update(self._canonical(name, chunk))
                valid = chunk.is_valid().to_numpy(zero_copy_only=False)
                self._valid[name].update(np.asarray(valid, np.uint8).tobytes())

    def _canonical(self, name: str, arr: pa.Array) -> bytes:
        kind = arr.type
        if pa.types.is_dictionary(kind) or pa.types.is_string(kind):
            return self._codes(name, arr).astype("<i4").tobytes()
        if pa.types.is_boolean(kind):
            return np.asarray(
                arr.fill_null(False).to_numpy(zero_copy_only=False), np.uint8
            ).tobytes()
        if pa.types.is_integer(kind):
            values = arr.fill_null(-1).to_numpy(zero_copy_only=False)
            return values.astype(values.dtype.newbyteorder("<")).tobytes()
        if pa.types.is_floating(kind):
            values = np.array(arr.to_numpy(zero_copy_only=False), copy=True)
            values[np.isnan(values)] = np.nan
            return values.astype(values.dtype.newbyteorder("<")).tobytes()
        raise ResultError(f"column {name!r} has a type the digest does not cover: {kind}")

    def _codes(self, name: str, arr: pa.Array) -> np.ndarray:
        if name not in self._lookup:
            raise ResultError(f"label column {name!r} has no label list in the manifest")
        lookup = self._lookup[name]
        if pa.types.is_dictionary(arr.type):
            dictionary = arr.dictionary.to_pylist()
            indices = arr.indices.to_numpy(zero_copy_only=False)
        else:
            encoded = pc.dictionary_encode(arr)
            dictionary = encoded.dictionary.to_pylist()
            indices = encoded.indices.to_numpy(zero_copy_only=False)
        try:
            remap = np.array([lookup[v] for v in dictionary], dtype=np.int32)
        except KeyError as exc:
            raise ResultError(
                f"column {name!r} holds label {exc.args[0]!r}, which is not in the manifest's "
                f"labels"
            ) from None
        return remap[indices] if len(remap) else np.zeros(0, np.int32)

    def hexdigest(self) -> str:
        h = hashlib.sha256()
        h.update(f"rows:{self.rows}\n".encode())
        for col in self.schema:
            values, valid = self._hash[col.name].hexdigest(), self._valid[col.name].hexdigest()
            h.update(f"{col.name}:{_type_name(col.type)}:{values}:{valid}\n".encode())
        for name in sorted(self.labels):
            if name in self.schema.names:
                h.update(f"labels:{name}:{json.dumps(self.labels[name])}\n".encode())
        return h.hexdigest()


def _type_name(kind: pa.DataType) -> str:
    """A column type in words that no library version changes: ``label``, ``bool`` or
    a numpy type string such as ``<f4``."""
    if pa.types.is_dictionary(kind) or pa.types.is_string(kind):
        return "label"
    if pa.types.is_boolean(kind):
        return "bool"
    return np.dtype(kind.to_pandas_dtype()).newbyteorder("<").str


def combine_digests(tables: dict[str, str]) -> str:
    """The overall digest: SHA-256 over ``name:digest`` lines in the fixed table order."""
    lines = "".join(f"{name}:{tables[name]}\n" for name in TABLES if name in tables)
    return hashlib.sha256(lines.encode()).hexdigest()


def file_digest(path: Path, labels: dict) -> str:
    """The digest of the table stored in a Parquet file, read back row group by row group."""
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        digest = TableDigest(pa.schema([schema.field(n) for n in schema.names]), labels)
        for i in range(pf.num_row_groups):
            digest.update(pf.read_row_group(i))
    except (OSError, pa.ArrowException) as exc:
        raise ResultError(f"{path}: cannot read the Parquet file ({exc})") from None
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# Statistics (pure functions on arrays)
# --------------------------------------------------------------------------------------


def sequential_sum(values: np.ndarray, block: int = 8192) -> np.ndarray:
    """Sum along axis 0 adding the rows strictly in order, as float64.

    ``np.sum`` may pair terms differently depending on the array's shape and the numpy
    version; a running sum (``cumsum``) cannot, so the summary, which the digest covers,
    is the same float on every machine.
    """
    values = np.asarray(values)
    acc = np.zeros((1, *values.shape[1:]))
    for start in range(0, values.shape[0], block):
        part = values[start : start + block].astype(np.float64)
        acc = np.cumsum(np.concatenate([acc, part]), axis=0)[-1:]
    return acc[0]


def quantile_sorted(sorted_values: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` along axis 0 of an array sorted along axis 0.

    Linear interpolation between order statistics (numpy's default ``"linear"``
    method), written out so that the numbers never depend on the numpy version.
    """
    n = sorted_values.shape[0]
    if n == 0:
        return np.full(sorted_values.shape[1:], np.nan)
    h = (n - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, n - 1)
    t = h - lo
    a = sorted_values[lo].astype(np.float64)
    b = sorted_values[hi].astype(np.float64)
    return a + (b - a) * t


def expected_shortfall_sorted(sorted_values: np.ndarray, tail: float = TAIL) -> np.ndarray:
    """Mean of the worst ``ceil(tail * n)`` values (at least one) along axis 0."""
    n = sorted_values.shape[0]
    if n == 0:
        return np.full(sorted_values.shape[1:], np.nan)
    m = max(1, math.ceil(tail * n - 1e-9))
    return sequential_sum(sorted_values[n - m :]) / m


def median_where(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median along axis 0 of ``values`` over the entries where ``valid``; NaN if none."""
    if values.shape[1] > _BLOCK:
        return np.concatenate(
            [
                median_where(values[:, j : j + _BLOCK], valid[:, j : j + _BLOCK])
                for j in range(0, values.shape[1], _BLOCK)
            ]
        )
    n, x = values.shape
    big = np.iinfo(np.int64).max
    filled = np.where(valid, values.astype(np.int64), big)
    s = np.sort(filled, axis=0)
    count = valid.sum(axis=0)
    out = np.full(x, np.nan)
    cols = np.nonzero(count)[0]
    if len(cols):
        c = count[cols]
        lo = s[(c - 1) // 2, cols].astype(np.float64)
        hi = s[c // 2, cols].astype(np.float64)
        out[cols] = (lo + hi) / 2
    return out


_BLOCK = 16  # exposures sorted at a time: bounds the float64 copies to n x 16


def _by_block(raw: np.ndarray, stats) -> dict[str, np.ndarray]:
    """``stats(block)`` on blocks of columns of ``raw`` [n, X], concatenated."""
    # at least one (possibly empty) block, so that no exposures give empty columns
    parts = [stats(raw[:, j : j + _BLOCK]) for j in range(0, max(raw.shape[1], 1), _BLOCK)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def exposure_statistics(cols: Mapping, need_t: np.ndarray, horizon: int) -> dict:
    """The summary statistics of each exposure from per-draw arrays of shape [n, X].

    ``cols`` maps ``shortage_t``, ``shortage_share``, ``months_short``,
    ``first_short_month`` and ``last_short_month`` (-1 when never short),
    ``stock_drawn_t``, ``price_index_peak``, ``price_index_mean``, ``shortage_value_usd``
    to arrays; each is looked up once (a lazy mapping reads them one at a time).
    Returns float64[X] arrays named as in ``SUMMARY_COLUMNS``.
    """
    out: dict[str, np.ndarray] = {"need_t": np.asarray(need_t, dtype=np.float64)}
    raw = cols["shortage_share"]
    n = raw.shape[0]
    if n == 0:
        raise ResultError("no draws to summarise")

    def share_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {
            "share_mean": sequential_sum(s) / n,
            "share_p5": quantile_sorted(s, 0.05),
            "share_p50": quantile_sorted(s, 0.50),
            "share_p95": quantile_sorted(s, 0.95),
            "share_p99": quantile_sorted(s, 0.99),
            "share_es95": expected_shortfall_sorted(s),
            "prob_short_10pct": (s > 0.10).sum(axis=0) / n,
        }

    out.update(_by_block(raw, share_stats))
    del raw
    out["shortage_mean_t"] = sequential_sum(cols["shortage_t"]) / n
    out["months_short_mean"] = sequential_sum(cols["months_short"]) / n
    first = cols["first_short_month"]
    short = first >= 0
    out["prob_short"] = short.sum(axis=0) / n
    out["survive_month_p50"] = median_where(first, short)
    del first
    last = cols["last_short_month"]
    out["recover_month_p50"] = median_where(last.astype(np.int32) + 1, short)
    out["prob_unrecovered"] = (last == horizon - 1).sum(axis=0) / n
    del last, short
    out["stock_drawn_mean_t"] = sequential_sum(cols["stock_drawn_t"]) / n
    for name, col in (("commercial_drawn_mean_t", "commercial_drawn_t"),
                      ("substituted_mean_t", "substituted_t"),
                      ("given_up_mean_t", "demand_given_up_t"),
                      ("rationed_mean_t", "rationed_t")):
        out[name] = (sequential_sum(cols[col]) / n if col in cols
                     else np.full(out["need_t"].shape, np.nan))

    def peak_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {
            "price_peak_p50": quantile_sorted(s, 0.5),
            "price_peak_p95": quantile_sorted(s, 0.95),
        }

    out.update(_by_block(cols["price_index_peak"], peak_stats))
    out["price_mean_mean"] = sequential_sum(cols["price_index_mean"]) / n

    def value_stats(block):
        s = np.sort(block.astype(np.float64), axis=0)
        return {"value_mean_usd": sequential_sum(s) / n, "value_p95_usd": quantile_sorted(s, 0.95)}

    out.update(_by_block(cols["shortage_value_usd"], value_stats))
    return {name: out[name] for name, _ in SUMMARY_COLUMNS}


def histogram_quantiles(hist: np.ndarray, qs: Iterable[float]) -> np.ndarray:
    """Quantiles of shortage shares from their histogram ``hist[..., 101]``.

    Bin 0 holds shares equal to 0, bin b the shares in ((b-1)/100, b/100]. Within a bin
    the values are taken as uniform, so a quantile is exact to the bin width (0.01);
    a quantile that falls in bin 0 is exactly 0. Returns float64[..., len(qs)].
    """
    hist = np.asarray(hist, dtype=np.int64)
    qs = np.asarray(list(qs), dtype=np.float64)
    n = hist.sum(axis=-1, keepdims=True).astype(np.float64)
    cum = np.cumsum(hist, axis=-1) / np.where(n > 0, n, 1)  # F at each bin's right edge
    out = np.empty(hist.shape[:-1] + (len(qs),))
    for j, q in enumerate(qs):
        # first non-empty bin whose CDF reaches q (slack for q * n landing on an integer)
        b = np.argmax((cum >= q - 1e-12) & (hist > 0), axis=-1)
        below = np.where(
            b > 0, np.take_along_axis(cum, np.maximum(b - 1, 0)[..., None], -1)[..., 0], 0.0
        )
        mass = np.take_along_axis(hist, b[..., None], -1)[..., 0] / np.where(
            n[..., 0] > 0, n[..., 0], 1
        )
        frac = np.clip((q - below) / np.where(mass > 0, mass, 1), 0.0, 1.0)
        value = np.where(b == 0, 0.0, (b - 1 + frac) / 100.0)
        out[..., j] = np.where(n[..., 0] > 0, value, np.nan)
    return out


def histogram_mean(hist: np.ndarray) -> np.ndarray:
    """Mean share from a histogram, each bin at its midpoint (bin 0 at 0): exact to 0.005."""
    hist = np.asarray(hist, dtype=np.int64)
    mid = np.concatenate([[0.0], (np.arange(1, hist.shape[-1]) - 0.5) / 100.0])
    n = hist.sum(axis=-1)
    total = np.cumsum(hist * mid, axis=-1)[..., -1]  # sequential, see sequential_sum
    return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)


def monthly_table(hist: np.ndarray, layout: Layout) -> pa.Table:
    """Monthly shortage-share statistics per (material, stage, country, month)."""
    x, h, bins = hist.shape
    if bins != HIST_BINS or x != layout.n_exposures or h != layout.horizon:
        raise ResultError(
            f"histogram shape {hist.shape} does not match {layout.n_exposures} exposures, "
            f"{layout.horizon} months and {HIST_BINS} bins"
        )
    qs = histogram_quantiles(hist, MONTHLY_QUANTILES)
    n = hist.sum(axis=-1)
    columns = dict(layout.label_arrays(reps=1, each=h))
    columns["month"] = pa.array(np.tile(np.arange(h, dtype=np.int16), x))
    columns["share_mean"] = histogram_mean(hist).astype(np.float32).ravel()
    for j, (name, _) in enumerate(MONTHLY_COLUMNS[1:6]):
        columns[name] = qs[..., j].astype(np.float32).ravel()
    short = hist[..., 2:].sum(axis=-1) / np.where(n > 0, n, 1)
    columns["prob_short"] = short.astype(np.float32).ravel()
    return pa.table(columns)


# --------------------------------------------------------------------------------------
# Writing a results folder
# --------------------------------------------------------------------------------------


def _with_metadata(schema: pa.Schema, provenance: dict) -> pa.Schema:
    return schema.with_metadata({METADATA_KEY: json.dumps(provenance, sort_keys=True)})


def row_width(schema: pa.Schema) -> int:
    """Bytes of one row in memory: label codes (int32), booleans, numbers."""
    width = 0
    for f in schema:
        kind = f.type.index_type if pa.types.is_dictionary(f.type) else f.type
        width += max(1, kind.bit_width // 8)
    return width


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
    return pa.array(values, type=pa.int16(), mask=values < 0)


def shortage_chunk(chunk, layout: Layout) -> pa.Table:
    """The shortage rows of one chunk: draw-major, exposures in layout order."""
    n = chunk.stop - chunk.start
    x = layout.n_exposures
    shortage = np.asarray(chunk.shortage_t, dtype=np.float64).reshape(n, x)

    def f32(a):
        return np.ascontiguousarray(a, dtype=np.float32).ravel()

    columns = {"draw": pa.array(np.repeat(np.arange(chunk.start, chunk.stop, dtype=np.int32), x))}
    columns.update(layout.label_arrays(reps=n))
    columns["need_t"] = np.tile(layout.need_t.astype(np.float32), n)
    columns["shortage_t"] = f32(shortage)
    columns["shortage_share"] = f32(shortage / layout.need_t)
    columns["peak_share"] = f32(chunk.peak_share)
    columns["months_short"] = pa.array(np.ascontiguousarray(chunk.months_short, np.int16).ravel())
    columns["first_short_month"] = _masked_months(chunk.first_short)
    columns["last_short_month"] = _masked_months(chunk.last_short)
    columns["stock_drawn_t"] = f32(chunk.stock_drawn_t)
    for name in ACCOUNTING_COLUMNS:
        columns[name] = f32(getattr(chunk, name))
    columns["price_index_peak"] = f32(chunk.price_peak)
    columns["price_index_mean"] = f32(chunk.price_mean)
    columns["shortage_value_usd"] = f32(shortage * layout.price)
    return pa.table(columns, schema=SHORTAGE_SCHEMA)


def drivers_schema(layout: Layout) -> pa.Schema:
    fields = [pa.field("draw", pa.int32())]
    fields += [pa.field(name, pa.float64()) for name in layout.var_names]
    for event in layout.event_ids:
        fields.append(pa.field(f"event/{event}/fired", pa.bool_()))
        fields.append(pa.field(f"event/{event}/onset_month", pa.int16()))
    names = [f.name for f in fields]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ResultError(f"drivers columns would repeat: {', '.join(dup)}")
    return pa.schema(fields)


def drivers_chunk(chunk, layout: Layout, schema: pa.Schema) -> pa.Table:
    """The drivers rows of one chunk: one per draw."""
    n = chunk.stop - chunk.start
    variates = np.asarray(chunk.variates, dtype=np.float64).reshape(n, len(layout.var_names))
    fired = np.asarray(chunk.fired, dtype=bool).reshape(n, len(layout.event_ids))
    onset = np.asarray(chunk.onset).reshape(n, len(layout.event_ids))
    arrays = [pa.array(np.arange(chunk.start, chunk.stop, dtype=np.int32))]
    arrays += [pa.array(np.ascontiguousarray(variates[:, v])) for v in range(variates.shape[1])]
    for e in range(len(layout.event_ids)):
        arrays.append(pa.array(fired[:, e]))
        arrays.append(_masked_months(np.where(fired[:, e], onset[:, e], -1)))
    return pa.Table.from_arrays(arrays, schema=schema)


TIMESERIES_SCHEMA = pa.schema(
    [
        ("draw", pa.int32()),
        ("material", _LABEL_TYPE),
        ("stage", _LABEL_TYPE),
        ("country", _LABEL_TYPE),
        ("month", pa.int16()),
        ("shortage_share", pa.float32()),
    ]
)


def timeseries_chunk(chunk, layout: Layout) -> pa.Table:
    """Monthly shortage shares of one chunk: rows (draw, exposure, month)."""
    n = chunk.stop - chunk.start
    x, h = layout.n_exposures, layout.horizon
    columns = {
        "draw": pa.array(np.repeat(np.arange(chunk.start, chunk.stop, dtype=np.int32), x * h))
    }
    columns.update(layout.label_arrays(reps=n, each=h))
    columns["month"] = pa.array(np.tile(np.arange(h, dtype=np.int16), n * x))
    columns["shortage_share"] = np.ascontiguousarray(chunk.series, dtype=np.float32).ravel()
    return pa.table(columns, schema=TIMESERIES_SCHEMA)


ZONE_PRICES_SCHEMA = pa.schema(
    [
        ("draw", pa.int32()),
        ("material", _LABEL_TYPE),
        ("stage", _LABEL_TYPE),
        ("zone", _LABEL_TYPE),
        ("price_peak", pa.float32()),
        ("price_mean", pa.float32()),
        ("choke_months", pa.int16()),
    ]
)

PRICE_QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
PRICES_COLUMNS = (
    ("price_p5", "5th percentile of the zone price over draws (histogram, +- 1 %)"),
    ("price_p25", "25th percentile"),
    ("price_p50", "median"),
    ("price_p75", "75th percentile"),
    ("price_p95", "95th percentile"),
    ("prob_above_1", "probability that the price is above the reference price (exact)"),
)


def zone_prices_chunk(chunk, layout: Layout) -> pa.Table:
    """Each draw's peak and mean price per zone with buyers: rows (draw, zone)."""
    n = chunk.stop - chunk.start
    g = layout.zone_id
    columns = {
        "draw": pa.array(np.repeat(np.arange(chunk.start, chunk.stop, dtype=np.int32),
                                   layout.n_zones))
    }
    columns.update(layout.zone_label_arrays(reps=n))
    columns["price_peak"] = np.ascontiguousarray(chunk.zone_price_peak[:, g],
                                                 dtype=np.float32).ravel()
    columns["price_mean"] = np.ascontiguousarray(chunk.zone_price_mean[:, g],
                                                 dtype=np.float32).ravel()
    columns["choke_months"] = pa.array(np.ascontiguousarray(
        chunk.zone_choke_months[:, g], dtype=np.int16).ravel())
    return pa.table(columns, schema=ZONE_PRICES_SCHEMA)


def price_histogram_quantiles(hist: np.ndarray, qs: Iterable[float]) -> np.ndarray:
    """Quantiles of zone prices from their histogram ``hist[..., NPB]`` (bin 0: a price
    of exactly 1; bin b >= 1: log price in [PB_LO + (b-1) PB_STEP, PB_LO + b PB_STEP)).

    The bins are put in price order (bin 0 sits at log price 0, where its neighbours
    meet); within a bin prices are taken as log-uniform, so a quantile is exact to the
    bin width (1 % of the price), and one that falls on the reference is exactly 1.
    Returns float64[..., len(qs)].
    """
    from simcore.kernel.structs import NPB, PB_LO, PB_STEP

    hist = np.asarray(hist, dtype=np.int64)
    split = 1 + int(round(-PB_LO / PB_STEP))  # first bin starting at log price >= 0
    order = np.concatenate([np.arange(1, split), [0], np.arange(split, NPB)])
    lo = np.concatenate([PB_LO + (np.arange(1, split) - 1) * PB_STEP, [0.0],
                         PB_LO + (np.arange(split, NPB) - 1) * PB_STEP])
    width = np.concatenate([np.full(split - 1, PB_STEP), [0.0], np.full(NPB - split, PB_STEP)])
    h = hist[..., order]
    n = h.sum(axis=-1, keepdims=True).astype(np.float64)
    cum = np.cumsum(h, axis=-1) / np.where(n > 0, n, 1)
    out = np.empty(h.shape[:-1] + (len(list(qs)),))
    for j, q in enumerate(qs):
        b = np.argmax((cum >= q - 1e-12) & (h > 0), axis=-1)
        below = np.where(b > 0, np.take_along_axis(cum, np.maximum(b - 1, 0)[..., None],
                                                   -1)[..., 0], 0.0)
        mass = np.take_along_axis(h, b[..., None], -1)[..., 0] / np.where(n[..., 0] > 0,
                                                                          n[..., 0], 1)
        frac = np.clip((q - below) / np.where(mass > 0, mass, 1), 0.0, 1.0)
        value = np.exp(lo[b] + frac * width[b])
        out[..., j] = np.where(n[..., 0] > 0, value, np.nan)
    return out


def prices_table(zone_hist: np.ndarray, layout: Layout) -> pa.Table:
    """Zone-price quantiles per (material, stage, zone, month), zones with buyers."""
    from simcore.kernel.structs import PB_LO, PB_STEP

    hist = np.asarray(zone_hist)[layout.zone_id]
    g, h, _ = hist.shape
    qs = price_histogram_quantiles(hist, PRICE_QUANTILES)
    columns = dict(layout.zone_label_arrays(reps=1, each=h))
    columns["month"] = pa.array(np.tile(np.arange(h, dtype=np.int16), g))
    for j, (name, _) in enumerate(PRICES_COLUMNS[:5]):
        columns[name] = qs[..., j].astype(np.float32).ravel()
    split = 1 + int(round(-PB_LO / PB_STEP))
    n = hist.sum(axis=-1)
    above = hist[..., split:].sum(axis=-1) / np.where(n > 0, n, 1)
    columns["prob_above_1"] = above.astype(np.float32).ravel()
    return pa.table(columns)


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
    if np.shape(chunk.hist) != (x, layout.horizon, HIST_BINS):
        raise ResultError(f"chunk hist has shape {np.shape(chunk.hist)}")
    if timeseries and getattr(chunk, "series", None) is None:
        raise ResultError("a monthly time series was asked for but the executor gave none")


class ShortageColumns(Mapping):
    """Columns of a shortage file as arrays of shape [n, X], read one at a time when
    asked for and not kept, so that the summary holds about one column in memory
    (month columns: -1 for null)."""

    def __init__(self, path: Path, n: int, x: int):
        self._file = pq.ParquetFile(path)
        self._names = [c for c in self._file.schema_arrow.names if c not in LABEL_COLUMNS]
        self.n, self.x = n, x

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        column = self._file.read(columns=[name]).column(0)
        if pa.types.is_integer(column.type):
            column = column.fill_null(-1)
        return column.to_numpy().reshape(self.n, self.x)

    def __iter__(self):
        return iter(self._names)

    def __contains__(self, name) -> bool:
        return name in self._names

    def __len__(self) -> int:
        return len(self._names)


def summary_table(shortage_path: Path, layout: Layout, draws: int) -> pa.Table:
    """Summary statistics per exposure, computed from the shortage file as stored."""
    cols = ShortageColumns(shortage_path, draws, layout.n_exposures)
    stats = exposure_statistics(cols, layout.need_t, layout.horizon)
    columns = dict(layout.label_arrays())
    columns.update(stats)
    return pa.table(columns)


class ResultWriter:
    """Streams ``ChunkResult``s into ``folder`` (which must exist and be empty).

    ``add`` each chunk in draw order, then ``finish`` writes the summary, the monthly
    table and ``run.json`` and returns the manifest. The folder is a staging folder:
    :func:`atomic_folder` moves it into place only when ``finish`` returned.
    """

    def __init__(
        self, folder: Path, layout: Layout, provenance: dict, draws: int, timeseries: bool = False
    ):
        self.folder = Path(folder)
        self.layout = layout
        self.provenance = dict(provenance)
        self.draws = int(draws)
        self.timeseries = bool(timeseries)
        self.done = 0
        self.hist = np.zeros((layout.n_exposures, layout.horizon, HIST_BINS), dtype=np.int64)
        labels = layout.labels()
        self._labels = labels
        self._drivers_schema = drivers_schema(layout)
        self._writers = {
            "shortage": _TableWriter(
                self.folder / "shortage.parquet", SHORTAGE_SCHEMA, self.provenance, labels
            ),
            "drivers": _TableWriter(
                self.folder / "drivers.parquet", self._drivers_schema, self.provenance, labels
            ),
        }
        self._writers["zone_prices"] = _TableWriter(
            self.folder / "zone_prices.parquet", ZONE_PRICES_SCHEMA, self.provenance, labels
        )
        self.zone_hist = None
        if self.timeseries:
            self._writers["timeseries"] = _TableWriter(
                self.folder / "timeseries.parquet", TIMESERIES_SCHEMA, self.provenance, labels
            )

    def add(self, chunk) -> int:
        """Write one chunk; returns the number of draws in it."""
        _check_chunk(chunk, self.done, self.layout, self.draws, self.timeseries)
        self._writers["shortage"].write(shortage_chunk(chunk, self.layout))
        self._writers["drivers"].write(drivers_chunk(chunk, self.layout, self._drivers_schema))
        self._writers["zone_prices"].write(zone_prices_chunk(chunk, self.layout))
        if self.timeseries:
            self._writers["timeseries"].write(timeseries_chunk(chunk, self.layout))
        self.hist += np.asarray(chunk.hist, dtype=np.int64)
        zh = np.asarray(chunk.zone_hist, dtype=np.int64)
        self.zone_hist = zh.copy() if self.zone_hist is None else self.zone_hist + zh
        n = chunk.stop - chunk.start
        self.done += n
        return n

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.abort()

    def finish(self) -> dict:
        if self.done != self.draws:
            self.abort()
            raise ResultError(f"the executor delivered {self.done} draws of {self.draws}")
        digests = {name: w.close() for name, w in self._writers.items()}
        summary = summary_table(self.folder / "shortage.parquet", self.layout, self.draws)
        digests["summary"] = write_table(
            self.folder / "summary.parquet", summary, self.provenance, self._labels
        )
        monthly = monthly_table(self.hist, self.layout)
        digests["monthly"] = write_table(
            self.folder / "monthly.parquet", monthly, self.provenance, self._labels
        )
        prices = prices_table(self.zone_hist, self.layout)
        digests["prices"] = write_table(
            self.folder / "prices.parquet", prices, self.provenance, self._labels
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
    executor that computes them elsewhere (Dask). ``progress`` has ``update(n)``.
    """
    writer = ResultWriter(folder, layout, provenance, draws, timeseries)
    try:
        for chunk in chunks:
            n = writer.add(chunk)
            if progress is not None:
                progress.update(n)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


# --------------------------------------------------------------------------------------
# Atomic placement
# --------------------------------------------------------------------------------------

# Removes the staging folder once the parent process is gone, however it went (even
# SIGKILL): the parent holds the write end of the pipe, EOF means it exited. After a
# successful commit the staging path no longer exists and the removal does nothing.
_WATCHDOG = (
    "import shutil, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "sys.stdin.buffer.read()\n"
    "shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
)


class _Watchdog:
    def __init__(self, path: Path):
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            self._proc = None  # no watchdog: a stale folder is removed by the next run

    def release(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Staging folders of runs that died before the watchdog could clean up."""
    prefix = f".{target.name}.partial-"
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix):
            try:
                pid = int(entry.name[len(prefix) :].split("-")[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(entry, ignore_errors=True)


def writable_parent(target: Path) -> None:
    """Raise ``ResultError`` unless ``target``'s folder can be created and written."""
    parent = Path(target).absolute().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ResultError(f"cannot write results to {target}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultError(
            f"cannot write results to {target}: {probe} is not writable; "
            f"choose another output folder (--out)"
        )


class atomic_folder:  # noqa: N801 - used as a context manager, like open()
    """``with atomic_folder(target) as staging:`` write into ``staging``; on success the
    folder replaces ``target`` in one rename, on any error (or Ctrl-C, or a killed
    process) ``target`` keeps what it had and the staging folder disappears."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.staging: Path | None = None
        self._watchdog: _Watchdog | None = None
        self._created: list[Path] = []  # folders above target made here, deepest first

    def __enter__(self) -> Path:
        writable_parent(self.target)
        try:
            missing = self.target.absolute().parent
            while not missing.exists():
                self._created.append(missing)
                missing = missing.parent
            self.target.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale(self.target)
            # os.mkdir (not mkdtemp, which makes it private) so that the folder gets the
            # permissions of any folder the user creates
            self.staging = self.target.parent / (
                f".{self.target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
            )
            os.mkdir(self.staging)
        except OSError as exc:
            raise ResultError(
                f"cannot write results to {self.target}: {exc.strerror or exc}"
            ) from None
        self._watchdog = _Watchdog(self.staging)
        return self.staging

    def __exit__(self, exc_type, exc, tb) -> None:
        committed = False
        try:
            if exc_type is None:
                self._commit()
                committed = True
        finally:
            if self.staging is not None:
                shutil.rmtree(self.staging, ignore_errors=True)
            if self._watchdog is not None:
                self._watchdog.release()
            if not committed:
                # the --out folder this run made, if nothing else was written there
                for folder in self._created:
                    try:
                        folder.rmdir()
                    except OSError:
                        break

    def _commit(self) -> None:
        staging, target = self.staging, self.target
        if not target.exists():
            os.rename(staging, target)
        elif _exchange(staging, target):
            pass  # staging now holds the previous results; __exit__ removes them
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            old.rmdir()
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)


def check_target(target: Path, scenario_name: str, scenario_path: str | None) -> None:
    """Raise ``ResultError`` if ``target`` holds anything but results of this scenario."""
    target = Path(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise ResultError(f"cannot write results to {target}: it is a file")
    if not any(target.iterdir()):
        return
    manifest_path = target / MANIFEST
    if not manifest_path.is_file():
        raise ResultError(
            f"{target} exists and is not a supplyshock results folder (no {MANIFEST}); "
            f"remove it or choose another output folder (--out)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        old = manifest["scenario"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ResultError(
            f"{manifest_path} is not a readable results manifest; remove {target} "
            f"or choose another output folder (--out)"
        ) from None
    same_name = old.get("name") == scenario_name
    same_path = scenario_path is None or old.get("path") in (None, scenario_path)
    if not (same_name and same_path):
        raise ResultError(
            f"{target} holds results of scenario {old.get('name')!r} ({old.get('path')}), not of "
            f"{scenario_name!r} ({scenario_path}); remove it or choose another output folder "
            f"(--out)"
        )


# --------------------------------------------------------------------------------------
# Reading results
# --------------------------------------------------------------------------------------


def _to_pandas(table: pa.Table):
    import pandas as pd

    # Month columns keep their nulls as <NA> instead of turning into floats.
    return table.to_pandas(types_mapper={pa.int16(): pd.Int16Dtype()}.get)


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

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One table as an Arrow table (``columns`` to read only some)."""
        path = self.folder / f"{name}.parquet"
        if not path.is_file():
            extra = " (run with --timeseries to get it)" if name == "timeseries" else ""
            if name in ("prices", "zone_prices") and self.manifest.get("format") in OLD_FORMATS:
                extra = (" (it was written by market version 1, which formed no zone prices;"
                         " run the scenario again)")
            raise ResultError(f"{self.folder} has no {name}.parquet{extra}")
        try:
            return pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            # A truncated copy or an edited file: name it and the way back, no traceback.
            raise ResultError(
                f"{path}: cannot read the Parquet table ({exc}); the file is damaged or "
                f"not from supplyshock: run the scenario again (`supplyshock verify "
                f"{self.folder}` names every altered file)"
            ) from None

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
    except (OSError, ValueError) as exc:
        raise ResultError(f"{path}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (FORMAT, *OLD_FORMATS):
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ResultError(
            f"{path}: format {found!r} is not {FORMAT!r} (nor an older one this version "
            f"reads: {', '.join(OLD_FORMATS)})"
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


# --------------------------------------------------------------------------------------
# Aggregation and comparison
# --------------------------------------------------------------------------------------


PRICE_SUMMARY_MONTHS = (1, 3, 6, 12)  # months whose median zone price price_summary shows


def price_summary(result: Result):
    """One row per price zone (material, stage, zone with buyers): its members, the
    distribution over draws of its peak price (P5, P50, P95) and of its horizon-mean
    price (P50), the probability of reaching the choke price (rationing) in some month,
    and its median price in months 1, 3, 6 and 12 (those within the horizon)."""
    import pandas as pd

    zp = result.table("zone_prices").to_pandas()
    for c in ("material", "stage", "zone"):
        zp[c] = zp[c].astype(str)
    prices = result.table("prices").to_pandas()
    for c in ("material", "stage", "zone"):
        prices[c] = prices[c].astype(str)
    members = {(z["material"], z["stage"], z["zone"]): z["members"]
               for z in result.manifest.get("zones", [])}
    horizon = int(result.manifest.get("horizon", 0))
    rows = []
    for key, part in zp.groupby(["material", "stage", "zone"], sort=False):
        peak = np.sort(part["price_peak"].to_numpy(np.float64))[:, None]
        mean = np.sort(part["price_mean"].to_numpy(np.float64))[:, None]
        row = dict(zip(("material", "stage", "zone"), key, strict=True))
        mem = members.get(key, [])
        row["countries"] = ", ".join(mem) if len(mem) <= 4 else f"{len(mem)} countries"
        row.update(
            price_peak_p5=float(quantile_sorted(peak, 0.05)[0]),
            price_peak_p50=float(quantile_sorted(peak, 0.50)[0]),
            price_peak_p95=float(quantile_sorted(peak, 0.95)[0]),
            price_mean_p50=float(quantile_sorted(mean, 0.50)[0]),
            prob_choke=float((part["choke_months"].to_numpy() > 0).mean()),
        )
        here = prices[(prices["material"] == key[0]) & (prices["stage"] == key[1])
                      & (prices["zone"] == key[2])].set_index("month")
        for m in PRICE_SUMMARY_MONTHS:
            if m < horizon:
                row[f"price_p50_m{m}"] = float(here.loc[m, "price_p50"])
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(result: Result, by: str | None = None):
    """Summary statistics as a DataFrame.

    ``by=None``: per (material, stage, country), the stored summary.
    ``by="material"``: per (material, stage), with the shortage share of the summed need
    of all countries, draw by draw. ``by="country"``: per country, across materials at
    their last stage, with shares weighted by value at the reference price.
    """
    import pandas as pd

    if by is None:
        return result.summary
    if by not in ("material", "country"):
        raise ResultError(f"cannot summarise by {by!r}; choose 'material' or 'country'")
    cols = [
        "draw",
        "material",
        "stage",
        "country",
        "need_t",
        "shortage_t",
        "shortage_value_usd",
        "months_short",
    ]
    frame = result.table("shortage", cols).to_pandas()
    for c in ("material", "stage", "country"):
        frame[c] = frame[c].astype(str)
    frame["short"] = (frame["months_short"] > 0).astype(np.float64)
    if by == "material":
        keys = ["material", "stage"]
        frame["num"] = frame["shortage_t"].astype(np.float64)
        frame["den"] = frame["need_t"].astype(np.float64)
    else:
        last = result.manifest["last_stage"]
        frame = frame[frame["stage"] == frame["material"].map(last)].copy()
        keys = ["country"]
        frame["num"] = frame["shortage_value_usd"].astype(np.float64)
        price = result.manifest["price_usd_per_t"]
        frame["den"] = frame["need_t"].astype(np.float64) * frame["material"].map(price)
    grouped = frame.groupby(keys + ["draw"], sort=False, observed=True)
    per_draw = grouped.agg(
        num=("num", "sum"),
        den=("den", "sum"),
        value=("shortage_value_usd", "sum"),
        short=("short", "max"),
        n_short=("short", "sum"),
    )
    rows = []
    for key, part in per_draw.groupby(level=list(range(len(keys))), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        den = part["den"].to_numpy()
        share = np.where(den > 0, part["num"].to_numpy() / np.where(den > 0, den, 1), 0.0)
        s = np.sort(share)[:, None]
        value = np.sort(part["value"].to_numpy())[:, None]
        row = dict(zip(keys, key, strict=True))
        row.update(
            share_mean=float(s.mean()),
            share_p50=float(quantile_sorted(s, 0.5)[0]),
            share_p95=float(quantile_sorted(s, 0.95)[0]),
            share_p99=float(quantile_sorted(s, 0.99)[0]),
            share_es95=float(expected_shortfall_sorted(s)[0]),
            prob_short=float(part["short"].mean()),
            value_mean_usd=float(value.mean()),
            value_p95_usd=float(quantile_sorted(value, 0.95)[0]),
        )
        if by == "country":
            row["materials_short_mean"] = float(part["n_short"].mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    sort = "share_mean" if by == "material" else "value_mean_usd"
    return out.sort_values(sort, ascending=False, kind="stable").reset_index(drop=True)


def _check_related(base: Result, variant: Result) -> None:
    mb, mv = base.manifest, variant.manifest
    why = []
    if mb["seed"] != mv["seed"]:
        why.append(f"seed {mv['seed']} against the base's {mb['seed']}")
    if mb.get("horizon") != mv.get("horizon"):
        why.append(f"a horizon of {mv.get('horizon')} months against {mb.get('horizon')}")
    if not why:
        return
    fix = f"run it again with --seed {mb['seed']}" if mb["seed"] != mv["seed"] else (
        "give both scenarios the same horizon_months"
    )
    raise ResultError(
        f"{variant.folder} ({variant.name}) is not a variant run of {base.folder} "
        f"({base.name}): {' and '.join(why)}, so draw i of one is not draw i of the other "
        f"and a draw-by-draw comparison means nothing; {fix}, or add --force to compare "
        f"anyway"
    )


@dataclass
class Comparison:
    """Variant minus base, draw by draw. ``table`` per (material, stage, country);
    ``warnings`` lists what the two runs did not share (seed, draws, dataset, ...)."""

    table: object  # pandas.DataFrame
    warnings: list[str]
    draws: int


def compare(base: Result, variant: Result, force: bool = False) -> Comparison:
    """Distribution of the change in shortage share, variant minus base, per exposure.

    Rows are matched by (draw, material, stage, country). Common random numbers make
    the per-draw difference the effect of the variant alone when both runs share seed
    and dataset. An exposure present in only one run (a material outside the other's
    scope) counts as zero shortage in the other.

    Runs with different seeds or horizons are unrelated: draw i of one is not draw i of
    the other, so a draw-by-draw difference means nothing. ``ResultError`` unless
    ``force`` (then the comparison is made and ``warnings`` say what differs).
    """
    import pandas as pd

    warnings = []
    mb, mv = base.manifest, variant.manifest
    if not force:
        _check_related(base, variant)
    if mb["seed"] != mv["seed"]:
        warnings.append(
            f"seeds differ ({mb['seed']} vs {mv['seed']}): the runs do not share "
            f"their random numbers, so draw-by-draw differences mix in sampling noise"
        )
    if mb["draws"] != mv["draws"]:
        warnings.append(
            f"draws differ ({mb['draws']} vs {mv['draws']}): only the first "
            f"{min(mb['draws'], mv['draws'])} draws are compared"
        )
    if mb["dataset"]["hash"] != mv["dataset"]["hash"]:
        warnings.append("the runs used different datasets (dataset hashes differ)")
    if mb.get("horizon") != mv.get("horizon"):
        warnings.append(f"horizons differ ({mb.get('horizon')} vs {mv.get('horizon')} months)")
    draws = min(mb["draws"], mv["draws"])
    keys = ["material", "stage", "country"]
    cols = ["draw", *keys, "need_t", "shortage_t", "shortage_share"]

    def read(result):
        frame = result.table("shortage", cols).to_pandas()
        for c in keys:
            frame[c] = frame[c].astype(str)
        return frame[frame["draw"] < draws]

    merged = read(base).merge(
        read(variant), on=["draw", *keys], how="outer", suffixes=("_base", "_variant"), sort=False
    )
    for side in ("base", "variant"):
        merged[f"shortage_share_{side}"] = merged[f"shortage_share_{side}"].fillna(0.0)
        merged[f"shortage_t_{side}"] = merged[f"shortage_t_{side}"].fillna(0.0)
    merged["d_share"] = merged["shortage_share_variant"].astype(np.float64) - merged[
        "shortage_share_base"
    ].astype(np.float64)
    merged["d_t"] = merged["shortage_t_variant"].astype(np.float64) - merged[
        "shortage_t_base"
    ].astype(np.float64)
    rows = []
    for key, part in merged.groupby(keys, sort=True):
        d = part["d_share"].to_numpy()
        n = len(d)
        mean = float(d.mean())
        half = 1.96 * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
        s = np.sort(d)[:, None]
        rows.append(
            dict(
                zip(keys, key, strict=True),
                base_share_mean=float(part["shortage_share_base"].astype(np.float64).mean()),
                variant_share_mean=float(part["shortage_share_variant"].astype(np.float64).mean()),
                change_mean=mean,
                change_ci_low=mean - half,
                change_ci_high=mean + half,
                change_p5=float(quantile_sorted(s, 0.05)[0]),
                change_p95=float(quantile_sorted(s, 0.95)[0]),
                change_mean_t=float(part["d_t"].mean()),
                prob_better=float((d < 0).mean()),
                prob_worse=float((d > 0).mean()),
            )
        )
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values("change_mean", kind="stable").reset_index(drop=True)
    return Comparison(table=table, warnings=warnings, draws=draws)
