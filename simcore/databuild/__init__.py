"""Build the shipped baseline dataset from public raw data (docs/baseline.md).

``build_dataset(out)`` reads the raw files in ``simcore/data/sources/`` and the
hand-written tables in ``simcore/databuild/tables/`` and writes a dataset folder.
"""

from simcore.databuild.build import build_dataset, build_files

__all__ = ["build_dataset", "build_files"]
