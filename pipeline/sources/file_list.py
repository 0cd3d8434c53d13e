"""--files-from: a list of paths relative to the one SOURCE directory, as shards.

For lists of millions of files. On a distributed runner the list is read with Beam's
text source, so the reading splits over the workers; consecutive lines of one directory
become one shard. A line that names no file under SOURCE (missing, absolute, or with a
'..' component) becomes a failed result for that line, never an error of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import report
from pipeline.errors import UsageError
from pipeline.naming import join_prefix
from pipeline.options import SourceOptions, TargetOptions, TransportOptions
from pipeline.records import Action, FileResult
from pipeline.results import METRICS_NAMESPACE
from pipeline.shards import SHARD_FILES, Shard, directory_of
from pipeline.sources.base import Root
from pipeline.transport import open_control


def _outside(line: str) -> bool:
    return os.path.isabs(line) or ".." in line.split("/")


def shards_of_lines(lines: Iterable[str], source: str, prefix: str) -> Iterator[Shard]:
    """Lines (paths relative to ``source``) -> shards of consecutive lines of a directory."""
    root = Root(path=source, base=source)
    directory, names = "", list[str]()  # relative directory of the shard being filled, its names

    def shard() -> Shard:
        key_prefix = directory_of(join_prefix(prefix, directory + "x"))
        return Shard(key_prefix, root, os.path.join(source, directory), tuple(names))

    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            continue
        if _outside(line):
            failed = FileResult(
                path=line, key=join_prefix(prefix, line.lstrip("/")), action=Action.FAILED,
                error="not a path inside SOURCE (absolute, or with a '..' component)",
            )  # fmt: skip
            yield Shard(directory_of(failed.key), carried=(failed,))
            continue
        line_directory = directory_of(line)
        if names and (line_directory != directory or len(names) >= SHARD_FILES):
            yield shard()
            names = []
        directory = line_directory
        names.append(line[len(line_directory) :])
    if names:
        yield shard()


def check_file_list(options: SourceOptions) -> None:
    """The one SOURCE is a directory and a local list file exists, or a UsageError."""
    assert options.files_from is not None
    if not os.path.isdir(options.sources[0]):
        raise UsageError(f"SOURCE {options.sources[0]!r} is not a directory (--files-from)")
    if not report.is_remote(options.files_from) and not os.path.isfile(options.files_from):
        raise UsageError(f"--files-from {options.files_from!r} is not a file")


def _count_source(uri: str) -> None:
    """The list is the run's one SOURCE: counted as SplitSources counts SOURCEs, so every
    run's metrics carry the count the client looks for (``pipeline.run._SENTINEL``)."""
    Metrics.counter(METRICS_NAMESPACE, "sources").inc()


class _ReadListFn(beam.DoFn):  # type: ignore[misc]
    """The list file, read in order by one worker -> shards (for --limit and local runs)."""

    def __init__(self, source: SourceOptions, target: TargetOptions, transport: TransportOptions):
        super().__init__()
        self._source = source
        self._target = target
        self._transport = transport

    def process(self, uri: str) -> Iterator[Shard]:
        _count_source(uri)
        source, prefix = self._source.sources[0], self._target.prefix
        control = open_control(self._target, self._transport) if report.is_remote(uri) else None
        try:
            with report.open_text(uri, control) as lines:
                yield from shards_of_lines(lines, source, prefix)
        finally:
            if control is not None:
                control.close()


class ShardFileList(beam.PTransform):  # type: ignore[misc]
    """PBegin -> PCollection[Shard] of the files that --files-from names."""

    def __init__(
        self,
        source: SourceOptions,
        target: TargetOptions,
        transport: TransportOptions,
        spread: bool,
    ) -> None:
        super().__init__()
        self._source = source
        self._target = target
        self._transport = transport
        self._spread = spread

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        options = self._source
        assert options.files_from is not None
        if not self._spread or options.limit is not None:
            return (
                pbegin
                | "ListFile" >> beam.Create([options.files_from], reshuffle=False)
                | "ReadList" >> beam.ParDo(_ReadListFn(options, self._target, self._transport))
            )
        _ = (
            pbegin
            | "ListFile" >> beam.Create([options.files_from], reshuffle=False)
            | "CountList" >> beam.Map(_count_source)
        )
        return (
            pbegin
            | "ReadList" >> beam.io.ReadFromText(options.files_from)
            | "BatchLines"
            >> beam.BatchElements(min_batch_size=SHARD_FILES, max_batch_size=SHARD_FILES)
            | "ShardLines" >> beam.FlatMap(shards_of_lines, options.sources[0], self._target.prefix)
        )
