"""Instructions the kernel executes for the partner study: this tree against another
commit, counted by valgrind's callgrind (deterministic where timings are not).

On a shared machine the wall time of one engine varies by 10-20 % within the hour, and
two engines timed side by side on the two cores differed by 18 % running the same code
(twenty-sixth session): a change worth a few per cent cannot be seen in timings. The
number of instructions a run executes is the same on every run of the same code and
data, and says which function gained or lost them. It is not the time (a cache miss or a
division costs more than an addition): confirm a change that pays here with
bench_speed.py's alternated runs.

For each tree (this one, and ``--against REF`` extracted with ``git archive``), this
script builds the kernel's library once (``python -m simcore._precompile``, into
``--cache``), then runs ``run_block`` of ``--draws`` draws on one thread under
``valgrind --tool=callgrind``, counting only inside ``run_draws`` (the kernel, its
libm calls included; not the start, the loading or the histograms), and prints the
total and the functions with the most instructions, and the ratio of the totals. The
trees must both have ``simcore._precompile`` (commits of the twentieth session on).

    python benchmarks/bench_instructions.py [--draws 200] [--against 64ebfa3] \\
        [--scenario scenarios/partners-2026.toml] [--cache DIR]

It needs valgrind (``apt install valgrind``); about 40 s per tree for 200 draws, plus a
minute to build each library the first time.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
from simcore import api
from simcore.engine import prepare, run_block
prepared = api.prepare(sys.argv[1])
model = prepare(prepared.tensor, prepared.compiled)
run_block(model, 1, 0, int(sys.argv[2]), threads=1)
"""


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def _extract(ref: str, where: Path) -> Path:
    """The tree of commit ``ref``, extracted (``git archive``) into ``where``/<sha>."""
    sha = _git("rev-parse", "--short=12", ref)
    tree = where / f"tree-{sha}"
    if not (tree / "simcore").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        data = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True,
                              capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tree, filter="data")
    return tree


def _library(tree: Path, cache: Path) -> Path:
    """The kernel's library of ``tree``, built once per engine fingerprint into
    ``cache``/lib-<fingerprint>."""
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache / "numba"))
    env.pop("SUPPLYSHOCK_PRECOMPILED", None)

    def python(*args):
        done = subprocess.run([sys.executable, *args], cwd=tree, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: `python {' '.join(args)}` failed (a commit before "
                             "the kernel's library, simcore/_precompile.py?):\n"
                             f"{done.stderr[-1500:]}")
        return done.stdout.strip()

    fingerprint = python("-c", "from simcore._sourcehash import engine_source_hash; "
                               "print(engine_source_hash())")
    lib = cache / f"lib-{fingerprint}"
    if not any(lib.glob("*/*/native/kernel.so")):
        shutil.rmtree(lib, ignore_errors=True)
        print(f"building the kernel's library of {tree} (a minute) ...", flush=True)
        python("-m", "simcore._precompile", str(lib))
    return lib


def _count(tree: Path, lib: Path, scenario: str, draws: int, out: Path) -> tuple:
    """(total instructions, {function: instructions}) of ``draws`` draws in ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), SUPPLYSHOCK_PRECOMPILED=str(lib))
    env.pop("NUMBA_DISABLE_JIT", None)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           "--collect-atstart=no", "--toggle-collect=*run_draws*",
           sys.executable, "-c", CHILD, scenario, str(draws)]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"callgrind run in {tree} failed:\n{done.stderr[-2000:]}")
    return _exclusive(out)


def _exclusive(path: Path) -> tuple:
    """(total, per-function exclusive instructions) from a callgrind output file."""
    names, per_fn = {}, collections.Counter()
    fn, skip = None, False

    def name(spec):
        m = re.match(r"\((\d+)\)(?:\s+(.*))?", spec)
        if m is None:
            return spec
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")

    total = 0
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("fn="):
            fn = name(line[3:].strip())
        elif line.startswith("cfn="):
            name(line[4:].strip())
        elif line.startswith("calls="):
            skip = True  # the next cost line is the call's inclusive cost
        elif line.startswith("summary:"):
            total = int(line.split()[1])
        elif line[:1] in "0123456789+-*":
            parts = line.split()
            if skip:
                skip = False
            elif len(parts) >= 2:
                per_fn[fn] += int(parts[-1])
    return total, per_fn


def _short(fn: str) -> str:
    """A function's name without Numba's mangling."""
    m = re.search(r"simcore(?:::|\d+)kernel(?:::|\d+)(\w+?)(?:::|\d+)(\w+?)(?:\[|B\d|$)", fn)
    if m:
        return f"{m.group(1)}.{m.group(2)}"
    return fn.split(":")[-1][:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--against", default=None,
                        help="a commit to compare with (default: none, this tree only)")
    parser.add_argument("--scenario", default="scenarios/partners-2026.toml")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "supplyshock" / "bench-instructions")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_instructions.py needs valgrind (apt install valgrind)")
    args.cache.mkdir(parents=True, exist_ok=True)
    trees = [("this tree", ROOT)]
    if args.against:
        trees.insert(0, (args.against, _extract(args.against, args.cache)))
    totals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, tree in trees:
            lib = _library(tree, args.cache)
            total, per_fn = _count(tree, lib, args.scenario, args.draws,
                                   Path(tmp) / "callgrind.out")
            totals[label] = total
            print(f"\n{label}: {total:,} instructions in run_draws for {args.draws} draws "
                  f"({total / args.draws:,.0f} a draw)")
            for fn, n in per_fn.most_common(6):
                print(f"  {n:>14,}  {n / total:6.1%}  {_short(fn)}")
    if args.against:
        old, new = totals[args.against], totals["this tree"]
        print(f"\nthis tree / {args.against}: {new / old:.3f} of the instructions "
              f"({(new - old) / old:+.1%})")


if __name__ == "__main__":
    main()
