"""``budget``: where the next dollars of stockpile do most.

A greedy allocation over (holder, material) — or over materials, with ``pool`` — in
``steps`` equal steps of the budget: each step buys, for the one placement where it
lowers the objective most, the tonnes one step pays for (the reference price plus the
carrying cost over the horizon), every placement measured on the same draws (common
random numbers) with everything bought so far in place. It stops early when no
placement lowers the objective. The frontier is the objective after each step, on the
search draws (where the choices are made) and on all draws (the same allocation,
confirmed).

The objective is the holders' shortage valued at the reference price [USD], summed
over their materials: its mean over draws (``expected-value``) or its 95th percentile
(``p95``). The expected value is a sum over materials, and where each material's part
has diminishing returns in its stock the greedy allocation is optimal on the step grid
(tests/test_stockpile_budget.py checks it against every allocation of a two-material
toy); the P95 of a sum is not separable, and there the greedy is a heuristic.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from simcore.stockpile.errors import StockpileError
from simcore.stockpile.problem import DEFAULT_CARRY, Problem, setup
from simcore.stockpile.target import OBJECTIVES, objective_interval, objective_value

MAX_STEPS = 1000


@dataclass
class Budget:
    problem: Problem
    objective: str
    budget_usd: float
    steps: int
    allocation: dict = field(default_factory=dict)  # (holder or "pool", k) -> tonnes
    frontier: list[dict] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # the allocation, one row a placement
    stopped: str = ""  # why it stopped before the budget was spent, if it did
    final: dict = field(default_factory=dict)
    runs: int = 0
    draws_run: int = 0
    seconds: float = 0.0

    @property
    def step_usd(self) -> float:
        return self.budget_usd / self.steps

    @property
    def sizes(self) -> dict:
        p = self.problem
        return {key: (t, p.rate(key[0], key[1], t)) for key, t in self.allocation.items()}

    @property
    def kind(self) -> str:
        return "budget"


def placements(problem: Problem) -> list[tuple[str, int]]:
    """The budget's candidates: (holder, material) pairs, or ("pool", material)."""
    if problem.pool:
        return [("pool", k) for k in problem.materials if problem.holders_of(k)]
    return list(problem.pairs)


def material_vector(problem: Problem, k: int, alloc: dict, draws: int) -> np.ndarray:
    """The holders' shortage value of material k per draw [USD], with the tonnes of
    ``alloc`` ((holder or "pool", k) -> t) in place."""
    sizes = {problem.placement(h, kk).id: (t, problem.rate(h, kk, t))
             for (h, kk), t in alloc.items() if kk == k and t > 0}
    out = problem.evaluator.run(k, sizes, draws)
    total = np.zeros(draws)
    for h in problem.holders_of(k):
        total += out.value[h]
    return total


def evaluate_allocation(problem: Problem, objective: str, alloc: dict, draws: int) -> float:
    """The objective of an allocation ((holder or "pool", k) -> t) on ``draws`` draws."""
    total = np.zeros(draws)
    for k in problem.materials:
        if problem.holders_of(k):
            total += material_vector(problem, k, alloc, draws)
    return objective_value(objective, total)


def _check(budget_usd, steps, objective) -> None:
    if isinstance(budget_usd, bool) or not isinstance(budget_usd, int | float) or not (
        math.isfinite(budget_usd) and budget_usd > 0
    ):
        raise StockpileError(
            f"--budget {budget_usd!r}: give the money to spend in USD, a number > 0, "
            "e.g. --budget 2e9"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise StockpileError(f"--steps {steps!r}: give a whole number in [1, {MAX_STEPS}]")
    if objective not in OBJECTIVES:
        raise StockpileError(
            f"--objective {objective!r}: allowed: {', '.join(OBJECTIVES)}"
        )


def _check_tonnes(budget_usd: float, problem, mats) -> None:
    """The whole budget spent on the cheapest material must buy tonnes a scenario may
    hold (a stockpile's tonnes are bounded, simcore.scenario.schema.MAX_TONNES): checked
    here, naming --budget, not on the variant file written later (which a review saw
    named, then deleted)."""
    from simcore.scenario.schema import MAX_TONNES

    if not mats:
        return
    cheapest = min(mats, key=problem.unit_cost)
    tonnes = budget_usd / problem.unit_cost(cheapest)
    if tonnes > MAX_TONNES:
        most = MAX_TONNES * problem.unit_cost(cheapest)
        raise StockpileError(
            f"--budget {budget_usd:.3g}: spent on {problem.material_name(cheapest)} it would "
            f"buy {tonnes:.3g} t, above the {MAX_TONNES:.0e} t a stockpile may hold (no "
            f"real stock is near it); give at most {most:.3g} USD, or check the unit "
            "(USD, not thousands)"
        )


def budget(study, holders, budget_usd, *, objective="expected-value", steps=20,
           materials=None, pool=False, reserved=False, carry=DEFAULT_CARRY,
           max_release_share=None, draws=None, search_draws=None, seed=None, threads=None,
           progress=None, dataset=None) -> Budget:
    """Allocate ``budget_usd`` greedily (module docstring)."""
    from simcore.stockpile.sizing import _Steps

    t0 = time.perf_counter()
    _check(budget_usd, steps, objective)
    problem = setup(study, holders, materials=materials, pool=pool, reserved=reserved,
                    carry=carry, max_release_share=max_release_share, draws=draws,
                    search_draws=search_draws, seed=seed, threads=threads, dataset=dataset)
    b = Budget(problem=problem, objective=objective, budget_usd=float(budget_usd),
               steps=int(steps))
    cands = placements(problem)
    mats = [k for k in problem.materials if problem.holders_of(k)]
    _check_tonnes(budget_usd, problem, mats)
    n = problem.search_draws
    bar = _Steps(progress, steps + 1, runs=lambda: problem.evaluator.runs)
    try:
        vec = {k: material_vector(problem, k, {}, n) for k in mats}
        bar.done()
        alloc: dict = {}
        now = objective_value(objective, _total(vec))
        b.frontier.append(dict(step=0, spent_usd=0.0, objective_search=now, holder="",
                               material="", tonnes_added=0.0))
        cached: dict = {}  # candidate -> its material's vector with one more step
        for step in range(1, steps + 1):
            best, best_gain, best_vec = None, 0.0, None
            for c in cands:
                h, k = c
                add = b.step_usd / problem.unit_cost(k)
                if c not in cached:
                    trial = dict(alloc)
                    trial[c] = alloc.get(c, 0.0) + add
                    cached[c] = material_vector(problem, k, trial, n)
                    bar.tick()
                value = objective_value(objective, _total(vec, k, cached[c]))
                gain = now - value
                b.trace.append(dict(step=step, holder=h, material=problem.material_name(k),
                                    tonnes=alloc.get(c, 0.0) + add, objective=value,
                                    gain_usd=gain, gain_per_usd=gain / b.step_usd,
                                    draws=n, chosen=False))
                if gain > best_gain:
                    best, best_gain, best_vec = c, gain, cached[c]
            if best is None:
                b.stopped = (f"after {step - 1} of {steps} steps no stockpile lowers the "
                             "objective any more on the search draws")
                break
            h, k = best
            add = b.step_usd / problem.unit_cost(k)
            alloc[best] = alloc.get(best, 0.0) + add
            vec[k] = best_vec
            now = objective_value(objective, _total(vec))
            for row in reversed(b.trace):
                if row["step"] == step and (row["holder"], row["material"]) == (
                        h, problem.material_name(k)):
                    row["chosen"] = True
                    break
            for c in [c for c in cached if c[1] == k]:
                del cached[c]
            b.frontier.append(dict(step=step, spent_usd=step * b.step_usd,
                                   objective_search=now, holder=h,
                                   material=problem.material_name(k), tonnes_added=add))
            bar.done(said=f"step {step} of {steps}: {h} {problem.material_name(k)} "
                          f"+{add:,.4g} t")
        b.allocation = alloc
        _confirm(b, mats)
    finally:
        bar.close()
    b.runs = problem.evaluator.runs
    b.draws_run = problem.evaluator.draws_run
    b.seconds = time.perf_counter() - t0
    return b


def _total(vec: dict, k: int | None = None, replaced: np.ndarray | None = None):
    """Per-draw total over materials, added in material order (so that equal
    allocations give equal floats), with material k's vector replaced."""
    total = None
    for kk, v in vec.items():
        part = replaced if kk == k else v
        total = part.copy() if total is None else total + part
    return total


def _confirm(b: Budget, mats: list[int]) -> None:
    """The frontier and the allocation on all draws: each step changes one material, so
    each step is one more run of that material."""
    p = b.problem
    n = p.draws
    state: dict = {}
    vec = {k: material_vector(p, k, {}, n) for k in mats}
    base = _total(vec)
    b.frontier[0]["objective"] = objective_value(b.objective, base)
    lo, hi = objective_interval(b.objective, base)
    b.frontier[0]["ci_low"], b.frontier[0]["ci_high"] = lo, hi
    for row in b.frontier[1:]:
        k = p.tensor.materials.index(row["material"])
        key = (row["holder"], k)
        state[key] = state.get(key, 0.0) + row["tonnes_added"]
        vec[k] = material_vector(p, k, state, n)
        total = _total(vec)
        row["objective"] = objective_value(b.objective, total)
        row["ci_low"], row["ci_high"] = objective_interval(b.objective, total)
    last = b.frontier[-1]
    b.final = dict(objective=last["objective"], ci_low=last["ci_low"], ci_high=last["ci_high"],
                   without=b.frontier[0]["objective"], spent_usd=last["spent_usd"])
    for (h, k), tonnes in sorted(b.allocation.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        price = float(p.tensor.price[k])
        b.rows.append(dict(
            holder=h, material=p.material_name(k), tonnes=tonnes,
            release_t_per_month=p.rate(h, k, tonnes),
            months_of_need=tonnes / p.need(h, k), price_usd_per_t=price,
            cost_usd=tonnes * price, carry_usd_per_year=tonnes * price * p.carry,
            cost_horizon_usd=tonnes * p.unit_cost(k),
            steps=int(sum(1 for r in b.frontier[1:] if (r["holder"], r["material"]) == (
                h, p.material_name(k)))),
        ))
