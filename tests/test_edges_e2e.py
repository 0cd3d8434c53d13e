"""End to end: the edges a new user meets. Destinations checked before the first upload,
local read errors said as such, failures on stderr once, the progress bar, temp dirs."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import FaultProxy, FaultRules
from devsupport.locals3 import LocalS3
from tests.conftest import (
    CliResult,
    bucket_objects,
    make_tree,
    run_on_terminal,
    run_without_root_powers,
)


def _one_line(result: CliResult) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--report", "/no/such/dir/r.jsonl", "does not exist"),
        ("--report", "s3://ab/r.jsonl", "no bucket name"),
        ("--report", "s3://no-such-bucket-for-reports/r.jsonl", "does not exist"),
        ("--resume", "/no/such/dir/r.jsonl", "does not exist"),
        ("--temp_location", "/no/such/dir", "does not exist"),
        ("--log-filename", "/no/such/dir/log.txt", "No such file or directory"),
    ],
)
def test_destinations_are_checked_before_the_first_upload(
    run_main_on_server: Any,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    option: str,
    value: str,
    words: str,
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a"})
    result = run_main_on_server("--bucket", bucket, option, value, str(tree))
    assert result.code == 2
    line = _one_line(result)
    assert option in line and words in line
    assert bucket_objects(s3_client, bucket) == {}


def test_a_report_that_cannot_be_written_at_the_end_is_one_line_after_the_summary(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a"})
    too_long = "r" * 1100  # S3 refuses keys over 1,024 bytes: the write at the end fails
    result = run_cli("--bucket", bucket, "--report", f"s3://{bucket}/{too_long}", str(tree))
    assert result.code == 1
    assert "1 files: 1 uploaded" in result.stdout
    line = _one_line(result)
    assert line.startswith("s3-parallel-put: error: cannot write the report")
    assert bucket_objects(s3_client, bucket) == {"a.txt": b"a"}


@pytest.fixture
def unreadable_tree() -> Iterator[Path]:
    """A tree outside /tmp's private dirs with one file nobody may read."""
    root = Path(tempfile.mkdtemp(prefix="s3pp-unreadable-", dir="/var/tmp"))
    make_tree(root, {"ok.txt": b"ok", "secret.txt": b"secret"})
    (root / "secret.txt").chmod(0)
    yield root
    (root / "secret.txt").unlink()
    (root / "ok.txt").unlink()
    root.rmdir()


@pytest.mark.parametrize("transport", ["crt", "boto3"])
@pytest.mark.parametrize("put", ["stupid", "update"])
def test_an_unreadable_file_is_a_local_error_on_stderr_once(
    s3_server: LocalS3,
    s3_client: Any,
    bucket: str,
    unreadable_tree: Path,
    transport: str,
    put: str,
) -> None:
    common = ["--bucket", bucket, "--endpoint-url", s3_server.endpoint_url]
    args = [*common, "--transport", transport, "--put", put, str(unreadable_tree)]
    result = run_without_root_powers(args, s3_server.env())
    quiet = run_without_root_powers([*args, "-q"], s3_server.env())

    assert result.code == 1, result.stderr
    expected = f"failed: {unreadable_tree}/secret.txt: cannot read: Permission denied"
    assert result.stderr.strip().splitlines() == [expected]
    assert "secret.txt" not in result.stdout  # counted in the summary, not listed twice
    assert "1 failed" in result.stdout
    assert quiet.code == 1
    assert quiet.stdout == ""
    assert quiet.stderr.strip().splitlines() == [expected]
    assert bucket_objects(s3_client, bucket) == {"ok.txt": b"ok"}


def test_progress_shows_bytes_moving_and_the_walk_still_counting(
    s3_server: LocalS3, bucket: str, tmp_path: Path
) -> None:
    files = {f"d{d}/f{f}.txt": b"x" * 100 for d in range(3) for f in range(20)}
    files["z/big.bin"] = os.urandom(24 * 1024 * 1024)
    files["zz/last.txt"] = b"last"
    tree = make_tree(tmp_path / "src", files)
    release = tmp_path / "release-the-walk"
    # The walk is held at zz/ (a hook in the CLI's process) until the bar has shown
    # bytes on their way while it still counts; every part's answer waits 1 s.
    env = {
        **s3_server.env(),
        "PYTHONPATH": str(Path(__file__).parent / "hooks"),
        "S3PP_TEST_HOLD_DIRECTORY": str(tree / "zz"),
        "S3PP_TEST_RELEASE_FILE": str(release),
    }
    slow = FaultRules(stall=1.0, stall_seconds=1.0, predicate=lambda m, t: m == "PUT")

    def counting_with_bytes_sent(screen: str) -> bool:
        return bool(re.search(r"of [\d,]+\+ found, (?!0\.0 )[\d,.]+ MiB sent", screen))

    with FaultProxy(s3_server.port, slow) as proxy:
        code, _, screen = run_on_terminal(
            ["--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--concurrency", "4",
             "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB", str(tree)],
            env, interrupt_when=counting_with_bytes_sent, then=lambda _: release.touch(),
        )  # fmt: skip

    assert code == 0, screen[-2000:]
    assert release.exists(), screen[-2000:]  # the bar showed bytes while the walk counted
    sent = [float(value.replace(",", "")) for value in re.findall(r"([\d,.]+) MiB sent", screen)]
    total = sum(len(data) for data in files.values()) / 1048576
    assert any(0 < value < total - 1 for value in sent), sent  # moved during the transfers
    assert "100%" in screen  # and a percentage once the walk had ended
    elapsed = re.findall(r"\[00:0(\d)", screen)
    assert len(set(elapsed)) >= 3, elapsed  # the clock ticked


@pytest.mark.parametrize(
    "beam_args",
    [
        [],
        ["--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "LOOPBACK"],
    ],
    ids=["local", "portable"],
)
def test_no_temporary_directory_is_left_behind(
    run_cli: Any, s3_server: LocalS3, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**s3_server.env(), "TMPDIR": str(temp)}
    uploaded = run_cli(
        "--bucket", bucket, "--report", f"s3://{bucket}/r.jsonl", str(tree), *beam_args, env=env
    )
    assert uploaded.code == 0, uploaded.stderr
    assert list(temp.iterdir()) == []


def test_an_interrupted_run_never_shows_100_percent(
    s3_server: LocalS3, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {f"d{d}/f{f}": b"x" for d in range(4) for f in range(50)})
    slow = FaultRules(stall=1.0, stall_seconds=0.3, predicate=lambda m, t: m == "PUT")
    with FaultProxy(s3_server.port, slow) as proxy:
        code, stdout, screen = run_on_terminal(
            ["--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--concurrency", "4",
             str(tree)],
            s3_server.env(),
            interrupt_when=lambda _: proxy.stats["stall"] >= 12,
        )  # fmt: skip

    assert code == 130, screen[-2000:]
    assert "100%" not in screen
    assert "not started" in stdout.splitlines()[0]
    assert "To continue" in screen


def _holding_parts_after_the_first(release: threading.Event) -> Any:
    """A proxy hook that holds every part but the first of a multipart upload until
    ``release`` is set."""

    def before_forward(method: str, target: str) -> None:
        part = re.search(r"[?&]partNumber=(\d+)", target)
        if method == "PUT" and part and part.group(1) != "1":
            release.wait(60)

    return before_forward


def _mib_sent(screen: str, files: str) -> list[float]:
    """The MiB sent that the bar showed with ``files`` ('0/1') done, in order."""
    shown = (
        re.search(rf" {files} .* ([\d,.]+) MiB sent", text) for text in re.split(r"[\r\n]", screen)
    )
    return [float(found.group(1).replace(",", "")) for found in shown if found]


def test_the_bar_shows_the_bytes_of_a_boto3_multipart_upload_on_its_way(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    # s3transfer reports a part's bytes as they go. (awscrt reports whole parts, and only
    # once its client has other work, so a held part keeps them back.)
    data = os.urandom(15 * 1024 * 1024)  # three parts of 5 MiB
    tree = make_tree(tmp_path / "src", {"big.bin": data})
    release = threading.Event()

    def released_once_shown(screen: str) -> bool:
        if any(_mib_sent(screen, "0/1")):
            release.set()  # the bar moved while parts were held: let them go
        return False

    with FaultProxy(s3_server.port, FaultRules()) as proxy:
        proxy.before_forward = _holding_parts_after_the_first(release)
        try:
            code, _, screen = run_on_terminal(
                ["--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--transport",
                 "boto3", "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
                 str(tree)],
                s3_server.env(),
                timeout=60,
                interrupt_when=released_once_shown,
            )  # fmt: skip
        finally:
            release.set()

    assert code == 0, screen[-2000:]
    assert bucket_objects(s3_client, bucket) == {"big.bin": data}
    assert max(_mib_sent(screen, "0/1")) > 0, screen[-2000:]
    assert _mib_sent(screen, "1/1")[-1] == 15.0


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_after_ctrl_c_the_bar_claims_no_bytes_that_the_summary_does_not(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, transport: str
) -> None:
    # At 1 MiB/s the three 5 MiB parts take 15 s: Ctrl-C once the bar shows bytes sent.
    tree = make_tree(tmp_path / "src", {"big.bin": os.urandom(15 * 1024 * 1024)})

    code, stdout, screen = run_on_terminal(
        ["--bucket", bucket, "--endpoint-url", s3_server.endpoint_url, "--transport", transport,
         "--bwlimit", "1M", "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
         str(tree)],
        s3_server.env(),
        timeout=60,
        interrupt_when=lambda screen: any(_mib_sent(screen, "0/1")),
    )  # fmt: skip

    assert code == 130, screen[-2000:]
    assert "0 B sent in" in stdout  # the upload was aborted: nothing of it is stored
    sent = _mib_sent(screen, "0/1")
    assert max(sent) > 0, sent
    assert sent[-1] == 0.0, screen[-2000:]  # the bar took those bytes back, as the summary
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert bucket_objects(s3_client, bucket) == {}
