"""The smallest size that meets a target: a bracketing search over one number.

Pure logic over a callback ``evaluate(size) -> statistic``: it knows nothing of the
engine, so it is tested on plain functions. The statistic is expected to fall (weakly)
as the size grows (more stock, less shortage: docs/model.md §5), and the search uses
that: it brackets the answer by geometric steps, then narrows the bracket by
interpolation on log(size) with bisection steps as a safeguard, until the largest size
that misses the target and the smallest that meets it are within ``rel_tol`` (0.5 %).

Monotonicity is not a theorem of the market (restocking after a release can raise a
later month's shortage), so the search does not trust it blindly: the answer is the
smallest evaluated size above which *every* evaluated size meets the target (the
monotone envelope of what was seen). A size above the answer that misses the target is
recorded as a violation, and the search continues above it. ``check_above`` adds probes
above the answer for that check.

The sizes it probes follow from floating-point arithmetic alone, the same bits on every
platform and Python version: the logs and exps are the kernel's own (``fmathtab``'s,
not the platform's libm), the sums ``math.fsum`` (correctly rounded: Python 3.12
changed what ``sum`` of floats returns).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simcore.kernel.fmathtab import exp_array, log_py

ZERO, OK, UNREACHABLE = "none needed", "ok", "unreachable"


@dataclass(frozen=True)
class Probe:
    size: float
    value: float
    meets: bool
    order: int  # evaluation order


@dataclass
class SearchResult:
    """``status``: ``"ok"`` (``size`` meets, ``below`` misses, ``size <= below * (1 +
    rel_tol)``), ``"none needed"`` (size 0 meets) or ``"unreachable"`` (not even
    ``upper`` meets; ``best`` is the best value seen, at ``best_size``)."""

    status: str
    size: float
    below: float
    value: float
    best: float
    best_size: float
    probes: list[Probe] = field(default_factory=list)
    violations: list[tuple[float, float]] = field(default_factory=list)  # (size, value)

    @property
    def monotone(self) -> bool:
        return not self.violations


class _Cache:
    def __init__(self, evaluate, target):
        self.evaluate = evaluate
        self.target = float(target)
        self.seen: dict[float, Probe] = {}
        self.count = 0

    def __call__(self, x: float) -> Probe:
        x = float(x)
        if x not in self.seen:
            v = float(self.evaluate(x))
            self.seen[x] = Probe(x, v, bool(v <= self.target), self.count)
            self.count += 1
        return self.seen[x]


def find_smallest(
    evaluate: Callable[[float], float],
    target: float,
    *,
    start: float,
    upper: float,
    factor: float = 4.0,
    grow: bool = False,
    rel_tol: float = 0.005,
    check_zero: bool = True,
    check_above: Sequence[float] = (),
    known: Sequence[tuple[float, float]] = (),
    max_probes: int = 200,
) -> SearchResult:
    """The smallest size in [0, upper] whose statistic is at most ``target``.

    ``start``: first size tried (> 0); ``factor``: geometric step of the bracketing (with
    ``grow``, the step squares after each try: 1.05, 1.1, 1.22, 1.49 ... for a warm
    start near the answer). ``known``: (size, value) pairs already evaluated on the same
    draws. ``check_above``: multipliers of the answer probed afterwards for the
    monotonicity check.
    """
    if not (upper > 0 and math.isfinite(upper)):
        raise ValueError(f"upper must be a positive number, got {upper}")
    f = _Cache(evaluate, target)
    for x, v in known:
        f.seen.setdefault(float(x), Probe(float(x), float(v), bool(v <= target), -1))
    if check_zero:
        p0 = f(0.0)
        if p0.meets:
            return _result(f, ZERO, 0.0, 0.0, [])
    start = min(max(float(start), upper * 1e-12), upper)
    lo, hi, status = _bracket(f, start, upper, factor, grow, max_probes)
    if status == UNREACHABLE:
        return _result(f, UNREACHABLE, upper, upper, [])
    violations: list[tuple[float, float]] = []
    while True:
        lo, hi = _narrow(f, lo, hi, rel_tol, upper, max_probes)
        for mult in check_above:
            if f.count < max_probes and hi * mult <= upper:
                f(hi * mult)
        bad = [p for p in f.seen.values() if p.size > hi and not p.meets]
        if not bad:
            return _result(f, OK, hi, lo, violations)
        worst = max(bad, key=lambda p: p.size)
        violations.extend((p.size, p.value) for p in bad if (p.size, p.value) not in violations)
        lo = worst.size
        above = [p.size for p in f.seen.values() if p.size > lo and p.meets]
        if above:
            hi = min(above)
        else:
            lo, hi, status = _bracket(f, lo, upper, factor, grow, max_probes, failing=True)
            if status == UNREACHABLE:
                return _result(f, UNREACHABLE, upper, upper, violations)
        if f.count >= max_probes:
            return _result(f, OK, hi, lo, violations)


def _bracket(f, start, upper, factor, grow, max_probes, failing=False):
    """(lo, hi, status): lo misses (or is 0 after a long descent), hi meets. A size
    already seen on the other side closes the bracket at once; otherwise it steps by
    ``factor`` (squared after each step with ``grow``)."""
    step = factor
    p = f(start)
    if p.meets and not failing:
        hi = start
        while f.count < max_probes:
            below = [q.size for q in f.seen.values() if 0 < q.size < hi and not q.meets]
            if below:
                return max(below), hi, OK
            y = hi / step
            if y <= upper * 1e-12:
                return 0.0, hi, OK
            if not f(y).meets:
                return y, hi, OK
            hi = y
            if grow:
                step = step * step
        return 0.0, hi, OK
    lo = start
    while f.count < max_probes:
        above = [q.size for q in f.seen.values() if q.size > lo and q.meets]
        if above:
            return lo, min(above), OK
        y = min(lo * step, upper)
        if f(y).meets:
            return lo, y, OK
        if y >= upper:
            return lo, upper, UNREACHABLE
        lo = y
        if grow:
            step = step * step
    return lo, upper, UNREACHABLE


def slope_near(probes, size: float, span: float = 1.5) -> float | None:
    """How fast the statistic falls per unit of log(size) near ``size``: the least-squares
    slope of the probes within a factor ``span`` of it (None with fewer than two)."""
    pts = [(log_py(p.size), p.value) for p in probes
           if p.size > 0 and size / span <= p.size <= size * span and math.isfinite(p.value)]
    if len(pts) < 2:
        return None
    mx = math.fsum(x for x, _ in pts) / len(pts)
    my = math.fsum(y for _, y in pts) / len(pts)
    sxx = math.fsum((x - mx) * (x - mx) for x, _ in pts)
    if sxx <= 0:
        return None
    return -math.fsum((x - mx) * (y - my) for x, y in pts) / sxx


def _exp(x: float) -> float:
    """e^x, the kernel's (fmathtab.exp_array): the same bits on every platform."""
    return float(exp_array(np.array([x]))[0])


def predict(size: float, value: float, target: float, slope: float | None,
            limit: float = 2.0) -> float:
    """The size where the statistic would meet ``target`` if it fell at ``slope`` per unit
    log(size) from ``value`` at ``size`` (within a factor ``limit``; ``size`` without a
    usable slope)."""
    if not slope or slope <= 0 or not math.isfinite(value):
        return size
    ratio = _exp((value - target) / slope)
    return size * min(max(ratio, 1.0 / limit), limit)


def _narrow(f, lo, hi, rel_tol, upper, max_probes):
    """Shrink [lo, hi] (lo misses, hi meets) until hi <= lo * (1 + rel_tol)."""
    same_side = 0
    last_side = None
    tiny = upper * 1e-12
    while f.count < max_probes:
        if lo <= 0.0:
            if hi <= tiny:
                break
            x = hi / 4.0
        else:
            if hi <= lo * (1.0 + rel_tol):
                break
            a, b = log_py(lo), log_py(hi)
            t = 0.5
            if same_side < 2:
                va, vb = f.seen[lo].value, f.seen[hi].value
                if math.isfinite(va) and math.isfinite(vb) and va > vb:
                    t = min(max((va - f.target) / (va - vb), 0.0), 1.0)
            x = _exp(a + t * (b - a))
            # closing moves: a probe just inside either end decides the last step
            if x >= hi / (1.0 + rel_tol):
                x = hi / (1.0 + rel_tol * 0.999)
            elif x <= lo * (1.0 + rel_tol):
                x = lo * (1.0 + rel_tol * 0.999)
            x = min(max(x, lo * (1.0 + 1e-9)), hi / (1.0 + 1e-9))
        p = f(x)
        side = "hi" if p.meets else "lo"
        if p.meets:
            hi = x
        else:
            lo = x
        same_side = same_side + 1 if side == last_side else 0
        last_side = side
    return lo, hi


def _result(f, status, size, below, violations) -> SearchResult:
    probes = sorted((p for p in f.seen.values() if p.order >= 0), key=lambda p: p.order)
    seen = list(f.seen.values())
    best = min(seen, key=lambda p: (p.value, -p.size)) if seen else Probe(0, math.nan, False, 0)
    value = f.seen[size].value if size in f.seen else math.nan
    return SearchResult(status, float(size), float(below), value, best.value, best.size,
                        probes, list(violations))
