"""The report's figures: each function takes the small tables of ``analysis`` and returns
a matplotlib ``Figure``.

matplotlib is the optional ``plot`` extra and is imported only when a figure is drawn.
Figures are built with the object-oriented API (``matplotlib.figure.Figure``, rendered by
the Agg canvas): no pyplot, no global figure registry, no display needed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simcore.errors import SupplyShockError
from simcore.report.render import png_bytes as png_bytes  # the figures' writers use it
from simcore.report.render import pp_tick, times_tick, usd_tick

INSTALL_HINT = ('pip install "matplotlib>=3.8" (the plot extra; `pip install ".[plot]"` '
                "in the checkout does the same but rebuilds the package)")

# Colours: one qualitative palette (matplotlib's tab10) for lines; blue fans; a
# sequential map for the heatmap where white means no shortage.
FAN_COLOUR = "#1f77b4"
HEAT_CMAP = "YlOrRd"
ORIGIN_COLOUR, REST_COLOUR, PEAK_COLOUR = "#2ca02c", "#1f77b4", "#d62728"
# colours of the price zones that are not an origin (the origin is ORIGIN_COLOUR)
ZONE_COLOURS = ["#c0392b", "#2e6da4", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]

# readable ticks for a log price axis; those inside the data range are shown
PRICE_TICKS = (
    0.1,
    0.2,
    0.3,
    0.5,
    0.7,
    0.8,
    0.9,
    0.95,
    1.0,
    1.05,
    1.1,
    1.25,
    1.5,
    2.0,
    3.0,
    4.0,
    5.0,
    7.0,
    10.0,
    15.0,
    20.0,
)
PRICE_TICKS_ROUND = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def require_matplotlib():
    """Import matplotlib (Agg) or explain how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise SupplyShockError(
            "the report draws its figures with matplotlib, which is not installed; "
            f"install the plotting extra: {INSTALL_HINT}"
        ) from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def _percent(ax, axis: str = "x", decimals: int | None = None) -> None:
    from matplotlib.ticker import PercentFormatter

    fmt = PercentFormatter(xmax=1.0, decimals=decimals)
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def _dollars(ax, axis: str = "x") -> None:
    """Tick labels in dollars with their unit ($250.0M, $1.5bn), not matplotlib's
    numbers under a 1e9 offset."""
    from matplotlib.ticker import FuncFormatter

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(FuncFormatter(usd_tick))


def _pc(p: float) -> str:
    """A probability in percent, with a decimal near 0 and 1 (99.6 %, not 100 %)."""
    return _pcs(p)[0]


def _pcs(*ps: float) -> list[str]:
    """Probabilities in percent at one precision, the fewest decimals (at most two) at
    which none strictly between 0 and 1 reads as 0 % or 100 %, with a decimal where one
    lies within 1 % of either: a value with its interval reads "99.2% [99.0%–99.3%]",
    not "99.2% [99%–99.3%]"."""
    vs = [100.0 * p for p in ps]
    near = any(0.0 < v < 1.0 or 99.0 < v < 100.0 for v in vs)  # a decimal near 0 and 1
    for d in (1, 2) if near else (0, 1, 2):
        if all(not (0.0 < v < 100.0) or 0.0 < round(v, d) < 100.0 for v in vs):
            break
    return [f"{v:.{d}f}%" for v in vs]


def _message_figure(text: str, width: float = 8.0):
    Figure = require_matplotlib()
    fig = Figure(figsize=(width, 1.2), layout="constrained")
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True)
    return fig


def heatmap_figure(matrix: pd.DataFrame, n_partners: int, title: str = ""):
    """P95 shortage share, materials (rows) x countries (columns); NaN cells grey."""
    Figure = require_matplotlib()
    import matplotlib

    if matrix.empty:
        return _message_figure("No exposure in these results.")
    nrows, ncols = matrix.shape
    fig = Figure(
        figsize=(min(max(7.0, 0.42 * ncols + 3.0), 22.0), max(2.8, 0.42 * nrows + 1.8)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    values = matrix.to_numpy(dtype=np.float64)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    vmax = max(top, 0.05)
    cmap = matplotlib.colormaps[HEAT_CMAP].with_extremes(bad="#d9d9d9")
    im = ax.imshow(
        np.ma.masked_invalid(values),
        cmap=cmap,
        vmin=0.0,
        vmax=vmax,
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_xticks(range(ncols), matrix.columns, rotation=90, fontsize=8)
    ax.set_yticks(range(nrows), matrix.index, fontsize=9)
    ax.tick_params(length=0)
    if ncols <= 60:
        size = 7 if ncols <= 30 else 5.5
        for r in range(nrows):
            for c in range(ncols):
                v = values[r, c]
                if not np.isfinite(v) or v < 0.005:
                    continue
                colour = "white" if v > 0.6 * vmax else "black"
                ax.text(
                    c, r, f"{100 * v:.0f}", ha="center", va="center", fontsize=size, color=colour
                )
    if 0 < n_partners < ncols:
        ax.axvline(n_partners - 0.5, color="black", lw=1.5)
    for tick in ax.get_xticklabels()[:n_partners]:
        tick.set_fontweight("bold")
    ax.set_xticks(np.arange(-0.5, ncols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, nrows, 1), minor=True)
    ax.grid(which="minor", color="white", lw=0.8)
    ax.tick_params(which="minor", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.01)
    bar.set_label("P95 shortage share of horizon need")
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=0))
    default = "P95 shortage share at the final stage (numbers in %; grey: no need)"
    if n_partners:
        default += "\npartner economies in bold, left of the black line"
    ax.set_title(title or default, fontsize=11)
    return fig


def exceedance_figure(table: pd.DataFrame):
    """Exceedance curves P(share > x) with their Wilson 95 % bands, one line each."""
    Figure = require_matplotlib()
    if table.empty:
        return _message_figure("No exposure is ever short: no exceedance curve to draw.")
    fig = Figure(figsize=(11.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, rows) in enumerate(table.groupby("label", sort=False)):
        colour = f"C{i % 10}"
        ax.fill_between(
            rows["x"], rows["low"], rows["high"], step="post", color=colour, alpha=0.18, lw=0
        )
        ax.step(rows["x"], rows["p"], where="post", color=colour, lw=1.8, label=label)
    ax.set_xlim(0.0, float(table["x"].max()))
    ax.set_ylim(0.0, 1.02)
    _percent(ax, "x")
    _percent(ax, "y", 0)
    ax.set_xlabel("shortage share of horizon need, x")
    ax.set_ylabel("probability that the shortage share exceeds x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(
        "Exceedance curves of the worst exposures (bands: 95 % Wilson interval)", fontsize=11
    )
    return fig


def fan_figure(quant: pd.DataFrame, country: str, qcols: dict[int, str]):
    """Monthly shortage share of one country, one panel per material that is ever short.

    Bands P5-P95 and P25-P75, median line. Materials never short at P95 get no panel;
    they are named in a note under the figure.
    """
    Figure = require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    hit, calm = [], []
    for material, rows in quant.groupby("material", sort=False):
        (hit if rows[qcols[95]].max() > 0 else calm).append(material)
    if not hit:
        return _message_figure(f"{country}: no material is short in any month, even at P95.")
    ncols = min(4, len(hit))
    nrows = math.ceil(len(hit) / ncols)
    narrow = ncols == 1  # the title in two lines: one line overflowed both sides
    fig = Figure(figsize=(3.4 * ncols + 0.6 + 0.6 * narrow, 2.5 * nrows + 0.9 + 0.2 * narrow),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, material in zip(axes.flat, hit, strict=False):
        rows = quant[quant["material"] == material]
        m = rows["month"].to_numpy()
        ax.fill_between(
            m, rows[qcols[5]], rows[qcols[95]], color=FAN_COLOUR, alpha=0.18, lw=0, label="P5–P95"
        )
        ax.fill_between(
            m, rows[qcols[25]], rows[qcols[75]], color=FAN_COLOUR, alpha=0.38, lw=0, label="P25–P75"
        )
        ax.plot(m, rows[qcols[50]], color=FAN_COLOUR, lw=1.6, label="median")
        ax.set_title(material, fontsize=10)
        ax.set_ylim(0.0, max(0.02, float(rows[qcols[95]].max()) * 1.08))
        ax.set_xlim(float(m.min()), float(m.max()))
        # round steps only (1-2-5): a 2.5 % step would print as "2%", "8%"
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
        _percent(ax, "y", 1 if float(rows[qcols[95]].max()) < 0.05 else 0)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(hit) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("month")
    for ax in axes[:, 0]:
        ax.set_ylabel("monthly shortage share")
    axes.flat[0].legend(fontsize=7, frameon=False, loc="upper right")
    title = (f"{country}: monthly shortage share" + ("\n" if narrow else " ")
             + "(fan: P5–P95, P25–P75, median)")
    if calm:
        title += f"\nnever short at P95: {', '.join(calm)}"
    fig.suptitle(title, fontsize=11)
    return fig


def _box_stats(values: np.ndarray, label: str) -> dict:
    """Box P25-P75, median, whiskers P5-P95 (fliers not drawn: thousands of draws)."""
    v = values[np.isfinite(values)]
    q5, q25, q50, q75, q95 = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "label": label,
        "whislo": q5,
        "q1": q25,
        "med": q50,
        "q3": q75,
        "whishi": q95,
        "mean": float(v.mean()),
        "fliers": [],
    }


def _log_ticks(lo: float, hi: float, most: int = 9) -> list[float]:
    """Readable ticks for a log axis over [lo, hi], 1 always among them, never closer
    than 1/most of the axis (labels must not overlap)."""
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    inside = [t for t in PRICE_TICKS if lo / 1.15 <= t <= hi * 1.15]
    gap = math.log(max(hi / lo, 1.5)) / most
    kept = [1.0]
    # round ticks first (1-2-5), then the others, each pass outwards from 1
    order = sorted(inside, key=lambda t: (t not in PRICE_TICKS_ROUND, abs(math.log(t))))
    for t in order:
        if all(abs(math.log(t / k)) >= gap for k in kept):
            kept.append(t)
    return sorted(kept)


def price_figure(bands: pd.DataFrame):
    """Zone prices month by month, one panel per material whose prices move: for each
    price zone the median (line) and the P5-P95 band of the price over draws; origin
    zones in green. Log scale, 1 = the reference price."""
    Figure = require_matplotlib()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    moved = [m for m, rows in bands.groupby("material", sort=False)
             if (np.abs(np.log(rows[["p5", "p95"]].to_numpy(dtype=np.float64))) > 0.005).any()]
    if not moved:
        return _message_figure("No price moves in any draw.")
    ncols = min(3, len(moved))
    nrows = math.ceil(len(moved) / ncols)
    fig = Figure(figsize=(3.9 * ncols + 0.6, 2.6 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    others = iter(ZONE_COLOURS * 8)
    colour_of: dict[str, str] = {}
    for ax, material in zip(axes.flat, moved, strict=False):
        rows = bands[bands["material"] == material]
        lo = hi = 1.0
        for zone, z in rows.groupby("zone", sort=False, observed=True):
            origin = bool(z["origin"].iloc[0])
            key = "origin" if origin else str(zone)
            if key not in colour_of:
                colour_of[key] = ORIGIN_COLOUR if origin else next(others)
            c = colour_of[key]
            m = z["month"].to_numpy()
            ax.fill_between(m, z["p5"], z["p95"], color=c, alpha=0.18, lw=0)
            ax.plot(m, z["p50"], color=c, lw=1.6, label=str(zone))
            lo = min(lo, float(z["p5"].min()))
            hi = max(hi, float(z["p95"].max()))
        ax.set_yscale("log")
        ax.axhline(1.0, color="grey", lw=1, ls="--")
        ticks = _log_ticks(lo, hi)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FuncFormatter(times_tick))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(material, fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(moved):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("month")
    fig.suptitle("Zone price (1 = reference price, log scale): median and P5–P95 over draws",
                 fontsize=10)
    return fig


def tornado_figure(sens: pd.DataFrame, labels: dict, top: int = 8):
    """First-order indices of the main drivers, one panel per exposure, with their CIs."""
    Figure = require_matplotlib()
    from simcore.report.analysis import driver_label

    groups = [(k, g) for k, g in sens.groupby(["material", "stage", "country"], sort=False)]
    if not groups:
        return _message_figure("No exposure varies across draws: no driver to rank.")
    ncols = min(2, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(6.2 * ncols, (0.36 * top + 1.1) * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (key, full) in zip(axes.flat, groups, strict=False):
        g = full.sort_values("index", ascending=False, kind="stable").head(top)[::-1]
        y = np.arange(len(g))
        est = g["index"].to_numpy(dtype=np.float64)
        low = g["ci_low"].to_numpy(dtype=np.float64)
        high = g["ci_high"].to_numpy(dtype=np.float64)
        shown = np.clip(est, 0.0, None)
        err = np.vstack([np.clip(shown - low, 0, None), np.clip(high - shown, 0, None)])
        err = np.nan_to_num(err)
        ax.barh(y, shown, color="#4c72b0", alpha=0.85, height=0.65)
        ax.errorbar(shown, y, xerr=err, fmt="none", ecolor="black", elinewidth=1, capsize=2)
        for yi, v, h in zip(y, est, np.nan_to_num(high, nan=0.0), strict=True):
            ax.text(max(h, v, 0.0) + 0.015, yi, f"{v:.2f}", va="center", fontsize=7)
        ax.set_yticks(y, [driver_label(d) for d in g["driver"]], fontsize=8)
        ax.set_xlim(0.0, 1.08)
        ax.grid(axis="x", alpha=0.3)
        # unclipped: the noise of inputs that do nothing cancels in the sum
        total = float(np.nansum(full["index"].to_numpy(dtype=np.float64)))
        title = f"{labels.get(key, ' · '.join(key))}  (Σ first-order = {total:.2f})"
        # each input that does nothing adds N(0, sqrt(2 (B - 1)) / n) to the sum: above
        # three such standard deviations over 1, inputs must depend on each other
        noise = np.sqrt(np.nansum(2.0 * (full["bins"].to_numpy(np.float64) - 1.0)))
        noise /= float(full["draws"].iloc[0])
        if total > 1.0 + 3.0 * noise:
            title += "\nΣ > 1: dependent inputs share their explanation"
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("first-order index S (share of variance explained alone)", fontsize=8)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    fig.suptitle(
        "Drivers of the shortage share (bars: estimate, whiskers: 95 % bootstrap CI)", fontsize=11
    )
    return fig


def compare_figure(per_draw: pd.DataFrame, summary: pd.DataFrame, name: str, base: str = "base",
                   xlim: tuple[float, float] | None = None):
    """Draw-by-draw change of the shortage share under a policy, per exposure; ``xlim``:
    the x-range (several policies' figures on one scale)."""
    Figure = require_matplotlib()
    if summary.empty:
        return _message_figure("No exposure to compare.")
    n = len(summary)
    fig = Figure(figsize=(11.0, 0.55 * n + 1.8), layout="constrained")
    ax = fig.add_subplot()
    stats = []
    for row in summary.itertuples(index=False):
        change = per_draw.loc[per_draw["label"] == row.label, "change"].to_numpy()
        stats.append(_box_stats(change, row.label))
    positions = np.arange(n)[::-1]
    boxes = ax.bxp(
        stats,
        positions=positions,
        orientation="horizontal",
        widths=0.6,
        showfliers=False,
        patch_artist=True,
        showmeans=True,
        meanprops={
            "marker": "D",
            "markerfacecolor": "black",
            "markeredgecolor": "black",
            "markersize": 4,
        },
    )
    for patch in boxes["boxes"]:
        patch.set_facecolor("#8da0cb")
    for med in boxes["medians"]:
        med.set_color("black")
    ax.axvline(0.0, color="grey", lw=1, ls="--")
    if xlim is not None:
        ax.set_xlim(*xlim)
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(pp_tick))
    ax.set_xlabel(
        f"change of shortage share, {name} minus {base}\n"
        "(percentage points of horizon need; left of 0 = better)"
    )
    trans = ax.get_yaxis_transform()
    for pos, row in zip(positions, summary.itertuples(index=False), strict=True):
        ax.text(
            1.01,
            pos,
            "P(better) {} [{}–{}]".format(*_pcs(row.p_improve, row.p_improve_low,
                                                  row.p_improve_high))
            + f"  P(worse) {_pc(row.p_worse)}",
            transform=trans,
            va="center",
            fontsize=8,
        )
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"Policy comparison, draw by draw: {name} vs {base}\n"
        "(box P25–P75, whiskers P5–P95, ◆ mean)",
        fontsize=11,
    )
    return fig
