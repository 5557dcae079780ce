"""Targets and objectives of stockpile sizing: what "protected" means, as numbers.

A *target* bounds a quantile over draws of one holder's outcome at a material's last
stage (docs/stockpile.md, "Targets"):

    TARGET := "p" Q [ "(" METRIC ")" ] "<=" VALUE [ "%" ]
    METRIC := share | months | price          (default: share)

- ``share``: the holder's horizon shortage share, Σ shortage_t / Σ need_t over its
  member countries (``shortage_t`` of market version 2: the consumption shortfall not
  covered by stocks or substitution);
- ``months``: months short (shortage above 1 % of monthly need), need-weighted over the
  holder's countries;
- ``price``: the peak price index of the holder's price zone (the highest of its
  countries' zones).

Statistics are computed from the values the results tables store (float32), so that a
results folder reproduces them exactly. Quantiles interpolate linearly between order
statistics (numpy's default, as ``summary.parquet``); their Monte Carlo error is the
distribution-free 95 % interval between two order statistics (``quantile_interval``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from simcore.stockpile.errors import StockpileError

METRICS = {
    "share": "share",
    "shortage_share": "share",
    "months": "months",
    "months_short": "months",
    "price": "price",
    "price_peak": "price",
}
METRIC_LABEL = {
    "share": "horizon shortage share",
    "months": "months short",
    "price": "peak price index",
}
_GRAMMAR = re.compile(
    r"^\s*p\s*(?P<q>\d+(?:\.\d+)?)\s*(?:\(\s*(?P<metric>[a-z_]+)\s*\))?\s*<=\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<pct>%)?\s*$",
    re.IGNORECASE,
)
_EXAMPLES = (
    "e.g. 'p95<=0.05' (P95 of the horizon shortage share at most 5 %), "
    "'p90(months)<=2' or 'p95(price)<=1.5'"
)


@dataclass(frozen=True)
class Target:
    """``quantile`` (in (0, 1)) of ``metric`` over draws must be <= ``value``."""

    quantile: float
    metric: str  # share | months | price
    value: float
    text: str

    @property
    def label(self) -> str:
        return f"P{_pc(self.quantile)} of the {METRIC_LABEL[self.metric]}"

    def meets(self, stat: float) -> bool:
        return bool(stat <= self.value)

    def statistic(self, values: np.ndarray) -> float:
        return quantile(values, self.quantile)

    def interval(self, values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
        return quantile_interval(values, self.quantile, level)


def _pc(q: float) -> str:
    text = f"{100 * q:.4f}".rstrip("0").rstrip(".")
    return text


def parse_target(text: str, horizon: int | None = None, option: str = "--target") -> Target:
    """Parse ``text`` (see the module docstring); raise ``StockpileError`` naming
    ``option`` and the fix."""
    if not isinstance(text, str):
        raise StockpileError(f"{option}: expected text, got {text!r}; {_EXAMPLES}")
    m = _GRAMMAR.match(text)
    if m is None:
        raise StockpileError(
            f"{option} {text!r}: not a target; write pQ[(METRIC)]<=VALUE with METRIC one "
            f"of share, months, price (default share), {_EXAMPLES}"
        )
    q = float(m["q"])
    if not 0 < q < 100:
        raise StockpileError(
            f"{option} {text!r}: quantile p{m['q']} is outside (0, 100); "
            f"use e.g. p95 or p99.5"
        )
    raw_metric = (m["metric"] or "share").lower()
    metric = METRICS.get(raw_metric)
    if metric is None:
        raise StockpileError(
            f"{option} {text!r}: unknown metric {raw_metric!r}; allowed: share, months, "
            f"price ({_EXAMPLES})"
        )
    value = float(m["value"])
    if m["pct"]:
        if metric != "share":
            raise StockpileError(
                f"{option} {text!r}: '%' applies to the shortage share only; "
                f"give {metric} as a plain number"
            )
        value /= 100.0
    if not math.isfinite(value) or value < 0:
        raise StockpileError(f"{option} {text!r}: the bound must be a number >= 0")
    if metric == "share" and value >= 1:
        raise StockpileError(
            f"{option} {text!r}: a shortage share is at most 1, so {value:g} asks for "
            f"nothing; give a share below 1 (5 % is 0.05 or 5%)"
        )
    if metric == "price" and value < 1:
        raise StockpileError(
            f"{option} {text!r}: a stockpile releases only above the reference price "
            f"(docs/model.md [M10]), so no stockpile brings a peak price index below 1; "
            f"give a bound of 1 or more (e.g. p95(price)<=1.5)"
        )
    if metric == "months" and horizon is not None and value >= horizon:
        raise StockpileError(
            f"{option} {text!r}: the horizon has {horizon} months, so at most {value:g} "
            f"months short asks for nothing; give fewer months"
        )
    return Target(quantile=q / 100.0, metric=metric, value=value, text=text.strip())


# --- statistics (pure functions, float64) ---------------------------------------------------


def quantile(values: np.ndarray, q: float) -> float:
    """Quantile ``q`` of ``values``: linear interpolation between order statistics
    (numpy's default method, written out so the number does not depend on numpy)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.shape[0]
    if n == 0:
        return float("nan")
    h = (n - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, n - 1)
    return float(x[lo] + (x[hi] - x[lo]) * (h - lo))


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """P(B <= j) for B ~ Binomial(n, p), j = 0 .. n (exact, in logs)."""
    j = np.arange(n + 1, dtype=np.float64)
    if p <= 0.0:
        return np.ones(n + 1)
    if p >= 1.0:
        out = np.zeros(n + 1)
        out[-1] = 1.0
        return out
    lgam = np.array([math.lgamma(v + 1.0) for v in range(n + 1)])
    logpmf = lgam[n] - lgam - lgam[::-1] + j * math.log(p) + (n - j) * math.log1p(-p)
    pmf = np.exp(logpmf - logpmf.max())
    pmf /= pmf.sum()
    return np.cumsum(pmf)


_EXACT_UP_TO = 200_000  # draws; beyond, the normal approximation of the binomial


def order_ranks(n: int, q: float, level: float = 0.95) -> tuple[int, int]:
    """1-based ranks (l, u) of the order statistics whose interval [x_(l), x_(u)] holds
    the q-quantile with probability >= ``level`` (l >= 1, u <= n; at the ends of small
    samples the coverage is lower, and the ranks are the extreme ones)."""
    alpha = (1.0 - level) / 2.0
    if n <= _EXACT_UP_TO:
        cdf = binomial_cdf(n, q)
        # P(x_(l) <= quantile) = P(B >= l); choose the largest l with P(B <= l-1) <= alpha
        # and the smallest u with P(B <= u-1) >= 1 - alpha
        lo = int(np.searchsorted(cdf, alpha, side="right"))  # first j with cdf[j] > alpha
        hi = int(np.searchsorted(cdf, 1.0 - alpha, side="left"))  # first j cdf >= 1-alpha
        l_rank, u_rank = lo, hi + 1
    else:
        z = _norm_ppf(1.0 - alpha)
        sd = math.sqrt(n * q * (1.0 - q))
        l_rank = int(math.floor(n * q - z * sd))
        u_rank = int(math.ceil(n * q + z * sd)) + 1
    return max(1, min(n, l_rank)), max(1, min(n, u_rank))


MIN_TAIL_DRAWS = 10  # draws beyond a target's quantile below which the tools warn


def upper_open(n: int, q: float, level: float = 0.95) -> bool:
    """Whether the ``level`` interval of the q-quantile of n draws has no upper bound:
    the order statistic it needs lies beyond the largest draw (order_ranks then gives
    the largest draw, which bounds nothing)."""
    if n <= 0:
        return True
    alpha = (1.0 - level) / 2.0
    if n <= _EXACT_UP_TO:
        return binomial_cdf(n, q)[n - 1] < 1.0 - alpha  # P(B <= n-1): x_(n) covers
    z = _norm_ppf(1.0 - alpha)
    return math.ceil(n * q + z * math.sqrt(n * q * (1.0 - q))) + 1 > n


def few_draws_note(n: int, q: float, label: str) -> str | None:
    """A warning where fewer than MIN_TAIL_DRAWS of n draws lie beyond the quantile."""
    tail = round(n * (1.0 - q), 9)  # p99.9 of 10,000 draws: 10, not 9.999999999999998
    if tail >= MIN_TAIL_DRAWS:
        return None
    enough = math.ceil(round(MIN_TAIL_DRAWS / (1.0 - q), 6))
    many = f"{tail:.3g}"
    return (f"{label} at {n:,} draws rests on {many} draw{'s' * (many != '1')} beyond "
            f"it: the stockpile is sized on the few worst draws"
            + (", and the 95% interval has no upper bound" if upper_open(n, q) else "")
            + f"; --draws {enough:,} or more puts {MIN_TAIL_DRAWS} draws beyond it")


def quantile_interval(values: np.ndarray, q: float, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free ``level`` interval of the q-quantile from two order statistics
    (binomial ranks): the Monte Carlo error of a quantile estimated from these draws."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    lo, hi = order_ranks(n, q, level)
    return float(x[lo - 1]), float(x[hi - 1])


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Normal interval of a mean (mean ± z standard errors)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    m = float(np.mean(x))
    if n == 1:
        return m, m
    z = _norm_ppf(1.0 - (1.0 - level) / 2.0)
    se = float(np.std(x, ddof=1)) / math.sqrt(n)
    return m - z * se, m + z * se


def _norm_ppf(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - lo:
        return -_norm_ppf(1 - p)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


# --- budget objectives ----------------------------------------------------------------------

OBJECTIVES = {
    "expected-value": "expected value of the holders' shortage [USD]",
    "p95": "P95 over draws of the holders' total shortage value [USD]",
}


def objective_value(name: str, total_usd: np.ndarray) -> float:
    """The budget objective of per-draw totals (the holders' shortage value [USD])."""
    if name == "expected-value":
        return float(np.mean(np.asarray(total_usd, dtype=np.float64)))
    if name == "p95":
        return quantile(total_usd, 0.95)
    raise StockpileError(f"--objective {name!r}: allowed: {', '.join(OBJECTIVES)}")


def objective_interval(name: str, total_usd: np.ndarray) -> tuple[float, float]:
    if name == "expected-value":
        return mean_interval(total_usd)
    return quantile_interval(total_usd, 0.95)
