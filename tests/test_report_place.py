"""Where the report goes (``pipeline.report.place``), resolved once from --report, --resume
and the runner, and read by the destination checks and the staging; fast, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from devsupport.fakes3 import SERVER, FakeControl, FakeObject, FakeTransport
from pipeline.errors import UsageError
from pipeline.options import RecordOptions, TransportOptions, UploadConfig
from pipeline.report.destinations import check_destinations
from pipeline.report.place import ReportPlace, report_place
from pipeline.report.staging import records_for_run
from tests.conftest import FAKE_BUCKET

URL = "http://127.0.0.1:9"


def test_no_report_and_no_resume_is_no_place() -> None:
    assert report_place(None, None, local=True) is None
    assert report_place(None, None, local=False) is None


@pytest.mark.parametrize("option", ["report", "resume"])
def test_an_empty_report_or_resume_is_a_usage_error(option: str) -> None:
    given = {"report": None, "resume": None, option: " "}
    with pytest.raises(UsageError, match=f"--{option} names no file"):
        report_place(given["report"], given["resume"], local=True)


def test_a_report_on_the_local_runner_is_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "run.jsonl")

    place = report_place(path, None, local=True)

    assert place == ReportPlace(uri=path, option="--report", shards=False, resume=None)
    assert place is not None and not place.on_s3 and not place.uses_s3
    assert not place.appends_to_resume


def test_a_directory_or_a_distributed_runner_makes_local_shards(tmp_path: Path) -> None:
    existing = str(tmp_path)
    to_make = str(tmp_path / "reports") + "/"
    file = str(tmp_path / "run.jsonl")

    assert report_place(existing, None, local=True) == ReportPlace(existing, "--report", True)
    assert report_place(to_make, None, local=True) == ReportPlace(to_make, "--report", True)
    assert report_place(file, None, local=False) == ReportPlace(file, "--report", True)
    assert report_place(file, None, local=True) == ReportPlace(file, "--report", False)


def test_an_s3_report_is_one_file_here_and_shards_on_a_cluster() -> None:
    uri = f"s3://{FAKE_BUCKET}/run.jsonl"

    here = report_place(uri, None, local=True)
    cluster = report_place(uri, None, local=False)

    assert here == ReportPlace(uri, "--report", shards=False)
    assert cluster == ReportPlace(uri, "--report", shards=True)
    assert here.on_s3 and here.uses_s3
    prefix = report_place(f"s3://{FAKE_BUCKET}/reports/", None, local=True)
    assert prefix is not None and prefix.shards


def test_resume_alone_names_where_the_lines_go_too(tmp_path: Path) -> None:
    shards = str(tmp_path) + "/"

    place = report_place(None, shards, local=False)

    assert place == ReportPlace(uri=shards, option="--resume", shards=True, resume=shards)
    assert place.appends_to_resume


def test_a_report_apart_from_the_resumed_one(tmp_path: Path) -> None:
    report, resume = str(tmp_path / "new.jsonl"), f"s3://{FAKE_BUCKET}/old.jsonl"

    place = report_place(report, resume, local=True)

    assert place == ReportPlace(report, "--report", shards=False, resume=resume)
    assert not place.on_s3 and place.uses_s3, "the resumed report is read from the bucket"
    assert not place.appends_to_resume


def test_the_destination_check_takes_the_layout_from_the_place(tmp_path: Path) -> None:
    control = FakeControl(TransportOptions())
    directory = str(tmp_path)

    check_destinations(control, URL, ReportPlace(directory, "--report", shards=True), None)
    with pytest.raises(UsageError, match=r"--resume .* is a directory, not a file"):
        check_destinations(control, URL, ReportPlace(directory, "--resume", shards=False), None)


def _config() -> UploadConfig:
    return UploadConfig.for_bucket(FAKE_BUCKET, URL, factory=FakeTransport)


def test_resuming_from_local_shards_reads_every_shard(tmp_path: Path) -> None:
    for name in ("h-2-b.jsonl", "h-1-a.jsonl", "notes.txt"):
        (tmp_path / name).write_text("")
    uri = str(tmp_path)
    place = report_place(None, uri, local=False)

    with records_for_run(_config(), place, []) as (config, resumed):
        assert config.records == RecordOptions(report_path=uri, report_shards=True)
        assert resumed == (str(tmp_path / "h-1-a.jsonl"), str(tmp_path / "h-2-b.jsonl"))


@pytest.mark.usefixtures("fake_s3")
def test_an_s3_report_is_staged_in_and_written_back() -> None:
    uri = f"s3://{FAKE_BUCKET}/run.jsonl"
    SERVER.buckets[FAKE_BUCKET]["run.jsonl"] = FakeObject(b'{"old": 1}\n', "", 0.0)
    place = report_place(None, uri, local=True)
    late_errors: list[str] = []

    with records_for_run(_config(), place, late_errors) as (config, resumed):
        local = config.records.report_path
        assert local is not None and not local.startswith("s3://")
        assert not config.records.report_shards
        assert resumed == (local,)
        with open(local, "a", encoding="utf-8") as f:
            f.write('{"new": 2}\n')

    assert SERVER.buckets[FAKE_BUCKET]["run.jsonl"].data == b'{"old": 1}\n{"new": 2}\n'
    assert late_errors == []
