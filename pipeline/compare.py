"""The put decision against the bucket: add/stupid/update rules on what the bucket holds.

What the bucket holds comes from one '/'-delimited listing per batch of files (the files
of one directory shard: the listing starts after the key before the shard and stops
once past its last key), or from a HEAD per key when only a few files are wanted
(``--limit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pipeline.body import BodySpec, body_etag, body_spec
from pipeline.checksums import ChecksumCache
from pipeline.decide import decide_put
from pipeline.inflight import PutSettings, PutStepFn
from pipeline.naming import key_problem
from pipeline.options import PutMode
from pipeline.records import (
    Action,
    FileBatch,
    FileResult,
    LocalFile,
    Precondition,
    PutPlan,
    RemoteObject,
)
from pipeline.sources.filesystem import read_error
from pipeline.transport import HeadOutcome, ListOutcome

HEAD_WHEN_LIMIT_AT_MOST = 100  # fewer files than this: a HEAD each beats listing directories


class DecidePutFn(PutStepFn[LocalFile | tuple[LocalFile, ...], HeadOutcome | ListOutcome]):
    """FileBatch -> PutPlan, or FileResult when no upload is needed; FileResult passes.
    ``limit``: the run's --limit, if any."""

    def __init__(self, settings: PutSettings, limit: int | None = None) -> None:
        super().__init__(settings)
        self._put = self._decision.put
        self._checksums: ChecksumCache | None = None
        # Few files wanted (--limit): a HEAD each beats listing their directories.
        self._use_head = limit is not None and limit <= HEAD_WHEN_LIMIT_AT_MOST

    def setup(self) -> None:
        super().setup()
        self._checksums = ChecksumCache(self._decision.checksum_cache)

    def finish_bundle(self) -> Iterator[Any]:
        yield from super().finish_bundle()
        if self._checksums is not None:
            self._checksums.flush()

    def teardown(self) -> None:
        super().teardown()
        if self._checksums is not None:
            self._checksums.close()

    def _local_etag(self, file: LocalFile, spec: BodySpec) -> str:
        """The ETag the upload would have: known (a source object), remembered, or read."""
        if file.etag:
            return file.etag
        if file.data is not None or self._checksums is None:
            return body_etag(file, spec, self._options)
        options = self._options
        params = (
            f"gzip={int(spec.gzip)};{options.multipart_threshold};{options.multipart_chunksize}"
        )
        return self._checksums.etag(file.path, params, lambda: body_etag(file, spec, self._options))

    def process(self, batch: FileBatch | FileResult) -> Iterator[object]:
        if isinstance(batch, FileResult):
            yield batch
            return
        to_compare = []
        for file in batch.files:
            problem = key_problem(file.key)
            if problem is not None:
                yield FileResult.of(file, Action.FAILED, error=problem)
            elif self._put is PutMode.STUPID:
                yield PutPlan(file=file, reason="always")
            elif self._use_head:
                yield from self._head(file)
            else:
                to_compare.append(file)
        if to_compare:
            yield from self._list(batch, tuple(to_compare))

    def _head(self, file: LocalFile) -> Iterator[object]:
        yield from self.submit(file, lambda done: self.transport().head(file.key, done))

    def _list(self, batch: FileBatch, files: tuple[LocalFile, ...]) -> Iterator[object]:
        last = max(file.key for file in files)

        def start(done: Callable[[ListOutcome], None]) -> None:
            self.transport().list_directory(
                batch.list_prefix, done, start_after=batch.list_after, until=last
            )

        yield from self.submit(files, start)

    def complete(
        self, context: LocalFile | tuple[LocalFile, ...], outcome: HeadOutcome | ListOutcome
    ) -> Iterable[object]:
        if isinstance(context, LocalFile):
            assert isinstance(outcome, HeadOutcome)
            if outcome.error:
                return [
                    FileResult.of(context, Action.FAILED, error=outcome.error, walk_incomplete=True)
                ]
            return self._decide(context, outcome.remote)
        assert isinstance(outcome, ListOutcome)
        if outcome.error:
            return [
                FileResult.of(file, Action.FAILED, error=outcome.error, walk_incomplete=True)
                for file in context
            ]
        return [
            output
            for file in context
            for output in self._decide(file, outcome.objects.get(file.key))
        ]

    def _decide(self, file: LocalFile, remote: RemoteObject | None) -> Iterator[object]:
        spec = body_spec(file, self._body)
        try:
            upload, reason = decide_put(
                self._put,
                remote,
                None if spec.gzip else file.size,
                lambda: self._local_etag(file, spec),
                self._decision.compare,
                file.mtime,
            )
        except OSError as e:
            yield FileResult.of(file, Action.FAILED, error=read_error(file.path, e))
            return
        if upload:
            # The PUT then overwrites only what was compared: nothing written since.
            yield PutPlan(file=file, reason=reason, precondition=Precondition.of(remote))
        else:
            yield FileResult.of(file, Action.SKIPPED, reason=reason)
