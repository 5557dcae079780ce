"""How long a run will take and how much it will write, estimated before it starts.

``supplyshock run`` refuses a run estimated above an hour or 10 GB unless ``--yes``
(docs/results.md, "Large runs"), and ``validate`` notes a scenario whose own ``draws``
make one. Imports numpy and the engine's ``exposures`` only (no numba, no pyarrow).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from simcore.limits import LARGE_RUN_BYTES, LARGE_RUN_SECONDS

# Conservative rates for estimating a run before it starts, about a third of those
# measured on the 2-core development machine (docs/results.md, "Large runs"): end to end
# 330,000-500,000 shortage rows per second and 3-6 million exposure-months per engine
# thread per second; about 2 bytes per shortage row (draw x exposure) in results format 4
# (2-3 in format 3, 9-17 in format 2).
_DRAWS_PER_S = 50_000  # per draw: sampling, the drivers row (a tiny study's whole rate)
_ROWS_PER_S = 300_000  # shortage rows written per second (Parquet and digest)
_EXPOSURE_MONTHS_PER_S = 3_000_000  # per engine thread
_SERIES_ROWS_PER_S = 1_500_000  # timeseries rows (draw x exposure x month) per second
# shortage.parquet (up to 8 bytes a row in formats 3 and 4) and the summary's spill file while
# the run lasts (8 bytes per row with a shortage)
_BYTES_PER_ROW = 16
_BYTES_PER_VARIATE = 8  # drivers.parquet: one float64 per variate and draw (incompressible)
_BYTES_PER_SERIES_ROW = 4  # timeseries.parquet: one float32 per draw, exposure and month


@dataclass(frozen=True)
class Estimate:
    """What a run will cost, estimated generously before it starts: ``seconds`` of wall
    time and ``bytes`` of Parquet files (docs/results.md, "Large runs")."""

    draws: int
    exposures: int
    seconds: float
    bytes: float

    @property
    def large(self) -> bool:
        """Longer than an hour or more than 10 GB: run only when asked for explicitly."""
        return self.seconds > LARGE_RUN_SECONDS or self.bytes > LARGE_RUN_BYTES

    def text(self) -> str:
        """``about 3 h 20 min and 12 GB``."""
        s = self.seconds
        if s >= 3600:
            when = f"{int(s // 3600):,} h {int(s % 3600 // 60)} min"
        elif s >= 60:
            when = f"{int(s // 60)} min"
        else:
            when = f"{max(1, round(s))} s"
        size = self.bytes
        for unit, div in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
            if size >= div:
                disk = f"{size / div:,.1f} {unit}"
                break
        else:
            disk = f"{size / 1e3:,.0f} kB"
        return f"about {when} and {disk}"


def estimate(tensor, compiled, draws=None, threads=None, timeseries=False) -> Estimate:
    """Time and disk of running ``compiled`` on ``tensor`` (draws x exposures x months at
    the conservative rates above, on ``threads`` engine threads, default: every core);
    ``draws`` defaults to the scenario's."""
    from simcore.engine import exposures

    c = compiled
    draws = int(c.draws if draws is None else draws)
    x = len(exposures(tensor, c))
    h = int(c.horizon)
    threads = max(1, int(threads or os.cpu_count() or 1))
    rows = draws * x
    seconds = (
        draws / _DRAWS_PER_S
        + rows / _ROWS_PER_S
        + rows * h / (_EXPOSURE_MONTHS_PER_S * threads)
    )
    size = rows * _BYTES_PER_ROW + draws * (len(c.var_name) * _BYTES_PER_VARIATE + 8)
    if timeseries:
        seconds += rows * h / _SERIES_ROWS_PER_S
        size += rows * h * _BYTES_PER_SERIES_ROW
    return Estimate(draws=draws, exposures=x, seconds=seconds, bytes=float(size))


CHUNK_BYTES = 128 * 2**20  # per-draw results a chunk may hold [bytes]

# Draws per chunk when none is given (simcore.api.default_chunk_size). The local engine's
# blocks: 1,024 draws of the partner study hold 47 MB of per-draw results, and three are
# in flight (one computed, one queued, one written); at 2,048 draws a 10,000-draw run paid
# 0.3-0.6 s more system time zeroing fresh pages (the sets in flight and the writer's
# temporaries, which no longer fit its thread's malloc heaps): 1,024 was 6 % faster end
# to end with 150 MB less peak memory, 512 no faster again (benchmarks/README.md, "Fifth
# session"). A distributed executor's tasks: 2,048 draws keep its per-task overhead near
# 1 % (docs/scaling.md, "Choosing the chunk size").
LOCAL_CHUNK_SIZE = 1024
TASK_CHUNK_SIZE = 2048


def chunk_draws(chunk_size: int, exposures: int, zones: int, variates: int, events: int,
                horizon: int, timeseries: bool = False, holders: int = 0) -> int:
    """Draws per chunk: ``chunk_size``, or fewer where its per-draw results
    (``ChunkResult``: 13 float64 and 3 int16 values per exposure, 2 float64 and an int16
    per zone, the variates and events; the kernel's two int16 histogram bins per zone and
    month, and per month of each of ``holders``, the (material, country) pairs that can
    hold a state stock; with ``timeseries`` a float32 per exposure and month) would exceed
    ``CHUNK_BYTES``. Results never depend on it (MODEL.md §6); the partner study's 2,048
    draws, with its 28 holders, take 112 MiB."""
    per_draw = (exposures * (13 * 8 + 3 * 2) + zones * (2 * 8 + 2) + variates * 8
                + events * (1 + 4) + (zones + holders) * horizon * 2 * 2
                + (exposures * horizon * 4 if timeseries else 0))
    return max(1, min(int(chunk_size), CHUNK_BYTES // max(per_draw, 1)))
