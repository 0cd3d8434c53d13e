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
counts instead (or the workers' own, sent to the client: ``pipeline.relay``). Nothing
here is shared between two runs: each has its own observer.
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


def live_observer(pid: int, token: int) -> RunObserver | None:
    """The observer that an unpickled reference names, when this is the process that
    made it and the observer is alive."""
    if pid != os.getpid():
        return None
    with _LIVE_LOCK:
        return _LIVE.get(token)


def _resolve(pid: int, token: int) -> RunObserver:
    """An observer reference unpickled: the live observer in the process that made it,
    else a silent one."""
    found = live_observer(pid, token)
    return found if found is not None else RunObserver()


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

    def wants_job_counts(self) -> bool:
        """Whether it follows the counts of a job that runs elsewhere (a bar does): then
        the workers send theirs to the client as they go (``pipeline.relay``)."""
        return False

    def reference(self) -> tuple[int, int]:
        """What names this observer in this process (``live_observer``)."""
        token = getattr(self, "_observer_token", None)
        if token is None:
            with _LIVE_LOCK:
                token = next(_NEXT)
                _LIVE[token] = self
            self._observer_token = token
        return (os.getpid(), token)

    def __reduce__(self) -> tuple[Any, ...]:
        if type(self) is RunObserver:
            return (RunObserver, ())
        return (_resolve, self.reference())


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

    def wants_job_counts(self) -> bool:
        return any(observer.wants_job_counts() for observer in self._observers)


SILENT = RunObserver()
