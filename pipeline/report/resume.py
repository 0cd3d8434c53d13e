"""--resume at scale: report records joined with the walk by directory shard.

A report is one JSON-lines file or a directory (or s3:// prefix) of shards written by
many workers. Each file is read by a worker; its done records are keyed by their key's
directory and joined (CoGroupByKey) with the shards of that directory, so no worker
holds the whole report: a shard carries only the records of its own files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipeline.counters import Counter
from pipeline.errors import UsageError
from pipeline.naming import directory_of
from pipeline.options import TargetOptions, TransportOptions
from pipeline.report.lines import DoneRecord, open_text, parse_done
from pipeline.report.place import REPORT_SUFFIX
from pipeline.s3uri import S3Uri, is_s3
from pipeline.shards import Shard
from pipeline.transport import ControlOnDemand
from pipeline.transport.control import Control, S3Error

_LOGGER = logging.getLogger(__name__)


def resume_files(uri: str, control: Control | None = None) -> tuple[str, ...]:
    """The report files at ``uri``: the file itself, or every *.jsonl below a directory
    or s3:// prefix. None yet is an empty tuple (a first run)."""
    if is_s3(uri):
        assert control is not None
        bucket, key = S3Uri.parse(uri)
        try:
            if key and not key.endswith("/"):
                if control.exists(bucket, key):
                    return (uri,)
                key += "/"
            found = [
                f"s3://{bucket}/{obj.key}"
                for obj in control.list_objects(bucket, key)
                if obj.key.endswith(REPORT_SUFFIX)
            ]
        except S3Error as e:
            raise UsageError(f"cannot read the report {uri}: {e}") from e
        return tuple(sorted(found))
    if os.path.isdir(uri):
        return tuple(
            sorted(
                os.path.join(uri, name) for name in os.listdir(uri) if name.endswith(REPORT_SUFFIX)
            )
        )
    return (uri,) if os.path.exists(uri) else ()


class _ReadDoneFn(beam.DoFn):  # type: ignore[misc]
    """A report file -> (key directory, done record) for each file it records done in the
    run's bucket at the run's endpoint; records of files done elsewhere (or that name no
    bucket) are counted (``resume_records_elsewhere``) and ignored."""

    def __init__(self, target: TargetOptions, transport: TransportOptions) -> None:
        super().__init__()
        self._target = (target.bucket, target.endpoint.url)
        self._control = ControlOnDemand(target, transport)
        self._elsewhere = Counter.RESUME_RECORDS_ELSEWHERE.metric()

    def process(self, uri: str) -> Iterator[tuple[str, DoneRecord]]:
        control = self._control() if is_s3(uri) else None
        try:
            with open_text(uri, control) as lines:
                for line in lines:
                    parsed = parse_done(line)
                    if parsed is None:
                        continue
                    record, target = parsed
                    if target == self._target:
                        yield directory_of(record[0]), record
                    else:
                        self._elsewhere.inc()
        except (OSError, S3Error) as e:
            raise UsageError(f"cannot read the report {uri}: {e}") from e

    def teardown(self) -> None:
        self._control.close()


def _attach_done(
    element: tuple[str, dict[str, Iterable[Any]]],
) -> Iterator[Shard]:
    _, joined = element
    records = list(joined["done"])
    for shard in joined["shards"]:
        if not records:
            yield shard
            continue
        keys = {shard.key_prefix + name for name in shard.names}
        keys.update(item.key for item in shard.carried)
        done = tuple(record for record in records if record[0] in keys)
        yield dataclasses.replace(shard, done=done)


class AttachResume(beam.PTransform):  # type: ignore[misc]
    """Shard -> the same Shard carrying the resume records of its files."""

    def __init__(
        self,
        target: TargetOptions,
        transport: TransportOptions,
        files: tuple[str, ...],
        spread: bool,
    ) -> None:
        super().__init__()
        self._target = target
        self._transport = transport
        self._files = files
        self._spread = spread

    def expand(self, shards: beam.PCollection) -> beam.PCollection:
        files = shards.pipeline | "ListReports" >> beam.Create(list(self._files), reshuffle=False)
        if self._spread:
            files = files | "SpreadReports" >> beam.Reshuffle()
        done = files | "ReadReports" >> beam.ParDo(_ReadDoneFn(self._target, self._transport))
        keyed = shards | "KeyShards" >> beam.Map(lambda shard: (shard.key_prefix, shard))
        return (
            {"shards": keyed, "done": done}
            | "JoinReports" >> beam.CoGroupByKey()
            | "AttachDone" >> beam.FlatMap(_attach_done)
        )
