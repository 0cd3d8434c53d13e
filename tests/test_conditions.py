"""Units: the preconditions of conditional writes, and how the answers to them are read."""

from __future__ import annotations

import pytest

from pipeline.records import Precondition, RemoteObject
from pipeline.transport.boto3_args import condition_args
from pipeline.transport.errors import ErrorKind, classify


def test_a_precondition_expects_what_the_decision_saw() -> None:
    assert Precondition.of(None) == Precondition()
    assert Precondition.of(RemoteObject("k", 3, "abc-2")) == Precondition("abc-2")
    assert Precondition.of(RemoteObject("k", 3, "")) is None  # nothing to match against


def test_a_precondition_is_one_header() -> None:
    assert Precondition().header() == ("If-None-Match", "*")
    assert Precondition("abc-2").header() == ("If-Match", '"abc-2"')
    assert condition_args(Precondition()) == {"IfNoneMatch": "*"}
    assert condition_args(Precondition("abc")) == {"IfMatch": '"abc"'}
    assert condition_args(None) == {}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (412, "PreconditionFailed", ErrorKind.PRECONDITION),
        (412, "", ErrorKind.PRECONDITION),  # a HEAD-like answer without a body
        (409, "ConditionalRequestConflict", ErrorKind.CONFLICT),
        (409, "BucketNotEmpty", ErrorKind.REFUSED),
        (501, "NotImplemented", ErrorKind.NOT_IMPLEMENTED),
        (501, "", ErrorKind.NOT_IMPLEMENTED),
        (400, "NotImplemented", ErrorKind.NOT_IMPLEMENTED),
        (400, "HeaderNotSupported", ErrorKind.NOT_IMPLEMENTED),
        (400, "UnsupportedHeader", ErrorKind.NOT_IMPLEMENTED),
        (400, "InvalidArgument", ErrorKind.REFUSED),
        (500, "InternalError", ErrorKind.SERVER),
    ],
)
def test_answers_to_conditional_writes(status: int, code: str, kind: ErrorKind) -> None:
    assert classify(status, code) is kind


def test_a_failed_precondition_is_never_sent_again_as_if_transient() -> None:
    assert not ErrorKind.PRECONDITION.retryable
    assert not ErrorKind.NOT_IMPLEMENTED.retryable  # sent again only without its condition
    assert ErrorKind.CONFLICT.retryable  # as S3 asks: with the same condition


@pytest.mark.parametrize(
    ("status", "code", "region", "kind"),
    [
        (301, "PermanentRedirect", "eu-west-1", ErrorKind.WRONG_REGION),
        (301, "PermanentRedirect", "", ErrorKind.WRONG_REGION),
        (400, "AuthorizationHeaderMalformed", "eu-west-1", ErrorKind.WRONG_REGION),
        (400, "InvalidArgument", "", ErrorKind.REFUSED),  # no region named: another fault
        (403, "AccessDenied", "eu-west-1", ErrorKind.DENIED),
    ],
)
def test_an_answer_naming_another_region_is_one_kind_whatever_the_client(
    status: int, code: str, region: str, kind: ErrorKind
) -> None:
    assert classify(status, code, region) is kind
