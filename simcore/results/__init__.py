"""Results of a run: Parquet files, summary statistics, digest, manifest (docs/results.md).

The engine yields ``ChunkResult``s (docs/architecture.md); :class:`ResultWriter` streams
them into a results folder in Parquet row groups of a fixed size (``ROW_GROUP_BYTES``,
whatever the chunk size), on a thread of its own while the engine computes the next
chunk, so that memory stays bounded whatever the number of draws. The summary and the
digests are computed as the chunks stream by; when the last chunk is in, the monthly
and price quantiles come from the merged histograms, and the manifest ``run.json`` is
written with a digest of the content.

A results folder (format 4)::

    shortage.parquet    one row per (draw, stored exposure) with something in it:
                        shortage, months, stock drawn, accounting (quantities as shares
                        of need); a price zone's buyers without a state stock of their
                        own are stored once, as the first of them
    exposures.parquet   one row per (material, stage, country with need > 0): need,
                        price zone, reference price, the country it is stored as
    drivers.parquet     one row per draw: every sampled variate, events fired, onsets
    summary.parquet     one row per exposure: statistics over draws
    monthly.parquet     one row per (exposure, month): quantiles
    prices.parquet      one row per (material, stage, zone, month): zone-price quantiles
    zone_prices.parquet one row per (draw, material, stage, zone): peak and mean price
    timeseries.parquet  (with --timeseries) one row per (draw, exposure, month)
    run.json            the manifest: provenance and digests

``Result.shortage`` gives every draw's rows with the columns of format 2 for any format.
Folders of format 3 (every exposure's rows under its own labels), 2 (every row and
column stored) and 1 (market version 1: no price
tables, no accounting columns) still load.

The package never runs the engine; ``simcore.api`` does, and writes through here. Its
modules, downstream first: ``layout`` (formats, tables, columns, :class:`Layout`),
``arrow`` (NumPy <-> Arrow without pandas), ``digest``, ``statistics``, ``summary``
(the summary as chunks stream by), ``writer`` (Parquet), ``folders`` (atomic
placement), ``shortage`` (the stored rows back to every draw and exposure), ``result``
(reading: manifest, :class:`Result`), ``perdraw`` (every draw's shares per exposure,
read lean for the comparisons), ``aggregate`` (summarize, compare). Every public
name is importable from ``simcore.results`` itself.
"""

from __future__ import annotations

from simcore.results.aggregate import (
    CHANGE_DUST,
    PRICE_SUMMARY_MONTHS,
    Comparison,
    alike_exposures,
    by_exposure,
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
    EXPOSURES_SCHEMA,
    FORMAT,
    FORMAT_1,
    FORMAT_3,
    HIST_BINS,
    LABEL_COLUMNS,
    MANIFEST,
    METADATA_KEY,
    MONTHLY_COLUMNS,
    MONTHLY_QUANTILES,
    OLD_FORMATS,
    PRICE_QUANTILES,
    PRICES_COLUMNS,
    SHARES_OF_NEED,
    SHORT_THRESHOLD,
    SHORTAGE_COLUMNS,
    SHORTAGE_FILE_SCHEMA,
    SHORTAGE_SCHEMA,
    SPARSE_FORMATS,
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
from simcore.results.shortage import (
    SHORTAGE_VIEW_SQL,
    expand_shortage,
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
from simcore.results.summary import (
    BLOCK_VALUES,
    SPILL_MEMORY,
    ExposureSummary,
    Spill,
)
from simcore.results.writer import (
    ROW_GROUP_BYTES,
    ResultWriter,
    drivers_chunk,
    exposures_table,
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
    "BLOCK_VALUES",
    "alike_exposures",
    "by_exposure",
    "CHANGE_DUST",
    "check_manifest",
    "check_target",
    "combine_digests",
    "compare",
    "Comparison",
    "DIGEST_KEY",
    "drivers_chunk",
    "drivers_schema",
    "expand_shortage",
    "expected_shortfall_sorted",
    "exposure_statistics",
    "EXPOSURES_SCHEMA",
    "exposures_table",
    "ExposureSummary",
    "file_digest",
    "FORMAT",
    "FORMAT_1",
    "FORMAT_3",
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
    "SPARSE_FORMATS",
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
    "SHARES_OF_NEED",
    "SHORT_THRESHOLD",
    "shortage_chunk",
    "SHORTAGE_COLUMNS",
    "SHORTAGE_FILE_SCHEMA",
    "SHORTAGE_SCHEMA",
    "SHORTAGE_VIEW_SQL",
    "Spill",
    "SPILL_MEMORY",
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
