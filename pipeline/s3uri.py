"""``s3://bucket/key`` URIs: the one parser for every place that takes one (SOURCEs of
``--walk s3`` and ``--walk tar``, reports, resume files, copy sources)."""

from __future__ import annotations

from typing import NamedTuple

SCHEME = "s3://"


def is_s3(text: str) -> bool:
    return text.startswith(SCHEME)


class S3Uri(NamedTuple):
    """Unpacks as (bucket, key)."""

    bucket: str
    key: str = ""  # an object's key, or a prefix ('' for the whole bucket)

    @classmethod
    def parse(cls, text: str) -> S3Uri:
        """'s3://bucket/some/key' -> S3Uri('bucket', 'some/key'); ``text`` is_s3."""
        if not is_s3(text):
            raise ValueError(f"not an {SCHEME} URI: {text!r}")
        bucket, _, key = text.removeprefix(SCHEME).partition("/")
        return cls(bucket, key)

    @property
    def folder(self) -> str:
        """The key as a prefix that names a folder: '' or ending in '/'."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"

    @property
    def path(self) -> str:
        """'bucket/key', as x-amz-copy-source names an object."""
        return f"{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.path}"
