"""The Beam pipeline, wired: walk -> decide -> Reshuffle -> upload -> summary."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import IO

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import archive, bucket_source, interrupt, progress, report, source
from pipeline.compare import DecidePutFn
from pipeline.config import UploadConfig
from pipeline.naming import printable
from pipeline.records import Action, FileResult, LocalFile
from pipeline.results import SummarizeResults, Summary
from pipeline.upload import UploadFn

METRICS_NAMESPACE = "s3_parallel_put"
FILES_LOGGER = logging.getLogger("pipeline.files")


class _WalkSourcesFn(beam.DoFn):  # type: ignore[misc]
    """Roots -> LocalFile, or FileResult for what is skipped or cannot be read."""

    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._config = config
        self._done: dict[str, tuple[str, int, float]] = {}

    def setup(self) -> None:
        if self._config.resume_path is not None:
            self._done = report.load_done(self._config.resume_path)

    def _walk(self, roots: tuple[source.Root, ...]) -> Iterator[LocalFile | FileResult]:
        config = self._config
        if config.walk != "filesystem":
            return _walk_remote(config, roots)
        return source.walk(roots, config.prefix, config.file_filter, config.follow_symlinks)

    def process(self, roots: tuple[source.Root, ...]) -> Iterator[object]:
        found = 0
        limit = self._config.limit
        bar = progress.for_run(self._config.run_id)
        for item in self._walk(roots):
            if interrupt.requested():
                return
            if isinstance(item, LocalFile):
                if limit is not None and found >= limit:
                    return
                found += 1
                if bar is not None:
                    bar.found(item)
                if self._done and report.is_recorded_done(item, self._done):
                    yield FileResult.of(item, Action.SKIPPED, reason="recorded done (resume)")
                else:
                    yield item
            else:
                yield item


def _walk_remote(
    config: UploadConfig, roots: tuple[source.Root, ...]
) -> Iterator[LocalFile | FileResult]:
    """--walk tar (archives, local or s3://) and --walk s3 (a source bucket)."""
    client = None
    if any(root.path.startswith("s3://") for root in roots):
        from pipeline.transport.boto import make_client

        client = make_client(config.endpoint, config.ca_bundle, config.profile)
    for root in roots:
        if config.walk == "s3":
            yield from bucket_source.walk_bucket(
                client, root.path, config.prefix, config.file_filter
            )
        else:
            yield from archive.walk_tar(root.path, config.prefix, config.file_filter, client)


class _CountResultsFn(beam.DoFn):  # type: ignore[misc]
    """Beam Metrics counters and one log line per file; passes results through."""

    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._bucket = config.bucket
        self._run_id = config.run_id
        self._json_lines = config.json_lines
        self._files = Metrics.counter(METRICS_NAMESPACE, "files")
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "bytes_uploaded")
        self._by_action = {
            action: Metrics.counter(METRICS_NAMESPACE, f"files_{action.value}") for action in Action
        }

    def process(self, result: FileResult) -> Iterator[FileResult]:
        bar = progress.for_run(self._run_id)
        if bar is not None:
            bar.finished(result)
        self._files.inc()
        self._by_action[result.action].inc()
        self._bytes.inc(result.bytes_sent)
        if self._json_lines:
            FILES_LOGGER.info("%s", report.report_line(result).rstrip("\n"))
        elif result.action is Action.FAILED:
            FILES_LOGGER.error("ERROR %s: %s", printable(result.path), result.error)
        elif FILES_LOGGER.isEnabledFor(logging.INFO):
            path, target = printable(result.path), printable(f"s3://{self._bucket}/{result.key}")
            if result.action is Action.UPLOADED:
                FILES_LOGGER.info("upload %s -> %s (%s)", path, target, result.reason)
            elif result.action is Action.WOULD_UPLOAD:
                FILES_LOGGER.info("would upload %s -> %s (%s)", path, target, result.reason)
            else:
                FILES_LOGGER.info("skip %s (%s)", path, result.reason)
        yield result


class _WriteReportFn(beam.DoFn):  # type: ignore[misc]
    """FileResult -> (one line appended to the report, flushed)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        self._file: IO[str] | None = None

    def setup(self) -> None:
        self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - closed in teardown

    def process(self, result: FileResult) -> Iterator[None]:
        assert self._file is not None
        self._file.write(report.report_line(result))
        self._file.flush()
        return iter(())

    def teardown(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _write_summary(summary: Summary, path: str) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(summary.to_dict()).encode("utf-8"))


class UploadTree(beam.PTransform):  # type: ignore[misc]
    """PBegin -> (writes the run's Summary as JSON to ``summary_path``).

    ``reshuffle`` puts a Reshuffle between the put decision and the upload so that a
    distributed runner spreads uploads over its workers. On the single in-process worker
    it would only hold every plan in memory before the first upload, so it is left out.
    """

    def __init__(
        self,
        config: UploadConfig,
        roots: tuple[source.Root, ...],
        summary_path: str,
        reshuffle: bool = True,
    ) -> None:
        super().__init__()
        self._reshuffle = reshuffle
        self._config = config
        self._roots = roots
        self._summary_path = summary_path

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        config = self._config
        # One line of steps, each passing on the results it does not act on: no Flatten,
        # so on the local runner every file streams from walk to summary in one stage.
        plans = (
            pbegin
            | "ListSources" >> beam.Create([self._roots])
            | "WalkSources" >> beam.ParDo(_WalkSourcesFn(config))
            | "DecidePut" >> beam.ParDo(DecidePutFn(config))
        )
        if self._reshuffle:  # spread uploads over workers; one local worker streams instead
            plans = plans | "Reshuffle" >> beam.Reshuffle()
        results = (
            plans
            | "Upload" >> beam.ParDo(UploadFn(config))
            | "CountResults" >> beam.ParDo(_CountResultsFn(config))
        )
        if config.report_path is not None:
            _ = results | "WriteReport" >> beam.ParDo(_WriteReportFn(config.report_path))
        return (
            results
            # No default for an empty run (that would cost a side-input stage); a run
            # that wrote no summary had no file.
            | "Summarize" >> beam.CombineGlobally(SummarizeResults()).without_defaults()
            | "WriteSummary" >> beam.Map(_write_summary, self._summary_path)
        )
