"""The results writer alone, against the writer of an earlier commit, in one run.

Everything a run does after the engine has made a chunk: converting it to tables,
digests, Parquet, the summary, the monthly and price tables, the manifest. The same
engine chunks (``--draws`` of the partner study, computed once) are replayed into
``write_chunks`` of this tree and of ``--commit`` (default 2a75ded, before the results
package: its ``simcore/results.py`` is read with ``git show`` into a temporary folder and
imported from there under another name, never into the package), taking turns
``--rounds`` times; it prints draws per second and per CPU second of the process (all
threads: the writer thread included) and the ratios.

    NUMBA_CACHE_DIR=/tmp/numba-cache-$USER python benchmarks/bench_writer.py \\
        [--draws 4096] [--replay 5] [--rounds 3] [--commit 2a75ded]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def old_results(commit: str, folder: Path):
    """``simcore/results.py`` of ``commit`` as a module of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:simcore/results.py"],
                            capture_output=True, text=True, check=True).stdout
    path = folder / f"results_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"results_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commit", default="2a75ded")
    ap.add_argument("--draws", type=int, default=4096, help="engine draws computed once")
    ap.add_argument("--replay", type=int, default=5, help="times they are written per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from simcore import api, results
    from simcore.engine import exposures, simulate, zones

    prep = api.prepare(ROOT / "scenarios" / "partners-2026.toml")
    c = prep.compiled
    chunks = list(simulate(prep.tensor, c, draws=args.draws, seed=c.seed))
    n = args.draws * args.replay
    meta = api.provenance(prep, n, c.seed, False, "bench_writer")

    def replay():
        start = 0
        for _ in range(args.replay):
            for chunk in chunks:
                size = chunk.stop - chunk.start
                yield dataclasses.replace(chunk, start=start, stop=start + size)
                start += size

    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        tmp = Path(tmp)
        old = old_results(args.commit, tmp)
        ex, zn = exposures(prep.tensor, c), zones(prep.tensor, c)
        layouts = {"old": old.Layout.from_exposures(prep.tensor, c, ex, zn),
                   "new": results.Layout.from_exposures(prep.tensor, c, ex, zn)}
        writers = {"old": old.write_chunks, "new": results.write_chunks}
        formats = {"old": old.FORMAT, "new": results.FORMAT}
        print(f"partners-2026: {len(ex)} exposures; {len(chunks)} engine chunks of "
              f"{args.draws:,} draws replayed {args.replay} times = {n:,} draws per write; "
              f"old = {args.commit}'s simcore/results.py, new = this tree")
        best = {}
        for r in range(args.rounds):
            for who in ("old", "new"):
                folder = tmp / f"{who}-{r}"
                folder.mkdir()
                t0, c0 = time.perf_counter(), time.process_time()
                manifest = writers[who](folder, layouts[who], replay(),
                                        dict(meta, format=formats[who]), n)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
                print(f"  round {r + 1} {who}: {n / wall:8,.0f} draws/s, {n / cpu:8,.0f} draws "
                      f"per CPU s, {size:6.1f} MB, {manifest['format']}", flush=True)
                w, u = best.get(who, (0.0, 0.0))
                best[who] = (max(w, n / wall), max(u, n / cpu))
    print(f"best: old {best['old'][0]:,.0f} draws/s | {best['old'][1]:,.0f} per CPU s; new "
          f"{best['new'][0]:,.0f} | {best['new'][1]:,.0f}; ratio new/old "
          f"{best['new'][0] / best['old'][0]:.2f} | {best['new'][1] / best['old'][1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
