"""Walking tar archives (plain, .gz, .bz2, .xz; local or s3://) member by member.

The archive is read as one stream, never unpacked to disk: each regular member's bytes
are read into memory and travel with its LocalFile. Member names are made relative
('/' and './' stripped); a name with a '..' component is refused, so no key escapes the
prefix.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from pipeline.errors import UsageError
from pipeline.filters import FileFilter
from pipeline.naming import clean_relative, join_prefix
from pipeline.records import Action, FileResult, LeftOut, LocalFile, Root
from pipeline.s3uri import S3Uri, is_s3
from pipeline.shards import Shard, Subtree, batch_carried
from pipeline.sources.base import Source, SplitContext
from pipeline.transport.control import S3Error

if TYPE_CHECKING:
    from pipeline.transport.control import Control

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a member is held in memory while it is uploaded


def member_key_name(name: str) -> str | None:
    """The member's path relative to the archive root, or None when it would escape."""
    return clean_relative(name.replace("\\", "/")) or None


@contextmanager
def open_archive(uri: str, control: Control | None = None) -> Iterator[IO[bytes]]:
    """The raw bytes of the archive at a local path or s3:// URI."""
    if is_s3(uri):
        assert control is not None
        with control.read(uri) as f:
            yield f
    else:
        with open(uri, "rb") as f:
            yield f


def _result(label: str, key: str, action: Action, **fields: Any) -> FileResult:
    return FileResult(path=label, key=key, action=action, **fields)


def walk_tar(
    uri: str, prefix: str, selected: FileFilter, control: Control | None = None
) -> Iterator[LocalFile | FileResult | LeftOut]:
    """Every regular member of the archive at ``uri`` as a LocalFile holding its bytes
    (LeftOut when the filters leave it out)."""
    try:
        with open_archive(uri, control) as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                label = f"{uri}!{member.name}"
                name = member_key_name(member.name)
                if name is None:
                    yield _result(
                        label, member.name, Action.FAILED,
                        error="unsafe member name (a '..' component): not uploaded",
                    )  # fmt: skip
                    continue
                key = join_prefix(prefix, name)
                if not member.isfile():
                    yield _result(label, key, Action.SKIPPED, reason="not a regular file")
                    continue
                if selected.active and not selected.selects(name, float(member.mtime)):
                    yield LeftOut(key)
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    yield _result(
                        label, key, Action.FAILED, size=member.size,
                        error=f"member is larger than {MAX_MEMBER_BYTES >> 20} MiB, the most "
                        "streamed from an archive; extract it and upload the file",
                    )  # fmt: skip
                    continue
                stream = tar.extractfile(member)
                data = stream.read() if stream is not None else b""
                yield LocalFile(
                    path=label, key=key, size=len(data), mtime=float(member.mtime), data=data
                )
    except (tarfile.TarError, OSError, EOFError, S3Error) as e:
        error = f"cannot read the archive: {e}"
        yield _result(uri, prefix, Action.FAILED, error=error, walk_incomplete=True)


def resolve_archives(sources: tuple[str, ...]) -> tuple[Root, ...]:
    """Each SOURCE is an archive, a local file or an s3:// URI."""
    for source in sources:
        if is_s3(source):
            if not S3Uri.parse(source).key.strip("/"):
                raise UsageError(f"SOURCE {source!r}: expected s3://bucket/key of an archive")
        elif not os.path.isfile(source):
            raise UsageError(f"SOURCE {source!r} is not an archive file")
    return tuple(Root(path=source, base="") for source in sources)


class TarSource(Source):
    """An archive is read as one stream, on one worker, and cut into shards per key
    directory, which are then spread."""

    def resolve(self, texts: tuple[str, ...]) -> tuple[Root, ...]:
        return resolve_archives(texts)

    def split(self, roots: tuple[Root, ...], context: SplitContext) -> Iterator[Subtree | Shard]:
        selected = context.options.file_filter
        for root in roots:
            control = context.control() if is_s3(root.path) else None
            yield from batch_carried(walk_tar(root.path, context.prefix, selected, control))
