"""Uploading planned files: many PUTs in flight per worker, results as they finish.

A PUT whose body the server found damaged is sent again (up to ``--retries`` times);
awscrt itself retries throttling, 5xx answers and broken connections with backoff. A
file that changed or vanished while it was read is reported, never passed off as done.

A write carries the plan's precondition (``If-None-Match: *`` for a key that was absent,
``If-Match`` with the ETag compared), so that an object that another writer created or
changed after the decision is never overwritten: under ``--put add`` the file is then
skipped, else it fails. Unless the key holds just what this write sends: then an earlier
attempt of it landed and its answer was lost (a reset, a timeout), and the write that was
sent again met its own object. A server that does not implement conditional writes makes
the worker warn once and send that write and every later one without.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.body import Body, body_spec, file_etag, prepared_body
from pipeline.entries import read_error
from pipeline.inflight import PutSettings, PutStepFn
from pipeline.naming import may_be_rewritten
from pipeline.observer import SILENT, BytesSent, RunObserver
from pipeline.options import PutMode
from pipeline.orphans import abort_orphaned_uploads
from pipeline.records import Action, FileResult, LocalFile, Precondition, PutPlan
from pipeline.s3uri import S3Uri
from pipeline.stored_keys import check_after_upload, check_before_upload, listed_object
from pipeline.transport import ControlOnDemand, PutOutcome, PutRequest
from pipeline.transport.control import S3Error
from pipeline.transport.errors import ErrorKind

MAX_COPY_BYTES = 5 * 1024**3  # the most one CopyObject request copies
_LOGGER = logging.getLogger(__name__)


@dataclass
class _Upload:
    plan: PutPlan
    request: PutRequest | None  # None for a server-side copy
    started: float
    cleanup: contextlib.ExitStack | None  # owns a gzipped body's temporary file
    started_wall: float = field(default_factory=time.time)
    attempt: int = 0
    precondition: Precondition | None = None  # what the last attempt was sent with
    sent: BytesSent | None = None  # its bytes as the observer follows them, if it does


def _change_since_walk(file: LocalFile) -> str:
    """Why the file on disk is no longer the one walked, or ''."""
    if file.data is not None or file.etag:
        return ""  # read whole into memory when walked, or an object in a source bucket
    try:
        st = os.stat(file.path)
    except FileNotFoundError:
        return "the file vanished while it was uploaded"
    except OSError as e:
        return f"cannot stat after upload: {e.strerror}"
    if st.st_size != file.size or st.st_mtime != file.mtime:
        return (
            "the file changed while it was uploaded; the object may hold a mix of old "
            "and new bytes: run again"
        )
    return ""


def _overtaken(upload: _Upload, put: PutMode, seconds: float) -> FileResult:
    """The result of a write that another writer's object stopped: nothing was written."""
    file = upload.plan.file
    if put is PutMode.ADD:
        return FileResult.of(file, Action.SKIPPED, reason="appeared meanwhile", seconds=seconds)
    what = "changed" if upload.precondition is not None and upload.precondition.etag else "appeared"
    error = f"the object {what} meanwhile and was not overwritten: run again to decide again"
    return FileResult.of(file, Action.FAILED, error=error, seconds=seconds, retries=upload.attempt)


class UploadFn(PutStepFn[_Upload, PutOutcome]):
    """PutPlan -> FileResult; a FileResult passes. The ``observer`` follows the bytes
    sent, and its stop request (Ctrl-C) leaves files not started and cancels transfers."""

    def __init__(self, settings: PutSettings, observer: RunObserver = SILENT) -> None:
        super().__init__(settings, observer)
        # For multipart clean-ups, and keys a server may store under another key.
        self._control = ControlOnDemand(self._target, self._options)
        self._conditional = True  # False once the server said it has no conditional writes

    def process(self, plan: PutPlan | FileResult, waited_for: Any = None) -> Iterator[FileResult]:
        """``waited_for``: a side input that only holds the uploads back until it is
        complete (``UploadShards(wait_for=...)``)."""
        if isinstance(plan, FileResult):
            yield plan
            return
        file = plan.file
        if (
            may_be_rewritten(file.key) and not self._observer.stop_requested()
        ):  # a dry run checks too
            error, absent = check_before_upload(self._control(), self._target.bucket, file.key)
            if error:
                yield FileResult.of(file, Action.FAILED, error=error)
                return
            if absent:  # whatever --put says, it must not land on an object stored since
                plan = dataclasses.replace(plan, precondition=Precondition())
        if self._decision.dry_run:
            yield FileResult.of(file, Action.WOULD_UPLOAD, reason=plan.reason)
            return
        if self._observer.stop_requested():
            yield FileResult.of(file, Action.NOT_STARTED, reason="interrupted before it started")
            return
        if self._decision.put is PutMode.COPY:
            yield from self._copy(plan)
            return
        try:
            upload = self._prepare(plan)
        except OSError as e:
            yield FileResult.of(file, Action.FAILED, error=read_error(file.path, e))
            return
        yield from self._send(upload)

    def _prepare(self, plan: PutPlan) -> _Upload:
        file = plan.file
        spec = body_spec(file, self._body)
        cleanup = None
        if spec.gzip or file.data is not None:
            cleanup = contextlib.ExitStack()
            try:
                body = cleanup.enter_context(prepared_body(file, spec))
            except BaseException:
                cleanup.close()
                raise
        else:
            body = Body(size=file.size, path=file.path)
        request = PutRequest(
            key=file.key,
            path=body.path,
            data=body.data,
            size=body.size,
            content_type=spec.content_type,
            content_encoding=spec.content_encoding,
            headers=self._body.headers,
            tagging=self._body.tagging,
        )
        return _Upload(plan=plan, request=request, started=time.monotonic(), cleanup=cleanup)

    def _copy(self, plan: PutPlan) -> Iterator[FileResult]:
        if plan.file.size > MAX_COPY_BYTES:
            yield FileResult.of(
                plan.file,
                Action.FAILED,
                error="larger than 5 GiB: a server-side copy of it needs a multipart copy, "
                "which this tool does not do yet",
            )
            return
        yield from self._send(
            _Upload(plan=plan, request=None, started=time.monotonic(), cleanup=None)
        )

    def _send(self, upload: _Upload) -> Iterator[FileResult]:
        start, held = self._start(upload)
        yield from self.submit(upload, start, size=held)

    def _start(self, upload: _Upload) -> tuple[Callable[[Callable[[PutOutcome], None]], None], int]:
        """How to start the upload's next attempt, and the bytes it holds in memory."""
        precondition = upload.plan.precondition if self._conditional else None
        upload.precondition = precondition
        if upload.request is None:
            source = S3Uri.parse(upload.plan.file.path)
            key, tagging = upload.plan.file.key, self._body.tagging
            return (lambda done: self.transport().copy(source, key, done, tagging, precondition)), 0
        # A multipart body is buffered part by part within awscrt's own memory limit.
        held = min(upload.request.size, self._options.multipart_threshold)
        request = dataclasses.replace(upload.request, precondition=precondition)
        if upload.sent is None:
            upload.sent = self._observer.transfer()
        sent = upload.sent.sent if upload.sent is not None else None
        return (lambda done: self.transport().put(request, done, sent)), held

    def _landed(self, upload: _Upload) -> str:
        """The ETag under the upload's key when the object there is what it sends, else ''."""
        file, request = upload.plan.file, upload.request
        try:
            found = listed_object(self._control(), self._target.bucket, file.key)
            if found is None:
                return ""
            if request is None:
                ours = file.etag  # a copy: the source's
            else:
                body = Body(size=request.size, path=request.path, data=request.data)
                options = self._options
                ours = file_etag(body, options.multipart_threshold, options.multipart_chunksize)
        except (S3Error, OSError) as e:
            _LOGGER.warning("cannot tell whether %s holds what was sent: %s", file.key, e)
            return ""
        return found.etag if found.etag == ours else ""

    def _stop_conditions(self, answer: str) -> None:
        """The server does not implement conditional writes: warn once; none from now on."""
        if self._conditional:
            self._conditional = False
            _LOGGER.warning(
                "the server does not take conditional writes (%s): this worker sends its "
                "writes without If-None-Match/If-Match from now on, so an object that "
                "another writer creates or changes after the comparison may be overwritten",
                answer,
            )

    def teardown(self) -> None:
        super().teardown()
        self._control.close()

    def on_interrupt(self) -> None:
        if self._transport is not None:
            self._transport.cancel_all()

    def complete(self, upload: _Upload, outcome: PutOutcome) -> Iterable[FileResult]:
        retry = (
            outcome.error
            and outcome.retryable
            and upload.attempt < self._options.retries
            and not self._observer.stop_requested()
        )
        unconditional = (
            outcome.kind is ErrorKind.NOT_IMPLEMENTED
            and upload.precondition is not None
            and not self._observer.stop_requested()
        )
        if retry or unconditional:
            if upload.sent is not None:
                upload.sent.settle(0)  # the next attempt sends the body again
            if retry:
                upload.attempt += 1
            else:  # not a retry: the server never took the write
                self._stop_conditions(outcome.error)
            # Started, not waited for here: a retry that waited for the next answer
            # inside this one would nest a level for each retry in a row.
            self.follow_up(upload, *self._start(upload))
            return []
        result = self._result(upload, outcome)
        if upload.sent is not None:
            upload.sent.settle(result.bytes_sent)
        return [result]

    def _result(self, upload: _Upload, outcome: PutOutcome) -> FileResult:
        """What the upload's last attempt came to."""
        if outcome.kind is ErrorKind.PRECONDITION and (etag := self._landed(upload)):
            outcome = PutOutcome(etag=etag)
        if upload.cleanup is not None:
            upload.cleanup.close()
        if upload.request is not None and upload.request.size > self._options.multipart_threshold:
            abort_orphaned_uploads(
                self._control(), self._target.bucket, upload.request.key,
                upload.started_wall,
            )  # fmt: skip
        file = upload.plan.file
        seconds = time.monotonic() - upload.started
        change = _change_since_walk(file)
        if self._observer.stop_requested() and outcome.cancelled:
            reason = "interrupted; the upload was aborted"
            return FileResult.of(file, Action.NOT_STARTED, reason=reason, seconds=seconds)
        if outcome.kind is ErrorKind.PRECONDITION:
            return _overtaken(upload, self._decision.put, seconds)
        if outcome.error and upload.request is not None and upload.request.path is not None:
            # A file that could not be read is a local error, whatever the transport said.
            unreadable = read_error(upload.request.path)
            if unreadable:
                outcome = dataclasses.replace(outcome, error=unreadable, kind=ErrorKind.LOCAL)
        if not outcome.error and may_be_rewritten(file.key):
            misplaced = check_after_upload(
                self._control(), self._target.bucket, file.key, outcome.etag
            )
            outcome = dataclasses.replace(outcome, error=misplaced) if misplaced else outcome
        if outcome.error or change:
            error = "; ".join(part for part in (change, outcome.error) if part)
            return FileResult.of(
                file, Action.FAILED, error=error, seconds=seconds, retries=upload.attempt
            )
        return FileResult.of(
            file,
            Action.UPLOADED,
            bytes_sent=upload.request.size if upload.request else 0,
            reason=upload.plan.reason,
            etag=outcome.etag,
            seconds=seconds,
            retries=upload.attempt,
        )
