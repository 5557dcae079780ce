"""A one-line progress bar on stderr: draws done, draws per second, time left.

No dependency beyond the standard library. The bar redraws at most a few times per
second so that it costs nothing next to the simulation, and it stays silent when the
stream is not a terminal (a log file, a pipe, a CI job) unless asked for explicitly.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 28  # characters of the bar itself
_MIN_INTERVAL = 0.2  # [s] between redraws


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Progress of ``total`` draws, shown as ``label [#####   ] 1,024/10,000 draws ...``.

    ``enabled=None`` shows the bar only when ``stream`` is a terminal. Use as a context
    manager, or call :meth:`close` to end the line.

    Two counts feed it: :meth:`update` adds draws written (a chunk at a time), and
    :meth:`reach` says how many draws the engine has finished (more often, within a
    chunk); the bar shows the larger. :meth:`start` draws it at once (before the first
    draw, while the simulator loads or compiles), :meth:`restart_clock` makes the rate
    count from now (the moment the simulator is ready), :meth:`note` prints a line above.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ):
        self.total = int(total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0  # draws written
        self.reached = 0  # draws the engine has finished
        self._start = time.perf_counter()
        self._from = 0  # draws shown when the clock (re)started
        self._waiting = ""  # what the bar says before the first draw
        self._last_draw = -1.0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def shown(self) -> int:
        """Draws shown: written, or finished by the engine if more."""
        return max(self.done, self.reached)

    def update(self, n: int) -> None:
        """Add ``n`` draws written."""
        self.done = min(self.total, self.done + int(n))
        self._refresh()

    def reach(self, done: int) -> None:
        """The engine has finished ``done`` draws in all (some perhaps not yet written)."""
        self.reached = min(self.total, max(self.reached, int(done)))
        self._refresh()

    def start(self, waiting: str = "") -> None:
        """Show the bar now, before the first draw, saying ``waiting`` until then."""
        self._waiting = waiting
        if self.enabled:
            now = time.perf_counter()
            self._last_draw = now
            self._draw(now)

    def restart_clock(self) -> None:
        """Rates and times left count from now: what came before (loading or compiling
        the simulator) is not simulating."""
        self._start = time.perf_counter()
        self._from = self.shown
        self._waiting = ""
        self._refresh(force=True)

    def note(self, text: str) -> None:
        """A line of text above the bar (the bar is drawn again below it)."""
        if self.enabled and self._last_draw >= 0:
            self.stream.write("\r\x1b[K" + text + "\n")
            self._draw(time.perf_counter())
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _refresh(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.enabled and (
            force or now - self._last_draw >= _MIN_INTERVAL or self.shown >= self.total
        ):
            self._last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar as it would be drawn now."""
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        shown = self.shown
        fraction = shown / self.total if self.total else 1.0
        filled = int(_WIDTH * fraction)
        rate = (shown - self._from) / elapsed
        if shown >= self.total:
            tail = f"{_clock(elapsed)} elapsed"
        elif self._waiting and shown == 0:
            tail = self._waiting
        elif rate > 0:
            tail = f"{_clock((self.total - shown) / rate)} left"
        else:
            tail = "--:-- left"
        label = f"{self.label} " if self.label else ""
        return (
            f"{label}[{'#' * filled}{' ' * (_WIDTH - filled)}] "
            f"{shown:,}/{self.total:,} draws  {rate:,.0f} draws/s  {tail}"
        )

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.enabled and self._last_draw >= 0:
            self.stream.write("\n")
            self.stream.flush()
