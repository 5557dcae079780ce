"""Scenario files: a minimal valid file, then one defect per test with its named error."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from simcore.errors import ScenarioError
from simcore.scenario import compile_scenario, load_scenario

MINIMAL = """
[scenario]
name = "minimal"

[[events]]
id = "cn-ga"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
duration_months = 12
severity = 1.0
"""


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path, text, tensor, name="s.toml"):
    return load_scenario(write(tmp_path, text, name), tensor)


def problems(tmp_path, text, tensor, name="s.toml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load(tmp_path, text, tensor, name)
    return info.value.problems


def test_minimal_file_loads_with_defaults(tmp_path, tiny_tensor):
    sc = load(tmp_path, MINIMAL, tiny_tensor)
    assert sc.name == "minimal"
    assert (sc.horizon_months, sc.draws, sc.seed) == (24, 10000, 0)
    (ev,) = sc.events
    assert ev.stages == ("refining",)
    assert ev.targets == ("USA", "DEU", "JPN", "AUS")  # all but the origin, dataset order
    assert ev.leakage.kind == "const" and ev.leakage["value"] == 0.0
    assert sc.response["reroute_lag_months"]["value"] == 6.0
    assert sc.response["spare_usable"]["value"] == 0.5
    assert sc.response["substitution_max"]["value"] == 0.0
    assert sc.response["demand_elasticity"]["value"] == 0.2
    assert sc.price_cap == 10.0


def test_compile_minimal(tmp_path, tiny_tensor):
    c = compile_scenario(load(tmp_path, MINIMAL, tiny_tensor))
    K, _, C = tiny_tensor.shape
    assert c.ev_targets.shape == (1, C) and c.ev_stage.shape == (1, K)
    assert c.ev_occurs_var[0] >= 0  # occurrence variate exists even with probability 1
    assert c.material_scope.tolist() == [True, False, False]
    assert c.occ_chol.tolist() == [[1.0]]
    assert not np.any(c.ev_correlated)


def test_unknown_country_suggests(tmp_path, tiny_tensor):
    (p,) = problems(tmp_path, MINIMAL.replace('"CHN"', '"CHNA"'), tiny_tensor)
    assert "events[0].origin" in p and "CHNA" in p and "did you mean 'CHN'" in p
    assert "s.toml" in p
