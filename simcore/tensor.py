"""The baseline supply tensor: dense arrays with label indexes.

Built by ``simcore.dataset.load_dataset`` from a dataset folder (docs/dataset.md), or
directly from arrays in tests. Arrays are in the dataset's units: flows, production,
need and capacity in [t/year] of the material's reference unit; stocks in [t]; maximum
stock release in [t/month]. The engine converts to [t/month] (MODEL.md works monthly).

Index conventions: ``K`` materials (file order), ``S`` = the largest number of stages of
any material (a material with fewer stages has zeros beyond its last stage), ``C``
countries (file order). Stage 0 is the most upstream stage of each material.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simcore.errors import DatasetError, suggest


@dataclass(frozen=True, eq=False)
class SupplyTensor:
    materials: tuple[str, ...]  # [K] ids, snake_case
    material_names: tuple[str, ...]  # [K]
    units: tuple[str, ...]  # [K] reference unit, e.g. "t Ga content"
    stages: tuple[tuple[str, ...], ...]  # [K] ordered stage names per material
    price: np.ndarray  # float64[K] reference price [USD/t]
    countries: tuple[str, ...]  # [C] ISO alpha-3 or user aggregate codes
    country_names: tuple[str, ...]  # [C]
    groups: dict[str, tuple[str, ...]]  # group -> member country codes (nesting expanded)
    flow: np.ndarray  # float64[K, S, C, C] flow exporter -> importer [t/year]
    capacity: np.ndarray  # float64[K, S, C] [t/year] (= production where not given)
    stock: np.ndarray  # float64[K, C] stock usable in a disruption [t]
    max_release: np.ndarray  # float64[K, C] max stock release [t/month]
    hash: str  # sha256 hex of the dataset content, independent of file/row order
    path: Path | None = None
    # market table float64[K, P, 3]: (low, mode, high) of each market parameter
    # (simcore.marketdata.PARAMS order); None: the generic defaults for every material
    market: np.ndarray | None = None
    price_source: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    # --- derived arrays -----------------------------------------------------------------
    @property
    def production(self) -> np.ndarray:
        """P[k, s, e] = sum_i flow[k, s, e, i]  [t/year]"""
        return self.flow.sum(axis=3)

    @property
    def need(self) -> np.ndarray:
        """N[k, s, i] = sum_e flow[k, s, e, i]  [t/year]"""
        return self.flow.sum(axis=2)

    @property
    def market_table(self) -> np.ndarray:
        """float64[K, P, 3] (low, mode, high) of each market parameter per material."""
        if self.market is not None:
            return self.market
        from simcore.marketdata import generic_table

        return generic_table(len(self.materials))

    @property
    def n_stages(self) -> np.ndarray:
        return np.array([len(s) for s in self.stages], dtype=np.int32)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.materials), self.flow.shape[1], len(self.countries)

    # --- label lookups, with suggestions --------------------------------------------------
    def material_index(self, material: str, where: str = "") -> int:
        try:
            return self.materials.index(material)
        except ValueError:
            raise DatasetError(
                f"{where}unknown material {material!r}{suggest(material, self.materials)}; "
                f"known materials: {', '.join(self.materials)}"
            ) from None

    def country_index(self, code: str, where: str = "") -> int:
        try:
            return self.countries.index(code)
        except ValueError:
            raise DatasetError(
                f"{where}unknown country {code!r}"
                f"{suggest(code, self.countries + tuple(self.groups))}"
            ) from None

    def stage_index(self, material: str, stage: str, where: str = "") -> int:
        k = self.material_index(material, where)
        try:
            return self.stages[k].index(stage)
        except ValueError:
            raise DatasetError(
                f"{where}material {material!r} has no stage {stage!r}"
                f"{suggest(stage, self.stages[k])}; its stages: {', '.join(self.stages[k])}"
            ) from None

    def resolve_countries(self, names, where: str = "") -> np.ndarray:
        """Country codes and group names -> sorted unique country indices (int32)."""
        if isinstance(names, str):
            names = [names]
        out: set[int] = set()
        for name in names:
            if name in self.groups:
                out.update(self.countries.index(c) for c in self.groups[name])
            else:
                out.add(self.country_index(name, where))
        return np.array(sorted(out), dtype=np.int32)
