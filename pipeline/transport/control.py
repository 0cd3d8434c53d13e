"""The control plane: synchronous requests to any bucket of the run's endpoint.

The checks before a run (does the bucket answer?), listings of source buckets and of
report prefixes, report and archive files read and written as streams, and the open
multipart uploads that a cancelled run leaves. Failures raise ``S3Error`` with an
``ErrorKind``; callers act on the kind, never on the message text.
"""

from __future__ import annotations

import abc
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from pipeline.transport.errors import ErrorKind

# The bucket check before a run gives up after this long, retries included, whatever
# --timeout says: a server that accepts connections and never answers is said at once.
PREFLIGHT_TIMEOUT_S = 10.0


def no_answer(bucket: str) -> S3Error:
    """The bucket check's error when the endpoint did not answer in time."""
    return S3Error(
        ErrorKind.TIMED_OUT, f"HEAD bucket {bucket}: no answer within {PREFLIGHT_TIMEOUT_S:g} s"
    )


class S3Error(Exception):
    """A control-plane request failed: its kind, and a message for a person."""

    def __init__(self, kind: ErrorKind, message: str, region: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.region = region  # the bucket's region, when the server named it (WRONG_REGION)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    mtime: float  # LastModified, epoch seconds


@dataclass(frozen=True)
class OpenUpload:
    key: str
    upload_id: str
    initiated: float  # epoch seconds


class Control(abc.ABC):
    @abc.abstractmethod
    def check_bucket(self, bucket: str) -> None:
        """Raise S3Error unless ``bucket`` exists and answers with these credentials,
        within ``PREFLIGHT_TIMEOUT_S``."""

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""

    @abc.abstractmethod
    def exists(self, bucket: str, key: str) -> bool:
        """Whether ``key`` is an object (False only when the server says it is not)."""

    @abc.abstractmethod
    def read(self, uri: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        """The object at s3:// ``uri`` as a binary stream (NOT_FOUND when absent)."""

    @abc.abstractmethod
    def write(self, uri: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        """A binary stream stored as the object at s3:// ``uri`` when it is closed."""

    @abc.abstractmethod
    def open_uploads(self, bucket: str, prefix: str) -> Iterator[OpenUpload]:
        """The multipart uploads open under ``prefix``."""

    @abc.abstractmethod
    def abort_upload(self, bucket: str, upload: OpenUpload) -> None: ...

    @abc.abstractmethod
    def delete_objects(self, bucket: str, keys: list[str]) -> dict[str, str]:
        """Delete ``keys`` (at most 1,000) in one request; the keys the server refused,
        with its words. A request that fails as a whole raises S3Error."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections."""

    @contextlib.contextmanager
    def read_text(self, uri: str) -> Iterator[IO[str]]:
        """The object at ``uri`` as UTF-8 lines (undecodable bytes kept as escapes)."""
        with self.read(uri) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")

    @contextlib.contextmanager
    def write_text(self, uri: str) -> Iterator[IO[str]]:
        with self.write(uri) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
            yield text
            text.flush()
            text.detach()
