"""--files-from: a list of paths relative to the one SOURCE directory, as shards.

For lists of millions of files. On a distributed runner the list is read with Beam's
text source, so the reading splits over the workers; consecutive lines of one directory
become one shard. A line that names no file under SOURCE (missing, absolute, or with a
'..' component) becomes a failed result for that line, never an error of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipeline import report
from pipeline.config import UploadConfig
from pipeline.naming import join_prefix
from pipeline.records import Action, FileResult
from pipeline.shards import SHARD_FILES, Shard, directory_of
from pipeline.source import Root


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


class _ReadListFn(beam.DoFn):  # type: ignore[misc]
    """The list file, read in order by one worker -> shards (for --limit and local runs)."""

    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._config = config

    def process(self, uri: str) -> Iterator[Shard]:
        config = self._config
        client: Any = None
        if report.is_remote(uri):
            from pipeline.transport.boto import make_client

            client = make_client(config.endpoint, config.ca_bundle, config.profile)
        with report.open_text(uri, client) as lines:
            yield from shards_of_lines(lines, config.sources[0], config.prefix)


class ShardFileList(beam.PTransform):  # type: ignore[misc]
    """PBegin -> PCollection[Shard] of the files that --files-from names."""

    def __init__(self, config: UploadConfig, spread: bool) -> None:
        super().__init__()
        self._config = config
        self._spread = spread

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        config = self._config
        assert config.files_from is not None
        if not self._spread or config.limit is not None:
            return (
                pbegin
                | "ListFile" >> beam.Create([config.files_from], reshuffle=False)
                | "ReadList" >> beam.ParDo(_ReadListFn(config))
            )
        source, prefix = config.sources[0], config.prefix
        return (
            pbegin
            | "ReadList" >> beam.io.ReadFromText(config.files_from)
            | "BatchLines"
            >> beam.BatchElements(min_batch_size=SHARD_FILES, max_batch_size=SHARD_FILES)
            | "ShardLines" >> beam.FlatMap(shards_of_lines, source, prefix)
        )
