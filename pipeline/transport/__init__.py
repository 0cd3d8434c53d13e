"""How requests reach S3: one interface, backends behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.transport.base import HeadOutcome, ListOutcome, PutOutcome, PutRequest, Transport

if TYPE_CHECKING:
    from pipeline.config import UploadConfig

__all__ = ["HeadOutcome", "ListOutcome", "PutOutcome", "PutRequest", "Transport", "open_transport"]


def open_transport(config: UploadConfig) -> Transport:
    """The transport for ``config``; imported lazily so that ``--help`` stays fast."""
    if config.transport == "boto3":
        from pipeline.transport.boto3_transport import Boto3Transport

        return Boto3Transport(config)
    from pipeline.transport.crt import CrtTransport

    return CrtTransport(config)
