"""Time of ``supplyshock stockpile size`` on the partner study.

Sizes national stockpiles for the 11 partner economies of docs/baseline.md (USA AUS CAN
FRA DEU ITA IND JPN MEX KOR GBR) for every material of scenarios/partners-2026.toml,
target P95 <= 5 % of the horizon shortage share, and prints: the time of the sizing
(the searches, not the writing of the variant), the kernel runs and draws it took, and
two baselines measured in the same run:

- one run of the whole study at the same number of draws (engine.simulate): the sizing
  costs this many study runs;
- what a candidate would cost if each one loaded, compiled and prepared its scenario
  again (load_scenario + compile_scenario + engine.prepare), against what a candidate
  costs beyond its kernel run here (the Evaluator rescales arrays and scopes one
  material): the saving of not recompiling per candidate.

    NUMBA_CACHE_DIR=/tmp/numba-cache-$USER python benchmarks/bench_stockpile.py \\
        [--draws 1000] [--search-draws 200] [--holders USA,AUS,...] [--threads 2]

Defaults keep it near 5 minutes on the 2-core development machine (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ELEVEN = "USA,AUS,CAN,FRA,DEU,ITA,IND,JPN,MEX,KOR,GBR"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "partners-2026.toml"))
    ap.add_argument("--holders", default=ELEVEN)
    ap.add_argument("--target", default="p95<=0.05")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--search-draws", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--pool", action="store_true")
    args = ap.parse_args()

    import numba

    from simcore import api, engine
    from simcore.scenario import compile_scenario, load_scenario
    from simcore.stockpile import size

    threads = args.threads or numba.get_num_threads()
    prep = api.prepare(args.scenario)
    model = engine.prepare(prep.tensor, prep.compiled)
    engine.load_kernel(model)  # compile or load once, outside every timing

    t0 = time.perf_counter()
    for _ in engine.simulate(prep.tensor, prep.compiled, draws=args.draws, threads=threads):
        pass
    study_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    s = size(args.scenario, args.holders, args.target, draws=args.draws,
             search_draws=args.search_draws, threads=threads, pool=args.pool,
             progress=False)
    size_s = time.perf_counter() - t0

    # the cost of a candidate beyond its kernel run, here and with a recompilation
    p = s.problem
    k = p.materials[0]
    h = p.holders_of(k)[0]
    pid = p.placement(h, k).id
    n = 50
    t0 = time.perf_counter()
    for i in range(n):
        p.evaluator.sizes_arrays({pid: (1.0 + i, 1.0 + i)})
        p.evaluator.view(k)
    arrays_ms = 1e3 * (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    m = 5
    for _ in range(m):
        sc = load_scenario(Path(args.scenario), prep.tensor)
        engine.prepare(prep.tensor, compile_scenario(sc))
    recompile_ms = 1e3 * (time.perf_counter() - t0) / m

    pairs = len(p.pairs)
    ok = [r for r in s.rows if r["status"] == "ok"]
    width = sorted((r["ci_high"] - r["ci_low"]) / r["statistic"] for r in ok if r["statistic"])
    phases: dict = {}
    for r in s.trace:
        key = (r["phase"], r["draws"])
        phases[key] = phases.get(key, 0) + 1
    sized = sum(1 for r in s.rows if r["status"] == "ok")
    none = sum(1 for r in s.rows if r["status"] == "none needed")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]
    print(f"scenario {Path(args.scenario).name}: {len(p.holders)} holders x "
          f"{len(p.materials)} materials = {pairs} (holder, material) pairs with need "
          f"({len(p.no_need)} without); target {args.target}; {args.draws} draws "
          f"(search {args.search_draws}); {threads} threads; load average {load:.1f}")
    print(f"sizing: {size_s:.1f} s; {sized} pairs sized, {none} need none; "
          f"{s.runs:,} kernel runs of one material, {s.draws_run:,} draws simulated; "
          f"peak RSS {peak:.0f} MB")
    print(f"baseline: one run of the whole study at {args.draws} draws: {study_s:.2f} s "
          f"-> the sizing costs {size_s / study_s:.0f} study runs "
          f"({size_s / pairs:.2f} s per pair)")
    if width:
        print(f"95 % interval of the statistic at the recommendation, relative width: "
              f"median {100 * width[len(width) // 2]:.0f} %, largest {100 * width[-1]:.0f} %")
    print("evaluations by phase (draws): " + ", ".join(
        f"{ph} ({d}): {c}" for (ph, d), c in sorted(phases.items())))
    print(f"per candidate beyond its kernel run: {arrays_ms:.2f} ms (rescaled arrays); "
          f"recompiling the scenario instead: {recompile_ms:.0f} ms "
          f"(ratio {recompile_ms / max(arrays_ms, 1e-9):.0f}x)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
