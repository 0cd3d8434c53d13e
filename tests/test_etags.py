"""Units: which part sizes can have made a multipart ETag."""

from __future__ import annotations

import pytest

from pipeline.etags import MAX_PART_SIZES, MiB, StoredEtag, describe, gives_parts, part_sizes

HEX = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("etag", "expected"),
    [
        (HEX, StoredEtag(HEX)),
        (f'"{HEX.upper()}"', StoredEtag(HEX)),
        (f"{HEX}-2", StoredEtag(HEX, 2)),
        (f"{HEX}-10000", StoredEtag(HEX, 10000)),
        (f"{HEX}-10001", None),  # more parts than S3 allows
        (f"{HEX}-0", None),
        (HEX[:-1], None),  # too short for an MD5
        ("not-an-md5", None),  # a server's own kind of ETag
        ("", None),
    ],
)
def test_the_forms_of_an_etag(etag: str, expected: StoredEtag | None) -> None:
    assert StoredEtag.parse(etag) == expected


@pytest.mark.parametrize(
    ("size", "parts", "tool_part_size"),
    [
        (60 * MiB, 2, 50 * MiB),  # s5cmd
        (60 * MiB, 8, 8 * MiB),  # aws, boto3, this tool
        (60 * MiB, 12, 5 * MiB),  # rclone, the AWS SDKs for Go, Java, JavaScript
        (60 * MiB, 4, 16 * MiB),  # minio's mc
        (60 * MiB, 4, 15 * MiB),  # s3cmd
        (200 * 1024 * MiB, 6400, 32 * MiB),  # aws: 8 MiB doubled to fit 10,000 parts
        (600 * 1024 * MiB, 10000, 600 * 1024 * MiB // 10000 + 1),  # s5cmd on a huge file
    ],
)
def test_the_part_sizes_of_tools_are_tried_first(
    size: int, parts: int, tool_part_size: int
) -> None:
    sizes = part_sizes(size, parts, own=8 * MiB)
    assert tool_part_size in sizes.likely
    assert all(gives_parts(size, p, parts) for p in sizes.all)
    assert len(sizes.all) == len(set(sizes.all)) <= MAX_PART_SIZES


def test_the_tools_own_part_size_comes_first() -> None:
    assert part_sizes(60 * MiB, 6, own=10 * MiB).likely[0] == 10 * MiB
    # The part size this tool grows to for a huge file, not a whole MiB.
    huge = 100 * 1024 * MiB + 12345
    own = -(-huge // 10000)
    assert part_sizes(huge, 10000, own=own).likely[0] == own


def test_whole_mib_sizes_follow_smallest_first_up_to_the_bound() -> None:
    # 60 MiB in 2 parts: 30 MiB to 59 MiB all give two parts: too many to try.
    sizes = part_sizes(60 * MiB, 2, own=8 * MiB)
    assert sizes.likely == (50 * MiB, 32 * MiB)
    assert sizes.others == tuple(p * MiB for p in range(30, 46) if p != 32)[:14]
    assert len(sizes.all) == MAX_PART_SIZES
    assert not sizes.complete


def test_a_search_that_tries_every_whole_mib_size_is_complete() -> None:
    # 20 MiB in 4 parts: 5 MiB (rclone) or 6 MiB, nothing else in whole MiB.
    sizes = part_sizes(20 * MiB, 4, own=8 * MiB)
    assert sizes.likely == (5 * MiB,)
    assert sizes.others == (6 * MiB,)
    assert sizes.complete


def test_one_part_is_the_whole_object() -> None:
    assert part_sizes(3 * MiB, 1, own=8 * MiB).all == (3 * MiB,)


def test_no_equal_parts_make_that_many() -> None:
    # No part size cuts 10 bytes into 9 parts (1 byte makes 10, 2 bytes 5): the object
    # was uploaded in parts of several sizes.
    assert part_sizes(10, 9, own=8 * MiB).all == ()


def test_describe() -> None:
    assert describe(50 * MiB) == "50 MiB parts"
    assert describe(5 * MiB + 1) == "5242881-byte parts"
