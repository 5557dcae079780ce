"""The baseline's market table (market.csv) from two hand-written tables.

``tables/supply_types.csv`` puts every material in one supply type (by-product minor
metals, co-product rare earths, primary metals: MARKET.md, "Parameters"), with the
reason. ``tables/market_parameters.csv`` gives each parameter of each type as (low,
mode, high) with its source or reasoning (``scope`` = the type), and the few departures
of one material from its type, each with a published source for that material
(``scope`` = the material). The build writes one row per material and parameter: the
type's values unless the material departs, the reasoning prefixed with where the row
comes from. docs/model.md, "Calibration", says which backtest constrains which number.
"""

from __future__ import annotations

from simcore.errors import DatasetError, suggest

TYPES_HEADER = ("material", "type", "reasoning", "source")
PARAMS_HEADER = ("scope", "parameter", "low", "mode", "high", "reasoning", "source")


def market_rows(types: list[dict], params: list[dict],
                materials: list[str]) -> list[tuple[str, str, float, float, float, str, str]]:
    """(material, parameter, low, mode, high, reasoning, source) for every material and
    market parameter, in material then parameter order. ``types``/``params``: the rows of
    the two tables (dicts with ``_line``)."""
    from simcore.marketdata import BY_NAME, PARAMS

    type_of: dict[str, str] = {}
    for r in types:
        where = f"supply_types.csv line {r['_line']}"
        if r["material"] not in materials:
            raise DatasetError(f"{where}: unknown material {r['material']!r}"
                               f"{suggest(r['material'], materials)}")
        if r["material"] in type_of:
            raise DatasetError(f"{where}: material {r['material']!r} appears twice")
        type_of[r["material"]] = r["type"]
    missing = [m for m in materials if m not in type_of]
    if missing:
        raise DatasetError(f"supply_types.csv: no supply type for {', '.join(missing)}; give "
                           "every material a row")
    known_types = set(type_of.values())
    values: dict[tuple[str, str], tuple] = {}
    for r in params:
        where = f"market_parameters.csv line {r['_line']}"
        scope, name = r["scope"], r["parameter"]
        if scope not in known_types and scope not in materials:
            raise DatasetError(f"{where}: scope {scope!r} is neither a supply type "
                               f"({', '.join(sorted(known_types))}) nor a material"
                               f"{suggest(scope, [*known_types, *materials])}")
        if name not in BY_NAME:
            raise DatasetError(f"{where}: unknown parameter {name!r}{suggest(name, BY_NAME)}")
        try:
            low, mode, high = (float(r[c]) for c in ("low", "mode", "high"))
        except ValueError:
            raise DatasetError(f"{where}: low, mode and high must be numbers") from None
        if not low <= mode <= high:
            raise DatasetError(f"{where}: low <= mode <= high does not hold")
        if not (r["reasoning"] or r["source"]):
            raise DatasetError(f"{where}: give the reasoning or the source of the numbers")
        if (scope, name) in values:
            raise DatasetError(f"{where}: {scope}/{name} appears twice")
        values[(scope, name)] = (low, mode, high, r["reasoning"], r["source"])
    for t in sorted(known_types):
        lack = [p.name for p in PARAMS if (t, p.name) not in values]
        if lack:
            raise DatasetError(f"market_parameters.csv: supply type {t!r} lacks "
                               f"{', '.join(lack)}")
    out = []
    for m in materials:
        t = type_of[m]
        for p in PARAMS:
            own = values.get((m, p.name))
            if own is not None:
                low, mode, high, why, src = own
                why = f"{m} departs from its type ({t}): {why}"
            else:
                low, mode, high, why, src = values[(t, p.name)]
                why = f"supply type {t}: {why}"
            out.append((m, p.name, low, mode, high, why, src))
    return out


CONSTRAINED_BY = {  # which backtests constrain a type's fitted modes (docs/model.md)
    "by_product": "gage-1, gage-china, gage-12-ga, gage-12-ge, co-1, co-8",
    "co_product": "ree-1, ree-5, ree-china",
    "primary": "sb-3, sb-9, sb-china; nickel's first months (stylised fact)",
}
FITTED = ("demand_elasticity_short", "demand_elasticity_medium", "demand_adjust_months",
          "supply_elasticity", "origin_supply_elasticity", "state_purchase_share",
          "inventory_weeks", "inventory_release", "inventory_adjust", "spot_share",
          "precautionary_weeks", "reroute_lag_months")
BEGIN, END = "<!-- calibration-table -->", "<!-- /calibration-table -->"


def markdown_table(params: list[dict]) -> str:
    """The calibrated values as a markdown table, one row per parameter and a column per
    supply type (low / mode / high), then the departures; docs/model.md carries it
    between the calibration-table markers (tests/test_dataset_market.py keeps it in
    sync: ``python -m simcore.databuild.market`` rewrites it)."""
    from simcore.marketdata import PARAMS

    types = ("by_product", "co_product", "primary")
    val = {(r["scope"], r["parameter"]): r for r in params}
    lines = ["| parameter | by-product minor metals | co-product rare earths | "
             "primary metals | set by |", "| --- | --- | --- | --- | --- |"]
    for p in PARAMS:
        cells = []
        for t in types:
            r = val[(t, p.name)]
            cells.append(f"{float(r['low']):g} / {float(r['mode']):g} / {float(r['high']):g}")
        how = "fit (backtests)" if p.name in FITTED else "source or judgement (fixed)"
        lines.append(f"| `{p.name}` | " + " | ".join(cells) + f" | {how} |")
    extra = [r for r in params if r["scope"] not in types]
    if extra:
        lines.append("")
        lines.append("Departures from the type (each with a published source for the material):")
        lines.append("")
        for r in extra:
            lines.append(f"- {r['scope']} `{r['parameter']}`: {float(r['low']):g} / "
                         f"{float(r['mode']):g} / {float(r['high']):g} ({r['source']}).")
    return "\n".join(lines)


def _write_docs() -> None:
    from pathlib import Path

    from simcore.databuild.build import _read_table

    doc = Path(__file__).resolve().parents[2] / "docs" / "model.md"
    text = doc.read_text("utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    table = markdown_table(_read_table("market_parameters.csv", PARAMS_HEADER))
    doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")
    print(f"wrote the calibration table into {doc}")


if __name__ == "__main__":
    _write_docs()
