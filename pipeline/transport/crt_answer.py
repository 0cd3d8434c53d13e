"""What awscrt hands back for one request (``Answer``), read as S3's outcome: status,
headers, body, the S3 error code, awscrt's own error, and the ``ErrorKind`` of a failure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pipeline.transport.errors import ErrorKind, classify


def _s3_error_code(body: bytes | None) -> tuple[str, str]:
    """(Code, Message) of an S3 error response body; ('', '') when it is no error."""
    if not body:
        return "", ""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", ""
    if root.tag.rsplit("}", 1)[-1] != "Error":
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""


@dataclass
class Answer:
    """What came back for one request: status, headers, body, and awscrt's error."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    error: str | None = None  # awscrt's error name and message, or None on success
    error_name: str = ""  # awscrt's error name, e.g. AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE
    error_body: bytes | None = None
    timed_out: bool = False
    cancelled: bool = False  # cancelled by cancel_all

    def s3_error(self) -> tuple[str, str]:
        """(Code, Message) of the S3 error in the answer, if any."""
        return _s3_error_code(self.error_body if self.error is not None else bytes(self.body))

    def kind(self) -> ErrorKind:
        if self.cancelled:
            return ErrorKind.CANCELLED
        if self.timed_out:
            return ErrorKind.TIMED_OUT
        if not self.status and self.error_name.startswith("AWS_IO_TLS"):
            return ErrorKind.TLS
        region = self.headers.get("x-amz-bucket-region", "")
        return classify(self.status, self.s3_error()[0], region)

    def error_text(self) -> str:
        """'HTTP 403 AccessDenied: Access Denied', or awscrt's error when S3 said nothing."""
        code, message = self.s3_error()
        if self.status:
            detail = ": ".join(part for part in (code, message) if part) or self.error or ""
            return f"HTTP {self.status} {detail}".strip()
        return self.error or f"{code}: {message}"


def copy_result_etag(body: bytes) -> str:
    """The ETag in a CopyObjectResult; '' when there is none."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    for child in root:
        if child.tag.rsplit("}", 1)[-1] == "ETag":
            return (child.text or "").strip('"')
    return ""


def crt_error_text(error: BaseException) -> str:
    """'NAME: message' of an awscrt error."""
    name = getattr(error, "name", type(error).__name__)
    message = getattr(error, "message", str(error))
    return f"{name}: {message}"
