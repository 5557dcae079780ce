"""Engine speed against the plain reference model, on the shipped baseline.

Runs, in one process, the Numba engine (simcore.engine.simulate) and the Python/NumPy
reference (tests/reference_model.py) on the same scenario, and prints draws/s of each,
their ratio, the largest difference between their per-draw results, the peak memory of
the process, and (in fresh subprocesses) the first-compile time with an empty Numba cache
and the start time with a warm cache.

    NUMBA_CACHE_DIR=/tmp/numba-cache-$USER python benchmarks/bench_engine.py \
        [--scenario scenarios/partners-2026.toml] [--draws 20000] [--ref-draws 20]

Targets (docs in benchmarks/README.md): >= 2,000 draws/s end to end and >= 50x the
reference, first compile < 30 s, cached start < 3 s, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

START_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from simcore import engine
from simcore.dataset import load_dataset
from simcore.scenario import compile_scenario, load_scenario
scenario = load_scenario({path!r})
compiled = compile_scenario(scenario)
t1 = time.perf_counter()
for chunk in engine.simulate(scenario.tensor, compiled, draws=8):
    pass
t2 = time.perf_counter()
print(f"{{t2 - t0:.3f}} {{t2 - t1:.3f}}")
"""


def timed_start(path: str, cache_dir: str) -> tuple[float, float]:
    """(import + load + first simulate, first simulate alone) [s] in a fresh process."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", START_SNIPPET.format(path=path)], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    total, sim = (float(v) for v in out.stdout.split()[-2:])
    return total, sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "partners-2026.toml"))
    ap.add_argument("--draws", type=int, default=20000)
    ap.add_argument("--ref-draws", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--skip-compile", action="store_true",
                    help="skip the first-compile subprocess (slow)")
    args = ap.parse_args()

    from reference_model import simulate_reference

    from simcore import engine
    from simcore.scenario import compile_scenario, load_scenario

    scenario = load_scenario(args.scenario)
    compiled = compile_scenario(scenario)
    tensor = scenario.tensor
    ex = engine.exposures(tensor, compiled)
    print(f"scenario {compiled.name}: {compiled.n_events} events, "
          f"{int(compiled.material_scope.sum())} materials, horizon {compiled.horizon} months, "
          f"{len(tensor.countries)} countries, {len(ex)} exposures, {compiled.n_variates} variates")

    # engine: compile outside the timing, then end to end (ChunkResults included)
    list(engine.simulate(tensor, compiled, draws=16, threads=args.threads))
    t0 = time.perf_counter()
    c0 = time.process_time()
    first = None
    for chunk in engine.simulate(tensor, compiled, draws=args.draws, threads=args.threads,
                                 chunk_size=args.chunk_size):
        if first is None:
            first = chunk
    eng_s = time.perf_counter() - t0
    eng_cpu = time.process_time() - c0
    eng_rate = args.draws / eng_s
    threads = args.threads or engine.default_threads()
    print(f"engine:    {args.draws} draws in {eng_s:.2f} s = {eng_rate:,.0f} draws/s "
          f"({threads} threads); {args.draws / eng_cpu:,.0f} draws per CPU second "
          "(what one idle core gives; the wall rate suffers when other work shares the cores)")

    n_ref = min(args.ref_draws, first.variates.shape[0])
    t0 = time.perf_counter()
    ref = simulate_reference(tensor, compiled, first.variates[:n_ref])
    ref_s = time.perf_counter() - t0
    ref_rate = n_ref / ref_s
    print(f"reference: {n_ref} draws in {ref_s:.2f} s = {ref_rate:,.3f} draws/s")
    print(f"ratio engine / reference: {eng_rate / ref_rate:,.0f}x")
    worst = 0.0
    for f in ("shortage_t", "stock_drawn_t", "price_peak", "price_mean", "peak_share"):
        a, b = getattr(first, f)[:n_ref], ref[f]
        worst = max(worst, float(np.max(np.abs(a - b) / (1e-9 + np.abs(b)), initial=0.0)))
    print(f"largest relative difference engine vs reference on those draws: {worst:.1e}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mb:,.0f} MB")

    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not args.skip_compile:
        with tempfile.TemporaryDirectory() as empty:
            total, sim = timed_start(args.scenario, empty)
            print(f"first start, empty numba cache: {total:.1f} s "
                  f"(of it first simulate call: {sim:.1f} s)")
            total, sim = timed_start(args.scenario, empty)
            print(f"cached start: {total:.2f} s (of it first simulate call: {sim:.2f} s)")
    elif cache:
        total, sim = timed_start(args.scenario, cache)
        print(f"cached start: {total:.2f} s (of it first simulate call: {sim:.2f} s)")


if __name__ == "__main__":
    main()
