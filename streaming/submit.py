"""The file spark-submit runs: `spark-submit ... streaming/submit.py COMMAND ...` is `neardup COMMAND ...`
as a driver on a cluster (see streaming.local.cluster.submit_command)."""

import sys
from pathlib import Path

# Python puts this file's folder (streaming/) first on sys.path, where its modules would shadow top-level
# ones of the same name; the package is imported from the project root (or the --py-files zip) instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from streaming.cli import main

sys.exit(main(sys.argv[1:]))
