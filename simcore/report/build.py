"""Assemble the report of a run (and of policy variants compared with it).

``write_report(result_dir, compare_dirs, out)`` writes one self-contained HTML file;
``write_figures(..., out_dir)`` writes the same figures as PNG files for slides. Both
read the run through ``simcore.results.load_result`` and draw through ``figures`` (the
optional matplotlib extra). Nothing half-written stays on disk if a step fails.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simcore.errors import ResultError
from simcore.report import analysis as an
from simcore.report import figures as fg
from simcore.report.html import Section, esc, render, table
from simcore.report.render import png_bytes, render_png, warm, worker_start
from simcore.results.aggregate import share_scenario_files, unpaired


@dataclass
class Run:
    """One run's tables and manifest, with label columns as plain strings.

    ``summary`` may be None (statistics are then computed from the shortage table).
    ``shortage`` None: the table is read from ``path`` when first needed (``frame``);
    most of the report reads the shares per draw (``by_draw``) instead.
    """

    name: str
    path: Path
    shortage: pd.DataFrame | None
    drivers: pd.DataFrame
    monthly: pd.DataFrame
    manifest: dict
    summary: pd.DataFrame | None = None
    prices: pd.DataFrame | None = None  # zone prices by month; None: results format 1
    # (material, stage, country) -> a key equal for the buyers of a price zone with the
    # same shares in every draw (simcore.results.alike_exposures); empty without a summary
    leads: dict = field(default_factory=dict)
    # the shortage shares per draw and exposure as arrays (PerDraw); None: made from
    # ``shortage`` when first asked for (``by_draw``)
    per_draw: an.PerDraw | None = None
    # the per-draw tables hold draws 0 .. limit-1 only (report --draws); None: every draw
    limit: int | None = None

    def frame(self) -> pd.DataFrame:
        """The shortage table (the columns the report uses)."""
        if self.shortage is None:
            from simcore.results import load_result

            table = load_result(self.path).table("shortage", list(SHORTAGE_READ),
                                                 draws=self.limit)
            self.shortage = an.normalise(_to_frame(table))
        return self.shortage

    def by_draw(self) -> an.PerDraw:
        if self.per_draw is None:
            self.per_draw = an.PerDraw.of_frame(self.frame())
        return self.per_draw


@dataclass
class Options:
    countries: Sequence[str] | None = None  # fan-chart countries; None: worst partners
    top: int = 6  # exposures in the exceedance curves and the policy comparison
    top_drivers: int = 4  # exposures in the tornado chart
    per_material: int = 2  # at most this many of those from one material (tornado: 1)
    n_boot: int = 200  # bootstrap resamples of the sensitivity indices
    seed: int = 0  # bootstrap seed (the report is reproducible)
    draws: int | None = None  # the per-draw parts on draws 0 .. draws-1 only; None: all
    force: bool = False  # compare runs with other seeds or horizons anyway (not paired)
    # processes drawing the figures; None: one per free core for a large report (the
    # command line's default, _Drawer); 1: all in this process (scripts: see _Drawer)
    jobs: int | None = 1


@dataclass
class Context:
    """What the report needs from the dataset, with fallbacks when it is not at hand."""

    partners: tuple[str, ...] = ()
    stage_order: dict = field(default_factory=dict)
    dataset_note: str = ""


def lookup(manifest: dict, *paths: str, default=None):
    """The first of several dotted key paths present in the manifest."""
    for path in paths:
        node = manifest
        for key in path.split("."):
            if isinstance(node, dict) and key in node:
                node = node[key]
            else:
                break
        else:
            return node
    return default


# the shortage table's columns the report uses: the rest (the accounting in tonnes) would
# be expanded from format 4's shares for nothing (docs/results.md)
SHORTAGE_READ = ("draw", "material", "stage", "country", "need_t", "shortage_share",
                 "shortage_value_usd", "price_index_mean")


def load_run(path, draws: int | None = None) -> Run:
    """A results folder as the report reads it; ``draws``: its per-draw tables (the
    shortage shares and values, the drivers) for draws 0 .. draws-1 only."""
    from simcore.results import alike_exposures, load_result

    path = Path(path)
    result = load_result(path)
    manifest = dict(getattr(result, "manifest", {}) or {})
    name = lookup(manifest, "scenario.name", "scenario_name", "name") or path.name
    if draws is not None and draws >= int(manifest["draws"]):
        draws = None
    return Run(
        name=str(name),
        path=path,
        shortage=None,  # read if needed (Run.frame): the report works on per_draw
        drivers=an.drivers_of(result, draws),
        monthly=an.normalise(result.monthly),
        manifest=manifest,
        summary=an.normalise(result.summary),
        prices=_prices_of(result),
        leads=alike_exposures(result),
        per_draw=an.PerDraw.of_result(result, draws),
        limit=draws,
    )


def _prices_of(result) -> pd.DataFrame | None:
    """The run's zone-price quantiles, None for results of market version 1 (format 1)."""
    try:
        return an.normalise(result.prices)
    except ResultError:
        return None


def locate(recorded, folder: Path) -> Path | None:
    """A path recorded relative to the working folder of the run: as given, else above
    the results folder (a clone elsewhere); None when it is nowhere."""
    if not isinstance(recorded, str) or not recorded:
        return None
    p = Path(recorded)
    if p.is_absolute() or p.exists():
        return p if p.exists() else None
    for base in Path(folder).absolute().parents:
        if (base / p).exists():
            return base / p
    return None


def shown_path(path) -> str:
    """A path as a report shows it: reports are shared, so never an absolute local path.

    Relative paths stay as they are (but "." and paths through ".." are named as
    absolute ones); an absolute one is shown relative to the working folder when below
    it, else relative to the git repository that holds it (the repository's folder name
    first), else by its last two parts after ``.../``.
    """
    p = Path(path)
    dotted = not p.is_absolute()  # "." or a path through "..": named by the folder itself
    if dotted:
        if p.parts and ".." not in p.parts:
            return p.as_posix()
        p = Path(os.path.abspath(p))
    cwd = Path.cwd().absolute()
    if not (dotted and p == cwd):
        try:
            return p.relative_to(cwd).as_posix() or "."
        except ValueError:
            pass
    for repo in p.parents:
        if repo.parent != repo and (repo / ".git").exists():
            return (Path(repo.name) / p.relative_to(repo)).as_posix()
    return "…/" + "/".join(p.parts[-2:])


_ABSOLUTE = re.compile(r"(?:(?<=[\s'\"=(:])|^)/[^\s'\";,)]+", re.M)


def _shown_text(text: str) -> str:
    """``text`` (a message, a command line, a scenario file's comments) with absolute
    paths in it shown as :func:`shown_path` does: those below the working folder and the
    home folder, and any other that names something on this machine (or in a folder of
    it)."""
    cwd = str(Path.cwd().absolute())
    # the working folder as a whole path, not the start of a longer name (/tmp/a in /tmp/ab)
    end = r"(?=[/\s'\";,)]|$)"
    text = re.sub(re.escape(cwd) + end + r"(/[^\s'\";,)]*)?",
                  lambda m: shown_path(m.group(0)), text, flags=re.M)

    def local(m: re.Match) -> str:
        p = Path(m.group(0))
        try:
            here = p.exists() or p.parent != Path("/") and p.parent.exists()
        except OSError:
            here = False
        return shown_path(p) if here else m.group(0)

    text = _ABSOLUTE.sub(local, text)
    home = os.path.expanduser("~")
    if home not in ("", "/", "~"):
        text = re.sub(re.escape(home) + end, "~", text, flags=re.M)
    return text


def context_for(run: Run) -> Context:
    """Partner economies and stage order from the run's dataset (built-in if unnamed)."""
    from simcore.dataset import load_dataset

    where = lookup(run.manifest, "dataset.path", "dataset_path")
    builtin = where in (None, "", "builtin", "built-in")
    folder = None if builtin else locate(where, run.path)
    try:
        if not builtin and folder is None:
            raise FileNotFoundError(f"{where} not found")
        tensor = load_dataset(folder)
    except Exception as exc:  # the report still works, with a plainer country order
        return Context(
            dataset_note=f"Dataset not available ({_shown_text(str(exc))}): countries "
            "sorted by exposure, without the partners group."
        )
    note = ""
    recorded = lookup(run.manifest, "dataset.hash", "dataset_hash")
    if recorded and recorded != tensor.hash:
        note = (
            f"Note: the dataset ({'built-in' if builtin else shown_path(where)}) has changed "
            "since the "
            "run (its hash differs from the manifest's); it is used here only to order "
            "countries (the partners group)."
        )
    return Context(
        partners=tuple(tensor.groups.get("partners", ())),
        stage_order=dict(zip(tensor.materials, tensor.stages, strict=True)),
        dataset_note=note,
    )


def origins_from_prices(shortage: pd.DataFrame, last: dict) -> dict[str, list[str]]:
    """Countries whose price index falls below 1 in some draw, per material.

    In the model only an origin holding supply that a control strands sees its price
    fall (MODEL.md §3.6), so these are the origins whose controls bite.
    """
    fin = an.final_stage(shortage, last)
    low = fin[fin["price_index_mean"] < 1.0 - 1e-9]
    return {m: list(dict.fromkeys(g["country"])) for m, g in low.groupby("material")}


def origins_for(run: Run, last: dict) -> dict[str, list[str]]:
    """Origins of export restrictions per material, from the scenario file.

    Falls back on the prices (``origins_from_prices``) when the scenario file cannot be
    read any more.
    """
    where = locate(lookup(run.manifest, "scenario.path", "scenario_path"), run.path)
    if where is not None:
        try:
            from simcore.scenario import load_scenario

            scenario = load_scenario(where)
        except Exception:  # moved, edited or invalid since the run: use the prices
            pass
        else:
            out: dict[str, list[str]] = {}
            for ev in scenario.events:
                if ev.kind == "export_restriction":
                    for m in ev.materials:
                        out.setdefault(m, [])
                        if ev.origin not in out[m]:
                            out[m].append(ev.origin)
            return out
    fast = origins_from_zone_prices(run.path, last)
    return fast if fast is not None else origins_from_prices(run.frame(), last)


def origins_from_zone_prices(path, last: dict) -> dict[str, list[str]] | None:
    """``origins_from_prices`` from zone_prices.parquet and exposures.parquet (results
    formats 3 and 4): a row's price index is its zone's, so the countries of the
    final-stage zones whose mean price falls below 1 in some draw; 39 zone rows a draw
    of the partner study, where the shortage table has 452. Read a row group at a time
    (a million draws: 39 M rows). None for older formats, or where the file cannot be
    read (the table then gives the origins, or the error).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from simcore.results import SPARSE_FORMATS, load_result

    result = load_result(path)
    if result.format not in SPARSE_FORMATS:
        return None
    keys = ["material", "stage", "zone"]
    found = []
    try:
        pf = pq.ParquetFile(Path(path) / "zone_prices.parquet")
        for i in range(pf.num_row_groups):
            g = pf.read_row_group(i, columns=[*keys, "price_mean"])
            g = g.filter(pc.less(g.column("price_mean"), 1.0 - 1e-9)).select(keys)
            if g.num_rows:
                found.append(_plain(_to_frame(
                    g.group_by(keys).aggregate([]).select(keys))).drop_duplicates())
    except (pa.ArrowException, OSError):
        return None
    low = (pd.concat(found).drop_duplicates() if found
           else pd.DataFrame({k: pd.Series(dtype=object) for k in keys}))
    exposures = _to_frame(result.table("exposures", [*keys[:2], "country", "zone"]))
    fin = an.final_stage(_plain(exposures.dropna(subset=["zone"])), last)
    hit = fin.merge(low, on=keys)
    return {m: list(dict.fromkeys(g["country"])) for m, g in hit.groupby("material")}


def _to_frame(table) -> pd.DataFrame:
    """An Arrow table as pandas, as ``Result``'s tables come (month nulls kept)."""
    from simcore.results.result import _to_pandas

    return _to_pandas(table)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Label columns (zones too) as plain strings, so that tables from two files join."""
    out = an.normalise(df)
    if "zone" in out.columns:
        out["zone"] = out["zone"].astype(str)
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _pp(v: float) -> str:
    """A change of share in percentage points, as compare's table prints it."""
    return f"{an.pp(v)} pp"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


# --- the sections -------------------------------------------------------------------


def sections(base: Run, compares: Sequence[Run], opts: Options,
             drawer: _Drawer | None = None) -> list[Section]:
    """Every section of the report, figures still as matplotlib Figures.

    Section.figures holds (id, alt, Figure) here; the writers turn them into PNG. A
    ``drawer`` starts drawing each section's figures as soon as the section is made.
    """
    fg.require_matplotlib()
    for other in compares:
        if not opts.force:
            _check_pairing(base, other)
    ctx = context_for(base)
    last = base.manifest.get("last_stage") or an.last_stage_of(base.frame(), ctx.stage_order)
    stats = (
        an.stats_from_summary(base.summary)
        if base.summary is not None
        else an.exposure_stats(base.by_draw())
    )
    worst = an.worst_exposures(stats, opts.top, opts.per_material,
                               same=lambda k: base.leads.get(k, k), partners=ctx.partners)
    labels = {
        (r.material, r.stage, r.country): an.exposure_label(r.material, r.stage, r.country, last)
        for r in stats.itertuples(index=False)
    }
    draws = len(base.by_draw().draws)  # the per-draw parts' (report --draws)
    every = int(lookup(base.manifest, "draws", default=draws))  # the summaries'
    stat_draws = every if base.summary is not None else draws
    out = _Made(drawer)

    matrix, n_partners = an.heatmap_matrix(stats, last, ctx.partners)
    text = (
        f"The 95th percentile over {stat_draws:,} draws of each country's shortage over the "
        "horizon, as a share of its horizon need, at each material's final stage: in one "
        "draw in twenty the shortage is at least this large. Partner economies come "
        "first (left of the black line), then the other countries, worst first. Grey "
        "cells: no need for that material. Numbers are percent; a tinted cell without "
        "one: below 0.5 % (beyond 60 countries the cells carry none)."
    )
    if ctx.dataset_note:
        text += "\n\n" + ctx.dataset_note
    out.append(
        Section(
            "heatmap",
            "Where the shortage is: P95 shortage share",
            text,
            [
                (
                    "fig-heatmap",
                    "Heatmap of P95 shortage share, materials by countries",
                    fg.heatmap_figure(matrix, n_partners),
                )
            ],
        )
    )

    rows = [
        {
            "exposure": an.exposure_label(r.material, r.stage, r.country, last, r.alike,
                                          r.incl),
            "mean": _pct(r.mean),
            "p50": _pct(r.p50),
            "p95": _pct(r.p95),
            "p_short": _pct(r.p_short),
        }
        for r in worst.itertuples(index=False)
    ]
    ex_table = table(
        rows,
        [
            ("exposure", "exposure"),
            ("mean", "mean share"),
            ("p50", "P50"),
            ("p95", "P95"),
            ("p_short", "P(a month > 1 % short)"),
        ],
        {"exposure"},
    )
    out.append(
        Section(
            "exceedance",
            "How likely: exceedance curves",
            f"For the {len(worst)} worst exposures (highest P95, at most "
            f"{opts.per_material} per material; countries with the same shares in every "
            f"draw take one row, named by the largest buyer, +N more, and by the largest "
            f"partner economy among them where that is not one, 'incl.'), the probability "
            f"that the "
            "shortage share exceeds each level x, estimated from the "
            f"{draws:,} draws. The shaded band is the 95 % Wilson interval of that probability: "
            "it narrows with more draws, and is the Monte Carlo error, not the model's."
            + (f" The curves take the first {draws:,} of the run's {every:,} draws (report "
               "--draws); the table's numbers are over all of them." if draws < stat_draws
               else ""),
            [
                (
                    "fig-exceedance",
                    "Exceedance curves of the worst exposures with 95 % confidence bands",
                    fg.exceedance_figure(an.exceedance_table(base.by_draw(), worst, last)),
                )
            ],
            ex_table,
        )
    )

    qcols = an.quantile_columns(base.monthly)
    fan_columns = ["material", "month", *qcols.values()]

    def fan(country: str) -> pd.DataFrame:
        return an.monthly_quantiles(base.monthly, country, last)[fan_columns]

    countries = an.choose_countries(stats, ctx.partners, opts.countries, fan=fan)
    fans = [
        (
            f"fig-fan-{_slug(c)}",
            f"Monthly shortage share fan chart for {c}",
            fg.fan_figure(an.monthly_quantiles(base.monthly, c, last), c, qcols),
        )
        for c in countries
    ]
    out.append(
        Section(
            "fans",
            "When: monthly shortage share",
            f"Month by month (month 0: the first of the scenario's horizon), the spread over "
            f"{every:,} draws of each country's shortage share at the "
            "final stage: the light band holds 90 % of draws (P5–P95), the dark band half "
            "(P25–P75), the line is the median. Percentiles are taken month by month, so "
            "the median line is not one draw's path. Countries (by default the worst-hit "
            "partners, passing over a country each of whose panels would repeat one "
            "drawn already): "
            + (", ".join(countries) if countries else "none is ever short")
            + ".",
            fans,
        )
    )

    origins = origins_for(base, last)
    if base.prices is None:
        price_fig = fg._message_figure(
            "These results predate zone prices (results format 1): run the scenario again.")
    else:
        price_fig = fg.price_figure(an.zone_price_bands(base.prices, last, origins))
    out.append(
        Section(
            "prices",
            "Prices: each price zone, month by month",
            "The price of each price zone of a material's final stage, relative to the "
            "reference price (docs/model.md §3.1): buyers in one zone trade freely and pay "
            f"one price. The line is the median over {every:,} draws, the band holds 90 % of "
            "them (P5–P95), month by month (month 0: the first of the scenario's horizon); "
            "a zone whose median is the same as another's is drawn under it (the legend "
            "still names it). A control splits the market: the zones it caps pay "
            "more, while the origin (green), holding supply it may not export, tends to "
            "see its price fall (it rises instead where an outage or another event cuts "
            "the origin's own supply more).",
            [("fig-price", "Zone prices month by month, median and P5-P95", price_fig)],
        )
    )

    # folded and named as the exceedance list names them (the largest buyer, +N)
    top_ex = an.worst_exposures(stats, opts.top_drivers, per_material=1,
                                same=lambda k: base.leads.get(k, k), partners=ctx.partners)
    labels = {**labels, **{
        (r.material, r.stage, r.country):
            an.exposure_label(r.material, r.stage, r.country, last, r.alike, r.incl)
        for r in top_ex.itertuples(index=False)}}
    sens = an.sensitivity_table(
        base.by_draw(), base.drivers, top_ex, n_boot=opts.n_boot, seed=opts.seed
    )
    out.append(
        Section(
            "drivers",
            "Why: drivers of the shortage (sensitivity)",
            "For the worst exposure of each of the worst-hit materials, the share of the "
            "draw-to-draw variance of its "
            "shortage share that each sampled input explains on its own (first-order "
            "index, estimated by binning the input into equal-count bins, with a "
            "correction for noise; whiskers: 95 % bootstrap interval over draws). Indices "
            "near 0 mean the input does not matter alone. When the indices add up to much "
            "less than 1 the inputs act together (a severity matters only in draws where "
            "its event fires); above 1, inputs depend on each other (an event that fires "
            "only after another, correlated events) and share their explanation: read "
            "them together. Full table: `supplyshock sensitivity RESULT_DIR"
            + (f" --draws {draws}`. The indices take the first {draws:,} of the run's "
               f"{every:,} draws (report --draws)." if draws < every else "`."),
            [
                (
                    "fig-tornado",
                    "Tornado chart of first-order sensitivity indices per exposure",
                    fg.tornado_figure(sens, labels),
                )
            ],
        )
    )

    if len(compares) >= 2:  # the overview first, then each policy's exposures
        side = _policies_section(base, compares, ctx.partners)
        if side is not None:
            out.append(side)
    data = [_compare_data(base, other, worst, last, opts, ctx.partners) for other in compares]
    # several policies: their box plots on one scale
    xlim = _shared_limits([d[1] for d in data]) if len(compares) >= 2 else None
    for other, d in zip(compares, data, strict=True):
        out.append(_compare_section(base, other, d, last, opts, ctx.partners, xlim))

    from simcore.report.stockpile import stockpile_sections  # folders of a sizing

    for run in (base, *compares):
        out.extend(stockpile_sections(run))

    out.append(_provenance_section(base, compares))
    return out


def _check_pairing(base: Run, other: Run) -> None:
    """A draw-by-draw comparison is meaningful only with common random numbers."""
    why, fix = unpaired(base.manifest, other.manifest)
    if why:
        raise ResultError(
            f"{other.path}: {' and '.join(why)} ({base.path}); a draw-by-draw comparison "
            f"needs the same seed and horizon (common random numbers): {fix}, or add "
            f"--force to draw it anyway"
        )


def _compare_data(base: Run, other: Run, worst: pd.DataFrame, last: dict, opts: Options,
                  partners: tuple[str, ...] = ()):
    """What a policy's section shows: the exposures (those it changes most, else the
    base's worst), their changes per draw and their summary (``an.paired_changes``)."""
    changed = an.largest_changes(base.by_draw(), other.by_draw(), opts.top, opts.per_material,
                                 fold=True, partners=partners)
    shown = changed if len(changed) else worst
    return (shown, *an.paired_changes(base.by_draw(), other.by_draw(), shown, last))


def _shared_limits(per_draws: list[pd.DataFrame]) -> tuple[float, float] | None:
    """One x-range for the policies' box plots (whiskers P5-P95, means, zero), so that
    figures side by side compare by eye (a new-user pass read -10 pp on one axis against
    -17.5 pp on another as alike); None where nothing changes."""
    lo = hi = 0.0
    for frame in per_draws:
        for _, g in frame.groupby("label", sort=False):
            v = g["change"].to_numpy(np.float64)
            v = v[np.isfinite(v)]
            if len(v):
                q5, q95 = np.quantile(v, [0.05, 0.95])
                lo, hi = min(lo, q5, v.mean()), max(hi, q95, v.mean())
    if not hi > lo:
        return None
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _compare_section(
    base: Run, other: Run, data, last: dict, opts: Options,
    partners: tuple[str, ...] = (), xlim: tuple[float, float] | None = None,
) -> Section:
    shown, per_draw, summary = data
    rows = [
        {
            "exposure": r.label,
            "base": _pct(r.mean_base),
            "policy": _pct(r.mean_policy),
            "change": _pp(r.mean_change),
            "better": f"{_pct(r.p_improve)} [{_pct(r.p_improve_low)}–{_pct(r.p_improve_high)}]",
            "worse": _pct(r.p_worse),
        }
        for r in summary.itertuples(index=False)
    ]
    html = table(
        rows,
        [
            ("exposure", "exposure"),
            ("base", "mean share, base"),
            ("policy", f"mean share, {other.name}"),
            ("change", "mean change"),
            ("better", "P(better) [95 % CI]"),
            ("worse", "P(worse)"),
        ],
        {"exposure"},
    )
    html += _worse_elsewhere(base, other, shown, last, partners=partners)
    n = int(summary["draws"].iloc[0]) if len(summary) else 0
    why, _ = unpaired(base.manifest, other.manifest)
    if why:  # report --force
        pairing = (f"The runs differ ({' and '.join(why)}), so draw i of one is not draw i "
                   f"of the other: the changes below ({n:,} draws) mix the policy's effect "
                   "with sampling noise and say little draw by draw (report --force); "
                   "their means are still each run's own.")
    elif share_scenario_files(base.manifest, other.manifest):
        pairing = ("Both runs share their seed, so draw i of each faces the same events: the "
                   "change in draw i is the policy's effect alone (common random numbers, "
                   f"{n:,} paired draws).")
    else:
        pairing = ("Both runs share their seed, but no scenario file (neither extends the "
                   "other, nor do both extend one base): their events may differ, so the "
                   f"change in draw i ({n} paired draws) is not the effect of one policy "
                   "alone.")
    html += _value_and_cost(base, other, partners)
    d_a, d_b = lookup(base.manifest, "draws"), lookup(other.manifest, "draws")
    if d_a is not None and d_b is not None and d_a != d_b:
        pairing += (f" The runs have {d_a:,} and {d_b:,} draws: only the first {n:,} are "
                    "paired here"
                    + (", so the base's means in this table can differ from those above "
                       "(all its draws)." if n < d_a else ", all of the base's."))
    elif d_a is not None and n < d_a:
        pairing += (f" Only the first {n:,} of their {d_a:,} draws are compared (report "
                    "--draws), so the base's means in this table can differ from those "
                    "above (all its draws).")
    return Section(
        f"compare-{_slug(other.name)}",
        f"Policy: {other.name} against {base.name}",
        pairing + (" The box plots of all policies share one scale." if xlim else "")
        + " Shown: the exposures the policy changes most (mean absolute change, at "
        f"most {opts.per_material} per material, countries with the same shares in every "
        "draw of both runs in one row, +N, 'incl.' the largest partner economy among them "
        "where the row is named after another; if it changes nothing, the base's worst). "
        "The box shows how the change of the shortage share spreads over draws; "
        "P(better) is the share of draws where the policy lowers the shortage, with its "
        "95 % Wilson interval.",
        [
            (
                f"fig-compare-{_slug(other.name)}",
                f"Draw-by-draw change of shortage share, {other.name} versus {base.name}",
                fg.compare_figure(per_draw, summary, other.name, base.name, xlim),
            )
        ],
        html,
    )


def _policies_section(base: Run, others: list[Run], partners: tuple[str, ...] = ()
                      ) -> Section | None:
    """The policies side by side, as ``supplyshock compare BASE V1 V2 ...`` prints them:
    each one's change of the final users' shortage value, its cost, the value avoided per
    dollar, and whether combined policies add up. None where a run cannot be read."""
    from simcore.money import (
        cost_cell,
        interaction_reading,
        policies_side_by_side,
        usd4,
        usd_signed,
    )
    from simcore.results import load_result

    try:
        results = [load_result(r.path) for r in (base, *others)]
    except ResultError:
        return None
    # the values per draw the report read already, where every run has them from draw 0
    held = [r.by_draw() for r in (base, *others)]
    values = None
    if all(d.value is not None and np.array_equal(d.draws, np.arange(len(d.draws)))
           for d in held):
        values = [(d.keys, d.value) for d in held]
    # (the pairing of the runs is checked, and said, where the report starts)
    side = policies_side_by_side(results[0], results[1:], force=True, partners=partners,
                                 limit=base.limit, values=values)
    rows = []
    for r, c in zip(side.table.itertuples(index=False), side.costs, strict=True):
        per = "-" if r.avoided_per_usd != r.avoided_per_usd else f"{r.avoided_per_usd:,.2f}"
        if partners and per != "-":
            per += f" ({r.partners_avoided_per_usd:,.2f})"
        rows.append({
            "policy": r.variant,
            "change": f"{usd_signed(r.change_usd)} [{usd_signed(r.change_ci_low)}, "
                      f"{usd_signed(r.change_ci_high)}]",
            "partners": usd_signed(r.partners_change_usd) if partners else "",
            "cost": cost_cell(c),
            "per": per,
        })
    columns = [("policy", "policy"), ("change", "change of shortage value [95 % CI]"),
               *([("partners", "partner economies' part")] if partners else []),
               ("cost", "cost"),
               ("per", "avoided per $" + (" (partners)" if partners else ""))]
    html = table(rows, columns, {"policy"})
    for r in side.interactions.itertuples(index=False):
        html += (f"<p>{esc(r.variant)} against {esc(r.parts)} apart: "
                 f"{esc(usd_signed(r.interaction_usd))} [{esc(usd_signed(r.interaction_ci_low))}"
                 f", {esc(usd_signed(r.interaction_ci_high))}] (the mean over draws of its "
                 f"change minus the sum of theirs; P5-P95 {esc(usd_signed(r.interaction_p5))} "
                 f"to {esc(usd_signed(r.interaction_p95))}): "
                 f"{esc(interaction_reading(r.interaction_ci_low, r.interaction_ci_high))}."
                 "</p>")
    notes = []
    if any(c is not None and c.removed for c in side.costs):
        notes.append("lacks: the policy does not have some of the base's interventions; "
                     "their effect is in its change and their cost is not, so it has no "
                     "ratio and takes part in no interaction")
    if any(c is None for c in side.costs):
        notes.append("cannot be read: runs of an earlier version record no costs, and the "
                     "scenario files named in their manifests were not "
                     "found from the folder the report was made in, or not loadable; "
                     "nothing is said about their cost and no interaction is looked for")
    html += "".join(f'<p class="note">{esc(n)}.</p>' for n in notes)
    base_usd = float(side.table["base_usd"].iloc[0]) if len(side.table) else float("nan")
    unstated = any(c is not None and c.unstated for c in side.costs)
    return Section(
        "policies",
        "Policies side by side",
        f"Each policy against {base.name}, draw by draw ({side.draws:,} draws"
        + (f", the first of {int(base.manifest['draws']):,}, report --draws"
           if base.limit is not None else "")
        + "): the change "
        "of the final users' shortage value (each material's last stage, every country, "
        f"at the reference prices; {usd4(base_usd)} in the base, mean over draws), with "
        "the 95 % interval of the mean"
        + ("; the partner economies' part of that change (the dataset's group partners)"
           if partners else "")
        + "; the cost of the interventions it adds to the base "
        "(stockpiles bought at the reference prices where the file states no cost_usd, "
        "capacity as stated"
        + ("; \"unstated\": capacity interventions without cost_usd" if unstated else "")
        + "); the value avoided per dollar where every cost is known, over the horizon, a "
        "stockpile's stock still held at its end not counted. A policy that holds the "
        "interventions of two or more others is set against the sum of their changes, "
        "draw by draw. The sections below show each policy's exposures.",
        [],
        html,
    )


def _worse_elsewhere(base: Run, other: Run, shown: pd.DataFrame, last: dict,
                     most: int = 5, partners: tuple[str, ...] = ()) -> str:
    """A line under the comparison's table naming the exposures the policy leaves worse
    that the table does not show (it shows the largest changes, at most a few per
    material: a smaller harm elsewhere would go unseen)."""
    worse, fates = an.made_worse(base.by_draw(), other.by_draw(), partners)
    seen = {fates.get(k) for k in shown[an.KEY].itertuples(index=False, name=None)}
    rest = [r for r in worse.itertuples(index=False)
            if fates[(r.material, r.stage, r.country)] not in seen]
    if not rest:
        return ""
    items = [f"{an.exposure_label(r.material, r.stage, r.country, last, int(r.alike), r.incl)}"
             f" {_pp(r.change)} (P(worse) {_pct(r.p_worse)})" for r in rest[:most]]
    more = (f"; and {len(rest) - most} more (<code>supplyshock compare</code> lists each)"
            if len(rest) > most else "")
    return (f'<p class="note">Also worse under {esc(other.name)}, not in the table (mean '
            f"change above zero beyond its 95 % interval): {esc('; '.join(items))}{more}.</p>")


def _value_and_cost(base: Run, other: Run, partners: tuple[str, ...] = ()) -> str:
    """What ``supplyshock compare`` closes with: the final users' shortage value in both
    runs and its change, and the policy's cost (docs/results.md, compare)."""
    from simcore.money import cost_line, value_line
    from simcore.results import load_result
    from simcore.results.aggregate import value_change_arrays

    try:
        a, b = load_result(base.path), load_result(other.path)
    except ResultError:
        return ""
    # from the tables the report holds, not a second read of both runs (compare's)
    last = {**base.manifest.get("last_stage", {}), **other.manifest.get("last_stage", {})}
    da, db = base.by_draw(), other.by_draw()
    if da.value is None or db.value is None:
        return ""
    shared = np.intersect1d(da.draws, db.draws)
    v = value_change_arrays(da.keys, da.value[np.searchsorted(da.draws, shared)],
                            db.value[np.searchsorted(db.draws, shared)], last, partners,
                            variant_keys=db.keys)
    return (f"<p>{esc(value_line(v))}.</p>"
            f"<p>{esc(cost_line(a, b, v['change_usd'], v.get('partners_change_usd')))}.</p>")


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten(v, key + ".")
        elif isinstance(v, list | tuple):
            out.append((key, " ".join(str(x) for x in v)))
        else:
            out.append((key, str(v)))
    return out


def scenario_texts(run: Run) -> list[tuple[str, str | None]]:
    """[(recorded path, the file's text or None where it is missing)] for the scenario
    file and the files it extends."""
    files = lookup(run.manifest, "scenario.files") or []
    main = lookup(run.manifest, "scenario.path", "scenario_path")
    paths = list(dict.fromkeys([p for p in [main, *files] if isinstance(p, str) and p]))
    out = []
    for recorded in paths:
        p = locate(recorded, run.path)
        text = p.read_text(encoding="utf-8-sig", errors="replace") if p and p.is_file() else None
        out.append((shown_path(recorded), text))
    return out


# manifest entries that are bookkeeping, not provenance a reader needs
_HIDDEN = (
    "labels",
    "last_stage",
    "price_usd_per_t",
    "files",
    "digest.tables",
    "digest.covers",
    "format",
    "zones",  # shown as a table of its own (_zones_table)
)

# codes of the shipped baseline that stand for no single country (docs/baseline.md)
_AGGREGATE_CODES = {"XEU": "the EU members not in the model on their own",
                    "ROW": "the rest of the world (countries under 1 % of every market)"}


def _zones_table(manifest: dict) -> str:
    """The run's price zones, one row each: material, stage, zone, members."""
    zones = manifest.get("zones") or []
    if not isinstance(zones, list) or not zones:
        return ""
    rows = []
    codes: set[str] = set()
    for z in zones:
        if not isinstance(z, dict):
            continue
        members = [str(c) for c in z.get("members", [])]
        codes.update(members)
        rows.append({"material": z.get("material", ""), "stage": z.get("stage", ""),
                     "zone": z.get("zone", ""), "members": ", ".join(members)})
    used = [f"{c}: {what}" for c, what in _AGGREGATE_CODES.items() if c in codes]
    note = (f'<p class="note">Codes that are not one country: {esc("; ".join(used))}.</p>'
            if used else "")
    return ("<p>Price zones (one price per zone and month; docs/model.md §3.1):</p>"
            + table(rows, [("material", "material"), ("stage", "stage"), ("zone", "zone"),
                           ("members", "members")], {"material", "stage", "zone", "members"})
            + note)


def _shown_manifest(manifest: dict) -> dict:
    """The manifest as the report shows it: the paths it records (absolute where the run
    was made outside the scenario's folder) through :func:`shown_path`."""
    import copy
    import shlex

    m = copy.deepcopy(manifest)
    sc, ds = m.get("scenario"), m.get("dataset")
    if isinstance(sc, dict):
        if isinstance(sc.get("path"), str):
            sc["path"] = shown_path(sc["path"])
        if isinstance(sc.get("files"), list):
            sc["files"] = [shown_path(f) if isinstance(f, str) else f for f in sc["files"]]
    if isinstance(ds, dict) and isinstance(ds.get("path"), str) and ds["path"] != "built-in":
        ds["path"] = shown_path(ds["path"])
    if isinstance(m.get("command"), str):
        try:
            words = shlex.split(m["command"])
        except ValueError:
            m["command"] = _shown_text(m["command"])
        else:
            m["command"] = shlex.join(shown_path(w) if w.startswith("/") else w for w in words)
    return m


def _provenance_section(base: Run, compares: Sequence[Run]) -> Section:
    parts = []
    for run in (base, *compares):
        rows = [
            {"key": k, "value": _shown_text(v)}
            for k, v in _flatten(_shown_manifest(run.manifest))
            if not any(k == h or k.startswith(h + ".") for h in _HIDDEN)
        ]
        parts.append(f"<h3>{esc(run.name)} <small>({esc(shown_path(run.path))})</small></h3>")
        parts.append(table(rows, [("key", "field"), ("value", "value")], {"key", "value"}))
        parts.append(_zones_table(run.manifest))
        texts = scenario_texts(run)
        if not texts:
            parts.append('<p class="note">The manifest names no scenario file.</p>')
        for recorded, text in texts:
            if text is None:
                parts.append(
                    f'<p class="note">The scenario file {esc(recorded)} named in the '
                    "manifest is missing; the scenario hash above identifies the version "
                    "that was run.</p>"
                )
            else:
                parts.append(
                    f"<p>Scenario file <code>{esc(recorded)}</code>:</p>"
                    f"<pre>{esc(_shown_text(text))}</pre>"
                )
    return Section(
        "provenance",
        "Provenance",
        "Everything needed to rerun these results bit for bit: scenario, dataset hash, "
        "seed, draws, versions and command, as recorded in each run's manifest "
        "(run.json).",
        [],
        "".join(parts),
    )


# --- writers --------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _load(result_dir, compare_dirs, draws: int | None = None) -> tuple[Run, list[Run]]:
    from simcore.results import load_result
    from simcore.results.aggregate import check_memory

    folders = [result_dir, *compare_dirs]
    results = [load_result(f) for f in folders]
    # each run holds its own draws, up to --draws: the check counts the largest
    held = max(int(r.manifest["draws"]) if draws is None
               else min(draws, int(r.manifest["draws"])) for r in results)
    check_memory(results, held,
                 per=an.bytes_per_draw_exposure(len(results)),
                 doing="reporting on", advice=(
                     "take the per-draw parts from the first draws only",
                     "the heatmap, the worst list and the monthly charts still cover every "
                     "draw, from the run's summaries"))
    runs = [load_run(f, draws) for f in folders]
    return runs[0], runs[1:]


def _results_folder_of(path: Path) -> Path | None:
    """The results folder (a folder with a run.json) that is ``path`` or holds it."""
    for folder in (path, *path.parents):
        if (folder / "run.json").is_file():
            return folder
    return None


def _check_out(out: Path, folder: bool) -> None:
    """Fail before the (slow) figures when ``out`` cannot be what is asked of it, or
    would replace what is not a report: a file of another kind (a manifest, a scenario),
    anything inside a results folder (the next run of its scenario replaces the folder,
    and the report with it, without a word)."""
    results = _results_folder_of(Path(os.path.abspath(out)))  # "..": the folder above
    if results is not None:
        beside = results.parent / f"{results.name}-{'figures' if folder else 'report.html'}"
        raise ResultError(
            f"--out {out}: inside the results folder {results}, which the next run of its "
            f"scenario replaces, the report with it (and `verify` reads that folder); "
            f"write it beside it, e.g. --out {os.path.relpath(beside)}")
    if folder and out.exists() and not out.is_dir():
        raise ResultError(f"--out {out}: exists and is not a folder; name a folder for PNGs")
    if folder and out.suffix.lower() == ".png" and not out.exists():
        raise ResultError(
            f"--out {out}: with --format png, --out names the folder the figures go into "
            f"(one PNG each), e.g. --out {out.with_suffix('')}")
    if not folder and out.is_dir():
        raise ResultError(
            f"--out {out}: is a folder; name the HTML file, e.g. --out {out / 'report.html'}"
        )
    if not folder and out.suffix.lower() == ".png":
        raise ResultError(
            f"--out {out}: the report is an HTML page; name it .html, or add --format png "
            f"for the figures as PNG files (--out then names their folder)")
    if not folder and out.exists() and out.suffix.lower() not in (".html", ".htm"):
        raise ResultError(
            f"--out {out}: exists and is not an HTML file; the report would replace it: "
            f"name an .html file, e.g. --out {out.with_suffix('.html')}")
    probe = out.absolute().parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ResultError(f"--out {out}: {probe} is a file, not a folder; choose another --out")
    try:  # a file made and removed: permissions, a read-only mount, /proc, a full quota
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as exc:
        raise _unwritable(out, exc) from None


def _unwritable(out: Path, exc: OSError) -> ResultError:
    return ResultError(
        f"--out {out}: cannot write there ({exc.strerror or exc}); choose a folder you can "
        f"write to with --out"
    )


def _say(progress, text: str) -> None:
    if progress is not None:
        progress(text)


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


DEFAULT_JOBS = 4  # a report has about 8 figures; each worker takes about 1 s to start
MIN_PANELS = 30  # fewer panels than this are drawn here unless --jobs says otherwise
FIGURE_WAIT = 120.0  # seconds to wait for a worker's figure (1-3 s each, drawn in
# order): beyond it the worker is taken as hung, stopped, and the figures drawn here


def free_cores(window: float = 0.1) -> float | None:
    """Cores idle over the next ``window`` seconds (Linux's /proc/stat; None elsewhere):
    workers help only where cores are free, and on a loaded machine they cost their
    start (a worker's imports, the pickling) for nothing."""
    import time

    def sample():
        with open("/proc/stat", encoding="ascii") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])  # idle + iowait, all but guest time

    try:
        idle0, all0 = sample()
        time.sleep(window)
        idle1, all1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if all1 <= all0:
        return None
    return (idle1 - idle0) / (all1 - all0) * (os.cpu_count() or 1)


def _context():
    """forkserver where there is one (POSIX): its server imports matplotlib once, and
    each worker forks from it ready to draw; else spawn. Never fork: this process runs
    Arrow's threads, which a fork would copy half-way."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["matplotlib.figure", "matplotlib.backends.backend_agg",
                                    "simcore.report.render"])
        return ctx
    return multiprocessing.get_context("spawn")


class _Drawer:
    """Draws the report's figures into PNG bytes in worker processes, each figure as soon
    as its section is made, while this process computes the next sections.

    matplotlib draws a figure on one core, 1-3 s for one of many panels. A figure is
    pickled and drawn by a worker (the same bytes: render_png, with this process's
    matplotlib settings); where the pool cannot start, a figure cannot be pickled, a
    worker fails or does not answer within FIGURE_WAIT seconds, every figure not yet
    drawn is drawn here (``png`` returns None), so that a real error is raised here
    (and a hung worker is stopped when the drawer closes).

    ``jobs``: the workers; None (the command line's default): one per free core, at most
    DEFAULT_JOBS, and none for a report of under MIN_PANELS panels or where fewer than
    two cores are free (a worker costs about 1 s of CPU to start and the pickling about
    as much again: on a busy machine the report would take longer). A worker process
    imports the caller's main module, as multiprocessing's do: a script that asks for
    ``jobs`` > 1 needs the ``if __name__ == "__main__":`` guard."""

    def __init__(self, jobs: int | None, dpi: int):
        self.asked = jobs
        self.jobs = min(usable_cores(), DEFAULT_JOBS) if jobs is None else jobs
        self.dpi = dpi
        self.off = self.jobs <= 1  # every figure is drawn here
        self.pool = None
        self.pending: dict[int, object] = {}  # id(figure) -> its Future
        self.hung = False  # a worker did not answer in FIGURE_WAIT: stop them at close

    def start(self, panels: int) -> None:
        """Start the workers, which get ready to draw while this process computes the
        first sections (where they cannot start, the figures are drawn here)."""
        import multiprocessing
        import signal
        import sys
        import threading

        if multiprocessing.parent_process() is not None:
            self.off = True  # a worker itself (a script without the main guard)
        if self.asked is None and not self.off:
            free = free_cores()
            if free is not None:
                self.jobs = min(self.jobs, int(free + 0.25))
            if panels < MIN_PANELS or self.jobs < 2:
                self.off = True
        if self.off or self.pool is not None:
            return
        from concurrent.futures import ProcessPoolExecutor

        params = None
        if "matplotlib" in sys.modules:  # settings the caller may have changed
            import matplotlib

            params = {k: v for k, v in matplotlib.rcParams.items()
                      if not k.startswith("backend")}
        main = threading.current_thread() is threading.main_thread()
        before = signal.getsignal(signal.SIGINT) if main else None
        try:
            if main:  # the workers start with Ctrl-C ignored, as they inherit it
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=_context(),
                                            initializer=worker_start, initargs=(params,))
            for _ in range(self.jobs):
                self.pool.submit(warm)
        except Exception:
            self.off = True
        finally:
            if main:
                signal.signal(signal.SIGINT, before)

    def submit(self, figures) -> None:
        """Send the figures to the workers, where they are running."""
        if self.off or self.pool is None:
            return
        import pickle

        try:
            for _, _, fig in figures:
                self.pending[id(fig)] = self.pool.submit(render_png,
                                                         pickle.dumps(fig), self.dpi)
        except Exception:
            self.off = True

    def png(self, fig) -> bytes | None:
        """The figure's PNG from its worker, or None: draw it here."""
        future = self.pending.pop(id(fig), None)
        if future is None or self.off:
            return None
        try:
            return future.result(timeout=FIGURE_WAIT)
        except TimeoutError:
            self.off = self.hung = True
            return None
        except Exception:
            self.off = True
            return None

    def close(self, stop: bool = False) -> None:
        """Let the workers go; ``stop``: at once, where the report stopped (Ctrl-C, an
        error), not after the figures they are drawing (1-3 s)."""
        if self.pool is None:
            return
        stop = stop or self.hung
        workers = list(getattr(self.pool, "_processes", {}).values()) if stop else []
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        self.pool = None


class _Made(list):
    """The sections made so far; each one's figures go to the drawer as it is added."""

    def __init__(self, drawer: _Drawer | None):
        super().__init__()
        self.drawer = drawer

    def append(self, section: Section) -> None:
        super().append(section)
        if self.drawer is not None:
            self.drawer.submit(section.figures)

    def extend(self, more) -> None:
        for section in more:
            self.append(section)


def _sections_of(result_dir, compare_dirs, opts: Options, progress, drawer=None):
    """The base run and the report's sections, saying so to ``progress``."""
    _say(progress, f"reading {1 + len(compare_dirs)} run{'s' * bool(compare_dirs)}")
    base, compares = _load(result_dir, compare_dirs, opts.draws)
    if drawer is not None:
        drawer.start(_panels(base))
    _say(progress, "computing the statistics, the sensitivity and the comparisons")
    return base, list(sections(base, compares, opts, drawer))


def _panels(base: Run) -> int:
    """About how many panels the report's figures hold: the monthly charts (of up to four
    countries) and the price chart have one per material, the others one or a few."""
    return 5 * base.monthly["material"].nunique() + 4


def _drawn(secs: list[Section], progress, dpi: int, drawer: _Drawer | None = None):
    """The sections' figures as PNG bytes, (id, alt, png), section by section: from the
    drawer's workers where it has them, else drawn here."""
    figures = [f for s in secs for f in s.figures]
    for done, (fid, alt, fig) in enumerate(figures, 1):
        name = fid.removeprefix("fig-")
        png = None
        if drawer is not None and not drawer.off:
            _say(progress, f"drawing figure {done} of {len(figures)} ({name}; "
                           f"{drawer.jobs} processes)")
            png = drawer.png(fig)
        if png is None:
            _say(progress, f"drawing figure {done} of {len(figures)} ({name})")
            png = png_bytes(fig, dpi=dpi)
        yield fid, alt, png


def _draws_line(base: Run) -> str:
    draws = len(base.by_draw().draws)
    every = int(lookup(base.manifest, "draws", default=draws))
    if draws < every:
        return f"{every:,} draws (the per-draw parts: the first {draws:,}, --draws)"
    return f"{draws:,} draws"


def write_report(result_dir, compare_dirs=(), out="report.html", options=None,
                 progress=None) -> Path:
    """Write the self-contained HTML report; returns its path. ``progress``: called with
    a line saying what is being done (reading, computing, drawing figure i of n)."""
    opts = options or Options()
    _check_out(Path(out), folder=False)
    drawer = _Drawer(opts.jobs, 110)
    try:
        base, secs = _sections_of(result_dir, compare_dirs, opts, progress, drawer)
        pngs = _drawn(secs, progress, 110, drawer)
        for s in secs:  # in the order _drawn takes them
            s.figures = [next(pngs) for _ in s.figures]
    except BaseException:
        drawer.close(stop=True)
        raise
    drawer.close()
    page = render(
        f"supplyshock report: {base.name}",
        f"{_draws_line(base)} · seed {lookup(base.manifest, 'seed', default='?')} · results "
        f"{shown_path(base.path)}",
        secs,
    )
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a report is not
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _unwritable(out, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def write_figures(result_dir, compare_dirs=(), out="figures", options=None,
                  progress=None) -> list[Path]:
    """Write each figure as ``<out>/<figure id>.png``; returns the paths. ``progress``:
    as :func:`write_report`'s."""
    opts = options or Options()
    out = Path(out)
    _check_out(out, folder=True)
    drawer = _Drawer(opts.jobs, 150)
    try:
        _, secs = _sections_of(result_dir, compare_dirs, opts, progress, drawer)
        pngs = list(_drawn(secs, progress, 150, drawer))
    except BaseException:
        drawer.close(stop=True)
        raise
    drawer.close()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise _unwritable(out, exc) from None
    written = []
    try:
        for fid, _, png in pngs:
            name = fid.removeprefix("fig-") + ".png"
            (tmp / name).write_bytes(png)
            written.append(name)
        out.mkdir(exist_ok=True)
        index = out / FIGURE_INDEX
        (tmp / FIGURE_INDEX).write_text("".join(f"{n}\n" for n in written), encoding="utf-8")
        earlier = _earlier_figures(index)
        for name in written:
            os.replace(tmp / name, out / name)
        os.replace(tmp / FIGURE_INDEX, index)
        for name in earlier - set(written):  # an earlier report's, not drawn now
            (out / name).unlink(missing_ok=True)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / n for n in written]


FIGURE_INDEX = ".supplyshock-figures"  # the figures the last report wrote into a folder


def _earlier_figures(index: Path) -> set[str]:
    """The PNG files an earlier report listed in ``index`` (plain names only)."""
    try:
        names = index.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return set()
    return {n for n in names if n.endswith(".png") and "/" not in n and "\\" not in n
            and not n.startswith(".")}


__all__ = ["Options", "write_figures", "write_report"]
