"""--delete against the real server: stale objects go, the rest stays, each deletion is a
report line, the guards (an unreadable directory, --max-delete, refused options) delete
nothing, and Ctrl-C says what it left deleted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import FaultProxy, FaultRules
from devsupport.locals3 import LocalS3
from tests.conftest import REPO, make_tree, run_without_root_powers

TREE = {"index.html": b"<p>", "css/site.css": b"p{}", "img/a.png": b"png"}
STALE = ["site/old.html", "site/css/old.css", "site/gone/deep/x.bin"]
OUTSIDE = ["other/x.txt", "site-two/y.txt"]
_WAIT_S = 60.0


def _put(s3_client: Any, bucket: str, keys: list[str]) -> None:
    for key in keys:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"stale")


def _keys(s3_client: Any, bucket: str) -> set[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


@pytest.mark.parametrize("beam", [[], ["--direct_num_workers", "2"]], ids=["local", "spread"])
def test_delete_removes_what_no_file_maps_to(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam: list[str]
) -> None:
    tree = make_tree(tmp_path / "src", TREE)
    _put(s3_client, bucket, STALE + OUTSIDE)
    report = tmp_path / "report.jsonl"

    result = run_cli(
        "--bucket", bucket, "--prefix", "site", "--delete", "--json", "--report", str(report),
        *beam, str(tree),
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert _keys(s3_client, bucket) == {f"site/{name}" for name in TREE} | set(OUTSIDE)
    summary = result.summary
    assert (summary["deleted"], summary["uploaded"], summary["files"]) == (3, 3, 3)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(line["key"] for line in lines if line["action"] == "deleted") == sorted(STALE)


def test_a_dry_run_lists_the_deletions_and_makes_none(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", TREE)
    _put(s3_client, bucket, STALE)

    result = run_cli("--bucket", bucket, "--prefix", "site", "--delete", "--dry-run", str(tree))

    assert result.code == 0, result.stderr
    assert sorted(
        line.split()[2] for line in result.stdout.splitlines() if line.startswith("would delete")
    ) == sorted(f"s3://{bucket}/{key}" for key in STALE)
    assert set(STALE) <= _keys(s3_client, bucket)


def test_more_deletions_than_max_delete_makes_none(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", TREE)
    _put(s3_client, bucket, STALE)

    result = run_cli(
        "--bucket", bucket, "--prefix", "site", "--delete", "--max-delete", "2", str(tree)
    )

    assert result.code == 1
    assert "nothing deleted" in result.stderr and "--max-delete 2" in result.stderr
    assert "(--dry-run lists them)" in result.stderr
    assert set(STALE) <= _keys(s3_client, bucket)


def test_a_dry_run_lists_the_deletions_that_max_delete_would_withhold(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", TREE)
    _put(s3_client, bucket, STALE)

    result = run_cli(
        "--bucket", bucket, "--prefix", "site", "--delete", "--max-delete", "2", "--dry-run",
        str(tree),
    )  # fmt: skip

    assert result.code == 1, result.stderr
    listed = [line for line in result.stdout.splitlines() if line.startswith("would delete")]
    assert sorted(line.split()[2] for line in listed) == sorted(
        f"s3://{bucket}/{key}" for key in STALE
    )
    assert all(line.endswith("withheld: more than --max-delete 2 planned)") for line in listed)
    assert (
        "--delete: a run would delete nothing: 3 objects that no file maps to, more than "
        "--max-delete 2"
    ) in result.stderr
    assert set(STALE) <= _keys(s3_client, bucket)


def _delete_with_unreadable(
    s3_server: LocalS3, bucket: str, unreadable: Path, *options: str
) -> Any:
    """--delete of ``unreadable``'s parent tree into the prefix 'site', as a user who
    cannot read ``unreadable``."""
    os.chmod(unreadable, 0)
    try:
        return run_without_root_powers(
            ["--endpoint-url", s3_server.endpoint_url, "--bucket", bucket, "--prefix", "site",
             "--delete", *options, str(unreadable.parent)],
            s3_server.env(),
        )  # fmt: skip
    finally:
        os.chmod(unreadable, 0o755)


def test_an_unreadable_directory_means_nothing_is_deleted(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {**TREE, "private/secret.txt": b"s"})
    _put(s3_client, bucket, [*STALE, "site/private/secret.txt"])

    result = _delete_with_unreadable(s3_server, bucket, tree / "private")

    assert result.code == 1
    assert "nothing deleted" in result.stderr and "could not be read" in result.stderr
    assert {*STALE, "site/private/secret.txt"} <= _keys(s3_client, bucket)


def test_a_damaged_archive_means_nothing_is_deleted(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    import io
    import tarfile

    members = {f"m{i}.bin": os.urandom(50_000) for i in range(4)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "damaged.tar.gz"
    archive.write_bytes(raw.getvalue()[: len(raw.getvalue()) // 2])  # cut in the middle
    _put(s3_client, bucket, STALE)

    result = run_cli(
        "--bucket", bucket, "--prefix", "site", "--walk", "tar", "--delete", str(archive)
    )

    assert result.code == 1
    assert "nothing deleted" in result.stderr and "could not be read" in result.stderr
    assert set(STALE) <= _keys(s3_client, bucket)


def test_the_age_filter_never_makes_the_object_of_an_old_file_stale(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    import time

    tree = make_tree(tmp_path / "d", {"old.txt": b"old", "new.txt": b"new", "sub/old2.txt": b"o"})
    month_ago = time.time() - 30 * 86400
    for name in ("old.txt", "sub/old2.txt"):
        os.utime(tree / name, (month_ago, month_ago))
    assert run_cli("--bucket", bucket, "--prefix", "age2", str(tree)).code == 0
    _put(s3_client, bucket, ["age2/gone.txt"])

    result = run_cli(
        "--bucket", bucket, "--prefix", "age2", "--delete", "--ignore-files-older-than-days",
        "7", "--json", str(tree),
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.summary["deleted"] == 1
    assert _keys(s3_client, bucket) == {"age2/old.txt", "age2/new.txt", "age2/sub/old2.txt"}


@pytest.mark.parametrize("source", ["GLOB", "FILE"])
def test_delete_mirrors_directories_only(
    run_main_on_server: Any, s3_client: Any, bucket: str, tmp_path: Path, source: str
) -> None:
    tree = make_tree(tmp_path / "t1" / "site", {**TREE, "b/c/s.txt": b"s", "b/debug.log": b"l"})
    _put(s3_client, bucket, ["site/index.html", "site/b/c/s.css", "site/b/debug.log"])
    before = _keys(s3_client, bucket)
    argument = str(tree / "*" / "*.txt") if source == "GLOB" else str(tree / "index.html")

    result = run_main_on_server(
        "--bucket", bucket, "--prefix", "site", "--delete", "--dry-run", argument
    )

    assert result.code == 2
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert "--delete mirrors directories" in error and "--include/--exclude" in error
    assert _keys(s3_client, bucket) == before


def test_an_excluded_directory_is_not_read_so_it_cannot_withhold_deletions(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {**TREE, "locked/secret.txt": b"s"})
    _put(s3_client, bucket, [*STALE, "site/locked/secret.txt"])

    result = _delete_with_unreadable(
        s3_server, bucket, tree / "locked", "--exclude", "locked/*", "--json"
    )

    assert result.code == 0, result.stderr
    assert (result.summary["deleted"], result.summary["failed"]) == (3, 0)
    assert _keys(s3_client, bucket) == {f"site/{name}" for name in TREE} | {
        "site/locked/secret.txt"
    }


def test_a_name_the_server_stores_under_another_key_fails_and_never_churns(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    # SeaweedFS stores 'back\slash.txt' as 'back/slash.txt'.
    tree = make_tree(tmp_path / "t5", {"d/back\\slash.txt": b"b", "d/plain.txt": b"p"})
    _put(s3_client, bucket, ["spec/d/stale.txt"])

    for run in range(2):
        result = run_cli("--bucket", bucket, "--prefix", "spec", "--delete", "-v", str(tree))

        assert result.code == 1
        assert "'spec/d/back\\\\slash.txt' as 'spec/d/back/slash.txt'" in result.stderr
        assert "delete " + f"s3://{bucket}/spec/d/back" not in result.stdout
        assert _keys(s3_client, bucket) == {"spec/d/plain.txt"}
        assert ("delete " + f"s3://{bucket}/spec/d/stale.txt" in result.stdout) == (run == 0)


def test_a_name_that_would_overwrite_another_object_is_not_uploaded(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "t", {"back\\slash.txt": b"mine"})
    s3_client.put_object(Bucket=bucket, Key="spec/back/slash.txt", Body=b"theirs")

    result = run_cli("--bucket", bucket, "--prefix", "spec", "--put", "stupid", str(tree))

    assert result.code == 1
    assert "not uploaded, so that object is not overwritten" in result.stderr
    body = s3_client.get_object(Bucket=bucket, Key="spec/back/slash.txt")["Body"].read()
    assert body == b"theirs"


def test_a_dry_run_shows_a_name_that_would_land_on_another_object_fail(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """Found by the property test: only when the key it would land on holds an object can
    a dry run, which writes nothing, see that the file would fail."""
    tree = make_tree(tmp_path / "t", {"x\\y": b"mine", "a\\b": b"new"})
    s3_client.put_object(Bucket=bucket, Key="site/x/y", Body=b"theirs")

    result = run_cli("--bucket", bucket, "--prefix", "site", "--dry-run", "--json", str(tree))

    assert result.code == 1
    assert (result.summary["failed"], result.summary["would_upload"]) == (1, 1)
    assert "'site/x\\\\y' as 'site/x/y'" in result.stderr
    assert _keys(s3_client, bucket) == {"site/x/y"}


def _interrupted_while_held(
    s3_server: LocalS3, bucket: str, tree: Path, held: Callable[[str, str], bool]
) -> tuple[int, str]:
    """--delete of ``tree`` into the prefix 'site' through a proxy that holds the first
    request for which ``held(method, target)`` is true; Ctrl-C while it is held, and once
    the command has said it was interrupted, the request goes on. The exit code and
    stderr."""
    holding, release, interrupted = threading.Event(), threading.Event(), threading.Event()

    def before_forward(method: str, target: str) -> None:
        if not holding.is_set() and held(method, target):
            holding.set()
            release.wait(_WAIT_S)

    with FaultProxy(s3_server.port, FaultRules()) as proxy:
        proxy.before_forward = before_forward
        cli = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "--endpoint-url", proxy.endpoint_url,
             "--bucket", bucket, "--prefix", "site", "--delete", str(tree)],
            env=s3_server.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, cwd=REPO,
        )  # fmt: skip
        said: list[str] = []

        def read_stderr() -> None:
            assert cli.stderr is not None
            for line in cli.stderr:
                said.append(line)
                if "interrupted" in line:
                    interrupted.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        try:
            assert holding.wait(_WAIT_S), "the request to hold was never sent"
            cli.send_signal(signal.SIGINT)
            assert interrupted.wait(_WAIT_S), "".join(said)
            release.set()
            cli.wait(_WAIT_S)
        finally:
            release.set()
            if cli.poll() is None:
                cli.kill()
                cli.wait(_WAIT_S)
            reader.join(_WAIT_S)
    return cli.returncode, "".join(said)


def test_ctrl_c_while_deleting_says_how_many_were_deleted_and_exits_130(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", TREE)
    stale = [f"site/old/{i:02}.txt" for i in range(30)]
    _put(s3_client, bucket, stale)

    def deleting(method: str, target: str) -> bool:
        return method == "POST" and target.endswith("?delete")  # a DeleteObjects batch

    code, stderr = _interrupted_while_held(s3_server, bucket, tree, deleting)

    assert code == 130, stderr
    left = sorted(_keys(s3_client, bucket) & set(stale))
    deleted = len(stale) - len(left)
    assert 0 < deleted < len(stale)  # the batch held when Ctrl-C came, and no other
    said = (
        f"--delete: interrupted after deleting {deleted} of the objects that no file maps "
        f"to; {len(left)} more were not deleted"
    )
    assert said in stderr
    assert "Traceback" not in stderr


def test_ctrl_c_before_deleting_says_nothing_was_deleted_and_exits_130(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", TREE)
    _put(s3_client, bucket, STALE)

    code, stderr = _interrupted_while_held(
        s3_server, bucket, tree, lambda method, _: method == "PUT"
    )

    assert code == 130, stderr
    assert "--delete: interrupted: no object was deleted" in stderr
    assert set(STALE) <= _keys(s3_client, bucket)
