"""How requests reach S3: one interface, backends behind it.

``open_transport`` gives a worker its data plane (many HEAD, LIST and PUT requests in
flight); ``open_control`` the synchronous control plane of the same endpoint. Both come
from one Transport class: ``TransportOptions.kind``'s, or ``TransportOptions.factory``
(a test injects a fake there, and every S3 request of the run goes to it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.transport.base import HeadOutcome, ListOutcome, PutOutcome, PutRequest, Transport

if TYPE_CHECKING:
    from pipeline.options import TargetOptions, TransportOptions
    from pipeline.transport.control import Control

__all__ = [
    "ControlOnDemand",
    "HeadOutcome",
    "ListOutcome",
    "PutOutcome",
    "PutRequest",
    "Transport",
    "open_control",
    "open_transport",
]


def transport_class(options: TransportOptions) -> type[Transport]:
    """The Transport class of ``options``; imported lazily so that ``--help`` stays fast."""
    from pipeline.options import TransportKind

    if options.factory is not None:
        return options.factory
    if options.kind is TransportKind.BOTO3:
        from pipeline.transport.boto3_transport import Boto3Transport

        return Boto3Transport
    from pipeline.transport.crt import CrtTransport

    return CrtTransport


def open_transport(target: TargetOptions, options: TransportOptions) -> Transport:
    return transport_class(options)(target, options)


def open_control(target: TargetOptions, options: TransportOptions) -> Control:
    return transport_class(options).open_control(target, options)


class ControlOnDemand:
    """A worker's control plane, opened by the first call and released by ``close()``:
    for the DoFns that need one only sometimes (their teardown closes it)."""

    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        self._target = target
        self._options = options
        self._control: Control | None = None

    def __call__(self) -> Control:
        if self._control is None:
            self._control = open_control(self._target, self._options)
        return self._control

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
