"""Trust under faults and bad input: nothing lost, every failure counted, no secret leaked.

A fault-injecting proxy (devsupport/faultproxy.py) sits between the CLI and SeaweedFS.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import FAULT_KINDS, MAX_STALL_S, FaultProxy, FaultRules
from devsupport.locals3 import LocalS3
from tests.conftest import REPO, bucket_objects, make_tree

MIB = 1024 * 1024
_WAIT_S = 120


def _not_bucket_check(method: str, target: str) -> bool:
    """Fault object requests only, not the one-off bucket check before the run."""
    return target.count("/") >= 2 or "?" in target


def _tree(root: Path, count: int, big: int = 0) -> dict[str, bytes]:
    files = {f"d{i % 20:02d}/f{i:05d}.txt": os.urandom(64 + i % 700) for i in range(count)}
    files.update({f"big/b{i}.bin": os.urandom(11 * MIB + i) for i in range(big)})
    make_tree(root, files)
    return files


def _digests(objects: dict[str, bytes]) -> dict[str, str]:
    return {key: hashlib.sha256(data).hexdigest() for key, data in objects.items()}


@pytest.fixture
def proxy(s3_server: LocalS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.port, FaultRules(), seed=7) as running:
        yield running


def test_ten_percent_faults_still_land_every_object(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 2000, big=3)
    proxy.rules = FaultRules.uniform(
        0.10,
        ["slowdown", "internal_error", "request_timeout", "reset_request", "reset_response",
         "truncate_body", "corrupt_request_body", "stall"],
        stall_seconds=1.0,
        predicate=_not_bucket_check,
    )  # fmt: skip

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json",
        "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
        str(tmp_path / "src"), endpoint=False,
    )  # fmt: skip

    assert result.code == 0, result.stderr[-3000:]
    faults = sum(proxy.stats[kind] for kind in FAULT_KINDS)
    assert faults >= 0.05 * proxy.stats["requests"], proxy.stats
    assert _digests(bucket_objects(s3_client, bucket)) == _digests(files)
    assert result.summary["uploaded"] == len(files)
    assert result.summary["retries"] >= 1, "corrupted bodies are resent by the tool itself"
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_corrupted_bodies_are_rejected_and_sent_again(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 40)
    proxy.rules = FaultRules(corrupt_request_body=1.0, max_faults=10, predicate=_not_bucket_check)

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json", "--put", "stupid",
        str(tmp_path / "src"), endpoint=False,
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert proxy.stats["corrupt_request_body"] == 10
    assert result.summary["retries"] == 10
    assert _digests(bucket_objects(s3_client, bucket)) == _digests(files)


def test_without_retries_a_corrupted_body_fails_and_is_not_stored(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 10)
    proxy.rules = FaultRules(corrupt_request_body=1.0, max_faults=1, predicate=_not_bucket_check)

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json", "--retries", "0",
        "--put", "stupid", str(tmp_path / "src"), endpoint=False,
    )  # fmt: skip

    assert result.code == 1
    assert result.summary["failed"] == 1
    failure = result.summary["failures"][0]
    assert "BadDigest" in failure["error"]
    stored = bucket_objects(s3_client, bucket)
    assert failure["key"] not in stored
    assert len(stored) == len(files) - 1
    assert all(stored[key] == files[key] for key in stored)


@pytest.mark.parametrize(("retries", "tries"), [(2, 3), (0, 1)])
def test_a_file_out_of_retries_fails_alone_with_its_reason(
    run_cli: Any,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    proxy: FaultProxy,
    retries: int,
    tries: int,
) -> None:
    files = _tree(tmp_path / "src", 30)
    doomed = "d03/f00003.txt"
    proxy.rules = FaultRules(
        slowdown=1.0, predicate=lambda method, target: method == "PUT" and doomed in target
    )

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json",
        "--retries", str(retries), str(tmp_path / "src"), endpoint=False,
    )  # fmt: skip

    assert result.code == 1, result.stderr
    assert result.summary["failed"] == 1
    assert result.summary["uploaded"] == len(files) - 1
    assert result.summary["failures"][0]["key"] == doomed
    assert "SLOW_DOWN" in result.summary["failures"][0]["error"]  # awscrt's name for 503
    assert proxy.stats["slowdown"] == tries, "one try and --retries more"
    assert "Traceback" not in result.stderr
    assert set(bucket_objects(s3_client, bucket)) == set(files) - {doomed}


def _empty(path: Path) -> Path:
    path.mkdir()
    return path


def _start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _report_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line cut by SIGKILL
            lines.append(json.loads(line))
    return lines


def test_sigkill_then_resume_finishes_without_resending(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 400, big=1)
    log = tmp_path / "run.jsonl"
    proxy.rules = FaultRules(stall=1.0, stall_seconds=0.05, predicate=_not_bucket_check)
    args = [
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--resume", str(log),
        "--processes", "8", "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
        str(tmp_path / "src"),
    ]  # fmt: skip

    first = _start_cli(args, s3_server.env())
    try:
        _wait_for(lambda: len(_report_lines(log)) >= 50, "50 files done")
    finally:
        first.kill()
        first.communicate(timeout=60)
    done_before = {line["key"] for line in _report_lines(log) if line["action"] == "uploaded"}
    assert 50 <= len(done_before) < len(files)

    proxy.rules = FaultRules()
    second = _start_cli([*args, "--json"], s3_server.env())
    out, err = second.communicate(timeout=300)

    assert second.returncode == 0, err
    assert _digests(bucket_objects(s3_client, bucket)) == _digests(files)
    after = _report_lines(log)[len(_report_lines(log)) - json.loads(out)["files"] :]
    resent = {line["key"] for line in after if line["action"] == "uploaded"} & done_before
    assert resent == set()


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_sigint_aborts_multipart_and_exits_130_with_summary(
    s3_server: LocalS3,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    proxy: FaultProxy,
    transport: str,
) -> None:
    _tree(tmp_path / "src", 0, big=2)
    report = tmp_path / "report.jsonl"
    proxy.rules = FaultRules(
        stall=1.0, stall_seconds=30.0, predicate=lambda m, t: "partNumber=2" in t
    )
    cli = _start_cli(
        [
            "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json",
            "--transport", transport,
            "--report", str(report), "--multipart-threshold", "5MiB",
            "--multipart-chunksize", "5MiB", str(tmp_path / "src"),
        ],
        {**s3_server.env(), "TMPDIR": str(_empty(tmp_path / "temp"))},
    )  # fmt: skip
    _wait_for(lambda: proxy.stats["stall"] >= 1, "a part upload in flight")

    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=120)

    assert cli.returncode == 130, err
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["not_started"], summary["failed"], summary["uploaded"]) == (2, 0, 0)
    assert len(_report_lines(report)) == 2
    assert {line["action"] for line in _report_lines(report)} == {"not_started"}
    assert all("aborted" in line["reason"] for line in _report_lines(report))
    assert f"--resume {report}" in err.strip().splitlines()[-1]
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert bucket_objects(s3_client, bucket) == {}
    assert list((tmp_path / "temp").iterdir()) == []  # no temporary directory left


def test_a_second_sigint_stops_at_once_and_aborts_open_uploads(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    _tree(tmp_path / "src", 0, big=2)
    proxy.rules = FaultRules(
        stall=1.0, stall_seconds=60.0, predicate=lambda m, t: "partNumber=2" in t
    )
    cli = _start_cli(
        [
            "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json",
            "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
            "--report", f"s3://{bucket}/reports/r.jsonl", str(tmp_path / "src"),
        ],
        {**s3_server.env(), "TMPDIR": str(_empty(tmp_path / "temp"))},
    )  # fmt: skip
    _wait_for(lambda: proxy.stats["stall"] >= 1, "a part upload in flight")
    # From now on listings of open uploads answer after 3 s: the first signal's clean
    # stop (which lists them) is still running when the second signal comes.
    proxy.rules = FaultRules(
        stall=1.0, stall_seconds=3.0,
        predicate=lambda m, t: "partNumber=" in t or (m == "GET" and "uploads" in t),
    )  # fmt: skip

    cli.send_signal(signal.SIGINT)
    time.sleep(0.3)  # two separate signals: sent back to back, the kernel may merge them
    cli.send_signal(signal.SIGINT)
    _out, err = cli.communicate(timeout=60)

    assert cli.returncode == 130, err
    assert "Traceback" not in err
    assert "stopping at once" in err
    proxy.rules = FaultRules()
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert list((tmp_path / "temp").iterdir()) == []  # no temporary directory left


def test_tls_is_verified_and_a_ca_bundle_is_honoured(
    run_cli: Any, run_main: Any, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", {"a.txt": b"secure"})
    with LocalS3(tls=True) as server:
        client = server.client()
        client.create_bucket(Bucket="tls-bucket")
        common = ["--bucket", "tls-bucket", "--endpoint-url", server.https_endpoint_url]

        refused = run_main(*common, str(src), env=server.env(), endpoint=None)
        trusted = run_cli(
            *common, "--ca-bundle", str(server.ca_file), "--json", str(src),
            env=server.env(), endpoint=False,
        )  # fmt: skip

        assert refused.code == 2
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "certificate" in refused.stderr and "--ca-bundle" in refused.stderr
        assert trusted.code == 0, trusted.stderr
        assert trusted.summary["uploaded"] == 1
        assert client.get_object(Bucket="tls-bucket", Key="a.txt")["Body"].read() == b"secure"


def test_no_secret_in_any_output(
    run_cli: Any, s3_server: LocalS3, bucket: str, tmp_path: Path
) -> None:
    secret = s3_server.secret_key
    src = make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})
    report = tmp_path / "report.jsonl"
    with_token = s3_server.env()
    with_token["AWS_SESSION_TOKEN"] = "FAKE-SESSION-TOKEN-0123456789"

    runs = [
        run_cli("--bucket", bucket, "-vv", "--report", str(report), str(src)),
        run_cli("--bucket", bucket, "-vv", "--json", "--dry-run", str(src)),
        run_cli("--bucket", bucket, "-vv", str(src), env=with_token),
        run_cli("--bucket", "no-such-bucket", "-vv", str(src)),
    ]

    assert runs[0].code == 0, runs[0].stderr
    texts = [r.stdout + r.stderr for r in runs] + [report.read_text()]
    assert len(runs[0].stderr) > 1000, "-vv must log a lot, or this test proves nothing"
    for text in texts:
        assert secret not in text
        assert "FAKE-SESSION-TOKEN" not in text


def test_odd_file_names_and_kinds(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"new\nline.txt": b"nl", "empty": b"", "ok.txt": b"ok"})
    (src / os.fsdecode(b"bad-\xff-name.txt")).write_bytes(b"undecodable")
    os.mkfifo(src / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock"))
        os.symlink(src / "nowhere", src / "broken")
        os.symlink(src / "loop", src / "loop")
        result = run_cli("--bucket", bucket, "--json", str(src))

    assert result.code == 1, result.stderr
    assert set(bucket_objects(s3_client, bucket)) == {"new\nline.txt", "empty", "ok.txt"}
    assert bucket_objects(s3_client, bucket)["empty"] == b""
    summary = result.summary
    assert summary["uploaded"] == 3
    assert summary["skipped"] == 4  # fifo, socket, broken link, link loop
    assert summary["failed"] == 1
    assert "UTF-8" in summary["failures"][0]["error"]
    assert "Traceback" not in result.stderr


def test_sigterm_stops_like_ctrl_c(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 200)
    report = tmp_path / "report.jsonl"
    proxy.rules = FaultRules(stall=1.0, stall_seconds=0.2, predicate=_not_bucket_check)
    cli = _start_cli(
        ["--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json", "--processes", "4",
         "--report", str(report), str(tmp_path / "src")],
        s3_server.env(),
    )  # fmt: skip
    _wait_for(lambda: len(_report_lines(report)) >= 10, "some files done")

    cli.send_signal(signal.SIGTERM)
    out, err = cli.communicate(timeout=120)

    assert cli.returncode == 130, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert 10 <= summary["uploaded"] < len(files)
    assert summary["failed"] == 0 and summary["not_started"] > 0
    stored = bucket_objects(s3_client, bucket)
    assert len(stored) == summary["uploaded"]
    assert all(stored[key] == files[key] for key in stored), "nothing half-written"
    assert len(_report_lines(report)) == summary["files"]
    assert "To continue" in err.strip().splitlines()[-1]


def _rewrite(path: Path) -> None:
    path.write_bytes(b"new" * 2000)


@pytest.mark.parametrize(
    ("touch", "reason"),
    [(_rewrite, "changed while it was uploaded"), (Path.unlink, "vanished while it was uploaded")],
)
def test_a_file_that_changes_during_its_upload_is_reported(
    s3_server: LocalS3, bucket: str, tmp_path: Path, proxy: FaultProxy, touch: Any, reason: str
) -> None:
    make_tree(tmp_path / "src", {"stays.txt": b"s", "moving.txt": b"old" * 1000})
    proxy.rules = FaultRules(
        stall=1.0, stall_seconds=3.0, predicate=lambda m, t: m == "PUT" and "moving" in t
    )
    cli = _start_cli(
        ["--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json",
         str(tmp_path / "src")],
        s3_server.env(),
    )  # fmt: skip
    _wait_for(lambda: proxy.stats["stall"] >= 1, "the PUT of moving.txt in flight")
    touch(tmp_path / "src" / "moving.txt")
    out, err = cli.communicate(timeout=120)

    assert cli.returncode == 1, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["uploaded"], summary["failed"]) == (1, 1)
    assert summary["failures"][0]["key"] == "moving.txt"
    assert reason in summary["failures"][0]["error"]


def test_a_lost_create_multipart_answer_leaves_no_open_upload(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 0, big=1)
    proxy.rules = FaultRules(
        reset_response=1.0, max_faults=1, predicate=lambda m, t: m == "POST" and "?uploads" in t
    )

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json",
        "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
        str(tmp_path / "src"), endpoint=False,
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert proxy.stats["reset_response"] == 1, "the server started an upload we never heard of"
    assert _digests(bucket_objects(s3_client, bucket)) == _digests(files)
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_stalled_request_times_out_and_is_sent_again(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    files = _tree(tmp_path / "src", 20)
    proxy.rules = FaultRules(
        stall=1.0,
        stall_seconds=MAX_STALL_S,
        max_faults=1,
        predicate=lambda m, t: m == "PUT" and "f00005" in t,
    )
    started = time.monotonic()

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json", "--timeout", "2",
        str(tmp_path / "src"), endpoint=False,
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert time.monotonic() - started < MAX_STALL_S, "the stalled request was cut off"
    assert proxy.stats["stall"] == 1
    assert result.summary["retries"] == 1
    assert _digests(bucket_objects(s3_client, bucket)) == _digests(files)
