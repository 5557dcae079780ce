"""Many runs of one compiled scenario with changed stockpile sizes.

The search scenario is the study plus one stockpile intervention per *placement* (a
holder's national stockpile of a material, or a pool of a material shared by every
holder), compiled once with placeholder sizes of 1 t and 1 t/month, so that the compiled
arrays hold each placement's split across its countries by need share. A candidate
size only rescales those rows (``tonnes * share``, exactly the product the scenario
compiler forms for a file that says ``tonnes``), and one material is simulated at a time
(materials do not interact in the kernel: docs/model.md §3): the engine and its compiled
machine code are reused as they are, with no recompilation per candidate
(``Evaluator.run``).

Outcomes are taken from the values the results tables store (float32 per row, like
``shortage.parquet``), so a run of the written variant reproduces them exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simcore.stockpile.holders import Holder


@dataclass(frozen=True)
class Placement:
    """Stockpile slot ``j`` of the search scenario: intervention ``id`` holding
    ``material`` for ``holders`` (one holder: national; several: a pool)."""

    id: str
    material: int
    holders: tuple[str, ...]
    j: int


@dataclass
class Outcome:
    """One material's outcome over draws 0 .. n-1, per holder, at the last stage.

    ``short[h]``: the holder's horizon shortage [t] per draw (float32 rows summed in
    country order); ``value[h]``: its value at the reference price [USD]; ``months[h]``:
    months short, need-weighted over its countries; ``price[h]``: the highest peak price
    index of its countries' zones; ``others``: the shortage of every other country at the
    last stage [t]; ``need[h]``: horizon need [t] (float32 rows summed)."""

    material: int
    draws: int
    short: dict
    value: dict
    months: dict
    price: dict
    others: np.ndarray
    need: dict

    def values(self, metric: str, holder: str) -> np.ndarray:
        if metric == "share":
            need = self.need[holder]
            return self.short[holder] / need if need > 0 else np.zeros(self.draws)
        if metric == "months":
            return self.months[holder]
        if metric == "price":
            return self.price[holder]
        raise ValueError(metric)


@dataclass(frozen=True)
class _MaterialView:
    sc: tuple  # the search scenario's Scen, scoped to one material
    n_exposures: int
    rows: dict  # holder -> local exposure rows at the last stage (countries with need)
    need32: dict  # holder -> float32 horizon need of those rows
    other_rows: np.ndarray


class Evaluator:
    """Runs of the search scenario with given stockpile sizes, one material at a time."""

    def __init__(self, tensor, compiled, holders: list[Holder], placements: list[Placement],
                 seed: int, threads: int | None = None):
        from simcore import engine

        self.tensor = tensor
        self.compiled = compiled
        self.holders = holders
        self.seed = int(seed)
        self.threads = threads
        self.model = engine.prepare(tensor, compiled)
        engine.load_kernel(self.model)
        self.placements = {p.id: p for p in placements}
        sc = self.model.sc
        self.price = np.asarray(tensor.price, dtype=np.float64)
        self._share = {}
        self._rate_share = {}
        stock = np.array(sc.sp_stock)
        rate = np.array(sc.sp_maxrel)
        for p in placements:
            # compiled with tonnes = 1 and 1 t/month: each row is 1.0 * share, the share
            self._share[p.j] = stock[p.j].copy()
            self._rate_share[p.j] = rate[p.j].copy()
            stock[p.j] = 0.0
            rate[p.j] = 0.0
        self._stock0 = stock  # the study's own stockpiles, placements empty
        self._rate0 = rate
        self._views: dict[int, _MaterialView] = {}
        self.runs = 0  # kernel runs so far
        self.draws_run = 0  # draws simulated so far

    def view(self, k: int) -> _MaterialView:
        if k not in self._views:
            self._views[k] = self._make_view(k)
        return self._views[k]

    def _make_view(self, k: int) -> _MaterialView:
        from simcore.engine import MONTHS_PER_YEAR

        sc = self.model.sc
        xidx = np.full_like(sc.xidx, -1)
        local = sc.xidx[k] >= 0
        n_x = int(local.sum())
        xidx[k][local] = np.arange(n_x)
        zg = np.full_like(sc.zg, -1)
        used = sc.zg[k] >= 0
        n_g = int(used.sum())
        zg[k][used] = np.arange(n_g)
        view_sc = sc._replace(scope=np.array([k], dtype=np.int64), xidx=xidx, zg=zg,
                              n_zg=n_g)
        last = int(self.tensor.n_stages[k]) - 1
        need_m = np.asarray(self.tensor.need, dtype=np.float64)[k, last] / MONTHS_PER_YEAR
        horizon = int(sc.horizon)
        rows, need32, taken = {}, {}, set()
        for h in self.holders:
            r = [int(xidx[k, last, c]) for c in h.countries if xidx[k, last, c] >= 0]
            rows[h.name] = np.array(r, dtype=np.int64)
            need32[h.name] = np.array([np.float32(horizon * need_m[c]) for c in h.countries
                                       if xidx[k, last, c] >= 0], dtype=np.float32)
            taken.update(r)
        others = [int(x) for x in xidx[k, last] if x >= 0 and int(x) not in taken]
        return _MaterialView(view_sc, n_x, rows, need32, np.array(others, dtype=np.int64))

    def sizes_arrays(self, sizes: Mapping[str, tuple[float, float]]):
        """(sp_stock, sp_maxrel) with each placement id's (tonnes, t/month) applied."""
        stock = self._stock0.copy()
        rate = self._rate0.copy()
        for pid, (tonnes, per_month) in sizes.items():
            j = self.placements[pid].j
            stock[j] = float(tonnes) * self._share[j]
            rate[j] = float(per_month) * self._rate_share[j]
        return stock, rate

    def run(self, k: int, sizes: Mapping[str, tuple[float, float]], draws: int) -> Outcome:
        """Material k over draws 0 .. draws-1 with the placements' sizes (others empty)."""
        from simcore.engine import Model, run_block

        v = self.view(k)
        stock, rate = self.sizes_arrays(sizes)
        sc = v.sc._replace(sp_stock=stock, sp_maxrel=rate)
        model = Model(tn=self.model.tn, sc=sc, zones=self.model.zones,
                      n_exposures=v.n_exposures)
        raw = run_block(model, self.seed, 0, int(draws), threads=self.threads)
        self.runs += 1
        self.draws_run += int(draws)
        return self._outcome(k, v, raw, int(draws))

    def _outcome(self, k: int, v: _MaterialView, raw: dict, n: int) -> Outcome:
        short64 = raw["shortage_t"]
        short32 = short64.astype(np.float32)
        value32 = (short64 * self.price[k]).astype(np.float32)
        months = raw["months_short"]
        price32 = raw["price_peak"].astype(np.float32)
        out = Outcome(material=k, draws=n, short={}, value={}, months={}, price={},
                      others=_colsum(short32, v.other_rows, n), need={})
        for h in self.holders:
            rows = v.rows[h.name]
            need = 0.0
            for x in v.need32[h.name]:
                need += float(x)
            out.need[h.name] = need
            out.short[h.name] = _colsum(short32, rows, n)
            out.value[h.name] = _colsum(value32, rows, n)
            m = np.zeros(n)
            for r, w in zip(rows, v.need32[h.name], strict=True):
                m += float(w) * months[:, r].astype(np.float64)
            out.months[h.name] = m / need if need > 0 else m
            p = np.ones(n) if not len(rows) else np.full(n, -np.inf)
            for r in rows:
                p = np.maximum(p, price32[:, r].astype(np.float64))
            out.price[h.name] = p
        return out


def _colsum(a: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Columns ``rows`` of ``a`` added one at a time in float64 (a fixed order, so that
    the same sum is formed from a results table)."""
    acc = np.zeros(n)
    for r in rows:
        acc += a[:, int(r)].astype(np.float64)
    return acc
