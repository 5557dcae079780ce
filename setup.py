"""Build hook (the project's metadata is in pyproject.toml): when a wheel is built, as
``pip install .`` does, compile the simulator's kernel into the package
(``simcore/_precompiled``, see simcore/_precompile.py), so that the first run after an
install from source loads machine code instead of spending 20-70 s compiling it.

Not for editable installs (``pip install -e .``: the first run compiles into the user's
cache as before). ``SUPPLYSHOCK_NO_PRECOMPILE=1`` skips it (a wheel meant for other
machines: the code is for the CPU it is compiled on). A failed compile does not fail the
build (the wheel is then pure Python, as without the hook); pip shows its one line with
``-v``.
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

COMPILE_TIMEOUT_S = 1800  # a compile takes 20-70 s on two cores; a hung one must end


def _precompiling() -> bool:
    return os.environ.get("SUPPLYSHOCK_NO_PRECOMPILE", "").strip().lower() in (
        "", "0", "false", "no")


class BuildPyPrecompiled(build_py):
    def run(self):
        super().run()
        self.distribution.supplyshock_precompiled = False
        if getattr(self, "editable_mode", False):
            return
        lib = os.path.abspath(self.build_lib)
        target = os.path.join(lib, "simcore", "_precompiled")
        shutil.rmtree(target, ignore_errors=True)  # code of an earlier build's sources
        if not _precompiling():
            return
        # the package being built first, then whatever this process sees: pip's isolated
        # build environment reaches its packages through PYTHONPATH and sys.path, which
        # the child must keep (numba, numpy)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([lib, *[p for p in sys.path if p]]))
        self.announce("compiling the simulator ahead of time (20-70 s)", level=2)
        try:
            done = subprocess.run([sys.executable, "-m", "simcore._precompile", target],
                                  env=env, cwd=lib, check=False,
                                  timeout=COMPILE_TIMEOUT_S).returncode == 0
        except subprocess.TimeoutExpired:
            done = False
            print(f"supplyshock: not compiled ahead of time: the compile took over "
                  f"{COMPILE_TIMEOUT_S} s", file=sys.stderr)
        if not done:  # nothing half-written goes into the wheel
            shutil.rmtree(target, ignore_errors=True)
        self.distribution.supplyshock_precompiled = done and os.path.isdir(target)


class WheelTaggedByItsCode(bdist_wheel):
    """A wheel that holds compiled code is tagged for its Python and platform
    (cp311-cp311-linux_x86_64); one without (skipped, or the compile failed) stays pure
    Python (py3-none-any). Decided once the build has run, before anything is installed
    into the wheel's tree."""

    def run_command(self, command):
        super().run_command(command)
        if command == "build" and getattr(self.distribution, "supplyshock_precompiled", False):
            self.root_is_pure = False
            # and the install into the wheel's tree puts the package at its root, as for
            # a distribution with extension modules (not under .data/purelib)
            self.distribution.has_ext_modules = lambda: True


setup(cmdclass={"build_py": BuildPyPrecompiled, "bdist_wheel": WheelTaggedByItsCode})
