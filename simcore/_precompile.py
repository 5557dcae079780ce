"""``python -m simcore._precompile FOLDER``: compile the simulator ahead of time.

Compiles the kernel's entry points (``run_draws``, ``count_zone_bins``) by simulating
two draws of a small scenario on the built-in dataset, then copies the compiled code into
``FOLDER/numba<version>/src-<fingerprint>``, the layout ``simcore._numba`` reads first
when the folder is ``simcore/_precompiled`` of an installed package. setup.py runs it
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
    already holds) and copy the code below ``folder``; returns the folder written
    (``folder/numba<version>/src-<fingerprint>``)."""
    if "numba" in sys.modules:
        raise RuntimeError("simcore._precompile must run before numba is imported "
                           "(python -m simcore._precompile FOLDER)")
    with tempfile.TemporaryDirectory(prefix="supplyshock-precompile-") as work:
        os.environ["NUMBA_CACHE_DIR"] = cache or os.path.join(work, "cache")
        os.environ["SUPPLYSHOCK_PRECOMPILED"] = os.path.join(work, "none")  # compile all
        from simcore import _numba, engine
        from simcore.dataset import load_dataset
        from simcore.scenario import compile_scenario, load_scenario

        path = Path(work) / "precompile.toml"
        path.write_text(SCENARIO, encoding="utf-8")
        tensor = load_dataset()
        compiled = compile_scenario(load_scenario(path, tensor), tensor)
        for _ in engine.simulate(tensor, compiled, draws=2, seed=1, threads=1):
            pass
        _compile_helpers()
        source = Path(_numba.CACHE_FOLDERS[-1]) / "kernel"  # the package's code only
        if not list(source.glob("model.run_draws-*.nbi")):
            raise RuntimeError(f"no compiled kernel in {source}")
        target = Path(folder) / _numba.precompiled_key() / f"src-{_numba.FINGERPRINT}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target / "kernel",
                        ignore=shutil.ignore_patterns("*.tmp.*"))
    return target


def _compile_helpers() -> None:
    """The kernel's code that the results and the report call (the summary's running
    sums, the sensitivity bootstrap's sums), with the argument types they pass
    (simcore/results/summary.py, simcore/report/sensitivity.py)."""
    import numpy as np

    from simcore.kernel.binsums import add_rows_f32, cell_sums

    add_rows_f32(np.zeros(2), np.zeros((2, 2)))

    sums = [np.zeros(1) for _ in range(4)]
    cell_sums(np.zeros((2, 1), np.int32), np.ones(2), np.zeros(2), *sums)


USAGE = """usage: python -m simcore._precompile [--cache DIR] FOLDER

--cache DIR: a NUMBA_CACHE_DIR to compile into and reuse (default: a fresh temporary
folder; also SUPPLYSHOCK_PRECOMPILE_CACHE), e.g. for several builds on one machine"""


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
