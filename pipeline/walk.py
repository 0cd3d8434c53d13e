"""The walk: SOURCEs -> directory shards -> the files of each shard, as the run finds them.

    sources -> SplitSources -> [Reshuffle] -> ShardSubtrees                (ShardSources)
    shards  -> [MarkClashes] -> ... -> WalkShards -> FileBatch | FileResult

``ShardSources`` splits each SOURCE (``pipeline.sources``) into subtrees and cuts them in
shards of one directory's entries (``pipeline.shards``); ``WalkShardsFn`` stats the
entries of a shard where it lands, and tells the run's observer of each file found.
Where the whole run is one stage in this process (``Topology.STREAMED``), the walk has
ended once the last SOURCE is split, and the observer hears that too. The observer's
stop request (Ctrl-C) stops the walk: the shards not walked are counted.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from pipeline.counters import Counter
from pipeline.errors import UsageError
from pipeline.filters import FileFilter
from pipeline.observer import SILENT, RunObserver
from pipeline.options import SourceOptions, UploadConfig, WalkKind
from pipeline.plan import Topology
from pipeline.records import Action, FileBatch, FileResult, LocalFile
from pipeline.report.lines import is_recorded_done
from pipeline.shards import KeyClaims, Shard, Subtree, mark_clashes, shard_subtree, walk_shard
from pipeline.sources.base import SplitContext
from pipeline.sources.filesystem import check_mirrorable
from pipeline.sources.kinds import source_for
from pipeline.transport import ControlOnDemand


class SplitSourcesFn(beam.DoFn):  # type: ignore[misc]
    """SOURCE -> Subtree of a directory tree, or Shard of archive members / source objects
    (``pipeline.sources``).

    ``streamed``: the whole run is one fused stage in this process, so once the last
    SOURCE is split, everything under it has been walked: the observer is told.
    """

    def __init__(
        self, config: UploadConfig, observer: RunObserver = SILENT, streamed: bool = False
    ) -> None:
        super().__init__()
        self._options = config.source
        self._target = config.target
        self._transport = config.transport
        self._observer = observer
        self._streamed = streamed
        sources = config.source.sources
        # Each SOURCE's position on the command line (its first, when given twice).
        self._positions = {text: i for i, text in reversed(list(enumerate(sources)))}
        self._split = 0
        # --delete of a directory tree: each SOURCE must be a whole directory.
        self._mirror = config.decision.delete and config.source.walk is WalkKind.FILESYSTEM
        self._control = ControlOnDemand(self._target, self._transport)
        self._sources = Counter.SOURCES.metric()

    def setup(self) -> None:
        self._split = 0

    def teardown(self) -> None:
        self._control.close()

    def process(self, text: str) -> Iterator[Subtree | Shard]:
        yield from self._split_source(text)
        self._split += 1
        walked = self._streamed and self._split == len(self._options.sources)
        if walked and not self._observer.stop_requested():
            self._observer.walk_ended()

    def _split_source(self, text: str) -> Iterator[Subtree | Shard]:
        self._sources.inc()
        prefix = self._target.prefix
        source = source_for(self._options.walk)
        try:
            if self._mirror:
                check_mirrorable((text,))
            roots = source.resolve((text,))
        except UsageError as e:
            failed = FileResult(
                path=text, key=prefix, action=Action.FAILED, error=str(e), walk_incomplete=True
            )
            yield Shard(prefix, carried=(failed,))
            return
        # SOURCEs that the options do not name come after those they do.
        position = self._positions.get(text, len(self._options.sources))
        context = SplitContext(self._options, prefix, position, self._control)
        yield from source.split(roots, context)


class ShardSubtreesFn(beam.DoFn):  # type: ignore[misc]
    """Subtree -> Shards of at most SHARD_FILES entries of one directory; a Shard passes."""

    def __init__(self, prefix: str, follow_symlinks: bool, selected: FileFilter) -> None:
        super().__init__()
        self._prefix = prefix
        self._follow = follow_symlinks
        self._selected = selected

    def process(self, item: Subtree | Shard) -> Iterator[Shard]:
        if isinstance(item, Shard):
            yield item
        else:
            yield from shard_subtree(item, self._prefix, self._follow, self._selected)


class WalkShardsFn(beam.DoFn):  # type: ignore[misc]
    """Shard -> FileBatch of its files (stat'ed here), FileResult for what is settled.

    ``claim_keys``: this one instance gets every shard in walk order, and marks the keys
    that an earlier shard has (see ``KeyClaims``).
    """

    def __init__(
        self,
        options: SourceOptions,
        prefix: str,
        observer: RunObserver = SILENT,
        claim_keys: bool = False,
    ) -> None:
        super().__init__()
        self._limit = options.limit
        self._filter = options.file_filter
        self._prefix = prefix
        self._observer = observer
        self._claim_keys = claim_keys
        self._claims: KeyClaims | None = None
        self._found = 0
        self._found_counter = Counter.FILES_FOUND.metric()
        self._unwalked = Counter.SHARDS_NOT_WALKED.metric()

    def setup(self) -> None:
        self._found = 0
        self._claims = KeyClaims() if self._claim_keys else None

    def process(self, shard: Shard) -> Iterator[FileBatch | FileResult]:
        limit, observer = self._limit, self._observer
        if observer.stop_requested():
            self._unwalked.inc()
            return
        if limit is not None and self._found >= limit:
            return
        if self._claims is not None:
            shard = self._claims.mark(shard)
        done = {key: (path, size, mtime) for key, path, size, mtime in shard.done}
        files = []
        found = 0
        for item in walk_shard(shard, self._prefix, self._filter):
            if not isinstance(item, LocalFile):
                observer.found(item)  # settled already, but it counts among those found
                yield item
                continue
            if limit is not None and self._found >= limit:
                break
            self._found += 1
            found += 1
            observer.found(item)
            if done and is_recorded_done(item, done):
                yield FileResult.of(item, Action.SKIPPED, reason="recorded done (resume)")
            else:
                files.append(item)
        self._found_counter.inc(found)
        if files:
            yield FileBatch(tuple(files), shard.key_prefix, shard.after)


class MarkClashes(beam.PTransform):  # type: ignore[misc]
    """PCollection[Shard] -> the same shards, grouped by key prefix; those with keys that
    an earlier SOURCE's shard has carry them as ``clashes``."""

    def expand(self, shards: beam.PCollection) -> beam.PCollection:
        return (
            shards
            | "KeyByPrefix" >> beam.Map(lambda shard: (shard.key_prefix, shard))
            | "GroupByPrefix" >> beam.GroupByKey()
            | "MarkEach" >> beam.FlatMapTuple(lambda _, group: mark_clashes(group))
        )


class ShardSources(beam.PTransform):  # type: ignore[misc]
    """PCollection[str] of SOURCEs -> PCollection[Shard]: split, [spread,] cut in shards."""

    def __init__(
        self, config: UploadConfig, topology: Topology, observer: RunObserver = SILENT
    ) -> None:
        super().__init__()
        self._config = config
        self._topology = topology
        self._observer = observer

    def expand(self, sources: beam.PCollection) -> beam.PCollection:
        config = self._config
        streamed = self._topology is Topology.STREAMED
        split = SplitSourcesFn(config, self._observer, streamed=streamed)
        subtrees = sources | "SplitSources" >> beam.ParDo(split)
        if self._topology is Topology.SPREAD:
            subtrees = subtrees | "SpreadSubtrees" >> beam.Reshuffle()
        options = config.source
        cut = ShardSubtreesFn(config.target.prefix, options.follow_symlinks, options.file_filter)
        return subtrees | "ShardSubtrees" >> beam.ParDo(cut)
