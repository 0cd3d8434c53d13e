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

    def selects(self, relative: str, mtime: float) -> bool:
        if self.newer_than is not None and mtime < self.newer_than:
            return False
        selected = True
        for include, pattern in self._compiled():
            if pattern.match(relative):
                selected = include
        return selected
