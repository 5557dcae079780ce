"""Aggregation and comparison of stored results: ``summarize``, ``price_summary``,
``compare`` (draw by draw, common random numbers).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow.parquet as pq

from simcore.errors import ResultError
from simcore.limits import SHARE_DUST
from simcore.results.layout import SPARSE_FORMATS
from simcore.results.perdraw import (
    BLOCK_BYTES,
    Shares,
    column_blocks,
    positions,
    shares_per_draw,
)
from simcore.results.result import Result
from simcore.results.statistics import expected_shortfall_sorted, quantile_sorted

PRICE_SUMMARY_MONTHS = (1, 3, 6, 12)  # months whose median zone price price_summary shows
# a draw's change of shortage share at most this is rounding, neither better nor worse
CHANGE_DUST = SHARE_DUST


def price_summary(result: Result):
    """One row per price zone (material, stage, zone with buyers): its members, the
    distribution over draws of its peak price (P5, P50, P95) and of its horizon-mean
    price (P50), the probability of reaching the choke price (rationing) in some month,
    and its median price in months 1, 3, 6 and 12 (those within the horizon); highest
    median peak first."""
    import pandas as pd

    zp = result.table("zone_prices").to_pandas()
    for c in ("material", "stage", "zone"):
        zp[c] = zp[c].astype(str)
    prices = result.table("prices").to_pandas()
    for c in ("material", "stage", "zone"):
        prices[c] = prices[c].astype(str)
    members = {(z["material"], z["stage"], z["zone"]): z["members"]
               for z in result.manifest.get("zones", [])}
    horizon = int(result.manifest.get("horizon", 0))
    rows = []
    for key, part in zp.groupby(["material", "stage", "zone"], sort=False):
        peak = np.sort(part["price_peak"].to_numpy(np.float64))[:, None]
        mean = np.sort(part["price_mean"].to_numpy(np.float64))[:, None]
        row = dict(zip(("material", "stage", "zone"), key, strict=True))
        mem = members.get(key, [])
        row["countries"] = ", ".join(mem)  # the table abbreviates beyond four
        row.update(
            price_peak_p5=float(quantile_sorted(peak, 0.05)[0]),
            price_peak_p50=float(quantile_sorted(peak, 0.50)[0]),
            price_peak_p95=float(quantile_sorted(peak, 0.95)[0]),
            price_mean_p50=float(quantile_sorted(mean, 0.50)[0]),
            prob_choke=float((part["choke_months"].to_numpy() > 0).mean()),
        )
        here = prices[(prices["material"] == key[0]) & (prices["stage"] == key[1])
                      & (prices["zone"] == key[2])].set_index("month")
        for m in PRICE_SUMMARY_MONTHS:
            if m < horizon:
                row[f"price_p50_m{m}"] = float(here.loc[m, "price_p50"])
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    # highest median peak first, as `summarize --prices` prints them
    return out.sort_values("price_peak_p50", ascending=False, kind="stable").reset_index(
        drop=True)


def by_exposure(result: Result, column: str) -> dict:
    """(material, stage, country) -> ``column`` of the run's exposures.parquet as text
    (``zone``; ``stored_as`` in format 4); empty where the results format has none."""
    try:
        ex = result.table("exposures", ["material", "stage", "country", column])
    except ResultError:  # an older format
        return {}
    cols = [ex.column(c).to_pylist() for c in ("material", "stage", "country", column)]
    return {(str(m), str(st), str(c)): str(v) for m, st, c, v in zip(*cols, strict=True)}


# summary columns that depend on an exposure's shares only (not on its need in tonnes
# or dollars): equal for exposures whose shares are the same in every draw
_SHARE_STATISTICS = ("share_", "peak_share_", "prob_", "months_", "survive_", "recover_",
                     "price_")


def alike_exposures(result: Result) -> dict:
    """(material, stage, country) -> a key equal for the exposures of a material and
    stage whose shares are the same in every draw, by their summary statistics of shares
    and prices (all of them equal: a zone's buyers stored as one in format 4, and the
    holders that a stockpile variant gives the same cover, stored apart); ``run``'s
    closing table and the report fold them into one row, "USA +2", as ``compare`` folds
    those alike in both runs. Empty without a summary."""
    summary = result.summary
    if summary is None or not len(summary):
        return {}
    cols = [c for c in summary.columns if c.startswith(_SHARE_STATISTICS)]
    keys = zip(summary["material"].astype(str), summary["stage"].astype(str),
               summary["country"].astype(str), strict=True)
    values = summary[cols].to_numpy(dtype=np.float64)
    out = {}
    for (m, st, c), row in zip(keys, values, strict=True):
        stats = tuple(None if v != v else float(v) for v in row)  # NaN equal to NaN
        out[(m, st, c)] = (m, st, stats)
    return out


def summarize(result: Result, by: str | None = None):
    """Summary statistics as a DataFrame.

    ``by=None``: per (material, stage, country), the stored summary, in exposure order
    (the CLI sorts it worst first).
    ``by="material"``: per (material, stage), with the shortage share of the summed need
    of all countries, draw by draw. ``by="country"``: per country, across materials at
    their last stage, with shares weighted by value at the reference price.
    """
    import pandas as pd

    if by is None:
        return result.summary
    if by not in ("material", "country"):
        raise ResultError(f"cannot summarise by {by!r}; choose 'material' or 'country'")
    cols = [
        "draw",
        "material",
        "stage",
        "country",
        "need_t",
        "shortage_t",
        "shortage_value_usd",
        "months_short",
    ]
    frame = result.table("shortage", cols).to_pandas()
    for c in ("material", "stage", "country"):
        frame[c] = frame[c].astype(str)
    frame["short"] = (frame["months_short"] > 0).astype(np.float64)
    if by == "material":
        keys = ["material", "stage"]
        frame["num"] = frame["shortage_t"].astype(np.float64)
        frame["den"] = frame["need_t"].astype(np.float64)
    else:
        last = result.manifest["last_stage"]
        frame = frame[frame["stage"] == frame["material"].map(last)].copy()
        keys = ["country"]
        frame["num"] = frame["shortage_value_usd"].astype(np.float64)
        price = result.manifest["price_usd_per_t"]
        frame["den"] = frame["need_t"].astype(np.float64) * frame["material"].map(price)
    grouped = frame.groupby(keys + ["draw"], sort=False, observed=True)
    per_draw = grouped.agg(
        num=("num", "sum"),
        den=("den", "sum"),
        value=("shortage_value_usd", "sum"),
        short=("short", "max"),
        n_short=("short", "sum"),
    )
    rows = []
    for key, part in per_draw.groupby(level=list(range(len(keys))), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        den = part["den"].to_numpy()
        share = np.where(den > 0, part["num"].to_numpy() / np.where(den > 0, den, 1), 0.0)
        s = np.sort(share)[:, None]
        value = np.sort(part["value"].to_numpy())[:, None]
        row = dict(zip(keys, key, strict=True))
        row.update(
            share_mean=float(s.mean()),
            share_p50=float(quantile_sorted(s, 0.5)[0]),
            share_p95=float(quantile_sorted(s, 0.95)[0]),
            share_p99=float(quantile_sorted(s, 0.99)[0]),
            share_es95=float(expected_shortfall_sorted(s)[0]),
            prob_short=float(part["short"].mean()),
            value_mean_usd=float(value.mean()),
            value_p95_usd=float(quantile_sorted(value, 0.95)[0]),
        )
        if by == "country":
            row["materials_short_mean"] = float(part["n_short"].mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    sort = "share_mean" if by == "material" else "value_mean_usd"
    return out.sort_values(sort, ascending=False, kind="stable").reset_index(drop=True)


def share_scenario_files(mb: dict, mv: dict) -> bool:
    """Whether two runs' manifests name a common scenario file (one extends the other,
    or both a common base), by file name: a variant then differs from the base only in
    what it adds. Unknown (no file list) counts as shared."""
    def names(m):
        sc = m.get("scenario") if isinstance(m.get("scenario"), dict) else {}
        files = [f for f in [sc.get("path"), *(sc.get("files") or [])] if isinstance(f, str)]
        return {PurePosixPath(f.replace("\\", "/")).name for f in files}

    a, b = names(mb), names(mv)
    return not a or not b or bool(a & b)


def unpaired(mb: dict, mv: dict) -> tuple[list[str], str]:
    """Why draw i of the run with manifest ``mv`` is not draw i of the base's (``mb``):
    another seed or horizon (where both manifests record it), and the fix; ([], "") when
    they pair. `compare` and the report refuse such runs."""
    why = []
    seed_b, seed_v = mb.get("seed"), mv.get("seed")
    seeds = seed_b is not None and seed_v is not None and seed_b != seed_v
    if seeds:
        why.append(f"seed {seed_v} against the base's {seed_b}")
    h_b, h_v = mb.get("horizon"), mv.get("horizon")
    horizons = h_b is not None and h_v is not None and h_b != h_v
    if horizons:
        why.append(f"a horizon of {h_v} months against {h_b}")
    if not why:
        return [], ""
    fixes = []
    if horizons:
        fixes.append(f"give its scenario horizon_months = {h_b}")
    if seeds:
        fixes.append(f"run it again with --seed {seed_b}")
    return why, " and ".join(fixes)


def _check_related(base: Result, variant: Result) -> None:
    why, fix = unpaired(base.manifest, variant.manifest)
    if not why:
        return
    raise ResultError(
        f"{variant.folder} ({variant.name}) is not a variant run of {base.folder} "
        f"({base.name}): {' and '.join(why)}, so draw i of one is not draw i of the other "
        f"and a draw-by-draw comparison means nothing; {fix}, or add --force to compare "
        f"anyway"
    )


@dataclass
class Comparison:
    """Variant minus base, draw by draw. ``table`` per (material, stage, country);
    ``warnings`` lists what the two runs did not share (seed, draws, dataset, ...)."""

    table: object  # pandas.DataFrame
    warnings: list[str]
    draws: int
    # the shortage value at the reference prices summed over the exposures at each
    # material's last stage (final users: an earlier stage's shortage shows again as
    # theirs), per draw [USD]: means of base and variant, and of the change with a 95 %
    # interval (mean +- 1.96 standard errors of the per-draw changes)
    value: dict | None = None
    # (material, stage, country) -> a digest of the exposure's shares in every compared
    # draw of both runs: equal for exposures whose shares are the same draw by draw (the
    # table folds them into one row, as the report's comparison does)
    fates: dict = field(default_factory=dict)


# peak memory of a comparison per draw and exposure of the two runs it holds at a time
# (each run's shares as float32: 8 bytes; the rest a block at a time), measured on the
# partner study's 452 exposures (benchmarks/README.md): 0.62 GB at 100,000 draws, 3.8 GB
# at a million, with a margin
BYTES_PER_DRAW_EXPOSURE = 10
# ... of results of formats 2 and 1, read as a table of every row with its labels (three
# float32 columns a run, the table and its codes beside them): the factor measured before
# the lean reader, kept for them
OLD_FORMAT_BYTES_PER_DRAW_EXPOSURE = 60


# the largest --draws a refusal suggests: at 100,000 draws of the partner study compare
# takes about 10 s, the report about a minute (benchmarks/README.md)
SUGGESTED_DRAWS = 100_000


def _available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux's MemAvailable), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


_COMPARE_ADVICE = ("compare the first draws only", "common random numbers: a few "
                   "thousand draws tell policies apart")


def exposure_count(result: Result) -> int:
    """How many exposures a run has, from the Parquet footers alone (no rows read)."""
    try:
        return pq.read_metadata(Path(result.folder) / "exposures.parquet").num_rows
    except OSError:  # formats 1 and 2: a row per draw and exposure
        return pq.read_metadata(Path(result.folder) / "shortage.parquet").num_rows // max(
            int(result.manifest["draws"]), 1)


def check_memory(results: list[Result], draws: int, per: int | None = None,
                 doing: str = "comparing", advice: tuple[str, str] = _COMPARE_ADVICE
                 ) -> None:
    """``ResultError`` before a comparison of ``draws`` draws that would not fit in the
    memory available (it holds every draw of every exposure of two runs at once: a
    million draws of the partner study need about 4 GB), naming how many would.
    ``per``: bytes per draw and exposure (default: compare's, by the runs' formats);
    ``doing`` and ``advice`` (what to do, and why it serves) word the message for other
    commands (the report)."""
    if per is None:
        per = (BYTES_PER_DRAW_EXPOSURE if all(r.format in SPARSE_FORMATS for r in results)
               else OLD_FORMAT_BYTES_PER_DRAW_EXPOSURE)
    exposures = max((exposure_count(r) for r in results), default=0)
    need = per * draws * exposures
    free = _available_bytes()
    if free is None or need <= free:
        return
    fits = max(1, free // max(per * exposures, 1))
    # a suggestion that leaves half the free memory to the rest of the machine, and
    # takes seconds rather than minutes (what a few thousand draws already give)
    suggest = min(fits // 2, SUGGESTED_DRAWS, draws)
    suggest = suggest // 1000 * 1000 or max(1, suggest)

    def size(b: int) -> str:  # decimal units, as the docs and the help texts count
        return f"{b / 1e9:.1f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB"

    raise ResultError(
        f"{doing} {draws:,} draws of {exposures} exposures needs about "
        f"{size(need)}, more than the {size(free)} free here: {advice[0]}, e.g. "
        f"--draws {suggest:,} ({advice[1]})")


def pair_warnings(base: Result, variant: Result, force: bool = False) -> list[str]:
    """What two runs compared draw by draw do not share (seed, draws, dataset, horizon,
    scenario files), as warnings; ``ResultError`` for runs that are not variants of one
    another (other seed or horizon) unless ``force``."""
    warnings = []
    mb, mv = base.manifest, variant.manifest
    if not force:
        _check_related(base, variant)
    if base.digest == variant.digest:
        warnings.append("the two runs have the same results (the same digest): every "
                        "change is zero")
    if mb["seed"] != mv["seed"]:
        warnings.append(
            f"seeds differ ({mb['seed']} vs {mv['seed']}): the runs do not share "
            f"their random numbers, so draw-by-draw differences mix in sampling noise"
        )
    if mb["draws"] != mv["draws"]:
        n = min(mb["draws"], mv["draws"])
        warnings.append(
            f"draws differ ({mb['draws']:,} vs {mv['draws']:,}): only the first "
            + ("draw is compared" if n == 1 else f"{n:,} draws are compared")
        )
    if mb["dataset"]["hash"] != mv["dataset"]["hash"]:
        warnings.append("the runs used different datasets (dataset hashes differ)")
    if mb.get("horizon") != mv.get("horizon"):
        warnings.append(f"horizons differ ({mb.get('horizon')} vs {mv.get('horizon')} months)")
    if not share_scenario_files(mb, mv):
        warnings.append(
            "the runs share no scenario file (neither extends the other, nor do both extend "
            "one base): their events may differ, so a difference is not the effect of one "
            "policy alone")
    return warnings


def compare(base: Result, variant: Result, force: bool = False,
            partners: tuple[str, ...] = (), limit: int | None = None) -> Comparison:
    """Distribution of the change in shortage share, variant minus base, per exposure.

    Rows are matched by (draw, material, stage, country). Common random numbers make
    the per-draw difference the effect of the variant alone when both runs share seed
    and dataset. An exposure present in only one run (a material outside the other's
    scope) counts as zero shortage in the other.

    Runs with different seeds or horizons are unrelated: draw i of one is not draw i of
    the other, so a draw-by-draw difference means nothing. ``ResultError`` unless
    ``force`` (then the comparison is made and ``warnings`` say what differs).
    """
    import pandas as pd

    warnings = pair_warnings(base, variant, force)
    mb, mv = base.manifest, variant.manifest
    draws = min(mb["draws"], mv["draws"], *([limit] if limit else []))
    check_memory([base, variant], draws)
    # each run's shares per draw and exposure (formats 4 and 3: tonnes and
    # values derived from them a block at a time, not held), on the union of the two
    # runs' exposures, the base's first (an exposure the other run lacks is zero there);
    # the statistics a block of exposures at a time, each block's changes in float64
    sides = [shares_per_draw(r, draws, also=("shortage_t", "shortage_value_usd"))
             for r in (base, variant)]
    have = set(sides[0].keys)
    union = [*sides[0].keys, *(k for k in sides[1].keys if k not in have)]
    at = [positions(side.keys, union) for side in sides]
    n = draws
    stats = {name: np.empty(len(union)) for name in (
        "mean", "half", "better", "worse", "p5", "p95", "d_t", "d_value", "b_mean",
        "v_mean")}
    fates = {}
    for block in column_blocks(len(union), n):
        b_share, v_share = (side.columns(a[block]) for side, a in zip(sides, at, strict=True))
        d = v_share.astype(np.float64)
        d -= b_share
        stats["mean"][block] = d.mean(axis=0)
        stats["half"][block] = (1.96 * d.std(axis=0, ddof=1) / math.sqrt(n) if n > 1
                                else np.nan)
        stats["better"][block] = (d < -CHANGE_DUST).mean(axis=0)
        stats["worse"][block] = (d > CHANGE_DUST).mean(axis=0)
        d.sort(axis=0)
        stats["p5"][block] = quantile_sorted(d, 0.05)
        stats["p95"][block] = quantile_sorted(d, 0.95)
        del d
        stats["b_mean"][block] = b_share.mean(axis=0, dtype=np.float64)
        stats["v_mean"][block] = v_share.mean(axis=0, dtype=np.float64)
        for j, key in enumerate(union[block]):
            h = hashlib.blake2b(digest_size=16)
            h.update(np.ascontiguousarray(b_share[:, j]).tobytes())
            h.update(np.ascontiguousarray(v_share[:, j]).tobytes())
            fates[key] = h.digest()
        # means in float64 of the float32 numbers, as the change's
        for what, name in (("shortage_t", "d_t"), ("shortage_value_usd", "d_value")):
            b, v = (side.columns(a[block], what, share=share) for side, a, share
                    in zip(sides, at, (b_share, v_share), strict=True))
            stats[name][block] = (v.mean(axis=0, dtype=np.float64)
                                  - b.mean(axis=0, dtype=np.float64))
    mean, half = stats["mean"], stats["half"]
    table = pd.DataFrame({
        "material": [k[0] for k in union], "stage": [k[1] for k in union],
        "country": [k[2] for k in union],
        "base_share_mean": stats["b_mean"], "variant_share_mean": stats["v_mean"],
        "change_mean": mean, "change_ci_low": mean - half, "change_ci_high": mean + half,
        "change_p5": stats["p5"], "change_p95": stats["p95"], "change_mean_t": stats["d_t"],
        "change_value_mean_usd": stats["d_value"], "prob_better": stats["better"],
        "prob_worse": stats["worse"],
    })
    if len(table):  # ties of the change in the order of the labels
        table = table.sort_values(["material", "stage", "country"], kind="stable")
        table = table.sort_values("change_mean", kind="stable").reset_index(drop=True)
    last_stage = {**mb.get("last_stage", {}), **mv.get("last_stage", {})}
    (b_total, b_ours), (v_total, v_ours) = (
        final_sums_of(side, a, union, last_stage, partners)
        for side, a in zip(sides, at, strict=True))
    value = _value_stats(b_total, v_total)
    if partners:
        value["partners_change_usd"] = float((v_ours - b_ours).mean())
    return Comparison(table=table, warnings=warnings, draws=draws, value=value, fates=fates)


def _on(keys: list, arrays: list[np.ndarray], union: list) -> list[np.ndarray]:
    """``arrays`` ([draws, len(keys)]) on the columns of ``union``, zero where a key of
    ``union`` is not in ``keys``."""
    if list(keys) == list(union):
        return list(arrays)
    columns = positions(keys, union)
    out = []
    for a in arrays:
        b = np.zeros((a.shape[0], len(union)), a.dtype)
        have = columns >= 0
        b[:, have] = a[:, columns[have]]
        out.append(b)
    return out


def value_change_arrays(keys: list, base: np.ndarray, variant: np.ndarray,
                        last_stage: dict, partners=(), variant_keys: list | None = None
                        ) -> dict:
    """``Comparison.value`` from the two runs' shortage values per draw and exposure
    (``shortage_value_usd``, [draws, len(keys)] each, the same draws): each run's value
    summed per draw over the exposures at each material's last stage (``last_stage``),
    the change draw by draw: its mean with the 95 % interval of the mean, and its spread
    over draws (P5, P95). With ``partners`` (countries), the mean change of their
    exposures too (``partners_change_usd``: who gains, where a stockpile selling into its
    zone helps others as well). ``variant_keys`` where the variant's exposures are
    others than ``keys``: both are put on their union, an exposure a run lacks counting
    zero there."""
    if variant_keys is not None:
        union = sorted(set(keys) | set(variant_keys))
        (base,), (variant,) = _on(keys, [base], union), _on(variant_keys, [variant], union)
        keys = union
    (b_total, b_ours), (v_total, v_ours) = (_final_sums(keys, side, last_stage, partners)
                                            for side in (base, variant))
    out = _value_stats(b_total, v_total)
    if partners:
        out["partners_change_usd"] = float((v_ours - b_ours).mean())
    return out


def _final_masks(keys: list, last_stage: dict, partners=()) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``keys`` are final users (at their material's last stage), and which of
    those are in ``partners``."""
    partners = tuple(partners)
    final = np.array([last_stage.get(m) == s for m, s, _ in keys], dtype=bool)
    ours = final & np.array([c in partners for _, _, c in keys], dtype=bool)
    return final, ours


def _final_sums(keys: list, value: np.ndarray, last_stage: dict,
                partners=()) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, the shortage value (``value``, [draws, len(keys)]) of the final users
    (the exposures at each material's last stage) and the partner economies' part of it
    (zeros without ``partners``), float64 [draws] each."""
    final, ours = _final_masks(keys, last_stage, partners)
    # each row summed pairwise over a C-ordered copy, as final_sums_of sums its blocks
    # (a boolean index of columns may come back in Fortran order, summed column by
    # column: the last bits would depend on the layout)
    return tuple(np.ascontiguousarray(value[:, mask]).sum(axis=1, dtype=np.float64)
                 for mask in (final, ours))


def final_sums_of(shares: Shares, at: np.ndarray, keys: list, last_stage: dict,
                  partners=()) -> tuple[np.ndarray, np.ndarray]:
    """``_final_sums`` of the shortage values of ``shares`` on ``keys`` (the exposures at
    positions ``at`` of it, -1: zero), a block of draws at a time."""
    final, ours = _final_masks(keys, last_stage, partners)
    out = np.empty(shares.draws), np.empty(shares.draws)
    step = max(1, BLOCK_BYTES // (8 * max(len(keys), 1)))
    for a in range(0, shares.draws, step):
        rows = slice(a, a + step)
        for mask, total in zip((final, ours), out, strict=True):
            total[rows] = shares.columns(at[mask], "shortage_value_usd", rows).sum(
                axis=1, dtype=np.float64)
    return out


def _value_stats(base: np.ndarray, variant: np.ndarray) -> dict:
    """Means of the per-draw values, and of their change with its 95 % interval of the
    mean and its spread over draws (P5, P95)."""
    draws = len(base)
    d = variant - base
    half = 1.96 * float(d.std(ddof=1)) / math.sqrt(draws) if draws > 1 else float("nan")
    mean = float(d.mean())
    s = np.sort(d)[:, None]
    return dict(base_usd=float(base.mean()), variant_usd=float(variant.mean()),
                change_usd=mean, change_ci_low=mean - half, change_ci_high=mean + half,
                change_p5=float(quantile_sorted(s, 0.05)[0]),
                change_p95=float(quantile_sorted(s, 0.95)[0]))


def final_values(result: Result, draws: int, last_stage: dict,
                 partners=()) -> tuple[np.ndarray, np.ndarray]:
    """Per draw 0 .. draws-1, the shortage value of the final users (the exposures at
    each material's last stage, at the reference prices) and the partner economies' part
    of it (zeros without ``partners``), float64 [draws] each."""
    shares = shares_per_draw(result, draws, also=("shortage_value_usd",))
    return final_sums_of(shares, np.arange(len(shares.keys)), shares.keys, last_stage,
                         partners)


@dataclass
class Policies:
    """Several variants against one base, draw by draw, by the final users' shortage
    value (``compare_policies``). ``table``: one row per variant (``variant``, and the
    ``Comparison.value`` fields: ``base_usd``, ``variant_usd``, ``change_usd`` with its
    95 % interval of the mean and P5-P95 over draws, ``partners_change_usd``);
    ``changes``: each variant's change per draw [USD], for ``interaction``."""

    table: object  # pandas.DataFrame
    changes: dict
    draws: int
    warnings: list[str]


def compare_policies(base: Result, variants: list[Result], force: bool = False,
                     partners=(), limit: int | None = None, values=None) -> Policies:
    """Each variant against ``base`` by the final users' shortage value, on the draws
    all runs hold (common random numbers: the same draws for every variant, so their
    changes can be set against one another draw by draw, ``interaction``).

    ``values``: where the caller already holds them (the report), each run's exposure
    keys and shortage values per draw from draw 0 ([draws, X], as ``per_draw_arrays``
    gives them), base first: not read again."""
    import pandas as pd

    warnings = []
    for v in variants:
        warnings += [f"{v.name}: {w}" for w in pair_warnings(base, v, force)]
    draws = min(*(int(r.manifest["draws"]) for r in (base, *variants)),
                *([limit] if limit else []))
    if values is None:
        check_memory([base, *variants], draws)
    last = dict(base.manifest.get("last_stage", {}))
    for v in variants:
        last = {**v.manifest.get("last_stage", {}), **last}

    def final(i: int, run: Result):
        if values is None:
            return final_values(run, draws, last, partners)
        keys, value = values[i]
        return _final_sums(keys, value[:draws], last, partners)

    total, ours = final(0, base)
    rows, changes = [], {}
    for i, (v, label) in enumerate(zip(variants, variant_labels(variants), strict=True)):
        v_total, v_ours = final(i + 1, v)
        row = {"variant": label, **_value_stats(total, v_total)}
        if partners:
            row["partners_change_usd"] = float((v_ours - ours).mean())
        rows.append(row)
        changes[label] = v_total - total
    return Policies(table=pd.DataFrame(rows), changes=changes, draws=draws,
                    warnings=warnings)


def variant_labels(variants: list[Result]) -> list[str]:
    """Each variant's scenario name, or its folder where two share a name (two runs of
    one scenario, other draws or seeds)."""
    names = [v.name for v in variants]
    return [str(v.folder) if names.count(v.name) > 1 else v.name for v in variants]


def interaction(whole: np.ndarray, parts: list[np.ndarray]) -> dict:
    """A combined policy's change against the sum of its parts' changes, draw by draw
    (``whole - sum(parts)``, per draw [USD]): its mean with the 95 % interval of the
    mean and P5-P95 over draws. Above zero: together they avoid less than the parts
    apart (their effects overlap); below: more (they help one another)."""
    d = whole - np.sum(parts, axis=0)
    n = len(d)
    half = 1.96 * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    mean = float(d.mean())
    s = np.sort(d)[:, None]
    return dict(interaction_usd=mean, interaction_ci_low=mean - half,
                interaction_ci_high=mean + half,
                interaction_p5=float(quantile_sorted(s, 0.05)[0]),
                interaction_p95=float(quantile_sorted(s, 0.95)[0]))
