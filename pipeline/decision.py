"""The put decision against the bucket: add/stupid/update rules on what the bucket holds.

What the bucket holds comes from one '/'-delimited listing per batch of files (the files
of one directory shard: the listing starts after the key before the shard and stops
once past its last key), or from a HEAD per key when only a few files are wanted
(``--limit``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.body import BodySpec, body_digests, body_spec, etag_spec, part_size_for
from pipeline.checksums import ChecksumCache
from pipeline.counters import Counter
from pipeline.entries import read_error
from pipeline.inflight import PutSettings, PutStepFn
from pipeline.naming import key_problem
from pipeline.observer import SILENT, RunObserver
from pipeline.options import CompareMode, PutMode
from pipeline.put_rules import decide_put
from pipeline.records import (
    Action,
    FileBatch,
    FileResult,
    LocalFile,
    ObjectDetails,
    Precondition,
    PutPlan,
    RemoteObject,
)
from pipeline.transport import HeadOutcome, ListOutcome
from pipeline.transport.errors import ErrorKind
from pipeline.verify import Verdict, by_details, by_etag

HEAD_WHEN_LIMIT_AT_MOST = 100  # fewer files than this: a HEAD each beats listing directories


class _FileDigests:
    """The digests of the body a file would be sent as (``verify.LocalDigests``): read
    once for all those asked together, and remembered in the checksum cache."""

    def __init__(self, file: LocalFile, spec: BodySpec, cache: ChecksumCache | None) -> None:
        self._file = file
        self._spec = spec
        # Remembered by path: not for an archive member (in memory) or without a cache.
        self._cache = cache if file.data is None else None
        self._prefix = f"gzip={int(spec.gzip)};"

    def _read(self, specs: Sequence[str]) -> dict[str, str]:
        return body_digests(self._file, self._spec, specs) if specs else {}

    def known(self, specs: Sequence[str]) -> dict[str, str]:
        if self._cache is None:
            return {}
        cut = len(self._prefix)
        found = self._cache.known(self._file.path, [self._prefix + s for s in specs])
        return {param[cut:]: value for param, value in found.items()}

    def compute(self, specs: Sequence[str]) -> dict[str, str]:
        if self._cache is None or not specs:
            return self._read(specs)
        cut = len(self._prefix)

        def read(params: list[str]) -> dict[str, str]:
            values = self._read([param[cut:] for param in params])
            return {self._prefix + spec: value for spec, value in values.items()}

        params = [self._prefix + s for s in specs]
        found = self._cache.digests(self._file.path, params, read)
        return {param[cut:]: value for param, value in found.items()}


@dataclass(frozen=True)
class _Unsettled:
    """A file whose object's ETag left the decision open: a HEAD with checksum mode is
    on its way."""

    file: LocalFile
    remote: RemoteObject
    verdict: Verdict


class DecidePutFn(
    PutStepFn[LocalFile | tuple[LocalFile, ...] | _Unsettled, HeadOutcome | ListOutcome]
):
    """FileBatch -> PutPlan, or FileResult when no upload is needed; FileResult passes.
    ``limit``: the run's --limit, if any."""

    def __init__(
        self, settings: PutSettings, limit: int | None = None, observer: RunObserver = SILENT
    ) -> None:
        super().__init__(settings, observer)
        self._put = self._decision.put
        self._checksums: ChecksumCache | None = None
        # Few files wanted (--limit): a HEAD each beats listing their directories.
        self._use_head = limit is not None and limit <= HEAD_WHEN_LIMIT_AT_MOST
        # Those HEADs show what the ETag may leave open, when checksums are compared.
        self._details = self._decision.compare is CompareMode.CHECKSUM and self._put in (
            PutMode.UPDATE,
            PutMode.COPY,
        )
        self._by_mtime = Counter.COMPARED_BY_MTIME.metric()

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

    def _by_etag(self, file: LocalFile, spec: BodySpec) -> Callable[[RemoteObject], Verdict]:
        """What the object's ETag says of the file's bytes."""

        def verdict(remote: RemoteObject) -> Verdict:
            if file.etag:  # a source object: its ETag is all that is known here
                same = file.etag == remote.etag
                return Verdict(same, "unchanged" if same else "changed", ask=False)
            own = part_size_for(remote.size, self._options.multipart_chunksize)
            return by_etag(remote, _FileDigests(file, spec, self._checksums), own)

        return verdict

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
        yield from self.submit(
            file, lambda done: self.transport().head(file.key, done, self._details)
        )

    def _list(self, batch: FileBatch, files: tuple[LocalFile, ...]) -> Iterator[object]:
        last = max(file.key for file in files)

        def start(done: Callable[[ListOutcome], None]) -> None:
            self.transport().list_directory(
                batch.list_prefix, done, start_after=batch.list_after, until=last
            )

        yield from self.submit(files, start)

    def complete(
        self,
        context: LocalFile | tuple[LocalFile, ...] | _Unsettled,
        outcome: HeadOutcome | ListOutcome,
    ) -> Iterable[object]:
        if isinstance(context, _Unsettled):
            assert isinstance(outcome, HeadOutcome)
            return self._settle(context, outcome)
        if isinstance(context, LocalFile):
            assert isinstance(outcome, HeadOutcome)
            if outcome.error:
                return [
                    FileResult.of(context, Action.FAILED, error=outcome.error, walk_incomplete=True)
                ]
            return self._decide(context, outcome.remote, outcome)
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

    def _decide(
        self, file: LocalFile, remote: RemoteObject | None, head: HeadOutcome | None = None
    ) -> Iterator[object]:
        spec = body_spec(file, self._body)
        try:
            decision = decide_put(
                self._put,
                remote,
                None if spec.gzip else file.size,
                self._by_etag(file, spec),
                self._decision.compare,
                file.mtime,
            )
        except OSError as e:
            yield FileResult.of(file, Action.FAILED, error=read_error(file.path, e))
            return
        if decision.unsettled is not None and remote is not None:
            unsettled = _Unsettled(file, remote, decision.unsettled)
            if head is not None and head.details is not None:
                yield from self._settle(unsettled, head)
            else:
                head_of = self.transport().head
                self.follow_up(unsettled, lambda done: head_of(file.key, done, True))
        elif decision.upload:
            yield self._plan(file, decision.reason, remote)
        else:
            yield FileResult.of(file, Action.SKIPPED, reason=decision.reason)

    def _settle(self, unsettled: _Unsettled, head: HeadOutcome) -> Iterator[object]:
        """Decide with the object's details what its ETag left open; without them (the
        HEAD failed, or the object is gone), upload, as the ETag alone says."""
        file, remote, verdict = unsettled.file, unsettled.remote, unsettled.verdict
        details, found = head.details, head.remote
        if head.kind is ErrorKind.REFUSED:
            # S3 answers 400 to a HEAD of an SSE-C object without its key: its ETag is
            # no MD5, and it shows nothing more.
            details, found = ObjectDetails(etag_is_md5=False), remote
        if details is None or found is None:
            yield self._plan(file, verdict.reason, remote)
            return
        spec = body_spec(file, self._body)
        local = _FileDigests(file, spec, self._checksums)
        try:
            settled = by_details(verdict, details, found, local, file.mtime)
        except OSError as e:
            yield FileResult.of(file, Action.FAILED, error=read_error(file.path, e))
            return
        if settled.by_mtime:
            self._by_mtime.inc()
        if settled.upload:
            self._remember_own_etag(file, spec)
            yield self._plan(file, settled.reason, remote)
        else:
            yield FileResult.of(file, Action.SKIPPED, reason=settled.reason)

    @staticmethod
    def _plan(file: LocalFile, reason: str, remote: RemoteObject | None) -> PutPlan:
        # The PUT then overwrites only what was compared: nothing written since.
        return PutPlan(file=file, reason=reason, precondition=Precondition.of(remote))

    def _remember_own_etag(self, file: LocalFile, spec: BodySpec) -> None:
        """After a comparison of digests that ends in an upload: compute the ETag the
        upload will give the object, unless the comparison did, so that the next run
        finds it remembered and reads nothing. (A file uploaded as new, or because its
        size differs, is not read here.)"""
        if spec.gzip or self._decision.dry_run or file.data is not None:
            return  # the body's size is not known yet; nothing will be uploaded; no path
        options = self._options
        own = etag_spec(file.size, options.multipart_threshold, options.multipart_chunksize)
        with contextlib.suppress(OSError):  # the upload says what is wrong
            _FileDigests(file, spec, self._checksums).compute([own])
