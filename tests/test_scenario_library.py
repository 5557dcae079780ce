"""The shipped scenario library validates and compiles against the shipped baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simcore.scenario import compile_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
REPLAYS = ("ree-japan-2010", "idn-nickel-ore-2020", "ga-ge-licence-2023", "graphite-2023",
           "antimony-2024", "us-ban-2024", "w-te-bi-mo-in-2025", "ree-heavy-2025",
           "ree-expansion-2025", "drc-cobalt-2025")
STUDIES = ("partners-2026", "partners-2026-stockpile", "partners-2026-capacity",
           "partners-2026-both", "ga-ge-licence-2023-stockpile")


@pytest.fixture(scope="module")
def baseline():
    from simcore.dataset import builtin_path, load_dataset

    if not (builtin_path() / "materials.csv").is_file():
        pytest.skip("the built-in baseline is not built yet")
    return load_dataset()


def test_library_is_complete():
    names = {p.stem for p in SCENARIOS}
    assert set(REPLAYS) | set(STUDIES) <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_validates_and_compiles(path, baseline):
    sc = load_scenario(path)  # against the dataset it names: the built-in baseline
    assert sc.tensor.hash == baseline.hash
    # notes are allowed only where the file itself says that the event moves nothing here
    comments = "\n".join(line for f in sc.files for line in f.read_text("utf-8").splitlines()
                         if line.startswith("#"))
    for note in sc.warnings:
        assert "moves nothing" in note and "moves nothing" in comments, note
    assert sc.name == path.stem
    c = compile_scenario(sc)
    assert c.n_events == len(sc.events) >= 1
    assert c.material_scope.any()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_cites_sources_and_judgement(path):
    text = path.read_text(encoding="utf-8")
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert text.startswith("#:schema ../simcore/schema/scenario.schema.json")
    if path.stem in REPLAYS or path.stem == "partners-2026":
        assert "What happened" in comments or "situation at the start" in comments
        assert "Judgement" in comments
        assert "MOFCOM" in comments or "Reuters" in comments or "ARECOMS" in comments


def test_partners_2026_shape(baseline):
    sc = load_scenario(ROOT / "scenarios" / "partners-2026.toml")
    assert 10 <= len(sc.events) <= 15
    materials = {m for e in sc.events for m in e.materials}
    assert len(materials) >= 10
    assert sc.horizon_months == 24
    assert any(e.after for e in sc.events) and sc.correlations
    assert any(e.probability < 1 for e in sc.events)


@pytest.mark.parametrize("variant", ["partners-2026-stockpile", "partners-2026-capacity",
                                     "partners-2026-both"])
def test_variants_share_draws_with_the_base(variant, baseline):
    base = compile_scenario(load_scenario(ROOT / "scenarios" / "partners-2026.toml"))
    var = compile_scenario(load_scenario(ROOT / "scenarios" / f"{variant}.toml"))
    assert var.seed == base.seed and var.event_id == base.event_id
    n = base.n_variates
    shared = [i for i, name in enumerate(var.var_name) if name in set(base.var_name)]
    assert len(shared) == n
    keys = dict(zip(var.var_name, var.var_key.tolist(), strict=True))
    assert all(keys[name] == k for name, k in zip(base.var_name, base.var_key.tolist(),
                                                  strict=True))
    np.testing.assert_array_equal(var.occ_chol, base.occ_chol)
    assert var.scenario_hash != base.scenario_hash
    if variant != "partners-2026-capacity":
        assert var.sp_stock.sum() > 0
    if variant != "partners-2026-stockpile":
        assert var.cap_tonnes.sum() > 0


def test_reference_example_keeps_its_keys(baseline, tmp_path):
    # the example (docs/scenarios.md, first block) must validate and run
    # unchanged: its keys stay as written. The shipped replay of the same regime has
    # since been fixed against history (scenarios/ga-ge-licence-2023.toml)
    text = (ROOT / "docs" / "scenarios.md").read_text("utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.toml").write_text(block, encoding="utf-8")
    sc = load_scenario(tmp_path / "example.toml")
    (ev,) = sc.events
    assert ev.id == "cn-ga-ge-licence" and ev.materials == ("gallium", "germanium")
    assert ev.duration.kind == "triangular" and ev.settled_severity.kind == "pert"
    assert ev.leakage.kind == "beta" and sc.seed == 20230801 and sc.draws == 10000
    eu = sc.tensor.groups["EU27"]
    assert sc.groups["importers_of_concern"] == tuple(
        c for c in sc.tensor.countries if c in {"USA", "JPN", "KOR", *eu})
    assert {"USA", "FRA", "DEU", "ITA", "JPN", "KOR", "XEU", "NLD", "BEL"} <= set(
        sc.groups["importers_of_concern"])
