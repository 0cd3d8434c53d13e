"""``python -m pipeline.jobserver``: start a Beam Flink job server that runs share."""

import sys

from pipeline.jobserver import main

raise SystemExit(main(sys.argv[1:]))
