"""Distributions in scenario files: parsing, checks, and compilation to parameter rows.

A distribution field takes a plain number or a table ``{ dist = "<name>", ... }`` with the
parameters declared in ``schema.DISTRIBUTIONS``. Checks cover the parameters themselves
(min <= mode <= max, a, b > 0, weights >= 0 summing > 0 …) and the field's own range: every
value the distribution can take must be allowed (a ``uniform(0.9, 1.2)`` severity is an
error). Compilation gives the ``var_dist`` code and ``var_par`` row of
``simcore.compiled``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from simcore.compiled import (
    DIST_BETA,
    DIST_CONST,
    DIST_DISCRETE,
    DIST_LOGNORMAL,
    DIST_PERT,
    DIST_TRIANGULAR,
    DIST_UNIFORM,
)
from simcore.errors import suggest
from simcore.scenario.problems import Loc, Problems
from simcore.scenario.schema import DISTRIBUTIONS, Field


@dataclass(frozen=True)
class Dist:
    """A validated distribution. ``params`` holds floats; ``values``/``weights`` only
    for ``discrete``."""

    kind: str
    params: tuple[tuple[str, float], ...] = ()
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    def __getitem__(self, name: str) -> float:
        return dict(self.params)[name]

    def get(self, name: str, default: float | None = None) -> float | None:
        return dict(self.params).get(name, default)

    @classmethod
    def const(cls, value: float) -> Dist:
        return cls("const", (("value", float(value)),))

    def support(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can take."""
        k = self.kind
        if k == "const":
            return self["value"], self["value"]
        if k in ("uniform", "triangular", "pert"):
            return self["min"], self["max"]
        if k == "beta":
            return self.get("min", 0.0), self.get("max", 1.0)
        if k == "lognormal":
            return self.get("min", 0.0), self.get("max", math.inf)
        return min(self.values), max(self.values)

    def mean(self) -> float:
        """Mean value (of the unclipped distribution for a clipped lognormal)."""
        k = self.kind
        if k == "const":
            return self["value"]
        if k == "uniform":
            return (self["min"] + self["max"]) / 2
        if k == "triangular":
            return (self["min"] + self["mode"] + self["max"]) / 3
        if k == "pert":
            lam = self.get("lambda", 4.0)
            return (self["min"] + lam * self["mode"] + self["max"]) / (lam + 2)
        if k == "beta":
            lo, hi = self.get("min", 0.0), self.get("max", 1.0)
            return lo + (hi - lo) * self["a"] / (self["a"] + self["b"])
        if k == "lognormal":
            return math.exp(self.mu() + self["sigma"] ** 2 / 2)
        w = np.asarray(self.weights)
        return float(np.dot(self.values, w / w.sum()))

    def mu(self) -> float:
        """mu of a lognormal, log(median) where the median is given: the kernel's own
        log (simcore/kernel/fmathtab.py), the same bits on every platform."""
        if "mu" in dict(self.params):
            return self["mu"]
        from simcore.kernel.fmathtab import log_py

        return log_py(self["median"])

    def as_document(self):
        """The canonical form used in the scenario hash."""
        if self.kind == "const":
            return self["value"]
        doc: dict = {"dist": self.kind, **dict(self.params)}
        if self.kind == "discrete":
            doc["values"] = list(self.values)
            doc["weights"] = list(self.weights)
        return doc

    def compile(self, disc_values: list[float], disc_cdf: list[float]) -> tuple[int, list]:
        """(DIST_* code, 4 parameters); a discrete appends its support to the lists."""
        k = self.kind
        if k == "const":
            return DIST_CONST, [self["value"], 0.0, 0.0, 0.0]
        if k == "uniform":
            return DIST_UNIFORM, [self["min"], self["max"], 0.0, 0.0]
        if k == "triangular":
            return DIST_TRIANGULAR, [self["min"], self["mode"], self["max"], 0.0]
        if k == "pert":
            return DIST_PERT, [self["min"], self["mode"], self["max"], self.get("lambda", 4.0)]
        if k == "beta":
            return DIST_BETA, [self["a"], self["b"], self.get("min", 0.0), self.get("max", 1.0)]
        if k == "lognormal":
            lo = self.get("min", -math.inf)
            hi = self.get("max", math.inf)
            return DIST_LOGNORMAL, [self.mu(), self["sigma"], lo, hi]
        offset = len(disc_values)
        w = np.asarray(self.weights, dtype=np.float64)
        # partial sums in order over the correctly rounded total (math.fsum): the same
        # bits whatever order NumPy's sum would add in (docs/model.md, K15)
        cdf = np.cumsum(w) / math.fsum(w)
        cdf[-1] = 1.0
        disc_values.extend(float(v) for v in self.values)
        disc_cdf.extend(float(c) for c in cdf)
        return DIST_DISCRETE, [float(offset), float(len(self.values)), 0.0, 0.0]


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def parse_dist(value, loc: Loc, field: Field, problems: Problems) -> Dist | None:
    """Validate one distribution field; record problems and return None when invalid."""
    allowed = field.range_text() or "any number"
    if _is_number(value):
        if not math.isfinite(value):
            problems.add(loc, value, f"{field.name} must be a finite number", allowed)
            return None
        if not field.in_range(value):
            problems.add(loc, value, f"{field.name} out of range", allowed,
                         hint=field.percent_hint(value))
            return None
        return Dist.const(value)
    if not isinstance(value, dict):
        problems.add(
            loc, value, f"{field.name} must be a number or a distribution table",
            'a number, or e.g. { dist = "uniform", min = 0.5, max = 0.9 }',
        )
        return None
    kind = value.get("dist")
    if kind is None:
        problems.add(loc, value, "distribution table without 'dist'",
                     "dist = " + " | ".join(f'"{d}"' for d in DISTRIBUTIONS))
        return None
    if kind not in DISTRIBUTIONS:
        problems.add(loc.key("dist"), kind, "unknown distribution",
                     ", ".join(DISTRIBUTIONS), suggest(str(kind), DISTRIBUTIONS))
        return None
    spec = {p.name: p for p in DISTRIBUTIONS[kind]}
    ok = True
    explained: set[str] = set()  # a misspelt parameter is reported once, not also as missing
    for key in value:
        if key != "dist" and key not in spec:
            problems.add(loc.key(key), value[key], f"unknown parameter of a {kind} distribution",
                         ", ".join(spec), suggest(key, spec))
            explained.update(difflib.get_close_matches(key, spec, n=1, cutoff=0.6))
            ok = False
    params: dict[str, float] = {}
    lists: dict[str, list[float]] = {}
    for name, p in spec.items():
        if name not in value:
            if p.required and name not in explained:
                problems.add(loc, value, f"{kind} distribution needs '{name}' ({p.doc})",
                             ", ".join(spec))
                ok = False
            if p.required:
                ok = False
            continue
        v = value[name]
        if p.kind == "list":
            if not isinstance(v, list) or not v or not all(_is_number(x) for x in v):
                problems.add(loc.key(name), v, "must be a non-empty list of numbers")
                ok = False
                continue
            if not all(math.isfinite(x) for x in v):
                problems.add(loc.key(name), v, "values must be finite")
                ok = False
                continue
            lists[name] = [float(x) for x in v]
            continue
        if not _is_number(v) or not math.isfinite(v):
            problems.add(loc.key(name), v, "must be a finite number")
            ok = False
            continue
        if p.positive and v <= 0:
            problems.add(loc.key(name), v, f"{kind} parameter '{name}' must be > 0")
            ok = False
            continue
        params[name] = float(v)
    if not ok:
        return None
    ok = _check_params(kind, params, lists, value, loc, problems)
    if not ok:
        return None
    order = [n for n in spec if n in params]
    dist = Dist(
        kind,
        tuple((n, params[n]) for n in order),
        tuple(lists.get("values", ())),
        tuple(lists.get("weights", [1.0] * len(lists.get("values", ())))),
    )
    return dist if _check_support(dist, value, loc, field, problems) else None


def _check_params(kind, params, lists, raw: dict, loc: Loc, problems: Problems) -> bool:
    """Relations between a distribution's parameters; values shown as written (``raw``)."""
    ok = True
    if kind in ("uniform", "triangular", "pert"):
        lo, hi = params["min"], params["max"]
        if lo > hi:
            problems.add(loc.key("min"), raw["min"], f"min is above max = {hi:g}", "min <= max",
                         "swap min and max")
            return False
        if kind != "uniform":
            mode = params["mode"]
            if lo == hi:
                problems.add(loc.key("max"), raw["max"], "min equals max", "min < max",
                             "use a plain number for a fixed value")
                ok = False
            elif not lo <= mode <= hi:
                problems.add(loc.key("mode"), raw["mode"],
                             f"mode outside [min, max] = [{lo:g}, {hi:g}]", "min <= mode <= max")
                ok = False
    elif kind == "beta":
        lo, hi = params.get("min", 0.0), params.get("max", 1.0)
        if not lo < hi:
            problems.add(loc.key("max"), raw.get("max", hi),
                         f"beta max is not above min = {lo:g}", "min < max")
            ok = False
    elif kind == "lognormal":
        if ("median" in params) == ("mu" in params):
            problems.add(loc, raw, "give exactly one of 'median' and 'mu'",
                         "median > 0 (the median value) or mu (mean of the log)")
            ok = False
        lo, hi = params.get("min"), params.get("max")
        if lo is not None and hi is not None and not lo < hi:
            problems.add(loc.key("max"), raw["max"], f"lognormal max is not above min = {lo:g}",
                         "min < max")
            ok = False
    elif kind == "discrete":
        values = lists["values"]
        weights = lists.get("weights")
        if weights is not None:
            if len(weights) != len(values):
                problems.add(loc.key("weights"), weights,
                             f"{len(weights)} weights for {len(values)} values",
                             "one weight per value")
                ok = False
            elif any(w < 0 for w in weights):
                i = next(i for i, w in enumerate(weights) if w < 0)
                problems.add(loc.key("weights").index(i), weights[i], "negative weight", ">= 0")
                ok = False
            elif sum(weights) <= 0:
                problems.add(loc.key("weights"), weights, "weights sum to zero",
                             "weights >= 0 with a positive sum")
                ok = False
            elif not math.isfinite(sum(weights)):
                problems.add(loc.key("weights"), weights,
                             "weights sum beyond the largest number (only their ratios "
                             "matter)", hint="scale them down, e.g. to shares")
                ok = False
    return ok


def _check_support(dist: Dist, raw: dict, loc: Loc, field: Field, problems: Problems) -> bool:
    """Every value the distribution can take must lie in the field's range."""
    allowed = field.range_text()
    lo, hi = dist.support()
    ok = True
    if dist.kind == "discrete":
        for i, v in enumerate(dist.values):
            if not field.in_range(v):
                problems.add(loc.key("values").index(i), v,
                             f"{field.name} value out of range", allowed,
                             hint=field.percent_hint(v))
                ok = False
        return ok
    if dist.kind == "lognormal":
        if "max" not in raw and field.hi is not None:
            problems.add(loc, raw, f"a lognormal is unbounded above but {field.name} must be "
                         f"{allowed}", allowed, f"add max = {field.hi:g} (clip)")
            ok = False
        if "min" not in raw:
            # An unclipped lognormal is > 0: fine for any field bounded below by 0.
            lo_ok = field.lo is None or field.lo <= 0
            if not lo_ok:
                problems.add(loc, raw, f"a lognormal reaches towards 0 but {field.name} must "
                             f"be {allowed}", allowed, f"add min = {field.lo:g} (clip)")
                ok = False
            lo = None
        if "max" not in raw:
            hi = None
    if lo is not None and not field.in_range(lo):
        where, shown = (loc.key("min"), raw["min"]) if "min" in raw else (loc, raw)
        problems.add(where, shown,
                     f"{field.name} would go below its range ({dist.kind} lower end {lo:g})",
                     allowed)
        ok = False
    if hi is not None and not field.in_range(hi):
        where, shown = (loc.key("max"), raw["max"]) if "max" in raw else (loc, raw)
        problems.add(where, shown,
                     f"{field.name} would go above its range ({dist.kind} upper end {hi:g})",
                     allowed)
        ok = False
    return ok
