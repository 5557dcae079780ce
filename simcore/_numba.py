"""Numba options in one place: kernels use these decorators, never spell options out.

Importing this module imports numba (slow); only kernel modules import it, so that
``validate``, ``data`` and ``--help`` stay instant.

**Where compiled code is kept.** In ``$NUMBA_CACHE_DIR/src-<fingerprint>`` (default
``NUMBA_CACHE_DIR``: a per-user folder that includes the package and numba versions), the
fingerprint being that of the engine and kernel sources (simcore/_sourcehash.py): Numba's
own check only notices edits to the file of the function it loads, so without it an
edited helper in another module could run stale. Inside it, a module's code sits in a
folder named after the module's folder (``kernel``), not after where the package is
installed, and its freshness stamp is the fingerprint: a cache made by one installation
serves any other with the same sources, Numba and machine.

A cache folder that cannot be written (a cluster image, a CI cache on a read-only mount)
is used as it is: compiled code is loaded from it, and only code it lacks is compiled,
said once on stderr, and kept in a private folder of this user, also keyed by the
fingerprint, never in the package (Numba's own fallback wrote ``.nbi`` files into
``simcore/kernel/__pycache__``, a folder no fingerprint keys).

Before any cache folder, code compiled ahead of time is read from the package's own
``_precompiled/numba<version>/src-<fingerprint>`` (written when a wheel is built from
source: setup.py, simcore/_precompile.py), where it exists; entries compiled for another
CPU are passed over like any cache miss.

``on_compile(callback)`` calls ``callback()`` before the first engine function in the
block is compiled rather than loaded: the run's "compiling the simulator once" line.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import threading


def _default_cache_dir() -> str:
    import numba

    from simcore import __version__
    from simcore._paths import user_cache_root

    return os.path.join(user_cache_root(), f"{__version__}-numba{numba.__version__}")


def _writable(path: str) -> bool:
    """Whether files can be made in ``path`` (created if missing): a real write, since
    permission bits do not tell about read-only mounts, and root ignores them."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def cache_folders(shared: str, private: list[str], writable=_writable) -> tuple[str, ...]:
    """The folders compiled code is looked up in, in order; new code is saved in the last.

    ``shared``: the cache folder asked for (``$NUMBA_CACHE_DIR/src-<fingerprint>``),
    used alone when it can be written. Otherwise it is only read, and the first writable
    of the ``private`` candidates follows it (none writable: nothing is saved).
    """
    if writable(shared):
        return (shared,)
    for folder in private:
        if folder != shared and writable(folder):
            return (shared, folder)
    return (shared,)


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = _default_cache_dir()

import numba  # noqa: E402  (the cache folder must be set before numba reads its config)

# Numba's C extensions that the kernel's library loaded on their own (simcore/_native.py)
# before numba was imported: attributes of the package, as numba's own import makes them
for _name in ("_helperlib", "_dynfunc"):
    if not hasattr(numba, _name) and f"numba.{_name}" in sys.modules:
        setattr(numba, _name, sys.modules[f"numba.{_name}"])

from simcore import _native  # noqa: E402
from simcore._sourcehash import engine_source_hash  # noqa: E402

FINGERPRINT = engine_source_hash()
SHARED_CACHE = os.path.join(os.environ["NUMBA_CACHE_DIR"], f"src-{FINGERPRINT}")
CACHE_FOLDERS = cache_folders(
    SHARED_CACHE,
    [
        os.path.join(_default_cache_dir(), f"src-{FINGERPRINT}"),
        os.path.join(
            tempfile.gettempdir(),
            f"supplyshock-{os.getuid() if hasattr(os, 'getuid') else 'user'}",
            os.path.basename(_default_cache_dir()),
            f"src-{FINGERPRINT}",
        ),
    ],
)


def precompiled_key() -> str:
    """The version code compiled ahead of time is kept under: Numba's (the build
    environment's may differ from the one installed beside the package). Not NumPy's:
    like Numba's own cache and the cache folders here, compiled code does not depend on
    it (the results of the partner study are the same from code compiled with NumPy
    2.4.6 and run with 2.3.5)."""
    return f"numba{numba.__version__}"


def _precompiled_base() -> str:
    return _native.precompiled_base()


def _installed_base() -> str | None:
    """The precompiled folder of the installed distribution, where this module's is not
    it (simcore/_native.py, ``installed_base``)."""
    return _native.installed_base(_precompiled_base())


def precompiled_folder() -> str | None:
    """The code compiled when this package was built from source (setup.py runs
    simcore/_precompile.py), for this Numba and engine fingerprint, where there is
    any: read before the cache folders, never written. ``SUPPLYSHOCK_PRECOMPILED`` names
    another folder of that layout (``numba<version>/src-<fingerprint>``). A package
    without such a folder (a checkout, an editable install) reads the installed
    distribution's, where that was built from the same engine sources (the
    fingerprint is in the path). The same lookup as the kernel's library's
    (simcore/_native.py, ``find_precompiled``)."""
    return _native.find_precompiled(os.path.join(precompiled_key(), f"src-{FINGERPRINT}"))


def _precompiled_unused() -> tuple[str, str] | None:
    """Where the code compiled at install is, where the package (or, from a checkout, the
    installed distribution) has some, and why it is not what this run loads (None where
    there is none)."""
    base = _precompiled_base()
    keys = _listing(base)
    installed = False
    if not keys and "SUPPLYSHOCK_PRECOMPILED" not in os.environ:
        other = _installed_base()
        if other is not None:
            base, keys, installed = other, _listing(other), True
    if not keys:
        return None
    if PRECOMPILED is not None:
        return base, "it was compiled for another CPU, or does not hold this function"
    if precompiled_key() not in keys:
        return base, (f"it was compiled with {', '.join(keys)} and this is "
                      f"{precompiled_key()} (the build environment got another Numba than "
                      "the one installed)")
    if installed:
        return base, (f"it was compiled from other engine sources than this checkout's "
                      f"({FINGERPRINT}); `pip install .` here compiles these")
    return base, f"it was compiled from other engine sources than these ({FINGERPRINT})"


def _listing(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


PRECOMPILED = precompiled_folder()
# where compiled code is looked up, in order (saved only into the last)
READ_FOLDERS = ((PRECOMPILED,) if PRECOMPILED else ()) + CACHE_FOLDERS

# Anything else Numba caches in this process goes where this module saves, never into
# the package's __pycache__.
numba.config.CACHE_DIR = CACHE_FOLDERS[-1]

# LLVM's loop and SLP vectorisers halve the first compile of the model kernel's large,
# branchy functions (about 2x on 2 cores) and bring no measurable speed there. Numba reads
# these when its CPU codegen starts, i.e. at the first compile after this import.
# An explicit NUMBA_LOOP_VECTORIZE / NUMBA_SLP_VECTORIZE in the environment wins.
if "NUMBA_LOOP_VECTORIZE" not in os.environ:
    numba.config.LOOP_VECTORIZE = 0
if "NUMBA_SLP_VECTORIZE" not in os.environ:
    numba.config.SLP_VECTORIZE = 0


# --- the exponential and logarithm, without the error-reporting wrappers --------------------

@functools.cache
def bind_libm() -> tuple[str, ...]:
    """Bind the kernel's ``exp`` and ``log`` to glibc's cores (``__exp_finite``,
    ``__log_finite``) instead of Numba's route to them; returns the names bound.

    Numba resolves the ``exp`` its code calls to ``numba_exp`` in its helper library,
    which jumps to glibc's ``exp@GLIBC_2.2.5``: a wrapper that calls the core, then
    checks the result to set ``errno`` on overflow. The kernel reads no ``errno``, and
    the root searches of the zone markets make about 5,000 such calls a draw of the
    partner study: the jump and the wrapper were 4-6 % of the kernel's time (perf), and
    calling the core directly gives the same bits, since the core is what the wrapper
    returns (the wrapper only replaces an overflow by the same infinity and an
    underflow by the same zero; only the logarithm of a negative number differs, a NaN
    of the other sign, and the kernel takes logarithms of positive numbers only). So,
    on glibc, each name is bound to its core (``dlvsym``, version GLIBC_2.15 on x86-64,
    GLIBC_2.17 on aarch64 and ppc64le; ``__exp_finite`` is an ifunc, resolved to the
    implementation for this processor), after checking on a few arguments that it
    returns what Python's ``math`` does (simcore/_native.py, ``libm_cores``; the
    kernel's library binds the same); where glibc has no such core (newer ports),
    anywhere else, or if a check differs, nothing changes. Called before the first
    engine function is loaded or compiled (``_engine_compiles``), after Numba has made
    its own bindings, which it does once per process, when its CPU target is first set up."""
    cores = _native.libm_cores()
    if not cores:
        return ()
    import llvmlite.binding as ll
    from numba.core.registry import cpu_target

    cpu_target.target_context  # noqa: B018 - Numba's own bindings first (once a process)
    for name, address in cores.items():
        ll.add_symbol(name, address)
    return tuple(cores)


# --- the cache ------------------------------------------------------------------------------

_compile_listeners: list = []  # callbacks of on_compile blocks, each called once
_said: set[str] = set()  # messages already printed by this process


def _say_once(text: str) -> None:
    if text not in _said:
        _said.add(text)
        print(f"supplyshock: {text}", file=sys.stderr, flush=True)


def _damaged(cache, exc: Exception) -> None:
    """A file of compiled code that cannot be read (truncated, overwritten): said once;
    the code is compiled again as if the file were missing."""
    path = str(getattr(cache, "cache_path", "?"))
    fix = ""
    if PRECOMPILED is not None and path.startswith(PRECOMPILED):
        fix = " (reinstall supplyshock to replace the code compiled at install)"
    _damage_seen.append(path)
    _say_once(
        f"compiled code in {path} cannot be read "
        f"({type(exc).__name__}: {str(exc)[:120]}); it is compiled again{fix}"
    )


_damage_seen: list[str] = []


def _compiling() -> None:
    """An engine function is about to be compiled (no folder had it)."""
    unused = None if _damage_seen else _precompiled_unused()
    if unused:
        base, why = unused
        _say_once(f"the simulator compiled at install ({base}) is not used: {why}; "
                  "compiling it into the cache once")
    if len(CACHE_FOLDERS) > 1:
        _say_once(
            f"the Numba cache {SHARED_CACHE} cannot be written and does not hold this "
            f"engine ({FINGERPRINT}) compiled for this machine; compiling into "
            f"{CACHE_FOLDERS[-1]} instead"
        )
    elif not _writable(CACHE_FOLDERS[-1]):
        _say_once(
            f"no cache folder can be written ({SHARED_CACHE} and this user's own are "
            f"read-only): the simulator is compiled again in every run; set NUMBA_CACHE_DIR "
            f"to a folder you can write"
        )
    while _compile_listeners:
        _compile_listeners.pop(0)()


@contextlib.contextmanager
def on_compile(callback):
    """Within the block, call ``callback()`` once before the first engine function is
    compiled instead of loaded from the cache (never when everything loads)."""
    if callback is None:
        yield
        return
    _compile_listeners.append(callback)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            _compile_listeners.remove(callback)


def _tiered_cache_class():
    """A Numba function cache over ``READ_FOLDERS``, or None where this Numba's caching
    internals differ from those it was written against (then Numba's own cache, in
    ``numba.config.CACHE_DIR``)."""
    try:
        from numba.core.caching import (
            CompileResultCacheImpl,
            FunctionCache,
            _Cache,
            _CacheLocator,
        )
    except ImportError:
        return None

    class Locator(_CacheLocator):
        """One folder of compiled code for the functions of one module folder."""

        folder = ""  # set per tier

        def __init__(self, py_func, py_file):
            self._lineno = py_func.__code__.co_firstlineno
            self._py_file = py_file  # named by Numba's warning for code it cannot cache
            self._path = os.path.join(self.folder, os.path.basename(os.path.dirname(py_file)))

        def ensure_cache_path(self):  # called before saving only
            os.makedirs(self._path, exist_ok=True)

        def get_cache_path(self):
            return self._path

        def get_source_stamp(self):
            return FINGERPRINT

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file)

    def tier(folder: str):
        locator = type("Locator", (Locator,), {"folder": folder})
        impl = type("Impl", (CompileResultCacheImpl,), {"_locator_classes": [locator]})
        return type("TierCache", (FunctionCache,), {"_impl_class": impl})

    tiers = [tier(folder) for folder in READ_FOLDERS]

    class TieredCache(_Cache):
        """Loads from each folder in turn; saves into the last (the writable one).

        ``refresh=False`` (functions compiled without reference counting): a hit does
        not first set up Numba's typing and target contexts, as Numba's own cache does
        (importing every lowering module and initialising its runtime, about 0.3 s of
        each start): machine code loaded from the cache needs neither, and a compile
        sets them up itself. Functions using Numba's runtime keep Numba's way."""

        def __init__(self, py_func, refresh=True):
            self._tiers = [cls(py_func) for cls in tiers]
            self._refresh = refresh

        @property
        def cache_path(self):
            return self._tiers[-1].cache_path

        def load_overload(self, sig, target_context):
            for cache in self._tiers:
                try:
                    if self._refresh or not hasattr(cache, "_load_overload"):
                        data = cache.load_overload(sig, target_context)
                    else:
                        with cache._guard_against_spurious_io_errors():
                            data = cache._load_overload(sig, target_context)
                except OSError:  # an unreadable folder holds nothing for us
                    data = None
                except Exception as exc:  # a damaged file: compiled again, never fatal
                    _damaged(cache, exc)
                    data = None
                if data is not None:
                    return data
            _compiling()
            return None

        def save_overload(self, sig, data):
            if getattr(data.library, "supplyshock_without_code", False):
                return  # _skip_internal_machine_code: its callers' code holds it
            cache = self._tiers[-1]
            for _ in range(2):
                try:
                    cache.save_overload(sig, data)
                    return
                except OSError:  # nowhere writable: said in _compiling
                    return
                except Exception as exc:  # a damaged index: replaced by a new one
                    _damaged(cache, exc)
                    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
                    if index is None:
                        return
                    with contextlib.suppress(OSError):
                        os.remove(index)

        def enable(self):
            for cache in self._tiers:
                cache.enable()

        def disable(self):
            for cache in self._tiers:
                cache.disable()

        def flush(self):
            self._tiers[-1].flush()

    return TieredCache


_TieredCache = _tiered_cache_class()


# --- the compile ----------------------------------------------------------------------------

_compiling_engine = threading.local()  # .depth > 0: this thread compiles an engine function
# how often each hook acted (tests)
HOOK_CALLS = {"prepass_skipped": 0, "scope_shared": 0, "code_skipped": 0}
# simcore._precompile sets it (before importing this module): the ahead-of-time build,
# whose machine code the runs use, keeps Numba's function pre-pass (_skip_function_prepass)
AHEAD_OF_TIME = os.environ.get("SUPPLYSHOCK_AHEAD_OF_TIME") == "1"
# the names the pre-pass this hook replaces uses (numba 0.59-0.68): another body, no hook
_PREPASS_NAMES = {"_codegen", "_data_layout", "data_layout", "functions",
                  "_function_pass_manager", "name", "_recorded_timings", "record", "run"}


def _skip_function_prepass() -> bool:
    """Numba optimises a freshly lowered module twice: a per-function pass pipeline at
    NUMBA_OPT, then, once the callees are linked in, the whole module's O3 pipeline,
    which runs the same function simplifications again (numba/core/codegen.py,
    ``CPUCodeLibrary.finalize``). For the engine's functions the first is skipped: on
    the model kernel's one large function it was a fifth of the first compile (partner
    study, 2 cores: 27.6 -> 22.5 s in-process), with bit-identical results
    (benchmarks/bench_compile.py). Only while this thread compiles an engine function
    (``_engine_compiles``), which takes in whatever that compile pulls in (Numba's own
    implementations, parfor kernels): their final modules still get the O3 pipeline.
    Numba code compiled outside an engine compile is compiled as Numba does. Returns
    whether the hook is in place (False on a Numba whose internals differ, including a
    pre-pass that does more than this one replaces: then nothing changes).

    Not in the ahead-of-time build (``AHEAD_OF_TIME``: the kernel's library and the
    package's compiled code, made once at install), where run time counts, not compile
    time: functions simplified before the module inliner weighs them optimise better
    once inlined. With the pre-pass the model kernel runs 7.2 % fewer instructions
    (callgrind, 100 draws of the partner study: 250.3 -> 232.2 million), same bits, for
    10 s more of build (benchmarks/README.md, "The library optimised before inlining, fewer
    exp calls, pyarrow after the first block")."""
    try:
        from numba.core.codegen import CPUCodeLibrary

        prepass = CPUCodeLibrary._optimize_functions
        if not set(prepass.__code__.co_names) <= _PREPASS_NAMES:
            return False
    except (ImportError, AttributeError):
        return False

    def optimize_functions(self, ll_module):
        if getattr(_compiling_engine, "depth", 0) and not AHEAD_OF_TIME:
            ll_module.data_layout = self._codegen._data_layout  # what the pass also set
            HOOK_CALLS["prepass_skipped"] += 1
            return
        prepass(self, ll_module)

    CPUCodeLibrary._optimize_functions = optimize_functions
    return True


SKIP_FUNCTION_PREPASS = _skip_function_prepass()


@functools.cache
def _share_scope_copies() -> bool:
    """Numba's IR inliner (``InlineWorker.inline_ir``) copies the callee's IR block by
    block, each with its own ``copy.deepcopy``, and each copy takes along a fresh copy
    of the function's scope, which lists every variable of the function: quadratic in
    the callee's size. For the model's month functions (hundreds of blocks, thousands of
    variables) that was 1.25 million variable copies, a sixth of the first compile. For
    the engine's functions the blocks of one copy share one copy of their scope (they
    share one scope in the IR being copied, too), through a ``copy`` module seen only by
    the inliner whose ``deepcopy`` of a block passes one memo per scope within one
    inlining. The IR that comes out is the same; the machine code and study digests too.
    Put in place by the first engine compile that misses the cache (``_engine_compiles``),
    not at import: the inliner's module imports Numba's lowering of lists, arrays and
    strings, 0.08 s of every run's start that a run loading the cached kernel never
    needs. Returns whether the hook is in place."""
    try:
        import copy

        from numba.core import inline_closurecall, ir

        worker = inline_closurecall.InlineWorker
        inline_ir = worker.inline_ir
        if inline_closurecall.copy is not copy:
            return False
    except (ImportError, AttributeError):
        return False

    memos = threading.local()  # .by_scope: {id(scope): memo} within one inline_ir call

    class SharedScopeCopy:
        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(x, memo=None):
            by_scope = getattr(memos, "by_scope", None)
            if memo is None and by_scope is not None and type(x) is ir.Block:
                memo = by_scope.setdefault(id(x.scope), {})
                HOOK_CALLS["scope_shared"] += 1
            return copy.deepcopy(x, memo)

    def inline_ir_shared(self, *args, **kwargs):
        if not getattr(_compiling_engine, "depth", 0):
            return inline_ir(self, *args, **kwargs)
        outer = getattr(memos, "by_scope", None)
        memos.by_scope = {}
        try:
            return inline_ir(self, *args, **kwargs)
        finally:
            memos.by_scope = outer

    inline_closurecall.copy = SharedScopeCopy()
    worker.inline_ir = inline_ir_shared
    return True

# the names Numba's CPUCodeLibrary._finalize_final_module uses (numba 0.59-0.68)
_FINALIZE_NAMES = {"_finalize_dynamic_globals", "_verify_declare_only_symbols",
                   "_final_module", "_CPUCodeLibrary__library", "weakref", "proxy",
                   "_codegen", "_add_module", "finalize", "_finalize_specific",
                   "_finalized", "config", "DUMP_OPTIMIZED", "dump", "name",
                   "get_llvm_str", "DUMP_ASSEMBLY", "get_asm_str"}


def _skip_internal_machine_code() -> bool:
    """A kernel function that only other kernel functions call (``jit_internal``: no
    Python entry point) never runs its own machine code: every caller links a copy of
    its optimised IR into its own module (numba/core/codegen.py,
    ``CPUCodeLibrary.finalize``) and runs that. Numba still hands the function's own
    module to the JIT, which makes its machine code, and caches that code; for the
    model's month function (``_material``) this was 1.6 s of a 19.8 s first compile
    (benchmarks/README.md, "Sixth session"). While this thread compiles such a function
    (``_engine_compiles``), its own library is finalised without being handed to the
    JIT (what Numba checks before it does so is kept), its environment pointer is not
    stored (no code of it is loaded to hold one) and it is not saved to the cache (its
    callers' cached code holds it). Only where its module's code never reads its
    environment (Numba's link to Python objects, for boxing or object mode, which the
    kernel's functions, compiled without reference counting, never use): otherwise,
    and for a library rebuilt from the cache, it is finalised as Numba does (a caller
    that found no environment would raise "missing Environment", or, with ``nogil``,
    wait for ever for the GIL it holds). The library is known by its name, the
    function's ``__qualname__``: a Numba subroutine of that name compiled within it
    (Numba names those after the implementing function) would be skipped too, which is
    harmless, since such a library has no Python entry point either and is only ever
    linked. Returns whether the hook is in place."""
    try:
        from numba.core import config
        from numba.core.codegen import CPUCodeLibrary, JITCPUCodegen

        finalize_final = CPUCodeLibrary._finalize_final_module
        set_env = JITCPUCodegen.set_env
        if not set(finalize_final.__code__.co_names) <= _FINALIZE_NAMES:
            return False
    except (ImportError, AttributeError):
        return False

    def finalize_final_module(self):
        own = getattr(_compiling_engine, "internal", None)
        if (own is None or self.name != own or self._shared_module is not None
                or config.DUMP_OPTIMIZED or config.DUMP_ASSEMBLY
                or _reads_environment(self._final_module)):
            # (_shared_module is set before this only for a library rebuilt from the
            # cache: its code is made already, and its _final_module is empty)
            return finalize_final(self)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True
        self.supplyshock_without_code = True  # no machine code: not to be cached
        HOOK_CALLS["code_skipped"] += 1

    def set_env_if_loaded(self, env_name, env):
        if (getattr(_compiling_engine, "internal", None) is not None
                and not self._engine.get_global_value_address(env_name)):
            return  # the function's own module was not handed to the JIT (above)
        set_env(self, env_name, env)

    CPUCodeLibrary._finalize_final_module = finalize_final_module
    JITCPUCodegen.set_env = set_env_if_loaded
    return True


def _reads_environment(module) -> bool:
    """Whether a function of the LLVM module loads a Numba environment pointer (any
    line but a global's definition that names one)."""
    return any(not line.startswith("@")
               for line in str(module).splitlines() if "NumbaEnv" in line)


SKIP_INTERNAL_MACHINE_CODE = _skip_internal_machine_code()


def _call(fn, arg):
    return fn(arg)


@functools.cache
def _roomy_call():
    """``_call`` with a frame big enough that CPython gives it a frame-stack chunk of
    its own, 1 MiB, about half of it left for the calls beneath (made once, when first
    needed).

    CPython 3.11 keeps Python frames in 16 KiB chunks, and frees a chunk as soon as the
    frame at its base returns: a loop that calls across a chunk boundary maps and unmaps
    a chunk on every call (CPython issue gh-142183, fixed in 3.13.x and 3.14 by caching
    one chunk). Numba's compiler, deep in its recursion, can sit on such a boundary, and
    where it does, depending on how deep the caller is (a `supplyshock run` was, a bare
    script was not), the first compile made 330,000 mmap/munmap pairs: 6 s of system
    time of 28 s. A frame that cannot fit is given a new chunk of the smallest 16 KiB x
    2**k holding its slots plus 1,000 (3.11 ``push_chunk``, 8-byte slots): 70,000 unused
    locals (plus 2 arguments, 3 stack and 9 frame slots, 71,014 with the margin, over
    the 65,536 of 512 KiB) get 1 MiB, leaving 61,000 slots, about 2,800 of the
    compiler's frames, above it in the same chunk: no boundary to cross. CPython clears
    the unused slots when the frame starts and ends (about 0.5 MB written per outermost
    compile). On an interpreter where this cannot be built, the plain ``_call``."""
    code = _call.__code__
    names = code.co_varnames + tuple(f"_slot{i}" for i in range(70_000))
    try:
        return type(_call)(code.replace(co_varnames=names, co_nlocals=len(names)),
                           _call.__globals__)
    except (TypeError, ValueError):
        return _call


def _engine_compiles(dispatcher, internal=False):
    """Mark, per thread, the compiles of ``dispatcher`` (and of the callees they pull
    in) as the engine's: see ``_skip_function_prepass``, ``_share_scope_copies`` (put in
    place at the first miss) and, for a function only kernel functions call
    (``internal``), ``_skip_internal_machine_code``; the outermost compile that misses
    the cache runs on a roomy frame (``_roomy_call``, 0.02 s to make:
    a cache hit, every run's case, does without). (Under NUMBA_DISABLE_JIT=1 the
    "dispatcher" is the Python function itself: nothing to mark.)"""
    compile_ = getattr(dispatcher, "compile", None)
    if compile_ is None:
        return dispatcher
    compiler = getattr(dispatcher, "_compiler", None)  # what Dispatcher.compile calls on a miss
    fresh = getattr(compiler, "compile", None)

    own = dispatcher.py_func.__qualname__ if internal else None  # its library's name

    def compile(sig):
        depth = getattr(_compiling_engine, "depth", 0)
        if depth == 0:
            bind_libm()
        outer = getattr(_compiling_engine, "internal", None)
        _compiling_engine.depth = depth + 1
        _compiling_engine.internal = own
        try:
            if depth == 0 and fresh is None:  # no miss to hook: around every outer compile
                _share_scope_copies()
                return _roomy_call()(compile_, sig)
            return compile_(sig)
        finally:
            _compiling_engine.depth = depth
            _compiling_engine.internal = outer

    dispatcher.compile = compile
    if fresh is not None:

        def compile_fresh(args, return_type):
            _share_scope_copies()  # once, before the first engine function is inlined
            if getattr(_compiling_engine, "depth", 0) > 1:  # a callee, on the outer frame
                return fresh(args, return_type)
            return _roomy_call()(functools.partial(fresh, args), return_type)

        compiler.compile = compile_fresh
    return dispatcher


def _decorator(**options):
    # a function without a Python entry point runs only inside its callers' code
    internal = bool(options.get("no_cpython_wrapper"))
    if _TieredCache is None:

        def decorate_default(func):  # Numba's cache saves every function's machine code
            return _engine_compiles(numba.njit(cache=True, **options)(func))

        return decorate_default

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        # what `cache=True` does (Dispatcher.enable_caching), with the folders above
        dispatcher._cache = _TieredCache(func, refresh=options.get("_nrt", True) is not False)
        return _engine_compiles(dispatcher, internal)

    return decorate


def _without_nrt() -> dict:
    """``_nrt=False``: no reference counting in the kernel's machine code. The kernel
    allocates nothing (its scratch arrays come from the caller, simcore/engine.py), so
    every array it touches is owned by Python for the whole call; without the atomic
    increment and decrement Numba emits around each array passed to a call, bound to a
    local or sliced, the partner study runs 3.3x faster (623 -> 2,072 draws per CPU
    second, bit-identical) and compiles in 15 % less time. A Numba without the (private)
    option gets the default. The option is looked up, not tried: compiling a probe
    function cost every start 0.05 s, and 0.4 s to commands that never run the kernel
    (Numba's typing and target contexts are set up on the first compile)."""
    from numba.core import cpu

    if not hasattr(getattr(cpu, "CPUTargetOptions", None), "_nrt"):
        return {}
    return {"_nrt": False}


_OPTIONS = dict(error_model="numpy", nogil=True, no_cfunc_wrapper=True, **_without_nrt())

jit = _decorator(**_OPTIONS)
"""Serial kernel or helper (allocates nothing: no reference counting)."""

jit_internal = _decorator(no_cpython_wrapper=True, **_OPTIONS)
"""A kernel function only ever called from other kernel functions, never from Python."""

jit_inline = _decorator(inline="always", **_OPTIONS)
"""A helper inlined into its caller at Numba's IR level: for functions called in the
month loop with the kernel's structures (each array member of a namedtuple argument
costs a reference-count increment and decrement at every call of a function that is
not inlined), and for the innermost calls of the zone market's root searches
(market.free_demand, market._solve_level_mask: about 4,900 and 860 calls a draw of the
partner study, where a call that passes every array as its fields cost 3-5 % of the
kernel each). Each inlined function is typed again at every call site: inlining
clear_zones as well bought 3-5 % more for 0.2-4 s more first compile, and was not kept
(benchmarks/README.md, "Sixth session"); market._fill_subsets is inlined since the
thirtieth session (3 % fewer instructions, whole runs 2.7 % faster, the kernel's
library built in 40 s instead of 30 s: benchmarks/README.md)."""

jit_parallel = _decorator(parallel=True, error_model="numpy", nogil=True)
"""Kernel parallel over its outer ``prange`` loop (draws)."""

prange = numba.prange
