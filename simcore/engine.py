"""The engine: a SupplyTensor and a CompiledScenario in, ChunkResults out.

``exposures`` lists what is reported; ``simulate`` runs the Numba kernel
(simcore/kernel/model.py) block by block of draws, so memory stays bounded for any
number of draws, and yields one ``ChunkResult`` per block in draw order (contract:
docs/architecture.md). This is the boundary of the kernel: yearly quantities become
monthly here ([t/year] / 12 = [t/month]), every array gets its canonical dtype, and
quantities the kernel would otherwise recompute per draw (quota severities, re-export
shares, yields, announcement-rush flows) are computed once.

Importing this module does not import numba; the first call to ``simulate`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from simcore.compiled import EVENT_RESTRICTION, CompiledScenario
from simcore.errors import ScenarioError
from simcore.tensor import SupplyTensor

MONTHS_PER_YEAR = 12.0

_STATUS_MEANING = {
    1: "market allocation found no cut bounding an infeasible level (numerical)",
    2: "market allocation froze nobody below full delivery (numerical)",
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
class ChunkResult:
    """Per-draw results of draws [start, stop) (docs/architecture.md)."""

    start: int
    stop: int
    shortage_t: np.ndarray  # float64[n, X] cumulative shortage [t]
    peak_share: np.ndarray  # float64[n, X]
    months_short: np.ndarray  # int16[n, X]
    first_short: np.ndarray  # int16[n, X]
    last_short: np.ndarray  # int16[n, X]
    stock_drawn_t: np.ndarray  # float64[n, X] [t]
    price_peak: np.ndarray  # float64[n, X]
    price_mean: np.ndarray  # float64[n, X]
    variates: np.ndarray  # float64[n, V]
    fired: np.ndarray  # bool[n, E]
    onset: np.ndarray  # int32[n, E]
    hist: np.ndarray  # int64[X, H, 101]
    series: np.ndarray | None  # float32[n, X, H]


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


def prepare(tensor: SupplyTensor, compiled: CompiledScenario) -> dict:
    """The kernel's inputs as canonical C-contiguous arrays, monthly units."""
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
    # tonnes of stage s -> tonnes of the last stage (announcement rush stocks)
    to_last = np.ones((n_k, n_s))
    for k in range(n_k):
        for s in range(int(n_stages[k]) - 2, -1, -1):
            to_last[k, s] = to_last[k, s + 1] * world_yld[k, s + 1]

    e_n = compiled.n_events
    ev_stage = arr(compiled.ev_stage, i64)
    ev_targets = arr(compiled.ev_targets, np.bool_)
    ev_origin = arr(compiled.ev_origin, i64)
    ev_kind = arr(compiled.ev_kind, i64)
    ev_quota = arr(compiled.ev_quota, f64)
    ev_re_export = arr(compiled.ev_re_export, np.bool_)
    ev_lead_var = arr(compiled.ev_lead_var, i64)
    ev_qsev = np.full((e_n, n_k), np.nan)
    re_share = np.zeros((e_n, n_k, n_c))
    rush_flow = np.zeros((e_n, n_k, n_c))
    for e in range(e_n):
        o = int(ev_origin[e])
        targets = ev_targets[e].copy()
        targets[o] = False
        for k in range(n_k):
            s = int(ev_stage[e, k])
            if s < 0 or ev_kind[e] != EVENT_RESTRICTION:
                continue
            if not np.isnan(ev_quota[e]):
                exports = flow[k, s, o, targets].sum()
                quota_m = ev_quota[e] / MONTHS_PER_YEAR
                ev_qsev[e, k] = min(1.0, max(0.0, 1.0 - quota_m / exports)) if exports > 0 else 0.0
            if ev_re_export[e] and s + 1 < n_stages[k]:
                feed_need = need[k, s]
                safe = np.where(feed_need > 0, feed_need, 1.0)
                share = np.where(feed_need > 0, flow[k, s, o] / safe, 0.0)
                share[o] = 0.0
                re_share[e, k] = share
            if ev_lead_var[e] >= 0:
                rush_flow[e, k, targets] = flow[k, s, o, targets] * to_last[k, s]

    resp_var = arr(
        [
            compiled.reroute_lag_var,
            compiled.spare_ramp_var,
            compiled.spare_usable_var,
            compiled.substitution_max_var,
            compiled.substitution_months_var,
            compiled.elasticity_var,
        ],
        i64,
    )
    # baseline flows row by row (compressed sparse rows): csr_ptr[k, s, e] .. [k, s, e + 1]
    # index the importers e ships to, in csr_col / csr_val
    nz = flow > 0
    csr_ptr = np.zeros((n_k, n_s, n_c + 1), dtype=i64)
    counts = nz.sum(axis=3).reshape(-1)
    starts = np.concatenate([[0], np.cumsum(counts)])
    csr_ptr[:, :, :n_c] = starts[:-1].reshape(n_k, n_s, n_c)
    csr_ptr[:, :, n_c] = starts[1:].reshape(n_k, n_s, n_c)[:, :, -1]
    csr_col = np.nonzero(nz)[3].astype(i64)
    csr_val = flow[nz]
    # countries taking part in each material: flows, capacity, or capacity interventions
    part = (prod > 0).any(axis=1) | (need > 0).any(axis=1) | (cap > 0).any(axis=1)
    for q in range(len(compiled.cap_material)):
        part[int(compiled.cap_material[q]), int(compiled.cap_country[q])] = True
    kc_ptr = np.concatenate([[0], np.cumsum(part.sum(axis=1))]).astype(i64)
    kc_idx = np.nonzero(part)[1].astype(i64)
    return dict(
        kc_ptr=kc_ptr,
        kc_idx=kc_idx,
        csr_ptr=csr_ptr,
        csr_col=csr_col,
        csr_val=np.ascontiguousarray(csr_val),
        horizon=int(compiled.horizon),
        price_cap=float(compiled.price_cap),
        var_key=arr(compiled.var_key, np.uint64),
        var_dist=arr(compiled.var_dist, i64),
        var_par=arr(np.reshape(compiled.var_par, (compiled.n_variates, 4)), f64),
        disc_values=arr(compiled.disc_values, f64).reshape(-1),
        disc_cdf=arr(compiled.disc_cdf, f64).reshape(-1),
        ev_kind=ev_kind,
        ev_origin=ev_origin,
        ev_prob=arr(compiled.ev_probability, f64),
        ev_parent=arr(compiled.ev_parent, i64),
        ev_occ_var=arr(compiled.ev_occurs_var, i64),
        ev_onset_var=arr(compiled.ev_onset_var, i64),
        ev_lag_var=arr(compiled.ev_lag_var, i64),
        ev_dur_var=arr(compiled.ev_duration_var, i64),
        ev_sev_var=arr(compiled.ev_severity_var, i64),
        ev_settled_var=arr(compiled.ev_settled_var, i64),
        ev_settle_var=arr(compiled.ev_settle_var, i64),
        ev_leak_var=arr(compiled.ev_leakage_var, i64),
        ev_lead_var=ev_lead_var,
        ev_qsev=ev_qsev,
        ev_re_export=ev_re_export,
        ev_stage=ev_stage,
        ev_targets=ev_targets,
        ev_correlated=arr(compiled.ev_correlated, np.bool_),
        occ_chol=arr(np.reshape(compiled.occ_chol, (e_n, e_n)), f64),
        resp_var=resp_var,
        sp_stock=arr(compiled.sp_stock, f64).reshape(-1, n_k, n_c),
        sp_maxrel=arr(compiled.sp_max_release, f64).reshape(-1, n_k, n_c),
        sp_occ_var=arr(compiled.sp_occurs_var, i64),
        sp_prob=arr(compiled.sp_probability, f64),
        cap_mat=arr(compiled.cap_material, i64),
        cap_stage=arr(compiled.cap_stage, i64),
        cap_country=arr(compiled.cap_country, i64),
        cap_add=arr(compiled.cap_tonnes, f64) / MONTHS_PER_YEAR,
        cap_prob=arr(compiled.cap_probability, f64),
        cap_occ_var=arr(compiled.cap_occurs_var, i64),
        cap_online_var=arr(compiled.cap_online_var, i64),
        flow=flow,
        prod=arr(prod, f64),
        need=arr(need, f64),
        spare_cap=spare_cap,
        yld=yld,
        has_feed=has_feed,
        world_yld=world_yld,
        stock=arr(tensor.stock, f64),
        maxrel=arr(tensor.max_release, f64),
        n_stages=n_stages,
        re_share=re_share,
        rush_flow=rush_flow,
        scope=np.flatnonzero(np.asarray(compiled.material_scope, dtype=bool)).astype(i64),
        xidx=_exposure_index(tensor, compiled),
    )


_KERNEL_ARGS = (
    "horizon", "price_cap", "var_key", "var_dist", "var_par", "disc_values", "disc_cdf",
    "ev_kind", "ev_origin", "ev_prob", "ev_parent", "ev_occ_var", "ev_onset_var", "ev_lag_var",
    "ev_dur_var", "ev_sev_var", "ev_settled_var", "ev_settle_var", "ev_leak_var", "ev_lead_var",
    "ev_qsev", "ev_re_export", "ev_stage", "ev_targets", "ev_correlated", "occ_chol",
    "resp_var", "sp_stock", "sp_maxrel", "sp_occ_var", "sp_prob",
    "cap_mat", "cap_stage", "cap_country", "cap_add", "cap_prob", "cap_occ_var",
    "cap_online_var", "flow", "prod", "need", "spare_cap", "yld", "has_feed", "world_yld",
    "stock", "maxrel", "n_stages", "re_share", "rush_flow", "scope", "xidx",
    "csr_ptr", "csr_col", "csr_val", "kc_ptr", "kc_idx",
)


_POLL = 0.1  # [s] between looks at the draws finished, for on_draws


def run_block(model: dict, seed: int, start: int, n: int, *, timeseries: bool = False,
              trace: bool = False, threads: int | None = None,
              on_draws: Callable[[int], None] | None = None) -> dict:
    """Draws [start, start + n) through the kernel; returns the raw output arrays
    (plus ``trace`` [n, X, H, 6] and ``trace_ks`` [n, K, S, H, 3] with trace=True:
    columns in simcore.kernel.model TR_* / TK_*).

    The block is cut into one contiguous slice per thread; each slice runs the nogil
    kernel ``run_draws`` on its own Python thread (docs/model.md, "Parallelism").

    ``on_draws(k)`` is told the number of the block's draws finished so far, every
    ``_POLL`` seconds while the block runs: each kernel worker counts its finished draws
    in its own slot of ``done_w``, which this thread adds up. The slices then always run
    on threads (also a single one); the numbers are the same either way.
    """
    from simcore.kernel.model import run_draws

    n_x = int((model["xidx"] >= 0).sum())
    H = model["horizon"]
    n_v = model["var_key"].shape[0]
    n_e = model["ev_kind"].shape[0]
    n_k, n_s = model["flow"].shape[:2]
    n_workers = max(1, min(n, default_threads() if threads is None else int(threads)))
    out = dict(
        variates=np.zeros((n, n_v)),
        fired=np.zeros((n, n_e), dtype=np.bool_),
        onset=np.zeros((n, n_e), dtype=np.int32),
        shortage_t=np.zeros((n, n_x)),
        peak_share=np.zeros((n, n_x)),
        months_short=np.zeros((n, n_x), dtype=np.int16),
        first_short=np.zeros((n, n_x), dtype=np.int16),
        last_short=np.zeros((n, n_x), dtype=np.int16),
        stock_drawn_t=np.zeros((n, n_x)),
        price_peak=np.zeros((n, n_x)),
        price_mean=np.zeros((n, n_x)),
    )
    hist_w = np.zeros((n_workers, n_x, H, 101), dtype=np.int64)
    series = np.zeros((n, n_x, H) if timeseries else (1, 0, 0), dtype=np.float32)
    tr = np.zeros((n, n_x, H, 6) if trace else (1, 0, 0, 6))
    tr_ks = np.zeros((n, n_k, n_s, H, 3) if trace else (1, 0, 0, 0, 3))
    status = np.zeros(n, dtype=np.int64)
    done_w = np.zeros(n_workers, dtype=np.int64)  # draws finished, per worker
    args = (
        start, n_workers, np.uint64(seed), *(model[a] for a in _KERNEL_ARGS),
        out["variates"], out["fired"], out["onset"], out["shortage_t"], out["peak_share"],
        out["months_short"], out["first_short"], out["last_short"], out["stock_drawn_t"],
        out["price_peak"], out["price_mean"], hist_w, timeseries, series, trace, tr, tr_ks,
        status, done_w,
    )
    if n_workers == 1 and on_draws is None:
        run_draws(0, *args)
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            running = [pool.submit(run_draws, w, *args) for w in range(n_workers)]
            while on_draws is not None and wait(running, timeout=_POLL).not_done:
                on_draws(int(done_w.sum()))
            for done in running:
                done.result()
    bad = np.flatnonzero(status)
    if bad.size:
        j = int(bad[0])
        code = int(status[j])
        raise RuntimeError(
            f"simulation kernel stopped at draw {start + j} with status {code}: "
            f"{_STATUS_MEANING.get(code, 'unknown status')}"
        )
    hist = hist_w.sum(axis=0)
    hist[:, :, 0] = n - hist[:, :, 1:].sum(axis=2)
    out["hist"] = hist
    out["series"] = series if timeseries else None
    if trace:
        out["trace"] = tr
        out["trace_ks"] = tr_ks
    return out


def load_kernel(model: dict) -> None:
    """Load the kernel's machine code for the arrays of ``model`` from the cache, or
    compile it the first time (about 30 s; ``simcore._numba.on_compile`` tells when):
    a block of no draws."""
    run_block(model, 0, 0, 0, threads=1)


def default_threads() -> int:
    """Numba's thread count (NUMBA_NUM_THREADS, or set by numba.set_num_threads)."""
    import numba

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
    chunk_size: int = 2048,
    timeseries: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[ChunkResult]:
    """Run the scenario; yields a ChunkResult per block of ``chunk_size`` draws.

    draws, seed default to the scenario's. threads: worker threads per block (default:
    numba.get_num_threads()); results never depend on it nor on chunk_size.

    The kernel is loaded (or compiled, the first time) here, before the first block.
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
    return _chunks(model, draws, seed, threads, chunk_size, timeseries, progress)


def _chunks(model, draws, seed, threads, chunk_size, timeseries, progress):
    done = 0
    if progress is not None:
        progress(0, draws)
    while done < draws:
        n = min(chunk_size, draws - done)
        watch = None if progress is None else (lambda k, d=done: progress(d + k, draws))
        out = run_block(
            model, seed, done, n, timeseries=timeseries, threads=threads, on_draws=watch
        )
        yield ChunkResult(start=done, stop=done + n, **out)
        done += n
        if progress is not None:
            progress(done, draws)


def trace(tensor: SupplyTensor, compiled: CompiledScenario, draws: int, seed: int | None = None,
          start: int = 0) -> dict:
    """Debug path: every per-draw output plus the monthly mass balance of each exposure
    (``trace`` [n, X, H, 6]: need, delivered, substituted, drawn, shortage, price) and of
    each (material, stage) (``trace_ks`` [n, K, S, H, 3]: supply, delivered incl. feed
    for spare capacity, largest excess of a restricted edge over A*B)."""
    seed = _check_seed(compiled.seed if seed is None else seed)
    return run_block(prepare(tensor, compiled), seed, start, draws, timeseries=True, trace=True,
                     threads=1)
