"""The put decision against the bucket: HEAD each key, then add/stupid/update rules."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import apache_beam as beam

from pipeline.body import body_etag, body_spec
from pipeline.config import PutMode
from pipeline.decide import decide_put
from pipeline.inflight import InFlightDoFn
from pipeline.naming import key_problem
from pipeline.records import Action, FileResult, LocalFile, PutPlan
from pipeline.transport import HeadOutcome

_LOGGER = logging.getLogger(__name__)
DONE = "done"  # tag of the FileResults that need no upload


class DecidePutFn(InFlightDoFn[LocalFile, HeadOutcome]):
    """LocalFile -> PutPlan (main output) or FileResult (tagged ``done``)."""

    def process(self, file: LocalFile) -> Iterator[object]:
        problem = key_problem(file.key)
        if problem is not None:
            yield beam.pvalue.TaggedOutput(
                DONE,
                FileResult(
                    path=file.path,
                    key=file.key,
                    action=Action.FAILED,
                    size=file.size,
                    error=problem,
                ),
            )
        elif self._config.put is PutMode.STUPID:
            yield PutPlan(file=file, reason="always")
        else:
            yield from self.submit(file, self.transport().head(file.key))

    def complete(self, file: LocalFile, outcome: HeadOutcome) -> Iterable[object]:
        if outcome.error:
            return [self._done(file, Action.FAILED, error=outcome.error)]
        spec = body_spec(file, self._config)
        try:
            upload, reason = decide_put(
                self._config.put,
                outcome.remote,
                None if spec.gzip else file.size,
                lambda: body_etag(file, spec, self._config),
            )
        except OSError as e:
            return [self._done(file, Action.FAILED, error=f"cannot read: {e.strerror}")]
        if upload:
            return [PutPlan(file=file, reason=reason)]
        return [self._done(file, Action.SKIPPED, reason=reason)]

    @staticmethod
    def _done(file: LocalFile, action: Action, reason: str = "", error: str = "") -> object:
        result = FileResult(
            path=file.path,
            key=file.key,
            action=action,
            size=file.size,
            reason=reason,
            error=error,
        )
        return beam.pvalue.TaggedOutput(DONE, result)
