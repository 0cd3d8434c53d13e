"""What kind of failure a request met, from the S3 answer, for every client alike."""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    """What kind of failure a request met."""

    NOT_FOUND = "not found"  # no such bucket or key
    DENIED = "access denied"
    WRONG_REGION = "wrong region"
    REFUSED = "refused"  # any other 4xx answer
    DAMAGED = "damaged"  # the body was damaged on the way, or a part went missing
    TIMED_OUT = "timed out"
    SERVER = "server error"  # 5xx, after the transport's own retries
    NETWORK = "network"  # no connection, or it broke, after the transport's own retries
    TLS = "tls"  # the certificate check failed
    CANCELLED = "cancelled"  # by cancel_all (Ctrl-C): nothing was stored
    LOCAL = "local"  # a local file could not be read
    # A conditional write found the key no longer holding what it expected (412): nothing
    # was stored.
    PRECONDITION = "precondition failed"
    # A conditional write met another write of the key under way (409
    # ConditionalRequestConflict); S3 asks for it to be sent again, with its condition.
    CONFLICT = "conflict"
    NOT_IMPLEMENTED = "not implemented"  # 501, or a 400 saying a feature is not supported

    @property
    def retryable(self) -> bool:
        """Worth sending the whole file again: the transport does not retry these itself."""
        return self in (ErrorKind.DAMAGED, ErrorKind.TIMED_OUT, ErrorKind.CONFLICT)


# S3 error codes of a body damaged on the way (the server's checksum check failed) or a
# part the server could not match (its answer was lost and the part sent again): a new
# attempt can cure them.
_DAMAGED_CODES = frozenset(
    {
        "BadDigest",
        "InvalidDigest",
        "XAmzContentChecksumMismatch",
        "XAmzContentSHA256Mismatch",
        "IncompleteBody",
        "InvalidPart",
    }
)


def _not_implemented(status: int, code: str) -> bool:
    """An answer saying the server does not implement what was asked (a header)."""
    if status == 501 or code == "NotImplemented":
        return True
    return status == 400 and ("NotSupported" in code or "Unsupported" in code)


def classify(status: int, code: str = "", region: str = "") -> ErrorKind:
    """The kind of an S3 error answer: HTTP ``status`` (0: none came), S3 ``code``, and
    the bucket's ``region`` when the answer named one (x-amz-bucket-region)."""
    if region and status in (301, 400):  # the bucket lives in another region
        return ErrorKind.WRONG_REGION
    if code in _DAMAGED_CODES:
        return ErrorKind.DAMAGED
    if code == "RequestTimeout":
        return ErrorKind.TIMED_OUT
    if status == 412 or code == "PreconditionFailed":
        return ErrorKind.PRECONDITION
    if code == "ConditionalRequestConflict":
        return ErrorKind.CONFLICT
    if _not_implemented(status, code):
        return ErrorKind.NOT_IMPLEMENTED
    if code in ("NoSuchKey", "NoSuchBucket", "NotFound") or status == 404:
        return ErrorKind.NOT_FOUND
    if code == "AccessDenied" or status == 403:
        return ErrorKind.DENIED
    if code == "PermanentRedirect" or status == 301:
        return ErrorKind.WRONG_REGION
    if status >= 500:
        return ErrorKind.SERVER
    if status >= 400:
        return ErrorKind.REFUSED
    return ErrorKind.NETWORK
