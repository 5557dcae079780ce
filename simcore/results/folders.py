"""Atomic placement of a results folder: written in a staging folder beside its target and
renamed into place only when complete; a watchdog removes it if the process dies.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

from simcore.errors import ResultError
from simcore.results.names import MANIFEST

# Removes the staging folder once the parent process is gone, however it went (even
# SIGKILL): the parent holds the write end of the pipe, EOF means it exited. After a
# successful commit the staging path no longer exists and the removal does nothing. Then
# the folders the run made above its target (deepest first), each only if empty: after
# a commit they hold the results, and rmdir leaves them.
#
# A POSIX shell, where there is one: a second Python for it (interpreter, site, the
# modules below) took 45 ms of CPU beside the kernel, and 7-8 ms more to see the end of
# its input and exit when the run was done (the partner study's 10,000 draws take 2.2 s
# on 2 cores); the shell takes 1.5 ms and 0.5 ms, running no other program when the
# staging folder is gone and no folder was made above the target. ``command -p``: rm and
# rmdir from the system's default path, whatever PATH the run was given.
_SHELL = "/bin/sh"
_WATCHDOG_SH = (
    'trap "" INT\n'
    "while read -r _; do :; done\n"
    'if [ -e "$1" ] || [ -L "$1" ]; then command -p rm -rf -- "$1"; fi\n'
    "shift\n"
    'for folder do command -p rmdir -- "$folder" 2>/dev/null || break; done\n'
)
_WATCHDOG = (
    "import os, shutil, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "sys.stdin.buffer.read()\n"
    "shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
    "for folder in sys.argv[2:]:\n"
    "    try:\n"
    "        os.rmdir(folder)\n"
    "    except OSError:\n"
    "        break\n"
)


def _watchdog_command(path: Path, created) -> list[str]:
    """The watchdog's command line: the shell's, else Python's (isolated, without site)."""
    folders = [str(path), *map(str, created)]
    if os.name == "posix" and os.path.exists(_SHELL):
        return [_SHELL, "-c", _WATCHDOG_SH, "supplyshock-watchdog", *folders]
    return [sys.executable, "-I", "-S", "-c", _WATCHDOG, *folders]


class _Watchdog:
    def __init__(self, path: Path, created: list[Path] = ()):
        try:
            self._proc = subprocess.Popen(
                _watchdog_command(path, created),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            self._proc = None  # no watchdog: a stale folder is removed by the next run

    def release(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Staging folders of runs that died before the watchdog could clean up."""
    prefix = f".{target.name}.partial-"
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix):
            try:
                pid = int(entry.name[len(prefix) :].split("-")[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(entry, ignore_errors=True)


def writable_parent(target: Path) -> None:
    """Raise ``ResultError`` unless ``target``'s folder can be created and written, and
    is not itself a results folder (``--out results/partners-2026`` would put a new run
    in ``results/partners-2026/partners-2026`` beside the old one, which ``summarize``
    and ``verify`` of the folder given go on reading)."""
    parent = Path(target).absolute().parent
    if (parent / MANIFEST).is_file():
        given = Path(target).parent
        holder = given.parent if given.name not in ("", ".", "..") else (
            parent.resolve().parent)
        raise ResultError(
            f"cannot write results to {target}: {given} is itself a results folder (it "
            f"holds {MANIFEST}), and a run's folder does not go inside another run's; "
            f"write beside it, into {holder} (for `run`, `--out` names the folder that "
            f"holds each scenario's results folder)"
        )
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ResultError(f"cannot write results to {target}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultError(
            f"cannot write results to {target}: {probe} is not writable; "
            f"choose another output folder (--out)"
        )


class atomic_folder:  # noqa: N801 - used as a context manager, like open()
    """``with atomic_folder(target) as staging:`` write into ``staging``; on success the
    folder replaces ``target`` in one rename, on any error (or Ctrl-C, or a killed
    process) ``target`` keeps what it had and the staging folder disappears."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.staging: Path | None = None
        self._watchdog: _Watchdog | None = None
        self._created: list[Path] = []  # folders above target made here, deepest first

    def __enter__(self) -> Path:
        if self.target.is_symlink():
            # a link to a results folder elsewhere (another disk): replace what it points
            # to, next to it, and keep the link (swapping the link itself for the new
            # folder would bring the results back to this disk)
            self.target = self.target.resolve()
        writable_parent(self.target)
        try:
            missing = self.target.absolute().parent
            while not missing.exists():
                self._created.append(missing)
                missing = missing.parent
            self.target.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale(self.target)
            # os.mkdir (not mkdtemp, which makes it private) so that the folder gets the
            # permissions of any folder the user creates
            self.staging = self.target.parent / (
                f".{self.target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
            )
            os.mkdir(self.staging)
        except OSError as exc:
            for folder in self._created:  # deepest first: only what this made, if empty
                try:
                    folder.rmdir()
                except OSError:
                    break
            raise ResultError(
                f"cannot write results to {self.target}: {exc.strerror or exc}"
            ) from None
        self._watchdog = _Watchdog(self.staging, self._created)
        return self.staging

    def __exit__(self, exc_type, exc, tb) -> None:
        committed = False
        try:
            if exc_type is None:
                self._commit()
                committed = True
        finally:
            if self.staging is not None:
                shutil.rmtree(self.staging, ignore_errors=True)
            if self._watchdog is not None:
                self._watchdog.release()
            if not committed:
                # the --out folder this run made, if nothing else was written there
                for folder in self._created:
                    try:
                        folder.rmdir()
                    except OSError:
                        break

    def _commit(self) -> None:
        staging, target = self.staging, self.target
        if not target.exists():
            os.rename(staging, target)
        elif _exchange(staging, target):
            pass  # staging now holds the previous results; __exit__ removes them
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            old.rmdir()
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)


SIZING = "stockpile.json"  # a stockpile sizing's record (simcore.stockpile.output)


def check_target(target: Path, scenario_name: str, scenario_path: str | None,
                 sizing: bool = False) -> None:
    """Raise ``ResultError`` if ``target`` holds anything but results of this scenario,
    or (unless ``sizing``: a new sizing replacing it) a stockpile sizing's results, whose
    own tables a plain run would delete and cannot write again."""
    target = Path(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise ResultError(f"cannot write results to {target}: it is a file")
    if not any(target.iterdir()):
        return
    manifest_path = target / MANIFEST
    if not manifest_path.is_file():
        raise ResultError(
            f"{target} exists and is not a supplyshock results folder (no {MANIFEST}); "
            f"remove it or choose another output folder (--out)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        old = manifest["scenario"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ResultError(
            f"{manifest_path} is not a readable results manifest; remove {target} "
            f"or choose another output folder (--out)"
        ) from None
    same_name = old.get("name") == scenario_name
    same_path = (scenario_path is None or old.get("path") is None
                 or _same_scenario_file(str(old["path"]), scenario_path))
    if not same_name:
        raise ResultError(
            f"{target} holds results of scenario {old.get('name')!r} ({old.get('path')}), not of "
            f"{scenario_name!r} ({scenario_path}); remove it or choose another output folder "
            f"(--out)"
        )
    if not same_path:  # the same name from another file: a folder copied or moved
        raise ResultError(
            f"{target} holds results of a scenario {scenario_name!r} from another file, "
            f"{old.get('path')}, not {scenario_path} (a folder copied or moved from "
            f"there?); remove it or choose another output folder (--out)"
        )
    if not sizing and (target / SIZING).is_file():
        raise ResultError(
            f"{target} holds a stockpile sizing ({SIZING} and its search tables), which "
            "this run would replace by plain results; run into another folder (--out), "
            "or `supplyshock verify` the folder to check it"
        )
    # the folder is replaced as a whole: anything the user put in it would go with it
    known = {MANIFEST, SIZING, *(f for f in manifest.get("files") or () if isinstance(f, str))}
    try:
        record = json.loads((target / SIZING).read_text(encoding="utf-8"))
        known.update(name for name in (record.get("tables") or {}) if isinstance(name, str))
    except (OSError, ValueError, AttributeError):
        pass
    foreign = sorted(p.name for p in target.iterdir()
                     if p.name not in known and not p.name.startswith("."))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise ResultError(
            f"{target} holds files that are not results of this scenario ({shown}); "
            "replacing the folder would delete them: move them out, or choose another "
            "output folder (--out)"
        )


def _same_scenario_file(recorded: str, path: str) -> bool:
    """Whether a manifest's scenario path (relative to the folder that run was started
    in, or absolute: ``api.portable_path``) can name the file at ``path`` (the same, from
    the working folder now). A relative one must end the file's absolute path: the same
    file run from another folder (``scenarios/a.toml`` from the checkout, ``a.toml`` from
    scenarios/) is the same scenario; ``other/a.toml`` is not."""
    if recorded == path:
        return True
    here = Path(path).absolute()
    then = PurePosixPath(recorded)
    if then.is_absolute() or Path(recorded).is_absolute():
        return Path(recorded).resolve() == here.resolve()
    parts = then.parts
    return any(p.parts[-len(parts):] == parts for p in (here, here.resolve()))
