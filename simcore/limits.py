"""Limits of a run that several layers check: the scenario schema, the command line and
the Python API all take them from here, so that a value one accepts the others accept.

Importing this module imports nothing (``supplyshock --help`` stays instant).
"""

MAX_DRAWS = 100_000_000  # draws of one run: the scenario's `draws`, --draws, simcore.run
MAX_SEED = 2**63  # seeds are whole numbers in [0, MAX_SEED)

# A run estimated to take longer or to write more than this is refused unless asked for
# explicitly (`supplyshock run --yes`); docs/results.md says how the estimate is made.
LARGE_RUN_SECONDS = 3600.0
LARGE_RUN_BYTES = 10e9

# A shortage share (of need) at most this is rounding, not a shortage, and a change of one
# at most this is no change: the stored shares are float32 (2^-24 of a share of 1), and
# the origin state's buying band (docs/model.md [M6]) moves untouched exposures by
# 1e-9-1e-8. summarize and compare, the report and stockpile sizing read shares so.
SHARE_DUST = 1e-6
