"""Units: the put decision."""

from __future__ import annotations

import pytest

from pipeline.options import CompareMode, PutMode
from pipeline.put_rules import Decision, decide_put
from pipeline.records import RemoteObject
from pipeline.verify import Verdict

REMOTE = RemoteObject(key="k", size=3, etag="900150983cd24fb0d6963f7d28e17f72")  # md5("abc")


def _never(remote: RemoteObject) -> Verdict:
    raise AssertionError("the file must not be compared here")


SAME = Verdict(True, "unchanged (50 MiB parts)")
OTHER = Verdict(False, "changed")
OPEN = Verdict(None, "cannot verify", etag_is_md5=False)


@pytest.mark.parametrize(
    ("mode", "remote", "size", "etag", "expected"),
    [
        (PutMode.ADD, None, 3, _never, (True, "new")),
        (PutMode.ADD, REMOTE, 3, _never, (False, "exists")),
        (PutMode.UPDATE, None, 3, _never, (True, "new")),
        (PutMode.UPDATE, REMOTE, 4, _never, (True, "size differs")),
        (PutMode.UPDATE, REMOTE, 3, lambda _: SAME, (False, "unchanged (50 MiB parts)")),
        (PutMode.UPDATE, REMOTE, 3, lambda _: OTHER, (True, "changed")),
        (PutMode.UPDATE, REMOTE, None, lambda _: SAME, (False, "unchanged (50 MiB parts)")),
    ],
)
def test_decide_put(mode, remote, size, etag, expected) -> None:  # type: ignore[no-untyped-def]
    decided = decide_put(mode, remote, size, etag)
    assert (decided.upload, decided.reason) == expected


def test_what_the_etag_leaves_open_is_handed_on() -> None:
    assert decide_put(PutMode.UPDATE, REMOTE, 3, lambda _: OPEN) == Decision(
        True, "cannot verify", OPEN
    )
    assert decide_put(PutMode.UPDATE, REMOTE, 3, lambda _: OTHER).unsettled == OTHER
    settled = Verdict(False, "changed", ask=False)  # a source object's ETag, compared
    assert decide_put(PutMode.UPDATE, REMOTE, 3, lambda _: settled).unsettled is None


OLD = RemoteObject(key="k", size=3, etag=REMOTE.etag, mtime=1_000.0)


@pytest.mark.parametrize(
    ("remote", "size", "mtime", "expected"),
    [
        (None, 3, 0.0, (True, "new")),
        (OLD, 4, 500.0, (True, "size differs")),
        (OLD, 3, 999.0, (False, "same size")),
        (OLD, 3, 2_000.0, (False, "same size")),  # newer, but size alone decides
    ],
)
def test_compare_size(
    remote: RemoteObject | None, size: int, mtime: float, expected: tuple[bool, str]
) -> None:
    decided = decide_put(PutMode.UPDATE, remote, size, _never, CompareMode.SIZE, mtime)
    assert decided == Decision(*expected)


@pytest.mark.parametrize(
    ("remote", "size", "mtime", "expected"),
    [
        (None, 3, 0.0, (True, "new")),
        (OLD, 4, 500.0, (True, "size differs")),
        (OLD, 3, 999.0, (False, "same size, not newer")),
        (OLD, 3, 1_000.0, (False, "same size, not newer")),  # as old as the object
        (OLD, 3, 1_000.5, (True, "newer than the object")),
        (OLD, None, 1_000.5, (True, "newer than the object")),  # gzipped: size unknown
        (OLD, None, 999.0, (False, "same size, not newer")),
    ],
)
def test_compare_size_mtime(
    remote: RemoteObject | None, size: int | None, mtime: float, expected: tuple[bool, str]
) -> None:
    decided = decide_put(PutMode.UPDATE, remote, size, _never, CompareMode.SIZE_MTIME, mtime)
    assert decided == Decision(*expected)


def test_add_never_compares() -> None:
    for compare in CompareMode:
        decided = decide_put(PutMode.ADD, OLD, 99, _never, compare, 5_000.0)
        assert decided == Decision(False, "exists")
