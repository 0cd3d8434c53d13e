"""A live progress bar on stderr, fed by the pipeline's own steps or the job's metrics.

The CLI opens a ``Progress`` for a run; on the local runner the walk and the result
counting run in this same process and report to it by the run's id. Remote workers find
no bar under that id; for them the client polls the job's Beam counters instead.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import IO, Any

from pipeline.records import Action, FileResult, LocalFile

_OPEN: dict[str, Progress] = {}  # run id -> the bar this process shows for it
_OPEN_LOCK = threading.Lock()


def _mib(n: int) -> str:
    return f"{n / 1048576:,.1f}"


class Progress:
    """Files and bytes done of those found so far, rate, ETA and failures."""

    def __init__(self, run_id: str, stream: IO[str]) -> None:
        from tqdm import tqdm

        self._run_id = run_id
        self._lock = threading.Lock()
        self._bar: Any = tqdm(
            total=0, unit=" files", file=stream, dynamic_ncols=True, mininterval=0.2, leave=True
        )
        self._bytes_found = self._bytes_done = self._failed = 0

    def __enter__(self) -> Progress:
        with _OPEN_LOCK:
            _OPEN[self._run_id] = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _OPEN_LOCK:
            _OPEN.pop(self._run_id, None)
        self._bar.close()

    def _postfix(self) -> None:
        self._bar.set_postfix_str(
            f"{_mib(self._bytes_done)}/{_mib(self._bytes_found)} MiB, {self._failed} failed",
            refresh=False,
        )

    def found(self, file: LocalFile) -> None:
        with self._lock:
            self._bar.total += 1
            self._bytes_found += file.size
            self._postfix()

    def finished(self, result: FileResult) -> None:
        with self._lock:
            if result.action is Action.FAILED:
                self._failed += 1
            self._bytes_done += result.size
            self._postfix()
            self._bar.update(1)

    def show_counts(self, counters: dict[str, int]) -> None:
        """Counts of a job that runs elsewhere, from its Beam counters so far."""
        with self._lock:
            self._bar.total = max(counters.get("files_found", 0), counters.get("files", 0))
            self._failed = counters.get("files_failed", 0)
            self._bytes_done = counters.get("bytes_read", 0)
            self._postfix()
            self._bar.n = counters.get("files", 0)
            self._bar.refresh()

    def show_stage(self, text: str) -> None:
        """What a remote runner says of the job's progress, before its counts arrive."""
        with self._lock:
            self._bar.set_description_str(text, refresh=True)


def for_run(run_id: str) -> Progress | None:
    """The bar this process shows for ``run_id``, if any."""
    return _OPEN.get(run_id)
