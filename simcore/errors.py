"""One exception family for everything a user can get wrong.

Each message names the file, the place in it (row or key path), the bad value, what is
allowed and the likely fix. The CLI turns these into a clean message and a non-zero exit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SupplyShockError(ValueError):
    """Base class: a problem in the user's input that the user can fix."""


class DatasetError(SupplyShockError):
    """A dataset folder is missing, malformed or inconsistent."""


class ScenarioError(SupplyShockError):
    """A scenario file is malformed or inconsistent with its dataset.

    ``problems`` holds every problem found in the file, one line each.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class ResultError(SupplyShockError):
    """A results folder is missing, incomplete or does not match what was asked."""


def suggest(name: str, choices: Iterable[str], n: int = 3,
            names: dict[str, str] | None = None) -> str:
    """`` (did you mean 'CHN'?)`` for the closest choices, or an empty string. ``names``
    (choice -> its full name, e.g. country codes' names) puts first the choices whose
    full name begins with ``name`` (three letters or more): 'GER' -> 'DEU' (Germany)."""
    choices = list(dict.fromkeys(choices))  # each once, whatever the caller passed
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
        close = [lowered[c] for c in close]
    if len(name) >= 2:  # codes that begin with it first: 'AU' -> 'AUS' (ISO alpha-2)
        start = name.upper()
        prefix = sorted((c for c in choices if c.upper().startswith(start) and c != name),
                        key=len)  # the shortest first: 'partners' -> 'partners-2026.toml'
        close = (prefix + [c for c in close if c not in prefix])[:n]
    if names and len(name) >= 3:
        start = name.lower()
        by_name = [c for c in choices if names.get(c, "").lower().startswith(start)]
        close = (by_name + [c for c in close if c not in by_name])[:n]
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
