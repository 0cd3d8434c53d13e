"""Progress from workers in other processes (``pipeline.relay``, ``pipeline.tally``):
their counts reach the client's observer while the job runs, and nothing else does."""

from __future__ import annotations

import json
import pickle
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import FaultProxy
from devsupport.locals3 import LocalS3
from pipeline.observer import RunObserver
from pipeline.plan import make_plan
from pipeline.records import Action, FileResult
from pipeline.relay import Relay, relay_host, relayed
from pipeline.tally import worker_tally
from tests.conftest import REPO, bucket_objects, make_tree, run_on_terminal

WAIT_S = 60.0


class Recorder(RunObserver):
    """Every job_counts it hears, in order."""

    def __init__(self) -> None:
        self.heard: list[dict[str, int]] = []
        self._changed = threading.Condition()

    def wants_job_counts(self) -> bool:
        return True

    def job_counts(self, counters: dict[str, int]) -> None:
        with self._changed:
            self.heard.append(dict(counters))
            self._changed.notify_all()

    def wait_for(self, condition: Any) -> dict[str, int]:
        """The first counts heard that meet ``condition`` (waiting at most WAIT_S)."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(condition(c) for c in self.heard), timeout=WAIT_S
            )
            assert found, self.heard[-3:]
            return next(c for c in self.heard if condition(c))


_WORKER = """
import pickle, sys
from pipeline.records import Action, FileResult, LocalFile
observer = pickle.loads(sys.stdin.buffer.read())
print(type(observer).__name__)
for number in range(3):
    observer.found(None)
account = observer.transfer()
account.sent(100)
account.settle(60)
for action in (Action.UPLOADED, Action.FAILED, Action.NOT_STARTED):
    observer.finished(FileResult(path="p", key="k", size=1, action=action))
print(observer.send())
"""


def _in_another_process(observer: RunObserver) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER], input=pickle.dumps(observer), capture_output=True,
        cwd=REPO, timeout=WAIT_S, check=True,
    )  # fmt: skip
    return done.stdout.decode().split()


def test_a_workers_counts_reach_the_clients_observer() -> None:
    recorder = Recorder()
    with Relay(recorder, "127.0.0.1") as relay:
        printed = _in_another_process(relay.observer)
        heard = recorder.wait_for(lambda c: c["files"] == 3)

    assert printed == ["WorkerTally", "True"]
    assert heard == {
        "files_found": 3, "files": 3, "files_failed": 1, "files_not_started": 1,
        "bytes_uploaded": 60,
    }  # fmt: skip


def test_in_the_clients_own_process_the_observer_is_itself() -> None:
    with Relay(Recorder(), "127.0.0.1") as relay:
        assert pickle.loads(pickle.dumps(relay.observer)) is relay.observer


def test_the_job_counters_and_the_workers_counts_are_merged_count_by_count() -> None:
    recorder = Recorder()
    with Relay(recorder, "127.0.0.1") as relay:
        relay.job_counts({"files": 10, "files_found": 40, "sources": 1})
        assert relay.accept(relay.url.rsplit("/", 1)[1] + "/w1", b'{"files": 25}')
        assert relay.accept(relay.url.rsplit("/", 1)[1] + "/w2", b'{"files": 5}')
        assert relay.accept(relay.url.rsplit("/", 1)[1] + "/w1", b'{"files": 26}')

    assert recorder.heard[-1] == {
        "files": 31, "files_found": 40, "sources": 1, "files_failed": 0,
        "files_not_started": 0, "bytes_uploaded": 0,
    }  # fmt: skip


def _put(url: str, path: str, body: bytes) -> int:
    """The status of a PUT of ``body`` to ``path`` (sent as UTF-8 bytes, as any client
    may) at the relay of ``url``."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        answer = connection.makefile("rb").readline()
    return int(answer.split()[1])


def test_the_relay_takes_counts_only_under_its_secret() -> None:
    recorder = Recorder()
    with Relay(recorder, "127.0.0.1") as relay:
        secret = relay.url.rsplit("/", 1)[1]
        assert _put(relay.url, "/0123/w1", b'{"files": 1}') == 404
        assert _put(relay.url, f"/{secret}", b'{"files": 1}') == 404
        assert _put(relay.url, f"/{secret}/w1/x", b'{"files": 1}') == 404
        assert _put(relay.url, f"/{secret}/w1", b'["files"]') == 404
        assert _put(relay.url, f"/{secret}/w1", b'{"files": "many"}') == 404
        assert _put(relay.url, f"/{secret}/w1", b"x" * 2000) == 413
        assert _put(relay.url, f"/{secret}/{'w' * 65}", b'{"files": 1}') == 404
        assert _put(relay.url, "/\u00e9t\u00e9/w1", b'{"files": 1}') == 404
        assert recorder.heard == []
        assert _put(relay.url, f"/{secret}/w1", json.dumps({"files": 2}).encode()) == 204
    assert recorder.heard[-1]["files"] == 2


def test_a_tally_that_cannot_reach_the_client_gives_up() -> None:
    with Relay(Recorder(), "127.0.0.1") as relay:
        url = relay.url  # a port nobody listens on once the relay is closed
    tally = worker_tally(url)
    tally.finished(FileResult(path="p", key="k", size=1, action=Action.UPLOADED))
    sender = tally._sender
    assert sender is not None
    sender.join(WAIT_S)

    assert not sender.is_alive()
    assert tally.failed_sends == 3
    tally.finished(FileResult(path="p", key="k", size=1, action=Action.UPLOADED))
    assert tally._sender is sender  # never started again
    assert tally.counts()["files"] == 2


@pytest.mark.parametrize(
    ("beam", "host"),
    [
        ({}, None),
        ({"direct_running_mode": "multi_processing", "direct_num_workers": 2}, "127.0.0.1"),
        ({"runner": "FlinkRunner", "flink_master": "127.0.0.1:8081"}, "127.0.0.1"),
        ({"runner": "FlinkRunner", "flink_master": "[auto]"}, "127.0.0.1"),
        ({"runner": "PortableRunner", "job_endpoint": "localhost:8099"}, "127.0.0.1"),
        ({"runner": "PortableRunner", "job_endpoint": "embed"}, "127.0.0.1"),
        ({"runner": "DataflowRunner"}, None),
    ],
    ids=["in-process", "processes", "flink", "flink-embedded", "portable", "embed", "dataflow"],
)
def test_where_the_relay_listens(beam: dict[str, Any], host: str | None) -> None:
    assert relay_host(make_plan(beam)) == host


def test_no_relay_for_an_observer_that_follows_no_counts() -> None:
    plan = make_plan({"direct_running_mode": "multi_processing", "direct_num_workers": 2})
    silent = RunObserver()
    with relayed(plan, silent) as observer:
        assert observer is silent
    with relayed(plan, Recorder()) as observer:
        assert type(observer).__name__ == "RelayedObserver"


class PutGate:
    """A proxy hook: the first ``let`` PUTs go through, the later ones are held until
    ``release``."""

    def __init__(self, let: int) -> None:
        self._let = let
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.passed = self.held = 0

    def __call__(self, method: str, target: str) -> None:
        if method != "PUT":
            return
        with self._lock:
            hold = self.passed >= self._let
            if hold:
                self.held += 1
            else:
                self.passed += 1
        if hold:
            self._open.wait(WAIT_S * 5)

    def release(self) -> None:
        self._open.set()

    @property
    def released(self) -> bool:
        return self._open.is_set()


def files_shown(screen: str) -> list[int]:
    """The files-done counts the bar showed, in order ("1,234/10,000 [" or "1,234 files [")."""
    found = re.findall(r"(?<![\d,])([\d,]+)(?:/[\d,]+| files) \[", screen)
    return [int(number.replace(",", "")) for number in found]


def test_the_bar_counts_files_of_worker_processes_while_they_upload(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """Worker processes of the local runner: while every PUT after the first 100 is
    held (so no worker's bundle can end), the bar shows files done."""
    files = {f"d{d:02d}/f{f:03d}": b"%d" % f for d in range(20) for f in range(30)}
    tree = make_tree(tmp_path / "src", files)
    gate = PutGate(let=100)

    def shown_while_held(screen: str) -> bool:
        return gate.held > 0 and any(0 < n < len(files) for n in files_shown(screen))

    with FaultProxy(s3_server.port) as proxy:
        proxy.before_forward = gate
        code, _, screen = run_on_terminal(
            ["--bucket", bucket, "--endpoint-url", proxy.endpoint_url, str(tree),
             "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
            s3_server.env(), interrupt_when=shown_while_held, then=lambda _: gate.release(),
        )  # fmt: skip

    assert code == 0, screen[-2000:]
    assert gate.released, screen[-2000:]  # the bar showed files done while PUTs were held
    shown = files_shown(screen)
    assert any(0 < n <= 100 for n in shown), shown  # counted while the rest were held
    assert shown[-1] == len(files), shown
    assert len(bucket_objects(s3_client, bucket)) == len(files)
