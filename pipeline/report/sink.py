"""Writing the per-file report: one file on the local runner, shards on a cluster.

On the local runner the report is one JSON-lines file, appended and flushed per line.
On distributed runners ``--report PATH`` names a directory (on a path the workers share)
or an ``s3://`` prefix: each worker bundle writes a shard of its own,
``HOST-PID-ID.jsonl``, so no two writers ever share a file. Local shards are flushed per
line; an ``s3://`` shard is stored when its bundle ends. Each line names the worker
(``host/pid``) that handled the file.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from typing import IO

import apache_beam as beam

from pipeline.options import RecordOptions, TargetOptions, TransportOptions
from pipeline.records import FileResult
from pipeline.report.lines import report_line
from pipeline.report.place import REPORT_SUFFIX
from pipeline.s3uri import is_s3
from pipeline.transport import open_control


def worker_name() -> str:
    """This worker's host and process, as report lines name them."""
    return f"{socket.gethostname()}/{os.getpid()}"


class _WriteReportFn(beam.DoFn):  # type: ignore[misc]
    """FileResult -> (one line in the report, flushed)."""

    def __init__(
        self, records: RecordOptions, target: TargetOptions, transport: TransportOptions
    ) -> None:
        super().__init__()
        self._records = records
        self._target = target
        self._transport = transport
        self._file: contextlib.ExitStack | None = None
        self._lines: IO[str] | None = None
        self._worker = ""

    def setup(self) -> None:
        self._worker = worker_name()
        self._file = None
        self._lines = None

    def _open(self, stack: contextlib.ExitStack) -> IO[str]:
        path = self._records.report_path
        assert path is not None
        if not self._records.report_shards:
            return stack.enter_context(open(path, "a", encoding="utf-8"))
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}{REPORT_SUFFIX}"
        if is_s3(path):
            control = open_control(self._target, self._transport)
            stack.callback(control.close)
            return stack.enter_context(control.write_text(path.rstrip("/") + "/" + name))
        os.makedirs(path, exist_ok=True)
        return stack.enter_context(open(os.path.join(path, name), "a", encoding="utf-8"))

    def process(self, result: FileResult) -> Iterator[None]:
        if self._lines is None:
            self._file = contextlib.ExitStack()
            self._lines = self._open(self._file)
        self._lines.write(report_line(result, self._worker, self._target))
        self._lines.flush()
        return iter(())

    def finish_bundle(self) -> None:
        if self._records.report_shards:
            self._close()

    def teardown(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._lines = None
            file, self._file = self._file, None
            file.close()


class WriteReport(beam.PTransform):  # type: ignore[misc]
    """PCollection[FileResult] -> (the report written)."""

    def __init__(
        self, records: RecordOptions, target: TargetOptions, transport: TransportOptions
    ) -> None:
        super().__init__()
        self._fn = _WriteReportFn(records, target, transport)

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        return results | "WriteLines" >> beam.ParDo(self._fn)
