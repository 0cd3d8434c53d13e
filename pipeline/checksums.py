"""Remembering the checksums that ``--compare checksum`` computes, so a no-op re-sync of
an unchanged tree reads no file twice.

A file's digests (the MD5 of the body this tool would send, its multipart ETags for the
part sizes tried, its full-object checksums) are kept in a small SQLite database per
worker machine, by path, digest and what the body depends on (gzip), with the file's
size, mtime and ctime in nanoseconds and inode number. It is reused only while all four
are unchanged; anything else (a changed file, a rename, a chmod, a cache that cannot be
read) means hashing again, never a skip on an old checksum. A file modified within the
last seconds is not remembered, as its timestamps may not yet tell the next change from
this one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence

_LOGGER = logging.getLogger(__name__)
_RACY_S = 2.0  # a file younger than this is hashed but not remembered
_FLUSH_EVERY = 1000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS etags (
    dir TEXT NOT NULL, name TEXT NOT NULL, params TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL, etag TEXT NOT NULL,
    PRIMARY KEY (dir, name, params)
) WITHOUT ROWID
"""
_Row = tuple[int, int, int, int, str]  # size, mtime_ns, ctime_ns, ino, etag


def default_path() -> str:
    """``$XDG_CACHE_HOME`` (else ``~/.cache``) ``/s3-parallel-put/checksums.sqlite``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "s3-parallel-put", "checksums.sqlite")


def _fingerprint(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class ChecksumCache:
    """The checksums of one worker; ``path`` None: remember nothing, '' the default file."""

    def __init__(self, path: str | None) -> None:
        self._path = default_path() if path == "" else path
        self._db: sqlite3.Connection | None = None
        self._directory = ""  # the directory whose rows are loaded
        self._rows: dict[tuple[str, str], _Row] = {}  # (name, params) -> row
        self._pending: list[tuple[str, str, str, int, int, int, int, str]] = []

    def known(self, path: str, params: Sequence[str]) -> dict[str, str]:
        """The digests of the file at ``path`` remembered for any of ``params`` (each a
        digest spec with what the body depends on) while the file is unchanged."""
        if self._path is None:
            return {}
        try:
            fingerprint = _fingerprint(os.stat(path))
        except OSError:
            return {}
        directory, name = os.path.split(path)
        rows = self._load(directory)
        return {
            p: row[4]
            for p in params
            if (row := rows.get((name, p))) is not None and row[:4] == fingerprint
        }

    def digests(
        self,
        path: str,
        params: Sequence[str],
        compute: Callable[[list[str]], dict[str, str]],
    ) -> dict[str, str]:
        """The digests of the file at ``path`` for all ``params``: those remembered, and
        the others ``compute``d in one call (and remembered when the file did not change
        while it was read)."""
        found = self.known(path, params)
        missing = [p for p in params if p not in found]
        if not missing:
            return found
        try:
            before = os.stat(path)
        except OSError:
            return {**found, **compute(missing)}  # let the read say what is wrong
        computed = compute(missing)
        if self._path is None:
            return {**found, **computed}
        try:
            after = os.stat(path)
        except OSError:
            return {**found, **computed}
        settled = time.time() - after.st_mtime > _RACY_S
        if settled and _fingerprint(after) == _fingerprint(before):
            directory, name = os.path.split(path)
            self._load(directory)
            for p, value in computed.items():
                self._pending.append((directory, name, p, *_fingerprint(after), value))
                self._rows[(name, p)] = (*_fingerprint(after), value)
            if len(self._pending) >= _FLUSH_EVERY:
                self.flush()
        return {**found, **computed}

    def _load(self, directory: str) -> dict[tuple[str, str], _Row]:
        if directory == self._directory:
            return self._rows
        self.flush()
        self._directory, self._rows = directory, {}
        db = self._connect()
        if db is None:
            return self._rows
        try:
            query = (
                "SELECT name, params, size, mtime_ns, ctime_ns, ino, etag FROM etags WHERE dir=?"
            )
            for name, params, *row in db.execute(query, (directory,)):
                self._rows[(name, params)] = tuple(row)  # type: ignore[assignment]
        except sqlite3.Error as e:
            self._give_up(e)
        return self._rows

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self._path is not None:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(self._path)), exist_ok=True)
                # One step uses it at a time, but a runner may tear the step down on
                # another thread than its bundles ran on.
                db = sqlite3.connect(
                    self._path, timeout=10, isolation_level=None, check_same_thread=False
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(_SCHEMA)
                self._db = db
            except (OSError, sqlite3.Error) as e:
                self._give_up(e)
        return self._db

    def flush(self) -> None:
        """Write what was learnt since the last flush."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        db = self._connect()
        if db is None:
            return
        try:
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT OR REPLACE INTO etags VALUES (?, ?, ?, ?, ?, ?, ?, ?)", pending
                )
        except sqlite3.Error as e:
            self._give_up(e)

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _give_up(self, error: BaseException) -> None:
        """A cache that cannot be used is left alone for the rest of the run: every file
        is hashed, as without one."""
        _LOGGER.warning("checksum cache %s not used: %s", self._path, error)
        if self._db is not None:
            self._db.close()
        self._db, self._path, self._pending = None, None, []
