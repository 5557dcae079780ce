"""Reading scenario files: TOML, ``extends`` chains, validation against a dataset.

``load_scenario(path, tensor=None)`` reads the file and its parents, merges them (the
child overrides scalars and adds or replaces events, correlations and interventions by
id), checks every key against the declarations in ``schema.py`` and every name against
the dataset, and returns a validated ``Scenario``. Every problem found in the files is
reported at once in one ``ScenarioError`` (``.problems``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simcore.errors import ScenarioError, SupplyShockError, suggest
from simcore.scenario import schema
from simcore.scenario.distributions import Dist, parse_dist
from simcore.scenario.problems import MISSING, Loc, Problems, remember, sources
from simcore.scenario.schema import GROUP_PATTERN, Field, field_map
from simcore.scenario.spec import Capacity, Correlation, Event, Scenario, Stockpile


class _Bad:
    def __repr__(self) -> str:
        return "BAD"


BAD = _Bad()
_LISTS = ("events", "correlations", "interventions")
_SINGULAR = {"events": "event", "correlations": "correlation", "interventions": "intervention"}
_TABLES = ("scenario", "groups", "response")


@dataclass
class _Layer:
    file: str  # as shown in messages
    path: Path  # resolved
    doc: dict


@dataclass
class _Merged:
    """The resolved document, each value with the place it came from."""

    tables: dict[str, dict[str, tuple[object, Loc, Path]]] = field(default_factory=dict)
    lists: dict[str, list[tuple[dict, Loc]]] = field(default_factory=dict)
    misshapen: set[str] = field(default_factory=set)  # tables a file wrote as a value


# --- reading ----------------------------------------------------------------------------


def _read_chain(path: Path, problems: Problems, top: Problems) -> list[_Layer]:
    """The file and all its parents, child first (the reverse of merge order: a parent
    always comes after every file that extends it). Problems for missing files, bad TOML
    and ``extends`` cycles; in ``top``, unknown or misshapen top-level keys.

    ``extends`` names one parent or a list of parents; a list is merged left to right,
    and a file reached twice (two variants of one base) is merged once."""
    order: list[_Layer] = []  # ancestors first
    done: set[Path] = set()
    stack: list[tuple[Path, str]] = []

    def visit(current: Path, shown: str, from_loc: Loc | None, from_value) -> None:
        resolved = current.resolve()
        on_stack = [p for p, _ in stack]
        if resolved in on_stack:
            files = [f for _, f in stack[on_stack.index(resolved):]] + [shown]
            problems.add(from_loc, from_value, f"extends cycle: {' -> '.join(files)}",
                         hint="remove `extends` from one of these files")
            return
        if resolved in done:
            return
        if current.is_dir():
            where = from_loc if from_loc is not None else Loc(shown)
            problems.add(where, from_value, f"{shown} is a folder, not a scenario file",
                         hint="name a .toml file")
            return
        if not current.is_file():
            if from_loc is None:
                problems.add(Loc(shown), MISSING, "scenario file not found",
                             hint="check the path")
            else:
                problems.add(from_loc, from_value, f"parent file {shown} not found",
                             hint="paths in `extends` are relative to the file that has it")
            return
        try:
            # utf-8-sig: a byte-order mark (Windows editors write one) is not TOML syntax
            text = current.read_text(encoding="utf-8-sig")
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.add(Loc(shown), MISSING, f"not valid TOML: {exc}",
                         hint="see https://toml.io for the syntax")
            return
        except UnicodeDecodeError as exc:
            raw = current.read_bytes()
            line = raw[:exc.start].count(b"\n") + 1
            utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
            where = ("UTF-16, as Windows Notepad may save" if utf16
                     else f"{exc.reason} at byte {exc.start}, line {line}")
            problems.add(Loc(shown), MISSING, f"is not UTF-8 text ({where})",
                         hint="save the file as UTF-8 (the encoding TOML requires)")
            return
        except OSError as exc:
            problems.add(Loc(shown), MISSING, f"cannot read the file: {exc}")
            return
        remember(shown, text)
        _check_top(doc, Loc(shown), top)
        parents = doc.get("extends")
        if isinstance(parents, str) and parents:
            refs = [(parents, Loc(shown, "extends"))]
        elif (isinstance(parents, list) and parents
              and all(isinstance(x, str) and x for x in parents)):
            refs = [(x, Loc(shown, "extends").index(i)) for i, x in enumerate(parents)]
        else:
            if parents is not None:
                problems.add(Loc(shown, "extends"), parents,
                             "extends must be a path to a scenario file, or a list of paths",
                             hint='e.g. extends = "base.toml"')
            refs = []
        stack.append((resolved, shown))
        for ref, loc in refs:
            visit(current.parent / ref, os.path.normpath(Path(shown).parent / ref), loc, ref)
        stack.pop()
        done.add(resolved)
        order.append(_Layer(shown, resolved, doc))

    visit(path, str(path), None, MISSING)
    return order[::-1]


def _check_top(doc: dict, loc: Loc, problems: Problems) -> None:
    fields = field_map("")
    for key, value in doc.items():
        if key not in fields:
            problems.add(loc.key(key), value, "unknown top-level key",
                         ", ".join(fields), suggest(key, fields))
        elif key in _TABLES and not isinstance(value, dict):
            problems.add(loc.key(key), value, f"`{key}` must be a table",
                         hint=f"write it as [{key}]")
        elif key in _LISTS and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            problems.add(loc.key(key), value, f"`{key}` must be an array of tables",
                         hint=f"write each entry under [[{key}]]")


def _item_key(section: str, item: dict):
    if section == "correlations":
        if isinstance(item.get("id"), str):
            return item["id"]
        events = item.get("events")
        if isinstance(events, list) and all(isinstance(e, str) for e in events):
            return "+".join(events)
        return None
    key = item.get("id")
    return key if isinstance(key, str) else None


# keys that name one parameter (version 1's price_cap is version 2's choke_price)
_ONE_PARAMETER = {("response", "price_cap"): "choke_price",
                  ("response", "choke_price"): "price_cap"}


def _merge(chain: list[_Layer], problems: Problems) -> _Merged:
    merged = _Merged({t: {} for t in _TABLES}, {s: [] for s in _LISTS})
    for layer in reversed(chain):  # ancestors first
        doc = layer.doc
        loc = Loc(layer.file)
        for table in _TABLES:
            value = doc.get(table)
            if isinstance(value, dict):
                if table == "response" and "price_cap" in value and "choke_price" in value:
                    # checked per file: an extending file's key would hide its parent's pair
                    problems.add(loc.key(table).key("price_cap"), value["price_cap"],
                                 "`price_cap` (version 1's name) and `choke_price` are one "
                                 "parameter", hint="give one of them: remove `price_cap`")
                for key, v in value.items():
                    other = _ONE_PARAMETER.get((table, key))
                    held = merged.tables[table].get(other) if other else None
                    if held is not None and held[2] != layer.path:
                        del merged.tables[table][other]  # a file's value replaces its parent's
                    merged.tables[table][key] = (v, loc.key(table).key(key), layer.path)
            elif value is not None:
                merged.misshapen.add(table)  # _check_top said so
        for section in _LISTS:
            items = doc.get(section)
            if not isinstance(items, list) or not all(isinstance(v, dict) for v in items):
                continue
            seen: dict = {}
            current = merged.lists[section]
            for i, item in enumerate(items):
                item_loc = loc.key(section).index(i)
                if isinstance(item.get("id"), str):
                    # problems name the item by its id too: indices shift as files grow
                    item_loc = item_loc.named(f'{_SINGULAR[section]} "{item["id"]}"')
                key = _item_key(section, item)
                if key is not None and key in seen:
                    if isinstance(item.get("id"), str):
                        problems.add(item_loc.key("id"), key,
                                     f"duplicate id (also {seen[key].path})",
                                     hint="ids must be unique within a file")
                    else:  # a correlation without an id: named by its events
                        problems.add(item_loc.key("events"), item["events"],
                                     f"the same events as {seen[key].path}",
                                     hint="correlate a set of events once")
                    # still checked, so that its other problems show now, not after
                    # the rename
                    current.append((item, item_loc))
                    continue
                if key is not None:
                    seen[key] = item_loc
                    hit = next(
                        (j for j, (old, _) in enumerate(current)
                         if _item_key(section, old) == key),
                        None,
                    )
                    if hit is not None:
                        current[hit] = (item, item_loc)  # a variant replaces by id, in place
                        continue
                current.append((item, item_loc))
    return merged


def _document(merged: _Merged, root: Path) -> dict:
    """The resolved document that is hashed: merged values, `dataset` made relative to
    the root file so that the hash does not depend on where the files sit."""
    doc: dict = {}
    for table, entries in merged.tables.items():
        values = {}
        for key, (value, _loc, src) in entries.items():
            if table == "scenario" and key == "dataset" and isinstance(value, str):
                value = Path(os.path.relpath(src.parent / value, root.parent)).as_posix()
            values[key] = value
        if values:
            doc[table] = dict(sorted(values.items()))
    for section, items in merged.lists.items():
        if items:
            doc[section] = [item for item, _loc in items]
    return doc


def scenario_paths(names) -> tuple[list[Path], list[str]]:
    """The scenario files ``names`` stand for, each once (the first time it is named;
    a file named twice, or by two spellings, runs once), and a message for each name
    that stands for none: a folder stands for every ``*.toml`` in it. ``run`` (through
    ``api.scenario_files``) and ``validate`` expand their arguments with this."""
    out: list[Path] = []
    problems: list[str] = []
    for name in names:
        p = Path(name)
        if p.is_dir():
            found = sorted(f for f in p.glob("*.toml") if f.is_file())
            if not found:
                problems.append(f"{p}: no scenario files (*.toml) in this folder")
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            near = p.with_suffix(".toml") if p.suffix != ".toml" else None
            hint = f" (did you mean {near}?)" if near is not None and near.is_file() else ""
            if not hint and p.parent.is_dir():
                from simcore.errors import suggest

                hint = suggest(p.name, [f.name for f in p.parent.glob("*.toml")])
                hint = hint.replace("'", "") if hint else ""
            problems.append(f"{p}: no such scenario file or folder{hint}")
    seen: set[Path] = set()
    unique = []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def _without_negative_zero(value):
    """``value`` with every -0.0 made 0.0: the same number, one hash."""
    if isinstance(value, float):
        return value + 0.0
    if isinstance(value, dict):
        return {k: _without_negative_zero(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_negative_zero(v) for v in value]
    return value


def scenario_hash(document: dict) -> str:
    text = json.dumps(_without_negative_zero(document), sort_keys=True, ensure_ascii=True,
                      separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# --- field values -------------------------------------------------------------------------


def _value(f: Field, v, loc: Loc, problems: Problems):
    """One key's value checked against its declaration; BAD when invalid."""
    t = f.type
    if t == "distribution":
        dist = parse_dist(v, loc, f, problems)
        return BAD if dist is None else dist
    if t == "string":
        if not isinstance(v, str):
            problems.add(loc, v, f"{f.name} must be a string")
            return BAD
        if f.choices and v not in f.choices:
            problems.add(loc, v, f"unknown {f.name}", f.range_text(), suggest(v, f.choices))
            return BAD
        if f.pattern and not re.match(f.pattern, v):
            problems.add(loc, v, f"{f.name} has characters that are not allowed",
                         "letters, digits, '_', '-', '.', starting with a letter or digit")
            return BAD
        if f.max_length and len(v) > f.max_length:
            problems.add(loc, v, f"{f.name} has {len(v)} characters",
                         f"at most {f.max_length}: results folders are named after it")
            return BAD
        return v
    if t in ("integer", "number"):
        if isinstance(v, bool) or not isinstance(v, int | float):
            article = "an integer" if t == "integer" else "a number"
            problems.add(loc, v, f"{f.name} must be {article}", f.range_text())
            return BAD
        if t == "integer" and not isinstance(v, int):
            problems.add(loc, v, f"{f.name} must be a whole number", f.range_text(),
                         hint=_whole_hint(v))
            return BAD
        if not math.isfinite(v) or not f.in_range(v):
            problems.add(loc, v, f"{f.name} out of range", f.range_text(),
                         hint=f.percent_hint(v))
            return BAD
        return v if t == "integer" else float(v)
    if t == "boolean":
        if not isinstance(v, bool):
            problems.add(loc, v, f"{f.name} must be true or false")
            return BAD
        return v
    if t == "names":
        if isinstance(v, str):
            return (v,)
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            twice = [x for i, x in enumerate(v) if x in v[:i]]
            if twice:
                # harmless to the run (names are sets) but not to the scenario's hash,
                # and often a slip for another name
                problems.add(loc, v, f"{f.name} names {twice[0]!r} twice",
                             hint="list each name once")
                return BAD
            return tuple(v)
        if isinstance(v, list) and not v and not f.required:
            return ()
        problems.add(loc, v, f"{f.name} must be a name or a non-empty list of names")
        return BAD
    if t == "list":
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return tuple(v)
        problems.add(loc, v, f"{f.name} must be a list of strings")
        return BAD
    return v


def _default(f: Field):
    if f.default is None or f.required:
        return None
    if f.type == "distribution":
        return Dist.const(f.default)
    if f.type == "names":
        return tuple(f.default) if isinstance(f.default, list) else (f.default,)
    return f.default


def _fields(section: str, entries: dict, loc_of, base: Loc, problems: Problems,
            kind: str | None = None, what: str = "") -> dict:
    """Parse a table: unknown keys, keys foreign to `kind`, missing required keys, values.

    ``entries`` maps key -> raw value; ``loc_of(key)`` gives its location. Returns key ->
    value (BAD for an invalid value; defaults filled; None where unset)."""
    fields = field_map(section)
    out: dict = {}
    for key, v in entries.items():
        f = fields.get(key)
        if f is None:
            problems.add(loc_of(key), v, f"unknown key in {what or section}",
                         ", ".join(fields), suggest(key, fields))
        elif f.kinds and kind is not None and kind not in f.kinds:
            problems.add(loc_of(key), v, f"`{key}` does not apply to a {kind}",
                         hint=f"it applies to: {', '.join(f.kinds)}; remove it")
    for f in fields.values():
        if f.kinds and (kind is None or kind not in f.kinds):
            continue
        if f.name not in entries:
            if f.required:
                problems.add(base, MISSING, f"missing required key `{f.name}` ({f.doc})",
                             f.range_text())
                out[f.name] = BAD
            else:
                out[f.name] = _default(f)
            continue
        out[f.name] = _value(f, entries[f.name], loc_of(f.name), problems)
    return out


# --- names against the dataset ------------------------------------------------------------


class _Names:
    """Country, group, material and stage names of the dataset plus scenario groups."""

    def __init__(self, tensor, groups: dict[str, tuple[str, ...]], broken=frozenset()):
        self.tensor = tensor
        self.broken = frozenset(broken)  # [groups] entries with a problem of their own
        self.countries = tuple(tensor.countries)
        self.groups = {**tensor.groups, **groups}
        self.materials = tuple(tensor.materials)
        self.names = dict(zip(tensor.countries, tensor.country_names, strict=True))

    def order(self, codes) -> tuple[str, ...]:
        codes = set(codes)
        return tuple(c for c in self.countries if c in codes)

    def place(self, name: str, loc: Loc, problems: Problems,
              keywords: tuple[str, ...] = ()) -> set[str] | None:
        """The countries ``name`` stands for; ``keywords``: further words the key takes
        (handled by the caller: ``"all"`` for targets), named in the error."""
        if name in self.groups:
            return set(self.groups[name])
        if name in self.countries:
            return {name}
        if name in self.broken:  # said where the group is defined, not at every use
            return None
        problems.add(loc, name, "unknown country or group",
                     "".join(f'"{k}", ' for k in keywords)
                     + "a country code of the dataset or a group ("
                     + ", ".join(sorted(self.groups)) + "), or a group of your own "
                     'defined under [groups], e.g. asean = ["VNM", "MYS", "PHL"]',
                     suggest(name, keywords + self.countries + tuple(self.groups),
                             names=self.names))
        return None

    def places(self, names: tuple[str, ...], loc: Loc, problems: Problems, single: bool,
               keywords: tuple[str, ...] = ()):
        out: set[str] = set()
        ok = True
        for i, name in enumerate(names):
            got = self.place(name, loc if single else loc.index(i), problems, keywords)
            if got is None:
                ok = False
            else:
                out |= got
        return out if ok else None

    def country(self, name: str, loc: Loc, problems: Problems) -> str | None:
        if name in self.countries:
            return name
        if name in self.groups:
            problems.add(loc, name, "must be one country, not a group",
                         hint="use one of its members: "
                         + ", ".join(self.groups[name][:8]))
            return None
        problems.add(loc, name, "unknown country", "a country code of the dataset",
                     suggest(name, self.countries, names=self.names))
        return None

    def material(self, name: str, loc: Loc, problems: Problems) -> str | None:
        if name in self.materials:
            return name
        problems.add(loc, name, "unknown material", ", ".join(self.materials),
                     suggest(name, self.materials))
        return None

    def stage(self, material: str, stage: str | None, loc: Loc, problems: Problems):
        stages = self.tensor.stages[self.materials.index(material)]
        if stage is None:
            return stages[-1]
        if stage in stages:
            return stage
        problems.add(loc, stage, f"material '{material}' has no stage '{stage}'",
                     ", ".join(stages), suggest(stage, stages))
        return None


def _scenario_groups(merged: _Merged, tensor, problems: Problems) -> dict[str, tuple[str, ...]]:
    """[groups] -> country codes (members may be countries, dataset or scenario groups)."""
    entries = merged.tables["groups"]
    raw: dict[str, tuple[list, Loc]] = {}
    for name, (value, loc, _src) in entries.items():
        if not re.match(GROUP_PATTERN, name):
            problems.add(loc, value, f"group name '{name}' has characters that are not allowed",
                         "letters, digits, '_' and '-', starting with a letter")
            continue
        if tensor is not None and name in tensor.countries:
            problems.add(loc, value, f"group name '{name}' is a country code",
                         hint="choose another name")
            continue
        if tensor is not None and name in tensor.groups:
            problems.add(loc, value, f"group '{name}' is already defined by the dataset "
                         f"({', '.join(tensor.groups[name])})", hint="choose another name")
            continue
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            problems.add(loc, value, "a group is a non-empty list of countries or groups",
                         hint=f'e.g. {name} = ["USA", "JPN"]')
            continue
        raw[name] = (value, loc)
    if tensor is None:
        return {}
    out: dict[str, tuple[str, ...]] = {}

    def expand(name: str, path: tuple[str, ...]) -> set[str] | None:
        if name in out:
            return set(out[name])
        members, loc = raw[name]
        codes: set[str] = set()
        ok = True
        for i, m in enumerate(members):
            if m in path or m == name:
                problems.add(loc.index(i), m, "groups nest in a cycle: "
                             + " -> ".join((*path, name, m)), hint="remove one membership")
                ok = False
            elif m in raw:
                got = expand(m, (*path, name))
                ok = ok and got is not None
                codes |= got or set()
            elif m in tensor.groups:
                codes |= set(tensor.groups[m])
            elif m in tensor.countries:
                codes.add(m)
            else:
                problems.add(loc.index(i), m, "unknown country or group",
                             hint=suggest(m, tuple(tensor.countries) + tuple(tensor.groups)
                                          + tuple(raw)))
                ok = False
        if not ok:
            return None
        out[name] = tuple(c for c in tensor.countries if c in codes)
        return codes

    for name in raw:
        if name not in out:
            expand(name, ())
    return out


# --- sections -----------------------------------------------------------------------------


def _table_fields(merged: _Merged, table: str, root: Loc, problems: Problems) -> dict:
    """The keys of one table. A table some file wrote as a value (already a problem) and
    none as a table is not also reported for its missing keys."""
    if table in merged.misshapen and not merged.tables[table]:
        problems = Problems()  # said once, as the misshapen table
    entries = {k: v for k, (v, _loc, _src) in merged.tables[table].items()}
    locs = {k: loc for k, (_v, loc, _src) in merged.tables[table].items()}
    return _fields(table, entries, lambda k: locs.get(k, root.key(table).key(k)),
                   root.key(table), problems, what=f"[{table}]")


def _event(item: dict, loc: Loc, names: _Names | None, problems: Problems,
           notes: Problems):
    kind = item.get("kind") if item.get("kind") in schema.EVENT_FIELDS[1].choices else None
    v = _fields("events", item, loc.key, loc, problems, kind=kind, what="an event")
    if kind is None:
        return None
    n0 = len(problems)
    restriction = kind == "export_restriction"
    # rules across fields
    if restriction:
        if "severity" in item and "quota_tonnes_per_year" in item:
            problems.add(loc.key("quota_tonnes_per_year"), item["quota_tonnes_per_year"],
                         "give either `severity` or `quota_tonnes_per_year`, not both",
                         hint="remove one of them")
        elif "severity" not in item and "quota_tonnes_per_year" not in item:
            problems.add(loc, MISSING, "an export_restriction needs `severity` (share of the "
                         "flow stopped) or `quota_tonnes_per_year`",
                         schema.field_map("events")["severity"].range_text())
    elif "severity" not in item:
        problems.add(loc, MISSING, "a production_outage needs `severity` (share of "
                     "production lost)", "[0, 1]")
    if ("settled_severity" in item) != ("settle_months" in item):
        have, need = (("settled_severity", "settle_months") if "settled_severity" in item
                      else ("settle_months", "settled_severity"))
        problems.add(loc.key(have), item[have], f"`{have}` needs `{need}`",
                     hint=f"add `{need}` or remove `{have}`")
    if "quota_tonnes_per_year" in item and v["materials"] not in (BAD, None) \
            and len(v["materials"]) != 1:
        problems.add(loc.key("quota_tonnes_per_year"), item["quota_tonnes_per_year"],
                     "a quota needs exactly one material", hint="write one event per material")
    if "after" in item:
        if "onset_month" in item:
            problems.add(loc.key("onset_month"), item["onset_month"],
                         "an event with `after` starts `lag_months` after its parent's onset",
                         hint="remove `onset_month`, give `lag_months`")
    elif "lag_months" in item:
        problems.add(loc.key("lag_months"), item["lag_months"],
                     "`lag_months` only applies with `after`",
                     hint="add `after = \"<parent id>\"` or use `onset_month`")
    if names is not None:
        origin = v["origin"]
        if isinstance(origin, str):
            v["origin"] = names.country(origin, loc.key("origin"), problems) or BAD
        materials = v["materials"]
        stages = []
        if materials not in (BAD, None):
            single = isinstance(item["materials"], str)
            checked = []
            for i, m in enumerate(materials):
                mloc = loc.key("materials") if single else loc.key("materials").index(i)
                got = names.material(m, mloc, problems)
                checked.append(got)
            if all(checked):
                stage = v["stage"] if v["stage"] is not BAD else None
                for m in checked:
                    stages.append(names.stage(m, stage, loc.key("stage"), problems))
            v["materials"] = tuple(checked)
        v["stages"] = tuple(stages)
        if (restriction and v["re_export"] is True and stages and all(stages)
                and all(st == names.tensor.stages[names.materials.index(m)][-1]
                        for m, st in zip(v["materials"], stages, strict=True))):
            # the kernel applies re_export to stage s+1 exports: at the last stage it does
            # nothing, which the user should hear about
            notes.add(loc.key("re_export"), True,
                         "re_export reaches third countries' next-stage exports made from the "
                         "origin's feed, but every material here is hit at its last stage, "
                         "so it has no effect; re-transfers of the same product are what "
                         "`leakage` stands for",
                         hint="hit an earlier stage (e.g. stage = \"mining\") or remove "
                         "re_export")
        if restriction:
            targets = v["targets"]
            codes = None
            if targets not in (BAD, None):
                single = isinstance(item.get("targets"), str)
                if targets == ("all",):
                    codes = set(names.countries)
                elif "all" in targets:
                    problems.add(loc.key("targets"), item["targets"],
                                 '"all" cannot be combined with other names',
                                 hint='use targets = "all" with `except = [...]`')
                else:
                    codes = names.places(targets, loc.key("targets"), problems, single,
                                         keywords=("all",))
            exc = v["except"]
            if exc not in (BAD, None) and exc:
                single = isinstance(item.get("except"), str)
                removed = names.places(exc, loc.key("except"), problems, single)
                if codes is not None and removed is not None:
                    codes -= removed
            if codes is not None and isinstance(v["origin"], str):
                codes.discard(v["origin"])
                if not codes and len(problems) == n0:
                    problems.add(loc.key("targets"), item.get("targets", "all"),
                                 "the restriction targets no country (after `except` and "
                                 "leaving out the origin)", hint="check targets and except")
            v["targets"] = names.order(codes) if codes is not None else BAD
    if len(problems) > n0 or any(x is BAD for x in v.values()):
        return None
    if names is None:
        return None
    _note_no_effect(v, kind, item, loc, names, notes)
    if restriction and v["targets"] and item.get("targets", "all") != "all" \
            and not item.get("except"):
        _note_partial_group(v, item, loc, names, notes)
    return Event(
        id=v["id"],
        kind=kind,
        origin=v["origin"],
        materials=v["materials"],
        stages=v["stages"],
        targets=v["targets"] if restriction else (),
        probability=v["probability"],
        onset=None if v["after"] else v["onset_month"],
        after=v["after"],
        lag=v["lag_months"] if v["after"] else None,
        duration=v["duration_months"],
        severity=v["severity"],
        settled_severity=v["settled_severity"],
        settle_months=v["settle_months"],
        leakage=v["leakage"] if restriction else None,
        quota_tonnes_per_year=v["quota_tonnes_per_year"] if restriction else None,
        re_export=bool(v["re_export"]) if restriction else False,
        announcement_lead=v["announcement_lead_months"] if restriction else None,
        description=v["description"],
    )


def _note_no_effect(v: dict, kind: str, item: dict, loc: Loc, names: _Names,
                    notes: Problems) -> None:
    """Notes (not errors) for an event that moves nothing in this dataset: an origin with
    no exports (or production) of a material at the stage, or a quota above its exports."""
    t = names.tensor
    o = names.countries.index(v["origin"])
    targets = [names.countries.index(c) for c in v["targets"]] if kind != "production_outage" \
        else []
    for material, stage in zip(v["materials"], v["stages"], strict=True):
        k = names.materials.index(material)
        s = t.stages[k].index(stage)
        flow = np.asarray(t.flow[k, s, o], dtype=np.float64)  # [t/year] to each importer
        if kind == "production_outage":
            if flow.sum() <= 0:
                notes.add(loc.key("origin"), v["origin"],
                          f"{v['origin']} produces no {material} at stage '{stage}' in the "
                          "dataset, so this outage moves nothing for it")
            continue
        to_targets = float(flow[targets].sum())
        third = float(flow.sum() - flow[o])
        if to_targets <= 0 and not (v["re_export"] and third > 0):
            notes.add(loc.key("origin"), v["origin"],
                      f"{v['origin']} has no {material} exports at stage '{stage}' to the "
                      "targets in the dataset, so this event moves nothing for it")
        quota = v["quota_tonnes_per_year"]
        if quota is not None and to_targets > 0 and quota >= to_targets:
            notes.add(loc.key("quota_tonnes_per_year"), item["quota_tonnes_per_year"],
                      f"the quota is not below {v['origin']}'s baseline {material} exports "
                      f"to the targets ({to_targets:,.0f} t/year), so it stops nothing")
        elif to_targets > 0 and not v["re_export"]:
            _note_small_route(v, item, loc, names, k, s, flow, targets, notes)


def _note_partial_group(v: dict, item: dict, loc: Loc, names: _Names,
                        notes: Problems) -> None:
    """A note for targets that name a dataset's remainder code (a country named "Rest of
    ...", such as XEU, the EU members the dataset does not list on their own) but not
    the rest of its group: "XEU, DEU, FRA, ITA" reads as the EU and leaves 16 of its
    members (Belgium, Austria, the Netherlands, ...) open."""
    t = names.tensor
    targets = set(v["targets"]) | {v["origin"]}
    for code in sorted(set(v["targets"])):
        name = names.names[code]
        if not name.lower().startswith("rest of "):
            continue
        # the group it is the rest of, by name: "Rest of EU (...)" -> EU27
        whose = (name[len("rest of "):].split() or [""])[0].strip("(),").upper()
        for group, members in sorted(t.groups.items()):
            if not whose or code not in members or not group.upper().startswith(whose):
                continue
            left = [c for c in names.order(members) if c not in targets]
            if left:
                shown = ", ".join(left[:6]) + (", ..." if len(left) > 6 else "")
                notes.add(loc.key("targets"), item.get("targets"),
                          f"{code} ({name}) stands for the {group} members the dataset "
                          f"does not list on their own; {len(left)} listed {group} "
                          f"members are not targets ({shown})",
                          hint=f"name {group} to target the whole group, or add them")


def _note_small_route(v: dict, item: dict, loc: Loc, names: _Names, k: int, s: int,
                      flow: np.ndarray, targets: list[int], notes: Problems) -> None:
    """A note for a restriction whose route carries under 1 % of every target's need: a
    full stop then leaves no target short by the 1 % rule of a short month (MODEL.md
    §4). Without re_export the loss of a target is at most what the origin sends it."""
    need = np.asarray(names.tensor.need[k, s, targets], dtype=np.float64)  # [t/year]
    sent = flow[targets]
    has = need > 0
    if not has.any():
        return
    share = np.where(has, sent / np.where(has, need, 1.0), 0.0)
    worst = int(np.argmax(share))
    if share[worst] >= 0.01:
        return
    material = names.materials[k]
    stage = names.tensor.stages[k][s]
    notes.add(loc.key("targets"), item.get("targets", "all"),
              f"{v['origin']}'s {material} exports at stage '{stage}' are under 1 % of each "
              f"target's need (at most {100 * share[worst]:.2g} %, to "
              f"{names.countries[targets[worst]]}), so even a full stop leaves every target "
              "under the 1 % of need that makes a month short: this event moves next to "
              "nothing for it")


def _note_never_active(events: tuple[Event, ...], where: dict[str, tuple[dict, Loc]],
                       horizon: int, notes: Problems) -> None:
    """Notes for events the engine never activates within the horizon: the earliest
    possible onset (floor of the onset's smallest value; with `after`, the parent's
    earliest onset plus the floor of the smallest lag) is at or after the horizon, or
    the event lasts no month in any draw. ``events`` are parents first."""
    earliest: dict[str, int] = {}
    for e in events:
        item, loc = where[e.id]
        if e.after is None:
            first = math.floor(e.onset.support()[0]) if e.onset is not None else 0
            key = "onset_month"
        else:
            lag = math.floor(e.lag.support()[0]) if e.lag is not None else 0
            first = earliest[e.after] + lag
            key = "lag_months"
        earliest[e.id] = first = max(0, first)
        lead = e.announcement_lead
        announced = first - (math.ceil(lead.support()[1]) if lead is not None else 0)
        if first >= horizon:
            via = "" if e.after is None else f" (the parent '{e.after}''s earliest onset plus " \
                "the smallest lag)"
            if announced < horizon:  # announced within the horizon: buyers stock up
                outcome = (f"restriction never takes effect in a run; only its announcement, "
                           f"from month {max(0, announced)} in the draws with the longest "
                           "lead, moves the targets' buyers to stock up")
            else:
                outcome = "event never starts in a run and moves nothing"
            notes.add(loc.key(key) if key in item else loc, item.get(key, MISSING),
                      f"the earliest onset is month {first}{via}, not before the horizon of "
                      f"{horizon} months (months 0 to {horizon - 1}), so this {outcome}",
                      hint="give an earlier onset or a longer `horizon_months`")
        elif e.duration.support()[1] <= 0:
            notes.add(loc.key("duration_months"), item.get("duration_months", MISSING),
                      "the event lasts 0 months in every draw, so it moves nothing",
                      hint="give a positive `duration_months`")
        if e.probability <= 0.0:
            notes.add(loc.key("probability"), item.get("probability", MISSING),
                      "the event never fires (probability 0), so it moves nothing "
                      "(children that follow it never fire either)",
                      hint="give a positive `probability`, or remove the event")
        elif (e.severity is not None and e.severity.support()[1] <= 0.0
              and (e.settled_severity is None or e.settled_severity.support()[1] <= 0.0)):
            notes.add(loc.key("severity"), item.get("severity", MISSING),
                      "the severity is 0 in every draw, so the event stops no flow (buyers "
                      "still stock up as a precaution while it is announced or in force)",
                      hint="give a positive `severity`")


def _note_idle_interventions(stockpiles, capacities, events, items, horizon: int,
                             notes: Problems) -> None:
    """Notes for interventions that cannot act in a run, whose cost `compare` still
    counts (a new-user pass was charged for a stockpile of a material no event touched):
    a stockpile or added capacity of a material no event touches (the market stays at
    its baseline, docs/model.md: nothing is computed for it), and capacity whose earliest
    online month is at or after the horizon."""
    touched = {m for e in events for m in e.materials}
    where = {item.get("id"): (item, loc) for item, loc in items}
    for sp in stockpiles:
        if sp.id in where:
            item, loc = where[sp.id]
            if sp.probability <= 0.0:
                notes.add(loc.key("probability"), item.get("probability", MISSING),
                          "the stockpile is never built (probability 0); `compare` counts "
                          "no cost for it either")
            elif not (sp.tonnes or sp.months_of_need):
                key = "tonnes" if sp.tonnes is not None else "months_of_need"
                notes.add(loc.key(key), item.get(key, MISSING),
                          "the stockpile holds nothing, so it moves nothing",
                          hint=f"give a positive `{key}`")
            elif sp.max_release_share == 0.0 or sp.max_release_tonnes_per_month == 0.0:
                key = ("max_release_share" if sp.max_release_share == 0.0
                       else "max_release_tonnes_per_month")
                notes.add(loc.key(key), item.get(key, MISSING),
                          "the stockpile may release nothing a month, so it never sells or "
                          "serves its holders; `compare` still counts its cost",
                          hint=f"give a positive `{key}`")
        idle = [m for m in sp.materials if m not in touched]
        if idle and sp.id in where:
            item, loc = where[sp.id]
            notes.add(loc.key("materials"), item.get("materials", MISSING),
                      f"no event of the scenario touches {', '.join(idle)}, so this "
                      "stockpile never sells or serves its holders there (its market stays "
                      "at the baseline); `compare` still counts its cost",
                      hint="leave those materials out, or add the event the stockpile is "
                      "meant for")
    for cp in capacities:
        if cp.id not in where:
            continue
        item, loc = where[cp.id]
        first = math.floor(cp.online_month.support()[0])
        if cp.material not in touched:
            notes.add(loc.key("material"), item.get("material", MISSING),
                      f"no event of the scenario touches {cp.material}, so this capacity "
                      "never runs (added capacity runs once the material is disrupted); "
                      "`compare` still counts its cost",
                      hint="add the event the capacity is meant for")
        elif first >= horizon:
            notes.add(loc.key("online_month"), item.get("online_month", MISSING),
                      f"the earliest online month is {first}, not before the horizon of "
                      f"{horizon} months, so this capacity never runs; `compare` still "
                      "counts its cost",
                      hint="give an earlier `online_month` or a longer `horizon_months`")


def _check_stockpile_need(v: dict, item: dict, loc: Loc, names: _Names, problems: Problems,
                          notes: Problems) -> None:
    """A stockpile is split among its countries by their last-stage need (as the compiler
    does, simcore/scenario/compile.py): tonnes for countries with no need of a material
    cannot be split (an error, as `run` would stop), a stock in months of need is empty
    (a note: it moves nothing)."""
    t = names.tensor
    cidx = [names.countries.index(c) for c in v["countries"]]
    for material in v["materials"]:
        k = names.materials.index(material)
        last = t.stages[k][-1]
        if float(np.sum(t.need[k, len(t.stages[k]) - 1, cidx])) > 0:
            continue
        where = (f"{', '.join(v['countries'])} {'has' if len(cidx) == 1 else 'have'} no "
                 f"need of {material} at its last stage ('{last}') in the dataset")
        if v["tonnes"] or v["max_release_tonnes_per_month"]:
            problems.add(loc.key("countries"), item["countries"],
                         f"{where}, so the stockpile's tonnes of {material} cannot be split "
                         "by need", hint=f"list countries that use {material}, or remove it "
                         "from `materials`")
        else:
            notes.add(loc.key("countries"), item["countries"],
                      f"{where}, so a stock of months of need holds nothing: this stockpile "
                      f"moves no {material}")


def _sort_events(events: list[tuple[Event, Loc]], known: list[str],
                 problems: Problems) -> tuple[Event, ...]:
    """Parents before children, otherwise file order; unknown parents are errors (a cycle
    gives no order: _after_cycles reports it).

    ``known``: every event id in the files, valid or not (an invalid parent is reported
    where it is, not as unknown)."""
    ids = [e.id for e, _ in events]
    by_id = {e.id: (e, loc) for e, loc in events}
    ok = True
    for e, loc in events:
        if e.after is not None and e.after not in by_id:
            if e.after not in known:
                problems.add(loc.key("after"), e.after, "unknown parent event",
                             ", ".join(known), suggest(e.after, known))
            ok = False
        elif e.after == e.id:
            problems.add(loc.key("after"), e.after, "an event cannot follow itself",
                         hint="remove `after` or name another event")
            ok = False
    if not ok:
        return ()
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(ids)
    while remaining:
        ready = [i for i in remaining if by_id[i][0].after is None or by_id[i][0].after in placed]
        if not ready:  # a cycle: _after_cycles reports it
            return ()
        first = ready[0]
        done.append(first)
        placed.add(first)
        remaining.remove(first)
    return tuple(by_id[i][0] for i in done)


def _after_cycles(items, problems: Problems) -> None:
    """`after` cycles among the events as written, valid or not (an invalid event in a
    cycle must not hide it), each reported once; an event that follows itself is said by
    _sort_events."""
    after: dict[str, tuple[str, Loc]] = {}
    for item, loc in items:
        i, a = item.get("id"), item.get("after")
        if isinstance(i, str) and isinstance(a, str) and i not in after:
            after[i] = (a, loc)
    reported: set[str] = set()
    for start in after:
        path = [start]
        while path[-1] in after and after[path[-1]][0] not in path:
            path.append(after[path[-1]][0])
        if path[-1] not in after or set(path) & reported:
            reported |= set(path)
            continue
        cycle = path[path.index(after[path[-1]][0]):]
        reported |= set(path)
        if len(cycle) == 1:
            continue
        a, loc = after[cycle[0]]
        problems.add(loc.key("after"), a, "`after` chain forms a cycle: "
                     + " -> ".join([*cycle, cycle[0]]),
                     hint="one event of the cycle must have no `after`")


def _correlations(items, known: list[str], events: tuple[Event, ...], problems: Problems,
                  check_pd: bool):
    """Correlation groups; with ``check_pd`` (every event valid) the combined matrix is
    checked for consistency and positive definiteness."""
    out: list[tuple[Correlation, Loc]] = []
    for item, loc in items:
        v = _fields("correlations", item, loc.key, loc, problems, what="a correlation")
        evs = v.get("events")
        if evs in (BAD, None):
            continue
        ok = v.get("rho") is not BAD  # a bad rho: the events are still checked
        if len(evs) < 2:
            problems.add(loc.key("events"), item["events"], "a correlation needs two or more "
                         "events", hint="list the events whose occurrence is correlated")
            ok = False
        if len(set(evs)) != len(evs):
            problems.add(loc.key("events"), item["events"], "an event is listed twice",
                         hint="list each event once")
            ok = False
        for i, e in enumerate(evs):
            if e not in known:
                problems.add(loc.key("events").index(i), e, "unknown event",
                             ", ".join(known), suggest(e, known))
                ok = False
        if ok:
            out.append((Correlation(v["id"] or "+".join(evs), tuple(evs), v["rho"]), loc))
    if not check_pd:
        return tuple(c for c, _ in out)
    ids = [e.id for e in events]
    index = {e: i for i, e in enumerate(ids)}
    R = np.eye(len(ids))
    set_by: dict[tuple[int, int], tuple[float, Loc]] = {}
    consistent = True
    for c, loc in out:
        for a in c.events:
            for b in c.events:
                if a >= b:
                    continue
                pair = (min(index[a], index[b]), max(index[a], index[b]))
                if pair in set_by and set_by[pair][0] != c.rho:
                    other = set_by[pair][1]
                    where = other.path if other.file == loc.file else f"{other.file}: {other.path}"
                    named = f" ({other.item})" if other.item else ""
                    problems.add(loc.key("rho"), c.rho,
                                 f"events '{a}' and '{b}' are also correlated with rho = "
                                 f"{set_by[pair][0]:g} at {where}{named}",
                                 hint="give a pair one correlation (a variant replaces a "
                                      "correlation by its id)")
                    consistent = False
                set_by[pair] = (c.rho, loc)
                R[pair[0], pair[1]] = R[pair[1], pair[0]] = c.rho
    if out and consistent:
        try:
            np.linalg.cholesky(R)
        except np.linalg.LinAlgError:
            involved = sorted({e for c, _ in out for e in c.events})
            sub = R[np.ix_([index[e] for e in involved], [index[e] for e in involved])]
            smallest = float(np.linalg.eigvalsh(sub).min())
            c, loc = out[-1]
            problems.add(loc, MISSING, "the combined correlation matrix of events "
                         f"{', '.join(involved)} is not positive definite (smallest "
                         f"eigenvalue {smallest:.3g})",
                         hint="weaken the correlations (|rho| smaller), especially negative "
                         "ones among three or more events")
    return tuple(c for c, _ in out)


def _intervention(item: dict, loc: Loc, names: _Names | None, problems: Problems,
                  notes: Problems):
    kinds = schema.field_map("interventions")["kind"].choices
    kind = item.get("kind") if item.get("kind") in kinds else None
    v = _fields("interventions", item, loc.key, loc, problems, kind=kind,
                what="an intervention")
    if kind is None:
        return None
    n0 = len(problems)
    if kind == "stockpile":
        if "tonnes" in item and "months_of_need" in item:
            problems.add(loc.key("months_of_need"), item["months_of_need"],
                         "give `tonnes` or `months_of_need`, not both",
                         hint="remove one: the stock in tonnes per material or in months "
                              "of need")
        elif "tonnes" not in item and "months_of_need" not in item:
            problems.add(loc, MISSING,
                         "a stockpile needs exactly one of `tonnes` and `months_of_need`",
                         hint="give the stock in tonnes per material or in months of need")
        if "max_release_share" in item and "max_release_tonnes_per_month" in item:
            problems.add(loc.key("max_release_tonnes_per_month"),
                         item["max_release_tonnes_per_month"],
                         "give at most one of `max_release_share` and "
                         "`max_release_tonnes_per_month`", hint="remove one")
        if names is not None:
            if v["countries"] not in (BAD, None):
                single = isinstance(item["countries"], str)
                codes = names.places(v["countries"], loc.key("countries"), problems, single)
                v["countries"] = names.order(codes) if codes is not None else BAD
            if v["materials"] not in (BAD, None):
                single = isinstance(item["materials"], str)
                v["materials"] = tuple(
                    names.material(m, loc.key("materials") if single
                                   else loc.key("materials").index(i), problems) or BAD
                    for i, m in enumerate(v["materials"])
                )
        if len(problems) > n0 or any(x is BAD for x in v.values()) or names is None:
            return None
        if any(m is BAD for m in v["materials"]):
            return None
        _check_stockpile_need(v, item, loc, names, problems, notes)
        if len(problems) > n0:
            return None
        return Stockpile(
            id=v["id"], countries=v["countries"], materials=v["materials"],
            probability=v["probability"], tonnes=v["tonnes"],
            months_of_need=v["months_of_need"], max_release_share=v["max_release_share"],
            max_release_tonnes_per_month=v["max_release_tonnes_per_month"],
            description=v["description"], reserved=bool(v["reserved"]),
            cost_usd=v["cost_usd"],
        )
    if names is not None:
        if isinstance(v["country"], str):
            v["country"] = names.country(v["country"], loc.key("country"), problems) or BAD
        if isinstance(v["material"], str):
            v["material"] = names.material(v["material"], loc.key("material"), problems) or BAD
            if v["material"] is not BAD and v["stage"] is not BAD:
                v["stage"] = names.stage(v["material"], v["stage"], loc.key("stage"),
                                         problems) or BAD
    if len(problems) > n0 or any(x is BAD for x in v.values()) or names is None:
        return None
    return Capacity(
        id=v["id"], country=v["country"], material=v["material"], stage=v["stage"],
        tonnes_per_year=v["tonnes_per_year"], probability=v["probability"],
        online_month=v["online_month"], description=v["description"],
        cost_usd=v["cost_usd"],
    )


# --- entry point --------------------------------------------------------------------------


def load_scenario(path, tensor=None) -> Scenario:
    """Read, merge and validate a scenario file.

    ``tensor``: the ``SupplyTensor`` to check names against; by default the dataset the
    file names (``scenario.dataset``, relative to the file that sets it) or the built-in
    baseline. Raises ``ScenarioError`` listing every problem found, each with the line
    of the file it is on where that can be found.
    """
    with sources():
        return _load_scenario(Path(path), tensor)


def _load_scenario(path: Path, tensor) -> Scenario:
    problems = Problems()
    notes = Problems()  # not errors: things that have no effect, said once
    top = Problems()  # unknown or misshapen top-level keys: listed with everything else
    chain = _read_chain(path, problems, top)
    problems.raise_if_any(str(path))  # a file missing or unreadable: nothing to check
    problems.lines.extend(top.lines)
    merged = _merge(chain, problems)
    root = Loc(chain[0].file)

    sc = _table_fields(merged, "scenario", root, problems)
    dataset_path: Path | None = None
    if isinstance(sc.get("dataset"), str):
        _v, dloc, src = merged.tables["scenario"]["dataset"]
        dataset_path = src.parent / sc["dataset"]
        if tensor is None and not dataset_path.exists():
            problems.add(dloc, sc["dataset"], f"dataset folder {dataset_path} not found",
                         hint="the path is relative to the file that sets it")
    if tensor is None and sc.get("dataset") is not BAD and not (
        dataset_path is not None and not dataset_path.exists()
    ):
        from simcore.dataset import load_dataset

        try:
            tensor = load_dataset(dataset_path)
        except SupplyShockError as exc:
            where = merged.tables["scenario"].get("dataset")
            problems.add(where[1] if where else root.key("scenario").key("dataset"),
                         sc.get("dataset") or MISSING,
                         f"cannot load the dataset: {exc}")

    groups = _scenario_groups(merged, tensor, problems)
    names = (_Names(tensor, groups, set(merged.tables["groups"]) - set(groups))
             if tensor is not None else None)
    response = _table_fields(merged, "response", root, problems)

    events: list[tuple[Event, Loc]] = []
    for item, loc in merged.lists["events"]:
        event = _event(item, loc, names, problems, notes)
        if event is not None:
            events.append((event, loc))
    n_items = len(merged.lists["events"])
    # each id once, in file order: a repeated id is reported on its own, and would
    # otherwise appear twice among the allowed values and the suggestions
    known = list(dict.fromkeys(
        item["id"] for item, _ in merged.lists["events"] if isinstance(item.get("id"), str)))
    for item, loc in merged.lists["events"]:
        parent = item.get("after")
        if isinstance(parent, str) and parent not in known:  # also for an invalid event
            problems.add(loc.key("after"), parent, "unknown parent event",
                         ", ".join(known), suggest(parent, known))
    sorted_events = _sort_events(events, known, problems)
    _after_cycles(merged.lists["events"], problems)
    complete = len(events) == n_items and len(sorted_events) == n_items
    correlations = _correlations(merged.lists["correlations"], known, sorted_events, problems,
                                 check_pd=complete)

    stockpiles: list[Stockpile] = []
    capacities: list[Capacity] = []
    for item, loc in merged.lists["interventions"]:  # duplicate ids: _merge
        got = _intervention(item, loc, names, problems, notes)
        if isinstance(got, Stockpile):
            stockpiles.append(got)
        elif isinstance(got, Capacity):
            capacities.append(got)

    if complete and names is not None and isinstance(sc.get("horizon_months"), int):
        where = {item["id"]: (item, loc) for item, loc in merged.lists["events"]}
        _note_never_active(sorted_events, where, sc["horizon_months"], notes)
        _note_idle_interventions(stockpiles, capacities, sorted_events,
                                 merged.lists["interventions"], sc["horizon_months"], notes)
    own = chain[0].doc.get("scenario")
    if len(chain) > 1 and not (isinstance(own, dict) and "name" in own):
        # a variant that forgot its name writes where its parent does (a new-user pass:
        # `validate` passed it, `run` then refused the parent's results folder)
        notes.add(Loc(chain[0].file, "scenario.name"), MISSING,
                  f"not set, so the file takes its parent's name {sc['name']!r} and its "
                  f"results go where the parent's do ({sc['name']}/ in the output folder)",
                  hint="give a variant a [scenario] name of its own")
    problems.raise_if_any(chain[0].file)
    document = _document(merged, path)
    return Scenario(
        name=sc["name"],
        description=sc["description"],
        horizon_months=sc["horizon_months"],
        draws=sc["draws"],
        seed=sc["seed"],
        dataset=dataset_path,
        groups=groups,
        events=sorted_events,
        correlations=correlations,
        response=_response(response),
        stockpiles=tuple(stockpiles),
        capacities=tuple(capacities),
        path=path,
        files=tuple(layer.path for layer in chain),
        document=document,
        hash=scenario_hash(document),
        tensor=tensor,
        warnings=tuple(notes.lines),
    )


def _response(response: dict) -> dict:
    """The [response] table with version 1's `price_cap` read as `choke_price`."""
    out = {k: v for k, v in response.items() if k != "price_cap"}
    cap = response.get("price_cap")
    if cap is not None and cap is not BAD and out.get("choke_price") is None:
        out["choke_price"] = Dist.const(cap)
    return out


__all__ = ["load_scenario", "scenario_hash", "ScenarioError"]


def _whole_hint(v: float) -> str:
    """How to write the float v as a whole number: 12 for 12.0, "12 or 13" for 12.5."""
    if not math.isfinite(v):
        return ""
    if v == math.floor(v):
        return f"write {math.floor(v)} (without the decimal point)"
    return f"write {math.floor(v)} or {math.ceil(v)}"
