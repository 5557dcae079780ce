"""The names of a results folder's files that the run's start needs before any table: no
pyarrow here (simcore/results/__init__.py)."""

from __future__ import annotations

MANIFEST = "run.json"
