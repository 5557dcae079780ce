"""The shortage table as readers see it, from what formats 4 and 3 store.

Format 4's ``shortage.parquet`` holds only the (draw, exposure) rows that differ from
the baseline row (no shortage, the whole need bought), with every quantity as a share of
the row's need, and of the buyers of one price zone without a state stock of their own
only the first (their shares are the same, docs/model.md §3.5); ``exposures.parquet``
holds each exposure's need, price zone, reference price and ``stored_as``, the country
whose rows are its rows; ``zone_prices.parquet`` each zone's prices per draw. Format 3
has no ``stored_as`` (every exposure's rows are its own). :func:`expand_shortage`
puts back every draw's rows and the columns of format 2 (``SHORTAGE_COLUMNS``):

- an exposure's shares are those of the rows stored as ``stored_as``;
- a row not stored is the baseline: its whole need bought, zero shortage, peak share,
  months short, stock drawn and other accounting, no first or last short month (null);
- ``need_t`` is the exposure's, rounded to float32; a quantity ``X_t`` is
  ``X_share x need_t`` and ``shortage_value_usd`` is ``shortage_share x need_t x
  price_usd_per_t``, each computed in float64 and rounded to float32 (within a few
  parts in 10^8 of what format 2 stored: both are float32 roundings of the same number);
- ``price_index_peak`` and ``price_index_mean`` are the exposure's zone's ``price_peak``
  and ``price_mean`` in that draw (the same numbers format 2 stored).

``SHORTAGE_VIEW_SQL`` does the same in DuckDB (docs/results.md; a test checks that both
give the same table).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from simcore.errors import ResultError
from simcore.results import arrow
from simcore.results.layout import (
    SHARES_OF_NEED,
    SHORTAGE_COLUMNS,
    SHORTAGE_SCHEMA,
    baseline_value,
)

_DERIVED_FROM_SHARE = dict(SHARES_OF_NEED)
_BLOCK_BYTES = 1 << 24  # float64 temporaries of expand_shortage, per block of draws


def stored_columns(columns: list[str]) -> list[str]:
    """The columns of format 4's or 3's shortage.parquet that ``expand_shortage`` reads
    to give ``columns`` of the expanded table (the prices come from zone_prices.parquet)."""
    out = ["draw", "material", "stage", "country"]
    for name in columns:
        if name in ("shortage_t", "shortage_value_usd"):
            name = "shortage_share"
        name = _DERIVED_FROM_SHARE.get(name, name)
        if name not in out and name not in ("need_t", "price_index_peak", "price_index_mean"):
            out.append(name)
    return out


def _codes(column, labels: list[str], name: str) -> np.ndarray:
    """int64 codes of a label column (dictionary or plain strings) into ``labels``."""
    lookup = {v: i for i, v in enumerate(labels)}
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        try:
            remap = np.array([lookup[v] for v in chunk.dictionary.to_pylist()], dtype=np.int64)
        except KeyError as exc:
            raise ResultError(
                f"the {name} label {exc.args[0]!r} is not in the manifest's labels"
            ) from None
        indices = arrow.values(chunk.indices)
        parts.append(remap[indices] if len(remap) else np.zeros(0, np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _numbers(column) -> np.ndarray:
    """A numeric column as NumPy (no nulls expected)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return arrow.values(column)


def _months(column) -> np.ndarray:
    """A nullable month column as int16 with -1 for null."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = arrow.values(column)
    valid = arrow.validity(column)
    return values.copy() if valid is None else np.where(valid == 1, values, -1).astype(np.int16)


def _keys(table: pa.Table, labels: dict, names: tuple[str, ...]) -> np.ndarray:
    """One int64 key per row from its label columns ``names``."""
    key = np.zeros(table.num_rows, dtype=np.int64)
    for name in names:
        lab = labels[name]
        key = key * (len(lab) + 1) + _codes(table.column(name), lab, name)
    return key


def _lookup(keys: np.ndarray, table_keys: np.ndarray, what: str,
            where: str = "the shortage table") -> np.ndarray:
    """Positions in ``table_keys`` of each of ``keys`` (``where`` names ``what`` that
    exposures.parquet must have)."""
    order = np.argsort(table_keys, kind="stable")
    pos = np.searchsorted(table_keys[order], keys)
    pos = np.minimum(pos, len(order) - 1) if len(order) else pos
    if len(keys) and (not len(order) or np.any(table_keys[order[pos]] != keys)):
        raise ResultError(f"{where} names {what} that exposures.parquet lacks")
    return order[pos] if len(order) else pos


def _sources(exposures: pa.Table, labels: dict, exposure_key: np.ndarray):
    """int64[X]: the exposure whose stored rows are each exposure's (format 4's
    ``stored_as``), or None where every exposure's rows are its own (format 3)."""
    if "stored_as" not in exposures.column_names:
        return None
    renamed = exposures.select(["material", "stage", "stored_as"]).rename_columns(
        ["material", "stage", "country"])
    source = _lookup(_keys(renamed, labels, ("material", "stage", "country")),
                     exposure_key, "exposures", "exposures.parquet's stored_as")
    if np.any(source[source] != source):
        raise ResultError("exposures.parquet stores an exposure as one that is itself "
                          "stored as another")
    return None if np.array_equal(source, np.arange(len(source))) else source


def expand_shortage(stored: pa.Table, exposures: pa.Table, zone_prices: pa.Table | None,
                    labels: dict, draws: int, columns: list[str] | None = None) -> pa.Table:
    """The shortage table of format 2 (``SHORTAGE_COLUMNS``, or ``columns`` of it) from
    the stored tables of format 4 or 3: a row per draw and exposure, draw-major."""
    want = list(SHORTAGE_COLUMNS) if columns is None else list(columns)
    unknown = [c for c in want if c not in SHORTAGE_COLUMNS]
    if unknown:
        raise ResultError(f"the shortage table has no column {', '.join(unknown)}")
    n, x = int(draws), exposures.num_rows
    label_names = ("material", "stage", "country")
    exposure_key = _keys(exposures, labels, label_names)
    exposure = np.zeros(0, np.int64)
    if stored.num_rows:
        exposure = _lookup(_keys(stored, labels, label_names), exposure_key, "exposures")
    draw = _numbers(stored.column("draw")).astype(np.int64)
    if np.any(draw >= n) or np.any(draw < 0):
        raise ResultError(f"the shortage table holds draws outside [0, {n})")
    flat = draw * x + exposure
    need = _numbers(exposures.column("need_t")).astype(np.float64)
    source = _sources(exposures, labels, exposure_key)
    if source is not None and len(exposure) and np.any(source[exposure] != exposure):
        row = exposures.slice(int(exposure[np.flatnonzero(source[exposure] != exposure)[0]]),
                              1).to_pylist()[0]
        raise ResultError(
            f"the shortage table stores rows of ({row['material']}, {row['stage']}, "
            f"{row['country']}), which exposures.parquet stores as {row['stored_as']}: the "
            f"tables do not belong together (run the scenario again)")
    cache: dict[str, np.ndarray] = {}

    def dense(name: str, dtype, fill) -> np.ndarray:
        """A stored column over every draw and exposure, [n, x]."""
        if name not in cache:
            out = np.full(n * x, fill, dtype=dtype)
            column = stored.column(name)
            out[flat] = _months(column) if name.endswith("_month") else _numbers(column)
            out = out.reshape(n, x)
            cache[name] = out if source is None else out[:, source]
        return cache[name]

    # float64 products a block of draws at a time (the same numbers as whole arrays,
    # without [n, x] float64 temporaries: 36 MB a column for 10,000 draws of the partner
    # study, 3.6 GB for a million)
    step = max(1, _BLOCK_BYTES // (8 * max(x, 1)))

    def tonnes(share_name: str, price=None) -> np.ndarray:
        share = dense(share_name, np.float32, baseline_value(share_name))
        out = np.empty((n, x), np.float32)
        for a in range(0, n, step):
            block = share[a:a + step].astype(np.float64) * need
            out[a:a + step] = block if price is None else block * price
        return out

    def zone_price(name: str) -> np.ndarray:
        if zone_prices is None:
            raise ResultError("prices per exposure need zone_prices.parquet")
        g = zone_prices.num_rows // max(n, 1)
        if g * n != zone_prices.num_rows:
            raise ResultError(f"zone_prices.parquet has {zone_prices.num_rows} rows, not a "
                              f"whole number per draw for {n} draws")
        out = np.full((n, x), np.nan, dtype=np.float32)  # no zone: no price
        zoned = np.flatnonzero(arrow.validity(exposures.column("zone").combine_chunks())
                               if exposures.column("zone").null_count else np.ones(x, bool))
        if len(zoned) and g:
            zone_names = ("material", "stage", "zone")
            first = zone_prices.slice(0, g)
            where = _lookup(_keys(exposures.take(zoned), labels, zone_names),
                            _keys(first, labels, zone_names), "zones")
            values = _numbers(zone_prices.column(name)).reshape(n, g)
            out[:, zoned] = values[:, where]
        return out

    out = {}
    for name in want:
        kind = SHORTAGE_SCHEMA.field(name).type
        if name == "draw":
            out[name] = arrow.column(np.repeat(np.arange(n, dtype=np.int32), x))
        elif name in label_names:
            codes = _codes(exposures.column(name), labels[name], name)
            out[name] = arrow.labels(np.tile(codes, n), labels[name])
        elif name == "need_t":
            out[name] = arrow.column(np.tile(need.astype(np.float32), n))
        elif name == "shortage_t":
            out[name] = arrow.column(tonnes("shortage_share"))
        elif name == "shortage_value_usd":
            price = _numbers(exposures.column("price_usd_per_t")).astype(np.float64)
            out[name] = arrow.column(tonnes("shortage_share", price))
        elif name in _DERIVED_FROM_SHARE:
            out[name] = arrow.column(tonnes(_DERIVED_FROM_SHARE[name]))
        elif name in ("price_index_peak", "price_index_mean"):
            out[name] = arrow.column(zone_price(name.replace("_index", "")))
        elif name.endswith("_month"):
            months = dense(name, np.int16, -1)
            out[name] = arrow.column(months, kind, mask=months < 0)
        else:  # shortage_share, peak_share, months_short
            out[name] = arrow.column(dense(name, arrow.numpy_dtype(kind), 0), kind)
    return pa.Table.from_arrays(list(out.values()),
                                schema=pa.schema([SHORTAGE_SCHEMA.field(c) for c in want]))


SHORTAGE_VIEW_SQL = """\
-- Every (draw, material, stage, country) of a results folder of format 4, with the
-- columns of format 2: an exposure's rows are those stored as its stored_as country (the
-- first buyer of its price zone without a state stock of its own); rows not stored come
-- back as the baseline (the whole need bought, zero shortage, no short month); tonnes are
-- shares x need_t, prices the zone's (docs/results.md). Format 3: s.country = e.country.
create or replace view shortage as
select d.draw,
       e.material, e.stage, e.country,
       e.need_t::float as need_t,
       (coalesce(s.shortage_share, 0)::double * e.need_t)::float as shortage_t,
       coalesce(s.shortage_share, 0)::float as shortage_share,
       coalesce(s.peak_share, 0)::float as peak_share,
       coalesce(s.months_short, 0)::smallint as months_short,
       s.first_short_month,
       s.last_short_month,
       (coalesce(s.stock_drawn_share, 0)::double * e.need_t)::float as stock_drawn_t,
       (coalesce(s.bought_share, 1)::double * e.need_t)::float as bought_t,
       (coalesce(s.restocked_share, 0)::double * e.need_t)::float as restocked_t,
       (coalesce(s.commercial_drawn_share, 0)::double * e.need_t)::float
           as commercial_drawn_t,
       (coalesce(s.substituted_share, 0)::double * e.need_t)::float as substituted_t,
       (coalesce(s.demand_given_up_share, 0)::double * e.need_t)::float as demand_given_up_t,
       (coalesce(s.rationed_share, 0)::double * e.need_t)::float as rationed_t,
       z.price_peak as price_index_peak,
       z.price_mean as price_index_mean,
       (coalesce(s.shortage_share, 0)::double * e.need_t * e.price_usd_per_t)::float
           as shortage_value_usd
from (select draw from '{folder}/drivers.parquet') d
cross join read_parquet('{folder}/exposures.parquet', file_row_number = true) e
left join '{folder}/shortage.parquet' s
       on s.draw = d.draw and s.material = e.material and s.stage = e.stage
      and s.country = e.stored_as
left join '{folder}/zone_prices.parquet' z
       on z.draw = d.draw and z.material = e.material and z.stage = e.stage
      and z.zone = e.zone
order by d.draw, e.file_row_number;
"""
