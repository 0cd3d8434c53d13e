"""The validated settings of one run, as frozen values that Beam can pickle.

``UploadConfig`` is built once by the CLI and handed to every transform; nothing in it is
a secret (credentials are resolved on each worker from the standard AWS chain).
"""

from __future__ import annotations

import enum
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import UsageError
from pipeline.filters import FileFilter

DEFAULT_CONCURRENCY = 128
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024
DEFAULT_MULTIPART_CHUNKSIZE = 8 * 1024 * 1024
MIN_MULTIPART_CHUNKSIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000


class PutMode(enum.Enum):
    """When a file is uploaded (the classic ``--put`` option)."""

    ADD = "add"  # only keys that are absent
    STUPID = "stupid"  # always
    UPDATE = "update"  # absent, or content differs (MD5 against ETag)
    COPY = "copy"  # server-side copy from a source bucket (--walk s3), when absent or changed


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: scheme, host[:port] and whether buckets are in the path."""

    scheme: str
    host: str
    port: int | None
    region: str
    path_style: bool

    @property
    def url(self) -> str:
        netloc = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}"

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def authority(self, bucket: str) -> str:
        """The Host header for a request on ``bucket``."""
        netloc = self.host if self.port is None else f"{self.host}:{self.port}"
        return netloc if self.path_style else f"{bucket}.{netloc}"

    def bucket_path(self, bucket: str, query: dict[str, str]) -> str:
        """The request path for a bucket-level request with ``query``."""
        encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="~")
        return (f"/{bucket}" if self.path_style else "/") + f"?{encoded}"

    def path(self, bucket: str, key: str) -> str:
        """The request path for ``key`` in ``bucket``, URI-encoded once."""
        quoted = urllib.parse.quote(key, safe="/~")
        return f"/{bucket}/{quoted}" if self.path_style else f"/{quoted}"


def _is_dns_compatible(bucket: str) -> bool:
    return (
        3 <= len(bucket) <= 63
        and "." not in bucket
        and bucket.lower() == bucket
        and all(c.isalnum() or c == "-" for c in bucket)
    )


def resolve_endpoint(
    endpoint_url: str | None,
    region: str,
    secure: bool | None,
    bucket: str,
    given_as: str = "--endpoint-url",
) -> Endpoint:
    """Turn ``--endpoint-url``, ``--region`` and ``--secure/--insecure`` into an Endpoint.

    A scheme in the URL decides http or https; a URL without one needs ``--secure`` or
    ``--insecure`` to say which. Asking for both a scheme and its opposite is an error.
    ``given_as`` names where the URL came from (an option or a variable) in error messages.
    """
    if endpoint_url is None:
        scheme = "http" if secure is False else "https"
        return Endpoint(
            scheme=scheme,
            host=f"s3.{region}.amazonaws.com",
            port=None,
            region=region,
            path_style=not _is_dns_compatible(bucket),
        )
    text = endpoint_url if "://" in endpoint_url else f"//{endpoint_url}"
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("", "http", "https"):
        raise UsageError(f"{given_as} {endpoint_url!r}: scheme must be http or https")
    if not parsed.hostname:
        raise UsageError(f"{given_as} {endpoint_url!r}: no host name")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise UsageError(f"{given_as} {endpoint_url!r}: must not have a path or query")
    if parsed.username or parsed.password:
        raise UsageError(f"{given_as} must not carry credentials")
    if not parsed.scheme and secure is None:
        raise UsageError(
            f"{given_as} {endpoint_url!r} has no scheme: write http://{endpoint_url} (or "
            "https://), or add --insecure for http (--secure for https)"
        )
    scheme = parsed.scheme or ("http" if secure is False else "https")
    if secure is not None and secure != (scheme == "https"):
        flag = "--secure" if secure else "--insecure"
        raise UsageError(f"{flag} conflicts with the {scheme}:// scheme of {given_as}")
    try:
        port = parsed.port
    except ValueError as e:
        raise UsageError(f"{given_as} {endpoint_url!r}: bad port") from e
    host = parsed.hostname
    if ":" in host:  # an IPv6 literal goes back into brackets
        host = f"[{host}]"
    return Endpoint(scheme=scheme, host=host, port=port, region=region, path_style=True)


@dataclass(frozen=True)
class UploadConfig:
    """Everything the pipeline needs to know about one run."""

    bucket: str
    endpoint: Endpoint
    prefix: str = ""
    put: PutMode = PutMode.UPDATE
    content_type: str | None = None  # None: guessed from the file name
    gzip: bool = False
    gzip_types: tuple[str, ...] = ()
    concurrency: int = DEFAULT_CONCURRENCY
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE
    headers: tuple[tuple[str, str], ...] = ()  # metadata sent with every PUT
    file_filter: FileFilter = field(default_factory=FileFilter)
    follow_symlinks: bool = False
    walk: str = "filesystem"  # or "tar" (SOURCE is an archive), "s3" (s3://bucket/prefix)
    report_path: str | None = None  # JSON-lines file, or directory/prefix of shards
    report_shards: bool = False  # report_path is a directory of shards (distributed runners)
    files_from: str | None = None  # a list of paths relative to the one SOURCE
    transport: str = "crt"  # or "boto3"
    profile: str | None = None  # the AWS profile whose credentials to use (a name, no secret)
    ca_bundle: str | None = None  # PEM file of certificates to trust instead of the system's
    timeout: float = DEFAULT_TIMEOUT_S  # per request, plus time for its body
    retries: int = DEFAULT_RETRIES  # per request (awscrt) and per file (damaged bodies)
    retry_mode: str = "standard"  # or "adaptive": client-side rate limiting on throttling
    dry_run: bool = False
    limit: int | None = None
    json_lines: bool = False  # -v with --json: one JSON line per file on stdout
    run_id: str = ""  # names this run's progress bar in the CLI's process
    sources: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_bucket(
        cls,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        secure: bool | None = None,
        **fields: Any,
    ) -> UploadConfig:
        """A config for ``bucket`` at ``endpoint_url`` (AWS when None); other fields as named.

        For use as a library: ``UploadSources(UploadConfig.for_bucket("b", prefix="p/"))``.
        """
        endpoint = resolve_endpoint(endpoint_url, region, secure, bucket)
        return cls(bucket=bucket, endpoint=endpoint, **fields)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--processes/--concurrency must be at least 1")
        if not self.timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if not 0 <= self.retries <= 100:
            raise UsageError("--retries must be between 0 and 100")
        if self.limit is not None and self.limit < 0:
            raise UsageError("--limit must not be negative")
        if self.multipart_chunksize < MIN_MULTIPART_CHUNKSIZE:
            raise UsageError("--multipart-chunksize must be at least 5 MiB")
        if (self.put is PutMode.COPY) != (self.walk == "s3"):
            raise UsageError("--put copy and --walk s3 go together (server-side copy)")
        if self.put is PutMode.COPY and (self.gzip or self.content_type):
            raise UsageError(
                "--put copy keeps each object's bytes and type: no --gzip or --content-type"
            )
        if self.put is PutMode.COPY and self.headers:
            raise UsageError(
                "--put copy keeps each object's metadata: no --header, --grant, "
                "--storage-class or --sse"
            )
        if len(self.bucket) < 3 or "/" in self.bucket:
            raise UsageError(f"--bucket {self.bucket!r} is not a valid bucket name")
