"""--files-from: a list of paths relative to the one SOURCE directory, as shards.

For lists of millions of files. A line is a path below SOURCE, normalised as archive
member names are ('./a//b' -> 'a/b'), so ``find . -type f`` output can be given as it
is; blank lines and lines starting with '#' or ';' are comments. A line that names no
path under SOURCE (absolute, or with a '..' component), or a path whose key S3 cannot
take, becomes a failed result for that line, never an error of the run.

The list's order does not matter: its paths are sorted by directory and name, and each
directory's sorted names are cut in shards of SHARD_FILES (``shards_of_directory``), so
each shard's listing covers its own key range only, and a path listed again is skipped,
never uploaded twice. One worker that reads the whole list (local runs, --limit) sorts it
in runs of SORT_RUN_LINES merged from disk; on a distributed runner the list is read with
Beam's text source, so the reading splits over the workers, and each directory's names
are gathered and sorted by one worker.
"""

from __future__ import annotations

import heapq
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from operator import itemgetter

import apache_beam as beam

from pipeline.counters import Counter
from pipeline.entries import skipped
from pipeline.errors import UsageError
from pipeline.naming import (
    clean_relative,
    directory_of,
    join_prefix,
    key_below,
    key_directory,
    key_problem,
)
from pipeline.options import SourceOptions, TargetOptions, TransportOptions
from pipeline.plan import Topology
from pipeline.records import Action, FileResult, Root
from pipeline.report.lines import open_text
from pipeline.s3uri import is_s3
from pipeline.shards import SHARD_FILES, Shard
from pipeline.transport import open_control

SORT_RUN_LINES = 500_000  # paths sorted in memory at once (~100 MB); more: runs merged
LISTED_AGAIN = "listed more than once (--files-from)"
_SETTLED = "settled"  # the output of shards that carry the results of lines
_OUTSIDE = "not a path inside SOURCE (absolute, with a '..' component or a NUL)"


def list_entry(raw: str, source: str, prefix: str) -> tuple[str, str] | Shard | None:
    """A line of the list: the (directory, name) of the normalised path it names; a shard
    carrying its result (a path outside SOURCE or that can be no key fails, SOURCE itself
    is skipped); None for a comment or a blank line."""
    line = raw.rstrip("\r\n")
    if not line or line[0] in "#;":
        return None
    path = None if os.path.isabs(line) or "\0" in line else clean_relative(line)
    if path is None:
        key = join_prefix(prefix, line.lstrip("/"))
        return _settled(FileResult(line, key, Action.FAILED, error=_OUTSIDE))
    if not path:  # '.', as `find .` lists first
        return _settled(skipped(source, join_prefix(prefix, ""), "a directory, not a file"))
    key = join_prefix(prefix, path)
    problem = key_problem(key)  # not UTF-8 (nor can it be sorted as text), or too long
    if problem is not None:
        return _settled(FileResult(os.path.join(source, path), key, Action.FAILED, error=problem))
    directory = directory_of(path)
    return directory, path[len(directory) :]


def _settled(result: FileResult) -> Shard:
    return Shard(directory_of(result.key), carried=(result,))


def shards_of_directory(
    names: Iterable[str], directory: str, source: str, prefix: str
) -> Iterator[Shard]:
    """The sorted ``names`` of one ``directory`` (relative to ``source``: '' or ending in
    '/') -> shards of up to SHARD_FILES names; a name given again is skipped."""
    root = Root(path=source, base=source)
    key_prefix = key_directory(prefix, directory)
    local = os.path.join(source, directory)

    def shard(names: list[str], again: list[FileResult]) -> Shard:
        after = key_below(key_prefix + min(names))
        return Shard(key_prefix, root, local, tuple(names), after, carried=tuple(again))

    batch, again, previous = list[str](), list[FileResult](), None
    for name in names:
        if name == previous:
            again.append(skipped(os.path.join(local, name), key_prefix + name, LISTED_AGAIN))
            continue
        previous = name
        if len(batch) == SHARD_FILES:
            yield shard(batch, again)
            batch, again = [], []
        batch.append(name)
    if batch:
        yield shard(batch, again)


def _read_run(run_file: str) -> Iterator[tuple[str, str]]:
    with open(run_file, encoding="utf-8", newline="\n") as f:
        for line in f:
            directory, name = line[:-1].split("\0")
            yield directory, name


class _SortedRuns:
    """(directory, name) pairs in sorted order, with at most SORT_RUN_LINES in memory: each
    full run is sorted and written to ``scratch``, and ``merged`` merges them all."""

    def __init__(self, scratch: str) -> None:
        self._scratch = scratch
        self._files: list[str] = []
        self._run: list[tuple[str, str]] = []

    def add(self, entry: tuple[str, str]) -> None:
        self._run.append(entry)
        if len(self._run) >= SORT_RUN_LINES:
            run_file = os.path.join(self._scratch, f"run-{len(self._files)}")
            with open(run_file, "w", encoding="utf-8", newline="\n") as f:
                f.writelines(f"{directory}\0{name}\n" for directory, name in sorted(self._run))
            self._files.append(run_file)
            self._run = []

    def merged(self) -> Iterator[tuple[str, str]]:
        self._run.sort()
        if not self._files:
            return iter(self._run)
        return heapq.merge(*map(_read_run, self._files), self._run)


def shards_of_list(lines: Iterable[str], source: str, prefix: str) -> Iterator[Shard]:
    """A whole list, read by one worker -> the results of its refused lines as they come,
    then shards directory by directory, in sorted order."""
    with tempfile.TemporaryDirectory(prefix="files-from-") as scratch:
        runs = _SortedRuns(scratch)
        for raw in lines:
            entry = list_entry(raw, source, prefix)
            if isinstance(entry, Shard):
                yield entry
            elif entry is not None:
                runs.add(entry)
        for directory, entries in itertools.groupby(runs.merged(), key=itemgetter(0)):
            names = (name for _, name in entries)
            yield from shards_of_directory(names, directory, source, prefix)


def _names_by_directory(
    lines: list[bytes], source: str, prefix: str
) -> Iterator[tuple[str, list[str]] | beam.pvalue.TaggedOutput]:
    """A batch of lines -> (directory, names) for each directory; shards carrying the
    results of lines (``_SETTLED``). Lines are read as ``open_text`` reads a report's:
    UTF-8, bytes that are not kept as surrogate escapes (such a line fails alone)."""
    by_directory: dict[str, list[str]] = {}
    for raw in lines:
        entry = list_entry(raw.decode("utf-8", "surrogateescape"), source, prefix)
        if isinstance(entry, Shard):
            yield beam.pvalue.TaggedOutput(_SETTLED, entry)
        elif entry is not None:
            directory, name = entry
            by_directory.setdefault(directory, []).append(name)
    yield from by_directory.items()


def _shards_of_group(
    group: tuple[str, Iterable[list[str]]], source: str, prefix: str
) -> Iterator[Shard]:
    """(directory, its names from every batch) -> the directory's shards."""
    directory, batches = group
    names = sorted(itertools.chain.from_iterable(batches))
    return shards_of_directory(names, directory, source, prefix)


def check_file_list(options: SourceOptions) -> None:
    """The one SOURCE is a directory and a local list file exists, or a UsageError."""
    assert options.files_from is not None
    if not os.path.isdir(options.sources[0]):
        raise UsageError(f"SOURCE {options.sources[0]!r} is not a directory (--files-from)")
    if not is_s3(options.files_from) and not os.path.isfile(options.files_from):
        raise UsageError(f"--files-from {options.files_from!r} is not a file")


def _count_source(uri: str) -> None:
    """The list is the run's one SOURCE: counted as SplitSources counts SOURCEs, so every
    run's metrics carry the count the client looks for (``pipeline.run._SENTINEL``)."""
    Counter.SOURCES.metric().inc()


class _ReadListFn(beam.DoFn):  # type: ignore[misc]
    """The list file, read whole by one worker -> shards in sorted order (for --limit and
    local runs)."""

    def __init__(self, source: SourceOptions, target: TargetOptions, transport: TransportOptions):
        super().__init__()
        self._source = source
        self._target = target
        self._transport = transport

    def process(self, uri: str) -> Iterator[Shard]:
        _count_source(uri)
        source, prefix = self._source.sources[0], self._target.prefix
        control = open_control(self._target, self._transport) if is_s3(uri) else None
        try:
            with open_text(uri, control) as lines:
                yield from shards_of_list(lines, source, prefix)
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
        topology: Topology,
    ) -> None:
        super().__init__()
        self._source = source
        self._target = target
        self._transport = transport
        self._topology = topology

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        options = self._source
        assert options.files_from is not None
        if self._topology is not Topology.SPREAD:  # one worker reads the list, in order
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
        source, prefix = options.sources[0], self._target.prefix
        read = (
            pbegin
            | "ReadList" >> beam.io.ReadFromText(options.files_from, coder=beam.coders.BytesCoder())
            | "BatchLines"
            >> beam.BatchElements(min_batch_size=SHARD_FILES, max_batch_size=SHARD_FILES)
            | "ByDirectory"
            >> beam.FlatMap(_names_by_directory, source, prefix).with_outputs(
                _SETTLED, main="names"
            )
        )
        shards = (
            read.names
            | "GroupByDirectory" >> beam.GroupByKey()
            | "SortDirectory" >> beam.FlatMap(_shards_of_group, source, prefix)
        )
        return (shards, read[_SETTLED]) | "WithSettled" >> beam.Flatten()
