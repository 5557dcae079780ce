"""Collecting every problem in a scenario, each one a line a person can act on."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from simcore.errors import ScenarioError

# the text of each scenario file read by the load under way, by the name problems give it
_SOURCES: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "scenario_sources", default=None)


@contextmanager
def sources() -> Iterator[dict]:
    """Within it, files ``remember``ed give the problems in them a line number."""
    token = _SOURCES.set({})
    try:
        yield _SOURCES.get()
    finally:
        _SOURCES.reset(token)


def remember(file: str, text: str) -> None:
    """The text of ``file`` (as problems name it), for the line numbers of problems."""
    known = _SOURCES.get()
    if known is not None:
        known[file] = text


_SEGMENT = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")
_ARRAY_TABLE = re.compile(r"\[\[\s*([^\]]+?)\s*\]\]")
_TABLE = re.compile(r"\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r'((?:[A-Za-z0-9_\-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"))*)\s*=')


def line_of(text: str, path: str) -> int | None:
    """The line of a TOML ``text`` where the key ``path`` (``events[1].severity.max``)
    is written: the line of its deepest part found (the key ``severity`` of the second
    ``[[events]]``, where ``max`` is inline), None where not even its first part is (a
    key some other file sets). Tables and arrays of tables by their headers (a path
    without an index, an unknown ``[[event]]``, by the first), keys by ``key =`` or
    ``a.b =``; an array of tables nested in another's item is counted across items, and
    an item of an inline array (``events = [{...}]``) is found at the array's key."""
    want = [(m.group(1).strip().strip('"'), None if m.group(2) is None else int(m.group(2)))
            for m in _SEGMENT.finditer(path)]
    table: list = []
    counts: dict = {}
    best, found = 0, None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _ARRAY_TABLE.match(line):
            names = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            counts[names] = counts.get(names, -1) + 1
            table = [(p, None) for p in names[:-1]] + [(names[-1], counts[names])]
            here = table
        elif m := _TABLE.match(line):
            table = [(p.strip().strip('"'), None) for p in m.group(1).split(".")]
            here = table
        elif m := _KEY.match(line):  # a dotted key (severity.max = 1) is a path too
            here = [*table, *((p.strip().strip('"'), None) for p in m.group(1).split("."))]
        else:
            continue
        if len(here) > len(want) or len(here) <= best:
            continue
        if all(h[0] == w[0] and (h[1] is None or w[1] is None or h[1] == w[1])
               for h, w in zip(here, want, strict=False)):
            best, found = len(here), n
    return found


@dataclass(frozen=True)
class Loc:
    """Where a value sits: the file and its key path (``events[1].severity.max``)."""

    file: str
    path: str = ""
    item: str = ""  # the list item the path is in, by its id (``event "cn-ga"``)

    def key(self, name: str) -> Loc:
        return Loc(self.file, f"{self.path}.{name}" if self.path else name, self.item)

    def index(self, i: int) -> Loc:
        return Loc(self.file, f"{self.path}[{i}]", self.item)

    def named(self, item: str) -> Loc:
        return Loc(self.file, self.path, item)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def show(value) -> str:
    """A value as the user wrote it, shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value + '"'
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + " }"
    elif isinstance(value, list):
        text = "[" + ", ".join(show(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class Problems:
    """Accumulates problems; ``raise_if_any`` raises one ScenarioError listing all."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, loc: Loc, value, what: str, allowed: str = "", hint: str = "") -> None:
        text = f"{loc.file}: {loc.path}" if loc.path else f"{loc.file}"
        if value is not MISSING:
            text += f" = {show(value)}"
        text += f": {what}"
        if hint:
            text += hint if hint.startswith(" (") else f"; {hint}"
        if allowed:
            text += f"; allowed: {allowed}"
        if loc.item:
            text += f" [{loc.item}]"
        known = _SOURCES.get()
        source = known.get(loc.file) if known and loc.path else None
        line = line_of(source, loc.path) if source else None
        if line is not None:
            text += f" (line {line})"
        if text not in self.lines:
            self.lines.append(text)

    def __len__(self) -> int:
        return len(self.lines)

    def raise_if_any(self, file: str) -> None:
        if not self.lines:
            return
        n = len(self.lines)
        head = f"{n} problem{'s' if n > 1 else ''} in scenario {file}:"
        raise ScenarioError("\n  - ".join([head, *self.lines]), problems=self.lines)
