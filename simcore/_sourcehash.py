"""A fingerprint of the simulator's compiled code: the engine, the kernel and the Numba
options. Numba's disk cache only notices edits to the file of the function it loads, not
to the functions it calls from other modules, so this fingerprint keys the cache folder
(simcore/_numba.py), travels in every manifest (simcore/api.py) and is checked by Dask
workers (simcore/dask_executor.py). Reading the files costs microseconds and no numba.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def engine_source_hash() -> str:
    """SHA-256 (first 16 hex digits) of engine.py, _numba.py and kernel/*.py."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in [root / "engine.py", root / "_numba.py", *sorted((root / "kernel").glob("*.py"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]
