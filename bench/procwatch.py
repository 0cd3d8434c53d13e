"""The peak memory of the processes of one run: the client's session and cluster hosts.

A ``ProcessWatch`` samples ``/proc/<pid>/status`` (VmHWM, VmRSS) every ``interval``
seconds, and once more when stopped, for every process that is either in the session
of a followed pid (the client and the job server JVM it starts) or in the network
namespace of a watched host (a TaskManager JVM, its Beam worker pool and the Python SDK
workers the pool starts). Each process is named by its host and its role, from its
command line. On start, the peak (VmHWM) of every watched process already running is
reset (``clear_refs``), so that a long-lived JVM's VmHWM is this run's peak, not its
lifetime's. A process that exits between two samples keeps the peak last sampled.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CLIENT = "client"
_PROC = Path("/proc")
_RESET_PEAK = b"5"  # clear_refs: set VmHWM to the current RSS (Linux >= 4.0)

# program -> (role, words one of which its command line holds); the first match wins
_ROLES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "java": (
        ("TaskManager JVM", ("TaskManagerRunner",)),
        ("JobManager JVM", ("StandaloneSessionClusterEntrypoint",)),
        ("job server JVM", ("job-server", "JobServerDriver")),
    ),
    "python": (
        ("SDK worker", ("SdkHarness", "sdk_worker_main")),
        ("worker pool", ("worker_pool_main",)),
        ("client", ("-m pipeline",)),
    ),
}


@dataclass
class ProcessPeak:
    """What the samples of one process showed, in KiB."""

    host: str
    role: str
    pid: int
    vmhwm_kib: int = 0  # the largest VmHWM read
    vmrss_max_kib: int = 0  # the largest VmRSS read
    samples: int = 0

    @property
    def peak_mib(self) -> float:
        return max(self.vmhwm_kib, self.vmrss_max_kib) / 1024


def role_of(cmdline: list[str]) -> str:
    """The role of a process from its argv: a known one, or ``other: <program>``."""
    program = os.path.basename(cmdline[0]) if cmdline else "?"
    kind = "python" if program.startswith("python") else program
    text = " ".join(cmdline)
    for role, words in _ROLES.get(kind, ()):
        if any(word in text for word in words):
            return role
    return f"other: {program}"


def memory_kib(status: str) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB from the text of ``/proc/<pid>/status``; 0 if absent (a
    kernel thread or a zombie)."""
    found = {"VmHWM": 0, "VmRSS": 0}
    for line in status.splitlines():
        name, _, rest = line.partition(":")
        if name in found:
            found[name] = int(rest.split()[0])
    return found["VmHWM"], found["VmRSS"]


def session_of(stat: str) -> int:
    """The session id from the text of ``/proc/<pid>/stat`` (after the command's ')')."""
    return int(stat.rsplit(")", 1)[1].split()[3])


def _netns(pid: int) -> str:
    return os.readlink(_PROC / str(pid) / "ns" / "net")


class ProcessWatch:
    """Samples the processes of ``hosts`` (hostname -> a pid in its network namespace)
    and of the sessions followed, until stopped; use as a context manager. ``peaks``
    has what the samples showed, by pid."""

    def __init__(self, hosts: Mapping[str, int], interval: float = 0.5) -> None:
        self.hosts = dict(hosts)
        self.interval = interval
        self.peaks: dict[int, ProcessPeak] = {}
        self._sessions: set[int] = set()
        self._namespaces: dict[str, str] = {}  # network namespace -> host
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProcessWatch:
        self._namespaces = {_netns(pid): host for host, pid in self.hosts.items()}
        for pid, _host in self._watched():
            with contextlib.suppress(OSError):
                (_PROC / str(pid) / "clear_refs").write_bytes(_RESET_PEAK)
        self._thread = threading.Thread(target=self._loop, name="procwatch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def follow_session(self, pid: int) -> None:
        """Watch ``pid`` and every process in its session (it leads one of its own)."""
        with self._lock:
            self._sessions.add(pid)
            self._sample()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sample()

    def _watched(self) -> list[tuple[int, str]]:
        """(pid, host) of every process to sample now."""
        sessions = self._sessions
        found = []
        for entry in os.listdir(_PROC):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                if sessions and session_of((_PROC / entry / "stat").read_text()) in sessions:
                    found.append((pid, CLIENT))
                    continue
                host = self._namespaces.get(_netns(pid))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if host is not None:
                found.append((pid, host))
        return found

    def sample(self) -> None:
        with self._lock:
            self._sample()

    def _sample(self) -> None:
        for pid, host in self._watched():
            try:
                status = (_PROC / str(pid) / "status").read_text()
                # Read each time: a child first seen between its fork and its exec still
                # has its parent's argv.
                argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            role = role_of([part.decode(errors="replace") for part in argv if part])
            peak = self.peaks.get(pid) or ProcessPeak(host, role, pid)
            peak.role = role
            hwm, rss = memory_kib(status)
            if not hwm and not rss:
                continue
            peak.vmhwm_kib = max(peak.vmhwm_kib, hwm)
            peak.vmrss_max_kib = max(peak.vmrss_max_kib, rss)
            peak.samples += 1
            self.peaks[pid] = peak
