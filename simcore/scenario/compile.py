"""Scenario -> CompiledScenario: names become integer codes, distributions parameter rows.

Every sampled quantity becomes a *variate* with a stable name (``event/<id>/severity``,
``response/reroute_lag_months``, ``intervention/<id>/online_month`` …) whose 64-bit key
(``simcore.compiled.name_key``) keys its random draws, so adding an event leaves every
other variate's draws unchanged (MODEL.md §6). Stockpiles are fixed in tonnes here, from
the dataset's need.
"""

from __future__ import annotations

import math

import numpy as np

from simcore.compiled import (
    EVENT_KIND_NAMES,
    CompiledScenario,
    name_key,
)
from simcore.errors import ScenarioError, SupplyShockError
from simcore.kernel.structs import MARKET_PARAMS
from simcore.scenario.distributions import Dist
from simcore.scenario.spec import Scenario

# The occurrence variate of an event or intervention: a uniform on [0, 1); it fires
# when the uniform is below its probability (through the copula when correlated).
OCCURS = Dist("uniform", (("min", 0.0), ("max", 1.0)))


class _Variates:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.dist: list[int] = []
        self.par: list[list[float]] = []
        self.disc_values: list[float] = []
        self.disc_cdf: list[float] = []

    def add(self, name: str, dist: Dist | None) -> int:
        if dist is None:
            return -1
        if name in self.names:  # ids are unique, so this is a programming error
            raise AssertionError(f"variate {name} twice")
        code, par = dist.compile(self.disc_values, self.disc_cdf)
        self.names.append(name)
        self.dist.append(code)
        self.par.append([float(x) for x in par])
        return len(self.names) - 1


def _index(fn, scenario: Scenario, *args) -> int:
    try:
        return fn(*args)
    except SupplyShockError as exc:
        raise ScenarioError(
            f"{scenario.path}: {exc}; the scenario was validated against another dataset"
        ) from None


def compile_scenario(scenario: Scenario, tensor=None) -> CompiledScenario:
    """Compile a validated scenario against ``tensor`` (default: the one it was loaded
    with) into plain arrays for the kernel."""
    tensor = scenario.tensor if tensor is None else tensor
    if tensor is None:
        raise ScenarioError(f"{scenario.path}: no dataset to compile the scenario against")
    K, _S, C = tensor.shape
    v = _Variates()
    events = scenario.events
    E = len(events)
    eidx = {e.id: i for i, e in enumerate(events)}

    ev_kind = np.zeros(E, np.int8)
    ev_origin = np.full(E, -1, np.int32)
    ev_probability = np.zeros(E, np.float64)
    ev_parent = np.full(E, -1, np.int32)
    var_cols = ("occurs", "onset", "lag", "duration", "severity", "settled", "settle",
                "leakage", "lead")
    ev_vars = {c: np.full(E, -1, np.int32) for c in var_cols}
    ev_quota = np.full(E, np.nan, np.float64)
    ev_re_export = np.zeros(E, np.bool_)
    ev_stage = np.full((E, K), -1, np.int32)
    ev_targets = np.zeros((E, C), np.bool_)
    scope = np.zeros(K, np.bool_)

    for i, e in enumerate(events):
        p = f"event/{e.id}/"
        ev_kind[i] = EVENT_KIND_NAMES.index(e.kind)
        ev_origin[i] = _index(tensor.country_index, scenario, e.origin)
        ev_probability[i] = e.probability
        ev_parent[i] = eidx[e.after] if e.after is not None else -1
        ev_vars["occurs"][i] = v.add(p + "occurs", OCCURS)
        ev_vars["onset"][i] = v.add(p + "onset", e.onset)
        ev_vars["lag"][i] = v.add(p + "lag", e.lag)
        ev_vars["duration"][i] = v.add(p + "duration", e.duration)
        ev_vars["severity"][i] = v.add(p + "severity", e.severity)
        ev_vars["settled"][i] = v.add(p + "settled_severity", e.settled_severity)
        ev_vars["settle"][i] = v.add(p + "settle_months", e.settle_months)
        ev_vars["leakage"][i] = v.add(p + "leakage", e.leakage)
        ev_vars["lead"][i] = v.add(p + "lead", e.announcement_lead)
        if e.quota_tonnes_per_year is not None:
            ev_quota[i] = e.quota_tonnes_per_year
        ev_re_export[i] = e.re_export
        for material, stage in zip(e.materials, e.stages, strict=True):
            k = _index(tensor.material_index, scenario, material)
            ev_stage[i, k] = _index(tensor.stage_index, scenario, material, stage)
            scope[k] = True
        for code in e.targets:
            ev_targets[i, _index(tensor.country_index, scenario, code)] = True

    R = np.eye(E)
    for corr in scenario.correlations:
        members = [eidx[x] for x in corr.events]
        for a in members:
            for b in members:
                if a != b:
                    R[a, b] = corr.rho
    ev_correlated = (np.abs(R - np.eye(E)) > 0).any(axis=1)
    occ_chol = _cholesky(R)
    # Exact identity rows for uncorrelated events: their uniform passes through untouched.
    occ_chol[~ev_correlated, :] = 0.0
    occ_chol[:, ~ev_correlated] = 0.0
    occ_chol[~ev_correlated, ~ev_correlated] = 1.0

    response = scenario.response
    resp = {name: v.add(f"response/{name}", response[name])
            for name in ("spare_usable", "substitution_max", "substitution_months")}
    # market parameters: the scenario's distribution for every material, or one quantile
    # per draw of each material's range in the dataset's market table
    mkt_var = np.zeros(len(MARKET_PARAMS), np.int32)
    mkt_given = np.zeros(len(MARKET_PARAMS), np.bool_)
    for p, (key, _name) in enumerate(MARKET_PARAMS):
        dist = response.get(key)
        if dist is None:
            mkt_var[p] = v.add(f"response/{key}/quantile", OCCURS)
        else:
            mkt_var[p] = v.add(f"response/{key}", dist)
            mkt_given[p] = True

    need = tensor.need  # [K, S, C] t/year
    last = tensor.n_stages - 1
    J = len(scenario.stockpiles)
    sp_stock = np.zeros((J, K, C))
    sp_max_release = np.zeros((J, K, C))
    sp_occurs = np.full(J, -1, np.int32)
    sp_probability = np.zeros(J)
    for j, sp in enumerate(scenario.stockpiles):
        sp_occurs[j] = v.add(f"intervention/{sp.id}/occurs", OCCURS)
        sp_probability[j] = sp.probability
        cidx = np.array([_index(tensor.country_index, scenario, c) for c in sp.countries],
                        dtype=np.int64)
        for material in sp.materials:
            k = _index(tensor.material_index, scenario, material)
            scope[k] = True
            monthly = need[k, last[k], cidx] / 12.0  # [t/month] last-stage need
            total = monthly.sum()
            if total <= 0 and (sp.tonnes or sp.max_release_tonnes_per_month):
                raise ScenarioError(
                    f"{scenario.path}: intervention '{sp.id}': the countries "
                    f"{', '.join(sp.countries)} have no need of {material} in the dataset, "
                    "so its tonnes cannot be split by need; list countries that use it"
                )
            share = monthly / total if total > 0 else np.zeros_like(monthly)
            if sp.months_of_need is not None:
                sp_stock[j, k, cidx] = sp.months_of_need * monthly
            else:
                sp_stock[j, k, cidx] = sp.tonnes * share
            if sp.max_release_tonnes_per_month is not None:
                sp_max_release[j, k, cidx] = sp.max_release_tonnes_per_month * share
            else:
                rule = 1.0 if sp.max_release_share is None else sp.max_release_share
                sp_max_release[j, k, cidx] = rule * monthly

    Q = len(scenario.capacities)
    cap_material = np.zeros(Q, np.int32)
    cap_stage = np.zeros(Q, np.int32)
    cap_country = np.zeros(Q, np.int32)
    cap_tonnes = np.zeros(Q)
    cap_probability = np.zeros(Q)
    cap_occurs = np.zeros(Q, np.int32)
    cap_online = np.zeros(Q, np.int32)
    for q, cap in enumerate(scenario.capacities):
        k = _index(tensor.material_index, scenario, cap.material)
        cap_material[q] = k
        cap_stage[q] = _index(tensor.stage_index, scenario, cap.material, cap.stage)
        cap_country[q] = _index(tensor.country_index, scenario, cap.country)
        cap_tonnes[q] = cap.tonnes_per_year
        cap_probability[q] = cap.probability
        cap_occurs[q] = v.add(f"intervention/{cap.id}/occurs", OCCURS)
        cap_online[q] = v.add(f"intervention/{cap.id}/online_month", cap.online_month)
        scope[k] = True

    par = np.array(v.par, dtype=np.float64).reshape(len(v.names), 4)
    return CompiledScenario(
        name=scenario.name,
        horizon=scenario.horizon_months,
        draws=scenario.draws,
        seed=scenario.seed,
        scenario_hash=scenario.hash,
        dataset_hash=tensor.hash,
        var_name=tuple(v.names),
        var_key=np.array([name_key(n) for n in v.names], dtype=np.uint64),
        var_dist=np.array(v.dist, dtype=np.int8),
        var_par=np.ascontiguousarray(par),
        disc_values=np.array(v.disc_values, dtype=np.float64),
        disc_cdf=np.array(v.disc_cdf, dtype=np.float64),
        event_id=tuple(e.id for e in events),
        ev_kind=ev_kind,
        ev_origin=ev_origin,
        ev_probability=ev_probability,
        ev_parent=ev_parent,
        ev_occurs_var=ev_vars["occurs"],
        ev_onset_var=ev_vars["onset"],
        ev_lag_var=ev_vars["lag"],
        ev_duration_var=ev_vars["duration"],
        ev_severity_var=ev_vars["severity"],
        ev_settled_var=ev_vars["settled"],
        ev_settle_var=ev_vars["settle"],
        ev_leakage_var=ev_vars["leakage"],
        ev_lead_var=ev_vars["lead"],
        ev_quota=ev_quota,
        ev_re_export=ev_re_export,
        ev_stage=ev_stage,
        ev_targets=ev_targets,
        ev_correlated=ev_correlated,
        occ_chol=np.ascontiguousarray(occ_chol),
        spare_usable_var=resp["spare_usable"],
        substitution_max_var=resp["substitution_max"],
        substitution_months_var=resp["substitution_months"],
        mkt_var=mkt_var,
        mkt_given=mkt_given,
        intervention_id=tuple(s.id for s in scenario.stockpiles)
        + tuple(c.id for c in scenario.capacities),
        sp_stock=sp_stock,
        sp_max_release=sp_max_release,
        sp_occurs_var=sp_occurs,
        sp_probability=sp_probability,
        sp_reserved=np.array([sp.reserved for sp in scenario.stockpiles], dtype=np.bool_),
        cap_material=cap_material,
        cap_stage=cap_stage,
        cap_country=cap_country,
        cap_tonnes=cap_tonnes,
        cap_probability=cap_probability,
        cap_occurs_var=cap_occurs,
        cap_online_var=cap_online,
        material_scope=scope,
        dataset_stocks_reserved=response["dataset_stocks"] == "reserved",
        release_price=float(response["state_release_price"]),
        extra={
            "path": str(scenario.path),
            "files": [str(f) for f in scenario.files],
            "description": scenario.description,
            "event_description": {e.id: e.description for e in events},
            "intervention_description": {i.id: i.description for i in scenario.interventions},
            "group_members": {g: [tensor.countries.index(c) for c in codes]
                              for g, codes in scenario.groups.items()},
            "dataset": None if scenario.dataset is None else str(scenario.dataset),
            "dataset_path": None if getattr(tensor, "path", None) is None
            else str(tensor.path),
        },
    )


def _cholesky(R: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of R (positive definite: the loader checked it), in a
    fixed order of float64 operations and correctly rounded square roots: LAPACK's
    order, and with it the factor's last bits, depends on the library NumPy links
    (docs/model.md, section 6)."""
    n = R.shape[0]
    L = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            acc = float(R[i, j])
            for k in range(j):
                acc -= float(L[i, k]) * float(L[j, k])
            if i != j:
                L[i, j] = acc / L[j, j]
            elif acc > 0.0:
                L[i, i] = math.sqrt(acc)
            else:
                raise ValueError(f"correlation matrix not positive definite at row {i}")
    return L
