"""What each object is made of besides the file's bytes: type, gzip, metadata headers,
tags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from pipeline.metadata import CANNED_ACLS, SSE_MODES, STORAGE_CLASSES, metadata_headers
from pipeline.options.values import OptionGroup
from pipeline.tags import Tags, check_tags, parse_tag, tagging_header


@dataclass(frozen=True)
class BodyOptions(OptionGroup):
    title = "content and object metadata"
    content_type: str | None = None  # None: guessed from the file name; "magic": sniffed
    gzip: bool = False
    gzip_types: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # metadata sent with every PUT
    # Object tags of every PUT and of every server-side copy (which then replaces the
    # source's tags). ``--put update`` does not compare tags, as ``aws s3 sync`` does not:
    # an object whose bytes are unchanged is skipped and keeps the tags it has.
    tags: Tags = ()

    def __post_init__(self) -> None:
        check_tags(self.tags)

    @property
    def tagging(self) -> str:
        """The ``x-amz-tagging`` header of every object ('' for no tags)."""
        return tagging_header(self.tags)

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
            "--tag",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an object tag for every object, and for every --put copy instead of the "
            "source's tags (repeatable, at most 10; a key of 1-128 characters, a value of "
            "0-256; letters, digits, spaces and + - = . _ : / @); --put update does not "
            "compare tags",
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
            tags=tuple(parse_tag(text) for text in args.tag),
        )
