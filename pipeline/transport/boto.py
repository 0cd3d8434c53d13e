"""The control plane on botocore (``pipeline.transport.control.Control``), same endpoint
and credentials as the data plane."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import botocore.exceptions

from pipeline.credentials import botocore_credentials
from pipeline.options import TargetOptions
from pipeline.s3uri import S3Uri
from pipeline.transport.botocore_client import make_client
from pipeline.transport.control import (
    PREFLIGHT_TIMEOUT_S,
    Control,
    ObjectInfo,
    OpenUpload,
    S3Error,
    no_answer,
)
from pipeline.transport.errors import ErrorKind, classify

_RETRIES = 3  # after the first try
_CONNECT_TIMEOUT_S = 10
_READ_TIMEOUT_S = 30
# The bucket check: two tries, each within half of its budget less the backoff between
# them (at most 1 s in botocore's standard mode).
_PREFLIGHT_TRY_S = (PREFLIGHT_TIMEOUT_S - 1) / 2


def s3_error(e: Exception, doing: str) -> S3Error:
    """The S3Error for a botocore exception raised while ``doing`` something."""
    if isinstance(e, botocore.exceptions.ClientError):
        meta = e.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode") or 0
        code = e.response.get("Error", {}).get("Code", "")
        region = meta.get("HTTPHeaders", {}).get("x-amz-bucket-region", "")
        return S3Error(classify(status, code, region), f"{doing}: HTTP {status} {e}", region)
    if isinstance(e, botocore.exceptions.SSLError):
        return S3Error(ErrorKind.TLS, f"{doing}: {e}")
    if isinstance(
        e, (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError)
    ):
        return S3Error(ErrorKind.TIMED_OUT, f"{doing}: {e}")
    if isinstance(
        e, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError)
    ):
        return S3Error(ErrorKind.NETWORK, f"{doing}: {e}")
    return S3Error(ErrorKind.NETWORK, f"{doing}: {type(e).__name__}: {e}")


_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class BotocoreControl(Control):
    def __init__(self, target: TargetOptions, retries: int = _RETRIES) -> None:
        self._target = target
        self._retries = retries
        self._client_made: Any = None

    @property
    def _client(self) -> Any:
        if self._client_made is None:
            self._client_made = make_client(
                self._target,
                retries=self._retries,
                connect_timeout=_CONNECT_TIMEOUT_S,
                read_timeout=_READ_TIMEOUT_S,
            )
        return self._client_made

    def check_bucket(self, bucket: str) -> None:
        target = self._target
        botocore_credentials(target.profile)  # none found: a UsageError of its own
        client = make_client(
            target, retries=1, connect_timeout=_PREFLIGHT_TRY_S, read_timeout=_PREFLIGHT_TRY_S
        )
        try:
            client.head_bucket(Bucket=bucket)
        except (
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
        ) as e:
            raise no_answer(bucket) from e
        except _ERRORS as e:
            raise s3_error(e, f"HEAD bucket {bucket}") from e
        finally:
            client.close()

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    yield ObjectInfo(
                        key=obj["Key"],
                        size=obj["Size"],
                        etag=obj["ETag"].strip('"'),
                        mtime=obj["LastModified"].timestamp(),
                    )
        except _ERRORS as e:
            raise s3_error(e, f"LIST s3://{bucket}/{prefix}") from e

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._client.head_object(Bucket=bucket, Key=key)
        except _ERRORS as e:
            error = s3_error(e, f"HEAD s3://{bucket}/{key}")
            if error.kind is ErrorKind.NOT_FOUND:
                return False
            raise error from e
        return True

    @contextlib.contextmanager
    def read(self, uri: str) -> Iterator[IO[bytes]]:
        bucket, key = S3Uri.parse(uri)
        try:
            answer = self._client.get_object(Bucket=bucket, Key=key)
        except _ERRORS as e:
            raise s3_error(e, f"GET {uri}") from e
        body = answer["Body"]
        try:
            yield body
        finally:
            body.close()

    @contextlib.contextmanager
    def write(self, uri: str) -> Iterator[IO[bytes]]:
        import smart_open

        try:
            with smart_open.open(
                uri, "wb", compression="disable", transport_params={"client": self._client}
            ) as stream:
                yield stream
        except _ERRORS as e:
            raise s3_error(e, f"PUT {uri}") from e

    def open_uploads(self, bucket: str, prefix: str) -> Iterator[OpenUpload]:
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix
        )
        try:
            for page in pages:
                for upload in page.get("Uploads", []):
                    yield OpenUpload(
                        upload["Key"], upload["UploadId"], upload["Initiated"].timestamp()
                    )
        except _ERRORS as e:
            raise s3_error(e, f"LIST uploads of s3://{bucket}/{prefix}") from e

    def abort_upload(self, bucket: str, upload: OpenUpload) -> None:
        try:
            self._client.abort_multipart_upload(
                Bucket=bucket, Key=upload.key, UploadId=upload.upload_id
            )
        except _ERRORS as e:
            raise s3_error(e, f"abort the upload of s3://{bucket}/{upload.key}") from e

    def delete_objects(self, bucket: str, keys: list[str]) -> dict[str, str]:
        objects = [{"Key": key} for key in keys]
        try:
            answer = self._client.delete_objects(
                Bucket=bucket, Delete={"Objects": objects, "Quiet": True}
            )
        except _ERRORS as e:
            raise s3_error(e, f"DELETE {len(keys)} objects in {bucket}") from e
        return {
            error["Key"]: f"{error.get('Code', '')}: {error.get('Message', '')}"
            for error in answer.get("Errors", [])
        }

    def close(self) -> None:
        if self._client_made is not None:
            self._client_made.close()
            self._client_made = None
