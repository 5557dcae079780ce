"""``python -m simcore.scenario --write``: regenerate docs/scenarios.md's reference
tables and simcore/schema/scenario.schema.json from the declarations in schema.py.
Without ``--write``: print the reference tables."""

import sys

from simcore.scenario.schema import reference_markdown, write_generated

if "--write" in sys.argv[1:]:
    write_generated()
else:
    sys.stdout.write(reference_markdown())
