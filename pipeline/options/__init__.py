"""The settings of one run: small frozen option groups, one per concern.

Each group owns its command-line options (``add_arguments``), their defaults and their
validation, and is built from the parsed command line (``from_args``). Each Beam
transform is handed only the groups it uses, so a worker unpickles no more than it needs.
``UploadConfig`` bundles the groups of one run and checks what concerns several of them.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import UsageError
from pipeline.options.body import BodyOptions
from pipeline.options.decision import CompareMode, DecisionOptions, PutMode
from pipeline.options.report import RecordOptions
from pipeline.options.sources import SourceOptions, WalkKind
from pipeline.options.target import Endpoint, TargetOptions, resolve_endpoint
from pipeline.options.transport import RetryMode, TransportKind, TransportOptions

__all__ = [
    "BodyOptions",
    "CompareMode",
    "DecisionOptions",
    "Endpoint",
    "PutMode",
    "RecordOptions",
    "RetryMode",
    "SourceOptions",
    "TargetOptions",
    "TransportKind",
    "TransportOptions",
    "UploadConfig",
    "WalkKind",
    "add_arguments",
    "resolve_endpoint",
]

_GROUPS = (TargetOptions, SourceOptions, DecisionOptions, BodyOptions, TransportOptions)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every group, each in its argparse group (the output options that
    only the command line has are its own)."""
    for group in (*_GROUPS, RecordOptions):
        group.add_arguments(parser.add_argument_group(group.title))


@dataclass(frozen=True)
class UploadConfig:
    """The option groups of one run."""

    target: TargetOptions
    source: SourceOptions = field(default_factory=SourceOptions)
    decision: DecisionOptions = field(default_factory=DecisionOptions)
    body: BodyOptions = field(default_factory=BodyOptions)
    transport: TransportOptions = field(default_factory=TransportOptions)
    records: RecordOptions = field(default_factory=RecordOptions)

    def __post_init__(self) -> None:
        put, walk, body = self.decision.put, self.source.walk, self.body
        if (put is PutMode.COPY) != (walk is WalkKind.S3):
            raise UsageError("--put copy and --walk s3 go together (server-side copy)")
        if put is PutMode.COPY and (body.gzip or body.content_type):
            raise UsageError(
                "--put copy keeps each object's bytes and type: no --gzip or --content-type"
            )
        if self.decision.compare is CompareMode.SIZE and body.gzip:
            raise UsageError(
                "--compare size cannot see a gzipped file's stored size without gzipping "
                "it: use --compare size-mtime or checksum with --gzip"
            )
        if self.decision.delete and self.source.limit is not None:
            raise UsageError("--delete needs the whole tree walked: not with --limit")
        if self.decision.delete and self.source.files_from is not None:
            raise UsageError(
                "--delete needs the whole tree walked: not with --files-from, which names "
                "only some files"
            )
        # A copy keeps the source's metadata; its tags are replaced only when --tag is given.
        if put is PutMode.COPY and body.headers:
            raise UsageError(
                "--put copy keeps each object's metadata: no --header, --grant, "
                "--storage-class or --sse (--tag is allowed)"
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> UploadConfig:
        return cls(
            target=TargetOptions.from_args(args, warn=not args.quiet),
            source=SourceOptions.from_args(args),
            decision=DecisionOptions.from_args(args),
            body=BodyOptions.from_args(args),
            transport=TransportOptions.from_args(args),
        )

    @classmethod
    def for_bucket(
        cls,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        secure: bool | None = None,
        **fields: Any,
    ) -> UploadConfig:
        """A config for ``bucket``, whose target is found as the command line finds it
        (``TargetOptions.resolve``): ``endpoint_url``, else AWS_ENDPOINT_URL_S3, else
        AWS_ENDPOINT_URL, else AWS S3; the region, profile and CA bundle likewise. Other
        settings by the name of their field in any group, e.g.
        ``UploadConfig.for_bucket("b", prefix="site/", put=PutMode.ADD, concurrency=32)``.
        """
        groups: dict[str, dict[str, Any]] = {}
        owners = {
            "target": TargetOptions, "source": SourceOptions, "decision": DecisionOptions,
            "body": BodyOptions, "transport": TransportOptions, "records": RecordOptions,
        }  # fmt: skip
        for name, value in fields.items():
            owner = next(
                (g for g, c in owners.items() if name in {f.name for f in dataclasses.fields(c)}),
                None,
            )
            if owner is None:
                raise TypeError(f"no option group has a field {name!r}")
            groups.setdefault(owner, {})[name] = value
        target = TargetOptions.resolve(
            bucket, endpoint_url=endpoint_url, region=region, secure=secure,
            **groups.pop("target", {}),
        )  # fmt: skip
        made = {name: owners[name](**values) for name, values in groups.items()}
        return cls(target=target, **made)
