"""The file Beam's ``--setup_file ./setup.py`` takes, so remote workers get the package.

The package's metadata (name, version, dependencies, the ``s3-parallel-put`` command) is
in pyproject.toml; building needs setuptools 77 or newer.
"""

from setuptools import setup

setup()
