"""The Beam pipeline, wired.

    sources -> ShardSources (pipeline.walk)
            -> [MarkClashes] -> [AttachResume] -> [Reshuffle] -> WalkShards
            -> DecidePut -> Upload -> ObserveResults -> results           (UploadShards)
    --delete: PREFIX -> ListPrefix (before the first Upload); shards + results -> DeleteStale
    [--report] results -> WriteReport; [spread] results -> Summarize -> WriteSummary

``UploadSources`` takes a PCollection of SOURCE strings and returns a PCollection of
``FileResult``s, for use inside any pipeline; ``UploadTree`` is the PBegin wrapper that
the command line runs, adding the report and the summary.

The Reshuffles spread directory shards over the workers of a distributed runner, so the
walk, the listings, the hashing and the uploads of one shard happen on one worker. On the
single in-process worker they would only hold every shard in memory before the first
upload, so ``spread=False`` leaves them out and every file streams through one stage
(``pipeline.plan.Topology``). Each step that has something to tell tells the
``observer`` passed in (``pipeline.observer``; silent by default).

A run with several roots (SOURCEs, or a glob's matches) may map two files to one key; the
first root's file has it and the others fail (``pipeline.shards.KeyClaims``). Where one
worker walks every shard in order, it claims keys as it walks; where shards are spread,
``MarkClashes`` first groups them by key prefix. A run with one root does neither.
"""

from __future__ import annotations

import glob
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.decision import DecidePutFn
from pipeline.delete import DeleteStale, ListPrefix, listing_taken
from pipeline.inflight import PutSettings
from pipeline.observe import ObserveResultsFn
from pipeline.observer import SILENT, RunObserver
from pipeline.options import UploadConfig, WalkKind
from pipeline.plan import Topology
from pipeline.report.resume import AttachResume
from pipeline.report.sink import WriteReport
from pipeline.results import SummarizeResults
from pipeline.sources.file_list import ShardFileList
from pipeline.summary import Summary
from pipeline.upload import UploadFn
from pipeline.walk import MarkClashes, ShardSources, WalkShardsFn


class _UploadTransform(beam.PTransform):  # type: ignore[misc]
    """What the upload transforms are made with: the run's config, whether to spread
    shards over workers (Reshuffles), the report files to resume from, and the observer
    that hears how the run goes."""

    def __init__(
        self,
        config: UploadConfig,
        spread: bool = True,
        resume_files: tuple[str, ...] = (),
        observer: RunObserver = SILENT,
    ) -> None:
        super().__init__()
        self._config = config
        self._spread = spread
        self._resume_files = resume_files
        self._observer = observer
        self._topology = Topology.of(spread, config.source.limit)


def _put_settings(config: UploadConfig) -> PutSettings:
    return PutSettings(config.target, config.transport, config.decision, config.body)


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
        observer: RunObserver = SILENT,
    ) -> None:
        super().__init__(config, spread, resume_files, observer)
        self._check_keys = check_keys
        self._wait_for = wait_for

    def expand(self, shards: beam.PCollection) -> beam.PCollection:
        config, observer = self._config, self._observer
        # --limit takes the first N files in walk order: one worker walks them in order.
        spread_shards = self._topology is Topology.SPREAD
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
        walk = WalkShardsFn(config.source, config.target.prefix, observer, claim_in_walk)
        decide = DecidePutFn(_put_settings(config), config.source.limit, observer)
        plans = shards | "WalkShards" >> beam.ParDo(walk) | "DecidePut" >> beam.ParDo(decide)
        if self._topology is Topology.ORDERED:
            plans = plans | "SpreadUploads" >> beam.Reshuffle()
        after = () if self._wait_for is None else (beam.pvalue.AsSingleton(self._wait_for),)
        return (
            plans
            | "Upload" >> beam.ParDo(UploadFn(_put_settings(config), observer), *after)
            | "ObserveResults" >> beam.ParDo(ObserveResultsFn(observer))
        )


class UploadSources(_UploadTransform):
    """PCollection[str] of SOURCEs -> PCollection[FileResult], one per file.

    ``config`` says where and how to upload (``pipeline.options.UploadConfig``); ``spread``
    puts Reshuffles between the steps so that a distributed runner spreads directory
    shards over its workers (leave it off on a single local worker, where it only costs
    memory). A SOURCE that does not exist becomes a failed result, not an error.
    ``observer`` hears of the files found, the bytes sent and each result as it comes,
    where the steps run in the process that made it (``pipeline.observer``).

    Two SOURCEs that give two files one key upload the first SOURCE's file (first in
    ``config.source.sources``; SOURCEs it does not name come after, in no set order) and fail
    the other. Naming the one SOURCE in ``config.source.sources`` spares a one-root run that check.
    """

    def expand(self, sources: beam.PCollection) -> beam.PCollection:
        config, observer = self._config, self._observer
        upload = UploadShards(
            config, self._spread, self._resume_files, _may_clash(config), observer=observer
        )
        return (
            sources
            | "ShardSources" >> ShardSources(config, self._topology, observer)
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
    process that way, taking the counts from the metrics and the failures from its
    observer as they pass.
    """

    def __init__(
        self,
        config: UploadConfig,
        summary_path: str | None,
        spread: bool = True,
        resume_files: tuple[str, ...] = (),
        observer: RunObserver = SILENT,
    ) -> None:
        super().__init__(config, spread, resume_files, observer)
        self._summary_path = summary_path

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        config, observer = self._config, self._observer
        if config.source.files_from is not None:
            shard_list = ShardFileList(
                config.source, config.target, config.transport, self._topology
            )
            shards = pbegin | "ShardFileList" >> shard_list
            check_keys = False
        else:
            # One element, flattened in order: --limit counts files in command-line order.
            shards = (
                pbegin
                | "ListSources" >> beam.Create([config.source.sources], reshuffle=False)
                | "EachSource" >> beam.FlatMap(iter)
                | "ShardSources" >> ShardSources(config, self._topology, observer)
            )
            check_keys = _may_clash(config)
        listing = pbegin | "ListPrefix" >> ListPrefix(config) if config.decision.delete else None
        upload = UploadShards(
            config, self._spread, self._resume_files, check_keys,
            wait_for=listing_taken(listing) if listing is not None else None, observer=observer,
        )  # fmt: skip
        results = shards | "UploadShards" >> upload
        if listing is not None:
            deletions = (
                (shards, results)
                | "DeleteStale" >> DeleteStale(config, listing, observer)
                | "ObserveDeletions" >> beam.ParDo(ObserveResultsFn(observer))
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
