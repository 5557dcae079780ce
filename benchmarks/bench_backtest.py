"""The calibration set at full strength: every shipped replay at 2,000 draws (the number
the pass rule is stated at) and, as a check that the verdicts are not an accident of
those draws, at 10,000 draws with the same seeds. Prints both tables and the time.

    NUMBA_CACHE_DIR=/tmp/nbc python benchmarks/bench_backtest.py

The test suite runs the same checks at 500 draws (tests/test_backtest.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simcore import backtest as bt  # noqa: E402
from simcore.cli.run import _text_table  # noqa: E402


def main() -> int:
    checks = bt.load_checks(ROOT / "scenarios" / "backtests.csv")
    bt.run(checks[:1], 1)  # load (or compile) the kernel outside the timings
    worst = 0
    for draws in (2000, 10000):
        started = time.perf_counter()
        outcomes = bt.run(checks, draws)
        took = time.perf_counter() - started
        failed = sum(not o.passed for o in outcomes)
        worst = max(worst, failed)
        print(f"\n{draws:,} draws per replay: {len(outcomes) - failed} of {len(outcomes)} "
              f"checks pass ({took:.1f} s)")
        print(_text_table(bt.HEADER, bt.table(outcomes)))
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
