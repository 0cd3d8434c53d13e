"""Bad usage and configuration that the CLI finds before it asks a server anything: one
clear line on stderr, exit code 2, no traceback.

The CLI's ``main()`` runs in this process (``run_main``) and is sent to an endpoint where
nothing answers, so an error found late would say "cannot reach" instead. The errors
that need the server's answer, and the real commands (``python -m pipeline``, the
``s3-parallel-put`` script), are in tests/test_errors_e2e.py.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_usage_error, make_tree, offline_env

BUCKET = "bkt"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})


def test_missing_source(run_main: Any, tmp_path: Path) -> None:
    result = run_main("--bucket", BUCKET, str(tmp_path / "nothing"))
    assert_usage_error(result, "does not exist")


def test_glob_matching_nothing(run_main: Any, tmp_path: Path) -> None:
    result = run_main("--bucket", BUCKET, str(tmp_path / "*.nothing"))
    assert_usage_error(result, "matches no file")


def test_unreachable_endpoint(run_main: Any, tree: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        result = run_main("--bucket", BUCKET, str(tree), endpoint=f"http://127.0.0.1:{port}")
    assert_usage_error(result, "cannot reach", f"127.0.0.1:{port}")


def test_no_credentials(run_main: Any, tree: Path) -> None:
    env = offline_env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = run_main("--bucket", BUCKET, str(tree), env=env)
    assert_usage_error(result, "no AWS credentials")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--prefx", "x"], ["unrecognized arguments", "--prefx"]),
        (["--put", "sometimes"], ["--put", "invalid choice"]),
        (["--processes", "0"], ["must be at least 1"]),
        (["--limit", "-1"], ["--limit"]),
        (["--multipart-chunksize", "1MiB"], ["at least 5 MiB"]),
        (["--insecure", "--endpoint-url", "https://127.0.0.1:1"], ["conflicts"]),
        (["--secure", "--insecure"], ["not allowed with"]),
    ],
)
def test_invalid_options(run_main: Any, tree: Path, args: list[str], words: list[str]) -> None:
    result = run_main("--bucket", BUCKET, *args, str(tree))
    assert_usage_error(result, *words)


def test_missing_bucket_option(run_main: Any, tree: Path) -> None:
    result = run_main(str(tree))
    assert_usage_error(result, "--bucket")


def test_a_bad_rate_is_a_usage_error(run_main: Any, tmp_path: Path) -> None:
    result = run_main("--bucket", BUCKET, "--bwlimit", "10 Mbit", str(tmp_path))
    assert_usage_error(result, "--bwlimit: not a rate: '10 Mbit'")


def test_size_with_gzip_is_refused(run_main: Any, tree: Path) -> None:
    result = run_main("--bucket", BUCKET, "--gzip", "--compare", "size", str(tree))
    assert_usage_error(result, "--compare size")


@pytest.mark.parametrize(
    "options",
    [["--delete", "--limit", "1"], ["--delete", "--files-from", "LIST"], ["--max-delete", "5"]],
    ids=["limit", "files-from", "max-delete-alone"],
)
def test_delete_refuses_what_cannot_see_the_whole_tree(
    run_main: Any, tree: Path, tmp_path: Path, options: list[str]
) -> None:
    (tmp_path / "list.txt").write_text("a.txt\n")
    options = [str(tmp_path / "list.txt") if o == "LIST" else o for o in options]

    result = run_main("--bucket", BUCKET, *options, str(tree))

    assert_usage_error(result, "--delete" if "--delete" in options else "--max-delete")


def test_tar_source_must_be_an_archive(run_main: Any, tmp_path: Path) -> None:
    result = run_main("--bucket", BUCKET, "--walk", "tar", str(tmp_path))
    assert_usage_error(result, "not an archive file")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--walk", "s3", "s3://x-src"], ["--walk s3"]),
        (["--put", "copy", "."], ["--put copy"]),
        (["--walk", "s3", "--put", "copy", "src"], ["s3://"]),
        # a copy keeps the source's metadata: options that would set it are refused
        (["--walk", "s3", "--put", "copy", "--header", "Cache-Control: no-cache", "s3://x-src"],
         ["--header"]),
        (["--walk", "s3", "--put", "copy", "--storage-class", "STANDARD_IA", "s3://x-src"],
         ["--storage-class"]),
        (["--walk", "s3", "--put", "copy", "--sse", "AES256", "s3://x-src"], ["--sse"]),
        (["--walk", "s3", "--put", "copy", "--grant", "public-read", "s3://x-src"], ["--grant"]),
    ],
)  # fmt: skip
def test_copy_options_must_go_together(run_main: Any, args: list[str], words: list[str]) -> None:
    result = run_main("--bucket", BUCKET, *args)
    assert_usage_error(result, *words)


def test_files_from_needs_one_source_directory(run_main: Any, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("a\n")
    two = run_main("--bucket", BUCKET, "--files-from", str(listing), str(tmp_path), str(tmp_path))
    missing = run_main("--bucket", BUCKET, "--files-from", str(tmp_path / "none"), str(tmp_path))
    assert_usage_error(two, "--files-from")
    assert_usage_error(missing, "--files-from")


def _process_state() -> tuple[object, ...]:
    root, files = logging.getLogger(), logging.getLogger("pipeline.files")
    return (
        root.handlers[:], root.filters[:], root.level,
        files.handlers[:], files.level, files.propagate,
        logging.getLogger("botocore").level,
        gc.get_threshold(), gc.get_freeze_count(),
        signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM),
        tempfile.tempdir, dict(os.environ), os.getcwd(),
    )  # fmt: skip


def test_main_in_this_process_leaves_it_as_it_was(run_main: Any, tmp_path: Path) -> None:
    # An error found late: after main() set up logging and the run's temporary
    # directory, froze the garbage collector and loaded the transport.
    before = _process_state()
    temp_dirs = set(Path(tempfile.gettempdir()).glob("s3pp-run-*"))

    result = run_main("--bucket", BUCKET, str(tmp_path / "nothing"))

    assert_usage_error(result, "does not exist")
    assert _process_state() == before
    assert set(Path(tempfile.gettempdir()).glob("s3pp-run-*")) == temp_dirs
