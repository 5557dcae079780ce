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
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = -1.0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int) -> None:
        """Add ``n`` finished draws."""
        self.done = min(self.total, self.done + int(n))
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw >= _MIN_INTERVAL or self.done >= self.total):
            self._last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar as it would be drawn now."""
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        fraction = self.done / self.total if self.total else 1.0
        filled = int(_WIDTH * fraction)
        rate = self.done / elapsed
        if self.done >= self.total:
            tail = f"{_clock(elapsed)} elapsed"
        elif rate > 0:
            tail = f"{_clock((self.total - self.done) / rate)} left"
        else:
            tail = "--:-- left"
        label = f"{self.label} " if self.label else ""
        return (
            f"{label}[{'#' * filled}{' ' * (_WIDTH - filled)}] "
            f"{self.done:,}/{self.total:,} draws  {rate:,.0f} draws/s  {tail}"
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
