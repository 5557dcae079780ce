"""The compiled-code cache (simcore/_numba.py).

- A pre-warmed cache on a read-only mount is used as it is: nothing is compiled, nothing
  written, least of all into the package (Numba's own fallback wrote `.nbi` files into
  simcore/kernel/__pycache__ and compiled again in every run).
- A read-only cache without the code: said once on stderr, compiled into a private
  folder keyed by the engine fingerprint, loaded from there the next time.

Read-only is made for real: ``chmod a-w`` for an ordinary user, the immutable attribute
(``chattr +i``) for root, whom permission bits do not stop; the subprocess runs as the
same user either way.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from simcore import api, engine
from tests.studies import CN_REFINING, write_study

PACKAGE = Path(__file__).parents[1] / "simcore"


def package_cache_files() -> set[str]:
    return {str(p) for p in PACKAGE.rglob("*.nb[ic]")}


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` and everything in it cannot be changed, for this user, while inside."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    made = subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {made.stderr.decode().strip()}")
    try:
        probe = folder / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)


@pytest.fixture
def scratch():
    """A folder outside pytest's private tmp tree (a subprocess reads it)."""
    folder = Path(tempfile.mkdtemp(prefix="supplyshock-first-run-"))
    try:
        yield folder
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def run_python(code: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=str(PACKAGE.parent), **env)
    return subprocess.run([sys.executable, "-c", code], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


# --- which folders -------------------------------------------------------------------------


def test_cache_folders_reads_a_read_only_cache_and_saves_elsewhere():
    from simcore._numba import _writable, cache_folders

    shared, mine, tmp = "/ro/src-1", "/home/me/.cache/src-1", "/tmp/me/src-1"
    assert cache_folders(shared, [mine, tmp], writable=lambda p: True) == (shared,)
    assert cache_folders(shared, [mine, tmp], writable=lambda p: p == tmp) == (shared, tmp)
    assert cache_folders(shared, [mine, tmp], writable=lambda p: p != shared) == (shared, mine)
    assert cache_folders(shared, [mine], writable=lambda p: False) == (shared,)
    assert cache_folders(shared, [shared], writable=lambda p: p != shared) == (shared,)
    if sys.platform.startswith("linux"):
        assert not _writable("/proc/supplyshock-nowhere")


def test_the_cache_is_keyed_by_the_engine_fingerprint_not_the_install_path():
    from simcore import _numba
    from simcore._sourcehash import engine_source_hash
    from simcore.kernel.model import run_draws

    assert _numba.SHARED_CACHE.endswith(f"src-{engine_source_hash()}")
    path = Path(run_draws.stats.cache_path)
    assert path.parent == Path(_numba.CACHE_FOLDERS[-1]) and path.name == "kernel"


# --- a read-only cache, for real --------------------------------------------------------------

SIMULATE = """
import json, sys
import simcore._numba as nb
from simcore import api, engine
from simcore.kernel.model import run_draws
said = []
prep = api.prepare("scenarios/tiny-cn.toml")
with nb.on_compile(lambda: said.append("compiling")):
    chunks = list(engine.simulate(prep.tensor, prep.compiled, draws=6, seed=3))
print(json.dumps({"said": said, "folders": nb.CACHE_FOLDERS, "file": nb.__file__,
                  "hits": sum(run_draws.stats.cache_hits.values()),
                  "misses": sum(run_draws.stats.cache_misses.values()),
                  "shortage": chunks[0].shortage_t.tolist()}))
"""


SIMULATE_NATIVE = """
import json, sys
from simcore import _native, api, engine
prep = api.prepare("scenarios/tiny-cn.toml")
chunks = list(engine.simulate(prep.tensor, prep.compiled, draws=6, seed=3))
print(json.dumps({"native": _native.in_use(), "numba": "numba" in sys.modules,
                  "shortage": chunks[0].shortage_t.tolist()}))
"""


def warm_study(scratch: Path) -> tuple[Path, list, Path]:
    """A tiny study, its first chunk simulated here, and the cache folder that holds the
    kernel this process loaded or compiled for it."""
    from simcore import _numba

    study = write_study(scratch / "study", {"tiny-cn.toml": CN_REFINING.format(name="tiny-cn")})
    prep = api.prepare(study / "scenarios" / "tiny-cn.toml")
    here = list(engine.simulate(prep.tensor, prep.compiled, draws=6, seed=3))
    warm = next(Path(f) for f in _numba.CACHE_FOLDERS
                if list(Path(f).glob("kernel/model.run_draws-*.nbi")))
    return study, here, warm


def test_a_pre_warmed_read_only_cache_is_used_as_it_is(scratch):
    from simcore import _numba

    study, here, warm = warm_study(scratch)
    shared = scratch / "shared"
    shutil.copytree(warm, shared / f"src-{_numba.FINGERPRINT}")
    before = package_cache_files()
    xdg = scratch / "xdg"
    with read_only(shared):
        proc = run_python(SIMULATE, {"NUMBA_CACHE_DIR": str(shared),
                                     "XDG_CACHE_HOME": str(xdg)}, study)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing to say: no compile, no fallback
    got = json.loads(proc.stdout)
    assert got["folders"][0] == str(shared / f"src-{_numba.FINGERPRINT}")
    assert got["said"] == [] and got["misses"] == 0 and got["hits"] >= 1
    np.testing.assert_array_equal(got["shortage"], here[0].shortage_t)
    assert package_cache_files() == before  # nothing written into the package
    assert not list(xdg.rglob("*.nb[ic]"))  # nor anywhere else


def test_a_wheel_built_from_source_carries_the_kernel_compiled_for_this_machine(scratch):
    """pip's wheel build runs setup.py's hook, which compiles the kernel into the
    package's _precompiled folder (here through this session's cache folder,
    SUPPLYSHOCK_PRECOMPILE_CACHE: its ahead-of-time code, which test_native.py's build
    shares, is compiled once a session); the installed package then runs on an empty
    NUMBA_CACHE_DIR without compiling or writing anything, with the same results."""
    import zipfile

    from simcore import _numba

    study, here, warm = warm_study(scratch)
    src = scratch / "src"
    src.mkdir()
    root = PACKAGE.parent
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(root / name, src / name)
    shutil.copytree(root / "_build", src / "_build",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE, src / "simcore",
                    ignore=shutil.ignore_patterns("__pycache__", "_precompiled"))
    env = dict(os.environ, SUPPLYSHOCK_PRECOMPILE_CACHE=str(warm.parent),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("SUPPLYSHOCK_NO_PRECOMPILE", None)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                            "-q", "-w", str(scratch / "wheel")],
                           env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (scratch / "wheel").glob("*.whl")
    assert "-none-any" not in wheel.name  # machine code: tagged for its platform
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(scratch / "site")
    pre = [n for n in names if "/_precompiled/" in n]
    # at the wheel's root, where the package is (not under .data/purelib)
    assert pre and all(n.startswith("simcore/_precompiled/") for n in pre), names
    folders = {n.split("/")[2] for n in pre}
    assert len(folders) == 1, names
    if folders != {_numba.precompiled_key()}:
        pytest.skip(f"pip's build environment has {folders.pop()}, this one "
                    f"{_numba.precompiled_key()}: the wheel's code is for those versions")
    assert any(n.endswith(".nbi") and f"/src-{_numba.FINGERPRINT}/kernel/model.run_draws-"
               in n for n in names)

    empty, xdg = scratch / "empty", scratch / "xdg"
    full = {k: v for k, v in os.environ.items() if k != "SUPPLYSHOCK_PRECOMPILED"}
    full.update(PYTHONPATH=str(scratch / "site"), NUMBA_CACHE_DIR=str(empty),
                XDG_CACHE_HOME=str(xdg))
    proc = subprocess.run([sys.executable, "-c", SIMULATE], env=full, cwd=study,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing compiled, nothing to say
    got = json.loads(proc.stdout)
    assert got["said"] == [] and got["misses"] == 0 and got["hits"] >= 1
    np.testing.assert_array_equal(got["shortage"], here[0].shortage_t)
    assert not list(empty.rglob("*.nb[ic]")) and not list(xdg.rglob("*.nb[ic]"))

    # with a C compiler, the wheel carries the kernel's library too: the installed
    # package runs it without importing Numba, with the same numbers (tests/test_native.py)
    if shutil.which("cc") and sys.platform.startswith("linux"):
        assert any(n.endswith("/native/kernel.so") for n in pre), names
        proc = subprocess.run([sys.executable, "-c", SIMULATE_NATIVE], cwd=study,
                              env=dict(full, SUPPLYSHOCK_NATIVE="1"),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        got = json.loads(proc.stdout)
        assert got["native"] and not got["numba"]
        np.testing.assert_array_equal(got["shortage"], here[0].shortage_t)

    # a checkout of the same sources, imported ahead of the installed package (python
    # started in the checkout, as the README's snippets are), reads the installed code
    full["PYTHONPATH"] = os.pathsep.join([str(src), str(scratch / "site")])
    proc = subprocess.run([sys.executable, "-c", SIMULATE], env=full, cwd=study,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    got = json.loads(proc.stdout)
    assert got["file"].startswith(str(src)), got["file"]  # the checkout's simcore ran
    assert got["said"] == [] and got["misses"] == 0 and got["hits"] >= 1
    assert not list(empty.rglob("*.nb[ic]")) and not list(xdg.rglob("*.nb[ic]"))


def test_precompile_refuses_bad_arguments_and_a_process_with_numba_loaded(tmp_path, capsys):
    import numba  # noqa: F401  (as in any process that has run the engine)

    from simcore import _precompile

    assert _precompile.main([]) == 2 and _precompile.main(["--cache", str(tmp_path)]) == 2
    assert "usage: python -m simcore._precompile" in capsys.readouterr().err
    # this process imported numba already: the cache folder can no longer be chosen
    assert _precompile.main([str(tmp_path / "out")]) == 1
    assert "must run before numba is imported" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


TINY_MODULE = """
from simcore._numba import jit

@jit
def twice(x):
    return 2.0 * x
"""

COMPILE_TINY = """
import json, sys
sys.path.insert(0, "mods")
import simcore._numba as nb
said = []
with nb.on_compile(lambda: said.append("compiling")):
    import tinymod
    assert tinymod.twice(3.0) == 6.0
print(json.dumps({"said": said, "folders": nb.CACHE_FOLDERS}))
"""


def test_a_read_only_cache_without_the_code_says_so_once_and_compiles_privately(scratch):
    from simcore import _numba

    (scratch / "mods").mkdir()
    (scratch / "mods" / "tinymod.py").write_text(TINY_MODULE)
    shared = scratch / "shared"
    shared.mkdir()
    xdg = scratch / "xdg"
    env = {"NUMBA_CACHE_DIR": str(shared), "XDG_CACHE_HOME": str(xdg)}
    before = package_cache_files()
    with read_only(shared):
        first = run_python(COMPILE_TINY, env, scratch)
        again = run_python(COMPILE_TINY, env, scratch)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    lines = first.stderr.splitlines()
    assert len(lines) == 1 and "cannot be written" in lines[0], first.stderr
    assert str(shared) in lines[0] and _numba.FINGERPRINT in lines[0]
    folders = json.loads(first.stdout)["folders"]
    private = Path(folders[-1])
    assert private.is_relative_to(xdg) and private.name == f"src-{_numba.FINGERPRINT}"
    assert json.loads(first.stdout)["said"] == ["compiling"]
    assert list(private.glob("mods/tinymod.twice-*.nbi"))  # kept, keyed by the fingerprint
    assert not list((scratch / "mods").rglob("*.nb[ic]"))  # never beside the source
    assert package_cache_files() == before
    # the next run loads it from the private folder: nothing said, nothing compiled
    assert again.stderr == "" and json.loads(again.stdout)["said"] == []


def test_damaged_compiled_code_is_compiled_again_not_fatal(scratch):
    """A truncated data file or an overwritten index, in the cache or in the code
    compiled at install: said once on stderr, compiled again, the run goes on; the
    cache's damaged index is replaced, so the next run loads quietly."""
    from simcore import _numba

    (scratch / "mods").mkdir()
    (scratch / "mods" / "tinymod.py").write_text(TINY_MODULE)
    cache = scratch / "cache"
    env = {"NUMBA_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(scratch / "xdg")}
    first = run_python(COMPILE_TINY, env, scratch)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    folder = cache / f"src-{_numba.FINGERPRINT}" / "mods"
    (index,) = folder.glob("tinymod.twice-*.nbi")
    (data,) = folder.glob("tinymod.twice-*.nbc")
    for damage in (lambda: index.write_bytes(b"garbage\n"),
                   lambda: data.write_bytes(data.read_bytes()[:40])):
        damage()
        hit = run_python(COMPILE_TINY, env, scratch)
        assert hit.returncode == 0, hit.stderr
        assert "cannot be read" in hit.stderr and "compiled again" in hit.stderr
        assert len(hit.stderr.splitlines()) == 1, hit.stderr
        assert json.loads(hit.stdout)["said"] == ["compiling"]
        again = run_python(COMPILE_TINY, env, scratch)  # repaired by the new save
        assert again.returncode == 0 and again.stderr == "", again.stderr
        assert json.loads(again.stdout)["said"] == []

    # the same in a folder of code compiled at install (read only, never repaired)
    pre = scratch / "pre" / _numba.precompiled_key()
    shutil.copytree(cache / f"src-{_numba.FINGERPRINT}", pre / f"src-{_numba.FINGERPRINT}")
    (pre / f"src-{_numba.FINGERPRINT}" / "mods" / index.name).write_bytes(b"\x80garbage")
    fresh = dict(env, NUMBA_CACHE_DIR=str(scratch / "empty"),
                 SUPPLYSHOCK_PRECOMPILED=str(scratch / "pre"))
    hit = run_python(COMPILE_TINY, fresh, scratch)
    assert hit.returncode == 0, hit.stderr
    assert "cannot be read" in hit.stderr and str(pre) in hit.stderr
    assert json.loads(hit.stdout)["said"] == ["compiling"]


def test_code_compiled_at_install_for_another_numba_is_named_when_compiling(scratch):
    (scratch / "mods").mkdir()
    (scratch / "mods" / "tinymod.py").write_text(TINY_MODULE)
    (scratch / "pre" / "numba0.0.1" / "src-0").mkdir(parents=True)
    env = {"NUMBA_CACHE_DIR": str(scratch / "cache"), "XDG_CACHE_HOME": str(scratch / "xdg"),
           "SUPPLYSHOCK_PRECOMPILED": str(scratch / "pre")}
    proc = run_python(COMPILE_TINY, env, scratch)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "compiled at install" in line and "is not used" in line
    assert "compiled with numba0.0.1 and this is numba" in line
    assert json.loads(proc.stdout)["said"] == ["compiling"]
    again = run_python(COMPILE_TINY, env, scratch)  # loaded from the cache: nothing said
    assert again.returncode == 0 and again.stderr == "", again.stderr


# --- the compile hooks (simcore/_numba.py, "the compile") ---------------------------------


def _branchy(a, i):
    acc = 0.0
    for k in range(i):
        if a[k] > 0.5:
            acc += a[k] * k
        elif a[k] < 0.1:
            acc -= 1.0
        else:
            acc *= 0.5
    return acc


def _sum_of(helper):
    def total(a):
        t = 0.0
        for i in range(a.shape[0]):
            t += helper(a, i)
        return t

    return total


def test_the_compile_hooks_act_on_an_engine_compile_and_change_no_result():
    """Each hook falls back to Numba's own behaviour where Numba's internals differ; this
    fails when a Numba upgrade makes one fall back or stop acting (the first compile
    would be back at 28 s instead of about 19 s: benchmarks/README.md, bench_compile.py).
    A function with an inlined, branchy helper compiled as the engine's (scope copies
    shared, no function pre-pass; not cached, so compiled in every run) gives what the
    same code compiled plainly by Numba gives, and what Python gives."""
    import numba

    from simcore import _numba

    assert _numba.SKIP_FUNCTION_PREPASS
    roomy = _numba._roomy_call()
    assert roomy.__code__.co_nlocals >= 70_000  # the frame that gets its own 1 MiB chunk
    assert roomy(lambda x: x * 2, 21) == 42

    before = dict(_numba.HOOK_CALLS)
    options = dict(_numba._OPTIONS)
    helper = _numba._engine_compiles(numba.njit(inline="always", **options)(_branchy))
    as_engine = _numba._engine_compiles(numba.njit(**options)(_sum_of(helper)))
    plainly = numba.njit(_sum_of(numba.njit(inline="always")(_branchy)))
    a = np.random.default_rng(5).random(300)
    expected = sum(_branchy(a, i) for i in range(a.shape[0]))
    assert as_engine(a) == expected
    assert _numba.HOOK_CALLS["prepass_skipped"] > before["prepass_skipped"]
    assert _numba.HOOK_CALLS["scope_shared"] > before["scope_shared"]
    assert _numba._share_scope_copies()  # in place: True, installed once
    during_plain = dict(_numba.HOOK_CALLS)
    assert plainly(a) == expected
    assert _numba.HOOK_CALLS == during_plain  # plain Numba code: no hook acted


def test_the_ahead_of_time_build_keeps_the_function_pre_pass(monkeypatch):
    """simcore._precompile compiles with the pre-pass (AHEAD_OF_TIME): the library runs
    7 % fewer instructions. An engine compile then skips nothing and gives the bits
    the skipping compile gives."""
    import numba

    from simcore import _numba

    options = dict(_numba._OPTIONS)
    a = np.random.default_rng(6).random(300)

    def compile_engine():
        helper = _numba._engine_compiles(numba.njit(inline="always", **options)(_branchy))
        return _numba._engine_compiles(numba.njit(**options)(_sum_of(helper)))

    skipped = _numba.HOOK_CALLS["prepass_skipped"]
    fast_compile = compile_engine()(a)
    assert _numba.HOOK_CALLS["prepass_skipped"] > skipped
    monkeypatch.setattr(_numba, "AHEAD_OF_TIME", True)
    skipped = _numba.HOOK_CALLS["prepass_skipped"]
    assert compile_engine()(a) == fast_compile
    assert _numba.HOOK_CALLS["prepass_skipped"] == skipped



def _exp_and_log(x, out):
    for i in range(x.shape[0]):
        out[0, i] = math.exp(x[i])
        out[1, i] = math.log(abs(x[i]) + 1e-300)


def test_the_engine_calls_the_cores_of_exp_and_log_with_the_same_bits():
    """On glibc the engine's exp and log are bound to the library's cores, without Numba's
    jump and glibc's errno wrapper (4-6 % of the kernel: benchmarks/README.md, "Tenth
    session"), and give what Python's math gives, bit for bit, over the ranges the
    kernel meets and beyond (overflow to infinity, underflow to zero included)."""
    import llvmlite.binding as ll
    import numba

    from simcore import _native, _numba

    fn = _numba._engine_compiles(numba.njit(**_numba._OPTIONS)(_exp_and_log))
    x = np.concatenate([np.random.default_rng(7).uniform(-30.0, 30.0, 100_000),
                        np.random.default_rng(8).uniform(-760.0, 720.0, 20_000),
                        [0.0, -0.0, 1e-320, 709.78, 709.79, -745.13, -745.14]])
    out = np.empty((2, x.shape[0]))
    with np.errstate(over="ignore"):
        fn(x, out)
    bound = _numba.bind_libm()
    core = _native.libm_core_address("exp")
    if platform.libc_ver()[0] == "glibc" and platform.machine() in ("x86_64", "aarch64"):
        assert core  # where glibc has the cores, they are found ...
    if core:
        assert bound == ("exp", "log")  # ... and bound
        assert ll.address_of_symbol("exp") == core
    else:
        assert bound == ()
    for i, v in enumerate(x):
        try:
            e = math.exp(v)
        except OverflowError:
            e = math.inf
        assert out[0, i] == e, (v, out[0, i], e)
        assert out[1, i] == math.log(abs(v) + 1e-300), v


def _printing(a, i):
    print("at", i)  # reads Numba's environment (the constant string as a Python object)
    return a[i]


def test_an_internal_function_is_compiled_without_its_own_machine_code(capfd):
    """A function only other kernel functions call (no Python entry point) is finalised
    without handing its module to the JIT and is not cached (the first compile 1.1-1.3 s
    shorter): its caller, which links its IR, gives what Python gives. One whose code
    reads Numba's environment (a print) is finalised as Numba does, and runs."""
    import numba

    from simcore import _numba

    assert _numba.SKIP_INTERNAL_MACHINE_CODE
    options = dict(_numba._OPTIONS)
    before = _numba.HOOK_CALLS["code_skipped"]
    helper = _numba._engine_compiles(numba.njit(no_cpython_wrapper=True, **options)(_branchy),
                                     internal=True)
    caller = _numba._engine_compiles(numba.njit(**options)(_sum_of(helper)))
    a = np.random.default_rng(6).random(200)
    assert caller(a) == sum(_branchy(a, i) for i in range(a.shape[0]))
    assert _numba.HOOK_CALLS["code_skipped"] == before + 1
    (overload,) = helper.overloads.values()
    assert overload.library.supplyshock_without_code

    printing = _numba._engine_compiles(numba.njit(no_cpython_wrapper=True)(_printing),
                                       internal=True)
    caller = _numba._engine_compiles(numba.njit(_sum_of(printing)))
    assert caller(a[:3]) == a[:3].sum()
    assert capfd.readouterr().out.split() == ["at", "0", "at", "1", "at", "2"]
    assert _numba.HOOK_CALLS["code_skipped"] == before + 1  # not skipped: it reads its env


_PRINTING_MODULE = """
from simcore._numba import _OPTIONS, _decorator

options = {k: v for k, v in _OPTIONS.items() if k != "nogil"}  # fails, not waits, if wrong
internal = _decorator(no_cpython_wrapper=True, **options)
plain = _decorator(**options)


@internal
def printing(a, i):
    print("at", i)
    return a[i]


@plain
def first(a):
    t = 0.0
    for i in range(a.shape[0]):  # an int64 index, as second's: one signature of printing
        t += printing(a, i)
    return t


@plain
def second(a):
    t = 1.0
    for i in range(a.shape[0]):
        t += printing(a, i)
    return t
"""


def test_an_internal_function_that_reads_its_environment_is_cached_and_reused(tmp_path):
    """The same printing function, cached in one process and loaded from the cache in
    another to compile a new caller: the library rebuilt from the cache is finalised as
    Numba does (its environment set), so the new caller runs. (Skipping it, as a first
    version of the hook did, left the caller without an environment: "missing
    Environment", or a hang under nogil.)"""
    (tmp_path / "printmod").mkdir()
    (tmp_path / "printmod" / "printing_module.py").write_text(_PRINTING_MODULE)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path / "printmod"), str(PACKAGE.parent)]))
    code = "import numpy as np, printing_module as m; print('=', m.{}(np.arange(2.0)))"
    outs = [subprocess.run([sys.executable, "-c", code.format(fn)], env=env, timeout=120,
                           capture_output=True, text=True, check=True).stdout.split()
            for fn in ("first", "first", "second")]
    assert outs == [["at", "0", "at", "1", "=", "1.0"]] * 2 + [["at", "0", "at", "1", "=", "2.0"]]


def test_the_kernel_compiles_without_reference_counting_and_importing_compiles_nothing():
    """The kernel's options carry _nrt=False on this Numba (3.3x the speed: a Numba
    upgrade that drops the option fails here, not silently in the draws per second), and
    importing the decorators compiles nothing (a probe compile cost every command 0.4 s
    of Numba's context set-up, those that never run the kernel too)."""
    code = ("import numba.core.registry as r, simcore._numba as n; "
            "print(n._OPTIONS.get('_nrt'), r.cpu_target.typing_context._registries == {})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


def test_a_cached_kernel_runs_without_setting_up_numbas_compiler():
    """Loading the kernel's machine code from the cache does not set up Numba's typing
    and target contexts (Numba's own cache does: about 0.3 s of every start) nor make
    the roomy compile frame (0.02 s), and the kernel loaded so gives the numbers it gives
    when Numba sets them up first. Run twice in fresh processes: the first may compile
    (and so set them up), the second loads."""
    scenario = PACKAGE.parent / "scenarios" / "partners-2026.toml"
    code = (
        "import sys, hashlib, numba.core.registry as r\n"
        "from simcore import engine\n"
        "from simcore.dataset import builtin_path, load_dataset\n"
        "from simcore.scenario import compile_scenario, load_scenario\n"
        "if sys.argv[2] == 'set-up': numba.njit(lambda x: x)(1)\n"
        "s = load_scenario(sys.argv[1], load_dataset(builtin_path()))\n"
        "c = compile_scenario(s)\n"
        "h = hashlib.sha256()\n"
        "for chunk in engine.simulate(s.tensor, c, draws=6, threads=1):\n"
        "    h.update(chunk.shortage_t.tobytes()); h.update(chunk.zone_hist.tobytes())\n"
        "from simcore import _numba\n"
        "print(len(r.cpu_target.typing_context._registries), h.hexdigest(),\n"
        "      _numba._roomy_call.cache_info().currsize)\n"
    ).replace("numba.njit", "__import__('numba').njit")
    runs = [subprocess.run([sys.executable, "-c", code, str(scenario), how],
                           capture_output=True, text=True, check=True).stdout.split()
            for how in ("warm", "plain", "set-up")]
    assert runs[1][0] == "0"  # loaded from the cache: nothing set up
    assert runs[2][0] != "0"  # the check can fail: a compile sets them up
    assert runs[0][1] == runs[1][1] == runs[2][1]
    assert runs[1][2] == "0"  # no roomy frame made for a cache hit


def test_the_kernel_runs_as_python_under_numba_disable_jit(tmp_path):
    """NUMBA_DISABLE_JIT=1 (debugging the kernel in Python) makes the decorators return
    the functions themselves: the compile hooks must leave them alone."""
    code = (
        "import numpy as np\n"
        "from simcore.kernel.market import allocate\n"
        "d = allocate(np.array([6.0]), np.array([4.0, 4.0]), np.full((1, 2), np.inf))\n"
        "print(d.tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_DISABLE_JIT="1"), cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [3.0, 3.0]


def test_a_checkout_says_why_the_installed_distributions_code_is_not_used(tmp_path,
                                                                        monkeypatch):
    """A checkout run from its own folder after `pip install .` reads the installed
    distribution's compiled code; where that was compiled from other engine sources (the
    checkout was edited since), the compile that follows says so, naming that folder,
    instead of compiling without a word."""
    from simcore import _numba

    own = tmp_path / "checkout" / "_precompiled"  # a checkout has none of its own
    installed = tmp_path / "site-packages" / "simcore" / "_precompiled"
    (installed / _numba.precompiled_key() / "src-0123").mkdir(parents=True)
    monkeypatch.delenv("SUPPLYSHOCK_PRECOMPILED", raising=False)
    monkeypatch.setattr(_numba, "_precompiled_base", lambda: str(own))
    monkeypatch.setattr(_numba, "_installed_base", lambda: str(installed))
    monkeypatch.setattr(_numba, "PRECOMPILED", None)
    base, why = _numba._precompiled_unused()
    assert base == str(installed)
    assert "other engine sources than this checkout's" in why and "pip install ." in why
    monkeypatch.setattr(_numba, "_installed_base", lambda: None)
    assert _numba._precompiled_unused() is None


def test_the_first_engine_compile_puts_the_scope_sharing_hook_in_place():
    """The hook is not installed at import (its module costs a cached run 0.08 s) but by
    the first engine compile that misses the cache, before anything is inlined: checked in
    a fresh interpreter, where nothing compiled before."""
    code = (
        "import numba, numpy as np\n"
        "from simcore import _numba\n"
        "print(_numba._share_scope_copies.cache_info().currsize)\n"
        "f = _numba._engine_compiles(numba.njit(**_numba._OPTIONS)(lambda a: a.sum()))\n"
        "assert f(np.ones(3)) == 3.0\n"
        "from numba.core import inline_closurecall\n"
        "print(_numba._share_scope_copies.cache_info().currsize,\n"
        "      type(inline_closurecall.copy).__name__)\n"
    )
    out = run_python(code, {}, PACKAGE.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "SharedScopeCopy"]
