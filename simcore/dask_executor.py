"""The Dask executor: the same draws, computed on a cluster, the same bytes written.

:class:`DaskExecutor` cuts draws [0, draws) into ranges of ``chunk_size``; each range is
one task, in which a worker runs the same Numba engine (``simcore.engine.run_block``) on
draws [start, stop) and returns the ``ChunkResult``. The client hands the chunks to the
results writer in draw order, holding the ones that finish early. Each draw's numbers
depend only on (dataset, scenario, seed, draw index) (MODEL.md §6) and histograms are
integer counts, so the results folder and its digest are the same bytes as a local run,
whatever the cluster did: more or fewer workers, tasks finishing out of order, a worker
killed and its tasks re-run.

What travels (docs/scaling.md): the prepared model (the engine's arrays of the dataset
and compiled scenario) reaches each worker once per scenario as a worker plugin, so a
worker that joins or restarts mid-run gets it too; a task carries only its draw range and
sends back its chunk, the monthly histogram as its nonzero bins.

Importing this module imports ``distributed``; ``simcore.executors`` imports it only when
the Dask executor is chosen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import os
import pickle
import signal
import threading
import uuid
from collections.abc import Iterator

import distributed
import numpy as np
from distributed.client import FutureCancelledError

from simcore.executors import ExecutorError

TASK_RETRIES = 2  # a task that raised runs again this often (a transient error on a node)
TASKS_PER_WORKER = 2  # draw ranges in flight per worker: one running, one queued behind it

# --------------------------------------------------------------------------------------
# Worker side: the model cache and the task
# --------------------------------------------------------------------------------------

# Prepared models in this worker process, by content key: filled by ModelPlugin.setup
# when the plugin reaches the worker (also one that starts after the run began), emptied
# by its teardown when the run ends.
_MODELS: dict[str, tuple[dict, dict]] = {}
# One engine call at a time per worker process: a worker started with several Dask
# threads would otherwise run several multi-threaded engine calls at once and
# oversubscribe its cores.
_ENGINE_LOCK = threading.Lock()


@functools.cache
def code_fingerprint() -> dict:
    """What a chunk's numbers depend on besides the inputs: package versions and the
    engine's source (so that a worker with an edited checkout is caught). Read once per
    process, when it is about to load the engine."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    from simcore import __version__
    from simcore._sourcehash import engine_source_hash

    try:
        numba_version = version("numba")
    except PackageNotFoundError:
        numba_version = "missing"
    return {
        "supplyshock": __version__,
        "numba": numba_version,
        "numpy": numpy.__version__,
        "engine source": engine_source_hash(),
    }


class ModelPlugin(distributed.WorkerPlugin):
    """Carries one prepared model to every worker of the cluster, present and future;
    registered under its content key for the length of a run."""

    def __init__(self, key: str, payload: bytes, fingerprint: dict):
        self.key = key
        self.payload = payload  # the pickled model dict
        self.fingerprint = fingerprint
        self.name = key

    def setup(self, worker):
        _MODELS[self.key] = (pickle.loads(self.payload), self.fingerprint)

    def teardown(self, worker):
        _MODELS.pop(self.key, None)


def simulate_range(key: str, seed: int, start: int, n: int, timeseries: bool, threads):
    """Draws [start, start + n) of the model ``key`` on this worker: one task.

    ``threads``: engine threads for this call (None: the worker's NUMBA_NUM_THREADS).
    """
    from simcore.engine import ChunkResult, run_block

    try:
        model, fingerprint = _MODELS[key]
    except KeyError:
        raise ExecutorError(
            f"this Dask worker has no model {key}: the run's worker plugin did not reach it"
        ) from None
    mine = code_fingerprint()
    if mine != fingerprint:
        differ = "; ".join(
            f"{k} {fingerprint.get(k)} on the client, {mine.get(k)} on the worker"
            for k in fingerprint
            if fingerprint.get(k) != mine.get(k)
        )
        raise ExecutorError(
            f"a Dask worker runs different code than the client ({differ}); install the "
            f"same supplyshock, numba and numpy everywhere so that results stay "
            f"bit-identical"
        )
    with _ENGINE_LOCK:
        out = run_block(model, seed, start, n, timeseries=timeseries, threads=threads)
    return pack_histogram(ChunkResult(start=start, stop=start + n, **out))


def pack_histogram(chunk) -> tuple:
    """``(chunk without hist, hist shape, flat indices, counts)``: the monthly histogram
    [X, H, 101] is mostly empty bins (3.7 MB a chunk for the partners study, whatever the
    chunk size, 2-10 % of bins used), so only its nonzero bins travel."""
    hist = chunk.hist
    flat = hist.reshape(-1)
    where = np.flatnonzero(flat)
    index = where.astype(np.int32) if flat.size < 2**31 else where
    return dataclasses.replace(chunk, hist=None), hist.shape, index, flat[where]


def unpack_histogram(packed: tuple):
    """The ``ChunkResult`` that :func:`pack_histogram` packed, exactly."""
    chunk, shape, index, counts = packed
    hist = np.zeros(int(np.prod(shape)), dtype=counts.dtype)
    hist[index] = counts
    return dataclasses.replace(chunk, hist=hist.reshape(shape))


class _QuietShutdown(logging.Filter):
    """Drops the worker's complaints about its scheduler once the worker is closing: a
    heartbeat still in flight while the cluster shuts down fails ("Failed to communicate
    with scheduler during heartbeat", with a traceback) or finds the worker already
    retired; neither says anything about the run, which has ended. While the worker runs,
    the same messages pass: then they matter."""

    _NOISE = ("Failed to communicate with scheduler during heartbeat",
              "Scheduler was unaware of this worker")

    def __init__(self, worker):
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        from distributed.core import Status

        if not str(record.msg).startswith(self._NOISE):
            return True
        return self.worker.status not in (Status.closing, Status.closing_gracefully,
                                          Status.closed)


class _InterruptRace(logging.Filter):
    """Drops one error of distributed's own (2026.8 and earlier): Ctrl-C while the client
    waits in ``distributed.utils.sync``, before the call it waits on has started, runs
    that function's ``cancel`` callback on a name not yet bound, and tornado logs the
    NameError with a traceback. The run was interrupted as asked (the executor cancels
    and closes the cluster); the message says nothing about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, NameError) or exc.__traceback__ is None:
            return True
        last = exc.__traceback__
        while last.tb_next is not None:
            last = last.tb_next
        code = last.tb_frame.f_code
        return not (code.co_name == "cancel"
                    and code.co_filename.endswith(os.path.join("distributed", "utils.py")))


def dask_setup(worker) -> None:
    """Preload of a local cluster's worker processes. Ctrl-C in a terminal signals the
    whole process group; the client, not each worker, handles it: it cancels the run and
    closes the cluster in order (and reports it, so the workers' notes that a cancelled
    task ended are noise)."""
    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
    logging.getLogger("distributed.worker").addFilter(_QuietShutdown(worker))


# --------------------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------------------


def _positive(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ExecutorError(f"{what} must be a positive whole number, got {value!r}")
    return value


_CLOSE_TIMEOUT = 30  # [s] for each step of closing a cluster


def _stop_workers(cluster, timeout: float) -> None:
    """Retire every worker of a local cluster and wait until their processes have ended
    (the nanny joins each one before it leaves ``cluster.workers``)."""
    import time

    cluster.scale(0)
    deadline = time.monotonic() + timeout
    while cluster.workers and time.monotonic() < deadline:
        time.sleep(0.05)


class DaskExecutor:
    """Run the draws on a Dask cluster; results identical to a local run.

    ``scheduler``: address of a running scheduler (``tcp://host:8786``); without it a
    ``distributed.LocalCluster`` of ``workers`` processes on 127.0.0.1 (default: one per
    core, dashboard off) is started. ``threads_per_worker``: engine threads per worker
    process (default: cores / workers on a local cluster; on an existing cluster the
    workers' own NUMBA_NUM_THREADS). ``client``: an existing ``distributed.Client`` to use
    instead (left open). ``tasks_per_worker``: draw ranges in flight per worker, which
    bounds the chunks held in memory while waiting for an earlier one. ``retries``: reruns
    of a task that raised (a task whose worker died is rerun by the scheduler anyway).

    A context manager: the cluster starts once for several scenarios and closes (with
    what still runs cancelled) on exit, Ctrl-C included::

        with DaskExecutor(workers=4) as ex:
            simcore.run("scenarios/a.toml", executor=ex)
    """

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        threads_per_worker: int | None = None,
        *,
        client=None,
        tasks_per_worker: int = TASKS_PER_WORKER,
        retries: int = TASK_RETRIES,
    ):
        self.workers = _positive(workers, "--workers")
        self.threads_per_worker = _positive(threads_per_worker, "--threads-per-worker")
        self.tasks_per_worker = _positive(tasks_per_worker, "tasks_per_worker")
        if scheduler is not None and not str(scheduler).strip():
            raise ExecutorError("--scheduler needs an address, e.g. tcp://10.0.0.5:8786")
        if scheduler is not None and workers is not None:
            raise ExecutorError(
                "--workers starts a local cluster and --scheduler connects to a running "
                "one; give only one (a running cluster's size is set where its workers "
                "are started)"
            )
        self.scheduler = scheduler
        self.retries = int(retries)
        self.client = client
        self.cluster = None
        self._own_client = client is None
        self._futures: set = set()

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> DaskExecutor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the local cluster, or connect to the scheduler (once)."""
        if self.client is not None:
            return
        tornado_log = logging.getLogger("tornado.application")
        if not any(isinstance(f, _InterruptRace) for f in tornado_log.filters):
            tornado_log.addFilter(_InterruptRace())
        if self.scheduler is not None:
            try:
                self.client = distributed.Client(self.scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.scheduler}: {exc}; start one "
                    f"with `dask scheduler` and workers with `dask worker <address>` "
                    f"(docs/scaling.md)"
                ) from None
            return
        cores = os.cpu_count() or 1
        workers = self.workers or cores
        self.threads_per_worker = self.threads_per_worker or max(1, cores // workers)
        env = {"NUMBA_NUM_THREADS": str(self.threads_per_worker)}
        if os.environ.get("NUMBA_CACHE_DIR"):
            # this process's compiled-kernel cache: workers load the kernel, not compile it
            env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
        self.cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,  # one draw range at a time; its engine threads use the cores
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # the scheduler's HTTP routes (health, metrics) listen even without a
            # dashboard, by default on 8787: a free port, so that clusters never collide
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            env=env,
            preload=["simcore.dask_executor"],
        )
        try:
            self.client = distributed.Client(self.cluster)
        except BaseException:
            self.cluster.close()
            self.cluster = None
            raise

    def close(self) -> None:
        """Cancel what still runs; close the client (if ours) and the local cluster.

        A local cluster closes its workers first, while the scheduler still answers, and
        waits for their processes to end: a worker that outlived its scheduler logged
        an ERROR with a traceback ("Failed to communicate with scheduler during
        heartbeat") after a run that had gone well. Then the client, then the scheduler.
        """
        client, cluster = self.client, self.cluster
        if client is not None and self._futures:
            with contextlib.suppress(Exception):
                client.cancel(list(self._futures), force=True)
        self._futures.clear()
        if cluster is not None:
            with contextlib.suppress(Exception):
                _stop_workers(cluster, timeout=_CLOSE_TIMEOUT)
        if self._own_client and client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=_CLOSE_TIMEOUT)
            self.client = None
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=_CLOSE_TIMEOUT)
            self.cluster = None

    def n_workers(self) -> int:
        self.start()
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def describe(self) -> str:
        """One line: where the draws run."""
        n = self.n_workers()
        if self.cluster is not None:
            t = self.threads_per_worker
            return (
                f"dask: local cluster of {n} worker process{'es' if n != 1 else ''} x "
                f"{t} engine thread{'s' if t != 1 else ''}"
            )
        return f"dask: scheduler {self.client.scheduler.address}, {n} worker{'s' * (n != 1)}"

    # --- running ---------------------------------------------------------------------------
    def __call__(
        self, tensor, compiled, *, draws, seed, threads=None, chunk_size, timeseries=False
    ) -> Iterator:
        """Chunks of draws [0, draws) in draw order (the executor contract of simcore.api).

        The model is prepared (and its shapes checked) here, before anything is sent.
        """
        from simcore.engine import prepare

        draws, chunk_size = int(draws), int(chunk_size)
        if draws < 0 or chunk_size < 1:
            raise ExecutorError(f"draws ({draws}) and chunk size ({chunk_size}) must be positive")
        payload = pickle.dumps(prepare(tensor, compiled), protocol=pickle.HIGHEST_PROTOCOL)
        # one key per run, not per model: two runs of one scenario on a cluster (other
        # seeds, other clients) must not remove each other's model when they end
        run_id = uuid.uuid4().hex[:8]
        key = f"supplyshock-model-{hashlib.sha256(payload).hexdigest()[:16]}-{run_id}"
        threads = self.threads_per_worker or threads
        return self._chunks(
            key, run_id, payload, int(seed), draws, chunk_size, bool(timeseries), threads
        )

    def _chunks(self, key, run_id, payload, seed, draws, chunk_size, timeseries, threads):
        self.start()
        client = self.client
        client.register_plugin(ModelPlugin(key, payload, code_fingerprint()), name=key)
        ranges = [(s, min(chunk_size, draws - s)) for s in range(0, draws, chunk_size)]
        window = max(2, self.tasks_per_worker * max(1, self.n_workers()))
        position: dict = {}  # running future -> index in ranges
        early: dict[int, object] = {}  # chunks finished before an earlier one
        finished = distributed.as_completed()
        submitted = yielded = 0
        try:
            while yielded < len(ranges):
                # bounded memory: never more than `window` ranges past the next to yield
                while submitted < len(ranges) and submitted < yielded + window:
                    start, n = ranges[submitted]
                    fut = client.submit(
                        simulate_range,
                        key,
                        seed,
                        start,
                        n,
                        timeseries,
                        threads,
                        key=f"supplyshock-draws-{run_id}-{start}-{start + n}",
                        pure=False,
                        retries=self.retries,
                    )
                    position[fut] = submitted
                    self._futures.add(fut)
                    finished.add(fut)
                    submitted += 1
                if yielded in early:
                    chunk = early.pop(yielded)
                    yielded += 1
                    yield chunk
                    continue
                fut = next(finished)
                i = position.pop(fut)
                self._futures.discard(fut)
                early[i] = self._result(fut, ranges[i])
                fut.release()
        finally:
            if position:
                with contextlib.suppress(Exception):
                    client.cancel(list(position), force=True)
                self._futures.difference_update(position)
            with contextlib.suppress(Exception):
                client.unregister_worker_plugin(key)

    @staticmethod
    def _result(fut, draw_range):
        start, n = draw_range
        try:
            return unpack_histogram(fut.result())
        except distributed.KilledWorker:
            raise ExecutorError(
                f"Dask workers kept dying while running draws [{start}, {start + n}); check "
                f"the worker logs (out of memory? a smaller --chunk-size uses less)"
            ) from None
        except FutureCancelledError as exc:
            raise ExecutorError(
                f"the Dask cluster dropped draws [{start}, {start + n}) ({exc.reason}); was "
                f"the scheduler restarted or the client disconnected?"
            ) from None
