"""The reference model of the property tests (``tests/mirror_model.py``) on hand-written
examples: what it says must be what the tool promises, or the properties prove nothing."""

from __future__ import annotations

from tests.mirror_model import (
    DAY_S,
    EXCLUDE,
    INCLUDE,
    Command,
    LocalFile,
    StoredObject,
    expected_run,
    key_of,
    prefix_directory,
    rules_select,
)

NOW = 1_800_000_000.0
RECENT, OLD = NOW - 3600, NOW - 30 * DAY_S


def _file(path: str, data: bytes = b"new", mtime: float = RECENT, source: int = 0) -> LocalFile:
    return LocalFile(source, path, data, mtime)


def _obj(data: bytes = b"old", mtime: float = NOW - 600) -> StoredObject:
    return StoredObject(data, mtime)


def _data(bucket: dict[str, StoredObject]) -> dict[str, bytes]:
    return {key: stored.data for key, stored in bucket.items()}


def test_keys_and_the_prefix_directory() -> None:
    assert [key_of(p, "a/b.txt") for p in ("", "site", "site/", "a/b")] == [
        "a/b.txt", "site/a/b.txt", "site/a/b.txt", "a/b/a/b.txt",
    ]  # fmt: skip
    assert [prefix_directory(p) for p in ("", "site", "site/", "a/b")] == [
        "", "site/", "site/", "a/b/",
    ]  # fmt: skip


def test_the_last_matching_rule_wins_and_files_are_included_by_default() -> None:
    rules = ((EXCLUDE, "*.txt"), (INCLUDE, "keep/*"))
    assert rules_select(rules, "a.log")
    assert not rules_select(rules, "a.txt")
    assert rules_select(rules, "keep/a.txt")
    assert not rules_select(((INCLUDE, "keep/*"), (EXCLUDE, "*.txt")), "keep/a.txt")
    assert not rules_select(((EXCLUDE, "sub/*"),), "sub/deep/a")  # '*' crosses '/'


def test_update_uploads_new_and_changed_files_and_delete_removes_only_stale_keys() -> None:
    files = [_file("new.txt"), _file("same.txt", b"old"), _file("changed.txt", b"abc")]
    bucket = {
        "site/same.txt": _obj(), "site/changed.txt": _obj(b"xyz"), "site/gone": _obj(),
        "site/dir/": _obj(b""), "site": _obj(), "site2/x": _obj(), "sitex": _obj(),
    }  # fmt: skip

    run = expected_run(files, bucket, Command(prefix="site", delete=True), NOW)

    assert _data(run.bucket) == {
        "site/new.txt": b"new", "site/same.txt": b"old", "site/changed.txt": b"abc",
        "site/dir/": b"", "site": b"old", "site2/x": b"old", "sitex": b"old",
    }  # fmt: skip
    assert run.bucket["site/new.txt"].mtime == NOW
    assert (run.uploads, run.stale) == ({"site/new.txt", "site/changed.txt"}, {"site/gone"})
    assert run.exit_code == 0
    assert run.counts == {
        "files": 3, "uploaded": 2, "would_upload": 0, "skipped": 1, "failed": 0,
        "deleted": 1, "would_delete": 0, "deletes_withheld": 0,
    }  # fmt: skip


def test_no_prefix_means_the_whole_bucket_is_the_mirror() -> None:
    run = expected_run([_file("a")], {"a": _obj(), "b/c": _obj()}, Command(delete=True), NOW)
    assert _data(run.bucket) == {"a": b"new"}


def test_put_modes_and_comparisons() -> None:
    same_size = {"k/f": _obj(b"xyz", mtime=NOW - 7200)}
    newer_object = {"k/f": _obj(b"xyz", mtime=NOW - 60)}
    file = [_file("f", b"abc")]  # modified an hour ago

    def uploads(bucket: dict[str, StoredObject], put: str, compare: str = "checksum") -> bool:
        command = Command(prefix="k", put=put, compare=compare)
        return bool(expected_run(file, bucket, command, NOW).uploads)

    assert uploads({}, "add") and not uploads(same_size, "add")
    assert uploads(newer_object, "stupid")
    assert uploads(newer_object, "update", "checksum")
    assert not uploads(newer_object, "update", "size")
    assert uploads(same_size, "update", "size-mtime")  # the file is newer than the object
    assert not uploads(newer_object, "update", "size-mtime")
    assert uploads({"k/f": _obj(b"ab", mtime=NOW)}, "update", "size")


def test_filters_choose_what_is_uploaded_and_never_make_an_object_stale() -> None:
    files = [_file("old.txt", mtime=OLD), _file("skip.log"), _file("a.txt")]
    bucket = {
        "site/old.txt": _obj(), "site/skip.log": _obj(), "site/gone.log": _obj(),
        "site/gone-old.txt": _obj(mtime=NOW - 40 * DAY_S), "site/gone.txt": _obj(),
    }  # fmt: skip
    command = Command(prefix="site", delete=True, rules=((EXCLUDE, "*.log"),), older_than_days=7)

    run = expected_run(files, bucket, command, NOW)

    assert run.uploads == {"site/a.txt"}
    assert run.stale == {"site/gone.txt"}  # excluded and old objects are kept
    assert "site/old.txt" in run.bucket and "site/skip.log" in run.bucket
    assert run.counts["files"] == 1


def test_more_stale_keys_than_max_delete_means_none_deleted_and_exit_1() -> None:
    bucket = {"site/1": _obj(), "site/2": _obj()}

    withheld = expected_run([], bucket, Command(prefix="site", delete=True, max_delete=1), NOW)
    allowed = expected_run([], bucket, Command(prefix="site", delete=True, max_delete=2), NOW)

    assert (_data(withheld.bucket), withheld.exit_code) == (_data(bucket), 1)
    assert withheld.counts["deletes_withheld"] == 2
    assert (allowed.bucket, allowed.exit_code, allowed.counts["deleted"]) == ({}, 0, 2)


def test_of_two_sources_the_first_has_the_key_and_the_other_fails() -> None:
    files = [_file("a", b"two", source=1), _file("a", b"one"), _file("b", b"two", source=1)]

    run = expected_run(files, {}, Command(prefix="site"), NOW)

    assert _data(run.bucket) == {"site/a": b"one", "site/b": b"two"}
    assert (run.failed, run.exit_code) == ({(1, "a")}, 1)
    excluded = Command(prefix="site", rules=((EXCLUDE, "a"),))
    assert expected_run(files, {}, excluded, NOW).exit_code == 0  # left out: not in the run


def test_a_dry_run_changes_nothing_and_counts_what_it_would_do() -> None:
    bucket = {"site/gone": _obj()}
    command = Command(prefix="site", delete=True, dry_run=True)

    run = expected_run([_file("new")], bucket, command, NOW)

    assert (run.bucket, run.exit_code) == (bucket, 0)
    assert (run.counts["would_upload"], run.counts["would_delete"]) == (1, 1)
    assert (run.counts["uploaded"], run.counts["deleted"]) == (0, 0)


def test_where_the_server_rewrites_a_backslash_the_file_fails_and_nothing_churns() -> None:
    files = [_file("x\\y")]
    bucket = {"site/x/y": _obj(), "site/gone": _obj()}
    command = Command(prefix="site", delete=True)

    run = expected_run(files, bucket, command, NOW, rewrites_backslash=True)

    assert _data(run.bucket) == {"site/x/y": b"old"}
    assert (run.failed, run.rewritten, run.exit_code) == ({(0, "x\\y")}, {"site/x\\y"}, 1)
    on_aws = expected_run(files, bucket, command, NOW)  # 'site/x/y' kept there too
    assert _data(on_aws.bucket) == {"site/x\\y": b"new", "site/x/y": b"old"}
