"""Installs the ``pipeline`` package and the ``s3-parallel-put`` command.

Also usable as Beam's ``--setup_file ./setup.py`` so remote workers get the package.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _version() -> str:
    """The one version, ``__version__`` in pipeline/__init__.py."""
    text = (HERE / "pipeline" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE).group(1)


setup(
    name="s3-parallel-put",
    version=_version(),
    description="Upload trees of files to S3-compatible storage in parallel with Apache Beam",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["pipeline", "pipeline.*"]),
    install_requires=_requirements(),
    entry_points={"console_scripts": ["s3-parallel-put=pipeline.cli:main"]},
)
