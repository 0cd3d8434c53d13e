"""What each object is made of besides the file's bytes: type, gzip, metadata headers."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from pipeline.metadata import CANNED_ACLS, SSE_MODES, STORAGE_CLASSES, metadata_headers
from pipeline.options.values import OptionGroup


@dataclass(frozen=True)
class BodyOptions(OptionGroup):
    title = "content and object metadata"
    content_type: str | None = None  # None: guessed from the file name; "magic": sniffed
    gzip: bool = False
    gzip_types: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # metadata sent with every PUT

    @staticmethod
    def add_arguments(group: Any) -> None:
        group.add_argument(
            "--content-type",
            metavar="TYPE",
            default="guess",
            help="'guess' (default) by the file name, 'magic' by the first bytes, or a fixed type",
        )
        group.add_argument(
            "--gzip",
            action="store_true",
            help="gzip text types, set Content-Encoding: gzip (deterministic bytes)",
        )
        group.add_argument(
            "--gzip-type",
            action="append",
            default=[],
            metavar="TYPE",
            help="a type to gzip with --gzip (repeatable; 'all' for everything; "
            "default: html, css, js, json, xml, svg, plain text)",
        )
        group.add_argument(
            "--header",
            action="append",
            default=[],
            metavar="'NAME: VALUE'",
            help="a header for every object: Cache-Control, Content-Disposition, "
            "Content-Language, Expires or x-amz-meta-* (repeatable)",
        )
        group.add_argument(
            "--grant",
            choices=CANNED_ACLS,
            metavar="ACL",
            help=f"a canned ACL: {', '.join(CANNED_ACLS)}",
        )
        group.add_argument(
            "--storage-class",
            choices=STORAGE_CLASSES,
            metavar="CLASS",
            help=f"the storage class: {', '.join(STORAGE_CLASSES)}",
        )
        group.add_argument(
            "--sse", choices=SSE_MODES, help="server-side encryption: AES256 or aws:kms"
        )
        group.add_argument(
            "--sse-kms-key-id",
            metavar="KEY_ID",
            help="the KMS key for --sse aws:kms (default: the account's S3 key)",
        )
        group.add_argument(
            "--encrypt-key",
            dest="sse",
            action="store_const",
            const="AES256",
            help="the classic option name: the same as --sse AES256",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BodyOptions:
        return cls(
            content_type=None if args.content_type == "guess" else args.content_type,
            gzip=args.gzip,
            gzip_types=tuple(args.gzip_type),
            headers=metadata_headers(
                args.header, args.grant, args.storage_class, args.sse, args.sse_kms_key_id
            ),
        )
