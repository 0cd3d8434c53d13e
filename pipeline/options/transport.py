"""How requests are sent: the transport, requests in flight, retries, timeouts, parts."""

from __future__ import annotations

import argparse
import enum
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.errors import UsageError
from pipeline.options.values import (
    OptionGroup,
    add_choice,
    non_negative,
    parse_rate,
    parse_size,
    positive,
)

if TYPE_CHECKING:
    from pipeline.transport.base import Transport

DEFAULT_CONCURRENCY = 128
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024
DEFAULT_MULTIPART_CHUNKSIZE = 8 * 1024 * 1024
MIN_MULTIPART_CHUNKSIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000


class TransportKind(enum.Enum):
    CRT = "crt"  # awscrt's native S3 client
    BOTO3 = "boto3"  # boto3/s3transfer from threads


class RetryMode(enum.Enum):
    STANDARD = "standard"
    ADAPTIVE = "adaptive"  # also slows down when the server throttles


@dataclass(frozen=True)
class TransportOptions(OptionGroup):
    title = "speed"
    kind: TransportKind = TransportKind.CRT
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight per worker
    retries: int = DEFAULT_RETRIES  # per request (awscrt) and per file (damaged bodies)
    retry_mode: RetryMode = RetryMode.STANDARD
    timeout: float = DEFAULT_TIMEOUT_S  # per request, plus time for its body
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE
    # Upload bytes per second of each worker process, shared by all the run's transfers
    # there (one token bucket per run and process: on a cluster each worker has its own);
    # 0 for no cap.
    bwlimit: int = 0
    # Names the run these options are made for (each TransportOptions is a new run): the
    # transports of one run in a process share its cap, those of another run have their own.
    run_key: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)
    # A Transport class to use instead of ``kind``'s (e.g. a fake one in tests); it must
    # be importable by name on the workers, as Beam pickles classes by reference.
    factory: type[Transport] | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--processes/--concurrency must be at least 1")
        if not self.timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if not 0 <= self.retries <= 100:
            raise UsageError("--retries must be between 0 and 100")
        if self.multipart_chunksize < MIN_MULTIPART_CHUNKSIZE:
            raise UsageError("--multipart-chunksize must be at least 5 MiB")
        if self.bwlimit < 0:
            raise UsageError("--bwlimit must not be negative")

    @staticmethod
    def add_arguments(group: Any) -> None:
        group.add_argument(
            "--processes",
            "--concurrency",
            dest="concurrency",
            type=positive,
            default=DEFAULT_CONCURRENCY,
            metavar="N",
            help=f"transfers in flight per worker (default {DEFAULT_CONCURRENCY})",
        )
        add_choice(
            group,
            "--transport",
            TransportKind,
            TransportKind.CRT,
            "crt (default): awscrt's native S3 client; boto3: plain boto3 requests from "
            "threads, slower, for servers awscrt does not get along with",
        )
        group.add_argument(
            "--retries",
            type=non_negative,
            default=DEFAULT_RETRIES,
            metavar="N",
            help=f"retries per request, with exponential backoff and jitter (default "
            f"{DEFAULT_RETRIES}); a body the server found damaged is sent again up to N times",
        )
        group.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_S,
            metavar="SECONDS",
            help=f"a request still running after SECONDS (default {DEFAULT_TIMEOUT_S:g}) plus "
            "4 s per MiB of its body is cancelled and sent again (a stalled server cannot hang "
            "a run)",
        )
        add_choice(
            group,
            "--retry-mode",
            RetryMode,
            RetryMode.STANDARD,
            "adaptive also slows down when the server throttles (503 SlowDown)",
        )
        group.add_argument(
            "--multipart-threshold",
            type=parse_size,
            metavar="SIZE",
            default=DEFAULT_MULTIPART_THRESHOLD,
            help="files above this go as parallel multipart uploads (default 8MiB)",
        )
        group.add_argument(
            "--multipart-chunksize",
            type=parse_size,
            metavar="SIZE",
            default=DEFAULT_MULTIPART_CHUNKSIZE,
            help="part size of multipart uploads (default 8MiB, at least 5MiB)",
        )
        group.add_argument(
            "--bwlimit",
            type=parse_rate,
            metavar="RATE",
            default=0,
            help="cap the upload bytes per second of each worker process, shared by all its "
            "transfers: 10M (MiB/s), 512K, 1.5G, 1000 (bytes/s); 0 or off (default) for none. "
            "On a cluster each worker has its own cap",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TransportOptions:
        return cls(
            kind=TransportKind(args.transport),
            concurrency=args.concurrency,
            retries=args.retries,
            retry_mode=RetryMode(args.retry_mode),
            timeout=args.timeout,
            multipart_threshold=args.multipart_threshold,
            multipart_chunksize=args.multipart_chunksize,
            bwlimit=args.bwlimit,
        )
