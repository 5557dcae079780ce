"""What a sizing or a budget run works on: the study, the holders, the materials, the
options, checked; and the search scenario compiled once (docs/stockpile.md).

``setup(...)`` validates every option before anything is simulated and raises
``StockpileError`` naming the option and the fix.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simcore.errors import suggest
from simcore.limits import MAX_DRAWS, MAX_SEED
from simcore.stockpile.errors import StockpileError
from simcore.stockpile.evaluate import Evaluator, Placement
from simcore.stockpile.holders import Holder, holder_need, resolve_holders, split_names
from simcore.stockpile.variant import Intervention, national_id, pool_id, variant_text

DEFAULT_CARRY = 0.05  # [share of the purchase cost per year]; docs/stockpile.md, "Cost"
MARKET_BOUND_MONTHS = 12  # months of world need beyond the horizon in the upper bound


@dataclass
class Problem:
    prep: object  # simcore.api.Prepared: the study
    holders: list[Holder]
    materials: list[int]  # material indices, dataset order
    pairs: list[tuple[str, int]]  # (holder, material) with last-stage need, material order
    no_need: list[tuple[str, int]]  # (holder, material) without last-stage need
    reserved: bool
    pool: bool
    carry: float
    max_release_share: float | None
    draws: int
    search_draws: int
    seed: int
    national: dict = field(default_factory=dict)  # (holder, k) -> Placement
    pooled: dict = field(default_factory=dict)  # k -> Placement
    evaluator: Evaluator | None = None

    @property
    def tensor(self):
        return self.prep.tensor

    @property
    def horizon(self) -> int:
        return int(self.prep.compiled.horizon)

    def material_name(self, k: int) -> str:
        return self.tensor.materials[k]

    def need(self, holder: str, k: int) -> float:
        """Last-stage need [t/month] of a holder (or of every holder: ``"pool"``)."""
        if holder == "pool":
            return sum(holder_need(self.tensor, h, k) for h in self.holders)
        return holder_need(self.tensor, self.holder(holder), k)

    def holder(self, name: str) -> Holder:
        return next(h for h in self.holders if h.name == name)

    def holders_of(self, k: int) -> list[str]:
        return [h for h, kk in self.pairs if kk == k]

    def existing(self, holder: str, k: int) -> tuple[float, float]:
        """(tonnes, t/month) of the state stocks that a new stockpile of the holder (or of
        every holder: ``"pool"``) joins: the kernel keeps one stock of each kind per
        country (docs/model.md §3.5), so a reserved stockpile joins the holder's dataset
        stocks when the study's ``dataset_stocks`` is ``reserved``, a selling one when it
        is ``market``, and the study's own stockpile interventions of its kind that are
        certain (probability 1); those of the other kind it does not join."""
        c = self.prep.compiled
        hs = self.holders if holder == "pool" else [self.holder(holder)]
        countries = [i for h in hs for i in h.countries]
        stock = rate = 0.0
        if self.reserved == bool(c.dataset_stocks_reserved):
            stock += float(np.asarray(self.tensor.stock)[k, countries].sum())
            rate += float(np.asarray(self.tensor.max_release)[k, countries].sum())
        for q in range(len(c.sp_probability)):
            if bool(c.sp_reserved[q]) == self.reserved and c.sp_probability[q] >= 1.0:
                stock += float(np.asarray(c.sp_stock)[q, k, countries].sum())
                rate += float(np.asarray(c.sp_max_release)[q, k, countries].sum())
        return stock, rate

    def rate_bound(self, holder: str, k: int) -> float:
        """Largest release [t/month] the options allow (inf without
        --max-release-share)."""
        if self.max_release_share is None:
            return math.inf
        return self.max_release_share * self.need(holder, k)

    def upper(self, holder: str, k: int) -> float:
        """A stock beyond which more cannot help within the horizon [t]: a reserved stock
        serves at most its holders' need; one that sells into the market at most the
        world's need at the last stage and the commercial stocks it refills
        (``MARKET_BOUND_MONTHS`` more months); both at most the release bound times the
        horizon."""
        t = self.tensor
        last = int(t.n_stages[k]) - 1
        if self.reserved:
            bound = self.need(holder, k) * self.horizon
        else:
            world = float(np.asarray(t.need)[k, last].sum()) / 12.0
            bound = world * (self.horizon + MARKET_BOUND_MONTHS)
        return min(bound, self.rate_bound(holder, k) * self.horizon)

    def rate(self, holder: str, k: int, tonnes: float) -> float:
        """The release rate searched with a stock: all of it in a month, or the bound."""
        return min(float(tonnes), self.rate_bound(holder, k))

    def unit_cost(self, k: int) -> float:
        """[USD/t] over the horizon: the reference price plus carrying it."""
        return float(self.tensor.price[k]) * (1.0 + self.carry * self.horizon / 12.0)

    def placement(self, holder: str, k: int) -> Placement:
        return self.pooled[k] if holder == "pool" else self.national[(holder, k)]

    def interventions(self, sizes: dict, kind: str) -> list[Intervention]:
        """The variant's interventions for ``sizes``: (holder or "pool", k) -> (tonnes,
        t/month); zero sizes are left out."""
        out = []
        for (holder, k), (tonnes, per_month) in sizes.items():
            if tonnes <= 0:
                continue
            m = self.material_name(k)
            if holder == "pool":
                iv = Intervention(pool_id(m), tuple(h.name for h in self.holders), m, tonnes,
                                  per_month, self.reserved,
                                  f"{kind}: one {m} stockpile shared by "
                                  f"{', '.join(h.name for h in self.holders)}")
            else:
                iv = Intervention(national_id(holder, m), (holder,), m, tonnes, per_month,
                                  self.reserved, f"{kind}: {holder}'s {m} stockpile")
            out.append(iv)
        return out


def _materials(value, prep, option: str = "--materials") -> list[int]:
    t = prep.tensor
    scope = [k for k, s in enumerate(prep.compiled.material_scope) if s]
    if value is None:
        return scope
    out = []
    for name in split_names(value, option):
        if name not in t.materials:
            raise StockpileError(
                f"{option}: unknown material {name!r}{suggest(name, t.materials)}; the "
                f"dataset's materials: {', '.join(t.materials)}"
            )
        k = t.materials.index(name)
        if k not in scope:
            raise StockpileError(
                f"{option}: {name} is not in the scenario {prep.path}: no event of it "
                "touches that material, so no stockpile of it changes anything; its "
                f"materials: {', '.join(t.materials[j] for j in scope)}"
            )
        if k not in out:
            out.append(k)
    return sorted(out)


def check_numbers(draws, search_draws, seed, carry, max_release_share) -> None:
    if not isinstance(draws, int) or isinstance(draws, bool) or not 1 <= draws <= MAX_DRAWS:
        raise StockpileError(f"--draws {draws!r}: give a whole number in [1, {MAX_DRAWS:,}]")
    if not isinstance(search_draws, int) or not 1 <= search_draws <= draws:
        raise StockpileError(
            f"--search-draws {search_draws!r}: give a whole number in [1, --draws = {draws}]"
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < MAX_SEED:
        raise StockpileError(f"--seed {seed!r}: give a whole number in [0, 2**63)")
    if not (isinstance(carry, int | float) and math.isfinite(carry) and 0 <= carry <= 1):
        raise StockpileError(
            f"--carry {carry!r}: give the yearly carrying cost as a share of the purchase "
            f"cost in [0, 1], e.g. --carry 0.05 (the default, {DEFAULT_CARRY})"
        )
    if max_release_share is not None and not (
        math.isfinite(max_release_share) and max_release_share > 0
    ):
        raise StockpileError(
            f"--max-release-share {max_release_share!r}: give a share of the holder's "
            "monthly need > 0, e.g. 0.5 (half a month's need a month), or leave it out"
        )


def default_search_draws(draws: int) -> int:
    """Draws of the narrowing search: a tenth of the draws, at least 200 (all of them
    when there are fewer)."""
    return min(draws, max(200, draws // 10))


def setup(study, holders, *, materials=None, pool=False, reserved=False,
          carry=DEFAULT_CARRY, max_release_share=None, draws=None, search_draws=None,
          seed=None, threads=None, dataset=None) -> Problem:
    """Check the options, compile the search scenario once, load the engine."""
    from simcore import api

    prep = api.prepare(study, dataset)
    c = prep.compiled
    draws = int(c.draws) if draws is None else draws
    seed = int(c.seed) if seed is None else seed
    search_draws = default_search_draws(draws) if search_draws is None else search_draws
    check_numbers(draws, search_draws, seed, carry, max_release_share)
    hs = resolve_holders(holders, prep.scenario, prep.tensor)
    ks = _materials(materials, prep)
    pairs, no_need = [], []
    for k in ks:
        for h in hs:
            (pairs if holder_need(prep.tensor, h, k) > 0 else no_need).append((h.name, k))
    if not pairs:
        raise StockpileError(
            "--holders/--materials: none of the holders has a need of these materials at "
            "their last stage, so there is nothing to stockpile; check the names"
        )
    problem = Problem(prep=prep, holders=hs, materials=ks, pairs=pairs, no_need=no_need,
                      reserved=bool(reserved), pool=bool(pool), carry=float(carry),
                      max_release_share=max_release_share, draws=draws,
                      search_draws=search_draws, seed=seed)
    problem.evaluator = _search_scenario(problem, threads)
    return problem


def _search_scenario(problem: Problem, threads) -> Evaluator:
    """Compile the study plus a placeholder stockpile per placement (1 t, 1 t/month)."""
    from simcore.scenario import compile_scenario, load_scenario

    placeholders = {}
    for h, k in problem.pairs:
        placeholders[(h, k)] = (1.0, 1.0)
    if problem.pool:
        for k in problem.materials:
            if problem.holders_of(k):
                placeholders[("pool", k)] = (1.0, 1.0)
    ivs = problem.interventions(placeholders, "search")
    study = Path(problem.prep.path).absolute()
    text = variant_text(str(study), "stockpile-search", ivs)
    with tempfile.TemporaryDirectory(prefix="supplyshock-stockpile-") as tmp:
        path = Path(tmp) / "search.toml"
        path.write_text(text, encoding="utf-8")
        scenario = load_scenario(path, problem.prep.tensor)
        compiled = compile_scenario(scenario)
    ids = list(compiled.intervention_id)
    placements = []
    for (h, k), _ in placeholders.items():
        m = problem.material_name(k)
        pid = pool_id(m) if h == "pool" else national_id(h, m)
        p = Placement(pid, k, tuple(x.name for x in problem.holders) if h == "pool" else (h,),
                      ids.index(pid))
        placements.append(p)
        if h == "pool":
            problem.pooled[k] = p
        else:
            problem.national[(h, k)] = p
    return Evaluator(problem.prep.tensor, compiled, problem.holders, placements,
                     problem.seed, threads)
