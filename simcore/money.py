"""Dollars as the CLI and the report print them, and a policy's cost against the value
it avoids (``supplyshock compare``, the report's policy sections)."""

from __future__ import annotations

import math
from dataclasses import dataclass

_UNITS = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


def usd(x, space: str = "") -> str:
    """$1.2M: one decimal in the largest unit ("-" for None or NaN); ``space`` goes
    between the number and the unit ($1.2 M in the report's tables)."""
    if x is None or x != x:
        return "-"
    for div, unit in _UNITS:
        if abs(x) >= div:
            return f"${x / div:,.1f}{space}{unit}"
    return f"${x:,.0f}"


def usd4(x) -> str:
    """USD to four significant digits ($3.318bn, $973.9M): a policy's effect or a budget's
    step is small against the whole, which one decimal of a billion hides."""
    if x is None or x != x:
        return "-"
    for div, unit in _UNITS:
        if abs(x) >= div:
            v = x / div
            return f"${v:,.{max(0, 3 - int(math.floor(math.log10(abs(v)))))}f}{unit}"
    return f"${x:,.0f}"


def usd_signed(x) -> str:
    """``usd4`` with its sign: +$1.200M, -$3.400bn."""
    if x is None or x != x:
        return "-"
    if x == 0:
        return "$0"
    return ("-" if x < 0 else "+") + usd4(abs(x))


def _some(ids: list[str]) -> str:
    """The first four ids, then "...": ``au-ga-wagerup, eu-ga-metlen, ...``."""
    return ", ".join(ids[:4]) + (", ..." if len(ids) > 4 else "")


def cost_line(base, variant, change_usd: float,
              partners_change_usd: float | None = None) -> str:
    """One line: what the interventions the variant adds to the base cost
    (:func:`simcore.api.policy_cost`), and, where every cost is known, the shortage value
    avoided per dollar (``change_usd``: the change of the final users' shortage value,
    variant minus base)."""
    from simcore.api import policy_cost

    cost = policy_cost(base, variant)
    if cost is None:
        named = ", ".join(dict.fromkeys(
            str(r.manifest.get("scenario", {}).get("path", "?")) for r in (base, variant)))
        return ("Policy cost: runs of an earlier version record no costs, and the scenario "
                "files named in their manifests cannot be loaded "
                f"here, so nothing is said about it ({named}: not found from the current "
                "folder or above the results folders, or not loadable; a relative path "
                "is relative to the folder the run was made in: run this from that "
                "folder to weigh the policy's cost)")
    if not cost.ids:
        if cost.removed:
            k = len(cost.removed)
            return (f"Policy cost: the variant adds no intervention to the base; it lacks "
                    f"{k} the base has, or holds less of them ({_some(cost.removed)}): to "
                    f"weigh their cost, compare the other way round (the run without them "
                    f"first)")
        return "Policy cost: the variant adds no intervention to the base"
    parts = []
    stated = cost.stockpile_stated_usd
    priced = cost.stockpile_usd - stated
    if stated and priced:
        parts.append(f"stockpiles {usd4(cost.stockpile_usd)}: {usd4(priced)} bought at "
                     f"the reference prices, no carrying cost, {usd4(stated)} as stated")
    elif stated:
        parts.append(f"stockpiles {usd4(stated)} as stated")
    elif cost.stockpile_usd:
        parts.append(f"stockpiles {usd4(cost.stockpile_usd)} bought at the reference "
                     "prices, no carrying cost")
    if cost.capacity_usd:
        parts.append(f"capacity {usd4(cost.capacity_usd)} as stated")
    n = len(cost.ids)
    k = len(getattr(cost, "changed", ()))
    what = ("the base does not have" if not k else
            f"the base does not have or holds at another cost ({_some(cost.changed)}: the "
            "difference)" if k < n else
            f"the base holds at another cost ({_some(cost.changed)}: the difference)")
    line = (f"Policy cost ({n} intervention{'s' * (n != 1)} {what}, each once whatever its "
            f"probability, one held with probability 0 counting as not held): "
            + (f"{usd4(cost.total_usd)} ({'; '.join(parts)})" if parts else "none stated"))
    if cost.unstated:
        k = len(cost.unstated)
        line += (f"; {k} capacity intervention{'s' * (k != 1)} state{'s' * (k == 1)} no "
                 f"cost_usd ({_some(cost.unstated)}): give it in the scenario file to weigh "
                 "them")
    elif cost.removed:
        k = len(cost.removed)
        line += (f"; the variant also lacks {k} intervention{'s' * (k != 1)} the base has, "
                 f"or holds less of {'them' if k != 1 else 'it'} ({_some(cost.removed)}), "
                 "whose effect is in the change and whose cost is not: no value per dollar")
    elif cost.total_usd > 0:
        line += (f"; {-change_usd / cost.total_usd:,.2f} of shortage value avoided per "
                 f"dollar (a stockpile's stock is still held at the end: not counted)")
        if partners_change_usd is not None:
            line += (f", {-partners_change_usd / cost.total_usd:,.2f} for the partner "
                     "economies")
    return line


def value_line(value: dict) -> str:
    """The final users' shortage value in both runs and its change (``Comparison.value``)."""
    ci = (f" [{usd_signed(value['change_ci_low'])}, {usd_signed(value['change_ci_high'])}]"
          if value["change_ci_low"] == value["change_ci_low"] else "")
    line = (f"Shortage value of the final users (each material's last stage, every country) "
            f"at reference prices, mean over draws: {usd4(value['base_usd'])} -> "
            f"{usd4(value['variant_usd'])}, {usd_signed(value['change_usd'])}{ci} (the "
            "interval: Monte Carlo error of the mean")
    if value.get("change_p5") == value.get("change_p5") and "change_p5" in value:
        line += (f"; over draws P5-P95 {usd_signed(value['change_p5'])} to "
                 f"{usd_signed(value['change_p95'])}")
    line += ")"
    if "partners_change_usd" in value:
        line += (f"; of the change, the partner economies' (the dataset's group `partners`) "
                 f"{usd_signed(value['partners_change_usd'])}")
    return line


@dataclass
class SideBySide:
    """Several policy variants against one base (``policies_side_by_side``): ``table``,
    a row per variant (``simcore.results.aggregate.Policies.table`` with ``cost_usd``,
    None where a capacity states no cost, ``cost_known_usd``, ``cost_unstated``, ``lacks``,
    ``avoided_per_usd`` and, with partners, ``partners_avoided_per_usd``);
    ``interactions``, a row per variant holding the interventions of two or more others
    (``variant``, ``parts``, ``interaction_*``); ``costs``, each variant's
    :class:`simcore.api.PolicyCost` or None."""

    table: object  # pandas.DataFrame
    interactions: object  # pandas.DataFrame
    costs: list
    draws: int
    warnings: list[str]


def policies_side_by_side(base, variants: list, force: bool = False,
                          partners=(), limit: int | None = None,
                          values=None) -> SideBySide:
    """``compare BASE V1 V2 ...`` and the report's policy table: each variant's change
    of the final users' shortage value, its cost and the value avoided per dollar; each
    variant whose interventions are those of two or more others (by id, none shared)
    set against the sum of their changes, draw by draw. ``values``: the runs' values per
    draw where the caller holds them (``compare_policies``)."""
    import numpy as np
    import pandas as pd

    from simcore.api import policy_cost
    from simcore.results.aggregate import compare_policies, interaction

    policies = compare_policies(base, variants, force=force, partners=partners, limit=limit,
                                values=values)
    table = policies.table
    names = list(table["variant"])
    costs = [policy_cost(base, v) for v in variants]
    # unknown where a capacity states no cost: never a free policy in machine output
    table["cost_usd"] = [c.total_usd if c is not None and not c.unstated else np.nan
                         for c in costs]
    # what is known of it: stockpiles (stated or priced) and capacity that states a cost
    table["cost_known_usd"] = [c.total_usd if c is not None else np.nan for c in costs]
    table["cost_unstated"] = pd.array([len(c.unstated) if c is not None else None
                                       for c in costs], dtype="Int64")
    table["lacks"] = [", ".join(c.removed) if c is not None else None for c in costs]
    # a variant that also drops some of the base's interventions has their effect in its
    # change and not their cost: no ratio
    known = [c is not None and not c.unstated and not c.removed and c.total_usd > 0
             for c in costs]
    table["avoided_per_usd"] = [-ch / c.total_usd if k else np.nan for ch, c, k in zip(
        table["change_usd"], costs, known, strict=True)]
    if partners:
        table["partners_avoided_per_usd"] = [
            -ch / c.total_usd if k else np.nan for ch, c, k in zip(
                table["partners_change_usd"], costs, known, strict=True)]
    # variants that only add to the base, by the interventions they add
    ids = {n: frozenset(c.ids) for n, c in zip(names, costs, strict=True)
           if c is not None and c.ids and not c.removed}
    rows = []
    for whole in ids:
        found = exact_parts(whole, ids)
        if found:
            rows.append({"variant": whole, "parts": " + ".join(found), **interaction(
                policies.changes[whole], [policies.changes[n] for n in found])})
    inter = pd.DataFrame(rows, columns=["variant", "parts", "interaction_usd",
                                        "interaction_ci_low", "interaction_ci_high",
                                        "interaction_p5", "interaction_p95"])
    return SideBySide(table, inter, costs, policies.draws, policies.warnings)


def exact_parts(whole: str, ids: dict) -> list[str] | None:
    """The fewest other entries of ``ids`` (name -> frozenset of intervention ids), at
    least two, pairwise disjoint, whose union is exactly ``ids[whole]``, in the order of
    ``ids``; None where there are none. Every combination is tried (variants are few;
    at most 8 parts)."""
    from itertools import combinations

    have = ids[whole]
    inside = [n for n, i in ids.items() if n != whole and i < have]
    for r in range(2, min(len(inside), 8) + 1):
        for chosen in combinations(inside, r):
            sets = [ids[n] for n in chosen]
            if sum(map(len, sets)) == len(have) and frozenset().union(*sets) == have:
                return list(chosen)
    return None


def cost_cell(cost) -> str:
    """A variant's cost as the side-by-side table shows it: ``$910.6M``, ``9 unstated``,
    ``$910.6M + 9 unstated``."""
    if cost is None:
        return "cannot be read"
    if not cost.ids:
        text = "no intervention"
    elif cost.unstated and not cost.total_usd:
        text = f"{len(cost.unstated)} unstated"
    else:
        text = usd4(cost.total_usd) + (f" + {len(cost.unstated)} unstated"
                                       if cost.unstated else "")
    if cost.removed:
        text += f", lacks {len(cost.removed)} of the base's"
    return text


def interaction_reading(ci_low: float, ci_high: float) -> str:
    """What an interaction's interval says (``policies_side_by_side``)."""
    if ci_low > 0:
        return "together they avoid less than apart, their effects overlap"
    if ci_high < 0:
        return "together they avoid more than apart, each helps the other"
    return "their effects add up, within the Monte Carlo error"
