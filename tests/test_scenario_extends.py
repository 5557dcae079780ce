"""`extends`: variants override scalars and add or replace items by id; the hash covers
the parents; cycles are errors."""

from __future__ import annotations

import textwrap

import pytest

from simcore.errors import ScenarioError
from simcore.scenario import load_scenario
from simcore.scenario.distributions import Dist

BASE = """
[scenario]
name = "base"
horizon_months = 24
seed = 7

[groups]
concern = ["USA", "JPN"]

[[events]]
id = "cn-ga"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
duration_months = 12
severity = 1.0

[[events]]
id = "cn-sb"
kind = "export_restriction"
origin = "CHN"
materials = ["antimony"]
targets = "concern"
duration_months = 12
severity = 0.5

[response]
spare_usable = 0.3
reroute_lag_months = 4

[[interventions]]
id = "sp"
kind = "stockpile"
countries = "USA"
materials = ["gallium"]
months_of_need = 2
"""


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_child_overrides_scalars_and_replaces_by_id(tmp_path, tiny_tensor):
    write(tmp_path / "lib", "base.toml", BASE)
    child = write(tmp_path / "variants", "child.toml", """
        extends = "../lib/base.toml"

        [scenario]
        name = "child"
        horizon_months = 36

        [response]
        spare_usable = 0.8

        [[events]]
        id = "cn-sb"            # replaces the parent's event of the same id, in place
        kind = "production_outage"
        origin = "CHN"
        materials = ["antimony"]
        duration_months = 3
        severity = 0.2

        [[events]]
        id = "cn-gr"            # added after the parent's events
        kind = "export_restriction"
        origin = "CHN"
        materials = ["graphite"]
        stage = "mining"
        targets = "concern"     # the parent's group
        duration_months = 6
        severity = 1.0

        [[interventions]]
        id = "cap"
        kind = "capacity"
        country = "AUS"
        material = "gallium"
        tonnes_per_year = 5
        online_month = { dist = "uniform", min = 6, max = 18 }
    """)
    sc = load_scenario(child, tiny_tensor)
    assert sc.name == "child"
    assert sc.horizon_months == 36 and sc.seed == 7  # overridden; inherited
    assert sc.response["spare_usable"]["value"] == 0.8
    assert sc.response["reroute_lag_months"]["value"] == 4.0  # inherited
    assert [e.id for e in sc.events] == ["cn-ga", "cn-sb", "cn-gr"]
    assert sc.event("cn-sb").kind == "production_outage"
    assert sc.event("cn-gr").targets == ("USA", "JPN") and sc.event("cn-gr").stages == ("mining",)
    assert [i.id for i in sc.interventions] == ["sp", "cap"]
    assert len(sc.files) == 2 and sc.files[0] == child.resolve()


def test_hash_covers_parents_not_formatting(tmp_path, tiny_tensor):
    base = write(tmp_path, "base.toml", BASE)
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[scenario]\nname = "child"\n')
    h1 = load_scenario(child, tiny_tensor).hash
    base.write_text(textwrap.dedent(BASE) + "\n# a comment\n\n", encoding="utf-8")
    assert load_scenario(child, tiny_tensor).hash == h1  # comments do not count
    assert "severity = 1.0\n" in textwrap.dedent(BASE)
    base.write_text(textwrap.dedent(BASE).replace("severity = 1.0\n", "severity = 0.0\n"),
                    encoding="utf-8")
    h0 = load_scenario(child, tiny_tensor).hash
    base.write_text(textwrap.dedent(BASE).replace("severity = 1.0\n", "severity = -0.0\n"),
                    encoding="utf-8")
    assert load_scenario(child, tiny_tensor).hash == h0 != h1  # -0.0 is 0.0
    base.write_text(textwrap.dedent(BASE).replace("seed = 7", "seed = 8"), encoding="utf-8")
    assert load_scenario(child, tiny_tensor).hash != h1  # a parent's change does


def test_hash_does_not_depend_on_where_files_sit(tmp_path, tiny_tensor, tiny_path):
    import shutil

    hashes = []
    for where in ("a", "b/c"):
        folder = tmp_path / where
        shutil.copytree(tiny_path, folder / "data")
        text = BASE.replace('seed = 7', 'seed = 7\ndataset = "data"')
        hashes.append(load_scenario(write(folder, "s.toml", text), None).hash)
    assert hashes[0] == hashes[1]


def test_problems_in_a_parent_name_the_parent(tmp_path, tiny_tensor):
    write(tmp_path, "base.toml", BASE.replace('origin = "CHN"', 'origin = "CNH"', 1))
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[scenario]\nname = "c"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child, tiny_tensor)
    (p,) = info.value.problems
    assert "base.toml: events[0].origin" in p and "did you mean 'CHN'" in p


def test_extends_cycle_is_an_error(tmp_path, tiny_tensor):
    write(tmp_path, "a.toml", 'extends = "b.toml"\n[scenario]\nname = "a"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n[scenario]\nname = "b"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "a.toml", tiny_tensor)
    (p,) = info.value.problems
    assert "b.toml: extends" in p and "extends cycle" in p
    assert "a.toml -> " in p and "b.toml -> " in p


def test_extends_self_is_a_cycle(tmp_path, tiny_tensor):
    write(tmp_path, "a.toml", 'extends = "a.toml"\n[scenario]\nname = "a"\n')
    with pytest.raises(ScenarioError, match="extends cycle"):
        load_scenario(tmp_path / "a.toml", tiny_tensor)


def test_missing_parent_is_an_error(tmp_path, tiny_tensor):
    write(tmp_path, "a.toml", 'extends = "nowhere.toml"\n[scenario]\nname = "a"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "a.toml", tiny_tensor)
    (p,) = info.value.problems
    assert "a.toml: extends" in p and "nowhere.toml not found" in p


def test_child_may_correlate_parent_events(tmp_path, tiny_tensor):
    write(tmp_path, "base.toml", BASE)
    child = write(tmp_path, "child.toml", """
        extends = "base.toml"
        [[correlations]]
        id = "cn"
        events = ["cn-ga", "cn-sb"]
        rho = 0.6
    """)
    sc = load_scenario(child, tiny_tensor)
    assert sc.name == "base"
    assert [(c.id, c.rho) for c in sc.correlations] == [("cn", 0.6)]
    grandchild = write(tmp_path, "gc.toml", """
        extends = "child.toml"
        [[correlations]]
        id = "cn"
        events = ["cn-ga", "cn-sb"]
        rho = 0.2
    """)
    assert [c.rho for c in load_scenario(grandchild, tiny_tensor).correlations] == [0.2]


def test_several_parents_merge_left_to_right_with_the_base_once(tmp_path, tiny_tensor):
    write(tmp_path, "base.toml", BASE)
    write(tmp_path, "sp.toml", """
        extends = "base.toml"
        [scenario]
        name = "sp"
        horizon_months = 30
        [[interventions]]
        id = "sp2"
        kind = "stockpile"
        countries = "JPN"
        materials = ["antimony"]
        tonnes = 3
    """)
    write(tmp_path, "cap.toml", """
        extends = "base.toml"
        [scenario]
        name = "cap"
        [[interventions]]
        id = "cap"
        kind = "capacity"
        country = "AUS"
        material = "gallium"
        tonnes_per_year = 5
    """)
    both = write(tmp_path, "both.toml", """
        extends = ["sp.toml", "cap.toml"]
        [scenario]
        name = "both"
    """)
    sc = load_scenario(both, tiny_tensor)
    assert sc.name == "both" and sc.horizon_months == 30
    assert [i.id for i in sc.interventions] == ["sp", "sp2", "cap"]
    assert [e.id for e in sc.events] == ["cn-ga", "cn-sb"]
    assert [f.name for f in sc.files] == ["both.toml", "cap.toml", "sp.toml", "base.toml"]


def test_cycle_through_a_list_of_parents(tmp_path, tiny_tensor):
    write(tmp_path, "base.toml", BASE)
    write(tmp_path, "a.toml", 'extends = ["base.toml", "b.toml"]\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "a.toml", tiny_tensor)
    (p,) = info.value.problems
    assert "b.toml: extends" in p and "extends cycle" in p


def test_price_cap_and_choke_price_are_one_parameter(tmp_path, tiny_tensor):
    """docs/scenarios.md: `price_cap` (version 1) and `choke_price` are one parameter;
    give one of them. One file giving both was accepted and one value dropped without a
    word (an authoring pass); a variant that gives one replaces its parent's other."""
    both = write(tmp_path, "both.toml", BASE.replace(
        "reroute_lag_months = 4", "reroute_lag_months = 4\nchoke_price = 10\nprice_cap = 8"))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(both, tensor=tiny_tensor)
    text = str(exc.value)
    assert "response.price_cap = 8" in text and "one parameter" in text
    assert "remove `price_cap`" in text
    write(tmp_path, "old.toml", BASE.replace(
        "reroute_lag_months = 4", "reroute_lag_months = 4\nprice_cap = 8"))
    # a file that extends one giving both keys does not hide its parent's problem
    hiding = write(tmp_path, "hiding.toml", 'extends = "both.toml"\n[scenario]\n'
                   'name = "hiding"\n[response]\nchoke_price = 12\n')
    with pytest.raises(ScenarioError, match="both.toml: response.price_cap = 8"):
        load_scenario(hiding, tensor=tiny_tensor)
    # each file extends the one before and names the parameter its own way
    for parent, name, line, value in (("old", "child", "choke_price = 12", 12.0),
                                      ("child", "back", "price_cap = 9", 9.0)):
        path = write(tmp_path, f"{name}.toml", f'extends = "{parent}.toml"\n[scenario]\n'
                     f'name = "{name}"\n[response]\n{line}\n')
        got = load_scenario(path, tensor=tiny_tensor).response["choke_price"]
        assert got == Dist.const(value)


def test_a_variant_replaces_an_unnamed_correlation_by_its_default_id(tmp_path, tiny_tensor):
    """docs/scenarios.md: a correlation's default id is its event ids joined by `+`, and a
    variant replaces a correlation with the same id; writing that id was refused for its
    '+' (an authoring pass). A clash with the parent's correlation names the parent's
    file."""
    base = BASE.replace("duration_months = 12\nseverity = 1.0",
                        "duration_months = 12\nseverity = 1.0\nprobability = 0.5")
    base = base.replace("duration_months = 12\nseverity = 0.5",
                        "duration_months = 12\nseverity = 0.5\nprobability = 0.4")
    base += '\n[[correlations]]\nevents = ["cn-ga", "cn-sb"]\nrho = 0.5\n'
    write(tmp_path, "base.toml", base)

    def variant(name: str, cid: str, events: str):
        return write(tmp_path, f"{name}.toml", f'extends = "base.toml"\n[scenario]\n'
                     f'name = "{name}"\n[[correlations]]\nid = "{cid}"\n'
                     f'events = {events}\nrho = 0.2\n')

    sc = load_scenario(variant("child", "cn-ga+cn-sb", '["cn-ga", "cn-sb"]'),
                       tensor=tiny_tensor)
    assert [(c.events, c.rho) for c in sc.correlations] == [(("cn-ga", "cn-sb"), 0.2)]
    with pytest.raises(ScenarioError) as exc:
        load_scenario(variant("clash", "other", '["cn-sb", "cn-ga"]'), tensor=tiny_tensor)
    assert f"rho = 0.5 at {tmp_path / 'base.toml'}: correlations[0]" in str(exc.value)


def test_a_variant_without_a_name_of_its_own_is_noted(tmp_path):
    """A new-user pass wrote a variant without [scenario] name: `validate` said ok, and
    `run` refused, since its results would replace its parent's. `validate` notes it."""
    from simcore.scenario import load_scenario

    (tmp_path / "base.toml").write_text(
        "[scenario]\nname = \"base\"\n[[events]]\nid = \"cn\"\nkind = \"export_restriction\"\n"
        "origin = \"CHN\"\nmaterials = [\"gallium\"]\nseverity = 1.0\nduration_months = 6\n",
        encoding="utf-8")
    (tmp_path / "v.toml").write_text("extends = \"base.toml\"\n", encoding="utf-8")
    noted = load_scenario(tmp_path / "v.toml").warnings
    assert any("scenario.name: not set, so the file takes its parent's name 'base'" in w
               for w in noted), noted
    (tmp_path / "w.toml").write_text("extends = \"base.toml\"\n[scenario]\nname = \"w\"\n",
                                     encoding="utf-8")
    assert not load_scenario(tmp_path / "w.toml").warnings
    assert not load_scenario(tmp_path / "base.toml").warnings
