"""Walking tar archives (plain, .gz, .bz2, .xz; local or s3://) member by member.

The archive is read as one stream, never unpacked to disk: each regular member's bytes
are read into memory and travel with its LocalFile. Member names are made relative
('/' and './' stripped); a name with a '..' component is refused, so no key escapes the
prefix.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from pipeline.filters import FileFilter
from pipeline.naming import join_prefix
from pipeline.records import Action, FileResult, LocalFile

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a member is held in memory while it is uploaded


def member_key_name(name: str) -> str | None:
    """The member's path relative to the archive root, or None when it would escape."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


@contextmanager
def open_archive(uri: str, s3_client: Any = None) -> Iterator[IO[bytes]]:
    """The raw bytes of the archive at a local path or s3:// URI."""
    if uri.startswith("s3://"):
        import smart_open

        with smart_open.open(
            uri, "rb", compression="disable", transport_params={"client": s3_client}
        ) as f:
            yield f
    else:
        with open(uri, "rb") as f:
            yield f


def _result(label: str, key: str, action: Action, **fields: Any) -> FileResult:
    return FileResult(path=label, key=key, action=action, **fields)


def walk_tar(
    uri: str, prefix: str, selected: FileFilter, s3_client: Any = None
) -> Iterator[LocalFile | FileResult]:
    """Every regular member of the archive at ``uri`` as a LocalFile holding its bytes."""
    try:
        with open_archive(uri, s3_client) as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
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
    except (tarfile.TarError, OSError, EOFError) as e:
        yield _result(uri, prefix, Action.FAILED, error=f"cannot read the archive: {e}")
