"""Units: --tag parsing, S3's limits on tags, and the x-amz-tagging encoding."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from pipeline import arguments
from pipeline.errors import UsageError
from pipeline.options import BodyOptions, PutMode, UploadConfig, WalkKind
from pipeline.tags import check_tags, parse_tag, tagging_header


def _body(*tags: str) -> BodyOptions:
    args, _ = arguments.parse(["--bucket", "bkt", *[f"--tag={tag}" for tag in tags], "src"])
    return BodyOptions.from_args(args)


def test_tags_are_parsed_in_order_and_encoded_as_a_query_string() -> None:
    body = _body("team=blue sky", "caf\u00e9=th\u00e9 = 1", "empty=", "a+b=c/d:e@f_g.h-i")

    assert body.tags == (
        ("team", "blue sky"),
        ("caf\u00e9", "th\u00e9 = 1"),
        ("empty", ""),
        ("a+b", "c/d:e@f_g.h-i"),
    )
    assert body.tagging == (
        "team=blue%20sky&caf%C3%A9=th%C3%A9%20%3D%201&empty=&a%2Bb=c%2Fd%3Ae%40f_g.h-i"
    )
    assert urllib.parse.parse_qsl(body.tagging, keep_blank_values=True) == list(body.tags)


def test_no_tags_is_no_header() -> None:
    assert _body().tags == ()
    assert _body().tagging == ""
    assert tagging_header(()) == ""


@pytest.mark.parametrize(
    ("at_limit", "past_limit"),
    [
        (
            tuple((f"k{i}", "v") for i in range(10)),
            tuple((f"k{i}", "v") for i in range(11)),
        ),
        ((("k" * 128, "v" * 256),), (("k" * 129, "v"),)),
        ((("k" * 128, "v" * 256),), (("k", "v" * 257),)),
        ((("\u00e9" * 128, "\u00e9" * 256),), (("\u00e9" * 129, "v"),)),  # characters, not bytes
        # letters, digits and spaces of any script are allowed; other symbols are not
        ((("\u65e5\u672c", "\u0661\u0662 \u00a0x"),), (("\u65e5\u672c", "x\u00a7"),)),
    ],
    ids=["ten-tags", "key-and-value-lengths", "value-length", "non-ascii-lengths", "scripts"],
)
def test_the_limits_are_inclusive(
    at_limit: tuple[tuple[str, str], ...], past_limit: tuple[tuple[str, str], ...]
) -> None:
    check_tags(at_limit)  # accepted: raises nothing
    header = tagging_header(at_limit)
    assert urllib.parse.parse_qsl(header, keep_blank_values=True) == list(at_limit)
    with pytest.raises(UsageError):
        check_tags(past_limit)


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        (["novalue"], "expected KEY=VALUE"),
        (["=v"], "a key must be 1 to 128 characters, not 0"),
        (["k" * 129 + "=v"], "a key must be 1 to 128 characters, not 129"),
        (["k=" + "v" * 257], "a value must be at most 256 characters, not 257"),
        (["k=1", "k=2"], "the key is given more than once"),
        ([f"k{i}=v" for i in range(11)], "is given 11 times: an object has at most 10"),
        (["k=a & b"], "'&' is not allowed"),
        (["a,b=c"], "',' is not allowed"),
        (["k=line\nbreak"], "'\\n' is not allowed"),
    ],
)
def test_bad_tags_are_usage_errors(tags: list[str], words: str) -> None:
    with pytest.raises(UsageError, match=re.escape(words)):
        _body(*tags)


def test_parse_tag_splits_at_the_first_equals_sign() -> None:
    assert parse_tag("k=v=w") == ("k", "v=w")


def test_tags_are_checked_for_library_callers_too() -> None:
    with pytest.raises(UsageError, match="more than once"):
        UploadConfig.for_bucket("bkt", "http://h:1", tags=(("k", "1"), ("k", "2")))


def test_a_copy_takes_tags_but_no_other_metadata() -> None:
    copy = {"walk": WalkKind.S3, "put": PutMode.COPY}
    config = UploadConfig.for_bucket("bkt", "http://h:1", tags=(("k", "v"),), **copy)
    assert config.body.tagging == "k=v"
    with pytest.raises(UsageError, match=r"no --header.*\(--tag is allowed\)"):
        UploadConfig.for_bucket("bkt", "http://h:1", headers=(("Expires", "0"),), **copy)
