"""The run observer: each run's steps tell the observer passed to that run and no other,
a stop request stops only its own run, a library run stays silent, and an observer
reaches only the process that made it."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from devsupport.fakes3 import SERVER, FakeTransport
from pipeline import Action, FileResult, UploadConfig, UploadSources
from pipeline.observer import SILENT, Observers, RunObserver
from pipeline.plan import DEFAULT_RUNNER
from pipeline.records import LocalFile
from tests.conftest import FAKE_BUCKET, REPO, make_tree

pytestmark = pytest.mark.usefixtures("fake_s3")


class Recording(RunObserver):
    """What one run told it; it asks to stop from the start when ``stop`` is set."""

    def __init__(self, stop: bool = False) -> None:
        self._lock = threading.Lock()
        self._stop = stop
        self.found_keys: list[str] = []
        self.finished_keys: list[tuple[str, Action]] = []
        self.bytes_sent = 0
        self.walk_ends = 0

    def found(self, item: LocalFile | FileResult) -> None:
        with self._lock:
            self.found_keys.append(item.key)

    def walk_ended(self) -> None:
        with self._lock:
            self.walk_ends += 1

    def transfer(self) -> Any:
        observer = self

        class Account:
            def sent(self, size: int) -> None:
                with observer._lock:
                    observer.bytes_sent += size

            def settle(self, kept: int) -> None:
                pass

        return Account()

    def finished(self, result: FileResult) -> None:
        with self._lock:
            self.finished_keys.append((result.key, result.action))

    def stop_requested(self) -> bool:
        return self._stop


def _config(prefix: str, **fields: Any) -> UploadConfig:
    return UploadConfig.for_bucket(
        FAKE_BUCKET, "http://127.0.0.1:9", factory=FakeTransport, prefix=prefix, **fields
    )


def _two_runs(
    tmp_path: Path, first: RunObserver, second: RunObserver, spread: bool = False
) -> list[tuple[str, Action]]:
    """One pipeline with two uploads of different settings: tree a to a/ for real, tree
    b to b/ as a dry run; every result of both."""
    a = make_tree(tmp_path / "a", {"one.txt": b"1" * 10, "two.txt": b"2" * 20})
    b = make_tree(tmp_path / "b", {"three.txt": b"3" * 30})
    _RESULTS.clear()
    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        run_a = (
            p
            | "A" >> beam.Create([str(a)])
            | "UploadA"
            >> UploadSources(_config("a/", sources=(str(a),)), spread=spread, observer=first)
        )
        run_b = (
            p
            | "B" >> beam.Create([str(b)])
            | "UploadB"
            >> UploadSources(
                _config("b/", sources=(str(b),), dry_run=True), spread=spread, observer=second
            )
        )
        _ = (
            (run_a, run_b)
            | beam.Flatten()
            | beam.Map(lambda r: (r.key, r.action))
            | beam.combiners.ToList()
            | beam.Map(_collect)
        )
    return sorted(_RESULTS)


_RESULTS: list[tuple[str, Action]] = []  # what the in-process workers produced


def _collect(rows: list[tuple[str, Action]]) -> None:
    _RESULTS.extend(rows)


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_two_runs_in_one_process_each_tell_only_their_own_observer(
    tmp_path: Path, spread: bool
) -> None:
    first, second = Recording(), Recording()

    results = _two_runs(tmp_path, first, second, spread)

    assert results == [
        ("a/one.txt", Action.UPLOADED),
        ("a/two.txt", Action.UPLOADED),
        ("b/three.txt", Action.WOULD_UPLOAD),
    ]
    assert sorted(first.found_keys) == ["a/one.txt", "a/two.txt"]
    assert sorted(first.finished_keys) == results[:2]
    assert first.bytes_sent == 30  # the bodies of its own two uploads
    assert second.found_keys == ["b/three.txt"]
    assert second.finished_keys == results[2:]
    assert second.bytes_sent == 0  # a dry run sends nothing
    assert (first.walk_ends, second.walk_ends) == ((0, 0) if spread else (1, 1))
    assert sorted(SERVER.buckets[FAKE_BUCKET]) == ["a/one.txt", "a/two.txt"]


def test_a_stop_requested_of_one_run_leaves_the_other_to_finish(tmp_path: Path) -> None:
    stopped, going = Recording(stop=True), Recording()

    results = _two_runs(tmp_path, stopped, going)

    assert results == [("b/three.txt", Action.WOULD_UPLOAD)]  # the stopped run walked none
    assert stopped.found_keys == [] and stopped.finished_keys == []
    assert going.finished_keys == results
    assert FAKE_BUCKET not in SERVER.buckets or not SERVER.buckets[FAKE_BUCKET]


def test_a_library_run_writes_no_per_file_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = make_tree(tmp_path / "t", {"x.txt": b"x"})
    with (
        caplog.at_level(logging.DEBUG, logger="pipeline.files"),
        TestPipeline(runner=DEFAULT_RUNNER) as p,
    ):
        _ = p | beam.Create([str(tree)]) | UploadSources(_config("", dry_run=True))
    assert [r for r in caplog.records if r.name == "pipeline.files"] == []


def test_several_observers_hear_alike_and_any_one_may_ask_to_stop() -> None:
    first, second = Recording(), Recording(stop=True)
    both = Observers(first, second)
    result = FileResult("p", "k", Action.SKIPPED)

    both.finished(result)

    assert first.finished_keys == second.finished_keys == [("k", Action.SKIPPED)]
    assert both.stop_requested() and not Observers(first).stop_requested()


def test_an_observer_reaches_only_the_process_that_made_it() -> None:
    observer = Recording()
    assert pickle.loads(pickle.dumps(observer)) is observer
    assert type(pickle.loads(pickle.dumps(SILENT))) is RunObserver
    elsewhere = subprocess.run(
        [sys.executable, "-c", "import pickle, sys; "
         "print(type(pickle.loads(sys.stdin.buffer.read())).__name__)"],
        input=pickle.dumps(observer), capture_output=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert elsewhere.stdout.decode().strip() == "RunObserver", elsewhere.stderr.decode()
