"""Ctrl-C and SIGTERM: stop taking new files and cancel the transfers in flight.

The first signal sets a process-wide flag that the walk and the upload check (on the
local runner they run in this process): transfers in flight are cancelled (their
multipart uploads aborted), files not started are reported as such, and the run ends
with its summary and report; the CLI exits 130. A remote job is cancelled by the client.
A second signal stops at once: the cleanups registered with ``on_force`` (aborting open
multipart uploads, writing the report out) run, bounded in time, and the process exits
130 without a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

from pipeline.errors import EXIT_INTERRUPTED

FORCE_CLEANUP_S = 15.0  # the most a second Ctrl-C waits for cleanups before exiting
_STOP = threading.Event()
_CLEANUPS: list[Callable[[], None]] = []


def requested() -> bool:
    return _STOP.is_set()


def _say(text: str) -> None:
    print(f"s3-parallel-put: {text}", file=sys.stderr, flush=True)


def _stop_now() -> NoReturn:
    _say("stopping at once: aborting open multipart uploads")

    def cleanup() -> None:
        for step in reversed(_CLEANUPS):
            with contextlib.suppress(Exception):  # best effort: the process is ending
                step()

    worker = threading.Thread(target=cleanup, name="s3pp-force-cleanup", daemon=True)
    worker.start()
    worker.join(FORCE_CLEANUP_S)
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _STOP.is_set():
        _stop_now()
    _STOP.set()
    _say("interrupted: cancelling transfers in flight and stopping (again to stop at once)")


@contextlib.contextmanager
def on_force(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run ``cleanup`` if a second signal stops the process at once inside this block."""
    _CLEANUPS.append(cleanup)
    try:
        yield
    finally:
        _CLEANUPS.remove(cleanup)


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
