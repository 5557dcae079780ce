"""``supplyshock report`` and ``supplyshock sensitivity``: pictures and driver indices."""

from __future__ import annotations

import json
from pathlib import Path

import click

from simcore.cli import OutPath


def _split_countries(value: str | None, result_dir=None, material: str | None = None,
                     stage: str | None = None):
    """The countries of a comma-separated option, each group of the run's dataset
    (``EU27``, ``partners``, in any case) replaced by its members that have exposures in
    the run (of ``material`` and ``stage`` where given), in the dataset's order, as
    ``summarize --country`` takes them; a name that is neither is kept (the report or
    sensitivity then names it, with suggestions)."""
    if not value:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if result_dir is None:
        return names
    import numpy as np

    from simcore.cli.run import _dataset_of
    from simcore.errors import ResultError
    from simcore.results import load_result

    result = load_result(result_dir)
    summary = result.summary
    rows = np.ones(len(summary), bool)
    for col, want in (("material", material), ("stage", stage)):
        match = (summary[col].astype(str) == want).to_numpy()
        if want is not None and match.any():
            rows &= match
    known = set(summary.loc[rows, "country"].astype(str))
    every = {c.upper(): c for c in summary["country"].astype(str)}
    names = [every.get(n.upper(), n) for n in names]  # usa: USA, as summarize takes it
    if all(n in known for n in names):
        return names
    tensor = _dataset_of(result)
    groups = {g.lower(): g for g in tensor.groups} if tensor else {}
    out = []
    for name in names:
        group = groups.get(name.lower()) if name not in known else None
        if group is None:
            out.append(name)
            continue
        members = [c for c in tensor.groups[group] if c in known]
        if not members:
            of = " ".join(w for w in (material, stage) if w)
            raise ResultError(f"{name}: none of the group's countries has an exposure"
                              f"{' of ' + of if of else ''} in {result_dir}")
        out += members
    return list(dict.fromkeys(out))


@click.command("report")
@click.argument("result_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("compare_dirs", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    "-o",
    type=OutPath(),
    default=None,
    help="HTML file (default report.html) or, with --format png, a folder (default figures).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "png"]),
    default="html",
    show_default=True,
    help="One self-contained HTML page, or PNG files for slides.",
)
@click.option(
    "--countries",
    default=None,
    metavar="ISO3,...",
    help="Countries for the monthly fan charts (default: the worst-hit partners); a group "
    "of the run's dataset (e.g. EU27) stands for its members, a chart each.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 30),
    default=6,
    show_default=True,
    help="Worst exposures shown in the exceedance curves and comparisons.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(0, 5000),
    default=200,
    show_default=True,
    help="Bootstrap resamples for the sensitivity intervals.",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=None,
    help="Take the per-draw parts (exceedance curves, sensitivity, comparisons) from the "
    "first N draws only (default: all); the heatmap, the worst list and the monthly charts "
    "come from the run's summaries of every draw. For large runs: a million draws of the "
    "partner study take about 10 GB and 7 minutes for one run, 28 GB with two variants; "
    "with --draws 20000 the whole report, figures included, takes about 20 s.",
)
@click.option("--force", is_flag=True,
              help="Compare runs with different seeds or horizons anyway (refused without "
              "it; the page says their draws are not paired).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes drawing the figures (default: one per free core, at most 4, "
              "for a report of 30 panels or more; 1: all drawn in this one).")
def report_cmd(result_dir, compare_dirs, out, fmt, countries, top, bootstrap, draws, force,
               jobs):
    """Draw the report of the run in RESULT_DIR.

    Each COMPARE_DIR (a run of a policy variant with the same seed) adds a draw-by-draw
    comparison with RESULT_DIR. Needs matplotlib (the plot extra): pip install "matplotlib>=3.8".
    """
    from simcore.report.build import Options, write_figures, write_report

    opts = Options(countries=_split_countries(countries, result_dir), top=top,
                   n_boot=bootstrap, force=force, draws=draws, jobs=jobs)
    png = fmt == "png"
    target = Path(out or ("figures" if png else "report.html"))
    made = _missing_folder(target if png else target.parent)
    from simcore.report.analysis import bytes_per_draw_exposure, draws_note, slow_note

    runs = 1 + len(compare_dirs)
    more = draws_note([result_dir, *compare_dirs], draws)
    if more:
        click.echo(more, err=True)
    note = slow_note([result_dir, *compare_dirs], draws, "the report",
                     per=bytes_per_draw_exposure(runs))
    if note:
        click.echo(note, err=True)
    status = _Status()
    try:
        if png:
            paths = write_figures(result_dir, compare_dirs, target, opts, progress=status)
        else:
            path = write_report(result_dir, compare_dirs, target, opts, progress=status)
    finally:
        status.close()  # the status line cleared before anything else is printed
    click.echo(f"wrote {len(paths)} figures to {target}{_made(made)}" if png
               else f"wrote {path}{_made(made)}")


class _Status:
    """One line on stderr saying what the report is doing and for how long so far (it
    takes 15-30 s at 10,000 draws, minutes at a million), redrawn in place every second;
    silent where stderr is not a terminal (a log, a pipe, CI)."""

    def __init__(self):
        import sys
        import threading
        import time

        self.stream = sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.width = 0
        self.text = ""
        self.lock = threading.Lock()
        self.done = threading.Event()
        if self.on:  # the clock keeps moving through a long step
            threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self.done.wait(1.0):
            self._draw()

    def __call__(self, text: str) -> None:
        if not self.on:
            return
        self.text = text
        self._draw()

    def _draw(self) -> None:
        import time

        with self.lock:
            if not self.text or self.done.is_set():
                return
            line = f"report: {self.text} ({time.perf_counter() - self.start:.0f} s)"
            self._write("\r" + line.ljust(self.width))
            self.width = len(line)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: the status goes quiet
            self.on = False
            self.done.set()

    def close(self) -> None:
        self.done.set()
        with self.lock:
            if self.on and self.width:
                self._write("\r" + " " * self.width + "\r")
            self.width = 0


def _missing_folder(folder: Path) -> Path | None:
    """The outermost folder of ``folder`` that does not exist yet (None: it exists)."""
    missing = None
    for f in (folder, *folder.parents):
        if f.exists():
            break
        missing = f
    return missing


def _made(folder: Path | None) -> str:
    return "" if folder is None else f" (made the folder {folder})"


# below this many draws, indices under 0.05 are sampling noise (docs/report.md)
FEW_DRAWS = 500


@click.command("sensitivity")
@click.argument("result_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--material", default=None, help="Only this material.")
@click.option("--stage", default=None, help="Only this stage (default: every stage).")
@click.option("--country", default=None,
              help="Only these countries (ISO alpha-3, comma-separated; a group of the "
              "run's dataset, e.g. EU27 or partners, stands for its members).")
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="Without filters: this many worst exposures (highest P95).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--bootstrap",
    type=click.IntRange(0, 5000),
    default=200,
    show_default=True,
    help="Bootstrap resamples for the 95 % intervals (0: none).",
)
@click.option(
    "--bins",
    type=click.IntRange(2, 1000),
    default=None,
    help="Equal-count bins per input (default: about sqrt(draws), at most 100).",
)
@click.option(
    "--drivers",
    type=click.IntRange(0, None),
    default=12,
    show_default=True,
    help="Drivers shown per exposure in the table, largest index first (0: all; csv and "
    "json give all).",
)
@click.option(
    "--draws",
    type=click.IntRange(min=2),
    default=None,
    help="Use the first N draws only (default: all): for large runs, a million draws of "
    "the partner study take about 14 GB and 7 minutes.",
)
@click.option(
    "--per-material",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Without filters: at most this many of the worst exposures from one material "
    "(0: no cap); a material's importers often share their drivers.",
)
def sensitivity_cmd(result_dir, material, stage, country, top, fmt, bootstrap, bins, drivers,
                    draws, per_material):
    """First-order sensitivity indices of shortage share to each sampled input.

    For each exposure (material, stage, country), the share of the variance of its
    shortage share over draws that each driver explains alone, with a bootstrap 95 %
    interval. See docs/report.md for the method and its caveats.
    """
    from simcore.report.analysis import bytes_per_draw_exposure, draws_note, slow_note
    from simcore.report.tables import sensitivity_for_run

    more = draws_note([result_dir], draws)
    if more:
        click.echo(more, err=True)
    note = slow_note([result_dir], draws, "sensitivity",
                     per=bytes_per_draw_exposure(1, sensitivity=True))
    if note:
        click.echo(note, err=True)
    table = sensitivity_for_run(
        result_dir,
        material=material,
        stage=stage,
        country=_split_countries(country, result_dir, material, stage),
        top=top,
        n_boot=bootstrap,
        bins=bins,
        draws=draws,
        per_material=per_material or None,
    )
    used = int(table["draws"].min()) if len(table) and "draws" in table else None
    if used is not None and used < FEW_DRAWS:
        click.echo(f"note: indices from {used:,} draws: below about {FEW_DRAWS} draws, treat "
                   f"indices under 0.05 as zero (docs/report.md, \"Sample size\")", err=True)
    if fmt != "table":  # the long table of docs/report.md; the table's header names them
        table = table.drop(columns=["same_shares"], errors="ignore")
    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.6g"), nl=False)
    elif fmt == "json":
        records = json.loads(table.to_json(orient="records", double_precision=6))
        click.echo(json.dumps(records, indent=1))
    else:
        from simcore.report.tables import format_table

        click.echo(format_table(table, drivers or None))


def register(main) -> None:
    main.add_command(report_cmd)
    main.add_command(sensitivity_cmd)
