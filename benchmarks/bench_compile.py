"""The first compile: this tree against the engine of an older commit, measured in one run.

Issue #14's target: the first run on an empty cache compiles the kernel in under 20 s on
the 2-core development machine. This script

1. installs the old commit into a throwaway venv, as bench_speed.py does (same helpers:
   ``git archive``, ``pip install --no-deps``, this environment's libraries through a
   ``.pth`` file), and copies the shipped baseline for the old loader;
2. alternates, ``--rounds`` times, ``supplyshock run SCENARIO --draws 8 -q`` of each
   version in a fresh process with an empty ``NUMBA_CACHE_DIR`` (a new temporary folder
   each time): wall and CPU time from process start to exit, nearly all of it the compile;
3. for this tree, compiles once more in a child that reads Numba's own pass timings of
   every compiled function (``overloads[sig].metadata['pipeline_times']``) and prints the
   largest: where the compile goes. A callee's time is also inside its callers' type
   inference, so these do not add up.

    python benchmarks/bench_compile.py [--rounds 2] [--commit 8ada13c] [--fresh]

The old engine is market version 1 (a smaller kernel): the ratio is a compile-time ratio
of the two products as shipped, not of equal code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import (  # noqa: E402
    SCENARIO,
    add_old_engine_options,
    child,
    datasets_and_scenarios,
    old_engine,
)

TARGET_S = 20.0

PASSES_CHILD = """
import gc, json, sys, time
from numba.core.registry import CPUDispatcher
from simcore import api, engine
prep = api.prepare(sys.argv[1])
model = engine.prepare(prep.tensor, prep.compiled)
c0 = time.process_time()
engine.load_kernel(model)
total = time.process_time() - c0
rows = []
for obj in gc.get_objects():
    try:
        if not (isinstance(obj, CPUDispatcher) and obj.overloads):
            continue
    except ReferenceError:
        continue
    for cres in obj.overloads.values():
        per = {}
        for passes in (cres.metadata or {}).get("pipeline_times", {}).values():
            for name, t in passes.items():
                key = name.split("_", 1)[1] if name[0].isdigit() else name
                per[key] = per.get(key, 0.0) + t.init + t.run + t.finalize
        rows.append([f"{obj.py_func.__module__}.{obj.py_func.__qualname__}",
                     per.get("nopython_type_inference", 0.0), per.get("native_lowering", 0.0),
                     per.get("inline_inlinables", 0.0), sum(per.values())])
print(json.dumps({"cpu": total, "functions": rows}))
"""


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_old_engine_options(ap)
    ap.add_argument("--rounds", type=_positive, default=2)
    args = ap.parse_args()

    old_bin = old_engine(args.commit, args.cache, args.fresh)
    new_bin = Path(sys.executable).parent
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    best: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        tmp = Path(tmp)
        _, scenario = datasets_and_scenarios(tmp)
        print(f"first run on an empty Numba cache: supplyshock run {SCENARIO.name} --draws 8 "
              f"-q; old = {args.commit}, new = this tree; {os.cpu_count()} cores, load "
              f"average {os.getloadavg()[0]:.1f}", flush=True)
        for r in range(args.rounds):
            for who, bindir in (("old", old_bin), ("new", new_bin)):
                cache = tempfile.mkdtemp(prefix=f"numba-{who}-", dir=tmp)
                _, wall, cpu = child([str(bindir / "supplyshock"), "run", str(scenario[who]),
                                      "--draws", "8", "-q", "--out", str(tmp / f"out-{who}-{r}")],
                                     dict(base, NUMBA_CACHE_DIR=cache), tmp)
                best[who].append((wall, cpu))
                print(f"  round {r + 1} {who}: {wall:6.1f} s wall, {cpu:6.1f} s CPU", flush=True)
        cache = tempfile.mkdtemp(prefix="numba-passes-", dir=tmp)
        out, _, _ = child([str(new_bin / "python"), "-c", PASSES_CHILD, str(SCENARIO)],
                          dict(base, NUMBA_CACHE_DIR=cache), tmp)
    got = json.loads(out.strip().splitlines()[-1])
    print()
    print(f"this tree, Numba's pass timings (compile {got['cpu']:.1f} s CPU in that child), "
          "largest first [s]: type inference, lowering, IR inlining")
    for name, ti, low, inl, _ in sorted(got["functions"], key=lambda r: -r[4])[:8]:
        print(f"  {name:45s} {ti:6.2f} {low:6.2f} {inl:6.2f}")
    wall = {who: min(w for w, _ in runs) for who, runs in best.items()}
    cpu = {who: min(c for _, c in runs) for who, runs in best.items()}
    print()
    print(f"best of {args.rounds}: old {wall['old']:.1f} s wall, {cpu['old']:.1f} s CPU; new "
          f"{wall['new']:.1f} s wall, {cpu['new']:.1f} s CPU; ratio new/old "
          f"{wall['new'] / wall['old']:.2f} (wall), {cpu['new'] / cpu['old']:.2f} (CPU)")
    print(f"target < {TARGET_S:.0f} s: {'met' if wall['new'] < TARGET_S else 'not met'} "
          f"({wall['new']:.1f} s wall)")


if __name__ == "__main__":
    main()
