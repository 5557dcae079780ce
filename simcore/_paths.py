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


def shell_word(path) -> str:
    """A path as one word of a command to paste into the user's shell: quoted for a
    POSIX shell where needed (a space), for cmd.exe on Windows."""
    import sys

    text = str(path)
    if sys.platform == "win32":
        import subprocess

        return subprocess.list2cmdline([text])
    import shlex

    return shlex.quote(text)
