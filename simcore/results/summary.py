"""The summary of each exposure, computed as the chunks stream by.

The statistics are those of :func:`simcore.results.statistics.exposure_statistics` over
the engine's values at the precision the shortage table of format 2 stored them
(float32), and come out the same, bit for bit, without holding every draw in memory or
reading a file back:

- means of values in draw order and counts are running totals, added row by row in draw
  order (what ``sequential_sum`` does);
- first and last short months are counted per month, so their medians are exact;
- quantiles, the expected shortfall and the means taken over sorted values need each
  exposure's values sorted. A draw's shortage share and its value are both increasing
  functions of its shortage [t], so one sort of the shortages gives both; the worst
  month's share (``peak_share``) is sorted on its own, for two quantiles. Only
  nonzero values are kept (a sorted column starts with its zeros, which add nothing to a
  running sum). They are kept per exposure in a :class:`Spill`: in memory up to
  ``SPILL_MEMORY`` bytes, beyond that in a file in the results' staging folder, read back
  a block of exposures at a time. An exposure stored as another (``Layout.stored_as``:
  a buyer of the same price zone, short in the same draws by the same share of need)
  is sorted by the permutation that sorts that one's shortages, where it does (checked:
  a sorted column is unique, so the statistics are the same bits), which leaves one
  sort per zone instead of one per buyer; that permutation is kept from the block that
  holds the zone's first buyer to the block that holds its last. Peak prices are kept
  per price zone, since an exposure's price is its zone's (docs/model.md §3.5).

Memory is then about ``SPILL_MEMORY`` plus one block (``BLOCK_VALUES`` values) plus one
exposure's sorted columns (about 40 bytes a draw) plus the permutations kept across
blocks (at most 33 MB at a million draws of the partner study), whatever the number of
draws.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from simcore.errors import ResultError
from simcore.results.layout import SUMMARY_COLUMNS, Layout
from simcore.results.statistics import TAIL, contiguous, quantile_sorted

# what is kept of each nonzero (draw, exposure): its shortage [t] and its worst month's
# share as the shortage table stores it
_SPILLED = np.dtype([("shortage", "<f8"), ("worst", "<f4")])
SPILL_MEMORY = 64 * 2**20  # [bytes] values a spill holds in memory before it uses a file
BLOCK_VALUES = 8 * 2**20  # values read back at a time (float64: 64 MiB)
_SORT_THREADS = max(1, min(4, os.cpu_count() or 1))  # threads sorting exposures at the end

# per-exposure columns summed in draw order -> summary column
_SUMS = (
    ("shortage_t", "shortage_mean_t"),
    ("stock_drawn_t", "stock_drawn_mean_t"),
    ("commercial_drawn_t", "commercial_drawn_mean_t"),
    ("substituted_t", "substituted_mean_t"),
    ("demand_given_up_t", "given_up_mean_t"),
    ("rationed_t", "rationed_mean_t"),
)


class Spill:
    """Values of ``columns`` columns, appended a chunk at a time (any number per column),
    read back a block of columns at a time in the order they came. A structured
    ``dtype``'s fields are kept apart (each chunk's values of one field after those of
    the previous one) and come back apart, each column of each field one array, read
    from the file straight into it."""

    def __init__(self, path: Path, columns: int, dtype, memory: int | None = None):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self._fields = self.dtype.names
        self._parts = ([self.dtype[f] for f in self._fields] if self._fields
                       else [self.dtype])
        self.totals = np.zeros(columns, dtype=np.int64)  # values per column
        self._memory = SPILL_MEMORY if memory is None else memory
        self._held: list[tuple] = []  # chunks in memory (a tuple of parts), until they outgrow it
        self._held_bytes = 0
        self._file = None
        # (where each part starts, where each column starts in it: counts' running sums)
        self._chunks: list[tuple[list[int], list[int]]] = []
        self._end = 0

    def append(self, values, counts: np.ndarray) -> None:
        """``values``: the chunk's values column after column, ``counts[j]`` of column j;
        for a structured dtype a mapping of each field to such an array."""
        parts = tuple(np.ascontiguousarray(values[f] if self._fields else values, dtype=d)
                      for f, d in zip(self._fields or (None,), self._parts, strict=True))
        counts = np.asarray(counts, dtype=np.int64)
        self.totals += counts
        starts = []
        for part in parts:
            starts.append(self._end)
            self._end += part.nbytes
        self._chunks.append((starts, [0, *np.cumsum(counts).tolist()]))
        chunks = [parts]
        if self._file is None:
            self._held.append(parts)
            self._held_bytes += sum(part.nbytes for part in parts)
            if self._held_bytes <= self._memory:
                return
            self._file = open(self.path, "w+b")  # noqa: SIM115 - closed in close()
            chunks, self._held = self._held, []
        for chunk in chunks:
            for part in chunk:
                self._file.write(memoryview(part))

    def read(self, first: int, stop: int):
        """The values of columns [first, stop), each over every chunk, in order: a list
        of arrays; for a structured dtype a dict of such lists, one per field."""
        if self._file is not None:
            self._file.flush()
        out = []
        for p, dtype in enumerate(self._parts):
            size = dtype.itemsize
            columns = [np.empty(int(c), dtype) for c in self.totals[first:stop].tolist()]
            views = [memoryview(column).cast("B") for column in columns]
            filled = [0] * (stop - first)
            for c, (starts, bounds) in enumerate(self._chunks):
                a, b = bounds[first], bounds[stop]
                if b == a:
                    continue
                into = []
                for j in range(stop - first):
                    n = (bounds[first + j + 1] - bounds[first + j]) * size
                    if n:
                        at = filled[j]
                        into.append(views[j][at : at + n])
                        filled[j] = at + n
                if self._file is None:
                    held = memoryview(self._held[c][p]).cast("B")
                    at = a * size
                    for piece in into:
                        piece[:] = held[at : at + len(piece)]
                        at += len(piece)
                else:
                    _read_into(self._file.fileno(), into, starts[p] + a * size,
                               (b - a) * size)
            out.append(columns)
        return dict(zip(self._fields, out, strict=True)) if self._fields else out[0]

    def close(self) -> None:
        """Drop the values and remove the file."""
        self._held = []
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


_IOV_MAX = 1024  # buffers one preadv takes (POSIX's least IOV_MAX is 16; Linux's 1024)
if hasattr(os, "sysconf"):
    try:
        _IOV_MAX = max(16, min(_IOV_MAX, os.sysconf("SC_IOV_MAX")))
    except (ValueError, OSError):
        pass


def _read_into(fd: int, views: list, offset: int, total: int) -> None:
    """Fill ``views`` (writable byte memoryviews, ``total`` bytes together) from the file
    at ``offset``, in order: one system call for many of them, without a buffer between
    (a read of a million-draw run's spill and the copies out of it were a third of the
    end of the run)."""
    got = os.preadv(fd, views, offset) if hasattr(os, "preadv") and len(views) <= _IOV_MAX \
        else 0
    if got != total:
        _read_into_from(fd, views, offset, got)


def _read_into_from(fd: int, views: list, offset: int, got: int) -> None:
    """``_read_into`` after its first ``got`` bytes (a read that stopped short)."""
    views = list(views)
    i = 0
    while True:
        offset += got
        while got and i < len(views):  # past what the last read filled
            if got >= len(views[i]):
                got -= len(views[i])
                i += 1
            else:
                views[i] = views[i][got:]
                got = 0
        if i == len(views):
            return
        if hasattr(os, "preadv"):
            got = os.preadv(fd, views[i : i + _IOV_MAX], offset)
        else:  # one at a time where there is no preadv (macOS before 11)
            data = os.pread(fd, len(views[i]), offset)
            views[i][: len(data)] = data
            got = len(data)
        if got <= 0:
            raise ResultError(f"the summary's spill file ended early at byte {offset}")


def _f32(values) -> np.ndarray:
    """As format 2 stored a column: float32."""
    return np.asarray(values, dtype=np.float32)


def _median_of_counts(counts: np.ndarray) -> np.ndarray:
    """``median_where`` from counts: ``counts[x, v]`` rows of column x hold value v.
    The median of the values present (mean of the two middle ones); NaN where none."""
    total = counts.sum(axis=1)
    cum = np.cumsum(counts, axis=1)
    out = np.full(counts.shape[0], np.nan)
    for x in np.flatnonzero(total):
        c = int(total[x])
        lo = int(np.argmax(cum[x] > (c - 1) // 2))
        hi = int(np.argmax(cum[x] > c // 2))
        out[x] = (float(lo) + float(hi)) / 2
    return out


# An exposure's column of n draws, sorted, is its nonzero values sorted after n - len(them)
# zeros (shortages are never negative). The statistics of exposure_statistics over that
# column, computed from the nonzero values alone and equal bit for bit: a running sum from
# 0.0 adds nothing until the first nonzero value, and an order statistic of the column is
# either a zero or a nonzero value (simcore/kernel/binsums.py, nonzero_statistics).


def _quantile_of_nonzero(nonzero_sorted: np.ndarray, n: int, q: float) -> float:
    """``quantile_sorted`` of the column of n values whose nonzero ones, sorted, are
    given (any float dtype; the arithmetic in float64)."""
    zeros = n - len(nonzero_sorted)
    h = (n - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, n - 1)
    a = np.float64(nonzero_sorted[lo - zeros]) if lo >= zeros else np.float64(0.0)
    b = np.float64(nonzero_sorted[hi - zeros]) if hi >= zeros else np.float64(0.0)
    return float(a + (b - a) * (h - lo))


def _quantiles_of_nonzero(nonzero: np.ndarray, n: int, qs) -> list[float]:
    """``_quantile_of_nonzero`` at each of ``qs`` from a column's values other than its
    ``n - len(values)`` zeros left out, in any order (they may hold zeros too), sorted in
    their own dtype (numpy sorts float32 in SIMD: faster than a partition here)."""
    s = np.sort(nonzero)
    return [_quantile_of_nonzero(s, n, q) for q in qs]


def _sorted_alone(values: np.ndarray) -> np.ndarray:
    """An exposure's nonzero shortages sorted on their own (not by its lead's order)."""
    return np.sort(values)


class ExposureSummary:
    """Accumulates the summary of each exposure from ``ChunkResult``s in draw order;
    :meth:`finish` gives float64[X] arrays named as in ``SUMMARY_COLUMNS``, equal to
    ``exposure_statistics`` of the same draws. ``folder``: where spill files may go."""

    def __init__(self, layout: Layout, folder: Path, spill_memory: int | None = None):
        if layout.n_zones and np.any(layout.exposure_zone < 0):
            raise ResultError("an exposure has no price zone; its price cannot be summarised")
        self.layout = layout
        x, h, g = layout.n_exposures, layout.horizon, layout.n_zones
        self.n = 0
        self._sums = np.zeros(len(_SUMS) * x + g)  # running sums, draw order
        self._months = np.zeros(x, dtype=np.int64)
        self._short = np.zeros(x, dtype=np.int64)
        self._unrecovered = np.zeros(x, dtype=np.int64)
        self._first = np.zeros((x, h), dtype=np.int64)  # counts of the first short month
        self._recover = np.zeros((x, h + 1), dtype=np.int64)  # counts of last month + 1
        tag = f"{os.getpid()}-{id(self):x}"
        self._shortage = Spill(Path(folder) / f".shortage-{tag}.spill", x, _SPILLED,
                               spill_memory)
        self._peak = Spill(Path(folder) / f".zone-peak-{tag}.spill", g, np.float32,
                           spill_memory)

    def add(self, chunk) -> None:
        layout = self.layout
        n = chunk.stop - chunk.start
        x, h = layout.n_exposures, layout.horizon
        shortage = contiguous(chunk.shortage_t, np.float64, (n, x))
        g = layout.zone_id
        zone_mean = np.asarray(chunk.zone_price_mean)[:, g] if len(g) else np.zeros((n, 0))
        # each sum strictly in draw order, as sequential_sum adds (simcore/kernel/binsums.py)
        from simcore._native import kernel_function

        add_rows_f32 = kernel_function("add_rows_f32")
        sums = self._sums
        for j, (col, _) in enumerate(_SUMS):
            values = contiguous(getattr(chunk, col), np.float64, (n, x))
            add_rows_f32(sums[j * x : (j + 1) * x], values)
        add_rows_f32(sums[len(_SUMS) * x :], contiguous(zone_mean, np.float64, (n, len(g))))
        # the counts, and the nonzero shortages by exposure, in two compiled passes over
        # the rows (NumPy's transposes, masks and bincounts took 0.1 s of the writer's
        # thread in a partner study of 10,000 draws)
        count_shortages = kernel_function("count_shortages")
        nonzero_by_exposure = kernel_function("nonzero_by_exposure")
        months, first, last = (contiguous(getattr(chunk, name), np.int16, (n, x))
                               for name in ("months_short", "first_short", "last_short"))
        nonzero = np.zeros(x, dtype=np.int64)
        bad = count_shortages(shortage, months, first, last, int(h), self._months,
                              self._short, self._unrecovered, self._first, self._recover,
                              nonzero)
        if bad:
            raise ResultError(
                f"draws [{chunk.start}, {chunk.stop}): {bad} rows have a first or last short "
                f"month outside months 0 .. {h - 1}, only one of the two, or the first after "
                f"the last: this is an error of the engine")
        # a draw's worst month is short iff the draw is (shortages are never negative);
        # where float32 rounds a tiny worst month to 0 the zero kept is still its value
        total = int(nonzero.sum())
        values, worst = np.empty(total), np.empty(total, np.float32)
        at = np.cumsum(nonzero) - nonzero  # where each exposure's values begin
        peak_share = contiguous(chunk.peak_share, np.float64, (n, x))
        nonzero_by_exposure(shortage, peak_share, at, values, worst)
        self._shortage.append({"shortage": values, "worst": worst}, nonzero)
        if len(g):
            peak = np.ascontiguousarray(_f32(np.asarray(chunk.zone_price_peak)[:, g]).T)
            self._peak.append(peak.ravel(), np.full(len(g), n))
        self.n += n

    def finish(self) -> dict[str, np.ndarray]:
        layout, n = self.layout, self.n
        if n == 0:
            raise ResultError("no draws to summarise")
        x, g = layout.n_exposures, layout.n_zones
        out: dict[str, np.ndarray] = {"need_t": np.asarray(layout.need_t, dtype=np.float64)}
        sums = self._sums / n
        for j, (_, name) in enumerate(_SUMS):
            out[name] = sums[j * x : (j + 1) * x]
        out["months_short_mean"] = self._months.astype(np.float64) / n
        out["prob_short"] = self._short / n
        out["survive_month_p50"] = _median_of_counts(self._first)
        out["recover_month_p50"] = _median_of_counts(self._recover)
        out["prob_unrecovered"] = self._unrecovered / n
        out.update(self._share_and_value())
        zone = self._zone_prices(self._sums[len(_SUMS) * x :])
        where = layout.exposure_zone if g else np.zeros(0, np.int64)
        for name, values in zone.items():
            out[name] = values[where] if g else np.full(x, np.nan)
        self.close()
        return {name: out[name] for name, _ in SUMMARY_COLUMNS}

    def _share_and_value(self) -> dict[str, np.ndarray]:
        layout, n = self.layout, self.n
        x = layout.n_exposures
        names = ("share_mean", "share_p5", "share_p50", "share_p95", "share_p99",
                 "share_es95", "peak_share_p50", "peak_share_p95", "prob_short_10pct",
                 "value_mean_usd", "value_p95_usd")
        out = {name: np.zeros(x) for name in names}
        tail = max(1, math.ceil(TAIL * n - 1e-9))  # the worst draws the shortfall averages

        from simcore._native import kernel_function
        from simcore.kernel import structs  # the slots of nonzero_statistics' output

        statistics = kernel_function("nonzero_statistics")
        share_and_value = (
            (structs.NZ_SHARE_MEAN, "share_mean"), (structs.NZ_SHARE_P5, "share_p5"),
            (structs.NZ_SHARE_P50, "share_p50"), (structs.NZ_SHARE_P95, "share_p95"),
            (structs.NZ_SHARE_P99, "share_p99"), (structs.NZ_SHARE_ES95, "share_es95"),
            (structs.NZ_PROB_10PCT, "prob_short_10pct"),
            (structs.NZ_VALUE_MEAN, "value_mean_usd"), (structs.NZ_VALUE_P95, "value_p95_usd"))
        need, price = layout.need_t.tolist(), np.asarray(layout.price, np.float64).tolist()
        n, tail = int(n), int(tail)  # the types the library's code was compiled for

        def exposure(e: int, s: np.ndarray, worst: np.ndarray) -> None:
            """``s``: e's nonzero shortages [t] sorted; ``worst``: its nonzero worst-month
            shares (float32, as stored), in any order."""
            found = np.empty(structs.N_NZ)
            # the statistics of the shares float32(s / need) and of the values
            # float32(s x price), both sorted with s (binsums.nonzero_statistics)
            statistics(np.ascontiguousarray(s, np.float64), n, tail, need[e], price[e], found)
            for slot, name in share_and_value:
                out[name][e] = found[slot]
            lead = int(storage[e])
            if lead != e and lead in worst_of and np.array_equal(worst, worst_of[lead]):
                # the same values as its lead's (as a zone's buyers' usually are): the same
                # quantiles, without a sort
                out["peak_share_p50"][e] = out["peak_share_p50"][lead]
                out["peak_share_p95"][e] = out["peak_share_p95"][lead]
            else:
                p50, p95 = _quantiles_of_nonzero(worst, n, (0.50, 0.95))
                out["peak_share_p50"][e], out["peak_share_p95"][e] = p50, p95

        storage = layout.storage
        # a lead's permutation and worst months, kept for its followers until the last
        # of them is done: a zone's buyers span up to 66 exposures of the partner study,
        # and at a million draws a block holds about 14 (each one sorting on its own
        # there made the end of the run 1.5 times as slow per draw as at 100,000)
        orders: dict[int, np.ndarray] = {}
        worst_of: dict[int, np.ndarray] = {}
        last_follower = {int(r): e for e, r in enumerate(storage.tolist()) if r != e}

        def leads(first: int, es: list, columns: list, worsts: list) -> None:
            """Exposures others are stored as: sorted by a permutation kept for them."""
            for e in es:
                values = columns[e - first]
                orders[e] = order = np.argsort(values, kind="stable")
                exposure(e, values[order], worsts[e - first])
                worst_of[e] = worsts[e - first]

        def rest(first: int, es: list, columns: list, worsts: list) -> None:
            """The others: an exposure stored as another has its shortages in the same
            draws, in the same order (docs/results.md, format 4), so that exposure's
            permutation sorts them too; taken only where it does (the sorted column is
            unique, so the statistics are the same bits), else sorted."""
            for e in es:
                values = columns[e - first]
                order = orders.get(int(storage[e]))
                s = None
                if order is not None and len(order) == len(values):
                    s = values[order]
                    if len(s) > 1 and not bool(np.all(s[1:] >= s[:-1])):
                        s = None
                exposure(e, _sorted_alone(values) if s is None else s, worsts[e - first])

        # exposures are independent and numpy's sort and cumsum let go of the GIL: the
        # cores share them (the end of a run, when the engine is done), a few runs of
        # exposures of about equal size per thread (a task per exposure cost more in
        # handing out than a small run's sorts: 0.14 s for 452 exposures of 10,000 draws)
        totals = self._shortage.totals
        with ThreadPoolExecutor(max_workers=_SORT_THREADS,
                                thread_name_prefix="supplyshock-summary") as pool:
            for first, stop in _blocks(totals):
                kept = self._shortage.read(first, stop)
                columns, worsts = kept["shortage"], kept["worst"]
                lead = [e for e in range(first, stop) if e in last_follower]
                shared = set(lead)
                others = [e for e in range(first, stop) if e not in shared]
                for work, es in ((leads, lead), (rest, others)):
                    cuts = _even_cuts(totals[es], 4 * _SORT_THREADS)
                    tasks = [pool.submit(work, first, es[lo:hi], columns, worsts)
                             for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
                    try:
                        for task in tasks:
                            task.result()
                    finally:  # after a failure (or an interrupt), start no more of them
                        for task in tasks:
                            task.cancel()
                for e in [e for e in orders if last_follower[e] < stop]:
                    del orders[e], worst_of[e]
                del kept, columns, worsts, tasks
        return out

    def _zone_prices(self, mean_sums: np.ndarray) -> dict[str, np.ndarray]:
        g = self.layout.n_zones
        out = {"price_peak_p50": np.zeros(g), "price_peak_p95": np.zeros(g),
               "price_mean_mean": mean_sums / self.n}
        for first, stop in _blocks(self._peak.totals):
            for j, values in enumerate(self._peak.read(first, stop)):
                s = np.sort(values.astype(np.float64))[:, None]
                out["price_peak_p50"][first + j] = quantile_sorted(s, 0.5)[0]
                out["price_peak_p95"][first + j] = quantile_sorted(s, 0.95)[0]
        return out

    def close(self) -> None:
        """Drop what is held and remove the spill files (also after an error)."""
        self._shortage.close()
        self._peak.close()


def _even_cuts(sizes: np.ndarray, parts: int) -> list[int]:
    """Cut points 0 = c0 < c1 < ... = len(sizes) into at most ``parts`` runs of about
    equal total size (each exposure counted as at least one value)."""
    n = len(sizes)
    if n == 0:
        return [0]
    ends = np.cumsum(np.maximum(np.asarray(sizes, dtype=np.int64), 1))
    marks = ends[-1] * np.arange(1, parts) / parts
    inner = np.searchsorted(ends, marks, side="left") + 1
    return sorted({0, n, *(int(c) for c in inner if 0 < c < n)})


def _blocks(totals: np.ndarray):
    """Consecutive column ranges [first, stop) of about ``BLOCK_VALUES`` values each."""
    first, held = 0, 0
    for j, count in enumerate(totals.tolist()):
        if held and held + count > BLOCK_VALUES:
            yield first, j
            first, held = j, 0
        held += count
    if first < len(totals):
        yield first, len(totals)
