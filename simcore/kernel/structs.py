"""The named structures the kernel reads and writes (STYLE.md: a signature says what a
kernel reads and writes).

Each is a ``namedtuple`` of arrays and scalars that Numba passes as one argument:

- ``Tensor``: the baseline supply tensor in monthly units, plus the dataset's market
  table (what the world looks like before anything happens);
- ``Scen``: the compiled scenario: variates, events, interventions, and the zones of
  every (material, stage) (what may happen);
- ``Out``: the block's outputs (what the kernel writes, rows = draws).

- ``Scratch``: a worker's scratch arrays (``scratch``), with the layouts of the zone
  market's rows (``ZQ_*``, ``MP_*``), the traces' columns (``TR_*``, ``TZ_*``) and the
  month's accumulators (``ZA_*``).

This module imports no numba: the engine builds these structures at the boundary
(simcore/engine.py), also where the kernel runs from its shared library without Numba
(simcore/_native.py).

Index conventions: K materials, S stages (max over materials), C countries, E events,
V variates, J stockpile interventions, Q capacity interventions, Z zones of a
(material, stage) at most, G zones in all (global zone ids), X exposures, H months,
P market parameters (``MARKET_PARAMS``).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

# --- market parameters: one value per material (dataset table, docs/dataset.md) -----------
# (name of the scenario's [response] key, name in the dataset's market table)
MARKET_PARAMS = (
    ("demand_elasticity", "demand_elasticity_short"),
    ("demand_elasticity_medium", "demand_elasticity_medium"),
    ("demand_adjust_months", "demand_adjust_months"),
    ("supply_elasticity", "supply_elasticity"),
    ("spare_ramp_months", "restart_months"),
    ("origin_supply_elasticity", "origin_supply_elasticity"),
    ("state_purchase_share", "state_purchase_share"),
    ("inventory_weeks", "inventory_weeks"),
    ("feed_inventory_weeks", "feed_inventory_weeks"),
    ("inventory_release", "inventory_release"),
    ("inventory_adjust", "inventory_adjust"),
    ("spot_share", "spot_share"),
    ("precautionary_weeks", "precautionary_weeks"),
    ("choke_price", "choke_price"),
    ("reroute_lag_months", "reroute_lag_months"),
)
(MK_EPS_S, MK_EPS_M, MK_ADJ, MK_SUP, MK_RESTART, MK_ORIGIN, MK_PSI, MK_COVER, MK_FCOVER,
 MK_ETA, MK_THETA, MK_SPOT, MK_PREC, MK_CHOKE, MK_LAG) = range(len(MARKET_PARAMS))
N_MARKET = len(MARKET_PARAMS)

# other response variates (scenario-wide, schema defaults), in this order in Scen.resp_var
RESP_SPARE_USABLE, RESP_SUB_MAX, RESP_SUB_MONTHS = range(3)

# zone-price histogram: bin 0 holds a price of exactly 1 (the reference), bins 1 .. NPB-1
# hold log prices in steps of PB_STEP from PB_LO (the end bins also take what lies beyond)
PB_LO = -5.0
PB_STEP = 0.01
NPB = 1001

# the run summary's statistics of one exposure's sorted shortages, slots of the output of
# simcore/kernel/binsums.py's nonzero_statistics (here, where the summary reads them
# without importing Numba)
NZ_SHARE_MEAN, NZ_SHARE_P5, NZ_SHARE_P50, NZ_SHARE_P95, NZ_SHARE_P99 = range(5)
NZ_SHARE_ES95, NZ_PROB_10PCT, NZ_VALUE_MEAN, NZ_VALUE_P95 = range(5, 9)
N_NZ = 9

Tensor = namedtuple("Tensor", [
    "prod",        # f8[K, S, C] baseline production [t/month]
    "need",        # f8[K, S, C] baseline need [t/month]
    "spare_cap",   # f8[K, S, C] capacity - production, >= 0 [t/month]
    "yld",         # f8[K, S, C] baseline yield: stage-s output per stage s-1 feed
    "has_feed",    # b1[K, S, C] the producer had baseline feed at stage s-1
    "world_yld",   # f8[K, S] world yield of stage s
    "n_stages",    # i8[K]
    "kc_ptr",      # i8[K + 1] countries taking part in material k:
    "kc_idx",      #   kc_idx[kc_ptr[k]:kc_ptr[k + 1]] (u8: see below)
    "pr_ptr",      # i8[K, S, 2] producers of (k, s) (production, idle capacity or a
    "pr_idx",      #   capacity intervention): pr_idx[pr_ptr[k, s, 0]:pr_ptr[k, s, 1]]
    "by_ptr",      # i8[K, S, 2] buyers of (k, s) (need, or feed for the next stage's
    "by_idx",      #   producers, or a state stock at the last stage): by_idx[...]
    # (the three lists are u8: Numba fixes up a signed index for a negative value at
    # every access, an unsigned one needs none; 10 % of the kernel's instructions)
    "stock",       # f8[K, C] dataset state stock [t]
    "maxrel",      # f8[K, C] its largest monthly release [t/month]
    "market",      # f8[K, P, 3] market table: low, mode, high of each parameter
])

Scen = namedtuple("Scen", [
    "horizon",     # H [months]
    "var_key", "var_dist", "var_par", "disc_values", "disc_cdf",  # variates [V]
    "ev_kind", "ev_origin", "ev_prob", "ev_parent",               # events [E]
    "ev_occ_var", "ev_onset_var", "ev_lag_var", "ev_dur_var", "ev_sev_var",
    "ev_settled_var", "ev_settle_var", "ev_leak_var", "ev_lead_var",
    "ev_qsev",     # f8[E, K] severity from a quota, NaN if none
    "ev_re_export",  # b1[E]
    "ev_stage",    # i8[E, K] stage hit, -1 if not
    "ev_targets",  # b1[E, C] (origin excluded)
    "ev_correlated", "occ_chol",
    "re_share",    # f8[E, K, C] third country's baseline feed share from the origin
    "resp_var",    # i8[3] spare_usable, substitution_max, substitution_months
    "mkt_var",     # i8[P] variate of each market parameter
    "mkt_given",   # b1[P] True: the variate is the value; False: a quantile of the table
    "sp_stock", "sp_maxrel",  # f8[J, K, C] stockpile interventions [t], [t/month]
    "sp_occ_var", "sp_prob",
    "sp_reserved",  # b1[J] serves only its holder (else sells into its zone)
    "ds_reserved",  # bool: the dataset's state stocks serve only their holders
    "release_price",  # f8: zone price at which a state stock releases its full rate
    "cap_mat", "cap_stage", "cap_country", "cap_add", "cap_prob", "cap_occ_var",
    "cap_online_var",  # capacity interventions [Q] (cap_add in t/month)
    "scope",       # i8[] materials simulated
    "xidx",        # i8[K, S, C] exposure index, -1 if not reported
    "hidx",        # i8[K, C] index of (k, c) on axis 1 of out.holder_bins if c can hold a
                   # state stock of k
                   # (dataset or stockpile), else -1 (set per block by run_block)
    "zone_of",     # u8[K, S, C] zone of each country taking part, engine.NO_ZONE (the
                   # largest u8) otherwise (unsigned as the country lists, see Tensor)
    "n_zone",      # i8[K, S]
    "zone_need",   # f8[K, S, Z] baseline need of the zone [t/month]
    "zone_tgt",    # b1[K, S, Z, E] zone's members are targets of event e at stage s
    "zone_rtgt",   # b1[K, S, Z, E] ... targets of event e's re-export reach (stage s)
    "zone_prec",   # f8[K, S, Z, E] share of the zone's need that buys ahead while
                   # restriction e (at stage s or earlier) is announced or in force
    "is_origin",   # b1[K, S, C] origin of a restriction at stage s (in the scenario)
    "bz",          # f8[K, S, C, Z] baseline flow from producer e into zone z [t/month]
    "zg",          # i8[K, S, Z] global zone id
    "n_zg",        # G
])

Out = namedtuple("Out", [
    "variates",    # f8[n, V]
    "fired",       # b1[n, E]
    "onset",       # i4[n, E]
    "status",      # i8[n]
    # per exposure [n, X]
    "shortage", "peak", "months", "first", "last", "drawn", "price_peak", "price_mean",
    "bought", "restocked", "cdrawn", "substituted", "given_up", "rationed",
    # per zone [n, G]
    "zprice_peak", "zprice_mean",
    "zchoke",      # i2[n, G] months the zone was rationed at its choke price
    "zone_bins",   # i2[n, G, H, 2] each zone's monthly price bin (0 .. NPB-1) and
                   # shortage-share bin (0 .. 100), counted by the caller
    "holder_bins",  # i2[n, NH, H, 2] a state-stock holder's row (sc.hidx) in a month
                    # its shortage-share bin differs from its zone's: the two bins
                    # (else 0, 0), counted by the caller
    "want_series", "series",    # f4[n, X, H] monthly shortage share
    "want_zseries", "zseries",  # f4[n, G, H] monthly zone price
    "want_trace", "trace",      # f8[n, X, H, NTR]
    "ztrace",      # f8[n, G, H, NTZ]
    "progress",    # i8[W] draws finished by each worker
])


# zone quantities zq[z, :] of one (material, stage, month)
ZQ_N = 0  # baseline need of the zone's buyers [t/month]
ZQ_X = 1  # change of feed of the next stage's producers [t/month], >= -ZQ_N
ZQ_T = 2  # commercial stock target, precaution included [t]
ZQ_I = 3  # commercial stock at the start of the month [t]
ZQ_G = 4  # origin state's purchases [t/month]
ZQ_R = 5  # state stocks' release capacity this month (selling into the zone) [t/month]
ZQ_C = 6  # contract inflow [t/month]
ZQ_W = 7  # what the zone wants at the choke price [t/month] (set by prepare_zone[_at])
ZQ_REL = 8  # what its stocks release at the choke price [t/month] (prepare_zone[_at])
N_ZQ = 9

# market settings mp[:] of one (material, stage, month)
MP_EPS = 0  # demand elasticity now (absolute value)
MP_ETA = 1  # inventory release parameter: desired stock ~ p^-eta
MP_THETA = 2  # share of the gap to the desired stock closed in a month
MP_LNPBAR = 3  # log of the choke price
MP_LNPMIN = 4  # log of the floor price (= -MP_LNPBAR)
MP_PFULL = 5  # price at which state stocks release their full rate
# ... and what follows from them, computed once (derive_material, derive_month in
# simcore/kernel/market.py): the factors of every zone's demand that depend on the price
# alone, at the choke price and at the floor (the level U_TOP), where every zone is
# evaluated every month
MP_LNPFULL = 6  # log of MP_PFULL
MP_EBAR = 7  # p^-eta at the choke price
MP_PBAR = 8  # the choke price, exp(MP_LNPBAR)
MP_LNPTOP = 9  # log price at the level U_TOP (the floor)
MP_ETOP = 10  # p^-eta there
MP_PTOP = 11  # the price there
MP_DBAR = 12  # p^-eps at the choke price (with the month's eps)
MP_DTOP = 13  # min(1, p^-eps) at the level U_TOP (with the month's eps)
# the levels (price_level) of the kinks of the demand curves common to all zones, where
# the root searches of the filling must not step across unchecked (_kink_between)
MP_UBAR = 14  # the choke price's
MP_UREF = 15  # the reference price's (log price 0)
MP_UBUY = 16  # the top of the origin state's purchase band's (log price BUY_BAND)
MP_UFULL = 17  # the full-release price's (MP_LNPFULL)
N_MP = 18

GALE_MAX_ZONES = 4  # up to this many zones, the filling checks every subset of zones
# (simcore/kernel/market.py, _fill_subsets); its workspace gcap[GCAP_SIZE]: the sets'
# capacities and the zones' values below GCAP_REACH (2**nz + 9 nz slots at most), one
# exporter class's reach into every set from there
GCAP_REACH = 4 << GALE_MAX_ZONES
GCAP_SIZE = 5 << GALE_MAX_ZONES

# trace columns per (exposure, month)
(TR_NEED, TR_BOUGHT, TR_RESTOCKED, TR_CDRAWN, TR_SDRAWN, TR_SUBSTITUTED, TR_GIVEN_UP,
 TR_RATIONED, TR_SHORTAGE, TR_PRICE, TR_USED) = range(11)
NTR = 11
# trace columns per (zone, month)
(TZ_PRICE, TZ_RHO, TZ_INFLOW, TZ_CONTRACT, TZ_PRODUCTION, TZ_STOCK, TZ_PURCHASE,
 TZ_STATE_RELEASE, TZ_UNSOLD, TZ_EDGE_EXCESS, TZ_NEED, TZ_CONSUMED, TZ_RESTOCKED,
 TZ_RELEASED) = range(14)
NTZ = 14

# per (stage, zone) accumulators of a material's month per unit of need (ws.zacc)
(ZA_SHORT, ZA_SUB, ZA_GIVEN, ZA_RATIONED, ZA_CDRAWN, ZA_BOUGHT, ZA_RESTOCKED,
 ZA_PEAK) = range(8)
N_ZA = 8


Scratch = namedtuple("Scratch", [
    # per event
    "z", "onset_f", "dur", "sev0", "sev1", "settle", "leak", "lead", "sev_now", "ann_now",
    # the events that touch a material in a draw (_material: its first ones)
    "live",
    # per intervention
    "sp_on", "cap_on", "cap_month",
    # per material
    "mk",
    # per (stage, zone) carried over months
    "inv", "lnp_prev", "lnp_now", "zprec", "uhint", "uhint2", "shint", "gorig", "gother",
    # per (stage, zone), fixed in a material's draw: the kinds of producer it holds
    # (bit 0 the origin of a restriction, bit 1 any other)
    "gkind",
    # per country
    "lsm", "msm", "lsr", "msr", "srel", "hold", "supply", "feed",
    # the last stage's buyers with a state stock of their own (the first ones)
    "hbuy",
    # per (stage, zone): the month per unit of need, summed (zacc), months short, first
    # and last (zmon)
    "zacc", "zmon",
    # per (stage, country)
    "rowflag", "outsh", "outp", "xfeed", "az", "ao", "ou",
    # zone market of one stage
    "zq", "mp", "zcons", "zrest", "zcrel", "zshare", "zdbar", "zrho", "zprice", "zbuy",
    # exporter classes and the max-flow workspace
    "fsup", "capc", "ulev", "frozen", "cutz", "dem", "slope", "gcap", "f", "out_e", "in_i",
    "queue",
    "par_e", "par_i", "seen_e", "seen_i",
    # per variate: log B(a, b) of a beta or PERT variate's shape (run_draws, once a call)
    "lbeta",
])


def scratch(n_ev, n_sp, n_cap, n_k, n_s, n_c, n_z, n_v):
    """A worker's scratch arrays (Scratch), made by the caller: the kernel allocates
    nothing, so it runs without reference counting (simcore/_numba.py)."""
    e1 = max(1, n_ev)
    m = n_c + 1
    z1 = max(1, n_z)
    return Scratch(
        np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1),
        np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1), np.zeros(e1, dtype=np.bool_),
        np.zeros(e1, dtype=np.int64),
        np.zeros(max(1, n_sp), dtype=np.bool_), np.zeros(max(1, n_cap), dtype=np.bool_),
        np.zeros(max(1, n_cap), dtype=np.int64),
        np.zeros((n_k, N_MARKET)),
        np.zeros((n_s, z1)), np.zeros((n_s, z1)), np.zeros((n_s, z1)),
        np.zeros((n_s, z1)), np.zeros((n_s, z1)), np.zeros((n_s, z1)), np.zeros(n_s),
        np.zeros((n_s, z1)), np.zeros((n_s, z1)), np.zeros((n_s, z1), dtype=np.int64),
        np.zeros(n_c), np.zeros(n_c), np.zeros(n_c), np.zeros(n_c), np.zeros(n_c),
        np.zeros(n_c, dtype=np.bool_), np.zeros(n_c), np.zeros(n_c),
        np.zeros(n_c, dtype=np.uint64),
        np.zeros((n_s, z1, N_ZA)), np.zeros((n_s, z1, 3), dtype=np.int64),
        np.zeros((n_s, n_c), dtype=np.bool_), np.ones((n_s, n_c)), np.zeros((n_s, n_c)),
        np.zeros((n_s, n_c)), np.ones((n_s, n_c, z1)), np.zeros((n_s, n_c, z1)),
        np.ones((n_s, n_c)),
        np.zeros((z1, N_ZQ)), np.zeros(N_MP), np.zeros(z1), np.zeros(z1), np.zeros(z1),
        np.zeros(z1), np.zeros(z1), np.zeros(z1), np.zeros(z1), np.zeros(z1),
        np.zeros(m), np.zeros((m, z1)), np.zeros(z1),
        np.zeros(z1, dtype=np.bool_), np.zeros(z1, dtype=np.bool_), np.zeros(z1), np.zeros(z1),
        np.zeros(GCAP_SIZE), np.zeros((m, z1)), np.zeros(m),
        np.zeros(z1), np.zeros(m + z1 + 2, dtype=np.int64), np.zeros(m, dtype=np.int64),
        np.zeros(z1, dtype=np.int64), np.zeros(m, dtype=np.bool_),
        np.zeros(z1, dtype=np.bool_),
        np.zeros(max(1, n_v)),  # run_draws writes every variate's: n_v is required
    )
