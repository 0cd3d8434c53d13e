"""--delete: the objects under the prefix that no local file maps to, deleted only when
the picture of the tree is whole.

    PREFIX ──ListPrefix (one listing, taken before the first upload; what --include/
             --exclude leave out, and objects older than the age limit, are kept)──>
             (directory, key)
    shards ──LocalKeys (every file's key, whether the filters select it or not)──>
             (directory, key)
    ──JoinByDirectory (CoGroupByKey)──> stale keys ──BatchElements (≤ 1,000)──>
    ──DeleteBatches [side inputs: results that left the walk incomplete, deletions
                     planned]──> FileResult (deleted, would_delete, withheld, failed)

A key that a local file maps to is never stale, whatever the filters: they choose what
is uploaded, never what is deleted. The listing is taken before the first upload
(``UploadShards(wait_for=...)``), so nothing this run stored can be in it, whatever key
a server stores it under. Nothing is deleted when any result says the walk was
incomplete (a directory, an archive or a listing that could not be read) or when more
deletions are planned than ``--max-delete`` allows: each planned key is then counted as
withheld, and the command says why and exits 1 (a dry run lists the keys that
``--max-delete`` withholds, as ``withheld`` results, so one sees what trips it). After
Ctrl-C no batch is deleted (those sent before it complete): the command says how many
objects were deleted and exits 130.
The join is per directory, so on a cluster no worker holds more than one directory's
keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipeline.counters import Counter
from pipeline.filters import FileFilter
from pipeline.naming import directory_of, key_directory
from pipeline.observer import SILENT, RunObserver
from pipeline.options import DecisionOptions, TargetOptions, TransportOptions, UploadConfig
from pipeline.records import Action, FileResult
from pipeline.shards import Shard
from pipeline.transport import ControlOnDemand, open_control
from pipeline.transport.control import S3Error

DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_LISTING_FAILED = "listing_failed"
_STALE = "no local file maps to it"


def list_prefix(prefix: str) -> str:
    """The key prefix under which the run's keys lie: 'site' -> 'site/'; '' -> ''."""
    return key_directory(prefix, "")


class _ListPrefixFn(beam.DoFn):  # type: ignore[misc]
    """PREFIX -> (directory, key) of each object under it that the filters select; a
    failed listing -> a failed result that leaves the walk incomplete."""

    def __init__(
        self, target: TargetOptions, transport: TransportOptions, selected: FileFilter
    ) -> None:
        super().__init__()
        self._target = target
        self._transport = transport
        self._selected = selected

    def process(self, prefix: str) -> Iterator[Any]:
        bucket = self._target.bucket
        control = open_control(self._target, self._transport)
        try:
            for obj in control.list_objects(bucket, prefix):
                relative = obj.key[len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue  # a folder marker: no file maps to one, none is deleted
                if self._selected.active and not self._selected.selects(relative, obj.mtime):
                    continue
                yield directory_of(obj.key), obj.key
        except S3Error as e:
            failed = FileResult(
                path=f"s3://{bucket}/{prefix}", key=prefix, action=Action.FAILED,
                error=f"cannot list the objects to compare for --delete: {e}",
                walk_incomplete=True,
            )  # fmt: skip
            yield beam.pvalue.TaggedOutput(_LISTING_FAILED, failed)
        finally:
            control.close()


def _stale(element: tuple[str, dict[str, Iterable[str]]]) -> Iterator[str]:
    """The keys of one directory that are in the bucket and that no local file has."""
    _, joined = element
    local = set(joined["local"])
    yield from sorted(set(joined["listed"]) - local)


def _keyed_by_directory(shard: Shard) -> Iterator[tuple[str, str]]:
    return ((directory_of(key), key) for key in shard.local_keys())


class _DeleteBatchesFn(beam.DoFn):  # type: ignore[misc]
    """A batch of stale keys -> one FileResult each, deleted (or would be), or failed;
    none at all when the side inputs say the run must not delete."""

    def __init__(
        self,
        target: TargetOptions,
        transport: TransportOptions,
        decision: DecisionOptions,
        observer: RunObserver = SILENT,
    ) -> None:
        super().__init__()
        self._target = target
        self._observer = observer  # a stop request (Ctrl-C) withholds what is not deleted yet
        self._transport = transport
        self._decision = decision
        self._control = ControlOnDemand(target, transport)
        self._planned = Counter.DELETES_PLANNED.metric()
        self._withheld = Counter.DELETES_WITHHELD.metric()

    def process(self, keys: list[str], incomplete: int, planned: int) -> Iterator[FileResult]:
        self._planned.inc(len(keys))
        limit, dry_run = self._decision.max_delete, self._decision.dry_run
        too_many = limit is not None and planned > limit
        if incomplete or self._observer.stop_requested() or (too_many and not dry_run):
            self._withheld.inc(len(keys))
            return
        bucket = self._target.bucket
        if too_many:  # a dry run lists them, so that one sees what trips the guard
            self._withheld.inc(len(keys))
            reason = f"{_STALE}; withheld: more than --max-delete {limit} planned"
            for key in keys:
                yield self._result(key, Action.WITHHELD, reason=reason)
            return
        if dry_run:
            for key in keys:
                yield self._result(key, Action.WOULD_DELETE)
            return
        try:
            refused = self._control().delete_objects(bucket, keys)
        except S3Error as e:
            refused = {key: str(e) for key in keys}
        for key in keys:
            if key in refused:
                yield self._result(key, Action.FAILED, error=f"cannot delete: {refused[key]}")
            else:
                yield self._result(key, Action.DELETED)

    def _result(self, key: str, action: Action, reason: str = _STALE, **fields: Any) -> FileResult:
        return FileResult(
            path=f"s3://{self._target.bucket}/{key}", key=key, action=action, deletion=True,
            reason=reason, **fields,
        )  # fmt: skip

    def teardown(self) -> None:
        self._control.close()


class ListPrefix(beam.PTransform):  # type: ignore[misc]
    """PBegin -> the objects under the prefix that --delete may consider, as (directory,
    key) in the main output ('listed'), and a listing that failed ('failed')."""

    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        config = self._config
        return (
            pbegin
            | "Prefix" >> beam.Create([list_prefix(config.target.prefix)], reshuffle=False)
            | "List"
            >> beam.ParDo(
                _ListPrefixFn(config.target, config.transport, config.source.file_filter)
            ).with_outputs(_LISTING_FAILED, main="listed")
        )


def listing_taken(listing: beam.pvalue.DoOutputsTuple) -> beam.PCollection:
    """One element once ``listing`` is complete: a side input that holds back a step (the
    uploads) until then."""
    return listing.listed | "ListingTaken" >> beam.combiners.Count.Globally()


class DeleteStale(beam.PTransform):  # type: ignore[misc]
    """(PCollection[Shard] of the walk, PCollection[FileResult] of its files) ->
    PCollection[FileResult] of the deletions (and of a listing that failed).

    ``listing``: the prefix's objects, from ``ListPrefix``; ``observer``: asked whether to
    stop before each batch is deleted.
    """

    def __init__(
        self,
        config: UploadConfig,
        listing: beam.pvalue.DoOutputsTuple,
        observer: RunObserver = SILENT,
    ) -> None:
        super().__init__()
        self._config = config
        self._listing = listing
        self._observer = observer

    def expand(self, walked: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        config, listing = self._config, self._listing
        shards, results = walked
        local = shards | "LocalKeys" >> beam.FlatMap(_keyed_by_directory)
        stale = (
            {"listed": listing.listed, "local": local}
            | "JoinByDirectory" >> beam.CoGroupByKey()
            | "StaleKeys" >> beam.FlatMap(_stale)
        )
        incomplete = (
            (results, listing[_LISTING_FAILED])
            | "AllResults" >> beam.Flatten()
            | "Incomplete" >> beam.Filter(lambda result: result.walk_incomplete)
            | "CountIncomplete" >> beam.combiners.Count.Globally()
        )
        planned = stale | "CountPlanned" >> beam.combiners.Count.Globally()
        deletions = (
            stale
            | "Batches" >> beam.BatchElements(max_batch_size=DELETE_BATCH)
            | "DeleteBatches"
            >> beam.ParDo(
                _DeleteBatchesFn(config.target, config.transport, config.decision, self._observer),
                beam.pvalue.AsSingleton(incomplete),
                beam.pvalue.AsSingleton(planned),
            )
        )
        return (deletions, listing[_LISTING_FAILED]) | "DeletionResults" >> beam.Flatten()
