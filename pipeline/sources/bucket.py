"""A source bucket (--walk s3): its objects, for server-side copies (--put copy)."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.errors import UsageError
from pipeline.filters import FileFilter
from pipeline.naming import join_prefix
from pipeline.records import Action, FileResult, LeftOut, LocalFile, Root
from pipeline.s3uri import S3Uri, is_s3
from pipeline.shards import Shard, Subtree, batch_carried
from pipeline.sources.base import Source, SplitContext
from pipeline.transport.control import Control, S3Error


def split_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix/'); a prefix names a folder."""
    if not is_s3(uri):
        raise UsageError(f"SOURCE {uri!r}: --walk s3 takes s3://bucket[/prefix]")
    location = S3Uri.parse(uri)
    if len(location.bucket) < 3:
        raise UsageError(f"SOURCE {uri!r}: no bucket name")
    return location.bucket, location.folder


def resolve_buckets(sources: tuple[str, ...]) -> tuple[Root, ...]:
    for uri in sources:
        split_s3_uri(uri)
    return tuple(Root(path=uri, base="") for uri in sources)


def walk_bucket(
    control: Control, uri: str, prefix: str, selected: FileFilter
) -> Iterator[LocalFile | FileResult | LeftOut]:
    """Every object under ``uri`` as a LocalFile whose path is its s3:// URI (LeftOut when
    the filters leave it out)."""
    bucket, source_prefix = split_s3_uri(uri)
    try:
        for obj in control.list_objects(bucket, source_prefix):
            relative = obj.key[len(source_prefix) :]
            if not relative or relative.endswith("/"):
                continue  # the folder itself, or a folder marker
            if selected.active and not selected.selects(relative, obj.mtime):
                yield LeftOut(join_prefix(prefix, relative))
                continue
            yield LocalFile(
                path=f"s3://{bucket}/{obj.key}",
                key=join_prefix(prefix, relative),
                size=obj.size,
                mtime=obj.mtime,
                etag=obj.etag,
            )
    except S3Error as e:
        yield FileResult(
            path=uri,
            key=prefix,
            action=Action.FAILED,
            error=f"cannot list the source: {e}",
            walk_incomplete=True,
        )


class BucketSource(Source):
    """A source bucket is listed on one worker and cut into shards per key directory."""

    def resolve(self, texts: tuple[str, ...]) -> tuple[Root, ...]:
        return resolve_buckets(texts)

    def split(self, roots: tuple[Root, ...], context: SplitContext) -> Iterator[Subtree | Shard]:
        control, selected = context.control(), context.options.file_filter
        for root in roots:
            yield from batch_carried(walk_bucket(control, root.path, context.prefix, selected))
