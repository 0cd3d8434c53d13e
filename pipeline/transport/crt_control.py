"""The control plane of the awscrt transport: botocore's, but for the bucket check."""

from __future__ import annotations

import dataclasses
import queue
import time

from awscrt.http import HttpHeaders, HttpRequest
from awscrt.s3 import S3RequestType

from pipeline.options import TargetOptions, TransportOptions
from pipeline.transport.boto import BotocoreControl
from pipeline.transport.control import PREFLIGHT_TIMEOUT_S, S3Error, no_answer
from pipeline.transport.crt_answer import Answer
from pipeline.transport.crt_client import make_crt_client
from pipeline.transport.crt_requests import CrtRequests
from pipeline.transport.errors import ErrorKind
from pipeline.transport.tls_probe import certificate_problem

_PREFLIGHT_SLACK_S = 1.0  # the bucket check waits for a cancelled request this long
_POLL_S = 0.25


class CrtControl(BotocoreControl):
    """botocore's control plane, but the bucket check (the one request every run makes
    before its first upload) goes through awscrt: it spares loading botocore's S3 model
    (about 60 ms of every run)."""

    _PREFLIGHT_RETRIES = 2

    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        super().__init__(target)
        retries = min(options.retries, self._PREFLIGHT_RETRIES)
        self._options = dataclasses.replace(
            options, retries=retries, concurrency=4, timeout=PREFLIGHT_TIMEOUT_S
        )

    def check_bucket(self, bucket: str) -> None:
        target = dataclasses.replace(self._target, bucket=bucket)
        endpoint = target.endpoint
        timeout = self._options.timeout
        requests = CrtRequests(make_crt_client(target, self._options), timeout, cap=None)
        answers: queue.SimpleQueue[Answer] = queue.SimpleQueue()
        try:
            path = f"/{bucket}" if endpoint.path_style else "/"
            headers = HttpHeaders([("Host", endpoint.authority(bucket))])
            requests.send(
                answers.put,
                type=S3RequestType.DEFAULT,
                operation_name="HeadBucket",
                request=HttpRequest("HEAD", path, headers),
            )
            deadline = time.monotonic() + timeout + _PREFLIGHT_SLACK_S
            while True:
                try:
                    answer = answers.get(timeout=_POLL_S)
                    break
                except queue.Empty:
                    requests.cancel_expired()
                    if time.monotonic() > deadline:
                        raise self._silent(target) from None
        finally:
            requests.close()
        if answer.error is None:
            return
        if answer.timed_out:
            raise self._silent(target)
        region = answer.headers.get("x-amz-bucket-region", "")
        raise S3Error(answer.kind(), f"HEAD bucket {bucket}: {answer.error_text()}", region)

    @staticmethod
    def _silent(target: TargetOptions) -> S3Error:
        """The error of a bucket check that heard no answer in time: an untrusted
        certificate (which awscrt would report only later), else no answer."""
        endpoint, bucket = target.endpoint, target.bucket
        if endpoint.secure:
            host = endpoint.authority(bucket).removesuffix(f":{endpoint.port}")
            problem = certificate_problem(host, endpoint.port or 443, target.ca_bundle)
            if problem:
                return S3Error(ErrorKind.TLS, f"HEAD bucket {bucket}: {problem}")
        return no_answer(bucket)
