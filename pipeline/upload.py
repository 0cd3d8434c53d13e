"""Uploading planned files: many PUTs in flight per worker, results as they finish."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pipeline.body import Body, body_spec, prepared_body
from pipeline.inflight import InFlightDoFn
from pipeline.records import Action, FileResult, PutPlan
from pipeline.transport import PutOutcome, PutRequest


@dataclass
class _Upload:
    plan: PutPlan
    body: Body
    started: float
    cleanup: contextlib.ExitStack


class UploadFn(InFlightDoFn[_Upload, PutOutcome]):
    """PutPlan -> FileResult."""

    def process(self, plan: PutPlan) -> Iterator[FileResult]:
        file = plan.file
        if self._config.dry_run:
            yield FileResult(
                path=file.path,
                key=file.key,
                action=Action.WOULD_UPLOAD,
                size=file.size,
                mtime=file.mtime,
                reason=plan.reason,
            )
            return
        spec = body_spec(file, self._config)
        cleanup = contextlib.ExitStack()
        try:
            body = cleanup.enter_context(prepared_body(file, spec))
        except OSError as e:
            cleanup.close()
            yield FileResult(
                path=file.path,
                key=file.key,
                action=Action.FAILED,
                size=file.size,
                mtime=file.mtime,
                error=f"cannot read: {e.strerror}",
            )
            return
        request = PutRequest(
            key=file.key,
            path=body.path,
            size=body.size,
            content_type=spec.content_type,
            content_encoding=spec.content_encoding,
        )
        upload = _Upload(plan=plan, body=body, started=time.monotonic(), cleanup=cleanup)
        # A multipart body is buffered part by part within awscrt's own memory limit.
        held = min(body.size, self._config.multipart_threshold)
        yield from self.submit(upload, lambda done: self.transport().put(request, done), size=held)

    def complete(self, upload: _Upload, outcome: PutOutcome) -> Iterable[FileResult]:
        upload.cleanup.close()
        file = upload.plan.file
        seconds = time.monotonic() - upload.started
        if outcome.error:
            return [
                FileResult(
                    path=file.path,
                    key=file.key,
                    action=Action.FAILED,
                    size=file.size,
                    mtime=file.mtime,
                    error=outcome.error,
                    seconds=seconds,
                )
            ]
        return [
            FileResult(
                path=file.path,
                key=file.key,
                action=Action.UPLOADED,
                size=file.size,
                mtime=file.mtime,
                bytes_sent=upload.body.size,
                reason=upload.plan.reason,
                etag=outcome.etag,
                seconds=seconds,
            )
        ]
