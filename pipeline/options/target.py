"""Where a run uploads to: the bucket, the key prefix, the endpoint and how to trust it.

Nothing here is a secret: credentials are resolved on each worker from the standard AWS
chain (``--profile`` only names a profile).
"""

from __future__ import annotations

import argparse
import logging
import os
import urllib.parse
from dataclasses import dataclass
from typing import Any

from pipeline.errors import UsageError
from pipeline.options.values import OptionGroup

_LOGGER = logging.getLogger(__name__)


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
class TargetOptions(OptionGroup):
    """The bucket and key prefix files go to, and how to reach and trust the endpoint."""

    title = "target"

    bucket: str
    endpoint: Endpoint
    prefix: str = ""
    profile: str | None = None  # the AWS profile whose credentials to use (a name, no secret)
    ca_bundle: str | None = None  # PEM file of certificates to trust instead of the system's

    def __post_init__(self) -> None:
        if len(self.bucket) < 3 or "/" in self.bucket:
            raise UsageError(f"--bucket {self.bucket!r} is not a valid bucket name")
        if {".", ".."} & set(self.prefix.split("/")):
            raise UsageError(
                f"--prefix {self.prefix!r}: keys are not paths, so a '.' or '..' part would "
                "be stored as it is or refused by the server: write the prefix without it"
            )

    @staticmethod
    def add_arguments(group: Any) -> None:
        group.add_argument("--bucket", required=True, help="the bucket to upload into")
        group.add_argument(
            "--prefix", default="", help="key prefix: KEY = PREFIX/path relative to SOURCE"
        )
        group.add_argument(
            "--endpoint-url",
            metavar="URL",
            help="an S3-compatible server, e.g. http://127.0.0.1:8333 (default: "
            "AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS S3 in --region)",
        )
        group.add_argument(
            "--region", help="the bucket's region (default: from the AWS config, else us-east-1)"
        )
        group.add_argument(
            "--profile",
            metavar="NAME",
            help="use this profile of ~/.aws/config and ~/.aws/credentials (default: "
            "AWS_PROFILE, else the standard chain)",
        )
        group.add_argument(
            "--ca-bundle",
            metavar="FILE",
            help="trust the CA certificates in this PEM file (default: AWS_CA_BUNDLE, else the "
            "system's); certificate checks are always on",
        )
        secure = group.add_mutually_exclusive_group()
        secure.add_argument(
            "--secure",
            dest="secure",
            action="store_true",
            default=None,
            help="use https (the default)",
        )
        secure.add_argument(
            "--insecure",
            dest="secure",
            action="store_false",
            help="use plain http (certificates are never skipped silently)",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace, warn: bool = True) -> TargetOptions:
        """From the parsed command line and the environment (see ``resolve``)."""
        return cls.resolve(
            args.bucket,
            prefix=args.prefix,
            endpoint_url=args.endpoint_url,
            region=args.region,
            secure=args.secure,
            profile=args.profile,
            ca_bundle=args.ca_bundle,
            warn=warn,
        )

    @classmethod
    def resolve(
        cls,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        secure: bool | None = None,
        profile: str | None = None,
        ca_bundle: str | None = None,
        warn: bool = True,
    ) -> TargetOptions:
        """The target as the command line and the library both find it: what is given,
        else the environment, as boto3 and the aws cli read it. The endpoint is
        ``endpoint_url``, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS S3 in
        the region; the region ``region``, else the profile's (AWS_REGION,
        AWS_DEFAULT_REGION, ~/.aws/config), else us-east-1; the CA bundle ``ca_bundle``,
        else AWS_CA_BUNDLE; the profile ``profile``, else AWS_PROFILE (read where the
        credentials are). A leading '/' of the prefix is dropped (with a warning)."""
        from pipeline.credentials import default_region

        region = region or default_region(profile) or "us-east-1"
        ca_bundle = ca_bundle or os.environ.get("AWS_CA_BUNDLE") or None
        if ca_bundle is not None and not os.path.isfile(ca_bundle):
            raise UsageError(f"--ca-bundle {ca_bundle!r} is not a file")
        given_as = "--endpoint-url"
        if endpoint_url is None:
            for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
                if os.environ.get(variable):
                    endpoint_url, given_as = os.environ[variable], variable
                    break
        endpoint = resolve_endpoint(endpoint_url, region, secure, bucket, given_as)
        stripped = prefix.lstrip("/")
        if stripped != prefix and warn:
            _LOGGER.warning(
                "--prefix %r: leading '/' removed, S3 keys do not start with it: using %r",
                prefix,
                stripped,
            )
        return cls(
            bucket=bucket, endpoint=endpoint, prefix=stripped, profile=profile, ca_bundle=ca_bundle
        )
