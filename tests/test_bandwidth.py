"""Units: --bwlimit's rate syntax, the token bucket and the throttled body reader (no
server; a fake clock, and one short real-time check of threads sharing a bucket)."""

from __future__ import annotations

import argparse
import gc
import io
import os
import pickle
import threading
import time
import weakref

import pytest

from pipeline import arguments
from pipeline.options import TransportKind, TransportOptions, UploadConfig
from pipeline.options.values import parse_rate
from pipeline.transport import open_transport
from pipeline.transport.bandwidth import (
    CHUNK,
    ThrottledReader,
    TokenBucket,
    run_cap,
    throttled_body,
)

KIB, MIB, GIB = 1024, 1024**2, 1024**3


class FakeClock:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10M", 10 * MIB),
        ("512K", 512 * KIB),
        ("1.5G", int(1.5 * GIB)),
        ("1000", 1000),
        ("4m", 4 * MIB),
        ("4MB", 4 * MIB),
        ("4MiB", 4 * MIB),
        ("4mib", 4 * MIB),
        ("100b", 100),
        (".5M", MIB // 2),
        ("1T", 1024**4),
        ("0", 0),
        ("0M", 0),
        ("off", 0),
        ("OFF", 0),
    ],
)
def test_rates_in_rclone_syntax(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "-1M", "10X", "1e6", "4M/s", "10MBB", "0.5", "M"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a rate"):
        parse_rate(text)


def test_a_bad_rate_on_the_command_line_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        arguments.parse(["--bucket", "bkt", "--bwlimit", "fast", "src"])

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--bwlimit: not a rate: 'fast'" in err
    assert len(err.strip().splitlines()) == 1


def test_bwlimit_reaches_the_transport_options() -> None:
    args, _ = arguments.parse(["--bucket", "bkt", "--bwlimit", "4M", "src"])
    assert TransportOptions.from_args(args).bwlimit == 4 * MIB
    args, _ = arguments.parse(["--bucket", "bkt", "src"])
    assert TransportOptions.from_args(args).bwlimit == 0


def test_a_bucket_gives_its_burst_at_once_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=500, clock=clock, sleep=clock.sleep)

    bucket.take(500)
    assert clock.slept == []
    bucket.take(250)
    bucket.take(1000)  # larger than the burst: it just waits longer
    assert clock.slept == pytest.approx([0.25, 1.0])
    assert bucket.held_back() == pytest.approx(1.25)


def test_an_idle_bucket_saves_up_no_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=500, clock=clock, sleep=clock.sleep)
    bucket.take(500)

    clock.now += 60  # idle for a minute
    bucket.take(500)
    bucket.take(100)

    assert clock.slept == pytest.approx([0.1])


def test_a_steady_stream_keeps_to_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4 * MIB, clock=clock, sleep=clock.sleep)
    start = clock.now

    for _ in range(20 * MIB // (64 * KIB)):
        bucket.take(64 * KIB)

    assert clock.now - start == pytest.approx((20 * MIB - CHUNK) / (4 * MIB))


def test_held_back_counts_overlapping_waits_once() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, burst=100, clock=clock, sleep=lambda s: None)
    bucket.take(100)  # the burst: no wait
    bucket.take(100)  # waits 1 s, until 101
    bucket.take(100)  # booked behind it, waits 2 s, until 102: 1 more second held back
    assert bucket.held_back() == pytest.approx(0.0)  # nothing of it has passed yet

    clock.now += 1.5
    assert bucket.held_back() == pytest.approx(1.5)
    clock.now += 10
    assert bucket.held_back() == pytest.approx(2.0)


def test_threads_share_one_rate() -> None:
    bucket = TokenBucket(4 * MIB, burst=64 * KIB)
    taken = []

    def take() -> None:
        for _ in range(4):
            bucket.take(64 * KIB)
            taken.append(64 * KIB)

    threads = [threading.Thread(target=take) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    elapsed = time.monotonic() - start

    assert sum(taken) == MIB
    assert 0.2 <= elapsed < 1.5, elapsed  # (1 MiB - the burst) / 4 MiB/s = 0.23 s


def test_a_stopped_take_returns_early() -> None:
    bucket = TokenBucket(1000, burst=1)
    stop = threading.Event()
    stop.set()
    start = time.monotonic()
    bucket.take(10_000, stop)  # would wait 10 s
    assert time.monotonic() - start < 1


def test_one_cap_per_run_and_rate_in_a_process() -> None:
    assert run_cap("run-a", 0) is None
    cap = run_cap("run-a", 12345)
    assert cap is not None
    assert run_cap("run-a", 12345) is cap
    assert run_cap("run-b", 12345) is not cap
    assert run_cap("run-a", 54321) is not cap


def test_a_cap_goes_when_nothing_uses_it() -> None:
    """A process running many runs one after another keeps no cap of a finished run."""
    cap = weakref.ref(run_cap("run-done", 12345))  # type: ignore[arg-type]
    gc.collect()
    assert cap() is None


def test_each_run_has_its_own_options_key() -> None:
    """Each TransportOptions made is a run of its own (the CLI makes one per run, a library
    user one per config); options derived from them, or unpickled on a worker, stay in it."""
    first, second = (UploadConfig.for_bucket("bkt", "http://127.0.0.1:9") for _ in range(2))
    assert first.transport.run_key != second.transport.run_key
    assert first.transport == second.transport  # the key is no setting: configs still compare
    assert pickle.loads(pickle.dumps(first)).transport.run_key == first.transport.run_key
    args, _ = arguments.parse(["--bucket", "bkt", "--bwlimit", "4M", "src"])
    assert TransportOptions.from_args(args).run_key != TransportOptions.from_args(args).run_key


@pytest.mark.parametrize("kind", list(TransportKind))
def test_the_transports_of_one_run_share_a_cap_and_another_run_has_its_own(
    kind: TransportKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two uploads in one process with the same --bwlimit each keep to their own cap; the
    workers of one run (each opening its transport from its copy of the options) share one."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    target = UploadConfig.for_bucket("bkt", "http://127.0.0.1:9").target
    run, other_run = (TransportOptions(kind=kind, bwlimit=MIB) for _ in range(2))
    worker_copy = pickle.loads(pickle.dumps(run))
    transports = [open_transport(target, options) for options in (run, worker_copy, other_run)]
    try:
        caps = [transport._cap for transport in transports]  # type: ignore[attr-defined]
    finally:
        for transport in transports:
            transport.close()

    assert caps[0] is not None and caps[0].rate == MIB
    assert caps[1] is caps[0]
    assert caps[2] is not None and caps[2] is not caps[0]


def _reader(data: bytes, **kwargs: object) -> tuple[ThrottledReader, FakeClock, list[int]]:
    clock = FakeClock()
    paid: list[int] = []
    bucket = TokenBucket(MIB, burst=CHUNK, clock=clock, sleep=clock.sleep)
    return ThrottledReader(io.BytesIO(data), bucket, on_paid=paid.append, **kwargs), clock, paid  # type: ignore[arg-type]


def test_the_reader_gives_the_bytes_and_pays_for_each_once() -> None:
    data = os.urandom(3 * MIB + 5)
    reader, clock, paid = _reader(data)

    first = reader.read(MIB + 1)  # a full read, though the reader pays a chunk at a time
    assert len(first) == MIB + 1
    rest = reader.read()
    assert first + rest == data
    assert sum(paid) == len(data)
    assert sum(clock.slept) == pytest.approx((len(data) - CHUNK) / MIB)

    reader.seek(0)  # read again (to hash, or to send again): not paid again
    again = bytearray(len(data))
    assert reader.readinto(again) == len(data)
    assert bytes(again) == data
    assert sum(paid) == len(data)
    assert sum(clock.slept) == pytest.approx((len(data) - CHUNK) / MIB)


def test_read1_and_readinto1_take_at_most_one_chunk() -> None:
    reader, _, _ = _reader(b"x" * (3 * CHUNK))
    assert len(reader.read1(10 * CHUNK)) == CHUNK
    assert reader.readinto1(bytearray(10 * CHUNK)) == CHUNK
    assert reader.tell() == 2 * CHUNK
    assert reader.seek(0, io.SEEK_END) == 3 * CHUNK
    assert reader.read() == b""


def test_a_stopped_reader_fails_or_ends() -> None:
    stop = threading.Event()
    failing, _, _ = _reader(b"x" * 100, stop=stop)
    ending, _, _ = _reader(b"x" * 100, stop=stop, end_on_stop=True)
    assert failing.read(10) == ending.read(10) == b"x" * 10
    assert not ending.stopped

    stop.set()
    with pytest.raises(OSError, match="cancelled"):
        failing.read(10)
    assert ending.read(10) == b""
    assert failing.stopped and ending.stopped


def test_a_throttled_body_streams_a_file_and_closes_it(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "f.bin")
    with open(path, "wb") as f:
        f.write(b"abc" * 1000)
    bucket = TokenBucket(GIB)

    with throttled_body(path, None, bucket) as body:
        assert body.seekable() and body.readable()
        assert body.read() == b"abc" * 1000
    assert body.closed
    with throttled_body(None, b"in memory", bucket) as body:
        assert body.read() == b"in memory"
    with pytest.raises(FileNotFoundError):
        throttled_body(os.path.join(tmp_path, "missing"), None, bucket)
