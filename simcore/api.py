"""The Python API the CLI is a thin layer over: run a scenario, verify a results folder.

``run(path, draws=..., seed=...)`` loads the scenario (and the dataset it names),
compiles it, simulates it chunk by chunk and streams the chunks into a results folder
(``simcore.results``). Nothing here knows how chunks are computed: an *executor* is any
callable ``executor(tensor, compiled, *, draws, seed, threads, chunk_size, timeseries)``
that yields ``ChunkResult``s in draw order. The default runs the local Numba engine; a
Dask executor can supply the same chunks from a cluster (MODEL.md §6: the results do not
depend on where the draws were computed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from simcore import __version__
from simcore._sourcehash import engine_source_hash
from simcore.errors import DatasetError, ResultError, ScenarioError
from simcore.limits import MAX_DRAWS, MAX_SEED
from simcore.runsize import LOCAL_CHUNK_SIZE, TASK_CHUNK_SIZE, Estimate, chunk_draws
from simcore.runsize import estimate as estimate_run

if TYPE_CHECKING:
    from simcore.results import Result

Executor = Callable[..., Iterable]

# simcore.results, which imports pyarrow, is imported where it is used: ``execute`` starts
# the kernel's first block before it (about 50 ms of a run's start, on one core). These
# names of it stay readable here (PEP 562).
_FROM_RESULTS = frozenset({"FORMAT", "FORMAT_3", "Layout", "Result", "atomic_folder",
                           "check_target", "combine_digests", "file_digest", "load_result",
                           "read_manifest", "write_chunks"})


def __getattr__(name: str):
    if name in _FROM_RESULTS:
        import simcore.results

        return getattr(simcore.results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def local_executor(
    tensor, compiled, *, draws, seed, threads, chunk_size, timeseries, progress=None
):
    """Chunks from the Numba engine in this process (``simcore.engine.simulate``).

    Loads the simulator (compiles it, the first time) before it returns. ``progress``:
    ``progress(done, draws)``, first with 0 when simulating starts, then as draws finish
    (several times a chunk).
    """
    from simcore.engine import simulate

    return simulate(
        tensor,
        compiled,
        draws=draws,
        seed=seed,
        threads=threads,
        chunk_size=chunk_size,
        timeseries=timeseries,
        progress=progress,
    )


COMPILING = "compiling the simulator once (20-70 s); later runs start in about a second"


# --------------------------------------------------------------------------------------
# Preparing a scenario
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Prepared:
    """A scenario loaded, validated and compiled, ready to run."""

    path: Path
    scenario: object  # simcore.scenario.Scenario
    tensor: object  # SupplyTensor
    compiled: object  # CompiledScenario
    dataset_override: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.compiled.name


def portable_path(path: Path | None) -> str | None:
    """``path`` relative to the working folder when below it (POSIX separators), so that
    a manifest written in a checkout is valid in any other clone; else absolute."""
    if path is None:
        return None
    path = Path(path).absolute()
    try:
        return path.relative_to(Path.cwd().absolute()).as_posix()
    except ValueError:
        return path.as_posix()


def prepare(path, dataset=None) -> Prepared:
    """Load and compile the scenario file at ``path``.

    ``dataset``: a dataset folder or a ``SupplyTensor`` to use instead of the one the
    file names. Raises ``ScenarioError``/``DatasetError`` on bad input.
    """
    from simcore.scenario import compile_scenario, load_scenario

    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"{path}: no such scenario file")
    if path.is_dir():
        raise ScenarioError(f"{path} is a folder; give a scenario file (.toml)")
    tensor, override = None, None
    if dataset is not None:
        from simcore.dataset import load_dataset
        from simcore.tensor import SupplyTensor

        if isinstance(dataset, SupplyTensor):
            tensor = dataset
            override = dataset.path
        else:
            override = Path(dataset)
            tensor = load_dataset(override)
    scenario = load_scenario(path, tensor)
    compiled = compile_scenario(scenario)
    return Prepared(
        path=path,
        scenario=scenario,
        tensor=scenario.tensor,
        compiled=compiled,
        dataset_override=override,
    )


def scenario_files(paths: Iterable) -> list[Path]:
    """Scenario files named by ``paths``, each once (the first time it is named): a
    folder stands for every ``*.toml`` in it. Raises ``ScenarioError`` listing every
    name that stands for no file."""
    from simcore.scenario.loader import scenario_paths

    files, problems = scenario_paths(paths)
    if problems:
        raise ScenarioError("\n".join(problems))
    return files


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def versions() -> dict:
    import numpy
    import pyarrow

    from simcore._native import numba_version

    try:
        found = numba_version()  # read without importing Numba (a run may not)
    except Exception:  # noqa: BLE001 - reported, not needed
        found = None
    return {
        "supplyshock": __version__,
        "engine_source": engine_source_hash(),
        "numba": found or "unknown",
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "python": platform.python_version(),
    }


def provenance(prep: Prepared, draws: int, seed: int, timeseries: bool, command: str) -> dict:
    """What the results are a function of (MODEL.md §6), for run.json and Parquet metadata."""
    from simcore.results import FORMAT

    c = prep.compiled
    dataset_path = (
        prep.dataset_override if prep.dataset_override is not None else (prep.scenario.dataset)
    )
    return {
        "format": FORMAT,
        "scenario": {
            "name": c.name,
            "path": portable_path(prep.path),
            "hash": c.scenario_hash,
            "files": [portable_path(f) for f in prep.scenario.files],
        },
        "dataset": {
            "hash": c.dataset_hash,
            "path": portable_path(dataset_path) if dataset_path is not None else "built-in",
            "override": prep.dataset_override is not None,
        },
        "seed": int(seed),
        "draws": int(draws),
        "horizon": int(c.horizon),
        "timeseries": bool(timeseries),
        "material_scope": [
            m for m, s in zip(prep.tensor.materials, c.material_scope.tolist(), strict=True) if s
        ],
        "interventions": intervention_costs(prep),
        "versions": versions(),
        "command": command,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def default_chunk_size(executor: Executor | None = None) -> int:
    """Draws per chunk when none is given: ``LOCAL_CHUNK_SIZE`` for the engine in this
    process, ``TASK_CHUNK_SIZE`` for any other executor (Dask)."""
    if executor is None or executor is local_executor:
        return LOCAL_CHUNK_SIZE
    return TASK_CHUNK_SIZE


def check_numbers(draws, seed, threads, chunk_size=None) -> None:
    """Raise ``ResultError`` for a run size the engine cannot take (``chunk_size`` None:
    the executor's default)."""
    if isinstance(draws, bool) or not isinstance(draws, int) or not 0 < draws <= MAX_DRAWS:
        raise ResultError(
            f"draws must be a positive whole number up to {MAX_DRAWS:,}, got {draws!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ResultError(f"seed must be a whole number in [0, 2**63), got {seed!r}")
    if threads is not None and (not isinstance(threads, int) or threads <= 0):
        raise ResultError(f"threads must be a positive whole number, got {threads!r}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0
    ):
        raise ResultError(f"chunk size must be a positive whole number, got {chunk_size!r}")


def estimate(prep: Prepared, draws=None, threads=None, timeseries=False) -> Estimate:
    """Time and disk of running ``prep`` (``simcore.runsize.estimate``)."""
    return estimate_run(prep.tensor, prep.compiled, draws, threads, timeseries)


def _progress(progress, total: int, label: str):
    from simcore.progress import Progress

    if progress is None or isinstance(progress, bool):
        return Progress(total, label=label, enabled=progress)
    return progress  # anything with update(n)


def execute(
    prep: Prepared,
    *,
    draws=None,
    seed=None,
    threads=None,
    chunk_size=None,
    timeseries=False,
    progress=None,
    out=None,
    executor: Executor | None = None,
    command: str | None = None,
) -> Result:
    """Run a prepared scenario; see :func:`run`.

    The local engine's first blocks are queued before the results package (and pyarrow)
    is imported and the writer set up, which then overlap the kernel's work."""
    from simcore.compiled import state_stock_holders
    from simcore.engine import exposures, zones
    from simcore.results.folders import check_target  # (no pyarrow)

    c = prep.compiled
    draws = c.draws if draws is None else draws
    seed = c.seed if seed is None else seed
    chunk_size = default_chunk_size(executor) if chunk_size is None else chunk_size
    check_numbers(draws, seed, threads, chunk_size)
    if command is None:
        command = f"simcore.run({portable_path(prep.path)!r}, draws={draws}, seed={seed})"
    engine_zones = zones(prep.tensor, c)
    engine_exposures = exposures(prep.tensor, c)
    holders = int(state_stock_holders(prep.tensor.stock, c.sp_stock).sum())
    chunk_size = chunk_draws(chunk_size, len(engine_exposures), len(engine_zones),
                             c.n_variates, c.n_events, int(c.horizon), timeseries, holders)
    if out is not None:
        out = Path(out)
        check_target(out, c.name, portable_path(prep.path))
    bar = _progress(progress, draws, c.name)
    try:
        chunks = _start(prep, executor, bar, progress is not False, draws=draws, seed=seed,
                        threads=threads, chunk_size=chunk_size, timeseries=timeseries)
        try:
            from simcore.results import Layout, Result, atomic_folder, write_chunks

            layout = Layout.from_exposures(prep.tensor, c, engine_exposures, engine_zones)
            meta = provenance(prep, draws, seed, timeseries, command)
            if out is not None:
                with atomic_folder(out) as staging:
                    write_chunks(staging, layout, chunks, meta, draws, timeseries, bar)
            else:
                folder = Path(tempfile.mkdtemp(prefix="supplyshock-"))
                try:
                    manifest = write_chunks(folder, layout, chunks, meta, draws, timeseries,
                                            bar)
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
        except BaseException:
            # whatever failed once the engine started: its queued blocks stop (write_chunks
            # stops them too, but not where the writer's setup fails before its loop)
            _stop(chunks)
            raise
    finally:
        _close(bar)
    if out is not None:
        from simcore.results import load_result

        return load_result(out)
    return Result(folder, manifest, temporary=True)


def _stop(chunks) -> None:
    """Stop an executor's chunks not taken (the local engine's queued blocks); the error
    being raised is the caller's, not one of closing."""
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


def _start(prep: Prepared, executor, bar, say: bool, **run):
    """The executor's chunks; the local engine is loaded here, the bar shown from the
    start (``COMPILING`` said above it when the simulator has to be compiled) and its
    rate counted from the first draw, compile time left out."""
    start = getattr(bar, "start", None) or (lambda waiting: None)
    if executor is not None and executor is not local_executor:
        start("waiting for the first chunk")
        return executor(prep.tensor, prep.compiled, **run)
    from simcore import _native

    start("loading the simulator")
    if _native.in_use():  # the kernel's library: nothing to compile, no Numba to import
        return local_executor(prep.tensor, prep.compiled, progress=_EngineWatch(bar), **run)
    from simcore._numba import on_compile

    note = getattr(bar, "note", None) or (lambda text: print(text, file=sys.stderr))

    def compiling() -> None:
        note(COMPILING)
        start("compiling the simulator")

    with on_compile(compiling if say else None):
        return local_executor(prep.tensor, prep.compiled, progress=_EngineWatch(bar), **run)


class _EngineWatch:
    """``progress(done, draws)`` of the engine, passed on to a bar: the first call (the
    simulator is ready) restarts the bar's clock, later ones say the draws finished."""

    def __init__(self, bar):
        self.bar = bar
        self.ready = False

    def __call__(self, done: int, total: int) -> None:
        if not self.ready:
            self.ready = True
            restart = getattr(self.bar, "restart_clock", None)
            if restart is not None:
                restart()
        reach = getattr(self.bar, "reach", None)
        if reach is not None:
            reach(done)


def _close(bar) -> None:
    close = getattr(bar, "close", None)
    if close is not None:
        close()


def run(
    path,
    draws=None,
    seed=None,
    threads=None,
    chunk_size=None,
    timeseries=False,
    progress=None,
    *,
    dataset=None,
    out=None,
    executor: Executor | None = None,
    command: str | None = None,
) -> Result:
    """Run the scenario file at ``path`` and return its ``Result``.

    ``draws``, ``seed``: default to the scenario's. ``threads``: Numba threads (default:
    all cores). ``chunk_size``: draws per chunk (default ``LOCAL_CHUNK_SIZE``, 1,024, in
    this process; ``TASK_CHUNK_SIZE``, 2,048, per task of another executor; at most as
    many as fit in ``simcore.runsize.CHUNK_BYTES`` of per-draw results), which bounds
    memory; results do not depend on it. ``timeseries``: also keep every draw's monthly
    shortage shares.
    ``progress``: ``None`` shows a bar on a terminal, ``True``/``False`` force it, or
    pass an object with ``update(n)``. ``dataset``: a dataset folder or ``SupplyTensor``
    replacing the one the file names. ``out``: write the results folder there
    (atomically) instead of a temporary folder; ``Result.save(dir)`` can do it later.
    ``executor``: where chunks are computed (default: this process).
    """
    prep = prepare(path, dataset)
    return execute(
        prep,
        draws=draws,
        seed=seed,
        threads=threads,
        chunk_size=chunk_size,
        timeseries=timeseries,
        progress=progress,
        out=out,
        executor=executor,
        command=command,
    )


# --------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``verify`` found. ``ok`` when the stored content matches the manifest and a
    re-run from the manifest reproduces it."""

    folder: Path
    problems: list[str]
    notes: list[str]
    # tables of an older results format that the re-run reproduces as readers see them,
    # not in their stored form (whose digest the newer format changed)
    as_read: tuple[str, ...] = ()
    sizing: int = 0  # tables of a stockpile sizing beside the run, checked

    @property
    def ok(self) -> bool:
        return not self.problems


def _locate(recorded: str, folder: Path) -> Path | None:
    """A path recorded relative to the working folder of the run: try the current
    working folder, then every folder above the results folder (a clone elsewhere)."""
    p = Path(recorded)
    if p.is_absolute():
        return p if p.exists() else None
    if p.exists():
        return p
    for base in Path(folder).absolute().parents:
        if (base / p).exists():
            return base / p
    return None


def _stored_draws(folder: Path, stored: dict, recorded: dict) -> int | None:
    """Rows of drivers.parquet (one a draw), where its content matches its digest."""
    if stored.get("drivers") is None or stored.get("drivers") != recorded.get("drivers"):
        return None
    import pyarrow.parquet as pq

    return pq.ParquetFile(folder / "drivers.parquet").metadata.num_rows


SIZING_TABLES = ("sizing.parquet", "allocation.parquet", "spillover.parquet",
                 "protection.parquet", "frontier.parquet", "search.parquet")


def _sizing_checked(folder: Path, manifest: dict, problems: list[str]) -> int:
    """A stockpile sizing's tables beside the run (``supplyshock stockpile size`` or
    ``budget`` writes both into one folder) against the SHA-256s of its stockpile.json,
    and that record against the run's digest; adds what differs to ``problems``.
    Returns the number of the sizing's tables (0: no sizing here)."""
    from simcore.stockpile.errors import StockpileError
    from simcore.stockpile.output import MANIFEST, load

    record = folder / MANIFEST
    if not record.is_file():
        left = [n for n in SIZING_TABLES if (folder / n).is_file()]
        if left:
            problems.append(
                f"{record} is missing: the stockpile sizing's tables beside the run "
                f"({', '.join(left)}) cannot be checked; run the sizing again")
        return len(left)
    try:
        m = load(folder)
    except StockpileError as exc:
        problems.append(str(exc))
        return 0
    problems.extend(f"{p} (a table of the stockpile sizing, {record.name})"
                    for p in m["problems"])
    linked = (m.get("results") or {}).get("digest")
    if linked != manifest["digest"]["sha256"]:
        problems.append(
            f"{record}: the sizing records results digest {str(linked)[:16]}, this run's "
            f"is {manifest['digest']['sha256'][:16]}: the run beside it is not the one the "
            "sizing wrote; run the sizing again")
    return len(m.get("tables") or {})


# manifest keys a run derives from its scenario and dataset (verify compares them with a
# re-run's; the digest covers the tables, not these)
_DERIVED_KEYS = ("horizon", "timeseries", "material_scope", "interventions", "labels",
                 "last_stage", "price_usd_per_t", "exposures", "zones", "files")


def verify(folder, threads=None, progress=False, scenario=None, dataset=None) -> Verification:
    """Check a results folder: stored tables against the manifest's digests, the
    scenario file and dataset against their recorded hashes, and a re-run from the
    manifest (seed, draws) against the digest. Raises ``ResultError`` only when the
    folder is not a results folder at all.

    ``scenario``, ``dataset``: the scenario file and dataset folder to re-run with, where
    the paths the manifest records (relative to the folder the run was made in) are not
    found from here; their hashes must still match the manifest's."""
    from simcore.results import (
        FORMAT,
        FORMAT_2,
        FORMAT_3,
        combine_digests,
        file_digest,
        load_result,
        read_manifest,
    )

    folder = Path(folder)
    manifest = read_manifest(folder)
    problems: list[str] = []
    notes: list[str] = []

    stored = {}
    recorded = manifest["digest"]["tables"]
    for name, want in recorded.items():
        path = folder / f"{name}.parquet"
        if not path.is_file():
            problems.append(f"{path.name} is missing")
            continue
        try:
            stored[name] = file_digest(path, manifest["labels"])
        except ResultError as exc:
            problems.append(str(exc))
            continue
        if stored[name] != want:
            problems.append(
                f"{path.name} was altered: its content no longer matches the manifest's digest"
            )
    if combine_digests(recorded) != manifest["digest"]["sha256"]:
        problems.append(
            f"{folder / 'run.json'}: the overall digest does not match the "
            f"table digests (the manifest was edited)"
        )
    sizing = _sizing_checked(folder, manifest, problems)
    stored_draws = _stored_draws(folder, stored, recorded)
    if stored_draws is not None and stored_draws != manifest["draws"]:
        # a re-run would differ in every table and say nothing about why
        problems.append(
            f"{folder / 'run.json'}: draws = {manifest['draws']}, but drivers.parquet "
            f"holds {stored_draws} draws (one row each): the manifest was edited; set "
            f"draws back to {stored_draws}"
        )
        return Verification(folder, problems, notes)

    sc = manifest["scenario"]
    found_beside = False  # the scenario file beside a moved folder, not where recorded
    if scenario is not None:
        scenario_path = Path(scenario)
        if not scenario_path.is_file():
            problems.append(f"scenario file {scenario} (given) not found")
            return Verification(folder, problems, notes)
    else:
        scenario_path = _locate(sc["path"], folder)
        if scenario_path is None:
            # a folder moved with its scenario beside it (a stockpile sizing's OUT/NAME/
            # and OUT/NAME.toml, copied or renamed together): its hash is checked below
            beside = folder.absolute().parent / Path(sc["path"]).name
            scenario_path = beside if beside.is_file() else None
            found_beside = scenario_path is not None
    if scenario_path is None:
        problems.append(
            f"scenario file {sc['path']} not found (looked in {Path.cwd()}, above "
            f"{folder} and beside it); run verify from the folder the run was made in, or "
            f"name the file with --scenario"
        )
        return Verification(folder, problems, notes)
    if dataset is not None:
        if not manifest["dataset"].get("override"):
            problems.append(
                "the run used the dataset its scenario names, not one given with "
                "--dataset; verify it without --dataset")
            return Verification(folder, problems, notes)
        if not Path(dataset).is_dir():
            problems.append(f"dataset folder {dataset} (given) not found")
            return Verification(folder, problems, notes)
    elif manifest["dataset"].get("override"):
        dataset = _locate(manifest["dataset"]["path"], folder)
        if dataset is None:
            problems.append(
                f"dataset folder {manifest['dataset']['path']} not found (looked in "
                f"{Path.cwd()} and above {folder}); name it with --dataset")
            return Verification(folder, problems, notes)
    try:
        prep = prepare(scenario_path, dataset)
    except (ScenarioError, ResultError) as exc:
        problems.append(f"cannot load the scenario for the re-run: {exc}")
        return Verification(folder, problems, notes)
    if prep.compiled.scenario_hash != sc["hash"]:
        what = (f"scenario file {scenario} (given) is not the run's {sc['path']}, or it "
                f"or a file it extends changed since the run" if scenario is not None else
                f"scenario file {portable_path(scenario_path)} (found beside the folder; "
                f"the run's was {sc['path']}) is not the run's, or it or a file it extends "
                "changed" if found_beside else
                f"scenario file {sc['path']} or a file it extends changed since the run")
        problems.append(
            f"{what} (scenario hash {sc['hash'][:12]} in the manifest, "
            f"{prep.compiled.scenario_hash[:12]} now)"
        )
    if prep.compiled.dataset_hash != manifest["dataset"]["hash"]:
        problems.append(
            f"dataset {manifest['dataset']['path']} changed since the run "
            f"(hash {manifest['dataset']['hash'][:12]} in the manifest, "
            f"{prep.compiled.dataset_hash[:12]} now)"
        )
    if problems:
        return Verification(folder, problems, notes)

    now = versions()
    for package in ("supplyshock", "engine_source", "numba", "numpy"):
        then = manifest.get("versions", {}).get(package)
        if then is not None and then != now[package]:
            notes.append(f"{package} {then} at the run, {now[package]} now")
    changed = list(notes)  # the code the run was made with, if it is not this one
    rerun = execute(
        prep,
        draws=manifest["draws"],
        seed=manifest["seed"],
        threads=threads,
        timeseries=manifest.get("timeseries", False),
        progress=progress,
        command="verify",
    )
    got = rerun.manifest["digest"]["tables"]
    differ = [name for name in recorded if got.get(name) != recorded[name]]
    read_lines: dict[str, list[str]] = {}
    same: tuple[str, ...] = ()
    written = manifest.get("format")
    upgraded = written in (FORMAT_3, FORMAT_2) and rerun.manifest.get("format") == FORMAT
    if differ and upgraded:
        # format 3 stored the shortage rows of every buyer under its own labels, format 2
        # every row and column, format 4 stores a zone's buyers without a state stock once
        # (docs/results.md): the shortage (and format 3's exposures) tables' digests
        # differ by construction, so they are compared as readers see them, every draw
        # and exposure (within float32's rounding of one share)
        notes.append(f"written in {written}, re-run in {FORMAT}: "
                     f"{'shortage and exposures' if written == FORMAT_3 else 'shortage'} "
                     f"compared as read")
        rows = int(manifest.get("draws", 0)) * int(manifest.get("exposures", 0))
        old, new = load_result(folder), load_result(rerun.folder)
        for name in differ:
            if name not in ("shortage", "exposures") or stored.get(name) != recorded[name]:
                continue
            if name == "shortage" and rows > AS_READ_ROWS:
                read_lines[name] = [
                    f"{rows:,} rows (draws x exposures) are too many to compare as read "
                    f"(at most {AS_READ_ROWS:,}): run the scenario again to rewrite the "
                    f"folder in {FORMAT}"]
                continue
            read_lines[name] = _differences(*_as_read(old, new, name), rtol=_AS_READ_RTOL)
        same = tuple(name for name in differ if not read_lines.get(name, True))
        differ = [name for name in differ if name not in same]
    if manifest.get("format") == rerun.manifest.get("format") or upgraded:
        # what the run derived from its scenario and dataset, outside the digest
        edited = [key for key in _DERIVED_KEYS
                  if key in manifest and manifest[key] != _as_recorded(
                      key, manifest[key], rerun.manifest.get(key), written)]
        if edited:
            why = (f"the code changed since the run ({'; '.join(changed)}): run the "
                   f"scenario again to rewrite the folder" if changed
                   else "the manifest was edited")
            problems.append(
                f"{folder / 'run.json'}: {', '.join(edited)} "
                f"{'differs' if len(edited) == 1 else 'differ'} from what a re-run records "
                f"({why})"
            )
    if differ:
        why = f" ({'; '.join(notes)})" if notes else ""
        problems.append(f"a re-run from the manifest gives different {', '.join(differ)}{why}")
        if ("drivers" in differ and not changed
                and stored.get("drivers") == recorded["drivers"]
                and _other_draws(folder / "drivers.parquet", rerun.folder / "drivers.parquet")):
            problems.append(
                f"{folder / 'run.json'}: the stored draws are not those of seed "
                f"{manifest['seed']}: nearly every sampled value differs from the re-run's "
                f"(same code, scenario and dataset), so the manifest's seed was edited or "
                f"the tables come from a run with another seed")
        if not changed and not read_lines and all(stored.get(n) == recorded[n]
                                                  for n in differ):
            line = _rounding_line(folder, rerun.folder, differ)
            if line is not None:
                problems.append(line)
        for name in differ:
            if name in read_lines:
                problems.extend(f"{name}: {line}" for line in read_lines[name])
            elif name in stored and stored[name] == recorded[name]:
                problems.extend(
                    f"{name}: {line}"
                    for line in table_differences(
                        folder / f"{name}.parquet", rerun.folder / f"{name}.parquet"
                    )
                )
    del rerun
    return Verification(folder, problems, notes, same, sizing)


def _as_recorded(key: str, stored, rerun, written=None):
    """A re-run's manifest value as an earlier version recorded it: the interventions'
    ``probability`` came later (a run recorded without it is not edited); format 2 had
    no exposures table (``written``: the folder's format)."""
    from simcore.results import FORMAT_2

    if key == "files" and written == FORMAT_2 and isinstance(rerun, list):
        return [f for f in rerun if f != "exposures.parquet"]
    if key == "interventions" and isinstance(stored, list) and isinstance(rerun, list) \
            and not any(isinstance(i, dict) and "probability" in i for i in stored):
        return [{k: v for k, v in i.items() if k != "probability"}
                if isinstance(i, dict) else i for i in rerun]
    return rerun


def _other_draws(stored: Path, rerun: Path) -> bool:
    """Whether two drivers tables hold other draws altogether: over 90 % of the values of
    the columns that vary (the sampled inputs) differ. The same seed, scenario and code
    give the same values (they depend on seed, variate and draw only), so that says the
    seed differs; a change of the model leaves the drivers as they are."""
    import numpy as np
    import pyarrow.parquet as pq

    a, b = pq.read_table(stored), pq.read_table(rerun)
    if a.column_names != b.column_names or a.num_rows != b.num_rows or not a.num_rows:
        return False
    cells = differ = 0
    for name in a.column_names:
        x = a.column(name).to_numpy(zero_copy_only=False)
        y = b.column(name).to_numpy(zero_copy_only=False)
        if name == "draw" or x.dtype.kind != "f" or np.all(x == x[0]):
            continue
        cells += x.size
        differ += int(np.count_nonzero((x != y) & ~(np.isnan(x) & np.isnan(y))))
    return cells > 0 and differ > 0.9 * cells


# the largest relative difference (by float width) that verify calls rounding: a float64
# sampled value moved by up to 63 units in its last place (1e-14) in the partner study
# where a quantile's inversion or the copula's erfc steps on another rounding of log or
# exp; a float32 by its last bit or two. A change of the model moves numbers far more,
# and other draws (an edited seed) nearly every sampled value (_other_draws).
ROUNDING_RTOL = {8: 1e-12, 4: 2.4e-7}


def _rounding_apart(stored: Path, rerun: Path, name: str) -> float | None:
    """The largest relative difference between the numbers of table ``name`` in two
    results folders, where they differ only by rounding: same columns and rows, every
    other column equal, NaN where the other has NaN, each float within
    ``ROUNDING_RTOL`` of its counterpart; else None. What a math library that rounds
    otherwise leaves (docs/model.md, section 6)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    a = pq.read_table(Path(stored) / f"{name}.parquet")
    b = pq.read_table(Path(rerun) / f"{name}.parquet")
    if a.column_names != b.column_names or a.num_rows != b.num_rows:
        return None
    most = 0.0
    for column in a.column_names:
        x, y = a.column(column), b.column(column)
        if x.equals(y):
            continue
        if x.type != y.type or not pa.types.is_floating(x.type) or x.type.bit_width < 32:
            return None
        xs = x.to_numpy(zero_copy_only=False)
        ys = y.to_numpy(zero_copy_only=False)
        nan = np.isnan(xs)
        if (nan != np.isnan(ys)).any():
            return None
        xs, ys = xs[~nan].astype(np.float64), ys[~nan].astype(np.float64)
        differ = xs != ys
        xs, ys = xs[differ], ys[differ]
        if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
            return None  # an infinity against a number, or against the other
        rel = np.abs(xs - ys) / np.maximum(np.abs(xs), np.abs(ys))
        worst = float(rel.max(initial=0.0))
        if not worst <= ROUNDING_RTOL[x.type.bit_width // 8]:
            return None
        most = max(most, worst)
    return most


def _rounding_line(stored: Path, rerun: Path, differ: list[str]) -> str | None:
    """Where a re-run differs from a run only by the rounding of its sampled values (the
    drivers), or of every number that differs, the line that says so: the same model and
    draws, rounded otherwise (a math library's last bit), not another model or other
    draws."""
    apart = {name: _rounding_apart(stored, rerun, name) for name in differ}
    if apart.get("drivers") is not None:
        what = "the sampled values (drivers) differ only by rounding"
        rel = apart["drivers"]
        if len(differ) > 1:
            what += ", the other tables as they follow from them"
    elif all(v is not None for v in apart.values()):
        what = "every number that differs differs only by rounding"
        rel = max(apart.values())
    else:
        return None
    return (f"{what} (relative differences up to {rel:.1g}): the same code, model and "
            f"draws, rounded otherwise than where the run was made (the market's prices "
            f"use the platform's exp and log, whose last bit differs between CPUs and "
            f"systems: docs/model.md, section 6)")


AS_READ_ROWS = 5_000_000  # the most (draw, exposure) rows verify expands to compare
_AS_READ_RTOL = 2.4e-7  # a format 4 buyer takes its zone lead's float32 share (2^-22)


def _as_read(old: Result, new: Result, name: str) -> tuple:
    """Table ``name`` of a format 3 (or 2) folder and of its format 4 re-run as readers see it
    (the shortage table with every draw and exposure; exposures without the re-run's
    ``stored_as``)."""
    a, b = old.table(name), new.table(name)
    if name == "exposures" and "stored_as" not in a.column_names:
        b = b.drop_columns(["stored_as"])
    return a, b


def table_differences(stored: Path, rerun: Path, limit: int = 5) -> list[str]:
    """Which columns of two versions of a table differ, in how many rows, by how much."""
    import pyarrow.parquet as pq

    return _differences(pq.read_table(stored), pq.read_table(rerun), limit)


def _differences(a, b, limit: int = 5, rtol: float = 0.0) -> list[str]:
    """Which columns of two Arrow tables differ, in how many rows, by how much (floats
    within ``rtol`` of each other, or both NaN, count as the same)."""
    import numpy as np
    import pyarrow as pa

    if a.column_names != b.column_names:
        only_a = [c for c in a.column_names if c not in b.column_names]
        only_b = [c for c in b.column_names if c not in a.column_names]
        return [f"columns differ: only stored {only_a}, only re-run {only_b}"]
    if a.num_rows != b.num_rows:
        return [f"{a.num_rows} rows stored, {b.num_rows} in the re-run"]
    lines = []
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_dictionary(x.type):
            x, y = x.cast(pa.string()), y.cast(pa.string())
        if x.equals(y):
            continue
        xs = x.to_numpy(zero_copy_only=False)
        ys = y.to_numpy(zero_copy_only=False)
        if xs.dtype.kind == "f":
            xs, ys = xs.astype(np.float64), ys.astype(np.float64)
            same = ((np.abs(xs - ys) <= rtol * np.maximum(np.abs(xs), np.abs(ys)))
                    | (np.isnan(xs) & np.isnan(ys)))
            worst = float(np.nanmax(np.abs(xs - ys))) if (~same).any() else 0.0
            extra = f", largest difference {worst:.6g}"
        else:
            same = np.array([u == v for u, v in zip(xs, ys, strict=True)])
            extra = ""
        if same.all():
            continue
        lines.append(f"column {name}: {int((~same).sum())} of {a.num_rows} rows differ{extra}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more columns"]
    return lines


# --------------------------------------------------------------------------------------
# What a policy costs
# --------------------------------------------------------------------------------------


@dataclass
class PolicyCost:
    """The cost of a variant's interventions that its base does not have (by id):
    ``stockpile_usd`` (each stockpile's ``cost_usd``, else its tonnes at the reference
    price), ``capacity_usd`` (the ``cost_usd`` the file states), ``unstated`` (ids of
    capacity interventions that state none), ``ids`` (the interventions counted),
    ``stockpile_stated_usd`` (the part of ``stockpile_usd`` that files state),
    ``removed`` (ids of the base's interventions the variant lacks, holds as another kind
    or holds at a lower cost: not counted, and no value per dollar is given). Each
    counted once, whatever its probability; the price excludes carrying costs."""

    stockpile_usd: float
    capacity_usd: float
    unstated: list[str]
    ids: list[str]
    stockpile_stated_usd: float = 0.0
    removed: list[str] = field(default_factory=list)  # the base's, not the variant's
    # ids held by both runs at another cost (a variant that resizes the base's stockpile,
    # one the base holds with probability 0 counting as not held): the difference counted
    changed: list[str] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return self.stockpile_usd + self.capacity_usd


def intervention_costs(prep: Prepared) -> list[dict]:
    """What each intervention of a prepared scenario costs, for run.json (so that
    ``policy_cost`` needs no scenario file): ``id``, ``kind`` (``stockpile`` or
    ``capacity``), ``cost_usd`` (as the file states it; null where it states none),
    ``probability`` and, for a stockpile that states none, ``priced_usd`` (its tonnes at
    the dataset's reference prices)."""
    sc, compiled, tensor = prep.scenario, prep.compiled, prep.tensor
    out = []
    for j, sp in enumerate(sc.stockpiles):
        row = {"id": sp.id, "kind": "stockpile",
               "cost_usd": None if sp.cost_usd is None else float(sp.cost_usd),
               "probability": float(sp.probability)}
        if sp.cost_usd is None:
            row["priced_usd"] = float((compiled.sp_stock[j].sum(axis=1) * tensor.price).sum())
        out.append(row)
    for cap in sc.capacities:
        out.append({"id": cap.id, "kind": "capacity",
                    "cost_usd": None if cap.cost_usd is None else float(cap.cost_usd),
                    "probability": float(cap.probability)})
    return out


def policy_cost(base, variant) -> PolicyCost | None:
    """:class:`PolicyCost` of ``variant`` against ``base`` (two ``Result``s): from the
    interventions their manifests record (runs of this version), else from their
    scenario files as recorded in the manifests; None where neither can be had (a file
    that cannot be found or loaded any more: nothing can be said about the cost)."""
    listed = [r.manifest.get("interventions") for r in (base, variant)]
    if all(isinstance(x, list) for x in listed):
        known = all(i.get("kind") in ("stockpile", "capacity") for x in listed for i in x)
        return _cost_of(listed[0], listed[1]) if known else None
    preps = []
    for result in (base, variant):
        recorded = result.manifest.get("scenario", {}).get("path")
        found = _locate(recorded, result.folder) if recorded else None
        if found is None:
            return None
        try:
            preps.append(prepare(found))
        except (ScenarioError, DatasetError):
            return None
    return _cost_of(*(intervention_costs(p) for p in preps))


def _cost_of(base: list[dict], variant: list[dict]) -> PolicyCost:
    """The cost of ``variant``'s interventions that ``base`` lacks, both as
    ``intervention_costs`` lists them. An intervention held with probability 0 counts as
    not held (runs before probabilities were recorded: held); one both hold at another
    cost (resized, or stated otherwise) counts for the difference."""
    def held(rows):
        return {i["id"]: i for i in rows if float(i.get("probability", 1.0)) > 0.0}

    def cost(i):  # (dollars or None where unstated, of which stated)
        stated = i.get("cost_usd")
        if stated is not None:
            return float(stated), float(stated)
        if i["kind"] == "stockpile":
            return float(i.get("priced_usd") or 0.0), 0.0
        return None, 0.0

    old, new = held(base), held(variant)
    stockpile = capacity = stated = 0.0
    unstated, ids, changed, less = [], [], [], []
    for key, i in new.items():
        usd, of_it = cost(i)
        if key in old and old[key]["kind"] == i["kind"]:
            was, was_stated = cost(old[key])
            if usd == was:
                continue  # held alike by both
            if usd is None or was is None:
                usd = None  # the difference is not known
            elif usd < was:
                less.append(key)  # its saving is no policy cost: as one the variant lacks
                continue
            else:
                usd, of_it = usd - was, (of_it - was_stated if of_it and was_stated else 0.0)
            changed.append(key)
        ids.append(key)
        if usd is None:
            unstated.append(key)
        elif i["kind"] == "stockpile":
            stockpile += usd
            stated += of_it
        else:
            capacity += usd
    # the base's that the variant lacks, holds as another kind, or holds for less
    removed = [key for key in old if key not in new or new[key]["kind"] != old[key]["kind"]]
    return PolicyCost(stockpile, capacity, unstated, ids, stated, removed + less, changed)
