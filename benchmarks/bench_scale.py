"""A run at scale, and what one allocation costs as the number of importer classes grows.

1. Generates the synthetic dataset of benchmarks/synthetic.py (200 countries, 50
   materials, from ``--seed``), checks it as ``supplyshock data validate`` does, and runs
   its scenario for ``--draws`` draws (default 1,000) in a fresh process, after a warm-up
   run that loads (or compiles) the kernel: wall time, process CPU time, peak resident
   memory, files. Targets: under 30 s and under 1 GB. For scale, the same in the same run
   for the shipped partner study (``scenarios/partners-2026.toml``).
2. The zone market's clearing (``clear_zones`` in simcore/kernel/market.py, not changed
   here) through its Python entry ``allocate()``'s linear special case: one exporter class
   per producer (``--exporters``, default 8, the largest with half the supply) and one zone
   per importer class, routes capped at random (a quarter of them, like restricted
   routes), for 1 ... 256 importer classes; microseconds per problem (the call into the
   compiled function, arrays prepared beforehand), best of ``--repeat``. Up to
   ``GALE_MAX_ZONES`` zones the filling checks every set of zones (2^zones sets); beyond
   it, Newton steps on max-flow min cuts.

    NUMBA_CACHE_DIR=/tmp/numba-cache-$USER python benchmarks/bench_scale.py \\
        [--draws 1000] [--seed 1] [--skip-run] [--skip-allocation]
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

CHILD = """\
import json, resource, sys, time
t0 = time.perf_counter()
import simcore
from simcore import api
prep = api.prepare(sys.argv[1])
res = api.execute(prep, draws=int(sys.argv[2]), out=sys.argv[3], progress=False)
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"draws": res.manifest["draws"], "exposures": res.manifest["exposures"],
                  "zones": len(res.manifest["zones"]), "wall": wall,
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}))
"""


def run(scenario: Path, draws: int, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(scenario), str(draws), str(out)],
                          capture_output=True, text=True, cwd=out.parent)
    if proc.returncode != 0:
        raise SystemExit(f"run of {scenario} failed:\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    got["files_mb"] = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    return got


def allocation_curve(exporters: int, repeat: int, seed: int) -> None:
    from simcore.kernel import market as mk

    rng = np.random.default_rng(seed)
    print(f"\nallocation (clear_zones via allocate's linear case): {exporters} exporter "
          f"classes, a quarter of the routes capped; GALE_MAX_ZONES = {mk.GALE_MAX_ZONES}")
    print(f"{'importer classes':>17} {'us per problem':>15} {'us per class':>13}")
    mk.allocate(np.ones(2), np.ones(2), np.full((2, 2), np.inf))  # load or compile
    for nz in (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256):
        problems = []
        for _ in range(8):
            supply = rng.pareto(1.5, exporters) + 0.1
            supply[0] = supply.sum()  # the largest producer holds half
            need = rng.pareto(1.2, nz) + 0.05
            need *= 1.2 * supply.sum() / need.sum()  # short overall: the filling binds
            cap = np.full((exporters, nz), np.inf)
            capped = rng.random((exporters, nz)) < 0.25
            cap[capped] = rng.random(int(capped.sum())) * need.max()
            problems.append((supply, need, cap))
        best = float("inf")
        for _ in range(repeat):
            spent = sum(_clear(mk, supply, need, cap) for supply, need, cap in problems)
            best = min(best, spent / len(problems))
        print(f"{nz:>17} {best * 1e6:>15,.1f} {best * 1e6 / nz:>13,.2f}", flush=True)


def _clear(mk, supply, need, cap):
    """One clear_zones call on allocate()'s arrays (the timed part is the compiled call;
    building the arrays in Python is outside the kernel and left out)."""
    key = (len(supply), len(need))
    cached = _ARGS.get(key)
    if cached is None:
        m, nz = key
        cached = dict(
            zq=np.zeros((nz, mk.N_ZQ)), mp=np.zeros(mk.N_MP), ulev=np.zeros(nz),
            frozen=np.zeros(nz, dtype=np.bool_), cutz=np.zeros(nz, dtype=np.bool_),
            dem=np.zeros(nz), slope=np.zeros(nz), gcap=np.zeros(mk.GCAP_SIZE),
            f=np.zeros((m, nz)), out_e=np.zeros(m), in_i=np.zeros(nz),
            queue=np.zeros(m + nz + 2, dtype=np.int64), par_e=np.zeros(m, dtype=np.int64),
            par_i=np.zeros(nz, dtype=np.int64), seen_e=np.zeros(m, dtype=np.bool_),
            seen_i=np.zeros(nz, dtype=np.bool_))
        _ARGS[key] = cached
    a = cached
    zq, mp = a["zq"], a["mp"]
    zq[:] = 0.0
    zq[:, mk.ZQ_N] = need
    mp[:] = 0.0
    mp[mk.MP_EPS] = 1.0
    mp[mk.MP_PFULL] = 2.0
    for z in range(len(need)):
        mk.prepare_zone(zq, z, mp)
    a["ulev"][:] = 0.0
    a["frozen"][:] = False
    t0 = time.perf_counter()
    status = mk.clear_zones(len(supply), len(need), supply, cap, zq, mp, a["ulev"], a["frozen"],
                            a["cutz"], a["dem"], a["slope"], a["gcap"], False, a["f"],
                            a["out_e"], a["in_i"], a["queue"], a["par_e"], a["par_i"],
                            a["seen_e"], a["seen_i"])
    if status != 0:
        raise RuntimeError(f"clear_zones status {status}")
    return time.perf_counter() - t0


_ARGS: dict = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exporters", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--skip-allocation", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-bench"))

    if not args.skip_run:
        from synthetic import generate, scenario

        from simcore.dataset import check_dataset

        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            tmp = Path(tmp)
            t0 = time.perf_counter()
            data = generate(tmp / "dataset", seed=args.seed)
            path = scenario(data, tmp / "scale.toml")
            found = check_dataset(data)
            errors = [p for p in found if p.severity == "error"]
            print(f"synthetic dataset (seed {args.seed}) written in "
                  f"{time.perf_counter() - t0:.1f} s: {len(errors)} errors, "
                  f"{len(found) - len(errors)} warnings (supplyshock data validate)")
            if errors:
                raise SystemExit("\n".join(str(p) for p in errors[:10]))
            rows = []
            for name, scen in (("scale", path),
                               ("partners-2026", ROOT / "scenarios" / "partners-2026.toml")):
                run(scen, 8, tmp / f"warm-{name}")  # load or compile the kernel
                got = run(scen, args.draws, tmp / f"run-{name}")
                rows.append((name, got))
                print(f"{name:>14}: {got['exposures']:,} exposures, {got['zones']} zones; "
                      f"{args.draws:,} draws in {got['wall']:.1f} s "
                      f"({args.draws / got['wall']:,.0f} draws/s, CPU {got['cpu']:.1f} s), "
                      f"peak RSS {got['peak_mb']:,.0f} MB, files {got['files_mb']:.1f} MB",
                      flush=True)
            scale = rows[0][1]
            ratio = scale["wall"] / rows[1][1]["wall"]
            print(f"scale / partners-2026: {ratio:.1f}x the time, "
                  f"{scale['exposures'] / rows[1][1]['exposures']:.1f}x the exposures")
            ok_t = "met" if scale["wall"] < 30 else "NOT met"
            ok_m = "met" if scale["peak_mb"] < 1024 else "NOT met"
            print(f"targets: {args.draws:,} draws < 30 s {ok_t} ({scale['wall']:.1f} s), "
                  f"< 1 GB {ok_m} ({scale['peak_mb']:,.0f} MB)")
    if not args.skip_allocation:
        allocation_curve(args.exporters, args.repeat, args.seed)


if __name__ == "__main__":
    main()
