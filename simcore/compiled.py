"""The compiled scenario: plain arrays, the only thing the kernel sees of a scenario.

``simcore.scenario.compile_scenario(scenario, tensor)`` fills this; the engine and the
kernel read it. Nothing from the TOML layer (strings, dicts, dataclasses of fields)
reaches the kernel: names become integer codes here, distributions become parameter
rows, and every sampled quantity (a *variate*) gets a stable 64-bit key derived from its
name, so that random draws are keyed by (seed, name, draw) and not by position
(MODEL.md §6).

Index conventions (all match the ``SupplyTensor`` the scenario was compiled against):
``K`` materials, ``S`` = max stages of any material, ``C`` countries, ``E`` events,
``V`` variates, ``J`` stockpile interventions, ``Q`` capacity interventions.
Integer fields use -1 for "none".

Distribution codes (``var_dist``) and their parameter rows ``var_par[v, 0:4]``:

======  ============  ===========================================================
code    name          parameters
======  ============  ===========================================================
0       const         value
1       uniform       min, max
2       triangular    min, mode, max
3       pert          min, mode, max, lambda (4 for the classic PERT)
4       beta          a, b, min, max   (beta(a, b) scaled to [min, max])
5       lognormal     mu, sigma (of log), min, max (bounds: -inf/inf for none)
6       discrete      offset, count into ``disc_values`` / ``disc_cdf``
======  ============  ===========================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

DIST_CONST, DIST_UNIFORM, DIST_TRIANGULAR, DIST_PERT, DIST_BETA, DIST_LOGNORMAL, DIST_DISCRETE = (
    range(7)
)
DIST_NAMES = ("const", "uniform", "triangular", "pert", "beta", "lognormal", "discrete")

EVENT_RESTRICTION, EVENT_OUTAGE = 0, 1
EVENT_KIND_NAMES = ("export_restriction", "production_outage")


def state_stock_holders(stock, sp_stock) -> np.ndarray:
    """bool[K, C]: the (material, country) pairs that can hold a state stock in some draw:
    a dataset stock (``stock`` [K, C]) or a stockpile intervention (``sp_stock``
    [J, K, C]), whichever occur. At the material's last stage such a country draws on
    its stock, so its month is its own (docs/model.md §3.5)."""
    held = np.asarray(stock) > 0
    return held | (np.asarray(sp_stock).reshape(-1, *held.shape) > 0).any(axis=0)


def name_key(name: str) -> np.uint64:
    """Stable 64-bit key of a variate name, e.g. ``"event/cn-ga/severity"``.

    The same on every machine and Python version (blake2b, not ``hash()``).
    """
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


@dataclass(frozen=True)
class CompiledScenario:
    """A scenario as arrays for the kernel. See the module docstring for conventions.

    Variate names (``var_name``) follow ``"<section>/<id>/<field>"``:
    ``event/<id>/occurs`` (the occurrence uniform), ``event/<id>/onset``,
    ``event/<id>/duration``, ``event/<id>/severity``, ``event/<id>/settled_severity``,
    ``event/<id>/settle_months``, ``event/<id>/leakage``, ``event/<id>/lag`` (after a
    parent), ``event/<id>/lead`` (announcement lead), ``response/<field>`` (a value given by the
    scenario) or ``response/<field>/quantile`` (a market parameter from the dataset table),
    ``intervention/<id>/occurs``, ``intervention/<id>/online_month``.
    A constant is still a variate (``dist = const``) so the drivers table is complete.
    """

    # --- identity -------------------------------------------------------------------
    name: str
    horizon: int  # H [months]
    draws: int  # default number of draws
    seed: int  # default seed (0 <= seed < 2**63)
    scenario_hash: str  # sha256 hex of the resolved scenario (file + parents), canonical
    dataset_hash: str  # SupplyTensor.hash it was compiled against

    # --- variates: everything sampled per draw ---------------------------------------
    var_name: tuple[str, ...]  # [V]
    var_key: np.ndarray  # uint64[V]  name_key(var_name[v])
    var_dist: np.ndarray  # int8[V]    DIST_* code
    var_par: np.ndarray  # float64[V, 4]
    disc_values: np.ndarray  # float64[M] discrete support, concatenated
    disc_cdf: np.ndarray  # float64[M] cumulative weights (each block ends at 1.0)

    # --- events, topologically sorted (a parent comes before its children) ------------
    event_id: tuple[str, ...]  # [E]
    ev_kind: np.ndarray  # int8[E]   EVENT_RESTRICTION | EVENT_OUTAGE
    ev_origin: np.ndarray  # int32[E]  country index
    ev_probability: np.ndarray  # float64[E] in [0, 1]
    ev_parent: np.ndarray  # int32[E]  event index of `after`, or -1
    ev_occurs_var: np.ndarray  # int32[E]  uniform variate deciding occurrence
    ev_onset_var: np.ndarray  # int32[E]  onset month (real; floor taken); for a child: -1
    ev_lag_var: np.ndarray  # int32[E]  lag after the parent's onset [months], or -1
    ev_duration_var: np.ndarray  # int32[E]  [months], may exceed the horizon
    ev_severity_var: np.ndarray  # int32[E]  initial severity in [0, 1] (-1 with a quota)
    ev_settled_var: np.ndarray  # int32[E]  settled severity, or -1 (stays initial)
    ev_settle_var: np.ndarray  # int32[E]  settling time [months], or -1 (= 0)
    ev_leakage_var: np.ndarray  # int32[E]  leakage share, or -1 (= 0)
    ev_lead_var: np.ndarray  # int32[E]  announcement lead [months of flow], or -1
    ev_quota: np.ndarray  # float64[E] quota [t/year] replacing severity, NaN if none
    ev_re_export: np.ndarray  # bool[E]   restriction reaches third countries' s+1 exports
    ev_stage: np.ndarray  # int32[E, K] stage index hit for each material, -1 = not hit
    ev_targets: np.ndarray  # bool[E, C] importers the event targets (origin excluded)
    # Gaussian copula for correlated occurrence: lower-triangular Cholesky factor over
    # events. ev_correlated[e] False: occurrence uniform is used as drawn (so adding a
    # correlation group elsewhere never changes this event's draws).
    ev_correlated: np.ndarray  # bool[E]
    occ_chol: np.ndarray  # float64[E, E]

    # --- market response (variate indices) -------------------------------------------
    spare_usable_var: int  # usable share of idle capacity [0, 1]
    substitution_max_var: int  # share of the demand given up that is substitution [0, 1]
    substitution_months_var: int  # months to reach it
    # market parameters (simcore.kernel.structs.MARKET_PARAMS order): the variate of each;
    # mkt_given[p] True: its value applies to every material; False: the variate is a
    # quantile u in (0, 1) of each material's (low, mode, high) in the dataset's market
    # table (triangular), so one uniform moves every material alike (common random numbers)
    mkt_var: np.ndarray  # int32[P]
    mkt_given: np.ndarray  # bool[P]

    # --- interventions ----------------------------------------------------------------
    intervention_id: tuple[str, ...]  # [J + Q], stockpiles first, then capacity
    # stockpiles [J]: extra stock per (material, country), fixed in tonnes at compile time
    sp_stock: np.ndarray  # float64[J, K, C] extra stock [t]
    sp_max_release: np.ndarray  # float64[J, K, C] max release [t/month]
    sp_occurs_var: np.ndarray  # int32[J] occurrence uniform (probability below)
    sp_probability: np.ndarray  # float64[J]
    sp_reserved: np.ndarray  # bool[J] serves only its holders (else sells into their zone)
    # capacity additions [Q]
    cap_material: np.ndarray  # int32[Q]
    cap_stage: np.ndarray  # int32[Q]
    cap_country: np.ndarray  # int32[Q]
    cap_tonnes: np.ndarray  # float64[Q] added capacity [t/year]
    cap_probability: np.ndarray  # float64[Q]
    cap_occurs_var: np.ndarray  # int32[Q]
    cap_online_var: np.ndarray  # int32[Q] online month (real; floor taken)

    # --- scope ------------------------------------------------------------------------
    # Materials the scenario touches (any event or intervention): only these are
    # simulated and reported; the others have zero shortage by construction.
    material_scope: np.ndarray  # bool[K]
    # --- state stocks ---------------------------------------------------------------
    dataset_stocks_reserved: bool = True  # the dataset's state stocks serve only holders
    release_price: float = 1.1  # zone price at which a state stock sells its full rate
    extra: dict = field(default_factory=dict)  # free-form provenance (paths, description)

    @property
    def n_events(self) -> int:
        return len(self.event_id)

    @property
    def n_variates(self) -> int:
        return len(self.var_name)
