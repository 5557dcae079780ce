"""Peak memory of a run is bounded by the chunk size, not by the draws; the summary's
time grows with the draws, not faster.

Runs a scenario (default: the partner study, ``scenarios/partners-2026.toml``, 452
exposures) with each of ``--draws`` (default 10,000, 200,000 and 1,000,000), each in a
fresh process with ``--timeseries`` off, and prints for each: the peak resident memory,
the wall and CPU time, the time of the end of the run (summary, monthly and price
tables, manifest: ``ResultWriter.finish``) per million draws, the files and the largest
temporary spill file (exposures' nonzero shortages kept aside for the summary's
quantiles, in the staging folder, removed at the end), and the ratios to the smallest
run. The target: under 2 GB at 1,000,000 draws, and the finishing time linear in draws.

``--gallium`` runs the former one-material case instead (China's gallium restriction on
the built-in baseline, a handful of exposures).

What grows with the draws: the Parquet files, the spill file (8 bytes per nonzero
shortage) and the manifest's nothing; in memory, only the spill's index (a few bytes per
chunk and exposure). Everything else streams chunk by chunk: the engine's chunk (at most
``simcore.runsize.CHUNK_BYTES`` of results), the one the writer converts beside it, the
histograms, row groups of 16 MiB.

    python benchmarks/bench_memory.py [--draws 10000,200000,1000000] [--scenario PATH]
                                      [--gallium] [--chunk-size C]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GALLIUM = """\
[scenario]
name = "bench-gallium"
horizon_months = 24
draws = 1000
seed = 1

[[events]]
id = "cn-ga"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
probability = 0.8
onset_month = { dist = "uniform", min = 0, max = 12 }
duration_months = { dist = "triangular", min = 3, mode = 12, max = 30 }
severity = { dist = "uniform", min = 0.5, max = 1.0 }
leakage = { dist = "beta", a = 2, b = 8 }
"""

CHILD = """\
import json, os, resource, sys, threading, time
t0 = time.perf_counter()
from simcore import api
from simcore.results import writer
if len(sys.argv) > 5:  # the writer of an earlier commit (--compare-commit)
    import importlib.util
    spec = importlib.util.spec_from_file_location("old_results", sys.argv[5])
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_results"] = old
    spec.loader.exec_module(old)
    import simcore.results as results  # (api.execute imports these names from it)
    results.Layout, results.write_chunks, results.FORMAT = (old.Layout, old.write_chunks,
                                                            old.FORMAT)
    writer.ResultWriter = old.ResultWriter
spill = {"bytes": 0}
finish = {}
original = writer.ResultWriter.finish

def timed_finish(self):
    for p in self.folder.glob(".*.spill"):
        spill["bytes"] = max(spill["bytes"], p.stat().st_size)
    t = time.perf_counter()
    try:
        return original(self)
    finally:
        finish["s"] = time.perf_counter() - t

writer.ResultWriter.finish = timed_finish
prep = api.prepare(sys.argv[1])
res = api.execute(prep, draws=int(sys.argv[2]), chunk_size=int(sys.argv[3]) or None,
                  out=sys.argv[4], progress=False)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"draws": res.manifest["draws"], "exposures": res.manifest["exposures"],
                  "peak_mb": usage.ru_maxrss / 1024, "wall_s": time.perf_counter() - t0,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "finish_s": finish["s"],
                  "spill_mb": spill["bytes"] / 2**20}))
"""


def measure(scenario: Path, draws: int, chunk_size: int, out: Path,
            old_writer: Path | None = None) -> dict:
    argv = [sys.executable, "-c", CHILD, str(scenario), str(draws), str(chunk_size), str(out)]
    proc = subprocess.run(argv + ([str(old_writer)] if old_writer else []),
                          capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"run of {draws} draws failed:\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    got["files_mb"] = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    shortage = out / "shortage.parquet"
    got["bytes_per_row"] = shortage.stat().st_size / (draws * got["exposures"])
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", default="10000,200000,1000000",
                        help="comma-separated draws of each run, smallest first")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "partners-2026.toml")
    parser.add_argument("--gallium", action="store_true",
                        help="the one-material gallium scenario instead")
    parser.add_argument("--chunk-size", type=int, default=0,
                        help="draws per chunk (default: the library's, 1024 locally)")
    parser.add_argument("--compare-commit", metavar="COMMIT", default=None,
                        help="also run each size with the results writer of COMMIT (its "
                        "simcore/results.py, read with git show; e.g. 2a75ded, format 2)")
    args = parser.parse_args()
    draws_list = [int(d) for d in args.draws.split(",")]
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-bench"))
    with tempfile.TemporaryDirectory() as tmp:
        scenario = args.scenario
        if args.gallium:
            scenario = Path(tmp) / "bench-gallium.toml"
            scenario.write_text(GALLIUM)
        measure(scenario, 100, args.chunk_size, Path(tmp) / "warm")  # compile / fill caches
        old_writer = None
        if args.compare_commit:
            old_writer = Path(tmp) / "old_results.py"
            old_writer.write_text(subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{args.compare_commit}:simcore/results.py"],
                capture_output=True, text=True, check=True).stdout)
        rows = []
        for draws in draws_list:
            if old_writer is not None:
                got = measure(scenario, draws, args.chunk_size, Path(tmp) / f"o{draws}",
                              old_writer)
                print(f"{draws:>10,} draws, writer of {args.compare_commit}: peak RSS "
                      f"{got['peak_mb']:8.1f} MB, run {got['wall_s']:7.1f} s (CPU "
                      f"{got['cpu_s']:7.1f} s), finish {got['finish_s']:6.2f} s, files "
                      f"{got['files_mb']:7.1f} MB ({got['bytes_per_row']:.2f} bytes per "
                      f"shortage row)", flush=True)
                shutil.rmtree(Path(tmp) / f"o{draws}")
            got = measure(scenario, draws, args.chunk_size, Path(tmp) / f"r{draws}")
            rows.append(got)
            print(f"{draws:>10,} draws x {got['exposures']} exposures: peak RSS "
                  f"{got['peak_mb']:8.1f} MB, run {got['wall_s']:7.1f} s (CPU "
                  f"{got['cpu_s']:7.1f} s), finish {got['finish_s']:6.2f} s "
                  f"({got['finish_s'] / draws * 1e6:6.1f} s per million draws), files "
                  f"{got['files_mb']:7.1f} MB ({got['bytes_per_row']:.2f} bytes per shortage "
                  f"row), spill {got['spill_mb']:7.1f} MB", flush=True)
    small = rows[0]
    for got in rows[1:]:
        k = got["draws"] / small["draws"]
        print(f"{got['draws']:,} / {small['draws']:,} draws ({k:.0f}x): peak memory "
              f"{got['peak_mb'] / small['peak_mb']:.2f}x, finish time "
              f"{got['finish_s'] / small['finish_s']:.1f}x, run time "
              f"{got['wall_s'] / small['wall_s']:.1f}x")
    big = rows[-1]
    verdict = "OK" if big["peak_mb"] < 2048 else "OVER"
    print(f"{verdict}: {big['peak_mb']:.0f} MB at {big['draws']:,} draws (target < 2048 MB)")


if __name__ == "__main__":
    main()
