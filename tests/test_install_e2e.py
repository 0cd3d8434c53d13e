"""The package as a user gets it: the wheel and the sdist that ``python -m build`` makes,
checked with ``twine check``, installed with pip into fresh venvs outside the clone, and
used there for real uploads to SeaweedFS (the installed code, not the clone's).

The wheel goes into a venv that already holds the newest Beam (requirements-beam-newest.txt),
with PyPI reachable, so pip could downgrade it if the package's ranges asked for that: it
must not. What the venvs need is downloaded once into a wheelhouse.
"""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devsupport.locals3 import LocalS3
from tests.conftest import REPO, bucket_objects, make_tree

pytestmark = pytest.mark.install

_BUILD_TIMEOUT_S = 600
_PIP_TIMEOUT_S = 900
_RUN_TIMEOUT_S = 300
TREE = {"index.html": b"<p>installed</p>", "css/site.css": b"p{}", "a b/é.bin": b"\x00\x01"}
NEWEST_BEAM = re.search(
    r"^apache-beam==(\S+)$",
    (REPO / "requirements-beam-newest.txt").read_text(encoding="utf-8"),
    re.MULTILINE,
).group(1)  # type: ignore[union-attr]


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def _run(command: list[str | Path], timeout: float, cwd: Path, **kwargs: Any) -> str:
    """Run ``command`` (bounded by ``timeout``); its stdout, or a failure with its output."""
    proc = subprocess.run(
        [str(part) for part in command],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
        **kwargs,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"{command} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The wheel and the sdist of the clone, built as a release would be."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, REPO], _BUILD_TIMEOUT_S, cwd=out)
    (wheel,) = out.glob("s3_parallel_put-*-py3-none-any.whl")
    (sdist,) = out.glob("s3_parallel_put-*.tar.gz")
    return Dist(wheel, sdist)


@pytest.fixture(scope="module")
def wheelhouse(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest Beam and its dependencies, the wheel's (each resolved alone, as pip
    would for a user's venv), and setuptools for building the sdist: downloaded from PyPI
    once for the venvs of this module."""
    house = tmp_path_factory.mktemp("wheelhouse")
    command = [sys.executable, "-m", "pip", "download", "-q", "--dest", house]
    for wanted in (f"apache-beam=={NEWEST_BEAM}", dist.wheel, "setuptools>=77"):
        _run([*command, wanted], _PIP_TIMEOUT_S, cwd=house)
    return house


def _fresh_venv(path: Path) -> Path:
    """A new venv at ``path`` (its python)."""
    _run([sys.executable, "-m", "venv", path], _RUN_TIMEOUT_S, cwd=path.parent)
    return path / "bin" / "python"


def _clean_env(s3_server: LocalS3) -> dict[str, str]:
    """The test server's credentials; nothing that would point Python at the clone."""
    env = s3_server.env()
    env.pop("PYTHONPATH", None)
    return env


def _installed(python: Path) -> dict[str, str]:
    """Every distribution in the venv of ``python``, with its version."""
    listing = _run([python, "-m", "pip", "list", "--format", "json"], _RUN_TIMEOUT_S,
                   cwd=python.parent)  # fmt: skip
    return {item["name"].lower(): item["version"] for item in json.loads(listing)}


def _upload_with_installed_command(
    python: Path, s3_server: LocalS3, bucket: str, prefix: str, workdir: Path
) -> dict[str, Any]:
    """Upload a tree with the venv's ``s3-parallel-put`` from a directory outside the
    clone; the --json summary."""
    env = _clean_env(s3_server)
    module = _run([python, "-c", "import pipeline; print(pipeline.__file__)"], _RUN_TIMEOUT_S,
                  cwd=workdir, env=env)  # fmt: skip
    assert Path(module.strip()).is_relative_to(python.parent.parent), module
    tree = make_tree(workdir / "public", TREE)
    command = python.parent / "s3-parallel-put"
    out = _run(
        [command, "--endpoint-url", s3_server.endpoint_url, "--bucket", bucket,
         "--prefix", prefix, "--json", tree],
        _RUN_TIMEOUT_S, cwd=workdir, env=env,
    )  # fmt: skip
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def test_wheel_and_sdist_pass_twine_check_and_state_ranges(dist: Dist) -> None:
    """What PyPI would show: valid metadata, Python 3.11+, ranges rather than pins."""
    _run([sys.executable, "-m", "twine", "check", "--strict", dist.wheel, dist.sdist],
         _RUN_TIMEOUT_S, cwd=dist.wheel.parent)  # fmt: skip
    with zipfile.ZipFile(dist.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(wheel.read(name))
        entry_points = wheel.read(name.replace("METADATA", "entry_points.txt")).decode()
    requires = metadata.get_all("Requires-Dist")
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "GPL-3.0-or-later"
    assert "apache-beam<3,>=2.62" in requires
    assert not [requirement for requirement in requires if "==" in requirement]
    assert "s3-parallel-put = pipeline.cli:main" in entry_points


def test_wheel_keeps_the_newest_beam_and_uploads(
    dist: Dist, wheelhouse: Path, s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """Installed next to the newest Beam, the wheel leaves every package as it was, and
    its command uploads."""
    python = _fresh_venv(tmp_path / "venv")
    pip = [python, "-m", "pip", "install", "-q", "--find-links", wheelhouse]
    _run([*pip, "--no-index", f"apache-beam=={NEWEST_BEAM}"], _PIP_TIMEOUT_S, cwd=tmp_path)
    before = _installed(python)

    _run([*pip, dist.wheel], _PIP_TIMEOUT_S, cwd=tmp_path)  # PyPI reachable: it could downgrade

    after = _installed(python)
    assert {name: after.get(name) for name in before} == before
    assert after["apache-beam"] == NEWEST_BEAM
    _run([python, "-m", "pip", "check"], _RUN_TIMEOUT_S, cwd=tmp_path)
    version = _run([python.parent / "s3-parallel-put", "--version"], _RUN_TIMEOUT_S, cwd=tmp_path)
    assert f"apache-beam/{NEWEST_BEAM}" in version.split()
    summary = _upload_with_installed_command(python, s3_server, bucket, "wheel", tmp_path)
    assert (summary["files"], summary["uploaded"], summary["failed"]) == (3, 3, 0)
    assert bucket_objects(s3_client, bucket) == {f"wheel/{k}": v for k, v in TREE.items()}


def test_sdist_installs_and_uploads(
    dist: Dist, wheelhouse: Path, s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """The sdist builds (setuptools from the wheelhouse) and installs with its
    dependencies into a fresh venv, and its command uploads."""
    python = _fresh_venv(tmp_path / "venv")

    _run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheelhouse,
          dist.sdist], _PIP_TIMEOUT_S, cwd=tmp_path)  # fmt: skip

    _run([python, "-m", "pip", "check"], _RUN_TIMEOUT_S, cwd=tmp_path)
    summary = _upload_with_installed_command(python, s3_server, bucket, "sdist", tmp_path)
    assert (summary["files"], summary["uploaded"], summary["failed"]) == (3, 3, 0)
    assert bucket_objects(s3_client, bucket) == {f"sdist/{k}": v for k, v in TREE.items()}
