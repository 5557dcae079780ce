"""benchmarks/synthetic.py: the scale benchmark's dataset is valid and a function of its
seed."""

from __future__ import annotations

from benchmarks.synthetic import generate, scenario
from simcore.dataset import check_dataset, load_dataset


def test_the_synthetic_dataset_is_valid_and_deterministic(tmp_path):
    a = generate(tmp_path / "a", seed=3, countries=60, materials=8)
    b = generate(tmp_path / "b", seed=3, countries=60, materials=8)
    c = generate(tmp_path / "c", seed=4, countries=60, materials=8)
    assert check_dataset(a) == []  # no errors, no warnings
    ta, tb, tc = (load_dataset(p) for p in (a, b, c))
    assert ta.hash == tb.hash != tc.hash
    assert ta.shape[0] == 8 and len(ta.countries) == 60
    assert "partners" in ta.groups


def test_its_scenario_loads_and_restricts_every_material(tmp_path):
    from simcore import api

    data = generate(tmp_path / "d", seed=1, countries=40, materials=6)
    prep = api.prepare(scenario(data, tmp_path / "scale.toml", materials=6))
    assert prep.compiled.n_events == 2 and bool(prep.compiled.material_scope.all())
