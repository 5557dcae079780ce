"""Every scenario field, declared once.

Each ``Field`` carries its name, type, unit, default, allowed range or choices and a
one-line meaning. From these declarations come: parsing and defaults
(``simcore.scenario.loader``), validation messages, the reference tables in
``docs/scenarios.md`` (``reference_markdown``) and the JSON Schema
``simcore/schema/scenario.schema.json`` (``json_schema``) that editors with a TOML
language server use to complete and check scenario files.

Regenerate both files after changing a declaration::

    python -m simcore.scenario --write

(a test fails while either file is out of date).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcore.limits import MAX_DRAWS, MAX_SEED


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

# Field types. A "distribution" is a plain number or a table `{ dist = "...", ... }`;
# "names" is one name or a list of names.
TYPES = ("string", "integer", "number", "boolean", "distribution", "names", "list", "table")

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# a correlation's id may also hold '+': its default id joins the event ids with it, and
# a variant names it to replace the correlation
CORRELATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
GROUP_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"


@dataclass(frozen=True)
class Field:
    """One scenario key.

    ``lo``/``hi`` bound a number or every value a distribution can take (``lo_open``:
    strictly greater). ``kinds`` restricts the key to some event or intervention kinds.
    ``names`` says which names the value must be: ``country``, ``place`` (country or
    group), ``material``, ``stage``, ``event``, ``id``, ``group``.
    """

    name: str
    type: str
    unit: str
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    names: str | None = None
    pattern: str | None = None
    max_length: int | None = None  # strings: the most characters

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def range_text(self) -> str:
        """Allowed values in words, e.g. ``[0, 1]``, ``> 0``, ``one of: a, b``."""
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        lo, hi = self.lo, self.hi
        if lo is None and hi is None:
            return ""
        if hi is None:
            return f"{'>' if self.lo_open else '>='} {_num(lo)}"
        if lo is None:
            return f"{'<' if self.hi_open else '<='} {_num(hi)}"
        return (
            f"{'(' if self.lo_open else '['}{_num(lo)}, {_num(hi)}{')' if self.hi_open else ']'}"
        )

    def percent_hint(self, x) -> str:
        """`` (a share is between 0 and 1: did you mean 0.2?)`` for a share given as a
        percentage (``severity = 20``; from 2 on: 1.5 is more likely a slip than 1.5 %),
        else an empty string."""
        if (self.unit == "share" and self.hi == 1 and isinstance(x, int | float)
                and not isinstance(x, bool) and 2 <= x <= 100):
            return f" (a share is between 0 and 1: did you mean {x / 100:g}?)"
        return ""

    def in_range(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        if self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)):
            return False
        return True


NAME_WORDS = {
    "id": "unique id",
    "country": "a country code of the dataset",
    "place": "country codes or groups",
    "material": "material ids of the dataset",
    "stage": "a stage of each material",
    "event": "event ids",
}


def _num(x) -> str:
    if x == MAX_SEED:
        return "2^63"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if isinstance(x, float) and abs(x) >= 1e15:
        return f"{x:.0e}"  # 1e+15
    return str(x)


_R = ("export_restriction",)
_EVENT_KINDS = ("export_restriction", "production_outage")
_STOCKPILE = ("stockpile",)
_CAPACITY = ("capacity",)

TOP_FIELDS = (
    Field("extends", "names", "path", None,
          "Parent scenario file(s) this one varies (relative to this file; a list is "
          "merged left to right); this file overrides their scalars and adds or replaces "
          "(by id) their events, correlations and interventions."),
    Field("scenario", "table", "", REQUIRED, "Identity, horizon and run defaults (a file "
          "that `extends` another may leave it out: it takes the parent's)."),
    Field("groups", "table", "", None,
          "Named country groups for this scenario: `name = [countries or groups]`."),
    Field("events", "list", "", None, "Disruption events (`[[events]]`)."),
    Field("correlations", "list", "", None,
          "Correlated occurrence of events (`[[correlations]]`, Gaussian copula)."),
    Field("response", "table", "", None, "Market response parameters."),
    Field("interventions", "list", "", None, "Policy interventions (`[[interventions]]`)."),
)

# The most a month-valued event, response or intervention field may be: ten times the
# longest horizon. Anything later is "never" within any horizon, and the drivers table
# stores months as int16 (a month beyond 32,767 was stored as null, and one near 1e19
# wrapped round to month 0 in the kernel's integer conversion).
MAX_MONTHS = 6000

# The most a tonnage field (a quota, a stockpile, a release rate, added capacity) may be:
# the dataset's bound on any quantity (simcore.dataset.MAX_VALUE; the most mined ore, iron,
# is about 2.5e9 t/year). More is a unit or decimal-point slip, and swamps the market.
MAX_TONNES = 1e15

# The longest scenario name: results folders are named after it, and a stockpile sizing
# adds to it ('-stockpile-budget', variants' names); a file name longer than 255 bytes is
# refused by the file system (a 300-character name validated, then its run failed with a
# traceback and left an empty folder)
MAX_NAME = 100

SCENARIO_FIELDS = (
    Field("name", "string", "", REQUIRED,
          f"Short name, at most {MAX_NAME} characters; results folders are named after it.",
          pattern=ID_PATTERN, max_length=MAX_NAME),
    Field("description", "string", "", "", "One paragraph: what the study asks."),
    Field("horizon_months", "integer", "months", 24, "Simulated months H.", lo=1, hi=600),
    Field("draws", "integer", "draws", 10000, "Default number of Monte Carlo draws.",
          lo=1, hi=MAX_DRAWS),
    Field("seed", "integer", "", 0, "Default seed; with draws it fixes every result.",
          lo=0, hi=MAX_SEED, hi_open=True),
    Field("dataset", "string", "path", None,
          "Dataset folder (relative to the file that sets it); default: the built-in "
          "baseline."),
)

EVENT_FIELDS = (
    Field("id", "string", "", REQUIRED,
          "Unique event id; random draws are keyed by it, so renaming changes draws.",
          pattern=ID_PATTERN, names="id"),
    Field("kind", "string", "", REQUIRED, "What happens.", choices=_EVENT_KINDS),
    Field("description", "string", "", "", "What the event stands for, in a sentence."),
    Field("origin", "string", "", REQUIRED,
          "Country whose exports stop (restriction) or whose production falls (outage).",
          names="country"),
    Field("materials", "names", "", REQUIRED, "Materials hit.", names="material"),
    Field("stage", "string", "", None,
          "Stage hit; default: each material's last stage (e.g. `refining`).",
          names="stage"),
    Field("targets", "names", "", "all",
          "Importers covered: `\"all\"` (everyone but the origin) or countries/groups.",
          kinds=_R, names="place"),
    Field("except", "names", "", [],
          "Countries/groups exempted from `targets`.", kinds=_R, names="place"),
    Field("probability", "number", "share", 1.0,
          "Probability the event fires in a draw (given its parent fired, with `after`).",
          lo=0, hi=1),
    Field("onset_month", "distribution", "months", 0.0,
          "Onset month (floor taken); not with `after`.", lo=0, hi=MAX_MONTHS),
    Field("after", "string", "", None,
          "Parent event id: fires only if the parent fired; onset = parent onset + lag.",
          names="event"),
    Field("lag_months", "distribution", "months", 0.0,
          "Months from the parent's onset to this event's onset (with `after`).", lo=0,
          hi=MAX_MONTHS),
    Field("duration_months", "distribution", "months", REQUIRED,
          "Months the event lasts once started; may run past the horizon.", lo=0, hi=MAX_MONTHS),
    Field("severity", "distribution", "share", None,
          "Initial share of the covered flow (restriction) or production (outage) "
          "stopped; required unless `quota_tonnes_per_year` is given.", lo=0, hi=1),
    Field("settled_severity", "distribution", "share", None,
          "Severity after settling (licences granted); default: stays at `severity`. "
          "Needs `settle_months`.", lo=0, hi=1),
    Field("settle_months", "distribution", "months", None,
          "Months to move linearly from `severity` to `settled_severity`.", lo=0, hi=MAX_MONTHS),
    Field("leakage", "distribution", "share", 0.0,
          "Share of the stopped flow that still arrives through third countries.",
          lo=0, hi=1, kinds=_R),
    Field("quota_tonnes_per_year", "number", "t/year", None,
          "Export quota replacing `severity` (one material only); converted with the "
          "baseline exports.", lo=0, hi=MAX_TONNES, kinds=_R),
    Field("re_export", "boolean", "", False,
          "Also restrict third countries' next-stage exports to the targets, in "
          "proportion to their feed from the origin.", kinds=_R),
    Field("announcement_lead_months", "distribution", "months", None,
          "Announced this many months (rounded up) before onset: from then on the "
          "targets' zones buy ahead (precautionary_weeks of extra stock) while the routes "
          "are still open.", lo=0, hi=MAX_MONTHS, kinds=_R),
)

CORRELATION_FIELDS = (
    Field("id", "string", "", None,
          "Optional id (a variant replaces a correlation with the same id); default: "
          "the event ids joined by `+`, which a variant may write to replace it.",
          pattern=CORRELATION_ID_PATTERN),
    Field("events", "list", "", REQUIRED, "Two or more event ids whose occurrence is "
          "correlated.", names="event"),
    Field("rho", "number", "", REQUIRED,
          "Correlation of the latent normals between every pair in `events`.",
          lo=-1, hi=1, lo_open=True, hi_open=True),
)

def _market_fields() -> tuple[Field, ...]:
    """The market parameters (simcore/marketdata.py): each defaults to the dataset's
    market table, per material."""
    from simcore.marketdata import PARAMS

    return tuple(
        Field(p.key, "distribution", p.unit, None,
              f"{p.doc} Default: each material's range in the dataset's market table.",
              lo=p.lo, hi=p.hi, lo_open=p.lo_open)
        for p in PARAMS
    )


RESPONSE_FIELDS = (
    *_market_fields(),
    Field("spare_usable", "distribution", "share", 0.5,
          "Usable share of idle capacity (capacity minus production): the most that "
          "restarts can bring back.", lo=0, hi=1),
    Field("substitution_max", "distribution", "share", 0.0,
          "Share of the consumption shortfall that is designed out (substituted, not a "
          "shortage), reached after `substitution_months`.", lo=0, hi=1),
    Field("substitution_months", "distribution", "months", 24.0,
          "Months to reach `substitution_max`.", lo=0, hi=MAX_MONTHS),
    Field("dataset_stocks", "string", "", "reserved",
          "The dataset's state stocks: `reserved` (they serve only their holder's own use, "
          "as JOGMEC and KOMIR release to domestic users; the default) or `market` (they "
          "sell into their holder's price zone as the price rises).",
          choices=("market", "reserved")),
    Field("state_release_price", "number", "x reference", 1.1,
          "Zone price at which a state stock that sells into its zone releases its full "
          "monthly rate (it starts releasing above the reference price, 1).", lo=1,
          lo_open=True),
    Field("price_cap", "number", "x reference", None,
          "Version 1's flat price cap, kept for old files: read as `choke_price` for "
          "every material.", lo=1, lo_open=True),
)

INTERVENTION_FIELDS = (
    Field("id", "string", "", REQUIRED, "Unique intervention id.", pattern=ID_PATTERN,
          names="id"),
    Field("kind", "string", "", REQUIRED, "What the policy does.",
          choices=("stockpile", "capacity")),
    Field("description", "string", "", "", "What the intervention stands for."),
    Field("probability", "number", "share", 1.0,
          "Probability the intervention is in place in a draw.", lo=0, hi=1),
    Field("countries", "names", "", REQUIRED, "Countries/groups holding the stockpile.",
          kinds=_STOCKPILE, names="place"),
    Field("materials", "names", "", REQUIRED, "Materials stockpiled.", kinds=_STOCKPILE,
          names="material"),
    Field("tonnes", "number", "t", None,
          "Stock per material, split across the countries by need share (or "
          "`months_of_need`).", lo=0, hi=MAX_TONNES, kinds=_STOCKPILE),
    Field("months_of_need", "number", "months", None,
          "Stock per country: this many months of its last-stage need (or `tonnes`).",
          lo=0, hi=MAX_MONTHS, kinds=_STOCKPILE),
    Field("max_release_share", "number", "share of monthly need", None,
          "Release at most this share of monthly need per month; default 1 (or "
          "`max_release_tonnes_per_month`).", lo=0, kinds=_STOCKPILE),
    Field("max_release_tonnes_per_month", "number", "t/month", None,
          "Release at most this much per month per material, split by need share.",
          lo=0, hi=MAX_TONNES, kinds=_STOCKPILE),
    Field("reserved", "boolean", "", False,
          "Serve only the holders' own use; by default the stockpile sells into its "
          "holders' price zone as the price rises, which protects their neighbours too.",
          kinds=_STOCKPILE),
    Field("country", "string", "", REQUIRED, "Country where capacity is added.",
          kinds=_CAPACITY, names="country"),
    Field("material", "string", "", REQUIRED, "Material of the new capacity.",
          kinds=_CAPACITY, names="material"),
    Field("stage", "string", "", None, "Stage of the new capacity; default: the "
          "material's last stage.", kinds=_CAPACITY, names="stage"),
    Field("tonnes_per_year", "number", "t/year", REQUIRED, "Capacity added.", lo=0,
          hi=MAX_TONNES, kinds=_CAPACITY),
    Field("online_month", "distribution", "months", 0.0,
          "Month the capacity comes online (floor taken).", lo=0, hi=MAX_MONTHS, kinds=_CAPACITY),
    Field("cost_usd", "number", "USD", None,
          "What the policy costs, which `supplyshock compare` sets against the shortage "
          "value it avoids; a stockpile without it costs its tonnes at the reference "
          "price, a capacity without it has no cost stated. Not used by the simulation.",
          lo=0, hi=1e15),
)

SECTIONS: dict[str, tuple[Field, ...]] = {
    "": TOP_FIELDS,
    "scenario": SCENARIO_FIELDS,
    "events": EVENT_FIELDS,
    "correlations": CORRELATION_FIELDS,
    "response": RESPONSE_FIELDS,
    "interventions": INTERVENTION_FIELDS,
}

SECTION_TITLES = {
    "": "Top level",
    "scenario": "`[scenario]`",
    "events": "`[[events]]`",
    "correlations": "`[[correlations]]`",
    "response": "`[response]`",
    "interventions": "`[[interventions]]`",
}

# Rules that tie fields together; the loader enforces each, the docs list them.
RULES = (
    "`events`: an `export_restriction` needs `severity` or `quota_tonnes_per_year`, not "
    "both; a `production_outage` needs `severity`.",
    "`events`: `settled_severity` and `settle_months` come together.",
    "`events`: `quota_tonnes_per_year` needs exactly one material.",
    "`events`: with `after`, no `onset_month` (`lag_months` defaults to 0); `lag_months` "
    "only with `after`. `after` chains must not form a cycle.",
    "`events`: `re_export` reaches third countries' next-stage exports; where every listed "
    "material is hit at its last stage it has no effect and validation notes it (a "
    "warning, not an error).",
    "`events`: ids are unique; `stage` must be a stage of every listed material.",
    "`correlations`: the combined correlation matrix of all groups must be positive "
    "definite; a pair in two groups must have the same `rho`.",
    "`interventions` (stockpile): exactly one of `tonnes` and `months_of_need`; at most one "
    "of `max_release_share` and `max_release_tonnes_per_month`.",
    "`response`: `price_cap` and `choke_price` are one parameter; give one of them.",
    "`groups`: names must not clash with a country or a dataset group; members are "
    "countries or groups.",
    "Unknown keys are errors everywhere.",
)


@dataclass(frozen=True)
class DistParam:
    name: str
    doc: str
    required: bool = True
    kind: str = "number"  # "number" or "list"
    positive: bool = False  # must be > 0


DISTRIBUTIONS: dict[str, tuple[DistParam, ...]] = {
    "const": (DistParam("value", "the value (a plain number means the same)"),),
    "uniform": (DistParam("min", "lower bound"), DistParam("max", "upper bound")),
    "triangular": (
        DistParam("min", "lower bound"),
        DistParam("mode", "most likely value"),
        DistParam("max", "upper bound"),
    ),
    "pert": (
        DistParam("min", "lower bound"),
        DistParam("mode", "most likely value"),
        DistParam("max", "upper bound"),
        DistParam("lambda", "shape; 4 (default) is the classic PERT", False, positive=True),
    ),
    "beta": (
        DistParam("a", "shape a", positive=True),
        DistParam("b", "shape b (mean a/(a+b) on [0, 1])", positive=True),
        DistParam("min", "scaled lower bound (default 0)", False),
        DistParam("max", "scaled upper bound (default 1)", False),
    ),
    "lognormal": (
        DistParam("median", "median exp(mu) (or give `mu`)", False, positive=True),
        DistParam("mu", "mean of the log (or give `median`)", False),
        DistParam("sigma", "standard deviation of the log", positive=True),
        DistParam("min", "clip below (optional)", False),
        DistParam("max", "clip above (optional)", False),
    ),
    "discrete": (
        DistParam("values", "the possible values", kind="list"),
        DistParam("weights", "their weights (>= 0, default equal)", False, kind="list"),
    ),
}

DIST_CHECKS = (
    "uniform, triangular, pert: min <= mode <= max, min < max (uniform: min <= max)",
    "beta: a > 0, b > 0, min < max",
    "lognormal: exactly one of median (> 0) and mu; sigma > 0; min < max when both",
    "discrete: values not empty; weights as many as values, >= 0, summing > 0",
    "every value a distribution can take lies in its field's range, judged by its "
    "nominal bounds, `min` and `max` as given (a beta's default 0 and 1): a field that "
    "must be > 0 refuses `min = 0` even where the distribution never takes 0 (a "
    "lognormal needs `max` where the field has an upper bound)",
)


# --- generated documentation -----------------------------------------------------------

DOC_BEGIN = "<!-- BEGIN GENERATED: python -m simcore.scenario --write -->"
DOC_END = "<!-- END GENERATED -->"


def _default_text(f: Field) -> str:
    if f.required:
        return "required"
    if f.default is None:
        return "—"
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    if isinstance(f.default, str):
        return f'`"{f.default}"`' if f.default else '`""`'
    if isinstance(f.default, list):
        return "`[]`"
    return f"`{_num(f.default)}`"


def reference_markdown() -> str:
    """The field reference tables of docs/scenarios.md, generated from the declarations."""
    lines: list[str] = []
    for section, fields in SECTIONS.items():
        lines.append(f"### {SECTION_TITLES[section]}")
        lines.append("")
        has_kinds = any(f.kinds for f in fields)
        head = "| key | type | unit | default | allowed | meaning |"
        rule = "| --- | --- | --- | --- | --- | --- |"
        if has_kinds:
            head += " kinds |"
            rule += " --- |"
        lines += [head, rule]
        for f in fields:
            allowed = f.range_text()
            if f.names:
                allowed = (allowed + "; " if allowed else "") + NAME_WORDS[f.names]
            row = (
                f"| `{f.name}` | {f.type} | {f.unit or ''} | {_default_text(f)} | "
                f"{allowed} | {f.doc} |"
            )
            if has_kinds:
                row += f" {', '.join(f.kinds) if f.kinds else 'all'} |"
            lines.append(row)
        lines.append("")
    lines += ["### Rules across fields", ""]
    lines += [f"- {r}" for r in RULES]
    lines += ["", "### Distributions", ""]
    lines += [
        "A `distribution` field takes a plain number or a table with `dist` and the "
        "parameters below.",
        "",
        "| dist | parameters |",
        "| --- | --- |",
    ]
    for name, params in DISTRIBUTIONS.items():
        text = "; ".join(
            f"`{p.name}`{'' if p.required else ' (optional)'}: {p.doc}" for p in params
        )
        lines.append(f"| `{name}` | {text} |")
    lines += ["", "Checks:", ""]
    lines += [f"- {c}" for c in DIST_CHECKS]
    return "\n".join(lines) + "\n"


def splice_docs(text: str) -> str:
    """``text`` (docs/scenarios.md) with the generated block replaced by the current one."""
    start = text.index(DOC_BEGIN) + len(DOC_BEGIN)
    end = text.index(DOC_END)
    return text[:start] + "\n\n" + reference_markdown() + "\n" + text[end:]


# --- generated JSON Schema -------------------------------------------------------------


def _bounds(f: Field, schema: dict) -> dict:
    if f.lo is not None:
        schema["exclusiveMinimum" if f.lo_open else "minimum"] = f.lo
    if f.hi is not None:
        schema["exclusiveMaximum" if f.hi_open else "maximum"] = f.hi
    return schema


def _dist_def_name(f: Field) -> str:
    def b(x, is_open):
        if x is None:
            return "inf"
        return ("gt" if is_open else "") + _num(x).replace("-", "m").replace(".", "p")

    return f"dist_{b(f.lo, f.lo_open)}_{b(f.hi, f.hi_open)}"


def _dist_schema(f: Field) -> dict:
    bounded = _bounds(f, {"type": "number"})
    options: list[dict] = [bounded]
    for name, params in DISTRIBUTIONS.items():
        props: dict[str, Any] = {"dist": {"const": name}}
        for p in params:
            if p.kind == "list":
                item = bounded if p.name == "values" else {"type": "number", "minimum": 0}
                props[p.name] = {"type": "array", "items": item, "minItems": 1}
            elif p.name in ("min", "max", "mode", "value"):
                props[p.name] = dict(bounded)
            elif p.positive:
                props[p.name] = {"type": "number", "exclusiveMinimum": 0}
            else:
                props[p.name] = {"type": "number"}
            props[p.name]["description"] = p.doc
        required = ["dist"] + [p.name for p in params if p.required]
        option = {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
        if name == "lognormal":
            option["oneOf"] = [{"required": ["median"]}, {"required": ["mu"]}]
        options.append(option)
    return {"anyOf": options}


def _field_schema(f: Field, defs: dict) -> dict:
    desc = f.doc + (f" [{f.unit}]" if f.unit else "")
    if f.type == "distribution":
        key = _dist_def_name(f)
        defs.setdefault(key, _dist_schema(f))
        return {"$ref": f"#/definitions/{key}", "description": desc}
    schema: dict[str, Any]
    if f.type == "string":
        schema = {"type": "string"}
        if f.choices:
            schema["enum"] = list(f.choices)
        if f.pattern:
            schema["pattern"] = f.pattern
        if f.max_length:
            schema["maxLength"] = f.max_length
    elif f.type == "integer":
        schema = _bounds(f, {"type": "integer"})
    elif f.type == "number":
        schema = _bounds(f, {"type": "number"})
    elif f.type == "boolean":
        schema = {"type": "boolean"}
    elif f.type == "names":
        # a list of at least one name, or none where the field's default is the empty
        # list (`except = []`), as the loader reads them
        schema = {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"},
                 "minItems": 0 if f.default == [] else 1},
            ]
        }
    elif f.type == "list":
        schema = {"type": "array", "items": {"type": "string"}}
    else:
        schema = {"type": "object"}
    if not f.required and f.default is not None:
        schema["default"] = f.default
    schema["description"] = desc
    return schema


def _object_schema(fields, defs: dict, kind_field: bool = False) -> dict:
    props = {f.name: _field_schema(f, defs) for f in fields}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
    always = [f.name for f in fields if f.required and not f.kinds]
    if always:
        schema["required"] = always
    if kind_field:
        kinds = next(f for f in fields if f.name == "kind").choices
        rules = []
        for kind in kinds:
            foreign = [f.name for f in fields if f.kinds and kind not in f.kinds]
            needed = [f.name for f in fields if f.required and f.kinds and kind in f.kinds]
            then: dict[str, Any] = {}
            if foreign:
                then["not"] = {"anyOf": [{"required": [n]} for n in foreign]}
            if needed:
                then["required"] = needed
            if then:
                rules.append({"if": {"properties": {"kind": {"const": kind}},
                                     "required": ["kind"]}, "then": then})
        if rules:
            schema["allOf"] = rules
    return schema


def json_schema() -> dict:
    """The JSON Schema (draft-07) of a scenario file, generated from the declarations."""
    defs: dict[str, Any] = {}
    top = {f.name: f for f in TOP_FIELDS}
    props: dict[str, Any] = {"extends": _field_schema(top["extends"], defs)}
    props["scenario"] = _object_schema(SCENARIO_FIELDS, defs)
    props["scenario"]["description"] = top["scenario"].doc
    props["groups"] = {
        "type": "object",
        "description": top["groups"].doc,
        "propertyNames": {"pattern": GROUP_PATTERN},
        "additionalProperties": {"type": "array", "items": {"type": "string"},
                                 "minItems": 1},  # the loader refuses an empty group
    }
    for name, fields, kinded in (
        ("events", EVENT_FIELDS, True),
        ("correlations", CORRELATION_FIELDS, False),
        ("interventions", INTERVENTION_FIELDS, True),
    ):
        item = _object_schema(fields, defs, kind_field=kinded)
        if name == "correlations":
            item["properties"]["events"]["minItems"] = 2
        props[name] = {"type": "array", "description": top[name].doc, "items": item}
    props["response"] = _object_schema(RESPONSE_FIELDS, defs)
    props["response"]["description"] = top["response"].doc
    # A variant (with `extends`) may leave out [scenario]; a root file may not.
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://supplyshock.invalid/schema/scenario.schema.json",
        "title": "supplyshock scenario",
        "description": "A supplyshock scenario file (TOML). Generated from "
        "simcore/scenario/schema.py; see docs/scenarios.md.",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "if": {"not": {"required": ["extends"]}},
        "then": {"required": ["scenario"], "properties": {
            "scenario": {"required": ["name"]}}},
        "definitions": dict(sorted(defs.items())),
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False, allow_nan=False) + "\n"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "scenario.schema.json"
DOCS_PATH = _repo_root() / "docs" / "scenarios.md"


def write_generated(docs_path: Path = DOCS_PATH, schema_path: Path = SCHEMA_PATH) -> None:
    """Rewrite the generated block of docs/scenarios.md and the JSON Schema file."""
    schema_path.parent.mkdir(parents=True, exist_ok=True)
    schema_path.write_text(json_schema_text(), encoding="utf-8")
    docs_path.write_text(splice_docs(docs_path.read_text(encoding="utf-8")), encoding="utf-8")


def field_map(section: str) -> dict[str, Field]:
    return {f.name: f for f in SECTIONS[section]}


assert all(f.type in TYPES for fields in SECTIONS.values() for f in fields)
