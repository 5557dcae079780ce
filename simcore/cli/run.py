"""``supplyshock run | summarize | compare | verify``: the commands analysts live in.

A thin layer over ``simcore.api`` and ``simcore.results`` (docs/results.md): options are
parsed here, everything else happens in the library. The library is imported inside
the commands so that ``supplyshock --help`` stays instant.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

import click

from simcore._paths import shell_word
from simcore.cli import OutPath
from simcore.limits import MAX_DRAWS, MAX_SEED, SHARE_DUST
from simcore.money import usd as _usd

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_WORST = 10  # rows in the closing table of `run`
_TOP = 25  # rows of the `summarize` table unless --top says otherwise
_TABLE_COLUMNS = [  # summary columns a terminal has room for
    "material",
    "stage",
    "country",
    "share_mean",
    "share_p50",
    "share_p95",
    "share_es95",
    "peak_share_p95",
    "prob_short",
    "months_short_mean",
    "survive_month_p50",
    "recover_month_p50",
    "price_peak_p95",
    "value_mean_usd",
]


def _n_draws(n: int) -> str:
    return "1 draw" if n == 1 else f"{n:,} draws"


def register(main: click.Group) -> None:
    main.add_command(run)
    main.add_command(summarize)
    main.add_command(compare)
    main.add_command(verify)


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}%"


def _text_table(header: list[str], rows: list[list[str]], indent: str = "  ",
                left: int = 3) -> str:
    """Columns padded to their widths: the first ``left`` to the left, the rest right."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = []
    for r in [header, *rows]:
        cells = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _largest_changes(table, top: int):
    """compare's rows with the ``top`` largest mean changes (all where top is 0), in the
    table's order. Rows that do not change (within ``SHARE_DUST``) are left out, as the
    option's help says (a new-user pass saw --top 5 fill four rows with +0.00 pp);
    where no row changes, the first ``top`` rows, so that the table is not empty."""
    if not top:
        return table
    change = table["change_mean"].abs()
    moved = change[change > SHARE_DUST].nlargest(top).index
    if not len(moved):
        return table.head(top)
    return table[table.index.isin(moved)]


def _compare_cells(r) -> list[str]:
    """A compare row's figures as the table prints them."""
    from simcore.report.analysis import pp as _pp

    return [
        _pct(r.base_share_mean),
        _pct(r.variant_share_mean),
        f"{_pp(r.change_mean)} pp "
        + (f"[{_pp(r.change_ci_low)}, {_pp(r.change_ci_high)}]"
           if r.change_ci_low == r.change_ci_low else "[one draw: no interval]"),
        f"{r.prob_better:.2f}",
        f"{r.prob_worse:.2f}",
    ]


def worst_table(summary, draws: int, n: int = _WORST, alike: dict | None = None,
                partners=()) -> str:
    """The closing table of a run: the exposures with the largest mean shortage share.
    ``alike`` ((material, stage, country) -> a key equal for the exposures of a material
    and stage with the same shares in every draw, ``simcore.results.alike_exposures``)
    folds them into one row named by its largest buyer, "USA +2", whose E[value] is their
    sum; a group whose largest buyer is not one of ``partners`` names the largest
    partner in it too, "VNM +29 incl. USA"."""
    from simcore.report.analysis import fold_alike, who

    frame = summary.reset_index(drop=True).copy()
    for c in ("material", "stage", "country"):
        frame[c] = frame[c].astype(str)
    hit = frame[frame["share_mean"] > 0].sort_values(["share_mean", "share_p95"],
                                                      ascending=False, kind="stable")
    if not len(hit):
        return "No shortage in the one draw." if draws == 1 else (
            f"No shortage in any of {draws:,} draws.")
    alike = alike or {}

    def lead(k):
        return alike.get(k, k)

    # each group named by its largest buyer (China, not Canada, for cobalt ore), its
    # E[value] their sum
    first = fold_alike(hit.assign(value=hit["value_mean_usd"]), same=lead,
                       partners=partners).head(n)
    value: dict = {}
    for k, v in zip(zip(hit["material"], hit["stage"], hit["country"], strict=True),
                    hit["value_mean_usd"], strict=True):
        value[lead(k)] = value.get(lead(k), 0.0) + (0.0 if v != v else float(v))
    rows = [
        [
            r.material,
            r.stage,
            who(r.country, r.alike, r.incl),
            _pct(r.share_mean),
            _pct(r.share_p95),
            _pct(getattr(r, "peak_share_p95", float("nan"))),
            f"{r.prob_short:.2f}",
            _usd(value[lead((r.material, r.stage, r.country))]),
        ]
        for r in first.itertuples()
    ]
    header = ["material", "stage", "country", "mean", "P95", "worst month P95", "P(short)",
              "E[value]"]
    note = ("\n(mean, P95: of the shortage share over draws, the P95 reached or passed in "
            "one draw in twenty; worst month P95: the P95 of each draw's largest monthly "
            "share; P(short): the share of draws with a month more than 1 % short; "
            "E[value]: the mean shortage at the reference price, a stage's rows overlapping "
            "the next stage's (ore a refiner lacks is refined metal its buyers lack): do not "
            "add stages up)")
    note += ("\n(+N: that many more buyers with the same shares in every draw, named by "
             "the largest, and the largest partner economy among them where it is not one "
             "(incl.); E[value] sums them; `summarize` lists each)"
             if (first["alike"] > 0).any() else "")
    return (
        f"Worst exposures by mean (shortage share of horizon need over "
        f"{_n_draws(draws)}; the report and `sensitivity` rank by P95):\n"
        + _text_table(header, rows) + note
    )


@click.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path())
@click.option(
    "--draws",
    "-n",
    type=click.IntRange(1, MAX_DRAWS),
    default=None,
    help="Number of draws (default: the scenario's).",
)
@click.option(
    "--seed",
    "-s",
    type=click.IntRange(0, MAX_SEED - 1),
    default=None,
    help="Random seed (default: the scenario's).",
)
@click.option(
    "--out",
    "-o",
    type=OutPath(),
    default="results",
    show_default=True,
    help="Folder for the results; each scenario gets OUT/<scenario name>/.",
)
@click.option(
    "--threads",
    "-t",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for the engine (default: all cores; more than the cores this process may "
    "use run as many as the cores). Results do not depend on it.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Draws per chunk (default 1024 in this process, 2048 per Dask task; fewer where "
    "they would hold more than 128 MB of results): bounds memory. Results do not depend "
    "on it.",
)
@click.option(
    "--timeseries",
    is_flag=True,
    help="Also write every draw's monthly shortage shares (timeseries.parquet).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
@click.option(
    "--yes",
    "-y",
    "large_ok",
    is_flag=True,
    help="Run even when the estimate before the run says it takes more than an hour or "
    "writes more than 10 GB (without it such a run is refused, naming the estimate).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where the draws run: this process, or a Dask cluster (docs/scaling.md). "
    "Results do not depend on it.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --executor dask: a running scheduler, e.g. tcp://10.0.0.5:8786 "
    "(default: start a local cluster).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="With --executor dask and no --scheduler: worker processes of the local "
    "cluster (default: one per core).",
)
@click.option(
    "--threads-per-worker",
    type=int,
    default=None,
    help="With --executor dask: engine threads per worker process (default: cores / workers).",
)
def run(
    scenarios,
    draws,
    seed,
    out,
    threads,
    chunk_size,
    timeseries,
    quiet,
    large_ok,
    executor,
    scheduler,
    workers,
    threads_per_worker,
):
    """Run SCENARIOS (files, or folders meaning every *.toml in them).

    Writes OUT/<name>/ with the shortage, drivers, summary, monthly, prices,
    zone_prices and exposures Parquet tables and the manifest run.json, replacing
    earlier results of the same scenario only when the run completes. Every scenario is
    checked before any runs.
    """
    from simcore import api
    from simcore.errors import ResultError, ScenarioError, SupplyShockError
    from simcore.executors import make_executor
    from simcore.results.folders import check_target, writable_parent  # (no pyarrow yet)

    if executor == "dask" and threads is not None:
        # the Dask workers run the engine; --threads is the local engine's (a new-user
        # pass saw it ignored without a word, while the reverse is refused)
        from simcore.executors import ExecutorError

        raise ExecutorError("--threads is the local engine's; with --executor dask give "
                            "--threads-per-worker (and --workers)")
    cores = _usable_cores()
    if threads is not None and threads > cores:
        # more kernel threads than cores only take turns (--threads 100000 ran a block's
        # 1,024 draws on 1,024 threads: a quarter slower, 50 MB more), said nowhere
        click.echo(f"note: --threads {threads:,} is more than the {cores} cores this process "
                   f"may use; {cores} run (results do not depend on it)", err=True)
        threads = cores
    where = make_executor(executor, scheduler, workers, threads_per_worker)
    files = api.scenario_files(scenarios)
    preps, problems = [], []
    for f in files:  # every file's problems at once, as `validate` lists them
        try:
            preps.append(api.prepare(f))
        except SupplyShockError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ScenarioError("\n".join(str(exc) for exc in problems))
    seen: dict[str, Path] = {}
    for p in preps:
        if not _SAFE_NAME.match(p.name):
            raise ResultError(
                f"{p.path}: scenario name {p.name!r} cannot name a results folder; "
                f"use letters, digits, '.', '_' and '-'"
            )
        if p.name in seen:
            raise ResultError(
                f"{seen[p.name]} and {p.path} are both named {p.name!r}; their "
                f"results would share OUT/{p.name}; rename one"
            )
        seen[p.name] = p.path
    for p in preps:
        api.check_numbers(
            p.compiled.draws if draws is None else draws,
            p.compiled.seed if seed is None else seed,
            threads,
            chunk_size,
        )
        target = Path(out) / p.name
        writable_parent(target)
        check_target(target, p.name, api.portable_path(p.path))
    _check_size(preps, draws, threads, timeseries, large_ok, quiet)

    command = _command_line(scenarios, draws, seed, out, threads, chunk_size, timeseries,
                            executor, scheduler, workers, threads_per_worker)
    with where as chunk_executor:
        if chunk_executor is not None and not quiet:
            click.echo(chunk_executor.describe(), err=True)
        for p in preps:
            target = Path(out) / p.name
            start = time.perf_counter()
            result = api.execute(
                p,
                draws=draws,
                seed=seed,
                threads=threads,
                chunk_size=chunk_size,
                timeseries=timeseries,
                progress=False if quiet else None,
                out=target,
                executor=chunk_executor,
                command=command,
            )
            if quiet:
                continue
            from simcore.results import alike_exposures

            m = result.manifest
            click.echo(
                f"{p.name}: {_n_draws(m['draws'])}, seed {m['seed']}, "
                f"{time.perf_counter() - start:.1f} s -> {target}"
            )
            click.echo(worst_table(result.summary, m["draws"],
                                   alike=alike_exposures(result),
                                   partners=tuple(p.tensor.groups.get("partners", ()))))


def _usable_cores() -> int:
    """The CPUs this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _check_size(preps, draws, threads, timeseries, large_ok, quiet) -> None:
    """Refuse runs estimated to take more than an hour or write more than 10 GB unless
    --yes says go ahead; with it, say what to expect."""
    from simcore import api
    from simcore.errors import ResultError
    from simcore.runsize import Estimate

    large = []
    seconds = size = 0.0
    for p in preps:
        guess = api.estimate(p, draws=draws, threads=threads, timeseries=timeseries)
        seconds += guess.seconds
        size += guess.bytes
        if guess.large:
            large.append(
                f"{p.path}: {_n_draws(guess.draws)} of {guess.exposures:,} exposures, "
                f"{guess.text()}"
            )
    # the scenarios of one command run one after the other: their sum counts too
    together = Estimate(draws=0, exposures=0, seconds=seconds, bytes=size)
    if len(preps) > 1 and together.large:
        large.append(f"the {len(preps)} scenarios together: {together.text()}")
    if not large:
        return
    if not large_ok:
        raise ResultError(
            "a large run (estimated generously, docs/results.md \"Large runs\"):\n  "
            + "\n  ".join(large)
            + "\nadd --yes to run it anyway, or give fewer --draws"
        )
    if not quiet:
        for line in large:
            click.echo(f"Large run, estimated: {line}", err=True)


def _command_line(scenarios, draws, seed, out, threads, chunk_size, timeseries,
                  executor="local", scheduler=None, workers=None,
                  threads_per_worker=None) -> str:
    """The run as a command, options spelled out, for the manifest."""
    words = ["supplyshock", "run", *scenarios]
    for flag, value in (
        ("--draws", draws),
        ("--seed", seed),
        ("--out", out),
        ("--threads", threads),
        ("--chunk-size", chunk_size),
        ("--executor", None if executor == "local" else executor),
        ("--scheduler", scheduler),
        ("--workers", workers),
        ("--threads-per-worker", threads_per_worker),
    ):
        if value is not None:
            words += [flag, str(value)]
    if timeseries:
        words.append("--timeseries")
    return shlex.join(words)


def _cells(column: str, values) -> list[str]:
    """A table column's cells, one format for the whole column: shares in % and
    probabilities with fixed decimals, values in USD, anything else with as many
    decimals as the column's largest value calls for (no exponents). NaN is "-"."""
    values = [float(v) for v in values]
    if column.startswith(("share_", "change_", "peak_share_")) and not column.endswith("_t"):
        return [_pct(v) for v in values]
    if column.startswith(("prob_", "price_")):
        return ["-" if v != v else f"{v:.2f}" for v in values]
    if column.startswith("value_"):
        return [_usd(v) for v in values]
    if "month" in column:  # means and medians of whole months
        return ["-" if v != v else f"{v:.1f}" for v in values]
    largest = max((abs(v) for v in values if v == v), default=0.0)
    decimals = 0 if largest >= 100 or largest == 0 else 1 if largest >= 10 else 2 \
        if largest >= 1 else 4
    return ["-" if v != v else f"{v:,.{decimals}f}" for v in values]


def _emit(frame, fmt: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=1))
    else:
        shown = frame.copy()
        for c in shown.columns:
            if shown[c].dtype.kind == "f":
                shown[c] = _cells(c, shown[c])
            else:
                shown[c] = shown[c].astype(str)
        click.echo(shown.to_string(index=False))


@click.command()
@click.argument("result_dir", type=click.Path())
@click.option(
    "--by",
    type=click.Choice(["country", "material"]),
    default=None,
    help="Aggregate draw by draw: per material (over countries) or per country "
    "(over materials at their last stage, value-weighted).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=None,
    help=f"Rows shown, worst first; 0: all (default: {_TOP} in the table, all with "
    "--format csv or json).",
)
@click.option(
    "--prices",
    is_flag=True,
    help="Price zones instead of exposures: each zone's peak and mean price over draws, "
    "the probability of reaching the choke price, its median price by month "
    "(prices.parquet and zone_prices.parquet).",
)
@click.option(
    "--country",
    "countries",
    multiple=True,
    help="Only these countries' exposures (or, with --prices, the price zones they buy "
    "in); repeat or separate with commas: --country DEU,FRA. A group of the run's "
    "dataset stands for its members: --country partners, --country EU27.",
)
@click.option(
    "--material",
    "materials",
    multiple=True,
    help="Only these materials; repeat or separate with commas.",
)
def summarize(result_dir, by, fmt, top, prices, countries, materials):
    """Statistics of a results folder over its draws."""
    from simcore.errors import ResultError
    from simcore.results import load_result, price_summary
    from simcore.results import summarize as summarize_result

    result = load_result(result_dir)
    m = result.manifest
    if countries and by == "material":
        raise ResultError("--by material sums over countries; --country does not apply "
                          "(leave out --by to see each country's exposures)")
    if materials and by == "country":
        raise ResultError("--by country sums over materials; --material does not apply "
                          "(leave out --by to see each material's exposures)")
    if countries or materials:
        exposures = result.table("exposures").to_pandas()
        wrong = []  # every bad filter at once, not the first (a new-user pass)
        try:
            countries = _pick("--country", countries, exposures["country"].astype(str),
                              result_dir, dataset=lambda: _dataset_of(result))
        except ResultError as exc:
            wrong.append(str(exc))
        try:
            materials = _pick("--material", materials, exposures["material"].astype(str),
                              result_dir)
        except ResultError as exc:
            wrong.append(str(exc))
        if wrong:
            raise ResultError("\n".join(wrong))
    if prices:
        if by is not None:
            raise ResultError("--prices shows price zones; it does not take --by")
        frame = price_summary(result).sort_values("price_peak_p50", ascending=False,
                                                  kind="stable")
        if countries:
            members = {(z["material"], z["stage"], z["zone"]): set(z["members"])
                       for z in m.get("zones", [])}
            keep = [bool(members.get((r.material, r.stage, r.zone), set()) & countries)
                    for r in frame[["material", "stage", "zone"]].astype(str).itertuples()]
            frame = frame[keep]
        if fmt == "table":  # csv and json list the members (docs/results.md)
            frame = frame.assign(countries=[
                c if c.count(",") < 4 else f"{c.count(',') + 1} countries"
                for c in frame["countries"].astype(str)])
        title = (f"{m['scenario']['name']}: price zones over {_n_draws(m['draws'])} (price "
                 f"index, 1 = reference; choke = rationed at the choke price in some month)")
    else:
        frame = summarize_result(result, by)  # --by material or country: worst first
        if by is None:
            frame = frame.sort_values("share_mean", ascending=False, kind="stable")
            if fmt == "table":  # a folder written before a column existed shows "-"
                frame = frame.reindex(columns=_TABLE_COLUMNS)
                frame = _mark_unrecovered(frame, int(m.get("horizon", 0)))
        if countries:
            frame = frame[frame["country"].astype(str).isin(countries)]
        title = (f"{m['scenario']['name']}: {_n_draws(m['draws'])}, seed {m['seed']}, "
                 f"horizon {m.get('horizon', '?')} months")
    if materials:
        frame = frame[frame["material"].astype(str).isin(materials)]
    if top is None:
        top = _TOP if fmt == "table" else 0
    total = len(frame)
    if top:
        frame = frame.head(top)
    if fmt == "table":
        click.echo(title)
        if not len(frame):
            picked = " and ".join(f"{option} {', '.join(sorted(names))}" for option, names in
                                  (("--country", countries), ("--material", materials))
                                  if names)
            click.echo(f"No row for {picked}: the results hold no such exposure "
                       f"(a country takes part in a material only where it has need or "
                       f"supply; `summarize` without filters lists them all)." if picked
                       else "No row: the results hold no exposure.")
            return
    _emit(frame, fmt)
    if fmt == "table":
        notes = []
        if "recover_month_p50" in frame and frame["recover_month_p50"].astype(str).str.endswith(
                "+").any():
            h = m.get("horizon", "?")
            notes.append(f"{h}+: the median draw short is still short in the last month: "
                         f"recovery lies beyond the {h}-month horizon")
        if len(frame) < total:
            notes.append(f"{len(frame)} of {total} rows, worst first: --top 0 shows all")
        if by == "country":
            notes.append("share: the shortage's value over the need's, at reference "
                         "prices, over the country's materials at their last stage "
                         "(refined products; a refiner short of ore shows as its "
                         "customers' shortage); prob_short: of any of them more than 1 % "
                         "short in a month; "
                         "materials_short_mean: how many, mean over draws; rows by "
                         "value_mean_usd")
        elif by == "material":
            notes.append("share: the shortage over the summed need of every country, "
                         "draw by draw; prob_short: of any country more than 1 % short "
                         "in a month")
        if by is None and not prices:
            notes.append("share: of the horizon's need lost, mean and quantiles over draws; "
                         "es95: mean of the worst 5 % of draws; peak_share: the worst "
                         "month's; prob_short: of a month more than 1 % short; "
                         "survive_month: the first "
                         "month short (0 = the first month), among draws short; "
                         "recover_month: the month supply is back (the last short + 1); value: "
                         "at the reference price")
            notes.append("all statistics, definitions in docs/results.md: --format csv or json")
        for note in notes:
            click.echo(f"({note})")


def _mark_unrecovered(frame, horizon: int):
    """The table's recover_month_p50 as text: a median equal to the horizon (the median
    draw short is still short in its last month) reads "24+", not a month of recovery."""
    if not horizon or "recover_month_p50" not in frame:
        return frame
    frame = frame.copy()
    frame["recover_month_p50"] = [
        "-" if v != v else (f"{horizon}+" if v >= horizon else f"{v:.1f}")
        for v in frame["recover_month_p50"].astype(float)]
    return frame


def _pick(option: str, given: tuple[str, ...], known, folder, dataset=None) -> set[str]:
    """The names an option lists (repeated or comma-separated), each checked against
    the result's exposures, in any case (``deu``); an unknown one is an error naming it
    and the closest. ``dataset()``, where given, returns the run's dataset (or None): a
    group of it (``partners``, ``EU27``) stands for its members that have exposures
    here, and the countries' names rank the suggestions ('GER' -> 'DEU')."""
    from simcore.errors import ResultError, suggest

    names = {n.strip() for item in given for n in item.split(",") if n.strip()}
    valid = sorted(set(known))
    upper = {v.upper(): v for v in valid}
    out: set[str] = set()
    tensor = None
    for name in sorted(names):
        if name in valid or name.upper() in upper:
            out.add(upper.get(name.upper(), name))
            continue
        if tensor is None and dataset is not None:
            tensor = dataset() or False
        groups = {g.lower(): g for g in tensor.groups} if tensor else {}
        if name.lower() in groups:
            members = [c for c in tensor.groups[groups[name.lower()]] if c in valid]
            if not members:
                raise ResultError(f"{option} {name}: none of the group's countries has an "
                                  f"exposure in {folder}")
            out.update(members)
            continue
        full = dict(zip(tensor.countries, tensor.country_names, strict=True)) if tensor \
            else None
        known_groups = f"; or a group: {', '.join(tensor.groups)}" if tensor else ""
        raise ResultError(
            f"{option} {name}: no exposure of {folder} has it"
            f"{suggest(name, valid, names=full)}; the results hold: {', '.join(valid)}"
            f"{known_groups}")
    return out


def _dataset_of(result):
    """The dataset a run used, where it can still be loaded, else None: only to read its
    groups and country names (which outlive a change of its numbers)."""
    from simcore.api import _locate
    from simcore.dataset import load_dataset

    recorded = result.manifest.get("dataset", {})
    path = recorded.get("path")
    try:
        if path == "built-in":
            tensor = load_dataset(None)
        else:
            found = _locate(path, result.folder) if path else None
            if found is None:
                return None
            tensor = load_dataset(found)
    except Exception:  # noqa: BLE001 - a dataset that no longer loads just gives no groups
        return None
    return tensor


@click.command()
@click.argument("base_dir", type=click.Path())
@click.argument("variant_dir", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=0,
    help="Rows shown: at most this many exposures whose mean share changes most, either "
    "way, in the table's order (most improved first), unchanged ones left out (where none "
    "changes, the first N); 0: all (the default). The table leaves out exposures short "
    "in neither run; csv and json list them. With one variant only.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Compare runs with different seeds or horizons anyway (refused without it).",
)
@click.option(
    "--draws",
    "limit",
    type=click.IntRange(min=1),
    default=None,
    help="Compare the first N draws only (default: all that every run holds); a "
    "comparison holds every draw of every exposure in memory, about 4 GB for a million "
    "draws of the partner study.",
)
def compare(base_dir, variant_dir, fmt, top, force, limit):
    """Variant minus base, draw by draw: change in shortage share per exposure.

    With the same seed both runs share their random numbers (common random numbers), so
    the per-draw difference is the effect of the variant alone. Runs with different
    seeds or horizons are refused unless --force.

    With several variants, the policies side by side instead: each one's change of the
    final users' shortage value, its cost and the value avoided per dollar, and where a
    variant holds the interventions of two or more others, whether their effects add up.
    """
    from simcore.report.analysis import draws_note
    from simcore.results import by_exposure, load_result
    from simcore.results import compare as compare_results

    more = draws_note([base_dir, *variant_dir], limit)
    if more:
        click.echo(more, err=True)
    if len(variant_dir) > 1:
        if top:
            raise click.UsageError("--top picks the exposures of one variant's table: give "
                                   "one VARIANT_DIR with it")
        _compare_policies(load_result(base_dir), [load_result(d) for d in variant_dir],
                          fmt, force, limit)
        return
    base, variant = load_result(base_dir), load_result(variant_dir[0])
    tensor = _dataset_of(base) if fmt == "table" else None  # who gains: the partners
    partners = tuple(tensor.groups.get("partners", ())) if tensor is not None else ()
    comparison = compare_results(base, variant, force=force, partners=partners, limit=limit)
    for w in comparison.warnings:
        click.echo(f"Warning: {w}", err=True)
    table = comparison.table
    if fmt != "table":
        _emit(_largest_changes(table, top), fmt)
        return
    # exposures of a material and stage with the same shares in every compared draw of
    # both runs take one row, "USA +2", as in the report's comparison: the buyers of a
    # zone without a stock of their own have the same shares, and the stockpile variants
    # give a zone's holders the same cover
    if len(table):
        keys = list(zip(table["material"].astype(str), table["stage"].astype(str),
                        table["country"].astype(str), strict=True))
        # each group at its first row's place, named by its largest buyer (the largest
        # need), as run's closing table and the report name it (report.analysis's fold);
        # ties of the change in the exposures' order, the dataset's, as run's table has it
        from simcore.report.analysis import fold_alike, who

        base_need = by_exposure(base, "need_t")
        need = {**by_exposure(variant, "need_t"), **base_need}
        place = {k: i for i, k in enumerate(dict.fromkeys([*base_need, *need]))}
        table = table.assign(value=[float(need.get(k, "nan")) for k in keys],
                             _place=[place.get(k, len(place)) for k in keys])
        table = fold_alike(table.sort_values(["change_mean", "_place"], kind="stable"),
                           lambda k: comparison.fates.get(k, k), partners)
        table = table.assign(country=[who(c, a, i) for c, a, i in zip(
            table["country"].astype(str), table["alike"], table["incl"], strict=True)])
    total = len(table)
    moved = bool((table["change_mean"].abs() > SHARE_DUST).any())  # some row changes
    table = _largest_changes(table, top)
    cut = len(table) < total
    from simcore.results.aggregate import share_scenario_files, unpaired

    why, _ = unpaired(base.manifest, variant.manifest)
    apart = not why and not share_scenario_files(base.manifest, variant.manifest)
    horizons = any(w.startswith("a horizon") for w in why)
    click.echo(
        f"{variant.name} vs {base.name}: change in shortage share of horizon need, "
        + (f"{_n_draws(comparison.draws)} compared draw by draw" if not why else
           f"{_n_draws(comparison.draws)} compared but not paired: the runs differ "
           f"({' and '.join(why)}), so the changes mix in sampling noise (--force)"
           + ("; shares, tonnes and values cover different horizons" if horizons else ""))
        + (", though the runs share no scenario file: their events may differ, so a change "
           "is not one policy's effect alone" if apart else "")
    )
    if not len(table):
        click.echo("No exposures to compare.")
        return
    # Exposures short in no draw of either run fill the screen with zeros and push the
    # changes out of view; csv/json keep them. A mean share below a millionth of need is
    # rounding (the origin state's buying band, docs/model.md [M6]), not a shortage.
    quiet = ((table["base_share_mean"] < SHARE_DUST)
             & (table["variant_share_mean"] < SHARE_DUST))
    hidden = int(quiet.sum())  # rows; the exposures they stand for, folds counted
    exposures = hidden + (int(table.loc[quiet, "alike"].sum()) if "alike" in table else 0)
    table = table[~quiet]
    note = (
        f"({exposures} exposures short in neither run not shown: --format csv or json "
        f"lists them all)"
    )
    if not len(table):
        click.echo(f"No exposure is short in either run. {note}")
        return
    rows = [[str(r.material), str(r.stage), str(r.country), *_compare_cells(r)]
            for r in table.itertuples()]
    header = ["material", "stage", "country", "base", "variant",
              "mean change [95% CI of the mean]", "P(better)", "P(worse)"]
    click.echo(_text_table(header, rows))
    v = comparison.value
    if v is not None:
        from simcore.money import cost_line, value_line

        click.echo(value_line(v))
        click.echo(cost_line(base, variant, v["change_usd"], v.get("partners_change_usd")))
    click.echo("(the interval is the Monte Carlo error of the mean change, which more draws "
               "narrow; the change's spread over draws, P5-P95, is in --format csv: "
               "change_p5, change_p95)")
    click.echo("(P(better), P(worse): the share of the compared draws in which the variant's "
               "shortage share is lower, higher; draws short in neither run count as neither, "
               "so with rare shortages a clear gain can come with a small P(better); a policy "
               "that helps some can leave others worse, as new refining capacity bids for ore "
               "that other refiners used; a stockpile's purchase is not simulated (its stocks "
               "are full at the start), so what buying it would cost other buyers is not in "
               "these numbers)")
    if table["country"].str.contains(" +", regex=False).any():
        click.echo("(+N: that many more countries whose shares are the same in every "
                   "compared draw of both runs, named by the largest buyer, and by the "
                   "largest partner economy among them where that is not one (incl.); "
                   "--format csv lists each)")
    if hidden:
        click.echo(note)
    if cut:
        click.echo(f"({len(table) + hidden} of {total} rows, those whose mean share "
                   f"changes most: --top 0 shows all)" if moved else
                   f"({len(table) + hidden} of {total} rows: no exposure's mean share "
                   f"changes by more than a millionth of its need; --top 0 shows all)")


def _compare_policies(base, variants: list, fmt: str, force: bool,
                      limit: int | None = None) -> None:
    """``compare BASE V1 V2 ...``: the policies side by side (docs/results.md)."""
    import json

    import pandas as pd

    from simcore.money import (
        cost_cell,
        interaction_reading,
        policies_side_by_side,
        usd4,
        usd_signed,
    )

    folders = [str(Path(v.folder).resolve()) for v in variants]
    if len(set(folders)) < len(folders):
        raise click.UsageError("the variants must be different runs: "
                               + ", ".join(str(v.folder) for v in variants))
    tensor = _dataset_of(base)
    partners = tuple(tensor.groups.get("partners", ())) if tensor is not None else ()
    side = policies_side_by_side(base, variants, force=force, partners=partners, limit=limit)
    for w in side.warnings:
        click.echo(f"Warning: {w}", err=True)
    table, inter, costs = side.table, side.interactions, side.costs
    if fmt == "json":
        click.echo(json.dumps({"policies": json.loads(table.to_json(orient="records")),
                               "interactions": json.loads(inter.to_json(orient="records"))},
                              indent=1))
        return
    if fmt == "csv":
        both = pd.concat([table.assign(kind="policy"), inter.assign(kind="interaction")],
                         ignore_index=True)
        _emit(both[["kind", *[c for c in both.columns if c != "kind"]]], "csv")
        return
    v0 = table.iloc[0]
    from simcore.results.aggregate import unpaired

    apart = [v.name for v in variants if unpaired(base.manifest, v.manifest)[0]]
    click.echo(f"{len(variants)} policies against {base.name}, {_n_draws(side.draws)} "
               f"compared draw by draw: the shortage value of the final users (each "
               f"material's last stage, every country) at reference prices, "
               f"{usd4(v0['base_usd'])} in the base, mean over draws"
               + (f"; not paired with the base ({', '.join(apart)}: another seed or "
                  "horizon, --force): their changes and interactions mix in sampling noise"
                  if apart else ""))

    out = []
    for r, c in zip(table.itertuples(index=False), costs, strict=True):
        per = "-" if r.avoided_per_usd != r.avoided_per_usd else f"{r.avoided_per_usd:,.2f}"
        cells = [r.variant, f"{usd_signed(r.change_usd)} [{usd_signed(r.change_ci_low)}, "
                 f"{usd_signed(r.change_ci_high)}]"]
        if partners:
            cells.append(usd_signed(r.partners_change_usd))
            if per != "-":
                per += f" ({r.partners_avoided_per_usd:,.2f})"
        out.append([*cells, cost_cell(c), per])
    header = ["policy", "change of shortage value [95% CI of the mean]",
              *(["partners' part"] if partners else []), "cost",
              "avoided per $" + (" (partners)" if partners else "")]
    click.echo(_text_table(header, out, left=1))
    for r in inter.itertuples(index=False):
        how = interaction_reading(r.interaction_ci_low, r.interaction_ci_high)
        click.echo(f"{r.variant} against {r.parts} apart: {usd_signed(r.interaction_usd)} "
                   f"[{usd_signed(r.interaction_ci_low)}, {usd_signed(r.interaction_ci_high)}]"
                   f" (the mean over draws of its change minus the sum of theirs; P5-P95 "
                   f"{usd_signed(r.interaction_p5)} to {usd_signed(r.interaction_p95)}): {how}")
    click.echo("(change: variant minus base, draw by draw, negative = less shortage; the "
               "interval is the Monte Carlo error of the mean; cost: the interventions a "
               "variant adds to the base, stockpiles bought at the reference prices where "
               "no cost_usd is stated, capacity as stated; avoided per $: where every cost "
               "is known, over the horizon, a stockpile's stock still held at its end not "
               "counted)")
    if any(c is not None and c.unstated for c in costs):
        click.echo("(unstated: capacity interventions without cost_usd: give it in the "
                   "scenario file to weigh them)")
    if any(c is not None and c.removed for c in costs):
        click.echo("(lacks: the variant does not have some of the base's interventions; "
                   "their effect is in its change and their cost is not, so it has no "
                   "ratio and takes part in no interaction)")
    if any(c is None for c in costs):
        click.echo("(cannot be read: runs of an earlier version record no costs, and the "
                   "scenario files named in their manifests are not found "
                   "from the current folder or above the results folders, or not loadable; "
                   "run this from the folder the runs were made in. Without them nothing "
                   "is said about cost, and no interaction is looked for)")
    click.echo(f"(one policy's exposures: supplyshock compare "
               f"{shell_word(base.folder)} VARIANT_DIR)")


@click.command()
@click.argument("result_dirs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--threads", "-t", type=click.IntRange(min=1), default=None, help="Threads for the re-runs."
)
@click.option(
    "--scenario", "scenario", type=click.Path(dir_okay=False), default=None,
    help="The scenario file to re-run with, where the path in the manifest (relative to "
         "the folder the run was made in) is not found from here. Its hash must match.",
)
@click.option(
    "--dataset", "dataset", type=click.Path(file_okay=False), default=None,
    help="The dataset folder, for a run made with a dataset other than its scenario's "
         "(Python API) whose recorded path is not found from here. Its hash must match.",
)
def verify(result_dirs, threads, scenario, dataset):
    """Re-run each results folder from its manifest and check the digests.

    Fails (exit status 1) naming what differs: an altered file, a changed scenario file
    or dataset, or a re-run that does not reproduce the results; exit status 2 when an
    argument is not a results folder at all. Every folder is checked either way.

    The scenario file is looked for where the manifest records it, relative to the
    current folder and to every folder above the results folder; name it with
    --scenario when the run was made elsewhere.
    """
    from simcore.api import verify as verify_folder
    from simcore.errors import SupplyShockError

    failed = unusable = 0
    for folder in result_dirs:
        try:
            report = verify_folder(folder, threads=threads, scenario=scenario,
                                   dataset=dataset)
        except SupplyShockError as exc:
            unusable += 1
            text = str(exc)
            for lead in (f"{folder}: ", f"{folder.rstrip('/')}: "):
                text = text.removeprefix(lead)  # the folder is named once
            click.echo(f"FAILED {folder}: {text}", err=True)
            continue
        for note in report.notes:
            click.echo(f"note {folder}: {note}", err=True)
        if report.ok and report.as_read:
            click.echo(f"ok {folder}: reproduced as read ({', '.join(report.as_read)} "
                       f"in an older results format; a re-run writes them otherwise)")
        elif report.ok:
            beside = (f"; the stockpile sizing's {report.sizing} tables match "
                      "stockpile.json" if report.sizing else "")
            click.echo(f"ok {folder}: digest {_digest(folder)} reproduced{beside}")
        else:
            failed += 1
            click.echo(f"FAILED {folder}:", err=True)
            for line in report.problems:
                click.echo(f"  - {line}", err=True)
    if failed or unusable:
        n = len(result_dirs)
        click.echo(
            f"{failed + unusable} of {n} results folder{'s' if n != 1 else ''} failed verification",
            err=True,
        )
        sys.exit(2 if unusable else 1)


def _digest(folder) -> str:
    from simcore.results import read_manifest

    return read_manifest(folder)["digest"]["sha256"][:16]
