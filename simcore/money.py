"""Dollars as the CLI and the report print them, and a policy's cost against the value
it avoids (``supplyshock compare``, the report's policy sections)."""

from __future__ import annotations

import math

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
        return ("Policy cost: the scenario files named in the manifests cannot be loaded "
                f"here, so nothing is said about it ({named}: not found from the current "
                "folder or above the results folders, or not loadable; a relative path "
                "is relative to the folder the run was made in: run this from that "
                "folder to weigh the policy's cost)")
    if not cost.ids:
        if cost.removed:
            k = len(cost.removed)
            return (f"Policy cost: the variant adds no intervention to the base; it lacks "
                    f"{k} the base has ({', '.join(cost.removed[:4])}"
                    f"{', ...' if k > 4 else ''}): to weigh their cost, compare the other "
                    f"way round (the run without them first)")
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
    line = (f"Policy cost ({n} intervention{'s' * (n != 1)} the base does not have, each "
            f"once whatever its probability): "
            + (f"{usd4(cost.total_usd)} ({'; '.join(parts)})" if parts else "none stated"))
    if cost.unstated:
        k = len(cost.unstated)
        shown = ", ".join(cost.unstated[:4]) + (", ..." if k > 4 else "")
        line += (f"; {k} capacity intervention{'s' * (k != 1)} state{'s' * (k == 1)} no "
                 f"cost_usd ({shown}): give it in the scenario file to weigh them")
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
