"""End to end: selection, metadata, report and resume, asserted on the bucket."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from devsupport.locals3 import LocalS3
from tests.conftest import bucket_objects, make_tree, run_on_terminal, run_without_root_powers

TREE = {
    "a.txt": b"a",
    "b.log": b"b",
    "logs/c.log": b"c",
    "logs/keep.log": b"keep",
    "img/d.png": b"\x89PNG",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", TREE)


def test_include_exclude_last_rule_wins(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    result = run_cli(
        "--bucket", bucket, "--exclude", "*.log", "--include", "logs/keep*", str(tree)
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert set(bucket_objects(s3_client, bucket)) == {"a.txt", "logs/keep.log", "img/d.png"}


def test_ignore_files_older_than_days(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    old = time.time() - 10 * 86400
    os.utime(tree / "a.txt", (old, old))

    result = run_cli("--bucket", bucket, "--ignore-files-older-than-days", "5", str(tree))

    assert result.code == 0, result.stderr
    assert "a.txt" not in bucket_objects(s3_client, bucket)
    assert len(bucket_objects(s3_client, bucket)) == len(TREE) - 1


def test_headers_and_metadata_are_stored(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    result = run_cli(
        "--bucket", bucket, str(tree / "a.txt"),
        "--header", "Cache-Control: max-age=60",
        "--header", "Content-Disposition: attachment; filename=a.txt",
        "--header", "Content-Language: en",
        "--header", "x-amz-meta-origin: laptop",
        "--storage-class", "STANDARD",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    head = s3_client.head_object(Bucket=bucket, Key="a.txt")
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == "attachment; filename=a.txt"
    assert head["ContentLanguage"] == "en"
    assert head["Metadata"] == {"origin": "laptop"}


def test_storage_class_and_encryption_are_stored(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    result = run_cli(
        "--bucket", bucket, "--storage-class", "STANDARD_IA", "--encrypt-key", str(tree / "a.txt")
    )  # fmt: skip

    assert result.code == 0, result.stderr
    head = s3_client.head_object(Bucket=bucket, Key="a.txt")
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "AES256"


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("NoColon", "expected 'Name: value'"),
        ("Bad Name: x", "not a valid header name"),
        ("Cache-Control: a\u00e9", "printable ASCII"),
        ("Content-Type: text/plain", "use --content-type"),
        ("Authorization: x", "not allowed"),
    ],
)
def test_invalid_headers_are_usage_errors(
    run_main_on_server: Any, s3_client: Any, bucket: str, tree: Path, header: str, words: str
) -> None:
    result = run_main_on_server("--bucket", bucket, "--header", header, str(tree))

    assert result.code == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert bucket_objects(s3_client, bucket) == {}


def _report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_report_has_one_line_per_file(
    run_cli: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"

    result = run_cli("--bucket", bucket, "--report", str(report), str(tree))

    assert result.code == 0, result.stderr
    lines = _report(report)
    assert sorted(line["key"] for line in lines) == sorted(TREE)
    line = next(line for line in lines if line["key"] == "logs/keep.log")
    assert line["action"] == "uploaded"
    assert line["source"] == str(tree / "logs/keep.log")
    assert line["size"] == line["bytes_sent"] == 4
    assert line["error"] == ""
    assert line["etag"] == hashlib.md5(b"keep").hexdigest()


def test_resume_skips_what_is_recorded_done(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    log = tmp_path / "resume.jsonl"
    first = run_cli("--bucket", bucket, "--limit", "2", "--resume", str(log), str(tree))
    assert first.code == 0, first.stderr
    done_first = {line["key"] for line in _report(log)}
    assert len(done_first) == 2
    s3_client.delete_object(Bucket=bucket, Key=sorted(done_first)[0])  # would be re-sent
    (tree / "a.txt").write_bytes(b"changed since")  # recorded, but changed: decided again

    second = run_cli("--bucket", bucket, "--resume", str(log), "--json", str(tree))

    assert second.code == 0, second.stderr
    lines = _report(log)[2:]
    resumed = {line["key"] for line in lines if line["reason"] == "recorded done (resume)"}
    assert resumed == done_first - {"a.txt"}
    uploaded = {line["key"] for line in lines if line["action"] == "uploaded"}
    assert uploaded == set(TREE) - resumed
    objects = bucket_objects(s3_client, bucket)
    assert objects["a.txt"] == b"changed since"
    assert set(objects) == set(TREE) - (resumed & {sorted(done_first)[0]})


def test_report_on_s3(run_cli: Any, s3_client: Any, bucket: str, tree: Path) -> None:
    uri = f"s3://{bucket}/reports/run.jsonl"
    first = run_cli("--bucket", bucket, "--prefix", "data", "--resume", uri, str(tree))
    again = run_cli("--bucket", bucket, "--prefix", "data", "--resume", uri, "--json", str(tree))

    assert first.code == 0, first.stderr
    assert again.code == 0, again.stderr
    assert again.summary["skipped"] == len(TREE)
    body = s3_client.get_object(Bucket=bucket, Key="reports/run.jsonl")["Body"].read()
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert len(lines) == 2 * len(TREE)
    assert {line["reason"] for line in lines[len(TREE) :]} == {"recorded done (resume)"}


def test_content_type_by_magic(run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path) -> None:
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"\0" * 32
    src = make_tree(tmp_path / "src", {"picture.dat": png, "notes.txt": b"plain words\n"})

    result = run_cli("--bucket", bucket, "--content-type", "magic", str(src))

    assert result.code == 0, result.stderr
    assert s3_client.head_object(Bucket=bucket, Key="picture.dat")["ContentType"] == "image/png"
    assert s3_client.head_object(Bucket=bucket, Key="notes.txt")["ContentType"] == "text/plain"


def test_json_verbose_prints_a_line_per_file(run_cli: Any, bucket: str, tree: Path) -> None:
    result = run_cli("--bucket", bucket, "--json", "-v", str(tree))

    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    per_file, summary = lines[:-1], lines[-1]
    assert sorted(line["key"] for line in per_file) == sorted(TREE)
    assert {line["action"] for line in per_file} == {"uploaded"}
    assert summary["uploaded"] == len(TREE)


def test_log_filename_gets_the_log(run_cli: Any, bucket: str, tree: Path, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    os.mkfifo(tree / "pipe")

    result = run_cli("--bucket", bucket, "--log-filename", str(log), "-q", str(tree))

    assert result.code == 0, result.stderr
    assert result.stderr == ""
    text = log.read_text()
    assert "skipping" in text and "not a regular file" in text
    assert "upload " in text and "a.txt" in text


def test_log_filename_takes_the_per_file_lines_instead_of_the_terminal(
    run_cli: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    other = make_tree(tmp_path / "other", {"a.txt": b"another a"})  # the same key as tree's

    result = run_cli(
        "--bucket", bucket, "--log-filename", str(log), "-v", str(tree), str(other)
    )  # fmt: skip

    assert result.code == 1, result.stderr
    assert result.stderr == ""
    clash = f"failed: {other}/a.txt: "
    assert result.stdout.splitlines()[0].startswith(f"{len(TREE) + 1} files: {len(TREE)} uploaded")
    assert result.stdout.splitlines()[2].startswith(f"  {clash}")  # the summary lists it
    assert len(result.stdout.splitlines()) == 3
    text = log.read_text()
    for name in TREE:
        assert f"upload {tree}/{name} -> s3://{bucket}/{name} (new)" in text
    assert clash in text


def test_follow_symlinks_walks_linked_directories_once(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", {"real/a.txt": b"a"})
    outside = make_tree(tmp_path / "outside", {"b.txt": b"b"})
    os.symlink(outside, src / "linked")
    os.symlink(src, src / "real" / "loop")  # back up to the root: a loop

    plain = run_cli("--bucket", bucket, "--prefix", "plain", "--json", str(src))
    followed = run_cli(
        "--bucket", bucket, "--prefix", "followed", "--follow-symlinks", "--json", str(src)
    )

    assert plain.code == 0 and followed.code == 0, followed.stderr
    keys = set(bucket_objects(s3_client, bucket))
    assert {k for k in keys if k.startswith("plain/")} == {"plain/real/a.txt"}
    assert {k for k in keys if k.startswith("followed/")} == {
        "followed/real/a.txt",
        "followed/linked/b.txt",
    }
    assert followed.summary["skipped"] == 1  # the loop, reported once


def test_progress_bar_on_a_terminal(s3_server: Any, bucket: str, tree: Path) -> None:
    code, _, text = run_on_terminal(
        ["--bucket", bucket, "--endpoint-url", s3_server.endpoint_url, str(tree)],
        s3_server.env(),
    )

    assert code == 0
    assert f"{len(TREE)}/{len(TREE)}" in text
    assert "files/s" in text and "MiB" in text and "0 failed" in text


def _tar(path: Path, members: dict[str, bytes], mode: str) -> Path:
    import io
    import tarfile

    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link-to-a")
        link.type = tarfile.SYMTYPE
        link.linkname = "a.txt"
        tar.addfile(link)
        folder = tarfile.TarInfo("folder")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    return path


MEMBERS = {
    "a.txt": b"alpha\n" * 100,
    "./dir/b.json": b'{"b": 1}',
    "/absolute/c.bin": bytes(range(256)),
    "../escape.txt": b"must not land",
}


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".tar", "w"), (".tar.gz", "w:gz"), (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")],
)
def test_tar_members_stream_into_the_prefix(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, suffix: str, mode: str
) -> None:
    archive = _tar(tmp_path / f"site{suffix}", MEMBERS, mode)

    result = run_cli("--bucket", bucket, "--prefix", "arch", "--walk", "tar", "--json",
                     str(archive))  # fmt: skip

    assert result.code == 1, result.stderr  # the '..' member failed
    assert bucket_objects(s3_client, bucket) == {
        "arch/a.txt": MEMBERS["a.txt"],
        "arch/dir/b.json": MEMBERS["./dir/b.json"],
        "arch/absolute/c.bin": MEMBERS["/absolute/c.bin"],
    }
    assert result.summary["uploaded"] == 3
    assert result.summary["skipped"] == 1  # the symlink member
    assert result.summary["failed"] == 1
    assert "'..'" in result.summary["failures"][0]["error"]


def test_tar_from_s3_with_gzip_and_update(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    safe = {k: v for k, v in MEMBERS.items() if ".." not in k}
    archive = _tar(tmp_path / "site.tar.gz", safe, "w:gz")
    s3_client.upload_file(str(archive), bucket, "incoming/site.tar.gz")
    uri = f"s3://{bucket}/incoming/site.tar.gz"

    first = run_cli("--bucket", bucket, "--prefix", "out", "--walk", "tar", "--gzip", "--json", uri)
    again = run_cli("--bucket", bucket, "--prefix", "out", "--walk", "tar", "--gzip", "--json", uri)

    assert first.code == 0, first.stderr
    a = s3_client.get_object(Bucket=bucket, Key="out/a.txt")
    assert a["ContentEncoding"] == "gzip"
    assert gzip.decompress(a["Body"].read()) == MEMBERS["a.txt"]
    assert again.code == 0, again.stderr
    assert again.summary["uploaded"] == 0
    assert again.summary["skipped"] == 4  # three unchanged, one symlink member


def test_server_side_copy_from_a_source_bucket(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    source = f"{bucket}-src"
    s3_client.create_bucket(Bucket=source)
    objects = {"data/a.txt": b"a" * 10, "data/sub/b 1.bin": b"\0\1\2", "other/c.txt": b"c"}
    for key, body in objects.items():
        s3_client.put_object(Bucket=source, Key=key, Body=body, ContentType="x/custom")
    copy = ("--bucket", bucket, "--prefix", "mirror", "--walk", "s3", "--put", "copy", "--json")
    try:
        first = run_cli(*copy, f"s3://{source}/data")
        s3_client.put_object(Bucket=source, Key="data/a.txt", Body=b"changed")
        second = run_cli(*copy, f"s3://{source}/data")
    finally:
        for key in list(objects):
            s3_client.delete_object(Bucket=source, Key=key)
        s3_client.delete_bucket(Bucket=source)

    assert first.code == 0, first.stderr
    assert first.summary["uploaded"] == 2
    assert second.summary["uploaded"] == 1, "only the changed object is copied again"
    assert second.summary["skipped"] == 1
    assert bucket_objects(s3_client, bucket) == {
        "mirror/a.txt": b"changed",
        "mirror/sub/b 1.bin": b"\0\1\2",
    }
    copied = s3_client.head_object(Bucket=bucket, Key="mirror/sub/b 1.bin")
    assert copied["ContentType"] == "x/custom", "a copy keeps the object's metadata"


def test_resume_honours_only_records_of_the_same_bucket_and_endpoint(
    run_cli: Any, s3_server: LocalS3, s3_client: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    other = f"{bucket}-misc"
    s3_client.create_bucket(Bucket=other)
    try:
        log = tmp_path / "run.jsonl"
        assert run_cli("--bucket", bucket, "--report", str(log), str(tree)).code == 0
        line = json.loads(log.read_text().splitlines()[0])
        assert (line["bucket"], line["endpoint"]) == (bucket, s3_server.endpoint_url)

        moved = run_cli("--bucket", other, "--resume", str(log), "--json", str(tree))

        assert moved.code == 0, moved.stderr
        assert (moved.summary["uploaded"], moved.summary["skipped"]) == (len(TREE), 0)
        assert bucket_objects(s3_client, other) == {key: data for key, data in TREE.items()}
        warning = [line for line in moved.stderr.splitlines() if "--resume" in line]
        assert len(warning) == 1 and f"{len(TREE)} records ignored" in warning[0]
    finally:
        for key in TREE:
            s3_client.delete_object(Bucket=other, Key=key)
        s3_client.delete_bucket(Bucket=other)


def test_resume_from_a_report_not_there_yet_says_the_run_starts_fresh(
    run_cli: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    result = run_cli("--bucket", bucket, "--resume", str(tmp_path / "none.jsonl"), str(tree))

    assert result.code == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "--resume" in line]
    assert "no report there yet: the run starts fresh" in warning


@pytest.mark.parametrize("output", [[], ["-v"], ["--dry-run"]], ids=["plain", "verbose", "dry"])
def test_a_multi_processing_run_is_reported_as_a_spread_one(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, output: list[str]
) -> None:
    """Its workers are other processes: failures are listed in the summary, and asking
    for per-file lines says in one warning that they are not printed here."""
    tree = make_tree(tmp_path / "src", {"a.txt": b"a", "sub/b.txt": b"b"})
    os.chmod(tree / "sub" / "b.txt", 0)
    result = run_without_root_powers(
        ["--endpoint-url", s3_server.endpoint_url, "--bucket", bucket, *output, str(tree),
         "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
        s3_server.env(),
    )  # fmt: skip

    warned = [line for line in result.stderr.splitlines() if "not printed here" in line]
    assert len(warned) == (1 if output else 0), result.stderr
    assert "Worker:" not in result.stderr
    if output == ["--dry-run"]:
        assert result.code == 0 and "2 would be uploaded" in result.stdout
    else:
        assert result.code == 1
        assert f"  failed: {tree / 'sub' / 'b.txt'}: cannot read: Permission denied" in (
            result.stdout
        )
        assert set(bucket_objects(s3_client, bucket)) == {"a.txt"}
