"""An analyst's view of a baseline: who produces, who needs, how concentrated, how
dependent on one origin. Pure functions of a ``SupplyTensor``; ``supplyshock data show``
prints them.

Quantities in [t/year] as in the tensor; shares in [0, 1]; the Herfindahl-Hirschman
index (HHI) on the usual 0 … 10 000 scale (sum of squared percentage shares).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simcore.tensor import SupplyTensor

# US DOJ/FTC merger guidelines (2023): above 1 800 highly concentrated, 1 000 … 1 800
# moderately; a common yardstick for supply concentration too.
HHI_HIGH, HHI_MODERATE = 1800.0, 1000.0


def hhi(quantities: np.ndarray) -> float:
    """Herfindahl-Hirschman index of the shares of ``quantities`` [0 … 10 000]; 0 if none."""
    total = float(np.sum(quantities))
    if total <= 0:
        return 0.0
    shares = np.asarray(quantities, dtype=np.float64) / total * 100.0
    return float(np.sum(shares * shares))


def hhi_label(value: float) -> str:
    if value > HHI_HIGH:
        return "highly concentrated"
    if value >= HHI_MODERATE:
        return "moderately concentrated"
    return "unconcentrated"


@dataclass(frozen=True)
class StageSummary:
    """One (material, stage): arrays over countries [C], totals, and the HHI."""

    material: int
    stage: int
    production: np.ndarray  # [t/year]
    need: np.ndarray  # [t/year]
    capacity: np.ndarray  # [t/year]
    total: float  # world production = world need [t/year]
    hhi: float  # of production

    @property
    def production_share(self) -> np.ndarray:
        return _share(self.production, self.total)

    @property
    def need_share(self) -> np.ndarray:
        return _share(self.need, float(self.need.sum()))

    @property
    def net_imports(self) -> np.ndarray:
        """need - production [t/year]: > 0 for net importers."""
        return self.need - self.production


def _share(x: np.ndarray, total: float) -> np.ndarray:
    return x / total if total > 0 else np.zeros_like(x)


def stage_summary(tensor: SupplyTensor, k: int, s: int) -> StageSummary:
    production = tensor.production[k, s]
    return StageSummary(
        material=k,
        stage=s,
        production=production,
        need=tensor.need[k, s],
        capacity=tensor.capacity[k, s],
        total=float(production.sum()),
        hhi=hhi(production),
    )


def origin_content(tensor: SupplyTensor, k: int, origin: int) -> np.ndarray:
    """c[s, e]: share of e's stage-s output that traces back to ``origin`` [0, 1].

    ``origin``'s own output counts fully; another producer's output carries the origin
    share of its feed at the stage before (1 if the feed was all from ``origin``), so a
    refiner abroad fed with the origin's ore is as exposed as the origin's own exports.
    """
    n_stages = len(tensor.stages[k])
    c = np.zeros((n_stages, len(tensor.countries)))
    for s in range(n_stages):
        if s > 0:
            feed = tensor.flow[k, s - 1]  # [exporter, importer]
            got = feed.sum(axis=0)
            from_origin = (feed * c[s - 1][:, None]).sum(axis=0)
            c[s] = np.divide(from_origin, got, out=np.zeros_like(got), where=got > 0)
        c[s, origin] = 1.0
    return c


@dataclass(frozen=True)
class Dependence:
    """Share of a set of importers' need at one stage supplied from an origin [0, 1]."""

    stage: int
    need: float  # [t/year] the importers' combined need at this stage
    direct: float  # share shipped by the origin itself
    upstream: float  # share including the origin's feed inside other producers' output


def dependence(tensor: SupplyTensor, k: int, origin: int, importers) -> list[Dependence]:
    """Per stage of material k: how much of ``importers``' need comes from ``origin``."""
    importers = np.asarray(importers, dtype=np.int64)
    content = origin_content(tensor, k, origin)
    out = []
    for s in range(len(tensor.stages[k])):
        flow = tensor.flow[k, s][:, importers]  # [exporter, importer in set]
        need = float(flow.sum())
        if need > 0:
            direct = float(flow[origin].sum()) / need
            upstream = float((flow * content[s][:, None]).sum()) / need
        else:
            direct = upstream = 0.0
        out.append(Dependence(s, need, direct, upstream))
    return out


@dataclass(frozen=True)
class Route:
    """One cross-border flow of a material stage, with its provenance."""

    exporter: int
    importer: int
    tonnes: float  # [t/year]
    share_of_trade: float  # of all cross-border flows of the stage [0, 1]
    share_of_exports: float  # of the exporter's cross-border flows [0, 1]
    source: str  # observed | fitted | estimated | unknown (flows.csv ``source``)


def routes(tensor: SupplyTensor, k: int, s: int, n: int) -> list[Route]:
    """The ``n`` largest exporter -> importer flows of material k at stage s [t/year],
    domestic use left out; ties broken by exporter, then importer (file order)."""
    flow = np.array(tensor.flow[k, s])
    np.fill_diagonal(flow, 0.0)
    trade = float(flow.sum())
    exports = flow.sum(axis=1)
    provenance = tensor.meta.get("flow_source", {})
    material, stage = tensor.materials[k], tensor.stages[k][s]
    cells = [(float(flow[e, i]), e, i) for e, i in zip(*np.nonzero(flow), strict=True)]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    out = []
    for tonnes, e, i in cells[:n]:
        out.append(Route(
            exporter=int(e), importer=int(i), tonnes=tonnes,
            share_of_trade=tonnes / trade if trade > 0 else 0.0,
            share_of_exports=tonnes / float(exports[e]) if exports[e] > 0 else 0.0,
            source=provenance.get(
                (material, stage, tensor.countries[e], tensor.countries[i]), "unknown"),
        ))
    return out
