"""The ``supplyshock`` command line: a thin layer over the library.

Each command family lives in its own module and registers itself on ``main``. Command
modules import the library lazily inside their functions so that ``--help`` is instant.
User errors (``SupplyShockError``) become a one-paragraph message and exit status 2,
never a traceback; a full disk a message and exit status 1; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import atexit
import errno
import importlib
import os
import sys
import threading

import click

from simcore import __version__
from simcore.errors import SupplyShockError

# Command modules, each with a ``register(group)`` function. A module that does not exist
# yet is skipped so that the package works while it grows.
_COMMAND_MODULES = (
    "simcore.cli.data",
    "simcore.cli.scenario",
    "simcore.cli.run",
    "simcore.cli.report",
    "simcore.cli.backtest",
    "simcore.cli.stockpile",
)


class OutPath(click.Path):
    """A ``--out`` path: an empty one (``--out ""``, an unset shell variable) is refused,
    not read as the current folder."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty; name a folder (or file), e.g. --out results", param, ctx)
        return super().convert(value, param, ctx)


class _Group(click.Group):
    """Turns user errors raised anywhere below into a clean message and exit 2, a full
    disk into one and exit 1, and Ctrl-C into exit 130 (128 + SIGINT, as shells report
    it), after the command has cleaned up (results folders are written atomically)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SupplyShockError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            sys.exit(130)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" writing {exc.filename}" if exc.filename else ""
            click.echo(
                f"Error: no space left on the disk{where} ({exc}); free some space, or "
                f"write elsewhere (--out).",
                err=True,
            )
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="supplyshock")
def main():
    """supplyshock: Monte Carlo simulation of export-control disruptions in
    critical-mineral supply chains.

    Typical use: `supplyshock run scenarios/partners-2026.toml`, then
    `supplyshock summarize results/partners-2026`.
    """


for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
        continue
    _module.register(main)


def entry() -> None:
    """The ``supplyshock`` console script (and ``python -m simcore``): ``main``, then a
    quick exit.

    Once a command is done, Python's teardown of the interpreter (every module, Numba's
    compiler and typing state, hundreds of thousands of objects freed one by one) takes
    about 0.1 s, 4 % of a 10,000-draw run of the partner study: the exit handlers run,
    the streams are flushed and the process ends without it (``os._exit``). Where a
    thread that Python would wait for is still running, or an error escaped ``main``
    (a traceback), the exit is Python's own."""
    try:
        main(prog_name="supplyshock")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    _quick_exit(code)


def _quick_exit(code) -> None:
    """``sys.exit(code)`` without the interpreter's teardown (see ``entry``)."""
    waiting = [t for t in threading.enumerate()
               if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if waiting or run_handlers is None:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass
    os._exit(status)
