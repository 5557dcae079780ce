"""Peak memory of `supplyshock run` is bounded by the chunk size, not by the draws.

Runs a one-material scenario (China's gallium restriction on the built-in baseline)
with 10,000 and with 1,000,000 draws, each in a fresh process, and prints the peak
resident memory of both and their ratio. The target: under 2 GB at 1,000,000 draws.

What still grows with the draws: the summary needs the stored shortage share of every
(draw, exposure) once, as float32, to take exact quantiles (4 bytes x draws x
exposures, read back one column at a time); everything else (Parquet row groups,
drivers, histograms) streams chunk by chunk.

    python benchmarks/bench_memory.py [--draws 1000000] [--small 10000] [--chunk-size 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """\
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
import json, resource, sys, time
import simcore
t = time.perf_counter()
res = simcore.run(sys.argv[1], draws=int(sys.argv[2]), chunk_size=int(sys.argv[3]),
                  out=sys.argv[4], progress=False)
wall = time.perf_counter() - t
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(json.dumps({"draws": res.manifest["draws"], "exposures": res.manifest["exposures"],
                  "peak_mb": peak_mb, "wall_s": wall}))
"""


def measure(scenario: Path, draws: int, chunk_size: int, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(scenario), str(draws), str(chunk_size), str(out)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"run of {draws} draws failed:\n{proc.stderr}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    got["files_mb"] = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=2048)
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-bench"))
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "bench-gallium.toml"
        scenario.write_text(SCENARIO)
        measure(scenario, 100, args.chunk_size, Path(tmp) / "warm")  # compile / fill caches
        rows = []
        for draws in (args.small, args.draws):
            t = time.perf_counter()
            got = measure(scenario, draws, args.chunk_size, Path(tmp) / f"r{draws}")
            got["total_s"] = time.perf_counter() - t
            rows.append(got)
            print(f"{draws:>10,} draws x {got['exposures']} exposures: peak RSS "
                  f"{got['peak_mb']:8.1f} MB, run {got['wall_s']:7.1f} s, "
                  f"files {got['files_mb']:7.1f} MB", flush=True)
    small, big = rows
    ratio = big["peak_mb"] / small["peak_mb"]
    print(f"peak memory ratio {args.draws:,} / {args.small:,} draws: {ratio:.2f} "
          f"(draws ratio {args.draws / args.small:.0f})")
    verdict = "OK" if big["peak_mb"] < 2048 else "OVER"
    print(f"{verdict}: {big['peak_mb']:.0f} MB at {args.draws:,} draws (target < 2048 MB)")


if __name__ == "__main__":
    main()
