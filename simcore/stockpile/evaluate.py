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

Outcomes are taken from what every results format stores alike: each row's shortage
share rounded to float32 (``shortage / need_t``, as the writers form it), its need
rounded to float32, months short, the zone's peak price; so the written variant's
results reproduce them exactly.
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

    ``share[h]``: the holder's horizon shortage share per draw, Σ w_i s_i over its
    countries i with float32 shares s_i and weights w_i = need_i / Σ need (float32
    needs; one country: its share exactly); ``short[h]``: its shortage [t], Σ s_i need_i;
    ``value[h]``: that at the reference price [USD]; ``months[h]``: months short,
    need-weighted; ``price[h]``: the highest peak price index of its countries' zones;
    ``others``: the shortage of every other country at the last stage [t]; ``need[h]``:
    horizon need [t] (float32 needs summed)."""

    material: int
    draws: int
    share: dict
    short: dict
    value: dict
    months: dict
    price: dict
    others: np.ndarray
    need: dict

    def values(self, metric: str, holder: str) -> np.ndarray:
        if metric == "share":
            return self.share[holder]
        if metric == "months":
            return self.months[holder]
        if metric == "price":
            return self.price[holder]
        raise ValueError(metric)


@dataclass(frozen=True)
class _MaterialView:
    sc: tuple  # the search scenario's Scen, scoped to one material
    n_exposures: int
    need_t: np.ndarray  # float64[X_k] horizon need of the material's exposures [t]
    rows: dict  # holder -> local exposure rows at the last stage (countries with need)
    need32: dict  # holder -> float32 horizon need of those rows
    other_rows: np.ndarray
    other_need32: np.ndarray


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
        from simcore.engine import exposures

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
        # the horizon need of each row exactly as the results writers divide by
        need_all = exposures(self.tensor, self.compiled).need_t
        need_t = need_all[sc.xidx[k][local]]
        last = int(self.tensor.n_stages[k]) - 1
        rows, need32, taken = {}, {}, set()
        for h in self.holders:
            r = [int(xidx[k, last, c]) for c in h.countries if xidx[k, last, c] >= 0]
            rows[h.name] = np.array(r, dtype=np.int64)
            need32[h.name] = need_t[r].astype(np.float32)
            taken.update(r)
        others = np.array([int(x) for x in xidx[k, last] if x >= 0 and int(x) not in taken],
                          dtype=np.int64)
        return _MaterialView(view_sc, n_x, need_t, rows, need32, others,
                             need_t[others].astype(np.float32))

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
        share32 = (raw["shortage_t"] / v.need_t).astype(np.float32)  # as the writers
        months = raw["months_short"]
        price32 = raw["price_peak"].astype(np.float32)
        out = Outcome(material=k, draws=n, share={}, short={}, value={}, months={},
                      price={}, others=_tonnes(share32, v.other_rows, v.other_need32, n),
                      need={})
        for h in self.holders:
            rows, w32 = v.rows[h.name], v.need32[h.name]
            need = 0.0
            for x in w32:
                need += float(x)
            out.need[h.name] = need
            s = np.zeros(n)
            m = np.zeros(n)
            for r, w in zip(rows, w32, strict=True):
                weight = float(w) / need
                s += weight * share32[:, r].astype(np.float64)
                m += weight * months[:, r].astype(np.float64)
            out.share[h.name] = s
            out.months[h.name] = m
            out.short[h.name] = _tonnes(share32, rows, w32, n)
            out.value[h.name] = out.short[h.name] * self.price[k]
            p = np.ones(n) if not len(rows) else np.full(n, -np.inf)
            for r in rows:
                p = np.maximum(p, price32[:, r].astype(np.float64))
            out.price[h.name] = p
        return out


def _tonnes(share32: np.ndarray, rows: np.ndarray, need32: np.ndarray, n: int) -> np.ndarray:
    """Σ share x need over ``rows`` [t], added one row at a time in float64 (a fixed
    order, so that the same sum is formed from a results table)."""
    acc = np.zeros(n)
    for r, w in zip(rows, need32, strict=True):
        acc += share32[:, int(r)].astype(np.float64) * float(w)
    return acc
