"""Writing the per-file report: one file on the local runner, shards on a cluster.

On the local runner the report is one JSON-lines file, appended and flushed per line.
On distributed runners ``--report PATH`` names a directory (on a path the workers share)
or an ``s3://`` prefix: each worker bundle writes a shard of its own,
``HOST-PID-ID.jsonl``, so no two writers ever share a file. Local shards are flushed per
line; an ``s3://`` shard is stored when its bundle ends. Each line names the worker
(``host/pid``) that handled the file.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import IO, Any

import apache_beam as beam

from pipeline import report
from pipeline.config import UploadConfig
from pipeline.records import FileResult
from pipeline.resume import REPORT_SUFFIX


def worker_name() -> str:
    """This worker's host and process, as report lines name them."""
    return f"{socket.gethostname()}/{os.getpid()}"


class _WriteReportFn(beam.DoFn):  # type: ignore[misc]
    """FileResult -> (one line in the report, flushed)."""

    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._config = config
        self._file: IO[str] | None = None
        self._worker = ""
        self._client: Any = None

    def setup(self) -> None:
        self._worker = worker_name()
        self._file = None

    def _open_shard(self) -> IO[str]:
        path = self._config.report_path
        assert path is not None
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}{REPORT_SUFFIX}"
        if report.is_remote(path):
            import smart_open

            if self._client is None:
                from pipeline.transport.boto import make_client

                config = self._config
                self._client = make_client(config.endpoint, config.ca_bundle, config.profile)
            uri = path.rstrip("/") + "/" + name
            opened: IO[str] = smart_open.open(
                uri, "w", encoding="utf-8", transport_params={"client": self._client}
            )
            return opened
        os.makedirs(path, exist_ok=True)
        return open(os.path.join(path, name), "a", encoding="utf-8")

    def process(self, result: FileResult) -> Iterator[None]:
        if self._file is None:
            path = self._config.report_path
            assert path is not None
            if self._config.report_shards:
                self._file = self._open_shard()
            else:
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        self._file.write(report.report_line(result, self._worker))
        self._file.flush()
        return iter(())

    def finish_bundle(self) -> None:
        if self._config.report_shards:
            self._close()

    def teardown(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class WriteReport(beam.PTransform):  # type: ignore[misc]
    """PCollection[FileResult] -> (the report written)."""

    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        return results | "WriteLines" >> beam.ParDo(_WriteReportFn(self._config))
