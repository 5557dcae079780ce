"""What a user runs after a study, against an older commit, measured in one run.

``supplyshock compare``, ``report`` (with one policy compared) and ``sensitivity`` read
every draw of the runs they are given: for 10,000 draws of the partner study, 4.5 M
(draw, exposure) rows a run. This script

1. runs the partner study and its "both" variant (``partners-2026.toml``,
   ``partners-2026-both.toml``) with this tree, ``--draws`` draws (results format 4,
   which the older commit reads as well);
2. installs ``--commit`` (default d0f733f, the tree before the shortage shares were read
   as arrays per draw and exposure) into a throwaway venv as bench_speed.py does;
3. alternates old and new, ``--rounds`` times, on the same results folders: each command
   in a fresh process, timed from process start to exit, with its peak RSS (``wait4``);
4. checks that both versions give the same numbers (compare's csv to 1e-9, the
   sensitivity table as it is; with ``--same-page`` compare's table and the report's text
   as well, which say more since d0f733f) and prints the best wall time, CPU time and
   peak RSS of each, and the ratios old / new.

    NUMBA_CACHE_DIR=/tmp/numba-cache-$USER python benchmarks/bench_post.py \\
        [--draws 10000] [--rounds 2] [--commit d0f733f]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import add_old_engine_options, old_engine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDY = ("partners-2026", "partners-2026-both")


def _become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux's
    PR_SET_CHILD_SUBREAPER): the report's figure workers, children of a forkserver that
    the quick exit of ``supplyshock`` leaves behind, are then reaped here and their CPU
    time counted. False where that is not possible (then their CPU time is missed)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


REAP_WAIT = 30.0  # seconds to wait for a run's leftover processes (its figure workers)


def _reap_orphans() -> None:
    """Wait for the processes a run left behind (reparented here: _become_subreaper),
    so that their CPU time enters this process's RUSAGE_CHILDREN."""
    deadline = time.monotonic() + REAP_WAIT
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            time.sleep(0.01)
    print("bench_post: a run's leftover processes did not end; their CPU time is missed",
          file=sys.stderr)


def run_child(argv: list[str], env: dict, cwd: Path) -> tuple[str, float, float, float]:
    """Run a process: its stdout, wall time, CPU time (user + system, of it and of every
    process it started: the report's figure workers included) and peak RSS [MB] of the
    process itself (``wait4``). ``cwd`` must not be the repository, whose simcore/ would
    shadow the old installation."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        _reap_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} ... failed:\n{err.read()[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return out.read(), wall, cpu, usage.ru_maxrss / 1024


def same_csv(a: str, b: str) -> bool:
    """Two compare csv outputs with the same rows, numbers equal to 1e-9 relative."""
    ra, rb = list(csv.reader(io.StringIO(a))), list(csv.reader(io.StringIO(b)))
    if len(ra) != len(rb) or ra[:1] != rb[:1]:
        return False
    for x, y in zip(ra[1:], rb[1:], strict=True):
        for u, v in zip(x, y, strict=True):
            try:
                fu, fv = float(u), float(v)
            except ValueError:
                if u != v:
                    return False
                continue
            if abs(fu - fv) > 1e-9 * max(abs(fu), abs(fv), 1e-12):
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_old_engine_options(ap)
    ap.set_defaults(commit="d0f733f")
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--same-page", action="store_true",
                    help="check also that compare's table and the report's text are those "
                    "of --commit (for a commit that changes only how they are computed)")
    args = ap.parse_args()

    if not _become_subreaper():
        print("bench_post: the CPU column misses the report's figure workers (no subreaper)",
              file=sys.stderr)
    old_bin = old_engine(args.commit, args.cache, args.fresh)
    _reap_orphans()  # what the old engine's install left, not counted in a run below
    new_bin = Path(sys.executable).parent
    env = {
        "old": dict(os.environ, NUMBA_CACHE_DIR=str(args.cache / f"numba-{args.commit}")),
        "new": dict(os.environ),
    }
    for e in env.values():
        e.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="bench-post-") as tmp:
        tmp = Path(tmp)
        results = tmp / "results"
        scenarios = [str(ROOT / "scenarios" / f"{s}.toml") for s in STUDY]
        _, wall, _, _ = run_child([str(new_bin / "supplyshock"), "run", *scenarios, "--draws",
                                   str(args.draws), "-q", "--yes", "--out", str(results)],
                                  env["new"], tmp)
        base, variant = (str(results / s) for s in STUDY)
        print(f"{' and '.join(STUDY)}: {args.draws:,} draws each, run in {wall:.1f} s by this "
              f"tree; old = {args.commit}, new = this tree; {args.rounds} rounds")
        commands = {
            "compare (table)": ["compare", base, variant],
            "compare --format csv": ["compare", base, variant, "--format", "csv"],
            "report, one policy": ["report", base, variant, "-o", "OUT"],
            "sensitivity": ["sensitivity", base],
        }
        rows: dict = {}
        printed: dict = {}
        for r in range(args.rounds):
            for name, argv in commands.items():
                for who, bindir in (("old", old_bin), ("new", new_bin)):
                    argv_ = [str(tmp / f"report-{who}.html") if a == "OUT" else a for a in argv]
                    out, wall, cpu, rss = run_child([str(bindir / "supplyshock"), *argv_],
                                                    env[who], tmp)
                    printed[name, who] = out
                    rows.setdefault((name, who), []).append((wall, cpu, rss))
                    print(f"  round {r + 1} {name:22s} {who}: {wall:6.2f} s wall, "
                          f"{cpu:6.2f} s CPU, {rss:7,.0f} MB peak", flush=True)
        print()
        same = {
            # compare's numbers (its table and the report's page say more since d0f733f:
            # P(worse), the partner in a folded row, the exposures left worse)
            "compare --format csv": same_csv(printed["compare --format csv", "old"],
                                             printed["compare --format csv", "new"]),
            "sensitivity": printed["sensitivity", "old"] == printed["sensitivity", "new"],
        }
        if args.same_page:  # a tree whose page should read as the older commit's
            same["report, one policy"] = len({
                re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "",
                       (tmp / f"report-{who}.html").read_text()) for who in ("old", "new")}) == 1
            same["compare (table)"] = (printed["compare (table)", "old"]
                                       == printed["compare (table)", "new"])
        print("best of the rounds (wall | CPU | peak RSS), and old / new:")
        for name in commands:
            best = {who: [min(x[i] for x in rows[name, who]) for i in range(3)]
                    for who in ("old", "new")}
            o, n = best["old"], best["new"]
            check = ("" if name not in same else
                     "  same output" if same[name] else "  OUTPUT DIFFERS")
            print(f"  {name:22s} old {o[0]:6.2f} s | {o[1]:6.2f} s | {o[2]:6,.0f} MB   "
                  f"new {n[0]:6.2f} s | {n[1]:6.2f} s | {n[2]:6,.0f} MB   "
                  f"ratio {o[0] / n[0]:.1f}x | {o[1] / n[1]:.1f}x | {o[2] / n[2]:.1f}x{check}")
        if not all(same.values()):
            raise SystemExit("the two versions print different tables")


if __name__ == "__main__":
    main()
