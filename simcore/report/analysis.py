"""The numbers behind each figure, from a run's tables (pandas, no plotting).

Every function takes plain DataFrames (the tables of ``simcore.results.Result``) and
returns a small DataFrame or dict ready to draw or print, so each can be tested on a
table built by hand. An *exposure* is one (material, stage, country) with need > 0.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from simcore.errors import ResultError, suggest
from simcore.report.sensitivity import default_bins, first_order_indices
from simcore.report.statistics import exceedance, wilson_interval
from simcore.results.aggregate import CHANGE_DUST
from simcore.results.statistics import quantile_sorted

KEY = ["material", "stage", "country"]
SHARE = "shortage_share"
# A draw counts as short when more than 1 % of horizon need is missing: the same
# threshold as "months short" in the model (MODEL.md §4).
SHORT_THRESHOLD = 0.01


class PerDraw:
    """A run's shortage shares (and values) per draw and exposure, as arrays: what the
    report looks up exposure by exposure instead of filtering the shortage table's rows
    (4.5 M of them for 10,000 draws of the partner study) each time.

    ``keys``: the exposures (material, stage, country) in the table's order; ``draws``:
    the draw numbers, sorted; ``share`` and ``value`` (``shortage_value_usd``, where the
    table has it): float32 [draws, exposures], 0 where a row is absent; ``need``: each
    exposure's ``need_t`` (NaN without it).
    """

    def __init__(self, keys: list, draws: np.ndarray, share: np.ndarray,
                 value: np.ndarray | None = None, need: np.ndarray | None = None):
        self.keys = [tuple(k) for k in keys]
        self.column = {k: i for i, k in enumerate(self.keys)}
        self.draws = np.asarray(draws, dtype=np.int64)
        self.share = share
        self.value = value
        self.need = np.full(len(self.keys), np.nan) if need is None else need

    @classmethod
    def of_frame(cls, shortage: pd.DataFrame) -> PerDraw:
        """From a shortage table (``draw``, the labels, ``shortage_share``, optionally
        ``shortage_value_usd`` and ``need_t``)."""
        if not len(shortage):
            return cls([], np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
        shortage = shortage.dropna(subset=KEY)
        groups = shortage.groupby(KEY, sort=False, observed=True)
        column = groups.ngroup().to_numpy(np.int64)
        first = groups.head(1)
        keys = list(first[KEY].astype(str).itertuples(index=False, name=None))
        draws, row = np.unique(shortage["draw"].to_numpy(np.int64), return_inverse=True)

        def dense(name):
            out = np.zeros((len(draws), len(keys)), np.float32)
            out[row, column] = shortage[name].to_numpy(np.float32)
            return out

        value = dense("shortage_value_usd") if "shortage_value_usd" in shortage else None
        need = (first["need_t"].to_numpy(np.float64) if "need_t" in shortage else None)
        return cls(keys, draws, dense(SHARE), value, need)

    @classmethod
    def of_result(cls, result, draws: int | None = None) -> PerDraw:
        """From a results folder: of format 4 or 3 without a join (the expanded table is
        draw-major over exposures.parquet's rows); ``draws``: draws 0 .. draws-1 only."""
        from simcore.results.aggregate import by_exposure
        from simcore.results.layout import SPARSE_FORMATS
        from simcore.results.perdraw import per_draw_arrays

        n = int(result.manifest["draws"])
        if draws is not None:
            n = max(0, min(n, int(draws)))
        names = ["shortage_share", "shortage_value_usd"]
        if result.format in SPARSE_FORMATS:
            keys, (share, value) = per_draw_arrays(result, n, names)
            need = by_exposure(result, "need_t")
            return cls(keys, np.arange(n), share, value,
                       np.array([float(need.get(k, "nan")) for k in keys]))
        # formats 1 and 2 keep the need in the shortage table: each exposure's first row
        keys, (share, value, need) = per_draw_arrays(result, n, [*names, "need_t"])
        return cls(keys, np.arange(n), share, value,
                   need[0].astype(np.float64) if n else None)

    def of(self, exposure, draws: np.ndarray) -> np.ndarray:
        """One exposure's shares in ``draws`` (float64; 0 for an exposure or a draw the
        run lacks)."""
        out = np.zeros(len(draws), np.float64)
        c = self.column.get(tuple(exposure))
        if c is None or not len(self.draws):
            return out
        at = np.searchsorted(self.draws, draws)
        ok = (at < len(self.draws))
        ok[ok] = self.draws[at[ok]] == np.asarray(draws)[ok]
        out[ok] = self.share[at[ok], c]
        return out


def drivers_of(result, draws: int | None = None) -> pd.DataFrame:
    """A run's drivers table, of draws 0 .. draws-1 only where ``draws`` is given (the
    rows that match ``PerDraw.of_result(result, draws)``)."""
    if draws is None:
        return result.drivers
    from simcore.results.result import _to_pandas

    return _to_pandas(result.table("drivers", draws=draws))


def bytes_per_draw_exposure(runs: int, sensitivity: bool = False) -> int:
    """Peak memory of the report (``runs`` runs held at once) or of ``sensitivity`` (one
    run) per draw and exposure, with a margin of about a tenth. Measured on 100,000
    draws of the partner study (452 exposures; benchmarks/README.md): the report of one
    run 1.05 GB (23 bytes a draw and exposure), of a run and two variants 2.77 GB (61),
    ``sensitivity`` 1.44 GB (32: it sorts each exposure's shares). Each run holds its
    shares and values as float32 (8 bytes), and its comparison with the base adds
    float64 transients."""
    return 36 if sensitivity else 6 + 21 * runs


# seconds a report or ``sensitivity`` spends per draw and exposure of a run on its
# per-draw parts (two cores; benchmarks/README.md: 100,000 draws of the partner study's
# 452 exposures, report of one run 52 s with about 12 s of figures, sensitivity 37 s)
SECONDS_PER_DRAW_EXPOSURE = 0.9e-6
# ... of each variant after the first run (its reading and its comparison with the base:
# the report of a run and two variants took 87 s against 52 s for the run alone)
VARIANT_SECONDS_PER_DRAW_EXPOSURE = 0.4e-6


def draws_note(folders, draws: int | None) -> str | None:
    """A line to print when ``--draws`` asks for more draws than a run holds (all of
    them are used: a review found the request clipped without a word); None otherwise
    or where a folder cannot be read (the command itself then says why)."""
    from simcore.results import read_manifest

    if draws is None:
        return None
    try:
        held = {str(f): int(read_manifest(f)["draws"]) for f in folders}
    except Exception:  # noqa: BLE001 - only a note; the command reports what is wrong
        return None
    fewer = {f: n for f, n in held.items() if n < draws}
    if not fewer:
        return None
    named = ", ".join(f"{f} {n:,}" for f, n in fewer.items())
    return (f"note: --draws {draws:,} is more than a run holds ({named}): every draw it "
            "holds is used")


def slow_note(folders, draws: int | None, what: str, per: int | None = None) -> str | None:
    """A line to print before per-draw work expected to take over a minute: how long,
    and a ``--draws`` that takes seconds; None otherwise, where the folders cannot be
    read (the command itself then says why), or where the work would not fit in
    memory at ``per`` bytes a draw and exposure (the memory check then refuses it and
    names a --draws of its own)."""
    from simcore.results import load_result
    from simcore.results.aggregate import _available_bytes, exposure_count

    total = 0.0
    most = widest = 0
    try:
        for i, folder in enumerate(folders):
            result = load_result(folder)
            n = int(result.manifest["draws"])
            n = n if draws is None else min(n, draws)
            x = exposure_count(result)
            rate = SECONDS_PER_DRAW_EXPOSURE if i == 0 else VARIANT_SECONDS_PER_DRAW_EXPOSURE
            total += rate * n * x
            most = max(most, n)
            widest = max(widest, x)
    except Exception:  # noqa: BLE001 - only a note; the command reports what is wrong
        return None
    free = _available_bytes()
    if total < 60 or (per and free is not None and per * most * widest > free):
        return None
    minutes = f"about {total / 60:.0f} minutes" if total >= 90 else "about a minute"
    # draws that take about 20 s at this rate, in thousands
    quick = int(20 / (total / most) // 1000 * 1000)
    hint = (f"; with --draws {quick:,} they take about 20 s and give the same figures to "
            "within their Monte Carlo error" if 1000 <= quick < most else "")
    return (f"{what} on {most:,} draws a run: {minutes} on two cores (the per-draw "
            f"parts){hint}")


def as_per_draw(shortage) -> PerDraw:
    """``shortage`` as a :class:`PerDraw` (a shortage table is converted)."""
    return shortage if isinstance(shortage, PerDraw) else PerDraw.of_frame(shortage)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Label columns as plain strings (Parquet may give categoricals)."""
    out = df.copy()
    for col in ("material", "stage", "country"):
        if col in out.columns and not pd.api.types.is_object_dtype(out[col]):
            out[col] = out[col].astype(str)
    return out


def last_stage_of(shortage: pd.DataFrame, stage_order: dict[str, Sequence[str]]) -> dict:
    """material -> its most downstream stage present in the results.

    ``stage_order`` (material -> stages upstream first) comes from the dataset; a
    material missing from it keeps its stages in the order they appear in the table.
    """
    out = {}
    for material, stages in shortage.groupby("material", sort=False)["stage"]:
        present = list(dict.fromkeys(stages))
        order = [s for s in stage_order.get(material, ()) if s in present]
        order += [s for s in present if s not in order]
        out[material] = order[-1]
    return out


def final_stage(df: pd.DataFrame, last: dict[str, str]) -> pd.DataFrame:
    """Rows at each material's last stage (final demand)."""
    keep = df["stage"].to_numpy() == df["material"].map(last).to_numpy()
    return df[keep]


def exposure_stats(shortage) -> pd.DataFrame:
    """Per exposure: mean, P50, P95 of the shortage share and P(short) over draws
    (``shortage``: the table or its :class:`PerDraw`; a draw without a row counts as no
    shortage)."""
    d = as_per_draw(shortage)
    share = d.share.astype(np.float64)
    ordered = np.sort(share, axis=0)
    return pd.DataFrame({
        "material": [k[0] for k in d.keys], "stage": [k[1] for k in d.keys],
        "country": [k[2] for k in d.keys],
        "mean": share.mean(axis=0) if len(share) else np.nan,
        "p50": quantile_sorted(ordered, 0.50), "p95": quantile_sorted(ordered, 0.95),
        # float32 shares against the threshold in float32, as the table's column
        "p_short": (d.share > np.float32(SHORT_THRESHOLD)).mean(axis=0),
        "draws": len(d.draws),
    })


def stats_from_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """``exposure_stats`` columns from a run's summary.parquet, so the report shows the
    same numbers as ``supplyshock summarize`` (P(short): at least one month short)."""
    out = summary[KEY].copy()
    for mine, theirs in (
        ("mean", "share_mean"),
        ("p50", "share_p50"),
        ("p95", "share_p95"),
        ("p_short", "prob_short"),
    ):
        if theirs not in summary.columns:
            raise ResultError(
                f"summary.parquet has no column {theirs!r}; its columns: "
                f"{', '.join(summary.columns)}"
            )
        out[mine] = summary[theirs].to_numpy(dtype=np.float64)
    if "value_mean_usd" in summary.columns:  # names a fold of alike rows (``fold_alike``)
        out["value"] = summary["value_mean_usd"].to_numpy(dtype=np.float64)
    return out.reset_index(drop=True)


def country_order(countries: Iterable[str], score: pd.Series, partners: Sequence[str]):
    """Partner economies first (in the dataset's order), then the rest, worst first."""
    countries = list(countries)
    first = [c for c in partners if c in countries]
    rest = sorted((c for c in countries if c not in first), key=lambda c: (-score.get(c, 0.0), c))
    return first + rest, len(first)


def heatmap_matrix(stats: pd.DataFrame, last: dict[str, str], partners: Sequence[str]):
    """P95 shortage share at each material's last stage, materials x countries.

    Returns (matrix, number of partner columns). Cells without need are NaN.
    Materials keep their order in the results (the dataset's order).
    """
    fin = final_stage(stats, last)
    matrix = fin.pivot_table(index="material", columns="country", values="p95", sort=False)
    matrix = matrix.reindex(index=list(dict.fromkeys(fin["material"])))
    order, n_partners = country_order(matrix.columns, matrix.max(axis=0), partners)
    return matrix[order], n_partners


def fold_alike(ranked: pd.DataFrame, same=None, partners: Sequence[str] = ()) -> pd.DataFrame:
    """``ranked`` with the rows of exposures that have the same shares in every draw
    folded into one, at the place of the first of them; column ``alike``: how many rows
    each one stands for besides its own. The row kept is the group's largest buyer
    (column ``value``, the expected value of the shortage, where there is one: China,
    not Canada, for cobalt ore), as ``supplyshock run``'s closing table names it; else
    the first. ``same``: (material, stage, country) -> a key equal for such exposures
    (the exposure a zone's buyer without a stock of its own is stored as in format 4, or
    the draws' shares themselves); None: nothing folds. Column ``incl``: where the row
    kept is not one of ``partners`` but the group holds some, the largest of them (a
    reader asking how short the partners run must see them in "VNM +29 incl. USA"),
    else empty."""
    keys = list(zip(ranked["material"], ranked["stage"], ranked["country"], strict=True))
    groups = [(k[0], k[1], same(k)) if same is not None else k for k in keys]
    counts = Counter(groups)
    value = (np.nan_to_num(ranked["value"].to_numpy(dtype=np.float64), nan=-np.inf)
             if "value" in ranked.columns else np.zeros(len(ranked)))
    ours = set(partners)
    best: dict = {}  # group -> position of its largest buyer (the first on ties)
    best_partner: dict = {}  # group -> position of its largest partner buyer
    for i, g in enumerate(groups):
        if g not in best or value[i] > value[best[g]]:
            best[g] = i
        if keys[i][2] in ours and (g not in best_partner or value[i] > value[best_partner[g]]):
            best_partner[g] = i
    seen: set = set()
    rows = []
    for g in groups:
        if g not in seen:
            rows.append(best[g])
        seen.add(g)
    out = ranked.iloc[rows].copy()
    out["alike"] = [counts[groups[i]] - 1 for i in rows]
    out["incl"] = ["" if keys[i][2] in ours or groups[i] not in best_partner
                   else keys[best_partner[groups[i]]][2] for i in rows]
    return out


def pp(v: float) -> str:
    """A change of share in percentage points, as compare's table and the report print
    it: two decimals, three below 0.005 (-0.001, not -0.00), and "-<0.001" below 0.0005
    (never in exponent notation)."""
    points = 100 * v
    if abs(points) >= 0.005 or points == 0:
        return f"{points:+.2f}"
    if abs(points) >= 0.0005:
        return f"{points:+.3f}"
    return ("-" if points < 0 else "+") + "<0.001"


def who(country: str, alike: int = 0, incl: str = "") -> str:
    """``USA``, ``USA +2``, ``VNM +29 incl. USA``: a folded row's countries."""
    return country + (f" +{alike}" if alike else "") + (f" incl. {incl}" if incl else "")


def worst_exposures(stats: pd.DataFrame, n: int, per_material: int | None = None,
                    same=None, partners: Sequence[str] = ()):
    """The n exposures with the highest P95 shortage share (ties by the mean).

    ``per_material`` caps how many come from one material, so that one material whose
    importers all share the same fate does not fill the figure with identical curves;
    ``same`` (see ``fold_alike``) folds the exposures that have the same shares in
    every draw into one row first, so that the cap counts different fates.
    Exposures never short at P95 or on average are left out: there is nothing to show.
    """
    hit = stats[(stats["p95"] > 0) | (stats["mean"] > 0)]
    ranked = hit.sort_values(["p95", "mean"], ascending=False, kind="stable")
    return _first_fates(ranked, n, per_material, same, partners)


def _first_fates(ranked: pd.DataFrame, n: int, per_material: int | None, same,
                 partners: Sequence[str] = ()):
    """The first n rows of ``ranked`` once alike exposures are folded (``fold_alike``),
    at most ``per_material`` of them per material."""
    ranked = fold_alike(ranked, same, partners)
    if per_material is not None:
        ranked = ranked[ranked.groupby("material", sort=False).cumcount() < per_material]
    return ranked.head(n)


def exposure_label(material: str, stage: str, country: str, last: dict[str, str],
                   alike: int = 0, incl: str = "") -> str:
    """``gallium · USA``; the stage is named where it is not the final one; ``alike``
    more countries with the same shares in every draw: ``gallium · USA +2``, among them
    the partner ``incl``: ``tungsten · VNM +29 incl. USA``."""
    countries = who(country, alike, incl)
    if last.get(material) == stage:
        return f"{material} · {countries}"
    return f"{material} ({stage}) · {countries}"


def share_by_draw(shortage, exposure, draws: np.ndarray) -> np.ndarray:
    """One exposure's shortage share for each draw of ``draws`` (0 where absent);
    ``shortage``: the table or its :class:`PerDraw`."""
    return as_per_draw(shortage).of(exposure, draws)


def exceedance_table(
    shortage, exposures: pd.DataFrame, last: dict, points: int = 201
) -> pd.DataFrame:
    """Exceedance curve P(share > x) with its Wilson 95 % band for each exposure.

    Columns: label, x, p, low, high. The grid runs from 0 to the largest share seen.
    """
    shortage = as_per_draw(shortage)
    draws = shortage.draws
    frames = []
    top = 0.0
    values = {}
    alike = {}
    for row in exposures.itertuples(index=False):
        ex = (row.material, row.stage, row.country)
        values[ex] = share_by_draw(shortage, ex, draws)
        alike[ex] = int(getattr(row, "alike", 0)), str(getattr(row, "incl", ""))
        top = max(top, float(values[ex].max()))
    grid = np.linspace(0.0, max(top, 1e-3) * 1.02, points)
    for ex, v in values.items():
        p, low, high = exceedance(v, grid)
        frames.append(
            pd.DataFrame(
                {"label": exposure_label(*ex, last, *alike[ex]), "x": grid, "p": p,
                 "low": low, "high": high}
            )
        )
    if not frames:
        return pd.DataFrame(columns=["label", "x", "p", "low", "high"])
    return pd.concat(frames, ignore_index=True)


def choose_countries(
    stats: pd.DataFrame,
    partners: Sequence[str],
    requested: Sequence[str] | None = None,
    n: int = 4,
    fan=None,
) -> list[str]:
    """Countries for the fan charts: those asked for, else the worst-hit partners
    (ties in the partner group's order, so the United States before Australia).

    Without a ``partners`` group (or no partner ever short), the worst-hit countries.
    An unknown requested country is an error that lists the countries in the results.
    ``fan``: country -> the table its fan chart draws; a country each of whose
    material panels equals that material's panel of one picked already is passed over
    (``_distinct``).
    """
    known = list(dict.fromkeys(stats["country"]))
    if requested:
        for c in requested:
            if c not in known:
                raise ResultError(
                    f"--countries: no results for country {c!r}{suggest(c, known)}; "
                    f"countries in these results: {', '.join(known)}"
                )
        return list(dict.fromkeys(requested))
    worst = stats.groupby("country")["p95"].max()
    worst = worst[worst > 0]
    place = {c: i for i, c in enumerate(partners)}
    ranked = sorted(worst.index, key=lambda c: (-worst[c], place.get(c, len(place)), c))
    pick = _distinct([c for c in ranked if c in place], n, fan)
    if not pick:
        pick = _distinct(ranked, n, fan)
    return pick


def _distinct(countries: list[str], n: int, fan) -> list[str]:
    """The first n countries whose fan charts show something not drawn yet: a country
    each of whose panels (one per material) is the same as that material's panel in an
    earlier pick's chart is passed over (a buyer of the same price zones as a country
    already drawn: Germany after the United States, where the two share their zones)."""
    if fan is None:
        return countries[:n]
    pick: list[str] = []
    drawn: dict = {}  # material -> the panels drawn for it
    for c in countries:
        if len(pick) == n:
            break
        table = fan(c)
        panels = {m: g.drop(columns="material").reset_index(drop=True)
                  for m, g in table.groupby("material", sort=False)}
        if all(any(p.equals(q) for q in drawn.get(m, ())) for m, p in panels.items()) and (
                panels or None in drawn):
            continue
        pick.append(c)
        for m, p in panels.items():
            drawn.setdefault(m, []).append(p)
        if not panels:
            drawn[None] = []
    return pick


def monthly_quantiles(monthly: pd.DataFrame, country: str, last: dict | None = None):
    """One country's monthly shortage-share quantiles at each material's last stage
    (when the table has stages), per material, sorted by month."""
    rows = monthly[monthly["country"] == country]
    if last is not None and "stage" in rows.columns:
        rows = final_stage(rows, last)
    return rows.sort_values(["material", "month"], kind="stable")


def quantile_columns(monthly: pd.DataFrame) -> dict[int, str]:
    """Percentile -> column of monthly.parquet (p5 … p95, any case, with a suffix)."""
    out = {}
    for q in (5, 25, 50, 75, 95):
        for col in monthly.columns:
            low = col.lower()
            if low in (f"p{q}", f"p{q:02d}", f"share_p{q}", f"shortage_share_p{q}", f"q{q}"):
                out[q] = col
                break
    missing = [q for q in (5, 25, 50, 75, 95) if q not in out]
    if missing:
        raise ResultError(
            "monthly.parquet has no columns for percentiles "
            + ", ".join(f"P{q}" for q in missing)
            + f"; its columns: {', '.join(monthly.columns)}"
        )
    return out


def zone_price_bands(
    prices: pd.DataFrame, last: dict[str, str], origins: dict[str, Sequence[str]]
) -> pd.DataFrame:
    """The monthly zone-price quantiles (prices.parquet) of each material's last stage,
    with an ``origin`` flag for zones made of a restriction's origin. Columns: material,
    zone, origin, month, p5, p25, p50, p75, p95; zones in their stored order."""
    cols = ["material", "zone", "origin", "month", "p5", "p25", "p50", "p75", "p95"]
    if prices is None or prices.empty:
        return pd.DataFrame(columns=cols)
    rows = prices[prices["stage"] == prices["material"].map(last)].copy()
    rows = rows.rename(columns={f"price_p{q}": f"p{q}" for q in (5, 25, 50, 75, 95)})
    rows["origin"] = [z in set(origins.get(m, ())) for m, z in
                      zip(rows["material"], rows["zone"], strict=True)]
    return rows[cols].reset_index(drop=True)


# --- drivers and sensitivity ----------------------------------------------------------


def driver_inputs(drivers: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The drivers table as (draws, name -> values), ready for the estimator.

    Dropped: inputs constant over the draws (nothing to explain with), and an event's
    occurrence uniform where its ``fired`` flag is present (the flag carries the same
    information, and reads better), and the realised onset month where the sampled onset
    is present. An event's onset is undefined (NaN) in draws where the event did not
    fire, so that the onset index measures the timing alone and does not count the
    firing a second time (``sensitivity`` module docstring).
    """
    if "draw" not in drivers.columns:
        raise ResultError(f"drivers table has no 'draw' column; its columns: {list(drivers)}")
    d = drivers.sort_values("draw", kind="stable")
    names = [c for c in d.columns if c != "draw"]
    out = {}
    for name in names:
        stem = name.rsplit("/", 1)[0] + "/"
        if name.endswith("/occurs") and stem + "fired" in names:
            continue
        # the realised onset month repeats the sampled onset (and the firing)
        if name.endswith("/onset_month") and stem + "onset" in names:
            continue
        col = d[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            continue
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if name.endswith(("/onset", "/onset_month")) and stem + "fired" in names:
            fired = d[stem + "fired"].to_numpy(dtype=bool)
            values = np.where(fired, values, np.nan)
        finite = values[~np.isnan(values)]
        if finite.size == 0 or (finite.min() == finite.max() and finite.size == values.size):
            continue
        out[name] = values
    return d["draw"].to_numpy(), out


def driver_label(name: str) -> str:
    """``event/cn-ga/severity`` -> ``cn-ga: severity``; ``response/x_y`` -> ``x y``;
    ``response/x_y/quantile`` (a market parameter drawn from the dataset's range of
    each material) -> ``x y (quantile)``."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] in ("event", "intervention"):
        return f"{parts[1]}: {parts[2].replace('_', ' ')}"
    if len(parts) == 2 and parts[0] == "response":
        return parts[1].replace("_", " ")
    if len(parts) == 3 and parts[0] == "response" and parts[2] == "quantile":
        return f"{parts[1].replace('_', ' ')} (quantile)"
    return name


def sensitivity_table(
    shortage,
    drivers: pd.DataFrame,
    exposures: pd.DataFrame,
    n_boot: int = 200,
    bins: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """First-order indices of each exposure's shortage share to every driver.

    Long table: material, stage, country, driver, index, ci_low, ci_high, bins, draws;
    sorted by exposure (in the order given) then index, largest first. An exposure whose
    shortage never varies gets no rows (nothing to explain).
    """
    draws, inputs = driver_inputs(drivers)
    if bins is not None and bins > len(draws) // 2:
        # fewer than two draws a bin: no within-bin variance to correct the between-bin
        # variance by, and every index came out blank ("each at most nan")
        raise ResultError(
            f"--bins {bins} is more than half the {len(draws):,} draws: each bin needs at "
            f"least two draws; use at most {max(2, len(draws) // 2)}, or leave --bins out "
            f"(about the square root of the draws, {default_bins(len(draws))} here)"
        )
    shortage = as_per_draw(shortage)
    frames = []
    for row in exposures.itertuples(index=False):
        ex = (row.material, row.stage, row.country)
        y = share_by_draw(shortage, ex, draws)
        if not np.ptp(y) > 0 or not inputs:
            continue
        res = first_order_indices(inputs, y, bins=bins, n_boot=n_boot, seed=seed)
        frame = pd.DataFrame(
            {
                "material": ex[0],
                "stage": ex[1],
                "country": ex[2],
                "driver": list(res.names),
                "index": res.index,
                "ci_low": res.low,
                "ci_high": res.high,
                "bins": res.bins,
                "draws": res.n,
            }
        )
        frames.append(frame.sort_values("index", ascending=False, kind="stable"))
    cols = ["material", "stage", "country", "driver", "index", "ci_low", "ci_high", "bins", "draws"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


# --- policy comparison ----------------------------------------------------------------


def _paired(base, other) -> tuple[list, np.ndarray, np.ndarray]:
    """The exposures of both runs (in the base's order) and their shares in the draws
    both hold, float32 [draws, exposures] of each."""
    base, other = as_per_draw(base), as_per_draw(other)
    draws = np.intersect1d(base.draws, other.draws)
    keys = [k for k in base.keys if k in other.column]
    rows_a = np.searchsorted(base.draws, draws)[:, None]
    rows_b = np.searchsorted(other.draws, draws)[:, None]
    a = base.share[rows_a, np.array([base.column[k] for k in keys], dtype=np.int64)]
    b = other.share[rows_b, np.array([other.column[k] for k in keys], dtype=np.int64)]
    return keys, a.reshape(len(draws), len(keys)), b.reshape(len(draws), len(keys))


def _fates(keys: list, a: np.ndarray, b: np.ndarray) -> dict:
    """(material, stage, country) -> a digest of its shares in every paired draw of both
    runs: equal for exposures that read the same draw by draw."""
    out = {}
    for j, k in enumerate(keys):
        h = hashlib.blake2b(digest_size=16)
        for part in (a[:, j], b[:, j]):
            h.update(np.ascontiguousarray(part).tobytes())
        out[k] = h.digest()
    return out


def _ranked(keys: list, column: str, values: np.ndarray, need=None) -> pd.DataFrame:
    """One row per exposure with ``column``; ``value``: its need, where there is one (a
    fold is named by its largest buyer, as `compare` names it)."""
    frame = pd.DataFrame({"material": [k[0] for k in keys], "stage": [k[1] for k in keys],
                          "country": [k[2] for k in keys], column: values})
    if need is not None and not np.isnan(need).all():
        frame["value"] = need
    return frame


def largest_changes(
    base, other, n: int, per_material: int | None = None, fold: bool = False,
    partners: Sequence[str] = (),
) -> pd.DataFrame:
    """The n exposures whose shortage share a policy changes most (mean absolute change
    over the draws both runs hold, a row one lacks counting as no shortage, more than
    ``CHANGE_DUST``), at most ``per_material`` per material;
    none if nothing changes. ``fold``: exposures of a material and stage with the same
    shares in every shared draw of both runs take one row (``fold_alike``; a stockpile
    that gives a zone's holders the same cover leaves them alike). ``base``, ``other``:
    the shortage tables or their :class:`PerDraw`; the exposures of both, in the
    base's order where the change ties.

    A policy usually helps some countries only (a stockpile helps its holders): showing
    the base's worst exposures could show only rows where nothing happens.
    """
    base = as_per_draw(base)
    keys, a, b = _paired(base, other)
    moved = (np.abs(b.astype(np.float64) - a).mean(axis=0) if len(a)
             else np.zeros(len(keys)))
    need = np.array([base.need[base.column[k]] for k in keys], dtype=np.float64)
    ranked = _ranked(keys, "abs_change", moved, need if fold else None)
    ranked = ranked[ranked["abs_change"] > CHANGE_DUST]  # rounding is no change
    ranked = ranked.sort_values("abs_change", ascending=False, kind="stable")
    if not fold:
        return _first_fates(ranked, n, per_material, None, partners)
    return _first_fates(ranked, n, per_material, _fates(keys, a, b).__getitem__, partners)


def made_worse(base, other, partners: Sequence[str] = ()) -> tuple[pd.DataFrame, dict]:
    """The exposures a policy leaves worse: mean change of the shortage share above
    ``CHANGE_DUST`` beyond its 95 % interval (mean - 1.96 standard errors of the paired
    changes), largest first, folded as ``largest_changes`` folds them; columns
    ``change`` (mean), ``p_worse``, ``alike``. With the fates (``_fates``) of all paired
    exposures, so that a caller can tell a folded row it already shows."""
    base = as_per_draw(base)
    keys, a, b = _paired(base, other)
    fates = _fates(keys, a, b)
    n = a.shape[0]
    if n < 2:
        return _ranked([], "change", np.zeros(0)).assign(p_worse=[], alike=[]), fates
    d = b.astype(np.float64) - a
    mean = d.mean(axis=0)
    low = mean - 1.96 * d.std(axis=0, ddof=1) / np.sqrt(n)
    worse = (d > CHANGE_DUST).mean(axis=0)
    need = np.array([base.need[base.column[k]] for k in keys], dtype=np.float64)
    ranked = _ranked(keys, "change", mean, need).assign(p_worse=worse)
    ranked = ranked[low > CHANGE_DUST].sort_values("change", ascending=False, kind="stable")
    return fold_alike(ranked, fates.__getitem__, partners), fates


def paired_changes(
    base, other, exposures: pd.DataFrame, last: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw-by-draw change of the shortage share (other - base) per exposure.

    Both runs must share their draws (same seed: common random numbers make the
    difference in each draw the policy's effect alone). Returns (per-draw changes with
    columns label, draw, change; a summary per exposure with mean shares, mean change,
    P(improve) with its Wilson 95 % interval and P(worse)). A change within
    ``CHANGE_DUST`` (1e-6 of need: float32 shares, the origin state's buying band)
    counts as no change, as in ``compare``.
    """
    base, other = as_per_draw(base), as_per_draw(other)
    draws = np.intersect1d(base.draws, other.draws)
    if draws.size == 0:
        raise ResultError("the two runs share no draw index: nothing to compare draw by draw")
    per_draw, summary = [], []
    for row in exposures.itertuples(index=False):
        ex = (row.material, row.stage, row.country)
        a = share_by_draw(base, ex, draws)
        b = share_by_draw(other, ex, draws)
        change = b - a
        label = exposure_label(*ex, last, int(getattr(row, "alike", 0)),
                               str(getattr(row, "incl", "")))
        per_draw.append(pd.DataFrame({"label": label, "draw": draws, "change": change}))
        better = int((change < -CHANGE_DUST).sum())
        worse = int((change > CHANGE_DUST).sum())
        low, high = wilson_interval(better, draws.size)
        summary.append(
            {
                "material": ex[0],
                "stage": ex[1],
                "country": ex[2],
                "label": label,
                "mean_base": a.mean(),
                "mean_policy": b.mean(),
                "mean_change": change.mean(),
                "p_improve": better / draws.size,
                "p_improve_low": float(low),
                "p_improve_high": float(high),
                "p_worse": worse / draws.size,
                "draws": int(draws.size),
            }
        )
    return (
        pd.concat(per_draw, ignore_index=True)
        if per_draw
        else pd.DataFrame(columns=["label", "draw", "change"]),
        pd.DataFrame(summary),
    )
