"""Who holds a stockpile: ``--holders`` names resolved against the dataset and scenario.

A *holder* is one country, or a group acting as one economy (the EU): a group holder
keeps one stockpile, split across its member countries by need share as a scenario's
``tonnes`` is, and its outcome is taken over its members together. In ``--holders``:

- a country code is one holder;
- a group name stands for its direct members, each one holder, where a member that is
  itself a group (EU27 in the dataset's ``partners``) is one holder.

So ``--holders partners`` gives each partner economy, ``--holders USA,JPN,KOR`` three;
to make a group one holder beside others, name it in a group of the scenario
(``[groups] club = ["USA", "EU27"]``, then ``--holders club``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simcore.errors import suggest
from simcore.stockpile.errors import StockpileError


@dataclass(frozen=True)
class Holder:
    """``name`` as the variant's ``countries`` names it; ``countries``: indices into
    the dataset's countries, in dataset order."""

    name: str
    countries: tuple[int, ...]
    codes: tuple[str, ...]
    via: str | None = None  # the group named in --holders that this holder is a member of


def split_names(value, option: str) -> list[str]:
    """``"USA, JPN"`` or a list -> ["USA", "JPN"] (empty entries are an error)."""
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",")]
    else:
        names = [str(v).strip() for v in value]
    if not names or any(not n for n in names):
        raise StockpileError(
            f"{option} {value!r}: give names separated by commas, e.g. {option} USA,JPN "
            "or a group name"
        )
    return names


def _dataset_members(tensor) -> dict[str, list[str]]:
    """Direct members of each dataset group (groups.csv rows), where the dataset folder
    is at hand; else the expanded members."""
    path = getattr(tensor, "path", None)
    rows: dict[str, list[str]] = {}
    if path is not None and (Path(path) / "groups.csv").is_file():
        with open(Path(path) / "groups.csv", encoding="utf-8-sig", newline="") as fh:
            for r in csv.DictReader(fh):
                g, m = (r.get("group") or "").strip(), (r.get("member") or "").strip()
                if g and m:
                    rows.setdefault(g, []).append(m)
    for g, codes in tensor.groups.items():
        rows.setdefault(g, list(codes))
    return rows


def _scenario_members(scenario) -> dict[str, list[str]]:
    raw = (getattr(scenario, "document", None) or {}).get("groups") or {}
    out = {}
    for g, members in raw.items():
        if isinstance(members, list):
            out[g] = [str(m) for m in members]
        elif isinstance(members, str):
            out[g] = [members]
    for g, codes in (getattr(scenario, "groups", None) or {}).items():
        out.setdefault(g, list(codes))
    return out


def resolve_holders(value, scenario, tensor, option: str = "--holders") -> list[Holder]:
    """The holders ``value`` names (see the module docstring); raises ``StockpileError``
    for an unknown name or holders that share a country."""
    names = split_names(value, option)
    direct = {**_dataset_members(tensor), **_scenario_members(scenario)}
    expanded = {**tensor.groups, **(getattr(scenario, "groups", None) or {})}
    countries = tuple(tensor.countries)
    known = countries + tuple(expanded)
    folded = {}  # names in any case, where that is unambiguous
    for k in known:
        folded.setdefault(k.casefold(), []).append(k)
    units: list[str] = []
    via: dict[str, str | None] = {}
    for name in names:
        if name not in expanded and name not in countries and \
                len(folded.get(name.casefold(), ())) == 1:
            name = folded[name.casefold()][0]  # usa: USA, eu27: EU27
        if name in expanded:
            members = direct.get(name, list(expanded[name]))
            for m in members:
                _once(m, name, via, option)
            units.extend(members)
        elif name in countries:
            _once(name, None, via, option)
            units.append(name)
        else:
            full = dict(zip(countries, tensor.country_names, strict=True))
            raise StockpileError(
                f"{option}: unknown holder {name!r}{suggest(name, known, names=full)}; "
                "give country codes of the dataset or a group name (dataset groups: "
                f"{', '.join(sorted(tensor.groups)) or 'none'}), separated by commas"
            )
    out: list[Holder] = []
    owner: dict[str, str] = {}
    for unit in units:
        codes = expanded[unit] if unit in expanded else (unit,)
        idx = tuple(sorted(countries.index(c) for c in set(codes)))
        for c in idx:
            code = countries[c]
            if code in owner:
                raise StockpileError(
                    f"{option}: {code} belongs to two holders, {owner[code]} and {unit}; "
                    "name each country in one holder only"
                )
            owner[code] = unit
        out.append(Holder(unit, idx, tuple(countries[c] for c in idx), via[unit]))
    return out


def _once(unit: str, group: str | None, via: dict, option: str) -> None:
    """Record that ``unit`` is a holder (named itself, or as a member of ``group``);
    a unit named twice is refused, as two holders sharing a country are."""
    if unit in via:
        how = [f"as a member of {g}" if g else "by itself" for g in (via[unit], group)]
        raise StockpileError(
            f"{option}: {unit} is named twice ({how[0]} and {how[1]}); name each holder "
            "once")
    via[unit] = group


def holder_need(tensor, holder: Holder, k: int) -> float:
    """The holder's last-stage need of material k [t/month] (dataset order sum)."""
    last = int(tensor.n_stages[k]) - 1
    need = np.asarray(tensor.need)[k, last] / 12.0
    total = 0.0
    for c in holder.countries:
        total += float(need[c])
    return total
