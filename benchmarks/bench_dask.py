"""Draws per second on Dask against the local engine, measured in the same run, and the
cost of one task, from which the default chunk size is chosen.

1. Throughput: one scenario, the same draws and seed, run end to end (engine, Parquet,
   digest) four ways: the local engine on every core (the baseline), the local engine on
   one thread, a local Dask cluster of 1 worker with every core, and of W workers with
   cores / W threads each, taking turns, best of 3. Prints draws/s, the ratio to the
   baseline, and checks that every run has the baseline's digest. Cluster start and the
   workers' first kernel load are timed apart (a warm-up run), since an overnight run
   pays them once.
2. Task overhead: the same draws cut into ranges of 16 ... 1024 draws, chunks made and
   discarded, by the local engine on one thread and by W workers of one thread; then
   tasks of a single draw, whose time is almost all overhead: what Dask adds to a task
   is their cost minus that of the same engine call made locally. The chunk size at
   which it is 1 % of a task's work is the smallest sensible default.
3. Wire sizes: the pickled model each worker receives once, and the bytes of a chunk.

    python benchmarks/bench_dask.py [--scenario scenarios/partners-2026.toml]
        [--draws 8192] [--chunk-size 2048] [--workers 2] [--repeats 3]
        [--part all|throughput|overhead]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def end_to_end(prep, draws, seed, chunk_size, threads=None, executor=None):
    from simcore import api

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = api.execute(
            prep,
            draws=draws,
            seed=seed,
            threads=threads,
            chunk_size=chunk_size,
            progress=False,
            out=Path(tmp) / prep.name,
            executor=executor,
        )
        wall = time.perf_counter() - start
        return wall, result.manifest["digest"]["sha256"]


def chunks_only(ex, prep, draws, seed, chunk_size) -> float:
    start = time.perf_counter()
    n = 0
    for chunk in ex(prep.tensor, prep.compiled, draws=draws, seed=seed, chunk_size=chunk_size):
        n += chunk.stop - chunk.start
    assert n == draws
    return time.perf_counter() - start


def engine_only(model, draws, seed, chunk_size) -> float:
    from simcore.engine import run_block

    start = time.perf_counter()
    for s in range(0, draws, chunk_size):
        run_block(model, seed, s, min(chunk_size, draws - s), threads=1)
    return time.perf_counter() - start


def chunk_bytes(chunk) -> int:
    return sum(
        getattr(chunk, f).nbytes
        for f in chunk.__dataclass_fields__
        if isinstance(getattr(chunk, f), np.ndarray)
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "partners-2026.toml"))
    parser.add_argument("--draws", type=int, default=8192)
    parser.add_argument("--chunk-size", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--part", choices=["all", "throughput", "overhead"], default="all")
    args = parser.parse_args(argv)

    from simcore import api
    from simcore.dask_executor import DaskExecutor, pack_histogram
    from simcore.engine import ChunkResult, prepare, run_block

    cores = os.cpu_count() or 1
    w = args.workers
    prep = api.prepare(args.scenario)
    draws, seed, cs = args.draws, args.seed, args.chunk_size
    print(
        f"scenario {prep.name}: {draws:,} draws, chunk size {cs}, {cores} cores, "
        f"python {sys.version.split()[0]}"
    )

    # --- 3. wire sizes (printed last; measured first, they need no cluster) ------------
    model_bytes = len(pickle.dumps(prepare(prep.tensor, prep.compiled), protocol=5))
    # a chunk as a worker sends it (run_block: the rows' histogram whole, not by zone)
    one = ChunkResult(start=0, stop=cs, **run_block(prepare(prep.tensor, prep.compiled), seed,
                                                    0, cs))
    per_chunk = chunk_bytes(one)
    hist_bytes = one.hist.nbytes
    packed = pack_histogram(one)
    packed_bytes = chunk_bytes(packed[0]) + packed[2].nbytes + packed[3].nbytes

    runs = []
    if args.part in ("throughput", "all"):
        # --- 1. throughput, end to end ------------------------------------------------------
        # Both clusters stay up and the four ways take turns, best of --repeats each, so
        # that a burst of other work on the machine does not favour one of them.
        end_to_end(prep, min(draws, 2 * cs), seed, cs)  # warm the kernel in this process
        configs = [
            ("local engine, all cores", f"{cores} threads", None, None),
            ("local engine, 1 thread", "1 thread", 1, None),
        ]
        startup = {}
        with contextlib.ExitStack() as stack:
            for n_workers, threads in ((1, cores), (w, max(1, cores // w))):
                t = time.perf_counter()
                ex = stack.enter_context(
                    DaskExecutor(workers=n_workers, threads_per_worker=threads)
                )
                end_to_end(prep, 2 * cs * n_workers, seed, cs, executor=ex)  # first kernel load
                startup[n_workers] = time.perf_counter() - t
                label = f"dask, {n_workers} worker{'s' * (n_workers > 1)}"
                configs.append((label, f"{threads} threads each", None, ex))
            best: dict[str, tuple[float, str]] = {}
            for _ in range(args.repeats):
                for label, _threads, threads, ex in configs:
                    wall, digest = end_to_end(prep, draws, seed, cs, threads=threads, executor=ex)
                    if label not in best or wall < best[label][0]:
                        best[label] = (wall, digest)
        runs = [(label, t, *best[label]) for label, t, _, _ in configs]
        base_digest = runs[0][3]
        print("\nthroughput, end to end (engine + Parquet + digest), same draws and seed:")
        base = draws / runs[0][2]
        for label, threads, wall, digest in runs:
            rate = draws / wall
            same = "same digest" if digest == base_digest else "DIGEST DIFFERS"
            print(
                f"  {label:<26} {threads:<16} {rate:>9,.0f} draws/s  x{rate / base:5.2f}  "
                f"({wall:6.2f} s, {same})"
            )
        for n_workers, s in startup.items():
            print(f"  cluster of {n_workers} started, kernel loaded, in {s:.1f} s (paid once)")

    if args.part in ("overhead", "all"):
        # --- 2. overhead per task ----------------------------------------------------------
        sweep_draws = min(draws, 4096)
        sizes = [s for s in (16, 64, 256, 1024) if sweep_draws // s >= 2 * w]
        print(
            f"\ntask overhead: {sweep_draws:,} draws cut into ranges, chunks made and "
            f"discarded; the local engine on 1 thread against {w} workers x 1 thread:"
        )
        model = prepare(prep.tensor, prep.compiled)
        tiny = 64 * w  # tasks of one draw: what a task costs beyond its draws
        with DaskExecutor(workers=w, threads_per_worker=1) as ex:
            chunks_only(ex, prep, 2 * w * 64, seed, 64)  # warm every worker
            for size in sizes:
                tasks = -(-sweep_draws // size)
                local = wall = float("inf")
                for _ in range(args.repeats):  # alternating, best of each
                    local = min(local, engine_only(model, sweep_draws, seed, size))
                    wall = min(wall, chunks_only(ex, prep, sweep_draws, seed, size))
                print(
                    f"  chunk {size:>5}: {tasks:>4} tasks  local {sweep_draws / local:>6,.0f} "
                    f"draws/s   dask {sweep_draws / wall:>6,.0f} draws/s  x{local / wall:4.2f}"
                )
            local1 = wall1 = float("inf")
            for _ in range(args.repeats):
                local1 = min(local1, engine_only(model, tiny, seed, 1))
                wall1 = min(wall1, chunks_only(ex, prep, tiny, seed, 1))
        per_draw = local / sweep_draws  # one thread, the largest chunks
        per_call = local1 / tiny  # one engine call of one draw, in this process
        per_task = wall1 * w / tiny  # one task of one draw, in a worker's time
        extra = max(per_task - per_call, 0.0)
        print(
            f"  {tiny} tasks of 1 draw: {1e3 * per_task:.1f} ms of a worker's time each, "
            f"against {1e3 * per_call:.1f} ms for the same engine call here: Dask adds "
            f"{1e3 * extra:.1f} ms a task (scheduling, sending the chunk back)"
        )
        if per_draw > 0:
            print(
                f"  a draw costs {1e3 * per_draw:.2f} ms of one thread: the task cost is 1 % "
                f"of a task's work from {extra / (0.01 * per_draw):,.0f} draws per chunk, "
                f"{100 * extra / (cs * per_draw):.2f} % at chunk size {cs}"
            )

    print("\nwire sizes:")
    print(f"  model sent once to each worker per scenario: {model_bytes / 1e3:,.0f} kB")
    print(
        f"  one chunk of {cs} draws back to the client: {packed_bytes / 1e6:,.2f} MB "
        f"({per_chunk / 1e6:,.2f} MB in memory, {hist_bytes / 1e6:,.2f} MB of it the "
        f"monthly histogram, which travels as its nonzero bins only)"
    )
    bad = [r for r in runs if r[3] != runs[0][3]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
