"""The kernel's shared library (simcore/_native.py): built as the precompile builds it,
run without importing Numba, the same numbers as Numba's dispatcher, and Numba where the
library does not fit (another CPU, Python or argument types, or asked not to)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from simcore import _native

ROOT = Path(__file__).resolve().parents[1]

needs_library = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _native.compiler() is None,
    reason="the library is built on Linux with a C compiler")

# a run's numbers and whether it imported Numba, in a fresh process
RUN = """
import hashlib, json, sys
import numpy as np
from simcore import _native, api
from simcore.kernel.structs import NPB
res = api.run("scenarios/partners-2026.toml", draws=300, out=sys.argv[1])
from simcore._native import kernel_function
f = kernel_function("add_rows_f32")
sums = np.zeros(3)
f(sums, np.arange(6, dtype=np.float64).reshape(2, 3) + 0.1)  # the compiled types
imported = "numba" in sys.modules
other = np.zeros(3)
f(other, np.arange(6, dtype=np.float32).reshape(2, 3) + 0.1)  # another type: Numba's
import numba
from numba.core import typing  # noqa: F401  (numba itself works, its extensions in place)
assert numba._helperlib is sys.modules["numba._helperlib"] and hasattr(numba, "_dynfunc")
print(json.dumps({"numba": imported, "native": _native.in_use(),
                  "digest": res.manifest["digest"]["sha256"],
                  "sums": sums.tolist(), "other": other.tolist()}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The precompiled folder (Numba's entries and the library), built from the Numba
    cache this session compiled into (or compiling, run alone)."""
    folder = tmp_path_factory.mktemp("native") / "pre"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SUPPLYSHOCK_PRECOMPILED", None)
    cache = os.environ.get("NUMBA_CACHE_DIR")
    args = [sys.executable, "-m", "simcore._precompile"]
    if cache:
        args += ["--cache", cache]
    done = subprocess.run([*args, str(folder)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    (native,) = folder.glob("numba*/src-*/native")
    return folder, native


def run(folder: Path, out: Path, native: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), SUPPLYSHOCK_PRECOMPILED=str(folder),
               SUPPLYSHOCK_NATIVE=native)
    proc = subprocess.run([sys.executable, "-c", RUN, str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    # nothing compiled, nothing said, but for the float32 rows (no code for them was
    # compiled at install)
    assert all("compiling it into the cache once" in line
               for line in proc.stderr.splitlines()), proc.stderr
    return json.loads(proc.stdout)


@needs_library
def test_the_library_runs_the_study_without_numba_with_numba_s_numbers(built, tmp_path):
    folder, native = built
    record = json.loads((native / _native.MANIFEST).read_text())
    assert set(record["entries"]) == set(_native.ENTRIES)
    assert record["cpu"] == _native.cpu_identity()
    lib = run(folder, tmp_path / "lib", "1")
    assert lib["native"] and not lib["numba"]
    plain = run(folder, tmp_path / "numba", "0")
    assert not plain["native"] and plain["numba"]
    assert lib["digest"] == plain["digest"]
    assert lib["sums"] == plain["sums"]
    # float32 rows: not the library's types, so Numba ran them (and imported itself)
    assert lib["other"] == plain["other"] == pytest.approx([3.2, 5.2, 7.2], rel=1e-6)


@needs_library
def test_a_library_built_for_another_cpu_python_or_loader_is_left_to_numba(built, tmp_path):
    folder, native = built
    for field, value in (("cpu", "x86_64|model name=another"), ("python", "cpython-399|.so"),
                         ("loader", "0123456789abcdef")):
        copy = tmp_path / field
        shutil.copytree(folder, copy)
        (manifest,) = copy.glob(f"numba*/src-*/native/{_native.MANIFEST}")
        record = json.loads(manifest.read_text())
        record[field] = value
        manifest.write_text(json.dumps(record))
        got = run(copy, tmp_path / f"out-{field}", "1")
        assert not got["native"] and got["numba"], field


def test_signature_tells_apart_what_numba_s_dispatcher_does():
    a = np.zeros((3, 4))
    sig = _native.signature
    assert sig((a,)) == sig((np.ones((3, 4)),))
    different = [a.astype(np.float32), a[:, :2], np.asfortranarray(a), a.reshape(12),
                 a.reshape(3, 4, 1)]
    read_only = a.copy()
    read_only.flags.writeable = False
    different.append(read_only)
    assert len({sig((a,))} | {sig((x,)) for x in different}) == len(different) + 1
    assert sig((1,)) == ("int64",) and sig((2**63,)) == ("uint64",)
    assert sig((np.uint64(1),)) == ("<u8",) and sig((True,)) == sig((np.bool_(False),))
    assert sig((1.5,)) == ("float64",) and sig(("text",)) is None
    Pair = namedtuple("Pair", "x y")
    assert sig((Pair(a, 1),)) != sig((Pair(a, 1.0),))
    assert sig((Pair(a, 1), a)) != sig((Pair(a, a), 1))


def test_no_library_means_numba_s_dispatcher(monkeypatch):
    from simcore.kernel import binsums

    monkeypatch.setattr(_native, "_library", lambda: None)
    assert _native.function("run_draws") is None and not _native.in_use()
    assert _native.kernel_function("add_rows_f32") is binsums.add_rows_f32


def test_numba_settings_the_library_was_not_compiled_with_turn_it_off(monkeypatch):
    monkeypatch.delenv("SUPPLYSHOCK_NATIVE", raising=False)
    assert _native._enabled()
    for name in ("NUMBA_DISABLE_JIT", "NUMBA_BOUNDSCHECK"):
        monkeypatch.setenv(name, "1")
        assert not _native._enabled(), name
        monkeypatch.setenv(name, "0")
        assert _native._enabled(), name
    monkeypatch.setenv("SUPPLYSHOCK_NATIVE", "0")
    assert not _native._enabled()


@needs_library
def test_a_library_with_a_symbol_nothing_provides_is_named_at_build(tmp_path):
    """The build loads what it linked (``load_problem``): a reference no library
    resolves, as a Numba helper the stub lacks would be, is reported with its name;
    resolved ones (libm's, the Python C API's) load."""
    good = "double exp(double);\nvoid Py_IncRef(void *);\n" \
           "double good(double x) { Py_IncRef(0); return exp(x); }\n"
    bad = good + "int numba_helper_nobody_has(int);\n" \
                 "int bad(int x) { return numba_helper_nobody_has(x); }\n"
    made = {}
    for name, code in (("good", good), ("bad", bad)):
        (tmp_path / f"{name}.c").write_text(code)
        made[name] = tmp_path / f"{name}.so"
        subprocess.run([*_native.compiler(), "-shared", "-fPIC", "-o", str(made[name]),
                        str(tmp_path / f"{name}.c"), "-lm"], check=True, capture_output=True)
    assert _native.load_problem(made["good"]) is None
    why = _native.load_problem(made["bad"])
    assert why is not None and "numba_helper_nobody_has" in why
