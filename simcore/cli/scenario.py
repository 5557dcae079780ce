"""``supplyshock validate FILE...``: check scenario files against the dataset they name.

Lists every problem of every file and exits with status 2 when any file has one; never a
traceback. Does not import numba (only the scenario loader and the dataset loader).
"""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    main.add_command(validate)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--dataset", "dataset", type=click.Path(file_okay=False), default=None,
              help="Check against this dataset folder instead of the one each file names.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print problems only (no ok lines, no notes).")
@click.pass_context
def validate(ctx, files, dataset, quiet):
    """Check scenario FILES: keys, values, distributions, names against the dataset.

    A folder stands for every *.toml in it, as in `supplyshock run`; a file named twice
    is checked once, and two files of one scenario name are refused, as `run` refuses
    them together. Every problem in every file is listed at once; the exit status is 2
    if any file has one.
    """
    from simcore.errors import ScenarioError, SupplyShockError
    from simcore.runsize import estimate
    from simcore.scenario import compile_scenario, load_scenario
    from simcore.scenario.loader import scenario_paths

    tensor = None
    if dataset is not None:
        from simcore.dataset import load_dataset

        tensor = load_dataset(dataset)
    paths, missing = scenario_paths(files)
    for line in missing:
        click.echo(line, err=True)
    failed = len(missing)
    seen: set[str] = set()
    named: dict[str, object] = {}  # scenario name -> the first file of that name
    for path in paths:
        try:
            sc = load_scenario(path, tensor)
            compiled = compile_scenario(sc)  # what `run` does next: refuse what it refuses
            if sc.name in named:  # `run` refuses them together: one results folder
                raise SupplyShockError(
                    f"scenario name {sc.name!r} is also {named[sc.name]}'s: `supplyshock "
                    f"run` refuses both together, as their results would share "
                    f"OUT/{sc.name}; rename one")
            named[sc.name] = path
        except ScenarioError as exc:
            failed += 1
            click.echo(f"{path}: {len(exc.problems)} problem"
                       f"{'s' if len(exc.problems) != 1 else ''}", err=True)
            for line in exc.problems:
                click.echo(f"  - {line}", err=True)
            continue
        except SupplyShockError as exc:
            failed += 1
            click.echo(f"{path}: {exc}", err=True)
            continue
        if not quiet:
            where = "built-in baseline" if sc.dataset is None and tensor is None else (
                str(tensor.path) if tensor is not None else str(sc.dataset))
            click.echo(
                f"ok {path}: '{sc.name}', {_count(len(sc.events), 'event')}, "
                f"{_count(len(sc.interventions), 'intervention')}, "
                f"{_count(sc.horizon_months, 'month')}, against {where}"
            )
        if quiet:
            continue
        notes = list(sc.warnings)
        size = estimate(sc.tensor, compiled)
        if size.large:
            notes.append(
                f"{path}: draws = {size.draws:,}: a run of {size.exposures:,} exposures is "
                f"estimated at {size.text()} (docs/results.md, \"Large runs\"); "
                "`supplyshock run` refuses it without --yes (or give fewer --draws)"
            )
        for note in notes:
            # A note about a parent file comes back with each file extending it: once.
            if note not in seen:
                seen.add(note)
                click.echo(f"  note: {note}", err=True)
    if failed:
        n = len(paths) + len(missing)
        click.echo(f"{failed} of {n} file{'s' if n != 1 else ''} "
                   "with problems", err=True)
        ctx.exit(2)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
