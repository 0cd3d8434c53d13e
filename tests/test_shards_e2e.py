"""End to end: directory shards, sharded reports, resume from shards, --files-from."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bucket_objects, make_tree

SPREAD = ["--direct_num_workers", "2"]  # the local runner with Reshuffles between shards


def _lines(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for shard in sorted(directory.glob("*.jsonl"))
        for line in shard.read_text().splitlines()
    ]


@pytest.mark.parametrize("beam_args", [[], SPREAD], ids=["streamed", "spread"])
def test_a_big_directory_syncs_slice_by_slice(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    files = {f"big/{n:05d}.txt": f"{n}".encode() for n in range(4500)}  # 3 slices
    files.update({"other/a.txt": b"a", "z.txt": b"z"})
    tree = make_tree(tmp_path / "src", files)
    first = run_cli("--bucket", bucket, "--json", str(tree), *beam_args)
    assert first.code == 0, first.stderr
    assert first.summary["uploaded"] == len(files)
    for key in ("big/00000.txt", "big/02000.txt", "big/02001.txt", "big/04499.txt"):
        s3_client.delete_object(Bucket=bucket, Key=key)
    (tree / "big" / "03999.txt").write_bytes(b"changed")

    second = run_cli("--bucket", bucket, "--json", "-v", str(tree), *beam_args)

    assert second.code == 0, second.stderr
    uploaded = {
        line["key"]: line["reason"]
        for line in map(json.loads, second.stdout.splitlines()[:-1])
        if line["action"] == "uploaded"
    }
    assert uploaded == {
        "big/00000.txt": "new",
        "big/02000.txt": "new",
        "big/02001.txt": "new",
        "big/04499.txt": "new",
        "big/03999.txt": "size differs",
    }
    assert second.summary["skipped"] == len(files) - 5
    assert len(bucket_objects(s3_client, bucket)) == len(files)


def test_report_directory_gets_shards_and_resume_reads_them(
    run_cli: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {f"d{d}/f{f}": b"x" for d in range(5) for f in range(20)})
    reports = tmp_path / "reports"
    reports.mkdir()
    first = run_cli("--bucket", bucket, "--report", str(reports), "--json", str(tree), *SPREAD)
    assert first.code == 0, first.stderr
    lines = _lines(reports)
    assert len(lines) == 100 and {line["action"] for line in lines} == {"uploaded"}
    assert all(line["worker"].rsplit("/", 1)[1].isdigit() for line in lines)
    shard_count = len(list(reports.glob("*.jsonl")))

    again = run_cli("--bucket", bucket, "--resume", str(reports), "--json", str(tree), *SPREAD)

    assert again.code == 0, again.stderr
    assert again.summary["skipped"] == 100 and again.summary["uploaded"] == 0
    resumed = [line for line in _lines(reports) if line["reason"] == "recorded done (resume)"]
    assert len(resumed) == 100
    assert len(list(reports.glob("*.jsonl"))) > shard_count  # new shards, old ones untouched


@pytest.mark.parametrize("beam_args", [[], SPREAD], ids=["streamed", "spread"])
def test_files_from_uploads_the_listed_files_and_fails_bad_lines(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    tree = make_tree(tmp_path / "src", {"a/1.txt": b"1", "a/2.txt": b"2", "b/3.txt": b"3"})
    listing = tmp_path / "list.txt"
    listing.write_text("a/1.txt\nb/3.txt\n\nmissing.txt\n../src/a/2.txt\n/etc/hostname\na\n")

    result = run_cli(
        "--bucket", bucket, "--prefix", "p", "--files-from", str(listing), "--json", "-v",
        str(tree), *beam_args,
    )  # fmt: skip

    assert result.code == 1, result.stderr
    summary = result.summary
    assert (summary["uploaded"], summary["failed"], summary["skipped"]) == (2, 3, 1)
    assert bucket_objects(s3_client, bucket) == {"p/a/1.txt": b"1", "p/b/3.txt": b"3"}
    failed = {f["path"] for f in summary["failures"]}
    assert failed == {str(tree / "missing.txt"), "../src/a/2.txt", "/etc/hostname"}


@pytest.mark.parametrize("beam_args", [[], SPREAD], ids=["streamed", "spread"])
def test_files_from_reads_find_output_skips_comments_and_uploads_a_path_listed_twice_once(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    names = ["a.txt", "#hash.txt", "d/b.txt", "d/a", "d/ab", "d/e/c.txt", "u/é", "u/\U0001f600"]
    tree = make_tree(tmp_path / "src", {name: name.encode() for name in names})
    listing = tmp_path / "list.txt"
    found = [f"./{name}" for name in reversed(names)]  # as `find . -type f` prints them
    extra = ["# a comment", "", "; another", "./d/b.txt", "d//e/./c.txt", "../src/a.txt"]
    listing.write_text("\n".join(found[:3] + extra + found[3:]) + "\n")
    args = ["--bucket", bucket, "--prefix", "p", "--files-from", str(listing), "--json"]

    result = run_cli(*args, str(tree), *beam_args)

    assert result.code == 1, result.stderr  # the '..' line failed
    summary = result.summary
    counts = (summary["files"], summary["uploaded"], summary["skipped"], summary["failed"])
    assert counts == (11, 8, 2, 1)
    assert [f["path"] for f in summary["failures"]] == ["../src/a.txt"]
    assert bucket_objects(s3_client, bucket) == {f"p/{name}": name.encode() for name in names}

    again = run_cli(*args, "--put", "add", str(tree), *beam_args)  # every key listed: exists

    assert again.code == 1, again.stderr
    assert (again.summary["uploaded"], again.summary["skipped"]) == (0, 10)


def test_files_from_a_shuffled_list_of_a_big_directory_resyncs_exactly(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    names = [f"big/{n:05d}.txt" for n in range(4500)]  # 3 shards
    tree = make_tree(tmp_path / "src", {name: name.encode() for name in names})
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"./{name}\n" for name in random.Random(5).sample(names, 4500)))
    args = ["--bucket", bucket, "--files-from", str(listing), "--json", str(tree)]
    assert run_cli(*args).summary["uploaded"] == len(names)
    edges = ["big/00000.txt", "big/01999.txt", "big/02000.txt", "big/04000.txt", "big/04499.txt"]
    for key in edges[:-1]:
        s3_client.delete_object(Bucket=bucket, Key=key)
    (tree / edges[-1]).write_bytes(b"changed")

    again = run_cli(*args)

    assert again.code == 0, again.stderr
    assert (again.summary["uploaded"], again.summary["skipped"]) == (5, len(names) - 5)
    assert s3_client.get_object(Bucket=bucket, Key=edges[-1])["Body"].read() == b"changed"


def test_files_from_a_list_in_a_bucket_is_read_by_beams_text_source(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {f"d{n % 3}/{n}.txt": b"%d" % n for n in range(30)})
    listed = [f"d{n % 3}/{n}.txt" for n in range(0, 30, 2)]
    s3_client.put_object(Bucket=bucket, Key="lists/files.txt", Body="\n".join(listed).encode())

    result = run_cli(
        "--bucket", bucket, "--prefix", "up", "--files-from", f"s3://{bucket}/lists/files.txt",
        "--json", str(tree), *SPREAD,
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.summary["uploaded"] == len(listed)
    stored = {key for key in bucket_objects(s3_client, bucket) if key.startswith("up/")}
    assert stored == {f"up/{name}" for name in listed}


def test_a_runner_that_reports_no_metrics_needs_a_shared_temp_location(
    run_main_on_server: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a"})
    runner = "apache_beam.runners.dask.dask_runner.DaskRunner"
    refused = run_main_on_server("--bucket", bucket, str(tree), "--runner", runner)
    assert refused.code == 2
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "--temp_location" in refused.stderr
    assert bucket_objects(s3_client, bucket) == {}


def test_an_empty_files_from_list_is_a_run_of_no_files(
    run_cli: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a"})
    (tmp_path / "empty.txt").write_text("")

    result = run_cli(
        "--bucket", bucket, "--files-from", str(tmp_path / "empty.txt"), "--json", str(tree)
    )

    assert result.code == 0, result.stderr
    assert (result.summary["files"], result.summary["uploaded"]) == (0, 0)
