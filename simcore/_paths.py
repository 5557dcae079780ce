"""Where supplyshock keeps per-user files. Imports nothing heavy (``data``, ``validate``
and ``--help`` stay instant)."""

from __future__ import annotations

import os


def user_cache_root() -> str:
    """``$XDG_CACHE_HOME/supplyshock`` (``~/.cache/supplyshock``): the parent of the
    default compiled-code cache (simcore/_numba.py) and of parsed datasets
    (simcore/dataset.py)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "supplyshock")
