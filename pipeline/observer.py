"""What a run tells whoever started it, as it goes; and whether it should stop.

A ``RunObserver`` is passed in to the transforms (``UploadTree(..., observer=...)``) and
from them to each step that has something to tell: the walk (files found, the walk
ended), the upload (bytes sent), the results (each file's outcome) and the job
(counts of a job that runs elsewhere). Steps ask it whether to stop taking new work
(Ctrl-C). The default is silent and never stops: a library run shows nothing and stops
only when its pipeline does.

A DoFn is pickled on its way to a worker. An observer pickles as a reference: in the
process that made it, the reference is the observer itself, so the steps of a local run
reach the command line's progress bar; in any other process (a cluster's worker, a
local runner's worker process) it is a silent one, and the client follows the job's
counts instead. Nothing here is shared between two runs: each has its own observer.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from typing import Any, Protocol

from pipeline.records import FileResult, LocalFile


class BytesSent(Protocol):
    """The account of one upload's bytes (``progress.Transfer``)."""

    def sent(self, size: int) -> None:
        """Bytes that the transfer has just sent (on transport threads)."""

    def settle(self, kept: int) -> None:
        """The attempt ended: the upload now counts ``kept`` bytes."""


_LIVE: weakref.WeakValueDictionary[int, RunObserver] = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()
_NEXT = itertools.count()


def _resolve(pid: int, token: int) -> RunObserver:
    """An observer reference unpickled: the live observer in the process that made it,
    else a silent one."""
    if pid == os.getpid():
        with _LIVE_LOCK:
            found = _LIVE.get(token)
        if found is not None:
            return found
    return RunObserver()


class RunObserver:
    """The silent observer: it shows nothing and never asks to stop. Subclasses say what
    they want to hear of."""

    def found(self, item: LocalFile | FileResult) -> None:
        """A file the walk found: to decide on (LocalFile), or settled already."""

    def walk_ended(self) -> None:
        """Every file has been found (said only where the whole walk runs here)."""

    def transfer(self) -> BytesSent | None:
        """The account of one upload's bytes as they are sent; None: not followed."""
        return None

    def finished(self, result: FileResult) -> None:
        """A file's (or a deletion's) outcome."""

    def job_counts(self, counters: dict[str, int]) -> None:
        """The counts so far of a job that runs elsewhere (its Beam counters)."""

    def job_stage(self, text: str) -> None:
        """What the runner says of a job that runs elsewhere, before its counts come."""

    def stop_requested(self) -> bool:
        """Whether to stop taking new work: the walk stops, transfers are cancelled."""
        return False

    def __reduce__(self) -> tuple[Any, ...]:
        if type(self) is RunObserver:
            return (RunObserver, ())
        token = getattr(self, "_observer_token", None)
        if token is None:
            with _LIVE_LOCK:
                token = next(_NEXT)
                _LIVE[token] = self
            self._observer_token = token
        return (_resolve, (os.getpid(), token))


class Observers(RunObserver):
    """Several observers heard as one; stop is asked of each."""

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = observers

    def found(self, item: LocalFile | FileResult) -> None:
        for observer in self._observers:
            observer.found(item)

    def walk_ended(self) -> None:
        for observer in self._observers:
            observer.walk_ended()

    def transfer(self) -> BytesSent | None:
        for observer in self._observers:
            account = observer.transfer()
            if account is not None:
                return account
        return None

    def finished(self, result: FileResult) -> None:
        for observer in self._observers:
            observer.finished(result)

    def job_counts(self, counters: dict[str, int]) -> None:
        for observer in self._observers:
            observer.job_counts(counters)

    def job_stage(self, text: str) -> None:
        for observer in self._observers:
            observer.job_stage(text)

    def stop_requested(self) -> bool:
        return any(observer.stop_requested() for observer in self._observers)


SILENT = RunObserver()
