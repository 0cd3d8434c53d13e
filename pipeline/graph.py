"""The Beam pipeline, wired.

    sources -> SplitSources -> [Reshuffle] -> ShardSubtrees            (ShardSources)
            -> [MarkClashes] -> [AttachResume] -> [Reshuffle] -> WalkShards
            -> DecidePut -> Upload -> ObserveResults -> results           (UploadShards)
    --delete: PREFIX -> ListPrefix (before the first Upload); shards + results -> DeleteStale

``UploadSources`` takes a PCollection of SOURCE strings and returns a PCollection of
``FileResult``s, for use inside any pipeline; ``UploadTree`` is the PBegin wrapper that
the command line runs, adding the report and the summary.

The Reshuffles spread directory shards over the workers of a distributed runner, so the
walk, the listings, the hashing and the uploads of one shard happen on one worker. On the
single in-process worker they would only hold every shard in memory before the first
upload, so ``spread=False`` leaves them out and every file streams through one stage.

A run with several roots (SOURCEs, or a glob's matches) may map two files to one key; the
first root's file has it and the others fail (``pipeline.shards.KeyClaims``). Where one
worker walks every shard in order, it claims keys as it walks; where shards are spread,
``MarkClashes`` first groups them by key prefix. A run with one root does neither.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import interrupt, progress
from pipeline.counters import Counter
from pipeline.decision import DecidePutFn
from pipeline.delete import DeleteStale, ListPrefix, listing_taken
from pipeline.errors import UsageError
from pipeline.filters import FileFilter
from pipeline.inflight import PutSettings
from pipeline.naming import printable
from pipeline.options import OutputOptions, SourceOptions, UploadConfig, WalkKind
from pipeline.records import Action, FileBatch, FileResult, LocalFile
from pipeline.report.lines import is_recorded_done, report_line
from pipeline.report.resume import AttachResume
from pipeline.report.sink import WriteReport
from pipeline.results import SummarizeResults, Summary, note_failure
from pipeline.shards import KeyClaims, Shard, Subtree, mark_clashes, shard_subtree, walk_shard
from pipeline.sources.base import SplitContext
from pipeline.sources.file_list import ShardFileList
from pipeline.sources.filesystem import check_mirrorable
from pipeline.sources.kinds import source_for
from pipeline.transport import ControlOnDemand
from pipeline.upload import UploadFn

FILES_LOGGER = logging.getLogger("pipeline.files")


class _SplitSourcesFn(beam.DoFn):  # type: ignore[misc]
    """SOURCE -> Subtree of a directory tree, or Shard of archive members / source objects
    (``pipeline.sources``).

    ``streamed``: the whole run is one fused stage in this process, so once the last
    SOURCE is split, everything under it has been walked: the progress bar is told.
    """

    def __init__(self, config: UploadConfig, streamed: bool = False) -> None:
        super().__init__()
        self._options = config.source
        self._target = config.target
        self._transport = config.transport
        self._run_id = config.output.run_id
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
        bar = progress.for_run(self._run_id)
        walked = self._streamed and self._split == len(self._options.sources)
        if walked and bar is not None and not interrupt.requested():
            bar.walk_done()

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


class _ShardSubtreesFn(beam.DoFn):  # type: ignore[misc]
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


class _WalkShardsFn(beam.DoFn):  # type: ignore[misc]
    """Shard -> FileBatch of its files (stat'ed here), FileResult for what is settled.

    ``claim_keys``: this one instance gets every shard in walk order, and marks the keys
    that an earlier shard has (see ``KeyClaims``).
    """

    def __init__(
        self, options: SourceOptions, prefix: str, output: OutputOptions, claim_keys: bool = False
    ) -> None:
        super().__init__()
        self._limit = options.limit
        self._filter = options.file_filter
        self._prefix = prefix
        self._run_id = output.run_id
        self._claim_keys = claim_keys
        self._claims: KeyClaims | None = None
        self._found = 0
        self._found_counter = Counter.FILES_FOUND.metric()
        self._unwalked = Counter.SHARDS_NOT_WALKED.metric()

    def setup(self) -> None:
        self._found = 0
        self._claims = KeyClaims() if self._claim_keys else None

    def process(self, shard: Shard) -> Iterator[FileBatch | FileResult]:
        limit = self._limit
        if interrupt.requested():
            self._unwalked.inc()
            return
        if limit is not None and self._found >= limit:
            return
        if self._claims is not None:
            shard = self._claims.mark(shard)
        bar = progress.for_run(self._run_id)
        done = {key: (path, size, mtime) for key, path, size, mtime in shard.done}
        files = []
        found = 0
        for item in walk_shard(shard, self._prefix, self._filter):
            if not isinstance(item, LocalFile):
                if bar is not None:
                    bar.found(item)  # settled already, but it counts among those found
                yield item
                continue
            if limit is not None and self._found >= limit:
                break
            self._found += 1
            found += 1
            if bar is not None:
                bar.found(item)
            if done and is_recorded_done(item, done):
                yield FileResult.of(item, Action.SKIPPED, reason="recorded done (resume)")
            else:
                files.append(item)
        self._found_counter.inc(found)
        if files:
            yield FileBatch(tuple(files), shard.key_prefix, shard.after)


class _ObserveResultsFn(beam.DoFn):  # type: ignore[misc]
    """Beam Metrics counters, the progress bar and one log line per file; passes results
    through."""

    def __init__(self, bucket: str, output: OutputOptions) -> None:
        super().__init__()
        self._bucket = bucket
        self._run_id = output.run_id
        self._json_lines = output.json_lines
        self._files = Counter.FILES.metric()
        self._bytes = Counter.BYTES_UPLOADED.metric()
        self._bytes_read = Counter.BYTES_READ.metric()
        self._retries = Counter.RETRIES.metric()
        self._incomplete = Counter.WALK_INCOMPLETE.metric()
        self._by_action = {action: Counter.of(action).metric() for action in Action}

    def process(self, result: FileResult) -> Iterator[FileResult]:
        bar = progress.for_run(self._run_id)
        if bar is not None:
            bar.finished(result)
        if not result.deletion:
            self._files.inc()
        self._by_action[result.action].inc()
        if result.walk_incomplete:
            self._incomplete.inc()
        if result.action is Action.UPLOADED:
            self._bytes.inc(result.bytes_sent)
            self._bytes_read.inc(result.size)
        if result.retries:
            self._retries.inc(result.retries)
        if result.action is Action.FAILED and self._run_id:
            note_failure(self._run_id, result)
        if self._json_lines:
            FILES_LOGGER.info("%s", report_line(result).rstrip("\n"))
        elif result.action is Action.FAILED:
            FILES_LOGGER.error("failed: %s: %s", printable(result.path), result.error)
        elif FILES_LOGGER.isEnabledFor(logging.INFO):
            path, target = printable(result.path), printable(f"s3://{self._bucket}/{result.key}")
            if result.action is Action.UPLOADED:
                FILES_LOGGER.info("upload %s -> %s (%s)", path, target, result.reason)
            elif result.action is Action.WOULD_UPLOAD:
                FILES_LOGGER.info("would upload %s -> %s (%s)", path, target, result.reason)
            elif result.action is Action.DELETED:
                FILES_LOGGER.info("delete %s (%s)", target, result.reason)
            elif result.action in (Action.WOULD_DELETE, Action.WITHHELD):
                FILES_LOGGER.info("would delete %s (%s)", target, result.reason)
            elif result.action is Action.NOT_STARTED:
                FILES_LOGGER.info("not started %s (%s)", path, result.reason)
            else:
                FILES_LOGGER.info("skip %s (%s)", path, result.reason)
        yield result


class _UploadTransform(beam.PTransform):  # type: ignore[misc]
    """What the upload transforms are made with: the run's config, whether to spread
    shards over workers (Reshuffles), and the report files to resume from."""

    def __init__(
        self, config: UploadConfig, spread: bool = True, resume_files: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self._config = config
        self._spread = spread
        self._resume_files = resume_files


def _put_settings(config: UploadConfig) -> PutSettings:
    return PutSettings(config.target, config.transport, config.decision, config.body)


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


def _may_clash(config: UploadConfig) -> bool:
    """Whether two files of the run may have one key: only when it walks several roots
    (SOURCEs, or a glob's matches), or SOURCEs not named in ``config.source.sources``. Carried
    files (--walk tar, --walk s3) are not checked: of two with one key the last wins."""
    options = config.source
    several = len(options.sources) != 1 or glob.has_magic(options.sources[0])
    return options.walk is WalkKind.FILESYSTEM and options.files_from is None and several


class UploadShards(_UploadTransform):
    """PCollection[Shard] -> PCollection[FileResult]: walk, decide and upload each shard.

    ``check_keys``: the shards may come from several roots, so two files may have one key.
    ``wait_for``: a PCollection that must be complete before the first upload (the
    listing of --delete, so that it holds nothing this run stored).
    """

    def __init__(
        self,
        config: UploadConfig,
        spread: bool = True,
        resume_files: tuple[str, ...] = (),
        check_keys: bool = False,
        wait_for: beam.PCollection | None = None,
    ) -> None:
        super().__init__(config, spread, resume_files)
        self._check_keys = check_keys
        self._wait_for = wait_for

    def expand(self, shards: beam.PCollection) -> beam.PCollection:
        config = self._config
        # --limit takes the first N files in walk order: one worker walks them in order.
        spread_shards = self._spread and config.source.limit is None
        # The join with the report (AttachResume) does not keep the walk order either.
        claim_in_walk = self._check_keys and not spread_shards and not self._resume_files
        if self._check_keys and not claim_in_walk:
            shards = shards | "MarkClashes" >> MarkClashes()
        if self._resume_files:
            shards = shards | "AttachResume" >> AttachResume(
                config.target, config.transport, self._resume_files, spread_shards
            )
        if spread_shards:
            shards = shards | "SpreadShards" >> beam.Reshuffle()
        plans = (
            shards
            | "WalkShards"
            >> beam.ParDo(
                _WalkShardsFn(config.source, config.target.prefix, config.output, claim_in_walk)
            )
            | "DecidePut" >> beam.ParDo(DecidePutFn(_put_settings(config), config.source.limit))
        )
        if self._spread and not spread_shards:
            plans = plans | "SpreadUploads" >> beam.Reshuffle()
        after = () if self._wait_for is None else (beam.pvalue.AsSingleton(self._wait_for),)
        return (
            plans
            | "Upload" >> beam.ParDo(UploadFn(_put_settings(config), config.output), *after)
            | "ObserveResults" >> beam.ParDo(_ObserveResultsFn(config.target.bucket, config.output))
        )


class ShardSources(beam.PTransform):  # type: ignore[misc]
    """PCollection[str] of SOURCEs -> PCollection[Shard]: split, [spread,] cut in shards."""

    def __init__(self, config: UploadConfig, spread: bool = True) -> None:
        super().__init__()
        self._config = config
        self._spread = spread

    def expand(self, sources: beam.PCollection) -> beam.PCollection:
        config = self._config
        split = _SplitSourcesFn(config, streamed=not self._spread)
        subtrees = sources | "SplitSources" >> beam.ParDo(split)
        if self._spread and config.source.limit is None:
            subtrees = subtrees | "SpreadSubtrees" >> beam.Reshuffle()
        options = config.source
        cut = _ShardSubtreesFn(config.target.prefix, options.follow_symlinks, options.file_filter)
        return subtrees | "ShardSubtrees" >> beam.ParDo(cut)


class UploadSources(_UploadTransform):
    """PCollection[str] of SOURCEs -> PCollection[FileResult], one per file.

    ``config`` says where and how to upload (``pipeline.options.UploadConfig``); ``spread``
    puts Reshuffles between the steps so that a distributed runner spreads directory
    shards over its workers (leave it off on a single local worker, where it only costs
    memory). A SOURCE that does not exist becomes a failed result, not an error.

    Two SOURCEs that give two files one key upload the first SOURCE's file (first in
    ``config.source.sources``; SOURCEs it does not name come after, in no set order) and fail
    the other. Naming the one SOURCE in ``config.source.sources`` spares a one-root run that check.
    """

    def expand(self, sources: beam.PCollection) -> beam.PCollection:
        config = self._config
        upload = UploadShards(config, self._spread, self._resume_files, _may_clash(config))
        return (
            sources
            | "ShardSources" >> ShardSources(config, self._spread)
            | "UploadShards" >> upload
        )


def _write_summary(summary: Summary, path: str) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(summary.to_dict()).encode("utf-8"))


class UploadTree(_UploadTransform):
    """PBegin -> (the report written, the run's Summary written as JSON to ``summary_path``).

    What ``python -m pipeline`` runs: the SOURCEs of ``config`` (or its ``--files-from``
    list), uploaded by ``UploadSources``. With ``summary_path`` None there is no summary
    stage, and the FileResults are returned: the command streams a run in its own
    process that way, taking the counts from the metrics and the failures as they pass.
    """

    def __init__(
        self,
        config: UploadConfig,
        summary_path: str | None,
        spread: bool = True,
        resume_files: tuple[str, ...] = (),
    ) -> None:
        super().__init__(config, spread, resume_files)
        self._summary_path = summary_path

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        config = self._config
        if config.source.files_from is not None:
            shard_list = ShardFileList(config.source, config.target, config.transport, self._spread)
            shards = pbegin | "ShardFileList" >> shard_list
            check_keys = False
        else:
            # One element, flattened in order: --limit counts files in command-line order.
            shards = (
                pbegin
                | "ListSources" >> beam.Create([config.source.sources], reshuffle=False)
                | "EachSource" >> beam.FlatMap(iter)
                | "ShardSources" >> ShardSources(config, self._spread)
            )
            check_keys = _may_clash(config)
        listing = pbegin | "ListPrefix" >> ListPrefix(config) if config.decision.delete else None
        upload = UploadShards(
            config, self._spread, self._resume_files, check_keys,
            wait_for=listing_taken(listing) if listing is not None else None,
        )  # fmt: skip
        results = shards | "UploadShards" >> upload
        if listing is not None:
            deletions = (
                (shards, results)
                | "DeleteStale" >> DeleteStale(config, listing)
                | "ObserveDeletions"
                >> beam.ParDo(_ObserveResultsFn(config.target.bucket, config.output))
            )
            results = (results, deletions) | "WithDeletions" >> beam.Flatten()
        if config.records.report_path is not None:
            _ = results | "WriteReport" >> WriteReport(
                config.records, config.target, config.transport
            )
        if self._summary_path is None:
            return results
        return (
            results
            # No default for an empty run (that would cost a side-input stage); the
            # counts come from the metrics, the summary file adds the failures listed.
            | "Summarize" >> beam.CombineGlobally(SummarizeResults()).without_defaults()
            | "WriteSummary" >> beam.Map(_write_summary, self._summary_path)
        )
