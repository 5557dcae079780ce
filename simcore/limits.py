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
