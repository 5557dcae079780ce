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
    country: str | None = None,
    top: int = 5,
    n_boot: int = 200,
    bins: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Indices for the exposures matching the filters, or the ``top`` worst without any.

    An unknown material, stage or country is a ``ResultError`` naming what the results
    hold.
    """
    from simcore.results import load_result

    result = load_result(result_dir)
    shortage = an.normalise(result.shortage)
    stats = an.exposure_stats(shortage)
    chosen = stats
    for col, value in (("material", material), ("stage", stage), ("country", country)):
        if value is None:
            continue
        known = list(dict.fromkeys(chosen[col]))
        if value not in known:
            raise ResultError(
                f"{result_dir}: no exposure with {col} {value!r}{suggest(value, known)}; "
                f"{'countries' if col == 'country' else col + 's'} here: {', '.join(known)}"
            )
        chosen = chosen[chosen[col] == value]
    if material is None and stage is None and country is None:
        chosen = an.worst_exposures(stats, top)
    else:
        chosen = chosen.sort_values(["p95", "mean"], ascending=False, kind="stable")
    return an.sensitivity_table(
        shortage, result.drivers, chosen, n_boot=n_boot, bins=bins, seed=seed
    )


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table, one block per exposure, drivers by index."""
    if table.empty:
        return (
            "No exposure's shortage varies across draws: there is nothing to attribute "
            "(no event bites, or every draw gives the same shortage)."
        )
    lines = []
    for key, g in table.groupby(["material", "stage", "country"], sort=False):
        # unclipped, as the tornado's title: the noise of inputs that do nothing (an
        # index a little below 0 as often as above) cancels in the sum
        total = float(np.nansum(g["index"].to_numpy(dtype=np.float64)))
        lines.append(
            f"{key[0]} / {key[1]} / {key[2]}  ({int(g['draws'].iloc[0])} draws, "
            f"sum of first-order indices {total:.2f})"
        )
        width = max(len(d) for d in g["driver"])
        lines.append(f"  {'driver':<{width}}  {'index':>8}  {'95% CI':>17}")
        for r in g.itertuples(index=False):
            ci = "" if np.isnan(r.ci_low) else f"[{r.ci_low:7.3f}, {r.ci_high:7.3f}]"
            # an input with one value (among the draws where it is defined) has no index
            index = f"{r.index:8.3f}" if not np.isnan(r.index) else (
                "constant" if r.bins < 2 else "       -")
            lines.append(f"  {r.driver:<{width}}  {index}  {ci:>17}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
