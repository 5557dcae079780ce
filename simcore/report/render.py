"""A figure into PNG bytes, in this process or in a worker process of the report.

Kept apart from ``figures`` so that a worker imports matplotlib only (not pandas): a
pickled figure names the module of each function it holds, so the report's tick
formatters live here too (module functions, not lambdas: lambdas do not pickle).
"""

from __future__ import annotations

import io
import pickle


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    # every figure uses the constrained layout, so no second "tight" drawing pass
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def render_png(blob: bytes, dpi: int) -> bytes:
    """A pickled figure as PNG bytes: what a worker process of the report runs (the
    same bytes as png_bytes on the figure itself)."""
    return png_bytes(pickle.loads(blob), dpi=dpi)


def worker_start(params: dict | None) -> None:
    """A worker's start: Ctrl-C is for the report's process, which stops the workers (a
    worker that took it would print its own traceback); and the report process's
    matplotlib settings (``params``, None where it had not imported matplotlib), so that
    a figure drawn here is drawn as it would be there (``savefig.*`` and the other
    settings read when drawing)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if params:
        import warnings

        import matplotlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated keys set back as they were
            matplotlib.rcParams.update(params)


def warm() -> None:
    """Import what drawing needs, while the report computes its first sections."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


def usd_tick(v, _) -> str:
    """Dollars with their unit ($250.0M, $1.5bn), not matplotlib's numbers under a 1e9
    offset."""
    from simcore.money import usd

    return "0" if v == 0 else usd(v) if v > 0 else "-" + usd(-v)


def times_tick(v, _) -> str:
    """A price relative to the reference (2×)."""
    return f"{v:g}×"


def pp_tick(v, _) -> str:
    """A change of share in percentage points."""
    return f"{100 * v:+.3g} pp" if v else "0"
