"""What a results folder holds: the format, the tables and their columns, and the
:class:`Layout` of a run (its exposures and price zones as labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from simcore.compiled import state_stock_holders
from simcore.errors import ResultError
from simcore.results import arrow

FORMAT = "supplyshock-results/4"
FORMAT_3 = "supplyshock-results/3"
FORMAT_2 = "supplyshock-results/2"
FORMAT_1 = "supplyshock-results/1"
# still read: 3 (every exposure's rows stored under its own labels), 2 (a row per draw and
# exposure, every column stored), 1 (market version 1: no price tables, no accounting
# columns)
OLD_FORMATS = (FORMAT_3, FORMAT_2, FORMAT_1)
# the formats whose shortage.parquet holds only rows with something in them, as shares of
# need, with exposures.parquet beside it (simcore/results/shortage.py expands them)
SPARSE_FORMATS = (FORMAT, FORMAT_3)
METADATA_KEY = b"supplyshock"  # Parquet key-value metadata: provenance (JSON)
DIGEST_KEY = b"supplyshock.digest"  # Parquet key-value metadata: that table's digest

TABLES = ("shortage", "drivers", "summary", "monthly", "prices", "zone_prices", "timeseries",
          "exposures")
LABEL_COLUMNS = ("material", "stage", "country", "zone")
LABELS_OF = {"stored_as": "country"}  # label columns coded into another's label list
SHORT_THRESHOLD = 0.01  # a month is short above 1 % of monthly need (MODEL.md §4)
HIST_BINS = 101  # bin 0: share 0; bin b: ((b-1)/100, b/100]
MONTHLY_QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)

# The shortage table as readers see it (Result.shortage, the DuckDB view of
# docs/results.md): a row per draw and exposure. Format 3 stores the rows with something
# in them and the columns SHORTAGE_FILE_SCHEMA lists; the others are derived on read.
SHORTAGE_COLUMNS = (
    "draw",
    "material",
    "stage",
    "country",
    "need_t",
    "shortage_t",
    "shortage_share",
    "peak_share",
    "months_short",
    "first_short_month",
    "last_short_month",
    "stock_drawn_t",
    "bought_t",
    "restocked_t",
    "commercial_drawn_t",
    "substituted_t",
    "demand_given_up_t",
    "rationed_t",
    "price_index_peak",
    "price_index_mean",
    "shortage_value_usd",
)
# the accounting of docs/model.md §3.5, per row: need = used + substituted + given up +
# rationed, used = bought - restocked + commercial_drawn + stock_drawn
ACCOUNTING_COLUMNS = ("bought_t", "restocked_t", "commercial_drawn_t", "substituted_t",
                      "demand_given_up_t", "rationed_t")

_LABEL_TYPE = pa.dictionary(pa.int32(), pa.string())

SHORTAGE_SCHEMA = pa.schema(
    [
        ("draw", pa.int32()),
        ("material", _LABEL_TYPE),
        ("stage", _LABEL_TYPE),
        ("country", _LABEL_TYPE),
        ("need_t", pa.float32()),
        ("shortage_t", pa.float32()),
        ("shortage_share", pa.float32()),
        ("peak_share", pa.float32()),
        ("months_short", pa.int16()),
        ("first_short_month", pa.int16()),
        ("last_short_month", pa.int16()),
        ("stock_drawn_t", pa.float32()),
        ("bought_t", pa.float32()),
        ("restocked_t", pa.float32()),
        ("commercial_drawn_t", pa.float32()),
        ("substituted_t", pa.float32()),
        ("demand_given_up_t", pa.float32()),
        ("rationed_t", pa.float32()),
        ("price_index_peak", pa.float32()),
        ("price_index_mean", pa.float32()),
        ("shortage_value_usd", pa.float32()),
    ]
)

# Format 3: what shortage.parquet stores. A row per (draw, exposure) that differs from
# the baseline row (no shortage, the whole need bought: bought_share 1, every other value
# 0, no month); every quantity per row as a share of the row's need: X_t = X_share x
# need_t (exposures.parquet), computed in float64 and rounded to float32.
SHARES_OF_NEED = (
    ("stock_drawn_t", "stock_drawn_share"),
    ("bought_t", "bought_share"),
    ("restocked_t", "restocked_share"),
    ("commercial_drawn_t", "commercial_drawn_share"),
    ("substituted_t", "substituted_share"),
    ("demand_given_up_t", "demand_given_up_share"),
    ("rationed_t", "rationed_share"),
)


def _required(name: str, kind: pa.DataType) -> pa.Field:
    """A column that is never null: stored as a required Parquet column, without a
    definition level per value (the three streamed tables write 11 % faster; a null
    there is an error of the writer). Readers see the same values either way."""
    return pa.field(name, kind, nullable=False)


SHORTAGE_FILE_SCHEMA = pa.schema(
    [
        _required("draw", pa.int32()),
        _required("material", _LABEL_TYPE),
        _required("stage", _LABEL_TYPE),
        _required("country", _LABEL_TYPE),
        _required("shortage_share", pa.float32()),
        _required("peak_share", pa.float32()),
        _required("months_short", pa.int16()),
        ("first_short_month", pa.int16()),  # null: never short
        ("last_short_month", pa.int16()),
    ]
    + [_required(share, pa.float32()) for _, share in SHARES_OF_NEED]
)

# Format 4: one row per exposure, in the order of the layout (format 3: without
# stored_as, every exposure's rows stored under its own country).
EXPOSURES_SCHEMA = pa.schema(
    [
        ("material", _LABEL_TYPE),
        ("stage", _LABEL_TYPE),
        ("country", _LABEL_TYPE),
        ("need_t", pa.float64()),  # horizon need [t]
        ("zone", _LABEL_TYPE),  # its price zone (zone_prices.parquet): its price
        ("price_usd_per_t", pa.float64()),  # reference price of the material
        # the country under which shortage.parquet stores this exposure's rows (same
        # material and stage): its own, or the first buyer of its price zone without a
        # state stock of its own, whose shares of need every such buyer has
        _required("stored_as", _LABEL_TYPE),
    ]
)

SUMMARY_COLUMNS = (
    ("need_t", "horizon need [t]"),
    ("shortage_mean_t", "mean shortage over the horizon [t]"),
    ("share_mean", "mean shortage share of horizon need"),
    ("share_p5", "5th percentile of the shortage share"),
    ("share_p50", "median shortage share"),
    ("share_p95", "95th percentile of the shortage share"),
    ("share_p99", "99th percentile of the shortage share"),
    ("share_es95", "expected shortfall: mean shortage share of the worst 5 % of draws"),
    ("peak_share_p50", "median shortage share of the worst month (peak_share)"),
    ("peak_share_p95", "95th percentile of the worst month's shortage share"),
    ("prob_short", "probability of at least one month short (> 1 % of monthly need)"),
    ("prob_short_10pct", "probability that the shortage share exceeds 10 %"),
    ("months_short_mean", "mean number of months short [months]"),
    ("survive_month_p50", "time to survive: median first short month, among draws short"),
    ("recover_month_p50", "time to recover: median of last short month + 1, among draws short"),
    ("prob_unrecovered", "probability of still being short in the last month"),
    ("stock_drawn_mean_t", "mean state stock drawn for the holder's own use [t]"),
    ("commercial_drawn_mean_t", "mean commercial stock drawn for own use [t]"),
    ("substituted_mean_t", "mean need substituted [t]"),
    ("given_up_mean_t", "mean demand given up at the price [t]"),
    ("rationed_mean_t", "mean need rationed at the choke price [t]"),
    ("price_peak_p50", "median peak price index"),
    ("price_peak_p95", "95th percentile of the peak price index"),
    ("price_mean_mean", "mean of the horizon-mean price index"),
    ("value_mean_usd", "expected value of the shortage at the reference price [USD]"),
    ("value_p95_usd", "95th percentile of the value of the shortage [USD]"),
)

MONTHLY_COLUMNS = (
    ("share_mean", "mean monthly shortage share (from bin midpoints, +- 0.005)"),
    ("share_p5", "5th percentile of the monthly shortage share"),
    ("share_p25", "25th percentile"),
    ("share_p50", "median"),
    ("share_p75", "75th percentile"),
    ("share_p95", "95th percentile"),
    ("prob_short", "probability that the month is short (share > 1 %, exact)"),
)



TIMESERIES_SCHEMA = pa.schema(
    [
        ("draw", pa.int32()),
        ("material", _LABEL_TYPE),
        ("stage", _LABEL_TYPE),
        ("country", _LABEL_TYPE),
        ("month", pa.int16()),
        ("shortage_share", pa.float32()),
    ]
)


ZONE_PRICES_SCHEMA = pa.schema(
    [
        _required("draw", pa.int32()),
        _required("material", _LABEL_TYPE),
        _required("stage", _LABEL_TYPE),
        _required("zone", _LABEL_TYPE),
        _required("price_peak", pa.float32()),
        _required("price_mean", pa.float32()),
        _required("choke_months", pa.int16()),
    ]
)

PRICE_QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
PRICES_COLUMNS = (
    ("price_p5", "5th percentile of the zone price over draws (histogram, +- 1 %)"),
    ("price_p25", "25th percentile"),
    ("price_p50", "median"),
    ("price_p75", "75th percentile"),
    ("price_p95", "95th percentile"),
    ("prob_above_1", "probability that the price is above the reference price (exact)"),
)


@dataclass(frozen=True, eq=False)
class Layout:
    """The exposures of a run (the columns ``X`` of every ``ChunkResult`` array) as labels.

    ``material``, ``stage`` and ``country`` are int32[X] codes into the label tuples
    (the Parquet dictionaries). ``need_t`` [t] is the horizon need, ``price`` [USD/t] the
    reference price of each exposure's material.
    """

    materials: tuple[str, ...]
    stages: tuple[str, ...]
    countries: tuple[str, ...]
    material: np.ndarray  # int32[X]
    stage: np.ndarray  # int32[X]
    country: np.ndarray  # int32[X]
    need_t: np.ndarray  # float64[X] [t]
    price: np.ndarray  # float64[X] [USD/t]
    horizon: int  # H [months]
    var_names: tuple[str, ...]  # [V] compiled.var_name
    event_ids: tuple[str, ...]  # [E]
    last_stage: dict  # material -> name of its last stage
    # price zones with buyers (docs/model.md §3.1): codes into materials / stages /
    # zone_labels, the engine's global zone id of each, and members (country codes)
    zone_labels: tuple[str, ...] = ()
    zone_material: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    zone_stage: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    zone_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    zone_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    zone_members: tuple = ()
    # the zone of each exposure (an index into the zones above, -1 for none): its price
    # is that zone's price (docs/model.md §3.5)
    exposure_zone: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # the exposure whose stored shortage rows are each exposure's (results format 4): the
    # first exposure of its price zone among those that hold no state stock of their
    # own, whose shares of need are the same (docs/model.md §3.5); itself where it holds
    # one or has no zone. Empty: every exposure its own.
    stored_as: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    @property
    def n_zones(self) -> int:
        return len(self.zone_id)

    @property
    def storage(self) -> np.ndarray:
        """int64[X]: ``stored_as``, each exposure its own where it is empty."""
        if len(self.stored_as):
            return np.asarray(self.stored_as, dtype=np.int64)
        return np.arange(self.n_exposures, dtype=np.int64)

    @property
    def stored_exposures(self) -> np.ndarray:
        """int64: the exposures whose rows shortage.parquet stores, in layout order."""
        storage = self.storage
        return np.flatnonzero(storage == np.arange(len(storage)))

    @property
    def n_exposures(self) -> int:
        return len(self.need_t)

    @classmethod
    def from_exposures(cls, tensor, compiled, exposures, zones=None) -> Layout:
        """From the engine's ``Exposures`` (material/stage/country indices of the tensor)
        and ``Zones`` (simcore.engine.zones)."""
        k = np.asarray(exposures.material, dtype=np.int64)
        s = np.asarray(exposures.stage, dtype=np.int64)
        i = np.asarray(exposures.country, dtype=np.int64)
        mat_idx = sorted(set(k.tolist()))
        cty_idx = sorted(set(i.tolist()))
        stage_names: list[str] = []
        for stages in tensor.stages:
            for name in stages:
                if name not in stage_names:
                    stage_names.append(name)
        if zones is not None:
            mat_idx = sorted(set(mat_idx) | set(zones.material[zones.reported].tolist()))
        mat_code = {m: c for c, m in enumerate(mat_idx)}
        cty_code = {m: c for c, m in enumerate(cty_idx)}
        zone_kw = {}
        if zones is not None:
            rep = np.flatnonzero(zones.reported)
            labels: list[str] = []
            for g in rep:
                if zones.name[g] not in labels:
                    labels.append(zones.name[g])
            zone_kw = dict(
                zone_labels=tuple(labels),
                zone_material=np.array([mat_code[int(zones.material[g])] for g in rep],
                                       dtype=np.int32),
                zone_stage=np.array([stage_names.index(tensor.stages[int(zones.material[g])][
                    int(zones.stage[g])]) for g in rep], dtype=np.int32),
                zone_code=np.array([labels.index(zones.name[g]) for g in rep], dtype=np.int32),
                zone_id=rep.astype(np.int64),
                zone_members=tuple(tuple(tensor.countries[i] for i in zones.members[g])
                                   for g in rep),
            )
            where = {(int(zones.material[g]), int(zones.stage[g]), int(c)): r
                     for r, g in enumerate(rep) for c in zones.members[g]}
            zone_kw["exposure_zone"] = np.array(
                [where.get(key, -1) for key in zip(k.tolist(), s.tolist(), i.tolist(),
                                                    strict=True)], dtype=np.int32)
            zone_kw["stored_as"] = _stored_as(tensor, compiled, k, s, i,
                                              zone_kw["exposure_zone"])
        return cls(
            materials=tuple(tensor.materials[m] for m in mat_idx),
            stages=tuple(stage_names),
            countries=tuple(tensor.countries[c] for c in cty_idx),
            material=np.array([mat_code[m] for m in k.tolist()], dtype=np.int32),
            stage=np.array(
                [
                    stage_names.index(tensor.stages[a][b])
                    for a, b in zip(k.tolist(), s.tolist(), strict=True)
                ],
                dtype=np.int32,
            ),
            country=np.array([cty_code[c] for c in i.tolist()], dtype=np.int32),
            need_t=np.asarray(exposures.need_t, dtype=np.float64),
            price=np.asarray(tensor.price, dtype=np.float64)[k],
            horizon=int(compiled.horizon),
            var_names=tuple(compiled.var_name),
            event_ids=tuple(compiled.event_id),
            last_stage={tensor.materials[m]: tensor.stages[m][-1] for m in mat_idx},
            **zone_kw,
        )

    def prices(self) -> dict:
        """Reference price of each material [USD/t]."""
        return {
            self.materials[m]: float(p)
            for m, p in zip(self.material.tolist(), self.price, strict=True)
        }

    def labels(self) -> dict:
        return {
            "material": list(self.materials),
            "stage": list(self.stages),
            "country": list(self.countries),
            "zone": list(self.zone_labels),
        }

    def zones_manifest(self) -> list[dict]:
        """The zones with buyers, for run.json: material, stage, zone, member countries."""
        return [
            {"material": self.materials[m], "stage": self.stages[s],
             "zone": self.zone_labels[z], "members": list(mem)}
            for m, s, z, mem in zip(self.zone_material.tolist(), self.zone_stage.tolist(),
                                    self.zone_code.tolist(), self.zone_members, strict=True)
        ]

    def zone_label_arrays(self, reps: int = 1, each: int = 1) -> dict[str, pa.DictionaryArray]:
        """Dictionary-encoded (material, stage, zone) columns for ``reps`` repetitions of
        the zones, each zone repeated ``each`` times (months)."""
        out = {}
        for name, codes, labels in (
            ("material", self.zone_material, self.materials),
            ("stage", self.zone_stage, self.stages),
            ("zone", self.zone_code, self.zone_labels),
        ):
            out[name] = arrow.labels(np.tile(np.repeat(codes, each), reps), labels)
        return out

    def label_arrays(self, reps: int = 1, each: int = 1) -> dict[str, pa.DictionaryArray]:
        """Dictionary-encoded label columns for ``reps`` repetitions of the exposures
        (draw-major rows), each exposure repeated ``each`` times (months)."""
        out = {}
        for name, codes, labels in (
            ("material", self.material, self.materials),
            ("stage", self.stage, self.stages),
            ("country", self.country, self.countries),
        ):
            out[name] = arrow.labels(np.tile(np.repeat(codes, each), reps), labels)
        return out

    def exposure_labels(self, x: np.ndarray) -> dict[str, pa.DictionaryArray]:
        """Dictionary-encoded label columns of the exposures ``x`` (int[rows])."""
        return {name: arrow.labels(codes[x], labels) for name, codes, labels in (
            ("material", self.material, self.materials),
            ("stage", self.stage, self.stages),
            ("country", self.country, self.countries),
        )}


def _stored_as(tensor, compiled, k, s, i, zone) -> np.ndarray:
    """``Layout.stored_as`` of exposures (material k, stage s, country i: tensor indices)
    in price zones ``zone`` (-1: none). A country that can hold a state stock of a
    material (``state_stock_holders``, as the engine counts its holders) draws on it at
    the material's last stage, so its rows there are its own; every other buyer of a
    zone consumes, restocks, substitutes and goes short by the same share of its need
    (docs/model.md §3.5)."""
    held = state_stock_holders(tensor.stock, compiled.sp_stock)
    last = np.array([len(tensor.stages[m]) - 1 for m in k.tolist()], dtype=np.int64)
    own = (zone < 0) | ((s == last) & held[k, i])
    out = np.arange(len(zone), dtype=np.int32)
    first: dict[int, int] = {}
    for x in np.flatnonzero(~own).tolist():
        out[x] = first.setdefault(int(zone[x]), x)
    return out


def drivers_schema(layout: Layout) -> pa.Schema:
    fields = [_required("draw", pa.int32())]
    fields += [_required(name, pa.float64()) for name in layout.var_names]
    for event in layout.event_ids:
        fields.append(_required(f"event/{event}/fired", pa.bool_()))
        fields.append(pa.field(f"event/{event}/onset_month", pa.int16()))  # null: not fired
    names = [f.name for f in fields]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ResultError(f"drivers columns would repeat: {', '.join(dup)}")
    return pa.schema(fields)


def baseline_value(stored: str) -> float:
    """A stored share's value in a row that is not stored (the baseline): 1 for the share
    of need bought, 0 for everything else."""
    return 1.0 if stored == "bought_share" else 0.0
