"""Unit tests for the pure logic: keys, put decisions, gzip, ETags, endpoints, options."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.body import Body, file_etag
from pipeline.config import PutMode, UploadConfig, resolve_endpoint
from pipeline.content import guess_content_type, gzip_bytes, should_gzip
from pipeline.decide import decide_put
from pipeline.errors import UsageError
from pipeline.naming import join_prefix, key_problem, relative_key
from pipeline.records import Action, FileResult, RemoteObject
from pipeline.results import MAX_LISTED_FAILURES, Summary
from pipeline.run import DEFAULT_RUNNER, pipeline_options
from pipeline.source import Root, resolve_sources, walk


@pytest.mark.parametrize(
    ("prefix", "relative", "key"),
    [
        ("", "a/b.txt", "a/b.txt"),
        ("site", "a/b.txt", "site/a/b.txt"),
        ("site/", "a/b.txt", "site/a/b.txt"),
        ("site//", "x", "site/x"),
        ("a b/é", "c d.txt", "a b/é/c d.txt"),
    ],
)
def test_join_prefix(prefix: str, relative: str, key: str) -> None:
    assert join_prefix(prefix, relative) == key


def test_relative_key_uses_slashes() -> None:
    assert relative_key("/src/a/b/c.txt", "/src") == "a/b/c.txt"
    assert relative_key("/src/c.txt", "/src/") == "c.txt"


def test_key_problems() -> None:
    assert key_problem("ok/name with spaces é+%#?.txt") is None
    assert "1024" in (key_problem("k" * 1025) or "")
    assert key_problem("k" * 1024) is None
    assert "UTF-8" in (key_problem("bad-\udcff-name") or "")


REMOTE = RemoteObject(key="k", size=3, etag="900150983cd24fb0d6963f7d28e17f72")  # md5("abc")


def _never() -> str:
    raise AssertionError("the local ETag must not be computed here")


@pytest.mark.parametrize(
    ("mode", "remote", "size", "etag", "expected"),
    [
        (PutMode.ADD, None, 3, _never, (True, "new")),
        (PutMode.ADD, REMOTE, 3, _never, (False, "exists")),
        (PutMode.UPDATE, None, 3, _never, (True, "new")),
        (PutMode.UPDATE, REMOTE, 4, _never, (True, "size differs")),
        (PutMode.UPDATE, REMOTE, 3, lambda: REMOTE.etag, (False, "unchanged")),
        (PutMode.UPDATE, REMOTE, 3, lambda: "0" * 32, (True, "changed")),
        (PutMode.UPDATE, REMOTE, None, lambda: REMOTE.etag, (False, "unchanged")),
    ],
)
def test_decide_put(mode, remote, size, etag, expected) -> None:  # type: ignore[no-untyped-def]
    assert decide_put(mode, remote, size, etag) == expected


def test_gzip_is_deterministic_and_round_trips() -> None:
    data = b"hello world\n" * 1000
    first, second = gzip_bytes(data), gzip_bytes(data)
    assert first == second
    assert gzip.decompress(first) == data
    assert first[4:8] == b"\0\0\0\0", "the gzip header's mtime must be zero"
    assert gzip.GzipFile(fileobj=io.BytesIO(first)).name == ""


def test_content_types_and_gzip_selection() -> None:
    assert guess_content_type("a/index.html") == "text/html"
    assert guess_content_type("x.unknownext") == "application/octet-stream"
    assert should_gzip("text/css", ())
    assert should_gzip("image/svg+xml", ())
    assert not should_gzip("image/png", ())
    assert should_gzip("image/png", ("all",))
    assert should_gzip("text/csv", ("text/*",))
    assert not should_gzip("text/html", ("application/json",))


def test_file_etag_single_and_multipart(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096 * 11  # 11 MiB
    path = tmp_path / "f"
    path.write_bytes(data)
    mib = 1024 * 1024
    body = Body(size=len(data), path=str(path))
    assert file_etag(body, 16 * mib, 5 * mib) == hashlib.md5(data).hexdigest()
    assert file_etag(Body(size=len(data), data=data), 16 * mib, 5 * mib) == file_etag(
        body, 16 * mib, 5 * mib
    )
    parts = [data[i : i + 5 * mib] for i in range(0, len(data), 5 * mib)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert file_etag(body, 8 * mib, 5 * mib) == f"{expected}-3"


def test_endpoint_resolution() -> None:
    plain = resolve_endpoint("http://127.0.0.1:8333", "us-east-1", None, "bkt")
    assert (plain.scheme, plain.host, plain.port, plain.path_style) == (
        "http",
        "127.0.0.1",
        8333,
        True,
    )
    assert plain.path("bkt", "a b/é+%.txt") == "/bkt/a%20b/%C3%A9%2B%25.txt"
    assert resolve_endpoint("minio:9000", "r", False, "b").url == "http://minio:9000"
    assert resolve_endpoint("minio:9000", "r", True, "b").url == "https://minio:9000"
    with pytest.raises(UsageError, match=r"no scheme.*http://minio:9000.*--insecure"):
        resolve_endpoint("minio:9000", "r", None, "b")
    aws = resolve_endpoint(None, "eu-west-1", None, "my-bucket")
    assert aws.url == "https://s3.eu-west-1.amazonaws.com"
    assert aws.authority("my-bucket") == "my-bucket.s3.eu-west-1.amazonaws.com"
    assert aws.path("my-bucket", "k") == "/k"
    assert resolve_endpoint(None, "us-east-1", None, "My.Bucket").path_style
    with pytest.raises(UsageError, match="conflicts"):
        resolve_endpoint("https://h", "r", False, "b")
    with pytest.raises(UsageError, match="scheme"):
        resolve_endpoint("ftp://h", "r", None, "b")
    with pytest.raises(UsageError, match="credentials"):
        resolve_endpoint("http://user:pw@h", "r", None, "b")


def test_config_validation() -> None:
    endpoint = resolve_endpoint("http://h:1", "r", None, "bkt")
    with pytest.raises(UsageError):
        UploadConfig(bucket="bkt", endpoint=endpoint, concurrency=0)
    with pytest.raises(UsageError):
        UploadConfig(bucket="b", endpoint=endpoint)


@pytest.mark.parametrize(
    ("text", "size"), [("8MiB", 8 * 1024**2), ("5m", 5 * 1024**2), ("100", 100), ("1GB", 1024**3)]
)
def test_parse_size(text: str, size: int) -> None:
    assert cli.parse_size(text) == size


def test_beam_options_pass_through_and_ours_stay_ours() -> None:
    args, beam = cli.parse(
        [
            "--bucket", "bkt", "--region", "eu-west-1", "src",
            "--runner", "PortableRunner", "--job_endpoint", "embed",
            "--direct_num_workers", "2",
        ]
    )  # fmt: skip
    assert args.bucket == "bkt"
    assert args.sources == ["src"]
    assert args.region == "eu-west-1"
    assert beam == {"runner": "PortableRunner", "job_endpoint": "embed", "direct_num_workers": 2}


def test_default_runner_is_the_offline_local_one() -> None:
    from apache_beam.options.pipeline_options import StandardOptions

    assert DEFAULT_RUNNER.endswith(".FnApiRunner")
    assert pipeline_options({}).view_as(StandardOptions).runner == DEFAULT_RUNNER
    chosen = pipeline_options({"runner": "PortableRunner"})
    assert chosen.view_as(StandardOptions).runner == "PortableRunner"


def test_summary_counts_and_merges() -> None:
    summary = Summary()
    summary.add(FileResult("p", "k", Action.UPLOADED, size=10, bytes_sent=4))
    summary.add(FileResult("p", "k", Action.SKIPPED))
    for _ in range(MAX_LISTED_FAILURES + 5):
        summary.add(FileResult("p", "k", Action.FAILED, error="boom"))
    other = Summary()
    other.add(FileResult("q", "j", Action.WOULD_UPLOAD))
    summary.merge(other)
    assert (summary.files, summary.uploaded, summary.skipped) == (MAX_LISTED_FAILURES + 8, 1, 1)
    assert (summary.failed, summary.would_upload, summary.bytes_uploaded) == (
        MAX_LISTED_FAILURES + 5,
        1,
        4,
    )
    assert len(summary.failures) == MAX_LISTED_FAILURES
    assert Summary.from_dict(summary.to_dict()) == summary


def test_walk_is_sorted_and_reports_special_files(tmp_path: Path) -> None:
    import os

    for name in ("b/2.txt", "b/1.txt", "a.txt", "c/d/e.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "missing", tmp_path / "broken")
    os.symlink(tmp_path / "c", tmp_path / "dirlink")
    items = list(walk(resolve_sources((str(tmp_path),)), "p"))
    files = [item.key for item in items if not isinstance(item, FileResult)]
    skipped = {item.key: item.reason for item in items if isinstance(item, FileResult)}
    assert files == ["p/a.txt", "p/b/1.txt", "p/b/2.txt", "p/c/d/e.txt"]
    assert skipped == {
        "p/broken": "broken symbolic link",
        "p/dirlink": "symbolic link to a directory (use --follow-symlinks)",
        "p/fifo": "not a regular file",
    }
    assert resolve_sources((str(tmp_path / "b" / "*.txt"),))[0] == Root(
        path=str(tmp_path / "b" / "1.txt"), base=str(tmp_path / "b")
    )


def test_metadata_headers() -> None:
    from pipeline.metadata import metadata_headers

    assert metadata_headers(
        ["Cache-Control: max-age=60", "x-amz-meta-a: b"], "public-read", "GLACIER", "aws:kms", "k1"
    ) == (
        ("Cache-Control", "max-age=60"),
        ("x-amz-meta-a", "b"),
        ("x-amz-acl", "public-read"),
        ("x-amz-storage-class", "GLACIER"),
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "k1"),
    )
    with pytest.raises(UsageError, match="more than once"):
        metadata_headers(["Expires: a", "expires: b"], None, None, None, None)
    with pytest.raises(UsageError, match="needs --sse aws:kms"):
        metadata_headers([], None, None, "AES256", "k1")


def test_filters_last_matching_rule_wins() -> None:
    from pipeline.filters import EXCLUDE, INCLUDE, FileFilter

    rules = FileFilter.build([(EXCLUDE, "*.log"), (INCLUDE, "keep/*")], None)
    assert rules.selects("a.txt", 0)
    assert not rules.selects("x/b.log", 0)
    assert rules.selects("keep/b.log", 0)
    aged = FileFilter.build([], 1)
    assert not aged.selects("a", 0)
    assert aged.selects("a", 4102444800)  # year 2100


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a.txt", "a.txt"),
        ("./d/b.txt", "d/b.txt"),
        ("/etc/passwd", "etc/passwd"),
        ("d//e/./f", "d/e/f"),
        ("../evil", None),
        ("d/../../evil", None),
        ("..", None),
        ("./", None),
    ],
)
def test_member_key_names_never_escape(name: str, key: str | None) -> None:
    from pipeline.archive import member_key_name

    assert member_key_name(name) == key


def test_an_unreadable_directory_becomes_a_failure_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads every directory, so the refusal is simulated for this narrow unit test.
    import os

    from pipeline import source

    for name in ("open/a.txt", "closed/b.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if str(path).endswith("closed"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(source.os, "scandir", scandir)
    items = list(walk(resolve_sources((str(tmp_path),)), ""))
    assert [i.key for i in items if not isinstance(i, FileResult)] == ["open/a.txt"]
    failures = [i for i in items if isinstance(i, FileResult)]
    assert [(f.key, f.action) for f in failures] == [("closed/", Action.FAILED)]
    assert "cannot read directory: Permission denied" in failures[0].error
