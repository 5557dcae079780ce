"""The report's page for stockpile sizing (``supplyshock stockpile size | budget``).

A results folder written by a sizing holds ``stockpile.json`` and its tables
(simcore/stockpile/output.py); for such a folder the report adds:

- ``size``: the cost-protection frontier per material — the statistic of the target
  against the cost of the stockpile, for each holder's national stockpile, for all
  national stockpiles together (the sum of what each holder pays for a level of
  protection on its own) and, with ``--pool``, for the shared stockpile — with the
  recommendation and who protects whom;
- ``budget``: the frontier budget -> objective and the allocation.

The frontier is drawn from the search's evaluations on the search draws (each holder's
running best: a larger stock never shows a worse level than a smaller one seen), the
recommendations from all draws.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from simcore.money import usd
from simcore.report import figures as fg
from simcore.report.html import Section, table

_STAT = {"share": "shortage share", "months": "months short", "price": "peak price index"}


def _usd(x) -> str:
    """$1.2 M, as the report's tables print dollars."""
    return usd(x, " ")


def stockpile_sections(run) -> list[Section]:
    """The stockpile sections of a run (none unless its folder holds a sizing)."""
    folder = Path(run.path)
    if not (folder / "stockpile.json").is_file():
        return []
    from simcore.stockpile.output import load

    try:
        m = load(folder)
        note = ("\n\nNote: " + "; ".join(m["problems"])) if m["problems"] else ""
        if m["kind"] == "budget":
            return [_budget_section(run, folder, m, note)]
        return [_size_section(run, folder, m, note)]
    except Exception as exc:  # noqa: BLE001 - a file missing or damaged: the rest works
        from simcore.report.build import _shown_text

        return [Section(f"stockpile-{_slug(run.name)}", "Stockpile sizing",
                        "The sizing's record or tables of this folder cannot be read "
                        f"({type(exc).__name__}: {_shown_text(str(exc))}); "
                        "`supplyshock stockpile show` checks them against their recorded "
                        "SHA-256, and a new sizing writes them again.")]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _fmt(metric: str, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if metric == "share":
        return f"{100 * v:.2f} %"
    return f"{v:.3g}"


# --- frontier data ----------------------------------------------------------------------------


def envelope(points: pd.DataFrame) -> pd.DataFrame:
    """(cost, statistic) points of one placement -> its running best: sorted by cost,
    the statistic never above one already reached at a lower cost."""
    pts = points.sort_values(["cost_usd", "statistic"]).copy()
    pts["statistic"] = np.minimum.accumulate(pts["statistic"].to_numpy(dtype=float))
    return pts[["cost_usd", "statistic"]].drop_duplicates("cost_usd", keep="first")


def cost_at(env: pd.DataFrame, level: float) -> float:
    """The cost at which an envelope first reaches ``level`` (linear between points);
    NaN where it never does."""
    c = env["cost_usd"].to_numpy(dtype=float)
    v = env["statistic"].to_numpy(dtype=float)
    if not len(c):
        return math.nan
    if v[0] <= level:
        return float(c[0])
    for i in range(1, len(c)):
        if v[i] <= level:
            if v[i - 1] == v[i]:
                return float(c[i])
            w = (v[i - 1] - level) / (v[i - 1] - v[i])
            return float(c[i - 1] + w * (c[i] - c[i - 1]))
    return math.nan


def frontier(search: pd.DataFrame, material: str) -> dict[str, pd.DataFrame]:
    """Per material: each national holder's envelope, the national total and the pool's,
    from the stock searches on the search draws."""
    s = search[(search["material"] == material) & (search["phase"] == "search")]
    out: dict[str, pd.DataFrame] = {}
    envs = {}
    for (kind, holder), g in s.groupby(["kind", "holder"], sort=False):
        env = envelope(g)
        if kind == "pooled":
            out["pooled"] = env
        else:
            envs[holder] = env
            out[f"holder:{holder}"] = env
    if envs:
        levels = sorted({float(v) for e in envs.values() for v in e["statistic"]})
        rows = []
        for y in levels:
            costs = [cost_at(e, y) for e in envs.values()]
            if all(c == c for c in costs):
                rows.append(dict(cost_usd=sum(costs), statistic=y))
        out["national"] = pd.DataFrame(rows, columns=["cost_usd", "statistic"])
    return out


def frontier_figure(search: pd.DataFrame, rec: pd.DataFrame, target: dict):
    Figure = fg.require_matplotlib()
    mats = [m for m in dict.fromkeys(rec["material"]) if
            (rec[(rec["material"] == m)]["status"] == "ok").any()]
    if not mats:
        return fg._message_figure("No stockpile was needed: every holder meets the target "
                                  "without one.")
    cols = min(3, len(mats))
    nrows = math.ceil(len(mats) / cols)
    fig = Figure(figsize=(4.2 * cols + 1.5, 3.2 * nrows + 0.6), layout="constrained")
    metric = target["metric"]
    for i, m in enumerate(mats):
        ax = fig.add_subplot(nrows, cols, i + 1)
        fr = frontier(search, m)
        for key, env in fr.items():
            if env.empty:
                continue
            if key.startswith("holder:"):
                ax.plot(env["cost_usd"], env["statistic"], color="0.6", lw=0.8, alpha=0.8)
            elif key == "national":
                ax.plot(env["cost_usd"], env["statistic"], color="#d62728", lw=2.0,
                        label="national (sum, each on its own)")
            else:
                ax.plot(env["cost_usd"], env["statistic"], color="#1f77b4", lw=2.0,
                        label="pooled")
        r = rec[(rec["material"] == m) & (rec["status"] == "ok")]
        nat = r[r["kind"] == "national"]
        if len(nat):
            ax.plot([nat["cost_horizon_usd"].sum()], [nat["statistic"].max()], "o",
                    color="#d62728", ms=6)
        pool = r[r["kind"] == "pooled"]
        if len(pool):
            ax.plot(pool["cost_horizon_usd"], pool["statistic"], "s", color="#1f77b4", ms=6)
        ax.axhline(target["value"], color="k", lw=0.8, ls="--")
        right = 2.5 * max([float(nat["cost_horizon_usd"].sum())]
                          + [float(c) for c in pool["cost_horizon_usd"]])
        if right > 0:
            ax.set_xlim(0.0, right)
        ax.set_ylim(bottom=0.0)
        if metric == "share":
            fg._percent(ax, "y")
        ax.set_title(m, fontsize=10)
        fg._dollars(ax, "x")
        ax.set_xlabel("cost over the horizon", fontsize=8)
        ax.set_ylabel(f"P{100 * target['quantile']:g} {_STAT[metric]}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Cost-protection frontier per material (thin grey: each holder on its own; "
                 "dashed: the target; markers: the recommendation on all draws)", fontsize=10)
    return fig


def _size_section(run, folder: Path, m: dict, note: str) -> Section:
    from simcore.stockpile.output import read_table

    search = read_table(folder, "search")
    rec = pd.DataFrame(m["recommendation"])
    t = m["target"]
    fig = frontier_figure(search, rec, t)
    from simcore.stockpile.target import few_draws_note, upper_open

    open_top = upper_open(int(m["draws"]), float(t["quantile"]))
    rows = [dict(kind=r["kind"], holder=r["holder"], material=r["material"],
                 status=r["status"], tonnes=f"{r['tonnes']:,.4g}" if r["tonnes"] == r[
                     "tonnes"] else "-",
                 rate=f"{r['release_t_per_month']:,.4g}" if r["release_t_per_month"] ==
                 r["release_t_per_month"] else "-",
                 cost=_usd(r["cost_horizon_usd"]),
                 stat=f"{_fmt(t['metric'], r['statistic'])} [{_fmt(t['metric'], r['ci_low'])}"
                 f", {'no bound' if open_top else _fmt(t['metric'], r['ci_high'])}]",
                 without=_fmt(t["metric"], r["statistic_without"]))
            for r in m["recommendation"]]
    html = table(rows, [("kind", "kind"), ("holder", "holder"), ("material", "material"),
                        ("status", "status"), ("tonnes", "tonnes"), ("rate", "t/month"),
                        ("cost", "cost (horizon)"), ("stat", f"{t['label']} [95 %]"),
                        ("without", "without")], {"kind", "holder", "material", "status"})
    spill = read_table(folder, "spillover")
    if len(spill):
        sp = spill[spill["protector"] != "pool"]
        if len(sp):
            mat = sp.pivot_table(index=["material", "protector"], columns="protected",
                                 values="avoided_t", aggfunc="sum", sort=False)
            srows = [{"material": mm, "protector": pr,
                      **{c: f"{v:,.3g}" for c, v in row.items()}}
                     for (mm, pr), row in mat.iterrows()]
            html += "<p>Who protects whom: expected shortage each national stockpile " \
                    "avoids [t], by holder protected (columns) and for every other country " \
                    "(others).</p>" + table(
                        srows, [("material", "material"), ("protector", "stockpile of")]
                        + [(c, c) for c in mat.columns], {"material", "protector"})
    scheme = "one shared stockpile per material (pooled), compared with national ones" if m[
        "pool"] else "national stockpiles, each sized on its own"
    text = (
        f"Stockpiles sized for {t['text']} ({t['label']} of each holder: "
        f"{', '.join(m['holders'])}), {scheme}; "
        f"{'reserved for their holders' if m['reserved'] else 'selling into their price zone'}"
        f". Searched on {m['search_draws']:,} draws, confirmed on {m['draws']:,} to "
        f"{100 * m['method']['size_tolerance']:g} %; intervals: {m['method']['interval']}. "
        "The frontier shows, per material, what each level of protection costs: the grey "
        "lines each holder's national stockpile on its own, red the sum of them (every "
        "holder buying its own protection), blue one pooled stockpile for all. In the "
        "version-2 market a stockpile sells into its price zone, so one holder's stock "
        "protects its zone neighbours: national stockpiles sized each on its own "
        "over-protect together (the table's 'who protects whom'). Method: docs/stockpile.md."
        + (f" Warning: {few}." if (few := few_draws_note(int(m["draws"]), float(t["quantile"]),
                                                         f"the target {t['text']}")) else "")
        + note
    )
    return Section(f"stockpile-{_slug(run.name)}", f"Stockpile sizing: {m['variant']['name']}",
                   text, [(f"fig-stockpile-frontier-{_slug(run.name)}",
                           "Cost-protection frontier per material, national vs pooled", fig)],
                   html)


def budget_figure(front: pd.DataFrame, objective: str):
    Figure = fg.require_matplotlib()
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = front["spent_usd"].to_numpy(dtype=float)
    ax.fill_between(x, front["ci_low"], front["ci_high"], color="#1f77b4", alpha=0.2, lw=0)
    ax.plot(x, front["objective"], "o-", color="#1f77b4", lw=1.8, ms=3, label="all draws")
    ax.plot(x, front["objective_search"], "--", color="0.4", lw=1.0, label="search draws")
    fg._dollars(ax, "x")
    fg._dollars(ax, "y")
    ax.set_xlabel("budget spent")
    ax.set_ylabel(f"{objective} of the holders' shortage value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Budget frontier (band: 95 % interval on all draws)", fontsize=10)
    return fig


def _budget_section(run, folder: Path, m: dict, note: str) -> Section:
    from simcore.stockpile.output import read_table

    front = read_table(folder, "frontier")
    fig = budget_figure(front, m["objective"])
    rows = [dict(holder=r["holder"], material=r["material"], tonnes=f"{r['tonnes']:,.4g}",
                 rate=f"{r['release_t_per_month']:,.4g}", cost=_usd(r["cost_horizon_usd"]),
                 steps=r["steps"]) for r in m["allocation"]]
    html = table(rows, [("holder", "holder"), ("material", "material"), ("tonnes", "tonnes"),
                        ("rate", "t/month"), ("cost", "cost (horizon)"), ("steps", "steps")],
                 {"holder", "material"})
    text = (
        f"A budget of {_usd(m['budget_usd'])} spent in {m['steps']} equal steps, each on the "
        f"stockpile that lowers the {m['objective']} of the holders' shortage value most "
        f"(common random numbers; choices on {m['search_draws']:,} draws, the frontier "
        f"confirmed on {m['draws']:,}): from {_usd(m['final']['without'])} to "
        f"{_usd(m['final']['objective'])}. "
        + (f"{m['stopped']}. " if m.get("stopped") else "")
        + "Method: docs/stockpile.md." + note
    )
    return Section(f"stockpile-{_slug(run.name)}", f"Stockpile budget: {m['variant']['name']}",
                   text, [(f"fig-stockpile-budget-{_slug(run.name)}",
                           "Budget frontier: budget spent against the objective", fig)], html)
