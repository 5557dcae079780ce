"""Writing a sizing or a budget: the scenario variant and its results folder.

``OUT/<name>.toml`` is the variant (it ``extends`` the study by a relative path and adds
the stockpiles); ``OUT/<name>/`` is a results folder of that variant at the sizing's
draws and seed, written by the ordinary run (so ``supplyshock verify OUT/<name>``
re-runs and checks it, and ``supplyshock run OUT/<name>.toml`` reproduces it), with the
sizing's own tables beside the run's:

- ``stockpile.json``: what was asked and found (the recommendation, the method, the
  command, versions, the SHA-256 of each table below);
- ``sizing.parquet`` (``size``) or ``allocation.parquet`` (``budget``): the
  recommendation, one row per (holder, material) or pool;
- ``search.parquet``: every evaluation of the search (size, rate, statistic, draws);
- ``spillover.parquet`` and ``protection.parquet`` (``size``): who protects whom, and
  each holder's statistic without stockpiles, with the national ones, with the pool;
- ``frontier.parquet`` (``budget``): budget -> objective.

Nothing is left half-written: the results folder is placed atomically (the run's
staging folder, simcore.results.atomic_folder) and the variant file is put back as it
was when anything fails.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np

from simcore.stockpile.errors import StockpileError
from simcore.stockpile.variant import variant_text

FORMAT = "supplyshock-stockpile/1"
MANIFEST = "stockpile.json"
MARKER = "Written by `supplyshock stockpile"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_name(study_name: str, kind: str, reserved: bool = False) -> str:
    """<study>-stockpile-<kind>, and -reserved for stockpiles reserved for their holders:
    a reserved sizing and a selling one of the same study do not replace each other."""
    return f"{study_name}-stockpile-{kind}" + ("-reserved" if reserved else "")


def check_output(study_name: str, out, name: str | None, kind: str,
                 study_files=(), reserved: bool = False) -> tuple[Path, Path, str]:
    """(variant file, results folder, name) for a run about to write there; raises
    ``StockpileError`` before anything is computed when that cannot be done.
    ``study_files``: the study's file and the files it extends, none of which the
    variant may replace."""
    from simcore.api import portable_path
    from simcore.errors import ResultError
    from simcore.results import check_target, writable_parent

    name = name or default_name(study_name, kind, reserved)
    if not _SAFE.match(name):
        raise StockpileError(
            f"--name {name!r}: use letters, digits, '.', '_' and '-' (it names a file and "
            "a results folder)"
        )
    from simcore.scenario.schema import MAX_NAME

    if len(name) > MAX_NAME:
        raise StockpileError(
            f"--name {name[:40]!r}... has {len(name)} characters, more than the {MAX_NAME} "
            "a scenario's name may have (it names a file and a results folder); give a "
            "shorter one with --name"
        )
    out = Path(out)
    toml, folder = out / f"{name}.toml", out / name
    try:
        writable_parent(folder)
        check_target(folder, name, portable_path(toml), sizing=True)
    except ResultError as exc:
        raise StockpileError(f"--out/--name: {exc}") from None
    if toml.exists() and any(toml.resolve() == Path(f).resolve() for f in study_files):
        raise StockpileError(
            f"--out/--name: {toml} is the study (or a file it extends); the variant would "
            "replace it and extend itself: choose another --name or --out"
        )
    if toml.exists():
        head = toml.read_text(encoding="utf-8", errors="replace")[:400] if toml.is_file() else ""
        if MARKER not in head:
            raise StockpileError(
                f"--out/--name: {toml} exists and was not written by supplyshock stockpile; "
                "remove it or choose another --name or --out"
            )
    return toml, folder, name


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table(rows: list[dict], path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows) if rows else pa.table({})
    pq.write_table(table, path, compression="zstd")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _header(result, command: str) -> list[str]:
    from simcore import __version__

    p = result.problem
    verb = "budget" if result.kind == "budget" else "size"
    lines = [f"{MARKER} {verb}` (supplyshock {__version__}); a new sizing of this name "
             "replaces this file.",
             f"Study: {p.prep.path}; draws {p.draws}, seed {p.seed}.",
             f"Command: {command}"]
    if result.kind == "budget":
        lines.append(f"Budget {result.budget_usd:,.0f} USD in {result.steps} steps, "
                     f"objective {result.objective}; spent {result.final['spent_usd']:,.0f} "
                     "USD.")
    else:
        lines.append(f"Target: {result.target.text} ({result.target.label} of each holder).")
    lines += ["Reproduce: supplyshock run THIS_FILE (its draws and seed are below), then "
              "supplyshock verify.", "See the results folder of the same name for the "
              "search (search.parquet) and docs/stockpile.md for the method."]
    return lines


def write(result, out="stockpile", name: str | None = None, command: str = "",
          progress=None) -> Path:
    """Write ``result`` (a ``Sizing`` or a ``Budget``) as OUT/<name>.toml and
    OUT/<name>/; returns the results folder."""
    from simcore import api

    p = result.problem
    kind = result.kind
    toml, folder, name = check_output(p.prep.name, out, name, kind, p.prep.scenario.files,
                                      p.reserved)
    out = Path(out)
    extends = Path(os.path.relpath(Path(p.prep.path).absolute(), out.absolute())).as_posix()
    ivs = p.interventions(result.sizes, kind)
    description = _description(result)
    text = variant_text(extends, name, ivs, description=description, draws=p.draws,
                        seed=p.seed, header=_header(result, command))
    old = toml.read_bytes() if toml.is_file() else None
    made_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    _write_text(toml, text)
    try:
        prep = api.prepare(toml, p.prep.dataset_override)
        _same_arrays(result, prep)
        from simcore.results import MANIFEST as RUN_MANIFEST
        from simcore.results import atomic_folder

        run_command = shlex.join(["supplyshock", "run", api.portable_path(toml), "--draws",
                                  str(p.draws), "--seed", str(p.seed)])
        with atomic_folder(folder) as staging:
            res = api.execute(prep, draws=p.draws, seed=p.seed, progress=progress,
                              command=run_command)
            for f in [*res.manifest["files"], RUN_MANIFEST]:
                shutil.copyfile(res.folder / f, staging / f)
            digests = _tables(result, staging)
            manifest = _manifest(result, prep, toml, digests, command, res.manifest)
            (staging / MANIFEST).write_text(json.dumps(_json_ready(manifest), indent=2)
                                            + "\n", encoding="utf-8")
            del res
    except BaseException:
        if old is None:
            toml.unlink(missing_ok=True)
        else:
            _write_text(toml, old.decode("utf-8"))
        if made_out and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    return folder


def _description(result) -> str:
    p = result.problem
    holders = ", ".join(h.name for h in p.holders)
    if result.kind == "budget":
        return (f"Stockpiles bought greedily with {result.budget_usd:,.0f} USD for {holders} "
                f"(objective {result.objective}).")
    what = "one shared stockpile per material" if result.kind == "pooled" else \
        "national stockpiles, each sized on its own"
    return f"Stockpiles for target {result.target.text} of {holders}: {what}."


def _same_arrays(result, prep) -> None:
    """The written variant compiles to the stockpile arrays the search evaluated, number
    for number: otherwise its run would not reproduce the recommendation."""
    p = result.problem
    ev = p.evaluator
    stock, rate = ev.sizes_arrays(
        {p.placement(h, k).id: v for (h, k), v in result.sizes.items() if v[0] > 0})
    c = prep.compiled
    ids = list(c.intervention_id)
    for pid, pl in ev.placements.items():
        j_search = pl.j
        if pid in ids:
            j = ids.index(pid)
            same = np.array_equal(c.sp_stock[j], stock[j_search]) and np.array_equal(
                c.sp_max_release[j], rate[j_search])
        else:
            same = not stock[j_search].any()
        if not same:
            raise RuntimeError(
                f"the variant {prep.path} compiles intervention {pid} to other stockpile "
                "arrays than the search used; please report this"
            )


def _tables(result, folder: Path) -> dict:
    out = {}
    if result.kind == "budget":
        out["allocation.parquet"] = _table(result.rows, folder / "allocation.parquet")
        out["frontier.parquet"] = _table(result.frontier, folder / "frontier.parquet")
    else:
        out["sizing.parquet"] = _table(result.rows, folder / "sizing.parquet")
        out["spillover.parquet"] = _table(result.spillover, folder / "spillover.parquet")
        out["protection.parquet"] = _table(result.protection, folder / "protection.parquet")
    out["search.parquet"] = _table(result.trace, folder / "search.parquet")
    return out


def _manifest(result, prep, toml: Path, digests: dict, command: str, run: dict) -> dict:
    from simcore import api
    from simcore.stockpile.sizing import RATE_SLACK, REL_TOL, SEARCH_TOL

    p = result.problem
    m = dict(
        format=FORMAT,
        kind="budget" if result.kind == "budget" else "size",
        scheme="pooled" if p.pool else "national",
        study=dict(name=p.prep.name, path=api.portable_path(p.prep.path),
                   hash=p.prep.compiled.scenario_hash),
        variant=dict(name=prep.name, path=api.portable_path(toml),
                     hash=prep.compiled.scenario_hash),
        results=dict(digest=run["digest"]["sha256"], draws=run["draws"], seed=run["seed"]),
        holders={h.name: list(h.codes) for h in p.holders},
        materials=[p.material_name(k) for k in p.materials],
        no_need=[dict(holder=h, material=p.material_name(k)) for h, k in p.no_need],
        reserved=p.reserved, pool=p.pool, carry=p.carry,
        max_release_share=p.max_release_share, draws=p.draws, search_draws=p.search_draws,
        seed=p.seed, horizon=p.horizon,
        method=dict(size_tolerance=REL_TOL, search_tolerance=SEARCH_TOL,
                    rate_slack=RATE_SLACK,
                    interval="95 % order-statistic interval of the quantile (binomial ranks)"
                    if result.kind != "budget" else
                    "95 %: mean +- 1.96 standard errors (expected-value), order statistics "
                    "(p95)"),
        runs=result.runs, draws_simulated=result.draws_run, seconds=result.seconds,
        tables=digests, command=command, versions=api.versions(),
        created_utc=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    if result.kind == "budget":
        m.update(objective=result.objective, budget_usd=result.budget_usd,
                 steps=result.steps, step_usd=result.step_usd, stopped=result.stopped,
                 final=result.final, allocation=result.rows)
    else:
        t = result.target
        m.update(target=dict(text=t.text, quantile=t.quantile, metric=t.metric,
                             value=t.value, label=t.label),
                 recommendation=result.rows)
    return m


def load(folder) -> dict:
    """The sizing manifest of a folder written by ``write`` (raises ``StockpileError``
    when there is none), with the SHA-256 of each table checked."""
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.is_file():
        raise StockpileError(f"{folder} is a file; give the folder `supplyshock stockpile "
                             "size` or `budget` wrote (OUT/NAME/, e.g. "
                             "stockpile/partners-2026-stockpile-national/)")
    if not folder.is_dir():
        raise StockpileError(f"{folder}: no such folder; give a folder written by "
                             "`supplyshock stockpile size` or `budget` (OUT/NAME/)")
    if not path.is_file():
        inside = sorted(p.parent.name for p in folder.glob(f"*/{MANIFEST}"))
        raise StockpileError(
            f"{folder}: no {MANIFEST}; give a folder written by `supplyshock stockpile size` "
            "or `budget`" + (f" (the --out folder holds {len(inside)}: "
                             f"{', '.join(str(folder / n) for n in inside[:5])}"
                             f"{', ...' if len(inside) > 5 else ''})" if inside else "")
        )
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StockpileError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(m, dict):
        raise StockpileError(f"{path}: not a sizing record (a JSON object); it was edited or "
                             "damaged: run the sizing again")
    if m.get("format") != FORMAT:
        raise StockpileError(f"{path}: format {m.get('format')!r} is not {FORMAT!r}")
    problems = []
    for name, digest in (m.get("tables") or {}).items():
        f = folder / name
        if not f.is_file():
            problems.append(f"{name} is missing")
        elif hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            problems.append(f"{name} was altered since it was written")
    m["problems"] = problems
    return m


def read_table(folder, name: str):
    """One of the sizing's tables as a pandas DataFrame."""
    import pandas as pd

    return pd.read_parquet(Path(folder) / f"{name}.parquet")
