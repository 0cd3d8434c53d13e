"""Content-Type and Content-Encoding of an upload, and deterministic gzip."""

from __future__ import annotations

import gzip
import io
import mimetypes
import shutil
from typing import BinaryIO

from pipeline.records import LocalFile

DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Compressed with --gzip unless --gzip-type says otherwise: the usual text types.
DEFAULT_GZIP_TYPES = (
    "text/*",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "image/svg+xml",
    "application/x-javascript",
    "application/ecmascript",
    "application/rss+xml",
    "application/atom+xml",
    "application/manifest+json",
    "application/wasm",
)
_CHUNK = 1024 * 1024
_SNIFF = 64 * 1024
_mimetypes = mimetypes.MimeTypes()


def guess_content_type(key: str) -> str:
    """The type for ``key`` by its extension (the ``guess`` mode)."""
    guessed, _ = _mimetypes.guess_type(key, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


MAGIC = "magic"  # --content-type magic: sniff the bytes


def sniff_content_type(file: LocalFile) -> str:
    """The type by the file's first bytes (the ``magic`` mode), else by its name."""
    import puremagic

    try:
        if file.data is not None:
            sniffed = puremagic.from_string(file.data[:_SNIFF], mime=True)
        else:
            sniffed = puremagic.from_file(file.path, mime=True)
    except (puremagic.PureError, ValueError, OSError):
        sniffed = ""
    return sniffed or guess_content_type(file.key)


def content_type_for(key: str, file: LocalFile, mode: str | None) -> str:
    """``mode``: None guesses by name, ``magic`` sniffs the bytes, anything else is fixed."""
    if mode is None:
        return guess_content_type(key)
    if mode == MAGIC:
        return sniff_content_type(file)
    return mode


def _matches(content_type: str, pattern: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    pattern = pattern.lower()
    if pattern in ("all", "*", "*/*"):
        return True
    if pattern.endswith("/*"):
        return base.startswith(pattern[:-1])
    return base == pattern


def should_gzip(content_type: str, gzip_types: tuple[str, ...]) -> bool:
    types = gzip_types or DEFAULT_GZIP_TYPES
    return any(_matches(content_type, pattern) for pattern in types)


def gzip_stream(source: BinaryIO, target: BinaryIO) -> None:
    """Compress ``source`` into ``target``, byte-for-byte the same on every run.

    The gzip header carries no file name and a zero mtime, and the level is fixed, so the
    same input always gives the same output and the same MD5/ETag.
    """
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=target, mtime=0) as gz:
        shutil.copyfileobj(source, gz, _CHUNK)


def gzip_bytes(data: bytes) -> bytes:
    out = io.BytesIO()
    gzip_stream(io.BytesIO(data), out)
    return out.getvalue()
