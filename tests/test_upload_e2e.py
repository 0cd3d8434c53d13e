"""End to end: the real CLI against a real SeaweedFS, asserting on what the bucket holds."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bucket_objects, make_tree

TREE = {
    "index.html": b"<h1>hello</h1>\n",
    "css/site.css": b"body { color: red }\n" * 50,
    "js/app.js": b"console.log(1);\n",
    "data/report 2026.json": b'{"a": 1}\n',
    "docs/na\u00efve caf\u00e9.txt".encode().decode(): b"accents\n",
    "deep/a/b/c/d/blob.bin": os.urandom(3000),
    "empty.txt": b"",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", TREE)


def test_uploads_tree_with_keys_bytes_and_types(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    result = run_cli("--bucket", bucket, "--prefix", "site", "--json", str(tree))

    assert result.code == 0, result.stderr
    assert bucket_objects(s3_client, bucket) == {f"site/{k}": v for k, v in TREE.items()}
    head = s3_client.head_object(Bucket=bucket, Key="site/index.html")
    assert head["ContentType"] == "text/html"
    assert "ContentEncoding" not in head
    assert s3_client.head_object(Bucket=bucket, Key="site/css/site.css")["ContentType"] == (
        "text/css"
    )
    assert s3_client.head_object(Bucket=bucket, Key="site/deep/a/b/c/d/blob.bin")[
        "ContentType"
    ] == ("application/octet-stream")
    summary = result.summary
    assert summary["files"] == len(TREE)
    assert summary["uploaded"] == len(TREE)
    assert summary["skipped"] == 0
    assert summary["failed"] == 0
    assert summary["bytes_uploaded"] == sum(len(v) for v in TREE.values())


def test_human_summary_is_printed(run_cli: Any, bucket: str, tree: Path) -> None:
    result = run_cli("--bucket", bucket, str(tree))

    assert result.code == 0, result.stderr
    assert f"{len(TREE)} files: {len(TREE)} uploaded, 0 skipped, 0 failed" in result.stdout
    assert " sent in " in result.stdout


def test_update_skips_unchanged_and_uploads_exactly_the_changed(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    assert run_cli("--bucket", bucket, "--json", str(tree)).code == 0

    rerun = run_cli("--bucket", bucket, "--json", str(tree))
    assert rerun.code == 0, rerun.stderr
    assert rerun.summary["uploaded"] == 0
    assert rerun.summary["skipped"] == len(TREE)

    (tree / "index.html").write_bytes(b"<h1>HELLO</h1>\n")  # same size, new content
    (tree / "js/app.js").write_bytes(b"console.log('a longer script');\n")  # new size
    (tree / "new.txt").write_bytes(b"new file\n")
    edited = run_cli("--bucket", bucket, "--json", "-v", str(tree))

    assert edited.code == 0, edited.stderr
    assert edited.summary["uploaded"] == 3
    assert edited.summary["skipped"] == len(TREE) - 2
    per_file = [json.loads(line) for line in edited.stdout.splitlines()[:-1]]
    uploaded = {line["key"] for line in per_file if line["action"] == "uploaded"}
    assert uploaded == {"index.html", "js/app.js", "new.txt"}
    assert bucket_objects(s3_client, bucket)["index.html"] == b"<h1>HELLO</h1>\n"


def test_add_never_overwrites(run_cli: Any, s3_client: Any, bucket: str, tree: Path) -> None:
    s3_client.put_object(Bucket=bucket, Key="index.html", Body=b"keep me")

    result = run_cli("--bucket", bucket, "--put", "add", "--json", str(tree))

    assert result.code == 0, result.stderr
    objects = bucket_objects(s3_client, bucket)
    assert objects["index.html"] == b"keep me"
    assert objects["css/site.css"] == TREE["css/site.css"]
    assert result.summary["skipped"] == 1
    assert result.summary["uploaded"] == len(TREE) - 1


def test_stupid_always_uploads(run_cli: Any, bucket: str, tree: Path) -> None:
    assert run_cli("--bucket", bucket, str(tree)).code == 0

    again = run_cli("--bucket", bucket, "--put", "stupid", "--json", str(tree))

    assert again.code == 0, again.stderr
    assert again.summary["uploaded"] == len(TREE)


def test_dry_run_writes_nothing_and_says_what_it_would_do(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    result = run_cli("--bucket", bucket, "--prefix", "p/", "--dry-run", str(tree))

    assert result.code == 0, result.stderr
    assert bucket_objects(s3_client, bucket) == {}
    would = [line for line in result.stdout.splitlines() if line.startswith("would upload")]
    assert len(would) == len(TREE)
    assert any(line.endswith(f"s3://{bucket}/p/index.html (new)") for line in would)
    assert f"{len(TREE)} would be uploaded (dry run)" in result.stdout


def test_limit_stops_after_n_files(run_cli: Any, s3_client: Any, bucket: str, tree: Path) -> None:
    result = run_cli("--bucket", bucket, "--limit", "3", "--json", str(tree))

    assert result.code == 0, result.stderr
    assert len(bucket_objects(s3_client, bucket)) == 3
    assert result.summary["files"] == 3
    assert result.summary["uploaded"] == 3


def test_gzip_is_deterministic_and_marked(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    first = run_cli("--bucket", bucket, "--gzip", "--json", str(tree))
    assert first.code == 0, first.stderr

    css = s3_client.get_object(Bucket=bucket, Key="css/site.css")
    assert css["ContentEncoding"] == "gzip"
    assert css["ContentType"] == "text/css"
    assert gzip.decompress(css["Body"].read()) == TREE["css/site.css"]
    blob = s3_client.get_object(Bucket=bucket, Key="deep/a/b/c/d/blob.bin")
    assert "ContentEncoding" not in blob  # not a text type
    assert blob["Body"].read() == TREE["deep/a/b/c/d/blob.bin"]

    rerun = run_cli("--bucket", bucket, "--gzip", "--json", str(tree))
    assert rerun.code == 0, rerun.stderr
    assert rerun.summary["uploaded"] == 0, "gzip output must be the same bytes on every run"


def test_fixed_content_type(run_cli: Any, s3_client: Any, bucket: str, tree: Path) -> None:
    result = run_cli("--bucket", bucket, "--content-type", "application/x-custom", str(tree))

    assert result.code == 0, result.stderr
    head = s3_client.head_object(Bucket=bucket, Key="index.html")
    assert head["ContentType"] == "application/x-custom"


def test_single_file_and_glob_sources(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    single = run_cli("--bucket", bucket, "--prefix", "one", str(tree / "css/site.css"))
    pattern = run_cli("--bucket", bucket, "--prefix", "glob", str(tree / "*" / "*.js*"))

    assert single.code == 0, single.stderr
    assert pattern.code == 0, pattern.stderr
    assert set(bucket_objects(s3_client, bucket)) == {
        "one/site.css",
        "glob/js/app.js",
        "glob/data/report 2026.json",
    }


def test_multipart_upload_and_update_compare(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(12 * 1024 * 1024 + 123)
    src = make_tree(tmp_path / "big", {"big.bin": data})
    sizes = ("--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB")

    first = run_cli("--bucket", bucket, *sizes, "--json", str(src))

    assert first.code == 0, first.stderr
    head = s3_client.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3")
    body = s3_client.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    rerun = run_cli("--bucket", bucket, *sizes, "--json", str(src))
    assert rerun.code == 0, rerun.stderr
    assert rerun.summary["skipped"] == 1, "the multipart ETag is recomputed locally"


def test_a_failed_file_is_counted_and_the_rest_uploaded(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    deep = tree / "/".join(["d" * 200] * 6) / "too-long-key.txt"  # key > 1024 bytes
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"x")

    result = run_cli("--bucket", bucket, "--json", str(tree))

    assert result.code == 1
    assert result.summary["failed"] == 1
    assert result.summary["uploaded"] == len(TREE)
    assert "1024" in result.summary["failures"][0]["error"]
    assert "Traceback" not in result.stderr
    assert len(bucket_objects(s3_client, bucket)) == len(TREE)


def test_portable_runner_uploads(run_cli: Any, s3_client: Any, bucket: str, tree: Path) -> None:
    result = run_cli(
        "--bucket", bucket, "--json", str(tree),
        "--runner", "PortableRunner", "--job_endpoint", "embed",
        "--environment_type", "LOOPBACK",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.summary["uploaded"] == len(TREE)
    assert bucket_objects(s3_client, bucket) == TREE


def test_direct_num_workers_passes_through(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path
) -> None:
    result = run_cli("--bucket", bucket, "--json", str(tree), "--direct_num_workers", "2")

    assert result.code == 0, result.stderr
    assert bucket_objects(s3_client, bucket) == TREE


# No backslash here: SeaweedFS itself stores "a\\b" as "a/b" (boto3 sees the same).
ODD_NAMES = {
    "odd/a+b.txt": b"plus",
    "odd/100%.txt": b"percent",
    "odd/hash#tag.txt": b"hash",
    "odd/what?.txt": b"question",
    "odd/sp  ace .txt": b"spaces",
    "odd/\u65e5\u672c\u8a9e/\u00fcber.txt": b"unicode",
    "odd/tilde~and=equals&amp;.txt": b"tilde",
}


def test_odd_names_round_trip_and_compare_as_unchanged(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", ODD_NAMES)

    first = run_cli("--bucket", bucket, "--json", str(src))
    rerun = run_cli("--bucket", bucket, "--json", str(src))
    head_rerun = run_cli("--bucket", bucket, "--json", "--limit", "50", str(src))

    assert first.code == 0, first.stderr
    assert bucket_objects(s3_client, bucket) == ODD_NAMES
    assert rerun.summary["skipped"] == len(ODD_NAMES), "listing must decode every key"
    assert head_rerun.summary["skipped"] == len(ODD_NAMES), "HEAD must encode every key"


def test_directory_listing_spanning_pages(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    files = {f"many/f{i:05d}": str(i).encode() for i in range(1105)}
    files["many/sub/inner.txt"] = b"inner"
    src = make_tree(tmp_path / "src", files)
    s3_client.put_object(Bucket=bucket, Key="many/f00007", Body=b"stale")

    first = run_cli("--bucket", bucket, "--json", str(src))
    rerun = run_cli("--bucket", bucket, "--json", str(src))

    assert first.code == 0, first.stderr
    assert first.summary["uploaded"] == len(files)
    assert bucket_objects(s3_client, bucket)["many/f00007"] == b"7"
    assert rerun.summary["skipped"] == len(files), "all pages of a listing must be read"
