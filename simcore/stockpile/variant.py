"""The scenario variant a sizing writes: a TOML file that ``extends`` the study and adds
the stockpile interventions, one per (holder or pool, material).

The same text, with placeholder sizes of 1 t and 1 t/month and an absolute ``extends``,
is the *search scenario* the sizing compiles once (simcore/stockpile/evaluate.py), so
the variant's compiled arrays are the search's, number for number: the loader expands
its ``countries`` in the same order and the compiler forms the same ``tonnes * share``.
Sizes are written with ``repr`` (the shortest text that reads back as the same float).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Intervention:
    id: str
    countries: tuple[str, ...]  # holder names: country codes or group names
    material: str
    tonnes: float
    per_month: float
    reserved: bool
    description: str = ""


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string


def _num(x: float) -> str:
    x = float(x)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"a stockpile size must be a finite number >= 0, got {x}")
    text = repr(x)
    return text if any(c in text for c in ".en") else text + ".0"


def national_id(holder: str, material: str) -> str:
    return f"stockpile-{holder}-{material}"


def pool_id(material: str) -> str:
    return f"pool-{material}"


def variant_text(extends: str, name: str, interventions: list[Intervention], *,
                 description: str = "", draws: int | None = None, seed: int | None = None,
                 header: list[str] = ()) -> str:
    lines = [f"# {h}" if h else "#" for h in header]
    lines.append(f"extends = {_q(extends)}")
    lines.append("")
    lines.append("[scenario]")
    lines.append(f"name = {_q(name)}")
    if description:
        lines.append(f"description = {_q(description)}")
    if draws is not None:
        lines.append(f"draws = {int(draws)}")
    if seed is not None:
        lines.append(f"seed = {int(seed)}")
    for iv in interventions:
        lines += [
            "",
            "[[interventions]]",
            f"id = {_q(iv.id)}",
        ]
        if iv.description:
            lines.append(f"description = {_q(iv.description)}")
        lines += [
            'kind = "stockpile"',
            "countries = [" + ", ".join(_q(c) for c in iv.countries) + "]",
            f"materials = [{_q(iv.material)}]",
            f"tonnes = {_num(iv.tonnes)}",
            f"max_release_tonnes_per_month = {_num(iv.per_month)}",
            f"reserved = {'true' if iv.reserved else 'false'}",
        ]
    return "\n".join(lines) + "\n"
