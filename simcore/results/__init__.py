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

The package never runs the engine; ``simcore.api`` does, and writes through here. Its
modules, downstream first: ``layout`` (formats, tables, columns, :class:`Layout`),
``digest``, ``statistics``, ``writer`` (Parquet), ``folders`` (atomic placement),
``result`` (reading: manifest, :class:`Result`), ``aggregate`` (summarize, compare).
Every public name is importable from ``simcore.results`` itself.
"""

from __future__ import annotations

from simcore.results.aggregate import (
    PRICE_SUMMARY_MONTHS,
    Comparison,
    compare,
    price_summary,
    summarize,
)
from simcore.results.digest import (
    TableDigest,
    combine_digests,
    file_digest,
)
from simcore.results.folders import (
    atomic_folder,
    check_target,
    writable_parent,
)
from simcore.results.layout import (
    ACCOUNTING_COLUMNS,
    DIGEST_KEY,
    FORMAT,
    HIST_BINS,
    LABEL_COLUMNS,
    MANIFEST,
    METADATA_KEY,
    MONTHLY_COLUMNS,
    MONTHLY_QUANTILES,
    OLD_FORMATS,
    PRICE_QUANTILES,
    PRICES_COLUMNS,
    SHORT_THRESHOLD,
    SHORTAGE_COLUMNS,
    SHORTAGE_SCHEMA,
    SUMMARY_COLUMNS,
    TABLES,
    TIMESERIES_SCHEMA,
    ZONE_PRICES_SCHEMA,
    Layout,
    drivers_schema,
)
from simcore.results.result import (
    Result,
    check_manifest,
    load_result,
    read_manifest,
)
from simcore.results.statistics import (
    TAIL,
    expected_shortfall_sorted,
    exposure_statistics,
    histogram_mean,
    histogram_quantiles,
    median_where,
    price_histogram_quantiles,
    quantile_sorted,
    sequential_sum,
)
from simcore.results.summary import ExposureSummary, Spill
from simcore.results.writer import (
    ROW_GROUP_BYTES,
    ResultWriter,
    drivers_chunk,
    monthly_table,
    prices_table,
    row_width,
    shortage_chunk,
    summary_table,
    timeseries_chunk,
    write_chunks,
    write_json,
    write_table,
    zone_prices_chunk,
)

__all__ = [
    "ACCOUNTING_COLUMNS",
    "atomic_folder",
    "check_manifest",
    "check_target",
    "combine_digests",
    "compare",
    "Comparison",
    "DIGEST_KEY",
    "drivers_chunk",
    "drivers_schema",
    "expected_shortfall_sorted",
    "ExposureSummary",
    "exposure_statistics",
    "file_digest",
    "FORMAT",
    "HIST_BINS",
    "histogram_mean",
    "histogram_quantiles",
    "LABEL_COLUMNS",
    "Layout",
    "load_result",
    "MANIFEST",
    "median_where",
    "METADATA_KEY",
    "MONTHLY_COLUMNS",
    "MONTHLY_QUANTILES",
    "monthly_table",
    "OLD_FORMATS",
    "price_histogram_quantiles",
    "PRICE_QUANTILES",
    "price_summary",
    "PRICE_SUMMARY_MONTHS",
    "PRICES_COLUMNS",
    "prices_table",
    "quantile_sorted",
    "read_manifest",
    "Result",
    "ResultWriter",
    "ROW_GROUP_BYTES",
    "row_width",
    "sequential_sum",
    "Spill",
    "SHORT_THRESHOLD",
    "shortage_chunk",
    "SHORTAGE_COLUMNS",
    "SHORTAGE_SCHEMA",
    "summarize",
    "SUMMARY_COLUMNS",
    "summary_table",
    "TableDigest",
    "TABLES",
    "TAIL",
    "timeseries_chunk",
    "TIMESERIES_SCHEMA",
    "writable_parent",
    "write_chunks",
    "write_json",
    "write_table",
    "zone_prices_chunk",
    "ZONE_PRICES_SCHEMA",
]
