"""The pipeline's steps in a TestPipeline against the in-memory fake transport: the put
decision (one listing per shard, or a HEAD per file), the in-flight window, retries and
change detection, and the control plane; fast, and without a server."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from hypothesis import given, settings
from hypothesis import strategies as st

from devsupport.fakes3 import SERVER, FakeControl, FakeObject, FakeTransport, object_etag
from pipeline import Action, UploadConfig, UploadSources
from pipeline.checksums import ChecksumCache
from pipeline.errors import UsageError
from pipeline.observer import SILENT, RunObserver
from pipeline.options import CompareMode, PutMode, TransportOptions, WalkKind
from pipeline.plan import DEFAULT_RUNNER
from pipeline.progress import Progress
from pipeline.records import Precondition
from pipeline.report.resume import resume_files
from pipeline.report.staging import stage_in
from pipeline.transport import PutRequest
from pipeline.transport.errors import ErrorKind
from tests.conftest import FAKE_BUCKET, make_tree

BUCKET = FAKE_BUCKET
pytestmark = pytest.mark.usefixtures("fake_s3")


def _config(**fields: Any) -> UploadConfig:
    return UploadConfig.for_bucket(BUCKET, "http://127.0.0.1:9", factory=FakeTransport, **fields)


def _run(
    config: UploadConfig,
    sources: list[str],
    spread: bool = False,
    observer: RunObserver = SILENT,
) -> list[Any]:
    """The results of uploading ``sources``, as (key, action, reason or error, retries)."""
    _RESULTS.clear()
    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        upload = UploadSources(config, spread=spread, observer=observer)
        found = p | beam.Create(sources) | upload
        rows = found | beam.Map(lambda r: (r.key, r.action, r.reason or r.error, r.retries))
        _ = rows | beam.combiners.ToList() | beam.Map(_collect)
    return sorted(_RESULTS)


_RESULTS: list[Any] = []  # what the in-process workers produced (they run in this process)


def _collect(rows: list[Any]) -> None:
    _RESULTS.extend(rows)


def _stored(key: str, data: bytes) -> None:
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    SERVER.buckets[BUCKET][key] = FakeObject(data, etag, 0.0)


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_update_decides_by_one_listing_per_directory(tmp_path: Path, spread: bool) -> None:
    tree = make_tree(
        tmp_path / "t",
        {"a/same.txt": b"same", "a/changed.txt": b"new!", "b/new.txt": b"n", "top.txt": b"t"},
    )
    _stored("a/same.txt", b"same")
    _stored("a/changed.txt", b"old!")  # the same size: only the MD5 tells

    results = _run(_config(), [str(tree)], spread)

    assert results == [
        ("a/changed.txt", Action.UPLOADED, "changed", 0),
        ("a/same.txt", Action.SKIPPED, "unchanged", 0),
        ("b/new.txt", Action.UPLOADED, "new", 0),
        ("top.txt", Action.UPLOADED, "new", 0),
    ]
    assert SERVER.count("list") == 3  # '', 'a/', 'b/'
    # Only the object whose ETag differs is asked about more (is its ETag an MD5?).
    assert SERVER.requests.count(("head", "a/changed.txt")) == SERVER.count("head") == 1
    assert SERVER.buckets[BUCKET]["a/changed.txt"].data == b"new!"


def test_a_small_limit_decides_by_head_requests(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {f"d/{i}.txt": b"x" for i in range(5)})
    _stored("d/0.txt", b"x")

    results = _run(_config(limit=2, put=PutMode.ADD), [str(tree)])

    assert results == [
        ("d/0.txt", Action.SKIPPED, "exists", 0),
        ("d/1.txt", Action.UPLOADED, "new", 0),
    ]
    assert SERVER.count("head") == 2 and SERVER.count("list") == 0


def test_a_failed_listing_fails_the_files_it_covers_and_the_run_goes_on(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"bad/1.txt": b"1", "bad/2.txt": b"2", "good/3.txt": b"3"})
    SERVER.fail("list", "bad/", ErrorKind.DENIED)

    results = _run(_config(), [str(tree)])

    assert [(key, action) for key, action, _, _ in results] == [
        ("bad/1.txt", Action.FAILED), ("bad/2.txt", Action.FAILED),
        ("good/3.txt", Action.UPLOADED),
    ]  # fmt: skip
    assert "access denied" in results[0][2]


def test_no_more_requests_in_flight_than_the_window(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {f"{i:02}.txt": b"x" for i in range(24)})
    SERVER.delay_s = 0.05

    results = _run(_config(put=PutMode.STUPID, concurrency=4), [str(tree)])

    assert {action for _, action, _, _ in results} == {Action.UPLOADED}
    assert SERVER.max_in_flight == 4  # full, and never more


def test_a_damaged_body_is_sent_again_and_a_refusal_is_not(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"damaged.txt": b"d", "denied.txt": b"x", "slow.txt": b"s"})
    SERVER.fail("put", "damaged.txt", ErrorKind.DAMAGED, ErrorKind.DAMAGED)
    SERVER.fail("put", "slow.txt", ErrorKind.TIMED_OUT, ErrorKind.TIMED_OUT)
    SERVER.fail("put", "denied.txt", ErrorKind.DENIED)

    results = _run(_config(put=PutMode.STUPID, retries=1), [str(tree)])

    assert [(key, action, retries) for key, action, _, retries in results] == [
        ("damaged.txt", Action.FAILED, 1),  # two failures, one retry allowed
        ("denied.txt", Action.FAILED, 0),
        ("slow.txt", Action.FAILED, 1),
    ]
    assert SERVER.count("put") == 5
    SERVER.fail("put", "damaged.txt", ErrorKind.DAMAGED, ErrorKind.DAMAGED)
    again = _run(_config(put=PutMode.STUPID, retries=3), [str(tree / "damaged.txt")])
    assert again == [("damaged.txt", Action.UPLOADED, "always", 2)]


def test_a_server_that_fails_every_write_fails_each_file_and_not_the_worker(
    tmp_path: Path,
) -> None:
    """Every PUT of a full window fails and is sent again, over and over (a server down
    for a while): each file fails after its retries, and the worker goes on. A retry
    started from an answer must not wait for the next answer inside that one (a chain
    of retries, each in the one before, ran out of stack)."""
    names = [f"{i:03}.txt" for i in range(600)]
    tree = make_tree(tmp_path / "t", dict.fromkeys(names, b"x"))
    for name in names:
        SERVER.fail("put", name, *[ErrorKind.TIMED_OUT] * 6)
    SERVER.delay_s = 0.2  # a full window of answers comes at once

    results = _run(_config(put=PutMode.STUPID, retries=5, concurrency=256), [str(tree)])

    assert [(key, action, retries) for key, action, _, retries in results] == [
        (name, Action.FAILED, 5) for name in names
    ]
    assert SERVER.count("put") == 6 * len(names)


def test_the_bar_counts_the_bytes_of_the_uploads_that_landed_once(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"damaged.txt": b"d" * 1000, "denied.txt": b"x" * 200})
    SERVER.fail("put", "damaged.txt", ErrorKind.DAMAGED, ErrorKind.DAMAGED)  # sent 3 times
    SERVER.fail("put", "denied.txt", ErrorKind.DENIED)

    with Progress(io.StringIO()) as bar:
        results = _run(_config(put=PutMode.STUPID, retries=3), [str(tree)], observer=bar)
        shown = bar._bytes_sent

    assert [(key, action) for key, action, _, _ in results] == [
        ("damaged.txt", Action.UPLOADED),
        ("denied.txt", Action.FAILED),
    ]
    assert shown == 1000  # as the summary counts: not the attempts sent again, nor the refused


def test_a_file_that_changes_while_it_is_sent_is_reported_not_done(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"log.txt": b"first line\n", "calm.txt": b"calm"})

    def append(request: PutRequest) -> None:
        if request.key == "log.txt":
            with open(tree / "log.txt", "ab") as f:
                f.write(b"second line\n")

    SERVER.on_put = append
    results = _run(_config(put=PutMode.STUPID), [str(tree)])

    assert results[0][:2] == ("calm.txt", Action.UPLOADED)
    assert results[1][:2] == ("log.txt", Action.FAILED)
    assert "changed while it was uploaded" in results[1][2]


def test_a_dry_run_sends_no_put(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a"})
    results = _run(_config(dry_run=True), [str(tree)])
    assert results == [("a.txt", Action.WOULD_UPLOAD, "new", 0)]
    assert SERVER.count("put") == 0


def test_copy_from_a_source_bucket_lists_it_through_the_control_plane() -> None:
    source = SERVER.create_bucket("source-bucket")
    source["data/x.bin"] = FakeObject(b"xx", hashlib.md5(b"xx").hexdigest(), 0.0)
    source["data/sub/y.bin"] = FakeObject(b"y", hashlib.md5(b"y").hexdigest(), 0.0)
    _stored("copy/x.bin", b"xx")

    config = _config(prefix="copy", walk=WalkKind.S3, put=PutMode.COPY)
    results = _run(config, ["s3://source-bucket/data"])

    assert results == [
        ("copy/sub/y.bin", Action.UPLOADED, "new", 0),
        ("copy/x.bin", Action.SKIPPED, "unchanged", 0),
    ]
    assert SERVER.buckets[BUCKET]["copy/sub/y.bin"].data == b"y"
    assert SERVER.count("list_objects") == 1


def test_tags_go_with_every_put_and_replace_a_copy_s_tags(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a", "big.bin": b"b" * (6 * 1024 * 1024)})
    tags = (("team", "blue sky"), ("k", "v"))
    threshold = {"multipart_threshold": 5 * 1024 * 1024, "multipart_chunksize": 5 * 1024 * 1024}
    _run(_config(tags=tags, **threshold), [str(tree)])
    source = SERVER.create_bucket("source-bucket")
    for name in ("kept", "new"):
        etag = hashlib.md5(b"x").hexdigest()
        source[f"{name}/x.bin"] = FakeObject(b"x", etag, 0.0, tagging="old=1")

    copy = {"walk": WalkKind.S3, "put": PutMode.COPY}
    kept = _run(_config(prefix="kept", **copy), ["s3://source-bucket/kept"])
    new = _run(_config(prefix="new", tags=(("copied", "yes"),), **copy), ["s3://source-bucket/new"])

    stored = SERVER.buckets[BUCKET]
    assert stored["a.txt"].tagging == stored["big.bin"].tagging == "team=blue%20sky&k=v"
    assert kept == [("kept/x.bin", Action.UPLOADED, "new", 0)]
    assert new == [("new/x.bin", Action.UPLOADED, "new", 0)]
    assert stored["kept/x.bin"].tagging == "old=1", "without --tag a copy keeps the tags"
    assert stored["new/x.bin"].tagging == "copied=yes"


def test_report_staging_tells_a_missing_report_from_one_that_cannot_be_read(
    tmp_path: Path,
) -> None:
    control = FakeControl(TransportOptions())
    local = tmp_path / "staged.jsonl"
    stage_in(f"s3://{BUCKET}/none.jsonl", str(local), control)
    assert local.read_bytes() == b""  # a first run

    SERVER.buckets[BUCKET]["run.jsonl"] = FakeObject(b"{}\n", "", 0.0)
    SERVER.fail("read", f"s3://{BUCKET}/run.jsonl", ErrorKind.DENIED)
    with pytest.raises(UsageError, match="cannot read the report"):
        stage_in(f"s3://{BUCKET}/run.jsonl", str(tmp_path / "other.jsonl"), control)
    assert not (tmp_path / "other.jsonl").exists()


def test_resume_files_are_found_by_listing_a_prefix() -> None:
    for name in ("reports/h-1-a.jsonl", "reports/h-2-b.jsonl", "reports/notes.txt"):
        SERVER.buckets[BUCKET][name] = FakeObject(b"", "", 0.0)
    control = FakeControl(TransportOptions())

    found = resume_files(f"s3://{BUCKET}/reports", control)

    assert found == (f"s3://{BUCKET}/reports/h-1-a.jsonl", f"s3://{BUCKET}/reports/h-2-b.jsonl")
    assert resume_files(f"s3://{BUCKET}/reports/h-1-a.jsonl", control) == (found[0],)


def _old(tree: Path, when: float = 1_000_000_000.0) -> None:
    """Every file of ``tree`` last modified long ago (settled, as the cache wants)."""
    for path in tree.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


def test_size_mtime_uploads_files_newer_than_their_objects_and_reads_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "t", {"old.txt": b"aaaa", "new.txt": b"bbbb", "grown.txt": b"cc"})
    _old(tree)
    os.utime(tree / "new.txt", (2_000_000_000.0, 2_000_000_000.0))
    for key in ("old.txt", "new.txt"):
        SERVER.buckets[BUCKET][key] = FakeObject(b"xxxx", "other", 1_500_000_000.0)
    SERVER.buckets[BUCKET]["grown.txt"] = FakeObject(b"c", "other", 1_500_000_000.0)
    monkeypatch.setattr("pipeline.decision.body_digests", _no_reading)

    results = _run(_config(compare=CompareMode.SIZE_MTIME), [str(tree)])

    assert results == [
        ("grown.txt", Action.UPLOADED, "size differs", 0),
        ("new.txt", Action.UPLOADED, "newer than the object", 0),
        ("old.txt", Action.SKIPPED, "same size, not newer", 0),
    ]


def test_size_compares_sizes_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path / "t", {"same.txt": b"new!", "other.txt": b"longer"})
    SERVER.buckets[BUCKET]["same.txt"] = FakeObject(b"old!", "other", 0.0)
    SERVER.buckets[BUCKET]["other.txt"] = FakeObject(b"short", "other", 0.0)
    monkeypatch.setattr("pipeline.decision.body_digests", _no_reading)

    results = _run(_config(compare=CompareMode.SIZE), [str(tree)])

    assert results == [
        ("other.txt", Action.UPLOADED, "size differs", 0),
        ("same.txt", Action.SKIPPED, "same size", 0),
    ]


def _no_reading(*args: Any) -> str:
    raise AssertionError("a file was read")


_HASHED: list[str] = []


def _counting_digests(file: Any, spec: Any, specs: Any) -> dict[str, str]:
    from pipeline.body import body_digests

    _HASHED.append(file.key)
    return body_digests(file, spec, specs)


def test_checksums_are_remembered_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"d/{i}.txt": f"file {i}".encode() for i in range(5)}
    tree = make_tree(tmp_path / "t", files)
    _old(tree)
    for key, data in files.items():
        _stored(key, data)
    monkeypatch.setattr("pipeline.decision.body_digests", _counting_digests)
    config = _config(checksum_cache=str(tmp_path / "cache.sqlite"))
    _HASHED.clear()

    first = _run(config, [str(tree)])
    assert {reason for _, _, reason, _ in first} == {"unchanged"}
    assert sorted(_HASHED) == sorted(files)
    _HASHED.clear()

    second = _run(config, [str(tree)])
    assert second == first
    assert _HASHED == []  # nothing read

    # The same size and mtime, new bytes: the ctime tells, so it is read again.
    (tree / "d/3.txt").write_bytes(b"FILE 3")
    os.utime(tree / "d/3.txt", (1_000_000_000.0, 1_000_000_000.0))
    third = _run(config, [str(tree)])
    assert _HASHED == ["d/3.txt"]
    assert ("d/3.txt", Action.UPLOADED, "changed", 0) in third


def test_a_cache_that_cannot_be_read_means_hashing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"same"})
    _old(tree)
    _stored("a.txt", b"same")
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"not a database, " * 100)
    monkeypatch.setattr("pipeline.decision.body_digests", _counting_digests)
    _HASHED.clear()

    results = _run(_config(checksum_cache=str(cache)), [str(tree)])

    assert results == [("a.txt", Action.SKIPPED, "unchanged", 0)]
    assert _HASHED == ["a.txt"]
    assert "checksum cache" in caplog.text


def _other_writer(changes: dict[str, bytes | None]) -> Any:
    """An on_put hook: as the PUT of a key in ``changes`` is received, another writer
    stores those bytes there first (None: deletes the object)."""

    def write(request: PutRequest) -> None:
        if request.key not in changes:
            return
        data = changes[request.key]
        if data is None:
            SERVER.buckets[BUCKET].pop(request.key, None)
        else:
            _stored(request.key, data)

    return write


def test_add_skips_a_key_that_appeared_after_the_decision(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"raced.txt": b"ours", "calm.txt": b"calm"})
    SERVER.on_put = _other_writer({"raced.txt": b"theirs"})

    results = _run(_config(put=PutMode.ADD), [str(tree)])

    assert results == [
        ("calm.txt", Action.UPLOADED, "new", 0),
        ("raced.txt", Action.SKIPPED, "appeared meanwhile", 0),
    ]
    assert SERVER.buckets[BUCKET]["raced.txt"].data == b"theirs"
    assert SERVER.count("put") == 2  # a precondition that failed is not sent again


@pytest.mark.parametrize("put", [PutMode.ADD, PutMode.UPDATE])
def test_a_write_refused_for_its_own_earlier_attempt_is_uploaded(
    tmp_path: Path, put: PutMode
) -> None:
    big = os.urandom(6 * 1024 * 1024)  # a multipart upload: its ETag is of the parts
    tree = make_tree(tmp_path / "t", {"small.txt": b"ours", "big.bin": big})
    if put is PutMode.UPDATE:
        _stored("small.txt", b"old")  # overwritten with If-Match
    threshold = {"multipart_threshold": 5 * 1024 * 1024, "multipart_chunksize": 5 * 1024 * 1024}
    config = _config(put=put, **threshold)
    transport = config.transport

    def earlier_attempt(request: PutRequest) -> None:  # landed, and its answer was lost
        data = (tree / os.fsdecode(request.key)).read_bytes()
        SERVER.buckets[BUCKET][request.key] = FakeObject(data, object_etag(data, transport), 0.0)

    SERVER.on_put = earlier_attempt
    results = _run(config, [str(tree)])

    assert results == [
        ("big.bin", Action.UPLOADED, "new", 0),
        ("small.txt", Action.UPLOADED, "size differs" if put is PutMode.UPDATE else "new", 0),
    ]
    assert SERVER.buckets[BUCKET]["big.bin"].data == big


def test_update_fails_rather_than_overwrite_what_changed_or_appeared(tmp_path: Path) -> None:
    tree = make_tree(
        tmp_path / "t", {"changed.txt": b"ours", "appeared.txt": b"ours", "calm.txt": b"ours"}
    )
    _stored("changed.txt", b"old")
    _stored("calm.txt", b"old")
    SERVER.on_put = _other_writer({"changed.txt": b"theirs", "appeared.txt": b"theirs"})

    results = _run(_config(), [str(tree)])

    again = "meanwhile and was not overwritten: run again to decide again"
    assert results == [
        ("appeared.txt", Action.FAILED, f"the object appeared {again}", 0),
        ("calm.txt", Action.UPLOADED, "size differs", 0),
        ("changed.txt", Action.FAILED, f"the object changed {again}", 0),
    ]
    stored = SERVER.buckets[BUCKET]
    assert (stored["changed.txt"].data, stored["appeared.txt"].data) == (b"theirs", b"theirs")
    assert stored["calm.txt"].data == b"ours"


def test_each_put_carries_what_its_decision_saw(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"new.txt": b"new", "changed.txt": b"ours"})
    _stored("changed.txt", b"old!")
    sent: dict[str, Any] = {}
    SERVER.on_put = lambda request: sent.update({request.key: request.precondition})

    _run(_config(), [str(tree)])
    update = dict(sent)
    _run(_config(put=PutMode.STUPID), [str(tree)])

    old_etag = hashlib.md5(b"old!").hexdigest()
    assert update == {"new.txt": Precondition(), "changed.txt": Precondition(old_etag)}
    assert sent == {"new.txt": None, "changed.txt": None}  # --put stupid: unconditional


def test_a_write_that_met_another_one_under_way_is_sent_again_with_its_condition(
    tmp_path: Path,
) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"ours"})
    SERVER.fail("put", "a.txt", ErrorKind.CONFLICT)  # 409 ConditionalRequestConflict
    sent: list[Precondition | None] = []
    SERVER.on_put = lambda request: sent.append(request.precondition)

    results = _run(_config(put=PutMode.ADD), [str(tree)])

    assert results == [("a.txt", Action.UPLOADED, "new", 1)]
    assert sent == [Precondition()]  # the first never reached on_put: the fault came first
    assert SERVER.count("put") == 2


def test_a_copy_does_not_overwrite_what_changed_or_appeared_after_the_decision() -> None:
    source = SERVER.create_bucket("source-bucket")
    for name in ("new", "changed", "calm"):
        source[f"data/{name}.bin"] = FakeObject(b"xx", hashlib.md5(b"xx").hexdigest(), 0.0)
    _stored("copy/changed.bin", b"old")
    SERVER.on_copy = lambda key: _stored(key, b"theirs") if "calm" not in key else None

    config = _config(prefix="copy", walk=WalkKind.S3, put=PutMode.COPY)
    results = _run(config, ["s3://source-bucket/data"])

    again = "meanwhile and was not overwritten: run again to decide again"
    assert results == [
        ("copy/calm.bin", Action.UPLOADED, "new", 0),
        ("copy/changed.bin", Action.FAILED, f"the object changed {again}", 0),
        ("copy/new.bin", Action.FAILED, f"the object appeared {again}", 0),
    ]
    stored = SERVER.buckets[BUCKET]
    assert stored["copy/changed.bin"].data == stored["copy/new.bin"].data == b"theirs"


def test_a_server_without_conditional_writes_gets_one_warning_and_plain_puts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = make_tree(tmp_path / "t", {f"{i}.txt": b"new" for i in range(6)})
    _stored("0.txt", b"old")
    SERVER.conditions_not_implemented = True
    SERVER.delay_s = 0.01
    sent: list[Precondition | None] = []
    SERVER.on_put = lambda request: sent.append(request.precondition)

    results = _run(_config(concurrency=3), [str(tree)])

    assert {(action, retries) for _, action, _, retries in results} == {(Action.UPLOADED, 0)}
    assert all(SERVER.buckets[BUCKET][f"{i}.txt"].data == b"new" for i in range(6))
    warnings = [r.getMessage() for r in caplog.records if "conditional writes" in r.getMessage()]
    assert len(warnings) == 1
    assert "HTTP 501 NotImplemented" in warnings[0]
    unconditional = [precondition for precondition in sent if precondition is None]
    assert len(unconditional) == 6  # each file, once
    assert 1 <= len(sent) - 6 <= 3  # the first, and those in flight when its answer came


# What another writer does to a key as the tool's PUT of it arrives, given what the
# decision saw there and the local file: nothing, stores new bytes, stores again the bytes
# the decision saw, deletes the object, or stores the local file's bytes (as an earlier
# attempt of the PUT that landed, its answer lost).
_WRITERS: dict[str, Any] = {
    "none": lambda seen, local: seen,
    "new bytes": lambda seen, local: b"theirs",
    "same bytes": lambda seen, local: seen,
    "delete": lambda seen, local: None,
    "ours": lambda seen, local: local,
}


def _model(
    mode: PutMode, seen: bytes | None, local: bytes, writer: str
) -> tuple[Action, bytes | None]:
    """The reference: what happens to a file, and what its key holds in the end."""
    if not (seen is None or mode is PutMode.STUPID or (mode is PutMode.UPDATE and seen != local)):
        return Action.SKIPPED, seen  # decided: nothing to upload
    at_put = _WRITERS[writer](seen, local)
    if mode is not PutMode.STUPID and at_put not in (seen, local):  # someone else's
        return (Action.SKIPPED if mode is PutMode.ADD else Action.FAILED), at_put
    return Action.UPLOADED, local


@settings(max_examples=10, deadline=None)
@given(
    mode=st.sampled_from([PutMode.ADD, PutMode.UPDATE, PutMode.STUPID]),
    keys=st.lists(
        st.tuples(
            st.sampled_from([None, b"a", b"b"]),  # what the key holds at the decision
            st.sampled_from([b"a", b"b"]),  # the local file
            st.sampled_from(sorted(_WRITERS)),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_only_stupid_overwrites_what_another_writer_wrote_after_the_decision(
    mode: PutMode, keys: list[tuple[bytes | None, bytes, str]]
) -> None:
    SERVER.reset()
    SERVER.create_bucket(BUCKET)
    scenarios = {f"{i}.txt": scenario for i, scenario in enumerate(keys)}
    for key, (seen, _, _) in scenarios.items():
        if seen is not None:
            _stored(key, seen)

    def other_writer(request: PutRequest) -> None:
        seen, local, writer = scenarios[request.key]
        if writer != "none":
            _other_writer({request.key: _WRITERS[writer](seen, local)})(request)

    SERVER.on_put = other_writer
    with tempfile.TemporaryDirectory() as tmp:
        tree = make_tree(Path(tmp), {key: local for key, (_, local, _) in scenarios.items()})
        results = _run(_config(put=mode), [str(tree)])

    expected = {key: _model(mode, *scenario) for key, scenario in scenarios.items()}
    assert {key: action for key, action, _, _ in results} == {
        key: action for key, (action, _) in expected.items()
    }
    assert {key: stored.data for key, stored in SERVER.buckets[BUCKET].items()} == {
        key: data for key, (_, data) in expected.items() if data is not None
    }


def test_a_checksum_cache_is_closed_on_another_thread_than_it_was_used_on(
    tmp_path: Path,
) -> None:
    """A runner may tear a step down on another thread than its bundles ran on."""
    path = make_tree(tmp_path / "t", {"a.txt": b"a"}) / "a.txt"
    os.utime(path, (1_000_000_000.0, 1_000_000_000.0))
    cache = ChecksumCache(str(tmp_path / "cache.sqlite"))
    cache.digests(str(path), ["md5"], lambda missing: dict.fromkeys(missing, "digest"))
    cache.flush()  # opened and written on this thread
    failures: list[BaseException] = []

    def close() -> None:
        try:
            cache.close()
        except Exception as e:  # handed to the test's thread
            failures.append(e)

    closer = threading.Thread(target=close)
    closer.start()
    closer.join(60)

    assert failures == []
    assert ChecksumCache(str(tmp_path / "cache.sqlite")).known(str(path), ["md5"]) == {
        "md5": "digest"
    }
