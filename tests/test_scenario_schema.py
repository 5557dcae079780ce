"""The one declaration drives the docs table and the JSON Schema: both must be current,
and the JSON Schema must accept the shipped scenarios and reject broken ones."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from simcore.scenario import schema

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_docs_reference_is_up_to_date():
    text = schema.DOCS_PATH.read_text(encoding="utf-8")
    assert schema.splice_docs(text) == text, (
        "docs/scenarios.md is out of date: run `python -m simcore.scenario --write`"
    )


def test_json_schema_file_is_up_to_date():
    assert schema.SCHEMA_PATH.read_text(encoding="utf-8") == schema.json_schema_text(), (
        "simcore/schema/scenario.schema.json is out of date: run "
        "`python -m simcore.scenario --write`"
    )


def test_declared_defaults_lie_in_their_ranges():
    for section, fields in schema.SECTIONS.items():
        for f in fields:
            if isinstance(f.default, int | float) and not isinstance(f.default, bool):
                assert f.in_range(f.default), (section, f.name)
            if f.choices and isinstance(f.default, str):
                assert f.default in f.choices


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(schema.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(doc)
    return jsonschema.Draft7Validator(doc)


def test_shipped_scenarios_exist():
    names = {p.name for p in SCENARIOS}
    assert {"ga-ge-licence-2023.toml", "ga-ge-licence-2023-stockpile.toml",
            "partners-2026.toml"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_json_schema_accepts_shipped_scenario(validator, path):
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors


def _base():
    return tomllib.loads((ROOT / "scenarios" / "ga-ge-licence-2023.toml").read_text("utf-8"))


BROKEN = {
    "severity above 1": lambda d: d["events"][0].update(
        severity={"dist": "uniform", "min": 0.9, "max": 1.2}),
    "unknown event key": lambda d: d["events"][0].update(severty=1.0),
    "unknown distribution": lambda d: d["events"][0].update(
        leakage={"dist": "gamma", "a": 2}),
    "unknown top-level key": lambda d: d.update(respnse={}),
    "probability above 1": lambda d: d["events"][0].update(probability=1.5),
    "outage with leakage": lambda d: d["events"][0].update(kind="production_outage"),
    "stockpile missing countries": lambda d: d.update(interventions=[
        {"id": "s", "kind": "stockpile", "materials": ["gallium"], "tonnes": 1}]),
    "no scenario table": lambda d: d.pop("scenario"),
    "seed negative": lambda d: d["scenario"].update(seed=-3),
    "an empty group": lambda d: d.update(groups={"none": []}),  # the loader refuses it
    "an empty materials list": lambda d: d["events"][0].update(materials=[]),
}


def test_json_schema_accepts_an_empty_except_as_the_loader_does(validator):
    """`except` defaults to the empty list, which the loader accepts as written; a review
    found the schema flagged it in an editor."""
    doc = _base()
    doc["events"][0]["except"] = []
    assert not list(validator.iter_errors(doc))


@pytest.mark.parametrize("case", list(BROKEN))
def test_json_schema_rejects_broken(validator, case):
    doc = _base()
    assert not list(validator.iter_errors(doc))
    BROKEN[case](doc)
    assert list(validator.iter_errors(doc)), case


def test_write_generated_rewrites_both_files(tmp_path):
    docs = tmp_path / "scenarios.md"
    docs.write_text(f"intro\n\n{schema.DOC_BEGIN}\nstale\n{schema.DOC_END}\nafter\n", "utf-8")
    out = tmp_path / "schema" / "scenario.schema.json"
    schema.write_generated(docs, out)
    text = docs.read_text("utf-8")
    assert "stale" not in text and "| `duration_months` |" in text
    assert text.startswith("intro") and text.endswith("after\n")
    assert json.loads(out.read_text("utf-8"))["title"] == "supplyshock scenario"
