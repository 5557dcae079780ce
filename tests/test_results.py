"""simcore.results without the engine: statistics against independent references,
the digest's invariances, the streaming writer and atomic folders.

Chunks here are built from arrays with the ChunkResult fields (docs/architecture.md),
each draw's numbers a function of its index only, as the engine's are. The end-to-end
tests with the real engine are in tests/test_cli_run.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from formats import as_format_3, as_old_format
from hypothesis import given, settings
from hypothesis import strategies as st

from simcore import results as R
from simcore.errors import ResultError
from simcore.progress import Progress

H = 6
LAYOUT = R.Layout(
    materials=("gallium", "graphite"),
    stages=("mining", "refining"),
    countries=("CHN", "JPN", "USA"),
    material=np.array([0, 0, 1, 1, 1], np.int32),
    stage=np.array([1, 1, 0, 1, 1], np.int32),
    country=np.array([1, 2, 0, 1, 2], np.int32),
    need_t=np.array([60.0, 120.0, 300.0, 240.0, 90.0]),
    price=np.array([500.0, 500.0, 900.0, 900.0, 900.0]),
    horizon=H,
    var_names=("event/cn/occurs", "event/cn/onset", "response/reroute_lag"),
    event_ids=("cn",),
    last_stage={"gallium": "refining", "graphite": "refining"},
    zone_labels=("CHN", "ex-CHN", "world", "JPN+USA"),
    zone_material=np.array([0, 0, 1, 1], np.int32),
    zone_stage=np.array([1, 1, 0, 1], np.int32),
    zone_code=np.array([0, 1, 2, 3], np.int32),
    zone_id=np.array([0, 1, 3, 4], np.int64),  # the engine's global ids (2: no buyers)
    zone_members=(("CHN",), ("JPN", "USA"), ("CHN", "JPN", "USA"), ("JPN", "USA")),
    exposure_zone=np.array([1, 1, 2, 3, 3], np.int32),
)
X = LAYOUT.n_exposures
G = 5  # zones in the engine's numbering, reported or not
ZONE_OF = LAYOUT.zone_id[LAYOUT.exposure_zone]  # each exposure's zone, engine numbering


def bin_of(share: np.ndarray) -> np.ndarray:
    """The engine's histogram bin: 0 for share 0, b for ((b-1)/100, b/100]."""
    return np.where(share <= 0, 0, np.clip(np.ceil(share * 100 - 1e-12), 1, 100)).astype(int)


def zone_bin(p: np.ndarray) -> np.ndarray:
    """The engine's zone-price bin (simcore.kernel.model._zone_bin)."""
    from simcore.kernel.structs import NPB, PB_LO, PB_STEP

    b = 1 + np.clip(np.floor((np.log(p) - PB_LO) / PB_STEP), 0, NPB - 2)
    return np.where(p == 1.0, 0, b).astype(int)


def draw_arrays(d: int) -> dict:
    """One draw's numbers, a function of its index only (like the engine's)."""
    rng = np.random.default_rng(1000 + d)
    fired = rng.random() < 0.6
    series = np.where(fired, rng.random((X, H)) * (rng.random((X, H)) < 0.5), 0.0)
    monthly_need = LAYOUT.need_t / H
    short_month = series > R.SHORT_THRESHOLD
    any_short = short_month.any(axis=1)
    first = np.where(any_short, short_month.argmax(axis=1), -1)
    last = np.where(any_short, H - 1 - short_month[:, ::-1].argmax(axis=1), -1)
    shortage = (series * monthly_need[:, None]).sum(axis=1)
    # monthly zone prices: exactly 1 when nothing fired, else spread around it
    zp = np.where(fired, np.exp(rng.normal(0.2, 0.5, (G, H))), 1.0)
    return dict(
        shortage_t=shortage,
        peak_share=series.max(axis=1),
        months_short=short_month.sum(axis=1),
        first_short=first,
        last_short=last,
        stock_drawn_t=shortage * 0.1,
        variates=rng.random(3),
        fired=np.array([fired]),
        onset=np.array([rng.integers(0, H) if fired else -1]),
        series=series.astype(np.float32),
        bought_t=LAYOUT.need_t - shortage * 1.05,  # the identity: need = used + sub + short
        restocked_t=shortage * 0.3,
        commercial_drawn_t=shortage * 0.2,
        substituted_t=shortage * 0.05,
        demand_given_up_t=shortage * 0.75,
        rationed_t=shortage * 0.25,
        zone_prices=zp,
        zone_price_peak=zp.max(axis=1),
        zone_price_mean=zp.mean(axis=1),
        price_peak=zp.max(axis=1)[ZONE_OF],  # an exposure's price is its zone's
        price_mean=zp.mean(axis=1)[ZONE_OF],
        zone_choke_months=(zp > 3.0).sum(axis=1).astype(np.int16),
    )


def chunks(draws: int, size: int):
    for start in range(0, draws, size):
        stop = min(draws, start + size)
        per = [draw_arrays(d) for d in range(start, stop)]
        fields = {k: np.stack([p[k] for p in per]) for k in per[0]}
        hist = np.zeros((X, H, R.HIST_BINS), np.int64)
        b = bin_of(fields["series"].astype(np.float64))
        for x in range(X):
            for t in range(H):
                hist[x, t] = np.bincount(b[:, x, t], minlength=R.HIST_BINS)
        from simcore.kernel.structs import NPB

        zhist = np.zeros((G, H, NPB), np.int64)
        zb = zone_bin(fields.pop("zone_prices"))
        for g in range(G):
            for t in range(H):
                zhist[g, t] = np.bincount(zb[:, g, t], minlength=NPB)
        yield SimpleNamespace(start=start, stop=stop, hist=hist, zone_hist=zhist, **fields)


PROV = {
    "format": R.FORMAT,
    "scenario": {"name": "toy", "path": "toy.toml", "hash": "s"},
    "dataset": {"hash": "d", "path": "tiny"},
    "seed": 7,
    "draws": 0,
    "horizon": H,
}


def write(folder, draws=50, size=16, timeseries=False, layout=LAYOUT, source=None):
    prov = dict(PROV, draws=draws)
    source = chunks if source is None else source
    with R.atomic_folder(folder) as staging:
        R.write_chunks(staging, layout, source(draws, size), prov, draws, timeseries)
    return R.load_result(folder)


# Format 4 stores a zone's buyers without a state stock of their own once: here USA's
# rows as JPN's in both zones with two buyers (gallium ex-CHN, graphite JPN+USA).
SHARED = dataclasses.replace(LAYOUT, stored_as=np.array([0, 0, 2, 3, 3], np.int32))


def shared_chunks(draws: int, size: int):
    """``chunks`` with each USA row made its zone's JPN row per unit of need (as the
    engine's are, docs/model.md §3.5)."""
    from simcore.results.writer import _SHARED_FIELDS

    for chunk in chunks(draws, size):
        for name in _SHARED_FIELDS:
            values = np.array(getattr(chunk, name), dtype=np.float64)
            per_need = name.endswith("_t")
            for a, b in ((1, 0), (4, 3)):
                values[:, a] = (values[:, b] / LAYOUT.need_t[b] * LAYOUT.need_t[a]
                                if per_need else values[:, b])
            setattr(chunk, name, values.astype(np.asarray(getattr(chunk, name)).dtype))
        yield chunk


def test_an_exposure_price_that_is_not_its_zones_is_refused(tmp_path):
    """The results store prices per zone (format 3): a chunk where one exposure's price
    differs from its zone's in a single draw, by the last bit, or where two draws' prices
    of an exposure are swapped, or a price is NaN, is an error of the engine."""
    def one_bit(values):
        values[3, 2] = np.nextafter(values[3, 2], np.inf)

    def swapped(values):
        values[[3, 5], 2] = values[[5, 3], 2]

    def nan(values):
        values[3, 2] = np.nan

    for name in ("price_peak", "price_mean"):
        for how in (one_bit, swapped, nan):
            def off(draws, size, name=name, how=how):
                for chunk in chunks(draws, size):
                    values = np.array(getattr(chunk, name))
                    if chunk.start == 16:
                        how(values)
                        if how is nan:  # the zone's too: no other check catches it then
                            zone = np.array(getattr(chunk, f"zone_{name}"))
                            zone[3, :] = np.nan
                            setattr(chunk, f"zone_{name}", zone)
                            values[3, :] = np.nan
                    setattr(chunk, name, values)
                    yield chunk

            folder = tmp_path / f"{name}-{how.__name__}"
            with pytest.raises(ResultError, match=f"an exposure's {name} differs from its"):
                write(folder, draws=40, size=16, source=off)
            assert not folder.exists()


def test_finish_raises_the_summarys_error_not_the_closing_ones(tmp_path, monkeypatch):
    """finish() closes the tables on a thread while the summary is computed: when both
    fail, the summary's error (here an interrupt) is the one raised."""
    from simcore.results import summary, writer

    def interrupted(self):
        raise KeyboardInterrupt

    def broken(self):
        raise OSError("disk gone")

    monkeypatch.setattr(summary.ExposureSummary, "finish", interrupted)
    monkeypatch.setattr(writer._TableWriter, "close", broken)
    w = R.ResultWriter(tmp_path, LAYOUT, dict(PROV, draws=20), 20)
    for chunk in chunks(20, 10):
        w.add(chunk)
    with pytest.raises(KeyboardInterrupt):
        w.finish()


def test_row_groups_do_not_follow_the_chunk_size(tmp_path, monkeypatch):
    """--chunk-size 1 made drivers.parquet 39x larger: a row group per chunk. Row groups
    now hold a fixed amount of data; file sizes and digests do not see the chunking."""
    one = write(tmp_path / "one", draws=60, size=1, timeseries=True)
    whole = write(tmp_path / "whole", draws=60, size=60, timeseries=True)
    assert one.manifest["digest"] == whole.manifest["digest"]
    for name in ("shortage", "drivers", "timeseries"):
        a, b = (r.folder / f"{name}.parquet" for r in (one, whole))
        assert pq.ParquetFile(a).num_row_groups == pq.ParquetFile(b).num_row_groups == 1
        assert a.stat().st_size < 1.05 * b.stat().st_size, name
    # a row group's worth of rows fills groups of exactly that size, whatever the chunks
    width = R.row_width(R.SHORTAGE_FILE_SCHEMA)
    monkeypatch.setattr(R.writer, "ROW_GROUP_BYTES", 7 * X * width)
    small = write(tmp_path / "small", draws=60, size=16)
    pf = pq.ParquetFile(small.folder / "shortage.parquet")
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]
    assert sizes[:-1] == [7 * X] * (len(sizes) - 1) and 0 < sizes[-1] <= 7 * X
    assert sum(sizes) == pq.ParquetFile(whole.folder / "shortage.parquet").metadata.num_rows
    assert small.manifest["digest"]["tables"]["shortage"] == (
        whole.manifest["digest"]["tables"]["shortage"]
    )
    assert small.shortage.equals(whole.shortage)
    # the streamed tables' row groups carry statistics of the draw (by which a query for
    # some draws reads only theirs), not of labels or months, which span every group
    meta = pf.metadata
    for g in range(meta.num_row_groups):
        stats = {meta.schema.column(i).name: meta.row_group(g).column(i).is_stats_set
                 for i in range(meta.num_columns)}
        assert stats["draw"] and not stats["country"] and not stats["months_short"]
    first = meta.row_group(1).column(meta.schema.names.index("draw")).statistics
    assert first.min > meta.row_group(0).column(0).statistics.max
    end = pq.ParquetFile(small.folder / "summary.parquet").metadata
    assert end.row_group(0).column(end.schema.names.index("country")).is_stats_set


def test_the_first_draws_of_a_table_are_its_rows_of_those_draws(tmp_path, monkeypatch):
    """``table(..., draws=n)``: the rows of draws 0 .. n-1, read row group by row group
    (compare --draws and report --draws on a million-draw run), for every format."""
    width = R.row_width(R.SHORTAGE_FILE_SCHEMA)
    monkeypatch.setattr(R.writer, "ROW_GROUP_BYTES", 3 * X * width)
    res = write(tmp_path / "new", draws=40, size=16, layout=SHARED, source=shared_chunks)
    assert pq.ParquetFile(res.folder / "shortage.parquet").num_row_groups > 3
    runs = [res, as_format_3(res, tmp_path / "f3"),
            as_old_format(res, tmp_path / "f2", "supplyshock-results/2")]
    for run in runs:
        whole = {("shortage", False): run.table("shortage"),
                 ("shortage", True): run.table("shortage", stored=True),
                 ("drivers", False): run.table("drivers")}
        if run.format != "supplyshock-results/2":
            whole[("zone_prices", False)] = run.table("zone_prices")
        for n in (0, 1, 7, 39, 40, 100):
            for (name, stored), table in whole.items():
                got = run.table(name, stored=stored, draws=n)
                want = table.filter(pc.less(table.column("draw"), n))
                assert got.equals(want), (run.format, name, stored, n)
        part = run.table("shortage", ["shortage_share", "need_t"], draws=5)
        assert part.column_names == ["shortage_share", "need_t"] and part.num_rows == 5 * X
    with pytest.raises(ResultError, match="has no draw column"):
        res.table("summary", draws=3)


def test_the_first_draws_of_a_file_not_in_draw_order_are_all_found(tmp_path):
    """A table whose row groups are not in draw order (not written by supplyshock: an
    edited copy) is read whole and filtered, not cut at the first late row group."""
    from simcore.results.result import _first_draws

    path = tmp_path / "t.parquet"
    with pq.ParquetWriter(path, pa.schema([("draw", pa.int32()), ("x", pa.float64())])) as w:
        for draws in ([5, 6, 7], [0, 1, 2], [3, 4]):
            w.write_table(pa.table({"draw": pa.array(draws, pa.int32()),
                                    "x": [float(d) for d in draws]}))
    got = _first_draws(path, ["x"], 4)
    assert sorted(got.column("x").to_pylist()) == [0.0, 1.0, 2.0, 3.0]
    assert got.column_names == ["x"]


# --- statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_quantile_sorted_matches_numpy(n):
    a = np.random.default_rng(n).normal(size=(n, 4))
    s = np.sort(a, axis=0)
    for q in (0, 0.05, 0.25, 0.5, 0.95, 0.99, 1):
        np.testing.assert_allclose(
            R.quantile_sorted(s, q), np.quantile(a, q, axis=0), rtol=0, atol=1e-12
        )


def test_expected_shortfall_is_mean_of_worst_five_percent():
    a = np.random.default_rng(3).random((101, 3))
    worst = np.sort(a, axis=0)[::-1][: math.ceil(0.05 * 101)]  # 6 draws
    np.testing.assert_allclose(R.expected_shortfall_sorted(np.sort(a, axis=0)), worst.mean(axis=0))
    # fewer than 20 draws: the single worst one
    b = a[:10]
    np.testing.assert_allclose(R.expected_shortfall_sorted(np.sort(b, axis=0)), b.max(axis=0))


def test_median_where_matches_numpy_per_column():
    rng = np.random.default_rng(4)
    v = rng.integers(0, 36, size=(40, 5))
    valid = rng.random((40, 5)) < np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    got = R.median_where(v, valid)
    for x in range(5):
        want = np.median(v[valid[:, x], x]) if valid[:, x].any() else np.nan
        np.testing.assert_equal(got[x], want)


def test_exposure_statistics_match_a_pandas_reference():
    n = 400
    per = [draw_arrays(d) for d in range(n)]
    a = {k: np.stack([p[k] for p in per]) for k in per[0]}
    cols = {
        "shortage_t": a["shortage_t"],
        "shortage_share": a["shortage_t"] / LAYOUT.need_t,
        "peak_share": a["peak_share"],
        "months_short": a["months_short"],
        "first_short_month": a["first_short"],
        "last_short_month": a["last_short"],
        "stock_drawn_t": a["stock_drawn_t"],
        "price_index_peak": a["price_peak"],
        "price_index_mean": a["price_mean"],
        "shortage_value_usd": a["shortage_t"] * LAYOUT.price,
    }
    got = R.exposure_statistics(cols, LAYOUT.need_t, H)
    long = pd.DataFrame({k: v.ravel() for k, v in cols.items()})
    long["x"] = np.tile(np.arange(X), n)
    g = long.groupby("x")
    short = long[long["first_short_month"] >= 0].groupby("x")
    want = {
        "shortage_mean_t": g["shortage_t"].mean(),
        "share_mean": g["shortage_share"].mean(),
        "share_p5": g["shortage_share"].quantile(0.05),
        "share_p50": g["shortage_share"].median(),
        "share_p95": g["shortage_share"].quantile(0.95),
        "share_p99": g["shortage_share"].quantile(0.99),
        "share_es95": g["shortage_share"].apply(lambda s: s.nlargest(20).mean()),
        "peak_share_p50": g["peak_share"].median(),
        "peak_share_p95": g["peak_share"].quantile(0.95),
        "prob_short": g["months_short"].apply(lambda s: (s > 0).mean()),
        "prob_short_10pct": g["shortage_share"].apply(lambda s: (s > 0.1).mean()),
        "months_short_mean": g["months_short"].mean(),
        "survive_month_p50": short["first_short_month"].median(),
        "recover_month_p50": short["last_short_month"].median() + 1,
        "prob_unrecovered": g["last_short_month"].apply(lambda s: (s == H - 1).mean()),
        "stock_drawn_mean_t": g["stock_drawn_t"].mean(),
        "price_peak_p50": g["price_index_peak"].median(),
        "price_peak_p95": g["price_index_peak"].quantile(0.95),
        "price_mean_mean": g["price_index_mean"].mean(),
        "value_mean_usd": g["shortage_value_usd"].mean(),
        "value_p95_usd": g["shortage_value_usd"].quantile(0.95),
    }
    assert list(got) == [name for name, _ in R.SUMMARY_COLUMNS]
    for name, series in want.items():
        np.testing.assert_allclose(
            got[name], series.reindex(range(X)).to_numpy(), rtol=1e-12, atol=1e-12, err_msg=name
        )
    # the statistics are not all trivially zero
    assert 0 < got["prob_short"].min() and got["share_p95"].max() > 0.05


def test_histogram_quantiles_are_within_one_bin_of_numpy():
    rng = np.random.default_rng(5)
    n = 20_000
    share = np.where(rng.random((3, n)) < 0.4, 0.0, rng.beta(2, 5, (3, n)))
    share[2] = np.where(rng.random(n) < 0.97, 0.0, 1.0)  # mostly zero, some total losses
    hist = np.stack([np.bincount(bin_of(s), minlength=R.HIST_BINS) for s in share])
    qs = (0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    got = R.histogram_quantiles(hist, qs)
    want = np.quantile(share, qs, axis=1).T
    assert np.all(np.abs(got - want) <= 0.01 + 1e-9), np.abs(got - want).max()
    assert got[0, 0] == 0.0 and got[2, 4] == 0.0 and 0.99 < got[2, 5] <= 1.0
    assert np.all(np.abs(R.histogram_mean(hist) - share.mean(axis=1)) <= 0.005)


def test_histogram_quantile_of_a_single_bin_interpolates_inside_it():
    hist = np.zeros(R.HIST_BINS, np.int64)
    hist[31] = 4  # shares in (0.30, 0.31]
    np.testing.assert_allclose(R.histogram_quantiles(hist, [0.0, 0.5, 1.0]), [0.30, 0.305, 0.31])
    assert np.isnan(R.histogram_quantiles(np.zeros(R.HIST_BINS, np.int64), [0.5])).all()


def test_the_quantile_bin_is_the_first_non_empty_one_reaching_the_level():
    """The bin a quantile falls in, found by bisection of the CDF (binsums.histogram_bins),
    is the first non-empty bin whose CDF reaches the level (the argmax of the NumPy code
    it replaced), on histograms with empty bins, levels that land on a bin edge, and
    nothing counted at all; in any order of the bins, and with the part of the bin below
    the level, the counts, the tail counts and the midpoint sums that code computed."""
    from simcore.results.statistics import histogram_pass

    rng = np.random.default_rng(11)
    hist = rng.integers(0, 4, size=(300, 101)) * (rng.random((300, 101)) < 0.3)
    hist[0] = 0
    hist[1] = 0
    hist[1, [3, 10]] = 5  # CDF 0.5 at bin 3: the level 0.5 lands on it
    qs = (0.0, 1e-13, 0.05, 0.25, 0.5, 0.95, 0.99, 1.0)
    mid = rng.random(101)
    for order in (np.arange(101), rng.permutation(101)):
        h = hist[:, order]
        n = h.sum(axis=-1, keepdims=True).astype(np.float64)
        cum = np.cumsum(h, axis=-1) / np.where(n > 0, n, 1)
        count, tail, total, at, frac = histogram_pass(hist, qs, order=order, tail_from=7,
                                                      mid=mid)
        np.testing.assert_array_equal(count, hist.sum(axis=-1))
        np.testing.assert_array_equal(tail, hist[:, 7:].sum(axis=-1))
        np.testing.assert_array_equal(total, np.cumsum(hist * mid, axis=-1)[:, -1])
        for j, q in enumerate(qs):
            want = np.argmax((cum >= q - 1e-12) & (h > 0), axis=-1)
            np.testing.assert_array_equal(at[:, j], want, err_msg=str(q))
            below = np.where(want > 0, np.take_along_axis(
                cum, np.maximum(want - 1, 0)[:, None], -1)[:, 0], 0.0)
            mass = np.take_along_axis(h, want[:, None], -1)[:, 0] / np.where(
                n[:, 0] > 0, n[:, 0], 1)
            np.testing.assert_array_equal(
                frac[:, j], np.clip((q - below) / np.where(mass > 0, mass, 1), 0.0, 1.0))
    assert histogram_pass(hist, [0.5])[3][1, 0] == 3
    for bad_hist, bad_order, bad_mid in ((np.zeros((3, 0), np.int64), None, None),
                                         (hist, np.arange(100), None),
                                         (hist, np.arange(1, 102), None),
                                         (hist, None, np.zeros(100))):
        with pytest.raises(ResultError, match="a histogram needs a bin"):
            histogram_pass(bad_hist, [0.5], order=bad_order, mid=bad_mid)


# --- digest -------------------------------------------------------------------------------

LABELS = {"material": ["gallium", "graphite"]}


def _table(values, materials, nulls=False):
    month = pa.array(
        np.array([1, -1, 3][: len(values)], np.int16),
        mask=np.array([False, nulls, False][: len(values)]),
    )
    return pa.table(
        {"material": pa.array(materials), "x": pa.array(values, pa.float32()), "m": month}
    )


def _digest(*tables, labels=LABELS):
    d = R.TableDigest(tables[0].schema, labels)
    for t in tables:
        d.update(t)
    return d.hexdigest()


def test_digest_is_independent_of_chunking_and_dictionary_order():
    whole = _table([1.0, 2.0, 3.0], ["gallium", "graphite", "gallium"])
    a, b = whole.slice(0, 1), whole.slice(1)
    assert _digest(whole) == _digest(a, b)
    # the same labels encoded with the dictionary in another order
    enc = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), ["graphite", "gallium"])
    other = pa.table({"material": enc, "x": whole["x"], "m": whole["m"]})
    plain = pa.table({"material": enc.cast(pa.string()), "x": whole["x"], "m": whole["m"]})
    assert _digest(other) == _digest(plain) == _digest(whole)


def test_digest_sees_every_change():
    base = _digest(_table([1.0, 2.0, 3.0], ["gallium", "graphite", "gallium"]))
    assert base != _digest(_table([1.0, 2.0, 3.0000002], ["gallium", "graphite", "gallium"]))
    assert base != _digest(_table([1.0, 2.0, 3.0], ["gallium", "gallium", "gallium"]))
    assert base != _digest(_table([1.0, 2.0, 3.0], ["gallium", "graphite", "gallium"], nulls=True))
    with pytest.raises(ResultError, match="not in the manifest"):
        _digest(_table([1.0], ["cobalt"]))


def test_digest_canonicalises_nan_payloads():
    quiet = np.array([np.nan], np.float32)
    other = np.array([0x7FC00001], np.uint32).view(np.float32)
    t1 = pa.table({"x": pa.array(quiet)})
    t2 = pa.table({"x": pa.array(other)})
    assert _digest(t1, labels={}) == _digest(t2, labels={})


def test_digest_of_number_columns_reads_slices_at_their_offset():
    """Numbers without nulls are hashed from a view of their buffer at the slice's
    offset, NaN payloads made one (the min of a column with a NaN is NaN): the same
    digest for the table whole, cut in uneven slices, and with every NaN quiet; a value
    changed in the last slice changes it."""
    rng = np.random.default_rng(7)
    n = 1000
    f64 = rng.standard_normal(n)
    f32 = rng.standard_normal(n).astype(np.float32)
    payload = np.array([0x7FF8000000000123], np.uint64).view(np.float64)[0]
    f64[[3, 700]] = payload
    f32[650] = np.array([0x7FC00007], np.uint32).view(np.float32)[0]
    columns = {"f64": f64, "f32": f32, "i16": rng.integers(-5, 5, n).astype(np.int16),
               "flag": rng.random(n) > 0.5}
    whole = pa.table({name: pa.array(v) for name, v in columns.items()})
    quiet = pa.table({name: pa.array(np.where(np.isnan(v), np.nan, v).astype(v.dtype)
                                     if v.dtype.kind == "f" else v)
                      for name, v in columns.items()})
    cuts = [0, 1, 333, 334, 640, 999, n]
    parts = [whole.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert _digest(whole, labels={}) == _digest(*parts, labels={}) == _digest(quiet, labels={})
    changed = dict(columns, f32=f32.copy())
    changed["f32"][998] += 1.0
    assert _digest(whole, labels={}) != _digest(
        pa.table({name: pa.array(v) for name, v in changed.items()}), labels={})


# --- writer ---------------------------------------------------------------------------------


def test_writer_round_trip(tmp_path):
    res = write(tmp_path / "toy", draws=50, size=16, timeseries=True)
    per = [draw_arrays(d) for d in range(50)]
    s = res.shortage
    assert list(s.columns) == list(R.SHORTAGE_COLUMNS)
    assert len(s) == 50 * X and (s.groupby("draw").size() == X).all()
    shortage = np.stack([p["shortage_t"] for p in per])
    np.testing.assert_array_equal(  # stored as it is
        s["shortage_share"].to_numpy().reshape(50, X), (shortage / LAYOUT.need_t).astype(np.float32)
    )
    # derived: share x need, both float32 roundings of the same number
    np.testing.assert_allclose(s["shortage_t"].to_numpy().reshape(50, X), shortage, rtol=2.4e-7)
    np.testing.assert_array_equal(
        s["price_index_peak"].to_numpy().reshape(50, X),
        np.stack([p["price_peak"] for p in per]).astype(np.float32),
    )
    np.testing.assert_allclose(
        s["bought_t"].to_numpy().reshape(50, X), np.stack([p["bought_t"] for p in per]),
        rtol=2.4e-7,
    )
    first = s["first_short_month"].to_numpy(dtype=float, na_value=np.nan).reshape(50, X)
    want = np.stack([p["first_short"] for p in per]).astype(float)
    np.testing.assert_array_equal(first, np.where(want < 0, np.nan, want))
    assert list(s["material"].cat.categories) == ["gallium", "graphite"]
    assert s["shortage_t"].dtype == np.float32

    pf = pq.ParquetFile(res.folder / "shortage.parquet")
    assert pf.num_row_groups == 1  # 4 chunks, far below one row group's worth of data
    meta = pf.metadata.metadata
    assert json.loads(meta[R.METADATA_KEY])["seed"] == 7
    assert meta[R.DIGEST_KEY].decode() == res.manifest["digest"]["tables"]["shortage"]
    assert pf.metadata.row_group(0).column(1).compression == "ZSTD"

    d = res.drivers
    assert list(d.columns) == ["draw", *LAYOUT.var_names, "event/cn/fired", "event/cn/onset_month"]
    assert d["event/cn/onset_month"].isna().equals(~d["event/cn/fired"])
    assert res.stored_digests() == res.manifest["digest"]["tables"]
    assert set(res.manifest["digest"]["tables"]) == set(R.TABLES)
    ts = res.timeseries
    assert len(ts) == 50 * X * H
    np.testing.assert_array_equal(
        ts["shortage_share"].to_numpy().reshape(50, X, H), np.stack([p["series"] for p in per])
    )
    monthly = res.monthly
    assert len(monthly) == X * H
    assert (monthly["share_p5"] <= monthly["share_p95"]).all()
    zp = res.zone_prices
    assert len(zp) == 50 * LAYOUT.n_zones
    np.testing.assert_array_equal(
        zp["price_peak"].to_numpy().reshape(50, LAYOUT.n_zones),
        np.stack([p["zone_price_peak"][LAYOUT.zone_id] for p in per]).astype(np.float32))
    assert list(zp["zone"].cat.categories) == ["CHN", "ex-CHN", "world", "JPN+USA"]
    assert res.manifest["zones"][1] == {"material": "gallium", "stage": "refining",
                                        "zone": "ex-CHN", "members": ["JPN", "USA"]}


def test_every_table_is_on_disk_before_the_manifest_is_written(tmp_path, monkeypatch):
    """Each Parquet file is synced (fsync) when it closes, so that a folder whose
    run.json exists has its tables on disk after a crash; run.json is synced last."""
    from simcore.results import writer

    synced: list[str] = []
    real = os.fsync

    def recording(fd):
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(writer.os, "fsync", recording)
    write(tmp_path / "toy", draws=30, size=16, timeseries=True)
    tables = sorted(p.name for p in (tmp_path / "toy").glob("*.parquet"))
    assert len(tables) >= 5
    assert sorted(synced[:-1]) == tables
    assert synced[-1] == R.MANIFEST


def test_zone_price_quantiles_from_the_histogram_match_numpy(tmp_path):
    """prices.parquet: each month's P5 ... P95 of the zone price over draws, read from the
    engine's histogram, lies between numpy's quantiles of the same draws at q -+ 1/n
    (quantile definitions differ by one draw) widened by the bin width (1 %); a zone price
    that is exactly 1 in most draws has a median of exactly 1."""
    draws = 400
    res = write(tmp_path / "toy", draws=draws, size=128)
    prices = res.prices.set_index(["zone", "month"])
    per = np.stack([draw_arrays(d)["zone_prices"] for d in range(draws)])  # [n, G, H]
    for g, label in zip(LAYOUT.zone_id, LAYOUT.zone_labels, strict=True):
        for t in range(H):
            row = prices.loc[(label, t)]
            x = per[:, g, t]
            for q, col in ((0.05, "price_p5"), (0.5, "price_p50"), (0.95, "price_p95")):
                lo = np.quantile(x, max(0.0, q - 1 / draws)) / 1.0101
                hi = np.quantile(x, min(1.0, q + 1 / draws)) * 1.0101
                assert lo <= row[col] <= hi, (label, t, col, lo, row[col], hi)
            assert row["prob_above_1"] == pytest.approx((x > 1).mean())
    # a toy where 70 % of the draws leave the price at exactly 1
    from simcore.kernel.structs import NPB

    hist = np.zeros((1, 1, NPB), np.int64)
    hist[0, 0, 0] = 70
    hist[0, 0, zone_bin(np.array([2.0]))[0]] = 30
    q = R.price_histogram_quantiles(hist, [0.05, 0.5, 0.75])[0, 0]
    assert q[0] == 1.0 and q[1] == 1.0 and 1.98 < q[2] < 2.02


def _format2_columns(draws: int) -> dict:
    """The statistics' inputs as the shortage table of format 2 stored them: [n, X]
    float32 of the engine's values (tonnes not derived from shares)."""
    per = [draw_arrays(d) for d in range(draws)]
    a = {k: np.stack([p[k] for p in per]) for k in per[0]}
    f32 = np.float32
    return {
        "shortage_t": a["shortage_t"].astype(f32),
        "shortage_share": (a["shortage_t"] / LAYOUT.need_t).astype(f32),
        "peak_share": a["peak_share"].astype(f32),
        "months_short": a["months_short"].astype(np.int16),
        "first_short_month": a["first_short"].astype(np.int16),
        "last_short_month": a["last_short"].astype(np.int16),
        "stock_drawn_t": a["stock_drawn_t"].astype(f32),
        "commercial_drawn_t": a["commercial_drawn_t"].astype(f32),
        "substituted_t": a["substituted_t"].astype(f32),
        "demand_given_up_t": a["demand_given_up_t"].astype(f32),
        "rationed_t": a["rationed_t"].astype(f32),
        "price_index_peak": a["price_peak"].astype(f32),
        "price_index_mean": a["price_mean"].astype(f32),
        "shortage_value_usd": (a["shortage_t"] * LAYOUT.price).astype(f32),
    }


def _read_only_strided(draws, size):
    """``chunks`` with every float array read-only and not C-contiguous (as arrays may
    come back from another process), which the summary's compiled sums must take too."""
    for chunk in chunks(draws, size):
        for name, values in vars(chunk).items():
            if isinstance(values, np.ndarray) and values.dtype == np.float64:
                values = np.asfortranarray(values)
                values.flags.writeable = False
                setattr(chunk, name, values)
        yield chunk


@pytest.mark.parametrize("spill_memory, source", [(None, None), (0, _read_only_strided)])
def test_summary_streams_the_statistics_of_format_2_bit_for_bit(
        tmp_path, monkeypatch, spill_memory, source):
    """The summary is computed as chunks stream by (running sums, month counts, sorted
    nonzero shortages kept aside, in a file past SPILL_MEMORY); it equals, bit for bit,
    exposure_statistics over the columns format 2 stored (the engine's values as
    float32), whatever the chunking and the chunks' memory layout."""
    from simcore.results import summary

    if spill_memory is not None:
        monkeypatch.setattr(summary, "SPILL_MEMORY", spill_memory)
        monkeypatch.setattr(summary, "BLOCK_VALUES", 7)  # several blocks of exposures
    for draws, size in ((1, 1), (97, 13), (400, 400)):
        res = write(tmp_path / f"s{draws}-{spill_memory}", draws=draws, size=size,
                    source=source)
        want = R.exposure_statistics(_format2_columns(draws), LAYOUT.need_t, H)
        got = res.summary
        for name, _ in R.SUMMARY_COLUMNS:
            np.testing.assert_array_equal(got[name].to_numpy(), want[name], err_msg=name)
        assert res.manifest["digest"]["tables"]["summary"] == write(
            tmp_path / f"t{draws}-{spill_memory}", draws=draws, size=draws
        ).manifest["digest"]["tables"]["summary"]
        assert not list((tmp_path / f"s{draws}-{spill_memory}").glob(".*spill"))


@pytest.mark.parametrize("first, last", [(H, H), (0, -1), (-1, 2), (3, 1), (-2, -2)])
def test_a_short_month_outside_the_horizon_is_an_error_not_a_count(tmp_path, first, last):
    """The summary counts each draw's first and last short month into per-month
    counts in compiled code with no bounds checks: months outside 0 .. H - 1 (or only
    one of the two set, or the last before the first) are refused with the draws they
    came in, and nothing is counted for them (-1 for both: not short)."""
    from simcore.results.summary import ExposureSummary

    summary = ExposureSummary(LAYOUT, tmp_path)
    chunk = next(chunks(10, 10))
    chunk.first_short = chunk.first_short.copy()
    chunk.last_short = chunk.last_short.copy()
    chunk.first_short[4, 2], chunk.last_short[4, 2] = first, last
    valid = int((chunk.first_short >= 0).sum()) - (first >= 0)  # the other short rows
    with pytest.raises(ResultError, match=r"draws \[0, 10\): 1 rows have a first or last"):
        summary.add(chunk)
    assert summary._first.sum() == summary._recover.sum() == summary._short.sum() == valid


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), data=st.data())
def test_nonzero_statistics_are_those_of_the_whole_stored_column(n, data):
    """binsums.nonzero_statistics, from an exposure's nonzero shortages alone, gives the
    statistics module's numbers over the whole column as the shortage table stores it
    (float32 shares and values, the zero draws first), bit for bit: no zeros, all zeros,
    fewer nonzero draws than the tail, ties and shares around 0.10."""
    from simcore.kernel import structs
    from simcore.kernel.binsums import nonzero_statistics
    from simcore.results.statistics import (
        expected_shortfall_sorted,
        quantile_sorted,
        sequential_sum,
    )

    m = data.draw(st.integers(0, n))
    need = data.draw(st.floats(1e-3, 1e6))
    price = data.draw(st.floats(1e-2, 1e7))
    values = st.one_of(st.floats(1e-9, 2.0), st.sampled_from([0.1, 0.25, 1.0]))
    s = np.sort(np.array(data.draw(st.lists(values, min_size=m, max_size=m))) * need)
    tail = max(1, math.ceil(R.TAIL * n - 1e-9))
    got = np.empty(structs.N_NZ)
    nonzero_statistics(s, n, tail, need, price, got)

    def column(stored):
        return np.concatenate([np.zeros(n - m), stored.astype(np.float32).astype(np.float64)])

    share, value = column(s / need), column(s * price)
    want = {
        structs.NZ_SHARE_MEAN: sequential_sum(share) / n,
        structs.NZ_SHARE_ES95: expected_shortfall_sorted(share),
        structs.NZ_PROB_10PCT: np.count_nonzero(share > 0.10) / n,
        structs.NZ_VALUE_MEAN: sequential_sum(value) / n,
        structs.NZ_VALUE_P95: quantile_sorted(value, 0.95),
    }
    for slot, q in ((structs.NZ_SHARE_P5, 0.05), (structs.NZ_SHARE_P50, 0.50),
                    (structs.NZ_SHARE_P95, 0.95), (structs.NZ_SHARE_P99, 0.99)):
        want[slot] = quantile_sorted(share, q)
    for slot, expected in want.items():
        assert np.float64(got[slot]).tobytes() == np.float64(expected).tobytes(), slot


def test_summary_counts_a_share_of_ten_percent_as_the_stored_column_does(tmp_path):
    """prob_short_10pct compares the float32 share with 0.10 in float64, as
    exposure_statistics compares the stored column: float32's 0.1 lies above 0.10, so
    a draw short by exactly 10 % of need counts (in float32 it would not)."""
    draws = 30

    def tenth(draws, size):
        for chunk in chunks(draws, size):
            chunk.shortage_t = chunk.shortage_t.copy()
            chunk.shortage_t[(chunk.start + np.arange(len(chunk.shortage_t))) % 2 == 0,
                             0] = 0.1 * LAYOUT.need_t[0]
            yield chunk

    res = write(tmp_path / "tenth", draws=draws, size=7, source=tenth)
    columns = _format2_columns(draws)
    tonnes = 0.1 * LAYOUT.need_t[0]
    columns["shortage_t"][::2, 0] = np.float32(tonnes)
    columns["shortage_share"][::2, 0] = np.float32(tonnes / LAYOUT.need_t[0])
    columns["shortage_value_usd"][::2, 0] = np.float32(tonnes * LAYOUT.price[0])
    want = R.exposure_statistics(columns, LAYOUT.need_t, H)["prob_short_10pct"]
    got = res.summary["prob_short_10pct"].to_numpy()
    assert want[0] >= 15 / draws
    np.testing.assert_array_equal(got, want)


def test_summary_sorts_no_more_when_a_zone_spans_blocks(tmp_path, monkeypatch):
    """An exposure stored as another takes that one's sort order and worst-month
    quantiles even when the end of the run reads them in different blocks (as at a
    million draws, where a block holds a few exposures): blocks change no result and
    add no sort."""
    from simcore.results import summary

    calls = {"alone": 0, "worst": 0}

    def counted(name, function):
        def wrapper(*args):
            calls[name] += 1
            return function(*args)
        return wrapper

    monkeypatch.setattr(summary, "_sorted_alone", counted("alone", summary._sorted_alone))
    monkeypatch.setattr(summary, "_quantiles_of_nonzero",
                        counted("worst", summary._quantiles_of_nonzero))
    seen = []
    for block in (10**9, 7):  # everything in one block; every exposure in its own
        monkeypatch.setattr(summary, "BLOCK_VALUES", block)
        calls.update(alone=0, worst=0)
        res = write(tmp_path / f"b{block}", draws=120, size=40, layout=SHARED,
                    source=shared_chunks)
        assert len(list(summary._blocks(np.full(X, 30)))) == (1 if block > 1000 else X)
        seen.append((dict(calls), res.manifest["digest"]["tables"]["summary"]))
    assert seen[0] == seen[1]
    assert seen[0][0]["worst"] == X - 2  # the two buyers stored as another: no sort


def test_summary_tasks_cover_every_exposure_once():
    """The end of a run hands the exposures to the sorting threads in runs of about equal
    size: every exposure in exactly one run, at most as many runs as asked."""
    from simcore.results.summary import _even_cuts

    rng = np.random.default_rng(5)
    for sizes in (np.zeros(0, np.int64), np.array([7]), np.zeros(9, np.int64),
                  np.array([5, 0, 0, 100, 3, 3, 3]), rng.integers(0, 1000, 452)):
        for parts in (1, 2, 8, 16):
            cuts = _even_cuts(sizes, parts)
            assert cuts[0] == 0 and cuts[-1] == len(sizes)
            assert all(a < b for a, b in zip(cuts[:-1], cuts[1:], strict=True))
            assert len(cuts) - 1 <= max(1, parts)
    cuts = _even_cuts(np.full(452, 10), 8)
    assert len(cuts) == 9 and max(np.diff(cuts)) - min(np.diff(cuts)) <= 1


def test_spill_reads_back_columns_in_blocks(tmp_path):
    rng = np.random.default_rng(2)
    for memory in (None, 0):
        spill = R.Spill(tmp_path / "x.spill", 5, np.float64, memory=memory)
        want = [[] for _ in range(5)]
        for _ in range(4):
            counts = rng.integers(0, 4, 5)
            values = rng.random(counts.sum())
            spill.append(values, counts)
            for j, part in enumerate(np.split(values, np.cumsum(counts)[:-1])):
                want[j].append(part)
        assert (tmp_path / "x.spill").exists() == (memory == 0)
        got = spill.read(0, 5) + spill.read(1, 3)
        for j, values in enumerate(got):
            k = j if j < 5 else j - 4
            np.testing.assert_array_equal(values, np.concatenate(want[k]))
        spill.close()
        assert not (tmp_path / "x.spill").exists()


@pytest.mark.parametrize("reads", ["whole", "short", "no preadv"])
def test_spill_keeps_a_structured_dtypes_fields_apart(tmp_path, monkeypatch, reads):
    """The summary's spill holds two fields (a shortage and a worst month); each comes
    back on its own, each column one array, in memory or from the file, whether the
    system's preadv reads everything asked, a few bytes at a time, or is missing."""
    from simcore.results import summary

    if reads == "short":  # at most 5 bytes a call: every way a read can stop short
        real = os.preadv
        monkeypatch.setattr(os, "preadv", lambda fd, views, offset: real(
            fd, [memoryview(views[0])[:5]], offset))
    elif reads == "no preadv":
        monkeypatch.delattr(os, "preadv", raising=False)
    dtype = np.dtype([("a", "<f8"), ("b", "<f4")])
    rng = np.random.default_rng(3)
    for memory in (None, 0):
        spill = summary.Spill(tmp_path / "y.spill", 4, dtype, memory=memory)
        want = {f: [[] for _ in range(4)] for f in "ab"}
        for _ in range(5):
            counts = rng.integers(0, 3, 4)
            values = {"a": rng.random(counts.sum()),
                      "b": rng.random(counts.sum()).astype(np.float32)}
            spill.append(values, counts)
            for f in "ab":
                for j, part in enumerate(np.split(values[f], np.cumsum(counts)[:-1])):
                    want[f][j].append(part)
        for first, stop in ((0, 4), (1, 3), (2, 2)):
            got = spill.read(first, stop)
            assert set(got) == {"a", "b"}
            for f in "ab":
                assert len(got[f]) == stop - first
                for j, values in enumerate(got[f], first):
                    assert values.dtype == dtype[f] and values.flags.c_contiguous
                    np.testing.assert_array_equal(values, np.concatenate(want[f][j]))
        spill.close()


def test_an_error_in_the_writer_thread_stops_the_run(tmp_path, monkeypatch):
    """Chunks are written on a thread of their own; its error reaches the caller and
    leaves no thread behind."""
    import threading

    from simcore.results import writer

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "zone_prices_chunk", broken)
    with pytest.raises(OSError, match="disk full"), R.atomic_folder(tmp_path / "toy") as staging:
        R.write_chunks(staging, LAYOUT, chunks(60, 10), dict(PROV, draws=60), 60)
    assert not (tmp_path / "toy").exists()
    assert not [t for t in threading.enumerate() if t.name == "supplyshock-writer"]


def test_digest_does_not_depend_on_chunk_size(tmp_path):
    a = write(tmp_path / "a", draws=40, size=40)
    b = write(tmp_path / "b", draws=40, size=3)
    assert a.manifest["digest"] == b.manifest["digest"]
    c = write(tmp_path / "c", draws=41, size=40)
    assert c.digest != a.digest


def _by_zone(chunk, first_full=False):
    """The chunk with its rows' histogram given by zone, as simulate's chunks give it
    (simcore.engine.row_histogram): row 0 in row 1's zone, with what row 0 differs by in
    bins 1-100 as a state-stock holder's own counts; every other row its own zone."""
    if first_full and chunk.start == 0:
        return chunk
    hist = chunk.hist
    row_zone = np.arange(X, dtype=np.int64)
    row_zone[0] = 1
    own = (hist[[0]] - hist[[1]]).astype(np.int64)
    own[:, :, 0] = 0
    return SimpleNamespace(**dict(vars(chunk), hist=None, zone_short_hist=hist.copy(),
                                  row_zone=row_zone, holder_rows=np.array([0], np.int64),
                                  holder_short_hist=own))


def test_a_histogram_by_zone_writes_the_same_tables(tmp_path):
    """The writer adds chunks' histograms given by zone as it adds rows' (the sums by
    zone expanded at the end, bin 0 what the others leave of every draw): the same
    digest whether every chunk, none or all but the first come by zone; a chunk with
    neither form is refused."""
    plain = write(tmp_path / "plain", draws=30, size=8)
    zoned = write(tmp_path / "zoned", draws=30, size=8,
                  source=lambda d, s: map(_by_zone, chunks(d, s)))
    mixed = write(tmp_path / "mixed", draws=30, size=8,
                  source=lambda d, s: (_by_zone(c, True) for c in chunks(d, s)))
    assert plain.digest == zoned.digest == mixed.digest
    bad = SimpleNamespace(**dict(vars(next(chunks(8, 8))), hist=None))
    (tmp_path / "bad").mkdir()
    with pytest.raises(ResultError, match="no monthly shortage histogram"):
        R.write_chunks(tmp_path / "bad", LAYOUT, [bad], PROV, 8)


def test_chunks_out_of_order_or_missing_are_refused(tmp_path):
    got = list(chunks(20, 10))
    with pytest.raises(ResultError, match="draw order"):
        R.write_chunks(tmp_path, LAYOUT, got[::-1], PROV, 20)
    (tmp_path / "b").mkdir()
    with pytest.raises(ResultError, match="10 draws of 20"):
        R.write_chunks(tmp_path / "b", LAYOUT, got[:1], PROV, 20)


# --- format 3: rows with something in them, quantities as shares of need -------------------


def test_never_null_columns_are_stored_as_required(tmp_path):
    """The streamed tables store their never-null columns as required Parquet columns
    (no definition level per value: 11 % of the writing); the columns that may be null
    stay optional, and a null where none may be is refused, not written."""
    res = write(tmp_path / "toy", draws=20, size=8)
    for name in ("shortage", "zone_prices", "drivers"):
        schema = pq.ParquetFile(res.folder / f"{name}.parquet").schema
        optional = {schema.column(i).name for i in range(len(schema))
                    if schema.column(i).max_definition_level > 0}
        expected = {"shortage": {"first_short_month", "last_short_month"},
                    "zone_prices": set()}.get(name)
        if expected is None:  # drivers: the onset months of events that did not fire
            expected = {c for c in res.table("drivers", stored=True).column_names
                        if c.endswith("/onset_month")}
        assert optional == expected, name
    table = res.table("shortage", stored=True).slice(0, 3)
    columns = dict(zip(table.column_names, table.columns, strict=True))
    columns["shortage_share"] = pa.array([None, 0.5, 0.5], pa.float32())
    holed = pa.Table.from_arrays(list(columns.values()), schema=R.SHORTAGE_FILE_SCHEMA)
    with pytest.raises(pa.ArrowInvalid, match="non-nullable"):
        R.write_table(tmp_path / "bad.parquet", holed, PROV, LAYOUT.labels())


def test_format_4_stores_the_rows_with_something_in_them_and_gives_back_every_draw(tmp_path):
    draws = 60
    res = write(tmp_path / "toy", draws=draws, size=16)
    assert res.manifest["format"] == R.FORMAT == "supplyshock-results/4"
    stored = res.table("shortage", stored=True)
    assert stored.schema.names == R.SHORTAGE_FILE_SCHEMA.names
    per = [draw_arrays(d) for d in range(draws)]
    a = {k: np.stack([p[k] for p in per]) for k in per[0]}
    # the baseline row (whole need bought, nothing else) is not stored
    something = ((a["shortage_t"] != 0) | (a["first_short"] >= 0)
                 | (a["bought_t"] != LAYOUT.need_t))
    assert 0 < stored.num_rows == int(something.sum()) < draws * X
    # every draw and exposure comes back, as the baseline where nothing was stored
    s = res.shortage
    assert len(s) == draws * X and list(s.columns) == list(R.SHORTAGE_COLUMNS)
    quiet = ~something.ravel()
    assert (s["shortage_t"].to_numpy()[quiet] == 0).all()
    assert (s["months_short"].to_numpy()[quiet] == 0).all()
    assert s["first_short_month"].isna().to_numpy()[quiet].all()
    np.testing.assert_allclose(s["bought_t"].to_numpy()[quiet],
                               np.tile(LAYOUT.need_t, draws)[quiet], rtol=1e-7)
    np.testing.assert_array_equal(s["need_t"].to_numpy().reshape(draws, X),
                                  np.tile(LAYOUT.need_t.astype(np.float32), (draws, 1)))
    np.testing.assert_array_equal(  # prices are the zone's, also in quiet rows
        s["price_index_mean"].to_numpy().reshape(draws, X), a["price_mean"].astype(np.float32))
    value = (a["shortage_t"] * LAYOUT.price).astype(np.float32)
    np.testing.assert_allclose(s["shortage_value_usd"].to_numpy().reshape(draws, X), value,
                               rtol=3.6e-7)
    # columns on their own, in the order asked for
    part = res.table("shortage", ["shortage_t", "draw"])
    assert part.column_names == ["shortage_t", "draw"]
    assert part.column("shortage_t").equals(res.table("shortage").column("shortage_t"))
    ex = res.table("exposures").to_pandas()
    assert list(ex["zone"].astype(str)) == ["ex-CHN", "ex-CHN", "world", "JPN+USA", "JPN+USA"]


def test_format_4_stores_a_zones_buyers_without_a_state_stock_once(tmp_path):
    """Buyers of one price zone without a state stock of their own are stored once
    (exposures.parquet names whose rows each exposure's are: stored_as); every draw and
    exposure comes back as when each is stored on its own."""
    draws = 50
    own = write(tmp_path / "own", draws=draws, size=16, source=shared_chunks)
    res = write(tmp_path / "shared", draws=draws, size=16, layout=SHARED, source=shared_chunks)
    stored = res.table("shortage", stored=True).to_pandas()
    assert set(zip(stored["material"].astype(str), stored["country"].astype(str),
                   strict=True)) <= {("gallium", "JPN"), ("graphite", "CHN"), ("graphite", "JPN")}
    everyone = own.table("shortage", stored=True)
    assert 0 < len(stored) < everyone.num_rows
    ex = res.table("exposures").to_pandas()
    assert list(ex["stored_as"].astype(str)) == ["JPN", "JPN", "CHN", "JPN", "JPN"]
    assert list(own.table("exposures").to_pandas()["stored_as"].astype(str)) == list(
        ex["country"].astype(str))
    a, b = res.shortage, own.shortage
    assert list(a.columns) == list(b.columns) and len(a) == draws * X
    for name in a.columns:
        if a[name].dtype.kind == "f":  # a share of need in float32 either way
            np.testing.assert_allclose(a[name], b[name], rtol=2.4e-7, err_msg=name)
        else:
            assert a[name].equals(b[name]), name
    for by in ("material", "country"):
        pd.testing.assert_frame_equal(R.summarize(res, by), R.summarize(own, by), rtol=1e-6)
    assert R.load_result(res.folder).stored_digests() == res.manifest["digest"]["tables"]
    # the summary sorts a buyer stored as another by that one's permutation: the same bits
    # as sorting each exposure on its own
    assert res.manifest["digest"]["tables"]["summary"] == own.manifest["digest"]["tables"][
        "summary"]


def test_rows_stored_under_a_buyer_stored_as_another_are_refused(tmp_path):
    """A shortage table whose rows name a buyer that exposures.parquet stores as another
    (tables that do not belong together) is an error when read, not rows dropped."""
    res = write(tmp_path / "shared", draws=20, size=10, layout=SHARED, source=shared_chunks)
    table = res.table("shortage", stored=True)
    country = table.column("country").cast(pa.string()).to_pylist()
    country[0] = "USA" if country[0] == "JPN" else country[0]
    assert country[0] == "USA"
    codes = pa.array(country).dictionary_encode()
    column = table.column_names.index("country")
    pq.write_table(table.set_column(column, "country", codes.cast(R.SHORTAGE_FILE_SCHEMA.field(
        "country").type)), res.folder / "shortage.parquet")
    with pytest.raises(ResultError, match=r"rows of \(.*, refining, USA\), which "
                                          r"exposures.parquet stores as JPN"):
        R.load_result(res.folder).shortage  # noqa: B018 - reading is the test


def test_a_buyer_stored_as_another_that_differs_from_it_is_refused(tmp_path):
    """The writer checks that what it stores once holds for every buyer stored so: an
    engine whose buyers of one zone went short by different shares is an error, and the
    folder is not written."""
    with pytest.raises(ResultError, match=r"\(gallium, refining, USA\) differs from that "
                                          r"of \(gallium, refining, JPN\)"):
        write(tmp_path / "bad", draws=30, size=16, layout=SHARED)
    assert not (tmp_path / "bad").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def _docs_view_sql() -> str:
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "results.md").read_text()
    start = text.index("```sql\n-- Every (draw, material, stage, country)") + len("```sql\n")
    return text[start : text.index("```", start)]


def test_the_duckdb_view_of_the_docs_gives_back_the_same_table(tmp_path):
    """docs/results.md ships a DuckDB view that puts back every draw's rows and the
    columns of format 2; it is the package's SHORTAGE_VIEW_SQL and gives what
    Result.shortage gives, value for value."""
    import duckdb

    assert _docs_view_sql() == R.SHORTAGE_VIEW_SQL.format(folder="results/partners-2026")
    res = write(tmp_path / "toy", draws=40, size=16, layout=SHARED, source=shared_chunks)
    con = duckdb.connect()
    con.execute(R.SHORTAGE_VIEW_SQL.format(folder=res.folder.as_posix()))
    _same_as_duckdb(con, res)
    # format 3 (every exposure stored as itself): the view joins on the country
    old = as_format_3(res, tmp_path / "old")
    sql = R.SHORTAGE_VIEW_SQL.replace("s.country = e.stored_as", "s.country = e.country")
    con.execute(sql.format(folder=old.folder.as_posix()))
    _same_as_duckdb(con, old)


def _same_as_duckdb(con, res):
    rel = con.sql("select * from shortage")
    got = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()  # duckdb 1.x
    want = res.table("shortage")
    assert got.column_names == want.column_names
    for name in want.column_names:
        a, b = got.column(name), want.column(name)
        if pa.types.is_dictionary(b.type):
            b = b.cast(pa.string())
            a = a.cast(pa.string())
        assert a.type == b.type, name
        assert a.to_pylist() == b.to_pylist(), name
    # a statistic over draws: zero rows count
    mean = con.execute("select avg(shortage_share) from shortage where country = 'USA' "
                       "and material = 'gallium'").fetchone()[0]
    usa = want.to_pandas().query("country == 'USA' and material == 'gallium'")
    assert mean == pytest.approx(usa["shortage_share"].astype(float).mean())


def test_results_of_format_3_still_read(tmp_path):
    res = write(tmp_path / "new", draws=40, size=16, layout=SHARED, source=shared_chunks)
    old = as_format_3(res, tmp_path / "old")
    assert old.format == "supplyshock-results/3"
    assert old.stored_digests() == old.manifest["digest"]["tables"]
    assert old.table("shortage", stored=True).num_rows > res.table("shortage",
                                                                   stored=True).num_rows
    assert old.shortage.equals(res.shortage)
    for by in ("material", "country"):
        pd.testing.assert_frame_equal(R.summarize(old, by), R.summarize(res, by))
    assert (R.compare(res, old).table["change_mean"] == 0).all()


@pytest.mark.parametrize("fmt", ["supplyshock-results/2", "supplyshock-results/1"])
def test_results_of_formats_1_and_2_still_read(tmp_path, fmt):
    res = write(tmp_path / "new", draws=30, size=16)
    old = as_old_format(res, tmp_path / "old", fmt)
    assert old.stored_digests() == old.manifest["digest"]["tables"]
    assert old.shortage.equals(res.shortage.drop(
        columns=list(R.ACCOUNTING_COLUMNS) if fmt.endswith("/1") else []))
    for by in ("material", "country"):
        pd.testing.assert_frame_equal(R.summarize(old, by), R.summarize(res, by))
    assert (R.compare(res, old).table["change_mean"] == 0).all()
    with pytest.raises(ResultError, match="has no exposures.parquet"):
        old.table("exposures")


# --- summarize and compare -------------------------------------------------------------------


def test_summarize_by_material_and_country(tmp_path):
    res = write(tmp_path / "toy", draws=60, size=25)
    s = res.shortage.astype({"material": str, "stage": str, "country": str})
    by_m = R.summarize(res, "material").set_index(["material", "stage"])
    gal = s[s["material"] == "gallium"].groupby("draw")
    share = gal["shortage_t"].sum() / gal["need_t"].sum()
    assert by_m.loc[("gallium", "refining"), "share_mean"] == pytest.approx(share.mean())
    assert by_m.loc[("gallium", "refining"), "share_p95"] == pytest.approx(share.quantile(0.95))

    by_c = R.summarize(res, "country").set_index("country")
    assert "CHN" not in by_c.index  # China only appears at graphite mining, not a last stage
    usa = s[(s["country"] == "USA") & (s["stage"] == "refining")].copy()
    price = usa["material"].map({"gallium": 500.0, "graphite": 900.0})
    usa["den"] = usa["need_t"] * price
    g = usa.groupby("draw")
    share = g["shortage_value_usd"].sum() / g["den"].sum()
    assert by_c.loc["USA", "share_mean"] == pytest.approx(share.mean(), rel=1e-6)
    with pytest.raises(ResultError, match="cannot summarise by"):
        R.summarize(res, "stage")


def test_compare_with_itself_is_zero_and_sees_an_improvement(tmp_path):
    res = write(tmp_path / "toy", draws=30, size=30)
    same = R.compare(res, res)
    assert same.warnings == ["the two runs have the same results (the same digest): every "
                             "change is zero"]
    assert (same.table["change_mean"] == 0).all() and (same.table["prob_better"] == 0).all()
    # a variant with half the shortage everywhere: better in every draw that had any
    table = res.table("shortage", stored=True)
    column = table.column_names.index("shortage_share")
    half = table.set_column(
        column,
        "shortage_share",
        pa.compute.multiply(table["shortage_share"], pa.scalar(0.5, pa.float32())),
    )
    folder = tmp_path / "half"
    shutil.copytree(res.folder, folder)
    pq.write_table(half, folder / "shortage.parquet")
    variant = R.Result(folder, dict(res.manifest, seed=8))
    with pytest.raises(ResultError, match="seed 8 against the base's .*--force"):
        R.compare(res, variant)
    cmp = R.compare(res, variant, force=True)
    assert any("seeds differ" in w for w in cmp.warnings)
    row = cmp.table.set_index(["material", "stage", "country"]).loc[("gallium", "refining", "USA")]
    share = res.shortage.query("material == 'gallium' and country == 'USA'")["shortage_share"]
    assert row["change_mean"] == pytest.approx(-0.5 * share.astype(float).mean(), rel=1e-6)
    assert row["prob_better"] == pytest.approx((0.5 * share > R.CHANGE_DUST).mean())
    assert row["change_ci_low"] < row["change_mean"] < row["change_ci_high"] <= 0
    # a change of rounding size (float32 shares, the origin state's band) in every draw is
    # neither better nor worse
    nudged = table.set_column(column, "shortage_share", pa.compute.add(
        table["shortage_share"], pa.scalar(3e-8, pa.float32())))
    pq.write_table(nudged, folder / "shortage.parquet")
    cmp = R.compare(res, R.Result(folder, res.manifest))
    assert (cmp.table["change_mean"] > 0).any()
    assert (cmp.table["prob_worse"] == 0).all() and (cmp.table["prob_better"] == 0).all()


def test_compare_matches_a_join_of_the_two_shortage_tables(tmp_path):
    """compare works on each run's shares per draw and exposure, without a join: its
    table and value are those of the rows joined on (draw, material, stage, country),
    here a format-4 base against a format-2 variant with more draws, other shares and
    an exposure (graphite mining, CHN) it lacks, which counts as zero shortage there."""
    base = write(tmp_path / "base", draws=30, layout=SHARED, source=shared_chunks)
    res = write(tmp_path / "src", draws=40)  # draws 30-39 are not compared
    variant = as_old_format(res, tmp_path / "variant", "supplyshock-results/2")
    table = variant.table("shortage")
    frame = table.to_pandas()
    rng = np.random.default_rng(3)
    factor = rng.choice([0.0, 0.5, 1.0, 1.5], size=len(frame)).astype(np.float32)
    for c in ("shortage_share", "shortage_t", "shortage_value_usd"):
        frame[c] = (frame[c] * factor).astype(np.float32)
    frame = frame[~((frame["material"] == "graphite") & (frame["stage"] == "mining"))]
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False),
                   variant.folder / "shortage.parquet")
    cmp = R.compare(base, R.Result(variant.folder, variant.manifest), partners=("USA",))
    assert cmp.draws == 30

    keys = ["material", "stage", "country"]
    cols = ["draw", *keys, "shortage_share", "shortage_t", "shortage_value_usd"]
    sides = []
    for r in (base.shortage, frame):
        r = r[cols].astype({k: str for k in keys})
        sides.append(r[r["draw"] < 30])
    joined = sides[0].merge(sides[1], on=["draw", *keys], how="outer",
                            suffixes=("_b", "_v")).fillna(0.0)
    assert len(joined) == 30 * X
    rows = []
    for key, part in joined.groupby(keys):
        d = (part["shortage_share_v"].astype(float) - part["shortage_share_b"].astype(float))
        half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
        rows.append(dict(
            zip(keys, key, strict=True),
            base_share_mean=part["shortage_share_b"].astype(float).mean(),
            variant_share_mean=part["shortage_share_v"].astype(float).mean(),
            change_mean=d.mean(), change_ci_low=d.mean() - half, change_ci_high=d.mean() + half,
            change_p5=np.quantile(d, 0.05), change_p95=np.quantile(d, 0.95),
            change_mean_t=(part["shortage_t_v"].astype(float)
                           - part["shortage_t_b"].astype(float)).mean(),
            change_value_mean_usd=(part["shortage_value_usd_v"].astype(float)
                                   - part["shortage_value_usd_b"].astype(float)).mean(),
            prob_better=(d < -R.CHANGE_DUST).mean(), prob_worse=(d > R.CHANGE_DUST).mean()))
    want = pd.DataFrame(rows)
    # most improved first, ties in the order of the labels
    order = want.sort_values("change_mean", kind="stable")[keys]
    assert [tuple(r) for r in cmp.table[keys].itertuples(index=False)] == [
        tuple(r) for r in order.itertuples(index=False)]
    want = want.set_index(keys).sort_index()
    got = cmp.table.set_index(keys).sort_index()
    assert list(got.columns) == list(want.columns)
    assert got.loc[("graphite", "mining", "CHN"), "variant_share_mean"] == 0
    assert (got["change_mean"] != 0).sum() >= 3 and (got["prob_worse"] > 0).any()
    np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-12,
                               atol=1e-12)
    assert list(cmp.table["change_mean"]) == sorted(cmp.table["change_mean"])
    # the value: the final users' rows (last stage) summed per draw, then compared
    final = joined[joined["stage"] == "refining"].astype(
        {"shortage_value_usd_b": float, "shortage_value_usd_v": float})
    per_draw = final.groupby("draw")[["shortage_value_usd_b", "shortage_value_usd_v"]].sum()
    change = per_draw["shortage_value_usd_v"] - per_draw["shortage_value_usd_b"]
    assert cmp.value["change_usd"] == pytest.approx(change.mean(), rel=1e-9)
    assert cmp.value["base_usd"] == pytest.approx(per_draw["shortage_value_usd_b"].mean(),
                                                  rel=1e-9)
    usa = final[final["country"] == "USA"].groupby("draw")[
        ["shortage_value_usd_b", "shortage_value_usd_v"]].sum()
    assert cmp.value["partners_change_usd"] == pytest.approx(
        (usa["shortage_value_usd_v"] - usa["shortage_value_usd_b"]).mean(), rel=1e-9)
    # a fate per exposure: equal for two only where both runs' shares are equal draw by draw
    assert set(cmp.fates) == set(map(tuple, want.index))
    same = R.compare(base, base).fates
    assert same[("gallium", "refining", "USA")] == same[("gallium", "refining", "JPN")]
    assert cmp.fates[("gallium", "refining", "USA")] != cmp.fates[("gallium", "refining", "JPN")]


def _shares_of_table(res, draws):
    """Each exposure's shortage share per draw from the expanded shortage table:
    [exposures, draws], in the order of exposures.parquet."""
    frame = res.shortage
    x = res.table("exposures").num_rows
    share = frame["shortage_share"].to_numpy(np.float32).reshape(-1, x)
    return np.ascontiguousarray(share[:draws].T)


def test_shares_per_draw_read_lean_are_the_expanded_tables(tmp_path):
    """compare, compare_policies and the report read format 4's stored shares straight
    into [exposures, draws] (simcore/results/perdraw.py), each folded buyer given its
    zone's first one's shares: the same numbers as the expanded shortage table, with the
    row groups in draw order or not, a draw split between two row groups, the first
    draws only, and tonnes and values rounded as the expanded table rounds them."""
    from simcore.results import perdraw

    res = write(tmp_path / "run", draws=40, layout=SHARED, source=shared_chunks)
    want = _shares_of_table(res, 40)
    assert (want[1] == want[0]).all() and want.any()  # USA stored as JPN
    got = perdraw.shares_per_draw(res, 40)
    np.testing.assert_array_equal(got.by_exposure, want)
    np.testing.assert_array_equal(perdraw.shares_per_draw(res, 7).by_exposure, want[:, :7])
    every = np.arange(want.shape[0])
    for what in ("shortage_t", "shortage_value_usd"):
        table = res.table("shortage", [what]).column(what).to_numpy().reshape(40, -1)
        np.testing.assert_array_equal(got.columns(every, what), table)
        np.testing.assert_array_equal(got.whole(what), table)
    # another writer's row groups: out of draw order, and a draw split between two
    stored = pq.read_table(res.folder / "shortage.parquet")
    rows = stored.num_rows
    cut = int(np.flatnonzero(stored.column("draw").to_numpy() == 20)[1])  # inside draw 20
    pieces = [stored.slice(cut), stored.slice(0, cut)]
    with pq.ParquetWriter(res.folder / "shortage.parquet", stored.schema) as out:
        for piece in pieces:
            out.write_table(piece)
    assert pq.ParquetFile(res.folder / "shortage.parquet").num_row_groups == 2
    assert sum(p.num_rows for p in pieces) == rows
    np.testing.assert_array_equal(perdraw.shares_per_draw(res, 40).by_exposure, want)
    np.testing.assert_array_equal(perdraw.shares_per_draw(res, 25).by_exposure,
                                  want[:, :25])
    # row groups in draw order, the last one skipped by its statistics (its draws are
    # made out of range: read, it would be refused), a row stored twice keeps its last
    # copy, and a stored -0.0 stays -0.0 (as the expanded table has them)
    draw = stored.column("draw").to_numpy()
    first, second = stored.filter(pa.array(draw < 20)), stored.filter(pa.array(draw >= 20))
    late = second.set_column(0, stored.schema.field("draw"), pa.array(
        np.full(second.num_rows, 10**6, np.int32), stored.schema.field("draw").type))
    twice = first.slice(first.num_rows - 1, 1)
    share = stored.schema.get_field_index("shortage_share")
    twice = twice.set_column(share, stored.schema.field(share),
                             pa.array([np.float32(-0.0)], pa.float32()))
    with pq.ParquetWriter(res.folder / "shortage.parquet", stored.schema) as out:
        for piece in (first, twice, late):
            out.write_table(piece)
    got = perdraw.shares_per_draw(res, 20).by_exposure
    row = twice.to_pylist()[0]
    keys = perdraw.shares_per_draw(res, 1).keys
    at = [k for k in range(len(keys)) if keys[k] == (row["material"], row["stage"],
                                                       row["country"])]
    assert np.signbit(got[at[0], row["draw"]]) and got[at[0], row["draw"]] == 0.0
    mask = np.ones_like(got, bool)
    mask[:, row["draw"]] = False
    np.testing.assert_array_equal(got[mask], want[:, :20][mask])


def test_shares_per_draw_name_a_damaged_shortage_table(tmp_path):
    """Stored rows of a draw the run does not have, or of a buyer stored as another:
    ResultError naming what does not fit, not a wrong comparison."""
    from simcore.results import perdraw

    res = write(tmp_path / "run", draws=10, layout=SHARED, source=shared_chunks)
    stored = pq.read_table(res.folder / "shortage.parquet")
    path = res.folder / "shortage.parquet"
    draw = stored.column("draw").to_numpy().copy()
    draw[-1] = 10
    pq.write_table(stored.set_column(0, "draw", pa.array(draw, stored.schema.field(
        "draw").type)), path)
    with pytest.raises(ResultError, match=r"draws outside \[0, 10\)"):
        perdraw.shares_per_draw(res, 10)
    country = stored.column("country").to_pylist()
    country[0] = "USA"  # USA's rows are stored as JPN's
    pq.write_table(stored.set_column(stored.schema.get_field_index("country"), "country",
                                     pa.array(country).dictionary_encode()), path)
    with pytest.raises(ResultError, match=r"stores rows of \(gallium, refining, USA\), which "
                       r"exposures.parquet stores as JPN"):
        perdraw.shares_per_draw(res, 10)
    pq.write_table(stored.drop_columns(["shortage_share"]), path)
    with pytest.raises(ResultError, match="has no column shortage_share; the file is damaged"):
        perdraw.shares_per_draw(res, 10)


def test_compare_a_block_of_exposures_at_a_time_is_compare_at_once(tmp_path, monkeypatch):
    """compare's statistics, computed a block of exposures at a time so that a million
    draws fit in memory, are bit for bit those of every exposure at once: blocks are
    never one column wide (NumPy reduces a single column pairwise), whatever the size."""
    from simcore.results import aggregate, perdraw

    base = write(tmp_path / "base", draws=40, layout=SHARED, source=shared_chunks)
    variant = write(tmp_path / "variant", draws=40)
    whole = R.compare(base, variant, partners=("USA",))
    assert all(b.stop - b.start >= 2 for b in perdraw.column_blocks(5, 40))
    assert perdraw.column_blocks(1, 40) == [slice(0, 1)]
    for size in (8 * 40 * 2, 8 * 40 * 3, 8):  # blocks of 2, of 3 and 2 (5 = 3 + 2)
        monkeypatch.setattr(perdraw, "BLOCK_BYTES", size)
        monkeypatch.setattr(aggregate, "BLOCK_BYTES", size)
        blocks = perdraw.column_blocks(5, 40)
        assert len(blocks) == 2 and {b.stop - b.start for b in blocks} <= {2, 3}
        part = R.compare(base, variant, partners=("USA",))
        pd.testing.assert_frame_equal(part.table, whole.table, check_exact=True)
        assert part.value == whole.value and part.fates == whole.fates


@pytest.mark.parametrize("fmt", [None, "supplyshock-results/2"])
def test_the_reports_shares_per_draw_are_the_shortage_tables(tmp_path, fmt):
    """The report and `sensitivity` read each exposure's shares per draw as arrays
    (PerDraw.of_result: format 4 without a join, older formats by their labels); they
    are the shortage table's, and the exposure statistics those of its rows."""
    from simcore.report import analysis as an

    res = write(tmp_path / "new", draws=40, layout=SHARED, source=shared_chunks)
    if fmt is not None:
        res = as_old_format(res, tmp_path / "old", fmt)
        # an older writer's row order: the exposures not in the order of their labels
        table = res.table("shortage")
        order = np.lexsort((-np.arange(table.num_rows),
                            table.column("draw").to_numpy()))
        pq.write_table(table.take(order), res.folder / "shortage.parquet")
        res = R.Result(res.folder, res.manifest)
    frame = an.normalise(res.shortage)
    got, want = an.PerDraw.of_result(res), an.PerDraw.of_frame(frame)
    assert got.keys == want.keys == list(frame[an.KEY].drop_duplicates().itertuples(
        index=False, name=None))
    assert list(got.draws) == list(want.draws) == list(range(40))
    np.testing.assert_array_equal(got.share, want.share)
    np.testing.assert_array_equal(got.value, want.value)
    np.testing.assert_array_equal(got.need, want.need)
    assert (fmt is None) == (got.keys == sorted(got.keys))
    usa = frame[(frame["material"] == "gallium") & (frame["country"] == "USA")]
    np.testing.assert_array_equal(got.of(("gallium", "refining", "USA"), np.arange(40)),
                                  usa["shortage_share"].to_numpy(np.float64))
    assert not got.of(("gallium", "refining", "DEU"), np.arange(3)).any()
    stats = an.exposure_stats(got).set_index(an.KEY)
    g = frame.groupby(an.KEY, sort=False)["shortage_share"]
    assert list(stats.index) == list(g.mean().index)
    np.testing.assert_allclose(stats["mean"], g.mean().astype(float), rtol=1e-6)
    np.testing.assert_allclose(stats["p50"], g.quantile(0.5), rtol=1e-12)
    np.testing.assert_allclose(stats["p95"], g.quantile(0.95), rtol=1e-12)
    np.testing.assert_array_equal(stats["p_short"],
                                  g.apply(lambda v: (v > an.SHORT_THRESHOLD).mean()))
    assert (stats["p_short"] > 0).any() and (stats["p_short"] < 1).any()


# --- atomic folders ---------------------------------------------------------------------------


def test_failed_write_keeps_previous_results_and_leaves_nothing(tmp_path):
    first = write(tmp_path / "toy", draws=20, size=20)
    before = sorted(p.name for p in tmp_path.iterdir())

    def broken():
        yield from chunks(20, 10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), R.atomic_folder(tmp_path / "toy") as staging:
        R.write_chunks(staging, LAYOUT, broken(), dict(PROV, draws=30), 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert R.load_result(tmp_path / "toy").digest == first.digest
    # a complete run replaces the folder
    second = write(tmp_path / "toy", draws=21, size=20)
    assert R.load_result(tmp_path / "toy").digest == second.digest != first.digest
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_check_target_refuses_other_folders(tmp_path):
    write(tmp_path / "toy", draws=5, size=5)
    R.check_target(tmp_path / "toy", "toy", "toy.toml")
    with pytest.raises(ResultError, match="holds results of scenario 'toy'"):
        R.check_target(tmp_path / "toy", "other", "other.toml")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(ResultError, match="not a supplyshock results folder"):
        R.check_target(tmp_path / "notes", "notes", "notes.toml")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultError, match="is a file"):
        R.writable_parent(tmp_path / "file" / "toy")
    with pytest.raises(ResultError, match="toy is itself a results folder"):
        R.writable_parent(tmp_path / "toy" / "toy")
    R.writable_parent(tmp_path / "toy")


def test_check_target_refuses_a_results_folder_holding_the_users_own_files(tmp_path):
    """A review's notes.txt in a results folder was deleted without a word when the
    scenario ran again (the folder is replaced as a whole)."""
    write(tmp_path / "toy", draws=5, size=5)
    (tmp_path / "toy" / ".DS_Store").write_text("x")  # hidden files go with the folder
    R.check_target(tmp_path / "toy", "toy", "toy.toml")
    (tmp_path / "toy" / "notes.txt").write_text("mine")
    with pytest.raises(ResultError, match=r"holds files that are not results of this "
                                          r"scenario \(notes.txt\).*move them out"):
        R.check_target(tmp_path / "toy", "toy", "toy.toml")
    assert (tmp_path / "toy" / "notes.txt").read_text() == "mine"


def test_load_result_errors(tmp_path):
    with pytest.raises(ResultError, match="no such results folder"):
        R.load_result(tmp_path / "absent")
    with pytest.raises(ResultError, match="has no run.json"):
        R.load_result(tmp_path)
    res = write(tmp_path / "toy", draws=5, size=5)
    (res.folder / "drivers.parquet").unlink()
    with pytest.raises(ResultError, match="drivers.parquet missing"):
        R.load_result(res.folder)


def test_result_save_copies_atomically(tmp_path):
    res = write(tmp_path / "toy", draws=5, size=5)
    copy = R.load_result(res.save(tmp_path / "elsewhere" / "toy"))
    assert copy.digest == res.digest
    assert copy.stored_digests() == res.manifest["digest"]["tables"]


# --- progress ------------------------------------------------------------------------------------


def test_progress_bar_text_and_silence_off_terminal():
    stream = io.StringIO()
    bar = Progress(1000, label="toy", stream=stream)
    assert not bar.enabled  # StringIO is not a terminal
    bar.update(500)
    assert stream.getvalue() == ""
    line = bar.line(now=bar._start + 2.0)
    assert "500/1,000 draws" in line and "250 draws/s" in line and "0:02 left" in line
    shown = Progress(10, stream=stream, enabled=True)
    shown.update(10)
    shown.close()
    assert "10/10 draws" in stream.getvalue() and stream.getvalue().endswith("\n")


def test_sequential_sum_adds_rows_in_order():
    a = np.random.default_rng(9).normal(size=(20_000, 3)) * 1e6
    want = np.zeros(3)
    for row in a:
        want = want + row
    np.testing.assert_array_equal(R.sequential_sum(a, block=777), want)
    np.testing.assert_array_equal(R.sequential_sum(a[:, :1]), want[:1])


def test_statistics_over_many_exposures_go_block_by_block():
    rng = np.random.default_rng(10)
    n, x = 300, 37  # more exposures than one block of sorting
    share = (rng.random((n, x)) * (rng.random((n, x)) < 0.3)).astype(np.float32)
    first = np.where(share > 0.01, rng.integers(0, 12, (n, x)), -1).astype(np.int16)
    cols = {
        "shortage_share": share,
        "peak_share": share * 2,
        "shortage_t": share * 10,
        "months_short": (first >= 0) * 2,
        "first_short_month": first,
        "last_short_month": np.where(first >= 0, first + 1, -1),
        "stock_drawn_t": share,
        "price_index_peak": 1 + share,
        "price_index_mean": 1 + share,
        "shortage_value_usd": share * 5,
    }
    got = R.exposure_statistics(cols, np.full(x, 10.0), 24)
    s64 = share.astype(np.float64)
    np.testing.assert_allclose(got["share_p95"], np.quantile(s64, 0.95, axis=0), atol=1e-15)
    np.testing.assert_allclose(got["peak_share_p95"],
                               np.quantile((share * 2).astype(np.float64), 0.95, axis=0),
                               atol=1e-15)
    np.testing.assert_allclose(
        got["value_p95_usd"], np.quantile(s64 * 5, 0.95, axis=0) * 1, rtol=1e-6
    )
    med = [np.median(first[first[:, j] >= 0, j]) for j in range(x)]
    np.testing.assert_array_equal(got["survive_month_p50"], med)


def test_table_differences_name_columns_and_rows(tmp_path):
    from simcore.api import table_differences

    a = write(tmp_path / "a", draws=10, size=10)
    path = a.folder / "shortage.parquet"
    table = pq.read_table(path)
    values = table["peak_share"].to_numpy().copy()
    values[[2, 7]] += 0.25
    other = tmp_path / "other.parquet"
    column = table.column_names.index("peak_share")
    pq.write_table(table.set_column(column, "peak_share", [values]), other)
    assert table_differences(path, path) == []
    lines = table_differences(path, other)
    rows = table.num_rows
    assert lines == [f"column peak_share: 2 of {rows} rows differ, largest difference 0.25"]


def test_chunks_are_converted_a_block_of_draws_at_a_time_with_the_same_files(tmp_path,
                                                                             monkeypatch):
    from simcore.results import writer

    whole = write(tmp_path / "whole", draws=50, size=50, timeseries=True)
    monkeypatch.setattr(writer, "BLOCK_BYTES", 1)  # one draw at a time
    blocks = write(tmp_path / "blocks", draws=50, size=50, timeseries=True)
    assert blocks.manifest["digest"] == whole.manifest["digest"]


def test_chunk_draws_keep_a_chunk_within_its_memory():
    from simcore.runsize import CHUNK_BYTES, chunk_draws

    assert chunk_draws(2048, 452, 39, 66, 11, 24, holders=28) == 2048  # the partner study: 112 MiB
    wide = chunk_draws(2048, 2618, 175, 28, 2, 24)
    assert 400 < wide < 500 and wide * 2618 * 110 <= CHUNK_BYTES
    assert chunk_draws(2048, 452, 39, 66, 11, 24, timeseries=True) < 2048
    # a stockpile for every country and material of a wide study: the holders' bins count
    many = chunk_draws(2048, 2618, 175, 28, 2, 24, holders=200 * 50)
    assert many < wide / 2 and many * 200 * 50 * 24 * 4 <= CHUNK_BYTES
    assert chunk_draws(16, 10**7, 0, 0, 0, 24) == 1


def test_a_run_without_exposures_writes_empty_tables(tmp_path):
    """A scope whose materials nobody needs: no exposure, still every draw's drivers."""
    empty = R.Layout(
        materials=("gallium",), stages=("refining",), countries=("CHN",),
        material=np.zeros(0, np.int32), stage=np.zeros(0, np.int32),
        country=np.zeros(0, np.int32), need_t=np.zeros(0), price=np.zeros(0), horizon=H,
        var_names=("v",), event_ids=(), last_stage={"gallium": "refining"},
    )

    def chunk(a, b):
        n = b - a
        z = np.zeros((n, 0))
        fields = {name: z for name in (
            "shortage_t", "peak_share", "stock_drawn_t", "price_peak", "price_mean",
            "zone_price_peak", "zone_price_mean", *R.ACCOUNTING_COLUMNS)}
        return SimpleNamespace(
            start=a, stop=b, months_short=z, first_short=z, last_short=z,
            zone_choke_months=z, variates=np.ones((n, 1)), fired=np.zeros((n, 0), bool),
            onset=np.zeros((n, 0), np.int32), hist=np.zeros((0, H, R.HIST_BINS), np.int64),
            zone_hist=np.zeros((0, H, 1001), np.int64), series=None, **fields)

    with R.atomic_folder(tmp_path / "none") as staging:
        R.write_chunks(staging, empty, [chunk(0, 6), chunk(6, 10)], dict(PROV, draws=10), 10)
    res = R.load_result(tmp_path / "none")
    assert len(res.summary) == 0 and len(res.shortage) == 0 and len(res.drivers) == 10


def test_a_layout_without_price_zones_writes_no_exposure_prices(tmp_path):
    """Layout.from_exposures without zones (a hand-made layout): the exposures table has
    no zone, prices read back as NaN, nothing breaks."""
    bare = dataclasses.replace(
        LAYOUT, zone_labels=(), zone_material=np.zeros(0, np.int32),
        zone_stage=np.zeros(0, np.int32), zone_code=np.zeros(0, np.int32),
        zone_id=np.zeros(0, np.int64), zone_members=(), exposure_zone=np.zeros(0, np.int32))
    with R.atomic_folder(tmp_path / "bare") as staging:
        R.write_chunks(staging, bare, chunks(20, 8), dict(PROV, draws=20), 20)
    res = R.load_result(tmp_path / "bare")
    assert res.shortage["price_index_peak"].isna().all() and len(res.shortage) == 20 * X
    assert res.summary["price_peak_p50"].isna().all()
    assert res.table("exposures")["zone"].null_count == X


@pytest.mark.parametrize("text, says", [
    ("{not json", "the manifest is not valid JSON"),
    ("[]", "the manifest is not a JSON object"),
    ('{"draws": 5}', "format None is not"),
])
def test_a_damaged_manifest_says_how_to_recover(tmp_path, text, says):
    """A review found 'cannot read the manifest (Expecting value ...)' and 'format None
    is not ...' with no word on what to do."""
    write(tmp_path / "toy", draws=4)
    (tmp_path / "toy" / R.MANIFEST).write_text(text, "utf-8")
    with pytest.raises(ResultError) as err:
        R.load_result(tmp_path / "toy")
    assert says in str(err.value) and "run the scenario again" in str(err.value), str(err.value)


@pytest.mark.parametrize("value, says", [(-5.0, "holds -5, outside [0, 1]"),
                                         (7.0, "holds 7, outside [0, 1]"),
                                         (float("nan"), "holds NaN")])
def test_a_share_outside_zero_one_is_a_damaged_table_not_a_number_to_show(tmp_path, value,
                                                                           says):
    """A review set shortage_share to NaN, -5 or 7: compare showed a -3.8 % shortage and
    report wrote its page; only verify objected."""
    res = write(tmp_path / "toy", draws=20, size=20)
    path = res.folder / "shortage.parquet"
    table = pq.read_table(path)
    shares = table.column("shortage_share").to_numpy().copy()
    assert len(shares)
    shares[0] = value
    i = table.column_names.index("shortage_share")
    pq.write_table(table.set_column(i, "shortage_share", pa.array(shares, pa.float32())), path)
    with pytest.raises(ResultError) as err:
        R.load_result(res.folder).shortage  # noqa: B018 - reading is the test
    assert f"shortage_share {says}" in str(err.value) and "verify" in str(err.value)
    # compare reads the shares draw by draw, by its own path
    from simcore.results.perdraw import shares_per_draw

    with pytest.raises(ResultError) as err:
        shares_per_draw(R.load_result(res.folder), 20)
    assert f"shortage_share {says}" in str(err.value), str(err.value)


def test_a_staging_folder_that_cannot_be_made_leaves_no_folder_behind(tmp_path):
    """A review's 300-character scenario name: the file system refused the staging
    folder's name, and the --out folders made for it stayed behind, empty."""
    target = tmp_path / "new" / "deeper" / ("x" * 300)
    with pytest.raises(ResultError, match="cannot write results to"), \
            R.atomic_folder(target):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shell", [True, False], ids=["shell", "python"])
def test_the_watchdog_removes_what_a_run_that_ended_left(tmp_path, monkeypatch, shell):
    """The watchdog (a POSIX shell, or Python where there is none) sees its input end
    when the run's process ends, however it ends: the staging folder goes, files and
    all, then the folders made above the target while empty, deepest first; a folder
    that holds anything stays, and so do those above it."""
    from simcore.results import folders

    if not shell:
        monkeypatch.setattr(folders, "_SHELL", str(tmp_path / "no-shell-here"))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # rm and rmdir all the same
    assert folders._watchdog_command(tmp_path, [])[0] == (
        "/bin/sh" if shell else folders.sys.executable)
    made = tmp_path / "made"
    (made / "inner" / "-staging" / "sub").mkdir(parents=True)
    (made / "inner" / "-staging" / "sub" / "shortage.parquet").write_bytes(b"x")
    dog = folders._Watchdog(made / "inner" / "-staging", [made / "inner", made])
    dog.release()  # closes its input, as the end of the process does, and waits
    assert not made.exists()

    kept = tmp_path / "kept"
    (kept / "inner" / "stage").mkdir(parents=True)
    (kept / "other.txt").write_text("mine")
    dog = folders._Watchdog(kept / "inner" / "stage", [kept / "inner", kept])
    dog.release()
    assert sorted(p.name for p in kept.iterdir()) == ["other.txt"]

    gone = tmp_path / "gone"  # a staging folder already renamed into place: nothing to do
    dog = folders._Watchdog(gone, [])
    dog.release()
    assert not gone.exists() and (tmp_path / "kept" / "other.txt").exists()


def _shortage_rows_numpy(chunk, layout):
    """The shortage table's rows as NumPy picked them before the compiled pass
    (simcore/results/writer.py before binsums.shortage_rows): the reference."""
    from simcore.results.layout import baseline_value

    n, x = chunk.stop - chunk.start, layout.n_exposures
    stored = layout.stored_exposures
    need = layout.need_t[stored]

    def pick(values):
        return np.asarray(values).reshape(n, x)[:, stored]

    def share(values):
        return (pick(values).astype(np.float64, copy=False) / need).astype(np.float32)

    columns = {
        "shortage_share": share(chunk.shortage_t),
        "peak_share": pick(chunk.peak_share).astype(np.float32),
        "months_short": pick(chunk.months_short).astype(np.int16),
        "first_short_month": pick(chunk.first_short).astype(np.int16),
        "last_short_month": pick(chunk.last_short).astype(np.int16),
    }
    for name, stored_name in R.SHARES_OF_NEED:
        columns[stored_name] = share(getattr(chunk, name))
    keep = (columns["first_short_month"] >= 0) | (columns["last_short_month"] >= 0)
    for name, values in columns.items():
        if not name.endswith("_month"):
            keep |= values != baseline_value(name)
    rows = np.flatnonzero(keep.ravel())
    width = max(len(stored), 1)
    out = {"draw": chunk.start + rows // width, "exposure": stored[rows % width]}
    for name, values in columns.items():
        out[name] = values.ravel()[rows]
    return out


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 12), data=st.data())
def test_the_compiled_shortage_rows_are_numpys(n, data):
    """``shortage_chunk`` picks the stored rows in one compiled pass: the same rows, in
    the same order, with the same bits as NumPy's masks picked them, whatever the values
    (zeros of either sign, the baseline exactly, NaN, tiny shares that round to 0 in
    float32, months set without a shortage) and whichever buyers are stored as others."""
    from simcore.results.writer import shortage_chunk

    storage = np.array(data.draw(st.sampled_from([[0, 1, 2, 3, 4], [0, 0, 2, 3, 3],
                                                  [0, 1, 2, 3, 3]])), np.int32)
    layout = dataclasses.replace(LAYOUT, stored_as=storage)
    # every row at its baseline, then a few cells of some columns set to values that
    # are (or round to) the baseline or are not: most rows are kept or dropped by one
    # value, as in the engine's chunks
    chunk = SimpleNamespace(start=data.draw(st.integers(0, 100)))
    chunk.stop = chunk.start + n
    floats = ["shortage_t", "peak_share", *(name for name, _ in R.SHARES_OF_NEED)]
    for name in floats:
        setattr(chunk, name, np.zeros((n, X)))
    chunk.bought_t = np.tile(LAYOUT.need_t, (n, 1))
    for name, base in (("months_short", 0), ("first_short", -1), ("last_short", -1)):
        setattr(chunk, name, np.full((n, X), base, np.int16))
    special = [0.0, -0.0, 1.0, np.nan, 1e-50, 0.5, 2.0, 1.0 + 1e-12]
    # thirds, so that most quotients by the need round (a division done in float32
    # instead of float64 differs in the last bit there)
    values = st.one_of(st.sampled_from(special), st.floats(-1.0, 3.0, width=64),
                       st.floats(-1.0, 3.0, width=64).map(lambda v: v / 3.0))
    for _ in range(data.draw(st.integers(0, 3 * n))):
        name = data.draw(st.sampled_from([*floats, "months_short", "first_short",
                                          "last_short"]))
        j, x = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, X - 1))
        column = getattr(chunk, name)
        if column.dtype == np.int16:
            column[j, x] = data.draw(st.integers(-1, H - 1))
        else:  # quantities per unit of need, as the shares are stored
            per = 1.0 if name == "peak_share" else LAYOUT.need_t[x]
            column[j, x] = data.draw(values) * per
    want = _shortage_rows_numpy(chunk, layout)
    got = shortage_chunk(chunk, layout)
    assert got.num_rows == len(want["draw"])
    np.testing.assert_array_equal(got.column("draw").to_numpy(), want["draw"])
    for label, codes, names in (("material", layout.material, layout.materials),
                                ("country", layout.country, layout.countries)):
        assert got.column(label).cast(pa.string()).to_pylist() == [
            names[c] for c in codes[want["exposure"]]]
    for name in R.SHORTAGE_FILE_SCHEMA.names[4:]:
        column = got.column(name)
        if name.endswith("_month"):
            values = want[name]
            assert column.to_pylist() == [None if v < 0 else int(v) for v in values], name
        else:
            np.testing.assert_array_equal(  # the same bits: NaN where NaN, -0.0 kept
                column.to_numpy().view(np.uint32 if name != "months_short" else np.uint16),
                want[name].view(np.uint32 if name != "months_short" else np.uint16),
                err_msg=name)


def test_contiguous_copies_an_unaligned_array():
    """The compiled passes' arguments must be aligned too: the kernel's library checks
    it, and an unaligned chunk field (a buffer read at an odd offset) would otherwise
    fall back to Numba's dispatcher; ``contiguous`` copies it, and nothing else."""
    from simcore.results.statistics import contiguous

    raw = np.zeros(8 * 6 + 1, np.uint8)
    odd = np.ndarray((2, 3), np.float64, buffer=raw.data, offset=1)
    assert not odd.flags.aligned
    fixed = contiguous(odd, np.float64, (2, 3))
    assert fixed.flags.aligned and fixed.flags.c_contiguous and fixed.flags.writeable
    fine = np.zeros((2, 3))
    assert np.shares_memory(contiguous(fine, np.float64, (2, 3)), fine)  # no copy
