"""Run one command and measure it: wall time, CPU time and peak RSS of its process tree.

The child is reaped with ``os.wait4``, whose rusage covers the child plus every
descendant it waited for: user+system CPU summed, ``ru_maxrss`` the largest of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_TAIL_CHARS = 2000
_LINE_CHARS = 240


@dataclass(frozen=True)
class Measured:
    """One run of one command."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    returncode: int
    timed_out: bool
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr_tail(self) -> str:
        """The last couple of thousand characters of stderr."""
        return self.stderr_path.read_text(errors="replace").strip()[-_TAIL_CHARS:]

    def stderr_last_line(self) -> str:
        """The last non-empty line of stderr (a traceback's exception), shortened."""
        lines = [line.strip() for line in self.stderr_tail().splitlines() if line.strip()]
        last = lines[-1] if lines else "(no stderr)"
        return last if len(last) <= _LINE_CHARS else last[: _LINE_CHARS - 3] + "..."


def run_measured(
    argv: list[str],
    env: dict[str, str],
    log_stem: Path,
    timeout_s: float,
    cwd: Path,
    on_start: Callable[[int], None] | None = None,
) -> Measured:
    """Run ``argv`` to completion with stdout/stderr into ``log_stem``.out/.err files;
    ``on_start`` is told the child's pid (the leader of a session of its own)."""
    out_path = log_stem.with_name(log_stem.name + ".out")
    err_path = log_stem.with_name(log_stem.name + ".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        killer = _Killer(proc.pid, timeout_s)
        try:
            if on_start is not None:
                on_start(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: do not leave the child running
            killer.kill_now()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: tell Popen
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        returncode=proc.returncode,
        timed_out=killer.fired,
        stdout_path=out_path,
        stderr_path=err_path,
    )


class _Killer:
    """Kill the child's process group if it runs longer than ``timeout_s``."""

    def __init__(self, pid: int, timeout_s: float) -> None:
        self.fired = False
        self._pid = pid
        self._timer = threading.Timer(timeout_s, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def _kill(self) -> None:
        self.fired = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, signal.SIGKILL)

    def kill_now(self) -> None:
        self._timer.cancel()
        self._kill()

    def cancel(self) -> None:
        self._timer.cancel()
