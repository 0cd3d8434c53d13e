"""End to end: --bwlimit caps a worker's upload rate, on both transports, against the real
server: the time a capped upload takes, the bytes it stores (single PUTs, multipart,
gzipped and in-memory bodies), the progress bar while capped, --timeout under the cap,
and Ctrl-C while capped."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from devsupport.locals3 import LocalS3
from tests.conftest import REPO, bucket_objects, make_tree, run_on_terminal

MIB = 1024 * 1024
_WAIT_S = 60.0


def _report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_a_capped_upload_keeps_to_the_rate(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, transport: str
) -> None:
    data = os.urandom(20 * MIB)
    src = make_tree(tmp_path / "src", {"big.bin": data})
    report = tmp_path / "report.jsonl"

    result = run_cli(
        "--bucket", bucket, "--transport", transport, "--bwlimit", "4M",
        "--report", str(report), "--json", str(src),
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert bucket_objects(s3_client, bucket) == {"big.bin": data}
    (line,) = _report(report)
    # 20 MiB at 4 MiB/s: 5 s, from the start of the upload to its end.
    assert 4.0 <= line["seconds"] <= 6.0, line


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_the_bar_moves_with_the_bytes_of_a_capped_upload(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, transport: str
) -> None:
    # 6 MiB at 1 MiB/s: the bar ticks every 0.5 s through the 6 s the cap takes.
    data = os.urandom(6 * MIB)
    src = make_tree(tmp_path / "src", {"big.bin": data})

    code, _, screen = run_on_terminal(
        ["--endpoint-url", s3_server.endpoint_url, "--bucket", bucket, "--transport", transport,
         "--bwlimit", "1M", "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
         str(src)],
        s3_server.env(),
    )  # fmt: skip

    assert code == 0, screen[-2000:]
    assert bucket_objects(s3_client, bucket) == {"big.bin": data}
    shown = re.split(r"[\r\n]", screen)
    in_flight = [re.search(r" 0/1 .* ([\d.]+) MiB sent, ([\d.]+) MiB/s", text) for text in shown]
    moving = {
        float(sent) for sent, rate in (found.groups() for found in in_flight if found)
        if 0 < float(sent) < 6 and float(rate) > 0
    }  # fmt: skip
    assert len(moving) >= 3, screen[-2000:]  # bytes and a rate while the file is on its way
    assert any(re.search(r" 1/1 .* 6\.0 MiB sent", text) for text in shown), screen[-2000:]


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_capped_bodies_arrive_whole(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, transport: str
) -> None:
    files = {
        **{f"small/{i:02}.bin": os.urandom(1000 + i * 3000) for i in range(20)},
        "empty.bin": b"",
        "page.html": b"<p>" + b"text " * 20_000 + b"</p>",  # gzipped: a temporary file
        "big.bin": os.urandom(11 * MIB + 7),  # three 5 MiB parts
    }
    src = make_tree(tmp_path / "src", files)
    members = {"in/a.bin": os.urandom(6 * MIB), "in/b.txt": b"member"}  # read into memory
    archive = tmp_path / "members.tar"
    with tarfile.open(archive, "w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    common = (
        "--bucket", bucket, "--transport", transport, "--bwlimit", "64M", "--json",
        "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
    )  # fmt: skip

    tree = run_cli(*common, "--prefix", "tree", "--gzip", str(src))
    tar = run_cli(*common, "--prefix", "tar", "--walk", "tar", str(archive))
    again = run_cli(*common, "--prefix", "tree", "--gzip", str(src))

    assert tree.code == 0, tree.stderr
    assert tar.code == 0, tar.stderr
    stored = bucket_objects(s3_client, bucket)
    page = s3_client.get_object(Bucket=bucket, Key="tree/page.html")
    assert page["ContentEncoding"] == "gzip"
    assert gzip.decompress(stored["tree/page.html"]) == files["page.html"]
    expected = {f"tree/{k}": v for k, v in files.items() if k != "page.html"}
    expected |= {f"tar/{k}": v for k, v in members.items()}
    assert {k: v for k, v in stored.items() if k != "tree/page.html"} == expected
    assert s3_client.head_object(Bucket=bucket, Key="tree/big.bin")["ETag"].endswith('-3"')
    assert again.summary["skipped"] == len(files), "the ETags are those of the bytes"


def test_time_the_cap_holds_a_body_back_is_not_a_timeout(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    # 40 bodies of 100 KiB queue behind one another at 1 MiB/s: the last waits ~4 s,
    # far past --timeout 1 (plus 0.4 s for its size), for the cap, not for the server.
    files = {f"f{i:02}.bin": os.urandom(100 * 1024) for i in range(40)}
    src = make_tree(tmp_path / "src", files)

    result = run_cli(
        "--bucket", bucket, "--bwlimit", "1M", "--timeout", "1", "--retries", "0", "--json",
        str(src),
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert (result.summary["uploaded"], result.summary["retries"]) == (40, 0)
    assert result.summary["elapsed_seconds"] >= 3.0, "the cap held them back"
    assert bucket_objects(s3_client, bucket) == files


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_ctrl_c_ends_a_capped_upload_at_once(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, transport: str
) -> None:
    # At 256 KiB/s one 5 MiB part takes 20 s to read: the interrupt must not wait for it.
    src = make_tree(tmp_path / "src", {"big.bin": os.urandom(20 * MIB)})
    cli = subprocess.Popen(
        [
            sys.executable, "-m", "pipeline", "--endpoint-url", s3_server.endpoint_url,
            "--bucket", bucket, "--transport", transport, "--bwlimit", "256K", "--json",
            "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB", str(src),
        ],
        env=s3_server.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _WAIT_S
        while not s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
            assert cli.poll() is None, cli.communicate()
            assert time.monotonic() < deadline, "the multipart upload never started"
            time.sleep(0.1)
        time.sleep(1.0)  # well into the first part

        interrupted = time.monotonic()
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
        stopped_after = time.monotonic() - interrupted
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=30)

    assert cli.returncode == 130, err
    assert "Traceback" not in err
    assert stopped_after < 10, stopped_after
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["not_started"], summary["uploaded"], summary["failed"]) == (1, 0, 0)
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert bucket_objects(s3_client, bucket) == {}
