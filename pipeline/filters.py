"""Which files a run considers: --include/--exclude rules and an age limit.

As in ``aws s3``: every file is included unless a rule says otherwise, rules are
fnmatch patterns on the path relative to the SOURCE ('/'-separated), and when several
match, the one given last wins.
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass

INCLUDE, EXCLUDE = "include", "exclude"
_DAY_S = 86400.0
_MAGIC = re.compile(r"[*?[]")


def _literal_head(pattern: str) -> str:
    """What every path that ``pattern`` matches starts with: the part before its first
    wildcard."""
    magic = _MAGIC.search(pattern)
    return pattern if magic is None else pattern[: magic.start()]


@dataclass(frozen=True)
class FileFilter:
    rules: tuple[tuple[str, str], ...] = ()  # (INCLUDE|EXCLUDE, pattern), in command-line order
    newer_than: float | None = None  # files last modified before this epoch time are ignored

    @classmethod
    def build(cls, rules: list[tuple[str, str]], older_than_days: float | None) -> FileFilter:
        cutoff = None if older_than_days is None else time.time() - older_than_days * _DAY_S
        return cls(rules=tuple(rules), newer_than=cutoff)

    @property
    def active(self) -> bool:
        return bool(self.rules) or self.newer_than is not None

    def _compiled(self) -> list[tuple[bool, re.Pattern[str]]]:
        compiled = self.__dict__.get("_compiled_rules")
        if compiled is None:
            compiled = [
                (kind == INCLUDE, re.compile(fnmatch.translate(p))) for kind, p in self.rules
            ]
            object.__setattr__(self, "_compiled_rules", compiled)
        return compiled

    def prunes(self, relative_directory: str) -> bool:
        """Whether the rules leave out every path below ``relative_directory`` (a
        directory's path relative to SOURCE), so that it need not be read at all.

        Only when an exclude rule matches every path that starts with 'DIR/' (a pattern
        'DIR/*', 'DI*', '*': '*' matches '/' too) and no include rule after it could match
        one of them. The same rules keep the directory's objects from --delete, so a
        directory pruned here never makes an object look stale.
        """
        below = relative_directory.rstrip("/") + "/"
        excluded = False
        for kind, pattern in self.rules:
            head = _literal_head(pattern)
            if kind == EXCLUDE:
                everything = pattern.rstrip("*") == head and pattern != head
                excluded = excluded or (everything and below.startswith(head))
            elif excluded and (head.startswith(below) or below.startswith(head)):
                excluded = False  # this include might match a path below: read it
        return excluded

    def selects(self, relative: str, mtime: float) -> bool:
        if self.newer_than is not None and mtime < self.newer_than:
            return False
        selected = True
        for include, pattern in self._compiled():
            if pattern.match(relative):
                selected = include
        return selected
