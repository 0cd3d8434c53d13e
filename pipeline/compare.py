"""The put decision against the bucket: add/stupid/update rules on what the bucket holds.

What the bucket holds comes from one '/'-delimited listing per directory (files of a
directory arrive together from the walk, so each directory is listed once while its
files wait), or from a HEAD per key when only a few files are wanted (``--limit``).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pipeline.body import body_etag, body_spec
from pipeline.config import PutMode
from pipeline.decide import decide_put
from pipeline.inflight import InFlightDoFn
from pipeline.naming import key_problem
from pipeline.records import Action, FileResult, LocalFile, PutPlan, RemoteObject
from pipeline.transport import HeadOutcome, ListOutcome

HEAD_WHEN_LIMIT_AT_MOST = 100  # fewer files than this: a HEAD each beats listing directories
_LISTINGS_KEPT = 8  # finished directory listings remembered per worker


def _directory_of(key: str) -> str:
    return key[: key.rfind("/") + 1]


@dataclass
class _Directory:
    """A directory listing in flight and the files waiting for it."""

    prefix: str
    waiting: list[LocalFile] = field(default_factory=list)


class DecidePutFn(InFlightDoFn[LocalFile | _Directory, HeadOutcome | ListOutcome]):
    """LocalFile -> PutPlan, or FileResult when no upload is needed; FileResult passes."""

    def setup(self) -> None:
        super().setup()
        self._listed: collections.OrderedDict[str, dict[str, RemoteObject]] = (
            collections.OrderedDict()
        )
        self._listing: dict[str, _Directory] = {}
        limit = self._config.limit
        self._use_head = limit is not None and limit <= HEAD_WHEN_LIMIT_AT_MOST

    def process(self, file: LocalFile | FileResult) -> Iterator[object]:
        if isinstance(file, FileResult):
            yield file
            return
        problem = key_problem(file.key)
        if problem is not None:
            yield FileResult.of(file, Action.FAILED, error=problem)
        elif self._config.put is PutMode.STUPID:
            yield PutPlan(file=file, reason="always")
        elif self._use_head:
            yield from self.submit(file, lambda done: self.transport().head(file.key, done))
        else:
            yield from self._compare_with_listing(file)

    def _compare_with_listing(self, file: LocalFile) -> Iterator[object]:
        prefix = _directory_of(file.key)
        objects = self._listed.get(prefix)
        if objects is not None:
            yield from self._decide(file, objects.get(file.key))
        elif prefix in self._listing:
            self._listing[prefix].waiting.append(file)
        else:
            directory = _Directory(prefix, [file])
            self._listing[prefix] = directory
            yield from self.submit(
                directory, lambda done: self.transport().list_directory(prefix, done)
            )

    def complete(
        self, context: LocalFile | _Directory, outcome: HeadOutcome | ListOutcome
    ) -> Iterable[object]:
        if isinstance(context, LocalFile):
            assert isinstance(outcome, HeadOutcome)
            if outcome.error:
                return [FileResult.of(context, Action.FAILED, error=outcome.error)]
            return self._decide(context, outcome.remote)
        assert isinstance(outcome, ListOutcome)
        del self._listing[context.prefix]
        if outcome.error:
            return [
                FileResult.of(file, Action.FAILED, error=outcome.error) for file in context.waiting
            ]
        self._listed[context.prefix] = outcome.objects
        while len(self._listed) > _LISTINGS_KEPT:
            self._listed.popitem(last=False)
        return [
            output
            for file in context.waiting
            for output in self._decide(file, outcome.objects.get(file.key))
        ]

    def _decide(self, file: LocalFile, remote: RemoteObject | None) -> Iterator[object]:
        spec = body_spec(file, self._config)
        try:
            upload, reason = decide_put(
                self._config.put,
                remote,
                None if spec.gzip else file.size,
                lambda: file.etag or body_etag(file, spec, self._config),
            )
        except OSError as e:
            yield FileResult.of(file, Action.FAILED, error=f"cannot read: {e.strerror}")
            return
        if upload:
            yield PutPlan(file=file, reason=reason)
        else:
            yield FileResult.of(file, Action.SKIPPED, reason=reason)
