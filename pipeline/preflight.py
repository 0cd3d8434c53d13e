"""Checks before the pipeline starts: can we reach the endpoint, sign, and see the bucket?

Each failure is a UsageError with one line that says what to fix (exit code 2).
"""

from __future__ import annotations

from pipeline.errors import UsageError
from pipeline.transport.control import Control, S3Error
from pipeline.transport.errors import ErrorKind


def check_bucket(control: Control, bucket: str, url: str) -> None:
    """HEAD the bucket at the endpoint ``url`` with the run's credentials."""
    try:
        control.check_bucket(bucket)
    except S3Error as e:
        raise UsageError(_advice(e, bucket, url)) from e


def _advice(error: S3Error, bucket: str, url: str) -> str:
    kind = error.kind
    if kind is ErrorKind.NOT_FOUND:
        return f"bucket {bucket!r} does not exist at {url}"
    if kind is ErrorKind.DENIED:
        return f"access to bucket {bucket!r} denied: check the credentials and their rights"
    if kind is ErrorKind.WRONG_REGION and error.region:
        return f"bucket {bucket!r} is in region {error.region}; use --region {error.region}"
    if kind is ErrorKind.TLS:
        return (
            f"TLS certificate check of {url} failed (for a private CA, pass --ca-bundle "
            f"FILE): {error}"
        )
    if kind in (ErrorKind.NETWORK, ErrorKind.TIMED_OUT):
        return f"cannot reach {url}: {error}"
    return f"cannot use bucket {bucket!r}: {error}"
