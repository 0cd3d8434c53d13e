"""A fault hook for the CLI's own process, loaded through PYTHONPATH by tests that need
the walk to be slow on purpose.

With ``S3PP_TEST_HOLD_DIRECTORY`` set, reading that directory (``os.scandir``) waits
until the file named by ``S3PP_TEST_RELEASE_FILE`` exists (at most HOLD_S seconds), so
a test can look at the run while its walk is still finding files, then let it end.
"""

from __future__ import annotations

import os
import time

HOLD_S = 120.0

_held = os.environ.get("S3PP_TEST_HOLD_DIRECTORY")
_release = os.environ.get("S3PP_TEST_RELEASE_FILE")

if _held and _release:
    _scandir = os.scandir

    def _held_scandir(path: object = ".") -> object:
        if isinstance(path, str) and os.path.abspath(path) == _held:
            deadline = time.monotonic() + HOLD_S
            while not os.path.exists(_release) and time.monotonic() < deadline:
                time.sleep(0.05)
        return _scandir(path)  # type: ignore[call-overload]

    os.scandir = _held_scandir  # type: ignore[assignment]
