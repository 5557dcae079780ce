"""The validated scenario: plain frozen objects with every default filled in.

Names here are still strings (country codes, material ids, stage names), already checked
against the dataset the scenario was loaded with; ``compile_scenario`` turns them into
integer codes and arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simcore.scenario.distributions import Dist


@dataclass(frozen=True)
class Event:
    id: str
    kind: str  # "export_restriction" | "production_outage"
    origin: str  # country code
    materials: tuple[str, ...]
    stages: tuple[str, ...]  # stage hit, one per material
    targets: tuple[str, ...]  # country codes targeted (origin excluded); () for an outage
    probability: float
    onset: Dist | None  # None with `after`
    after: str | None
    lag: Dist | None  # with `after`
    duration: Dist
    severity: Dist | None  # None with a quota
    settled_severity: Dist | None
    settle_months: Dist | None
    leakage: Dist | None  # None for an outage
    quota_tonnes_per_year: float | None
    re_export: bool
    announcement_lead: Dist | None
    description: str = ""


@dataclass(frozen=True)
class Correlation:
    id: str
    events: tuple[str, ...]
    rho: float


@dataclass(frozen=True)
class Stockpile:
    id: str
    countries: tuple[str, ...]  # country codes (groups expanded)
    materials: tuple[str, ...]
    probability: float
    tonnes: float | None  # [t] per material, split by need share
    months_of_need: float | None  # [months] of last-stage need, per country
    max_release_share: float | None  # [share of monthly need / month]
    max_release_tonnes_per_month: float | None  # [t/month] per material, split by need share
    description: str = ""
    kind: str = "stockpile"
    reserved: bool = False  # serves only its holders (else sells into their zone)
    cost_usd: float | None = None  # [USD] stated cost; None: its tonnes at the price


@dataclass(frozen=True)
class Capacity:
    id: str
    country: str
    material: str
    stage: str
    tonnes_per_year: float  # [t/year]
    probability: float
    online_month: Dist
    description: str = ""
    kind: str = "capacity"
    cost_usd: float | None = None  # [USD] stated cost (capital, support); None: not stated


@dataclass(frozen=True, eq=False)
class Scenario:
    """A scenario file (and its parents) validated against a dataset."""

    name: str
    description: str
    horizon_months: int
    draws: int
    seed: int
    dataset: Path | None  # dataset folder named by the file, None = built-in baseline
    groups: dict[str, tuple[str, ...]]  # scenario groups -> country codes
    events: tuple[Event, ...]  # topologically sorted: parents first
    correlations: tuple[Correlation, ...]
    response: dict  # [response] key -> Dist (None: the dataset's market table) or setting
    stockpiles: tuple[Stockpile, ...]
    capacities: tuple[Capacity, ...]
    path: Path  # the file loaded
    files: tuple[Path, ...]  # the file and its parents, child first
    document: dict  # the resolved (merged) document, as hashed
    hash: str  # sha256 hex of the canonical JSON of `document`
    tensor: object = field(default=None, repr=False)  # the SupplyTensor validated against
    warnings: tuple[str, ...] = ()  # not errors: settings that have no effect, one line each

    @property
    def interventions(self) -> tuple:
        return self.stockpiles + self.capacities

    def event(self, event_id: str) -> Event:
        return next(e for e in self.events if e.id == event_id)
