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
modules, downstream first: ``names`` (the manifest's file name, without pyarrow),
``layout`` (formats, tables, columns, :class:`Layout`),
``arrow`` (NumPy <-> Arrow without pandas), ``digest``, ``statistics``, ``summary``
(the summary as chunks stream by), ``writer`` (Parquet), ``folders`` (atomic
placement), ``shortage`` (the stored rows back to every draw and exposure), ``result``
(reading: manifest, :class:`Result`), ``perdraw`` (every draw's shares per exposure,
read lean for the comparisons), ``aggregate`` (summarize, compare). Every public
name is importable from ``simcore.results`` itself.
"""

from __future__ import annotations

import importlib

# each public name and the module that defines it, imported when first asked for
# (PEP 562): the run's start imports simcore.results.folders before any module that
# needs pyarrow, so that the kernel's first block runs while pyarrow loads
# (simcore/api.py, ``execute``)
_WHERE = {
    "CHANGE_DUST": "aggregate",
    "PRICE_SUMMARY_MONTHS": "aggregate",
    "Comparison": "aggregate",
    "alike_exposures": "aggregate",
    "by_exposure": "aggregate",
    "compare": "aggregate",
    "price_summary": "aggregate",
    "summarize": "aggregate",
    "TableDigest": "digest",
    "combine_digests": "digest",
    "file_digest": "digest",
    "atomic_folder": "folders",
    "check_target": "folders",
    "writable_parent": "folders",
    "ACCOUNTING_COLUMNS": "layout",
    "DIGEST_KEY": "layout",
    "EXPOSURES_SCHEMA": "layout",
    "FORMAT": "layout",
    "FORMAT_1": "layout",
    "FORMAT_2": "layout",
    "FORMAT_3": "layout",
    "HIST_BINS": "layout",
    "LABEL_COLUMNS": "layout",
    "MANIFEST": "names",
    "METADATA_KEY": "layout",
    "MONTHLY_COLUMNS": "layout",
    "MONTHLY_QUANTILES": "layout",
    "OLD_FORMATS": "layout",
    "PRICE_QUANTILES": "layout",
    "PRICES_COLUMNS": "layout",
    "SHARES_OF_NEED": "layout",
    "SHORT_THRESHOLD": "layout",
    "SHORTAGE_COLUMNS": "layout",
    "SHORTAGE_FILE_SCHEMA": "layout",
    "SHORTAGE_SCHEMA": "layout",
    "SPARSE_FORMATS": "layout",
    "SUMMARY_COLUMNS": "layout",
    "TABLES": "layout",
    "TIMESERIES_SCHEMA": "layout",
    "ZONE_PRICES_SCHEMA": "layout",
    "Layout": "layout",
    "drivers_schema": "layout",
    "Result": "result",
    "check_manifest": "result",
    "load_result": "result",
    "read_manifest": "result",
    "SHORTAGE_VIEW_SQL": "shortage",
    "expand_shortage": "shortage",
    "TAIL": "statistics",
    "expected_shortfall_sorted": "statistics",
    "exposure_statistics": "statistics",
    "histogram_mean": "statistics",
    "histogram_quantiles": "statistics",
    "median_where": "statistics",
    "price_histogram_quantiles": "statistics",
    "quantile_sorted": "statistics",
    "sequential_sum": "statistics",
    "BLOCK_VALUES": "summary",
    "SPILL_MEMORY": "summary",
    "ExposureSummary": "summary",
    "Spill": "summary",
    "ROW_GROUP_BYTES": "writer",
    "ResultWriter": "writer",
    "drivers_chunk": "writer",
    "exposures_table": "writer",
    "monthly_table": "writer",
    "prices_table": "writer",
    "row_width": "writer",
    "shortage_chunk": "writer",
    "summary_table": "writer",
    "timeseries_chunk": "writer",
    "write_chunks": "writer",
    "write_json": "writer",
    "write_table": "writer",
    "zone_prices_chunk": "writer",
}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = list(_WHERE)
