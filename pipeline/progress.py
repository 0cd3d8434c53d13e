"""A live progress bar on stderr, fed by the pipeline's own steps or the job's metrics.

A ``Progress`` is a run observer (``pipeline.observer``) that the CLI passes to the run;
on the local runner the walk, the transfers and the result counting run in this same
process and tell it: files found, bytes sent (as the transport reports them: awscrt
part by part, so a big multipart upload moves the bar; under ``--bwlimit`` as they pass
the cap), files done. The bytes are those the summary counts, the bodies of the uploads
that landed, plus, while the run goes, what the uploads on their way have sent so far:
an attempt that fails or is cancelled takes its bytes back (``Transfer``), so the bar
ends on the summary's number, after Ctrl-C too. While the walk is still finding files
the bar says "of N+ found" rather than a percentage that would shrink; once the walk has
ended it shows the percentage. A file not started because the run was interrupted is
not done, so an interrupted run never shows 100%. Workers in other processes hear of no
bar: their counts come as ``job_counts``, from the job's counters and, about once a
second, from the workers themselves (``pipeline.relay``). Log
lines (per-file errors) are written above the bar, not through it.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import IO, Any

from pipeline.observer import RunObserver
from pipeline.records import Action, FileResult, LocalFile

_TICK_S = 0.5  # the clock moves even when nothing finishes


def _mib(n: float) -> str:
    return f"{n / 1048576:,.1f}"


class Progress(RunObserver):
    """Files done of those found, bytes sent and their rate, failures; a ticking clock.
    The log handlers in ``above`` write above it while it is shown."""

    def __init__(self, stream: IO[str], above: tuple[AboveTheBar, ...] = ()) -> None:
        from tqdm import tqdm

        self._above = above
        self._stream = stream
        self._lock = threading.Lock()
        self._bar: Any = tqdm(
            total=None, unit=" files", file=stream, dynamic_ncols=True, mininterval=0.2,
            leave=True,
        )  # fmt: skip
        self._found = self._bytes_sent = self._failed = 0
        self._walk_done = False
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="s3pp-progress", daemon=True)

    def __enter__(self) -> Progress:
        for handler in self._above:
            handler.bar = self
        self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handler in self._above:
            handler.bar = None
        self._stop.set()
        self._ticker.join(2 * _TICK_S)
        with self._lock:
            self._show()
            self._bar.close()

    def _tick(self) -> None:
        while not self._stop.wait(_TICK_S):
            with self._lock:
                self._show()
                self._bar.refresh()

    def _show(self) -> None:
        """The bar's text after a change (the caller holds the lock)."""
        elapsed = self._bar.format_dict.get("elapsed") or 0.0
        rate = self._bytes_sent / elapsed if elapsed > 0 else 0.0
        found = "" if self._walk_done else f"of {self._found:,}+ found, "
        self._bar.set_postfix_str(
            f"{found}{_mib(self._bytes_sent)} MiB sent, {_mib(rate)} MiB/s, {self._failed} failed",
            refresh=False,
        )

    def found(self, item: LocalFile | FileResult) -> None:
        """A file the walk found: to upload (LocalFile), or settled already (a result)."""
        with self._lock:
            self._found += 1
            if self._walk_done:
                self._bar.total = self._found

    def walk_ended(self) -> None:
        """Every file has been found: from now on a percentage means something."""
        with self._lock:
            self._walk_done = True
            self._bar.total = max(self._found, self._bar.n)
            self._show()

    def transfer(self) -> Transfer:
        """The account of one upload's bytes on the bar."""
        return Transfer(self)

    def _count_sent(self, transfer: Transfer, size: int) -> None:
        with self._lock:
            transfer.counted += size
            self._bytes_sent += size

    def finished(self, result: FileResult) -> None:
        with self._lock:
            if result.action is Action.FAILED:
                self._failed += 1
            self._show()  # an upload not started may have taken its bytes back
            if result.action is not Action.NOT_STARTED:
                self._bar.update(1)

    def job_counts(self, counters: dict[str, int]) -> None:
        """Counts of a job that runs elsewhere, from its Beam counters so far."""
        with self._lock:
            self._walk_done = True
            self._bar.total = max(counters.get("files_found", 0), counters.get("files", 0))
            self._failed = counters.get("files_failed", 0)
            self._bytes_sent = counters.get("bytes_uploaded", 0)
            self._show()
            self._bar.n = counters.get("files", 0) - counters.get("files_not_started", 0)
            self._bar.refresh()

    def wants_job_counts(self) -> bool:
        return True

    def job_stage(self, text: str) -> None:
        """What a remote runner says of the job's progress, before its counts arrive."""
        with self._lock:
            self._bar.set_description_str(text, refresh=True)

    def write(self, line: str) -> None:
        """A line above the bar."""
        with self._lock:
            self._bar.write(line, file=self._stream)


class Transfer:
    """The bytes that one upload has put on the bar: those its transport reports as sent,
    until its attempt ends; then what it keeps there (``settle``)."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self.counted = 0

    def sent(self, size: int) -> None:
        """Bytes that the transfer has just sent (called on transport threads)."""
        self._bar._count_sent(self, size)

    def settle(self, kept: int) -> None:
        """The attempt has ended: the upload now counts ``kept`` bytes (the body of an
        upload that landed; 0 for one that failed, was cancelled, or is sent again)."""
        self._bar._count_sent(self, kept - self.counted)


class AboveTheBar(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that writes above the run's progress bar while one is shown (the
    bar sets ``bar`` while it is)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.bar: Progress | None = None

    def emit(self, record: logging.LogRecord) -> None:
        bar = self.bar
        if bar is None:
            super().emit(record)
            return
        try:
            bar.write(self.format(record))
        except Exception:  # logging must never break the run
            self.handleError(record)
