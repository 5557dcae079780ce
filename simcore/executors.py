"""Where the draws are computed: this process, or a Dask cluster.

An *executor* (simcore/api.py) is a callable ``executor(tensor, compiled, *, draws, seed,
threads, chunk_size, timeseries)`` that yields ``ChunkResult``s in draw order. The local
one runs ``simcore.engine.simulate`` here; ``simcore.dask_executor.DaskExecutor`` runs
ranges of draws as tasks on a Dask cluster and yields the same chunks (docs/scaling.md).

This module only picks one. Dask is an optional dependency
(``pip install "dask[distributed]>=2024.1"``), imported only when the Dask executor is chosen.
"""

from __future__ import annotations

import contextlib

from simcore.errors import SupplyShockError

EXECUTORS = ("local", "dask")
INSTALL_HINT = (
    "the Dask executor needs dask and distributed, which are not installed; install them "
    'with `pip install "dask[distributed]>=2024.1"` (the dask extra; `pip install '
    '".[dask]"` in the checkout does the same but rebuilds the package)'
)


class ExecutorError(SupplyShockError):
    """The executor cannot run: Dask missing, a scheduler unreachable, options that do not
    fit together, a worker that runs different code, a task that keeps killing its
    worker."""


def make_executor(name: str, scheduler=None, workers=None, threads_per_worker=None):
    """The executor named on the command line, as a context manager.

    ``"local"`` gives ``None`` (``simcore.api`` then runs the engine in this process);
    ``"dask"`` a ``DaskExecutor``, which starts or connects to its cluster on entry and
    closes it on exit. Raises ``ExecutorError`` for options that do not fit together and
    when Dask is not installed.
    """
    if name == "local":
        given = [
            opt
            for opt, value in (
                ("--scheduler", scheduler),
                ("--workers", workers),
                ("--threads-per-worker", threads_per_worker),
            )
            if value is not None
        ]
        if given:
            raise ExecutorError(
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to the "
                "Dask executor; add `--executor dask`"
            )
        return contextlib.nullcontext(None)
    if name == "dask":
        return dask_executor_class()(
            scheduler=scheduler, workers=workers, threads_per_worker=threads_per_worker
        )
    raise ExecutorError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def dask_executor_class():
    """``simcore.dask_executor.DaskExecutor``, or ``ExecutorError`` saying how to install
    Dask when it is missing."""
    try:
        from simcore.dask_executor import DaskExecutor
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in ("dask", "distributed"):
            raise ExecutorError(INSTALL_HINT) from None
        raise
    return DaskExecutor
