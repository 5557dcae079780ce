"""A synthetic dataset at scale, and a scenario on it, deterministic from a seed.

The shipped baseline has 16 materials and 74 countries; users bring larger ones. This
writes a dataset of ``--countries`` countries (default 200) and ``--materials``
materials (default 50) in the format of docs/dataset.md, valid for
``supplyshock data validate``, and ``scale.toml``: export restrictions of the two
largest producers on every material, aimed at a group ``partners``.

Its shape follows the real one: half the materials have two stages (mining feeds the
refiners), half one; a few producers per stage, the largest holding 40-80 %; each
material used by 20-60 countries (heavy-tailed needs) that buy from one to four
suppliers, from their own output first; spare capacity of 0-30 %; state stocks of the
partners for a third of the materials. Numbers are rounded to 3 decimals.

    python benchmarks/synthetic.py OUT_FOLDER [--seed 1] [--countries 200] [--materials 50]

``benchmarks/bench_scale.py`` generates it and runs the benchmark on it.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import string
from pathlib import Path

import numpy as np

PARTNERS = 20  # countries in the group `partners`


def country_codes(n: int) -> list[str]:
    """User-assigned three-letter codes (ISO 3166-1 keeps XAA-XZZ for such use)."""
    letters = string.ascii_uppercase
    codes = ["X" + a + b for a, b in itertools.product(letters, letters)]
    if n > len(codes):
        raise ValueError(f"at most {len(codes)} synthetic countries")
    return codes[:n]


def _suppliers(rng, producers: np.ndarray, shares: np.ndarray, buyer: int, k: int):
    """Up to k suppliers for a buyer, by share; its own output first when it produces."""
    chosen = list(rng.choice(producers, size=min(k, len(producers)), replace=False,
                             p=shares))
    if buyer in producers and buyer not in chosen:
        chosen[0] = buyer
    return chosen


def generate(folder: Path, seed: int = 1, countries: int = 200, materials: int = 50) -> Path:
    """Write the dataset into ``folder`` (created) and return it."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    codes = country_codes(countries)
    big = [0, 1]  # the two largest producers, origins of the scenario's restrictions
    n_partners = min(PARTNERS, countries - 2)
    partners = sorted(rng.choice(np.arange(2, countries), size=n_partners, replace=False))
    flows, capacity, stocks, material_rows = [], [], [], []

    def ship(material, stage, producers, shares, buyers, needs):
        """Flows of one stage: each buyer's need split over its suppliers; returns each
        producer's output [t/year]."""
        out = np.zeros(countries)
        for buyer, need in zip(buyers, needs, strict=True):
            chosen = _suppliers(rng, producers, shares, buyer, int(rng.integers(1, 5)))
            split = rng.dirichlet(np.ones(len(chosen)))
            for e, part in zip(chosen, split, strict=True):
                tonnes = round(float(need * part), 3)
                if tonnes > 0:
                    flows.append((material, stage, codes[e], codes[buyer], tonnes))
                    out[e] += tonnes
        return out

    def spare(material, stage, output):
        for e in np.flatnonzero(output):
            room = output[e] * (1 + rng.uniform(0.0, 0.3))
            capacity.append((material, stage, codes[e], math.ceil(room * 1000) / 1000))

    for k in range(materials):
        material = f"m{k + 1:02d}"
        two = k % 2 == 0
        stages = ["mining", "refining"] if two else ["refining"]
        price = round(float(np.exp(rng.normal(math.log(20_000), 1.5))), 2)
        material_rows.append((material, f"Synthetic material {k + 1}", "t content",
                              ";".join(stages), price, "synthetic"))
        # the last stage: producers, then users
        n_prod = min(countries - 2, int(rng.integers(3, 11)))
        producers = np.array(
            [big[k % 2]] + list(rng.choice(np.setdiff1d(np.arange(countries), big),
                                           size=n_prod - 1, replace=False)))
        lead = rng.uniform(0.4, 0.8)
        shares = np.concatenate([[lead], rng.dirichlet(np.ones(n_prod - 1)) * (1 - lead)])
        n_users = min(countries, int(rng.integers(20, 61)))
        users = rng.choice(countries, size=n_users, replace=False)
        users = np.union1d(users, partners[: int(rng.integers(1, n_partners + 1))])
        total = float(np.exp(rng.normal(math.log(20_000), 1.2)))
        weight = rng.pareto(1.2, size=len(users)) + 0.05
        needs = total * weight / weight.sum()
        output = ship(material, stages[-1], producers, shares, users, needs)
        spare(material, stages[-1], output)
        if two:  # the refiners' feed from the miners
            refiners = np.flatnonzero(output)
            feed = output[refiners] / rng.uniform(0.9, 1.0, size=len(refiners))
            n_mine = min(countries - 2, int(rng.integers(3, 9)))
            miners = np.array(
                [big[(k + 1) % 2]] + list(rng.choice(np.setdiff1d(np.arange(countries), big),
                                                     size=n_mine - 1, replace=False)))
            lead = rng.uniform(0.4, 0.8)
            mshares = np.concatenate([[lead], rng.dirichlet(np.ones(n_mine - 1)) * (1 - lead)])
            mined = ship(material, "mining", miners, mshares, refiners, feed)
            spare(material, "mining", mined)
        if k % 3 == 0:  # state stocks of the partners
            for i in partners:
                if i in users:
                    need = float(needs[np.flatnonzero(users == i)[0]])
                    tonnes = round(need * rng.uniform(0.05, 0.3), 3)
                    stocks.append((material, codes[i], tonnes, round(tonnes / 6, 3),
                                   "synthetic"))

    def write(name, header, rows):
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)

    write("materials.csv", ["material", "name", "unit", "stages", "price_usd_per_t",
                            "price_source"], material_rows)
    write("countries.csv", ["code", "name"],
          [(c, f"Synthetic country {c}") for c in codes])
    write("groups.csv", ["group", "member"], [("partners", codes[i]) for i in partners])
    write("flows.csv", ["material", "stage", "exporter", "importer", "tonnes_per_year"],
          flows)
    write("capacity.csv", ["material", "stage", "country", "tonnes_per_year"], capacity)
    write("stocks.csv", ["material", "country", "tonnes", "max_release_tonnes_per_month",
                         "source"], stocks)
    return folder


SCENARIO = """\
# Synthetic scale scenario (benchmarks/synthetic.py): the two largest producers restrict
# refined exports of every material they lead to the partners.
[scenario]
name = "scale"
description = "Export restrictions of the two largest producers on a synthetic dataset."
dataset = {dataset!r}
horizon_months = 24
draws = 1000
seed = 7

[[events]]
id = "first-restricts"
kind = "export_restriction"
origin = "{first}"
materials = {first_materials}
stage = "refining"
targets = ["partners"]
probability = 0.5
onset_month = {{ dist = "uniform", min = 0, max = 6 }}
duration_months = {{ dist = "triangular", min = 6, mode = 12, max = 30 }}
severity = {{ dist = "uniform", min = 0.4, max = 1.0 }}
leakage = {{ dist = "beta", a = 1.5, b = 10 }}

[[events]]
id = "second-restricts"
kind = "export_restriction"
origin = "{second}"
materials = {second_materials}
stage = "refining"
targets = ["partners"]
probability = 0.3
onset_month = {{ dist = "uniform", min = 0, max = 12 }}
duration_months = {{ dist = "triangular", min = 3, mode = 9, max = 24 }}
severity = {{ dist = "uniform", min = 0.3, max = 0.9 }}
leakage = {{ dist = "beta", a = 2, b = 8 }}
"""


def scenario(dataset: Path, path: Path, materials: int = 50) -> Path:
    """``scale.toml``: each of the two largest producers restricts the materials it leads."""
    names = [f"m{k + 1:02d}" for k in range(materials)]
    codes = country_codes(2)
    path.write_text(SCENARIO.format(
        dataset=str(Path(dataset).resolve()), first=codes[0], second=codes[1],
        first_materials=[m for k, m in enumerate(names) if k % 2 == 0],
        second_materials=[m for k, m in enumerate(names) if k % 2 == 1]))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--countries", type=int, default=200)
    ap.add_argument("--materials", type=int, default=50)
    args = ap.parse_args()
    data = generate(args.out / "dataset", args.seed, args.countries, args.materials)
    path = scenario(data, args.out / "scale.toml", args.materials)
    print(f"dataset {data}, scenario {path}")


if __name__ == "__main__":
    main()
