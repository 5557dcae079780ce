"""The engine: a SupplyTensor and a CompiledScenario in, ChunkResults out.

``exposures`` lists what is reported; ``simulate`` runs the Numba kernel
(simcore/kernel/model.py) block by block of draws, so memory stays bounded for any
number of draws, and yields one ``ChunkResult`` per block in draw order (contract:
docs/architecture.md). This is the boundary of the kernel: yearly quantities become
monthly here ([t/year] / 12 = [t/month]), every array gets its canonical dtype, and
quantities the kernel would otherwise recompute per draw (quota severities, re-export
shares, yields, the price zones and the baseline flows into them) are computed once.

Importing this module does not import numba; the first call to ``simulate`` does.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from simcore.compiled import EVENT_RESTRICTION, CompiledScenario, state_stock_holders
from simcore.errors import ScenarioError
from simcore.runsize import LOCAL_CHUNK_SIZE
from simcore.tensor import SupplyTensor

MONTHS_PER_YEAR = 12.0
NO_ZONE = np.iinfo(np.uint64).max  # zone_of of a country not taking part (the zones are
# uint64 for the kernel: see simcore/kernel/structs.py)

_STATUS_MEANING = {
    1: "zone market found no cut bounding an infeasible level (numerical)",
    2: "zone market froze nobody at a level (numerical)",
    10: "a sampled variate is NaN (check the distribution parameters)",
    11: "a negative or NaN shortage appeared in the month loop",
}


@dataclass(frozen=True)
class Exposures:
    """Every reported (material, stage, country), ordered by (k, s, i)."""

    material: np.ndarray  # int32[X]
    stage: np.ndarray  # int32[X]
    country: np.ndarray  # int32[X]
    need_t: np.ndarray  # float64[X] horizon need [t]

    def __len__(self) -> int:
        return int(self.material.shape[0])


@dataclass(frozen=True)
class Zones:
    """The price zones of every simulated (material, stage), fixed per scenario
    (docs/model.md, "Zones"). Zone g (global id) is zone ``index[g]`` of
    (``material[g]``, ``stage[g]``); ``members[g]`` are its country indices, ``name[g]``
    a label unique within its (material, stage), ``need[g]`` its baseline need
    [t/month]. Only zones with buyers (need > 0) have a price to report."""

    material: np.ndarray  # int32[G]
    stage: np.ndarray  # int32[G]
    index: np.ndarray  # int32[G]
    members: tuple  # [G] tuples of country indices
    name: tuple  # [G] str
    need: np.ndarray  # float64[G] [t/month]

    def __len__(self) -> int:
        return int(self.material.shape[0])

    @property
    def reported(self) -> np.ndarray:
        """bool[G]: zones with buyers."""
        return self.need > 0


@dataclass(frozen=True)
class ChunkResult:
    """Per-draw results of draws [start, stop) (docs/architecture.md)."""

    start: int
    stop: int
    shortage_t: np.ndarray  # float64[n, X] cumulative shortage [t]
    peak_share: np.ndarray  # float64[n, X]
    months_short: np.ndarray  # int16[n, X]
    first_short: np.ndarray  # int16[n, X]
    last_short: np.ndarray  # int16[n, X]
    stock_drawn_t: np.ndarray  # float64[n, X] state stock the holder used [t]
    price_peak: np.ndarray  # float64[n, X] peak of the exposure's zone price
    price_mean: np.ndarray  # float64[n, X]
    bought_t: np.ndarray  # float64[n, X] [t]
    restocked_t: np.ndarray  # float64[n, X] [t]
    commercial_drawn_t: np.ndarray  # float64[n, X] [t]
    substituted_t: np.ndarray  # float64[n, X] [t]
    demand_given_up_t: np.ndarray  # float64[n, X] [t]
    rationed_t: np.ndarray  # float64[n, X] [t]
    zone_price_peak: np.ndarray  # float64[n, G]
    zone_price_mean: np.ndarray  # float64[n, G]
    zone_choke_months: np.ndarray  # int16[n, G] months rationed at the choke price
    variates: np.ndarray  # float64[n, V]
    fired: np.ndarray  # bool[n, E]
    onset: np.ndarray  # int32[n, E]
    hist: np.ndarray | None  # int64[X, H, 101]; None where given by the four below
    zone_hist: np.ndarray  # int64[G, H, NPB] monthly zone-price histogram
    series: np.ndarray | None  # float32[n, X, H]
    zone_series: np.ndarray | None  # float32[n, G, H] monthly zone price
    # ``hist`` by zone (``simulate``'s chunks; see row_histogram): each zone's monthly
    # shortage-share counts int64[G, H, 101], each row's zone int64[X], and the rows of
    # state-stock holders int64[NH] with what their counts add to their zone's in bins
    # 1-100, int64[NH, H, 101]
    zone_short_hist: np.ndarray | None = None
    row_zone: np.ndarray | None = None
    holder_rows: np.ndarray | None = None
    holder_short_hist: np.ndarray | None = None


def row_histogram(chunk) -> np.ndarray:
    """int64[X, H, 101]: each row's monthly shortage-share counts over the chunk's draws,
    ``chunk.hist`` or, where the chunk gives it by zone, its zone's counts with a
    state-stock holder's own added and bin 0 (no shortage) what the other bins leave."""
    if chunk.hist is not None:
        return chunk.hist
    return expand_histogram(chunk.zone_short_hist, chunk.row_zone, chunk.holder_rows,
                            chunk.holder_short_hist, chunk.stop - chunk.start)


def expand_histogram(zone_short, row_zone, holder_rows, holder_short, draws: int,
                     out: np.ndarray | None = None) -> np.ndarray:
    """The rows' histogram [X, H, 101] from counts by zone over ``draws`` draws (sums of
    chunks' are the sums' histogram: each bin adds up, and bin 0 is what the others
    leave of all the draws)."""
    hist = np.take(zone_short, row_zone, axis=0, out=out, mode="clip")  # "raise" copies
    if len(holder_rows):
        hist[holder_rows, :, 1:] += holder_short[:, :, 1:]
        hist[holder_rows, :, 0] = draws - hist[holder_rows, :, 1:].sum(axis=2)
    return hist


def exposures(tensor: SupplyTensor, compiled: CompiledScenario) -> Exposures:
    """Every (k, s, i) with k in the scenario's scope, s < n_stages[k] and need > 0."""
    xidx = _exposure_index(tensor, compiled)
    k, s, i = np.nonzero(xidx >= 0)  # C order = (k, s, i) order = the index order
    need_m = tensor.need / MONTHS_PER_YEAR
    return Exposures(
        material=k.astype(np.int32),
        stage=s.astype(np.int32),
        country=i.astype(np.int32),
        need_t=compiled.horizon * need_m[k, s, i],
    )


def _exposure_index(tensor: SupplyTensor, compiled: CompiledScenario) -> np.ndarray:
    n_k, n_s, n_c = tensor.shape
    scope = np.asarray(compiled.material_scope, dtype=bool)
    stage_ok = np.arange(n_s)[None, :] < tensor.n_stages[:, None]
    mask = (tensor.need > 0) & scope[:, None, None] & stage_ok[:, :, None]
    xidx = np.full((n_k, n_s, n_c), -1, dtype=np.int64)
    xidx[mask] = np.arange(int(mask.sum()))
    return xidx


def _check_shapes(tensor: SupplyTensor, compiled: CompiledScenario) -> None:
    n_k, n_s, n_c = tensor.shape
    e = compiled.n_events
    expected = {
        "ev_stage": (e, n_k),
        "ev_targets": (e, n_c),
        "occ_chol": (e, e),
        "material_scope": (n_k,),
        "var_par": (compiled.n_variates, 4),
    }
    for name, shape in expected.items():
        got = np.shape(getattr(compiled, name))
        if got != shape:
            raise ScenarioError(
                f"compiled scenario {compiled.name!r}: {name} has shape {got}, expected "
                f"{shape} for a dataset of {n_k} materials, {n_s} stages, {n_c} countries; "
                "compile the scenario against this dataset"
            )
    if compiled.sp_stock.shape[1:] != (n_k, n_c):
        raise ScenarioError(
            f"compiled scenario {compiled.name!r}: sp_stock has shape "
            f"{compiled.sp_stock.shape}, expected (J, {n_k}, {n_c})"
        )
    if compiled.dataset_hash and tensor.hash and compiled.dataset_hash != tensor.hash:
        raise ScenarioError(
            f"compiled scenario {compiled.name!r} was compiled against dataset "
            f"{compiled.dataset_hash[:12]}, not this one ({tensor.hash[:12]}); "
            "compile it again against the dataset you run"
        )
    if compiled.horizon < 1:
        raise ScenarioError(f"scenario {compiled.name!r}: horizon {compiled.horizon} < 1 month")


def zones(tensor: SupplyTensor, compiled: CompiledScenario) -> Zones:
    """The price zones of every simulated (material, stage) (docs/model.md, "Zones").

    For material k at stage s, every country taking part in k gets a *signature*: for
    each export restriction that caps routes at stage s, whether it is the origin ('O'),
    a target ('T') or neither ('-'); for each restriction whose re-export reach caps
    third countries' stage-s exports, whether it is a target ('T'), a target that
    re-exports the origin's feed (its own zone: it cannot resell into the targets'
    market beyond what the rule lets through) or neither. Countries with equal
    signatures form a zone; zones are ordered by their first member.
    """
    return _zone_structure(tensor, compiled)[0]


def _taking_part(tensor: SupplyTensor, compiled: CompiledScenario) -> np.ndarray:
    """bool[K, C]: countries with flows or capacity in a material, or a capacity
    intervention there."""
    prod = tensor.flow.sum(axis=3)
    need = tensor.flow.sum(axis=2)
    part = (prod > 0).any(axis=1) | (need > 0).any(axis=1) | (tensor.capacity > 0).any(axis=1)
    for q in range(len(compiled.cap_material)):
        part[int(compiled.cap_material[q]), int(compiled.cap_country[q])] = True
    return part


def _re_share(tensor: SupplyTensor, compiled: CompiledScenario) -> np.ndarray:
    """float64[E, K, C]: share of a third country's stage-s feed that comes from the
    origin of a re-export restriction at stage s (0 where it does not apply)."""
    n_k, _, n_c = tensor.shape
    need = tensor.flow.sum(axis=2)
    out = np.zeros((compiled.n_events, n_k, n_c))
    for e in range(compiled.n_events):
        if not compiled.ev_re_export[e] or compiled.ev_kind[e] != EVENT_RESTRICTION:
            continue
        o = int(compiled.ev_origin[e])
        for k in range(n_k):
            s = int(compiled.ev_stage[e, k])
            if s < 0 or s + 1 >= tensor.n_stages[k]:
                continue
            safe = np.where(need[k, s] > 0, need[k, s], 1.0)
            share = np.where(need[k, s] > 0, tensor.flow[k, s, o] / safe, 0.0)
            share[o] = 0.0
            out[e, k] = share
    return out


def _zone_structure(tensor: SupplyTensor, compiled: CompiledScenario):
    n_k, n_s, n_c = tensor.shape
    part = _taking_part(tensor, compiled)
    re_share = _re_share(tensor, compiled)
    scope = np.flatnonzero(np.asarray(compiled.material_scope, dtype=bool))
    n_e = compiled.n_events
    restriction = np.asarray(compiled.ev_kind) == EVENT_RESTRICTION
    per_ks = {}
    for k in scope:
        for s in range(int(tensor.n_stages[k])):
            members = np.flatnonzero(part[k])
            direct = [e for e in range(n_e) if restriction[e] and compiled.ev_stage[e, k] == s]
            reach = [e for e in range(n_e) if restriction[e] and compiled.ev_re_export[e]
                     and compiled.ev_stage[e, k] == s - 1 and s >= 1]
            sig = {}
            for i in members:
                key = []
                for e in direct:
                    o = int(compiled.ev_origin[e])
                    key.append("O" if i == o else ("T" if compiled.ev_targets[e, i] else "-"))
                for e in reach:
                    if compiled.ev_targets[e, i] and i != compiled.ev_origin[e]:
                        key.append(f"R{i}" if re_share[e, k, i] > 0 else "T")
                    else:
                        key.append("-")
                sig.setdefault(tuple(key), []).append(int(i))
            groups = sorted(sig.items(), key=lambda kv: kv[1][0])
            per_ks[(k, s)] = (direct, reach, groups)
    n_z = max([len(v[2]) for v in per_ks.values()] or [1])
    zone_of = np.full((n_k, n_s, n_c), NO_ZONE, dtype=np.uint64)
    n_zone = np.zeros((n_k, n_s), dtype=np.int64)
    zone_need = np.zeros((n_k, n_s, n_z))
    zone_tgt = np.zeros((n_k, n_s, n_z, max(1, n_e)), dtype=np.bool_)
    zone_rtgt = np.zeros((n_k, n_s, n_z, max(1, n_e)), dtype=np.bool_)
    is_origin = np.zeros((n_k, n_s, n_c), dtype=np.bool_)
    bz = np.zeros((n_k, n_s, n_c, n_z))
    zg = np.full((n_k, n_s, n_z), -1, dtype=np.int64)
    flow_m = tensor.flow / MONTHS_PER_YEAR
    need_m = flow_m.sum(axis=2)
    g_mat, g_stage, g_index, g_members, g_names, g_need = [], [], [], [], [], []
    zone_prec = np.zeros((n_k, n_s, n_z, max(1, n_e)))
    for (k, s), (direct, reach, groups) in per_ks.items():
        n_zone[k, s] = len(groups)
        names = _zone_names(tensor, compiled, [m for _, m in groups])
        for z, (key, mem) in enumerate(groups):
            zone_of[k, s, mem] = z
            zone_need[k, s, z] = need_m[k, s, mem].sum()
            bz[k, s, :, z] = flow_m[k, s][:, mem].sum(axis=1)
            for slot, e in enumerate(direct):
                if key[slot] == "T":
                    zone_tgt[k, s, z, e] = True
            for slot, e in enumerate(reach):
                if key[len(direct) + slot] != "-":
                    zone_rtgt[k, s, z, e] = True
            for e in range(n_e):  # precaution: the targets' share of the zone's need
                s_e = int(compiled.ev_stage[e, k])
                if not restriction[e] or s_e < 0 or s_e > s or zone_need[k, s, z] <= 0:
                    continue
                if s_e == s:
                    zone_prec[k, s, z, e] = 1.0 if zone_tgt[k, s, z, e] else 0.0
                    continue
                o = int(compiled.ev_origin[e])
                hit = [i for i in mem if compiled.ev_targets[e, i] and i != o]
                zone_prec[k, s, z, e] = need_m[k, s, hit].sum() / zone_need[k, s, z]
            zg[k, s, z] = len(g_mat)
            g_mat.append(k)
            g_stage.append(s)
            g_index.append(z)
            g_members.append(tuple(mem))
            g_names.append(names[z])
            g_need.append(zone_need[k, s, z])
        for e in direct:
            is_origin[k, s, int(compiled.ev_origin[e])] = True
    info = Zones(
        material=np.array(g_mat, dtype=np.int32), stage=np.array(g_stage, dtype=np.int32),
        index=np.array(g_index, dtype=np.int32), members=tuple(g_members),
        name=tuple(g_names), need=np.array(g_need, dtype=np.float64),
    )
    arrays = dict(zone_of=zone_of, n_zone=n_zone, zone_need=zone_need, zone_tgt=zone_tgt,
                  zone_rtgt=zone_rtgt, zone_prec=zone_prec, is_origin=is_origin, bz=bz, zg=zg,
                  n_zg=len(g_mat))
    return info, arrays, re_share, part


def _zone_names(tensor, compiled, groups) -> list[str]:
    """Readable, unique names of the zones of one (material, stage): 'world' for a single
    zone, a single country by its code, everyone but one country 'ex-<code>', a zone
    equal to a group by the group's name, then a zone equal to the members of a group
    that take part here by that group's name (DyTb's refining partners: the targets of
    a restriction on 'partners' that trade the material; where several groups fit, the
    scenario's own before the dataset's, then the smallest: 'partners' before 'OECD'),
    the largest other zone 'rest', and any other by its members joined with '+'."""
    group_sets = {}
    dataset_groups = [(name, frozenset(tensor.countries.index(c) for c in codes
                                       if c in tensor.countries))
                      for name, codes in tensor.groups.items()]
    own_groups = [(name, frozenset(idx))
                  for name, idx in compiled.extra.get("group_members", {}).items()]
    for name, idx in dataset_groups + own_groups:
        group_sets.setdefault(idx, name)
    taking_part = frozenset(i for m in groups for i in m)
    ranked = sorted(enumerate(own_groups + dataset_groups),
                    key=lambda item: (item[0] >= len(own_groups), len(item[1][1]), item[0]))
    for _, (name, idx) in ranked:
        if len(idx & taking_part) > 1:
            group_sets.setdefault(idx & taking_part, name)
    multi = [z for z, m in enumerate(groups) if len(m) > 1
             and frozenset(m) not in group_sets]
    rest = max(multi, key=lambda z: len(groups[z])) if multi else -1
    single = [m[0] for m in groups if len(m) == 1]
    names = []
    for z, mem in enumerate(groups):
        if len(groups) == 1:
            name = "world"
        elif len(mem) == 1:
            name = tensor.countries[mem[0]]
        elif len(groups) == 2 and len(single) == 1:
            name = f"ex-{tensor.countries[single[0]]}"  # everyone but one country
        elif frozenset(mem) in group_sets:
            name = group_sets[frozenset(mem)]
        elif z == rest:
            name = "rest"
        else:
            name = "+".join(tensor.countries[i] for i in mem)
        names.append(name)
    seen = {}
    for z, name in enumerate(names):
        if name in seen:
            names[z] = f"{name}#{z}"
        seen[name] = z
    return names


@dataclass(frozen=True, eq=False)
class Model:
    """What the kernel runs: the tensor and the scenario as named structures
    (simcore/kernel/structs.py), with the zones and the number of exposures. Pickles,
    so that an executor can ship it to other processes."""

    tn: tuple  # simcore.kernel.structs.Tensor
    sc: tuple  # simcore.kernel.structs.Scen
    zones: Zones
    n_exposures: int

    @property
    def horizon(self) -> int:
        return int(self.sc.horizon)

    @functools.cached_property
    def row_zone(self) -> np.ndarray:
        """int64[X]: the zone group of each exposure row."""
        sc = self.sc
        k, s, i = np.nonzero(sc.xidx >= 0)
        row_zone = np.zeros(self.n_exposures, dtype=np.int64)
        row_zone[sc.xidx[k, s, i]] = sc.zg[k, s, sc.zone_of[k, s, i]]
        return row_zone

    @functools.cached_property
    def with_holders(self) -> tuple:
        """``_with_holders`` of the model, made once (each block of a run made it again:
        2 ms of the main thread a block of the partner study)."""
        return _with_holders(self.sc, self.tn)


def prepare(tensor: SupplyTensor, compiled: CompiledScenario) -> Model:
    """The kernel's inputs as named structures of canonical C-contiguous arrays, in
    monthly units."""
    from simcore.kernel.structs import Scen, Tensor

    _check_shapes(tensor, compiled)
    f64 = np.float64
    i64 = np.int64

    def arr(a, dtype):
        # always a fresh writeable copy: a read-only array (cached datasets are) would
        # make numba compile a second specialisation of the kernel
        return np.array(a, dtype=dtype, order="C")

    n_k, n_s, n_c = tensor.shape
    n_stages = arr(tensor.n_stages, i64)
    flow = arr(tensor.flow, f64) / MONTHS_PER_YEAR
    prod = flow.sum(axis=3)
    need = flow.sum(axis=2)
    cap = arr(tensor.capacity, f64) / MONTHS_PER_YEAR
    spare_cap = np.maximum(cap - prod, 0.0)

    # baseline yields: output of stage s per unit of stage s-1 feed
    yld = np.zeros((n_k, n_s, n_c))
    has_feed = np.zeros((n_k, n_s, n_c), dtype=bool)
    world_yld = np.zeros((n_k, n_s))
    for k in range(n_k):
        for s in range(1, int(n_stages[k])):
            feed_need = need[k, s - 1]
            tot_feed = feed_need.sum()
            world_yld[k, s] = prod[k, s].sum() / tot_feed if tot_feed > 0 else 0.0
            has_feed[k, s] = feed_need > 0
            safe = np.where(feed_need > 0, feed_need, 1.0)
            yld[k, s] = np.where(feed_need > 0, prod[k, s] / safe, world_yld[k, s])

    e_n = compiled.n_events
    ev_stage = arr(compiled.ev_stage, i64)
    ev_targets = arr(compiled.ev_targets, np.bool_)
    ev_origin = arr(compiled.ev_origin, i64)
    ev_kind = arr(compiled.ev_kind, i64)
    ev_quota = arr(compiled.ev_quota, f64)
    ev_qsev = np.full((e_n, n_k), np.nan)
    for e in range(e_n):
        o = int(ev_origin[e])
        targets = ev_targets[e].copy()
        targets[o] = False
        for k in range(n_k):
            s = int(ev_stage[e, k])
            if s < 0 or ev_kind[e] != EVENT_RESTRICTION or np.isnan(ev_quota[e]):
                continue
            exports = flow[k, s, o, targets].sum()
            quota_m = ev_quota[e] / MONTHS_PER_YEAR
            ev_qsev[e, k] = min(1.0, max(0.0, 1.0 - quota_m / exports)) if exports > 0 else 0.0

    info, za, re_share, part = _zone_structure(tensor, compiled)
    kc_ptr = np.concatenate([[0], np.cumsum(part.sum(axis=1))]).astype(i64)
    kc_idx = np.nonzero(part)[1].astype(np.uint64)
    # producers and buyers of each (material, stage): the month loop visits only these
    producer = (prod > 0) | (spare_cap > 0)
    for q in range(len(compiled.cap_material)):
        producer[int(compiled.cap_material[q]), int(compiled.cap_stage[q]),
                 int(compiled.cap_country[q])] = True
    buyer = need > 0
    held = (np.asarray(tensor.stock) > 0) | (np.asarray(compiled.sp_stock).reshape(
        -1, n_k, n_c) > 0).any(axis=0)
    for k in range(n_k):
        ns = int(n_stages[k])
        buyer[k, : ns - 1] |= producer[k, 1:ns]  # the feed of the next stage's producers
        buyer[k, ns - 1] |= held[k]
    producer &= part[:, None, :]
    buyer &= part[:, None, :]
    pr_ptr, pr_idx = _index_lists(producer)
    by_ptr, by_idx = _index_lists(buyer)
    xidx = _exposure_index(tensor, compiled)
    tn = Tensor(
        prod=arr(prod, f64), need=arr(need, f64), spare_cap=arr(spare_cap, f64),
        yld=yld, has_feed=has_feed, world_yld=world_yld, n_stages=n_stages,
        kc_ptr=kc_ptr, kc_idx=kc_idx, pr_ptr=pr_ptr, pr_idx=pr_idx, by_ptr=by_ptr,
        by_idx=by_idx, stock=arr(tensor.stock, f64),
        maxrel=arr(tensor.max_release, f64), market=arr(tensor.market_table, f64),
    )
    n_j = len(compiled.sp_probability)
    sc = Scen(
        horizon=int(compiled.horizon),
        var_key=arr(compiled.var_key, np.uint64),
        var_dist=arr(compiled.var_dist, i64),
        var_par=arr(np.reshape(compiled.var_par, (compiled.n_variates, 4)), f64),
        disc_values=arr(compiled.disc_values, f64).reshape(-1),
        disc_cdf=arr(compiled.disc_cdf, f64).reshape(-1),
        ev_kind=ev_kind, ev_origin=ev_origin, ev_prob=arr(compiled.ev_probability, f64),
        ev_parent=arr(compiled.ev_parent, i64),
        ev_occ_var=arr(compiled.ev_occurs_var, i64),
        ev_onset_var=arr(compiled.ev_onset_var, i64),
        ev_lag_var=arr(compiled.ev_lag_var, i64),
        ev_dur_var=arr(compiled.ev_duration_var, i64),
        ev_sev_var=arr(compiled.ev_severity_var, i64),
        ev_settled_var=arr(compiled.ev_settled_var, i64),
        ev_settle_var=arr(compiled.ev_settle_var, i64),
        ev_leak_var=arr(compiled.ev_leakage_var, i64),
        ev_lead_var=arr(compiled.ev_lead_var, i64),
        ev_qsev=ev_qsev, ev_re_export=arr(compiled.ev_re_export, np.bool_),
        ev_stage=ev_stage, ev_targets=ev_targets,
        ev_correlated=arr(compiled.ev_correlated, np.bool_),
        occ_chol=arr(np.reshape(compiled.occ_chol, (e_n, e_n)), f64),
        re_share=arr(re_share, f64),
        resp_var=arr([compiled.spare_usable_var, compiled.substitution_max_var,
                      compiled.substitution_months_var], i64),
        mkt_var=arr(compiled.mkt_var, i64), mkt_given=arr(compiled.mkt_given, np.bool_),
        sp_stock=arr(compiled.sp_stock, f64).reshape(-1, n_k, n_c),
        sp_maxrel=arr(compiled.sp_max_release, f64).reshape(-1, n_k, n_c),
        sp_occ_var=arr(compiled.sp_occurs_var, i64),
        sp_prob=arr(compiled.sp_probability, f64),
        sp_reserved=arr(compiled.sp_reserved, np.bool_).reshape(n_j),
        ds_reserved=bool(compiled.dataset_stocks_reserved),
        release_price=float(compiled.release_price),
        cap_mat=arr(compiled.cap_material, i64), cap_stage=arr(compiled.cap_stage, i64),
        cap_country=arr(compiled.cap_country, i64),
        cap_add=arr(compiled.cap_tonnes, f64) / MONTHS_PER_YEAR,
        cap_prob=arr(compiled.cap_probability, f64),
        cap_occ_var=arr(compiled.cap_occurs_var, i64),
        cap_online_var=arr(compiled.cap_online_var, i64),
        scope=np.flatnonzero(np.asarray(compiled.material_scope, dtype=bool)).astype(i64),
        xidx=xidx, hidx=np.full((n_k, n_c), -1, dtype=i64), **za,
    )
    return Model(tn=tn, sc=sc, zones=info, n_exposures=int((xidx >= 0).sum()))


_POLL = 0.1  # [s] between looks at the draws finished, for on_draws


def _index_lists(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bool[K, S, C] -> (ptr int64[K, S, 2], idx uint64[...]): the countries of (k, s)
    are idx[ptr[k, s, 0]:ptr[k, s, 1]], in country order."""
    n_k, n_s, _ = mask.shape
    counts = mask.sum(axis=2).reshape(-1)
    ends = np.cumsum(counts)
    ptr = np.stack([ends - counts, ends], axis=1).reshape(n_k, n_s, 2).astype(np.int64)
    return ptr, np.nonzero(mask)[2].astype(np.uint64)


def run_block(model: Model, seed: int, start: int, n: int, *, timeseries: bool = False,
              zone_series: bool = False, trace: bool = False,
              threads: int | None = None,
              on_draws: Callable[[int], None] | None = None) -> dict:
    """Draws [start, start + n) through the kernel; returns the raw output arrays, keyed
    as the ``ChunkResult`` fields (plus ``trace`` [n, X, H, NTR] and ``zone_trace``
    [n, G, H, NTZ] with trace=True: columns in simcore.kernel.model TR_* / TZ_*).

    The block is cut into one contiguous slice per thread; each slice runs the nogil
    kernel ``run_draws`` on its own Python thread (docs/model.md, "Parallelism").

    ``on_draws(k)`` is told the number of the block's draws finished so far, every
    ``_POLL`` seconds while the block runs: each kernel worker counts its finished draws
    in its own slot of ``out.progress``, which this thread adds up. The slices then always
    run on threads (also a single one); the numbers are the same either way.
    """
    from simcore._native import kernel_function

    run_draws = kernel_function("run_draws")
    n_workers = _workers(n, threads)
    block = _Block.make(model, seed, start, n, n_workers, timeseries, zone_series, trace,
                        None)
    if n_workers == 1 and on_draws is None:
        run_draws(0, *block.args, block.work[0])
        return block.collect(on_draws)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        block.submit(pool)
        return block.collect(on_draws)


def _workers(n: int, threads: int | None) -> int:
    """Kernel workers for a block of n draws."""
    return max(1, min(n, default_threads() if threads is None else int(threads)))


@dataclass
class _Block:
    """A block of draws on its way through the kernel: its output set, one scratch set
    per worker, and the workers' futures once submitted.

    ``spare`` (``simulate``'s blocks; None in ``run_block``): a list in which the block
    leaves its output arrays (``whole``) and from which it takes those of an earlier
    block of as many draws or more that nothing references any more (the caller has let
    go of that chunk and of every view of it), the first n draws of each array when the
    earlier block was larger (the last, shorter blocks): the kernel writes every output
    of every draw, and fresh arrays cost page faults, 50 kB a draw in the partner study.
    ``counted``: the same for the block's histograms (``_count_arrays``)."""

    model: Model
    start: int
    n: int
    holders: np.ndarray
    args: tuple
    work: list
    spare: list | None
    whole: tuple
    counted: list | None
    trace: bool
    timeseries: bool
    zone_series: bool
    running: list

    @classmethod
    def make(cls, model, seed, start, n, n_workers, timeseries, zone_series, trace, spare,
             counted=None):
        from simcore.kernel.structs import scratch

        sc, holders = model.with_holders
        n_g = int(sc.n_zg)
        H = int(sc.horizon)
        n_v = sc.var_key.shape[0]
        n_e = sc.ev_kind.shape[0]
        timeseries = bool(timeseries or trace)
        zone_series = bool(zone_series or trace)
        if trace:
            spare = counted = None

        def layout_for(draws):
            return _out_layout(draws, n_workers, n_v, n_e, model.n_exposures, n_g, H,
                               max(1, len(holders)), timeseries, zone_series, trace)

        layout = layout_for(n)
        whole = None if spare is None else _unused_out(spare, n, layout_for)
        if whole is not None:
            out = _first_draws(whole, layout)
            out.progress.fill(0)
        else:
            from simcore.kernel.structs import Out

            out = whole = Out(*(np.zeros(*spec) if isinstance(spec, tuple) else spec
                                for spec in layout))
        n_k, n_s, n_c = model.tn.prod.shape
        work = [scratch(n_e, sc.sp_occ_var.shape[0], sc.cap_occ_var.shape[0], n_k, n_s, n_c,
                        sc.zone_need.shape[2], n_v) for _ in range(n_workers)]
        args = (start, n_workers, np.uint64(seed), model.tn, sc, out)
        return cls(model, start, n, holders, args, work, spare, whole, counted, bool(trace),
                   timeseries, zone_series, [])

    def submit(self, pool: ThreadPoolExecutor) -> None:
        """Queue one task per worker slice on ``pool``; a pool thread that finishes a
        slice of this block takes the next queued one, of this block or the next."""
        from simcore._native import kernel_function

        run_draws = kernel_function("run_draws")
        self.running = [pool.submit(run_draws, w, *self.args, ws)
                        for w, ws in enumerate(self.work)]

    def cancel(self) -> None:
        for task in self.running:
            task.cancel()

    def collect(self, on_draws=None, by_zone: bool = False) -> dict:
        """Wait for the block's workers (telling ``on_draws`` the draws done); the raw
        output arrays as ``run_block`` returns them, the rows' histogram by zone where
        ``by_zone`` (``ChunkResult``: zone_short_hist, ...; hist None): the rows'
        histogram of the partner study is 8.8 MB a block of its 40 zones' 0.8 MB, which
        making and adding up (the writer) took 5 ms a block."""
        from simcore.kernel.structs import NPB

        out = self.args[-1]
        while on_draws is not None and wait(self.running, timeout=_POLL).not_done:
            on_draws(int(out.progress.sum()))
        for done in self.running:
            done.result()
        bad = np.flatnonzero(out.status)
        if bad.size:
            j = int(bad[0])
            code = int(out.status[j])
            raise RuntimeError(
                f"simulation kernel stopped at draw {self.start + j} with status {code}: "
                f"{_STATUS_MEANING.get(code, 'unknown status')}"
            )
        n, model, holders, sc = self.n, self.model, self.holders, self.args[4]
        _, n_g, H, _ = out.zone_bins.shape
        row_zone = model.row_zone
        n_h = out.holder_bins.shape[1]
        shapes = ((n_g, H, NPB), (n_g, H, 101), (n_h, H, 101))
        if not by_zone:
            shapes += ((len(row_zone), H, 101),)  # written whole: not zeroed
        zhist, zshort, hshort, *rest = _count_arrays(self.counted, shapes,
                                                     0 if by_zone else 1)
        _zone_histograms(out.zone_bins, zhist, zshort, out.holder_bins, hshort)
        zshort[:, :, 0] = n - zshort[:, :, 1:].sum(axis=2)
        # a row's monthly shortage histogram: its zone's, plus, for a state-stock holder's
        # row, its own bin less its zone's in the months they differ (holder_bins);
        # bin 0 (no shortage) is what the other bins leave of the n draws
        rows = np.zeros(0, np.int64)
        hshort = hshort[: len(holders)]  # the kernel's holder arrays have one row at least
        if len(holders):
            rows = sc.xidx[holders[:, 0], model.tn.n_stages[holders[:, 0]] - 1, holders[:, 1]]
            mine = rows >= 0
            rows = rows[mine]
            hshort = hshort[mine]
        hist = None if by_zone else expand_histogram(zshort, row_zone, rows, hshort, n,
                                                     out=rest[0])
        if self.spare is not None:
            self.spare.append(self.whole)
            del self.spare[:-_SPARE]
        result = dict(
            shortage_t=out.shortage, peak_share=out.peak, months_short=out.months,
            first_short=out.first, last_short=out.last, stock_drawn_t=out.drawn,
            price_peak=out.price_peak, price_mean=out.price_mean, bought_t=out.bought,
            restocked_t=out.restocked, commercial_drawn_t=out.cdrawn,
            substituted_t=out.substituted, demand_given_up_t=out.given_up,
            rationed_t=out.rationed, zone_price_peak=out.zprice_peak,
            zone_price_mean=out.zprice_mean, zone_choke_months=out.zchoke,
            variates=out.variates, fired=out.fired,
            onset=out.onset, hist=hist, zone_hist=zhist,
            series=out.series if self.timeseries else None,
            zone_series=out.zseries if self.zone_series else None,
        )
        if by_zone:
            result.update(zone_short_hist=zshort, row_zone=row_zone, holder_rows=rows,
                          holder_short_hist=hshort)
        if self.trace:
            result["trace"] = out.trace
            result["zone_trace"] = out.ztrace
        return result


def _with_holders(sc, tn) -> tuple:
    """(sc with hidx set, the (material, country) pairs that can hold a state stock, in
    hidx order): those with a dataset stock or a stockpile intervention, whichever
    occur in a draw. The kernel counts their rows' histograms apart (run_draws)."""
    can = state_stock_holders(tn.stock, sc.sp_stock)
    holders = np.argwhere(can).astype(np.int64)
    hidx = np.full(can.shape, -1, dtype=np.int64)
    hidx[holders[:, 0], holders[:, 1]] = np.arange(len(holders))
    return sc._replace(hidx=hidx), holders


_SPARE = 2  # output sets kept for reuse: chunk i is written while chunk i + 1 is computed


def _out_layout(n, n_workers, n_v, n_e, n_x, n_g, H, n_h, timeseries, zone_series, trace):
    """The kernel's output set for a block (simcore.kernel.structs.Out): (shape, dtype)
    of each array, the flags as they are."""
    from simcore.kernel.structs import NTR, NTZ, Out

    f8, i2 = np.float64, np.int16
    per_x = ((n, n_x), f8)
    return Out(
        variates=((n, n_v), f8), fired=((n, n_e), np.bool_), onset=((n, n_e), np.int32),
        status=((n,), np.int64), shortage=per_x, peak=per_x, months=((n, n_x), i2),
        first=((n, n_x), i2), last=((n, n_x), i2), drawn=per_x, price_peak=per_x,
        price_mean=per_x, bought=per_x, restocked=per_x, cdrawn=per_x, substituted=per_x,
        given_up=per_x, rationed=per_x, zprice_peak=((n, n_g), f8),
        zprice_mean=((n, n_g), f8), zchoke=((n, n_g), i2),
        zone_bins=((n, n_g, H, 2), i2), holder_bins=((n, n_h, H, 2), i2),
        want_series=timeseries,
        series=((n, n_x, H) if timeseries else (1, 0, 0), np.float32),
        want_zseries=zone_series,
        zseries=((n, n_g, H) if zone_series else (1, 0, 0), np.float32),
        want_trace=bool(trace),
        trace=((n, n_x, H, NTR) if trace else (1, 0, 0, NTR), f8),
        ztrace=((n, n_g, H, NTZ) if trace else (1, 0, 0, NTZ), f8),
        progress=((n_workers,), np.int64),
    )


def _fits(out, layout) -> bool:
    """Whether output set ``out`` has the shapes, dtypes and flags of ``layout``."""
    for a, spec in zip(out, layout, strict=True):
        if isinstance(spec, tuple):
            if a.shape != spec[0] or a.dtype != np.dtype(spec[1]):
                return False
        elif a != spec:
            return False
    return True


def _most_refs(arrays) -> int:
    """The largest reference count of the arrays among ``arrays``, as this loop sees
    them (whatever the interpreter counts for the loop's own references)."""
    most = 0
    for a in arrays:
        if isinstance(a, np.ndarray):
            most = max(most, sys.getrefcount(a))
    return most


def _reuse_possible() -> bool:
    """Reference counts tell who holds an array on CPython with the GIL; a free-threaded
    build defers and splits them, so nothing is reused there."""
    return sys.implementation.name == "cpython" and getattr(sys, "_is_gil_enabled",
                                                            lambda: True)()


def _unused_out(spare: list, n: int, layout_for: Callable):
    """An output set of ``spare`` for n draws or more (``layout_for(draws)``: the
    ``_out_layout`` of a block of that many) that no one else references (taken out of
    the list), or None; sets that cannot serve n draws will not be used again (the
    blocks only shrink): they are let go (``_take_unused``)."""
    def fits(out) -> bool:
        draws = out.status.shape[0]
        return draws >= n and _fits(out, layout_for(draws))

    return _take_unused(spare, fits)


def _first_draws(whole, layout):
    """The output set of ``layout`` in the first draws of ``whole``, a set for as many
    draws or more: the arrays themselves where their shapes agree, else views of their
    first rows (C-contiguous, as the kernel needs them)."""
    from simcore.kernel.structs import Out

    return Out(*(a[: spec[0][0]] if isinstance(spec, tuple) and a.shape != spec[0] else a
                 for a, spec in zip(whole, layout, strict=True)))


def _take_unused(pool: list, fits) -> tuple | None:
    """An entry of ``pool`` (a tuple of arrays) for which ``fits`` holds and whose arrays
    no one else references, taken out of the list, or None; entries that do not fit are
    dropped. The reference count tells: an array held only by its entry counts as many as
    a fresh array held only by a fresh tuple (measured with the same loop, so the
    interpreter's own counting cancels out); a chunk, a view or an Arrow buffer of it adds
    one."""
    pool[:] = [entry for entry in pool if fits(entry)]
    if not _reuse_possible():
        return None
    alone = _most_refs((np.empty(0),))
    for i, entry in enumerate(pool):
        if _most_refs(entry) <= alone:
            return pool.pop(i)
    return None


def _zone_histograms(zone_bins: np.ndarray, price: np.ndarray, short: np.ndarray,
                     holder_bins: np.ndarray, holder_short: np.ndarray) -> None:
    """Add to price int64[G, H, NPB] and short int64[G, H, 101] (zeroed by the caller)
    the monthly counts over draws of each zone's price bin and shortage-share bin
    (zone_bins int16[n, G, H, 2], as the kernel writes them), and to holder_short
    int64[NH, H, 101] (zeroed) how the state-stock holders' rows differ from their
    zones' (holder_bins int16[n, NH, H, 2]), counted zone by zone and holder by holder
    by the kernel's ``count_zone_bins`` (twice as fast as a NumPy bincount over (zone,
    month, bin) keys). Counting in the kernel while it simulates instead cost about 6 %
    of its time for the prices (a random increment into 7.7 MB per worker for the
    partner study) and about 4 % for the holders (543 kB per worker, beyond a 512 kB
    L2)."""
    from simcore._native import kernel_function

    kernel_function("count_zone_bins")(zone_bins, price, short, holder_bins, holder_short)


def _count_arrays(pool: list | None, shapes: tuple, overwritten: int = 0) -> tuple:
    """int64 arrays of ``shapes`` for a block's histograms, all but the last
    ``overwritten`` zeroed: an earlier block's from ``pool`` (a list kept by
    ``simulate``; None: fresh arrays)
    that no one else references any more (the chunks handed out hold theirs), else fresh
    ones, put in the pool. A block's histograms are 17 MB in the partner study, which
    fresh cost in page faults each block (and the writer's sums of them another 7.7 MB
    each) about 0.1 s of CPU in a 10,000-draw run."""
    if pool is None:
        return tuple(np.zeros(shape, dtype=np.int64) for shape in shapes)
    found = _take_unused(pool, lambda arrays: tuple(a.shape for a in arrays) == shapes)
    if found is None:
        found = tuple(np.zeros(shape, dtype=np.int64) for shape in shapes)
    else:
        for counts in found[:len(found) - overwritten]:
            counts.fill(0)
    pool.append(found)
    del pool[:-(_SPARE + 1)]
    return found


def load_kernel(model: Model) -> None:
    """Load the kernel's machine code for the arrays of ``model`` from the cache, or
    compile it the first time (``simcore._numba.on_compile`` tells when); where it runs
    from its library (simcore/_native.py), the types are checked against the library's:
    a block of no draws."""
    run_block(model, 0, 0, 0, threads=1)


def default_threads() -> int:
    """Numba's thread count (NUMBA_NUM_THREADS, or set by numba.set_num_threads).

    ``numba.get_num_threads`` launches Numba's threading layer (an OpenMP or TBB pool,
    0.03 s of a run's start) that the engine, which runs its workers on Python threads,
    never uses; ``set_num_threads`` launches it first, so while it is not launched the
    count is NUMBA_NUM_THREADS. Where Numba is not imported (the kernel runs from its
    library, simcore/_native.py) that is read as Numba reads it: the environment, else
    the CPUs this process may run on."""
    if "numba" not in sys.modules:
        given = os.environ.get("NUMBA_NUM_THREADS", "").strip()
        if given:
            return max(1, int(given))
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return max(1, os.cpu_count() or 1)
    import numba
    from numba.np.ufunc import parallel

    if not getattr(parallel, "_is_initialized", True):
        return int(numba.config.NUMBA_NUM_THREADS)
    return int(numba.get_num_threads())


def _check_seed(seed) -> int:
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ScenarioError(f"seed {seed} is out of range; use an integer in [0, 2**64)")
    return seed


def simulate(
    tensor: SupplyTensor,
    compiled: CompiledScenario,
    draws: int | None = None,
    seed: int | None = None,
    threads: int | None = None,
    chunk_size: int = LOCAL_CHUNK_SIZE,
    timeseries: bool = False,
    progress: Callable[[int, int], None] | None = None,
    zone_series: bool = False,
) -> Iterator[ChunkResult]:
    """Run the scenario; yields a ChunkResult per block of at most ``chunk_size`` draws:
    blocks of ``chunk_size``, and after the first the last ``chunk_size`` or fewer halved
    down to between an eighth and a quarter of it (``_spans``; a run of one block yields
    one chunk).

    draws, seed default to the scenario's. threads: kernel worker threads (default:
    numba.get_num_threads()); results never depend on it nor on chunk_size.
    ``timeseries``/``zone_series``: also return every draw's monthly shortage shares /
    zone prices.

    The kernel is loaded (or compiled, the first time) here, and the first blocks are
    queued to its threads before this returns: they run while the caller sets up (and
    stop, but for the slices running, when the iterator is closed or let go of).
    ``progress(done, draws)`` is called with 0 when the first block starts, with the
    draws finished so far every 0.1 s while a block runs, and after each block.
    """
    draws = int(compiled.draws if draws is None else draws)
    if draws < 0:
        raise ScenarioError(f"draws must be >= 0, got {draws}")
    if chunk_size < 1:
        raise ScenarioError(f"chunk_size must be >= 1, got {chunk_size}")
    seed = _check_seed(compiled.seed if seed is None else seed)
    model = prepare(tensor, compiled)
    if threads is not None and int(threads) < 1:
        raise ScenarioError(f"threads must be >= 1, got {threads}")
    load_kernel(model)
    chunks = _chunks(model, draws, seed, threads, chunk_size, timeseries, zone_series, progress)
    if next(chunks, _NO_DRAWS) is _NO_DRAWS:
        return iter(())
    return chunks


_NO_DRAWS = object()  # next()'s answer where _chunks ends before a block (no draws)


_TAIL = 8  # the last blocks shrink down to chunk_size / _TAIL draws (_spans),
_TAIL_MIN = 64  # and no block is cut below this


def _spans(draws: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """(first draw, draws) of each block, one at a time: ``chunk_size`` draws; after the
    first block, the last chunk_size or fewer are halved block by block while a half is
    at least chunk_size / _TAIL and _TAIL_MIN draws (the last blocks hold between an
    eighth and a quarter of chunk_size; a run of one block stays one block), so that the
    chunk still to be written once the kernel is done is small (the writer runs one
    chunk behind the kernel; writing the partner study's last 2,048 draws took 0.2 s
    with a core idle)."""
    a = 0
    while a < draws:
        left = draws - a
        n = chunk_size if left > chunk_size else left
        if a and left <= chunk_size and n >= 2 * max(_TAIL_MIN, chunk_size // _TAIL):
            n = (left + 1) // 2
        yield a, n
        a += n


def _chunks(model, draws, seed, threads, chunk_size, timeseries, zone_series, progress):
    """The blocks of ``simulate``, pipelined: block i + 1 is queued to the kernel's
    workers before block i is collected, so a worker that finishes its slice of block i
    goes on with block i + 1 while the other finishes, while this thread counts block
    i's histograms and while the caller takes chunk i (each block waited on the slowest
    slice and on that counting before: 0.1-0.3 s of two idle cores per 2,048 draws of the
    partner study)."""
    spans = _spans(draws, chunk_size)
    spare: list = []  # output arrays of chunks already handed out, for reuse (_Block)
    counted: list = []  # and their histograms (_count_arrays)
    if progress is not None:
        progress(0, draws)
    current = next(spans, None)
    if current is None:
        return
    n_workers = _workers(min(chunk_size, draws), threads)

    def make(a, n):
        return _Block.make(model, seed, a, n, _workers(n, n_workers), timeseries,
                           zone_series, False, spare, counted)

    with ThreadPoolExecutor(max_workers=n_workers,
                            thread_name_prefix="supplyshock-kernel") as pool:
        block = make(*current)
        block.submit(pool)
        ahead = None
        try:
            yield None  # the first block is queued (simulate returns from here)
            while current is not None:
                done, n = current
                current = next(spans, None)
                if current is not None:
                    ahead = make(*current)
                    ahead.submit(pool)
                watch = None if progress is None else (
                    lambda k, d=done: progress(d + k, draws))
                out = block.collect(watch, by_zone=True)
                block = None
                yield ChunkResult(start=done, stop=done + n, **out)
                del out
                if progress is not None:
                    progress(done + n, draws)
                block, ahead = ahead, None
        finally:
            for waiting in (block, ahead):
                if waiting is not None:
                    waiting.cancel()


def trace(tensor: SupplyTensor, compiled: CompiledScenario, draws: int, seed: int | None = None,
          start: int = 0) -> dict:
    """Debug path: every per-draw output plus the monthly accounting of each exposure
    (``trace`` [n, X, H, NTR]: need, bought, restocked, drawn from commercial and state
    stocks, substituted, given up, rationed, shortage, price, used) and of each zone
    (``zone_trace`` [n, G, H, NTZ]: price, rationed share, inflow, contracts,
    production, stock, state purchases and releases, unsold supply, excess of a capped
    route over its cap, need); columns in simcore.kernel.model TR_* / TZ_*."""
    seed = _check_seed(compiled.seed if seed is None else seed)
    return run_block(prepare(tensor, compiled), seed, start, draws, trace=True, threads=1)
