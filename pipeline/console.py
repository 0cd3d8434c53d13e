"""What the command line shows of a run as it goes: its log, the per-file lines, the
first failures, and Ctrl-C.

``configure_logging`` sends the log to stderr (or ``--log-filename``) and sets where
the per-file lines go: with ``--log-filename`` every one to FILE alone (the printed
summary lists the failures); else the ``-v``/``--dry-run`` ones to stdout (JSON with
``--json -v``), failures to stderr above the progress bar; ``-q`` leaves only the
failures. ``CommandLineObserver`` is the run observer (``pipeline.observer``) that
writes those lines, keeps the first failures for the summary, and asks the run to stop
once Ctrl-C or SIGTERM came (``pipeline.interrupt``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from pipeline import interrupt
from pipeline.errors import UsageError
from pipeline.naming import printable
from pipeline.observer import RunObserver
from pipeline.progress import AboveTheBar
from pipeline.records import Action, FileResult
from pipeline.report.lines import report_line
from pipeline.summary import MAX_LISTED_FAILURES, listed_failure

FILES_LOGGER = logging.getLogger("pipeline.files")


class CommandLineObserver(RunObserver):
    """One line per file (``pipeline.files``), the first failures, stop on Ctrl-C."""

    def __init__(self, bucket: str, json_lines: bool) -> None:
        self._bucket = bucket
        self._json_lines = json_lines
        self._lock = threading.Lock()  # results come from several bundle threads
        self.failures: list[dict[str, str]] = []  # the first failures, for the summary

    def stop_requested(self) -> bool:
        return interrupt.requested()

    def finished(self, result: FileResult) -> None:
        if result.action is Action.FAILED:
            with self._lock:
                if len(self.failures) < MAX_LISTED_FAILURES:
                    self.failures.append(listed_failure(result))
        if self._json_lines:
            FILES_LOGGER.info("%s", report_line(result).rstrip("\n"))
        elif result.action is Action.FAILED:
            FILES_LOGGER.error("failed: %s: %s", printable(result.path), result.error)
        elif FILES_LOGGER.isEnabledFor(logging.INFO):
            FILES_LOGGER.info("%s", self._line(result))

    def _line(self, result: FileResult) -> str:
        path, target = printable(result.path), printable(f"s3://{self._bucket}/{result.key}")
        action = result.action
        if action is Action.UPLOADED:
            return f"upload {path} -> {target} ({result.reason})"
        if action is Action.WOULD_UPLOAD:
            return f"would upload {path} -> {target} ({result.reason})"
        if action is Action.DELETED:
            return f"delete {target} ({result.reason})"
        if action in (Action.WOULD_DELETE, Action.WITHHELD):
            return f"would delete {target} ({result.reason})"
        if action is Action.NOT_STARTED:
            return f"not started {path} ({result.reason})"
        return f"skip {path} ({result.reason})"


def configure_logging(args: argparse.Namespace) -> tuple[AboveTheBar, ...]:
    """Logs to stderr (or --log-filename); one line per file to stdout with -v/--dry-run.
    The handlers that write above a progress bar, while one is shown."""
    debug = args.verbose >= 2
    above: tuple[AboveTheBar, ...] = ()
    if args.log_filename:
        try:
            log: logging.Handler = logging.FileHandler(
                args.log_filename, encoding="utf-8", errors="backslashreplace"
            )
        except OSError as e:
            raise UsageError(f"--log-filename {args.log_filename!r}: {e.strerror}") from e
        log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        log = AboveTheBar(sys.stderr)
        log.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        above = (log,)
    root = logging.getLogger()
    root.handlers[:] = [log]
    quiet = logging.ERROR if args.quiet else logging.WARNING  # -q: nothing but errors
    root.setLevel(logging.DEBUG if debug else logging.INFO if args.log_filename else quiet)
    for noisy in ("apache_beam", "botocore", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.ERROR)
    if not debug:
        log.addFilter(_not_a_job_message)

    files = FILES_LOGGER
    files.propagate = False
    if args.log_filename:
        files.handlers[:] = [log]
        files.setLevel(logging.INFO)
        return above
    json_lines = args.json and args.verbose >= 1
    show_each = (args.verbose >= 1 or args.dry_run) and not args.quiet
    each = logging.StreamHandler(sys.stderr if args.json and not json_lines else sys.stdout)
    each.setFormatter(logging.Formatter("%(message)s"))
    each.addFilter(lambda record: record.levelno < logging.ERROR)
    failures = AboveTheBar(sys.stderr)
    failures.setFormatter(logging.Formatter("%(message)s"))
    failures.setLevel(logging.ERROR)
    files.handlers[:] = [failures] + ([each] if show_each else [])
    files.setLevel(logging.INFO if show_each else logging.ERROR)
    return (*above, failures)


def _not_a_job_message(record: logging.LogRecord) -> bool:
    """Beam logs a remote job's messages through the root logger as they come (the
    runner's error when the job fails): the run's own error line says what matters, once."""
    return not (record.name == "root" and record.funcName == "read_messages")


def not_beam_gcp_noise(record: logging.LogRecord) -> bool:
    """Newer Beams (2.77.0) warn on import that optional Google Cloud libraries are
    missing ('apitools not found, and bigquery client libraries are not available'): not
    ours, and not the one line a usage error is."""
    return not record.getMessage().startswith("apitools not found")


def show_progress(args: argparse.Namespace) -> bool:
    """A live bar only for a person at a terminal who asked for no other output there
    (the lines of -v may go to --log-filename)."""
    per_file_here = args.verbose and not args.log_filename
    quiet = args.quiet or args.json or per_file_here or args.dry_run or args.no_progress
    return not quiet and sys.stderr.isatty()
