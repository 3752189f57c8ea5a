"""The file spark-submit runs: `spark-submit ... streaming/submit.py COMMAND ...` is `neardup
COMMAND ...` as a driver on a cluster (see streaming.local.cluster.submit_command)."""

import sys
from pathlib import Path

# Python puts this file's folder (streaming/) first on sys.path, where its modules would shadow
# top-level ones of the same name; the package is imported from the project root (or the --py-files
# zip) instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from pyspark.sql import SparkSession

from streaming.cli import main

code = main(sys.argv[1:])
# Under spark-submit the JVM outlives this process: stop the session while Python still answers, so
# that the listener bus delivers the last progress events (the final micro-batch's log line) instead
# of failing.
session = SparkSession.getActiveSession()
if session is not None:
    session.stop()
sys.exit(code)
