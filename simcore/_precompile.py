"""``python -m simcore._precompile FOLDER``: compile the simulator ahead of time.

Compiles the kernel's entry points (``run_draws``, ``count_zone_bins``; the summary's
and the report's sums) by simulating two draws of a small scenario on the built-in
dataset, then copies the compiled code into ``FOLDER/numba<version>/src-<fingerprint>``,
the layout ``simcore._numba`` reads first when the folder is ``simcore/_precompiled`` of
an installed package, and links the entry points' machine code into a shared library
there (``native/``, simcore/_native.py) that runs without importing Numba; a build
without a C compiler goes without it. setup.py runs it
when a wheel is built (``pip install .``), so that the first run after installing from
source loads the code instead of compiling it. The code is for the CPU it was compiled on
(Numba's cache index keys each entry by CPU name and features): on another machine that
entry is not used, and the first run compiles as it would without it.

Runs in a fresh process: the cache folder it compiles into must be set before Numba is
imported. Exit status 0 with the folder written, 1 with nothing written.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# Any draws of any scenario on the built-in dataset compile the same machine code: the
# kernel's argument types do not depend on the scenario (simcore.engine.prepare).
SCENARIO = """\
[scenario]
name = "precompile"
horizon_months = 6
draws = 2
seed = 1

[[events]]
id = "restriction"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
stage = "refining"
onset_month = 0
duration_months = 3
severity = 0.5
"""


def precompile(folder: Path, cache: str | None = None) -> Path:
    """Compile into a fresh cache folder (or load what ``cache``, a ``NUMBA_CACHE_DIR``,
    already holds in its ``ahead-of-time`` folder) and copy the code below ``folder``;
    returns the folder written (``folder/numba<version>/src-<fingerprint>``). The
    ahead-of-time code is optimised further than a run's own compile (AHEAD_OF_TIME in
    simcore/_numba.py) and is kept apart: a cache that runs compiled into would give the
    library their code."""
    if "numba" in sys.modules:
        raise RuntimeError("simcore._precompile must run before numba is imported "
                           "(python -m simcore._precompile FOLDER)")
    with tempfile.TemporaryDirectory(prefix="supplyshock-precompile-") as work:
        ahead = os.path.join(cache or work, "ahead-of-time")
        os.makedirs(ahead, exist_ok=True)
        if not os.access(ahead, os.W_OK | os.X_OK):
            # Numba would fall back to the user's cache, whose entries runs compiled
            raise RuntimeError(f"cannot write the build's cache folder {ahead}")
        os.environ["NUMBA_CACHE_DIR"] = ahead
        os.environ["SUPPLYSHOCK_PRECOMPILED"] = os.path.join(work, "none")  # compile all
        os.environ["SUPPLYSHOCK_NATIVE"] = "0"  # compile with Numba, whatever is installed
        os.environ["SUPPLYSHOCK_AHEAD_OF_TIME"] = "1"  # optimised fully (simcore._numba)
        from simcore import _native, _numba
        from simcore.dataset import load_dataset
        from simcore.scenario import compile_scenario, load_scenario

        path = Path(work) / "precompile.toml"
        path.write_text(SCENARIO, encoding="utf-8")
        tensor = load_dataset()
        compiled = compile_scenario(load_scenario(path, tensor), tensor)
        with _native.ObjectCode() as objects:
            calls = _compile_entry_points(tensor, compiled)
        source = Path(_numba.CACHE_FOLDERS[-1]) / "kernel"  # the package's code only
        if not list(source.glob("model.run_draws-*.nbi")):
            raise RuntimeError(f"no compiled kernel in {source}")
        target = Path(folder) / _numba.precompiled_key() / f"src-{_numba.FINGERPRINT}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target / "kernel",
                        ignore=shutil.ignore_patterns("*.tmp.*"))
        try:
            _native.build(target, calls, objects)
        except Exception as exc:  # Numba's cache entries serve without the library
            print(f"supplyshock: the kernel's library was not built ({exc}); runs load the "
                  "compiled code through Numba", file=sys.stderr)
    return target


def _compile_entry_points(tensor, compiled) -> dict:
    """Compile (or load) every entry point of simcore/_native.py's ENTRIES, and the
    report's helpers, with the argument types the engine, the summary and the report
    pass; the arguments each entry point of ENTRIES was called with."""
    import numpy as np

    from simcore import engine
    from simcore.kernel import binsums, model

    calls: dict = {}

    def keep(name, function):
        def call(*args):
            calls.setdefault(name, args)
            return function(*args)
        return call

    real = (model.run_draws, model.count_zone_bins)
    model.run_draws = keep("run_draws", real[0])
    model.count_zone_bins = keep("count_zone_bins", real[1])
    try:
        for _ in engine.simulate(tensor, compiled, draws=2, seed=1, threads=1):
            pass
    finally:
        model.run_draws, model.count_zone_bins = real
    values = np.zeros((2, 2))
    binsums.add_rows_f32(np.zeros(2), values)
    calls["add_rows_f32"] = (np.zeros(2), values)
    from simcore.kernel.structs import N_NZ

    stats = (np.ones(2), 3, 1, 1.0, 1.0, np.zeros(N_NZ))
    binsums.nonzero_statistics(*stats)
    calls["nonzero_statistics"] = stats
    rows, i8 = np.zeros((2, 2)), np.int64
    small = np.zeros((2, 2), np.int16)
    counts = (rows, small, small.copy(), small.copy(), 3, np.zeros(2, i8), np.zeros(2, i8),
              np.zeros(2, i8), np.zeros((2, 3), i8), np.zeros((2, 4), i8), np.zeros(2, i8))
    binsums.count_shortages(*counts)
    calls["count_shortages"] = counts
    split = (rows, rows.copy(), np.zeros(2, i8), np.zeros(4), np.zeros(4, np.float32))
    binsums.nonzero_by_exposure(*split)
    calls["nonzero_by_exposure"] = split
    hist = (np.ones((2, 3), i8), np.arange(3), np.array([0.5]), 1, np.zeros(3),
            np.zeros(2, i8), np.zeros(2, i8), np.zeros(2), np.zeros((2, 1), i8),
            np.zeros((2, 1)), np.zeros(3, i8))
    binsums.histogram_bins(*hist)
    calls["histogram_bins"] = hist
    picked = (rows, rows.copy(), small, small.copy(), small.copy(),
              *(rows.copy() for _ in range(7)), np.zeros(2, i8), np.ones(2),
              np.zeros(9, np.float32), np.zeros((9, 4), np.float32),
              np.zeros((3, 4), np.int16), np.zeros(4, i8))
    binsums.shortage_rows(*picked)
    calls["shortage_rows"] = picked
    sums = [np.zeros(1) for _ in range(4)]
    binsums.cell_sums(np.zeros((2, 1), np.int32), np.ones(2), np.zeros(2), *sums)
    return calls


USAGE = """usage: python -m simcore._precompile [--cache DIR] FOLDER

--cache DIR: a NUMBA_CACHE_DIR to compile into and reuse, in DIR/ahead-of-time (default:
a fresh temporary folder; also SUPPLYSHOCK_PRECOMPILE_CACHE), e.g. for several builds
on one machine"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    cache = os.environ.get("SUPPLYSHOCK_PRECOMPILE_CACHE") or None
    if len(args) == 3 and args[0] == "--cache":
        cache = args.pop(1)
        args.pop(0)
    if len(args) != 1 or args[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        target = precompile(Path(args[0]), cache)
    except Exception as exc:  # the caller (a wheel build) goes on without it
        print(f"supplyshock: not compiled ahead of time: {exc}", file=sys.stderr)
        return 1
    print(f"supplyshock: simulator compiled ahead of time into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
