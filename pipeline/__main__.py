"""``python -m pipeline``: the same as the ``s3-parallel-put`` command."""

from pipeline.cli import main

raise SystemExit(main())
