"""Compilation to CompiledScenario: shapes, codes, parameter rows, stable variate keys,
stockpile tonnes worked out by hand on the tiny dataset (tests/data/tiny/README.md)."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from simcore.compiled import (
    DIST_BETA,
    DIST_CONST,
    DIST_DISCRETE,
    DIST_LOGNORMAL,
    DIST_PERT,
    DIST_TRIANGULAR,
    DIST_UNIFORM,
    EVENT_OUTAGE,
    EVENT_RESTRICTION,
    name_key,
)
from simcore.errors import ScenarioError
from simcore.kernel.structs import MARKET_PARAMS
from simcore.scenario import compile_scenario, load_scenario

MARKET_KEYS = [key for key, _ in MARKET_PARAMS]

FULL = """
[scenario]
name = "full"
horizon_months = 18
draws = 500
seed = 42

[[events]]
id = "cn-ga"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
targets = "partners"
except = ["AUS"]
probability = 0.7
onset_month = { dist = "discrete", values = [0, 2, 4], weights = [1, 2, 1] }
duration_months = { dist = "triangular", min = 6, mode = 18, max = 36 }
severity = { dist = "uniform", min = 0.9, max = 1.0 }
settled_severity = { dist = "pert", min = 0.2, mode = 0.45, max = 0.7 }
settle_months = { dist = "uniform", min = 2, max = 5 }
leakage = { dist = "beta", a = 2, b = 8 }
announcement_lead_months = { dist = "lognormal", median = 2, sigma = 0.5, max = 6 }

[[events]]
id = "cn-gr-quota"
kind = "export_restriction"
origin = "CHN"
materials = "graphite"
stage = "mining"
quota_tonnes_per_year = 30
re_export = true
after = "cn-ga"
lag_months = { dist = "uniform", min = 1, max = 4 }
duration_months = 12

[[events]]
id = "au-sb"
kind = "production_outage"
origin = "AUS"
materials = ["antimony"]
probability = 0.4
duration_months = 6
severity = { dist = "lognormal", mu = -1.0, sigma = 0.3, min = 0.1, max = 0.9 }

[[correlations]]
events = ["cn-ga", "au-sb"]
rho = 0.6

[response]
demand_elasticity = { dist = "uniform", min = 0.1, max = 0.4 }
price_cap = 8

[[interventions]]
id = "cap-au-ga"
kind = "capacity"
country = "AUS"
material = "gallium"
tonnes_per_year = 15
probability = 0.5
online_month = { dist = "triangular", min = 6, mode = 12, max = 24 }

[[interventions]]
id = "sp-months"
kind = "stockpile"
countries = "partners"
materials = ["gallium", "graphite"]
months_of_need = 3
max_release_share = 0.5

[[interventions]]
id = "sp-tonnes"
kind = "stockpile"
countries = ["USA", "EU27", "JPN"]
materials = ["gallium"]
tonnes = 12
max_release_tonnes_per_month = 6
"""


def compiled(tmp_path, tensor, text=FULL, name="s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return compile_scenario(load_scenario(path, tensor), tensor)


@pytest.fixture
def full(tmp_path, tiny_tensor):
    return compiled(tmp_path, tiny_tensor)


def test_identity(full, tiny_tensor):
    assert (full.name, full.horizon, full.draws, full.seed) == ("full", 18, 500, 42)
    assert full.dataset_hash == tiny_tensor.hash and len(full.scenario_hash) == 64
    # version 1's price_cap is read as the choke price of every material
    assert full.mkt_given[MARKET_KEYS.index("choke_price")]
    assert full.var_name[full.mkt_var[MARKET_KEYS.index("choke_price")]] == "response/choke_price"


def test_shapes_and_dtypes(full, tiny_tensor):
    K, _, C = tiny_tensor.shape
    E, V = 3, full.n_variates
    assert full.event_id == ("cn-ga", "cn-gr-quota", "au-sb")
    assert len(set(full.var_name)) == V
    assert full.var_key.dtype == np.uint64 and full.var_key.shape == (V,)
    assert full.var_dist.dtype == np.int8 and full.var_par.shape == (V, 4)
    assert full.var_par.flags.c_contiguous
    for name in ("ev_origin", "ev_parent", "ev_occurs_var", "ev_onset_var", "ev_lag_var",
                 "ev_duration_var", "ev_severity_var", "ev_settled_var", "ev_settle_var",
                 "ev_leakage_var", "ev_lead_var"):
        arr = getattr(full, name)
        assert arr.dtype == np.int32 and arr.shape == (E,), name
    assert full.ev_kind.dtype == np.int8
    assert full.ev_stage.shape == (E, K) and full.ev_stage.dtype == np.int32
    assert full.ev_targets.shape == (E, C) and full.ev_targets.dtype == np.bool_
    assert full.occ_chol.shape == (E, E) and full.ev_correlated.shape == (E,)
    assert full.sp_stock.shape == (2, K, C) and full.sp_max_release.shape == (2, K, C)
    assert full.intervention_id == ("sp-months", "sp-tonnes", "cap-au-ga")
    for name in ("cap_material", "cap_stage", "cap_country", "cap_occurs_var", "cap_online_var"):
        assert getattr(full, name).dtype == np.int32, name
    assert full.material_scope.tolist() == [True, True, True]


def test_variate_names_and_keys(full):
    names = set(full.var_name)
    for n in ("occurs", "onset", "duration", "severity", "settled_severity",
              "settle_months", "leakage", "lead"):
        assert f"event/cn-ga/{n}" in names
    assert "event/cn-gr-quota/lag" in names and "event/cn-gr-quota/onset" not in names
    assert "event/cn-gr-quota/severity" not in names  # the quota replaces it
    assert "event/au-sb/leakage" not in names  # an outage has none
    assert "intervention/cap-au-ga/online_month" in names
    assert "intervention/sp-months/occurs" in names
    assert "response/demand_elasticity" in names and "response/price_cap" not in names
    # market parameters the file leaves out are quantiles of the dataset's table
    assert "response/supply_elasticity/quantile" in names
    assert [int(k) for k in full.var_key] == [int(name_key(n)) for n in full.var_name]
    assert len(set(full.var_key.tolist())) == full.n_variates


def test_event_arrays(full, tiny_tensor):
    c = tiny_tensor.countries.index
    k = tiny_tensor.materials.index
    assert full.ev_kind.tolist() == [EVENT_RESTRICTION, EVENT_RESTRICTION, EVENT_OUTAGE]
    assert full.ev_origin.tolist() == [c("CHN"), c("CHN"), c("AUS")]
    assert full.ev_probability.tolist() == [0.7, 1.0, 0.4]
    assert full.ev_parent.tolist() == [-1, 0, -1]
    assert (full.ev_occurs_var >= 0).all()  # an occurrence variate even at probability 1
    assert full.ev_onset_var[1] == -1 and full.ev_lag_var[1] >= 0
    assert full.ev_severity_var[1] == -1 and full.ev_quota[1] == 30.0
    assert np.isnan(full.ev_quota[[0, 2]]).all()
    assert full.ev_re_export.tolist() == [False, True, False]
    assert full.ev_leakage_var[2] == -1 and full.ev_settled_var[2] == -1
    assert full.ev_lead_var[0] >= 0 and full.ev_lead_var[2] == -1
    assert full.ev_stage[0].tolist() == [0, -1, -1]  # gallium refining = stage 0
    assert full.ev_stage[1, k("graphite")] == 0  # mining
    assert full.ev_stage[2, k("antimony")] == 0
    targets = [tiny_tensor.countries[i] for i in np.flatnonzero(full.ev_targets[0])]
    assert targets == ["USA", "DEU", "JPN"]  # partners minus AUS
    assert not full.ev_targets[2].any()
    assert full.var_name[full.ev_occurs_var[0]] == "event/cn-ga/occurs"
    assert full.var_name[full.ev_lag_var[1]] == "event/cn-gr-quota/lag"


def test_distribution_rows(full):
    def row(name):
        v = full.var_name.index(name)
        return int(full.var_dist[v]), full.var_par[v].tolist()

    assert row("event/cn-ga/occurs") == (DIST_UNIFORM, [0.0, 1.0, 0.0, 0.0])
    assert row("event/cn-ga/severity") == (DIST_UNIFORM, [0.9, 1.0, 0.0, 0.0])
    assert row("event/cn-ga/duration") == (DIST_TRIANGULAR, [6.0, 18.0, 36.0, 0.0])
    assert row("event/cn-ga/settled_severity") == (DIST_PERT, [0.2, 0.45, 0.7, 4.0])
    assert row("event/cn-ga/leakage") == (DIST_BETA, [2.0, 8.0, 0.0, 1.0])
    code, par = row("event/cn-ga/lead")
    assert code == DIST_LOGNORMAL and par[0] == pytest.approx(math.log(2)) and par[1:] == [
        0.5, -math.inf, 6.0]
    assert row("event/au-sb/severity") == (DIST_LOGNORMAL, [-1.0, 0.3, 0.1, 0.9])
    assert row("event/cn-gr-quota/duration") == (DIST_CONST, [12.0, 0.0, 0.0, 0.0])
    code, par = row("event/cn-ga/onset")
    assert code == DIST_DISCRETE
    off, n = int(par[0]), int(par[1])
    assert full.disc_values[off:off + n].tolist() == [0.0, 2.0, 4.0]
    assert full.disc_cdf[off:off + n].tolist() == [0.25, 0.75, 1.0]
    assert row("response/spare_usable") == (DIST_CONST, [0.5, 0.0, 0.0, 0.0])
    assert full.var_name[full.mkt_var[MARKET_KEYS.index("demand_elasticity")]] == (
        "response/demand_elasticity")
    assert full.var_name[full.mkt_var[MARKET_KEYS.index("reroute_lag_months")]] == (
        "response/reroute_lag_months/quantile")  # not in the file: the dataset's table
    assert full.var_name[full.substitution_months_var] == "response/substitution_months"
    q = full.mkt_var[MARKET_KEYS.index("spot_share")]
    assert row("response/spot_share/quantile") == (DIST_UNIFORM, [0.0, 1.0, 0.0, 0.0])
    assert not full.mkt_given[MARKET_KEYS.index("spot_share")] and q >= 0


def test_correlation_cholesky(full):
    R = full.occ_chol @ full.occ_chol.T
    expected = np.eye(3)
    expected[0, 2] = expected[2, 0] = 0.6
    np.testing.assert_allclose(R, expected, atol=1e-12)
    assert full.ev_correlated.tolist() == [True, False, True]
    assert full.occ_chol[1].tolist() == [0.0, 1.0, 0.0]  # passes its uniform through
    assert np.allclose(np.tril(full.occ_chol), full.occ_chol)


def test_stockpile_tonnes(full, tiny_tensor):
    c = tiny_tensor.countries.index
    k = tiny_tensor.materials.index
    # months_of_need = 3 of last-stage need [t/year] / 12: gallium USA 25, DEU 10, JPN 25,
    # AUS 0; graphite refining USA 30, DEU 10, JPN 20, AUS 0.
    stock = full.sp_stock[0]
    assert stock[k("gallium"), c("USA")] == pytest.approx(3 * 25 / 12)
    assert stock[k("gallium"), c("DEU")] == pytest.approx(3 * 10 / 12)
    assert stock[k("graphite"), c("JPN")] == pytest.approx(3 * 20 / 12)
    assert stock[k("gallium"), c("CHN")] == 0 and stock[k("antimony")].sum() == 0
    assert full.sp_max_release[0, k("gallium"), c("JPN")] == pytest.approx(0.5 * 25 / 12)
    # tonnes = 12 split by need share among USA 25, DEU 10, JPN 25 -> 5, 2, 5
    np.testing.assert_allclose(full.sp_stock[1, k("gallium"), [c("USA"), c("DEU"), c("JPN")]],
                               [5.0, 2.0, 5.0])
    np.testing.assert_allclose(
        full.sp_max_release[1, k("gallium"), [c("USA"), c("DEU"), c("JPN")]], [2.5, 1.0, 2.5])
    assert full.sp_probability.tolist() == [1.0, 1.0]
    assert full.var_name[full.sp_occurs_var[1]] == "intervention/sp-tonnes/occurs"


def test_capacity_arrays(full, tiny_tensor):
    assert full.cap_material.tolist() == [tiny_tensor.materials.index("gallium")]
    assert full.cap_stage.tolist() == [0]
    assert full.cap_country.tolist() == [tiny_tensor.countries.index("AUS")]
    assert full.cap_tonnes.tolist() == [15.0] and full.cap_probability.tolist() == [0.5]
    assert full.var_name[full.cap_online_var[0]] == "intervention/cap-au-ga/online_month"


def test_adding_an_event_keeps_other_keys(tmp_path, tiny_tensor, full):
    extra = FULL.replace("[[correlations]]", """[[events]]
id = "new"
kind = "production_outage"
origin = "JPN"
materials = ["gallium"]
duration_months = 3
severity = 0.5

[[correlations]]""")
    more = compiled(tmp_path, tiny_tensor, extra, "more.toml")
    before = dict(zip(full.var_name, full.var_key.tolist(), strict=True))
    after = dict(zip(more.var_name, more.var_key.tolist(), strict=True))
    assert set(after) - set(before) == {f"event/new/{n}" for n in (
        "occurs", "onset", "duration", "severity")}
    assert all(after[n] == key for n, key in before.items())
    # the uncorrelated new event leaves the copula of the others as it was
    keep = [more.event_id.index(e) for e in full.event_id]
    np.testing.assert_allclose(more.occ_chol[np.ix_(keep, keep)], full.occ_chol)


def test_material_scope_only_touched(tmp_path, tiny_tensor):
    text = FULL.split("[[events]]\nid = \"cn-gr-quota\"")[0]
    c = compiled(tmp_path, tiny_tensor, text)
    assert c.material_scope.tolist() == [True, False, False]


def test_no_events(tmp_path, tiny_tensor):
    c = compiled(tmp_path, tiny_tensor, '[scenario]\nname = "quiet"\n')
    assert c.n_events == 0 and c.occ_chol.shape == (0, 0)
    assert c.var_name == tuple(
        [f"response/{n}" for n in ("spare_usable", "substitution_max", "substitution_months")]
        + [f"response/{key}/quantile" for key in MARKET_KEYS])
    assert not c.material_scope.any()


def test_compile_against_a_dataset_without_the_names(tmp_path, tiny_tensor, tiny_copy,
                                                     edit_csv):
    from simcore.dataset import load_dataset

    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(FULL), encoding="utf-8")
    sc = load_scenario(path, tiny_tensor)

    def drop_antimony(rows):
        return [r for r in rows if "antimony" not in r]

    for name in ("materials.csv", "flows.csv", "capacity.csv", "stocks.csv"):
        edit_csv(tiny_copy, name, drop_antimony)
    other = load_dataset(tiny_copy)
    with pytest.raises(ScenarioError, match="antimony"):
        compile_scenario(sc, other)
