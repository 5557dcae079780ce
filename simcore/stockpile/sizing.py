"""``size``: the smallest stockpile of each (holder, material) that meets a target.

For each holder and material, on common random numbers (the same draws for every
candidate, docs/model.md §6):

1. a search on ``search_draws`` draws brackets and narrows (to 2 %) the stock [t] at
   which the holder's statistic meets the target (simcore/stockpile/search.py),
   releasing up to the whole stock in a month (or ``--max-release-share`` of the
   holder's need);
2. the same search on all ``draws`` draws, started where the first one's slope points,
   confirms it to 0.5 %: the least stock;
3. the release rate [t/month]: the slowest with which a stock ``RATE_SLACK`` (0.5 %)
   above the least one still meets the target (at the least stock the target binds and
   the rate would sit where more rate no longer helps, which the draws cannot pin down);
4. the least stock with that rate, to 0.5 % (a slower release can make a smaller stock
   do): the recommendation, which meets the target while 0.5 % less stock does not;
5. the outcome at the recommendation on all draws, with the Monte Carlo interval of the
   statistic (order statistics), and what the stock avoids for every other holder
   (spill-over: a stock that sells into its price zone protects its neighbours).

National stockpiles are sized each on its own (the holder acting alone). ``pool``: one
stockpile shared by every holder (split by need share, like a scenario's ``tonnes``),
the smallest that meets the target for every holder. docs/stockpile.md says why and
what is compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simcore.limits import SHARE_DUST
from simcore.stockpile.errors import StockpileError
from simcore.stockpile.problem import DEFAULT_CARRY, Problem, setup
from simcore.stockpile.search import OK, UNREACHABLE, ZERO, find_smallest, predict, slope_near
from simcore.stockpile.target import Target, parse_target

REL_TOL = 0.005  # the confirming search (all draws) narrows each size to 0.5 %
SEARCH_TOL = 0.02  # the narrowing search (search draws) to 2 %: it only finds the start
RATE_SLACK = 0.005  # the recommended stock is 0.5 % above the least, to free the rate
CHECK_ABOVE = (2.0,)  # search-draw probes above an answer, for the monotonicity check


@dataclass
class Sizing:
    """What ``size`` found; ``rows`` (the recommendation), ``trace`` (every evaluation),
    ``spillover``, ``protection`` are lists of dicts (tables), ``sizes`` the variant's
    stockpiles: (holder or "pool", material index) -> (tonnes, t/month)."""

    problem: Problem
    target: Target
    rows: list[dict] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)
    spillover: list[dict] = field(default_factory=list)
    protection: list[dict] = field(default_factory=list)
    sizes: dict = field(default_factory=dict)
    kind: str = "national"  # the variant holds national stockpiles, or the pools
    runs: int = 0
    draws_run: int = 0
    seconds: float = 0.0
    bases: dict = field(default_factory=dict, repr=False)  # (k, draws) -> Outcome

    @property
    def unreachable(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == UNREACHABLE]


class _Pair:
    """The evaluations of one placement (a holder's stockpile of a material, or the
    pool): statistics at sizes, per draw count, traced."""

    def __init__(self, sizing: Sizing, holder: str, k: int, steps):
        self.s = sizing
        self.p = sizing.problem
        self.holder = holder
        self.k = k
        self.steps = steps
        self.judged = [h for h in self.p.holders_of(k)] if holder == "pool" else [holder]
        # (phase, tonnes, rate, shortage per draw) of the all-draw runs, for _draw_check
        self.full_short: list[tuple[str, float, float, np.ndarray]] = []

    def outcome(self, tonnes: float, per_month: float, draws: int):
        pl = self.p.placement(self.holder, self.k)
        return self.p.evaluator.run(self.k, {pl.id: (tonnes, per_month)}, draws)

    def stat(self, out) -> float:
        t = self.s.target
        return max(t.statistic(out.values(t.metric, h)) for h in self.judged)

    def evaluate(self, tonnes: float, per_month: float, draws: int, phase: str) -> float:
        if tonnes <= 0:
            out = base(self.s, self.k, draws)
        else:
            out = self.outcome(tonnes, per_month, draws)
        v = self.stat(out)
        self.s.trace.append(dict(
            kind="pooled" if self.holder == "pool" else "national", holder=self.holder,
            material=self.p.material_name(self.k), phase=phase, draws=int(draws),
            tonnes=float(tonnes), release_t_per_month=float(per_month), statistic=v,
            meets=bool(self.s.target.meets(v)), cost_usd=float(tonnes) * self.p.unit_cost(self.k),
        ))
        if draws == self.p.draws and phase in ("full", "rate-full", "final"):
            total = np.zeros(draws)
            for h in self.judged:
                total += out.short[h]
            self.full_short.append((phase, tonnes, per_month, total))
        self.steps.tick()
        return v

    def tonnes_fn(self, draws: int, phase: str):
        return lambda t: self.evaluate(t, self.p.rate(self.holder, self.k, t), draws, phase)


def base(sizing: Sizing, k: int, draws: int):
    """The material's outcome without any placement (kept for the sizing)."""
    key = (k, draws)
    if key not in sizing.bases:
        sizing.bases[key] = sizing.problem.evaluator.run(k, {}, draws)
    return sizing.bases[key]


def _reach(pair: _Pair) -> tuple[float, float] | None:
    """On the search draws: None when no stock is needed, else (upper bound, its
    statistic): the best any stock can do."""
    p = pair.p
    if pair.s.target.meets(pair.stat(base(pair.s, pair.k, p.search_draws))):
        return None
    upper = p.upper(pair.holder, pair.k)
    return upper, pair.evaluate(upper, p.rate(pair.holder, pair.k, upper), p.search_draws,
                                "search")


def _search(pair: _Pair, warm: float | None, reach) -> dict:
    """Steps 1-4 of the module docstring for one placement."""
    p, t = pair.p, pair.s.target
    holder, k = pair.holder, pair.k
    need = p.need(holder, k)
    upper = p.upper(holder, k)
    start = warm if warm else 3.0 * need
    coarse = find_smallest(pair.tonnes_fn(p.search_draws, "search"), t.value, start=start,
                           upper=upper, factor=1.1 if warm else 4.0, grow=bool(warm),
                           rel_tol=SEARCH_TOL, check_above=CHECK_ABOVE,
                           known=[reach] if reach else ())
    res = dict(search=coarse)
    if coarse.status == UNREACHABLE:
        full_best = pair.evaluate(upper, p.rate(holder, k, upper), p.draws, "full")
        res.update(status=UNREACHABLE, tonnes=math.nan, rate=math.nan,
                   best=min(full_best, coarse.best), best_at=upper)
        return res
    f_full = pair.tonnes_fn(p.draws, "full")
    if coarse.status == OK:  # start where the search's slope says the full draws meet
        known = [(coarse.size, f_full(coarse.size))]
        start = predict(coarse.size, known[0][1], t.value,
                        slope_near(coarse.probes, coarse.size))
        full = find_smallest(f_full, t.value, start=start, upper=upper, factor=1.005,
                             grow=True, rel_tol=REL_TOL, known=known)
    else:
        full = find_smallest(f_full, t.value, start=0.25 * need, upper=upper, factor=4.0,
                             rel_tol=REL_TOL)
    res["full"] = full
    if full.status == UNREACHABLE:
        res.update(status=UNREACHABLE, tonnes=math.nan, rate=math.nan, best=full.best,
                   best_at=full.best_size)
        return res
    if full.status == ZERO:
        res.update(status=ZERO, tonnes=0.0, rate=0.0)
        return res
    least = full.size
    # the release rate: the slowest with which a stock RATE_SLACK above the least one
    # still meets the target (at the least stock itself the target binds and the rate
    # would sit where more rate no longer helps, a number the draws cannot pin down)
    tonnes = least * (1.0 + RATE_SLACK)
    top = p.rate(holder, k, tonnes)
    v_top = pair.evaluate(tonnes, top, p.draws, "rate-full")
    if not t.meets(v_top):  # more stock did worse: keep the least stock and its rate
        res.update(status=OK, tonnes=least, least=least, rate=p.rate(holder, k, least),
                   below=full.below)
        return res
    f_rate = lambda r: pair.evaluate(tonnes, r, p.draws, "rate-full")  # noqa: E731
    known = [(top, v_top)]
    start, factor = top / 2.0, 2.0
    if coarse.status == OK:  # first on the search draws, where the search's stock meets
        c_t = coarse.size * (1.0 + RATE_SLACK)
        c_top = p.rate(holder, k, c_t)
        c_rate = find_smallest(
            lambda r: pair.evaluate(c_t, r, p.search_draws, "rate-search"), t.value,
            start=c_top / 2.0, upper=c_top, factor=2.0, rel_tol=SEARCH_TOL,
            check_zero=False)
        if c_rate.status == OK:
            guess = min(c_rate.size * tonnes / c_t, top)
            known.append((guess, f_rate(guess)))
            start = min(predict(guess, known[-1][1], t.value,
                                slope_near(c_rate.probes, c_rate.size)), top)
            factor = 1.005
    rate = find_smallest(f_rate, t.value, start=start, upper=top, factor=factor, grow=True,
                         rel_tol=REL_TOL, check_zero=False, known=known)
    res["rate_search"] = rate
    per_month = rate.size if rate.status == OK else top
    # the least stock with that release rate (a slower release can use a stock better:
    # less of it goes into buyers' restocking at a price kept higher, docs/stockpile.md)
    final = find_smallest(
        lambda x: pair.evaluate(x, min(per_month, x), p.draws, "final"), t.value,
        start=tonnes, upper=tonnes, factor=1.005, grow=True, rel_tol=REL_TOL,
        check_zero=False, known=[(tonnes, rate.value if rate.status == OK else v_top)])
    res["final_search"] = final
    res.update(status=OK, tonnes=final.size, least=least, rate=min(per_month, final.size),
               below=final.below)
    return res


def _draw_check(pair: _Pair) -> tuple[int, float]:
    """Draws in which the holders' shortage rose with more stock (the all-draw
    evaluations of the stock, by size; those of the release rate at the answer, by
    rate), and the largest such rise [t]."""
    need = pair.p.need(pair.holder, pair.k) * pair.p.horizon
    tol = 1e-6 * need
    bad = np.zeros(pair.p.draws, dtype=bool)
    worst = 0.0
    for phase, key in (("full", 1), ("rate-full", 2), ("final", 1)):
        pts = sorted((x for x in pair.full_short if x[0] == phase), key=lambda x: x[key])
        for a, b in zip(pts[:-1], pts[1:], strict=False):
            rise = b[3] - a[3]
            bad |= rise > tol
            worst = max(worst, float(rise.max()))
    return int(bad.sum()), worst if bad.any() else 0.0


def _row(s: Sizing, pair: _Pair, res: dict, final) -> dict:
    p, t = s.problem, s.target
    holder, k = pair.holder, pair.k
    need = p.need(holder, k)
    price = float(p.tensor.price[k])
    tonnes = res.get("tonnes", math.nan)
    least = res.get("least", tonnes)
    b = base(s, k, p.draws)
    row = dict(
        kind="pooled" if holder == "pool" else "national", holder=holder,
        countries=" ".join(pair.judged) if holder == "pool" else
        " ".join(p.holder(holder).codes),
        material=p.material_name(k), status=res["status"], tonnes=tonnes,
        release_t_per_month=res.get("rate", math.nan), least_tonnes=least,
        months_of_need=tonnes / need if need > 0 else math.nan,
        need_t_per_month=need, price_usd_per_t=price,
        cost_usd=tonnes * price, carry_usd_per_year=tonnes * price * p.carry,
        cost_horizon_usd=tonnes * p.unit_cost(k),
        metric=t.metric, quantile=t.quantile, target=t.value,
        statistic=math.nan, ci_low=math.nan, ci_high=math.nan,
        statistic_without=pair.stat(b), best_reachable=res.get("best", math.nan),
        best_reachable_t=res.get("best_at", math.nan),
        below_t=math.nan, draws=p.draws, search_draws=p.search_draws,
        monotone=True, nonmonotone_draws=0, nonmonotone_max_t=0.0,
    )
    if final is not None:
        vals = [final.values(t.metric, h) for h in pair.judged]
        stats = [t.statistic(v) for v in vals]
        worst = int(np.argmax(stats))
        row["statistic"] = stats[worst]
        row["ci_low"], row["ci_high"] = t.interval(vals[worst])
    full = res.get("full")
    if res["status"] == OK:
        row["below_t"] = res.get("below", full.below if full is not None else math.nan)
    searches = [res.get(x) for x in ("search", "full", "rate_search", "final_search")]
    row["monotone"] = all(r is None or r.monotone for r in searches)
    row["nonmonotone_draws"], row["nonmonotone_max_t"] = _draw_check(pair)
    return row


def _spill(s: Sizing, protector: str, k: int, final) -> None:
    p = s.problem
    b = base(s, k, p.draws)
    for g in p.holders_of(k) + ["others"]:
        before = b.others if g == "others" else b.short[g]
        after = final.others if g == "others" else final.short[g]
        avoided = float(np.mean(before - after))
        s.spillover.append(dict(
            material=p.material_name(k), protector=protector, protected=g,
            avoided_t=avoided, shortage_without_t=float(np.mean(before)),
            self=(g == protector),
        ))


def _protect(s: Sizing, scheme: str, k: int, out) -> None:
    t = s.target
    for h in s.problem.holders_of(k):
        v = out.values(t.metric, h)
        lo, hi = t.interval(v)
        s.protection.append(dict(
            material=s.problem.material_name(k), scheme=scheme, holder=h,
            statistic=t.statistic(v), ci_low=lo, ci_high=hi, meets=t.meets(t.statistic(v)),
            mean_shortage_t=float(np.mean(out.short[h])),
        ))


def size(study, holders, target, *, materials=None, pool=False, reserved=False,
         carry=DEFAULT_CARRY, max_release_share=None, draws=None, search_draws=None,
         seed=None, threads=None, progress=None, dataset=None) -> Sizing:
    """Size the holders' stockpiles of ``materials`` for ``target`` (docs/stockpile.md).

    Raises ``StockpileError`` for bad options, and when some (holder, material) cannot
    reach the target with any stock (naming the best reachable value).
    """
    import time

    t0 = time.perf_counter()
    problem = setup(study, holders, materials=materials, pool=pool, reserved=reserved,
                    carry=carry, max_release_share=max_release_share, draws=draws,
                    search_draws=search_draws, seed=seed, threads=threads, dataset=dataset)
    tgt = parse_target(target, problem.horizon)
    s = Sizing(problem=problem, target=tgt, kind="pooled" if pool else "national")
    placements = list(problem.pairs) + (
        [("pool", k) for k in problem.materials if problem.holders_of(k)] if pool else [])
    steps = _Steps(progress, (1 + SEARCH_UNITS) * len(placements),
                   runs=lambda: problem.evaluator.runs)
    try:
        # first what no stock can do, so that an unreachable target is refused early
        reach = {}
        for i, (h, k) in enumerate(placements, 1):
            steps.working(f"{h} {problem.material_name(k)}: the most any stock does")
            reach[(h, k)] = _reach(_Pair(s, h, k, steps))
            steps.done(said=f"what stock can do, {len(placements)} placements checked"
                       if i == len(placements) else None)
        for (h, k), r in reach.items():
            if r is not None and not tgt.meets(r[1]):
                s.rows.append(dict(kind="pooled" if h == "pool" else "national", holder=h,
                                   material=problem.material_name(k), status=UNREACHABLE,
                                   best_reachable=r[1], best_reachable_t=r[0]))
        for k in problem.materials:
            _check_reachable(s, k, "search draws")
        national: dict = {}
        for k in problem.materials:
            warm = None
            for h in problem.holders_of(k):
                pair = _Pair(s, h, k, steps)
                steps.working(f"{h} {problem.material_name(k)}")
                res = _search(pair, warm, reach[(h, k)])
                final = None
                if res["status"] == OK:
                    warm = res["tonnes"]
                    final = pair.outcome(res["tonnes"], res["rate"], problem.draws)
                    _spill(s, h, k, final)
                elif res["status"] == ZERO:
                    final = base(s, k, problem.draws)
                s.rows.append(_row(s, pair, res, final))
                national[(h, k)] = (res.get("tonnes", 0.0), res.get("rate", 0.0))
                steps.done(SEARCH_UNITS, _said(h, problem.material_name(k), res))
            _check_reachable(s, k)
            _protect(s, "none", k, base(s, k, problem.draws))
            sized = {problem.national[(h, k)].id: national[(h, k)]
                     for h in problem.holders_of(k) if national[(h, k)][0] > 0}
            together = problem.evaluator.run(k, sized, problem.draws) if sized else base(
                s, k, problem.draws)
            _protect(s, "national", k, together)
            for r in s.rows:
                if r["kind"] == "national" and r["material"] == problem.material_name(k):
                    v = together.values(tgt.metric, r["holder"])
                    r["statistic_all_national"] = tgt.statistic(v)
            if pool and problem.holders_of(k):
                pair = _Pair(s, "pool", k, steps)
                steps.working(f"pool {problem.material_name(k)}")
                warm = max((national[(h, k)][0] for h in problem.holders_of(k)), default=0.0)
                res = _search(pair, warm if warm > 0 else None, reach[("pool", k)])
                final = None
                if res["status"] == OK:
                    final = pair.outcome(res["tonnes"], res["rate"], problem.draws)
                    _spill(s, "pool", k, final)
                    _protect(s, "pooled", k, final)
                elif res["status"] == ZERO:
                    final = base(s, k, problem.draws)
                    _protect(s, "pooled", k, final)
                row = _row(s, pair, res, final)
                row["statistic_all_national"] = math.nan
                s.rows.append(row)
                steps.done(SEARCH_UNITS, _said("pool", problem.material_name(k), res))
                _check_reachable(s, k)
                if res["status"] in (OK, ZERO):
                    s.sizes[("pool", k)] = (res["tonnes"], res["rate"])
            else:
                for h in problem.holders_of(k):
                    s.sizes[(h, k)] = national[(h, k)]
    finally:
        steps.close()
        s.bases.clear()
    s.runs = problem.evaluator.runs
    s.draws_run = problem.evaluator.draws_run
    s.seconds = time.perf_counter() - t0
    return s


def _check_reachable(s: Sizing, k: int, where: str = "draws") -> None:
    """Refuse as soon as a material has a (holder, material) no stock can protect."""
    bad = [r for r in s.unreachable if r["material"] == s.problem.material_name(k)]
    if not bad:
        return
    t = s.target
    lines = []
    for r in bad:
        who = "the pool" if r["holder"] == "pool" else r["holder"]
        lines.append(
            f"{who} {r['material']}: the best reachable {t.label} ({where}) is "
            f"{_fmt(t, r['best_reachable'], t.value)} (with {r['best_reachable_t']:,.4g} t), "
            f"above the target {_fmt(t, t.value, r['best_reachable'])}"
        )
    fix = ["relax --target", "leave the material out (--materials)"]
    if t.metric == "share" and t.value <= 0.0 and all(
            r["best_reachable"] < SHARE_DUST for r in bad):
        # what is left is the accounting's rounding (below a millionth of need, which
        # compare and summarize call no shortage), not a shortage a stock could cover
        fix.insert(0, f"aim just above it, e.g. --target '{_target_above_zero(t)}' (what no "
                      "stock removes is rounding, below a millionth of need)")
    if s.problem.max_release_share is not None:
        fix.insert(0, "allow a faster release (--max-release-share)")
    if s.problem.reserved and t.metric == "price":
        fix.insert(0, "drop --reserved (a reserved stock never lowers a price)")
    raise StockpileError(
        f"--target {t.text}: no finite stockpile meets it within the {s.problem.horizon}-"
        "month horizon for\n  " + "\n  ".join(lines) + "\n" + "; or ".join(fix)
    )


def _target_above_zero(t: Target) -> str:
    """The target's text with its zero replaced by 0.01 % (the grammar has only <=)."""
    return f"{t.text.split('<=')[0].strip()}<=0.01%"


def _fmt(t: Target, v: float, other: float | None = None) -> str:
    """v as the target's metric; with ``other``, with as many digits as it takes to tell
    the two apart (a best reachable 0.004 % above a target of 0 % must not read 0.00 %),
    and in scientific notation where eight decimals do not (3e-12 %: it read as 0 % above
    a target of 0 %)."""
    def text(x: float, digits: int) -> str:
        return f"{100 * x:.{digits}f} %" if t.metric == "share" else f"{x:.{digits + 1}g}"

    for digits in range(2, 9):
        if other is None or text(v, digits) != text(other, digits):
            return text(v, digits)
    return f"{100 * v:.2g} %" if t.metric == "share" else f"{v:.3g}"


def _said(holder: str, material: str, res: dict) -> str:
    """A finished placement, for a log: ``USA gallium: 12.2 t``."""
    if res["status"] == OK:
        t = res["tonnes"]
        return f"{holder} {material}: {t:,.0f} t" if t >= 100 else \
            f"{holder} {material}: {t:.3g} t"
    return f"{holder} {material}: {res['status']}"


SEARCH_UNITS = 12  # a placement's search takes about 12 times its first check's runs
# (about 25 kernel runs against 2; benchmarks/README.md, "bench_stockpile"): the bar's
# weights, so that its time left holds through both phases


class _Steps:
    """Progress of the searches: a bar on stderr (share done, what is being sized,
    kernel runs so far, time left), or off a terminal a line per finished placement;
    ``progress=False`` silences it, ``None`` shows the bar on a terminal only."""

    def __init__(self, progress, total: int, runs=None):
        self.bar = None
        self.evals = 0
        self.doing = ""
        # kernel runs so far (``runs()``: the evaluator's count, which leaves out the
        # evaluations served without a run), as the closing line counts them
        self.runs = runs if runs is not None else (lambda: self.evals)
        if progress is False:
            return
        from simcore.progress import Progress

        steps = self

        class Bar(Progress):
            def line(self, now=None):
                text = super().line(now)
                bar = text.split("] ", 1)[0] + "]"
                tail = text.rsplit("  ", 1)[-1]
                share = 100.0 * self.shown / self.total if self.total else 100.0
                doing = f"  {steps.doing}" if steps.doing else ""
                return f"{bar} {share:3.0f}%{doing}  {steps.runs():,} runs  {tail}"

        self.bar = Bar(total, label="stockpile",
                       enabled=None if progress is None else bool(progress))
        self.bar.start("loading the simulator")
        self.t0 = self.bar._start

    def working(self, text: str) -> None:
        """What is being done now (``USA gallium``), shown in the bar."""
        self.doing = text
        if self.bar is not None:
            self.bar.reach(self.bar.shown)

    def tick(self) -> None:
        self.evals += 1
        if self.bar is not None:
            self.bar.reach(self.bar.shown)

    def done(self, units: int = 1, said: str | None = None) -> None:
        """``units`` of the total done; ``said``: a line off a terminal (a log shows
        each placement as it finishes, where a bar would not be drawn)."""
        if self.bar is None:
            return
        self.bar.update(units)
        if said and not self.bar.enabled:
            import time

            from simcore.progress import _clock

            self.bar.note(f"stockpile: {said} ({self.runs():,} runs, "
                          f"{_clock(time.perf_counter() - self.t0)})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
