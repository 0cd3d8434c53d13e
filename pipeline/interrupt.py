"""Ctrl-C and SIGTERM: stop taking new files, let transfers in flight finish or abort.

The first signal sets a process-wide flag that the walk and the upload check (on the
local runner they run in this process); the run then ends normally with its summary and
report, and the CLI exits 130. A second signal stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

_STOP = threading.Event()


def requested() -> bool:
    return _STOP.is_set()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _STOP.is_set():
        raise KeyboardInterrupt
    _STOP.set()
    print(
        "s3-parallel-put: interrupted: finishing transfers in flight (again to stop at once)",
        file=sys.stderr,
        flush=True,
    )


@contextlib.contextmanager
def graceful() -> Iterator[None]:
    """Handle SIGINT and SIGTERM gracefully while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
