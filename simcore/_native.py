"""The kernel's machine code as a shared library, called without importing Numba.

**Why.** Importing Numba (0.13 s, half of it loading LLVM) and loading the kernel's
cached machine code through it (0.07 s) were 0.2 s of the 0.47 s start of every run of
the partner study, a tenth of a 10,000-draw run (benchmarks/README.md, twenty-fourth
session). The code itself needs neither: once compiled it calls only the C library and
its mathematics (``exp``, ``log``, ``log1p``, ``erfc``, ``lgamma``), the Python C API and
four helpers of Numba's own C extension.

**What is built.** When the package is built from source (setup.py runs
simcore/_precompile.py), the object code Numba compiled for each entry point in
``ENTRIES`` is linked, with the C lines of ``_STUB``, into ``native/kernel.so`` beside the
precompiled cache entries (``<precompiled>/numba<version>/src-<fingerprint>/native``),
with ``native.json``: the Python, the CPU (``/proc/cpuinfo``) and Numba it was built
for, and per entry point the symbols of Numba's CPython wrapper and of its environment,
and the types of the arguments it was compiled for (``signature``). A build without a
C compiler has no library.

**What runs.** ``function(name)`` loads the library once per process (Numba's C
extensions ``_helperlib`` and ``_dynfunc`` are loaded on their own, without the
``numba`` package) and returns a callable that runs Numba's CPython wrapper of the
compiled function: the wrapper a Numba dispatcher calls once it has chosen the
overload, which unboxes the arguments, lets go of the GIL (the kernel is ``nogil``) and
runs the same machine code, so results are the same bits. The dispatcher's choice is
replaced by a check that the arguments have exactly the types the code was compiled for
(``signature``); any other call goes to Numba's dispatcher (compiled or loaded as
without the library).

There is no library to use, and Numba runs the kernel as before, saying nothing, where:
it was not built (an editable install, ``SUPPLYSHOCK_NO_PRECOMPILE=1``, no C
compiler), or was built for another Python, CPU or Numba, or for other engine sources
(the fingerprint in its path) or by another version of this module; off Linux; where it
does not load; with ``NUMBA_DISABLE_JIT`` or ``NUMBA_BOUNDSCHECK`` set; and with
``SUPPLYSHOCK_NATIVE=0``.

This module imports no numba (except ``build``, which runs inside the precompile).
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import numpy as np

# entry point -> the module that defines it
ENTRIES = {
    "run_draws": "simcore.kernel.model",
    "count_zone_bins": "simcore.kernel.model",
    "add_rows_f32": "simcore.kernel.binsums",
    "nonzero_statistics": "simcore.kernel.binsums",
    "count_shortages": "simcore.kernel.binsums",
    "nonzero_by_exposure": "simcore.kernel.binsums",
    "histogram_bins": "simcore.kernel.binsums",
    "shortage_rows": "simcore.kernel.binsums",
}
FOLDER = "native"
LIBRARY = "kernel.so"
MANIFEST = "native.json"
FORMAT = 1

# Numba's helpers that its CPython wrappers call. _helperlib does not export them: the
# library reaches them through pointers set when it is loaded (their keys in
# _helperlib.c_helpers, in the order of helpers[] below).
HELPERS = ("adapt_ndarray", "do_raise", "runtime_build_excinfo_struct", "unpickle")
_STUB = """\
static void *helpers[4];
int numba_adapt_ndarray(void *obj, void *arystruct)
{ return ((int (*)(void *, void *))helpers[0])(obj, arystruct); }
int numba_do_raise(void *exc)
{ return ((int (*)(void *))helpers[1])(exc); }
void *numba_runtime_build_excinfo_struct(void *gv, void *args)
{ return ((void *(*)(void *, void *))helpers[2])(gv, args); }
void *numba_unpickle(const char *data, int n, const char *hashed)
{ return ((void *(*)(const char *, int, const char *))helpers[3])(data, n, hashed); }
void supplyshock_set_helpers(void **p)
{ for (int i = 0; i < 4; i++) helpers[i] = p[i]; }

/* The code's exp and log, as Numba binds them (simcore/_numba.py, bind_libm): glibc's
   cores where they are found, else libm's own functions; hidden, so that they serve
   this library only. */
static double (*exp_fn)(double);
static double (*log_fn)(double);
__attribute__((visibility("hidden"))) double exp(double x) { return exp_fn(x); }
__attribute__((visibility("hidden"))) double log(double x) { return log_fn(x); }
void supplyshock_set_math(void *e, void *l) { exp_fn = e; log_fn = l; }
"""


# --- the exponential and logarithm, without the error-reporting wrappers --------------------

_CHECK_ARGS = (-745.2, -700.0, -30.5, -1.0, -1e-300, 0.0, 1e-17, 0.3, 0.6931471805599453,
               1.0, 2.5, 88.7, 709.7)  # exp; the logarithm takes the positive ones
_CORE_VERSIONS = (b"GLIBC_2.15", b"GLIBC_2.17")  # x86-64; aarch64, ppc64le


def libm_core_address(name: str) -> int | None:
    """Where glibc's core of ``name`` (``exp``, ``log``) is, or None (not glibc, or no
    such core)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        dlvsym = libc.dlvsym
        libm = ctypes.CDLL("libm.so.6")
    except (OSError, AttributeError):
        return None
    dlvsym.restype = ctypes.c_void_p
    dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    for version in _CORE_VERSIONS:
        address = dlvsym(libm._handle, f"__{name}_finite".encode(), version)
        if address:
            return address
    return None


@functools.cache
def libm_cores() -> dict[str, int]:
    """glibc's cores of ``exp`` and ``log`` (``__exp_finite``, ``__log_finite``) by name,
    each where it is found and returns what Python's ``math`` does on a few arguments:
    what the kernel's code calls instead of the error-reporting wrappers, through Numba
    (simcore/_numba.py, ``bind_libm``, which says why) and in the library alike."""
    import math

    cores = {}
    for name, reference in (("exp", math.exp), ("log", math.log)):
        address = libm_core_address(name)
        if not address:
            continue
        core = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(address)
        if all(core(x) == reference(x) for x in _CHECK_ARGS if name == "exp" or x > 0.0):
            cores[name] = address
    return cores


# --- where the library is -------------------------------------------------------------------

def precompiled_base() -> str:
    """The folder of code compiled at install: the package's ``_precompiled``, or
    ``SUPPLYSHOCK_PRECOMPILED``."""
    return os.environ.get("SUPPLYSHOCK_PRECOMPILED") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "_precompiled")


def installed_base(own: str) -> str | None:
    """The precompiled folder of the installed distribution, where it is not ``own``: a
    checkout imported from its own folder (``python`` started there, as the README's
    snippets are) after ``pip install .`` of the same sources."""
    from importlib.metadata import distributions

    own = os.path.abspath(own)
    try:
        # every distribution of that name on sys.path: a checkout built in place holds
        # one too (its egg-info), whose folder is this module's own
        for dist in distributions(name="supplyshock"):
            base = os.path.abspath(str(dist.locate_file("simcore/_precompiled")))
            if base != own and os.path.isdir(base):
                return base
    except (OSError, ValueError):
        return None
    return None


def find_precompiled(tail: str) -> str | None:
    """``tail`` (``numba<version>/src-<fingerprint>``) under the precompiled folder, or
    under the installed distribution's (unless ``SUPPLYSHOCK_PRECOMPILED`` is set)."""
    folder = os.path.join(precompiled_base(), tail)
    if os.path.isdir(folder):
        return folder
    if "SUPPLYSHOCK_PRECOMPILED" not in os.environ:
        base = installed_base(precompiled_base())
        if base is not None and os.path.isdir(os.path.join(base, tail)):
            return os.path.join(base, tail)
    return None


def numba_version() -> str | None:
    """The installed Numba's version, without importing it: from its ``_version.py``
    (versioneer's, what ``numba.__version__`` is), else from its distribution's metadata
    (20 ms of imports)."""
    import importlib.util

    spec = importlib.util.find_spec("numba")
    if spec is None:
        return None
    for base in spec.submodule_search_locations or ():
        path = os.path.join(base, "_version.py")
        if os.path.exists(path):
            try:
                version_spec = importlib.util.spec_from_file_location("_numba_version", path)
                module = importlib.util.module_from_spec(version_spec)
                version_spec.loader.exec_module(module)
                return str(module.get_versions()["version"])
            except Exception:  # another layout of that file: ask the metadata
                break
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("numba")
    except PackageNotFoundError:
        return None


# --- what it was built for ------------------------------------------------------------------

def cpu_identity() -> str | None:
    """This machine's CPU as ``/proc/cpuinfo`` names its first processor (architecture,
    vendor, family, model, stepping, flags): code compiled for the host CPU runs where
    this is the same. None off Linux."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    first = text.strip().split("\n\n")[0]
    keep = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags",
            "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "Features")
    fields = {}
    for line in first.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in keep:
            fields[key] = " ".join(sorted(value.split())) if key in ("flags", "Features") \
                else value.strip()
    if not fields:
        return None
    return platform.machine() + "|" + "|".join(f"{k}={fields[k]}" for k in sorted(fields))


def _loader_identity() -> str:
    """A hash of what links the library and wires it at load (the C lines, the helpers'
    order, the format): a library built by another version of this module is not used
    (a checkout may read the installed package's library, simcore/_numba.py)."""
    import hashlib

    return hashlib.sha256(repr((FORMAT, HELPERS, _STUB)).encode()).hexdigest()[:16]


def _python_identity() -> str:
    return f"{sys.implementation.cache_tag}|{sysconfig.get_config_var('EXT_SUFFIX')}"


def signature(args) -> tuple | None:
    """The types of ``args`` as Numba's dispatcher tells them apart (an array's dtype,
    dimensions, layout, writeability and alignment; a namedtuple's class and fields; a
    scalar's type), flattened; None where an argument is of another kind."""
    out: list = []
    for a in args:
        if isinstance(a, np.ndarray):
            layout = "C" if a.flags.c_contiguous else ("F" if a.flags.f_contiguous else "A")
            out.append(f"{a.dtype.str}{a.ndim}{layout}{'w' if a.flags.writeable else 'r'}"
                       f"{'a' if a.flags.aligned else 'u'}")
        elif isinstance(a, tuple):
            inner = signature(a)
            if inner is None:
                return None
            out.append(f"{type(a).__module__}.{type(a).__qualname__}[{len(a)}]")
            out.extend(inner)
            out.append("]")
        elif isinstance(a, (bool, np.bool_)):
            out.append("bool")
        elif isinstance(a, int):
            out.append("int64" if -(2**63) <= a < 2**63 else "uint64")
        elif isinstance(a, float):
            out.append("float64")
        elif isinstance(a, np.generic) and a.dtype.kind in "iuf":
            out.append(a.dtype.str)
        else:
            return None
    return tuple(out)


# --- building (inside simcore/_precompile.py, Numba loaded) ---------------------------------

def compiler() -> list[str] | None:
    """The C compiler that links the library, as a command: ``CC``, else the one Python
    was built with, else ``cc`` or ``gcc``, the first found; None where there is none."""
    for choice in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc"):
        command = (choice or "").split()
        if command and shutil.which(command[0]):
            return command
    return None


class ObjectCode:
    """Keeps the object code Numba loads from its cache (which it drops once loaded),
    while in a ``with`` block; freshly compiled code keeps its own."""

    def __enter__(self):
        from numba.core import codegen

        self._cls = codegen.CPUCodeLibrary
        self._orig = self._cls._set_compiled_object
        self.kept: dict[int, tuple] = {}  # id -> (the library, held: its id stays its own)
        kept, orig = self.kept, self._orig

        def keep(library, value):
            kept[id(library)] = (library, bytes(value))
            return orig(library, value)

        self._cls._set_compiled_object = keep
        return self

    def __exit__(self, *exc):
        self._cls._set_compiled_object = self._orig
        return False

    def of(self, library) -> bytes:
        held = self.kept.get(id(library))
        code = getattr(library, "_compiled_object", None) or (
            held[1] if held is not None and held[0] is library else None)
        if not code:
            raise RuntimeError(f"no object code kept for {library.name}")
        return bytes(code)


# loads the library named by argv[1] as a run does (ctypes adds RTLD_NOW: every symbol)
_LOAD_CHECK = "import ctypes, os, sys; ctypes.PyDLL(sys.argv[1], mode=os.RTLD_LOCAL)"


def load_problem(path) -> str | None:
    """Why the shared library at ``path`` does not load in a fresh Python process (the
    loader's message), or None where it does."""
    loaded = subprocess.run([sys.executable, "-c", _LOAD_CHECK, str(path)],
                            capture_output=True, text=True, check=False)
    if loaded.returncode == 0:
        return None
    return (loaded.stderr.strip().splitlines() or ["no message"])[-1]


def build(folder: Path, calls: dict, objects: ObjectCode) -> Path:
    """Link the machine code Numba compiled for each entry point into
    ``folder/native/kernel.so``, with ``native.json``; ``calls[name]``: the arguments the
    entry point was run with (its overload for their types is the one linked). Raises
    where it cannot (no C compiler, say); writes nothing then."""
    import importlib

    import numba

    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (CC, Python's own, cc or gcc) to link the kernel's "
                           "library")
    cpu = cpu_identity()
    if cpu is None:
        raise RuntimeError("no /proc/cpuinfo to record the CPU the code is for")
    entries = {}
    with tempfile.TemporaryDirectory(prefix="supplyshock-native-") as work:
        paths = [os.path.join(work, "helpers.c")]
        Path(paths[0]).write_text(_STUB, encoding="utf-8")
        for name, args in calls.items():
            dispatcher = getattr(importlib.import_module(ENTRIES[name]), name)
            key = tuple(dispatcher.typeof_pyval(a) for a in args)
            cres = dispatcher.overloads[key]
            path = os.path.join(work, f"{name}.o")
            Path(path).write_bytes(objects.of(cres.library))
            paths.append(path)
            entries[name] = {"wrapper": cres.fndesc.llvm_cpython_wrapper_name,
                             "environment": cres.fndesc.env_name,
                             "signature": list(signature(args))}
        so = os.path.join(work, LIBRARY)
        # the objects hold absolute relocations in their code (Numba's code model): the
        # library gets text relocations, which the loader applies
        linked = subprocess.run([*cc, "-shared", "-fPIC", "-O2", "-fno-builtin", "-o", so,
                                 *paths, "-lm"],
                                capture_output=True, text=True, check=False)
        if linked.returncode != 0:
            raise RuntimeError(f"linking the kernel's library failed: {linked.stderr.strip()}")
        target = Path(folder) / FOLDER
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy(so, target / LIBRARY)
        # every symbol it needs resolves where it is installed, in a process without
        # Numba (which makes some libraries of its own visible process-wide): a library
        # that does not load serves no run, and would leave every run to Numba unsaid
        why = load_problem(target / LIBRARY)
        if why is not None:
            shutil.rmtree(target)
            raise RuntimeError(f"the kernel's library links but does not load ({why}); "
                               "a symbol the stub does not provide (simcore/_native.py, "
                               "_STUB) is one cause")
        record = {"format": FORMAT, "loader": _loader_identity(),
                  "python": _python_identity(), "cpu": cpu,
                  "numba": numba.__version__, "entries": entries}
        (target / MANIFEST).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return target


# --- loading ----------------------------------------------------------------------------------

class _Library:
    def __init__(self, folder: str, record: dict):
        self.record = record
        helperlib = _bare_extension("_helperlib")
        dynfunc = _bare_extension("_dynfunc")
        self.lib = ctypes.PyDLL(os.path.join(folder, LIBRARY), mode=os.RTLD_LOCAL)
        pointers = [helperlib.c_helpers[key] for key in HELPERS]
        self.lib.supplyshock_set_helpers((ctypes.c_void_p * len(pointers))(*pointers))
        cores = libm_cores()
        libm = ctypes.CDLL("libm.so.6")
        math = [cores.get(name) or ctypes.cast(getattr(libm, name), ctypes.c_void_p).value
                for name in ("exp", "log")]
        self.lib.supplyshock_set_math(*(ctypes.c_void_p(a) for a in math))
        self.environments = []  # referenced by the library: kept alive with it
        self.functions = {}
        call = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.py_object,
                                 ctypes.py_object)
        for name, entry in record["entries"].items():
            env = dynfunc.Environment({})
            self.environments.append(env)
            ctypes.c_void_p.in_dll(self.lib, entry["environment"]).value = id(env)
            address = ctypes.cast(getattr(self.lib, entry["wrapper"]), ctypes.c_void_p).value
            self.functions[name] = NativeFunction(name, call(address),
                                                  tuple(entry["signature"]))


def _bare_extension(name: str):
    """Numba's C extension ``numba.<name>``, loaded without the ``numba`` package (its
    ``__init__`` is what takes the time); registered under its name, so that a later
    ``import numba`` uses this same module."""
    import importlib.machinery
    import importlib.util

    full = f"numba.{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.find_spec("numba")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("numba is not installed")
    for base in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(base, name + suffix)
            if os.path.exists(path):
                loader = importlib.machinery.ExtensionFileLoader(full, path)
                module_spec = importlib.util.spec_from_file_location(full, path, loader=loader)
                module = importlib.util.module_from_spec(module_spec)
                loader.exec_module(module)
                sys.modules[full] = module
                return module
    raise ImportError(f"no {full} extension")


class NativeFunction:
    """An entry point of the library: called with the argument types it was compiled
    for, it runs the library's code; with any others, Numba's dispatcher."""

    def __init__(self, name: str, call, sig: tuple):
        self.name = name
        self._call = call
        self.signature = sig

    def __call__(self, *args):
        if signature(args) == self.signature:
            return self._call(None, args, None)
        return _numba_function(self.name)(*args)

    def __repr__(self) -> str:
        return f"<kernel entry point {self.name} from {LIBRARY}>"


def _numba_function(name: str):
    import importlib

    return getattr(importlib.import_module(ENTRIES[name]), name)


def _enabled() -> bool:
    """Not asked off (``SUPPLYSHOCK_NATIVE=0``), and no Numba setting asked for that the
    library's code was not compiled with (the interpreter instead of compiled code,
    bounds checks)."""
    if os.environ.get("SUPPLYSHOCK_NATIVE", "").strip().lower() in ("0", "false", "no"):
        return False
    return not any(os.environ.get(name, "").strip() not in ("", "0")
                   for name in ("NUMBA_DISABLE_JIT", "NUMBA_BOUNDSCHECK"))


_LOADING = threading.Lock()
_LOADED: list = []  # the library (or None), once looked for


def _library() -> _Library | None:
    """The library for this Python, CPU, Numba and engine sources, loaded once per
    process (threads asking at once wait for the first); None where there is none to
    use (the module's docstring)."""
    if _LOADED:
        return _LOADED[0]
    with _LOADING:
        if not _LOADED:
            _LOADED.append(_find_library())
    return _LOADED[0]


def _find_library() -> _Library | None:
    if not _enabled() or not sys.platform.startswith("linux"):
        return None
    from simcore._sourcehash import engine_source_hash

    version = numba_version()
    if version is None:
        return None
    folder = find_precompiled(os.path.join(f"numba{version}", f"src-{engine_source_hash()}"))
    if folder is None:
        return None
    folder = os.path.join(folder, FOLDER)
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if (record.get("format") != FORMAT or record.get("loader") != _loader_identity()
            or record.get("python") != _python_identity()
            or record.get("numba") != version or record.get("cpu") != cpu_identity()
            or set(record.get("entries", {})) != set(ENTRIES)):
        return None
    try:
        return _Library(folder, record)
    except (OSError, ImportError, AttributeError, KeyError, ValueError):
        return None


def function(name: str):
    """Entry point ``name`` of ``ENTRIES`` from the library, or None where there is no
    library to use."""
    lib = _library()
    return None if lib is None else lib.functions.get(name)


def kernel_function(name: str):
    """Entry point ``name`` of ``ENTRIES``: from the library where there is one to use,
    else Numba's dispatcher (importing Numba)."""
    found = function(name)
    return found if found is not None else _numba_function(name)


def in_use() -> bool:
    """Whether this process runs the kernel from the library."""
    return _library() is not None
