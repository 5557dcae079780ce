"""Scenario files: a minimal valid file, then one defect per test with its named error.

Each defect case changes one thing in ``MINIMAL`` and asserts the one problem it causes:
the file, the key path, the bad value and the suggested fix.
"""

from __future__ import annotations

import textwrap

import pytest

from simcore.errors import ScenarioError
from simcore.scenario import load_scenario

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

OUTAGE = """
[[events]]
id = "au-sb"
kind = "production_outage"
origin = "AUS"
materials = "antimony"
duration_months = 6
severity = 0.5
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
    assert str(info.value).count("\n  - ") == len(info.value.problems)
    return info.value.problems


def event_with(*lines: str, drop: tuple[str, ...] = ()) -> str:
    """MINIMAL with keys of its event removed (``drop``) and lines added."""
    kept = [
        line for line in MINIMAL.strip().splitlines()
        if not any(line.startswith(d + " ") for d in drop)
    ]
    return "\n".join(kept + list(lines)) + "\n"


# --- the valid minimal file ---------------------------------------------------------------


def test_minimal_file_loads_with_defaults(tmp_path, tiny_tensor):
    sc = load(tmp_path, MINIMAL, tiny_tensor)
    assert sc.name == "minimal"
    assert (sc.horizon_months, sc.draws, sc.seed, sc.dataset) == (24, 10000, 0, None)
    (ev,) = sc.events
    assert ev.stages == ("refining",)  # default: the material's last stage
    assert ev.targets == ("USA", "DEU", "JPN", "AUS")  # all but the origin, dataset order
    assert ev.onset["value"] == 0.0 and ev.lag is None and ev.after is None
    assert ev.leakage["value"] == 0.0
    assert ev.settled_severity is None and ev.settle_months is None
    assert ev.announcement_lead is None and ev.quota_tonnes_per_year is None
    assert not ev.re_export and ev.probability == 1.0
    given = {k: d["value"] for k, d in sc.response.items() if hasattr(d, "kind")}
    assert given == {"spare_usable": 0.5, "substitution_max": 0.0,
                     "substitution_months": 24.0}
    # every market parameter defaults to the dataset's market table (None here)
    for key in ("demand_elasticity", "reroute_lag_months", "spare_ramp_months",
                "inventory_weeks", "choke_price", "spot_share"):
        assert sc.response[key] is None
    assert sc.response["dataset_stocks"] == "reserved"  # docs/model.md [M10]
    assert sc.response["state_release_price"] == 1.1
    assert len(sc.hash) == 64


def test_dataset_named_by_the_file_is_loaded(tmp_path, tiny_path):
    text = MINIMAL.replace('name = "minimal"',
                           f'name = "minimal"\ndataset = "{tiny_path.as_posix()}"')
    sc = load_scenario(write(tmp_path, text), None)
    assert sc.tensor.materials == ("gallium", "graphite", "antimony")
    assert sc.dataset == tiny_path


def test_relative_dataset_path_resolves_from_the_file(tmp_path, tiny_path):
    import shutil

    shutil.copytree(tiny_path, tmp_path / "data" / "tiny")
    (tmp_path / "sub").mkdir()
    text = MINIMAL.replace('name = "minimal"', 'name = "minimal"\ndataset = "../data/tiny"')
    sc = load_scenario(write(tmp_path / "sub", text), None)
    assert sc.tensor.countries == ("CHN", "USA", "DEU", "JPN", "AUS")


def test_targets_groups_except_and_scenario_groups(tmp_path, tiny_tensor):
    text = event_with(
        'targets = ["partners", "concern"]', 'except = ["EU27"]',
        '[groups]', 'concern = ["G7", "AUS"]',
    )
    sc = load(tmp_path, text, tiny_tensor)
    assert sc.groups == {"concern": ("USA", "DEU", "JPN", "AUS")}
    assert sc.events[0].targets == ("USA", "JPN", "AUS")


def test_a_group_with_a_bad_member_is_reported_where_it_is_defined_only(tmp_path,
                                                                        tiny_tensor):
    """A second new-user pass: with `mine = ["USA", "JPX"]` the JPX error was followed by
    'targets[0] = "mine": unknown country or group ... or a group of your own defined
    under [groups]', though mine is defined there. One problem now: the member's."""
    text = event_with('targets = ["mine"]', '[groups]', 'mine = ["USA", "JPX"]')
    found = problems(tmp_path, text, tiny_tensor)
    assert len(found) == 1 and 'groups.mine[1] = "JPX": unknown country or group' in found[0]


def test_outage_and_distributions_of_every_kind(tmp_path, tiny_tensor):
    text = event_with(
        'leakage = { dist = "beta", a = 2, b = 8, min = 0, max = 0.5 }',
        'onset_month = { dist = "discrete", values = [0, 3, 6], weights = [1, 1, 2] }',
        'announcement_lead_months = { dist = "lognormal", median = 1.0, sigma = 0.5, max = 3 }',
        'settled_severity = { dist = "pert", min = 0.2, mode = 0.45, max = 0.7, lambda = 3 }',
        'settle_months = { dist = "uniform", min = 2, max = 5 }',
        drop=("duration_months",),
    ) + 'duration_months = { dist = "triangular", min = 6, mode = 18, max = 36 }\n' + OUTAGE
    sc = load(tmp_path, text, tiny_tensor)
    ev, out = sc.events
    assert ev.leakage.support() == (0.0, 0.5)
    assert ev.onset.values == (0.0, 3.0, 6.0) and ev.onset.weights == (1.0, 1.0, 2.0)
    assert ev.announcement_lead.support() == (0.0, 3.0)
    assert out.kind == "production_outage" and out.targets == () and out.leakage is None
    assert out.materials == ("antimony",)


# --- one defect per test ------------------------------------------------------------------

DEFECTS = {
    "unknown country": (
        MINIMAL.replace('"CHN"', '"CHNA"'),
        ["events[0].origin", '"CHNA"', "unknown country", "did you mean 'CHN'"],
    ),
    "a country given by its two-letter code": (
        MINIMAL.replace('"CHN"', '"AU"'),
        ["events[0].origin", '"AU"', "did you mean 'AUS'"],  # the code it begins, first
    ),
    "a share given as a percentage": (
        MINIMAL.replace("severity = 1.0", "severity = 20"),
        ["events[0].severity = 20", "out of range", "did you mean 0.2?"],
    ),
    "a group of one's own not defined": (
        event_with('targets = ["USA", "asean"]'),
        ["events[0].targets[1]", '"asean"', "a group of your own defined under [groups]"],
    ),
    "origin is a group": (
        MINIMAL.replace('origin = "CHN"', 'origin = "partners"'),
        ["events[0].origin", "must be one country, not a group"],
    ),
    "unknown target group": (
        event_with('targets = ["USA", "partnrs"]'),
        ["events[0].targets[1]", '"partnrs"', "did you mean 'partners'"],
    ),
    "unknown material": (
        MINIMAL.replace('["gallium"]', '["galium"]'),
        ["events[0].materials[0]", '"galium"', "unknown material", "did you mean 'gallium'"],
    ),
    "stage the material lacks": (
        event_with('stage = "mining"'),
        ["events[0].stage", '"mining"', "material 'gallium' has no stage 'mining'",
         "allowed: refining"],
    ),
    "unknown stage name": (
        event_with('stage = "refning"'),
        ["events[0].stage", "did you mean 'refining'"],
    ),
    "unknown key": (
        event_with("severty = 0.5"),
        ["events[0].severty", "unknown key", "did you mean 'severity'"],
    ),
    "unknown top-level key": (
        MINIMAL + '[respnse]\nspare_usable = 0.5\n',
        ["s.toml: respnse", "unknown top-level key", "did you mean 'response'"],
    ),
    "unknown scenario key": (
        MINIMAL.replace('name = "minimal"', 'name = "minimal"\nhorizon = 12'),
        ["scenario.horizon", "unknown key", "did you mean 'horizon_months'"],
    ),
    "unknown response key": (
        MINIMAL + "[response]\nelasticity = 0.3\n",
        ["response.elasticity", "'demand_elasticity'"],
    ),
    "probability above 1": (
        event_with("probability = 1.5"),
        ["events[0].probability = 1.5", "out of range", "allowed: [0, 1]"],
    ),
    "probability below 0": (
        event_with("probability = -0.1"),
        ["events[0].probability = -0.1", "allowed: [0, 1]"],
    ),
    "severity support above 1": (
        event_with('severity = { dist = "uniform", min = 0.9, max = 1.2 }', drop=("severity",)),
        ["events[0].severity.max = 1.2", "above its range", "allowed: [0, 1]"],
    ),
    "unbounded lognormal severity": (
        event_with('severity = { dist = "lognormal", median = 0.5, sigma = 0.3 }',
                   drop=("severity",)),
        ["events[0].severity", "lognormal is unbounded above", "add max = 1"],
    ),
    "triangular mode outside": (
        event_with('duration_months = { dist = "triangular", min = 6, mode = 40, max = 36 }',
                   drop=("duration_months",)),
        ["events[0].duration_months.mode = 40:", "mode outside [min, max]"],
    ),
    "uniform min above max": (
        event_with('leakage = { dist = "uniform", min = 0.5, max = 0.1 }'),
        ["events[0].leakage.min = 0.5", "min is above max", "swap min and max"],
    ),
    "beta shape not positive": (
        event_with('leakage = { dist = "beta", a = 0, b = 8 }'),
        ["events[0].leakage.a = 0", "must be > 0"],
    ),
    "discrete negative weight": (
        event_with('onset_month = { dist = "discrete", values = [0, 6], weights = [1, -1] }'),
        ["events[0].onset_month.weights[1] = -1", "negative weight"],
    ),
    "discrete weights sum to zero": (
        event_with('onset_month = { dist = "discrete", values = [0, 6], weights = [0, 0] }'),
        ["events[0].onset_month.weights", "sum to zero"],
    ),
    "discrete weights overflowing their sum": (
        event_with('onset_month = { dist = "discrete", values = [0, 6], '
                   'weights = [1e308, 1e308] }'),
        ["events[0].onset_month.weights", "weights sum beyond the largest number",
         "scale them down"],
    ),
    "a quota beyond any real tonnage": (
        MINIMAL.replace("severity = 1.0", "quota_tonnes_per_year = 1e300"),
        ["events[0].quota_tonnes_per_year", "out of range", "[0, 1e+15]"],
    ),
    "discrete weights count": (
        event_with('onset_month = { dist = "discrete", values = [0, 6], weights = [1] }'),
        ["events[0].onset_month.weights", "1 weights for 2 values"],
    ),
    "lognormal with median and mu": (
        event_with('onset_month = { dist = "lognormal", median = 2, mu = 0.7, sigma = 1 }'),
        ["events[0].onset_month", "exactly one of 'median' and 'mu'"],
    ),
    "unknown distribution": (
        event_with('leakage = { dist = "uniforn", min = 0, max = 0.1 }'),
        ["events[0].leakage.dist", '"uniforn"', "did you mean 'uniform'"],
    ),
    "unknown distribution parameter": (
        event_with('leakage = { dist = "uniform", min = 0, maximum = 0.1 }'),
        ["events[0].leakage.maximum", "unknown parameter", "did you mean 'max'"],
    ),
    "elasticity must be positive": (
        MINIMAL + '[response]\ndemand_elasticity = { dist = "uniform", min = 0, max = 0.4 }\n',
        ["response.demand_elasticity.min = 0", "allowed: > 0"],
    ),
    "medium-run elasticity must be positive": (
        MINIMAL + '[response]\ndemand_elasticity_medium = 0\n',
        ["response.demand_elasticity_medium = 0", "allowed: > 0"],
    ),
    "missing required key": (
        event_with(drop=("duration_months",)),
        ["events[0]", "missing required key `duration_months`"],
    ),
    "missing scenario name": (
        MINIMAL.replace('name = "minimal"', 'description = "x"'),
        ["scenario", "missing required key `name`"],
    ),
    "horizon not an integer": (
        MINIMAL.replace('name = "minimal"', 'name = "minimal"\nhorizon_months = 12.5'),
        ["scenario.horizon_months = 12.5", "whole number", "write 12 or 13"],
    ),
    "onset beyond any horizon": (
        event_with("onset_month = 1e19", drop=("onset_month",)),
        ["events[0].onset_month = 1e+19", "[0, 6000]"],
    ),
    "horizon a whole float": (
        MINIMAL.replace('name = "minimal"', 'name = "minimal"\nhorizon_months = 12.0'),
        ["scenario.horizon_months = 12.0", "whole number", "write 12 (without the decimal"],
    ),
    "unknown event kind": (
        MINIMAL.replace('"export_restriction"', '"export_restrictions"'),
        ["events[0].kind", "did you mean 'export_restriction'"],
    ),
    "leakage on an outage": (
        MINIMAL + OUTAGE + "leakage = 0.1\n",
        ["events[1].leakage", "does not apply to a production_outage"],
    ),
    "severity and quota together": (
        event_with("quota_tonnes_per_year = 50"),
        ["events[0].quota_tonnes_per_year", "either `severity` or `quota_tonnes_per_year`"],
    ),
    "quota with two materials": (
        event_with("quota_tonnes_per_year = 50", drop=("severity", "materials")) +
        'materials = ["gallium", "antimony"]\n',
        ["events[0].quota_tonnes_per_year", "exactly one material"],
    ),
    "restriction without severity": (
        event_with(drop=("severity",)),
        ["events[0]", "needs `severity`"],
    ),
    "settled severity without settle months": (
        event_with("settled_severity = 0.4"),
        ["events[0].settled_severity", "needs `settle_months`"],
    ),
    "lag without after": (
        event_with("lag_months = 3"),
        ["events[0].lag_months", "only applies with `after`"],
    ),
    "onset with after": (
        MINIMAL + OUTAGE + 'after = "cn-ga"\nonset_month = 2\n',
        ["events[1].onset_month", "remove `onset_month`"],
    ),
    "unknown parent": (
        MINIMAL + OUTAGE + 'after = "cn-gaa"\n',
        ["events[1].after", "unknown parent event", "did you mean 'cn-ga'"],
    ),
    "after cycle": (
        event_with('after = "au-sb"') + OUTAGE + 'after = "cn-ga"\n',
        ["after", "chain forms a cycle", "cn-ga -> au-sb -> cn-ga"],
    ),
    "duplicate event id": (
        MINIMAL + MINIMAL.split("\n", 4)[4],
        ["events[1].id", '"cn-ga"', "duplicate id"],
    ),
    "targets empty after except": (
        event_with('targets = "USA"', 'except = ["partners"]'),
        ["events[0].targets", "targets no country"],
    ),
    "all in capitals": (
        event_with('targets = "All"'),
        ["events[0].targets", "did you mean 'all'?", 'allowed: "all", a country code'],
    ),
    "all mixed with names": (
        event_with('targets = ["all", "USA"]'),
        ["events[0].targets", '"all" cannot be combined'],
    ),
    "group clashes with a country": (
        MINIMAL + '[groups]\nUSA = ["JPN"]\n',
        ["groups.USA", "is a country code"],
    ),
    "group with unknown member": (
        MINIMAL + '[groups]\nconcern = ["JPN", "KOR"]\n',
        ["groups.concern[1]", '"KOR"', "unknown country or group"],
    ),
    "correlation not positive definite": (
        event_with("probability = 0.5") + OUTAGE + "probability = 0.5\n" +
        OUTAGE.replace("au-sb", "au-gr").replace("antimony", "graphite") +
        "probability = 0.5\n" +
        '[[correlations]]\nevents = ["cn-ga", "au-sb", "au-gr"]\nrho = -0.6\n',
        ["correlations[0]", "not positive definite", "cn-ga"],
    ),
    "correlation pair given twice": (
        MINIMAL + OUTAGE +
        '[[correlations]]\nevents = ["cn-ga", "au-sb"]\nrho = 0.5\n'
        '[[correlations]]\nid = "again"\nevents = ["au-sb", "cn-ga"]\nrho = 0.3\n',
        ["correlations[1].rho = 0.3", "also correlated with rho = 0.5"],
    ),
    "correlation with unknown event": (
        MINIMAL + OUTAGE + '[[correlations]]\nevents = ["cn-ga", "au-bs"]\nrho = 0.5\n',
        ["correlations[0].events[1]", '"au-bs"', "did you mean 'au-sb'"],
    ),
    "correlation rho of 1": (
        MINIMAL + OUTAGE + '[[correlations]]\nevents = ["cn-ga", "au-sb"]\nrho = 1.0\n',
        ["correlations[0].rho = 1.0", "allowed: (-1, 1)"],
    ),
    "stockpile with tonnes and months": (
        MINIMAL + '[[interventions]]\nid = "sp"\nkind = "stockpile"\ncountries = "USA"\n'
        'materials = ["gallium"]\ntonnes = 5\nmonths_of_need = 3\n',
        ["interventions[0].months_of_need = 3", "`tonnes` or `months_of_need`, not both"],
    ),
    "stockpile with neither tonnes nor months": (
        MINIMAL + '[[interventions]]\nid = "sp"\nkind = "stockpile"\ncountries = "USA"\n'
        'materials = ["gallium"]\n',
        ["interventions[0]: a stockpile needs exactly one of `tonnes` and `months_of_need`"],
    ),
    "extends names a folder": (
        'extends = "."\n' + MINIMAL,
        ["extends = \".\"", "is a folder, not a scenario file"],
    ),
    "stockpile in an unknown country": (
        MINIMAL + '[[interventions]]\nid = "sp"\nkind = "stockpile"\ncountries = "JNP"\n'
        'materials = ["gallium"]\ntonnes = 5\n',
        ["interventions[0].countries", '"JNP"', "did you mean 'JPN'"],
    ),
    "capacity at a stage the material lacks": (
        MINIMAL + '[[interventions]]\nid = "cap"\nkind = "capacity"\ncountry = "USA"\n'
        'material = "antimony"\nstage = "mining"\ntonnes_per_year = 10\n',
        ["interventions[0].stage", "material 'antimony' has no stage 'mining'"],
    ),
    "capacity key on a stockpile": (
        MINIMAL + '[[interventions]]\nid = "sp"\nkind = "stockpile"\ncountries = "USA"\n'
        'materials = ["gallium"]\ntonnes = 5\nonline_month = 3\n',
        ["interventions[0].online_month", "does not apply to a stockpile"],
    ),
    "seed out of range": (
        MINIMAL.replace('name = "minimal"', 'name = "minimal"\nseed = -1'),
        ["scenario.seed = -1", "allowed: [0, 2^63)"],
    ),
    "events not an array of tables": (
        'events = 3\n[scenario]\nname = "x"\n',
        ["events = 3", "must be an array of tables", "[[events]]"],
    ),
}


DUPLICATES = {
    "duplicate event id and its other problems": (
        MINIMAL + MINIMAL.split("\n", 4)[4].replace('"CHN"', '"CHNA"'),
        ["events[1].id", "duplicate id", "events[1].origin", '"CHNA"', "did you mean 'CHN'"],
    ),
    "the same correlation twice, the second with its own problem": (
        MINIMAL + OUTAGE + '[[correlations]]\nevents = ["cn-ga", "au-sb"]\nrho = 0.5\n'
        '[[correlations]]\nevents = ["cn-ga", "au-sb"]\nrho = 1.5\n',
        ["correlations[1].events", "the same events as correlations[0]",
         "correlations[1].rho = 1.5"],
    ),
    "an unknown top-level key and a typo below it": (
        "foo = 1\n" + MINIMAL.replace("severity = 1.0", "severty = 1.0"),
        ["foo = 1: unknown top-level key", "events[0].severty", "did you mean 'severity'"],
    ),
    "a correlation with a bad rho and an unknown event": (
        MINIMAL + OUTAGE + '[[correlations]]\nevents = ["cn-ga", "au-bs"]\nrho = 1.5\n',
        ["correlations[0].rho = 1.5", "correlations[0].events[1]", "did you mean 'au-sb'"],
    ),
    "an after cycle through an event with a problem of its own": (
        MINIMAL.replace("severity = 1.0", 'severity = 1.0\nafter = "au-sb"\nlag_months = 1')
        .replace("duration_months = 12", "duration_months = 12\nprobability = 0.5")
        + OUTAGE + 'after = "cn-ga"\nprobability = 2\n',
        ["events[1].probability = 2", "`after` chain forms a cycle", "cn-ga -> au-sb -> cn-ga"],
    ),
    "duplicate intervention id and its other problems": (
        MINIMAL + '[[interventions]]\nid = "st"\nkind = "stockpile"\ncountries = ["USA"]\n'
        'materials = ["gallium"]\ntonnes = 5\n[[interventions]]\nid = "st"\n'
        'kind = "stockpile"\ncountries = ["USA"]\nmaterials = ["galium"]\ntonnes = 5\n',
        ["interventions[1].id", "duplicate id", "interventions[1].materials[0]", '"galium"'],
    ),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_a_duplicate_is_checked_too(case, tmp_path, tiny_tensor):
    """A duplicate id (or an unknown top-level key) is a problem, and the file's other
    problems are listed with it (they used to show only after the fix)."""
    text, expected = DUPLICATES[case]
    found = "\n".join(problems(tmp_path, text, tiny_tensor))
    for part in expected:
        assert part in found, (part, found)


def test_a_repeated_event_id_is_offered_once(tmp_path, tiny_tensor):
    """With an event id given twice, an unknown parent's suggestion and allowed values
    name it once (they read "did you mean 'cn-ga' or 'cn-ga'?")."""
    text = MINIMAL + MINIMAL.split("\n", 4)[4] + OUTAGE + 'after = "cn-gaa"\n'
    found = [p for p in problems(tmp_path, text, tiny_tensor) if "unknown parent" in p]
    assert len(found) == 1, found
    assert "did you mean 'cn-ga'?" in found[0], found[0]
    assert found[0].split("allowed: ")[1].split(", ").count("cn-ga") == 1, found[0]


@pytest.mark.parametrize("case", list(DEFECTS))
def test_defect_is_named(case, tmp_path, tiny_tensor):
    text, expected = DEFECTS[case]
    found = problems(tmp_path, text, tiny_tensor)
    assert len(found) == 1, found
    for fragment in expected:
        assert fragment in found[0], (fragment, found[0])
    assert found[0].startswith(str(tmp_path / "s.toml"))


def test_invalid_toml_names_the_file(tmp_path, tiny_tensor):
    (p,) = problems(tmp_path, MINIMAL + "severity = = 1\n", tiny_tensor)
    assert "s.toml" in p and "not valid TOML" in p


@pytest.mark.parametrize("encoding, says", [
    ("latin-1", "invalid continuation byte at byte"),
    ("utf-16", "UTF-16, as Windows Notepad may save"),
])
def test_a_file_not_in_utf8_names_its_encoding_and_the_fix(tmp_path, tiny_tensor, encoding,
                                                            says):
    text = MINIMAL.replace('[scenario]\n', '[scenario]\ndescription = "caf\u00e9"\n', 1)
    assert "caf\u00e9" in text
    (tmp_path / "s.toml").write_bytes(text.encode(encoding))
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "s.toml", tiny_tensor)
    (p,) = info.value.problems
    assert "s.toml" in p and "is not UTF-8 text" in p and says in p, p
    assert "save the file as UTF-8" in p
    if encoding == "latin-1":
        assert "line 3)" in p, p  # MINIMAL opens with an empty line


def test_a_name_too_long_for_a_folder_is_refused(tmp_path, tiny_tensor):
    """A 300-character name validated, then its run failed with a traceback (the file
    system refuses names over 255 bytes) and left an empty folder."""
    (p,) = problems(tmp_path, MINIMAL.replace('name = "minimal"', f'name = "{"a" * 101}"'),
                    tiny_tensor)
    assert "scenario.name" in p and "has 101 characters" in p and "at most 100" in p, p
    load(tmp_path, MINIMAL.replace('name = "minimal"', f'name = "{"a" * 100}"'), tiny_tensor)


@pytest.mark.parametrize("old, new, key", [
    ('materials = ["gallium"]', 'materials = ["gallium", "gallium"]', "events[0].materials"),
    ('origin = "CHN"', 'origin = "CHN"\ntargets = ["USA", "JPN", "USA"]', "events[0].targets"),
])
def test_a_name_listed_twice_is_refused(tmp_path, tiny_tensor, old, new, key):
    """Accepted before: the run de-duplicated them, but the scenario's hash changed."""
    (p,) = problems(tmp_path, MINIMAL.replace(old, new), tiny_tensor)
    assert key in p and "twice" in p and "list each name once" in p, p


def test_missing_file(tmp_path, tiny_tensor):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.toml", tiny_tensor)


def test_all_problems_reported_at_once(tmp_path, tiny_tensor):
    text = (
        MINIMAL.replace('"CHN"', '"CHNA"').replace('["gallium"]', '["galium"]')
        + "probability = 2\nseverty = 1\n"
        + OUTAGE.replace('severity = 0.5', 'severity = { dist = "uniform", min = 0.9, max = 1.2 }')
        + "[response]\nspare_usable = -1\n"
    )
    found = problems(tmp_path, text, tiny_tensor)
    paths = ["events[0].origin", "events[0].materials[0]", "events[0].probability",
             "events[0].severty", "events[1].severity.max", "response.spare_usable"]
    assert len(found) == len(paths), found
    for path in paths:
        assert any(f": {path} = " in p for p in found), (path, found)


def test_validation_does_not_mutate_or_depend_on_order(tmp_path, tiny_tensor):
    a = load(tmp_path, MINIMAL + OUTAGE, tiny_tensor, "a.toml")
    b = load(tmp_path, OUTAGE + MINIMAL.replace("[scenario]\nname = \"minimal\"\n", "")
             + '[scenario]\nname = "minimal"\n', tiny_tensor, "b.toml")
    assert {e.id for e in a.events} == {e.id for e in b.events}
    assert a.hash != b.hash  # event order is part of the document


def test_re_export_at_the_last_stage_is_noted(tmp_path, tiny_tensor):
    sc = load(tmp_path, event_with("re_export = true"), tiny_tensor)
    (note,) = sc.warnings
    assert "events[0].re_export = true" in note and "no effect" in note
    assert 'stage = "mining"' in note


def test_re_export_at_an_earlier_stage(tmp_path, tiny_tensor):
    # AUS ore feeds JPN's refinery, whose anode material goes to USA
    text = event_with("re_export = true", 'stage = "mining"', 'targets = "USA"',
                      'origin = "AUS"', drop=("materials", "origin"))
    sc = load(tmp_path, text + 'materials = ["graphite"]\n', tiny_tensor)
    assert sc.events[0].re_export and sc.events[0].stages == ("mining",)
    assert sc.warnings == ()


def test_conditional_events_sort_parents_first(tmp_path, tiny_tensor):
    child = OUTAGE + 'after = "cn-ga"\nlag_months = { dist = "uniform", min = 1, max = 3 }\n'
    sc = load(tmp_path, child + MINIMAL, tiny_tensor)
    assert [e.id for e in sc.events] == ["cn-ga", "au-sb"]
    child_event = sc.events[1]
    assert child_event.after == "cn-ga" and child_event.onset is None
    assert child_event.lag.support() == (1.0, 3.0)


def test_events_that_move_nothing_are_noted(tmp_path, tiny_tensor):
    # tiny: AUS produces no gallium; CHN exports no graphite ore; CHN exports 50 t/year
    # of gallium to USA/DEU/JPN, so a quota of 60 stops nothing
    text = (
        event_with('origin = "AUS"', drop=("origin",))
        + OUTAGE.replace("au-sb", "au-ga").replace('"antimony"', '"gallium"')
        + event_with('materials = "graphite"', 'stage = "mining"',
                     drop=("materials", "severity")).split("[[events]]")[1].join(
                         ["[[events]]", ""]).replace('"cn-ga"', '"cn-gr"')
        + "severity = 1.0\n"
        + event_with("quota_tonnes_per_year = 60", drop=("severity",)).split("[[events]]")[1]
        .join(["[[events]]", ""]).replace('"cn-ga"', '"cn-ga-quota"')
    )
    sc = load(tmp_path, text, tiny_tensor)
    assert len(sc.events) == 4 and len(sc.warnings) == 4, sc.warnings
    notes = "\n".join(sc.warnings)
    assert "events[0].origin" in notes and "AUS has no gallium exports" in notes
    assert "events[1].origin" in notes and "AUS produces no gallium" in notes
    assert "events[2].origin" in notes and "no graphite exports at stage 'mining'" in notes
    assert "events[3].quota_tonnes_per_year = 60" in notes and "(50 t/year)" in notes


STOCKPILE_FOR_AUS = """
[[interventions]]
id = "au-ga-stock"
kind = "stockpile"
countries = ["AUS"]
materials = ["gallium"]
"""


@pytest.mark.parametrize("amount", ["tonnes = 10", "months_of_need = 1\n"
                                    "max_release_tonnes_per_month = 2"])
def test_stockpile_tonnes_for_countries_without_need_is_a_problem(tmp_path, tiny_tensor, amount):
    """`run` stopped with 'cannot be split by need' (the compiler) where validation had
    accepted the file: validation now finds it, with the key path."""
    (problem,) = problems(tmp_path, MINIMAL + STOCKPILE_FOR_AUS + amount + "\n", tiny_tensor)
    assert 's.toml: interventions[0].countries = ["AUS"]' in problem
    assert "AUS has no need of gallium at its last stage ('refining')" in problem
    assert "cannot be split by need" in problem and "list countries that use gallium" in problem


def test_stockpile_in_months_of_need_for_countries_without_need_is_noted(tmp_path, tiny_tensor):
    sc = load(tmp_path, MINIMAL + STOCKPILE_FOR_AUS + "months_of_need = 3\n", tiny_tensor)
    (note,) = sc.warnings
    assert "interventions[0].countries" in note and "moves no gallium" in note


def test_events_that_never_start_within_the_horizon_are_noted(tmp_path, tiny_tensor):
    late = MINIMAL.replace('name = "minimal"', 'name = "minimal"\nhorizon_months = 12') + (
        'onset_month = { dist = "uniform", min = 12, max = 20 }\n'
    )
    child = OUTAGE + 'after = "cn-ga"\nlag_months = 2\n'
    sc = load(tmp_path, late + child, tiny_tensor)
    assert len(sc.warnings) == 2, sc.warnings
    parent, kid = sc.warnings
    assert "events[0].onset_month = { dist = \"uniform\", min = 12, max = 20 }" in parent
    assert "earliest onset is month 12" in parent and "horizon of 12 months" in parent
    assert "never starts" in parent and "moves nothing" in parent
    assert "events[1].lag_months = 2" in kid and "month 14 (the parent 'cn-ga''s" in kid
    # one month earlier, both can start
    early = late.replace("min = 12", "min = 11.5")
    assert load(tmp_path, early, tiny_tensor).warnings == ()
    # announced within the horizon: the announcement moves buyers (a review found the
    # note said "moves nothing" while the kernel runs the announcement months)
    (note,) = load(tmp_path, late + "announcement_lead_months = 6\n", tiny_tensor).warnings
    assert "never takes effect in a run" in note and "from month 6" in note, note
    assert "stock up" in note and "moves nothing" not in note


def test_an_event_lasting_no_month_is_noted(tmp_path, tiny_tensor):
    sc = load(tmp_path, MINIMAL.replace("duration_months = 12", "duration_months = 0"),
              tiny_tensor)
    (note,) = sc.warnings
    assert "events[0].duration_months = 0" in note and "lasts 0 months" in note


@pytest.mark.parametrize("change, key, says", [
    (("severity = 1.0", "severity = 0.0"), "events[0].severity = 0.0", "stops no flow"),
    (("severity = 1.0", "severity = 1.0\nprobability = 0"), "events[0].probability = 0",
     "never fires"),
])
def test_an_event_that_stops_nothing_is_noted(tmp_path, tiny_tensor, change, key, says):
    """A review found severity = 0 and probability = 0 accepted without a word, while
    duration_months = 0 got a note."""
    (note,) = load(tmp_path, MINIMAL.replace(*change), tiny_tensor).warnings
    assert key in note and says in note, note


@pytest.mark.parametrize("lines, key, says", [
    ('countries = "USA"\ntonnes = 0\n', "interventions[0].tonnes = 0", "holds nothing"),
    ('countries = "USA"\nmonths_of_need = 2\nmax_release_share = 0\n',
     "interventions[0].max_release_share = 0", "may release nothing a month"),
    ('countries = "USA"\nmonths_of_need = 2\nprobability = 0\n',
     "interventions[0].probability = 0", "never built"),
])
def test_a_stockpile_that_can_do_nothing_is_noted(tmp_path, tiny_tensor, lines, key, says):
    text = (MINIMAL + '[[interventions]]\nid = "sp"\nkind = "stockpile"\n'
            'materials = ["gallium"]\n' + lines)
    (note,) = load(tmp_path, text, tiny_tensor).warnings
    assert key in note and says in note, note


def test_a_route_carrying_under_one_percent_of_need_is_noted(tmp_path, tiny_copy, edit_csv):
    from simcore.dataset import load_dataset

    # JPN sends DEU 0.05 t/year of gallium; DEU needs 10.05: 0.5 %
    edit_csv(tiny_copy, "flows.csv", lambda rows: rows + [["gallium", "refining", "JPN",
                                                            "DEU", "0.05"]])
    tensor = load_dataset(tiny_copy)
    text = event_with('origin = "JPN"', 'targets = "DEU"', drop=("origin",))
    (note,) = load(tmp_path, text, tensor).warnings
    assert 'events[0].targets = "DEU"' in note
    assert "under 1 % of each target's need (at most 0.5 %, to DEU)" in note
    assert "moves next to nothing" in note
    # the same route to a target it supplies in earnest: no note
    bigger = event_with('origin = "JPN"', 'targets = ["DEU", "USA"]', drop=("origin",))
    assert load(tmp_path, bigger, tensor).warnings == ()


def test_a_byte_order_mark_is_accepted(tmp_path, tiny_tensor):
    """Editors on Windows may start a UTF-8 file with a BOM; it was 'Invalid statement'."""
    plain = load(tmp_path, MINIMAL, tiny_tensor)
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent(MINIMAL).encode("utf-8"))
    sc = load_scenario(path, tiny_tensor)
    assert sc.hash == plain.hash and [e.id for e in sc.events] == ["cn-ga"]
    (tmp_path / "child.toml").write_bytes(
        b'\xef\xbb\xbfextends = "bom.toml"\n[scenario]\nname = "child"\n'
    )
    assert load_scenario(tmp_path / "child.toml", tiny_tensor).name == "child"


def test_a_table_written_as_a_value_is_said_once(tmp_path, tiny_tensor):
    """`scenario = 3`: the misshapen table, not also its required keys as missing."""
    found = problems(tmp_path, "scenario = 3\nevents = 5\n", tiny_tensor)
    assert len(found) == 2, found
    assert "`scenario` must be a table" in found[0] and "`events` must be" in found[1]


def test_targets_naming_the_rest_of_a_group_but_not_its_listed_members_are_noted(tmp_path):
    """An analyst's 'EU (XEU, DEU, FRA, ITA)' leaves Belgium, Austria, the Netherlands and
    13 more open: XEU is only the EU members the dataset does not list on their own. The
    validation says so, and names the group that covers them; naming the group does not."""
    from simcore.dataset import load_dataset

    tensor = load_dataset()
    ban = """
[scenario]
name = "eu"
horizon_months = 12

[[events]]
id = "w-ban"
kind = "export_restriction"
origin = "CHN"
materials = ["tungsten"]
targets = {targets}
onset_month = 1
duration_months = 6
severity = 1.0
"""
    eu = [c for c in tensor.groups["EU27"] if c not in ("XEU", "DEU", "FRA", "ITA")]
    partial = load(tmp_path, ban.replace("{targets}", '["XEU", "DEU", "FRA", "ITA", "USA"]'),
                   tensor)
    (note,) = [w for w in partial.warnings if "stands for" in w]
    assert "events[0].targets" in note and "XEU (Rest of EU" in note
    assert f"{len(eu)} listed EU27 members are not targets" in note and "BEL" in note
    assert "name EU27 to target the whole group" in note
    whole = load(tmp_path, ban.replace("{targets}", '["EU27", "USA"]'), tensor)
    assert not [w for w in whole.warnings if "stands for" in w], whole.warnings
    listed = load(tmp_path, ban.replace("{targets}", '["DEU", "FRA"]'), tensor)
    assert not [w for w in listed.warnings if "stands for" in w], listed.warnings


def test_a_country_written_by_its_name_is_suggested_by_its_code(tmp_path):
    """'GER' suggested Peru, Greece and Britain; a country whose name begins with what
    was written comes first now."""
    from simcore.dataset import load_dataset

    text = MINIMAL.replace('"CHN"', '"GER"', 1)
    assert text != MINIMAL
    found = "\n".join(problems(tmp_path, text, load_dataset()))
    assert "\"GER\"" in found and "did you mean 'DEU'" in found


def test_a_problem_inside_an_event_names_the_event_by_its_id(tmp_path, tiny_tensor):
    """A walkthrough found events named by index only (`events[1]`), which shifts as a
    file grows: a problem inside an item with an id ends with that id."""
    text = MINIMAL.replace('origin = "CHN"', 'origin = "CHNA"')
    (problem,) = problems(tmp_path, text, tiny_tensor)
    assert 's.toml: events[0].origin = "CHNA": unknown country' in problem
    line = text.splitlines().index('origin = "CHNA"') + 1
    assert problem.endswith(f'[event "cn-ga"] (line {line})')


def test_a_problem_names_the_line_it_is_on(tmp_path, tiny_tensor):
    """A new-user pass: problems gave the key path but no line. Each now ends with the
    line of the file it is on: the key's own line, the line of the key an inline table
    sits on (severity.max), an item's header where the key is missing, the right one of
    several [[events]]; a key of a parent file names the parent's line."""
    from simcore.scenario.problems import line_of

    text = MINIMAL + """
[[events]]
id = "cn-sb"
kind = "export_restriction"
origin = "CHN"
materials = ["gallium"]
stage = "refining"
probability = 1.7
onset_month = 0
duration_months = { dist = "uniform", min = 9, max = 3 }
severity = 0.5
"""
    lines = text.splitlines()
    at = {key.split(" =")[0]: i + 1 for i, key in enumerate(lines)
          if key.startswith(("probability = 1.7", "duration_months = {"))}
    found = problems(tmp_path, text, tiny_tensor)
    prob = next(p for p in found if "events[1].probability" in p)
    assert prob.endswith(f"(line {at['probability']})")
    dur = next(p for p in found if "events[1].duration_months" in p)
    assert dur.endswith(f"(line {at['duration_months']})")
    second = [i + 1 for i, x in enumerate(lines) if x == "[[events]]"][1]
    assert line_of(text, "events[1]") == second
    assert line_of(text, "events[1].materials[0]") == second + 4
    assert line_of(text, "nowhere.at_all") is None
    # dotted keys, and an array of tables by a path without an index (a second pass)
    dotted = "[[events]]\nid = 'a'\nseverity.max = 1.5\nleakage . b = 8\n\n[[event]]\n"
    assert [line_of(dotted, p) for p in ("events[0].severity.max", "events[0].leakage.b",
                                         "event")] == [3, 4, 6]
    # a parent's problem: the parent's file and line
    write(tmp_path, MINIMAL.replace('origin = "CHN"', 'origin = "CHNA"'), "parent.toml")
    (problem,) = problems(tmp_path, 'extends = "parent.toml"\n[scenario]\nname = "child"\n',
                          tiny_tensor)
    line = MINIMAL.splitlines().index('origin = "CHN"') + 1
    assert "parent.toml: events[0].origin" in problem and problem.endswith(f"(line {line})")


def test_a_code_that_begins_with_what_was_typed_is_offered_first():
    """'AU' (ISO alpha-2) was answered "did you mean 'SAU' or 'AUT' or 'AUS'?", the
    obvious one last (difflib breaks its ties by reverse alphabetical order): codes that
    begin with what was typed come first, in the dataset's order."""
    from simcore.errors import suggest

    assert suggest("AU", ["USA", "AUS", "SAU", "AUT"]) == " (did you mean 'AUS' or 'AUT' or 'SAU'?)"
    assert suggest("CHNA", ["CHN", "USA"]) == " (did you mean 'CHN'?)"
    # the shortest of the names that begin with it first (a file's name without its tail)
    assert suggest("partners", ["partners-2026-stockpile.toml", "partners-2026.toml",
                                "partners-2026-both.toml"]).startswith(
        " (did you mean 'partners-2026.toml'")


def test_interventions_that_cannot_act_are_noted(tmp_path, tiny_tensor):
    """A new-user pass was charged by `compare` for a stockpile of a material no event
    touched and for capacity coming online after the horizon: both are noted."""
    idle = MINIMAL.replace('name = "minimal"', 'name = "minimal"\nhorizon_months = 12') + (
        '[[interventions]]\nid = "jp-stock"\nkind = "stockpile"\ncountries = ["JPN"]\n'
        'materials = ["gallium", "graphite"]\ntonnes = 10\n'
        '[[interventions]]\nid = "us-ga"\nkind = "capacity"\ncountry = "USA"\n'
        'material = "gallium"\nstage = "refining"\ntonnes_per_year = 10\n'
        'online_month = { dist = "uniform", min = 12, max = 30 }\n'
        '[[interventions]]\nid = "us-sb"\nkind = "capacity"\ncountry = "USA"\n'
        'material = "antimony"\nstage = "refining"\ntonnes_per_year = 10\n')
    notes = load(tmp_path, idle, tiny_tensor).warnings
    assert len(notes) == 3, notes
    stock, late, untouched = notes
    assert "interventions[0].materials" in stock and "touches graphite, so" in stock
    assert "gallium" not in stock.split("touches")[1]  # the event's material acts
    assert "interventions[1].online_month" in late and "earliest online month is 12" in late
    assert "interventions[2].material" in untouched and "touches antimony" in untouched
    assert all("`compare` still counts its cost" in n for n in notes)
    # online within the horizon, of a material an event touches: no note
    fine = idle.replace("min = 12, max = 30", "min = 11, max = 30")
    assert len(load(tmp_path, fine, tiny_tensor).warnings) == 2
