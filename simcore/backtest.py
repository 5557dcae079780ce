"""Backtests: the shipped replays against the prices history recorded.

The calibration set (docs/model.md, "Calibration"; ../shared/MARKET.md) lives in one
data file, ``scenarios/backtests.csv``, one row per check:

``check, replay, material, stage, zone, effect_month, months, low, high, observed,
source``

A check reads the price of one *zone* (docs/model.md, "Zones") of one replay
(``scenarios/<replay>.toml``) as a multiple of its price in the month before the control
took effect: ``p(effect + m) / p(effect - 1)`` draw by draw, with ``p(-1) = 1`` (every
market starts at its reference price). ``effect_month`` is the model month the control
took effect (a replay that starts at an announcement counts it from there), ``months``
is ``m`` or a range ``m1-m2`` (the draws of every month in it are pooled). Its pass rule:

1. the observed range's midpoint lies within the model's P5-P95;
2. the model's P50 lies within the observed range widened on each side by 25 % of its
   width;
3. P95 / P5 <= 3 (a wide interval may not pass by width alone).

Quantiles are numpy's default (linear interpolation between order statistics). Nothing
here is tuned per replay: the replays run with the dataset's market table.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simcore.errors import ScenarioError, suggest

COLUMNS = ("check", "replay", "material", "stage", "zone", "effect_month", "months", "low",
           "high", "observed", "source")
WIDEN = 0.25  # of the observed range's width, on each side (rule 2)
MAX_SPREAD = 3.0  # largest P95 / P5 (rule 3)
# draws per replay: at 2,000 the P95/P5 of ree-1, ree-5 and co-8, near the rule's 3, swing
# 2.89-3.09 with the seed, so the verdict was the seed's; at 20,000, 2.9-3.0 (one seed in
# seven still fails ree-1 at 3.00: docs/model.md, "Calibration")
DEFAULT_DRAWS = 20_000


class BacktestError(ScenarioError):
    """The calibration file or a replay it names is malformed."""


@dataclass(frozen=True)
class Check:
    """One row of the calibration set."""

    check: str
    replay: str
    material: str
    stage: str
    zone: str
    effect_month: int
    first: int  # months after the effect, first and last (inclusive)
    last: int
    low: float
    high: float
    observed: str
    source: str
    line: int = 0

    @property
    def months(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    @property
    def midpoint(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def widened(self) -> tuple[float, float]:
        pad = WIDEN * (self.high - self.low)
        return self.low - pad, self.high + pad


@dataclass(frozen=True)
class Outcome:
    """A check's model quantiles and verdict (``failures`` empty when it passes)."""

    check: Check
    draws: int
    p5: float
    p50: float
    p95: float
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def default_checks_path() -> Path:
    """``scenarios/backtests.csv`` of the checkout this package runs from, else of the
    working folder or the nearest folder above it that has one (an installed package run
    from inside a checkout, from scenarios/ say)."""
    here = Path(__file__).resolve().parent.parent / "scenarios" / "backtests.csv"
    if here.exists():
        return here
    # an installed package: the checkout around the current folder (run from scenarios/
    # or a subfolder of it, as `verify` finds its files)
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "scenarios" / "backtests.csv").is_file():
            return folder / "scenarios" / "backtests.csv"
    return Path("scenarios") / "backtests.csv"


def load_checks(path: Path | str | None = None) -> list[Check]:
    """Read and check the calibration file; every problem at once."""
    given = path is not None
    path = Path(path) if given else default_checks_path()
    if not path.exists():
        if given:
            raise BacktestError(
                f"{path}: no such calibration file (--checks); check the path (a checkout "
                "of the repository ships scenarios/backtests.csv)")
        raise BacktestError(
            f"{path}: no calibration file; give one with --checks FILE (a checkout of the "
            "repository ships scenarios/backtests.csv)")
    problems: list[str] = []
    checks: list[Check] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise BacktestError(
                f"{path}: missing column(s) {', '.join(missing)}; the header must be "
                f"{','.join(COLUMNS)}")
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            try:
                checks.append(_parse(row, where, line))
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if checks[-1].check in seen:
                problems.append(f"{where}: check {checks[-1].check!r} appears twice; "
                                "give every row its own name")
            seen.add(checks[-1].check)
    if not checks and not problems:
        problems.append(f"{path}: no checks (the file has a header only)")
    if problems:
        n = len(problems)
        raise BacktestError("\n  - ".join([f"{path}: {n} problem{'s' if n > 1 else ''}:",
                                           *problems]), problems)
    return checks


def _parse(row: dict, where: str, line: int) -> Check:
    def text(key: str) -> str:
        value = (row.get(key) or "").strip()
        if not value and key not in ("observed", "source"):
            raise ValueError(f"{where}: {key} is empty")
        return value

    def number(key: str) -> float:
        raw = text(key)
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{where}: {key} = {raw!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{where}: {key} = {raw!r} must be a positive price multiple")
        return value

    def month(key: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{where}: {key} = {raw!r} is not a whole month") from None
        if value < 0:
            raise ValueError(f"{where}: {key} = {raw!r} must be >= 0")
        return value

    effect = month("effect_month", text("effect_month"))
    span = text("months")
    lo_raw, _, hi_raw = span.partition("-")
    first = month("months", lo_raw.strip())
    last = month("months", hi_raw.strip()) if hi_raw else first
    if last < first:
        raise ValueError(f"{where}: months = {span!r} runs backwards; write 'first-last'")
    low, high = number("low"), number("high")
    if high < low:
        raise ValueError(f"{where}: low = {low} is above high = {high}; swap them")
    return Check(check=text("check"), replay=text("replay"), material=text("material"),
                 stage=text("stage"), zone=text("zone"), effect_month=effect, first=first,
                 last=last, low=low, high=high, observed=text("observed"),
                 source=text("source"), line=line)


def judge(check: Check, ratios: np.ndarray) -> Outcome:
    """The pass rule on a sample of price multiples (draws x months, pooled)."""
    ratios = np.asarray(ratios, dtype=np.float64).ravel()
    p5, p50, p95 = (float(q) for q in np.quantile(ratios, [0.05, 0.5, 0.95]))
    failures = []
    if not p5 <= check.midpoint <= p95:
        failures.append(f"midpoint {check.midpoint:.3g} outside P5-P95")
    lo, hi = check.widened
    if not lo <= p50 <= hi:
        failures.append(f"P50 outside {lo:.3g}-{hi:.3g}")
    if not p95 <= MAX_SPREAD * p5:
        failures.append(f"P95/P5 = {p95 / p5:.2f} > {MAX_SPREAD:g}")
    return Outcome(check=check, draws=int(ratios.size // (check.last - check.first + 1)),
                   p5=p5, p50=p50, p95=p95, failures=tuple(failures))


def select(checks: Sequence[Check], replays: Iterable[str]) -> list[Check]:
    """The checks of the named replays (all if none is named)."""
    replays = list(replays)
    if not replays:
        return list(checks)
    known = list(dict.fromkeys(c.replay for c in checks))
    unknown = [r for r in replays if r not in known]
    if unknown:
        raise BacktestError(
            f"replay {unknown[0]!r} has no check in the calibration file"
            f"{suggest(unknown[0], known)}; known: {', '.join(known)}")
    return [c for c in checks if c.replay in replays]


def zone_ratios(check: Check, zones, series: np.ndarray, horizon: int) -> np.ndarray:
    """float64[draws, months]: the check's zone price over the month before the effect,
    from a run's zone series [draws, zone groups, months]."""
    where = f"check {check.check!r} (line {check.line})"
    names = {}
    for g in range(len(zones.name)):
        names[(zones.material_name[g], zones.stage_name[g], zones.name[g])] = g
    key = (check.material, check.stage, check.zone)
    if key not in names:
        here = [z for (m, s, z) in names if (m, s) == key[:2]]
        if not here:
            raise BacktestError(
                f"{where}: replay {check.replay!r} has no price zone for material "
                f"{check.material!r} at stage {check.stage!r}; it simulates "
                + ", ".join(sorted({f'{m}/{s}' for m, s, _ in names})))
        raise BacktestError(
            f"{where}: replay {check.replay!r} has no zone {check.zone!r} for "
            f"{check.material}/{check.stage}{suggest(check.zone, here)}; its zones: "
            + ", ".join(here))
    last = check.effect_month + check.last
    if last >= horizon:
        raise BacktestError(
            f"{where}: month {check.last} after the effect (model month {last}) is past "
            f"the replay's horizon of {horizon} months")
    g = names[key]
    months = np.arange(check.effect_month + check.first, last + 1)
    now = series[:, g, months].astype(np.float64)
    if check.effect_month == 0:
        return now
    before = series[:, g, check.effect_month - 1].astype(np.float64)
    return now / before[:, None]


def run(checks: Sequence[Check], draws: int = DEFAULT_DRAWS, *, seed: int | None = None,
        threads: int | None = None, scenarios: Path | None = None, dataset=None,
        progress: Callable[[str, int, int], None] | None = None) -> list[Outcome]:
    """Run every replay the checks name (``scenarios/<replay>.toml``, next to the
    calibration file unless ``scenarios`` says where) for ``draws`` draws with the
    replay's seed (or ``seed``) and judge each check. ``dataset``: a folder or
    ``SupplyTensor`` to run on instead of the one each replay names.
    ``progress(replay, done, draws)`` is told how far each replay has come."""
    from simcore import api, engine

    if draws < 1:
        raise BacktestError(f"draws must be >= 1, got {draws}")
    folder = Path(scenarios) if scenarios is not None else default_checks_path().parent
    outcomes: list[Outcome] = []
    replays = list(dict.fromkeys(c.replay for c in checks))
    for replay in replays:
        path = folder / f"{replay}.toml"
        if not path.exists():
            raise BacktestError(f"{path}: no such replay (named by the calibration file); "
                                f"replays are read from the calibration file's folder, as "
                                f"<replay>.toml")
        prep = api.prepare(path, dataset=dataset)
        watch = None if progress is None else (lambda d, n, r=replay: progress(r, d, n))
        blocks = engine.simulate(prep.tensor, prep.compiled, draws=draws, seed=seed,
                                 threads=threads, zone_series=True, progress=watch)
        series = np.concatenate([b.zone_series for b in blocks], axis=0)
        model_zones = engine.zones(prep.tensor, prep.compiled)
        named = _NamedZones(model_zones, prep.tensor)
        for check in (c for c in checks if c.replay == replay):
            ratios = zone_ratios(check, named, series, int(prep.compiled.horizon))
            outcomes.append(judge(check, ratios))
    order = {id(c): i for i, c in enumerate(checks)}
    outcomes.sort(key=lambda o: order[id(o.check)])
    return outcomes


class _NamedZones:
    """Zones with the material and stage names of each zone group."""

    def __init__(self, zones, tensor):
        self.name = zones.name
        self.material_name = [tensor.materials[int(k)] for k in zones.material]
        self.stage_name = [tensor.stages[int(k)][int(s)]
                           for k, s in zip(zones.material, zones.stage, strict=True)]


def table(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """Rows for a text table: check, replay, zone, month, observed range, model
    P5/P50/P95, verdict."""
    rows = []
    for o in outcomes:
        c = o.check
        rows.append([
            c.check, c.replay, f"{c.material}/{c.stage}/{c.zone}", c.months,
            f"{c.low:.2f}-{c.high:.2f}", f"{o.p5:.2f}", f"{o.p50:.2f}", f"{o.p95:.2f}",
            "pass" if o.passed else "FAIL: " + "; ".join(o.failures),
        ])
    return rows


HEADER = ["check", "replay", "zone", "month", "observed", "P5", "P50", "P95", "result"]
