"""Build SupplyTensor and CompiledScenario instances from a few Python arguments.

For kernel, engine and property tests that must not depend on the loader or the scenario
compiler. A variate is given as a number (constant) or a tuple naming the distribution:
``("uniform", lo, hi)``, ``("triangular", lo, mode, hi)``, ``("pert", lo, mode, hi)``
(lambda 4) or ``("pert", lo, mode, hi, lam)``, ``("beta", a, b, lo, hi)``,
``("lognormal", mu, sigma, lo, hi)``, ``("discrete", values, weights)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simcore.compiled import (
    DIST_NAMES,
    EVENT_OUTAGE,
    EVENT_RESTRICTION,
    CompiledScenario,
    name_key,
)
from simcore.kernel.structs import MARKET_PARAMS
from simcore.tensor import SupplyTensor

OCCURS = ("uniform", 0.0, 1.0)


def make_tensor(flow, capacity=None, stock=None, max_release=None, n_stages=None,
                countries=None, materials=None, price=None, market=None) -> SupplyTensor:
    """flow[K, S, C, C] [t/year]; capacity[K, S, C] [t/year] defaults to production;
    stock[K, C] [t]; max_release[K, C] [t/month]; n_stages[K] defaults to S;
    market[K, P, 3] the market table (default: the generic one)."""
    flow = np.asarray(flow, dtype=np.float64)
    n_k, n_s, n_c, _ = flow.shape
    prod = flow.sum(axis=3)
    capacity = prod.copy() if capacity is None else np.maximum(np.asarray(capacity, float), prod)
    stock = np.zeros((n_k, n_c)) if stock is None else np.asarray(stock, float)
    max_release = np.zeros((n_k, n_c)) if max_release is None else np.asarray(max_release, float)
    n_stages = [n_s] * n_k if n_stages is None else list(n_stages)
    countries = tuple(countries or (f"C{i:02d}" for i in range(n_c)))
    materials = tuple(materials or (f"m{k}" for k in range(n_k)))
    stage_names = ("mining", "refining", "s2", "s3")
    stages = tuple(
        (("refining",) if ns == 1 else stage_names[:ns]) for ns in n_stages
    )
    return SupplyTensor(
        materials=materials,
        material_names=materials,
        units=tuple("t" for _ in materials),
        stages=stages,
        price=np.ones(n_k) * 1000.0 if price is None else np.asarray(price, float),
        countries=countries,
        country_names=countries,
        groups={},
        flow=flow,
        capacity=capacity,
        stock=stock,
        max_release=max_release,
        hash="test-" + str(abs(hash(flow.tobytes())) % 10**12),
        market=None if market is None else np.asarray(market, float),
    )


@dataclass
class Event:
    """An event for ``make_scenario``. stages: {material index: stage index}."""

    id: str
    origin: int
    stages: dict
    kind: str = "export_restriction"
    probability: float = 1.0
    onset: object = 0.0
    duration: object = 1000.0
    severity: object = 1.0
    settled: object = None
    settle: object = None
    leakage: object = None
    lead: object = None
    quota: float | None = None
    re_export: bool = False
    targets: list | None = None  # None: everyone but the origin
    parent: str | None = None
    lag: object = None


@dataclass
class Stockpile:
    id: str
    stock: dict  # {(material, country): (tonnes, max release per month)}
    probability: float = 1.0
    reserved: bool = False


@dataclass
class Capacity:
    id: str
    material: int
    stage: int
    country: int
    tonnes: float  # [t/year]
    online: object = 0.0
    probability: float = 1.0


@dataclass
class Response:
    """Response variates. ``reroute_lag``, ``spare_ramp`` and ``elasticity`` are the
    market parameters reroute_lag_months, spare_ramp_months (restart time) and
    demand_elasticity (short run); ``market`` gives any other market parameter by its
    [response] key (simcore.kernel.structs.MARKET_PARAMS). A market parameter given
    None is drawn from the dataset's market table (a quantile variate)."""

    reroute_lag: object = 0.0
    spare_ramp: object = 0.0
    spare_usable: object = 0.0
    substitution_max: object = 0.0
    substitution_months: object = 0.0
    elasticity: object = 0.3
    market: dict = field(default_factory=dict)
    reserved: bool = False  # the dataset's state stocks serve only their holders
    release_price: float = 1.1


@dataclass
class _Vars:
    names: list = field(default_factory=list)
    dist: list = field(default_factory=list)
    par: list = field(default_factory=list)
    disc_values: list = field(default_factory=list)
    disc_cdf: list = field(default_factory=list)

    def add(self, name, spec):
        if spec is None:
            return -1
        row = [0.0, 0.0, 0.0, 0.0]
        if isinstance(spec, int | float | np.floating | np.integer):
            code = 0
            row[0] = float(spec)
        else:
            kind, *args = spec
            code = DIST_NAMES.index(kind)
            if kind == "pert" and len(args) == 3:
                args = [*args, 4.0]
            if kind == "discrete":
                values, weights = np.asarray(args[0], float), np.asarray(args[1], float)
                cdf = np.cumsum(weights) / weights.sum()
                cdf[-1] = 1.0
                row = [float(len(self.disc_values)), float(len(values)), 0.0, 0.0]
                self.disc_values.extend(values)
                self.disc_cdf.extend(cdf)
            else:
                if kind == "lognormal" and len(args) == 2:
                    args = [*args, -np.inf, np.inf]
                row[: len(args)] = [float(a) for a in args]
        self.names.append(name)
        self.dist.append(code)
        self.par.append(row)
        return len(self.names) - 1


def make_scenario(tensor: SupplyTensor, events=(), response=None, stockpiles=(), capacity=(),
                  horizon=12, seed=1, draws=64, correlation=None,
                  scope=None, name="test") -> CompiledScenario:
    """A CompiledScenario for ``tensor``. correlation: (event ids, correlation matrix)."""
    n_k, _, n_c = tensor.shape
    response = response or Response()
    v = _Vars()
    events = list(events)
    ids = [e.id for e in events]
    n_e = len(events)
    cols = {c: np.full(n_e, -1, np.int32) for c in (
        "occurs", "onset", "lag", "duration", "severity", "settled", "settle", "leakage",
        "lead")}
    ev_stage = np.full((n_e, n_k), -1, np.int32)
    ev_targets = np.zeros((n_e, n_c), bool)
    ev_quota = np.full(n_e, np.nan)
    ev_parent = np.full(n_e, -1, np.int32)
    for i, e in enumerate(events):
        p = f"event/{e.id}/"
        cols["occurs"][i] = v.add(p + "occurs", OCCURS)
        if e.parent is None:
            cols["onset"][i] = v.add(p + "onset", e.onset)
        else:
            ev_parent[i] = ids.index(e.parent)
            cols["lag"][i] = v.add(p + "lag", e.lag if e.lag is not None else 0.0)
        cols["duration"][i] = v.add(p + "duration", e.duration)
        if e.quota is None:
            cols["severity"][i] = v.add(p + "severity", e.severity)
        else:
            ev_quota[i] = e.quota
        cols["settled"][i] = v.add(p + "settled_severity", e.settled)
        cols["settle"][i] = v.add(p + "settle_months", e.settle)
        cols["leakage"][i] = v.add(p + "leakage", e.leakage)
        cols["lead"][i] = v.add(p + "lead", e.lead)
        for k, s in e.stages.items():
            ev_stage[i, k] = s
        if e.targets is None:
            ev_targets[i] = True
        else:
            ev_targets[i, list(e.targets)] = True
        ev_targets[i, e.origin] = False
    r = response
    resp = [v.add("response/" + f, getattr(r, f)) for f in (
        "spare_usable", "substitution_max", "substitution_months")]
    given = dict(r.market)
    for key, value in (("reroute_lag_months", r.reroute_lag), ("spare_ramp_months",
                       r.spare_ramp), ("demand_elasticity", r.elasticity)):
        given.setdefault(key, value)
    mkt_var, mkt_given = [], []
    for key, _name in MARKET_PARAMS:
        spec = given.get(key)
        if spec is None:
            mkt_var.append(v.add(f"response/{key}/quantile", OCCURS))
            mkt_given.append(False)
        else:
            mkt_var.append(v.add(f"response/{key}", spec))
            mkt_given.append(True)
    n_j = len(stockpiles)
    sp_stock = np.zeros((n_j, n_k, n_c))
    sp_rel = np.zeros((n_j, n_k, n_c))
    sp_occ = np.full(n_j, -1, np.int32)
    for j, sp in enumerate(stockpiles):
        sp_occ[j] = v.add(f"intervention/{sp.id}/occurs", OCCURS)
        for (k, c), (tonnes, rel) in sp.stock.items():
            sp_stock[j, k, c] = tonnes
            sp_rel[j, k, c] = rel
    n_q = len(capacity)
    cap_occ = np.zeros(n_q, np.int32)
    cap_on = np.zeros(n_q, np.int32)
    for q, cp in enumerate(capacity):
        cap_occ[q] = v.add(f"intervention/{cp.id}/occurs", OCCURS)
        cap_on[q] = v.add(f"intervention/{cp.id}/online_month", cp.online)
    ev_correlated = np.zeros(n_e, bool)
    occ_chol = np.eye(n_e)
    if correlation is not None:
        group, corr = correlation
        idx = [ids.index(g) for g in group]
        chol = np.linalg.cholesky(np.asarray(corr, float))
        for a, ia in enumerate(idx):
            ev_correlated[ia] = True
            occ_chol[ia, :] = 0.0
            for b, ib in enumerate(idx):
                occ_chol[ia, ib] = chol[a, b]
    if scope is None:
        scope = np.zeros(n_k, bool)
        scope[(ev_stage >= 0).any(axis=0)] = True
        for cp in capacity:
            scope[cp.material] = True
        if n_j:
            scope |= (sp_stock > 0).any(axis=(0, 2))
    return CompiledScenario(
        name=name,
        horizon=horizon,
        draws=draws,
        seed=seed,
        scenario_hash="0" * 64,
        dataset_hash=tensor.hash,
        var_name=tuple(v.names),
        var_key=np.array([name_key(n) for n in v.names], dtype=np.uint64),
        var_dist=np.array(v.dist, dtype=np.int8),
        var_par=np.array(v.par, dtype=np.float64).reshape(-1, 4),
        disc_values=np.array(v.disc_values, dtype=np.float64),
        disc_cdf=np.array(v.disc_cdf, dtype=np.float64),
        event_id=tuple(ids),
        ev_kind=np.array([EVENT_RESTRICTION if e.kind == "export_restriction" else EVENT_OUTAGE
                          for e in events], dtype=np.int8),
        ev_origin=np.array([e.origin for e in events], dtype=np.int32),
        ev_probability=np.array([e.probability for e in events], dtype=np.float64),
        ev_parent=ev_parent,
        ev_occurs_var=cols["occurs"],
        ev_onset_var=cols["onset"],
        ev_lag_var=cols["lag"],
        ev_duration_var=cols["duration"],
        ev_severity_var=cols["severity"],
        ev_settled_var=cols["settled"],
        ev_settle_var=cols["settle"],
        ev_leakage_var=cols["leakage"],
        ev_lead_var=cols["lead"],
        ev_quota=ev_quota,
        ev_re_export=np.array([e.re_export for e in events], dtype=bool),
        ev_stage=ev_stage,
        ev_targets=ev_targets,
        ev_correlated=ev_correlated,
        occ_chol=occ_chol,
        spare_usable_var=resp[0],
        substitution_max_var=resp[1],
        substitution_months_var=resp[2],
        mkt_var=np.array(mkt_var, dtype=np.int32),
        mkt_given=np.array(mkt_given, dtype=bool),
        intervention_id=tuple([s.id for s in stockpiles] + [c.id for c in capacity]),
        sp_stock=sp_stock,
        sp_max_release=sp_rel,
        sp_occurs_var=sp_occ,
        sp_probability=np.array([s.probability for s in stockpiles], dtype=np.float64),
        sp_reserved=np.array([s.reserved for s in stockpiles], dtype=bool),
        cap_material=np.array([c.material for c in capacity], dtype=np.int32),
        cap_stage=np.array([c.stage for c in capacity], dtype=np.int32),
        cap_country=np.array([c.country for c in capacity], dtype=np.int32),
        cap_tonnes=np.array([c.tonnes for c in capacity], dtype=np.float64),
        cap_probability=np.array([c.probability for c in capacity], dtype=np.float64),
        cap_occurs_var=cap_occ,
        cap_online_var=cap_on,
        material_scope=np.asarray(scope, bool),
        dataset_stocks_reserved=bool(r.reserved),
        release_price=float(r.release_price),
    )


def random_tensor(rng, n_k=1, n_s=2, n_c=4, density=0.6, spare=0.3, stocks=True,
                  balanced=True):
    """A random tensor; ``balanced``: every stage s+1 producer has an earlier-stage need
    of its own (its baseline feed), else one has none (an idle plant's
    country, an unbalanced dataset: docs/model.md §3.2): the largest producer of every
    later stage."""
    flow = np.zeros((n_k, n_s, n_c, n_c))
    for k in range(n_k):
        for s in range(n_s):
            f = rng.uniform(1, 100, (n_c, n_c)) * (rng.random((n_c, n_c)) < density)
            if s > 0:
                # each stage-s producer needs feed at stage s-1: make its column non-empty
                prod = f.sum(axis=1)
                for e in range(n_c):
                    if prod[e] > 0 and flow[k, s - 1, :, e].sum() == 0:
                        flow[k, s - 1, rng.integers(n_c), e] = rng.uniform(1, 50)
                if not balanced:  # the largest stage-s producer buys no feed
                    flow[k, s - 1, :, int(np.argmax(prod))] = 0.0
            flow[k, s] = f
    prod = flow.sum(axis=3)
    capacity = prod * (1 + spare * rng.random(prod.shape))
    stock = rng.uniform(0, 200, (n_k, n_c)) if stocks else None
    rel = rng.uniform(0, 20, (n_k, n_c)) if stocks else None
    return make_tensor(flow, capacity=capacity, stock=stock, max_release=rel)
