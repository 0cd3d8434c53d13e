"""Object tags from the command line (``--tag KEY=VALUE``), validated and encoded.

S3 takes an object's tags in one ``x-amz-tagging`` header, as a URL query string
(``key1=value1&key2=value2``, each part percent-encoded as UTF-8), on PutObject,
CreateMultipartUpload and CopyObject. The limits are S3's: at most 10 tags per object,
a key of 1 to 128 characters, a value of 0 to 256, each key once, and only letters,
digits and spaces (of any script) and ``+ - = . _ : / @`` (S3 answers InvalidTag to
others, and SeaweedFS does so on CopyObject): checked before the run, not per object.
"""

from __future__ import annotations

import unicodedata
import urllib.parse

from pipeline.errors import UsageError

MAX_TAGS = 10
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256

_SYMBOLS = frozenset("+-=._:/@")

Tags = tuple[tuple[str, str], ...]


def _refused_character(text: str) -> str | None:
    """The first character of ``text`` that S3 refuses in a tag, or None."""
    for char in text:
        if char not in _SYMBOLS and unicodedata.category(char)[0] not in "LNZ":
            return char
    return None


def parse_tag(text: str) -> tuple[str, str]:
    """'project=blue sky' -> ('project', 'blue sky'), or UsageError.

    The first '=' ends the key (a value may hold more of them); spaces and any Unicode
    are kept as they are.
    """
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"--tag {text!r}: expected KEY=VALUE")
    return key, value


def check_tags(tags: Tags) -> None:
    """UsageError unless S3 would take ``tags`` as one object's tags."""
    if len(tags) > MAX_TAGS:
        raise UsageError(f"--tag is given {len(tags)} times: an object has at most {MAX_TAGS}")
    seen: set[str] = set()
    for key, value in tags:
        refused = _refused_character(key) or _refused_character(value)
        if refused is not None:
            raise UsageError(
                f"--tag {key + '=' + value!r}: {refused!r} is not allowed; a tag holds "
                "letters, digits, spaces and + - = . _ : / @"
            )
        if not 1 <= len(key) <= MAX_KEY_CHARS:
            raise UsageError(
                f"--tag {key!r}: a key must be 1 to {MAX_KEY_CHARS} characters, not {len(key)}"
            )
        if len(value) > MAX_VALUE_CHARS:
            raise UsageError(
                f"--tag {key}: a value must be at most {MAX_VALUE_CHARS} characters, "
                f"not {len(value)}"
            )
        if key in seen:
            raise UsageError(f"--tag {key}: the key is given more than once")
        seen.add(key)


def tagging_header(tags: Tags) -> str:
    """The ``x-amz-tagging`` value of ``tags`` ('' for none); a space is %20, not '+'."""
    return urllib.parse.urlencode(tags, quote_via=urllib.parse.quote, safe="")
