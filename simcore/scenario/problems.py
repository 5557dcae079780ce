"""Collecting every problem in a scenario, each one a line a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

from simcore.errors import ScenarioError


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
