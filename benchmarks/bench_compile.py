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
   inference, so these do not add up;
4. installs this tree from source as a user does (``pip install .`` of a copy of it:
   pip builds a wheel, and setup.py compiles the kernel into the package, ahead of time)
   into a throwaway venv with this environment's libraries, and times that install and
   the first run after it on an empty ``NUMBA_CACHE_DIR``, which loads the code compiled
   at install instead of compiling (``--no-install`` skips this step).

    python benchmarks/bench_compile.py [--rounds 2] [--commit 8ada13c] [--fresh] [--no-install]

The old engine is market version 1 (a smaller kernel): the ratio is a compile-time ratio
of the two products as shipped, not of equal code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import (  # noqa: E402
    ROOT,
    SCENARIO,
    add_old_engine_options,
    child,
    datasets_and_scenarios,
    old_engine,
    throwaway_venv,
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


def installed_from_source(tmp: Path, base: dict) -> tuple[float, float, bool]:
    """``pip install --no-deps`` of a copy of this tree into a new venv that sees this
    environment's libraries; then ``supplyshock run SCENARIO --draws 8 -q`` on an empty
    Numba cache. Returns the install's wall time, the run's, and whether the run compiled
    (wrote code into its cache) rather than loading the code compiled at install."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "_build", src / "_build",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "simcore", src / "simcore",
                    ignore=shutil.ignore_patterns("__pycache__", "_precompiled"))
    python = throwaway_venv(tmp / "venv")
    env = {k: v for k, v in base.items() if not k.startswith("SUPPLYSHOCK_")}
    t0 = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(src)],
                   check=True, env=dict(env, PIP_DISABLE_PIP_VERSION_CHECK="1"), cwd=tmp)
    install = time.perf_counter() - t0
    cache = tmp / "numba-installed"
    _, wall, _ = child([str(tmp / "venv" / "bin" / "supplyshock"), "run", str(SCENARIO),
                        "--draws", "8", "-q", "--out", str(tmp / "out-installed")],
                       dict(env, NUMBA_CACHE_DIR=str(cache), XDG_CACHE_HOME=str(tmp / "xdg")),
                       tmp)
    compiled = bool(list(cache.rglob("*.nbi")) or list((tmp / "xdg").rglob("*.nbi")))
    return install, wall, compiled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_old_engine_options(ap)
    ap.add_argument("--rounds", type=_positive, default=2)
    ap.add_argument("--no-install", action="store_true",
                    help="skip step 4 (install from source, first run after it)")
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
        if not args.no_install:
            print("installing this tree from source (pip install ., compiled at install) ...",
                  flush=True)
            (tmp / "installed").mkdir()
            installed = installed_from_source(tmp / "installed", base)
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
    if not args.no_install:
        install, first, compiled = installed
        print(f"installed from source: pip install {install:.1f} s (compiling the kernel "
              f"ahead of time); first run after it {first:.1f} s wall, "
              + ("compiled again (the build environment's numba/numpy differ from these)"
                 if compiled else "loading the code compiled at install"))


if __name__ == "__main__":
    main()
