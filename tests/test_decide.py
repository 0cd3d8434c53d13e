"""Units: the put decision."""

from __future__ import annotations

import pytest

from pipeline.decide import decide_put
from pipeline.options import PutMode
from pipeline.records import RemoteObject

REMOTE = RemoteObject(key="k", size=3, etag="900150983cd24fb0d6963f7d28e17f72")  # md5("abc")


def _never() -> str:
    raise AssertionError("the local ETag must not be computed here")


@pytest.mark.parametrize(
    ("mode", "remote", "size", "etag", "expected"),
    [
        (PutMode.ADD, None, 3, _never, (True, "new")),
        (PutMode.ADD, REMOTE, 3, _never, (False, "exists")),
        (PutMode.UPDATE, None, 3, _never, (True, "new")),
        (PutMode.UPDATE, REMOTE, 4, _never, (True, "size differs")),
        (PutMode.UPDATE, REMOTE, 3, lambda: REMOTE.etag, (False, "unchanged")),
        (PutMode.UPDATE, REMOTE, 3, lambda: "0" * 32, (True, "changed")),
        (PutMode.UPDATE, REMOTE, None, lambda: REMOTE.etag, (False, "unchanged")),
    ],
)
def test_decide_put(mode, remote, size, etag, expected) -> None:  # type: ignore[no-untyped-def]
    assert decide_put(mode, remote, size, etag) == expected
