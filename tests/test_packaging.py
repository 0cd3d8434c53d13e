"""Units: the package's dependency ranges (pyproject.toml) agree with what CI tests: the
lock (requirements.txt) and the newest Beam (requirements-beam-newest.txt)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO


def _pins(path: Path) -> dict[str, Version]:
    """The ``name==version`` lines of a requirements file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement and not requirement.startswith("-"):
            name, version = requirement.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_ranges_start_at_the_lock_and_hold_the_newest_beam() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ranges = {
        canonicalize_name(requirement.name): requirement.specifier
        for requirement in map(Requirement, project["dependencies"])
    }
    lock = _pins(REPO / "requirements.txt")
    newest_beam = _pins(REPO / "requirements-beam-newest.txt")["apache-beam"]

    assert set(ranges) == set(lock)  # each dependency locked, nothing locked beside them
    for name, version in lock.items():
        lower = [Version(spec.version) for spec in ranges[name] if spec.operator == ">="]
        assert lower == [version], (name, ranges[name])  # the lower bound is what is tested
        assert version in ranges[name]
    assert newest_beam in ranges["apache-beam"]
    assert newest_beam > lock["apache-beam"]
    assert project["requires-python"] == ">=3.11"
