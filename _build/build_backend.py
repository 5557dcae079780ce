"""setuptools' PEP 517 backend (pyproject.toml: ``build-backend``), asking for Numba and
NumPy only where a wheel is built: setup.py compiles the simulator's kernel into the
wheel (simcore/_precompile.py). Editable installs and sdists do not compile, so their
build environments go without them (about 10 s less to set up)."""

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook as setuptools defines it)

COMPILE_REQUIRES = ["numba>=0.59", "numpy>=1.26"]  # as [project] dependencies


def get_requires_for_build_wheel(config_settings=None):
    return [*_setuptools.get_requires_for_build_wheel(config_settings), *COMPILE_REQUIRES]
