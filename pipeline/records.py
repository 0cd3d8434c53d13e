"""The values that flow between the pipeline's steps: frozen, typed and picklable."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Root:
    """One thing to walk: a file or a directory (or an archive, or an s3:// prefix), and
    the root its keys are relative to."""

    path: str
    base: str


@dataclass(frozen=True)
class LocalFile:
    """A file found under a SOURCE and the key it is meant for."""

    path: str  # os.fsdecode()d, so undecodable bytes survive as surrogates
    key: str
    size: int
    mtime: float
    data: bytes | None = None  # the contents, when they live in memory (a tar member)
    etag: str = ""  # known ETag of the contents (an object in a source bucket)


@dataclass(frozen=True)
class LeftOut:
    """A file that the filters (--include/--exclude, the age limit) leave out: it is not
    uploaded, but its key is still a local file's, so --delete never takes it for stale."""

    key: str


@dataclass(frozen=True)
class FileBatch:
    """Files of one shard on their way to the put decision: one listing covers them all."""

    files: tuple[LocalFile, ...]
    list_prefix: str  # the '/'-delimited key prefix that holds every key of the batch
    list_after: str = ""  # the key before the first one ('' to list from the start)


@dataclass(frozen=True)
class RemoteObject:
    """What the bucket holds under a key."""

    key: str
    size: int
    etag: str  # without quotes
    mtime: float = 0.0  # Last-Modified, epoch seconds (0.0: not known)


@dataclass(frozen=True)
class StoredChecksum:
    """A full-object checksum that S3 keeps with an object (``x-amz-checksum-*``)."""

    algorithm: str  # crc64nvme, crc32, crc32c, sha256 or sha1
    value: str  # base64, as S3 returns it


@dataclass(frozen=True)
class ObjectDetails:
    """What a HEAD with checksum mode adds to a listing: whether the ETag can be an MD5
    (not with SSE-KMS or SSE-C) and the object's full-object checksum, if it has one."""

    checksum: StoredChecksum | None = None
    etag_is_md5: bool = True


class Action(enum.Enum):
    """What happened to one file."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    WOULD_UPLOAD = "would_upload"  # --dry-run
    FAILED = "failed"
    NOT_STARTED = "not_started"  # interrupted before it was uploaded (nothing stored)
    DELETED = "deleted"  # --delete: an object no local file maps to
    WOULD_DELETE = "would_delete"  # --delete --dry-run
    WITHHELD = "withheld"  # --delete --dry-run: a deletion that --max-delete would withhold


@dataclass(frozen=True)
class Precondition:
    """What a write expects to find under its key: what the put decision saw there, so
    that it overwrites nothing that another writer put there since (S3's conditional
    writes; the server answers 412 when it does not hold)."""

    etag: str = ""  # the object it compared (``If-Match``); '' for none (``If-None-Match: *``)

    @classmethod
    def of(cls, remote: RemoteObject | None) -> Precondition | None:
        """The condition that the key still holds ``remote`` (None: holds nothing); None
        when it cannot be said (an object listed without an ETag)."""
        if remote is None:
            return cls()
        return cls(remote.etag) if remote.etag else None

    def header(self) -> tuple[str, str]:
        """The HTTP header that carries it."""
        return ("If-Match", f'"{self.etag}"') if self.etag else ("If-None-Match", "*")


@dataclass(frozen=True)
class PutPlan:
    """A file that the put decision says to upload, with the reason why."""

    file: LocalFile
    reason: str  # "new", "changed", "always"
    precondition: Precondition | None = None  # None: unconditional (--put stupid)


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file; failures are values, not exceptions."""

    path: str
    key: str
    action: Action
    size: int = 0  # bytes of the local file
    mtime: float = 0.0  # of the local file, when it was walked
    bytes_sent: int = 0  # bytes of the body PUT (after gzip)
    reason: str = ""  # why skipped or uploaded
    error: str = ""  # what went wrong, for FAILED
    etag: str = ""
    seconds: float = 0.0
    retries: int = 0  # whole-file attempts after the first (awscrt's own are not seen)
    # A failure that leaves unknown which keys the tree maps to (a directory, archive or
    # listing that could not be read): --delete then deletes nothing.
    walk_incomplete: bool = False
    deletion: bool = False  # the result of deleting ``key`` (--delete), not of a file

    @classmethod
    def of(cls, file: LocalFile, action: Action, **fields: Any) -> FileResult:
        """The result for ``file``, with its path, key, size and mtime."""
        return cls(
            path=file.path, key=file.key, action=action, size=file.size, mtime=file.mtime, **fields
        )
