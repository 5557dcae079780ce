"""The sensitivity table of a run, for ``supplyshock sensitivity`` (no plotting)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simcore.errors import ResultError, suggest
from simcore.report import analysis as an


def sensitivity_for_run(
    result_dir,
    material: str | None = None,
    stage: str | None = None,
    country: str | list[str] | None = None,
    top: int = 5,
    n_boot: int = 200,
    bins: int | None = None,
    seed: int = 0,
    draws: int | None = None,
    per_material: int | None = 2,
) -> pd.DataFrame:
    """Indices for the exposures matching the filters, or the ``top`` worst without any
    (at most ``per_material`` of one material, None: no cap, as the report's exceedance
    list; a material's importers often share their drivers); ``draws``: from draws
    0 .. draws-1 only (the worst chosen on those draws too).

    An unknown material, stage or country is a ``ResultError`` naming what the results
    hold. ``country``: one, or a list (every exposure of any of them).
    """
    from simcore.results import load_result
    from simcore.results.aggregate import check_memory

    result = load_result(result_dir)
    every = int(result.manifest["draws"])
    if draws is not None and draws >= every:
        draws = None
    check_memory([result], every if draws is None else draws,
                 per=an.bytes_per_draw_exposure(1, sensitivity=True),
                 doing="computing the sensitivity of",
                 advice=("use the first draws only", "the bootstrap intervals show what "
                         "fewer draws cost in precision"))
    shortage = an.PerDraw.of_result(result, draws)  # the shares per draw, no table of rows
    driver_table = an.drivers_of(result, draws)
    stats = an.exposure_stats(shortage)
    chosen = stats
    if isinstance(country, list | tuple) and len(country) == 1:
        country = country[0]
    for col, wanted in (("material", material), ("stage", stage), ("country", country)):
        if wanted is None:
            continue
        known = list(dict.fromkeys(chosen[col]))
        values = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
        for value in values:
            if value in known:
                continue
            if value in set(stats[col]):  # in the run, but not with the filters before it
                of = " ".join(str(v) for v in (material, stage) if v is not None)
                raise ResultError(
                    f"{result_dir}: {value} has no exposure of {of}; "
                    f"{'countries' if col == 'country' else col + 's'} with one: "
                    f"{', '.join(known)}")
            scope = (" (a run holds only the materials its scenario's events and "
                     "interventions touch)" if col == "material" and
                     value not in result.manifest.get("material_scope", known) else "")
            raise ResultError(
                f"{result_dir}: no exposure with {col} {value!r}{suggest(value, known)}; "
                f"{'countries' if col == 'country' else col + 's'} here: {', '.join(known)}"
                f"{scope}"
            )
        chosen = chosen[chosen[col].isin(values)]
    from simcore.results import alike_exposures

    same = alike_exposures(result)
    if material is None and stage is None and country is None:
        # the worst exposures, those with the same shares in every draw (so the same
        # indices) folded into their largest buyer, as `run` and the report name them
        summary = result.summary
        if summary is not None and "value_mean_usd" in summary.columns:
            value = {(str(m), str(st), str(c)): float(v) for m, st, c, v in zip(
                summary["material"], summary["stage"], summary["country"],
                summary["value_mean_usd"], strict=True)}
            stats = stats.assign(value=[value.get(k, np.nan) for k in zip(
                stats["material"], stats["stage"], stats["country"], strict=True)])
        ranked = an.worst_exposures(stats, len(stats), per_material=per_material,
                                    same=lambda k: same.get(k, k))
        chosen = ranked.head(top)
    else:
        chosen = chosen.sort_values(["p95", "mean"], ascending=False, kind="stable")
    table = an.sensitivity_table(
        shortage, driver_table, chosen, n_boot=n_boot, bins=bins, seed=seed
    )
    if material is None and stage is None and country is None and len(table):
        keys = list(zip(table["material"], table["stage"], table["country"], strict=True))
        lead_of = {k: same.get(k, k) for k in set(keys)}
        others: dict = {}
        for k, lead in same.items():
            others.setdefault(lead, []).append(k[2])
        shown = {k: ", ".join(c for c in others.get(lead_of[k], []) if c != k[2])
                 for k in set(keys)}
        table["same_shares"] = [shown[k] for k in keys]
    table.attrs["run_draws"] = every
    return table


def _draws_text(n: int, of: int | None) -> str:
    return f"the first {n:,} of {of:,} draws" if of and n < of else f"{n:,} draws"


def format_table(table: pd.DataFrame, drivers: int | None = None) -> str:
    """A plain-text table, one block per exposure, drivers by index (the first
    ``drivers`` of them, all if None); a closing note where the indices of a block sum
    past 1 (drivers that move together each take credit for the others)."""
    if table.empty:
        return (
            "No exposure's shortage varies across draws: there is nothing to attribute "
            "(no event bites, or every draw gives the same shortage)."
        )
    lines = []
    overlap = False
    of = table.attrs.get("run_draws")  # the run's draws, where only the first were used
    for key, g in table.groupby(["material", "stage", "country"], sort=False):
        # unclipped, as the tornado's title: the noise of inputs that do nothing (an
        # index a little below 0 as often as above) cancels in the sum
        total = float(np.nansum(g["index"].to_numpy(dtype=np.float64)))
        overlap |= total > 1.05
        also = str(g["same_shares"].iloc[0]) if "same_shares" in g else ""
        also = f"; the same for {also}" if also else ""
        lines.append(
            f"{key[0]} / {key[1]} / {key[2]}  ({_draws_text(int(g['draws'].iloc[0]), of)}, "
            f"sum of first-order indices {total:.2f}{also})"
        )
        shown = g if drivers is None else g.head(drivers)
        width = max(len(d) for d in shown["driver"])
        lines.append(f"  {'driver':<{width}}  {'index':>8}  {'95% CI':>17}")
        for r in shown.itertuples(index=False):
            ci = "" if np.isnan(r.ci_low) else f"[{r.ci_low:7.3f}, {r.ci_high:7.3f}]"
            # an input with one value (among the draws where it is defined) has no index
            index = f"{r.index:8.3f}" if not np.isnan(r.index) else (
                "constant" if r.bins < 2 else "       -")
            lines.append(f"  {r.driver:<{width}}  {index}  {ci:>17}")
        if len(shown) < len(g):
            rest = g["index"].iloc[len(shown):].to_numpy(dtype=np.float64)
            top = float(np.nanmax(rest)) if np.isfinite(rest).any() else float("nan")
            lines.append(f"  ... {len(g) - len(shown)} more drivers, each at most "
                         f"{top:.3f} (--drivers 0 shows all)")
        lines.append("")
    if overlap:
        lines.append(
            "A sum above 1: drivers that move together (events tied by a correlation or "
            "an `after`) each take credit for the others' effect, so an event that does "
            "not touch a material can rank high beside one that does. Read them together "
            "(docs/report.md, Caveats).")
    return "\n".join(lines).rstrip() + "\n"
